//! Retry budgets of a flush.

use std::time::Duration;

use backon::ExponentialBuilder;

/// How hard a flush tries before giving an object up.
///
/// Two budgets: optimistic-lock conflicts (409: re-read, re-run the mutators, patch again)
/// and transient failures of a single request (429, 5xx, transport: send it again after a
/// backoff, or after the server's `Retry-After` when it gives one, capped at
/// [`max_retry_after`](Self::max_retry_after)).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Patches tried per part (spec, status) before [`ConflictExhausted`](crate::BatchError::ConflictExhausted).
    pub conflict_attempts: u32,
    /// First delay before re-reading after a conflict.
    pub conflict_min_delay: Duration,
    /// Longest delay before re-reading after a conflict.
    pub conflict_max_delay: Duration,
    /// Retries of one request after a 429, 5xx or transport error.
    pub transient_retries: u32,
    /// First delay before a transient retry.
    pub transient_min_delay: Duration,
    /// Longest computed delay before a transient retry.
    pub transient_max_delay: Duration,
    /// Longest server-given `Retry-After` honoured as is (longer ones are cut to this).
    pub max_retry_after: Duration,
    /// Add random jitter to computed delays.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            conflict_attempts: 5,
            conflict_min_delay: Duration::from_millis(10),
            conflict_max_delay: Duration::from_millis(500),
            transient_retries: 4,
            transient_min_delay: Duration::from_millis(200),
            transient_max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy with millisecond delays and no jitter, for tests.
    pub fn fast() -> Self {
        Self {
            conflict_attempts: 5,
            conflict_min_delay: Duration::from_millis(1),
            conflict_max_delay: Duration::from_millis(5),
            transient_retries: 4,
            transient_min_delay: Duration::from_millis(1),
            transient_max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_millis(50),
            jitter: false,
        }
    }

    pub(crate) fn conflict_backoff(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.conflict_min_delay)
            .with_max_delay(self.conflict_max_delay)
            .without_max_times();
        if self.jitter { b.with_jitter() } else { b }
    }

    pub(crate) fn transient_backoff(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.transient_min_delay)
            .with_max_delay(self.transient_max_delay)
            .with_max_times(self.transient_retries as usize);
        if self.jitter { b.with_jitter() } else { b }
    }
}
