//! Per-reconcile mutation batcher for Kubernetes objects.
//!
//! A reconcile often changes one object in many small steps (a listener recorded here, a
//! pool there, a condition at the end). Writing each step costs a GET and a PATCH; the
//! [`Batcher`] queues the steps as *mutators* and writes them with one [`flush`](Batcher::flush)
//! per reconcile: per object, **one merge patch of what changed outside `.status`, then one
//! patch of the `status` subresource**, each guarded by `metadata.resourceVersion`.
//!
//! ```text
//!   use case ──queue──▶ vlb_domain::ports::Batch          (domain port, pure)
//!                               │ implemented by
//!                               ▼
//!                       vlb-k8s-adapter                   (maps domain types onto CRDs)
//!                               │ spec::<K>() / status::<K>() / flush()
//!                               ▼
//!   reflector Store<K> ──▶ vlb-batch  Batcher              (this crate: queue, diff, retry)
//!      (reads, 0 GET)           │ PATCH (+ GET after a 409)
//!                               ▼
//!                         kube API server
//! ```
//!
//! # Behaviour
//!
//! - Entries are keyed by group, version, kind, namespace and name ([`QueueKey`]); mutations
//!   queued through distinct [`Handle`]s of one object coalesce; one batcher carries any
//!   number of kinds (custom resources and built-ins such as `Service`).
//! - Every mutator runs, in queue order, each seeing the previous one's change, and says
//!   whether it changed anything. An object whose mutators changed nothing costs no request.
//! - The object is read from the reflector [`Store`](kube::runtime::reflector::Store)
//!   registered for its kind ([`Batcher::with_store`]): the happy path is **0 GET and one
//!   PATCH per changed part**. The batcher GETs only when no store is registered for the
//!   kind, when the store does not hold the object (yet), and after a conflict.
//! - Mutators run at flush time, on a copy of the current object (not on the caller's copy,
//!   which a queued mutation does not change). After its own write the batcher keeps the
//!   written object and uses it while the store has not caught up, so back-to-back flushes
//!   cost no GET and no conflict.
//! - On 409 the object is re-read and the mutators of the part re-run on the fresh object
//!   (bounded, with backoff: [`RetryPolicy`]); a mutator may therefore run more than once,
//!   always on an object without its change. Once the spec patch landed, the spec mutators
//!   are done and never re-run, even if the status patch then conflicts. 429, 5xx and transport errors are retried
//!   with backoff honouring `Retry-After`; 401, 403, 404, 410 and 422 are not.
//! - Best effort across objects: every object is tried, failures are joined into a
//!   [`FlushError`] whose [`BatchError`]s stay inspectable; a failed entry stays queued (a
//!   failed spec patch keeps its status mutators queued, untried). Flushing again re-applies
//!   what is queued against the current state.
//! - Status mutators write through the `status` subresource: the kind must have one (custom
//!   resources declaring `status`, `Service`, ...). What a spec mutator changes in `.status`,
//!   or a status mutator outside it, is not written.
//! - kube clients retry 429, 503 and 504 themselves by default (`kube::Config::default_retry`,
//!   up to 15 times, honouring `Retry-After`). Give the batcher a client built with
//!   `default_retry = false` to make its [`RetryPolicy`] the only retry layer (bounded time per
//!   flush, exact retry counts in the report); with the default client both layers retry.
//! - [`FlushReport`] counts what was sent, per object; [`Batcher::with_observer`] sees each
//!   request (metrics). Each flush runs in a `vlb_batch.flush` span, each object in a
//!   `vlb_batch.object` span carrying its key.
//!
//! # Example
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
//! use kube::runtime::{reflector, watcher, WatchStreamExt};
//! use kube::{Api, Client};
//! use futures::StreamExt;
//! use vlb_batch::{Batcher, RetryPolicy};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The batcher's RetryPolicy does the retrying: turn kube's own retry layer off.
//! let mut config = kube::Config::infer().await?;
//! config.default_retry = false;
//! let client = Client::try_from(config)?;
//!
//! // At start-up: a reflector for the kinds the batcher writes, and one configured batcher.
//! let (store, writer) = reflector::store::<Service>();
//! let services = watcher(Api::<Service>::all(client.clone()), watcher::Config::default())
//!     .reflect(writer)
//!     .applied_objects();
//! tokio::spawn(services.for_each(|_| async {}));
//! store.wait_until_ready().await?;
//! let configured = Batcher::new(client)
//!     .with_store(store)
//!     .with_retry(RetryPolicy::default());
//!
//! // Per reconcile: an empty batcher sharing the configuration.
//! let batch = configured.fresh();
//! let web = batch.handle::<Service>(Some("default"), "web");
//! web.status(|svc| {
//!     let ingress = &mut svc.status.get_or_insert_with(Default::default)
//!         .load_balancer.get_or_insert_with(Default::default)
//!         .ingress;
//!     let wanted = vec![LoadBalancerIngress { ip: Some("203.0.113.7".into()), ..Default::default() }];
//!     if ingress.as_ref() == Some(&wanted) {
//!         return false; // nothing to write
//!     }
//!     *ingress = Some(wanted);
//!     true
//! });
//! web.spec(|svc| {
//!     svc.metadata.finalizers.get_or_insert_with(Vec::new).push("vlb.vngcloud.vn/finalizer".into());
//!     true
//! });
//!
//! match batch.flush().await {
//!     Ok(report) => println!("{} GET, {} PATCH", report.gets(), report.patches()),
//!     Err(e) if e.all_not_found() => {} // deleted meanwhile: nothing to do
//!     Err(e) => return Err(e.into()), // entries stay queued; requeue per `e.retry()`
//! }
//! # Ok(())
//! # }
//! ```

mod batcher;
mod error;
mod key;
pub mod patch;
mod policy;
mod report;

pub use batcher::{BatchObject, Batcher, Handle, Mutator, Observer};
pub use error::{BatchError, FlushError, ObjectFailure, RetryHint};
pub use key::QueueKey;
pub use policy::RetryPolicy;
pub use report::{
    FlushReport, ObjectOutcome, ObjectReport, PendingEntry, RequestEvent, RequestKind,
};
