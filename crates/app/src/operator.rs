//! Assembles the three controllers on the shared watches ([`crate::watches`]): Node and
//! EndpointSlice mappings, debounce, concurrency, graceful shutdown, and the requeue of
//! LBCs sharing a load balancer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::Controller;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use vlb_domain::model::{NodeMembers, NodeView};
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup, Stores};

use crate::controllers::{self, Context, LBC, NSG, ReconcileError, SERVICE};
use crate::views;
use crate::watches::Feeds;

/// How the controllers run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Reconciles at once per controller.
    pub concurrency: u16,
    /// Debounce of reconcile requests (Node and EndpointSlice bursts).
    pub debounce: Duration,
}

/// The last domain view of each Node ([`NodeView`]: what membership and placement read),
/// to tell what a Node change moves. Heartbeats and the kubelet's inventory are not in a
/// view, so they never count as changes.
#[derive(Clone)]
struct NodeViews {
    seen: Arc<Mutex<HashMap<String, NodeView>>>,
    nodes: Store<Node>,
}

impl NodeViews {
    /// Tracks the Nodes of `nodes` (the store the watch fills before it hands a change on),
    /// starting from what it holds now: each controller reconciles every object at start, so
    /// a change the store took before this snapshot is covered by those reconciles.
    fn new(nodes: Store<Node>) -> Self {
        let seen = nodes
            .state()
            .iter()
            .map(|n| (n.name_any(), vlb_k8s_adapter::reader::node_view(n)))
            .collect();
        Self {
            seen: Arc::new(Mutex::new(seen)),
            nodes,
        }
    }

    /// The Node before this change (`None`: not there) and after it (`None`: deleted). The
    /// watch hands a deleted Node over as it last was (with no deletion timestamp when
    /// nothing held it), so a deletion is told by its absence from the store; one not seen
    /// before is taken as it was when deleted.
    fn change(&self, node: &Node) -> (Option<NodeView>, Option<NodeView>) {
        let name = node.name_any();
        let mut seen = self.seen.lock();
        if self.nodes.get(&ObjectRef::new(&name)).is_none() {
            let before = seen
                .remove(&name)
                .unwrap_or_else(|| vlb_k8s_adapter::reader::node_view(node));
            return (Some(before), None);
        }
        let now = vlb_k8s_adapter::reader::node_view(node);
        (seen.insert(name, now.clone()), Some(now))
    }

    /// Whether `node` changed what the domain reads of it (or appeared, or is gone).
    fn changed(&self, node: &Node) -> bool {
        let (before, after) = self.change(node);
        before != after
    }
}

/// Whether a Node going from `before` to `after` changes the members `template` resolves
/// to: the Node's member is its InternalIP while it is selected.
fn moves_members(
    template: &NodeMembers,
    before: Option<&NodeView>,
    after: Option<&NodeView>,
) -> bool {
    fn member<'a>(template: &NodeMembers, n: Option<&'a NodeView>) -> Option<&'a str> {
        n.filter(|n| vlb_domain::members::node_selected(n, &template.select_node_labels))
            .and_then(|n| n.internal_ip.as_deref())
    }
    member(template, before) != member(template, after)
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

/// Runs the three controllers on the shared `watches` until `shutdown`; in-flight
/// reconciles finish (the caller bounds the wait). Each controller starts with a
/// reconcile of every object in its store (the stores are synced before this is called).
pub async fn run(
    ctx: Arc<Context>,
    stores: &Stores,
    feeds: &Feeds,
    options: RunOptions,
    shutdown: CancellationToken,
) {
    let class = ctx.config.load_balancer_class.clone();
    let initial = || futures::stream::once(futures::future::ready(()));

    // Services: their own changes, Node membership changes while the nodes still shape
    // their LBC or NSG spec, their LBC's status, and EndpointSlices of Services targeting
    // pod IPs.
    let node_seen = NodeViews::new(stores.nodes.clone());
    let store = stores.services.clone();
    let lbc_store = stores.lbcs.clone();
    let svc_class = class.clone();
    let slice_store = stores.services.clone();
    let slice_class = class.clone();
    let services =
        Controller::for_shared_stream(feeds.services.subscribe(), stores.services.clone())
            .watches_shared_stream(feeds.nodes.subscribe(), move |node: Arc<Node>| {
                if !node_seen.changed(&node) {
                    return Vec::new();
                }
                all_refs(&store, |s: &Service| {
                    views::is_ours_service(s, svc_class.as_deref())
                        && (views::targets_pods(s, svc_class.as_deref())
                            || !deployed(&lbc_store, s))
                })
            })
            // The LBC's status (address, Ready) flows back to its Service; its deletion releases
            // the Service's finalizer.
            .watches_shared_stream(feeds.lbcs.subscribe(), |lbc: Arc<LoadBalancerConfig>| {
                owner_service(&lbc.metadata)
            })
            .watches_shared_stream(
                feeds.endpoint_slices.subscribe(),
                move |slice: Arc<EndpointSlice>| {
                    let (ns, name) = views::endpoint_slice_service(&slice)?;
                    let target = ObjectRef::<Service>::new(&name).within(&ns);
                    let svc = slice_store.get(&target)?;
                    views::targets_pods(&svc, slice_class.as_deref()).then_some(target)
                },
            )
            .reconcile_all_on(initial())
            .with_config(controller_config(options))
            .graceful_shutdown_on(shutdown.clone().cancelled_owned())
            .run(
                controllers::reconcile_service,
                error_policy::<Service>(SERVICE),
                ctx.clone(),
            )
            .for_each(|_| futures::future::ready(()));

    // LoadBalancerConfigs: their own changes, Node changes that move the members of one of
    // their pools, and requeues of those sharing a load balancer.
    let (requeue_tx, requeue_rx) =
        tokio::sync::mpsc::unbounded_channel::<ObjectRef<LoadBalancerConfig>>();
    let store = stores.lbcs.clone();
    let membership = NodeViews::new(stores.nodes.clone());
    let lbcs = Controller::for_shared_stream(feeds.lbcs.subscribe(), stores.lbcs.clone())
        .watches_shared_stream(feeds.nodes.subscribe(), move |node: Arc<Node>| {
            let (before, after) = membership.change(&node);
            all_refs(&store, |lbc: &LoadBalancerConfig| {
                lbc.spec.pools.iter().any(|p| {
                    p.node_members
                        .as_ref()
                        .is_some_and(|t| moves_members(t, before.as_ref(), after.as_ref()))
                })
            })
        })
        .reconcile_on(tokio_stream_from(requeue_rx))
        .reconcile_all_on(initial())
        .with_config(controller_config(options))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(
            move |obj, ctx| {
                let tx = requeue_tx.clone();
                async move {
                    let (action, sharing) = controllers::reconcile_lbc(obj, ctx).await;
                    for key in sharing {
                        let _ = tx.send(
                            ObjectRef::<LoadBalancerConfig>::new(&key.name).within(&key.namespace),
                        );
                    }
                    action
                }
            },
            error_policy::<LoadBalancerConfig>(LBC),
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    // NodeSecurityGroups: their own changes and Node membership changes.
    let store = stores.nsgs.clone();
    let seen = NodeViews::new(stores.nodes.clone());
    let nsgs = Controller::for_shared_stream(feeds.nsgs.subscribe(), stores.nsgs.clone())
        .watches_shared_stream(feeds.nodes.subscribe(), move |node: Arc<Node>| {
            if !seen.changed(&node) {
                return Vec::new();
            }
            all_refs(&store, |_| true)
        })
        .reconcile_all_on(initial())
        .with_config(controller_config(options))
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(
            controllers::reconcile_nsg,
            error_policy::<NodeSecurityGroup>(NSG),
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    tokio::join!(services, lbcs, nsgs);
}

/// Whether the LBC of `svc` has a load balancer: its placement is then fixed, and the nodes
/// no longer shape the Service's LBC or NSG spec (node members are resolved by the LBC).
fn deployed(lbcs: &Store<LoadBalancerConfig>, svc: &Service) -> bool {
    let Some(ns) = svc.metadata.namespace.as_deref() else {
        return false;
    };
    lbcs.get(&ObjectRef::new(&svc.name_any()).within(ns))
        .is_some_and(|lbc| {
            lbc.status
                .as_ref()
                .is_some_and(|s| s.load_balancer_id.is_some())
        })
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

    fn node(name: &str, ready: &str) -> Node {
        Node {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..kube::api::ObjectMeta::default()
            },
            status: Some(k8s_openapi::api::core::v1::NodeStatus {
                conditions: Some(vec![k8s_openapi::api::core::v1::NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn a_node_counts_as_changed_when_new_when_what_the_domain_reads_moves_and_when_deleted() {
        use kube::runtime::watcher::Event;
        let (store, mut writer) = kube::runtime::reflector::store::<Node>();
        let seen = NodeViews::new(store);
        let a = node("a", "True");
        writer.apply_watcher_event(&Event::Apply(a.clone()));
        assert!(seen.changed(&a), "first sight");
        assert!(!seen.changed(&a), "nothing the domain reads moved");
        let mut heartbeat = a.clone();
        heartbeat
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[0]
            .last_heartbeat_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::from_second(99).unwrap(),
        ));
        writer.apply_watcher_event(&Event::Apply(heartbeat.clone()));
        assert!(!seen.changed(&heartbeat), "a heartbeat is not a change");
        let unready = node("a", "False");
        writer.apply_watcher_event(&Event::Apply(unready.clone()));
        assert!(seen.changed(&unready));
        // Deleted while nothing held it: the event carries the Node as it last was.
        writer.apply_watcher_event(&Event::Delete(unready.clone()));
        assert!(seen.changed(&unready), "a deletion is a change");
    }

    #[test]
    fn only_node_changes_that_move_a_templates_members_requeue_its_lbc() {
        use kube::runtime::watcher::Event;
        let (store, mut writer) = kube::runtime::reflector::store::<Node>();
        let membership = NodeViews::new(store);
        let web = NodeMembers {
            port: 31080,
            monitor_port: None,
            select_node_labels: BTreeMap::from([("pool".to_owned(), "web".to_owned())]),
        };
        let mut step = |n: &Node, delete: bool| {
            writer.apply_watcher_event(&if delete {
                Event::Delete(n.clone())
            } else {
                Event::Apply(n.clone())
            });
            let (before, after) = membership.change(n);
            moves_members(&web, before.as_ref(), after.as_ref())
        };
        let mut a = node("a", "True");
        a.status.as_mut().unwrap().addresses =
            Some(vec![k8s_openapi::api::core::v1::NodeAddress {
                type_: "InternalIP".into(),
                address: "10.0.0.1".into(),
            }]);
        assert!(!step(&a, false), "new but not labelled web");
        a.labels_mut().insert("zone".into(), "x".into());
        assert!(!step(&a, false), "a label the template does not select on");
        a.labels_mut().insert("pool".into(), "web".into());
        assert!(step(&a, false), "joins the template's nodes");
        assert!(!step(&a, false), "nothing moved");
        let mut unready = a.clone();
        unready
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[0]
            .status = "False".into();
        assert!(step(&unready, false), "not ready: leaves");
        assert!(step(&a, false), "ready again: back");
        assert!(step(&a, true), "deleted while a member");
        let b = node("b", "True");
        assert!(!step(&b, false));
        assert!(!step(&b, true), "deleted, never a member");
        // Nodes in the store when the mapping starts are known: only real moves count, and
        // their deletion is one.
        writer.apply_watcher_event(&Event::Apply(a.clone()));
        let fresh = NodeViews::new(membership.nodes.clone());
        let (before, after) = fresh.change(&a);
        assert!(!moves_members(&web, before.as_ref(), after.as_ref()));
        // A member deleted before the mapping ever saw it is taken as it was.
        writer.apply_watcher_event(&Event::Delete(a.clone()));
        let (before, after) = NodeViews::new(membership.nodes.clone()).change(&a);
        assert!(moves_members(&web, before.as_ref(), after.as_ref()));
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
