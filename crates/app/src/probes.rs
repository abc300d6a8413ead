//! The probe and metrics server: `/metrics`, `/healthz`, `/livez`, `/readyz` (ready once
//! the caches synced, or this replica stands by, and the election state is known; not
//! while shutting down).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What `/readyz` reports on.
#[derive(Debug, Default)]
pub struct Readiness {
    caches_synced: AtomicBool,
    leadership_known: AtomicBool,
    standby: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// A readiness that needs the caches synced and the leader state known.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// The watch caches have their first full list.
    pub fn set_caches_synced(&self) {
        self.caches_synced.store(true, Ordering::Release);
    }
    /// This replica knows whether it leads or stands by.
    pub fn set_leadership_known(&self) {
        self.leadership_known.store(true, Ordering::Release);
    }
    /// This replica stands by (another leads): ready without caches.
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Release);
    }
    /// Shutdown started: not ready any more.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }
    /// What is still missing (empty: ready).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.shutting_down.load(Ordering::Acquire) {
            out.push("shutting down");
        }
        if !self.caches_synced.load(Ordering::Acquire) && !self.standby.load(Ordering::Acquire) {
            out.push("caches not synced");
        }
        if !self.leadership_known.load(Ordering::Acquire) {
            out.push("leader election state unknown");
        }
        out
    }
}

/// State of the server.
#[derive(Debug, Clone)]
pub struct OpsState {
    /// Metrics.
    pub metrics: Metrics,
    /// Readiness.
    pub readiness: Arc<Readiness>,
}

async fn metrics(State(s): State<OpsState>) -> impl IntoResponse {
    match s.metrics.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}")).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<OpsState>) -> (StatusCode, String) {
    let missing = s.readiness.missing();
    if missing.is_empty() {
        (StatusCode::OK, "ok".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, missing.join("; "))
    }
}

/// The router.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Binds `addr`; returns the bound address and the server future (ends on `shutdown`).
pub async fn bind(
    addr: SocketAddr,
    state: OpsState,
    shutdown: CancellationToken,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serve = async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    };
    Ok((local, serve))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt;

    fn state() -> OpsState {
        OpsState {
            metrics: Metrics::new(),
            readiness: Readiness::new(),
        }
    }

    async fn get_path(s: OpsState, path: &str) -> (StatusCode, String) {
        let resp = router(s)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_answers_ok() {
        assert_eq!(get_path(state(), "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn readyz_waits_for_caches_and_leadership() {
        let s = state();
        let (code, body) = get_path(s.clone(), "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("caches not synced") && body.contains("leader"),
            "{body}"
        );
        s.readiness.set_caches_synced();
        assert_eq!(
            get_path(s.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.readiness.set_leadership_known();
        assert_eq!(get_path(s.clone(), "/readyz").await.0, StatusCode::OK);
        let standby = state();
        standby.readiness.set_leadership_known();
        standby.readiness.set_standby(true);
        assert_eq!(get_path(standby, "/readyz").await.0, StatusCode::OK);
        s.readiness.set_shutting_down();
        let (code, body) = get_path(s, "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("shutting down"));
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_the_registry() {
        let s = state();
        s.metrics.reconciled(
            "service",
            crate::metrics::ReconcileResult::Success,
            std::time::Duration::from_millis(5),
        );
        let (code, body) = get_path(s, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            body.contains("controller_runtime_reconcile_total{"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[tokio::test]
    async fn server_binds_loopback_and_stops_on_shutdown() {
        let token = CancellationToken::new();
        let (addr, serve) = bind("127.0.0.1:0".parse().unwrap(), state(), token.clone())
            .await
            .unwrap();
        let task = tokio::spawn(serve);
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        token.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
