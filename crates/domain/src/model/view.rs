//! Small input views the Kubernetes adapter fills from its caches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lbc::{LoadBalancerConfigSpec, LoadBalancerConfigStatus};
use super::nsg::{NodeSecurityGroupSpec, NodeSecurityGroupStatus};

/// Namespace and name of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Kind of an object the domain refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// core/v1 Service.
    Service,
    /// vks.vngcloud.vn/v1alpha1 LoadBalancerConfig.
    LoadBalancerConfig,
    /// vks.vngcloud.vn/v1alpha1 NodeSecurityGroup.
    NodeSecurityGroup,
}

/// A reference to an object, for events and finalizers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind.
    pub kind: ObjectKind,
    /// Namespace and name.
    pub key: ObjectKey,
    /// UID, when known.
    pub uid: Option<String>,
}

/// Transport protocol of a Service port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum PortProtocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP (not supported by vLB).
    #[serde(rename = "SCTP")]
    Sctp,
}

/// A Service port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServicePortView {
    /// Port name (may be empty).
    pub name: String,
    /// Protocol.
    pub protocol: PortProtocol,
    /// Service port.
    pub port: u16,
    /// Node port (0 when not allocated).
    pub node_port: u16,
}

/// A Service as the domain needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `spec.type` (`LoadBalancer`, `ClusterIP`, ...).
    pub service_type: String,
    /// `spec.loadBalancerClass`.
    pub load_balancer_class: Option<String>,
    /// Ports.
    pub ports: Vec<ServicePortView>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.generation`.
    pub generation: i64,
    /// Finalizers present.
    pub finalizers: Vec<String>,
}

impl ServiceView {
    /// Namespace and name.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(&self.namespace, &self.name)
    }
    /// Reference for events and finalizers.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: ObjectKind::Service,
            key: self.key(),
            uid: Some(self.uid.clone()),
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaintView {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Effect.
    pub effect: String,
}

/// A node as the domain needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<TaintView>,
    /// `Ready` condition is True.
    pub ready: bool,
    /// Being deleted.
    pub deleting: bool,
    /// `InternalIP` address.
    pub internal_ip: Option<String>,
    /// `spec.providerID` (`vngcloud://ins-<uuid>`).
    pub provider_id: Option<String>,
}

impl NodeView {
    /// Server id from the provider id (`vngcloud://ins-...` → `ins-...`).
    pub fn server_id(&self) -> Option<String> {
        let raw = self.provider_id.as_deref()?;
        let id = raw
            .strip_prefix("vngcloud://")
            .unwrap_or(raw)
            .trim_start_matches('/');
        (!id.is_empty()).then(|| id.to_owned())
    }
}

/// One endpoint address of a Service (from its EndpointSlices).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointView {
    /// Pod IP.
    pub address: String,
    /// Ready.
    pub ready: bool,
    /// Node hosting the pod.
    pub node_name: Option<String>,
    /// Pod name.
    pub target_name: Option<String>,
    /// Target port per Service port name (`""` for an unnamed port).
    pub ports: BTreeMap<String, u16>,
}

/// A Secret's data, as the domain needs it (certificates).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretView {
    /// Namespace and name.
    pub key: ObjectKey,
    /// Resource version.
    pub resource_version: String,
    /// Data (decoded).
    pub data: BTreeMap<String, Vec<u8>>,
}

/// Metadata the domain reads from a custom object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ObjectMetaView {
    /// Namespace and name.
    pub key: ObjectKey,
    /// UID.
    pub uid: String,
    /// Generation.
    pub generation: i64,
    /// Creation time.
    pub created: Option<jiff::Timestamp>,
    /// Being deleted.
    pub deleting: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Finalizers.
    pub finalizers: Vec<String>,
}

/// A `LoadBalancerConfig` read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancerConfigView {
    /// Metadata.
    pub meta: ObjectMetaView,
    /// Spec.
    pub spec: LoadBalancerConfigSpec,
    /// Status.
    pub status: LoadBalancerConfigStatus,
}

/// A `NodeSecurityGroup` read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSecurityGroupView {
    /// Metadata.
    pub meta: ObjectMetaView,
    /// Spec.
    pub spec: NodeSecurityGroupSpec,
    /// Status.
    pub status: NodeSecurityGroupStatus,
}

/// One `status.loadBalancer.ingress` entry of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IngressView {
    /// IP address.
    pub ip: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// `ipMode` of `ip` (`Proxy`: kube-proxy sends traffic to the load balancer instead of
    /// short-circuiting it to the Service's endpoints on the nodes).
    pub ip_mode: Option<String>,
}

/// How a Service's address is written on its `status.loadBalancer.ingress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ServiceAddress {
    /// As the Go controller writes it (`k8s_repo.go` `UpdateServiceStatusAddress`): the
    /// hostname `<ip>.nip.io` (an address that is not an IP as it is). kube-proxy does not
    /// short-circuit a hostname, so in-cluster clients reach the load balancer too (its
    /// proxy protocol, its source ranges); they resolve it through the public nip.io DNS.
    /// The default: taking over from the Go controller changes no Service address.
    #[default]
    NipIo,
    /// The IP with `ipMode: Proxy` (Kubernetes 1.30 and later): the same effect without a
    /// DNS name; older clusters drop `ipMode` and short-circuit the IP.
    IpProxy,
    /// The bare IP (vlb before 0.2): kube-proxy short-circuits in-cluster traffic to it.
    Ip,
}

impl ServiceAddress {
    /// The ingress entry for `address` (an IP, or a hostname the cloud gave).
    pub fn ingress(self, address: &str) -> IngressView {
        let is_ip = address.parse::<std::net::IpAddr>().is_ok();
        match self {
            Self::NipIo if is_ip => IngressView {
                hostname: Some(format!("{address}.nip.io")),
                ..IngressView::default()
            },
            Self::IpProxy if is_ip => IngressView {
                ip: Some(address.to_owned()),
                ip_mode: Some("Proxy".to_owned()),
                ..IngressView::default()
            },
            Self::Ip if is_ip => IngressView {
                ip: Some(address.to_owned()),
                ..IngressView::default()
            },
            _ => IngressView {
                hostname: Some(address.to_owned()),
                ..IngressView::default()
            },
        }
    }

    /// The load balancer address an ingress entry written in any of these forms names.
    pub fn address_of(ingress: &IngressView) -> Option<&str> {
        ingress.ip.as_deref().or_else(|| {
            ingress
                .hostname
                .as_deref()
                .map(|h| h.strip_suffix(".nip.io").unwrap_or(h))
        })
    }
}

/// The part of a Service's status the domain writes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceStatusView {
    /// `status.loadBalancer.ingress`.
    pub ingress: Vec<IngressView>,
}
