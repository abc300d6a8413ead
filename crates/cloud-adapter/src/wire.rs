//! Wire bodies of the VNGCloud API (camelCase, as the Go SDK v2) and their mapping onto the
//! domain models. Private to the adapter.

use serde::Deserialize;

use crate::config::PackageNames;
use serde_json::{Value, json};
use vlb_domain::model::{
    Certificate, HealthCheckHttpVersion, HealthCheckMethod, HealthCheckProtocol, HealthMonitor,
    InsertHeader, L7Policy, L7Rule, Listener, ListenerProtocol, ListenerRequest, LoadBalancer,
    LoadBalancerScheme, LoadBalancerType, PolicyAction, PolicyCompareType, PolicyRuleType, Pool,
    PoolAlgorithm, PoolMember, PoolProtocol, PoolRequest, SecurityGroup, SecurityGroupRule, Server,
    ServerInterface,
};

/// Go marshals nil slices and strings as `null`: read `null` as the default.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

fn enum_str<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Uuid {
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Data<T> {
    pub data: T,
}

/// A `{"data": [...]}` list; Go renders an empty list as `"data": null` (or leaves it out).
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListData<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    pub data: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    pub list_data: Vec<T>,
    #[serde(default)]
    pub total_page: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Zone {
    #[serde(deserialize_with = "nullable")]
    pub uuid: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireLb {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub display_status: String,
    #[serde(deserialize_with = "nullable")]
    pub progress_status: String,
    #[serde(deserialize_with = "nullable")]
    pub address: String,
    #[serde(deserialize_with = "nullable")]
    pub private_subnet_id: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub lb_type: String,
    #[serde(deserialize_with = "nullable")]
    pub load_balancer_schema: String,
    #[serde(deserialize_with = "nullable")]
    pub package_id: String,
    pub auto_scalable: bool,
    #[serde(deserialize_with = "nullable")]
    pub zone: Zone,
}

/// A load balancer type as any of its spellings reads (`Layer 4`, `LAYER_4`, `layer4`, ...).
fn parse_lb_type(s: &str) -> Option<LoadBalancerType> {
    let folded: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match folded.as_str() {
        "LAYER4" => Some(LoadBalancerType::Layer4),
        "LAYER7" => Some(LoadBalancerType::Layer7),
        _ => None,
    }
}

/// The scheme in any case, as the SDK compares it upper-cased.
fn parse_scheme(s: &str) -> Option<LoadBalancerScheme> {
    match s.trim().to_ascii_uppercase().as_str() {
        "INTERNAL" => Some(LoadBalancerScheme::Internal),
        "INTERNET" => Some(LoadBalancerScheme::Internet),
        "INTERVPC" => Some(LoadBalancerScheme::InterVPC),
        _ => None,
    }
}

impl WireLb {
    pub fn into_domain(self) -> LoadBalancer {
        LoadBalancer {
            id: self.uuid,
            name: self.name,
            package_id: self.package_id,
            scheme: parse_scheme(&self.load_balancer_schema).unwrap_or_default(),
            lb_type: parse_lb_type(&self.lb_type).unwrap_or_default(),
            subnet_id: self.private_subnet_id,
            zone_id: self.zone.uuid,
            private_subnet_id: None,
            private_zone_id: None,
            autoscale: self.auto_scalable,
            tags: std::collections::BTreeMap::new(),
            display_status: self.display_status,
            progress_status: self.progress_status,
            address: non_empty(self.address),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WirePackage {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub display_lb_type: String,
    #[serde(deserialize_with = "nullable")]
    pub lb_type: String,
    pub connection_number: i64,
}

impl WirePackage {
    /// Whether `lbType` or `displayLbType` names type `t`, in any spelling.
    fn is_type(&self, t: LoadBalancerType) -> bool {
        parse_lb_type(&self.lb_type) == Some(t) || parse_lb_type(&self.display_lb_type) == Some(t)
    }
}

/// The package for a new load balancer of type `t`: the one named as configured for that
/// type (as the Go controller: `defaultL4PackageName` / `defaultL7PackageName`), else the
/// smallest (by `connectionNumber`) whose type reads `t`.
pub(crate) fn choose_package(
    packages: &[WirePackage],
    t: LoadBalancerType,
    names: &PackageNames,
) -> Option<String> {
    let name = match t {
        LoadBalancerType::Layer4 => &names.layer4,
        LoadBalancerType::Layer7 => &names.layer7,
    };
    packages
        .iter()
        .find(|p| !name.is_empty() && &p.name == name)
        .or_else(|| {
            packages
                .iter()
                .filter(|p| p.is_type(t))
                .min_by_key(|p| p.connection_number)
        })
        .map(|p| p.uuid.clone())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireListener {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub protocol: String,
    pub protocol_port: u16,
    #[serde(deserialize_with = "nullable")]
    pub allowed_cidrs: String,
    pub timeout_client: u32,
    pub timeout_member: u32,
    pub timeout_connection: u32,
    #[serde(deserialize_with = "nullable")]
    pub default_pool_id: String,
    #[serde(deserialize_with = "nullable")]
    pub certificate_authorities: Vec<String>,
    pub default_certificate_authority: Option<String>,
    pub client_certificate_authentication: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub insert_headers: Vec<InsertHeader>,
}

impl WireListener {
    pub fn into_domain(self) -> Listener {
        Listener {
            id: self.uuid,
            name: self.name,
            protocol: parse_enum::<ListenerProtocol>(&self.protocol),
            port: self.protocol_port,
            allowed_cidrs: self.allowed_cidrs,
            timeout_client: self.timeout_client,
            timeout_member: self.timeout_member,
            timeout_connection: self.timeout_connection,
            default_pool_id: non_empty(self.default_pool_id),
            certificate_authorities: self.certificate_authorities,
            default_certificate_authority: self.default_certificate_authority.and_then(non_empty),
            client_certificate: self.client_certificate_authentication.and_then(non_empty),
            insert_headers: self.insert_headers,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireMember {
    #[serde(deserialize_with = "nullable")]
    pub address: String,
    pub protocol_port: u16,
    pub monitor_port: u16,
    pub weight: u32,
    pub backup: bool,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

impl WireMember {
    pub fn into_domain(self) -> PoolMember {
        PoolMember {
            ip: self.address,
            port: self.protocol_port,
            monitor_port: (self.monitor_port != 0).then_some(self.monitor_port),
            name: self.name,
            weight: Some(self.weight),
            backup: Some(self.backup),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WirePool {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub protocol: String,
    #[serde(deserialize_with = "nullable")]
    pub load_balance_method: String,
    pub stickiness: bool,
    pub tls_encryption: bool,
    #[serde(deserialize_with = "nullable")]
    pub members: Vec<WireMember>,
}

impl WirePool {
    pub fn into_domain(self, health_monitor: HealthMonitor) -> Pool {
        Pool {
            id: self.uuid,
            name: self.name,
            protocol: parse_enum::<PoolProtocol>(&self.protocol),
            algorithm: parse_enum::<PoolAlgorithm>(&self.load_balance_method).unwrap_or_default(),
            stickiness: self.stickiness,
            tls_encryption: self.tls_encryption,
            health_monitor,
            members: self
                .members
                .into_iter()
                .map(WireMember::into_domain)
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireHealthMonitor {
    #[serde(deserialize_with = "nullable")]
    pub health_check_protocol: String,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub interval: u32,
    pub timeout: u32,
    pub health_check_method: Option<String>,
    pub http_version: Option<String>,
    pub health_check_path: Option<String>,
    pub domain_name: Option<String>,
    pub success_code: Option<String>,
}

impl WireHealthMonitor {
    pub fn into_domain(self) -> HealthMonitor {
        let protocol: HealthCheckProtocol =
            parse_enum(&self.health_check_protocol).unwrap_or_default();
        let http = protocol.is_http();
        let keep = |v: Option<String>| v.filter(|_| http).and_then(non_empty);
        let nz = |v: u32| (v != 0).then_some(v);
        HealthMonitor {
            protocol,
            healthy_threshold: nz(self.healthy_threshold),
            unhealthy_threshold: nz(self.unhealthy_threshold),
            interval: nz(self.interval),
            timeout: nz(self.timeout),
            health_check_method: keep(self.health_check_method)
                .and_then(|m| parse_enum::<HealthCheckMethod>(&m)),
            http_version: keep(self.http_version)
                .and_then(|v| parse_enum::<HealthCheckHttpVersion>(&v)),
            health_check_path: keep(self.health_check_path),
            domain_name: keep(self.domain_name),
            success_code: keep(self.success_code),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireRule {
    #[serde(deserialize_with = "nullable")]
    pub compare_type: String,
    #[serde(deserialize_with = "nullable")]
    pub rule_value: String,
    #[serde(deserialize_with = "nullable")]
    pub rule_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WirePolicy {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub action: String,
    #[serde(deserialize_with = "nullable")]
    pub redirect_pool_id: String,
    #[serde(deserialize_with = "nullable")]
    pub redirect_url: String,
    pub redirect_http_code: u16,
    pub keep_query_string: bool,
    pub position: u32,
    #[serde(deserialize_with = "nullable")]
    pub l7_rules: Vec<WireRule>,
}

impl WirePolicy {
    /// `None` when the action is unknown to the domain. Rules the domain cannot express
    /// (`CONTAINS`) are left out, so the planner sees a difference and rewrites the policy.
    pub fn into_domain(self) -> Option<L7Policy> {
        let action: PolicyAction = parse_enum(&self.action)?;
        Some(L7Policy {
            id: self.uuid,
            name: self.name,
            action,
            redirect_pool_id: non_empty(self.redirect_pool_id),
            redirect_url: non_empty(self.redirect_url),
            redirect_http_code: (self.redirect_http_code != 0).then_some(self.redirect_http_code),
            keep_query_string: self.keep_query_string,
            position: self.position,
            rules: self
                .l7_rules
                .into_iter()
                .filter_map(|r| {
                    Some(L7Rule {
                        compare_type: parse_enum::<PolicyCompareType>(&r.compare_type)?,
                        rule_value: r.rule_value,
                        rule_type: parse_enum::<PolicyRuleType>(&r.rule_type)?,
                    })
                })
                .collect(),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireListPolicies {
    #[serde(default, deserialize_with = "nullable")]
    pub data: Vec<WirePolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireCertificate {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub certificate_type: String,
    pub expired_at: Option<String>,
}

impl WireCertificate {
    pub fn into_domain(self) -> Certificate {
        Certificate {
            id: self.uuid,
            name: self.name,
            certificate_type: self.certificate_type,
            expired_at: self.expired_at.and_then(non_empty),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireTag {
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    #[serde(deserialize_with = "nullable")]
    pub value: String,
    pub system_tag: bool,
}

/// The tag list of a resource; a bare `null` (an untagged resource) reads as empty.
#[derive(Debug, Default)]
pub(crate) struct WireTags(pub Vec<WireTag>);

impl<'de> Deserialize<'de> for WireTags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(
            Option::<Vec<WireTag>>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireSecgroup {
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireCreatedSecgroup {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub secgroup_name: String,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireSecgroupRule {
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub direction: String,
    #[serde(deserialize_with = "nullable")]
    pub ether_type: String,
    #[serde(deserialize_with = "nullable")]
    pub protocol: String,
    pub port_range_min: u16,
    pub port_range_max: u16,
    #[serde(deserialize_with = "nullable")]
    pub remote_ip_prefix: String,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
}

impl WireSecgroupRule {
    pub fn into_domain(self) -> Option<SecurityGroupRule> {
        Some(SecurityGroupRule {
            id: self.id,
            direction: parse_enum(&self.direction.to_ascii_lowercase())?,
            ether_type: parse_enum(&self.ether_type).unwrap_or_default(),
            protocol: parse_enum(&self.protocol.to_ascii_uppercase())?,
            port_range_min: self.port_range_min,
            port_range_max: self.port_range_max,
            remote_ip_prefix: self.remote_ip_prefix,
            description: self.description,
        })
    }
}

impl WireSecgroup {
    pub fn into_domain(self, rules: Vec<SecurityGroupRule>) -> SecurityGroup {
        SecurityGroup {
            id: self.id,
            name: self.name,
            description: self.description,
            rules,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireInterface {
    #[serde(deserialize_with = "nullable")]
    pub network_uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub subnet_uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub fixed_ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireServer {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub zone_id: String,
    #[serde(deserialize_with = "nullable")]
    pub internal_interfaces: Vec<WireInterface>,
    #[serde(deserialize_with = "nullable")]
    pub external_interfaces: Vec<WireInterface>,
    #[serde(deserialize_with = "nullable")]
    pub sec_groups: Vec<Uuid>,
}

impl WireServer {
    pub fn into_domain(self) -> Server {
        let iface = |internal: bool| {
            move |i: WireInterface| ServerInterface {
                network_id: i.network_uuid,
                subnet_id: i.subnet_uuid,
                fixed_ip: i.fixed_ip,
                internal,
            }
        };
        Server {
            id: self.uuid,
            name: self.name,
            zone_id: non_empty(self.zone_id),
            interfaces: self
                .internal_interfaces
                .into_iter()
                .map(iface(true))
                .chain(self.external_interfaces.into_iter().map(iface(false)))
                .collect(),
            security_groups: self.sec_groups.into_iter().map(|g| g.uuid).collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireSubnet {
    pub uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub cidr: String,
    #[serde(deserialize_with = "nullable")]
    pub network_uuid: String,
    #[serde(deserialize_with = "nullable")]
    pub zone: Zone,
}

// ------------------------------------------------------------------ request bodies

fn health_monitor_body(hm: &HealthMonitor) -> Value {
    let http = hm.protocol.is_http();
    let mut v = json!({
        "healthCheckProtocol": enum_str(&hm.protocol),
        "healthyThreshold": hm.healthy_threshold.unwrap_or(3),
        "unhealthyThreshold": hm.unhealthy_threshold.unwrap_or(3),
        "interval": hm.interval.unwrap_or(30),
        "timeout": hm.timeout.unwrap_or(5),
    });
    if http && let Some(o) = v.as_object_mut() {
        o.insert(
            "healthCheckMethod".into(),
            hm.health_check_method
                .as_ref()
                .map_or_else(|| json!("GET"), enum_str),
        );
        let version = hm
            .http_version
            .map_or(HealthCheckHttpVersion::Http10, |v| v);
        o.insert("httpVersion".into(), enum_str(&version));
        o.insert(
            "healthCheckPath".into(),
            json!(hm.health_check_path.as_deref().unwrap_or("/")),
        );
        o.insert(
            "successCode".into(),
            json!(hm.success_code.as_deref().unwrap_or("200")),
        );
        // As the SDK: HTTP/1.1 needs a host; HTTP/1.0 sends none.
        if version == HealthCheckHttpVersion::Http11 {
            let domain = hm
                .domain_name
                .as_deref()
                .filter(|d| !d.is_empty())
                .unwrap_or("nip.io");
            o.insert("domainName".into(), json!(domain));
        }
    }
    v
}

pub(crate) fn member_body(m: &PoolMember) -> Value {
    json!({
        "backup": m.backup.unwrap_or(false),
        "ipAddress": m.ip,
        "monitorPort": m.monitor_port.unwrap_or(m.port),
        "name": m.name,
        "port": m.port,
        "weight": m.weight.unwrap_or(1),
    })
}

pub(crate) fn create_pool_body(p: &PoolRequest) -> Value {
    let l7 = p.protocol == PoolProtocol::Http;
    let mut v = json!({
        "algorithm": enum_str(&p.algorithm),
        "poolName": p.name,
        "poolProtocol": enum_str(&p.protocol),
        "healthMonitor": health_monitor_body(&p.health_monitor),
        "members": p.members.iter().map(member_body).collect::<Vec<_>>(),
    });
    if l7 && let Some(o) = v.as_object_mut() {
        o.insert("stickiness".into(), json!(p.stickiness));
        o.insert("tlsEncryption".into(), json!(p.tls_encryption));
    }
    v
}

pub(crate) fn update_pool_body(p: &PoolRequest) -> Value {
    let l7 = p.protocol == PoolProtocol::Http;
    let mut v = json!({
        "algorithm": enum_str(&p.algorithm),
        "healthMonitor": health_monitor_body(&p.health_monitor),
    });
    if l7 && let Some(o) = v.as_object_mut() {
        o.insert("stickiness".into(), json!(p.stickiness));
        o.insert("tlsEncryption".into(), json!(p.tls_encryption));
    }
    v
}

fn tls_fields(l: &ListenerRequest) -> (Value, Value, Value) {
    if l.protocol == ListenerProtocol::Https {
        (
            json!(l.certificate_authorities),
            json!(l.client_certificate),
            json!(l.default_certificate_authority),
        )
    } else {
        (Value::Null, Value::Null, Value::Null)
    }
}

fn cidrs(l: &ListenerRequest) -> &str {
    if l.allowed_cidrs.is_empty() {
        "0.0.0.0/0"
    } else {
        &l.allowed_cidrs
    }
}

pub(crate) fn create_listener_body(l: &ListenerRequest) -> Value {
    let (cas, client, default_ca) = tls_fields(l);
    json!({
        "allowedCidrs": cidrs(l),
        "listenerName": l.name,
        "listenerProtocol": l.protocol.as_str(),
        "listenerProtocolPort": l.port,
        "timeoutClient": l.timeout_client,
        "timeoutConnection": l.timeout_connection,
        "timeoutMember": l.timeout_member,
        "defaultPoolId": l.default_pool_id,
        "certificateAuthorities": cas,
        "clientCertificate": client,
        "defaultCertificateAuthority": default_ca,
        "insertHeaders": l.insert_headers,
    })
}

pub(crate) fn update_listener_body(l: &ListenerRequest) -> Value {
    let (cas, client, default_ca) = tls_fields(l);
    json!({
        "allowedCidrs": cidrs(l),
        "defaultPoolId": l.default_pool_id.clone().unwrap_or_default(),
        "timeoutClient": l.timeout_client,
        "timeoutConnection": l.timeout_connection,
        "timeoutMember": l.timeout_member,
        "certificateAuthorities": cas,
        "clientCertificate": client,
        "defaultCertificateAuthority": default_ca,
        "insertHeaders": l.insert_headers,
    })
}

/// An L7 policy body as the SDK builds it (`CreatePolicyRequest.ToRequestBody`,
/// `UpdatePolicyRequest.ToRequestBody` in `loadbalancer/v2/policy_requests.go`): `action` and
/// `rules` always (`name` on create); `redirectUrl`, `redirectHttpCode` and `keepQueryString`
/// only for `REDIRECT_TO_URL`; `redirectPoolId` only for `REDIRECT_TO_POOL`.
pub(crate) fn policy_body(p: &L7Policy, with_name: bool) -> Value {
    let mut o = serde_json::Map::new();
    if with_name {
        o.insert("name".into(), json!(p.name));
    }
    o.insert("action".into(), enum_str(&p.action));
    o.insert(
        "rules".into(),
        p.rules
            .iter()
            .map(|r| {
                json!({
                    "compareType": enum_str(&r.compare_type),
                    "ruleType": enum_str(&r.rule_type),
                    "ruleValue": r.rule_value,
                })
            })
            .collect(),
    );
    match p.action {
        PolicyAction::Reject => {}
        PolicyAction::RedirectToUrl => {
            o.insert(
                "redirectUrl".into(),
                json!(p.redirect_url.clone().unwrap_or_default()),
            );
            o.insert(
                "redirectHttpCode".into(),
                json!(p.redirect_http_code.unwrap_or(0)),
            );
            o.insert("keepQueryString".into(), json!(p.keep_query_string));
        }
        PolicyAction::RedirectToPool => {
            o.insert(
                "redirectPoolId".into(),
                json!(p.redirect_pool_id.clone().unwrap_or_default()),
            );
        }
    }
    Value::Object(o)
}

pub(crate) fn scheme_str(s: LoadBalancerScheme) -> &'static str {
    s.as_str()
}

pub(crate) fn type_str(t: LoadBalancerType) -> &'static str {
    match t {
        LoadBalancerType::Layer4 => "Layer 4",
        LoadBalancerType::Layer7 => "Layer 7",
    }
}

pub(crate) fn rule_body(sg_id: &str, r: &SecurityGroupRule) -> Value {
    json!({
        "description": r.description,
        "direction": enum_str(&r.direction),
        "etherType": enum_str(&r.ether_type),
        "portRangeMax": r.port_range_max,
        "portRangeMin": r.port_range_min,
        // The SDK sends lower case (`tcp`, `udp`, `icmp`, `any`).
        "protocol": enum_str(&r.protocol).as_str().map(str::to_ascii_lowercase),
        "remoteIpPrefix": r.remote_ip_prefix,
        "securityGroupId": sg_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn policy(action: PolicyAction) -> L7Policy {
        L7Policy {
            id: "policy-1".into(),
            name: "p1".into(),
            action,
            redirect_pool_id: Some("pool-1".into()),
            redirect_url: Some("https://example.com".into()),
            redirect_http_code: Some(301),
            keep_query_string: true,
            position: 0,
            rules: vec![L7Rule {
                compare_type: PolicyCompareType::StartsWith,
                rule_value: "/api".into(),
                rule_type: PolicyRuleType::Path,
            }],
        }
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    // As the SDK's CreatePolicyRequest.ToRequestBody / UpdatePolicyRequest.ToRequestBody
    // (vngcloud/services/loadbalancer/v2/policy_requests.go): one body per action.
    #[test]
    fn policy_body_sends_only_the_fields_of_its_action_as_the_sdk() {
        let reject = policy_body(&policy(PolicyAction::Reject), true);
        assert_eq!(keys(&reject), ["action", "name", "rules"]);
        let url = policy_body(&policy(PolicyAction::RedirectToUrl), true);
        assert_eq!(
            keys(&url),
            [
                "action",
                "keepQueryString",
                "name",
                "redirectHttpCode",
                "redirectUrl",
                "rules"
            ]
        );
        assert_eq!(url["redirectHttpCode"], 301);
        let pool = policy_body(&policy(PolicyAction::RedirectToPool), true);
        assert_eq!(keys(&pool), ["action", "name", "redirectPoolId", "rules"]);
        assert_eq!(pool["redirectPoolId"], "pool-1");
        let update = policy_body(&policy(PolicyAction::RedirectToPool), false);
        assert_eq!(keys(&update), ["action", "redirectPoolId", "rules"]);
    }

    // Go decodes `null` as an empty slice; the SDK's list responses carry `"data": null` for
    // an empty load balancer or pool.
    #[test]
    fn null_lists_decode_as_empty() {
        let d: ListData<WireListener> = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(d.data.is_empty());
        let d: ListData<WirePool> = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(d.data.is_empty());
        let d: ListData<WireMember> = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(d.data.is_empty());
        let d: ListData<WireSecgroupRule> = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(d.data.is_empty());
        let d: ListData<WireSecgroupRule> = serde_json::from_str("{}").unwrap();
        assert!(d.data.is_empty());
        let t: WireTags = serde_json::from_str("null").unwrap();
        assert!(t.0.is_empty());
        let t: WireTags = serde_json::from_str(r#"[{"key":"a","value":null}]"#).unwrap();
        assert_eq!(t.0[0].key, "a");
    }

    fn package(name: &str, lb_type: &str, display: &str, connections: i64) -> WirePackage {
        WirePackage {
            uuid: format!("lbp-{name}"),
            name: name.into(),
            display_lb_type: display.into(),
            lb_type: lb_type.into(),
            connection_number: connections,
        }
    }

    // As the Go controller's buildCreateLoadBalancerRequest (internal/usecase/lbc_uc/
    // deploy_lb.go): the package is found by its name (NLB_Small, ALB_Small).
    #[test]
    fn package_is_chosen_by_name_first_then_by_type_in_any_case() {
        let packages = vec![
            package("NLB_Large", "", "", 10),
            package("NLB_Small", "", "", 100),
            package("ALB_Small", "", "", 100),
        ];
        let names = PackageNames::default();
        assert_eq!(
            choose_package(&packages, LoadBalancerType::Layer4, &names).as_deref(),
            Some("lbp-NLB_Small")
        );
        assert_eq!(
            choose_package(&packages, LoadBalancerType::Layer7, &names).as_deref(),
            Some("lbp-ALB_Small")
        );
        // No package of that name: the smallest of the type, the type spelt in any case.
        let packages = vec![
            package("big", "layer_4", "", 100),
            package("small", "", "LAYER 4", 10),
            package("web", "Layer_7", "", 1),
        ];
        assert_eq!(
            choose_package(&packages, LoadBalancerType::Layer4, &names).as_deref(),
            Some("lbp-small")
        );
        assert_eq!(
            choose_package(&packages, LoadBalancerType::Layer7, &names).as_deref(),
            Some("lbp-web")
        );
        assert_eq!(choose_package(&[], LoadBalancerType::Layer7, &names), None);
    }

    // The SDK reads loadBalancerSchema upper-cased (loadbalancer_response.go: ToUpper == "INTERNAL").
    #[test]
    fn load_balancer_scheme_and_type_are_read_in_any_case() {
        let lb: WireLb = serde_json::from_value(json!({
            "uuid": "lb-1", "loadBalancerSchema": "INTERNAL", "type": "LAYER 7",
        }))
        .unwrap();
        let lb = lb.into_domain();
        assert_eq!(lb.scheme, LoadBalancerScheme::Internal);
        assert_eq!(lb.lb_type, LoadBalancerType::Layer7);
        let lb: WireLb = serde_json::from_value(json!({
            "uuid": "lb-1", "loadBalancerSchema": "intervpc", "type": "Layer 4",
        }))
        .unwrap();
        assert_eq!(lb.into_domain().scheme, LoadBalancerScheme::InterVPC);
    }
}
