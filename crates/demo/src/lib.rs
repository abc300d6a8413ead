//! `vlb-demo`: the operator seen working in a few seconds, with nothing installed. Its
//! own crate, so that the `vlb-controller` binary users deploy links no emulator.
//!
//! ```text
//!   vlb-demo ──► vlb-kube-emulator (in-process) ◄──┐
//!            ──► vlb-vngcloud-emulator (in-process) ◄── vlb_app::embedded::Operator
//!            ──► seed (CRDs, nodes, sample Services) ──► live table until converged
//! ```
//!
//! The fixture and progress: nodes backed by the VNGCloud emulator's servers, the sample
//! Services, the live table and the convergence verdict; the end-to-end tests of
//! `vlb-app` seed and observe with them too.
//!
//! [`run`] starts the Kubernetes emulator and the VNGCloud emulator in-process (3 servers
//! in 2 zones), seeds the cluster, starts the embedded operator and prints the table until
//! every valid Service is Ready and the bad one carries its Warning Event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use tokio_util::sync::CancellationToken;
use vlb_domain::model::condition::ConditionStatus;
use vlb_k8s_adapter::LoadBalancerConfig;
use vlb_k8s_adapter::manifests::{InstallOptions, Manifest, ManifestOptions, Rank, install_set};
use vlb_kube_emulator::{EmulatorConfig as KubeEmulatorConfig, KubeEmulator};
use vlb_vngcloud_emulator::VngEmulator;

use vlb_app::commands::AppError;
use vlb_app::embedded::{Operator, OperatorConfig};
use vlb_cloud_adapter::CloudConfig;

pub mod cli;

use cli::DemoArgs;

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

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An emulator did not start.
    #[error("{which} emulator: {reason}")]
    Emulator {
        /// `kubernetes` or `vngcloud`.
        which: &'static str,
        /// What failed.
        reason: String,
    },
    /// The Services were not all converged by `--timeout`.
    #[error("not converged after {after:?}{last_error}")]
    NotConverged {
        /// The `--timeout`.
        after: Duration,
        /// The last observation's error, if it failed (` (...)`), else empty.
        last_error: String,
    },
    /// Ctrl+C before convergence.
    #[error("interrupted")]
    Interrupted,
    /// Seeding, observing or the operator failed.
    #[error(transparent)]
    App(#[from] AppError),
}

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

/// The demo's fixture servers as [`DemoServer`]s (first internal interface).
pub fn demo_servers(cloud: &vlb_vngcloud_emulator::VngEmulator) -> Vec<DemoServer> {
    let mut servers: Vec<DemoServer> = cloud
        .control()
        .servers()
        .into_iter()
        .filter_map(|s| {
            let ip = s.interfaces.first()?.fixed_ip.clone();
            Some(DemoServer {
                id: s.id,
                name: s.name,
                zone: s.zone_id,
                ip,
            })
        })
        .collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    servers
}

/// The operator's configuration in the demo: the test settings (fast retries, short
/// debounce, no leader election) against the VNGCloud emulator.
pub fn operator_config(cloud: &vlb_vngcloud_emulator::VngEmulator) -> OperatorConfig {
    OperatorConfig {
        identity: "vlb-demo".to_owned(),
        ..OperatorConfig::for_tests(CLUSTER_ID, cloud_config(cloud))
    }
}

/// The cloud configuration the VNGCloud emulator serves (its URLs and fixture
/// credentials), with default timeouts; pass it to [`OperatorConfig::for_tests`].
pub fn cloud_config(emulator: &vlb_vngcloud_emulator::VngEmulator) -> CloudConfig {
    CloudConfig::new(
        emulator.iam_url(),
        emulator.vlb_url(),
        emulator.vserver_url(),
        emulator.project_id(),
        emulator.client_id(),
        emulator.client_secret(),
    )
}

/// Cluster id of the demo.
pub const CLUSTER_ID: &str = "vlb-demo";

fn kube_err(e: impl std::fmt::Display) -> AppError {
    AppError::Kube(e.to_string())
}

/// Creates what the demo needs in the cluster: the CRDs (established), the namespace,
/// one Ready node per server (status written through the status subresource), and the
/// sample Services.
pub async fn seed(client: &kube::Client, servers: &[DemoServer]) -> Result<(), AppError> {
    let crds: Vec<Manifest> = vlb_k8s_adapter::manifests::manifests(&ManifestOptions::default())
        .into_iter()
        .filter(|m| m.rank() == Rank::Crd)
        .collect();
    let options = InstallOptions {
        retry: vlb_k8s_adapter::RetryPolicy::fast(),
        crd_timeout: Duration::from_secs(20),
        crd_poll: Duration::from_millis(50),
        ..InstallOptions::default()
    };
    install_set(client, crds, &options).await?;
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces.create(&pp, &ns).await.map_err(kube_err)?;
    let node_api: Api<Node> = Api::all(client.clone());
    for node in nodes(servers) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let status = serde_json::json!({ "status": node.status });
        node_api.create(&pp, &node).await.map_err(kube_err)?;
        node_api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(kube_err)?;
    }
    let svc_api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    for svc in services() {
        svc_api.create(&pp, &svc).await.map_err(kube_err)?;
    }
    Ok(())
}

fn ready_condition(lbc: &LoadBalancerConfig) -> Option<&vlb_domain::model::condition::Condition> {
    lbc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The table's rows as the cluster shows them now: the address on each Service's status,
/// its LoadBalancerConfig's load balancer id and `Ready` condition, its Warning Events.
pub async fn observe(client: &kube::Client) -> Result<Vec<Row>, AppError> {
    let lp = ListParams::default();
    let svcs = Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .list(&lp)
        .await
        .map_err(kube_err)?;
    let lbcs = Api::<LoadBalancerConfig>::namespaced(client.clone(), NAMESPACE)
        .list(&lp)
        .await
        .map_err(kube_err)?;
    let events = Api::<Event>::namespaced(client.clone(), NAMESPACE)
        .list(&lp)
        .await
        .map_err(kube_err)?;
    let mut rows: Vec<Row> = svcs
        .items
        .iter()
        .map(|svc| {
            let name = svc.metadata.name.clone().unwrap_or_default();
            let address = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .and_then(|i| i.first())
                .and_then(|i| i.ip.clone().or_else(|| i.hostname.clone()));
            let lbc = lbcs.items.iter().find(|l| {
                l.metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(vlb_domain::usecase::OWNER_NAME_LABEL))
                    .map_or(l.metadata.name.as_deref() == Some(name.as_str()), |n| {
                        *n == name
                    })
            });
            let lb_id = lbc
                .and_then(|l| l.status.as_ref())
                .and_then(|s| s.load_balancer_id.clone());
            let condition = lbc.and_then(ready_condition);
            let ready = condition.is_some_and(|c| c.status == ConditionStatus::True);
            let warning = events.items.iter().rev().find(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
            });
            let state = if ready && address.is_some() {
                "Ready".to_owned()
            } else if lb_id.is_some() {
                let why = condition.map(|c| c.reason.clone()).unwrap_or_default();
                if why.is_empty() || why == vlb_domain::model::condition::REASON_PROVISIONING {
                    "Provisioning".to_owned()
                } else {
                    format!("Provisioning ({why})")
                }
            } else if let Some(w) = warning {
                let note = w.note.clone().unwrap_or_default();
                let reason = w.reason.clone().unwrap_or_default();
                let mut text = format!("Warning {reason}: {note}");
                if text.chars().count() > 90 {
                    text = text.chars().take(87).collect::<String>() + "...";
                }
                text
            } else {
                "Pending".to_owned()
            };
            Row {
                service: name,
                lb_id,
                address,
                state,
                warned: warning.is_some(),
                ready,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(rows)
}

/// Prints the table: on a terminal the screen is redrawn (header, then table) like
/// `watch` does, so long rows that wrap do not matter; otherwise the table is printed
/// again whenever it changed.
struct Screen {
    live: bool,
    header: String,
    last: String,
}

impl Screen {
    fn show(&mut self, table: &str) {
        if table == self.last {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.live {
            // Cursor home, clear the screen.
            let _ = write!(out, "\x1b[H\x1b[2J{}", self.header);
        } else if !self.last.is_empty() {
            let _ = writeln!(out);
        }
        let _ = write!(out, "{table}");
        let _ = out.flush();
        table.clone_into(&mut self.last);
    }
}

/// `vlb-demo`: starts both emulators, seeds the cluster, starts the operator,
/// shows the table until converged (exit 0) or `--timeout` (error); with
/// `--keep-running` keeps everything up until `shutdown`.
pub async fn run(args: &DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    let started = tokio::time::Instant::now();
    let kubeconfig = match &args.kubeconfig_out {
        Some(path) => std::env::current_dir().map_or_else(|_| path.clone(), |d| d.join(path)),
        None => std::env::temp_dir().join("vlb-demo.kubeconfig"),
    };
    let kube = KubeEmulator::start_with(KubeEmulatorConfig {
        kubeconfig_path: Some(kubeconfig.clone()),
        ..KubeEmulatorConfig::default()
    })
    .await
    .map_err(|e| DemoError::Emulator {
        which: "kubernetes",
        reason: e.to_string(),
    })?;
    let cloud = VngEmulator::start()
        .await
        .map_err(|e| DemoError::Emulator {
            which: "vngcloud",
            reason: e.to_string(),
        })?;
    let client = kube.client();
    let servers = demo_servers(&cloud);
    let mut header = format!(
        "Kubernetes emulator at {}, VNGCloud emulator at {} ({} servers in {} zones)\n",
        kube.url(),
        cloud.url(),
        servers.len(),
        servers
            .iter()
            .map(|s| s.zone.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    print!("{header}");
    seed(&client, &servers).await?;
    let operator = Operator::start(client.clone(), operator_config(&cloud)).await?;
    let look = format!(
        "Look around while it runs (--keep-running keeps it up after convergence):\n  \
         kubectl --kubeconfig {} get svc,lbc -A\n\n",
        kubeconfig.display()
    );
    print!("{look}");
    header.push_str(&look);
    let mut screen = Screen {
        live: !args.no_live && std::io::stdout().is_terminal(),
        header,
        last: String::new(),
    };
    let deadline = started + args.timeout;
    let outcome = loop {
        let rows = observe(&client).await;
        if let Ok(rows) = &rows {
            screen.show(&render(rows));
            if converged(rows) {
                break Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(DemoError::NotConverged {
                after: args.timeout,
                last_error: rows.err().map(|e| format!(" ({e})")).unwrap_or_default(),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = shutdown.cancelled() => break Err(DemoError::Interrupted),
        }
    };
    if outcome.is_ok() {
        println!(
            "\nConverged in {:.1}s: every valid Service is Ready with its address, {BAD_SERVICE} \
             carries its Warning Event. {} cloud calls.",
            started.elapsed().as_secs_f64(),
            cloud.control().total_calls()
        );
        if args.keep_running {
            println!("Still running (Ctrl+C stops it).");
            shutdown.cancelled().await;
        }
    }
    let stopped = operator.shutdown().await;
    drop(cloud);
    drop(kube);
    outcome.and(stopped.map_err(DemoError::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vlb_app::views;

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
