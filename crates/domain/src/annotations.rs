//! Service annotations (prefix `vks.vngcloud.vn/`) → validated [`ServiceSettings`].
//!
//! Every bad value of one Service is reported at once ([`AnnotationErrors`]), each naming
//! the annotation, the value given and what is accepted.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;

use crate::model::{
    HealthCheckHttpVersion, HealthCheckMethod, HealthCheckProtocol, LoadBalancerScheme,
    PoolAlgorithm,
};

/// Prefix of every annotation.
pub const PREFIX: &str = "vks.vngcloud.vn/";

/// Longest tag key the `tags` annotation may carry, in characters.
///
/// Neither the VNGCloud SDK nor the Go controller writes a limit down (the SDK only knows the
/// API's "the value for the tag key contains illegal characters" error): this is the
/// conservative limit of the common cloud tag rules (AWS, OpenStack-based clouds: 128).
pub const TAG_KEY_MAX_CHARS: usize = 128;

/// Longest tag value the `tags` annotation may carry, in characters (chosen like
/// [`TAG_KEY_MAX_CHARS`]: 255, the smaller of the common 255 and 256).
pub const TAG_VALUE_MAX_CHARS: usize = 255;

/// Annotation suffixes.
pub mod keys {
    /// Name of an existing or new load balancer.
    pub const LOAD_BALANCER_NAME: &str = "load-balancer-name";
    /// Id of an existing load balancer to adopt.
    pub const LOAD_BALANCER_ID: &str = "load-balancer-id";
    /// vLB package.
    pub const PACKAGE_ID: &str = "package-id";
    /// `Internal`, `Internet`, `InterVPC`.
    pub const SCHEME: &str = "scheme";
    /// `instance` or `ip`.
    pub const TARGET_TYPE: &str = "target-type";
    /// Leave the Service alone.
    pub const IGNORE: &str = "ignore";
    /// `false`: no load balancer.
    pub const ENABLE_LOAD_BALANCER: &str = "enable-load-balancer";
    /// Extra cloud tags.
    pub const TAGS: &str = "tags";
    /// Extra security groups.
    pub const SECURITY_GROUPS: &str = "security-groups";
    /// Member node labels.
    pub const TARGET_NODE_LABELS: &str = "target-node-labels";
    /// Autoscaling.
    pub const ENABLE_AUTOSCALE: &str = "enable-autoscale";
    /// Preferred zone.
    pub const PREFER_ZONE_ID: &str = "prefer-zone-id";
    /// Preferred subnet.
    pub const PREFER_SUBNET_ID: &str = "prefer-subnet-id";
    /// InterVPC private subnet.
    pub const PRIVATE_SUBNET_ID: &str = "private-subnet-id";
    /// InterVPC private zone.
    pub const PRIVATE_ZONE_ID: &str = "private-zone-id";
    /// Client idle timeout.
    pub const IDLE_TIMEOUT_CLIENT: &str = "idle-timeout-client";
    /// Member idle timeout.
    pub const IDLE_TIMEOUT_MEMBER: &str = "idle-timeout-member";
    /// Connect timeout.
    pub const IDLE_TIMEOUT_CONNECTION: &str = "idle-timeout-connection";
    /// Allowed CIDRs.
    pub const INBOUND_CIDRS: &str = "inbound-cidrs";
    /// Health-check protocol.
    pub const HEALTHCHECK_PROTOCOL: &str = "healthcheck-protocol";
    /// Health-check port.
    pub const HEALTHCHECK_PORT: &str = "healthcheck-port";
    /// Health-check path.
    pub const HEALTHCHECK_PATH: &str = "healthcheck-path";
    /// Health-check success codes.
    pub const HEALTHCHECK_SUCCESS_CODES: &str = "healthcheck-success-codes";
    /// Health-check HTTP method.
    pub const HEALTHCHECK_METHOD: &str = "healthcheck-method";
    /// Health-check HTTP version.
    pub const HEALTHCHECK_HTTP_VERSION: &str = "healthcheck-http-version";
    /// Health-check Host header.
    pub const HEALTHCHECK_DOMAIN: &str = "healthcheck-domain";
    /// Seconds between checks.
    pub const HEALTHCHECK_INTERVAL_SECONDS: &str = "healthcheck-interval-seconds";
    /// Seconds to wait for a check.
    pub const HEALTHCHECK_TIMEOUT_SECONDS: &str = "healthcheck-timeout-seconds";
    /// Successes before healthy.
    pub const HEALTHY_THRESHOLD_COUNT: &str = "healthy-threshold-count";
    /// Failures before unhealthy.
    pub const UNHEALTHY_THRESHOLD_COUNT: &str = "unhealthy-threshold-count";
    /// Pool algorithm.
    pub const POOL_ALGORITHM: &str = "pool-algorithm";
    /// Port names (or `*`) whose pools use PROXY.
    pub const ENABLE_PROXY_PROTOCOL: &str = "enable-proxy-protocol";
}

/// Every annotation suffix (the reference table), in table order.
pub const ALL: &[&str] = &[
    keys::LOAD_BALANCER_NAME,
    keys::LOAD_BALANCER_ID,
    keys::PACKAGE_ID,
    keys::SCHEME,
    keys::TARGET_TYPE,
    keys::IGNORE,
    keys::ENABLE_LOAD_BALANCER,
    keys::TAGS,
    keys::SECURITY_GROUPS,
    keys::TARGET_NODE_LABELS,
    keys::ENABLE_AUTOSCALE,
    keys::PREFER_ZONE_ID,
    keys::PREFER_SUBNET_ID,
    keys::PRIVATE_SUBNET_ID,
    keys::PRIVATE_ZONE_ID,
    keys::IDLE_TIMEOUT_CLIENT,
    keys::IDLE_TIMEOUT_MEMBER,
    keys::IDLE_TIMEOUT_CONNECTION,
    keys::INBOUND_CIDRS,
    keys::HEALTHCHECK_PROTOCOL,
    keys::HEALTHCHECK_PORT,
    keys::HEALTHCHECK_PATH,
    keys::HEALTHCHECK_SUCCESS_CODES,
    keys::HEALTHCHECK_METHOD,
    keys::HEALTHCHECK_HTTP_VERSION,
    keys::HEALTHCHECK_DOMAIN,
    keys::HEALTHCHECK_INTERVAL_SECONDS,
    keys::HEALTHCHECK_TIMEOUT_SECONDS,
    keys::HEALTHY_THRESHOLD_COUNT,
    keys::UNHEALTHY_THRESHOLD_COUNT,
    keys::POOL_ALGORITHM,
    keys::ENABLE_PROXY_PROTOCOL,
];

/// Names the Go controller used, accepted as aliases: (alias, canonical).
const ALIASES: &[(&str, &str)] = &[
    ("success-codes", keys::HEALTHCHECK_SUCCESS_CODES),
    ("healthcheck-http-method", keys::HEALTHCHECK_METHOD),
    ("healthcheck-http-domain-name", keys::HEALTHCHECK_DOMAIN),
];

/// Where members come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetType {
    /// Node InternalIP + NodePort.
    #[default]
    Instance,
    /// Pod IPs.
    Ip,
}

/// Which pools use the PROXY protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// None.
    #[default]
    Off,
    /// Every TCP port.
    All,
    /// The TCP ports with these names.
    Ports(Vec<String>),
}

impl ProxyProtocol {
    /// Whether the port with this name uses PROXY.
    pub fn applies_to(&self, port_name: &str) -> bool {
        match self {
            Self::Off => false,
            Self::All => true,
            Self::Ports(names) => names.iter().any(|n| n == port_name),
        }
    }
}

/// The validated settings of one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// `load-balancer-name`.
    pub load_balancer_name: Option<String>,
    /// `load-balancer-id`.
    pub load_balancer_id: Option<String>,
    /// `package-id`.
    pub package_id: Option<String>,
    /// `scheme` (default Internet).
    pub scheme: LoadBalancerScheme,
    /// `target-type` (default instance).
    pub target_type: TargetType,
    /// `ignore`.
    pub ignore: bool,
    /// `enable-load-balancer` (default true).
    pub enable_load_balancer: bool,
    /// `tags`.
    pub tags: BTreeMap<String, String>,
    /// `security-groups`.
    pub security_groups: Vec<String>,
    /// `target-node-labels`.
    pub target_node_labels: BTreeMap<String, String>,
    /// `enable-autoscale`.
    pub enable_autoscale: Option<bool>,
    /// `prefer-zone-id`.
    pub prefer_zone_id: Option<String>,
    /// `prefer-subnet-id`.
    pub prefer_subnet_id: Option<String>,
    /// `private-subnet-id`.
    pub private_subnet_id: Option<String>,
    /// `private-zone-id`.
    pub private_zone_id: Option<String>,
    /// `idle-timeout-client` (default 50).
    pub idle_timeout_client: u32,
    /// `idle-timeout-member` (default 50).
    pub idle_timeout_member: u32,
    /// `idle-timeout-connection` (default 5).
    pub idle_timeout_connection: u32,
    /// `inbound-cidrs` (default `0.0.0.0/0`).
    pub inbound_cidrs: Vec<IpNet>,
    /// `healthcheck-protocol` (None: TCP for TCP ports, PING-UDP for UDP ports).
    pub healthcheck_protocol: Option<HealthCheckProtocol>,
    /// `healthcheck-port`.
    pub healthcheck_port: Option<u16>,
    /// `healthcheck-path`.
    pub healthcheck_path: Option<String>,
    /// `healthcheck-success-codes`.
    pub healthcheck_success_codes: Option<String>,
    /// `healthcheck-method`.
    pub healthcheck_method: Option<HealthCheckMethod>,
    /// `healthcheck-http-version`.
    pub healthcheck_http_version: Option<HealthCheckHttpVersion>,
    /// `healthcheck-domain`.
    pub healthcheck_domain: Option<String>,
    /// `healthcheck-interval-seconds` (default 30).
    pub healthcheck_interval: u32,
    /// `healthcheck-timeout-seconds` (default 5).
    pub healthcheck_timeout: u32,
    /// `healthy-threshold-count` (default 3).
    pub healthy_threshold: u32,
    /// `unhealthy-threshold-count` (default 3).
    pub unhealthy_threshold: u32,
    /// `pool-algorithm` (default ROUND_ROBIN).
    pub pool_algorithm: PoolAlgorithm,
    /// `enable-proxy-protocol`.
    pub proxy_protocol: ProxyProtocol,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            load_balancer_name: None,
            load_balancer_id: None,
            package_id: None,
            scheme: LoadBalancerScheme::Internet,
            target_type: TargetType::Instance,
            ignore: false,
            enable_load_balancer: true,
            tags: BTreeMap::new(),
            security_groups: Vec::new(),
            target_node_labels: BTreeMap::new(),
            enable_autoscale: None,
            prefer_zone_id: None,
            prefer_subnet_id: None,
            private_subnet_id: None,
            private_zone_id: None,
            idle_timeout_client: 50,
            idle_timeout_member: 50,
            idle_timeout_connection: 5,
            inbound_cidrs: vec![IpNet::V4(ipnet::Ipv4Net::default())],
            healthcheck_protocol: None,
            healthcheck_port: None,
            healthcheck_path: None,
            healthcheck_success_codes: None,
            healthcheck_method: None,
            healthcheck_http_version: None,
            healthcheck_domain: None,
            healthcheck_interval: 30,
            healthcheck_timeout: 5,
            healthy_threshold: 3,
            unhealthy_threshold: 3,
            pool_algorithm: PoolAlgorithm::RoundRobin,
            proxy_protocol: ProxyProtocol::Off,
        }
    }
}

impl ServiceSettings {
    /// `inbound-cidrs` as the listener's comma-separated `allowedCidrs`.
    pub fn allowed_cidrs(&self) -> String {
        self.inbound_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One rejected annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// Full annotation name.
    pub annotation: String,
    /// Value given.
    pub value: String,
    /// What is accepted.
    pub accepted: String,
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: accepted {}",
            self.annotation, self.value, self.accepted
        )
    }
}

/// Every rejected annotation of one Service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AnnotationErrors(pub Vec<AnnotationError>);

impl fmt::Display for AnnotationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid annotations: ")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct Reader<'a> {
    annotations: &'a BTreeMap<String, String>,
    errors: Vec<AnnotationError>,
}

impl Reader<'_> {
    /// Finds the annotation (or an alias); returns its full name and trimmed value.
    fn get(&self, suffix: &str) -> Option<(String, String)> {
        let mut names = vec![suffix];
        names.extend(
            ALIASES
                .iter()
                .filter(|(_, c)| *c == suffix)
                .map(|(a, _)| *a),
        );
        names.into_iter().find_map(|n| {
            let full = format!("{PREFIX}{n}");
            self.annotations
                .get(&full)
                .map(|v| (full, v.trim().to_owned()))
        })
    }

    fn reject(&mut self, annotation: String, value: String, accepted: &str) {
        self.errors.push(AnnotationError {
            annotation,
            value,
            accepted: accepted.to_owned(),
        });
    }

    fn parse<T>(
        &mut self,
        suffix: &str,
        accepted: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let (name, value) = self.get(suffix)?;
        if let Some(v) = f(&value) {
            Some(v)
        } else {
            self.reject(name, value, accepted);
            None
        }
    }

    fn boolean(&mut self, suffix: &str) -> Option<bool> {
        self.parse(suffix, "true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        })
    }

    fn int_in(&mut self, suffix: &str, min: u32, max: u32) -> Option<u32> {
        let accepted = format!("an integer from {min} to {max}");
        self.parse(suffix, &accepted, |v| {
            v.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
        })
    }

    fn id(&mut self, suffix: &str, prefix: &str) -> Option<String> {
        let accepted = if prefix.is_empty() {
            "a non-empty id without spaces".to_owned()
        } else {
            format!("an id starting with `{prefix}`, without spaces")
        };
        self.parse(suffix, &accepted, |v| {
            (is_token(v) && v.starts_with(prefix) && v.len() > prefix.len()).then(|| v.to_owned())
        })
    }

    fn pairs(&mut self, suffix: &str) -> Option<BTreeMap<String, String>> {
        self.parse(suffix, PAIRS_ACCEPTED, |v| {
            pair_list(v).map(|l| l.into_iter().collect())
        })
    }

    /// The `tags` annotation: [`Reader::pairs`] plus the cloud's limits: each key once, keys
    /// outside the reserved `vng.` prefix, at most [`TAG_KEY_MAX_CHARS`] characters per key and
    /// [`TAG_VALUE_MAX_CHARS`] per value. Every broken key is reported, named (a long key by its
    /// start), never with its value. Go's pkg/annotations/parser.go `ParseStringMapAnnotation`
    /// lets the last of repeated keys win and has no length limit.
    fn tags(&mut self) -> BTreeMap<String, String> {
        let Some(list) = self.parse(keys::TAGS, PAIRS_ACCEPTED, pair_list) else {
            return BTreeMap::new();
        };
        let Some((name, _)) = self.get(keys::TAGS) else {
            return BTreeMap::new();
        };
        let errors = self.errors.len();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, _) in &list {
            *seen.entry(k.as_str()).or_default() += 1;
        }
        let mut reported: Vec<&str> = Vec::new();
        for (k, v) in &list {
            if reported.contains(&k.as_str()) {
                continue;
            }
            let key_chars = k.chars().count();
            let value_chars = v.chars().count();
            let times = seen.get(k.as_str()).copied().unwrap_or(1);
            let problem = if k.starts_with("vng.") {
                Some("keys outside the reserved `vng.` prefix".to_owned())
            } else if key_chars > TAG_KEY_MAX_CHARS {
                Some(format!(
                    "tag keys of at most {TAG_KEY_MAX_CHARS} characters (this key has {key_chars})"
                ))
            } else if times > 1 {
                Some(format!(
                    "each tag key once (this key is given {times} times)"
                ))
            } else if value_chars > TAG_VALUE_MAX_CHARS {
                Some(format!(
                    "tag values of at most {TAG_VALUE_MAX_CHARS} characters \
                     (the value of this key has {value_chars})"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                reported.push(k);
                self.reject(name.clone(), shown_key(k), &problem);
            }
        }
        if self.errors.len() > errors {
            BTreeMap::new()
        } else {
            list.into_iter().collect()
        }
    }
}

/// What [`Reader::pairs`] and [`Reader::tags`] accept.
const PAIRS_ACCEPTED: &str = "comma-separated key=value pairs with non-empty keys";

/// `k1=v1, k2=v2` in the order given, repeated keys kept; only the first `=` of a pair splits
/// it (pkg/annotations/parser.go `ParseStringMapAnnotation`). `None` when malformed or empty.
fn pair_list(v: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, val) = item.split_once('=')?;
        let (k, val) = (k.trim(), val.trim());
        if !is_token(k) || val.chars().any(char::is_whitespace) {
            return None;
        }
        out.push((k.to_owned(), val.to_owned()));
    }
    (!out.is_empty()).then_some(out)
}

/// A tag key as an error shows it: in full up to 40 characters, else its start and `…`.
fn shown_key(k: &str) -> String {
    const SHOWN: usize = 40;
    if k.chars().count() <= SHOWN {
        k.to_owned()
    } else {
        let mut s: String = k.chars().take(SHOWN).collect();
        s.push('…');
        s
    }
}

fn is_token(v: &str) -> bool {
    !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c == ',' || c == '=')
}

fn is_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 50
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_domain(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_success_codes(v: &str) -> bool {
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    !v.is_empty()
        && v.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => matches!((code(a), code(b)), (Some(a), Some(b)) if a <= b),
            None => code(part).is_some(),
        })
}

/// Parses and validates the annotations of a Service.
#[allow(clippy::field_reassign_with_default)]
pub fn parse(annotations: &BTreeMap<String, String>) -> Result<ServiceSettings, AnnotationErrors> {
    let mut r = Reader {
        annotations,
        errors: Vec::new(),
    };
    let mut s = ServiceSettings::default();

    s.load_balancer_name = r.parse(
        keys::LOAD_BALANCER_NAME,
        "1 to 50 characters of [A-Za-z0-9._-]",
        |v| is_name(v).then(|| v.to_owned()),
    );
    s.load_balancer_id = r.id(keys::LOAD_BALANCER_ID, "lb-");
    s.package_id = r.id(keys::PACKAGE_ID, "");
    if let Some(v) = r.parse(keys::SCHEME, "Internal, Internet or InterVPC", |v| match v
        .to_ascii_lowercase()
        .as_str()
    {
        "internal" => Some(LoadBalancerScheme::Internal),
        "internet" => Some(LoadBalancerScheme::Internet),
        "intervpc" => Some(LoadBalancerScheme::InterVPC),
        _ => None,
    }) {
        s.scheme = v;
    }
    if let Some(v) = r.parse(keys::TARGET_TYPE, "instance or ip", |v| {
        match v.to_ascii_lowercase().as_str() {
            "instance" => Some(TargetType::Instance),
            "ip" => Some(TargetType::Ip),
            _ => None,
        }
    }) {
        s.target_type = v;
    }
    s.ignore = r.boolean(keys::IGNORE).unwrap_or(false);
    s.enable_load_balancer = r.boolean(keys::ENABLE_LOAD_BALANCER).unwrap_or(true);
    s.tags = r.tags();
    s.security_groups = r
        .parse(
            keys::SECURITY_GROUPS,
            "comma-separated security group ids (`secg-...`)",
            |v| {
                let ids: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                (!ids.is_empty() && ids.iter().all(|i| is_token(i) && i.starts_with("secg-")))
                    .then_some(ids)
            },
        )
        .unwrap_or_default();
    s.target_node_labels = r.pairs(keys::TARGET_NODE_LABELS).unwrap_or_default();
    s.enable_autoscale = r.boolean(keys::ENABLE_AUTOSCALE);
    s.prefer_zone_id = r.id(keys::PREFER_ZONE_ID, "");
    s.prefer_subnet_id = r.id(keys::PREFER_SUBNET_ID, "sub-");
    s.private_subnet_id = r.id(keys::PRIVATE_SUBNET_ID, "sub-");
    s.private_zone_id = r.id(keys::PRIVATE_ZONE_ID, "");
    for (key, set) in [
        (keys::PRIVATE_SUBNET_ID, s.private_subnet_id.is_some()),
        (keys::PRIVATE_ZONE_ID, s.private_zone_id.is_some()),
    ] {
        if set
            && s.scheme != LoadBalancerScheme::InterVPC
            && let Some((name, value)) = r.get(key)
        {
            r.reject(name, value, "only with scheme InterVPC");
        }
    }
    s.idle_timeout_client = r.int_in(keys::IDLE_TIMEOUT_CLIENT, 1, 3600).unwrap_or(50);
    s.idle_timeout_member = r.int_in(keys::IDLE_TIMEOUT_MEMBER, 1, 3600).unwrap_or(50);
    s.idle_timeout_connection = r
        .int_in(keys::IDLE_TIMEOUT_CONNECTION, 1, 3600)
        .unwrap_or(5);
    if let Some(cidrs) = r.parse(
        keys::INBOUND_CIDRS,
        "comma-separated CIDRs like 10.0.0.0/8",
        |v| {
            let parsed: Option<Vec<IpNet>> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|c| c.parse::<IpNet>().ok())
                .collect();
            parsed.filter(|p| !p.is_empty())
        },
    ) {
        s.inbound_cidrs = cidrs;
    }
    s.healthcheck_protocol = r.parse(
        keys::HEALTHCHECK_PROTOCOL,
        "TCP, HTTP, HTTPS or PING-UDP",
        |v| match v.to_ascii_uppercase().as_str() {
            "TCP" => Some(HealthCheckProtocol::Tcp),
            "HTTP" => Some(HealthCheckProtocol::Http),
            "HTTPS" => Some(HealthCheckProtocol::Https),
            "PING-UDP" => Some(HealthCheckProtocol::PingUdp),
            _ => None,
        },
    );
    s.healthcheck_port = r.parse(keys::HEALTHCHECK_PORT, "a port from 1 to 65535", |v| {
        v.parse::<u16>().ok().filter(|p| *p > 0)
    });
    s.healthcheck_path = r.parse(keys::HEALTHCHECK_PATH, "a path starting with `/`", |v| {
        (v.starts_with('/') && !v.chars().any(char::is_whitespace)).then(|| v.to_owned())
    });
    s.healthcheck_success_codes = r.parse(
        keys::HEALTHCHECK_SUCCESS_CODES,
        "HTTP codes 100-599, comma separated, or ranges like 200-299",
        |v| is_success_codes(v).then(|| v.replace(' ', "")),
    );
    s.healthcheck_method = r.parse(keys::HEALTHCHECK_METHOD, "GET, POST or PUT", |v| {
        match v.to_ascii_uppercase().as_str() {
            "GET" => Some(HealthCheckMethod::Get),
            "POST" => Some(HealthCheckMethod::Post),
            "PUT" => Some(HealthCheckMethod::Put),
            _ => None,
        }
    });
    s.healthcheck_http_version =
        r.parse(keys::HEALTHCHECK_HTTP_VERSION, "1.0 or 1.1", |v| match v {
            "1.0" => Some(HealthCheckHttpVersion::Http10),
            "1.1" => Some(HealthCheckHttpVersion::Http11),
            _ => None,
        });
    s.healthcheck_domain = r.parse(keys::HEALTHCHECK_DOMAIN, "a DNS host name", |v| {
        is_domain(v).then(|| v.to_ascii_lowercase())
    });
    s.healthcheck_interval = r
        .int_in(keys::HEALTHCHECK_INTERVAL_SECONDS, 5, 3600)
        .unwrap_or(30);
    s.healthcheck_timeout = r
        .int_in(keys::HEALTHCHECK_TIMEOUT_SECONDS, 2, 600)
        .unwrap_or(5);
    s.healthy_threshold = r.int_in(keys::HEALTHY_THRESHOLD_COUNT, 2, 10).unwrap_or(3);
    s.unhealthy_threshold = r
        .int_in(keys::UNHEALTHY_THRESHOLD_COUNT, 2, 10)
        .unwrap_or(3);
    if let Some(v) = r.parse(
        keys::POOL_ALGORITHM,
        "ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP",
        |v| match v.to_ascii_uppercase().as_str() {
            "ROUND_ROBIN" => Some(PoolAlgorithm::RoundRobin),
            "LEAST_CONNECTIONS" => Some(PoolAlgorithm::LeastConnections),
            "SOURCE_IP" => Some(PoolAlgorithm::SourceIp),
            _ => None,
        },
    ) {
        s.pool_algorithm = v;
    }
    if let Some(v) = r.parse(
        keys::ENABLE_PROXY_PROTOCOL,
        "`*` or comma-separated port names",
        |v| {
            if v == "*" {
                return Some(ProxyProtocol::All);
            }
            let names: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (!names.is_empty() && names.iter().all(|n| is_token(n) && n != "*"))
                .then_some(ProxyProtocol::Ports(names))
        },
    ) {
        s.proxy_protocol = v;
    }
    if s.healthcheck_timeout >= s.healthcheck_interval
        && let Some((name, value)) = r.get(keys::HEALTHCHECK_TIMEOUT_SECONDS)
    {
        r.reject(
            name,
            value,
            "a timeout shorter than healthcheck-interval-seconds",
        );
    }

    if r.errors.is_empty() {
        Ok(s)
    } else {
        Err(AnnotationErrors(r.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(key: &str, value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(format!("{PREFIX}{key}"), value.to_owned())])
    }

    /// Other annotations an accepted or rejected case needs.
    const INTERVPC: &[(&str, &str)] = &[(keys::SCHEME, "InterVPC")];

    /// Annotations as (suffix, value) pairs.
    type Pairs = &'static [(&'static str, &'static str)];

    /// (annotation, accepted value, rejected value, other annotations of both cases).
    const CASES: &[(&str, &str, &str, Pairs)] = &[
        (keys::LOAD_BALANCER_NAME, "my-lb_1", "bad name!", &[]),
        (keys::LOAD_BALANCER_ID, "lb-0d9a1f", "0d9a1f", &[]),
        (keys::PACKAGE_ID, "lbp-96b6b072", "two words", &[]),
        (keys::SCHEME, "Internal", "public", &[]),
        (keys::TARGET_TYPE, "ip", "pod", &[]),
        (keys::IGNORE, "true", "yes", &[]),
        (keys::ENABLE_LOAD_BALANCER, "false", "no", &[]),
        (keys::TAGS, "team=a,env=prod", "team", &[]),
        (keys::SECURITY_GROUPS, "secg-1,secg-2", "sg 1", &[]),
        (keys::TARGET_NODE_LABELS, "pool=web", "=web", &[]),
        (keys::ENABLE_AUTOSCALE, "true", "1", &[]),
        (keys::PREFER_ZONE_ID, "HCM03-1A", "two words", &[]),
        (keys::PREFER_SUBNET_ID, "sub-123", "net-123", &[]),
        (keys::PRIVATE_SUBNET_ID, "sub-9", "net-9", INTERVPC),
        (keys::PRIVATE_ZONE_ID, "HCM03-1B", "two words", INTERVPC),
        (keys::IDLE_TIMEOUT_CLIENT, "60", "0", &[]),
        (keys::IDLE_TIMEOUT_MEMBER, "120", "abc", &[]),
        (keys::IDLE_TIMEOUT_CONNECTION, "10", "4000", &[]),
        (
            keys::INBOUND_CIDRS,
            "10.0.0.0/8, 192.168.1.0/24",
            "10.0.0.0/33",
            &[],
        ),
        (keys::HEALTHCHECK_PROTOCOL, "HTTP", "ICMP", &[]),
        (keys::HEALTHCHECK_PORT, "8080", "70000", &[]),
        (keys::HEALTHCHECK_PATH, "/healthz", "healthz", &[]),
        (keys::HEALTHCHECK_SUCCESS_CODES, "200,201-204", "200-", &[]),
        (keys::HEALTHCHECK_METHOD, "POST", "PATCH", &[]),
        (keys::HEALTHCHECK_HTTP_VERSION, "1.1", "2", &[]),
        (keys::HEALTHCHECK_DOMAIN, "example.com", "bad_domain!", &[]),
        (keys::HEALTHCHECK_INTERVAL_SECONDS, "60", "1", &[]),
        (keys::HEALTHCHECK_TIMEOUT_SECONDS, "10", "1000", &[]),
        (keys::HEALTHY_THRESHOLD_COUNT, "5", "11", &[]),
        (keys::UNHEALTHY_THRESHOLD_COUNT, "2", "1", &[]),
        (keys::POOL_ALGORITHM, "SOURCE_IP", "RANDOM", &[]),
        (keys::ENABLE_PROXY_PROTOCOL, "http,https", ",*", &[]),
    ];

    #[test]
    fn every_annotation_of_the_table_accepts_a_good_value_and_rejects_a_bad_one() {
        for key in ALL {
            let cases: Vec<_> = CASES.iter().filter(|c| c.0 == *key).collect();
            assert!(!cases.is_empty(), "{key} has no accepted and rejected case");
            for (_, good, bad, context) in cases {
                let with = |value: &str| {
                    let mut a = one(key, value);
                    for (k, v) in *context {
                        a.insert(format!("{PREFIX}{k}"), (*v).to_owned());
                    }
                    a
                };
                assert!(
                    parse(&with(good)).is_ok(),
                    "{key}={good} should be accepted"
                );
                let err = parse(&with(bad)).expect_err(&format!("{key}={bad} should be rejected"));
                assert_eq!(err.0.len(), 1, "{key}: {err}");
                assert_eq!(err.0[0].annotation, format!("{PREFIX}{key}"));
                assert_eq!(err.0[0].value, bad.trim());
                assert!(!err.0[0].accepted.is_empty());
            }
        }
        for (key, ..) in CASES {
            assert!(ALL.contains(key), "{key} is tested but not in ALL");
        }
    }

    #[test]
    fn private_subnet_and_zone_need_scheme_intervpc() {
        for key in [keys::PRIVATE_SUBNET_ID, keys::PRIVATE_ZONE_ID] {
            let value = if key == keys::PRIVATE_SUBNET_ID {
                "sub-9"
            } else {
                "HCM03-1B"
            };
            let mut a = one(key, value);
            assert!(parse(&a).is_err(), "{key} without InterVPC");
            a.insert(format!("{PREFIX}{}", keys::SCHEME), "InterVPC".into());
            let s = parse(&a).unwrap();
            assert!(s.private_subnet_id.is_some() || s.private_zone_id.is_some());
            a.insert(format!("{PREFIX}{key}"), "has space".into());
            assert!(parse(&a).is_err());
        }
    }

    #[test]
    fn defaults_match_the_reference_table() {
        let s = parse(&BTreeMap::new()).unwrap();
        assert_eq!(s.scheme, LoadBalancerScheme::Internet);
        assert_eq!(s.target_type, TargetType::Instance);
        assert_eq!(
            (
                s.idle_timeout_client,
                s.idle_timeout_member,
                s.idle_timeout_connection
            ),
            (50, 50, 5)
        );
        assert_eq!(s.allowed_cidrs(), "0.0.0.0/0");
        assert_eq!((s.healthcheck_interval, s.healthcheck_timeout), (30, 5));
        assert_eq!((s.healthy_threshold, s.unhealthy_threshold), (3, 3));
        assert_eq!(s.pool_algorithm, PoolAlgorithm::RoundRobin);
        assert!(s.enable_load_balancer && !s.ignore);
    }

    #[test]
    fn all_errors_of_one_service_are_reported_together() {
        let mut a = one(keys::SCHEME, "public");
        a.insert(format!("{PREFIX}{}", keys::IDLE_TIMEOUT_CLIENT), "x".into());
        a.insert(format!("{PREFIX}{}", keys::POOL_ALGORITHM), "RANDOM".into());
        let err = parse(&a).unwrap_err();
        assert_eq!(err.0.len(), 3);
        let text = err.to_string();
        assert!(
            text.contains("scheme") && text.contains("\"public\"") && text.contains("InterVPC")
        );
        assert!(text.contains("idle-timeout-client") && text.contains("pool-algorithm"));
    }

    #[test]
    fn reserved_tag_keys_and_go_aliases() {
        assert!(parse(&one(keys::TAGS, "vng.vks.cluster.ids=x")).is_err());
        let s = parse(&one("success-codes", "200")).unwrap();
        assert_eq!(s.healthcheck_success_codes.as_deref(), Some("200"));
    }

    fn tags(value: &str) -> Result<BTreeMap<String, String>, AnnotationErrors> {
        parse(&one(keys::TAGS, value)).map(|s| s.tags)
    }

    /// The tags case of pkg/annotations/parser_test.go
    /// (`Test_serviceAnnotationParser_ParseStringMapAnnotation`, "values containing equals
    /// sign"): only the first `=` splits key and value.
    #[test]
    fn tags_with_equals_signs_in_values_mean_what_the_go_parser_test_says() {
        let got = tags("key1=Mjk5NzkyNDU4Cg==, foo=ZGF=0=ZQo=, res=value_:/=+-@").unwrap();
        let want = BTreeMap::from([
            ("key1".to_owned(), "Mjk5NzkyNDU4Cg==".to_owned()),
            ("foo".to_owned(), "ZGF=0=ZQo=".to_owned()),
            ("res".to_owned(), "value_:/=+-@".to_owned()),
        ]);
        assert_eq!(got, want);
    }

    /// The "multiple keys" case of the same Go test: slashes in keys, an empty value.
    #[test]
    fn tags_with_slashed_keys_and_empty_values_mean_what_the_go_parser_test_says() {
        let got =
            tags("key1=value1, key2=value2, key3/with-slash=value3, key4/empty-value=").unwrap();
        let want = BTreeMap::from([
            ("key1".to_owned(), "value1".to_owned()),
            ("key2".to_owned(), "value2".to_owned()),
            ("key3/with-slash".to_owned(), "value3".to_owned()),
            ("key4/empty-value".to_owned(), String::new()),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn tags_at_the_length_limits_are_accepted() {
        let key = "k".repeat(TAG_KEY_MAX_CHARS);
        let value = "v".repeat(TAG_VALUE_MAX_CHARS);
        let got = tags(&format!("{key}={value},team=a")).unwrap();
        assert_eq!(got.get(&key), Some(&value));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_tag_key_longer_than_the_limit_is_rejected_naming_it() {
        let key = format!("team{}", "k".repeat(296));
        let err = tags(&format!("env=prod,{key}=a")).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!(e.annotation, format!("{PREFIX}{}", keys::TAGS));
        assert!(e.value.starts_with("teamkkk"), "{e}");
        assert!(e.value.chars().count() < 60, "the message stays short: {e}");
        assert!(
            e.accepted.contains("128") && e.accepted.contains("300"),
            "{e}"
        );
    }

    #[test]
    fn a_tag_value_longer_than_the_limit_is_rejected_naming_its_key() {
        let err = tags(&format!("env=prod,team={}", "v".repeat(10_000))).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!(e.value, "team");
        assert!(
            e.accepted.contains("255") && e.accepted.contains("10000"),
            "{e}"
        );
        assert!(
            err.to_string().len() < 300,
            "the value is not echoed: {err}"
        );
    }

    #[test]
    fn a_repeated_tag_key_is_rejected_naming_it() {
        let err = tags("team=a, env=prod, team=b").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].value, "team");
        assert!(err.0[0].accepted.contains("once"), "{err}");
        assert!(err.to_string().contains("tags=\"team\""), "{err}");
        // Every broken key is reported, each once.
        let err = tags("a=1,a=2,a=3,b=1,b=2").unwrap_err();
        let named: Vec<_> = err.0.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(named, ["a", "b"], "{err}");
    }

    #[test]
    fn timeout_must_be_shorter_than_interval() {
        let mut a = one(keys::HEALTHCHECK_INTERVAL_SECONDS, "10");
        a.insert(
            format!("{PREFIX}{}", keys::HEALTHCHECK_TIMEOUT_SECONDS),
            "10".into(),
        );
        assert!(parse(&a).is_err());
    }
}
