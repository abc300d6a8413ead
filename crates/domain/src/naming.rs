//! Deterministic cloud names, identical to the Go controller's
//! (GreenNodeHub/vngcloud-load-balancer-controller `pkg/utils/name_helper.go`,
//! `internal/usecase/lbc_uc/deploy_cert.go`), so that vlb finds the load balancers, listeners,
//! pools, security groups and certificates the Go controller created:
//!
//! ```text
//! load balancer, security group  vks-<cluster[:10]>-<namespace[:10]>-<name[:10]>-<hash5>
//! L4 listener                    vks-<cluster[:10]>-<namespace[:9]>-<name[:9]>-<hash5>-<PROTOCOL[:3]>-<port>
//! L4 pool                        vks-<cluster[:10]>-<namespace[:9]>-<name[:9]>-<hash5>-<TCP|UDP|PRO>-<port>
//! L7 pool                        vks-<hash5>-<(namespace-service)[:35]>-<port>
//! L7 policy                      vks-<hash5>-<https>-r<rule>-p<path>
//! certificate                    vks-<ingress hash5>-<sha256(secret)[:5]>-<resourceVersion>
//! ```
//!
//! `hash5` is the first five hex digits of SHA-256 of `<cluster>_<namespace>_<name>_<kind>`;
//! every character outside `[A-Za-z0-9.-]` becomes `-` and names are cut to 50 characters
//! (Go's `ValidateName`).

use sha2::{Digest, Sha256};

use crate::model::{PoolProtocol, PortProtocol, ServicePortView};

/// Prefix of every generated name (Go's `DEFAULT_LB_PREFIX_NAME`).
pub const PREFIX: &str = "vks";
/// Longest name the portal accepts (Go's `DEFAULT_PORTAL_NAME_LENGTH`).
pub const MAX_LEN: usize = 50;
/// Length of the hash part (Go's `DEFAULT_HASH_NAME_LENGTH`).
pub const HASH_LEN: usize = 5;

/// First `n` characters.
fn trim(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Go's `ValidateName`: every character outside `[A-Za-z0-9.-]` becomes `-`, then the name is
/// cut to [`MAX_LEN`] characters.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
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

/// The kind of object the names are derived from: part of the hash, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    /// A Service of type LoadBalancer (`service`).
    Service,
    /// An Ingress (`ingress`).
    Ingress,
}

impl NamedKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Ingress => "ingress",
        }
    }
}

/// Names of the cloud objects of one Service (or Ingress).
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
        Self::of_kind(cluster_id, namespace, name, NamedKind::Service)
    }

    /// Namer for an object of `kind` of a cluster.
    pub fn of_kind(cluster_id: &str, namespace: &str, name: &str, kind: NamedKind) -> Self {
        let hex = hex_digest(&format!(
            "{cluster_id}_{namespace}_{name}_{}",
            kind.as_str()
        ));
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

    /// Load balancer name (Go's `GetLoadBalancerDefaultName`).
    pub fn load_balancer(&self) -> String {
        sanitize(&self.base(10, 10))
    }

    /// Listener name of a Service port (Go's `GenL4ListenerName`): the port's protocol and
    /// number, so two ports never share a name (their names may share 15 characters).
    pub fn listener(&self, port: &ServicePortView) -> String {
        let proto = match port.protocol {
            PortProtocol::Tcp => "TCP",
            PortProtocol::Udp => "UDP",
            PortProtocol::Sctp => "SCT",
        };
        sanitize(&format!("{}_{proto}_{}", self.base(9, 9), port.port))
    }

    /// Pool name of a Service port (Go's `GenL4PoolName`, `PRO` for a PROXY pool).
    pub fn pool(&self, port: &ServicePortView, protocol: PoolProtocol) -> String {
        sanitize(&format!(
            "{}_{}_{}",
            self.base(9, 9),
            trim(protocol.as_str(), 3),
            port.port
        ))
    }

    /// Pool name of an Ingress backend (Go's `GenL7PoolName`).
    pub fn l7_pool(&self, service_name: &str, port: u16) -> String {
        sanitize(&format!(
            "{PREFIX}_{}_{}_{port}",
            self.hash,
            trim(&format!("{}-{service_name}", self.namespace), 35)
        ))
    }

    /// L7 policy name of an Ingress rule path (Go's `GenL7PolicyName`).
    pub fn l7_policy(&self, https: bool, rule_index: usize, path_index: usize) -> String {
        sanitize(&format!(
            "{PREFIX}_{}_{https}_r{rule_index}_p{path_index}",
            self.hash
        ))
    }

    /// Name of the certificate imported from a secret at a resource version: a new
    /// version of the secret is a new certificate (Go's `generateCertName` in
    /// `lbc_uc/deploy_cert.go`, which hashes the owner as an Ingress whatever its kind:
    /// build the namer with [`NamedKind::Ingress`] to get Go's names).
    pub fn certificate(&self, secret_name: &str, resource_version: &str) -> String {
        sanitize(&format!(
            "{PREFIX}-{}-{}-{resource_version}",
            self.hash,
            trim(&hex_digest(secret_name), HASH_LEN)
        ))
    }

    /// Name of the managed security group of the Service: the load balancer's name, as the
    /// Go controller's NSG builder (`service_uc/build_lbc.go`) writes it.
    pub fn security_group(&self) -> String {
        self.load_balancer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn port(name: &str, n: u16) -> ServicePortView {
        ServicePortView {
            name: name.into(),
            protocol: PortProtocol::Tcp,
            port: n,
            node_port: 30000,
        }
    }

    /// The cluster id of the Go controller's envtest suites
    /// (`internal/controller/core/suite_test.go`, `internal/controller/networking/suite_test.go`).
    const GO_CLUSTER: &str = "k8s-00000000-0000-0000-0000-000000000000";

    /// Values of `internal/controller/core/service_controller_test.go` (load balancer, pool,
    /// listener and security group of `default/test-service`, `default/test-service-1`).
    #[test]
    fn service_names_are_the_go_controller_test_values() {
        let n = Namer::new(GO_CLUSTER, "default", "test-service");
        assert_eq!(n.load_balancer(), "vks-k8s-000000-default-test-servi-95466");
        assert_eq!(
            n.pool(&port("http", 80), PoolProtocol::Tcp),
            "vks-k8s-000000-default-test-serv-95466-TCP-80"
        );
        assert_eq!(
            n.listener(&port("http", 80)),
            "vks-k8s-000000-default-test-serv-95466-TCP-80"
        );
        let n1 = Namer::new(GO_CLUSTER, "default", "test-service-1");
        assert_eq!(
            n1.pool(&port("http", 80), PoolProtocol::Tcp),
            "vks-k8s-000000-default-test-serv-75a17-TCP-80"
        );
        assert_eq!(
            n1.listener(&port("http", 81)),
            "vks-k8s-000000-default-test-serv-75a17-TCP-81"
        );
    }

    /// `internal/usecase/service_uc/build_lbc_test.go`: cluster `TODO`, `test-namespace/test-service`.
    #[test]
    fn default_load_balancer_name_is_the_go_build_lbc_test_value() {
        let n = Namer::new("TODO", "test-namespace", "test-service");
        assert_eq!(n.load_balancer(), "vks-TODO-test-names-test-servi-0879b");
        assert_eq!(n.security_group(), n.load_balancer());
    }

    /// `internal/controller/networking/ingress_controller_test.go`: Ingress
    /// `default/test-service-gogsf` with backend Service `test-service-gogsf`.
    #[test]
    fn ingress_names_are_the_go_ingress_controller_test_values() {
        let n = Namer::of_kind(
            GO_CLUSTER,
            "default",
            "test-service-gogsf",
            NamedKind::Ingress,
        );
        assert_eq!(n.load_balancer(), "vks-k8s-000000-default-test-servi-bea48");
        assert_eq!(
            n.l7_pool("test-service-gogsf", 80),
            "vks-bea48-default-test-service-gogsf-80"
        );
        assert_eq!(
            n.l7_pool("test-service-gogsf", 443),
            "vks-bea48-default-test-service-gogsf-443"
        );
        assert_eq!(n.l7_policy(false, 0, 0), "vks-bea48-false-r0-p0");
        // Go's generateCertName: vks-<hash>-<sha256(secret)[:5]>-<resourceVersion>.
        let cert = n.certificate("tls", "123");
        assert_eq!(cert, format!("vks-bea48-{}-123", &hex_digest("tls")[..5]));
    }

    /// The example of issue #17: cluster `k8s-3a5b2c1d-…`, `default/nginx`, TCP `http` 80.
    #[test]
    fn underscores_become_dashes_and_ports_are_named_by_protocol_and_number() {
        let n = Namer::new(
            "k8s-3a5b2c1d-1111-2222-3333-444444444444",
            "default",
            "nginx",
        );
        let lb = n.load_balancer();
        assert!(lb.starts_with("vks-k8s-3a5b2c-default-nginx-"), "{lb}");
        assert_eq!(n.listener(&port("http", 80)), format!("{lb}-TCP-80"));
        assert_eq!(
            n.pool(&port("http", 80), PoolProtocol::Proxy),
            format!("{lb}-PRO-80")
        );
        let udp = ServicePortView {
            protocol: PortProtocol::Udp,
            ..port("dns", 53)
        };
        assert_eq!(n.listener(&udp), format!("{lb}-UDP-53"));
        assert_eq!(n.pool(&udp, PoolProtocol::Udp), format!("{lb}-UDP-53"));
    }

    /// The README's example, and the names of the Go fixtures of the k8s adapter's tests.
    #[test]
    fn readme_example_names() {
        let n = Namer::new(
            "k8s-3a5b2c1d-8f3e-4a6b-9c2d-1e0f5a7b3c9d",
            "default",
            "nginx",
        );
        assert_eq!(n.load_balancer(), "vks-k8s-3a5b2c-default-nginx-63147");
        assert_eq!(
            n.listener(&port("http", 80)),
            "vks-k8s-3a5b2c-default-nginx-63147-TCP-80"
        );
        let ing = Namer::of_kind(
            "k8s-3a5b2c1d-8f3e-4a6b-9c2d-1e0f5a7b3c9d",
            "default",
            "web",
            NamedKind::Ingress,
        );
        assert_eq!(ing.load_balancer(), "vks-k8s-3a5b2c-default-web-1f323");
        assert_eq!(ing.l7_pool("web", 80), "vks-1f323-default-web-80");
        assert_eq!(ing.certificate("web-tls", "12345"), "vks-1f323-dae66-12345");
    }

    /// Issue #22 item 3: port names sharing their first 15 characters no longer collide.
    #[test]
    fn ports_whose_names_share_15_characters_get_distinct_names() {
        let n = Namer::new("c", "ns", "svc");
        let (a, b) = (
            port("abcdefghijklmnopqrstu-1", 80),
            port("abcdefghijklmnopqrstu-2", 81),
        );
        assert_ne!(n.listener(&a), n.listener(&b));
        assert_ne!(n.pool(&a, PoolProtocol::Tcp), n.pool(&b, PoolProtocol::Tcp));
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
            for s in [n.load_balancer(), n.listener(&port), n.pool(&port, PoolProtocol::Proxy), n.security_group(), n.l7_pool(&name, p), n.l7_policy(true, 9, 9)] {
                prop_assert!(s.chars().count() <= MAX_LEN, "{}", s);
                prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')));
                prop_assert!(s.contains(n.hash()));
            }
            // The port number always survives the cut: Go's parts are bounded to fit 50.
            let suffix = format!("-TCP-{p}");
            prop_assert!(n.listener(&port).ends_with(&suffix));
            prop_assert_eq!(n.listener(&port), Namer::new(&cluster, &ns, &name).listener(&port));
        }
    }
}
