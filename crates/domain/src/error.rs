//! Errors of the ports and of the use cases, each telling whether and when to retry.

use std::time::Duration;

/// When to try again after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not until the object changes.
    Never,
    /// After this delay.
    After(Duration),
    /// With the caller's exponential backoff.
    Backoff,
}

/// Delay after a quota error.
pub const QUOTA_RETRY: Duration = Duration::from_secs(180);
/// Delay after a busy load balancer.
pub const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Clamps a server-given retry delay to 2 s .. 5 min.
pub fn clamp_retry_after(d: Duration) -> Duration {
    d.clamp(Duration::from_secs(2), Duration::from_secs(300))
}

/// Error of a cloud port (`LoadBalancerApi`, `NetworkApi`); the adapter maps HTTP onto it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The resource does not exist.
    #[error("{resource} {id} not found")]
    NotFound {
        /// Kind of resource (`load balancer`, `pool`, ...).
        resource: String,
        /// Its id or name.
        id: String,
    },
    /// The load balancer is busy (`is not ready`, `is updating`).
    #[error("load balancer busy: {0}")]
    Busy(String),
    /// Too many requests.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// Delay the server asked for.
        retry_after: Duration,
    },
    /// A quota is exhausted.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// Still referenced (`is used in listener`, security group in use).
    #[error("in use: {0}")]
    InUse(String),
    /// Duplicated name, port or member.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// Rejected request.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Bad or expired credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 5xx.
    #[error("cloud server error: {0}")]
    Server(String),
    /// Connection failure or timeout.
    #[error("transport error: {0}")]
    Transport(String),
    /// Anything else.
    #[error("cloud error {status}: {message}")]
    Other {
        /// HTTP status.
        status: u16,
        /// Message.
        message: String,
    },
}

impl CloudError {
    /// Builds a `NotFound`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::NotFound {
            resource: resource.to_owned(),
            id: id.to_owned(),
        }
    }

    /// Whether and when to retry.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Busy(_) => Retry::After(BUSY_RETRY),
            Self::RateLimited { retry_after } => Retry::After(clamp_retry_after(*retry_after)),
            Self::QuotaExceeded(_) => Retry::After(QUOTA_RETRY),
            Self::Invalid(_) => Retry::Never,
            // A duplicate is usually a create whose answer was lost: the next reconcile
            // finds the object by name and records it.
            Self::Duplicate(_)
            | Self::NotFound { .. }
            | Self::InUse(_)
            | Self::Unauthorized(_)
            | Self::Server(_)
            | Self::Transport(_)
            | Self::Other { .. } => Retry::Backoff,
        }
    }

    /// The resource is gone.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// Error of a cluster port (`ClusterReader`, `ObjectWriter`); the adapter maps HTTP onto it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Optimistic-lock or apply conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The resource version is gone (410).
    #[error("gone: {0}")]
    Gone(String),
    /// 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 422 or 400.
    #[error("invalid: {0}")]
    Invalid(String),
    /// 429.
    #[error("too many requests, retry after {retry_after:?}")]
    TooManyRequests {
        /// Delay the server asked for.
        retry_after: Duration,
    },
    /// 5xx.
    #[error("api server error: {0}")]
    Server(String),
    /// Connection failure or timeout.
    #[error("transport error: {0}")]
    Transport(String),
}

impl ClusterError {
    /// Whether and when to retry.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Invalid(_) | Self::Forbidden(_) => Retry::Never,
            Self::TooManyRequests { retry_after } => Retry::After(clamp_retry_after(*retry_after)),
            Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Gone(_)
            | Self::Unauthorized(_)
            | Self::Server(_)
            | Self::Transport(_) => Retry::Backoff,
        }
    }
}

/// Error of a use case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A cloud call failed.
    #[error("cloud: {0}")]
    Cloud(#[from] CloudError),
    /// A cluster call failed.
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
    /// Invalid user input (annotations, spec): retried only when the object changes.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// Another object claims the same port with another protocol. Not retried on its own:
    /// the app requeues the loser when the winner changes or goes, with
    /// [`lbcs_sharing_load_balancer`](crate::usecase::lbc::lbcs_sharing_load_balancer).
    #[error("port conflict: {0}")]
    Conflict(String),
    /// A precondition is not met yet (no node, no subnet, load balancer not ready).
    #[error("not ready: {0}")]
    NotReady(String),
}

impl DomainError {
    /// Whether and when to retry.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Cloud(e) => e.retry(),
            Self::Cluster(e) => e.retry(),
            Self::Invalid(_) | Self::Conflict(_) => Retry::Never,
            Self::NotReady(_) => Retry::After(BUSY_RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_answers_follow_the_error_class() {
        assert_eq!(
            CloudError::Busy("x".into()).retry(),
            Retry::After(BUSY_RETRY)
        );
        assert_eq!(
            CloudError::RateLimited {
                retry_after: Duration::from_secs(30)
            }
            .retry(),
            Retry::After(Duration::from_secs(30))
        );
        assert_eq!(
            CloudError::RateLimited {
                retry_after: Duration::from_millis(1)
            }
            .retry(),
            Retry::After(Duration::from_secs(2))
        );
        assert_eq!(
            CloudError::RateLimited {
                retry_after: Duration::from_secs(9999)
            }
            .retry(),
            Retry::After(Duration::from_secs(300))
        );
        assert_eq!(
            CloudError::QuotaExceeded("q".into()).retry(),
            Retry::After(QUOTA_RETRY)
        );
        assert_eq!(CloudError::Invalid("i".into()).retry(), Retry::Never);
        assert_eq!(CloudError::Server("s".into()).retry(), Retry::Backoff);
        assert_eq!(ClusterError::Conflict("c".into()).retry(), Retry::Backoff);
        assert_eq!(ClusterError::Invalid("c".into()).retry(), Retry::Never);
        assert_eq!(DomainError::Invalid("a".into()).retry(), Retry::Never);
        assert_eq!(
            DomainError::from(CloudError::QuotaExceeded("q".into())).retry(),
            Retry::After(QUOTA_RETRY)
        );
    }
}
