//! When a failed reconcile runs again: the domain's [`Retry`] answer (never, after a
//! delay the error names, or with exponential backoff per object) → a requeue delay.

use std::time::Duration;

use vlb_domain::Retry;

/// Exponential backoff per object: 1 s doubling to 5 min, reset on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Upper bound of a delay the error names itself (busy load balancer, rate limit,
    /// quota): 10 min by default, above any such delay; tests shorten it.
    pub max_advised: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            max_advised: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// Delay after `failures` consecutive failures (1 = first failure).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        self.base.saturating_mul(1 << exp).min(self.max)
    }
}

/// When to reconcile again after an error: `None` = only when the object changes.
pub fn requeue_after(retry: Retry, failures: u32, backoff: &Backoff) -> Option<Duration> {
    match retry {
        Retry::Never => None,
        Retry::After(d) => Some(d.min(backoff.max_advised)),
        Retry::Backoff => Some(backoff.delay(failures)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vlb_domain::error::{BUSY_RETRY, QUOTA_RETRY};
    use vlb_domain::{CloudError, DomainError};

    #[allow(clippy::needless_pass_by_value)]
    fn after(e: DomainError, failures: u32) -> Option<Duration> {
        requeue_after(e.retry(), failures, &Backoff::default())
    }

    #[test]
    fn busy_load_balancer_is_retried_after_a_short_delay() {
        assert_eq!(
            after(CloudError::Busy("updating".into()).into(), 1),
            Some(BUSY_RETRY)
        );
    }

    #[test]
    fn rate_limit_waits_the_advertised_delay() {
        let e = CloudError::RateLimited {
            retry_after: Duration::from_secs(42),
        };
        assert_eq!(after(e.into(), 1), Some(Duration::from_secs(42)));
    }

    #[test]
    fn advised_delays_can_be_shortened_for_tests() {
        let fast = Backoff {
            max_advised: Duration::from_millis(300),
            ..Backoff::default()
        };
        let e = DomainError::from(CloudError::QuotaExceeded("lb".into()));
        assert_eq!(
            requeue_after(e.retry(), 1, &fast),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn quota_waits_three_minutes() {
        assert_eq!(
            after(CloudError::QuotaExceeded("lb".into()).into(), 7),
            Some(QUOTA_RETRY)
        );
        assert_eq!(QUOTA_RETRY, Duration::from_secs(180));
    }

    #[test]
    fn invalid_input_is_not_retried_until_the_object_changes() {
        assert_eq!(after(DomainError::Invalid("bad".into()), 1), None);
        assert_eq!(after(CloudError::Invalid("bad".into()).into(), 1), None);
    }

    #[test]
    fn server_errors_back_off_exponentially_up_to_five_minutes() {
        let e = || DomainError::from(CloudError::Server("500".into()));
        assert_eq!(after(e(), 1), Some(Duration::from_secs(1)));
        assert_eq!(after(e(), 2), Some(Duration::from_secs(2)));
        assert_eq!(after(e(), 4), Some(Duration::from_secs(8)));
        assert_eq!(after(e(), 30), Some(Duration::from_secs(300)));
    }
}
