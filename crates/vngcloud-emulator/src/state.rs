//! The emulated project: objects, life cycle, validation with the real error texts.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{Delays, Fixture, FixturePackage, RateLimit};
use crate::control::{Fault, Journal};
use crate::model::{
    BusyObject, Certificate, HealthMonitor, InsertHeader, Interface, LbPhase, Listener,
    LoadBalancer, Member, Policy, PolicyRule, Pool, SecurityGroup, SecurityGroupRule, Server, Tag,
    render_certificate, render_health_monitor, render_lb, render_listener, render_member,
    render_policy, render_pool, render_rule, render_secgroup, render_server,
};

/// An API error: status and the message body the real service sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }
    fn with(status: u16, body: Value) -> Self {
        Self { status, body }
    }
}

pub(crate) type ApiResult = Result<Reply, ApiError>;

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

// ---------------------------------------------------------------- request bodies

/// Go marshals a nil slice as `null`; read it as empty.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TagReq {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct CreateLbReq {
    pub name: String,
    pub package_id: String,
    pub scheme: String,
    pub auto_scalable: bool,
    pub subnet_id: String,
    #[serde(rename = "type")]
    pub lb_type: String,
    pub listener: Option<ListenerReq>,
    pub pool: Option<PoolReq>,
    pub tags: Option<Vec<TagReq>>,
    pub zone_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListenerReq {
    pub allowed_cidrs: String,
    pub listener_name: String,
    pub listener_protocol: String,
    pub listener_protocol_port: i64,
    pub timeout_client: i64,
    pub timeout_connection: i64,
    pub timeout_member: i64,
    pub default_pool_id: Option<String>,
    pub certificate_authorities: Option<Vec<String>>,
    pub client_certificate: Option<String>,
    pub default_certificate_authority: Option<String>,
    pub insert_headers: Option<Vec<InsertHeader>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct UpdateListenerReq {
    pub allowed_cidrs: String,
    pub default_pool_id: Option<String>,
    pub timeout_client: i64,
    pub timeout_connection: i64,
    pub timeout_member: i64,
    pub certificate_authorities: Option<Vec<String>>,
    pub client_certificate: Option<String>,
    pub default_certificate_authority: Option<String>,
    pub insert_headers: Option<Vec<InsertHeader>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct HmReq {
    pub health_check_protocol: String,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub interval: i64,
    pub timeout: i64,
    pub health_check_method: Option<String>,
    pub http_version: Option<String>,
    pub health_check_path: Option<String>,
    pub domain_name: Option<String>,
    pub success_code: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct MemberReq {
    pub backup: bool,
    pub ip_address: String,
    pub monitor_port: i64,
    pub name: String,
    pub port: i64,
    pub weight: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PoolReq {
    pub algorithm: String,
    pub pool_name: String,
    pub pool_protocol: String,
    pub stickiness: Option<bool>,
    pub tls_encryption: Option<bool>,
    pub health_monitor: Option<HmReq>,
    #[serde(deserialize_with = "null_as_empty")]
    pub members: Vec<MemberReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct UpdatePoolReq {
    pub algorithm: String,
    pub stickiness: Option<bool>,
    pub tls_encryption: Option<bool>,
    pub health_monitor: Option<HmReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct MembersReq {
    #[serde(deserialize_with = "null_as_empty")]
    pub members: Vec<MemberReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ResizeReq {
    pub package_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RuleReq {
    pub compare_type: String,
    pub rule_type: String,
    pub rule_value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PolicyReq {
    pub name: String,
    pub action: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub rules: Vec<RuleReq>,
    pub redirect_pool_id: String,
    pub redirect_url: String,
    pub redirect_http_code: i64,
    pub keep_query_string: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PositionReq {
    pub position: i64,
    pub policy_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ReorderReq {
    #[serde(deserialize_with = "null_as_empty")]
    pub policies: Vec<PositionReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct CertReq {
    pub name: String,
    #[serde(rename = "type")]
    pub cert_type: String,
    pub certificate: String,
    pub certificate_chain: Option<String>,
    pub passphrase: Option<String>,
    pub private_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TagsReq {
    pub resource_id: String,
    pub resource_type: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub tag_request_list: Vec<TagReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SecgroupReq {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SecgroupRuleReq {
    pub description: String,
    pub direction: String,
    pub ether_type: String,
    pub port_range_max: i64,
    pub port_range_min: i64,
    pub protocol: String,
    pub remote_ip_prefix: String,
    pub security_group_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServerSecgroupsReq {
    #[serde(deserialize_with = "null_as_empty")]
    pub security_group: Vec<String>,
}

// ---------------------------------------------------------------- state

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub tokens: f64,
    pub last: Instant,
}

/// Everything the emulator holds.
#[derive(Debug)]
pub(crate) struct State {
    pub fixture: Fixture,
    pub delays: Delays,
    pub token_ttl: Duration,
    pub rate_limit: RateLimit,
    pub tokens: HashMap<String, Instant>,
    pub lbs: Vec<LoadBalancer>,
    pub certificates: Vec<Certificate>,
    pub secgroups: Vec<SecurityGroup>,
    pub servers: Vec<Server>,
    pub journal: Journal,
    pub faults: Vec<Fault>,
    pub buckets: HashMap<String, Bucket>,
    pub address_seq: u32,
    /// How many of the next created load balancers end in ERROR instead of ACTIVE.
    pub create_errors: u32,
    /// Render empty lists as `null` (as a Go server renders a nil slice).
    pub null_empty_lists: bool,
    /// Failed logins in a row and, once locked out, until when (IAM).
    pub failed_logins: u32,
    /// IAM refuses every login of the client until then (`TOO_MANY_FAILED_LOGINS`).
    pub locked_until: Option<Instant>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "The {kind} name is invalid. It must be 1 to 100 characters long and contain only letters, digits, '.', '-' and '_'"
        )))
    }
}

fn check_port(what: &str, port: i64) -> Result<(), ApiError> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "The {what} {port} is invalid. It must be between 1 and 65535"
        )))
    }
}

fn lb_not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Cannot get load balancer with id {id}"))
}

/// Not-found text for calls whose SDK handler looks for "could not find resource".
fn lb_not_found2(id: &str) -> ApiError {
    ApiError::new(
        404,
        format!("Could not find resource: Cannot get load balancer with id {id}"),
    )
}

fn listener_not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Cannot get listener with id {id}"))
}

fn pool_not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Cannot get pool with id {id}"))
}

fn secgroup_not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Cannot get security group with id {id}"))
}

fn check_listener_protocol(lb_type: &str, protocol: &str) -> Result<(), ApiError> {
    let ok = match lb_type {
        "Layer 7" => matches!(protocol, "HTTP" | "HTTPS"),
        _ => matches!(protocol, "TCP" | "UDP"),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "Listener protocol {protocol} is not supported by a {lb_type} load balancer"
        )))
    }
}

fn check_pool_protocol(lb_type: &str, protocol: &str) -> Result<(), ApiError> {
    let ok = match lb_type {
        "Layer 7" => matches!(protocol, "HTTP"),
        _ => matches!(protocol, "TCP" | "UDP" | "PROXY"),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "Pool protocol {protocol} is not supported by a {lb_type} load balancer"
        )))
    }
}

fn check_listener_pool(listener_protocol: &str, pool_protocol: &str) -> Result<(), ApiError> {
    let ok = match listener_protocol {
        "TCP" => matches!(pool_protocol, "TCP" | "PROXY"),
        "UDP" => pool_protocol == "UDP",
        _ => pool_protocol == "HTTP",
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "Listener protocol {listener_protocol} cannot be used with pool protocol {pool_protocol}"
        )))
    }
}

fn check_algorithm(algorithm: &str) -> Result<(), ApiError> {
    if matches!(algorithm, "ROUND_ROBIN" | "LEAST_CONNECTIONS" | "SOURCE_IP") {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "Pool algorithm {algorithm} is invalid"
        )))
    }
}

fn build_hm(
    pool_protocol: &str,
    req: Option<&HmReq>,
    now: &str,
) -> Result<HealthMonitor, ApiError> {
    let default = HmReq {
        health_check_protocol: if pool_protocol == "UDP" {
            "PING-UDP"
        } else {
            "TCP"
        }
        .to_owned(),
        healthy_threshold: 3,
        unhealthy_threshold: 3,
        interval: 30,
        timeout: 5,
        ..HmReq::default()
    };
    let r = req.cloned().unwrap_or(default);
    let protocol = r.health_check_protocol.as_str();
    let ok = match pool_protocol {
        "UDP" => matches!(protocol, "PING-UDP" | "UDP"),
        _ => matches!(protocol, "TCP" | "HTTP" | "HTTPS"),
    };
    if !ok {
        return Err(ApiError::bad(format!(
            "Health check protocol {protocol} cannot be used with pool protocol {pool_protocol}"
        )));
    }
    if !(1..=10).contains(&r.healthy_threshold) || !(1..=10).contains(&r.unhealthy_threshold) {
        return Err(ApiError::bad(
            "Health check thresholds must be between 1 and 10",
        ));
    }
    if !(1..=3600).contains(&r.interval) || !(1..=3600).contains(&r.timeout) {
        return Err(ApiError::bad(
            "Health check interval and timeout must be between 1 and 3600",
        ));
    }
    let http = matches!(protocol, "HTTP" | "HTTPS");
    Ok(HealthMonitor {
        id: new_id("hm"),
        protocol: protocol.to_owned(),
        healthy_threshold: r.healthy_threshold,
        unhealthy_threshold: r.unhealthy_threshold,
        interval: r.interval,
        timeout: r.timeout,
        method: if http {
            Some(r.health_check_method.unwrap_or_else(|| "GET".to_owned()))
        } else {
            None
        },
        http_version: if http {
            Some(r.http_version.unwrap_or_else(|| "1.0".to_owned()))
        } else {
            None
        },
        path: if http {
            Some(r.health_check_path.unwrap_or_else(|| "/".to_owned()))
        } else {
            None
        },
        domain_name: if http { r.domain_name } else { None },
        success_code: if http {
            Some(r.success_code.unwrap_or_else(|| "200".to_owned()))
        } else {
            None
        },
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

fn member_key(m: &Member) -> (String, i64, i64, i64, bool, String) {
    (
        m.address.clone(),
        m.port,
        m.monitor_port,
        m.weight,
        m.backup,
        m.name.clone(),
    )
}

impl State {
    pub fn new(
        fixture: Fixture,
        delays: Delays,
        token_ttl: Duration,
        rate_limit: RateLimit,
        journal_capacity: usize,
    ) -> Self {
        let mut s = Self {
            fixture,
            delays,
            token_ttl,
            rate_limit,
            tokens: HashMap::new(),
            lbs: Vec::new(),
            certificates: Vec::new(),
            secgroups: Vec::new(),
            servers: Vec::new(),
            journal: Journal::new(journal_capacity),
            faults: Vec::new(),
            buckets: HashMap::new(),
            address_seq: 0,
            create_errors: 0,
            null_empty_lists: false,
            failed_logins: 0,
            locked_until: None,
        };
        s.load_fixture();
        s
    }

    /// Replaces every object by the fixture's (tokens, journal and faults are kept).
    pub fn load_fixture(&mut self) {
        let now = now_rfc3339();
        self.lbs.clear();
        self.certificates.clear();
        self.buckets.clear();
        self.address_seq = 0;
        self.create_errors = 0;
        self.failed_logins = 0;
        self.locked_until = None;
        self.secgroups = self
            .fixture
            .security_groups
            .iter()
            .map(|g| SecurityGroup {
                id: g.id.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
                created_at: now.clone(),
                is_system: g.name == "default",
                rules: Vec::new(),
            })
            .collect();
        self.servers = self
            .fixture
            .servers
            .iter()
            .enumerate()
            .map(|(n, s)| Server {
                id: s.id.clone(),
                name: s.name.clone(),
                zone_id: s.zone_id.clone(),
                interfaces: s
                    .interfaces
                    .iter()
                    .enumerate()
                    .map(|(k, i)| Interface {
                        id: format!("port-{}", uuid::Uuid::new_v4()),
                        network_id: i.network_id.clone(),
                        subnet_id: i.subnet_id.clone(),
                        fixed_ip: i.fixed_ip.clone(),
                        mac: format!("fa:16:3e:00:{:02x}:{:02x}", n % 256, k % 256),
                    })
                    .collect(),
                security_groups: s.security_groups.clone(),
                created_at: now.clone(),
                busy_until: None,
            })
            .collect();
    }

    /// Moves transient phases forward; removes load balancers whose deletion finished.
    pub fn refresh(&mut self, now: Instant) {
        for lb in &mut self.lbs {
            if let Some(until) = lb.phase_until
                && now >= until
            {
                lb.phase_until = None;
                lb.updating_object = None;
                match lb.phase {
                    LbPhase::Creating | LbPhase::Updating if lb.fail_when_done => {
                        lb.phase = LbPhase::Error;
                        lb.fail_when_done = false;
                    }
                    LbPhase::Creating | LbPhase::Updating => lb.phase = LbPhase::Active,
                    LbPhase::Active | LbPhase::Deleting | LbPhase::Error => {}
                }
            }
        }
        self.lbs
            .retain(|lb| !(lb.phase == LbPhase::Deleting && lb.phase_until.is_none()));
        for s in &mut self.servers {
            if s.busy_until.is_some_and(|until| now >= until) {
                s.busy_until = None;
            }
        }
    }

    fn package(&self, id: &str) -> Option<&FixturePackage> {
        self.fixture.packages.iter().find(|p| p.id == id)
    }

    fn subnet_cidr(&self, subnet_id: &str) -> String {
        self.fixture
            .subnets()
            .find(|(_, s)| s.id == subnet_id)
            .map_or(String::new(), |(_, s)| s.cidr.clone())
    }

    fn subnet_of_ip(&self, ip: &str) -> Option<String> {
        let addr: Ipv4Addr = ip.parse().ok()?;
        self.fixture
            .subnets()
            .find(|(_, s)| {
                s.cidr
                    .parse::<ipnet::Ipv4Net>()
                    .is_ok_and(|net| net.contains(&addr))
            })
            .map(|(_, s)| s.id.clone())
    }

    fn allocate_address(&mut self, subnet_cidr: &str, internal: bool) -> String {
        self.address_seq += 1;
        let n = self.address_seq;
        if internal && let Ok(net) = subnet_cidr.parse::<ipnet::Ipv4Net>() {
            let base = u32::from(net.network());
            let size = 1u32 << (32 - u32::from(net.prefix_len())).min(31);
            let offset = 200 + n;
            if offset < size.saturating_sub(1) {
                return Ipv4Addr::from(base + offset).to_string();
            }
        }
        Ipv4Addr::new(103, 245, (n / 250 % 250) as u8, (n % 250 + 1) as u8).to_string()
    }

    pub fn render_lb(&self, lb: &LoadBalancer) -> Value {
        render_lb(
            lb,
            self.package(&lb.package_id),
            &self.subnet_cidr(&lb.subnet_id),
        )
    }

    fn lb_index(&self, id: &str) -> Option<usize> {
        self.lbs.iter().position(|lb| lb.id == id)
    }

    /// Finds a load balancer that accepts changes, or the real refusal.
    fn lb_for_change(&self, id: &str, not_found2: bool) -> Result<usize, ApiError> {
        let Some(i) = self.lb_index(id) else {
            return Err(if not_found2 {
                lb_not_found2(id)
            } else {
                lb_not_found(id)
            });
        };
        match self.lbs[i].phase {
            LbPhase::Active => Ok(i),
            LbPhase::Updating => Err(ApiError::bad(format!("Load balancer id {id} is updating"))),
            LbPhase::Creating | LbPhase::Deleting | LbPhase::Error => {
                Err(ApiError::bad(format!("Load balancer id {id} is not ready")))
            }
        }
    }

    fn start_update(&mut self, i: usize, now: Instant) {
        self.start_update_of(i, now, None);
    }

    /// [`Self::start_update`] of a change of one listener or pool.
    fn start_update_of(&mut self, i: usize, now: Instant, object: Option<BusyObject>) {
        let lb = &mut self.lbs[i];
        lb.updating_object = object;
        lb.phase = LbPhase::Updating;
        lb.phase_until = Some(now + Duration::from_millis(self.delays.update_ms));
        lb.updated_at = now_rfc3339();
        if self.delays.update_ms == 0 {
            lb.phase = LbPhase::Active;
            lb.phase_until = None;
            lb.updating_object = None;
        }
    }

    /// [`Self::lb_for_change`] for a change of `object`: while the load balancer's update is
    /// about that very listener or pool, the refusal is the object's own busy text
    /// (`Listener id … is not ready`, `Pool id … is updating`, as `sdk_error/loadbalancer.go`
    /// matches them).
    fn lb_for_object_change(
        &self,
        id: &str,
        not_found2: bool,
        object: &BusyObject,
    ) -> Result<usize, ApiError> {
        if let Some(i) = self.lb_index(id)
            && self.lbs[i].phase == LbPhase::Updating
            && self.lbs[i].updating_object.as_ref() == Some(object)
        {
            return Err(ApiError::bad(match object {
                BusyObject::Listener(l) => format!("Listener id {l} is not ready"),
                BusyObject::Pool(p) => format!("Pool id {p} is updating"),
            }));
        }
        self.lb_for_change(id, not_found2)
    }

    /// A `{"data": [...]}` list; `null` for an empty one when so configured.
    fn data_list(&self, items: &[Value]) -> Value {
        if items.is_empty() && self.null_empty_lists {
            json!({ "data": null })
        } else {
            json!({ "data": items })
        }
    }

    fn build_members(
        &self,
        reqs: &[MemberReq],
        default_subnet: &str,
        now: &str,
    ) -> Result<Vec<Member>, ApiError> {
        let mut out = Vec::with_capacity(reqs.len());
        for m in reqs {
            if m.ip_address.parse::<Ipv4Addr>().is_err() {
                return Err(ApiError::bad(format!(
                    "The member ip address {} is invalid",
                    m.ip_address
                )));
            }
            check_port("member port", m.port)?;
            check_port("member monitor port", m.monitor_port)?;
            if !(0..=256).contains(&m.weight) {
                return Err(ApiError::bad(format!(
                    "The member weight {} is invalid. It must be between 0 and 256",
                    m.weight
                )));
            }
            if out
                .iter()
                .any(|x: &Member| x.address == m.ip_address && x.port == m.port)
            {
                return Err(ApiError::bad(format!(
                    "Duplicated member {}:{}",
                    m.ip_address, m.port
                )));
            }
            out.push(Member {
                id: new_id("mem"),
                name: m.name.clone(),
                address: m.ip_address.clone(),
                port: m.port,
                monitor_port: m.monitor_port,
                weight: m.weight,
                backup: m.backup,
                subnet_id: self
                    .subnet_of_ip(&m.ip_address)
                    .unwrap_or_else(|| default_subnet.to_owned()),
                created_at: now.to_owned(),
            });
        }
        Ok(out)
    }

    fn build_pool(&self, lb_type: &str, subnet: &str, req: &PoolReq) -> Result<Pool, ApiError> {
        check_name("pool", &req.pool_name)?;
        check_pool_protocol(lb_type, &req.pool_protocol)?;
        let algorithm = if req.algorithm.is_empty() {
            "ROUND_ROBIN".to_owned()
        } else {
            req.algorithm.clone()
        };
        check_algorithm(&algorithm)?;
        let now = now_rfc3339();
        Ok(Pool {
            id: new_id("pool"),
            name: req.pool_name.clone(),
            protocol: req.pool_protocol.clone(),
            algorithm,
            stickiness: req.stickiness.unwrap_or(false),
            tls_encryption: req.tls_encryption.unwrap_or(false),
            health_monitor: build_hm(&req.pool_protocol, req.health_monitor.as_ref(), &now)?,
            members: self.build_members(&req.members, subnet, &now)?,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    fn build_listener(
        &self,
        lb: &LoadBalancer,
        req: &ListenerReq,
        pools: &[Pool],
    ) -> Result<Listener, ApiError> {
        check_name("listener", &req.listener_name)?;
        check_listener_protocol(&lb.lb_type, &req.listener_protocol)?;
        check_port("listener protocol port", req.listener_protocol_port)?;
        if lb.listeners.iter().any(|l| l.name == req.listener_name) {
            return Err(ApiError::bad(format!(
                "Duplicated listener name {}",
                req.listener_name
            )));
        }
        if lb
            .listeners
            .iter()
            .any(|l| l.port == req.listener_protocol_port && l.protocol == req.listener_protocol)
        {
            return Err(ApiError::bad(format!(
                "Duplicated listener protocol port {}",
                req.listener_protocol_port
            )));
        }
        let default_pool_id = req.default_pool_id.clone().filter(|p| !p.is_empty());
        if let Some(pid) = &default_pool_id {
            let Some(pool) = pools.iter().find(|p| &p.id == pid) else {
                return Err(pool_not_found(pid));
            };
            check_listener_pool(&req.listener_protocol, &pool.protocol)?;
        }
        let https = req.listener_protocol == "HTTPS";
        if https
            && req
                .default_certificate_authority
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad(
                "The default certificate authority is required for HTTPS listener",
            ));
        }
        for cert in req
            .certificate_authorities
            .iter()
            .flatten()
            .chain(req.default_certificate_authority.iter())
            .filter(|_| https)
        {
            if !self.certificates.iter().any(|c| &c.id == cert) {
                return Err(ApiError::new(
                    404,
                    format!("Cannot get certificate with id {cert}"),
                ));
            }
        }
        let now = now_rfc3339();
        Ok(Listener {
            id: new_id("lis"),
            name: req.listener_name.clone(),
            protocol: req.listener_protocol.clone(),
            port: req.listener_protocol_port,
            allowed_cidrs: if req.allowed_cidrs.is_empty() {
                "0.0.0.0/0".to_owned()
            } else {
                req.allowed_cidrs.clone()
            },
            timeout_client: if req.timeout_client > 0 {
                req.timeout_client
            } else {
                50
            },
            timeout_member: if req.timeout_member > 0 {
                req.timeout_member
            } else {
                50
            },
            timeout_connection: if req.timeout_connection > 0 {
                req.timeout_connection
            } else {
                5
            },
            default_pool_id,
            certificate_authorities: if https {
                req.certificate_authorities.clone().unwrap_or_default()
            } else {
                Vec::new()
            },
            default_certificate_authority: if https {
                req.default_certificate_authority.clone()
            } else {
                None
            },
            client_certificate: if https {
                req.client_certificate.clone()
            } else {
                None
            },
            insert_headers: req.insert_headers.clone().unwrap_or_default(),
            policies: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
        })
    }

    // ------------------------------------------------------------ load balancers

    pub fn create_lb(&mut self, now: Instant, req: &CreateLbReq) -> ApiResult {
        let used = self.lbs.len() as u32;
        if used >= self.fixture.quotas.load_balancers {
            return Err(ApiError::bad(format!(
                "Exceeded LOAD_BALANCER quota. Current used: {used}, quota: {}",
                self.fixture.quotas.load_balancers
            )));
        }
        check_name("load balancer", &req.name)?;
        let Some(package) = self.package(&req.package_id).cloned() else {
            return Err(ApiError::bad(format!(
                "Invalid package id {}",
                req.package_id
            )));
        };
        let Some((_, subnet)) = self.fixture.subnets().find(|(_, s)| s.id == req.subnet_id) else {
            return Err(ApiError::new(
                404,
                format!("Subnet with id {} is not found", req.subnet_id),
            ));
        };
        let subnet = subnet.clone();
        let lb_type = if req.lb_type.is_empty() {
            package.lb_type.clone()
        } else {
            req.lb_type.clone()
        };
        if !matches!(lb_type.as_str(), "Layer 4" | "Layer 7") {
            return Err(ApiError::bad(format!(
                "Load balancer type {lb_type} is invalid"
            )));
        }
        if lb_type != package.lb_type {
            return Err(ApiError::bad(format!(
                "Invalid package id {} for a {lb_type} load balancer",
                req.package_id
            )));
        }
        let scheme = if req.scheme.is_empty() {
            "Internet".to_owned()
        } else {
            req.scheme.clone()
        };
        if !matches!(scheme.as_str(), "Internal" | "Internet" | "InterVPC") {
            return Err(ApiError::bad(format!(
                "Load balancer scheme {scheme} is invalid"
            )));
        }
        let created = now_rfc3339();
        let mut lb = LoadBalancer {
            id: new_id("lb"),
            name: req.name.clone(),
            package_id: package.id.clone(),
            scheme: scheme.clone(),
            lb_type: lb_type.clone(),
            subnet_id: subnet.id.clone(),
            zone_id: req
                .zone_id
                .clone()
                .filter(|z| !z.is_empty())
                .unwrap_or_else(|| subnet.zone_id.clone()),
            address: String::new(),
            auto_scalable: req.auto_scalable,
            created_at: created.clone(),
            updated_at: created.clone(),
            phase: LbPhase::Creating,
            phase_until: Some(now + Duration::from_millis(self.delays.create_ms)),
            fail_when_done: false,
            updating_object: None,
            tags: req
                .tags
                .iter()
                .flatten()
                .map(|t| Tag {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    created_at: created.clone(),
                    system_tag: false,
                })
                .collect(),
            listeners: Vec::new(),
            pools: Vec::new(),
        };
        if let Some(pool) = &req.pool {
            let p = self.build_pool(&lb_type, &subnet.id, pool)?;
            lb.pools.push(p);
        }
        if let Some(listener) = &req.listener {
            let mut l = self.build_listener(&lb, listener, &lb.pools)?;
            if l.default_pool_id.is_none()
                && let Some(p) = lb.pools.first()
            {
                check_listener_pool(&l.protocol, &p.protocol)?;
                l.default_pool_id = Some(p.id.clone());
            }
            lb.listeners.push(l);
        }
        lb.address = self.allocate_address(&subnet.cidr, scheme == "Internal");
        if self.create_errors > 0 {
            self.create_errors -= 1;
            lb.fail_when_done = true;
        }
        if self.delays.create_ms == 0 {
            lb.phase = if lb.fail_when_done {
                LbPhase::Error
            } else {
                LbPhase::Active
            };
            lb.fail_when_done = false;
            lb.phase_until = None;
        }
        let id = lb.id.clone();
        self.lbs.push(lb);
        Ok(Reply::with(202, json!({ "uuid": id })))
    }

    pub fn get_lb(&self, id: &str) -> ApiResult {
        let lb = self
            .lbs
            .iter()
            .find(|lb| lb.id == id)
            .ok_or_else(|| lb_not_found(id))?;
        Ok(Reply::ok(json!({ "data": self.render_lb(lb) })))
    }

    pub fn list_lbs(&self, query: &str) -> ApiResult {
        let mut name = String::new();
        let mut page = 1i64;
        let mut size = 10i64;
        let mut tags: Vec<(String, Option<String>)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "name" => name = v.into_owned(),
                "page" => page = v.parse().unwrap_or(1),
                "size" => size = v.parse().unwrap_or(10),
                "tags" => {
                    let mut key = None;
                    let mut value = None;
                    for part in v.split(',') {
                        if let Some(k) = part.strip_prefix("key:") {
                            key = Some(k.to_owned());
                        } else if let Some(val) = part.strip_prefix("value:") {
                            value = Some(val.to_owned());
                        }
                    }
                    if let Some(key) = key {
                        tags.push((key, value));
                    }
                }
                _ => {}
            }
        }
        // The SDK's offset 0 (the Go controller's `page=0`) is the first page.
        if page < 0 || size < 1 {
            return Err(ApiError::bad("Page or size invalid"));
        }
        let page = page.max(1);
        let matched: Vec<&LoadBalancer> = self
            .lbs
            .iter()
            .filter(|lb| name.is_empty() || lb.name.contains(&name))
            .filter(|lb| {
                tags.iter().all(|(k, v)| {
                    lb.tags
                        .iter()
                        .any(|t| &t.key == k && v.as_ref().is_none_or(|v| &t.value == v))
                })
            })
            .collect();
        let total = matched.len() as i64;
        let total_page = (total + size - 1) / size;
        let items: Vec<Value> = matched
            .into_iter()
            .skip(((page - 1) * size) as usize)
            .take(size as usize)
            .map(|lb| self.render_lb(lb))
            .collect();
        Ok(Reply::ok(json!({
            "listData": items,
            "page": page,
            "pageSize": size,
            "totalPage": total_page,
            "totalItem": total,
        })))
    }

    pub fn delete_lb(&mut self, now: Instant, id: &str) -> ApiResult {
        let i = self.lb_index(id).ok_or_else(|| lb_not_found(id))?;
        match self.lbs[i].phase {
            LbPhase::Creating => {
                return Err(ApiError::bad(format!("Load balancer id {id} is creating")));
            }
            LbPhase::Deleting => {
                return Err(ApiError::bad(format!("Load balancer id {id} is deleting")));
            }
            LbPhase::Updating => {
                return Err(ApiError::bad(format!("Load balancer id {id} is updating")));
            }
            LbPhase::Active | LbPhase::Error => {}
        }
        let delay = self.delays.delete_ms;
        if delay == 0 {
            self.lbs.remove(i);
        } else {
            let lb = &mut self.lbs[i];
            lb.phase = LbPhase::Deleting;
            lb.phase_until = Some(now + Duration::from_millis(delay));
        }
        Ok(Reply::with(202, json!({})))
    }

    pub fn resize_lb(&mut self, now: Instant, id: &str, req: &ResizeReq) -> ApiResult {
        let i = self.lb_for_change(id, false)?;
        let Some(package) = self.package(&req.package_id) else {
            return Err(ApiError::bad(format!(
                "Invalid package id {}",
                req.package_id
            )));
        };
        if package.lb_type != self.lbs[i].lb_type {
            return Err(ApiError::bad(format!(
                "Invalid package id {}",
                req.package_id
            )));
        }
        if self.lbs[i].package_id == req.package_id {
            return Err(ApiError::bad(format!(
                "The package {} is the same as the current package",
                req.package_id
            )));
        }
        self.lbs[i].package_id.clone_from(&req.package_id);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({ "uuid": id })))
    }

    #[allow(clippy::unnecessary_wraps)] // uniform handler signature
    pub fn list_packages(&self, query: &str) -> ApiResult {
        let zone = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "zoneId")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let items: Vec<Value> = self
            .fixture
            .packages
            .iter()
            .filter(|p| zone.is_empty() || p.zone_id == zone)
            .map(|p| {
                json!({
                    "uuid": p.id,
                    "name": p.name,
                    "type": "NORMAL",
                    "connectionNumber": p.connection_number,
                    "dataTransfer": p.data_transfer,
                    "mode": "FIXED",
                    "lbType": if p.lb_type == "Layer 7" { "LAYER_7" } else { "LAYER_4" },
                    "displayLbType": p.lb_type,
                })
            })
            .collect();
        Ok(Reply::ok(json!({ "listData": items })))
    }

    // ------------------------------------------------------------ listeners

    fn lb_ref(&self, id: &str) -> Result<&LoadBalancer, ApiError> {
        self.lbs
            .iter()
            .find(|lb| lb.id == id)
            .ok_or_else(|| lb_not_found(id))
    }

    pub fn list_listeners(&self, lb_id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let data: Vec<Value> = lb
            .listeners
            .iter()
            .map(|l| render_listener(lb, l))
            .collect();
        Ok(Reply::ok(self.data_list(&data)))
    }

    pub fn get_listener(&self, lb_id: &str, id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let l = lb
            .listeners
            .iter()
            .find(|l| l.id == id)
            .ok_or_else(|| listener_not_found(id))?;
        Ok(Reply::ok(json!({ "data": render_listener(lb, l) })))
    }

    pub fn create_listener(&mut self, now: Instant, lb_id: &str, req: &ListenerReq) -> ApiResult {
        let i = self.lb_for_change(lb_id, true)?;
        let lb = &self.lbs[i];
        let l = self.build_listener(lb, req, &lb.pools)?;
        let id = l.id.clone();
        self.lbs[i].listeners.push(l);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({ "uuid": id })))
    }

    /// The whole new state of a listener (`UpdateListenerRequest`): `defaultPoolId: ""`
    /// detaches the default pool; empty or zero values take the create defaults; on HTTPS
    /// the certificate fields are replaced (`null` clears them).
    pub fn update_listener(
        &mut self,
        now: Instant,
        lb_id: &str,
        id: &str,
        req: &UpdateListenerReq,
    ) -> ApiResult {
        let object = BusyObject::Listener(id.to_owned());
        let i = self.lb_for_object_change(lb_id, true, &object)?;
        let lb = &self.lbs[i];
        let li = lb
            .listeners
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(|| listener_not_found(id))?;
        let protocol = lb.listeners[li].protocol.clone();
        let wanted = req.default_pool_id.as_deref().unwrap_or_default();
        let default_pool = if wanted.is_empty() {
            None
        } else {
            let pool = lb
                .pools
                .iter()
                .find(|p| p.id == wanted)
                .ok_or_else(|| pool_not_found(wanted))?;
            check_listener_pool(&protocol, &pool.protocol)?;
            Some(pool.id.clone())
        };
        let https = protocol == "HTTPS";
        if https
            && req
                .default_certificate_authority
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad(
                "The default certificate authority is required for HTTPS listener",
            ));
        }
        let positive = |v: i64, default: i64| if v > 0 { v } else { default };
        let l = &mut self.lbs[i].listeners[li];
        l.allowed_cidrs = if req.allowed_cidrs.is_empty() {
            "0.0.0.0/0".to_owned()
        } else {
            req.allowed_cidrs.clone()
        };
        l.timeout_client = positive(req.timeout_client, 50);
        l.timeout_member = positive(req.timeout_member, 50);
        l.timeout_connection = positive(req.timeout_connection, 5);
        l.default_pool_id = default_pool;
        if https {
            l.certificate_authorities = req.certificate_authorities.clone().unwrap_or_default();
            l.default_certificate_authority
                .clone_from(&req.default_certificate_authority);
            l.client_certificate.clone_from(&req.client_certificate);
        }
        l.insert_headers = req.insert_headers.clone().unwrap_or_default();
        l.updated_at = now_rfc3339();
        self.start_update_of(i, now, Some(object));
        Ok(Reply::with(202, json!({})))
    }

    pub fn delete_listener(&mut self, now: Instant, lb_id: &str, id: &str) -> ApiResult {
        let i = self.lb_for_object_change(lb_id, true, &BusyObject::Listener(id.to_owned()))?;
        let li = self.lbs[i]
            .listeners
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(|| listener_not_found(id))?;
        self.lbs[i].listeners.remove(li);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({})))
    }

    // ------------------------------------------------------------ pools

    pub fn list_pools(&self, lb_id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let data: Vec<Value> = lb.pools.iter().map(|p| render_pool(lb, p)).collect();
        Ok(Reply::ok(self.data_list(&data)))
    }

    fn pool_ref<'a>(lb: &'a LoadBalancer, id: &str) -> Result<&'a Pool, ApiError> {
        lb.pools
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| pool_not_found(id))
    }

    pub fn get_pool(&self, lb_id: &str, id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let p = Self::pool_ref(lb, id)?;
        Ok(Reply::ok(json!({ "data": render_pool(lb, p) })))
    }

    pub fn get_health_monitor(&self, lb_id: &str, id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let p = Self::pool_ref(lb, id)?;
        Ok(Reply::ok(json!({ "data": render_health_monitor(lb, p) })))
    }

    pub fn list_members(&self, lb_id: &str, id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let p = Self::pool_ref(lb, id)?;
        let data: Vec<Value> = p.members.iter().map(|m| render_member(lb, p, m)).collect();
        Ok(Reply::ok(self.data_list(&data)))
    }

    pub fn create_pool(&mut self, now: Instant, lb_id: &str, req: &PoolReq) -> ApiResult {
        let i = self.lb_for_change(lb_id, false)?;
        let lb = &self.lbs[i];
        if lb.pools.iter().any(|p| p.name == req.pool_name) {
            return Err(ApiError::bad(format!(
                "Duplicated pool name {}",
                req.pool_name
            )));
        }
        let p = self.build_pool(&lb.lb_type, &lb.subnet_id, req)?;
        let id = p.id.clone();
        self.lbs[i].pools.push(p);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({ "uuid": id })))
    }

    /// The whole new state of a pool (`UpdatePoolRequest`): an empty algorithm is
    /// `ROUND_ROBIN`, a missing `stickiness`/`tlsEncryption` is false, a missing health
    /// monitor is the default one (as on create).
    pub fn update_pool(
        &mut self,
        now: Instant,
        lb_id: &str,
        id: &str,
        req: &UpdatePoolReq,
    ) -> ApiResult {
        let object = BusyObject::Pool(id.to_owned());
        let i = self.lb_for_object_change(lb_id, true, &object)?;
        let pi = self.lbs[i]
            .pools
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| pool_not_found(id))?;
        let stamp = now_rfc3339();
        let protocol = self.lbs[i].pools[pi].protocol.clone();
        let mut hm = build_hm(&protocol, req.health_monitor.as_ref(), &stamp)?;
        let algorithm = if req.algorithm.is_empty() {
            "ROUND_ROBIN".to_owned()
        } else {
            req.algorithm.clone()
        };
        check_algorithm(&algorithm)?;
        let p = &mut self.lbs[i].pools[pi];
        p.algorithm = algorithm;
        p.stickiness = req.stickiness.unwrap_or(false);
        p.tls_encryption = req.tls_encryption.unwrap_or(false);
        hm.id.clone_from(&p.health_monitor.id);
        hm.created_at.clone_from(&p.health_monitor.created_at);
        p.health_monitor = hm;
        p.updated_at = stamp;
        self.start_update_of(i, now, Some(object));
        Ok(Reply::with(202, json!({})))
    }

    pub fn update_members(
        &mut self,
        now: Instant,
        lb_id: &str,
        id: &str,
        req: &MembersReq,
    ) -> ApiResult {
        let object = BusyObject::Pool(id.to_owned());
        let i = self.lb_for_object_change(lb_id, true, &object)?;
        let lb = &self.lbs[i];
        let pi = lb
            .pools
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| pool_not_found(id))?;
        let stamp = now_rfc3339();
        let members = self.build_members(&req.members, &lb.subnet_id, &stamp)?;
        let mut old: Vec<_> = lb.pools[pi].members.iter().map(member_key).collect();
        let mut new: Vec<_> = members.iter().map(member_key).collect();
        old.sort();
        new.sort();
        if old == new {
            return Err(ApiError::bad(
                "The members provided are identical to the existing members in the pool",
            ));
        }
        // Members that did not change keep their ids.
        let previous = lb.pools[pi].members.clone();
        let members = members
            .into_iter()
            .map(|mut m| {
                if let Some(p) = previous.iter().find(|p| member_key(p) == member_key(&m)) {
                    m.id.clone_from(&p.id);
                    m.created_at.clone_from(&p.created_at);
                }
                m
            })
            .collect();
        let p = &mut self.lbs[i].pools[pi];
        p.members = members;
        p.updated_at = stamp;
        self.start_update_of(i, now, Some(object));
        Ok(Reply::with(202, json!({})))
    }

    pub fn delete_pool(&mut self, now: Instant, lb_id: &str, id: &str) -> ApiResult {
        let i = self.lb_for_object_change(lb_id, false, &BusyObject::Pool(id.to_owned()))?;
        let lb = &self.lbs[i];
        let pi = lb
            .pools
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| pool_not_found(id))?;
        if let Some(l) = lb
            .listeners
            .iter()
            .find(|l| l.default_pool_id.as_deref() == Some(id))
        {
            return Err(ApiError::bad(format!(
                "Pool id {id} is used in listener {}",
                l.id
            )));
        }
        if let Some(l) = lb
            .listeners
            .iter()
            .find(|l| l.policies.iter().any(|p| p.redirect_pool_id == id))
        {
            return Err(ApiError::bad(format!(
                "Pool id {id} is used in listener {} policy",
                l.id
            )));
        }
        self.lbs[i].pools.remove(pi);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({})))
    }

    // ------------------------------------------------------------ policies

    fn listener_index(&self, i: usize, id: &str) -> Result<usize, ApiError> {
        self.lbs[i]
            .listeners
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(|| listener_not_found(id))
    }

    pub fn list_policies(&self, lb_id: &str, lis: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let l = lb
            .listeners
            .iter()
            .find(|l| l.id == lis)
            .ok_or_else(|| listener_not_found(lis))?;
        let data: Vec<Value> = l.policies.iter().map(|p| render_policy(lb, p)).collect();
        let n = data.len();
        Ok(Reply::ok(json!({
            "data": data, "page": 1, "pageSize": n.max(1), "totalPage": 1, "totalItem": n,
        })))
    }

    pub fn get_policy(&self, lb_id: &str, lis: &str, id: &str) -> ApiResult {
        let lb = self.lb_ref(lb_id)?;
        let l = lb
            .listeners
            .iter()
            .find(|l| l.id == lis)
            .ok_or_else(|| listener_not_found(lis))?;
        let p = l
            .policies
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get policy with id {id}")))?;
        Ok(Reply::ok(json!({ "data": render_policy(lb, p) })))
    }

    fn check_policy(&self, i: usize, req: &PolicyReq) -> Result<Vec<PolicyRule>, ApiError> {
        match req.action.as_str() {
            "REJECT" => {}
            "REDIRECT_TO_URL" => {
                if req.redirect_url.is_empty() {
                    return Err(ApiError::bad("The redirect url is required"));
                }
            }
            "REDIRECT_TO_POOL" => {
                Self::pool_ref(&self.lbs[i], &req.redirect_pool_id)?;
            }
            other => return Err(ApiError::bad(format!("Policy action {other} is invalid"))),
        }
        if req.rules.is_empty() {
            return Err(ApiError::bad("A policy needs at least one rule"));
        }
        req.rules
            .iter()
            .map(|r| {
                if !matches!(
                    r.compare_type.as_str(),
                    "CONTAINS" | "EQUAL_TO" | "REGEX" | "STARTS_WITH" | "ENDS_WITH"
                ) || !matches!(r.rule_type.as_str(), "HOST_NAME" | "PATH")
                {
                    return Err(ApiError::bad(format!(
                        "Rule {} {} is invalid",
                        r.rule_type, r.compare_type
                    )));
                }
                Ok(PolicyRule {
                    id: new_id("rule"),
                    compare_type: r.compare_type.clone(),
                    rule_type: r.rule_type.clone(),
                    rule_value: r.rule_value.clone(),
                })
            })
            .collect()
    }

    pub fn create_policy(
        &mut self,
        now: Instant,
        lb_id: &str,
        lis: &str,
        req: &PolicyReq,
    ) -> ApiResult {
        let i = self.lb_for_change(lb_id, false)?;
        let li = self.listener_index(i, lis)?;
        check_name("policy", &req.name)?;
        if !matches!(
            self.lbs[i].listeners[li].protocol.as_str(),
            "HTTP" | "HTTPS"
        ) {
            return Err(ApiError::bad(
                "L7 policies are only supported by HTTP and HTTPS listeners",
            ));
        }
        let rules = self.check_policy(i, req)?;
        let stamp = now_rfc3339();
        let l = &mut self.lbs[i].listeners[li];
        let p = Policy {
            id: new_id("policy"),
            name: req.name.clone(),
            action: req.action.clone(),
            redirect_pool_id: req.redirect_pool_id.clone(),
            redirect_url: req.redirect_url.clone(),
            redirect_http_code: req.redirect_http_code,
            keep_query_string: req.keep_query_string,
            position: l.policies.len() as i64 + 1,
            rules,
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        let id = p.id.clone();
        l.policies.push(p);
        self.start_update(i, now);
        Ok(Reply::with(202, json!({ "uuid": id })))
    }

    pub fn update_policy(
        &mut self,
        now: Instant,
        lb_id: &str,
        lis: &str,
        id: &str,
        req: &PolicyReq,
    ) -> ApiResult {
        let i = self.lb_for_change(lb_id, false)?;
        let li = self.listener_index(i, lis)?;
        let pi = self.lbs[i].listeners[li]
            .policies
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get policy with id {id}")))?;
        let rules = self.check_policy(i, req)?;
        let p = &mut self.lbs[i].listeners[li].policies[pi];
        p.action.clone_from(&req.action);
        p.redirect_pool_id.clone_from(&req.redirect_pool_id);
        p.redirect_url.clone_from(&req.redirect_url);
        p.redirect_http_code = req.redirect_http_code;
        p.keep_query_string = req.keep_query_string;
        p.rules = rules;
        p.updated_at = now_rfc3339();
        self.start_update(i, now);
        Ok(Reply::with(202, json!({})))
    }

    pub fn delete_policy(&mut self, now: Instant, lb_id: &str, lis: &str, id: &str) -> ApiResult {
        let i = self.lb_for_change(lb_id, false)?;
        let li = self.listener_index(i, lis)?;
        let l = &mut self.lbs[i].listeners[li];
        let pi = l
            .policies
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get policy with id {id}")))?;
        l.policies.remove(pi);
        for (n, p) in l.policies.iter_mut().enumerate() {
            p.position = n as i64 + 1;
        }
        self.start_update(i, now);
        Ok(Reply::with(202, json!({})))
    }

    pub fn reorder_policies(
        &mut self,
        now: Instant,
        lb_id: &str,
        lis: &str,
        req: &ReorderReq,
    ) -> ApiResult {
        let i = self.lb_for_change(lb_id, false)?;
        let li = self.listener_index(i, lis)?;
        let l = &mut self.lbs[i].listeners[li];
        let mut ids: Vec<&str> = req.policies.iter().map(|p| p.policy_id.as_str()).collect();
        ids.sort_unstable();
        let mut have: Vec<&str> = l.policies.iter().map(|p| p.id.as_str()).collect();
        have.sort_unstable();
        if ids != have {
            return Err(ApiError::bad(
                "The policies to reorder must be exactly the policies of the listener",
            ));
        }
        for p in &mut l.policies {
            if let Some(pos) = req.policies.iter().find(|x| x.policy_id == p.id) {
                p.position = pos.position;
            }
        }
        l.policies.sort_by_key(|p| p.position);
        for (n, p) in l.policies.iter_mut().enumerate() {
            p.position = n as i64 + 1;
        }
        self.start_update(i, now);
        Ok(Reply::with(202, json!({})))
    }

    // ------------------------------------------------------------ certificates

    #[allow(clippy::unnecessary_wraps)] // uniform handler signature
    pub fn list_certificates(&self) -> ApiResult {
        let data: Vec<Value> = self.certificates.iter().map(render_certificate).collect();
        let n = data.len();
        Ok(Reply::ok(json!({
            "listData": data, "page": 1, "pageSize": n.max(10), "totalPage": 1, "totalItem": n,
        })))
    }

    pub fn get_certificate(&self, id: &str) -> ApiResult {
        let c = self
            .certificates
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get certificate with id {id}")))?;
        Ok(Reply::ok(render_certificate(c)))
    }

    pub fn create_certificate(&mut self, req: &CertReq) -> ApiResult {
        check_name("certificate", &req.name)?;
        if !matches!(req.cert_type.as_str(), "TLS/SSL" | "CA") {
            return Err(ApiError::bad(format!(
                "Certificate type {} is invalid",
                req.cert_type
            )));
        }
        if !req.certificate.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ApiError::bad(
                "The certificate is not a valid PEM certificate",
            ));
        }
        if req.cert_type == "TLS/SSL" && req.private_key.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad(
                "The private key is required for TLS/SSL certificate",
            ));
        }
        if self.certificates.iter().any(|c| c.name == req.name) {
            return Err(ApiError::bad(format!(
                "Certificate name {} already exists",
                req.name
            )));
        }
        let c = Certificate {
            id: new_id("secret"),
            name: req.name.clone(),
            cert_type: req.cert_type.clone(),
            certificate: req.certificate.clone(),
            imported_at: now_rfc3339(),
        };
        let body = json!({ "data": render_certificate(&c) });
        self.certificates.push(c);
        Ok(Reply::with(201, body))
    }

    pub fn delete_certificate(&mut self, id: &str) -> ApiResult {
        let i = self
            .certificates
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get certificate with id {id}")))?;
        let in_use = self.lbs.iter().flat_map(|lb| &lb.listeners).any(|l| {
            l.default_certificate_authority.as_deref() == Some(id)
                || l.certificate_authorities.iter().any(|c| c == id)
                || l.client_certificate.as_deref() == Some(id)
        });
        if in_use {
            return Err(ApiError::bad(format!("Certificate {id} is in use")));
        }
        self.certificates.remove(i);
        Ok(Reply::with(204, Value::Null))
    }

    // ------------------------------------------------------------ tags

    pub fn list_tags(&self, resource: &str) -> ApiResult {
        let lb = self.lb_ref(resource)?;
        if lb.tags.is_empty() && self.null_empty_lists {
            return Ok(Reply::ok(Value::Null));
        }
        Ok(Reply::ok(
            serde_json::to_value(&lb.tags).unwrap_or(Value::Null),
        ))
    }

    pub fn put_tags(&mut self, resource: &str, req: &TagsReq, replace: bool) -> ApiResult {
        let i = self
            .lb_index(resource)
            .ok_or_else(|| lb_not_found(resource))?;
        for t in &req.tag_request_list {
            if t.key.is_empty()
                || !t
                    .key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
            {
                return Err(ApiError::bad(
                    "The value for the tag key contains illegal characters",
                ));
            }
        }
        let stamp = now_rfc3339();
        let lb = &mut self.lbs[i];
        if replace {
            lb.tags.retain(|t| t.system_tag);
        }
        for t in &req.tag_request_list {
            if let Some(existing) = lb.tags.iter_mut().find(|x| x.key == t.key && !x.system_tag) {
                existing.value.clone_from(&t.value);
            } else if !lb.tags.iter().any(|x| x.key == t.key) {
                lb.tags.push(Tag {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    created_at: stamp.clone(),
                    system_tag: false,
                });
            }
        }
        Ok(Reply::ok(
            serde_json::to_value(&lb.tags).unwrap_or(Value::Null),
        ))
    }

    // ------------------------------------------------------------ vServer

    pub fn get_server(&self, id: &str) -> ApiResult {
        let s = self
            .servers
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get server with id {id}")))?;
        Ok(Reply::ok(
            json!({ "data": render_server(s, &self.secgroups) }),
        ))
    }

    pub fn update_server_secgroups(
        &mut self,
        now: Instant,
        id: &str,
        req: &ServerSecgroupsReq,
    ) -> ApiResult {
        let i = self
            .servers
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Cannot get server with id {id}")))?;
        if self.servers[i].busy_until.is_some() {
            return Err(ApiError::bad(
                "Cannot change security group of server with status changing-security-group",
            ));
        }
        let known: std::collections::HashSet<&str> =
            self.secgroups.iter().map(|x| x.id.as_str()).collect();
        for g in &req.security_group {
            if !known.contains(g.as_str()) {
                return Err(secgroup_not_found(g));
            }
        }
        let mut seen = std::collections::HashSet::new();
        let groups: Vec<String> = req
            .security_group
            .iter()
            .filter(|g| seen.insert(g.as_str()))
            .cloned()
            .collect();
        self.servers[i].security_groups = groups;
        if self.delays.update_ms > 0 {
            self.servers[i].busy_until = Some(now + Duration::from_millis(self.delays.update_ms));
        }
        Ok(Reply::with(
            202,
            json!({ "data": render_server(&self.servers[i], &self.secgroups) }),
        ))
    }

    pub fn get_network(&self, id: &str) -> ApiResult {
        let n = self
            .fixture
            .networks
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Network with id {id} is not found")))?;
        Ok(Reply::ok(json!({
            "status": "ACTIVE",
            "elasticIps": [],
            "displayName": n.name,
            "id": n.id,
            "createdAt": "2026-01-01T00:00:00Z",
            "cidr": n.cidr,
        })))
    }

    pub fn get_subnet(&self, net: &str, id: &str) -> ApiResult {
        let (n, s) = self
            .fixture
            .subnets()
            .find(|(_, s)| s.id == id)
            .ok_or_else(|| ApiError::new(404, format!("Subnet with id {id} is not found")))?;
        if n.id != net {
            return Err(ApiError::new(
                404,
                format!("Subnet id: {id} belong to network id: {net} not found"),
            ));
        }
        Ok(Reply::ok(json!({
            "uuid": s.id,
            "createdAt": "2026-01-01T00:00:00Z",
            "status": "ACTIVE",
            "cidr": s.cidr,
            "networkUuid": n.id,
            "name": s.name,
            "zone": {"uuid": s.zone_id},
        })))
    }

    #[allow(clippy::unnecessary_wraps)] // uniform handler signature
    pub fn list_secgroups(&self) -> ApiResult {
        let data: Vec<Value> = self.secgroups.iter().map(render_secgroup).collect();
        let n = data.len();
        Ok(Reply::ok(json!({
            "listData": data, "page": 1, "pageSize": n.max(10), "totalPage": 1, "totalItem": n,
        })))
    }

    pub fn get_secgroup(&self, id: &str) -> ApiResult {
        let g = self
            .secgroups
            .iter()
            .find(|g| g.id == id)
            .ok_or_else(|| secgroup_not_found(id))?;
        Ok(Reply::ok(json!({ "data": render_secgroup(g) })))
    }

    pub fn create_secgroup(&mut self, req: &SecgroupReq) -> ApiResult {
        let used = self.secgroups.len() as u32;
        if used >= self.fixture.quotas.security_groups {
            return Err(ApiError::bad(format!(
                "Exceeded SECGROUP quota. Current used: {used}, quota: {}",
                self.fixture.quotas.security_groups
            )));
        }
        check_name("security group", &req.name)?;
        if self.secgroups.iter().any(|g| g.name == req.name) {
            return Err(ApiError::bad("Name of security group already exist"));
        }
        let g = SecurityGroup {
            id: new_id("secg"),
            name: req.name.clone(),
            description: req.description.clone(),
            created_at: now_rfc3339(),
            is_system: false,
            rules: Vec::new(),
        };
        let body = json!({ "data": {
            "id": self.secgroups.len() + 1000,
            "uuid": g.id,
            "createdAt": g.created_at,
            "status": "ACTIVE",
            "secgroupId": self.secgroups.len() + 1000,
            "secgroupName": g.name,
            "projectUuid": self.fixture.project_id,
            "description": g.description,
            "isSystem": false,
            "type": "",
        }});
        self.secgroups.push(g);
        Ok(Reply::with(201, body))
    }

    pub fn delete_secgroup(&mut self, id: &str) -> ApiResult {
        let i = self
            .secgroups
            .iter()
            .position(|g| g.id == id)
            .ok_or_else(|| secgroup_not_found(id))?;
        if let Some(s) = self
            .servers
            .iter()
            .find(|s| s.security_groups.iter().any(|g| g == id))
        {
            return Err(ApiError::new(
                409,
                format!(
                    "SecurityGroupInUse: Security group {id} is in use by server {}",
                    s.id
                ),
            ));
        }
        self.secgroups.remove(i);
        Ok(Reply::with(204, Value::Null))
    }

    pub fn list_rules(&self, sg: &str) -> ApiResult {
        let g = self
            .secgroups
            .iter()
            .find(|g| g.id == sg)
            .ok_or_else(|| secgroup_not_found(sg))?;
        let data: Vec<Value> = g.rules.iter().map(render_rule).collect();
        Ok(Reply::ok(self.data_list(&data)))
    }

    pub fn create_rule(&mut self, sg: &str, req: &SecgroupRuleReq) -> ApiResult {
        let quota = self.fixture.quotas.security_group_rules;
        let gi = self
            .secgroups
            .iter()
            .position(|g| g.id == sg)
            .ok_or_else(|| secgroup_not_found(sg))?;
        let used = self.secgroups[gi].rules.len() as u32;
        if used >= quota {
            return Err(ApiError::bad(format!(
                "Exceeded SECGROUP_RULE quota. Current used: {used}, quota: {quota}"
            )));
        }
        let direction = req.direction.to_ascii_lowercase();
        if !matches!(direction.as_str(), "ingress" | "egress") {
            return Err(ApiError::bad(format!(
                "Direction {} is invalid",
                req.direction
            )));
        }
        let protocol = req.protocol.to_ascii_uppercase();
        if !matches!(protocol.as_str(), "TCP" | "UDP" | "ICMP" | "ANY") {
            return Err(ApiError::bad(format!(
                "Protocol {} is invalid",
                req.protocol
            )));
        }
        if matches!(protocol.as_str(), "TCP" | "UDP") {
            check_port("port range min", req.port_range_min)?;
            check_port("port range max", req.port_range_max)?;
            if req.port_range_min > req.port_range_max {
                return Err(ApiError::bad(
                    "Port range min must not exceed port range max",
                ));
            }
        }
        if !req.remote_ip_prefix.is_empty() && req.remote_ip_prefix.parse::<ipnet::IpNet>().is_err()
        {
            return Err(ApiError::bad(format!(
                "Remote ip prefix {} is invalid",
                req.remote_ip_prefix
            )));
        }
        let ether = if req.ether_type.is_empty() {
            "IPv4".to_owned()
        } else {
            req.ether_type.clone()
        };
        let g = &self.secgroups[gi];
        let dup = g.rules.iter().any(|r| {
            r.direction == direction
                && r.ether_type == ether
                && r.protocol == protocol
                && r.port_range_min == req.port_range_min
                && r.port_range_max == req.port_range_max
                && r.remote_ip_prefix == req.remote_ip_prefix
        });
        if dup {
            return Err(ApiError::new(
                409,
                "SecurityGroupRuleExists: Security group rule already exists",
            ));
        }
        let r = SecurityGroupRule {
            id: new_id("sgr"),
            direction,
            ether_type: ether,
            protocol,
            port_range_min: req.port_range_min,
            port_range_max: req.port_range_max,
            remote_ip_prefix: req.remote_ip_prefix.clone(),
            description: req.description.clone(),
            created_at: now_rfc3339(),
        };
        let body = json!({ "data": {
            "id": used + 1,
            "uuid": r.id,
            "createdAt": r.created_at,
            "status": "ACTIVE",
            "secgroupUuid": sg,
            "direction": r.direction,
            "etherType": r.ether_type,
            "portRangeMax": r.port_range_max,
            "portRangeMin": r.port_range_min,
            "protocol": r.protocol,
            "ruleId": used + 1,
            "description": r.description,
            "remoteIpPrefix": r.remote_ip_prefix,
            "isSystem": false,
        }});
        self.secgroups[gi].rules.push(r);
        Ok(Reply::with(201, body))
    }

    /// Deletes a rule; under the group id `undefined` (what the SDK's
    /// `NewDeleteSecgroupRuleByIdRequest` sends) the rule is looked up in every group.
    pub fn delete_rule(&mut self, sg: &str, id: &str) -> ApiResult {
        let g = if sg == "undefined" {
            self.secgroups
                .iter_mut()
                .find(|g| g.rules.iter().any(|r| r.id == id))
                .ok_or_else(|| {
                    ApiError::new(404, format!("Cannot get security group rule with id {id}"))
                })?
        } else {
            self.secgroups
                .iter_mut()
                .find(|g| g.id == sg)
                .ok_or_else(|| secgroup_not_found(sg))?
        };
        let i = g.rules.iter().position(|r| r.id == id).ok_or_else(|| {
            ApiError::new(404, format!("Cannot get security group rule with id {id}"))
        })?;
        g.rules.remove(i);
        Ok(Reply::with(204, Value::Null))
    }

    pub fn servers_of_secgroup(&self, sg: &str) -> ApiResult {
        if !self.secgroups.iter().any(|g| g.id == sg) {
            return Err(secgroup_not_found(sg));
        }
        let data: Vec<Value> = self
            .servers
            .iter()
            .filter(|s| s.security_groups.iter().any(|g| g == sg))
            .map(|s| json!({"name": s.name, "uuid": s.id, "status": "ACTIVE"}))
            .collect();
        Ok(Reply::ok(json!({ "data": data })))
    }

    pub fn quotas(&self) -> Value {
        let q = self.fixture.quotas;
        let rules: usize = self
            .secgroups
            .iter()
            .map(|g| g.rules.len())
            .max()
            .unwrap_or(0);
        json!({ "data": [
            {"description": "Load balancers per project", "quotaName": "LOAD_BALANCER", "type": "VLB",
             "used": self.lbs.len().to_string(), "limit": q.load_balancers},
            {"description": "Security groups per project", "quotaName": "SECGROUP", "type": "VSERVER",
             "used": self.secgroups.len().to_string(), "limit": q.security_groups},
            {"description": "Rules per security group", "quotaName": "SECGROUP_RULE", "type": "VSERVER",
             "used": rules.to_string(), "limit": q.security_group_rules},
        ]})
    }

    pub fn snapshot(&self) -> Value {
        json!({
            "projectId": self.fixture.project_id,
            "loadBalancers": self.lbs,
            "certificates": self.certificates,
            "securityGroups": self.secgroups,
            "servers": self.servers,
        })
    }
}
