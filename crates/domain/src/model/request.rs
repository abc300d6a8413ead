//! Request bodies the domain hands to the cloud ports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cloud::{
    HealthMonitor, InsertHeader, ListenerProtocol, LoadBalancerScheme, LoadBalancerType,
    PoolAlgorithm, PoolMember, PoolProtocol,
};

/// Create or update a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRequest {
    /// `listenerName`.
    pub name: String,
    /// `listenerProtocol`.
    pub protocol: ListenerProtocol,
    /// `listenerProtocolPort`.
    pub port: u16,
    /// `allowedCidrs`.
    pub allowed_cidrs: String,
    /// `timeoutClient`.
    pub timeout_client: u32,
    /// `timeoutMember`.
    pub timeout_member: u32,
    /// `timeoutConnection`.
    pub timeout_connection: u32,
    /// `defaultPoolId` (None inside a create-load-balancer request: the inline pool).
    pub default_pool_id: Option<String>,
    /// `insertHeaders`.
    pub insert_headers: Vec<InsertHeader>,
    /// `defaultCertificateAuthority`.
    pub default_certificate_authority: Option<String>,
    /// `certificateAuthorities`.
    pub certificate_authorities: Vec<String>,
    /// `clientCertificate`.
    pub client_certificate: Option<String>,
}

/// Create or update a pool (the update carries the health monitor; members go separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRequest {
    /// `poolName`.
    pub name: String,
    /// `poolProtocol`.
    pub protocol: PoolProtocol,
    /// `algorithm`.
    pub algorithm: PoolAlgorithm,
    /// `stickiness`.
    pub stickiness: bool,
    /// `tlsEncryption`.
    pub tls_encryption: bool,
    /// `healthMonitor`.
    pub health_monitor: HealthMonitor,
    /// `members` (used on create only).
    pub members: Vec<PoolMember>,
}

/// Create a load balancer, optionally with its first listener and pool inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLoadBalancerRequest {
    /// Name.
    pub name: String,
    /// `packageId` (None: the adapter picks the zone's default small package).
    pub package_id: Option<String>,
    /// Scheme.
    pub scheme: LoadBalancerScheme,
    /// `type`.
    pub lb_type: LoadBalancerType,
    /// Subnet.
    pub subnet_id: String,
    /// Zone.
    pub zone_id: String,
    /// Private subnet (InterVPC).
    pub private_subnet_id: Option<String>,
    /// Zone of the private subnet (InterVPC).
    pub private_zone_id: Option<String>,
    /// Autoscaling.
    pub autoscale: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// First listener.
    pub listener: Option<ListenerRequest>,
    /// First pool (the listener's default pool).
    pub pool: Option<PoolRequest>,
}
