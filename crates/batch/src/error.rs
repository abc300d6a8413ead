//! Errors of a flush, typed by HTTP status, each telling whether and when to retry.

use std::fmt;
use std::time::Duration;

use crate::key::QueueKey;
use crate::report::FlushReport;

/// When to try again after an error (the caller's requeue decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Not until something changes (the object, its RBAC, its definition).
    Never,
    /// After this delay (the server asked for it).
    After(Duration),
    /// With the caller's exponential backoff.
    Backoff,
}

/// Why the mutations of one object could not be written.
///
/// Built from the API server's answer: 404 [`NotFound`](Self::NotFound), 409 (after the
/// conflict budget) [`ConflictExhausted`](Self::ConflictExhausted), 401, 403, 410, 400/422,
/// 429, 5xx, or a connection failure. The batcher already retried what can be retried
/// (409, 429, 5xx, transport) within its [`RetryPolicy`](crate::RetryPolicy); the error says
/// with [`retry`](Self::retry) what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The object does not exist (404).
    #[error("not found: {message}")]
    NotFound {
        /// Server message.
        message: String,
    },
    /// Every attempt hit an optimistic-lock conflict (409).
    #[error("conflict not resolved after {attempts} attempts: {message}")]
    ConflictExhausted {
        /// Patches tried.
        attempts: u32,
        /// Message of the last conflict.
        message: String,
    },
    /// Bad or expired credentials (401).
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// Server message.
        message: String,
    },
    /// RBAC refuses the call (403).
    #[error("forbidden: {message}")]
    Forbidden {
        /// Server message.
        message: String,
    },
    /// The patch was rejected as invalid (400, 422) or the response could not be decoded.
    #[error("invalid ({status}): {message}")]
    Invalid {
        /// HTTP status (0 when the request or response could not be (de)serialized).
        status: u16,
        /// Server message.
        message: String,
    },
    /// The resource version is gone (410).
    #[error("gone: {message}")]
    Gone {
        /// Server message.
        message: String,
    },
    /// Rate limited (429) after the retry budget.
    #[error("too many requests (retry after {retry_after:?}): {message}")]
    TooManyRequests {
        /// Delay the server asked for, if any.
        retry_after: Option<Duration>,
        /// Server message.
        message: String,
    },
    /// Server error (5xx) after the retry budget, or another unexpected status.
    #[error("api server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Delay the server asked for (`Retry-After` on a 503), if any.
        retry_after: Option<Duration>,
        /// Server message.
        message: String,
    },
    /// Connection failure or timeout after the retry budget.
    #[error("transport error: {message}")]
    Transport {
        /// Client message.
        message: String,
    },
}

impl BatchError {
    /// Whether and when the caller should try again.
    pub fn retry(&self) -> RetryHint {
        match self {
            Self::NotFound { .. } | Self::Forbidden { .. } | Self::Invalid { .. } => {
                RetryHint::Never
            }
            Self::TooManyRequests {
                retry_after: Some(d),
                ..
            }
            | Self::Server {
                retry_after: Some(d),
                ..
            } => RetryHint::After(*d),
            Self::ConflictExhausted { .. }
            | Self::Unauthorized { .. }
            | Self::Gone { .. }
            | Self::TooManyRequests { .. }
            | Self::Server { .. }
            | Self::Transport { .. } => RetryHint::Backoff,
        }
    }

    /// The object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the batcher itself retries this error within one flush (429, 5xx, transport).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::TooManyRequests { .. } | Self::Server { .. } | Self::Transport { .. }
        )
    }

    /// The delay the server asked for (429, 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests { retry_after, .. } | Self::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The HTTP status behind the error (0 for transport and decoding errors).
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::ConflictExhausted { .. } => 409,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::Gone { .. } => 410,
            Self::TooManyRequests { .. } => 429,
            Self::Invalid { status, .. } | Self::Server { status, .. } => *status,
            Self::Transport { .. } => 0,
        }
    }
}

/// The failure of one object in a flush.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {error}")]
pub struct ObjectFailure {
    /// The object.
    pub key: QueueKey,
    /// Why it failed.
    #[source]
    pub error: BatchError,
}

/// The joined failures of a flush: one [`ObjectFailure`] per object that could not be
/// written (the others were written). The failed entries stay queued for the next flush.
#[derive(Debug, Clone)]
pub struct FlushError {
    failures: Vec<ObjectFailure>,
    report: FlushReport,
}

impl FlushError {
    pub(crate) fn new(failures: Vec<ObjectFailure>, report: FlushReport) -> Self {
        Self { failures, report }
    }

    /// Every failure, in queue order.
    pub fn failures(&self) -> &[ObjectFailure] {
        &self.failures
    }

    /// Every error, in queue order.
    pub fn errors(&self) -> impl Iterator<Item = &BatchError> {
        self.failures.iter().map(|f| &f.error)
    }

    /// The first error matching `predicate`.
    pub fn find(&self, mut predicate: impl FnMut(&BatchError) -> bool) -> Option<&BatchError> {
        self.errors().find(|e| predicate(e))
    }

    /// The error of object `key`, if it failed.
    pub fn error_for(&self, key: &QueueKey) -> Option<&BatchError> {
        self.failures
            .iter()
            .find(|f| &f.key == key)
            .map(|f| &f.error)
    }

    /// Whether any object was not found.
    pub fn is_not_found(&self) -> bool {
        self.errors().any(BatchError::is_not_found)
    }

    /// Whether every failed object was not found (nothing else went wrong).
    pub fn all_not_found(&self) -> bool {
        self.errors().all(BatchError::is_not_found)
    }

    /// What was sent during the flush, failures included.
    pub fn report(&self) -> &FlushReport {
        &self.report
    }

    /// Whether and when to retry: [`Backoff`](RetryHint::Backoff) if any failure asks for it,
    /// else the longest [`After`](RetryHint::After), else [`Never`](RetryHint::Never).
    pub fn retry(&self) -> RetryHint {
        let mut hint = RetryHint::Never;
        for e in self.errors() {
            hint = match (hint, e.retry()) {
                (RetryHint::Backoff, _) | (_, RetryHint::Backoff) => RetryHint::Backoff,
                (RetryHint::After(a), RetryHint::After(b)) => RetryHint::After(a.max(b)),
                (RetryHint::After(a), RetryHint::Never)
                | (RetryHint::Never, RetryHint::After(a)) => RetryHint::After(a),
                (RetryHint::Never, RetryHint::Never) => RetryHint::Never,
            };
        }
        hint
    }

    /// The failures, owned.
    pub fn into_failures(self) -> Vec<ObjectFailure> {
        self.failures
    }
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flush failed for {} object(s)", self.failures.len())?;
        for (i, failure) in self.failures.iter().enumerate() {
            write!(f, "{}{failure}", if i == 0 { ": " } else { "; " })?;
        }
        Ok(())
    }
}

impl std::error::Error for FlushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|f| f as &(dyn std::error::Error + 'static))
    }
}

/// An API answer that is not a success, before the batcher decided what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// 409: re-read and re-run.
    Conflict(String),
    /// Anything else.
    Failed(BatchError),
}

impl CallError {
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Failed(e) if e.is_transient())
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Failed(e) => e.retry_after(),
            Self::Conflict(_) => None,
        }
    }
}

/// Types a non-success answer by its status; `retry_after` comes from the `Retry-After`
/// header or the Status' `details.retryAfterSeconds`.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, message: String) -> CallError {
    let e = match status {
        404 => BatchError::NotFound { message },
        409 => return CallError::Conflict(message),
        401 => BatchError::Unauthorized { message },
        403 => BatchError::Forbidden { message },
        410 => BatchError::Gone { message },
        429 => BatchError::TooManyRequests {
            retry_after,
            message,
        },
        400..=499 => BatchError::Invalid { status, message },
        _ => BatchError::Server {
            status,
            retry_after,
            message,
        },
    };
    CallError::Failed(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(status: u16) -> BatchError {
        match classify(status, None, "m".to_owned()) {
            CallError::Failed(e) => e,
            CallError::Conflict(_) => panic!("conflict"),
        }
    }

    #[test]
    fn statuses_map_to_their_narrowest_error() {
        assert!(matches!(failed(404), BatchError::NotFound { .. }));
        assert!(matches!(failed(401), BatchError::Unauthorized { .. }));
        assert!(matches!(failed(403), BatchError::Forbidden { .. }));
        assert!(matches!(failed(410), BatchError::Gone { .. }));
        assert!(matches!(
            failed(422),
            BatchError::Invalid { status: 422, .. }
        ));
        assert!(matches!(
            failed(400),
            BatchError::Invalid { status: 400, .. }
        ));
        assert!(matches!(failed(429), BatchError::TooManyRequests { .. }));
        assert!(matches!(
            failed(500),
            BatchError::Server { status: 500, .. }
        ));
        assert!(matches!(
            failed(503),
            BatchError::Server { status: 503, .. }
        ));
        assert_eq!(
            classify(409, None, "c".to_owned()),
            CallError::Conflict("c".to_owned())
        );
    }

    #[test]
    fn only_rate_limits_server_and_transport_errors_are_transient() {
        for s in [429, 500, 502, 503, 504] {
            assert!(failed(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 422] {
            assert!(!failed(s).is_transient(), "{s}");
        }
        assert!(
            BatchError::Transport {
                message: String::new()
            }
            .is_transient()
        );
    }

    #[test]
    fn retry_hints_follow_the_status() {
        assert_eq!(failed(404).retry(), RetryHint::Never);
        assert_eq!(failed(403).retry(), RetryHint::Never);
        assert_eq!(failed(422).retry(), RetryHint::Never);
        assert_eq!(failed(401).retry(), RetryHint::Backoff);
        assert_eq!(failed(503).retry(), RetryHint::Backoff);
        let limited = BatchError::TooManyRequests {
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
        };
        assert_eq!(limited.retry(), RetryHint::After(Duration::from_secs(3)));
    }

    #[test]
    fn flush_error_joins_and_exposes_each_failure() {
        let key = |n: &str| QueueKey {
            group: "g".into(),
            version: "v1".into(),
            kind: "K".into(),
            namespace: Some("ns".into()),
            name: n.into(),
        };
        let err = FlushError::new(
            vec![
                ObjectFailure {
                    key: key("a"),
                    error: failed(404),
                },
                ObjectFailure {
                    key: key("b"),
                    error: failed(503),
                },
            ],
            FlushReport::default(),
        );
        assert!(err.is_not_found());
        assert!(!err.all_not_found());
        assert_eq!(err.error_for(&key("b")).map(BatchError::status), Some(503));
        assert!(
            err.find(|e| matches!(e, BatchError::Server { .. }))
                .is_some()
        );
        assert_eq!(err.retry(), RetryHint::Backoff);
        let text = err.to_string();
        assert!(text.contains("ns/a") && text.contains("ns/b"), "{text}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
