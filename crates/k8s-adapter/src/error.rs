//! Typed Kubernetes errors, their mapping onto the domain's [`ClusterError`], and the retry
//! policy every write of this crate runs under.
//!
//! | HTTP | [`KubeError`] | retried by [`retry`] |
//! |---|---|---|
//! | 404 | `NotFound` | no (an idempotent delete treats it as done) |
//! | 409 | `Conflict` | on apply only ([`Op::Apply`]) |
//! | 410 | `Gone` | no: the caller relists (a watcher restarts its list) |
//! | 401 / 403 | `Unauthorized` / `Forbidden` | never |
//! | 400 / 422 | `Invalid` | never |
//! | 429 | `TooManyRequests` | yes, after the server's `Retry-After` |
//! | 5xx | `Server` | yes, exponential backoff |
//! | no answer | `Transport` | yes, exponential backoff |
//!
//! **Retry-After.** `kube::Error::Api` keeps the response body (a `Status`), not the headers.
//! The API server writes the delay twice: in the `Retry-After` header and in the body's
//! `details.retryAfterSeconds`; [`KubeError::from`] reads the latter, and falls back to
//! [`DEFAULT_RETRY_AFTER`] (1 s) when a 429 carries none. kube's own client retry layer
//! (`Config::default_retry`, on by default) also retries 429/503/504 using the header before
//! an error ever reaches this crate; build clients with [`client_without_builtin_retry`] to
//! let [`retry`] be the only retry policy (bounded, observable, classified).

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use vlb_domain::error::ClusterError;

/// Delay assumed when a 429 or 503 answer names none.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A Kubernetes API call failed; one variant per class of HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// 404: the object (or its kind) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: optimistic-lock conflict, apply conflict, or already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 410: the resource version is too old; relist.
    #[error("gone: {0}")]
    Gone(String),
    /// 401: no or bad credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: the role does not allow the call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 400 / 422 (and any other 4xx): the request itself is wrong; never retried.
    #[error("invalid ({code}): {message}")]
    Invalid {
        /// HTTP status.
        code: u16,
        /// Server message.
        message: String,
    },
    /// 429: retry after the server's delay.
    #[error("too many requests, retry after {retry_after:?}: {message}")]
    TooManyRequests {
        /// Delay the server asked for (or [`DEFAULT_RETRY_AFTER`]).
        retry_after: Duration,
        /// Server message.
        message: String,
    },
    /// 5xx.
    #[error("api server error ({code}): {message}")]
    Server {
        /// HTTP status.
        code: u16,
        /// Server message.
        message: String,
        /// Delay the server asked for (503 with `retryAfterSeconds`).
        retry_after: Option<Duration>,
    },
    /// No answer: connection, TLS or timeout failure.
    #[error("transport error: {0}")]
    Transport(String),
    /// The client could not build the request or read the answer (a bug or a bad
    /// configuration, not a server verdict); never retried.
    #[error("client error: {0}")]
    Client(String),
}

/// The kind of call a [`retry`] protects: decides whether a 409 is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Server-side apply: a 409 is a transient field-manager race, retried.
    Apply,
    /// Any other call: a 409 (lost optimistic lock, already exists) goes to the caller.
    Other,
}

impl KubeError {
    /// Classifies an HTTP status and message.
    pub fn from_status(
        code: u16,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let message = message.into();
        match code {
            404 => Self::NotFound(message),
            409 => Self::Conflict(message),
            410 => Self::Gone(message),
            401 => Self::Unauthorized(message),
            403 => Self::Forbidden(message),
            429 => Self::TooManyRequests {
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                message,
            },
            500..=599 => Self::Server {
                code,
                message,
                retry_after,
            },
            _ => Self::Invalid { code, message },
        }
    }

    /// HTTP status of the answer, when there was one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::NotFound(_) => Some(404),
            Self::Conflict(_) => Some(409),
            Self::Gone(_) => Some(410),
            Self::Unauthorized(_) => Some(401),
            Self::Forbidden(_) => Some(403),
            Self::Invalid { code, .. } | Self::Server { code, .. } => Some(*code),
            Self::TooManyRequests { .. } => Some(429),
            Self::Transport(_) | Self::Client(_) => None,
        }
    }

    /// The object is gone (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// Whether [`retry`] tries the call again for this kind of call.
    pub fn is_retryable(&self, op: Op) -> bool {
        match self {
            Self::Conflict(_) => op == Op::Apply,
            Self::TooManyRequests { .. } | Self::Server { .. } | Self::Transport(_) => true,
            Self::NotFound(_)
            | Self::Gone(_)
            | Self::Unauthorized(_)
            | Self::Forbidden(_)
            | Self::Invalid { .. }
            | Self::Client(_) => false,
        }
    }

    /// Delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests { retry_after, .. } => Some(*retry_after),
            Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<kube::Error> for KubeError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => {
                let retry_after = status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(u64::from(s)));
                let message = if status.reason.is_empty() {
                    status.message.clone()
                } else {
                    format!("{} ({})", status.message, status.reason)
                };
                Self::from_status(status.code, message, retry_after)
            }
            kube::Error::HyperError(e) => Self::Transport(e.to_string()),
            kube::Error::Service(e) => Self::Transport(e.to_string()),
            kube::Error::ReadEvents(e) => Self::Transport(e.to_string()),
            kube::Error::RustlsTls(e) => Self::Transport(e.to_string()),
            kube::Error::Auth(e) => Self::Unauthorized(e.to_string()),
            other => Self::Client(other.to_string()),
        }
    }
}

impl From<KubeError> for ClusterError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::NotFound(m) => Self::NotFound(m),
            KubeError::Conflict(m) => Self::Conflict(m),
            KubeError::Gone(m) => Self::Gone(m),
            KubeError::Unauthorized(m) => Self::Unauthorized(m),
            KubeError::Forbidden(m) => Self::Forbidden(m),
            KubeError::Invalid { code, message } => Self::Invalid(format!("{code}: {message}")),
            KubeError::Client(m) => Self::Invalid(m),
            KubeError::TooManyRequests { retry_after, .. } => Self::TooManyRequests { retry_after },
            KubeError::Server { code, message, .. } => Self::Server(format!("{code}: {message}")),
            KubeError::Transport(m) => Self::Transport(m),
        }
    }
}

/// Classifies a kube error straight into the domain's error.
pub fn cluster_error(e: kube::Error) -> ClusterError {
    KubeError::from(e).into()
}

/// Bounded exponential backoff of [`retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay (250 ms in production).
    pub initial: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Largest server-given `Retry-After` honoured (longer ones are cut to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 250 ms doubling to 5 s, 5 retries, `Retry-After` honoured up to 30 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_retries: 5,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Short delays for tests: 5 ms doubling to 50 ms, 5 retries, `Retry-After` cut to 2 s.
    pub fn fast() -> Self {
        Self {
            initial: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_retries: 5,
            max_retry_after: Duration::from_secs(2),
        }
    }

    /// No retry at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::fast()
        }
    }
}

/// Runs `call` and retries it under `policy` while the error is retryable for `op`: 409 on
/// apply, 429, 5xx and transport errors, with exponential backoff (jitter) and the server's
/// `Retry-After` (cut to `policy.max_retry_after`) when it names one. 401, 403, 404, 410 and
/// 400/422 are returned at once; a 410 asks the caller to relist.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, op: Op, mut call: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, KubeError>>,
{
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(policy.initial)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_retries)
        .with_jitter()
        .build();
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable(op) => {
                let Some(delay) = backoff.next() else {
                    return Err(e);
                };
                let delay = e.retry_after().map_or(delay, |server| {
                    server.min(policy.max_retry_after).max(delay)
                });
                tracing::debug!(error = %e, ?delay, "kubernetes call failed, retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Builds a client from `config` with kube's built-in retry layer off, so that [`retry`] is
/// the one policy (bounded, classified) the adapter's calls run under.
pub fn client_without_builtin_retry(mut config: kube::Config) -> Result<kube::Client, KubeError> {
    config.default_retry = false;
    kube::Client::try_from(config).map_err(KubeError::from)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::core::response::StatusDetails;

    use super::*;

    fn api(code: u16, retry_after: u32) -> kube::Error {
        let mut status = kube::core::Status::failure("boom", "Reason").with_code(code);
        if retry_after > 0 {
            status.details = Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: vec![],
                retry_after_seconds: retry_after,
            });
        }
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn every_status_class_maps_to_its_narrowest_error() {
        assert!(matches!(
            KubeError::from(api(404, 0)),
            KubeError::NotFound(_)
        ));
        assert!(matches!(
            KubeError::from(api(409, 0)),
            KubeError::Conflict(_)
        ));
        assert!(matches!(KubeError::from(api(410, 0)), KubeError::Gone(_)));
        assert!(matches!(
            KubeError::from(api(401, 0)),
            KubeError::Unauthorized(_)
        ));
        assert!(matches!(
            KubeError::from(api(403, 0)),
            KubeError::Forbidden(_)
        ));
        assert!(matches!(
            KubeError::from(api(422, 0)),
            KubeError::Invalid { code: 422, .. }
        ));
        assert!(matches!(
            KubeError::from(api(400, 0)),
            KubeError::Invalid { code: 400, .. }
        ));
        assert!(matches!(
            KubeError::from(api(503, 0)),
            KubeError::Server { code: 503, .. }
        ));
        assert!(matches!(
            KubeError::from(api(500, 0)),
            KubeError::Server { code: 500, .. }
        ));
        assert_eq!(
            KubeError::from(api(429, 7)).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            KubeError::from(api(429, 0)).retry_after(),
            Some(DEFAULT_RETRY_AFTER)
        );
        let serde = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(matches!(
            KubeError::from(kube::Error::SerdeError(serde)),
            KubeError::Client(_)
        ));
    }

    #[test]
    fn domain_error_keeps_the_class_and_its_retry_answer() {
        use vlb_domain::error::Retry;
        let c: ClusterError = KubeError::from(api(403, 0)).into();
        assert_eq!(c.retry(), Retry::Never);
        let c: ClusterError = KubeError::from(api(422, 0)).into();
        assert_eq!(c.retry(), Retry::Never);
        let c: ClusterError = KubeError::from(api(503, 0)).into();
        assert_eq!(c.retry(), Retry::Backoff);
        let c: ClusterError = KubeError::from(api(429, 9)).into();
        assert_eq!(
            c,
            ClusterError::TooManyRequests {
                retry_after: Duration::from_secs(9)
            }
        );
        let c: ClusterError = KubeError::from(api(410, 0)).into();
        assert!(matches!(c, ClusterError::Gone(_)));
    }

    #[test]
    fn conflict_is_retried_on_apply_only() {
        let e = KubeError::Conflict("x".into());
        assert!(e.is_retryable(Op::Apply));
        assert!(!e.is_retryable(Op::Other));
        for never in [
            KubeError::Forbidden("x".into()),
            KubeError::Unauthorized("x".into()),
            KubeError::Gone("x".into()),
            KubeError::Invalid {
                code: 422,
                message: "x".into(),
            },
        ] {
            assert!(!never.is_retryable(Op::Apply), "{never}");
        }
    }

    async fn run_with(errors: Vec<KubeError>, op: Op) -> (Result<u8, KubeError>, usize) {
        let calls = AtomicUsize::new(0);
        let errors = parking_lot::Mutex::new(errors.into_iter());
        let r = retry(&RetryPolicy::fast(), op, || {
            calls.fetch_add(1, Ordering::SeqCst);
            let next = errors.lock().next();
            async move { next.map_or(Ok(1), Err) }
        })
        .await;
        (r, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let e = || KubeError::from_status(503, "x", None);
        let (r, calls) = run_with(vec![e(), e()], Op::Other).await;
        assert_eq!(r, Ok(1));
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn forbidden_is_returned_after_one_call() {
        let (r, calls) = run_with(vec![KubeError::Forbidden("no".into())], Op::Apply).await;
        assert!(matches!(r, Err(KubeError::Forbidden(_))));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_bound() {
        let e = || KubeError::from_status(500, "x", None);
        let (r, calls) = run_with(vec![e(); 10], Op::Other).await;
        assert!(matches!(r, Err(KubeError::Server { .. })));
        assert_eq!(calls, 1 + RetryPolicy::fast().max_retries);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_within_its_cap() {
        let e = KubeError::from_status(429, "x", Some(Duration::from_millis(300)));
        let start = std::time::Instant::now();
        let (r, _) = run_with(vec![e], Op::Other).await;
        assert_eq!(r, Ok(1));
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
