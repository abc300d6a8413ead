//! `LoadBalancerConfig` (`vks.vngcloud.vn/v1alpha1`, short name `lbc`): spec and status.
//!
//! Field names match the Go controller's `api/v1alpha1/loadbalancerconfig_types.go`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cloud::{
    HealthMonitor, InsertHeader, L7Rule, ListenerProtocol, LoadBalancerScheme, LoadBalancerType,
    PolicyAction, PoolAlgorithm, PoolMember, PoolProtocol,
};
use super::condition::Condition;

/// A certificate a listener uses: by id, name or Kubernetes secret (at least one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerCertificate {
    /// Certificate id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Certificate name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Secret holding the PEM certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// An L7 policy of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Pool to send to (REDIRECT_TO_POOL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_pool_name: Option<String>,
    /// Action.
    pub action: PolicyAction,
    /// URL to redirect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// HTTP code of the redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 300, max = 399))]
    pub redirect_http_code: Option<u16>,
    /// Keep the query string on redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_query_string: Option<bool>,
    /// Position (1 = first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub position: Option<u32>,
    /// Rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub l7_rules: Vec<L7Rule>,
}

/// Desired pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    /// Name (unique within the load balancer).
    pub name: String,
    /// Protocol.
    pub protocol: PoolProtocol,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<PoolAlgorithm>,
    /// Sticky sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<bool>,
    /// TLS towards members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_encryption: Option<bool>,
    /// Health monitor.
    #[serde(default)]
    pub health_monitor: HealthMonitor,
    /// Members given one by one (pod addresses for target type `ip`, or written by hand).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<PoolMember>,
    /// Members given as every selected node at one port, resolved from the cluster's Nodes
    /// each time the LBC is reconciled (so the LBC does not grow, nor change, with the
    /// nodes). The pool's members are `members` plus these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_members: Option<NodeMembers>,
}

impl PoolSpec {
    /// Port of its node members, when it has any.
    pub fn node_port(&self) -> Option<u16> {
        self.node_members.as_ref().map(|n| n.port)
    }
}

/// Pool members on every selected node: the node's InternalIP at `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeMembers {
    /// Port on every node (the Service's NodePort).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Health-check port (default: `port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub monitor_port: Option<u16>,
    /// Only nodes with all these labels (empty: every node that may carry load-balancer
    /// traffic: Ready, not excluded, not being removed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub select_node_labels: BTreeMap<String, String>,
}

/// Desired listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Protocol.
    pub protocol: ListenerProtocol,
    /// Port.
    #[schemars(range(min = 1, max = 65535))]
    pub protocol_port: u16,
    /// Name of the default pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pool_name: Option<String>,
    /// Client idle timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_client: Option<u32>,
    /// Member idle timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_member: Option<u32>,
    /// Connect timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_connection: Option<u32>,
    /// Allowed CIDRs, comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cidrs: Option<String>,
    /// Headers to insert (Layer 7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insert_headers: Vec<InsertHeader>,
    /// L7 policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicySpec>,
    /// Default certificate (HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_default: Option<ListenerCertificate>,
    /// Certificate authorities (mutual TLS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_authorities: Vec<ListenerCertificate>,
    /// Client certificate id (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_id: Option<String>,
}

/// A certificate to import from a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCertificate {
    /// Secret holding `tls.crt` / `tls.key`.
    pub secret_name: String,
}

/// Desired state of a `LoadBalancerConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerConfigSpec {
    /// Layer 4 or Layer 7.
    #[serde(rename = "type")]
    pub lb_type: LoadBalancerType,
    /// Cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Load balancer name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub load_balancer_name: String,
    /// Subnet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet_id: String,
    /// VPC.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vpc_id: String,
    /// Deprecated alias of `privateSubnetId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_subnet_id: Option<String>,
    /// Private subnet (InterVPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_subnet_id: Option<String>,
    /// Zone of the private subnet (InterVPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_zone_id: Option<String>,
    /// Zone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub zone_id: String,
    /// Package (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_id: Option<String>,
    /// Scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<LoadBalancerScheme>,
    /// An existing load balancer to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_id: Option<String>,
    /// Autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_autoscale: Option<bool>,
    /// Tags to write on the load balancer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Proof-of-concept deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_poc: Option<bool>,
    /// Listeners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerSpec>,
    /// Pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSpec>,
    /// Certificates to import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_certificates: Vec<CreateCertificate>,
}

/// A pool this LBC created (or adopted, with `adopted: true`), with the members it created.
///
/// In a pool this LBC created, the members on `nodePort` are its node members and are not
/// listed one by one (the record stays the same size however many nodes there are); in an
/// adopted pool every member this LBC added is listed, so members of others on the same
/// port are never taken.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedPool {
    /// Pool id.
    pub id: String,
    /// Pool name.
    #[serde(default)]
    pub name: String,
    /// Members this LBC put in the pool (besides its node members on `nodePort`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_members: Vec<PoolMember>,
    /// Port of the node members this LBC put in the pool it created: every member on it is
    /// this LBC's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
    /// The pool existed before: never deleted by this cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// An L7 policy this LBC created.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedPolicy {
    /// Policy id.
    pub id: String,
}

/// A listener this LBC created (or adopted, with `adopted: true`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedListener {
    /// Listener id.
    pub id: String,
    /// Port.
    #[serde(default)]
    pub port: u16,
    /// Policies this LBC created on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_policies: Vec<CreatedPolicy>,
    /// The listener existed before: never deleted; its default pool is restored on teardown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Default pool of an adopted listener before this LBC changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_default_pool_id: Option<String>,
}

/// A certificate this LBC imported.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCertificate {
    /// Secret it came from.
    #[serde(default)]
    pub secret_name: String,
    /// Secret resource version at import.
    #[serde(default)]
    pub resource_version: String,
    /// Certificate id.
    pub id: String,
    /// Certificate name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
}

/// What a migration leaves behind until the new load balancer is fully deployed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetiringLoadBalancer {
    /// The load balancer being left.
    pub id: String,
    /// Listeners created on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_listeners: Vec<CreatedListener>,
    /// Pools created on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_pools: Vec<CreatedPool>,
    /// Tags written on it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub created_tags: BTreeMap<String, String>,
}

/// Observed state of a `LoadBalancerConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerConfigStatus {
    /// Generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Time of the last reconcile attempt (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub last_reconcile_time: Option<jiff::Timestamp>,
    /// Message of the last reconcile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reconcile_message: String,
    /// Address of the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Id of the load balancer in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_id: Option<String>,
    /// Load balancer adopted (never this cluster's to delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted_load_balancer_id: Option<String>,
    /// Load balancer being migrated away from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_load_balancer: Option<RetiringLoadBalancer>,
    /// Load balancer this LBC created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_load_balancer_id: Option<String>,
    /// Observed name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,
    /// Observed type.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub lb_type: Option<LoadBalancerType>,
    /// Observed subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Observed zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    /// Tags this LBC wrote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub created_tags: BTreeMap<String, String>,
    /// Pools this LBC created or adopted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_pools: Vec<CreatedPool>,
    /// Listeners this LBC created or adopted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_listeners: Vec<CreatedListener>,
    /// Certificates this LBC imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_certificates: Vec<CreatedCertificate>,
    /// Conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
