//! Deterministic cloud names: `vks_<cluster[:10]>_<namespace[:10]>_<name[:10]>_<hash5>`,
//! sanitised to `[A-Za-z0-9._-]`, at most 50 characters, stable for a Service.

use sha2::{Digest, Sha256};

use crate::model::{PoolProtocol, ServicePortView};

/// Prefix of every generated name.
pub const PREFIX: &str = "vks";
/// Longest name the portal accepts.
pub const MAX_LEN: usize = 50;
/// Length of the hash part.
pub const HASH_LEN: usize = 5;

/// First `n` characters.
fn trim(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Replaces every character outside `[A-Za-z0-9._-]` by `-` and cuts to [`MAX_LEN`].
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_LEN)
        .collect()
}

/// Lower-case hex SHA-256 of `input`.
fn hex_digest(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .fold(String::new(), |mut acc, b| {
            use std::fmt::Write as _;
            let _ = write!(acc, "{b:02x}");
            acc
        })
}

/// Names of the cloud objects of one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namer {
    cluster: String,
    namespace: String,
    name: String,
    hash: String,
}

impl Namer {
    /// Namer for a Service of a cluster.
    pub fn new(cluster_id: &str, namespace: &str, name: &str) -> Self {
        let hex = hex_digest(&format!("{cluster_id}_{namespace}_{name}_service"));
        Self {
            cluster: cluster_id.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            hash: trim(&hex, HASH_LEN),
        }
    }

    /// The five-character hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    fn base(&self, ns: usize, name: usize) -> String {
        format!(
            "{PREFIX}_{}_{}_{}_{}",
            trim(&self.cluster, 10),
            trim(&self.namespace, ns),
            trim(&self.name, name),
            self.hash
        )
    }

    /// Load balancer name.
    pub fn load_balancer(&self) -> String {
        sanitize(&self.base(10, 10))
    }

    /// Suffix identifying a port: its name, else its number.
    fn port_part(port: &ServicePortView) -> String {
        if port.name.is_empty() {
            port.port.to_string()
        } else {
            trim(&port.name, 15)
        }
    }

    /// Listener name of a Service port.
    pub fn listener(&self, port: &ServicePortView) -> String {
        let proto = match port.protocol {
            crate::model::PortProtocol::Udp => "udp",
            _ => "tcp",
        };
        self.fit(&format!("{proto}_{}", Self::port_part(port)))
    }

    /// Pool name of a Service port.
    pub fn pool(&self, port: &ServicePortView, protocol: PoolProtocol) -> String {
        self.fit(&format!(
            "{}_{}",
            protocol.as_str().to_ascii_lowercase(),
            Self::port_part(port)
        ))
    }

    /// The base name shortened so that `suffix` always survives the length cut.
    fn fit(&self, suffix: &str) -> String {
        let suffix = trim(suffix, 20);
        let room = MAX_LEN - suffix.chars().count() - 1;
        let mut base = self.base(9, 9);
        if base.chars().count() > room {
            // Keep the hash, which makes the name unique: shorten the readable parts.
            let fixed = PREFIX.len() + 1 + trim(&self.cluster, 10).chars().count() + 3 + HASH_LEN;
            let each = room.saturating_sub(fixed) / 2;
            base = self.base(each.min(9), each.min(9));
        }
        sanitize(&format!("{base}_{suffix}"))
    }

    /// Name of the certificate imported from a secret at a resource version: a new
    /// version of the secret is a new certificate.
    pub fn certificate(&self, secret_name: &str, resource_version: &str) -> String {
        let hex = hex_digest(&format!("{secret_name}/{resource_version}"));
        self.fit(&format!("cert_{}", trim(&hex, 8)))
    }

    /// Name of the managed security group of the Service.
    pub fn security_group(&self) -> String {
        self.fit("secgroup")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortProtocol;
    use proptest::prelude::*;

    fn port(name: &str, n: u16) -> ServicePortView {
        ServicePortView {
            name: name.into(),
            protocol: PortProtocol::Tcp,
            port: n,
            node_port: 30000,
        }
    }

    #[test]
    fn load_balancer_name_follows_the_vks_scheme() {
        let n = Namer::new("k8s-abcdefghijkl", "default", "my.service");
        let lb = n.load_balancer();
        assert!(lb.starts_with("vks_k8s-abcdef_default_my.service_"), "{lb}");
        assert_eq!(lb.len(), "vks_k8s-abcdef_default_my.service_".len() + 5);
        assert_eq!(
            lb,
            Namer::new("k8s-abcdefghijkl", "default", "my.service").load_balancer()
        );
        assert_ne!(
            lb,
            Namer::new("k8s-abcdefghijkl", "default", "other").load_balancer()
        );
    }

    #[test]
    fn listener_and_pool_names_carry_the_port_name_or_number() {
        let n = Namer::new("c", "ns", "svc");
        assert!(n.listener(&port("http", 80)).ends_with("_tcp_http"));
        assert!(n.listener(&port("", 80)).ends_with("_tcp_80"));
        assert!(
            n.pool(&port("", 80), PoolProtocol::Proxy)
                .ends_with("_proxy_80")
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn names_are_sanitised_bounded_and_stable(
            cluster in "\\PC{0,30}", ns in "\\PC{0,70}", name in "\\PC{0,70}",
            pname in "[a-z0-9-]{0,20}", p in 1u16..,
        ) {
            let n = Namer::new(&cluster, &ns, &name);
            let port = port(&pname, p);
            for s in [n.load_balancer(), n.listener(&port), n.pool(&port, PoolProtocol::Tcp), n.security_group(), n.certificate(&pname, "123456789")] {
                prop_assert!(s.chars().count() <= MAX_LEN, "{}", s);
                prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
                prop_assert!(s.contains(n.hash()));
            }
            prop_assert_eq!(n.listener(&port), Namer::new(&cluster, &ns, &name).listener(&port));
        }
    }
}
