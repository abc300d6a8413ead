//! A journaling, fault-injecting HTTP proxy in front of a real kube-apiserver: the same
//! [`Journal`] and [`Faults`] handles as the emulator's, so suites written against the
//! emulator's controls run unchanged against the real server.
//!
//! ```text
//!   kube::Client ──http──▶ KubeProxy (127.0.0.1) ──https──▶ kube-apiserver
//!                          journal │ faults │ watch control
//! ```
//!
//! Every request to the resource URL space is journaled as the emulator journals it (verb,
//! resource, subresource, namespace, name, status, fieldManager, user agent). A write counts as
//! `changed` when the object's resourceVersion moved: the proxy reads the object (as the admin)
//! before relaying a PATCH or PUT and compares. Injected faults answer without reaching the
//! server. Watches are relayed as streams; [`Faults::close_watches`] ends them and
//! [`Faults::compact`] plays a compaction (see there). The caller's `Authorization` header is
//! relayed as sent: RBAC sees the caller's identity.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::control::{FaultState, WatchControl};
use crate::error::ApiError;
use crate::{Faults, Journal, JournalEntry, StartError, Verb};

/// Largest request body relayed.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Headers that belong to one hop, never relayed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    // The proxy reads answers (resourceVersions): ask for them uncompressed.
    "accept-encoding",
];

/// What ends relayed watches: every signal bumps a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Signal {
    closes: u64,
    compactions: u64,
}

/// The watches a proxy relays: a signal to end them, the highest resourceVersion relayed so
/// far, and the one the last compaction made too old.
#[derive(Debug)]
pub(crate) struct Watches {
    signal: watch::Sender<Signal>,
    seen: AtomicU64,
    compacted: AtomicU64,
}

impl Watches {
    fn new() -> Self {
        Self {
            signal: watch::channel(Signal::default()).0,
            seen: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
        }
    }

    /// Ends every open watch cleanly.
    pub(crate) fn close(&self) {
        self.signal.send_modify(|s| s.closes += 1);
    }

    /// Every resourceVersion relayed so far becomes too old; open watches get an `ERROR`
    /// 410 event and end.
    pub(crate) fn compact(&self) {
        self.compacted
            .fetch_max(self.seen.load(Ordering::SeqCst), Ordering::SeqCst);
        self.signal.send_modify(|s| s.compactions += 1);
    }

    fn saw(&self, rv: Option<&str>) {
        if let Some(n) = rv.and_then(|v| v.parse::<u64>().ok()) {
            self.seen.fetch_max(n, Ordering::SeqCst);
        }
    }

    /// A watch from `rv` resumes from before the last compaction.
    fn too_old(&self, rv: Option<&String>) -> bool {
        let compacted = self.compacted.load(Ordering::SeqCst);
        compacted > 0
            && rv
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|n| n > 0 && n <= compacted)
    }
}

/// Errors of the proxy's own reads (before a write).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream server could not be reached or answered garbage; retryable.
    #[error("upstream request failed: {0}")]
    Upstream(#[from] kube::Error),
    /// The request could not be built; not retryable.
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
}

struct Core {
    upstream: kube::Client,
    admin_token: String,
    journal: Journal,
    faults: Faults,
    watches: Arc<Watches>,
}

/// A running proxy; dropping it stops serving (open watches end).
pub struct KubeProxy {
    addr: SocketAddr,
    ca_pem: String,
    core: Arc<Core>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for KubeProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl KubeProxy {
    /// Starts on `127.0.0.1:0`, relaying to `upstream` (a client with the server's URL and
    /// CA, and no credentials: the callers' are relayed). `admin_token` reads objects before
    /// writes (to tell a changing write from a no-op); it never reaches the journal.
    pub async fn start(upstream: kube::Client, admin_token: String) -> Result<Self, StartError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let bind = |source| StartError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let watches = Arc::new(Watches::new());
        let core = Arc::new(Core {
            upstream,
            admin_token,
            journal: Journal::new(1_000_000),
            faults: Faults {
                state: Arc::new(parking_lot::Mutex::new(FaultState::default())),
                watches: WatchControl::Proxy(watches.clone()),
            },
            watches,
        });
        let router = Router::new().fallback(relay).with_state(core.clone());
        let tls = crate::http::loopback_tls();
        let ca_pem = tls.ca_pem;
        let acceptor = tls.acceptor;
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(crate::http::serve_connection(
                                stream,
                                router.clone(),
                                acceptor.clone(),
                            ));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            ca_pem,
            core,
            shutdown: Some(tx),
            task,
        })
    }

    /// Base URL, `http://127.0.0.1:PORT` (the same port also answers TLS, as the emulator's:
    /// kubectl sends tokens only over TLS).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTPS URL of the same port, `https://127.0.0.1:PORT`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// PEM of the proxy's self-signed loopback certificate (for kubeconfigs).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The request journal (a cheap handle).
    pub fn journal(&self) -> Journal {
        self.core.journal.clone()
    }

    /// Fault injection (a cheap handle).
    pub fn faults(&self) -> Faults {
        self.core.faults.clone()
    }
}

impl Drop for KubeProxy {
    fn drop(&mut self) {
        self.core.watches.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn relayed_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in from {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The `resourceVersion` of an object or list answer.
fn resource_version(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// What kube-apiserver answers (410) for a `continue` token older than its history.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter, or use the \
    continue token in this response to retrieve the remainder of the results. Continuing with \
    the provided token results in an inconsistent list - objects that were created, modified, or \
    deleted between the time the first chunk was returned and now may show up in the list.";

/// The resourceVersion a `continue` token was issued at (kube-apiserver's tokens are base64
/// JSON `{"v":"meta.k8s.io/v1","rv":N,"start":...}`).
fn continue_version(token: &str) -> Option<String> {
    use base64::Engine;
    let engines = [
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(token).ok())?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("rv").and_then(Value::as_u64).map(|n| n.to_string())
}

/// The `ERROR` watch event kube-apiserver sends for a resourceVersion older than its history.
fn expired_event() -> Bytes {
    let status = ApiError::gone("too old resource version (compacted)").status_body();
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": status})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bad_gateway(message: &str) -> Response {
    crate::http::error_response(&ApiError::new(
        502,
        "InternalError",
        format!("the proxy could not reach kube-apiserver: {message}"),
    ))
}

async fn relay(State(core): State<Arc<Core>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = crate::http::query_map(parts.uri.query());
    let mut entry = crate::http::unknown_resource_entry(&parts.method, &path, &query, 0);
    if let Some(e) = &mut entry {
        e.content_type = header_str(&parts.headers, header::CONTENT_TYPE);
        e.user_agent = header_str(&parts.headers, header::USER_AGENT);
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let e = ApiError::bad_request(format!("cannot read the request body: {e}"));
            return crate::http::error_response(&e);
        }
    };
    let Some(mut entry) = entry else {
        // Discovery, OpenAPI, health: relayed, not journaled (as the emulator does).
        return match forward(&core, &parts.method, &parts.uri, &parts.headers, body).await {
            Ok(resp) => buffered(&core, resp).await.0,
            Err(e) => bad_gateway(&e.to_string()),
        };
    };
    let latency = core.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(rule) = core.faults.take(&entry) {
        let e = ApiError::fault(rule.status, rule.message, rule.retry_after);
        entry.status = e.code;
        entry.at = SystemTime::now();
        core.journal.push(entry);
        return crate::http::error_response(&e);
    }
    if entry.verb == Verb::List
        && let Some(token) = query.get("continue")
        && core.watches.too_old(continue_version(token).as_ref())
    {
        let e = ApiError::gone(CONTINUE_EXPIRED);
        entry.status = e.code;
        entry.at = SystemTime::now();
        core.journal.push(entry);
        return crate::http::error_response(&e);
    }
    if entry.verb == Verb::Watch {
        return watch_stream(
            &core,
            entry,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
        )
        .await;
    }
    let before = if matches!(entry.verb, Verb::Patch | Verb::Update) {
        current_version(&core, &entry, &path).await
    } else {
        None
    };
    let resp = match forward(&core, &parts.method, &parts.uri, &parts.headers, body).await {
        Ok(r) => r,
        Err(e) => {
            entry.status = 502;
            entry.at = SystemTime::now();
            core.journal.push(entry);
            return bad_gateway(&e.to_string());
        }
    };
    let (resp, rv) = buffered(&core, resp).await;
    entry.status = resp.status().as_u16();
    entry.at = SystemTime::now();
    let ok = resp.status().is_success();
    entry.changed = ok
        && match entry.verb {
            Verb::Create | Verb::Delete | Verb::DeleteCollection => !entry.dry_run,
            Verb::Patch | Verb::Update => !entry.dry_run && rv.is_some() && rv != before,
            Verb::Get | Verb::List | Verb::Watch => false,
        };
    core.journal.push(entry);
    resp
}

/// The object's resourceVersion now, read as the admin (not journaled); `None` when absent.
async fn current_version(core: &Core, entry: &JournalEntry, path: &str) -> Option<String> {
    let object_path = match &entry.subresource {
        Some(sub) => path.strip_suffix(&format!("/{sub}"))?,
        None => path,
    };
    let mut headers = HeaderMap::new();
    let token = HeaderValue::from_str(&format!("Bearer {}", core.admin_token)).ok()?;
    headers.insert(header::AUTHORIZATION, token);
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let uri: http::Uri = object_path.parse().ok()?;
    let resp = forward(core, &Method::GET, &uri, &headers, Bytes::new())
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let bytes = resp.into_body().collect_bytes().await.ok()?;
    resource_version(&bytes)
}

async fn forward(
    core: &Core,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<http::Response<kube::client::Body>, ProxyError> {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(target)
        .body(kube::client::Body::from(body))?;
    *req.headers_mut() = relayed_headers(headers);
    Ok(core.upstream.send(req).await?)
}

/// The whole answer, read (its resourceVersion noted), and handed on.
async fn buffered(
    core: &Core,
    resp: http::Response<kube::client::Body>,
) -> (Response, Option<String>) {
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect_bytes().await {
        Ok(b) => b,
        Err(e) => return (bad_gateway(&e.to_string()), None),
    };
    let rv = resource_version(&bytes);
    core.watches.saw(rv.as_deref());
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = relayed_headers(&parts.headers);
    (out, rv)
}

async fn watch_stream(
    core: &Arc<Core>,
    mut entry: JournalEntry,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = crate::http::query_map(uri.query());
    if core.watches.too_old(query.get("resourceVersion")) {
        entry.status = 200;
        entry.at = SystemTime::now();
        core.journal.push(entry);
        let mut resp = Response::new(Body::from(expired_event()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return resp;
    }
    let mut signal = core.watches.signal.subscribe();
    let start = *signal.borrow_and_update();
    let resp = match forward(core, method, uri, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            entry.status = 502;
            entry.at = SystemTime::now();
            core.journal.push(entry);
            return bad_gateway(&e.to_string());
        }
    };
    entry.status = resp.status().as_u16();
    entry.at = SystemTime::now();
    core.journal.push(entry);
    let (parts, upstream) = resp.into_parts();
    let mut out_headers = relayed_headers(&parts.headers);
    if !parts.status.is_success() {
        let bytes = upstream.collect_bytes().await.unwrap_or_default();
        let mut out = Response::new(Body::from(bytes));
        *out.status_mut() = parts.status;
        *out.headers_mut() = out_headers;
        return out;
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let watches = core.watches.clone();
    tokio::spawn(async move {
        let mut upstream = Body::new(upstream).into_data_stream();
        let mut pending = BytesMut::new();
        loop {
            tokio::select! {
                changed = signal.changed() => {
                    let now = *signal.borrow_and_update();
                    if changed.is_err() || now.compactions != start.compactions {
                        let _ = tx.send(Ok(expired_event())).await;
                        break;
                    }
                    if now.closes != start.closes {
                        break;
                    }
                }
                chunk = upstream.next() => {
                    let Some(Ok(chunk)) = chunk else { break };
                    note_events(&watches, &mut pending, &chunk);
                    if tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    out_headers.remove(header::CONTENT_LENGTH);
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = StatusCode::OK;
    *out.headers_mut() = out_headers;
    out
}

/// Notes the resourceVersion of every complete watch event line in `chunk` (JSON watches;
/// other encodings are relayed unread).
fn note_events(watches: &Watches, pending: &mut BytesMut, chunk: &Bytes) {
    pending.extend_from_slice(chunk);
    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
        let line = pending.split_to(i + 1);
        if let Ok(v) = serde_json::from_slice::<Value>(&line) {
            watches.saw(
                v.pointer("/object/metadata/resourceVersion")
                    .and_then(Value::as_str),
            );
        }
    }
    if pending.len() > MAX_BODY {
        pending.clear();
    }
}
