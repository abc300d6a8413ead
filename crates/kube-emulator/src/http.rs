//! HTTP layer: routing of the Kubernetes URL space, auth, faults, journal, watch streams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper_util::rt::TokioIo;
use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::control::{FaultRule, Faults, Journal, JournalEntry, Verb};
use crate::error::ApiError;
use crate::resources::{ResourceType, version_priority};
use crate::store::{
    Deleted, Event, EventType, ObjKey, Propagation, Shared, WatchMsg, WriteOpts, meta_str,
};
use crate::{filter, patch, present, rbac};

/// Everything a request handler needs.
#[derive(Debug)]
pub(crate) struct Core {
    pub shared: Shared,
    pub journal: Journal,
    pub faults: Faults,
    pub token: String,
    pub user: String,
    pub rules: RwLock<Option<rbac::Authorizer>>,
    pub addr: SocketAddr,
}

pub(crate) type App = Arc<Core>;

const MAX_BODY: usize = 64 * 1024 * 1024;

/// Events a watcher may have queued before it is dropped.
const MAX_WATCH_BACKLOG: usize = 100_000;

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route(
            "/_emulator/journal",
            get(admin_journal).delete(admin_journal_clear),
        )
        .route(
            "/_emulator/faults",
            post(admin_fault).delete(admin_faults_clear),
        )
        .route("/_emulator/latency", post(admin_latency))
        .route("/_emulator/compact", post(admin_compact))
        .route("/_emulator/close-watches", post(admin_close_watches))
        .route("/_emulator/rules", post(admin_rules))
        .fallback(kube)
        .with_state(app)
}

/// Serves one accepted connection: TLS when the client opens with a TLS handshake (as kubectl
/// does with the kubeconfig), plain HTTP otherwise.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut first = [0u8; 1];
    let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
    match tls {
        Some(acceptor) if is_tls => {
            if let Ok(s) = acceptor.accept(stream).await {
                serve_io(s, router).await;
            }
        }
        _ => serve_io(stream, router).await,
    }
}

async fn serve_io<I>(io: I, router: Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        router.clone().oneshot(req.map(Body::new))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// The HTTPS side of one emulator: a self-signed loopback certificate made at start (no key
/// is stored anywhere), and the acceptor serving it.
pub(crate) struct Tls {
    /// PEM of the certificate, which is its own certificate authority (for kubeconfigs).
    pub ca_pem: String,
    /// The acceptor (`None` when the certificate could not be made: plain HTTP only).
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
}

/// Makes a fresh self-signed certificate for `127.0.0.1` and `localhost`, and its acceptor.
pub(crate) fn loopback_tls() -> Tls {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let Ok(made) =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
    else {
        return Tls {
            ca_pem: String::new(),
            acceptor: None,
        };
    };
    let ca_pem = made.cert.pem();
    let cert = CertificateDer::from(made.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let acceptor = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .ok()
        })
        .map(|mut config| {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
    Tls { ca_pem, acceptor }
}

// ------------------------------------------------------------------ responses

pub(crate) fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.code, &e.status_body());
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn not_found_path() -> ApiError {
    let mut e = ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    e.details = Some(json!({}));
    e
}

// ------------------------------------------------------------------ admin

/// The journal, optionally filtered by `verb`, `resource`, `namespace`, `name`, `subresource`
/// and `status` query parameters; `?count=true` answers `{"count": N}` only.
async fn admin_journal(State(app): State<App>, req: Request) -> Response {
    let q = query_map(req.uri().query());
    let keep = |e: &JournalEntry| {
        q.get("verb").is_none_or(|v| v == e.verb.as_str())
            && q.get("resource").is_none_or(|r| *r == e.resource)
            && q.get("namespace")
                .is_none_or(|n| Some(n) == e.namespace.as_ref())
            && q.get("name").is_none_or(|n| Some(n) == e.name.as_ref())
            && q.get("subresource")
                .is_none_or(|s| Some(s) == e.subresource.as_ref())
            && q.get("status").is_none_or(|s| *s == e.status.to_string())
    };
    if q.get("count").is_some_and(|c| c == "true") {
        return json_response(200, &json!({ "count": app.journal.count(keep) }));
    }
    let entries: Vec<Value> = app
        .journal
        .entries()
        .iter()
        .filter(|e| keep(e))
        .map(JournalEntry::to_json)
        .collect();
    json_response(200, &Value::Array(entries))
}

async fn admin_journal_clear(State(app): State<App>) -> Response {
    app.journal.clear();
    json_response(200, &json!({}))
}

async fn admin_fault(State(app): State<App>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            app.faults.inject(rule);
            json_response(200, &json!({}))
        }
        Err(e) => json_response(400, &json!({ "error": e.to_string() })),
    }
}

async fn admin_faults_clear(State(app): State<App>) -> Response {
    app.faults.clear();
    json_response(200, &json!({}))
}

async fn admin_latency(State(app): State<App>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v.get("millis").and_then(Value::as_u64) {
        Some(ms) => {
            app.faults.set_latency(Duration::from_millis(ms));
            json_response(200, &json!({}))
        }
        None => json_response(400, &json!({ "error": "expected {\"millis\": N}" })),
    }
}

async fn admin_compact(State(app): State<App>) -> Response {
    app.faults.compact();
    json_response(200, &json!({}))
}

/// Parses authorizer rules: `null`, a list of PolicyRules, or an object with `rules` (a Role or
/// ClusterRole).
pub(crate) fn parse_rules(
    v: &Value,
) -> Result<Option<Vec<k8s_openapi::api::rbac::v1::PolicyRule>>, String> {
    let list = match v {
        Value::Null => return Ok(None),
        Value::Array(_) => v.clone(),
        Value::Object(m) => m.get("rules").cloned().unwrap_or_else(|| json!([])),
        _ => return Err("expected null, a list of PolicyRules or a (Cluster)Role".to_owned()),
    };
    serde_json::from_value(list)
        .map(Some)
        .map_err(|e| e.to_string())
}

async fn admin_rules(State(app): State<App>, body: Bytes) -> Response {
    let parsed = serde_yaml::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| parse_rules(&v));
    match parsed {
        Ok(rules) => {
            *app.rules.write() = rules.map(rbac::Authorizer::new);
            json_response(200, &json!({}))
        }
        Err(e) => json_response(400, &json!({ "error": e })),
    }
}

async fn admin_close_watches(State(app): State<App>) -> Response {
    app.faults.close_watches();
    json_response(200, &json!({}))
}

// ------------------------------------------------------------------ request parsing

/// What a Kubernetes resource URL names.
#[derive(Debug, Clone)]
struct Target {
    rt: Arc<ResourceType>,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Parsed {
    Resource(Target),
    NonResource(Value),
    NotFound,
}

fn authorized(app: &Core, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|t| t.trim() == app.token)
}

pub(crate) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-decodes one path segment (names may arrive escaped).
fn decode_segment(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn parse_path(app: &Core, path: &str) -> Parsed {
    let decoded: Vec<std::borrow::Cow<'_, str>> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    let st = app.shared.lock();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Parsed::NonResource(version_info()),
        ["api"] => {
            return Parsed::NonResource(json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": app.addr.to_string()}],
            }));
        }
        ["apis"] => return Parsed::NonResource(group_list(&st.types())),
        ["api", "v1"] => return Parsed::NonResource(resource_list(&st.types(), "", "v1")),
        ["apis", g] => {
            return match group_list(&st.types())["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == *g))
            {
                Some(x) => {
                    let mut x = x.clone();
                    x["kind"] = json!("APIGroup");
                    x["apiVersion"] = json!("v1");
                    Parsed::NonResource(x)
                }
                None => Parsed::NotFound,
            };
        }
        ["apis", g, v] => {
            let types = st.types();
            if !types
                .iter()
                .any(|t| t.group == *g && t.versions.iter().any(|x| x == v))
            {
                return Parsed::NotFound;
            }
            return Parsed::NonResource(resource_list(&types, g, v));
        }
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Parsed::NotFound,
    };
    let find = |plural: &str| st.find_type(group, version, plural);
    let target =
        |rt: Arc<ResourceType>, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
            rt,
            version: version.to_owned(),
            namespace: ns.map(str::to_owned),
            name: name.map(str::to_owned),
            sub: sub.map(str::to_owned),
        };
    // Namespaced paths: namespaces/{ns}/{resource}[/{name}[/{sub}]].
    if let ["namespaces", ns, res, tail @ ..] = rest
        && *res != "status"
        && *res != "finalize"
    {
        let Some(rt) = find(res) else {
            return Parsed::NotFound;
        };
        if !rt.namespaced {
            return Parsed::NotFound;
        }
        return match tail {
            [] => Parsed::Resource(target(rt, Some(ns), None, None)),
            [name] => Parsed::Resource(target(rt, Some(ns), Some(name), None)),
            [name, sub] => Parsed::Resource(target(rt, Some(ns), Some(name), Some(sub))),
            _ => Parsed::NotFound,
        };
    }
    let (res, name, sub) = match rest {
        [res] => (*res, None, None),
        [res, name] => (*res, Some(*name), None),
        [res, name, sub] => (*res, Some(*name), Some(*sub)),
        _ => return Parsed::NotFound,
    };
    let Some(rt) = find(res) else {
        return Parsed::NotFound;
    };
    if rt.namespaced && name.is_some() {
        return Parsed::NotFound;
    }
    Parsed::Resource(target(rt, None, name, sub))
}

/// A minimal OpenAPI v3 surface: the root index and, per group-version, the PATCH operations
/// with their `fieldValidation` parameter (what kubectl checks before server-side validation).
fn openapi_v3(app: &Core, path: &str) -> Option<Value> {
    let types = app.shared.lock().types();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for t in &types {
        for v in &t.versions {
            let gv = (t.group.clone(), v.clone());
            if !gvs.contains(&gv) {
                gvs.push(gv);
            }
        }
    }
    let key = |g: &str, v: &str| {
        if g.is_empty() {
            format!("api/{v}")
        } else {
            format!("apis/{g}/{v}")
        }
    };
    let rest = path.trim_start_matches("/openapi/v3").trim_matches('/');
    if rest.is_empty() {
        let mut paths = serde_json::Map::new();
        for (g, v) in &gvs {
            let k = key(g, v);
            paths.insert(
                k.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", app.shared.lock().resource_version())}),
            );
        }
        return Some(json!({ "paths": paths }));
    }
    let (g, v) = gvs.iter().find(|(g, v)| key(g, v) == rest)?;
    let mut paths = serde_json::Map::new();
    for t in types
        .iter()
        .filter(|t| t.group == *g && t.versions.contains(v))
    {
        let base = if g.is_empty() {
            format!("/api/{v}")
        } else {
            format!("/apis/{g}/{v}")
        };
        let p = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{base}/{}/{{name}}", t.plural)
        };
        let gvk = json!({"group": g, "version": v, "kind": t.kind});
        let params = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        ]);
        paths.insert(
            p,
            json!({
                "get": {"operationId": format!("read{}", t.kind), "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": {}},
                "put": {"operationId": format!("replace{}", t.kind), "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {}},
                "patch": {"operationId": format!("patch{}", t.kind), "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {}},
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) for `/api` and `/apis`, when asked for.
fn aggregated_discovery(app: &Core, path: &str, headers: &HeaderMap) -> Option<Response> {
    const CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let wants = accept.split(',').any(|a| {
        let params: Vec<&str> = a.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    });
    let core = match path.trim_end_matches('/') {
        "/api" => true,
        "/apis" => false,
        _ => return None,
    };
    if !wants {
        return None;
    }
    let types = app.shared.lock().types();
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_owned()])]
    } else {
        group_versions(&types)
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = types
                        .iter()
                        .filter(|t| t.group == *g && t.versions.contains(v))
                        .map(|t| {
                            let kind = json!({"group": g, "version": v, "kind": t.kind});
                            let mut r = json!({
                                "resource": t.plural,
                                "responseKind": kind,
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular,
                                "verbs": if t.review { json!(["create"]) } else { ResourceType::verbs() },
                            });
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            let mut subs = Vec::new();
                            if t.status {
                                subs.push(json!({
                                    "subresource": "status",
                                    "responseKind": kind,
                                    "verbs": ["get", "patch", "update"],
                                }));
                            }
                            if t.has_scale() {
                                subs.push(json!({
                                    "subresource": "scale",
                                    "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                                    "verbs": ["get", "patch", "update"],
                                }));
                            }
                            if !subs.is_empty() {
                                r["subresources"] = Value::Array(subs);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    let mut resp = json_response(200, &body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CT));
    Some(resp)
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-vlb-emulator",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_versions(types: &[Arc<ResourceType>]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let entry = if let Some(e) = groups.iter_mut().find(|(g, _)| *g == t.group) {
            e
        } else {
            groups.push((t.group.clone(), Vec::new()));
            let last = groups.len() - 1;
            &mut groups[last]
        };
        for v in &t.versions {
            if !entry.1.contains(v) {
                entry.1.push(v.clone());
            }
        }
    }
    for (_, vs) in &mut groups {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    groups
}

fn group_list(types: &[Arc<ResourceType>]) -> Value {
    let groups: Vec<Value> = group_versions(types)
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({
                "name": g,
                "versions": versions,
                "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(types: &[Arc<ResourceType>], group: &str, version: &str) -> Value {
    let resources: Vec<Value> = types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .flat_map(|t| t.discovery_entries())
        .collect();
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// A journal entry for a request to a resource the server does not serve (e.g. a custom
/// resource whose CRD is not installed yet), parsed from the URL alone.
pub(crate) fn unknown_resource_entry(
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    status: u16,
) -> Option<JournalEntry> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some((*ns).to_owned()), tail),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some((*n).to_owned()), None),
        [r, n, s] => (*r, Some((*n).to_owned()), Some((*s).to_owned())),
        _ => return None,
    };
    let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (method, name.is_some()) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return None,
    };
    Some(JournalEntry {
        verb,
        group: group.to_owned(),
        version: version.to_owned(),
        resource: resource.to_owned(),
        subresource,
        namespace,
        name,
        status,
        changed: false,
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        field_manager: q.get("fieldManager").cloned(),
        content_type: None,
        user_agent: None,
        at: SystemTime::now(),
    })
}

fn verb_of(method: &Method, t: &Target, q: &HashMap<String, String>) -> Option<Verb> {
    let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    Some(match *method {
        Method::GET if t.name.is_some() => Verb::Get,
        Method::GET if watch => Verb::Watch,
        Method::GET => Verb::List,
        Method::POST if t.name.is_none() => Verb::Create,
        Method::PUT if t.name.is_some() => Verb::Update,
        Method::PATCH if t.name.is_some() => Verb::Patch,
        Method::DELETE if t.name.is_some() => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ => return None,
    })
}

// ------------------------------------------------------------------ main handler

/// Everything the Kubernetes handler learned about the request.
struct Ctx {
    target: Target,
    verb: Verb,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    content_type: Option<String>,
}

/// A handler's answer before journaling.
enum Answer {
    Json(u16, Value, bool),
    Stream(Response),
}

async fn kube(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if !authorized(&app, &parts.headers) {
        return error_response(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    let path = parts.uri.path().to_owned();
    let query = query_map(parts.uri.query());
    if path.starts_with("/openapi/v3") {
        return match openapi_v3(&app, &path) {
            Some(v) => json_response(200, &v),
            None => error_response(&not_found_path()),
        };
    }
    if path.starts_with("/openapi") {
        return error_response(&not_found_path());
    }
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        let mut resp = Response::new(Body::from("ok"));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return resp;
    }
    let target = match parse_path(&app, &path) {
        Parsed::NonResource(v) => {
            if parts.method != Method::GET {
                return error_response(&ApiError::method_not_allowed());
            }
            if let Some(resp) = aggregated_discovery(&app, &path, &parts.headers) {
                return resp;
            }
            return json_response(200, &v);
        }
        Parsed::NotFound => {
            let e = not_found_path();
            if let Some(entry) = unknown_resource_entry(&parts.method, &path, &query, e.code) {
                app.journal.push(entry);
            }
            return error_response(&e);
        }
        Parsed::Resource(t) => t,
    };
    let Some(verb) = verb_of(&parts.method, &target, &query) else {
        return error_response(&ApiError::method_not_allowed());
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut entry = JournalEntry {
        verb,
        group: target.rt.group.clone(),
        version: target.version.clone(),
        resource: target.rt.plural.clone(),
        subresource: target.sub.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        status: 0,
        changed: false,
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
        field_manager: query.get("fieldManager").cloned(),
        content_type: content_type.clone(),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        at: SystemTime::now(),
    };
    let latency = app.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(rule) = app.faults.take(&entry) {
        let e = ApiError::fault(rule.status, rule.message, rule.retry_after);
        entry.status = e.code;
        entry.at = SystemTime::now();
        app.journal.push(entry);
        return error_response(&e);
    }
    if let Some(e) = authorize(&app, &target, verb) {
        entry.status = e.code;
        entry.at = SystemTime::now();
        app.journal.push(entry);
        return error_response(&e);
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let e = ApiError::bad_request(format!("cannot read the request body: {e}"));
            entry.status = e.code;
            app.journal.push(entry);
            return error_response(&e);
        }
    };
    let ctx = Ctx {
        target,
        verb,
        query,
        headers: parts.headers,
        body,
        content_type,
    };
    let answer = handle(&app, &ctx);
    entry.at = SystemTime::now();
    let status = match &answer {
        Ok(Answer::Json(code, _, _)) => *code,
        Ok(Answer::Stream(_)) => 200,
        Err(e) => e.code,
    };
    tracing::debug!(
        verb = entry.verb.as_str(),
        resource = %entry.resource,
        subresource = ?entry.subresource,
        namespace = ?entry.namespace,
        name = ?entry.name,
        status,
        "kube-emulator request"
    );
    match answer {
        Ok(Answer::Json(code, v, changed)) => {
            entry.status = code;
            entry.changed = changed;
            app.journal.push(entry);
            json_response(code, &v)
        }
        Ok(Answer::Stream(resp)) => {
            entry.status = 200;
            app.journal.push(entry);
            resp
        }
        Err(e) => {
            entry.status = e.code;
            app.journal.push(entry);
            error_response(&e)
        }
    }
}

/// The CRD as kube-apiserver answers its creation: its controllers have not run yet, so no
/// condition and no accepted names (`Established` appears on the next reads; clients poll).
fn not_yet_established(crd: &mut Value) {
    if let Some(Value::Object(status)) = crd.get_mut("status") {
        status.remove("conditions");
        status.insert("acceptedNames".into(), json!({"plural": "", "kind": ""}));
    }
}

fn authorize(app: &Core, t: &Target, verb: Verb) -> Option<ApiError> {
    if t.rt.review {
        // Every authenticated user may review its own access (system:basic-user).
        return None;
    }
    let rules = app.rules.read();
    let authorizer = rules.as_ref()?;
    let attrs = rbac::Attributes {
        verb: verb.as_str(),
        api_group: &t.rt.group,
        resource: &t.rt.plural,
        subresource: t.sub.as_deref(),
        namespace: t.namespace.as_deref(),
        name: t.name.as_deref(),
    };
    if authorizer.allows(&attrs) {
        return None;
    }
    let body = rbac::forbidden_status(&app.user, &attrs);
    let mut e = ApiError::forbidden(
        body.get("message")
            .and_then(Value::as_str)
            .unwrap_or("forbidden"),
    );
    e.details = body.get("details").cloned();
    Some(e)
}

fn parse_body(ctx: &Ctx) -> Result<Value, ApiError> {
    let ct = ctx.content_type.as_deref().unwrap_or("application/json");
    if ct.contains("protobuf") {
        return crate::protobuf::decode(&ctx.body).map_err(|m| {
            ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - {m}"),
            )
        });
    }
    if ct.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json, application/yaml (got {ct})"
            ),
        ));
    }
    if ct.contains("yaml") {
        serde_yaml::from_slice::<Value>(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice::<Value>(&ctx.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json, application/yaml ({e})"
            ))
        })
    }
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn include_object(ctx: &Ctx) -> &str {
    ctx.query
        .get("includeObject")
        .map_or("Metadata", String::as_str)
}

fn write_opts(ctx: &Ctx) -> WriteOpts {
    WriteOpts {
        dry_run: ctx.query.get("dryRun").is_some_and(|d| d == "All"),
        manager: ctx
            .query
            .get("fieldManager")
            .cloned()
            .or_else(|| user_agent_manager(&ctx.headers)),
        apply: false,
        strict: ctx
            .query
            .get("fieldValidation")
            .is_some_and(|v| v == "Strict"),
    }
}

/// The default field manager: the user agent's first token (as the apiserver does).
fn user_agent_manager(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    let first = ua.split('/').next()?.trim();
    (!first.is_empty()).then(|| first.chars().take(128).collect())
}

fn handle(app: &App, ctx: &Ctx) -> Result<Answer, ApiError> {
    let t = &ctx.target;
    let rt = t.rt.clone();
    if let Some(sub) = &t.sub {
        let scale = sub == "scale" && rt.has_scale();
        let status = sub == "status" && rt.status;
        if !status && !scale {
            return Err(not_found_path());
        }
        if !matches!(ctx.verb, Verb::Get | Verb::Update | Verb::Patch) {
            return Err(ApiError::method_not_allowed());
        }
        if scale {
            return scale_subresource(app, ctx);
        }
    }
    let ns = t.namespace.as_deref();
    if rt.review {
        if ctx.verb != Verb::Create {
            return Err(ApiError::method_not_allowed());
        }
        return Ok(Answer::Json(
            201,
            access_review(app, parse_body(ctx)?),
            false,
        ));
    }
    match ctx.verb {
        Verb::Get => {
            let name = t.name.as_deref().unwrap_or("");
            let obj = app.shared.lock().get(&rt, ns, name)?;
            let obj = present(&rt, &t.version, obj);
            if wants_table(&ctx.headers) {
                return Ok(Answer::Json(
                    200,
                    crate::table_of(&rt, &t.version, &[obj], &json!({}), include_object(ctx)),
                    false,
                ));
            }
            if wants_metadata(&ctx.headers) {
                return Ok(Answer::Json(200, partial(obj), false));
            }
            Ok(Answer::Json(200, obj, false))
        }
        Verb::List => list(app, ctx),
        Verb::Watch => watch(app, ctx),
        Verb::Create => {
            let obj = parse_body(ctx)?;
            check_type(&rt, &t.version, &obj)?;
            let w = app.shared.lock().create(&rt, ns, obj, &write_opts(ctx))?;
            let mut answer = present(&rt, &t.version, w.obj);
            if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
                not_yet_established(&mut answer);
            }
            Ok(Answer::Json(201, answer, w.changed))
        }
        Verb::Update => {
            let obj = parse_body(ctx)?;
            check_type(&rt, &t.version, &obj)?;
            let name = t.name.as_deref().unwrap_or("");
            let w = app.shared.lock().update(
                &rt,
                ns,
                name,
                obj,
                t.sub.as_deref(),
                &write_opts(ctx),
                rt.is_crd_type(),
            )?;
            Ok(Answer::Json(
                200,
                present(&rt, &t.version, w.obj),
                w.changed,
            ))
        }
        Verb::Patch => {
            let w = patch::patch(app, &ctx_patch(ctx), &rt, ns)?;
            let code = if w.created { 201 } else { 200 };
            Ok(Answer::Json(
                code,
                present(&rt, &t.version, w.obj),
                w.changed,
            ))
        }
        Verb::Delete => {
            let name = t.name.as_deref().unwrap_or("");
            let opts = delete_options(ctx)?;
            let d = app.shared.lock().delete(
                &rt,
                ns,
                name,
                opts.propagation,
                (opts.uid.as_deref(), opts.rv.as_deref()),
                opts.dry_run,
            )?;
            let changed = d.changed;
            Ok(Answer::Json(
                200,
                delete_answer(&rt, &t.version, d),
                changed,
            ))
        }
        Verb::DeleteCollection => {
            let opts = delete_options(ctx)?;
            let f = filter::Filter::new(
                ctx.query.get("labelSelector").map(String::as_str),
                ctx.query.get("fieldSelector").map(String::as_str),
                &rt.kind,
            )?;
            let mut st = app.shared.lock();
            let mut items = Vec::new();
            let (objs, _) = st.snapshot(&rt, ns, None);
            for obj in objs {
                if !f.matches(&obj) {
                    continue;
                }
                let name = meta_str(&obj, "name").unwrap_or("").to_owned();
                let ons = meta_str(&obj, "namespace").map(str::to_owned);
                if let Ok(d) = st.delete(
                    &rt,
                    ons.as_deref(),
                    &name,
                    opts.propagation,
                    (None, None),
                    opts.dry_run,
                ) {
                    items.push(present(&rt, &t.version, d.obj));
                }
            }
            let rv = st.resource_version();
            drop(st);
            Ok(Answer::Json(
                200,
                json!({
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version(&t.version),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items,
                }),
                !opts.dry_run,
            ))
        }
    }
}

/// The `autoscaling/v1` Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let metadata: serde_json::Map<String, Value> = meta
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// GET, PUT and PATCH of `deployments/{name}/scale`: only `spec.replicas` can change.
fn scale_subresource(app: &App, ctx: &Ctx) -> Result<Answer, ApiError> {
    let t = &ctx.target;
    let rt = &t.rt;
    let ns = t.namespace.as_deref();
    let name = t.name.as_deref().unwrap_or("");
    let mut st = app.shared.lock();
    let obj = st.get(rt, ns, name)?;
    let current = scale_of(&obj);
    let wanted = match ctx.verb {
        Verb::Get => return Ok(Answer::Json(200, current, false)),
        Verb::Update => parse_body(ctx)?,
        _ => {
            let ct = ctx.content_type.as_deref().unwrap_or("");
            let patch: Value = serde_json::from_slice(&ctx.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = current.clone();
            if ct.starts_with("application/json-patch+json") {
                let p: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                json_patch::patch(&mut doc, &p.0)
                    .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
            } else {
                json_patch::merge(&mut doc, &patch);
            }
            doc
        }
    };
    if let Some(rv) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv)
            != obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
    }
    let Some(replicas) = wanted.pointer("/spec/replicas").and_then(Value::as_i64) else {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            &[(
                "spec.replicas".into(),
                "FieldValueRequired".into(),
                "Required value".into(),
            )],
        ));
    };
    let mut new = obj.clone();
    new["spec"]["replicas"] = json!(replicas);
    let w = st.update(rt, ns, name, new, None, &write_opts(ctx), false)?;
    Ok(Answer::Json(200, scale_of(&w.obj), w.changed))
}

/// Answers a SelfSubjectAccessReview with the authorizer's verdict (everything is allowed when
/// no rules are set).
fn access_review(app: &Core, mut review: Value) -> Value {
    let rules = app.rules.read();
    let allowed = match rules.as_ref() {
        None => true,
        Some(authorizer) => {
            if let Some(ra) = review.pointer("/spec/resourceAttributes") {
                let get = |k: &str| ra.get(k).and_then(Value::as_str);
                let attrs = rbac::Attributes {
                    verb: get("verb").unwrap_or(""),
                    api_group: get("group").unwrap_or(""),
                    resource: get("resource").unwrap_or(""),
                    subresource: get("subresource").filter(|s| !s.is_empty()),
                    namespace: get("namespace").filter(|s| !s.is_empty()),
                    name: get("name").filter(|s| !s.is_empty()),
                };
                authorizer.allows(&attrs)
            } else if let Some(nr) = review.pointer("/spec/nonResourceAttributes") {
                let get = |k: &str| nr.get(k).and_then(Value::as_str).unwrap_or("");
                authorizer.allows_non_resource(get("path"), get("verb"))
            } else {
                false
            }
        }
    };
    if let Value::Object(m) = &mut review {
        m.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        m.insert("kind".into(), json!("SelfSubjectAccessReview"));
        m.entry("metadata").or_insert_with(|| json!({}));
        m.insert("status".into(), json!({ "allowed": allowed }));
    }
    review
}

fn ctx_patch(ctx: &Ctx) -> patch::PatchRequest<'_> {
    patch::PatchRequest {
        name: ctx.target.name.as_deref().unwrap_or(""),
        sub: ctx.target.sub.as_deref(),
        version: &ctx.target.version,
        content_type: ctx.content_type.as_deref().unwrap_or(""),
        body: &ctx.body,
        opts: write_opts(ctx),
        field_manager: ctx.query.get("fieldManager").map(String::as_str),
        force: ctx.query.get("force").is_some_and(|f| f == "true"),
    }
}

fn check_type(rt: &ResourceType, version: &str, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if (!kind.is_empty() && kind != rt.kind) || (!av.is_empty() && av != rt.api_version(version)) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version(version)
        )));
    }
    Ok(())
}

struct DeleteOpts {
    propagation: Option<Propagation>,
    uid: Option<String>,
    rv: Option<String>,
    dry_run: bool,
}

fn delete_options(ctx: &Ctx) -> Result<DeleteOpts, ApiError> {
    let body: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = ctx.query.get("propagationPolicy").cloned().or_else(|| {
        body.get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let orphan = ctx
        .query
        .get("orphanDependents")
        .map(|o| o == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match policy.as_deref() {
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some("Background") => Some(Propagation::Background),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\""
            )));
        }
        None => match orphan {
            Some(true) => Some(Propagation::Orphan),
            _ => None,
        },
    };
    let dry_run = ctx.query.get("dryRun").is_some_and(|d| d == "All")
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|d| d == "All"));
    Ok(DeleteOpts {
        propagation,
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
        dry_run,
    })
}

/// A delete answers the object while it waits on finalizers, and (for most built-in kinds) a
/// Success Status once it is gone; pods and custom resources answer the deleted object.
fn delete_answer(rt: &ResourceType, version: &str, d: Deleted) -> Value {
    if !d.gone || rt.is_crd_type() || (rt.group.is_empty() && rt.kind == "Pod") {
        return present(rt, version, d.obj);
    }
    let mut details = json!({
        "name": meta_str(&d.obj, "name").unwrap_or(""),
        "kind": rt.plural,
        "uid": meta_str(&d.obj, "uid").unwrap_or(""),
    });
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

// ------------------------------------------------------------------ list

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
    /// The saved snapshot the next pages come from (consistent paging).
    #[serde(default)]
    snap: Option<u64>,
}

fn encode_continue(rv: u64, key: &ObjKey, snap: Option<u64>) -> String {
    use base64::Engine;
    let t = ContinueToken {
        rv,
        ns: key.0.clone(),
        name: key.1.clone(),
        snap,
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(s: &str) -> Option<ContinueToken> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!("resourceVersion: Invalid value: \"{s}\": strconv.ParseUint: parsing \"{s}\": invalid syntax"))
    })
}

fn list(app: &App, ctx: &Ctx) -> Result<Answer, ApiError> {
    let t = &ctx.target;
    let rt = &t.rt;
    let f = filter::Filter::new(
        ctx.query.get("labelSelector").map(String::as_str),
        ctx.query.get("fieldSelector").map(String::as_str),
        &rt.kind,
    )?;
    let limit = match ctx.query.get("limit").map(|l| l.parse::<usize>()) {
        Some(Ok(0)) | None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => return Err(ApiError::bad_request("limit: Invalid value")),
    };
    let st = app.shared.lock();
    let mut after = None;
    let mut saved: Option<(u64, u64, crate::store::Snapshot)> = None;
    if let Some(c) = ctx.query.get("continue").filter(|c| !c.is_empty()) {
        let tok = decode_continue(c).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: illegal base64 data")
        })?;
        if tok.rv < st.floor() {
            let mut e = ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter, or use the continue \
                 token in this response to retrieve the remainder of the results. Continuing with \
                 the provided token results in an inconsistent list - objects that were created, \
                 modified, or deleted between the time the first chunk was returned and now may \
                 show up in the list.",
            );
            e.reason = "Expired";
            return Err(e);
        }
        if let Some(id) = tok.snap
            && let Some(objs) = st.saved_list(id)
        {
            saved = Some((id, tok.rv, objs));
        }
        after = Some((tok.ns, tok.name));
    }
    if let Some(rv) = ctx
        .query
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0")
    {
        let rv = parse_rv(rv)?;
        let current = st.resource_version();
        if rv > current {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {rv}, current: {current}"),
            ));
        }
        let exact = ctx
            .query
            .get("resourceVersionMatch")
            .is_some_and(|m| m == "Exact");
        // NotOlderThan (and the legacy default) is satisfied by the current state, however old
        // the asked version; Exact needs that very version, which only the present is.
        if exact && rv != current {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                st.floor() + 1
            )));
        }
    }
    // A continued list pages through the snapshot its first page saved (as etcd serves every
    // page at the first page's revision); without one (evicted), from the current state.
    let (objs, rv, snap_id, fresh) = if let Some((id, rv, objs)) = saved {
        (objs, rv, Some(id), false)
    } else {
        let (objs, rv) = st.snapshot(rt, t.namespace.as_deref(), after.as_ref());
        (Arc::new(objs), rv, None, after.is_none())
    };
    drop(st);
    let start = if let (Some(a), Some(_)) = (&after, snap_id) {
        objs.iter()
            .position(|v| {
                let k = (
                    meta_str(v, "namespace").unwrap_or("").to_owned(),
                    meta_str(v, "name").unwrap_or("").to_owned(),
                );
                k > *a
            })
            .unwrap_or(objs.len())
    } else {
        0
    };
    // Filtering and copying happen outside the store lock.
    let page = crate::store::page(&objs[start..], rv, &|v| f.matches(v), limit);
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(k) = &page.next {
        let snap = match snap_id {
            Some(id) => Some(id),
            None if fresh => Some(app.shared.lock().save_list(objs.clone())),
            None => None,
        };
        meta["continue"] = json!(encode_continue(page.rv, k, snap));
        meta["remainingItemCount"] = json!(page.remaining);
    }
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|o| present(rt, &t.version, o))
        .collect();
    if wants_table(&ctx.headers) {
        return Ok(Answer::Json(
            200,
            crate::table_of(rt, &t.version, &items, &meta, include_object(ctx)),
            false,
        ));
    }
    if wants_metadata(&ctx.headers) {
        return Ok(Answer::Json(
            200,
            json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": items.into_iter().map(partial).collect::<Vec<_>>(),
            }),
            false,
        ));
    }
    Ok(Answer::Json(
        200,
        json!({
            "kind": rt.list_kind,
            "apiVersion": rt.api_version(&t.version),
            "metadata": meta,
            "items": items,
        }),
        false,
    ))
}

// ------------------------------------------------------------------ watch

fn watch(app: &App, ctx: &Ctx) -> Result<Answer, ApiError> {
    let t = &ctx.target;
    let rt = t.rt.clone();
    let f = filter::Filter::new(
        ctx.query.get("labelSelector").map(String::as_str),
        ctx.query.get("fieldSelector").map(String::as_str),
        &rt.kind,
    )?;
    let meta_only = wants_metadata(&ctx.headers);
    let bookmarks = ctx
        .query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let initial_events = ctx
        .query
        .get("sendInitialEvents")
        .is_some_and(|b| b == "true");
    let timeout = ctx
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let rv = ctx
        .query
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0")
        .map(|r| parse_rv(r))
        .transpose()?;
    let ns = t.namespace.as_deref();
    let mut first: Vec<Bytes> = Vec::new();
    let mut initial: Vec<Arc<Value>> = Vec::new();
    let (rx, start_rv, gone) = {
        let mut st = app.shared.lock();
        match rv {
            Some(rv) if !initial_events => match st.watch(&rt.key(), ns, rv) {
                Ok((past, rx)) => {
                    first.extend(
                        past.iter()
                            .filter_map(|e| event_line(&rt, &t.version, meta_only, &f, e)),
                    );
                    (Some(rx), rv, None)
                }
                Err(e) => (None, rv, Some(e)),
            },
            _ => {
                let (items, now, rx) = st.watch_now(&rt, ns);
                initial = items;
                (Some(rx), now, None)
            }
        }
    };
    for o in initial {
        if f.matches(&o) {
            first.push(to_line(
                &json!({"type": "ADDED", "object": shape(&rt, &t.version, meta_only, (*o).clone())}),
            ));
        }
    }
    if initial_events && rx.is_some() {
        first.push(to_line(&bookmark(&rt, &t.version, start_rv, true)));
    }
    let (tx, body_rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    if let Some(e) = gone {
        first.push(to_line(
            &json!({"type": "ERROR", "object": e.status_body()}),
        ));
    }
    let version = t.version.clone();
    let shared = app.shared.clone();
    tokio::spawn(async move {
        for line in first {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let Some(mut rx) = rx else { return };
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => futures::future::pending::<()>().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => {
                    let line = match msg {
                        None => return,
                        Some(WatchMsg::Gone(rv)) => {
                            let e = ApiError::gone(format!("too old resource version: {} ({rv})", rv.saturating_sub(1)));
                            let _ = tx.send(Ok(to_line(&json!({"type": "ERROR", "object": e.status_body()})))).await;
                            return;
                        }
                        Some(WatchMsg::Event(e)) => {
                            // A watcher that stopped reading is dropped, as the apiserver drops
                            // watchers that fall too far behind; the client re-watches.
                            if rx.len() > MAX_WATCH_BACKLOG {
                                return;
                            }
                            event_line(&rt, &version, meta_only, &f, &e)
                        }
                    };
                    if let Some(line) = line
                        && tx.send(Ok(line)).await.is_err() {
                            return;
                        }
                }
                _ = tick.tick(), if bookmarks => {
                    let now = shared.lock().resource_version();
                    // Every event up to `now` is already queued: flush them first.
                    while let Ok(msg) = rx.try_recv() {
                        match msg {
                            WatchMsg::Gone(_) => return,
                            WatchMsg::Event(e) => {
                                if let Some(line) = event_line(&rt, &version, meta_only, &f, &e)
                                    && tx.send(Ok(line)).await.is_err() {
                                        return;
                                    }
                            }
                        }
                    }
                    if tx.send(Ok(to_line(&bookmark(&rt, &version, now, false)))).await.is_err() {
                        return;
                    }
                }
                () = sleep => return,
                () = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(Answer::Stream(resp))
}

/// The client asked for `PartialObjectMetadata` (kube's `get_metadata`, `list_metadata`,
/// `metadata_watcher`).
fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// An object reduced to its `PartialObjectMetadata`.
fn partial(obj: Value) -> Value {
    let metadata = match obj {
        Value::Object(mut m) => m.remove("metadata").unwrap_or_else(|| json!({})),
        _ => json!({}),
    };
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
}

/// The object as a watcher of `version` sees it (only its metadata for metadata watches).
fn shape(rt: &ResourceType, version: &str, meta_only: bool, obj: Value) -> Value {
    let obj = present(rt, version, obj);
    if meta_only { partial(obj) } else { obj }
}

fn to_line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn bookmark(rt: &ResourceType, version: &str, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta},
    })
}

/// The watch event line a stored change becomes for a watcher with this filter (None: not
/// shown). The common case (unfiltered, same version) is serialized once for every watcher.
fn event_line(
    rt: &ResourceType,
    version: &str,
    meta_only: bool,
    f: &filter::Filter,
    e: &Event,
) -> Option<Bytes> {
    let now = f.matches(&e.obj);
    let before = e.old.as_ref().is_some_and(|o| f.matches(o));
    let (natural, shown) = match e.typ {
        EventType::Added => ("ADDED", now.then_some("ADDED")),
        EventType::Modified => (
            "MODIFIED",
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        ),
        EventType::Deleted => ("DELETED", (now || before).then_some("DELETED")),
    };
    let shown = shown?;
    let render = || {
        to_line(&json!({"type": shown, "object": shape(rt, version, meta_only, (*e.obj).clone())}))
    };
    if shown != natural {
        return Some(render());
    }
    let key = if meta_only {
        format!("meta:{version}")
    } else {
        version.to_owned()
    };
    let (v, line) = e.line.get_or_init(|| (key.clone(), render()));
    if *v == key {
        Some(line.clone())
    } else {
        Some(render())
    }
}

#[cfg(test)]
mod tests {
    use super::decode_segment;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(decode_segment("system%3Acontroller"), "system:controller");
        assert_eq!(decode_segment("plain"), "plain");
        assert_eq!(decode_segment("bad%zz%4"), "bad%zz%4");
    }
}
