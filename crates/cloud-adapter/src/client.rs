//! The HTTP core: one connection pool, the IAM token cache, pacing, retries, tracing, metrics.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus_client::registry::Registry;
use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::{Instrument, debug, field};
use vlb_domain::CloudError;
use vlb_domain::model::{Server, Subnet};

use crate::busy::{BusyTimes, Change};
use crate::cache::TtlMap;
use crate::config::{CloudConfig, Secret};
use crate::error::classify;
use crate::metrics::{CallLabels, Metrics};

/// The User-Agent every call carries.
pub const USER_AGENT: &str = concat!("vlb-controller/", env!("CARGO_PKG_VERSION"));

/// Which VNGCloud service a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Vlb,
    Vserver,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Self::Vlb => "vlb",
            Self::Vserver => "vserver",
        }
    }
}

/// Whether a call may be sent again after a transport error or a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Reads, updates, deletes: safe to resend.
    Idempotent,
    /// Creates: a lost answer may hide a success, so never resent here (the caller looks the
    /// object up by name first). 429 and busy refusals are still retried: they apply nothing.
    Create,
}

/// One call: where, what, and what it is about (for not-found errors).
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub method: Method,
    pub service: Service,
    /// Path template relative to `/v2/{projectId}/`, e.g. `loadBalancers/{loadBalancerId}`.
    pub template: &'static str,
    /// Concrete path relative to `/v2/{projectId}/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    pub resource: &'static str,
    pub id: &'a str,
    pub mode: Mode,
}

impl<'a> Call<'a> {
    pub fn new(
        method: Method,
        service: Service,
        template: &'static str,
        path: String,
        resource: &'static str,
        id: &'a str,
    ) -> Self {
        let mode = if method == Method::POST {
            Mode::Create
        } else {
            Mode::Idempotent
        };
        Self {
            method,
            service,
            template,
            path,
            query: Vec::new(),
            body: None,
            resource,
            id,
            mode,
        }
    }

    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

#[derive(Debug, Clone)]
struct Token {
    access: Secret,
    refresh_at: Instant,
}

#[derive(Debug, serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: CloudConfig,
    token: Mutex<Option<Token>>,
    /// Load balancers this client changed and has not seen ready since (see
    /// [`VngCloudClient::settle`]), and how long changes keep them busy.
    busy: std::sync::Mutex<BusyTimes>,
    limiter: Option<DefaultDirectRateLimiter>,
    metrics: Metrics,
    /// Servers read recently, by id (see [`crate::cache`]).
    servers: TtlMap<String, Server>,
    /// Subnets read recently, by (network id, subnet id).
    subnets: TtlMap<(String, String), Subnet>,
}

/// The VNGCloud client: implements [`LoadBalancerApi`](vlb_domain::ports::LoadBalancerApi) and
/// [`NetworkApi`](vlb_domain::ports::NetworkApi). Cheap to clone; clones share the connection
/// pool, the token, the pacer and the metrics.
#[derive(Debug, Clone)]
pub struct VngCloudClient {
    inner: Arc<Inner>,
}

/// The client could not be built (TLS or HTTP stack set-up); not retryable.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the VNGCloud HTTP client: {0}")]
pub struct BuildError(String);

impl VngCloudClient {
    /// Builds a client: one connection pool with timeouts and the User-Agent, the pacer, and
    /// installs the rustls `ring` provider (if none is installed yet).
    pub fn new(config: CloudConfig) -> Result<Self, BuildError> {
        // Ignore "already installed": any process-wide provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        let limiter = config
            .pacing
            .map(|p| RateLimiter::direct(Quota::per_second(p.per_second).allow_burst(p.burst)));
        let ttl = config.read_cache_ttl;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                token: Mutex::new(None),
                busy: std::sync::Mutex::default(),
                limiter,
                metrics: Metrics::new(),
                servers: TtlMap::new(ttl),
                subnets: TtlMap::new(ttl),
            }),
        })
    }

    /// Registers the client's metrics (`vngcloud_requests_total`,
    /// `vngcloud_request_duration_seconds`, `vngcloud_retries_total`) into `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// The configuration.
    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    /// Servers read recently (see [`crate::cache`]).
    pub(crate) fn servers(&self) -> &TtlMap<String, Server> {
        &self.inner.servers
    }

    /// Subnets read recently, by (network id, subnet id).
    pub(crate) fn subnets(&self) -> &TtlMap<(String, String), Subnet> {
        &self.inner.subnets
    }

    /// A valid access token: the cached one, or one fetched now. Concurrent callers wait on
    /// the same lock, so only one of them asks IAM (single flight).
    async fn token(&self) -> Result<Secret, CloudError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.access.clone());
        }
        let fresh = self.fetch_token().await?;
        let access = fresh.access.clone();
        *slot = Some(fresh);
        Ok(access)
    }

    /// Forgets `used` if it is still the cached token (another caller may have refreshed).
    async fn invalidate(&self, used: &Secret) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|t| &t.access == used) {
            *slot = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, CloudError> {
        let cfg = &self.inner.config;
        let url = format!("{}/v2/auth/token", cfg.iam_url.trim_end_matches('/'));
        let span = tracing::debug_span!(
            "vngcloud.call",
            service = "iam",
            method = "POST",
            path = "auth/token",
            attempt = 1u32,
            status = field::Empty,
            duration_ms = field::Empty,
        );
        let started = Instant::now();
        let labels = |status: String| CallLabels {
            service: "iam",
            method: "POST",
            path: "auth/token",
            status,
        };
        self.pace().await;
        let sent = self
            .inner
            .http
            .post(&url)
            .basic_auth(&cfg.client_id, Some(cfg.client_secret.expose()))
            .json(&serde_json::json!({ "grant_type": "client_credentials" }))
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| CloudError::Transport(e.without_url().to_string()))?;
                self.observe(&span, &labels(status.to_string()), started);
                if (200..300).contains(&status) {
                    let t: TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| CloudError::Other {
                            status,
                            message: format!("bad token answer: {e}"),
                        })?;
                    let ttl = Duration::from_secs(t.expires_in.max(1));
                    let margin = cfg.token_refresh_margin.min(ttl / 2);
                    Ok(Token {
                        access: Secret::new(t.access_token),
                        refresh_at: Instant::now() + ttl.saturating_sub(margin),
                    })
                } else {
                    Err(match classify(status, &headers, &body, "token", "") {
                        CloudError::Invalid(m) => CloudError::Unauthorized(m),
                        e => e,
                    })
                }
            }
            Err(e) => {
                self.observe(&span, &labels("transport".to_owned()), started);
                Err(CloudError::Transport(e.without_url().to_string()))
            }
        }
    }

    fn observe(&self, span: &tracing::Span, labels: &CallLabels, started: Instant) {
        let elapsed = started.elapsed();
        span.record("status", labels.status.as_str());
        span.record("duration_ms", elapsed.as_millis() as u64);
        self.inner
            .metrics
            .duration
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
        self.inner.metrics.calls.get_or_create(labels).inc();
    }

    async fn pace(&self) {
        if let Some(l) = &self.inner.limiter {
            l.until_ready().await;
        }
    }

    fn url(&self, call: &Call<'_>) -> String {
        let cfg = &self.inner.config;
        let base = match call.service {
            Service::Vlb => &cfg.vlb_url,
            Service::Vserver => &cfg.vserver_url,
        };
        let mut url = format!(
            "{}/v2/{}/{}",
            base.trim_end_matches('/'),
            cfg.project_id,
            call.path
        );
        if !call.query.is_empty() {
            url.push('?');
            url.push_str(&query_string(&call.query));
        }
        url
    }

    /// One HTTP exchange: status, headers and body, or a transport error.
    async fn exchange(
        &self,
        call: &Call<'_>,
        token: &Secret,
        attempt: u32,
    ) -> Result<Bytes, CloudError> {
        let method = method_label(&call.method);
        let span = tracing::debug_span!(
            "vngcloud.call",
            service = call.service.label(),
            method,
            path = call.template,
            attempt,
            status = field::Empty,
            duration_ms = field::Empty,
        );
        let labels = |status: String| CallLabels {
            service: call.service.label(),
            method,
            path: call.template,
            status,
        };
        let started = Instant::now();
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), self.url(call))
            .bearer_auth(token.expose());
        if let Some(b) = &call.body {
            req = req.json(b);
        }
        let sent = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .instrument(span.clone())
        .await;
        match sent {
            Ok((status, headers, body)) => {
                self.observe(&span, &labels(status.to_string()), started);
                if (200..300).contains(&status) {
                    Ok(body)
                } else {
                    Err(classify(status, &headers, &body, call.resource, call.id))
                }
            }
            Err(e) => {
                self.observe(&span, &labels("transport".to_owned()), started);
                Err(CloudError::Transport(e.without_url().to_string()))
            }
        }
    }

    /// Sends a call with pacing, the token, and the retry policy; returns the body.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Bytes, CloudError> {
        let retry = self.inner.config.retry;
        let started = Instant::now();
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_retries)
            .with_total_delay(Some(retry.max_elapsed))
            .build();
        let mut busy_backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .without_max_times()
            .build();
        let mut refreshed = false;
        let mut rate_limited = 0usize;
        let mut maybe_applied = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // A failed token fetch sent nothing: even a create may be retried after it.
            let mut sent = true;
            let result = match self.token().await {
                Ok(token) => {
                    self.pace().await;
                    match self.exchange(call, &token, attempt).await {
                        Err(CloudError::Unauthorized(_)) if !refreshed => {
                            // Expired or revoked token: refresh once and try again.
                            refreshed = true;
                            self.invalidate(&token).await;
                            debug!(path = call.template, "token refused, refreshing once");
                            self.count_retry(call, "401");
                            continue;
                        }
                        r => r,
                    }
                }
                Err(e) => {
                    sent = false;
                    Err(e)
                }
            };
            let err = match result {
                Ok(body) => return Ok(body),
                // A DELETE whose earlier answer was lost may have been applied: gone is done.
                Err(CloudError::NotFound { .. })
                    if call.method == Method::DELETE && maybe_applied =>
                {
                    return Ok(Bytes::new());
                }
                Err(e) => e,
            };
            if sent && matches!(err, CloudError::Transport(_) | CloudError::Server(_)) {
                maybe_applied = true;
            }
            let delay = match &err {
                CloudError::RateLimited { retry_after } => {
                    if rate_limited >= retry.max_rate_limited_retries {
                        None
                    } else {
                        rate_limited += 1;
                        Some(jitter(retry.clamp_rate_limit(*retry_after)))
                    }
                }
                CloudError::Busy(_) => busy_backoff
                    .next()
                    .filter(|d| started.elapsed() + *d <= retry.busy_deadline),
                CloudError::Transport(_) | CloudError::Server(_)
                    if call.mode == Mode::Idempotent || !sent =>
                {
                    backoff.next()
                }
                _ => None,
            };
            let Some(delay) = delay else {
                return Err(err);
            };
            let reason = match &err {
                CloudError::RateLimited { .. } => "429",
                CloudError::Busy(_) => "busy",
                CloudError::Server(_) => "5xx",
                _ => "transport",
            };
            self.count_retry(call, reason);
            debug!(
                path = call.template,
                attempt,
                reason,
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "retrying VNGCloud call"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn count_retry(&self, call: &Call<'_>, reason: &str) {
        self.inner
            .metrics
            .retries
            .get_or_create(&CallLabels {
                service: call.service.label(),
                method: method_label(&call.method),
                path: call.template,
                status: reason.to_owned(),
            })
            .inc();
    }

    /// Sends a call and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, CloudError> {
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| CloudError::Other {
            status: 200,
            message: format!("unexpected answer from {}: {e}", call.template),
        })
    }
}

/// A query string as the SDK writes it: values percent-encoded, except the `:` and `,` of a
/// tag filter, which the SDK sends raw (`tags=key:K,value:V`, `ListLoadBalancersRequest.
/// ToListQuery` in `loadbalancer/v2/loadbalancer_request.go`).
pub(crate) fn query_string(query: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k, "");
        out.push('=');
        encode_into(&mut out, v, if *k == "tags" { ":," } else { "" });
    }
    out
}

fn encode_into(out: &mut String, s: &str, keep: &str) {
    for b in s.bytes() {
        let c = char::from(b);
        if b.is_ascii_alphanumeric() || "-._~".contains(c) || keep.contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Adds up to 10 % (at most one second) of random delay.
fn jitter(d: Duration) -> Duration {
    let max = (d / 10).min(Duration::from_secs(1));
    if max.is_zero() {
        return d;
    }
    d + max.mul_f64(rand::rng().random_range(0.0..1.0))
}

impl VngCloudClient {
    /// Pending changes and learnt busy times.
    pub(crate) fn busy(&self) -> std::sync::MutexGuard<'_, BusyTimes> {
        self.inner
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that a change of load balancer `lb_id` was accepted: it is `UPDATING` (or
    /// `CREATING`) for a while, so the next change waits for it first.
    pub(crate) fn mark_changing(&self, lb_id: &str, change: Change) {
        self.busy().changed(lb_id, change);
    }

    /// Forgets the pending change of `lb_id` (ready again).
    pub(crate) fn forget_changing(&self, lb_id: &str) {
        self.busy().forget(lb_id);
    }
}

#[cfg(test)]
mod tests {
    use super::query_string;

    // The Go controller lists by tag with the SDK's raw `tags=key:K,value:V`; `%3A`/`%2C`
    // are what a generic form encoder sends instead.
    #[test]
    fn tag_filter_is_sent_raw_as_the_sdk_and_other_values_are_encoded() {
        let q = vec![
            ("name", "a b&c".to_owned()),
            ("page", "1".to_owned()),
            ("tags", "key:vks-cluster,value:k8s-1".to_owned()),
        ];
        assert_eq!(
            query_string(&q),
            "name=a%20b%26c&page=1&tags=key:vks-cluster,value:k8s-1"
        );
        let q = vec![("tags", "key:a&b,value:c d".to_owned())];
        assert_eq!(query_string(&q), "tags=key:a%26b,value:c%20d");
    }
}
