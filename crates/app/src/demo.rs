//! The embedded demo's fixture and progress: nodes backed by the VNGCloud emulator's
//! servers, the sample Services, the live table and the convergence verdict.
//!
//! Starting the emulators and the operator in-process is not wired yet (it needs the
//! Kubernetes emulator and the adapters): `vlb-controller demo` says so and exits non-zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, Service, ServicePort, ServiceSpec,
};
use kube::api::ObjectMeta;

/// Namespace of the demo's Services.
pub const NAMESPACE: &str = "vlb-demo";
/// The Service with the bad annotation (it must get a Warning Event, not a load balancer).
pub const BAD_SERVICE: &str = "bad-annotation";
/// The bad annotation.
pub const BAD_ANNOTATION: (&str, &str) = ("vks.vngcloud.vn/scheme", "Sideways");

/// A cloud server a demo node runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoServer {
    /// Server id (`ins-...`).
    pub id: String,
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// Internal IP.
    pub ip: String,
}

/// A Ready node per server, with its zone label and `vngcloud://` provider id.
pub fn nodes(servers: &[DemoServer]) -> Vec<Node> {
    servers
        .iter()
        .map(|s| Node {
            metadata: ObjectMeta {
                name: Some(s.name.clone()),
                labels: Some(BTreeMap::from([
                    ("kubernetes.io/hostname".to_owned(), s.name.clone()),
                    ("topology.kubernetes.io/zone".to_owned(), s.zone.clone()),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some(format!("vngcloud://{}", s.id)),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                addresses: Some(vec![NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: s.ip.clone(),
                }]),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".to_owned(),
                    status: "True".to_owned(),
                    ..NodeCondition::default()
                }]),
                ..NodeStatus::default()
            }),
        })
        .collect()
}

fn port(name: &str, protocol: &str, port: i32, node_port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        protocol: Some(protocol.to_owned()),
        port,
        node_port: Some(node_port),
        ..ServicePort::default()
    }
}

fn lb_service(name: &str, ports: Vec<ServicePort>, annotations: &[(&str, &str)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            annotations: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".to_owned()),
            ports: Some(ports),
            selector: Some(BTreeMap::from([("app".to_owned(), name.to_owned())])),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The sample Services: TCP, UDP, two ports, and one with a bad annotation.
pub fn services() -> Vec<Service> {
    vec![
        lb_service("web-tcp", vec![port("http", "TCP", 80, 30080)], &[]),
        lb_service("dns-udp", vec![port("dns", "UDP", 53, 30053)], &[]),
        lb_service(
            "two-ports",
            vec![
                port("http", "TCP", 80, 30081),
                port("https", "TCP", 443, 30443),
            ],
            &[],
        ),
        lb_service(
            BAD_SERVICE,
            vec![port("http", "TCP", 8080, 30880)],
            &[BAD_ANNOTATION],
        ),
    ]
}

/// One line of the live table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Service name.
    pub service: String,
    /// Load balancer id, when known.
    pub lb_id: Option<String>,
    /// Address on the Service status, when set.
    pub address: Option<String>,
    /// `Ready`, `Pending`, `Invalid: ...` (a Warning Event), ...
    pub state: String,
    /// The Service carries a Warning Event.
    pub warned: bool,
    /// The LBC's `Ready` condition is True.
    pub ready: bool,
}

/// The table, fixed-width columns.
pub fn render(rows: &[Row]) -> String {
    let cell = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_owned());
    let widths = rows.iter().fold([7, 16, 7], |w, r| {
        [
            w[0].max(r.service.len()),
            w[1].max(cell(&r.lb_id).len()),
            w[2].max(cell(&r.address).len()),
        ]
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<a$}  {:<b$}  {:<c$}  STATE",
        "SERVICE",
        "LOAD BALANCER ID",
        "ADDRESS",
        a = widths[0],
        b = widths[1],
        c = widths[2]
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<a$}  {:<b$}  {:<c$}  {}",
            r.service,
            cell(&r.lb_id),
            cell(&r.address),
            r.state,
            a = widths[0],
            b = widths[1],
            c = widths[2]
        );
    }
    out
}

/// Converged: every valid Service is Ready with an address, and the bad one carries its
/// Warning Event.
pub fn converged(rows: &[Row]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|r| {
            if r.service == BAD_SERVICE {
                r.warned
            } else {
                r.ready && r.address.is_some()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views;

    fn servers() -> Vec<DemoServer> {
        [("1", "HCM03-1A"), ("2", "HCM03-1A"), ("3", "HCM03-1B")]
            .iter()
            .map(|(n, z)| DemoServer {
                id: format!("ins-{n}"),
                name: format!("worker-{n}"),
                zone: (*z).to_owned(),
                ip: format!("10.76.0.1{n}"),
            })
            .collect()
    }

    #[test]
    fn demo_nodes_span_two_zones_and_point_at_their_servers() {
        let nodes = nodes(&servers());
        assert_eq!(nodes.len(), 3);
        let zones: std::collections::BTreeSet<_> = nodes
            .iter()
            .map(|n| n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone())
            .collect();
        assert_eq!(zones.len(), 2);
        assert_eq!(
            nodes[0].spec.as_ref().unwrap().provider_id.as_deref(),
            Some("vngcloud://ins-1")
        );
    }

    #[test]
    fn sample_services_cover_tcp_udp_two_ports_and_a_bad_annotation() {
        let svcs: Vec<_> = services().iter().map(views::service_view).collect();
        assert!(svcs.iter().all(|s| views::is_ours(s, None)));
        assert!(svcs.iter().any(|s| s.ports.len() == 2));
        assert!(
            svcs.iter()
                .any(|s| s.ports[0].protocol == vlb_domain::model::PortProtocol::Udp)
        );
        let bad = svcs.iter().find(|s| s.name == BAD_SERVICE).unwrap();
        assert!(vlb_domain::annotations::parse(&bad.annotations).is_err());
        for good in svcs.iter().filter(|s| s.name != BAD_SERVICE) {
            assert!(
                vlb_domain::annotations::parse(&good.annotations).is_ok(),
                "{}",
                good.name
            );
        }
    }

    fn row(service: &str, ready: bool, address: Option<&str>, warned: bool) -> Row {
        Row {
            service: service.to_owned(),
            lb_id: address.map(|_| "lb-1".to_owned()),
            address: address.map(str::to_owned),
            state: if ready {
                "Ready".into()
            } else {
                "Pending".into()
            },
            warned,
            ready,
        }
    }

    #[test]
    fn convergence_needs_every_valid_service_ready_and_the_bad_one_warned() {
        let mut rows = vec![
            row("web-tcp", true, Some("10.0.0.1"), false),
            row(BAD_SERVICE, false, None, true),
        ];
        assert!(converged(&rows));
        rows[0].address = None;
        assert!(!converged(&rows));
        rows[0].address = Some("10.0.0.1".into());
        rows[1].warned = false;
        assert!(!converged(&rows));
        assert!(!converged(&[]));
    }

    #[test]
    fn table_lists_every_service_with_placeholders() {
        let text = render(&[
            row("web-tcp", true, Some("10.0.0.1"), false),
            row(BAD_SERVICE, false, None, true),
        ]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("SERVICE"));
        assert!(lines[1].contains("lb-1") && lines[1].contains("Ready"));
        assert!(lines[2].contains(" - ") && lines[2].contains("Pending"));
    }
}
