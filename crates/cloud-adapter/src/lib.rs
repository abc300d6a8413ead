//! `vlb-cloud-adapter`: the VNGCloud REST client of the vlb operator. It implements the
//! domain's cloud ports over the real IAM, vLB and vServer APIs (bodies, paths and error
//! texts as in the public Go SDK `vngcloud/vngcloud-go-sdk` v2).
//!
//! ```text
//!   vlb-domain use cases
//!        | LoadBalancerApi, NetworkApi (ports)
//!        v
//!   +-------------------------------------------------------------+
//!   | vlb-cloud-adapter: VngCloudClient                           |
//!   |  pacer (governor) -> IAM token cache (single flight)        |
//!   |  -> retries (backon: 5xx/transport, 429 Retry-After, busy)  |
//!   |  -> reqwest (rustls, one pool) | tracing span | metrics     |
//!   +-------------------------------------------------------------+
//!        | HTTPS: {iam}/v2/auth/token, {vlb}/v2/{project}/...,
//!        v        {vserver}/v2/{project}/...
//!   VNGCloud (or vlb-vngcloud-emulator in tests)
//! ```
//!
//! Every call is paced, authenticated with a cached token (refreshed before expiry, and once
//! more on a 401), retried as its error allows, and observed (a `vngcloud.call` span with
//! method, path template, attempt, status and duration; counters and histograms by path
//! template and status). Creates are never resent blindly: after an answer that may hide a
//! success (a transport error, a 5xx, "duplicated") the client looks the object up by name; a
//! load balancer (whose name the cloud does not keep unique) is also looked up before its
//! create. Waits for a busy load balancer poll when it is likely ready, after the busy time
//! learnt from earlier waits; servers and subnets are read through a short cache.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use vlb_cloud_adapter::{CloudConfig, VngCloudClient};
//! use vlb_domain::ports::LoadBalancerApi;
//! let config = CloudConfig::new(
//!     "https://iamapis.vngcloud.vn/accounts-api",
//!     "https://hcm-3.api.vngcloud.vn/vserver/vlb-gateway",
//!     "https://hcm-3.api.vngcloud.vn/vserver/vserver-gateway",
//!     "pro-...",
//!     "client-id",
//!     "client-secret",
//! );
//! let client = VngCloudClient::new(config)?;
//! let mut registry = prometheus_client::registry::Registry::default();
//! client.register_metrics(&mut registry);
//! let lb = client.find_load_balancer_by_name("my-lb").await?;
//! # let _ = lb; Ok(()) }
//! ```

mod busy;
mod cache;
mod client;
mod config;
mod error;
mod lb;
mod metrics;
mod network;
mod wire;

pub use client::{BuildError, USER_AGENT, VngCloudClient};
pub use config::{CloudConfig, Pacing, PackageNames, RetryConfig, Secret};
pub use error::WaitError;
