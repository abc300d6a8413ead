//! Configuration of the client: endpoints, project, credentials, timeouts, retries, pacing.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// A secret string (the client secret, a bearer token). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Client-side pacing: a GCRA limiter (governor) shared by every clone of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once after a quiet period.
    pub burst: NonZeroU32,
}

impl Default for Pacing {
    /// 16 requests per second (960 a minute, just below the service's ~1000 a minute, so a
    /// busy operator converges at the rate the cloud allows without being refused), bursts
    /// of 10.
    fn default() -> Self {
        Self {
            per_second: NonZeroU32::new(16).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Retry policy of every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// First backoff delay after a transport error or a 5xx.
    pub min_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Retries after transport errors and 5xx (the first try not counted).
    pub max_retries: usize,
    /// Total time a call may spend in backoff for transport errors and 5xx.
    pub max_elapsed: Duration,
    /// Lower bound of a server-given 429 delay.
    pub rate_limit_min: Duration,
    /// Upper bound of a server-given 429 delay.
    pub rate_limit_max: Duration,
    /// Retries after a 429 before `RateLimited` is returned.
    pub max_rate_limited_retries: usize,
    /// How long a change refused as busy (`is not ready`, `is updating`) is retried.
    pub busy_deadline: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retries: 4,
            max_elapsed: Duration::from_secs(30),
            rate_limit_min: Duration::from_secs(2),
            rate_limit_max: Duration::from_secs(300),
            max_rate_limited_retries: 2,
            busy_deadline: Duration::from_secs(120),
        }
    }
}

impl RetryConfig {
    /// Short delays for tests against the emulator.
    pub fn fast() -> Self {
        Self {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            max_retries: 4,
            max_elapsed: Duration::from_secs(5),
            rate_limit_min: Duration::from_millis(50),
            rate_limit_max: Duration::from_secs(5),
            max_rate_limited_retries: 3,
            busy_deadline: Duration::from_secs(10),
        }
    }

    /// Clamps a server-given 429 delay to `rate_limit_min ..= rate_limit_max`.
    pub fn clamp_rate_limit(&self, d: Duration) -> Duration {
        d.clamp(
            self.rate_limit_min,
            self.rate_limit_max.max(self.rate_limit_min),
        )
    }
}

/// Names of the packages a new load balancer gets when its request names none (the Go
/// controller's `defaultL4PackageName` / `defaultL7PackageName`). An empty name, or one the
/// zone does not offer, falls back to the zone's smallest package of the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageNames {
    /// Package name for Layer 4 load balancers (`NLB_Small`).
    pub layer4: String,
    /// Package name for Layer 7 load balancers (`ALB_Small`).
    pub layer7: String,
}

impl Default for PackageNames {
    /// `NLB_Small` and `ALB_Small`, the Go controller chart's defaults.
    fn default() -> Self {
        Self {
            layer4: "NLB_Small".to_owned(),
            layer7: "ALB_Small".to_owned(),
        }
    }
}

/// Everything [`VngCloudClient::new`](crate::VngCloudClient::new) needs.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// IAM base, e.g. `https://iamapis.vngcloud.vn/accounts-api`.
    pub iam_url: String,
    /// vLB base, e.g. `https://hcm-3.api.vngcloud.vn/vserver/vlb-gateway`.
    pub vlb_url: String,
    /// vServer base, e.g. `https://hcm-3.api.vngcloud.vn/vserver/vserver-gateway`.
    pub vserver_url: String,
    /// Project id (`pro-...`).
    pub project_id: String,
    /// Service-account client id.
    pub client_id: String,
    /// Service-account client secret (never printed).
    pub client_secret: Secret,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP exchange.
    pub request_timeout: Duration,
    /// A token is refreshed this long before it expires.
    pub token_refresh_margin: Duration,
    /// Page size of list calls.
    pub page_size: u32,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Client-side pacing; `None` turns it off.
    pub pacing: Option<Pacing>,
    /// Deadline of [`wait_load_balancer_ready`](crate::VngCloudClient::wait_load_balancer_ready).
    pub wait_deadline: Duration,
    /// First poll delay while waiting (doubles up to 4 times this).
    pub wait_poll: Duration,
    /// How long a server or subnet read is reused (see the crate docs); zero reads every
    /// time. Keep it well below the drift-check period.
    pub read_cache_ttl: Duration,
    /// Packages chosen by name when a create request names none.
    pub package_names: PackageNames,
}

impl CloudConfig {
    /// A configuration with default timeouts, retries and pacing.
    pub fn new(
        iam_url: impl Into<String>,
        vlb_url: impl Into<String>,
        vserver_url: impl Into<String>,
        project_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self {
            iam_url: iam_url.into(),
            vlb_url: vlb_url.into(),
            vserver_url: vserver_url.into(),
            project_id: project_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            token_refresh_margin: Duration::from_secs(60),
            page_size: 50,
            retry: RetryConfig::default(),
            pacing: Some(Pacing::default()),
            wait_deadline: Duration::from_secs(600),
            wait_poll: Duration::from_secs(2),
            read_cache_ttl: Duration::from_secs(30),
            package_names: PackageNames::default(),
        }
    }
}
