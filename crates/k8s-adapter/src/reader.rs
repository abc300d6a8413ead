//! [`ClusterReader`] served from reflector stores (no API call per reconcile), and the
//! mappings from Kubernetes objects into the domain's views.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Lookup, ObjectRef as StoreRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use vlb_domain::error::ClusterError;
use vlb_domain::model::{
    EndpointView, LoadBalancerConfigView, NodeSecurityGroupView, NodeView, ObjectKey,
    ObjectMetaView, PortProtocol, SecretView, ServicePortView, ServiceView, TaintView,
};
use vlb_domain::ports::ClusterReader;

use crate::crd::{LoadBalancerConfig, NodeSecurityGroup};

/// Label naming the Service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The reflector stores the reader serves from.
#[derive(Clone)]
pub struct Stores {
    /// Nodes.
    pub nodes: Store<Node>,
    /// Services.
    pub services: Store<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Store<EndpointSlice>,
    /// Secrets.
    pub secrets: Store<Secret>,
    /// LoadBalancerConfigs.
    pub lbcs: Store<LoadBalancerConfig>,
    /// NodeSecurityGroups.
    pub nsgs: Store<NodeSecurityGroup>,
}

/// Reflectors feeding [`Stores`], running as tasks; dropping this stops them.
pub struct Reflectors {
    /// The stores they fill.
    pub stores: Stores,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Reflectors {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a cache keeps of an object: the fields the operator never reads are dropped as the
/// object arrives, so they cost no memory (managedFields of every kind; more per kind).
pub trait Cached:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// The watch configuration (a selector narrowing what is cached).
    fn watch_config() -> watcher::Config {
        watcher::Config::default()
    }

    /// Drops the fields the operator never reads.
    fn trim(&mut self) {
        self.managed_fields_mut().clear();
    }
}

/// Objects per page of the initial list (and of relists). Each page is held twice while it
/// is decoded (its text and its objects) next to the store filling up; pages of 100 rather
/// than kube-rs' 500 keep that transient small, which at 10 000 Services lowered the
/// operator's peak RSS by about 13 MiB (BENCHMARKS.md, scenario 8) for 5× the list calls.
pub const LIST_PAGE_SIZE: u32 = 100;

/// Annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Type of the Secrets certificates are imported from, the only ones cached.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

impl Cached for Node {
    /// Keeps labels, spec (provider id, taints, unschedulable), addresses and the Ready
    /// condition;
    /// drops the kubelet's inventory (images, volumes, node info, capacity), which on a real
    /// node outweighs the rest many times.
    fn trim(&mut self) {
        self.managed_fields_mut().clear();
        self.annotations_mut().clear();
        if let Some(s) = self.status.as_mut() {
            s.images = None;
            s.volumes_attached = None;
            s.volumes_in_use = None;
            s.node_info = None;
            s.capacity = None;
            s.allocatable = None;
            s.daemon_endpoints = None;
            s.config = None;
            s.features = None;
            s.runtime_handlers = None;
            // Only Ready is read (membership, and the change test of the Node mappings).
            if let Some(c) = s.conditions.as_mut() {
                c.retain(|c| c.type_ == "Ready");
            }
        }
    }
}

/// Drops managedFields and the `kubectl apply` copy of the object.
fn trim_applied(obj: &mut impl Resource) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(LAST_APPLIED);
}

impl Cached for Service {
    /// Keeps of the spec only what the operator reads — the type, the load balancer class
    /// and the ports (name, protocol, port, node port) — and the status.
    fn trim(&mut self) {
        trim_applied(self);
        if let Some(spec) = self.spec.take() {
            self.spec = Some(ServiceSpec {
                type_: spec.type_,
                load_balancer_class: spec.load_balancer_class,
                ports: spec.ports.map(|ports| {
                    ports
                        .into_iter()
                        .map(|p| ServicePort {
                            name: p.name,
                            protocol: p.protocol,
                            port: p.port,
                            node_port: p.node_port,
                            ..ServicePort::default()
                        })
                        .collect()
                }),
                ..ServiceSpec::default()
            });
        }
    }
}

impl Cached for EndpointSlice {}

impl Cached for Secret {
    /// Only TLS Secrets: a cluster's other Secrets (service-account tokens, Helm releases of
    /// hundreds of KiB each) are never read, so never listed nor kept.
    fn watch_config() -> watcher::Config {
        watcher::Config::default().fields(&format!("type={TLS_SECRET_TYPE}"))
    }

    fn trim(&mut self) {
        trim_applied(self);
    }
}

impl Cached for LoadBalancerConfig {}

impl Cached for NodeSecurityGroup {}

/// Starts a cluster-wide reflector of `api` as a task pushed on `tasks` (watching what
/// [`Cached::watch_config`] selects, keeping what [`Cached::trim`] leaves); every object it
/// touches is handed to `on_touched` (the app feeds its controllers with it). Returns the
/// store it fills.
pub fn spawn_reflector<K: Cached>(
    api: Api<K>,
    tasks: &mut Vec<JoinHandle<()>>,
    mut on_touched: impl FnMut(K) + Send + 'static,
) -> Store<K> {
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, K::watch_config().page_size(LIST_PAGE_SIZE))
            .default_backoff()
            .modify(K::trim),
    )
    .touched_objects();
    tasks.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(obj) => on_touched(obj),
                // The watcher backs off and relists on its own (also after 410 Gone).
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed, retrying");
                }
            }
        }
    }));
    reader
}

impl Reflectors {
    /// Starts one cluster-wide reflector per kind the reader serves.
    pub fn start(client: &Client) -> Self {
        let mut tasks = Vec::new();
        let stores = Stores {
            nodes: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
            services: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
            endpoint_slices: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
            secrets: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
            lbcs: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
            nsgs: spawn_reflector(Api::all(client.clone()), &mut tasks, drop),
        };
        Self { stores, tasks }
    }

    /// Waits until every store has its first full list, at most `timeout`.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let s = &self.stores;
        let all = async {
            let r = futures::try_join!(
                s.nodes.wait_until_ready(),
                s.services.wait_until_ready(),
                s.endpoint_slices.wait_until_ready(),
                s.secrets.wait_until_ready(),
                s.lbcs.wait_until_ready(),
                s.nsgs.wait_until_ready(),
            );
            r.map(drop)
        };
        match tokio::time::timeout(timeout, all).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ClusterError::Transport(e.to_string())),
            Err(_) => Err(ClusterError::Transport(format!(
                "caches not synced after {timeout:?}"
            ))),
        }
    }
}

/// Serves [`ClusterReader`] from [`Stores`].
#[derive(Clone)]
pub struct KubeReader {
    stores: Stores,
}

impl KubeReader {
    /// A reader over these stores.
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// The stores.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }
}

/// A store that has not seen its first list answers as a transient error, never as "absent".
fn ready<K>(store: &Store<K>, what: &str) -> Result<(), ClusterError>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    match store.wait_until_ready().now_or_never() {
        Some(Ok(())) => Ok(()),
        _ => Err(ClusterError::Transport(format!(
            "cache of {what} not synced yet"
        ))),
    }
}

fn lookup<K>(store: &Store<K>, what: &str, key: &ObjectKey) -> Result<Option<Arc<K>>, ClusterError>
where
    K: Resource<DynamicType = ()> + Lookup<DynamicType = ()> + Clone + 'static,
{
    ready(store, what)?;
    Ok(store.get(&StoreRef::new(&key.name).within(&key.namespace)))
}

fn created(meta: &ObjectMeta) -> Option<jiff::Timestamp> {
    meta.creation_timestamp.as_ref().map(|t| t.0)
}

/// Metadata of an object as the domain reads it.
pub fn meta_view(meta: &ObjectMeta) -> ObjectMetaView {
    ObjectMetaView {
        key: ObjectKey::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        ),
        uid: meta.uid.clone().unwrap_or_default(),
        generation: meta.generation.unwrap_or(0),
        created: created(meta),
        deleting: meta.deletion_timestamp.is_some(),
        labels: meta.labels.clone().unwrap_or_default(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    }
}

/// A `LoadBalancerConfig` as the domain reads it.
pub fn lbc_view(lbc: &LoadBalancerConfig) -> LoadBalancerConfigView {
    LoadBalancerConfigView {
        meta: meta_view(&lbc.metadata),
        spec: lbc.spec.0.clone(),
        status: lbc.status.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
    }
}

/// A `NodeSecurityGroup` as the domain reads it.
pub fn nsg_view(nsg: &NodeSecurityGroup) -> NodeSecurityGroupView {
    NodeSecurityGroupView {
        meta: meta_view(&nsg.metadata),
        spec: nsg.spec.0.clone(),
        status: nsg.status.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
    }
}

/// A node as the domain reads it.
pub fn node_view(node: &Node) -> NodeView {
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    NodeView {
        name: node.name_any(),
        labels: node.labels().clone(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| TaintView {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect(),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        deleting: node.metadata.deletion_timestamp.is_some(),
        internal_ip: status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address.clone()),
        provider_id: spec.and_then(|s| s.provider_id.clone()),
    }
}

/// A Service as the domain reads it.
pub fn service_view(svc: &Service) -> ServiceView {
    let spec = svc.spec.clone().unwrap_or_default();
    ServiceView {
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        name: svc.name_any(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        annotations: svc.annotations().clone(),
        service_type: spec.type_.unwrap_or_else(|| "ClusterIP".to_owned()),
        load_balancer_class: spec.load_balancer_class,
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(ServicePortView {
                    name: p.name.unwrap_or_default(),
                    protocol: match p.protocol.as_deref() {
                        Some("UDP") => PortProtocol::Udp,
                        Some("SCTP") => PortProtocol::Sctp,
                        _ => PortProtocol::Tcp,
                    },
                    port: u16::try_from(p.port).ok()?,
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
                })
            })
            .collect(),
        deleting: svc.metadata.deletion_timestamp.is_some(),
        generation: svc.metadata.generation.unwrap_or(0),
        finalizers: svc.finalizers().to_vec(),
    }
}

/// The endpoint addresses of a Service from its EndpointSlices: one entry per address
/// (merged across slices), sorted by address. An endpoint without a `ready` condition is
/// ready (the API's rule).
pub fn endpoints_of<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> Vec<EndpointView> {
    let mut by_address: BTreeMap<String, EndpointView> = BTreeMap::new();
    for slice in slices {
        let ports: BTreeMap<String, u16> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.name.clone().unwrap_or_default(),
                    u16::try_from(p.port?).ok()?,
                ))
            })
            .collect();
        for ep in slice.endpoints.iter().flatten() {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            for address in &ep.addresses {
                let entry = by_address
                    .entry(address.clone())
                    .or_insert_with(|| EndpointView {
                        address: address.clone(),
                        ready,
                        node_name: ep.node_name.clone(),
                        target_name: ep.target_ref.as_ref().and_then(|t| t.name.clone()),
                        ports: BTreeMap::new(),
                    });
                entry.ready |= ready;
                entry
                    .ports
                    .extend(ports.iter().map(|(k, v)| (k.clone(), *v)));
            }
        }
    }
    by_address.into_values().collect()
}

/// A Secret as the domain reads it.
pub fn secret_view(secret: &Secret) -> SecretView {
    SecretView {
        key: ObjectKey::new(
            secret.metadata.namespace.clone().unwrap_or_default(),
            secret.name_any(),
        ),
        resource_version: secret.metadata.resource_version.clone().unwrap_or_default(),
        data: secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
    }
}

#[async_trait]
impl ClusterReader for KubeReader {
    async fn list_nodes(&self) -> Result<Vec<NodeView>, ClusterError> {
        ready(&self.stores.nodes, "nodes")?;
        let mut nodes: Vec<NodeView> = self
            .stores
            .nodes
            .state()
            .iter()
            .map(|n| node_view(n))
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    async fn service_endpoints(
        &self,
        service: &ObjectKey,
    ) -> Result<Vec<EndpointView>, ClusterError> {
        ready(&self.stores.endpoint_slices, "endpointslices")?;
        let slices = self.stores.endpoint_slices.state_filter(|s| {
            s.metadata.namespace.as_deref() == Some(service.namespace.as_str())
                && s.labels().get(SERVICE_NAME_LABEL).map(String::as_str)
                    == Some(service.name.as_str())
        });
        Ok(endpoints_of(slices.iter().map(AsRef::as_ref)))
    }

    async fn get_secret(&self, key: &ObjectKey) -> Result<Option<SecretView>, ClusterError> {
        Ok(lookup(&self.stores.secrets, "secrets", key)?.map(|s| secret_view(&s)))
    }

    async fn get_lbc(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<LoadBalancerConfigView>, ClusterError> {
        Ok(lookup(&self.stores.lbcs, "loadbalancerconfigs", key)?.map(|l| lbc_view(&l)))
    }

    async fn list_lbcs(&self) -> Result<Vec<LoadBalancerConfigView>, ClusterError> {
        list_sorted(&self.stores.lbcs, "loadbalancerconfigs", lbc_view, |v| {
            &v.meta.key
        })
    }

    async fn get_nsg(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<NodeSecurityGroupView>, ClusterError> {
        Ok(lookup(&self.stores.nsgs, "nodesecuritygroups", key)?.map(|n| nsg_view(&n)))
    }

    async fn list_nsgs(&self) -> Result<Vec<NodeSecurityGroupView>, ClusterError> {
        list_sorted(&self.stores.nsgs, "nodesecuritygroups", nsg_view, |v| {
            &v.meta.key
        })
    }
}

/// Every object of `store` as a view, sorted by key (an error until the store is synced).
fn list_sorted<K, V>(
    store: &Store<K>,
    resource: &str,
    view: impl Fn(&K) -> V,
    key: impl Fn(&V) -> &ObjectKey,
) -> Result<Vec<V>, ClusterError>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    ready(store, resource)?;
    let mut all: Vec<V> = store.state().iter().map(|o| view(o)).collect();
    all.sort_by(|a, b| key(a).cmp(key(b)));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeSpec, NodeStatus, Taint};
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
    use kube::runtime::watcher::Event;

    use super::*;

    #[test]
    fn a_cached_service_keeps_what_its_view_reads_and_nothing_else() {
        let mut svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1",
                "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
                "annotations": {"vks.vngcloud.vn/tags": "a=b"}},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "vlb",
                "clusterIP": "10.96.0.3", "clusterIPs": ["10.96.0.3"],
                "selector": {"app": "web"}, "sessionAffinity": "None",
                "ports": [{"name": "http", "protocol": "UDP", "port": 80,
                    "targetPort": 8080, "nodePort": 31080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        }))
        .unwrap();
        let view = service_view(&svc);
        svc.trim();
        assert_eq!(service_view(&svc), view);
        let spec = svc.spec.as_ref().unwrap();
        assert!(spec.selector.is_none() && spec.cluster_ips.is_none());
        assert!(spec.cluster_ip.is_none() && spec.session_affinity.is_none());
        let port = &spec.ports.as_ref().unwrap()[0];
        assert!(port.target_port.is_none());
        assert!(svc.status.is_some());
        assert_eq!(svc.finalizers().len(), 1);
    }

    #[test]
    fn a_cached_node_keeps_only_its_ready_condition() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "annotations": {"a": "b"}},
            "spec": {"providerID": "vngcloud://ins-1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True"}],
                "images": [{"names": ["busybox"], "sizeBytes": 1}]}
        }))
        .unwrap();
        let view = node_view(&node);
        node.trim();
        assert_eq!(node_view(&node), view);
        let status = node.status.as_ref().unwrap();
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
        assert!(status.images.is_none());
        assert!(node.annotations().is_empty());
    }

    fn slice(name: &str, addrs: &[(&str, Option<bool>)], port: (&str, i32)) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: Some([(SERVICE_NAME_LABEL.to_owned(), "web".to_owned())].into()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: Some(
                addrs
                    .iter()
                    .map(|(a, ready)| Endpoint {
                        addresses: vec![(*a).to_owned()],
                        conditions: Some(EndpointConditions {
                            ready: *ready,
                            ..EndpointConditions::default()
                        }),
                        node_name: Some("n1".into()),
                        ..Endpoint::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![EndpointPort {
                name: Some(port.0.into()),
                port: Some(port.1),
                ..EndpointPort::default()
            }]),
        }
    }

    #[test]
    fn endpoints_merge_across_slices_and_default_to_ready() {
        let a = slice(
            "a",
            &[("10.0.0.2", None), ("10.0.0.1", Some(false))],
            ("http", 8080),
        );
        let b = slice("b", &[("10.0.0.2", Some(true))], ("metrics", 9090));
        let eps = endpoints_of([&a, &b]);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].address, "10.0.0.1");
        assert!(!eps[0].ready);
        assert!(eps[1].ready);
        assert_eq!(eps[1].ports.get("http"), Some(&8080));
        assert_eq!(eps[1].ports.get("metrics"), Some(&9090));
    }

    #[test]
    fn node_view_reads_readiness_address_taints_and_provider() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some("vngcloud://ins-1".into()),
                taints: Some(vec![Taint {
                    key: "ToBeDeletedByClusterAutoscaler".into(),
                    effect: "NoSchedule".into(),
                    ..Taint::default()
                }]),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress {
                        type_: "Hostname".into(),
                        address: "n1".into(),
                    },
                    NodeAddress {
                        type_: "InternalIP".into(),
                        address: "10.1.0.5".into(),
                    },
                ]),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..NodeCondition::default()
                }]),
                ..NodeStatus::default()
            }),
        };
        let v = node_view(&node);
        assert!(v.ready);
        assert_eq!(v.internal_ip.as_deref(), Some("10.1.0.5"));
        assert_eq!(v.server_id().as_deref(), Some("ins-1"));
        assert_eq!(v.taints[0].key, "ToBeDeletedByClusterAutoscaler");
    }

    #[tokio::test]
    async fn an_unsynced_cache_is_an_error_not_an_absent_object() {
        let (lbcs, mut lbc_writer) = reflector::store::<LoadBalancerConfig>();
        let (nodes, _nw) = reflector::store::<Node>();
        let (services, _sw) = reflector::store::<Service>();
        let (endpoint_slices, _ew) = reflector::store::<EndpointSlice>();
        let (secrets, _xw) = reflector::store::<Secret>();
        let (nsgs, _gw) = reflector::store::<NodeSecurityGroup>();
        let reader = KubeReader::new(Stores {
            nodes,
            services,
            endpoint_slices,
            secrets,
            lbcs,
            nsgs,
        });
        let key = ObjectKey::new("ns", "a");
        assert!(reader.get_lbc(&key).await.is_err());
        let mut lbc = LoadBalancerConfig::new("a", LoadBalancerConfig::default_spec());
        lbc.metadata.namespace = Some("ns".into());
        lbc_writer.apply_watcher_event(&Event::Init);
        lbc_writer.apply_watcher_event(&Event::InitApply(lbc));
        lbc_writer.apply_watcher_event(&Event::InitDone);
        assert_eq!(reader.get_lbc(&key).await.unwrap().unwrap().meta.key, key);
        assert!(
            reader
                .get_lbc(&ObjectKey::new("ns", "b"))
                .await
                .unwrap()
                .is_none()
        );
    }

    impl LoadBalancerConfig {
        fn default_spec() -> crate::crd::LoadBalancerConfigCrdSpec {
            crate::crd::LoadBalancerConfigCrdSpec::default()
        }
    }
}
