//! The emulated objects as the emulator stores them. `Control` hands out clones of these; the
//! HTTP handlers render them into the exact JSON shapes of the VNGCloud API.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Life-cycle phase of a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LbPhase {
    /// Being created; refuses changes.
    Creating,
    /// Ready: `displayStatus` ACTIVE, `progressStatus` CREATED.
    Active,
    /// A change is being applied; refuses further changes.
    Updating,
    /// Being deleted; disappears when done.
    Deleting,
    /// Failed (only by injection).
    Error,
}

impl LbPhase {
    /// `(displayStatus, progressStatus)` as the API reports them.
    pub fn statuses(self) -> (&'static str, &'static str) {
        match self {
            Self::Creating => ("CREATING", "CREATING"),
            Self::Active => ("ACTIVE", "CREATED"),
            Self::Updating => ("UPDATING", "UPDATING"),
            Self::Deleting => ("DELETING", "DELETING"),
            Self::Error => ("ERROR", "ERROR"),
        }
    }
}

/// A tag on a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// System tags cannot be changed by users.
    pub system_tag: bool,
}

/// A header the listener inserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsertHeader {
    /// Header name.
    pub header_name: String,
    /// Header value.
    pub header_value: String,
}

/// An L7 rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Id.
    pub id: String,
    /// `CONTAINS`, `EQUAL_TO`, `REGEX`, `STARTS_WITH`, `ENDS_WITH`.
    pub compare_type: String,
    /// `HOST_NAME` or `PATH`.
    pub rule_type: String,
    /// Value compared.
    pub rule_value: String,
}

/// An L7 policy of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Id (`policy-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `REJECT`, `REDIRECT_TO_URL`, `REDIRECT_TO_POOL`.
    pub action: String,
    /// Target pool of `REDIRECT_TO_POOL`.
    pub redirect_pool_id: String,
    /// Target URL of `REDIRECT_TO_URL`.
    pub redirect_url: String,
    /// HTTP code of `REDIRECT_TO_URL`.
    pub redirect_http_code: i64,
    /// Keep the query string on redirect.
    pub keep_query_string: bool,
    /// 1-based position.
    pub position: i64,
    /// Rules.
    pub rules: Vec<PolicyRule>,
    /// Creation time.
    pub created_at: String,
    /// Last change time.
    pub updated_at: String,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Id (`lis-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `TCP`, `UDP`, `HTTP`, `HTTPS`.
    pub protocol: String,
    /// Port, 1–65535.
    pub port: i64,
    /// Comma-separated CIDRs.
    pub allowed_cidrs: String,
    /// Client timeout (s).
    pub timeout_client: i64,
    /// Member timeout (s).
    pub timeout_member: i64,
    /// Connection timeout (s).
    pub timeout_connection: i64,
    /// Default pool.
    pub default_pool_id: Option<String>,
    /// Certificate ids (HTTPS).
    pub certificate_authorities: Vec<String>,
    /// Default certificate id (HTTPS).
    pub default_certificate_authority: Option<String>,
    /// Client certificate id (HTTPS).
    pub client_certificate: Option<String>,
    /// Inserted headers.
    pub insert_headers: Vec<InsertHeader>,
    /// L7 policies, by position.
    pub policies: Vec<Policy>,
    /// Creation time.
    pub created_at: String,
    /// Last change time.
    pub updated_at: String,
}

/// A health monitor of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthMonitor {
    /// Id (`hm-...`).
    pub id: String,
    /// `TCP`, `HTTP`, `HTTPS`, `PING-UDP`.
    pub protocol: String,
    /// Healthy threshold.
    pub healthy_threshold: i64,
    /// Unhealthy threshold.
    pub unhealthy_threshold: i64,
    /// Interval (s).
    pub interval: i64,
    /// Timeout (s).
    pub timeout: i64,
    /// HTTP method.
    pub method: Option<String>,
    /// HTTP version.
    pub http_version: Option<String>,
    /// HTTP path.
    pub path: Option<String>,
    /// Host header.
    pub domain_name: Option<String>,
    /// Expected codes.
    pub success_code: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change time.
    pub updated_at: String,
}

/// A pool member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Id (`mem-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// IPv4 address.
    pub address: String,
    /// Traffic port.
    pub port: i64,
    /// Health-check port.
    pub monitor_port: i64,
    /// Weight.
    pub weight: i64,
    /// Backup member.
    pub backup: bool,
    /// Subnet of the address.
    pub subnet_id: String,
    /// Creation time.
    pub created_at: String,
}

/// A pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// Id (`pool-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `TCP`, `UDP`, `HTTP`, `PROXY`.
    pub protocol: String,
    /// `ROUND_ROBIN`, `LEAST_CONNECTIONS`, `SOURCE_IP`.
    pub algorithm: String,
    /// Sticky sessions (L7).
    pub stickiness: bool,
    /// TLS to members (L7).
    pub tls_encryption: bool,
    /// Health monitor.
    pub health_monitor: HealthMonitor,
    /// Members.
    pub members: Vec<Member>,
    /// Creation time.
    pub created_at: String,
    /// Last change time.
    pub updated_at: String,
}

/// The object an update of a load balancer is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusyObject {
    /// A listener (by id): a change of it meanwhile answers `Listener id … is not ready`.
    Listener(String),
    /// A pool (by id): a change of it meanwhile answers `Pool id … is updating`.
    Pool(String),
}

/// A load balancer with its listeners and pools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Id (`lb-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Package id.
    pub package_id: String,
    /// `Internal` or `Internet`.
    pub scheme: String,
    /// `Layer 4` or `Layer 7`.
    pub lb_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// Zone.
    pub zone_id: String,
    /// Virtual IP address.
    pub address: String,
    /// Auto scalable.
    pub auto_scalable: bool,
    /// Creation time.
    pub created_at: String,
    /// Last change time.
    pub updated_at: String,
    /// Life-cycle phase.
    pub phase: LbPhase,
    /// When the current transient phase ends (not serialised).
    #[serde(skip)]
    pub phase_until: Option<Instant>,
    /// When the current transient phase ends, go to `ERROR` instead of `ACTIVE`.
    #[serde(default)]
    pub fail_when_done: bool,
    /// The listener or pool the current update changes (its own busy text answers a change
    /// of it meanwhile); not serialised.
    #[serde(skip)]
    pub updating_object: Option<BusyObject>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Pools.
    pub pools: Vec<Pool>,
}

/// An imported certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Id (`secret-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `TLS/SSL` or `CA`.
    pub cert_type: String,
    /// PEM body.
    pub certificate: String,
    /// Import time.
    pub imported_at: String,
}

/// A security group rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// Id (`sgr-...`).
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ether_type: String,
    /// `TCP`, `UDP`, `ICMP`, `ANY`.
    pub protocol: String,
    /// First port.
    pub port_range_min: i64,
    /// Last port.
    pub port_range_max: i64,
    /// Remote CIDR.
    pub remote_ip_prefix: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// Id (`secg-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// System group.
    pub is_system: bool,
    /// Rules.
    pub rules: Vec<SecurityGroupRule>,
}

/// An internal interface of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Port id.
    pub id: String,
    /// Network.
    pub network_id: String,
    /// Subnet.
    pub subnet_id: String,
    /// Fixed IPv4.
    pub fixed_ip: String,
    /// MAC address.
    pub mac: String,
}

/// A server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Id (`ins-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Zone.
    pub zone_id: String,
    /// Internal interfaces.
    pub interfaces: Vec<Interface>,
    /// Attached security group ids.
    pub security_groups: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// While set and in the future, the server is `CHANGING-SECURITY-GROUP` (not serialised).
    #[serde(skip)]
    pub busy_until: Option<Instant>,
}

pub(crate) fn render_lb(
    lb: &LoadBalancer,
    package: Option<&crate::FixturePackage>,
    cidr: &str,
) -> Value {
    let (display, progress) = lb.phase.statuses();
    let schema = lb.scheme.clone();
    json!({
        "uuid": lb.id,
        "name": lb.name,
        "displayStatus": display,
        "address": lb.address,
        "privateSubnetId": lb.subnet_id,
        "privateSubnetCidr": cidr,
        "type": lb.lb_type,
        "displayType": if lb.lb_type == "Layer 7" { "Application Load Balancer" } else { "Network Load Balancer" },
        "loadBalancerSchema": schema,
        "packageId": lb.package_id,
        "description": "",
        "location": "",
        "createdAt": lb.created_at,
        "updatedAt": lb.updated_at,
        "backendSubnetId": lb.subnet_id,
        "packageInfo": {
            "packageId": lb.package_id,
            "connectionNumber": package.map_or(0, |p| p.connection_number),
            "dataTransfer": package.map_or(0, |p| p.data_transfer),
            "name": package.map_or("", |p| p.name.as_str()),
        },
        "progressStatus": progress,
        "autoScalable": lb.auto_scalable,
        "zone": {"uuid": lb.zone_id},
        "minSize": 1,
        "maxSize": 1,
        "totalNodes": 1,
        "nodes": [{"status": display, "zoneId": lb.zone_id, "zoneName": lb.zone_id, "subnetId": lb.subnet_id}],
    })
}

pub(crate) fn render_listener(lb: &LoadBalancer, l: &Listener) -> Value {
    let (display, progress) = lb.phase.statuses();
    let pool_name = l
        .default_pool_id
        .as_ref()
        .and_then(|id| lb.pools.iter().find(|p| &p.id == id))
        .map_or(String::new(), |p| p.name.clone());
    json!({
        "uuid": l.id,
        "name": l.name,
        "description": "",
        "protocol": l.protocol,
        "protocolPort": l.port,
        "connectionLimit": 50000,
        "defaultPoolId": l.default_pool_id.clone().unwrap_or_default(),
        "defaultPoolName": pool_name,
        "timeoutClient": l.timeout_client,
        "timeoutMember": l.timeout_member,
        "timeoutConnection": l.timeout_connection,
        "allowedCidrs": l.allowed_cidrs,
        "certificateAuthorities": l.certificate_authorities,
        "displayStatus": display,
        "createdAt": l.created_at,
        "updatedAt": l.updated_at,
        "defaultCertificateAuthority": l.default_certificate_authority,
        "clientCertificateAuthentication": l.client_certificate,
        "progressStatus": progress,
        "insertHeaders": l.insert_headers,
    })
}

pub(crate) fn render_member(lb: &LoadBalancer, pool: &Pool, m: &Member) -> Value {
    let (display, progress) = lb.phase.statuses();
    json!({
        "address": m.address,
        "backup": m.backup,
        "createdAt": m.created_at,
        "displayStatus": if display == "ACTIVE" { "ONLINE" } else { display },
        "monitorPort": m.monitor_port,
        "name": m.name,
        "poolId": pool.id,
        "progressStatus": progress,
        "protocolPort": m.port,
        "subnetId": m.subnet_id,
        "typeCreate": "MANUAL",
        "updateAt": m.created_at,
        "uuid": m.id,
        "weight": m.weight,
    })
}

pub(crate) fn render_pool(lb: &LoadBalancer, p: &Pool) -> Value {
    let (display, progress) = lb.phase.statuses();
    json!({
        "uuid": p.id,
        "name": p.name,
        "protocol": p.protocol,
        "description": "",
        "loadBalanceMethod": p.algorithm,
        "displayStatus": display,
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
        "stickiness": p.stickiness,
        "tlsEncryption": p.tls_encryption,
        "progressStatus": progress,
        "members": p.members.iter().map(|m| render_member(lb, p, m)).collect::<Vec<_>>(),
    })
}

pub(crate) fn render_health_monitor(lb: &LoadBalancer, p: &Pool) -> Value {
    let (display, progress) = lb.phase.statuses();
    let hm = &p.health_monitor;
    json!({
        "uuid": hm.id,
        "timeout": hm.timeout,
        "createdAt": hm.created_at,
        "updatedAt": hm.updated_at,
        "domainName": hm.domain_name,
        "httpVersion": hm.http_version,
        "healthCheckProtocol": hm.protocol,
        "interval": hm.interval,
        "healthyThreshold": hm.healthy_threshold,
        "unhealthyThreshold": hm.unhealthy_threshold,
        "healthCheckMethod": hm.method,
        "healthCheckPath": hm.path,
        "successCode": hm.success_code,
        "progressStatus": progress,
        "displayStatus": display,
    })
}

pub(crate) fn render_policy(lb: &LoadBalancer, p: &Policy) -> Value {
    let (display, progress) = lb.phase.statuses();
    let pool_name = lb
        .pools
        .iter()
        .find(|x| x.id == p.redirect_pool_id)
        .map_or(String::new(), |x| x.name.clone());
    json!({
        "uuid": p.id,
        "name": p.name,
        "description": "",
        "redirectPoolId": p.redirect_pool_id,
        "redirectPoolName": pool_name,
        "action": p.action,
        "redirectUrl": p.redirect_url,
        "redirectHttpCode": p.redirect_http_code,
        "keepQueryString": p.keep_query_string,
        "position": p.position,
        "l7Rules": p.rules.iter().map(|r| json!({
            "uuid": r.id,
            "compareType": r.compare_type,
            "ruleValue": r.rule_value,
            "ruleType": r.rule_type,
            "createdAt": p.created_at,
            "updatedAt": p.updated_at,
            "provisioningStatus": if display == "ACTIVE" { "ACTIVE" } else { display },
            "operatingStatus": "ONLINE",
        })).collect::<Vec<_>>(),
        "displayStatus": display,
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
        "progressStatus": progress,
    })
}

pub(crate) fn render_certificate(c: &Certificate) -> Value {
    json!({
        "uuid": c.id,
        "name": c.name,
        "certificateType": c.cert_type,
        "expiredAt": "2036-01-01T00:00:00Z",
        "importedAt": c.imported_at,
        "notAfter": 2_082_758_400_000_i64,
        "keyAlgorithm": "RSA 2048",
        "serial": "01",
        "subject": format!("CN={}", c.name),
        "domainName": c.name,
        "inUse": false,
        "issuer": "CN=emulator",
        "signatureAlgorithm": "SHA256WITHRSA",
        "notBefore": 1_767_225_600_000_i64,
    })
}

pub(crate) fn render_secgroup(g: &SecurityGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "status": "ACTIVE",
        "createdAt": g.created_at,
        "isSystem": g.is_system,
    })
}

pub(crate) fn render_rule(r: &SecurityGroupRule) -> Value {
    json!({
        "id": r.id,
        "direction": r.direction,
        "etherType": r.ether_type,
        "protocol": r.protocol,
        "portRangeMin": r.port_range_min,
        "portRangeMax": r.port_range_max,
        "remoteIpPrefix": r.remote_ip_prefix,
        "remoteGroupId": "",
        "status": "ACTIVE",
        "description": r.description,
        "createdAt": r.created_at,
    })
}

pub(crate) fn render_server(s: &Server, groups: &[SecurityGroup]) -> Value {
    let names: std::collections::HashMap<&str, &str> = groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    let status = if s.busy_until.is_some() {
        "CHANGING-SECURITY-GROUP"
    } else {
        "ACTIVE"
    };
    json!({
        "bootVolumeId": format!("vol-{}", s.id.trim_start_matches("ins-")),
        "createdAt": s.created_at,
        "encryptionVolume": false,
        "licence": false,
        "location": "",
        "metadata": "",
        "migrateState": "",
        "name": s.name,
        "product": "VKS",
        "serverGroupId": "",
        "serverGroupName": "",
        "sshKeyName": "",
        "status": status,
        "stopBeforeMigrate": false,
        "user": "",
        "uuid": s.id,
        "image": {"flavorZoneIds": [], "id": "img-emulator", "imageType": "Ubuntu", "imageVersion": "22.04", "licence": false, "packageLimit": {"cpu": 0, "diskSize": 0, "memory": 0}},
        "flavor": {"bandwidth": 0, "bandwidthUnit": "Gbps", "cpu": 2, "cpuPlatformDescription": "", "flavorId": "flav-emulator", "gpu": 0, "group": "", "memory": 4, "metaData": "", "name": "v2-standard-2", "remainingVms": 0, "zoneId": s.zone_id},
        "secGroups": s.security_groups.iter().map(|id| json!({
            "name": names.get(id.as_str()).copied().unwrap_or(""),
            "uuid": id,
        })).collect::<Vec<_>>(),
        "zoneId": s.zone_id,
        "externalInterfaces": [],
        "internalInterfaces": s.interfaces.iter().map(|i| json!({
            "createdAt": s.created_at,
            "fixedIp": i.fixed_ip,
            "interfaceType": "internal",
            "mac": i.mac,
            "networkUuid": i.network_id,
            "portUuid": i.id,
            "product": "",
            "serverUuid": s.id,
            "status": "ACTIVE",
            "subnetUuid": i.subnet_id,
            "type": "INTERNAL",
            "updatedAt": s.created_at,
            "uuid": i.id,
        })).collect::<Vec<_>>(),
    })
}
