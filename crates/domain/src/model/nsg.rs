//! `NodeSecurityGroup` (`vks.vngcloud.vn/v1alpha1`, short name `nsg`): spec and status.
//!
//! Field names match the Go controller's `api/v1alpha1/nodesecuritygroup_types.go`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cloud::{EtherType, RuleDirection, RuleProtocol};
use super::condition::Condition;

/// A rule of the managed security group.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct NodeSecurityGroupRule {
    /// Protocol.
    pub protocol: RuleProtocol,
    /// First port.
    #[schemars(range(min = 0, max = 65535))]
    pub from_port: u16,
    /// Last port.
    #[schemars(range(min = 0, max = 65535))]
    pub to_port: u16,
    /// Source (ingress) or destination (egress) CIDR.
    pub cidr: String,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Direction.
    #[serde(default)]
    pub direction: RuleDirection,
    /// Ether type.
    #[serde(default)]
    pub ether_type: EtherType,
}

/// The security group the controller creates and owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedSecurityGroup {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Rules, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<NodeSecurityGroupRule>,
}

/// Desired state of a `NodeSecurityGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSecurityGroupSpec {
    /// Nodes with all these labels are selected (empty: all eligible nodes). The Go
    /// controller writes it always, `null` when empty (no `omitempty`): read as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub select_node_labels: BTreeMap<String, String>,
    /// Existing groups to attach to the selected nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attach_security_groups: Vec<String>,
    /// The managed group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_security_group: Option<ManagedSecurityGroup>,
}

/// A selected node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Server id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_id: String,
}

/// Attachment state of one server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerSecurityGroupStatus {
    /// Server id.
    pub server_id: String,
    /// Groups attached by this NSG other than its managed group (entries written by older
    /// versions may list the managed group too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_security_group_ids: Vec<String>,
    /// Error of the last attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// State of the managed group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedSecurityGroupStatus {
    /// Group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Error of the last ensure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Observed state of a `NodeSecurityGroup`.
///
/// Its size does not grow with the number of nodes in the normal case: whether a server
/// carries the managed group is read from the cloud (the group is this NSG's alone), so only
/// failed attachments and the extra groups this NSG attached need a per-server record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSecurityGroupStatus {
    /// No longer written (the count is in selectedNodeCount); read for compatibility.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected_nodes: Vec<NodeInfo>,
    /// Number of nodes selected at the last reconcile.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub selected_node_count: u32,
    /// Managed group.
    #[serde(default)]
    pub managed_security_group: ManagedSecurityGroupStatus,
    /// Servers with an attachment error, and servers where this NSG attached groups other
    /// than its managed group (only those groups are listed). Entries written by older
    /// versions, which list every selected server and may include the managed group, are
    /// still honoured: their groups are detached once the server is no longer selected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_security_groups: Vec<ServerSecurityGroupStatus>,
    /// Generation last reconciled.
    #[serde(default)]
    pub observed_generation: i64,
    /// Time of the last reconcile attempt (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub last_reconcile_time: Option<jiff::Timestamp>,
    /// Message of the last reconcile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reconcile_message: String,
    /// Conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `null` read as the empty map (Go writes a nil map without `omitempty` as `null`).
fn null_as_empty<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<BTreeMap<String, String>>::deserialize(d).map(Option::unwrap_or_default)
}

// Serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}
