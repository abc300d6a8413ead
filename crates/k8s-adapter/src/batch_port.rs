//! The domain's per-reconcile [`Batch`] on top of `vlb-batch`'s [`Batcher`]: domain mutators
//! of LBC/NSG specs and statuses and of a Service's `status.loadBalancer.ingress` are queued
//! as mutators of the Kubernetes objects, and [`KubeBatch::flush`] writes them (one merge
//! patch per changed part, guarded by resourceVersion; see the `vlb-batch` docs).

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use vlb_batch::{BatchError, Batcher, FlushError, FlushReport};
use vlb_domain::error::ClusterError;
use vlb_domain::model::{
    IngressView, LoadBalancerConfigSpec, LoadBalancerConfigStatus, NodeSecurityGroupSpec,
    NodeSecurityGroupStatus, ObjectKey, ServiceStatusView,
};
use vlb_domain::ports::{Batch, Mutator};

use kube::Client;

use crate::crd::{LoadBalancerConfig, NodeSecurityGroup};
use crate::error::DEFAULT_RETRY_AFTER;
use crate::reader::Stores;

/// [`Batch`] over a [`Batcher`]. Take one per reconcile (`KubeBatch::new(configured.fresh())`)
/// and call [`flush`](Self::flush) once at its end.
#[derive(Clone, Debug)]
pub struct KubeBatch {
    batcher: Batcher,
}

impl KubeBatch {
    /// Queues into `batcher`.
    pub fn new(batcher: Batcher) -> Self {
        Self { batcher }
    }

    /// The underlying batcher.
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// Writes what is queued. Failed entries stay queued (see `vlb-batch`); the error is the
    /// most telling one of the flush, as the domain's [`ClusterError`].
    pub async fn flush(&self) -> Result<FlushReport, ClusterError> {
        self.batcher.flush().await.map_err(|e| flush_error(&e))
    }
}

/// A configured [`Batcher`] reading Services, LBCs and NSGs from the reader's stores (no
/// GET on the happy path) with the given retry budgets; take `fresh()` copies per reconcile.
pub fn batcher_for(client: Client, stores: &Stores, policy: vlb_batch::RetryPolicy) -> Batcher {
    Batcher::new(client)
        .with_store(stores.services.clone())
        .with_store(stores.lbcs.clone())
        .with_store(stores.nsgs.clone())
        .with_retry(policy)
}

/// One object's batch error as the domain's error.
pub fn batch_error(e: &BatchError) -> ClusterError {
    match e {
        BatchError::NotFound { message } => ClusterError::NotFound(message.clone()),
        BatchError::ConflictExhausted { message, .. } => ClusterError::Conflict(message.clone()),
        BatchError::Unauthorized { message } => ClusterError::Unauthorized(message.clone()),
        BatchError::Forbidden { message } => ClusterError::Forbidden(message.clone()),
        BatchError::Invalid { status, message } => {
            ClusterError::Invalid(format!("{status}: {message}"))
        }
        BatchError::Gone { message } => ClusterError::Gone(message.clone()),
        BatchError::TooManyRequests { retry_after, .. } => ClusterError::TooManyRequests {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        BatchError::Server {
            status, message, ..
        } => ClusterError::Server(format!("{status}: {message}")),
        BatchError::Transport { message } => ClusterError::Transport(message.clone()),
    }
}

/// A flush error as the domain's error: the first error that is not a 404 (an object
/// deleted meanwhile is the least telling), or the 404 when all are.
pub fn flush_error(e: &FlushError) -> ClusterError {
    e.find(|b| !b.is_not_found())
        .or_else(|| e.errors().next())
        .map_or_else(|| ClusterError::Server(e.to_string()), batch_error)
}

fn ns(key: &ObjectKey) -> Option<&str> {
    (!key.namespace.is_empty()).then_some(key.namespace.as_str())
}

/// Runs `mutator` on `status`, creating it only when the mutator changed something.
fn on_status<W, T>(status: &mut Option<W>, mutator: &mut Mutator<T>) -> bool
where
    W: std::ops::DerefMut<Target = T> + From<T>,
    T: Default,
{
    if let Some(s) = status.as_mut() {
        return mutator(s);
    }
    let mut fresh = T::default();
    let changed = mutator(&mut fresh);
    if changed {
        *status = Some(W::from(fresh));
    }
    changed
}

/// The domain's view of a Service's ingress.
pub fn service_status_view(svc: &Service) -> ServiceStatusView {
    ServiceStatusView {
        ingress: svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .map(|i| IngressView {
                ip: i.ip.clone(),
                hostname: i.hostname.clone(),
                ip_mode: i.ip_mode.clone(),
            })
            .collect(),
    }
}

fn write_ingress(svc: &mut Service, view: &ServiceStatusView) {
    let ingress: Vec<LoadBalancerIngress> = view
        .ingress
        .iter()
        .map(|i| LoadBalancerIngress {
            ip: i.ip.clone(),
            hostname: i.hostname.clone(),
            ip_mode: i.ip_mode.clone(),
            ..LoadBalancerIngress::default()
        })
        .collect();
    svc.status
        .get_or_insert_with(Default::default)
        .load_balancer
        .get_or_insert_with(Default::default)
        .ingress = Some(ingress);
}

impl Batch for KubeBatch {
    fn queue_lbc_spec(&self, key: &ObjectKey, mut mutator: Mutator<LoadBalancerConfigSpec>) {
        self.batcher
            .spec::<LoadBalancerConfig>(ns(key), &key.name, move |lbc| mutator(&mut lbc.spec.0));
    }

    fn queue_lbc_status(&self, key: &ObjectKey, mut mutator: Mutator<LoadBalancerConfigStatus>) {
        self.batcher
            .status::<LoadBalancerConfig>(ns(key), &key.name, move |lbc| {
                on_status(&mut lbc.status, &mut mutator)
            });
    }

    fn queue_nsg_spec(&self, key: &ObjectKey, mut mutator: Mutator<NodeSecurityGroupSpec>) {
        self.batcher
            .spec::<NodeSecurityGroup>(ns(key), &key.name, move |nsg| mutator(&mut nsg.spec.0));
    }

    fn queue_nsg_status(&self, key: &ObjectKey, mut mutator: Mutator<NodeSecurityGroupStatus>) {
        self.batcher
            .status::<NodeSecurityGroup>(ns(key), &key.name, move |nsg| {
                on_status(&mut nsg.status, &mut mutator)
            });
    }

    fn queue_service_status(&self, key: &ObjectKey, mut mutator: Mutator<ServiceStatusView>) {
        self.batcher
            .status::<Service>(ns(key), &key.name, move |svc| {
                let mut view = service_status_view(svc);
                let changed = mutator(&mut view);
                if changed {
                    write_ingress(svc, &view);
                }
                changed
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutator_that_changes_nothing_creates_no_status() {
        let mut status: Option<crate::crd::LoadBalancerConfigCrdStatus> = None;
        let mut noop: Mutator<LoadBalancerConfigStatus> = Box::new(|_| false);
        assert!(!on_status(&mut status, &mut noop));
        assert!(status.is_none());
        let mut set: Mutator<LoadBalancerConfigStatus> = Box::new(|s| {
            s.address = Some("1.2.3.4".into());
            true
        });
        assert!(on_status(&mut status, &mut set));
        assert_eq!(status.unwrap().address.as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn ingress_round_trips_between_service_and_view() {
        let mut svc = Service::default();
        let view = ServiceStatusView {
            ingress: vec![IngressView {
                ip: Some("203.0.113.7".into()),
                hostname: None,
                ip_mode: Some("Proxy".into()),
            }],
        };
        write_ingress(&mut svc, &view);
        assert_eq!(service_status_view(&svc), view);
    }

    #[test]
    fn the_first_error_that_is_not_a_404_speaks_for_the_flush() {
        let e = BatchError::TooManyRequests {
            retry_after: None,
            message: "m".into(),
        };
        assert_eq!(
            batch_error(&e),
            ClusterError::TooManyRequests {
                retry_after: DEFAULT_RETRY_AFTER
            }
        );
        assert!(matches!(
            batch_error(&BatchError::ConflictExhausted {
                attempts: 3,
                message: "m".into()
            }),
            ClusterError::Conflict(_)
        ));
    }
}
