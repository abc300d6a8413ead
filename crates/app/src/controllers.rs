//! The reconcile engine shared by the three controllers: ports per reconcile with exactly
//! one batch flush, finalizers owned by kube-runtime's `finalizer` helper (the use cases
//! never touch them; a cleanup runs on the object re-read from the API server), a lock
//! per load balancer, the error policy, metrics and a tracing span per object key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Api, Resource};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use vlb_domain::model::{LoadBalancerConfigView, ObjectKey, ObjectRef as DomainRef, ServiceView};
use vlb_domain::usecase::{self, Config, Deps, Waiting, lbc, nsg, service};
use vlb_domain::{ClusterError, DomainError, Retry};
use vlb_k8s_adapter::reader::{lbc_view, nsg_view};
use vlb_k8s_adapter::{KubeBatch, KubeEventSink, KubeReader, KubeWriter};
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup};

use crate::locks::KeyedLocks;
use crate::metrics::{Metrics, ReconcileResult};
use crate::requeue::{self, Backoff};

/// Name of the Service controller (metric label).
pub const SERVICE: &str = "service";
/// Name of the LoadBalancerConfig controller.
pub const LBC: &str = "loadbalancerconfig";
/// Name of the NodeSecurityGroup controller.
pub const NSG: &str = "nodesecuritygroup";

/// Flushes the batch of one reconcile.
pub type Flush = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), ClusterError>> + Send>;

/// The ports of one reconcile, with a fresh batch, and how to flush that batch.
pub struct Scope {
    /// Ports.
    pub deps: Deps,
    /// Flush of `deps.batch` (called exactly once).
    pub flush: Flush,
}

/// Builds the ports of each reconcile (the adapters' wiring).
#[async_trait]
pub trait Wiring: Send + Sync {
    /// Ports with a fresh per-reconcile batch.
    fn scope(&self) -> Scope;

    /// Drops `finalizer` from `target` outside kube-runtime's helper (a Service that no
    /// longer wants a load balancer, cleaned up without being deleted).
    async fn remove_finalizer(
        &self,
        target: &DomainRef,
        finalizer: &str,
    ) -> Result<(), ClusterError>;
}

/// The production wiring: the Kubernetes adapter (reader over the shared stores, writer,
/// events, a fresh [`KubeBatch`] per reconcile) and the VNGCloud client.
pub struct AdapterWiring {
    /// vLB and vServer.
    pub cloud: vlb_cloud_adapter::VngCloudClient,
    /// Reads from the shared watch caches.
    pub reader: KubeReader,
    /// Writes (server-side apply, deletes, finalizers).
    pub writer: KubeWriter,
    /// Events.
    pub events: KubeEventSink,
    /// The configured batcher; each reconcile takes a `fresh()` copy.
    pub batcher: vlb_batch::Batcher,
}

#[async_trait]
impl Wiring for AdapterWiring {
    async fn remove_finalizer(
        &self,
        target: &DomainRef,
        finalizer: &str,
    ) -> Result<(), ClusterError> {
        self.writer.remove_finalizer(target, finalizer).await
    }

    fn scope(&self) -> Scope {
        let batch = KubeBatch::new(self.batcher.fresh());
        let cloud = Arc::new(self.cloud.clone());
        let deps = Deps {
            lb: cloud.clone(),
            net: cloud,
            reader: Arc::new(self.reader.clone()),
            writer: Arc::new(crate::skip_unchanged::SkipUnchangedApplies::new(
                Arc::new(self.writer.clone()),
                self.reader.stores().clone(),
            )),
            batch: Arc::new(batch.clone()),
            events: Arc::new(self.events.clone()),
            clock: Arc::new(vlb_domain::ports::SystemClock),
        };
        Scope {
            deps,
            flush: Box::new(move || Box::pin(async move { batch.flush().await.map(drop) })),
        }
    }
}

/// Error of a reconcile; [`ReconcileError::retry`] drives the error policy.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The use case failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Flushing the batch failed.
    #[error("writing status: {0}")]
    Flush(ClusterError),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Reading the object afresh before its cleanup failed (retried with backoff).
    #[error("reading the object before its cleanup: {0}")]
    Reread(String),
    /// A cleanup waits (for the cloud or the cluster): not a failure, but the finalizer
    /// must stay, and kube-runtime's helper removes it after any cleanup that returns
    /// `Ok`. Counted as `requeue_after`, logged at DEBUG.
    #[error("waiting for {}", .0.what)]
    Waiting(Waiting),
}

impl ReconcileError {
    /// Whether and when to retry.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Domain(e) => e.retry(),
            Self::Flush(e) => e.retry(),
            Self::Finalizer(_) | Self::Reread(_) => Retry::Backoff,
            Self::Waiting(w) => Retry::After(w.recheck_after),
        }
    }

    /// The object's input was rejected (invalid annotations or spec, a port another LBC
    /// holds): the user is told by a Warning Event and the condition, and the operator
    /// logs it at INFO; nothing failed on the operator's side.
    pub fn is_rejected_input(&self) -> bool {
        matches!(
            self,
            Self::Domain(DomainError::Invalid(_) | DomainError::Conflict(_))
        )
    }

    fn from_finalizer(e: finalizer::Error<Self>) -> Self {
        match e {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
            other => Self::Finalizer(other.to_string()),
        }
    }
}

/// Tuning of the controllers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Drift-check period: every object is reconciled again after it.
    pub drift_check: Duration,
    /// Backoff for errors without a server-given delay.
    pub backoff: Backoff,
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client (finalizer patches).
    pub client: kube::Client,
    /// Domain settings.
    pub config: Config,
    /// Ports.
    pub wiring: Arc<dyn Wiring>,
    /// Metrics.
    pub metrics: Metrics,
    /// Serialises deployments to one load balancer.
    pub locks: KeyedLocks,
    /// Tuning.
    pub settings: Settings,
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds a context.
    pub fn new(
        client: kube::Client,
        config: Config,
        wiring: Arc<dyn Wiring>,
        metrics: Metrics,
        settings: Settings,
    ) -> Self {
        Self {
            client,
            config,
            wiring,
            metrics,
            locks: KeyedLocks::new(),
            settings,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The action after a reconcile that did not fail: the drift check, or a recheck when
    /// it waits for the cloud or the cluster (within `max_advised`, like the delays
    /// errors name).
    pub fn after(&self, waiting: Option<&Waiting>) -> Action {
        match waiting {
            None => Action::requeue(self.settings.drift_check),
            Some(w) => {
                tracing::debug!(waiting_for = %w.what, recheck_after = ?w.recheck_after, "waiting");
                Action::requeue(
                    w.recheck_after
                        .min(self.settings.backoff.max_advised)
                        .min(self.settings.drift_check),
                )
            }
        }
    }

    /// [`Context::after`] for a reconcile inside the finalizer helper: a cleanup
    /// (`deleting`) that waits is [`ReconcileError::Waiting`], so the helper keeps the
    /// finalizer.
    pub fn after_in_helper(
        &self,
        deleting: bool,
        waiting: Option<&Waiting>,
    ) -> Result<Action, ReconcileError> {
        match waiting {
            Some(w) if deleting => Err(ReconcileError::Waiting(w.clone())),
            _ => Ok(self.after(waiting)),
        }
    }

    /// Forgets the failures of `key` (after a success).
    pub fn reset_failures(&self, controller: &str, key: &ObjectKey) {
        self.failures.lock().remove(&format!("{controller}/{key}"));
    }

    /// The action after a reconcile of `key` by `controller`: success resets the backoff
    /// and schedules the drift check; an error follows its class.
    pub fn action(
        &self,
        controller: &str,
        key: &ObjectKey,
        error: Option<&ReconcileError>,
    ) -> Action {
        let id = format!("{controller}/{key}");
        let Some(e) = error else {
            self.failures.lock().remove(&id);
            return Action::requeue(self.settings.drift_check);
        };
        let failures = {
            let mut map = self.failures.lock();
            let n = map.entry(id).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        match requeue::requeue_after(e.retry(), failures, &self.settings.backoff) {
            Some(d) => Action::requeue(d),
            None => Action::await_change(),
        }
    }
}

/// Runs `work` with the ports of one reconcile, then flushes its batch exactly once (also
/// after an error: partial progress is recorded).
pub async fn with_scope<T, F, Fut>(wiring: &dyn Wiring, work: F) -> Result<T, ReconcileError>
where
    F: FnOnce(Deps) -> Fut,
    Fut: std::future::Future<Output = Result<T, DomainError>>,
{
    let Scope { deps, flush } = wiring.scope();
    let outcome = work(deps).await;
    let flushed = flush().await;
    match (outcome, flushed) {
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(ReconcileError::Flush(e)),
        (Ok(v), Ok(())) => Ok(v),
    }
}

/// What kube-runtime's finalizer helper asks of a reconcile: the one place deletion is
/// decided (the use cases never check it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Converge the object (the helper added the finalizer first).
    Apply,
    /// The object is being deleted: tear down what it owns; `Ok` drops the finalizer.
    Cleanup,
}

/// Runs `reconcile` for `object` inside kube-runtime's finalizer helper (the helper adds
/// `finalizer_name` before the first Apply and removes it after a successful Cleanup).
///
/// A cleanup runs on the object as the API server has it now, not as the watch cache
/// last showed it: the helper's removal patch tests only the finalizer entry, so a cleanup
/// of a cached copy older than the previous reconcile's status write (the load balancer
/// id it recorded while creating) would tear nothing down and drop the finalizer: a
/// leaked load balancer (#22). One GET per cleanup of an object still carrying our
/// finalizer; a reconcile of the same object never runs concurrently, so the previous
/// reconcile's flush is visible to it.
async fn through_finalizer<K, F>(
    api: &Api<K>,
    finalizer_name: &'static str,
    object: Arc<K>,
    reconcile: F,
) -> Result<Action, ReconcileError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    F: FnOnce(Phase, Arc<K>) -> BoxFuture<'static, Result<Action, ReconcileError>>,
{
    let meta = object.meta();
    let ours = meta
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == finalizer_name));
    let object = if meta.deletion_timestamp.is_some() && ours {
        let name = meta.name.clone().unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(Some(fresh)) => Arc::new(fresh),
            // Gone already: nothing holds it any more.
            Ok(None) => return Ok(Action::await_change()),
            Err(e) => return Err(ReconcileError::Reread(e.to_string())),
        }
    } else {
        object
    };
    finalizer::finalizer(api, finalizer_name, object, |event| match event {
        FinalizerEvent::Apply(o) => reconcile(Phase::Apply, o),
        FinalizerEvent::Cleanup(o) => reconcile(Phase::Cleanup, o),
    })
    .await
    .map_err(ReconcileError::from_finalizer)
}

/// Wraps a reconcile with a span carrying the object key, the in-flight gauges, the
/// reconcile metrics and the error policy's bookkeeping.
async fn observed<F>(
    ctx: &Context,
    controller: &'static str,
    key: &ObjectKey,
    work: F,
) -> Result<Action, ReconcileError>
where
    F: std::future::Future<Output = Result<Action, ReconcileError>>,
{
    let span = tracing::info_span!("reconcile", controller, object = %key);
    async {
        let started = Instant::now();
        let mut in_flight = ctx.metrics.started(controller);
        in_flight.running();
        let result = work.await;
        let took = started.elapsed();
        match &result {
            Ok(action) => {
                ctx.reset_failures(controller, key);
                let drift = Action::requeue(ctx.settings.drift_check);
                let outcome = if *action == drift || *action == Action::await_change() {
                    ReconcileResult::Success
                } else {
                    ReconcileResult::RequeueAfter
                };
                ctx.metrics.reconciled(controller, outcome, took);
                tracing::debug!(took_ms = took.as_millis(), "reconciled");
            }
            Err(ReconcileError::Waiting(w)) => {
                ctx.metrics
                    .reconciled(controller, ReconcileResult::RequeueAfter, took);
                tracing::debug!(waiting_for = %w.what, "cleanup waiting");
            }
            Err(e) => {
                ctx.metrics
                    .reconciled(controller, ReconcileResult::Error, took);
                if e.is_rejected_input() {
                    tracing::info!(error = %e, "input rejected");
                } else {
                    tracing::warn!(error = %e, retry = ?e.retry(), "reconcile failed");
                }
            }
        }
        result
    }
    .instrument(span)
    .await
}

/// Reconciles a Service.
pub async fn reconcile_service(
    svc: Arc<k8s_openapi::api::core::v1::Service>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let view = crate::views::service_view(&svc);
    let key = view.key();
    let c = ctx.clone();
    observed(&ctx, SERVICE, &key, async move {
        let ours = crate::views::is_ours(&view, c.config.load_balancer_class.as_deref());
        let has_finalizer = view
            .finalizers
            .iter()
            .any(|f| f == usecase::SERVICE_FINALIZER);
        if !ours && !has_finalizer {
            return Ok(Action::await_change());
        }
        // The helper owns the finalizer of Services that get a load balancer (and of those
        // being deleted with it). The others (class changed, `ignore`,
        // `enable-load-balancer: false`) go to the use case directly, which cleans up and
        // removes a leftover finalizer through the writer (the helper would add it back).
        let wants_lb = ours
            && vlb_domain::annotations::parse(&view.annotations)
                .map_or(true, |s| !s.ignore && s.enable_load_balancer);
        let helper_owned = wants_lb || (view.deleting && has_finalizer && ours);
        if !helper_owned {
            let (config, view) = (&c.config, &view);
            let outcome = with_scope(c.wiring.as_ref(), |deps| async move {
                service::reconcile_service(&deps, config, view).await
            })
            .await?;
            if has_finalizer && outcome == service::ServiceOutcome::Removed {
                c.wiring
                    .remove_finalizer(&view.object_ref(), usecase::SERVICE_FINALIZER)
                    .await
                    .map_err(|e| ReconcileError::Finalizer(e.to_string()))?;
            }
            return Ok(if ours || outcome.waiting().is_some() {
                c.after(outcome.waiting())
            } else {
                Action::await_change()
            });
        }
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(c.client.clone(), &view.namespace);
        let inner = c.clone();
        through_finalizer(&api, usecase::SERVICE_FINALIZER, svc, move |phase, obj| {
            Box::pin(async move {
                let view: ServiceView = crate::views::service_view(&obj);
                let (config, view) = (&inner.config, &view);
                let outcome = with_scope(inner.wiring.as_ref(), |deps| async move {
                    service::reconcile_service(&deps, config, view).await
                })
                .await?;
                inner.after_in_helper(phase == Phase::Cleanup, outcome.waiting())
            })
        })
        .await
    })
    .await
}

/// The locks a deployment of `v` takes: the domain's serialization key, and the load
/// balancer's name too (an LBC whose id is not recorded yet is keyed by name while another
/// on the same load balancer is keyed by id).
pub fn lock_keys(v: &LoadBalancerConfigView) -> Vec<String> {
    let mut keys = vec![lbc::serialization_key(v)];
    if !v.spec.load_balancer_name.is_empty() {
        keys.push(format!("name:{}", v.spec.load_balancer_name));
    }
    keys
}

/// Reconciles a LoadBalancerConfig. Deployments to one load balancer wait for each other.
/// Returns the LBCs to requeue because they share the load balancer and this one changed
/// or goes away (a port conflict they lost may be resolved), also when this reconcile
/// failed.
pub async fn reconcile_lbc(
    obj: Arc<LoadBalancerConfig>,
    ctx: Arc<Context>,
) -> (Result<Action, ReconcileError>, Vec<ObjectKey>) {
    if crate::undecodable::skip_undecodable(&ctx, obj.as_ref()).await {
        return (Ok(Action::await_change()), Vec::new());
    }
    let view = lbc_view;
    let v = view(&obj);
    let key = v.meta.key.clone();
    let changed = v.meta.deleting || v.status.observed_generation != Some(v.meta.generation);
    let sharing: Arc<Mutex<Vec<ObjectKey>>> = Arc::default();
    let sink = sharing.clone();
    let c = ctx.clone();
    let action = observed(&ctx, LBC, &key, async {
        let _locks = c.locks.lock_all(&lock_keys(&v)).await;
        let api: Api<LoadBalancerConfig> = Api::namespaced(c.client.clone(), &key.namespace);
        let inner = c.clone();
        through_finalizer(&api, usecase::LBC_FINALIZER, obj, move |phase, o| {
            Box::pin(async move {
                let v = view(&o);
                let (config, v) = (&inner.config, &v);
                let outcome = with_scope(inner.wiring.as_ref(), |deps| async move {
                    let result = if phase == Phase::Cleanup {
                        lbc::finalize_lbc(&deps, config, v)
                            .await
                            .map(|()| usecase::Outcome::done())
                    } else {
                        lbc::reconcile_lbc(&deps, config, v).await
                    };
                    // A port conflict another LBC lost may be resolved by this change.
                    if changed {
                        match deps.reader.list_lbcs().await {
                            Ok(all) => *sink.lock() = lbc::lbcs_sharing_load_balancer(v, &all),
                            Err(e) => tracing::warn!(
                                error = %e,
                                "cannot list the LBCs sharing this load balancer"
                            ),
                        }
                    }
                    result
                })
                .await?;
                inner.after_in_helper(phase == Phase::Cleanup, outcome.waiting.as_ref())
            })
        })
        .await
    })
    .await;
    let requeue = std::mem::take(&mut *sharing.lock());
    (action, requeue)
}

/// Lock key every NodeSecurityGroup reconcile takes: they attach security groups to the
/// same node servers, and a server's security-group list is replaced as a whole (two
/// concurrent read-modify-writes would lose one attachment).
pub const NODE_SERVERS_LOCK: &str = "node-servers";

/// Reconciles a NodeSecurityGroup, one at a time (see [`NODE_SERVERS_LOCK`]).
pub async fn reconcile_nsg(
    obj: Arc<NodeSecurityGroup>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if crate::undecodable::skip_undecodable(&ctx, obj.as_ref()).await {
        return Ok(Action::await_change());
    }
    let view = nsg_view;
    let v = view(&obj);
    let key = v.meta.key.clone();
    let c = ctx.clone();
    let namespace = key.namespace.clone();
    observed(&ctx, NSG, &key, async move {
        let _servers = c.locks.lock(NODE_SERVERS_LOCK).await;
        let api: Api<NodeSecurityGroup> = Api::namespaced(c.client.clone(), &namespace);
        let inner = c.clone();
        through_finalizer(&api, usecase::NSG_FINALIZER, obj, move |phase, o| {
            Box::pin(async move {
                let v = view(&o);
                let (config, v) = (&inner.config, &v);
                with_scope(inner.wiring.as_ref(), |deps| async move {
                    if phase == Phase::Cleanup {
                        nsg::finalize_nsg(&deps, v).await
                    } else {
                        nsg::reconcile_nsg(&deps, config, v).await
                    }
                })
                .await?;
                Ok(Action::requeue(inner.settings.drift_check))
            })
        })
        .await
    })
    .await
}

#[cfg(test)]
mod tests;
