//! Cloud models: what the vLB and vServer APIs hold, as the domain sees it.
//!
//! Field names follow the VNGCloud API (see `shared/reference/vngcloud-api.md`); the
//! adapter maps the wire bodies onto these types. Types that also appear in the
//! LoadBalancerConfig spec (protocols, health monitor, member) derive `JsonSchema`.

use std::collections::BTreeMap;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a load balancer faces the internet, stays inside the VPC, or bridges VPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum LoadBalancerScheme {
    /// Private address inside the VPC.
    Internal,
    /// Public address (the default).
    #[default]
    Internet,
    /// Reachable from another VPC through a private subnet.
    InterVPC,
}

impl LoadBalancerScheme {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "Internal",
            Self::Internet => "Internet",
            Self::InterVPC => "InterVPC",
        }
    }
}

/// Layer 4 (network) or Layer 7 (application) load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum LoadBalancerType {
    /// Network load balancer.
    #[default]
    #[serde(rename = "Layer 4")]
    Layer4,
    /// Application load balancer.
    #[serde(rename = "Layer 7")]
    Layer7,
}

/// Protocol a listener accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ListenerProtocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// HTTP.
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS.
    #[serde(rename = "HTTPS")]
    Https,
}

impl ListenerProtocol {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }
}

/// Protocol a pool speaks to its members.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum PoolProtocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// HTTP.
    #[serde(rename = "HTTP")]
    Http,
    /// TCP with the PROXY protocol header.
    #[serde(rename = "PROXY")]
    Proxy,
}

impl PoolProtocol {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Http => "HTTP",
            Self::Proxy => "PROXY",
        }
    }
}

/// Load-balancing algorithm of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum PoolAlgorithm {
    /// Round robin (the default).
    #[default]
    #[serde(rename = "ROUND_ROBIN")]
    RoundRobin,
    /// Fewest open connections.
    #[serde(rename = "LEAST_CONNECTIONS")]
    LeastConnections,
    /// Hash of the source address.
    #[serde(rename = "SOURCE_IP")]
    SourceIp,
}

/// Protocol of a pool's health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum HealthCheckProtocol {
    /// TCP connect (the default).
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// HTTP request.
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS request.
    #[serde(rename = "HTTPS")]
    Https,
    /// ICMP ping, for UDP pools.
    #[serde(rename = "PING-UDP")]
    PingUdp,
}

impl HealthCheckProtocol {
    /// Whether the HTTP-only fields (path, method, codes, version, domain) apply.
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

/// HTTP method of an HTTP(S) health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HealthCheckMethod {
    /// GET.
    #[serde(rename = "GET")]
    Get,
    /// POST.
    #[serde(rename = "POST")]
    Post,
    /// PUT.
    #[serde(rename = "PUT")]
    Put,
}

/// HTTP version of an HTTP(S) health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HealthCheckHttpVersion {
    /// HTTP/1.0.
    #[serde(rename = "1.0")]
    Http10,
    /// HTTP/1.1.
    #[serde(rename = "1.1")]
    Http11,
}

/// Health monitor of a pool (`healthMonitor` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthMonitor {
    /// `healthCheckProtocol`.
    pub protocol: HealthCheckProtocol,
    /// Successes before a member counts as healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: Option<u32>,
    /// Failures before a member counts as unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: Option<u32>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 3600))]
    pub interval: Option<u32>,
    /// Seconds to wait for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 600))]
    pub timeout: Option<u32>,
    /// HTTP method (HTTP(S) checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_method: Option<HealthCheckMethod>,
    /// HTTP version (HTTP(S) checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<HealthCheckHttpVersion>,
    /// Request path (HTTP(S) checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    /// Host header (HTTP(S) checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// Accepted status codes, e.g. `200,201` or `200-299` (HTTP(S) checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_code: Option<String>,
}

/// One backend of a pool: used both in the LBC spec and as observed in the cloud.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PoolMember {
    /// `ipAddress` of the backend.
    pub ip: String,
    /// Traffic port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Health-check port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub monitor_port: Option<u16>,
    /// Optional name (the node or pod name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<u32>,
    /// Backup member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<bool>,
}

impl PoolMember {
    /// Identity of a member inside a pool: address and port.
    pub fn key(&self) -> (&str, u16) {
        (&self.ip, self.port)
    }
}

/// A header a Layer 7 listener inserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsertHeader {
    /// Header name.
    pub header_name: String,
    /// Header value.
    pub header_value: String,
}

/// A load balancer as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// `uuid`.
    pub id: String,
    /// Name.
    pub name: String,
    /// `packageId`.
    pub package_id: String,
    /// Scheme.
    pub scheme: LoadBalancerScheme,
    /// `type`.
    #[serde(rename = "type")]
    pub lb_type: LoadBalancerType,
    /// Subnet of the load balancer.
    pub subnet_id: String,
    /// `zoneId`.
    pub zone_id: String,
    /// Private subnet (InterVPC).
    pub private_subnet_id: Option<String>,
    /// Zone of the private subnet (InterVPC).
    pub private_zone_id: Option<String>,
    /// Autoscaling enabled.
    pub autoscale: bool,
    /// Tags (read separately through the tag API by the adapter when needed).
    pub tags: BTreeMap<String, String>,
    /// `displayStatus` (`ACTIVE`, `CREATING`, `UPDATING`, `DELETING`, `ERROR`, ...).
    pub display_status: String,
    /// `progressStatus` (`CREATED`, ...).
    pub progress_status: String,
    /// Address clients reach.
    pub address: Option<String>,
}

impl LoadBalancer {
    /// Ready: `ACTIVE` and `CREATED`.
    pub fn is_ready(&self) -> bool {
        self.display_status.eq_ignore_ascii_case("ACTIVE")
            && self.progress_status.eq_ignore_ascii_case("CREATED")
    }
    /// Busy: creating, updating or deleting.
    pub fn is_pending(&self) -> bool {
        ["CREATING", "UPDATING", "DELETING"].iter().any(|s| {
            self.display_status.eq_ignore_ascii_case(s)
                || self.progress_status.eq_ignore_ascii_case(s)
        })
    }
    /// Failed.
    pub fn is_error(&self) -> bool {
        self.display_status.eq_ignore_ascii_case("ERROR")
    }
}

/// A listener as observed (or as requested, with an empty id).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Listener id.
    pub id: String,
    /// `listenerName`.
    pub name: String,
    /// `listenerProtocol`.
    pub protocol: Option<ListenerProtocol>,
    /// `listenerProtocolPort`.
    pub port: u16,
    /// `allowedCidrs`, comma separated.
    pub allowed_cidrs: String,
    /// `timeoutClient` seconds.
    pub timeout_client: u32,
    /// `timeoutMember` seconds.
    pub timeout_member: u32,
    /// `timeoutConnection` seconds.
    pub timeout_connection: u32,
    /// `defaultPoolId`.
    pub default_pool_id: Option<String>,
    /// `certificateAuthorities` ids.
    pub certificate_authorities: Vec<String>,
    /// `defaultCertificateAuthority` id.
    pub default_certificate_authority: Option<String>,
    /// `clientCertificate` id.
    pub client_certificate: Option<String>,
    /// `insertHeaders`.
    pub insert_headers: Vec<InsertHeader>,
}

/// A pool as observed, with its health monitor and members.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// Pool id.
    pub id: String,
    /// `poolName`.
    pub name: String,
    /// `poolProtocol`.
    pub protocol: Option<PoolProtocol>,
    /// `algorithm`.
    pub algorithm: PoolAlgorithm,
    /// `stickiness`.
    pub stickiness: bool,
    /// `tlsEncryption`.
    pub tls_encryption: bool,
    /// `healthMonitor`.
    pub health_monitor: HealthMonitor,
    /// `members`.
    pub members: Vec<PoolMember>,
}

/// An imported certificate (`cas`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Certificate id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type (`TLS/SSL`, `CA`).
    pub certificate_type: String,
    /// Expiry as given by the API.
    pub expired_at: Option<String>,
}

/// A request to import a PEM certificate. Its `Debug` output hides the private key.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRequest {
    /// Name.
    pub name: String,
    /// Type (`TLS/SSL`, `CA`).
    pub certificate_type: String,
    /// PEM certificate chain.
    pub certificate: String,
    /// PEM private key (never logged).
    pub private_key: Option<String>,
}

impl std::fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRequest")
            .field("name", &self.name)
            .field("certificate_type", &self.certificate_type)
            .field(
                "certificate",
                &format_args!("<{} bytes>", self.certificate.len()),
            )
            .field(
                "private_key",
                &self
                    .private_key
                    .as_ref()
                    .map(|_| format_args!("<redacted>")),
            )
            .finish()
    }
}

/// Action of an L7 policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyAction {
    /// Send to a pool.
    #[serde(rename = "REDIRECT_TO_POOL")]
    RedirectToPool,
    /// Answer with a redirect.
    #[serde(rename = "REDIRECT_TO_URL")]
    RedirectToUrl,
    /// Refuse.
    #[serde(rename = "REJECT")]
    Reject,
}

/// How an L7 rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyCompareType {
    /// Substring (the Go controller's Ingress rules use it).
    #[serde(rename = "CONTAINS")]
    Contains,
    /// Exact match.
    #[serde(rename = "EQUAL_TO")]
    EqualTo,
    /// Regular expression.
    #[serde(rename = "REGEX")]
    Regex,
    /// Prefix.
    #[serde(rename = "STARTS_WITH")]
    StartsWith,
    /// Suffix.
    #[serde(rename = "ENDS_WITH")]
    EndsWith,
}

/// What an L7 rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyRuleType {
    /// Host header.
    #[serde(rename = "HOST_NAME")]
    HostName,
    /// Request path.
    #[serde(rename = "PATH")]
    Path,
}

/// One L7 rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct L7Rule {
    /// Comparison.
    pub compare_type: PolicyCompareType,
    /// Value compared against.
    pub rule_value: String,
    /// Subject of the rule.
    pub rule_type: PolicyRuleType,
}

/// An L7 policy as observed (or requested, with an empty id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L7Policy {
    /// Policy id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Action.
    pub action: PolicyAction,
    /// Target pool (REDIRECT_TO_POOL).
    pub redirect_pool_id: Option<String>,
    /// Target URL (REDIRECT_TO_URL).
    pub redirect_url: Option<String>,
    /// HTTP code of the redirect.
    pub redirect_http_code: Option<u16>,
    /// Keep the query string on redirect.
    pub keep_query_string: bool,
    /// Position (1 = first).
    pub position: u32,
    /// Rules, all must match.
    pub rules: Vec<L7Rule>,
}

/// Direction of a security group rule.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    /// Incoming traffic.
    #[default]
    Ingress,
    /// Outgoing traffic.
    Egress,
}

/// Ether type of a security group rule.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum EtherType {
    /// IPv4.
    #[default]
    IPv4,
    /// IPv6.
    IPv6,
}

/// Protocol of a security group rule, written as the Go SDK's constants
/// (`networkv2.SecgroupRuleProtocol*`: `tcp`, `udp`, `icmp`, `any`, `4`), which is what the Go
/// controller writes in its NSGs; the upper-case spellings earlier vlb versions wrote are read
/// too (the CRD schema accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RuleProtocol {
    /// TCP.
    #[serde(rename = "tcp", alias = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp", alias = "UDP")]
    Udp,
    /// ICMP.
    #[serde(rename = "icmp", alias = "ICMP")]
    Icmp,
    /// Any protocol.
    #[serde(rename = "any", alias = "ANY")]
    Any,
    /// IP in IP (protocol number 4, the SDK's `SecgroupRuleProtocolIpInIp`).
    #[serde(rename = "4")]
    IpInIp,
}

impl RuleProtocol {
    /// Every spelling the CRD accepts: the Go SDK's, then vlb's earlier upper-case ones.
    pub const SPELLINGS: [&'static str; 9] = [
        "tcp", "udp", "icmp", "any", "4", "TCP", "UDP", "ICMP", "ANY",
    ];
}

impl JsonSchema for RuleProtocol {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleProtocol".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Protocol: tcp, udp, icmp, any or 4 (IP in IP); TCP, UDP, ICMP, ANY are read too.",
            "type": "string",
            "enum": Self::SPELLINGS,
        })
    }
}

/// A security group rule (observed: `id` set; desired: `id` empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// Rule id.
    pub id: String,
    /// Direction.
    pub direction: RuleDirection,
    /// Ether type.
    pub ether_type: EtherType,
    /// Protocol.
    pub protocol: RuleProtocol,
    /// `portRangeMin`.
    pub port_range_min: u16,
    /// `portRangeMax`.
    pub port_range_max: u16,
    /// `remoteIpPrefix` (CIDR).
    pub remote_ip_prefix: String,
    /// Description.
    pub description: String,
}

impl SecurityGroupRule {
    /// Identity of a rule regardless of id and description.
    pub fn same_rule(&self, other: &Self) -> bool {
        self.direction == other.direction
            && self.ether_type == other.ether_type
            && self.protocol == other.protocol
            && self.port_range_min == other.port_range_min
            && self.port_range_max == other.port_range_max
            && self.remote_ip_prefix == other.remote_ip_prefix
    }
}

/// A security group with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// Group id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Rules.
    pub rules: Vec<SecurityGroupRule>,
}

/// One network interface of a server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInterface {
    /// Network (VPC) id.
    pub network_id: String,
    /// Subnet id.
    pub subnet_id: String,
    /// Fixed IP.
    pub fixed_ip: String,
    /// Internal (VPC) interface rather than an external one.
    pub internal: bool,
}

/// A vServer instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Server id (`ins-<uuid>`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Zone.
    pub zone_id: Option<String>,
    /// Interfaces.
    pub interfaces: Vec<ServerInterface>,
    /// Ids of attached security groups.
    pub security_groups: Vec<String>,
}

impl Server {
    /// The first internal interface.
    pub fn internal_interface(&self) -> Option<&ServerInterface> {
        self.interfaces.iter().find(|i| i.internal)
    }
}

/// A subnet with its CIDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// Subnet id.
    pub id: String,
    /// Network (VPC) id.
    pub network_id: String,
    /// CIDR.
    pub cidr: IpNet,
    /// Zone.
    pub zone_id: Option<String>,
}
