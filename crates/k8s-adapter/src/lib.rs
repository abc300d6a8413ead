//! Kubernetes adapter of the vlb operator: the custom resources, hardened Kubernetes calls,
//! reflector-backed reads, events, and the operator's own install set.
//!
//! ```text
//!        vlb-domain ports (pure)
//!  ClusterReader  ObjectWriter  EventSink  Batch
//!        ▲             ▲            ▲        ▲
//!        │ implemented by           │        │
//!  ┌─────┴─────────────┴────────────┴────────┴──────────────────────┐
//!  │ vlb-k8s-adapter                                                │
//!  │  reader (reflector stores)  writer (SSA, deletes, finalizers)  │
//!  │  events (Recorder)          batch_port (→ vlb-batch Batcher)   │
//!  │  crd (LBC, NSG)  error (KubeError, retry)  manifests (install) │
//!  └────────────────────────────────┬───────────────────────────────┘
//!                                   │ kube-rs (watch, PATCH, DELETE, events.k8s.io)
//!                                   ▼
//!                          Kubernetes API server
//! ```
//!
//! - [`crd`]: `LoadBalancerConfig` (`lbc`) and `NodeSecurityGroup` (`nsg`) in
//!   `vks.vngcloud.vn/v1alpha1`, wrapping the domain's spec and status types.
//! - [`error`]: [`KubeError`], one variant per class of HTTP answer, its
//!   mapping onto the domain's `ClusterError`, and [`retry`](error::retry) (409 on apply,
//!   429 and 5xx with exponential backoff honouring `Retry-After`; 401/403/422 never).
//! - [`writer`]: [`KubeWriter`], the `ObjectWriter`.
//! - [`reader`]: [`KubeReader`], the `ClusterReader`, and
//!   [`Reflectors`] feeding it.
//! - [`events`]: [`KubeEventSink`], the `EventSink`.
//! - [`batch_port`]: [`KubeBatch`], the `Batch`, on `vlb-batch`'s `Batcher`.
//! - [`manifests`]: the install set, `to_yaml`, ordered idempotent `install`/`uninstall`,
//!   and the least-privilege [`cluster_role`].
//!
//! Build clients with [`error::client_without_builtin_retry`] so kube's own retry layer does
//! not retry under this crate's policy.
//!
//! Feature `mocks`: turns on the domain's mockall mocks of the ports this crate implements
//! (`vlb_domain::ports::MockClusterReader`, ...); this crate defines no port of its own.

pub mod batch_port;
pub mod crd;
pub mod error;
pub mod events;
pub mod manifests;
pub mod reader;
pub mod writer;

pub use batch_port::KubeBatch;
pub use crd::{LoadBalancerConfig, NodeSecurityGroup, Undecodable, crds};
pub use error::{KubeError, RetryPolicy};
pub use events::KubeEventSink;
pub use manifests::{ManifestOptions, cluster_role, install, uninstall};
pub use reader::{KubeReader, Reflectors, Stores};
pub use writer::KubeWriter;

/// Everything the operator needs from this crate, wired on one client: reflectors and the
/// reader over them, the writer, the event sink, and a configured batcher.
pub struct Adapter {
    /// The running reflectors (dropping the adapter stops them).
    pub reflectors: Reflectors,
    /// `ClusterReader` over the reflectors' stores.
    pub reader: KubeReader,
    /// `ObjectWriter`.
    pub writer: KubeWriter,
    /// `EventSink`.
    pub events: KubeEventSink,
    /// Configured batcher (reads from the stores); see [`Adapter::batch`].
    pub batcher: vlb_batch::Batcher,
}

impl Adapter {
    /// Starts the reflectors and waits, at most `sync_timeout`, for their first lists.
    /// `instance` names this replica in Events (the pod name).
    pub async fn start(
        client: &kube::Client,
        instance: Option<String>,
        sync_timeout: std::time::Duration,
    ) -> Result<Self, vlb_domain::error::ClusterError> {
        let reflectors = Reflectors::start(client);
        reflectors.wait_until_ready(sync_timeout).await?;
        let stores = reflectors.stores.clone();
        Ok(Self {
            reader: KubeReader::new(stores.clone()),
            writer: KubeWriter::new(client.clone()),
            events: KubeEventSink::new(client.clone(), instance),
            batcher: batch_port::batcher_for(
                client.clone(),
                &stores,
                vlb_batch::RetryPolicy::default(),
            ),
            reflectors,
        })
    }

    /// A fresh per-reconcile `Batch` sharing the configured batcher's client and stores.
    pub fn batch(&self) -> KubeBatch {
        KubeBatch::new(self.batcher.fresh())
    }
}
