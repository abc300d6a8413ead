//! Assembles the three controllers: watches, Node and EndpointSlice mappings, debounce,
//! concurrency, graceful shutdown, and the requeue of LBCs sharing a load balancer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use vlb_domain::model::{LoadBalancerConfigView, NodeSecurityGroupView};

use crate::controllers::{self, Context, LBC, NSG, ReconcileError, SERVICE};
use crate::ops::Readiness;
use crate::views;

/// How the controllers run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Reconciles at once per controller.
    pub concurrency: u16,
    /// Debounce of reconcile requests (Node and EndpointSlice bursts).
    pub debounce: Duration,
}

/// A custom resource kind the operator reconciles, with how to read it as the domain's
/// view.
pub struct Crd<K, V> {
    /// Reads an object as the domain's view.
    pub view: fn(&K) -> V,
}

impl<K, V> Clone for Crd<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Crd<K, V> {}

impl<K, V> std::fmt::Debug for Crd<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crd").finish_non_exhaustive()
    }
}

/// Node changes that matter (membership fields), by node name.
#[derive(Debug, Default, Clone)]
struct NodeFingerprints(Arc<Mutex<HashMap<String, u64>>>);

impl NodeFingerprints {
    /// Whether `node` changed what decides membership since last seen.
    fn changed(&self, node: &Node) -> bool {
        let fp = views::node_fingerprint(node);
        self.0.lock().insert(node.name_any(), fp) != Some(fp)
    }
}

fn all_refs<K>(store: &Store<K>, keep: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|o| keep(o))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

fn controller_config(o: RunOptions) -> ControllerConfig {
    ControllerConfig::default()
        .concurrency(o.concurrency)
        .debounce(o.debounce)
}

fn error_policy<K: Resource>(
    controller: &'static str,
) -> impl Fn(Arc<K>, &ReconcileError, Arc<Context>) -> Action {
    move |obj, err, ctx| {
        let key = vlb_domain::model::ObjectKey::new(
            obj.meta().namespace.clone().unwrap_or_default(),
            obj.meta().name.clone().unwrap_or_default(),
        );
        ctx.action(controller, &key, Some(err))
    }
}

/// Runs the three controllers until `shutdown`; in-flight reconciles finish (the caller
/// bounds the wait). Marks `readiness` once every cache has its first list.
pub async fn run<L, N>(
    ctx: Arc<Context>,
    lbc: Crd<L, LoadBalancerConfigView>,
    nsg: Crd<N, NodeSecurityGroupView>,
    options: RunOptions,
    readiness: Arc<Readiness>,
    shutdown: CancellationToken,
) where
    L: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    N: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let client = ctx.client.clone();
    let wc = watcher::Config::default();
    let class = ctx.config.load_balancer_class.clone();

    // Services: their own changes, Node membership changes, EndpointSlices (pod targets).
    let svc_controller = Controller::new(Api::<Service>::all(client.clone()), wc.clone());
    let svc_store = svc_controller.store();
    let node_seen = NodeFingerprints::default();
    let store = svc_store.clone();
    let seen = node_seen.clone();
    let svc_class = class.clone();
    let services = svc_controller
        .watches(Api::<Node>::all(client.clone()), wc.clone(), move |node| {
            if !seen.changed(&node) {
                return Vec::new();
            }
            all_refs(&store, |s: &Service| {
                views::is_ours(&views::service_view(s), svc_class.as_deref())
            })
        })
        // The LBC's status (address, Ready) flows back to its Service; its deletion
        // releases the Service's finalizer.
        .watches(Api::<L>::all(client.clone()), wc.clone(), |lbc: L| {
            owner_service(lbc.meta())
        })
        .watches(
            Api::<EndpointSlice>::all(client.clone()),
            wc.clone(),
            |slice| {
                views::endpoint_slice_service(&slice)
                    .map(|(ns, name)| ObjectRef::<Service>::new(&name).within(&ns))
            },
        )
        .with_config(controller_config(options))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(
            controllers::reconcile_service,
            error_policy::<Service>(SERVICE),
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    // LoadBalancerConfigs: their own changes, and requeues of those sharing a load balancer.
    let (requeue_tx, requeue_rx) = tokio::sync::mpsc::unbounded_channel::<ObjectRef<L>>();
    let lbc_controller = Controller::new(Api::<L>::all(client.clone()), wc.clone());
    let lbc_store = lbc_controller.store();
    let view = lbc.view;
    let lbcs = lbc_controller
        .reconcile_on(tokio_stream_from(requeue_rx))
        .with_config(controller_config(options))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(
            move |obj, ctx| {
                let tx = requeue_tx.clone();
                async move {
                    let (action, sharing) = controllers::reconcile_lbc(obj, ctx, view).await;
                    for key in sharing {
                        let _ = tx.send(ObjectRef::<L>::new(&key.name).within(&key.namespace));
                    }
                    action
                }
            },
            error_policy::<L>(LBC),
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    // NodeSecurityGroups: their own changes and Node membership changes.
    let nsg_controller = Controller::new(Api::<N>::all(client.clone()), wc.clone());
    let nsg_store = nsg_controller.store();
    let store = nsg_store.clone();
    let seen = NodeFingerprints::default();
    let nsg_view = nsg.view;
    let nsgs = nsg_controller
        .watches(Api::<Node>::all(client.clone()), wc, move |node| {
            if !seen.changed(&node) {
                return Vec::new();
            }
            all_refs(&store, |_| true)
        })
        .with_config(controller_config(options))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(
            move |obj, ctx| controllers::reconcile_nsg(obj, ctx, nsg_view),
            error_policy::<N>(NSG),
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    let synced = async move {
        let ok = svc_store.wait_until_ready().await.is_ok()
            && lbc_store.wait_until_ready().await.is_ok()
            && nsg_store.wait_until_ready().await.is_ok();
        if ok {
            tracing::info!("caches synced");
            readiness.set_caches_synced();
        }
    };
    let shutdown_synced = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = synced => {}
            () = shutdown_synced.cancelled() => {}
        }
    });
    tokio::join!(services, lbcs, nsgs);
}

/// The Service an LBC or NSG belongs to: same namespace, the owner-name label (else the
/// same name), when the owner kind is Service.
fn owner_service(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Service>> {
    let labels = meta.labels.as_ref();
    let kind = labels.and_then(|l| l.get(vlb_domain::usecase::OWNER_KIND_LABEL));
    if kind.is_some_and(|k| k != "Service") {
        return None;
    }
    let name = labels
        .and_then(|l| l.get(vlb_domain::usecase::OWNER_NAME_LABEL))
        .or(meta.name.as_ref())?;
    Some(ObjectRef::<Service>::new(name).within(meta.namespace.as_deref()?))
}

/// An unbounded receiver as a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta(labels: &[(&str, &str)]) -> kube::api::ObjectMeta {
        kube::api::ObjectMeta {
            name: Some("web".into()),
            namespace: Some("shop".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..kube::api::ObjectMeta::default()
        }
    }

    #[test]
    fn lbc_change_maps_to_its_owner_service() {
        let r = owner_service(&meta(&[
            (vlb_domain::usecase::OWNER_KIND_LABEL, "Service"),
            (vlb_domain::usecase::OWNER_NAME_LABEL, "frontend"),
        ]))
        .unwrap();
        assert_eq!(r.name, "frontend");
        assert_eq!(r.namespace.as_deref(), Some("shop"));
        assert_eq!(owner_service(&meta(&[])).unwrap().name, "web");
        assert!(
            owner_service(&meta(&[(vlb_domain::usecase::OWNER_KIND_LABEL, "Ingress")])).is_none()
        );
    }
}
