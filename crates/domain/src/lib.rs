//! Pure domain of the vlb operator: what a Service's VNGCloud load balancer must look like,
//! and which cloud operations take the cloud there.
//!
//! The crate does no I/O. Adapters implement its [`ports`]; the [`usecase`]s drive them,
//! deciding with the pure [`planner`], [`annotations`], [`naming`], [`members`] and [`tags`]
//! over the [`model`] types.
//!
//! ```text
//!   vlb-k8s-adapter ─┐  implement                       call
//!   vlb-cloud-adapter├──────────► ports (traits) ◄──────────── usecase
//!   vlb-batch ───────┘            LoadBalancerApi              reconcile_service
//!                                 NetworkApi                   reconcile_lbc / finalize_lbc
//!                                 ClusterReader, ObjectWriter  reconcile_nsg / finalize_nsg
//!                                 Batch, EventSink, Clock         │
//!                                                                 ▼
//!                                    annotations, naming, members, tags, planner (pure)
//!                                                                 │
//!                                                                 ▼
//!                                  model: cloud objects, LBC / NSG spec + status, views
//! ```
//!
//! - [`model`]: cloud objects, the `LoadBalancerConfig` and `NodeSecurityGroup` spec and
//!   status (serde + schemars, Go field names) and the input views of the Kubernetes adapter.
//! - [`ports`]: the traits the adapters implement (mockall mocks with the `mocks` feature).
//! - [`error`]: [`CloudError`], [`ClusterError`] and [`DomainError`], each with `retry()`.
//! - [`annotations`]: Service annotations → validated settings, every error at once.
//! - [`naming`], [`tags`], [`members`]: names, cloud tags, node selection and pool members.
//! - [`planner`]: desired spec + status records + observed cloud (L7 policies and imported
//!   certificates included) → ordered cloud operations.
//! - [`usecase`]: the reconcilers.

pub mod annotations;
pub mod error;
pub mod members;
pub mod model;
pub mod naming;
pub mod planner;
pub mod ports;
pub mod tags;
pub mod usecase;

pub use error::{CloudError, ClusterError, DomainError, Retry};
