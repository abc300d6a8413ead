//! End-to-end harness of the vlb operator: both emulators in-process, the real operator code
//! between them, and the checks the suites share.
//!
//! ```text
//!   tests/tests/{lifecycle,faults,bad_input}.rs
//!                 │  Harness: namespaces, Nodes, Services, waits, counters, checks
//!                 ▼
//!   ┌──────────────────────┐   kube::Client    ┌──────────────────────────────┐
//!   │ vlb-kube-emulator    │◄──────────────────│ vlb_app::embedded::Operator  │
//!   │ journal │ faults     │  watch / PATCH    │ (Service, LBC, NSG           │
//!   └──────────────────────┘                   │  controllers, real adapters) │
//!   ┌──────────────────────┐   HTTP (VNGCloud) │                              │
//!   │ vlb-vngcloud-emulator│◄──────────────────│                              │
//!   │ journal │ faults     │                   └──────────────────────────────┘
//!   └──────────────────────┘
//! ```
//!
//! Every suite test is declared with [`e2e!`] and runs twice, `NAME::emulator` against the
//! Kubernetes emulator and `NAME::apiserver` against a real kube-apiserver and etcd (built by
//! `scripts/test.d/10-control-plane.sh`, started per test by [`ControlPlane`], behind a
//! journaling, fault-injecting proxy: the same [`Journal`] and [`Faults`] handles). On the real
//! apiserver the operator runs as an identity bound only to the shipped ClusterRole. No
//! kube-controller-manager runs there (no garbage collector, no namespace finalization): the
//! suites need neither (the operator deletes its LBCs and NSGs itself, namespaces are never
//! deleted).
//!
//! Every test owns a [`Harness`]: its own two emulators (short life-cycle delays), its own
//! namespace, the CRDs installed, one Node per fixture server (provider id
//! `vngcloud://ins-...`, InternalIP of the server), and an operator. Waits poll a condition
//! until a deadline ([`wait_for`]); they never sleep for convergence.
//!
//! Counters are split into reads and writes per side ([`CloudCounts`], [`KubeCounts`]) and
//! taken as deltas. The Kubernetes journal does not say who called: every write the harness
//! makes carries the field manager [`TEST_FIELD_MANAGER`] and is left out, and the helpers
//! that wait for quiescence read only the in-memory journals, so the requests counted between
//! two snapshots taken around such waits are the operator's.
//!
//! [`Harness::assert_converged_and_clean`] is the check every fault test ends with: the cloud
//! equals the desired state of every Service, no orphan cloud object, nothing deleted that
//! this cluster did not create.
//!
//! Run the suites with `cargo test -p vlb-tests` (`RUST_LOG=vlb_app=debug` shows the
//! operator's logs of a failing test). Suites: `tests/lifecycle.rs` (create, no-op
//! redeploy, drift, out-of-band delete, rename, deletes, node changes, sharing, adoption,
//! port conflicts), `tests/faults.rs` (Kubernetes and VNGCloud faults, crash recovery,
//! leader election), `tests/bad_input.rs` (invalid annotations end to end, parser fuzzing).

// A test harness reports a failed expectation by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Namespace, Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use shared::Shared;
use vlb_cloud_adapter::{CloudConfig, RetryConfig, VngCloudClient};
use vlb_domain::annotations::{self, PREFIX};
use vlb_domain::model::LoadBalancerConfigStatus;
use vlb_domain::model::condition::{self as cond, ConditionStatus};
use vlb_domain::naming::Namer;
use vlb_domain::tags;
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup};

pub use vlb_app::embedded::{Operator, OperatorConfig};
pub use vlb_kube_emulator::{ControlPlane, FaultRule, Faults, Journal, KubeEmulator, Verb};
pub use vlb_vngcloud_emulator::{
    Delays, EmulatorConfig, Fault, FaultKind, Fixture, FixtureInterface, FixtureServer, LbPhase,
    LoadBalancer, RateLimit, TOKEN_PATH, VngEmulator,
};

/// Cluster id of the operator under test (its first 10 characters start every name).
pub const CLUSTER_ID: &str = "e2e-cluster-7f3a";
/// Another cluster (its load balancers must never be touched).
pub const OTHER_CLUSTER_ID: &str = "other-cluster-1b2c";
/// Field manager of every write the harness makes (left out of [`KubeCounts`]).
pub const TEST_FIELD_MANAGER: &str = "vlb-tests";
/// Default deadline of every wait: generous, the suites are fast because delays are short.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How long both journals must stay still to call the operator idle.
pub const QUIET_WINDOW: Duration = Duration::from_millis(1500);
/// Poll period of [`wait_for`].
pub const POLL: Duration = Duration::from_millis(25);

/// vLB path template of the load-balancer collection (create = POST).
pub const LOAD_BALANCERS: &str = vlb_vngcloud_emulator::LOAD_BALANCERS;
/// vLB path template of one load balancer (DELETE).
pub const LOAD_BALANCER: &str = vlb_vngcloud_emulator::LOAD_BALANCER;
/// vLB path template of the member list of a pool (one PUT replaces it).
pub const MEMBERS: &str =
    "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}/members";
/// vLB path template of the listener collection (create = POST).
pub const LISTENERS: &str = "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners";
/// vLB path template of one listener.
pub const LISTENER: &str =
    "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners/{listenerId}";
/// vLB path template of the pool collection (create = POST).
pub const POOLS: &str = "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools";
/// vLB path template of one pool (PUT also updates the health monitor).
pub const POOL: &str = "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}";

/// Full annotation name of a suffix from [`vlb_domain::annotations::keys`].
pub fn ann(suffix: &str) -> String {
    format!("{PREFIX}{suffix}")
}

/// Turns on `tracing` output for a test run with `RUST_LOG` set (once per process).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

// ------------------------------------------------------------------------------------------
// Waiting

/// Polls `check` every [`POLL`] until it answers `Ok`, and returns that value. `Err(why)`
/// means "not yet"; after `deadline` the test fails with `what` and the last `why`.
pub async fn wait_for<T, F, Fut>(what: impl Display, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let why = match check().await {
            Ok(v) => return v,
            Err(why) => why,
        };
        assert!(
            started.elapsed() <= deadline,
            "timed out after {deadline:?} waiting for {what}; last observed: {why}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_for`] with a synchronous check.
pub async fn wait_until<T>(
    what: impl Display,
    deadline: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    wait_for(what, deadline, || futures::future::ready(check())).await
}

// ------------------------------------------------------------------------------------------
// Counters

/// Calls the VNGCloud emulator answered, split into reads and writes (IAM token calls are
/// neither: they are counted in `tokens`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudCounts {
    /// GET calls.
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE calls (token requests excluded).
    pub writes: u64,
    /// Token requests.
    pub tokens: u64,
    /// Writes by `"METHOD template"`.
    pub writes_by_route: BTreeMap<String, u64>,
    /// Every call by `"METHOD template"`.
    pub by_route: BTreeMap<String, u64>,
    /// Calls answered 2xx by `"METHOD template"`.
    pub ok_by_route: BTreeMap<String, u64>,
    /// Calls answered otherwise (errors, dropped) by `"METHOD template status"`.
    pub failed_by_route: BTreeMap<String, u64>,
}

impl CloudCounts {
    /// Calls of `method` on `template`.
    pub fn route(&self, method: &str, template: &str) -> u64 {
        self.by_route
            .get(&format!("{method} {template}"))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `method` on `template` answered 2xx (what took effect, refusals aside).
    pub fn ok(&self, method: &str, template: &str) -> u64 {
        self.ok_by_route
            .get(&format!("{method} {template}"))
            .copied()
            .unwrap_or(0)
    }

    /// `self - before`, route by route.
    pub fn since(&self, before: &Self) -> Self {
        let diff = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            a.iter()
                .filter_map(|(k, v)| {
                    let d = v - b.get(k).copied().unwrap_or(0);
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        Self {
            reads: self.reads - before.reads,
            writes: self.writes - before.writes,
            tokens: self.tokens - before.tokens,
            writes_by_route: diff(&self.writes_by_route, &before.writes_by_route),
            by_route: diff(&self.by_route, &before.by_route),
            ok_by_route: diff(&self.ok_by_route, &before.ok_by_route),
            failed_by_route: diff(&self.failed_by_route, &before.failed_by_route),
        }
    }
}

/// Kubernetes requests not made by the harness, split into reads (get, list, watch) and
/// writes (create, update, patch, delete). Lease renewals of leader election are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeCounts {
    /// get, list and watch requests.
    pub reads: usize,
    /// create, update, patch, delete and deletecollection requests.
    pub writes: usize,
    /// Writes that stored a change (the others were no-ops the server absorbed).
    pub changed_writes: usize,
    /// Writes by `"verb resource[/subresource]"`.
    pub writes_by_route: BTreeMap<String, usize>,
}

impl KubeCounts {
    /// `self - before`, route by route.
    pub fn since(&self, before: &Self) -> Self {
        Self {
            reads: self.reads - before.reads,
            writes: self.writes - before.writes,
            changed_writes: self.changed_writes - before.changed_writes,
            writes_by_route: self
                .writes_by_route
                .iter()
                .filter_map(|(k, v)| {
                    let d = v - before.writes_by_route.get(k).copied().unwrap_or(0);
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect(),
        }
    }
}

/// Sum of the samples of metric `name` whose labels include every `labels` pair, in a
/// Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let ok = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            ok.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Successful reconciles of `controller` (`service`, `loadbalancerconfig`,
/// `nodesecuritygroup`) an operator reports.
pub fn reconciles(op: &Operator, controller: &str) -> u64 {
    let n = metric_sum(
        &op.metrics_text(),
        "controller_runtime_reconcile_total",
        &[("controller", controller), ("result", "success")],
    );
    n.max(0.0).round() as u64
}

// ------------------------------------------------------------------------------------------
// Objects

/// A Service of type LoadBalancer: `ports` are (port name, protocol, port), `annotations`
/// are (suffix of [`vlb_domain::annotations::keys`], value).
pub fn lb_service(
    name: &str,
    ports: &[(&str, &str, i32)],
    annotations: &[(&str, &str)],
) -> Service {
    Service {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            annotations: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| (ann(k), (*v).to_owned()))
                    .collect()
            }),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".to_owned()),
            selector: Some(BTreeMap::from([("app".to_owned(), name.to_owned())])),
            ports: Some(
                ports
                    .iter()
                    .map(|(port_name, protocol, port)| ServicePort {
                        name: (!port_name.is_empty()).then(|| (*port_name).to_owned()),
                        protocol: Some((*protocol).to_owned()),
                        port: *port,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

/// A Ready Node backed by a fixture server.
pub fn node_for(server: &FixtureServer) -> Node {
    Node {
        metadata: kube::api::ObjectMeta {
            name: Some(server.name.clone()),
            labels: Some(BTreeMap::from([
                ("kubernetes.io/hostname".to_owned(), server.name.clone()),
                (
                    "topology.kubernetes.io/zone".to_owned(),
                    server.zone_id.clone(),
                ),
            ])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("vngcloud://{}", server.id)),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: server.interfaces[0].fixed_ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".to_owned(),
                    address: server.name.clone(),
                },
            ]),
            conditions: Some(vec![ready_condition(true)]),
            ..Default::default()
        }),
    }
}

fn ready_condition(ready: bool) -> NodeCondition {
    NodeCondition {
        type_: "Ready".to_owned(),
        status: if ready { "True" } else { "False" }.to_owned(),
        reason: Some(
            if ready {
                "KubeletReady"
            } else {
                "KubeletNotReady"
            }
            .to_owned(),
        ),
        ..Default::default()
    }
}

/// The harness fixture: the emulator's default project plus a fourth server (`worker-4`,
/// zone A) that is not a Node at start, to join later.
pub fn fixture() -> Fixture {
    let mut f = Fixture::default();
    let first = f.servers[0].clone();
    f.servers.push(FixtureServer {
        id: "ins-5e6f7a8b-0004-4c3d-9e8f-000000000004".to_owned(),
        name: "worker-4".to_owned(),
        zone_id: first.zone_id.clone(),
        interfaces: vec![FixtureInterface {
            fixed_ip: "10.76.0.14".to_owned(),
            ..first.interfaces[0].clone()
        }],
        security_groups: first.security_groups.clone(),
    });
    f
}

/// Short life-cycle delays: long enough that a load balancer is seen `CREATING` and
/// `UPDATING`, short enough for a fast suite.
pub const fn short_delays() -> Delays {
    Delays {
        create_ms: 150,
        update_ms: 50,
        delete_ms: 50,
    }
}

// ------------------------------------------------------------------------------------------
// Backends

/// Which Kubernetes API server a [`Harness`] runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `vlb-kube-emulator`, in-process.
    Emulator,
    /// A real kube-apiserver and etcd built from source (`scripts/test.d/10-control-plane.sh`),
    /// behind a journaling, fault-injecting proxy ([`ControlPlane`]).
    Apiserver,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// Runs `test` with `backend` as the one [`Harness::start`] picks (see [`e2e!`]).
pub async fn on_backend<F: Future>(backend: Backend, test: F) -> F::Output {
    BACKEND.scope(backend, test).await
}

/// The backend the running test asked for ([`Backend::Emulator`] outside [`on_backend`]).
pub fn current_backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Emulator)
}

/// Declares each end-to-end test twice, as a module with two tests: `NAME::emulator` runs it
/// against the Kubernetes emulator, `NAME::apiserver` against a real kube-apiserver. The body
/// is the same: [`Harness::start`] picks the backend.
#[macro_export]
macro_rules! e2e {
    ($( $(#[$meta:meta])* async fn $name:ident() $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn emulator() {
                $crate::on_backend($crate::Backend::Emulator, async $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn apiserver() {
                $crate::on_backend($crate::Backend::Apiserver, async $body).await
            }
        }
    )*};
}

/// The Kubernetes side of a [`Harness`]: the same journal and faults on both backends.
#[derive(Debug)]
pub enum KubeSide {
    /// The emulator.
    Emulator(Box<KubeEmulator>),
    /// A real control plane behind its proxy.
    Apiserver(Box<ControlPlane>),
}

impl KubeSide {
    /// Starts a fresh API server of `backend` (one per harness: Nodes are cluster-wide).
    pub async fn start(backend: Backend) -> Self {
        match backend {
            Backend::Emulator => Self::Emulator(Box::new(
                KubeEmulator::start().await.expect("kube emulator"),
            )),
            Backend::Apiserver => Self::Apiserver(Box::new(
                ControlPlane::start()
                    .await
                    .unwrap_or_else(|e| panic!("real control plane: {e}")),
            )),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Emulator(_) => Backend::Emulator,
            Self::Apiserver(_) => Backend::Apiserver,
        }
    }

    /// URL clients use (`http://127.0.0.1:PORT`: the emulator, or the proxy).
    pub fn url(&self) -> String {
        match self {
            Self::Emulator(e) => e.url(),
            Self::Apiserver(c) => c.url(),
        }
    }

    /// An admin client.
    pub fn client(&self) -> kube::Client {
        match self {
            Self::Emulator(e) => e.client(),
            Self::Apiserver(c) => c.client(),
        }
    }

    /// The client the operator runs with: on the real apiserver, the identity bound only to
    /// the shipped ClusterRole (see [`KubeSide::bind_operator_role`]).
    pub fn operator_client(&self) -> kube::Client {
        match self {
            Self::Emulator(e) => e.client(),
            Self::Apiserver(c) => c.operator_client(),
        }
    }

    /// A kubeconfig for kubectl (admin).
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        match self {
            Self::Emulator(e) => e.kubeconfig_path(),
            Self::Apiserver(c) => c.kubeconfig_path(),
        }
    }

    /// The request journal.
    pub fn journal(&self) -> Journal {
        match self {
            Self::Emulator(e) => e.journal(),
            Self::Apiserver(c) => c.journal(),
        }
    }

    /// Fault injection.
    pub fn faults(&self) -> Faults {
        match self {
            Self::Emulator(e) => e.faults(),
            Self::Apiserver(c) => c.faults(),
        }
    }

    /// On the real apiserver: creates the shipped ClusterRole and binds it to the operator's
    /// identity (the emulator allows everything unless told otherwise).
    pub async fn bind_operator_role(&self, client: &kube::Client) {
        if self.backend() != Backend::Apiserver {
            return;
        }
        bind_cluster_role(client, vlb_k8s_adapter::cluster_role()).await;
    }
}

/// Creates (or replaces) `role` and a ClusterRoleBinding of it to the operator's identity
/// (`vlb-operator`) on a real apiserver.
pub async fn bind_cluster_role(client: &kube::Client, role: ClusterRole) {
    let name = role.name_any();
    let pp = PatchParams::apply(TEST_FIELD_MANAGER).force();
    Api::<ClusterRole>::all(client.clone())
        .patch(&name, &pp, &Patch::Apply(&role))
        .await
        .expect("apply ClusterRole");
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "User".to_owned(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            name: vlb_kube_emulator::control_plane::OPERATOR_USER.to_owned(),
            namespace: None,
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(&name, &pp, &Patch::Apply(&binding))
        .await
        .expect("apply ClusterRoleBinding");
}

// ------------------------------------------------------------------------------------------
// Harness

/// How a [`Harness`] starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespace the test owns.
    pub namespace: String,
    /// Project content of the cloud emulator.
    pub fixture: Fixture,
    /// Names of the fixture servers that are Nodes at start.
    pub nodes: Vec<String>,
    /// Life-cycle delays of the cloud emulator.
    pub delays: Delays,
    /// Token lifetime of the cloud emulator.
    pub token_ttl: Duration,
    /// Rate limit of the cloud emulator.
    pub rate_limit: RateLimit,
    /// Start an operator with [`Harness::operator_config`].
    pub start_operator: bool,
    /// Drift-check period of the operator (cloud drift is only seen on this period).
    pub drift_period: Duration,
    /// Debounce of the operator's controllers (`None`: the test default).
    pub debounce: Option<Duration>,
}

impl Options {
    /// Defaults for a test owning `namespace`: 3 Nodes, short delays, an operator with a
    /// long drift period (no background reads).
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            fixture: fixture(),
            nodes: vec!["worker-1".into(), "worker-2".into(), "worker-3".into()],
            delays: short_delays(),
            token_ttl: Duration::from_secs(1800),
            rate_limit: RateLimit::default(),
            start_operator: true,
            drift_period: Duration::from_secs(600),
            debounce: None,
        }
    }
}

/// A load balancer made outside the cluster, with what it held when made.
#[derive(Debug, Clone)]
pub struct ForeignLb {
    /// Its id.
    pub id: String,
    /// Its listeners' ids when made.
    pub listeners: Vec<String>,
    /// Its pools' ids when made.
    pub pools: Vec<String>,
}

/// What a ready Service got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLb {
    /// Load balancer id.
    pub id: String,
    /// Address on the Service status (the load balancer's).
    pub address: String,
}

/// Both emulators, an operator, and one namespace. Dropping it aborts the operator and
/// stops the emulators.
pub struct Harness {
    /// The Kubernetes API server: the emulator, or a real kube-apiserver behind a proxy
    /// (see [`Backend`]); both journal requests and inject faults alike.
    pub kube: KubeSide,
    /// The VNGCloud emulator.
    pub cloud: VngEmulator,
    /// Client of the harness (its writes carry [`TEST_FIELD_MANAGER`]).
    pub client: kube::Client,
    /// Namespace the test owns.
    pub namespace: String,
    /// Options it started with.
    pub options: Options,
    operator: Option<Operator>,
    foreign: Shared<Vec<ForeignLb>>,
}

impl Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("namespace", &self.namespace)
            .field("kube", &self.kube.url())
            .field("cloud", &self.cloud.url())
            .finish_non_exhaustive()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(op) = self.operator.take() {
            op.abort();
        }
    }
}

impl Harness {
    /// [`Options::new`] for `namespace`, started.
    pub async fn start(namespace: &str) -> Self {
        Self::start_with(Options::new(namespace)).await
    }

    /// Starts both emulators, installs the CRDs, creates the namespace and the Nodes, and
    /// (unless told not to) starts an operator.
    pub async fn start_with(options: Options) -> Self {
        init_logging();
        let kube = KubeSide::start(current_backend()).await;
        let cloud = VngEmulator::start_with(EmulatorConfig {
            fixture: options.fixture.clone(),
            delays: options.delays,
            token_ttl: options.token_ttl,
            rate_limit: options.rate_limit,
            ..EmulatorConfig::default()
        })
        .await
        .expect("vngcloud emulator");
        let client = kube.client();
        let mut h = Self {
            kube,
            cloud,
            client,
            namespace: options.namespace.clone(),
            options,
            operator: None,
            foreign: Shared::default(),
        };
        h.install_crds().await;
        h.kube.bind_operator_role(&h.client).await;
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(h.namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(h.client.clone())
            .create(&Self::pp(), &ns)
            .await
            .expect("create namespace");
        for name in h.options.nodes.clone() {
            h.add_node(&name).await;
        }
        if h.options.start_operator {
            h.start_operator().await;
        }
        h
    }

    fn pp() -> PostParams {
        PostParams {
            field_manager: Some(TEST_FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        }
    }

    fn patch_params() -> PatchParams {
        PatchParams {
            field_manager: Some(TEST_FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        }
    }

    async fn install_crds(&self) {
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        for crd in vlb_k8s_adapter::crds() {
            api.create(&Self::pp(), &crd).await.expect("create CRD");
        }
        let names: Vec<String> = vlb_k8s_adapter::crds()
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        wait_for("CRDs Established", DEADLINE, || async {
            for name in &names {
                let crd = api.get(name).await.map_err(|e| e.to_string())?;
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if !established {
                    return Err(format!("{name} not Established: {:?}", crd.status));
                }
            }
            Ok(())
        })
        .await;
        let lbcs = self.lbcs();
        let nsgs = self.nsgs();
        wait_for("CRDs served", DEADLINE, || async {
            lbcs.list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            nsgs.list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
        .await;
    }

    // ---------------------------------------------------------------- operator

    /// Configuration of the cloud adapter: the emulator's endpoints and credentials, fast
    /// retries, no client-side pacing, short waits.
    pub fn cloud_config(&self) -> CloudConfig {
        let mut c = CloudConfig::new(
            self.cloud.iam_url(),
            self.cloud.vlb_url(),
            self.cloud.vserver_url(),
            self.cloud.project_id(),
            self.cloud.client_id(),
            self.cloud.client_secret(),
        );
        c.retry = RetryConfig::fast();
        c.pacing = None;
        c.wait_poll = Duration::from_millis(20);
        c.wait_deadline = Duration::from_secs(10);
        c
    }

    /// The operator configuration of this harness ([`OperatorConfig::for_tests`] with the
    /// options' drift period and debounce).
    pub fn operator_config(&self) -> OperatorConfig {
        let mut c = OperatorConfig::for_tests(CLUSTER_ID, self.cloud_config());
        c.drift_period = self.options.drift_period;
        if let Some(d) = self.options.debounce {
            c.debounce = d;
        }
        c
    }

    /// Starts another operator against the Kubernetes side and the cloud emulator (the caller
    /// owns it). On the real apiserver it runs as the identity bound only to the shipped
    /// ClusterRole.
    pub async fn launch_operator(&self, config: OperatorConfig) -> Operator {
        Operator::start(self.kube.operator_client(), config)
            .await
            .expect("operator starts")
    }

    /// Starts the harness's operator with [`Harness::operator_config`].
    pub async fn start_operator(&mut self) {
        let config = self.operator_config();
        self.start_operator_with(config).await;
    }

    /// Starts the harness's operator with `config` (after stopping a running one).
    pub async fn start_operator_with(&mut self, config: OperatorConfig) {
        self.stop_operator().await;
        let op = self.launch_operator(config).await;
        self.operator = Some(op);
    }

    /// Shuts the harness's operator down gracefully (no-op without one).
    pub async fn stop_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.shutdown().await.expect("graceful shutdown");
        }
    }

    /// Kills the harness's operator: no cleanup, no handover (a crash).
    pub fn abort_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.abort();
        }
    }

    /// The harness's running operator.
    pub fn operator(&self) -> &Operator {
        self.operator.as_ref().expect("an operator is running")
    }

    // ---------------------------------------------------------------- APIs

    /// Services of the namespace.
    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// LoadBalancerConfigs of the namespace.
    pub fn lbcs(&self) -> Api<LoadBalancerConfig> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// NodeSecurityGroups of the namespace.
    pub fn nsgs(&self) -> Api<NodeSecurityGroup> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Nodes.
    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// `events.k8s.io/v1` Events of the namespace.
    pub fn events(&self) -> Api<Event> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Out-of-band control of the cloud emulator.
    pub fn control(&self) -> vlb_vngcloud_emulator::Control {
        self.cloud.control()
    }

    // ---------------------------------------------------------------- nodes

    /// Creates a Ready Node for the fixture server `name`.
    pub async fn add_node(&self, name: &str) {
        let server = self
            .options
            .fixture
            .servers
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no fixture server {name}"));
        self.nodes()
            .create(&Self::pp(), &node_for(server))
            .await
            .expect("create node");
    }

    /// Sets label `key` of a Node to `value`.
    pub async fn label_node(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"labels": {key: value}}});
        self.nodes()
            .patch(name, &Self::patch_params(), &Patch::Merge(&patch))
            .await
            .expect("label node");
    }

    /// Marks a Node Ready or NotReady (status subresource).
    pub async fn set_node_ready(&self, name: &str, ready: bool) {
        let patch = json!({"status": {"conditions": [ready_condition(ready)]}});
        self.nodes()
            .patch_status(name, &Self::patch_params(), &Patch::Merge(&patch))
            .await
            .expect("patch node status");
    }

    /// Deletes a Node.
    pub async fn delete_node(&self, name: &str) {
        self.nodes()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete node");
    }

    /// InternalIPs of the Nodes that must be members: Ready, not excluded, not deleting.
    pub async fn member_ips(&self) -> BTreeSet<String> {
        let nodes = self
            .nodes()
            .list(&ListParams::default())
            .await
            .expect("nodes");
        nodes
            .items
            .iter()
            .filter(|n| n.metadata.deletion_timestamp.is_none())
            .filter(|n| !n.labels().contains_key(vlb_domain::members::EXCLUDE_LABEL))
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .filter_map(|n| {
                n.status
                    .as_ref()?
                    .addresses
                    .as_ref()?
                    .iter()
                    .find_map(|a| (a.type_ == "InternalIP").then(|| a.address.clone()))
            })
            .collect()
    }

    // ---------------------------------------------------------------- services

    /// Creates a Service in the namespace.
    pub async fn create_service(&self, svc: &Service) -> Service {
        self.services()
            .create(&Self::pp(), svc)
            .await
            .expect("create service")
    }

    /// Sets (`Some`) or removes (`None`) an annotation (full name) of a Service.
    pub async fn annotate_service(&self, name: &str, annotation: &str, value: Option<&str>) {
        let patch = json!({"metadata": {"annotations": {annotation: value}}});
        self.services()
            .patch(name, &Self::patch_params(), &Patch::Merge(&patch))
            .await
            .expect("annotate service");
    }

    /// Deletes a Service (the operator's finalizer keeps it until the cloud is cleaned).
    pub async fn delete_service(&self, name: &str) {
        match self.services().delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => panic!("delete service {name}: {e}"),
        }
    }

    /// Waits until the Service is gone (its finalizer removed).
    pub async fn wait_service_gone(&self, name: &str) {
        let api = self.services();
        wait_for(format!("Service {name} gone"), DEADLINE, || async {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(s) => Err(format!("still there, finalizers {:?}", s.finalizers())),
            }
        })
        .await;
    }

    /// The expected name of a Service's load balancer without a name annotation.
    pub fn default_lb_name(&self, service: &str) -> String {
        Namer::new(CLUSTER_ID, &self.namespace, service).load_balancer()
    }

    /// The LBC of a Service, if any.
    pub async fn lbc(&self, name: &str) -> Option<LoadBalancerConfig> {
        self.lbcs().get_opt(name).await.expect("get lbc")
    }

    /// Waits until a Service is served: address on its status, its LBC `Ready` for the
    /// current generation with a load balancer id, the load balancer `ACTIVE` with that
    /// address.
    pub async fn wait_service_ready(&self, name: &str) -> ReadyLb {
        wait_for(format!("Service {name} ready"), DEADLINE, || {
            self.service_ready(name)
        })
        .await
    }

    /// One check of [`Harness::wait_service_ready`].
    pub async fn service_ready(&self, name: &str) -> Result<ReadyLb, String> {
        let svc = self
            .services()
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no Service")?;
        let address = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .and_then(|i| i.first())
            .and_then(|i| {
                let view = vlb_domain::model::IngressView {
                    ip: i.ip.clone(),
                    hostname: i.hostname.clone(),
                    ip_mode: i.ip_mode.clone(),
                };
                vlb_domain::model::ServiceAddress::address_of(&view).map(str::to_owned)
            })
            .ok_or("no address on the Service status")?;
        let lbc = self
            .lbcs()
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no LoadBalancerConfig")?;
        let status = lbc.status.clone().unwrap_or_default();
        check_ready(&status, lbc.metadata.generation)?;
        let id = status
            .load_balancer_id
            .clone()
            .ok_or("no loadBalancerId on the LBC status")?;
        let lb = self
            .control()
            .load_balancer(&id)
            .ok_or_else(|| format!("load balancer {id} not in the cloud"))?;
        if lb.phase != LbPhase::Active {
            return Err(format!("load balancer {id} is {:?}", lb.phase));
        }
        if lb.address != address {
            return Err(format!(
                "Service address {address} but load balancer address {}",
                lb.address
            ));
        }
        Ok(ReadyLb { id, address })
    }

    /// Waits until the LBC of `name` has a `Ready` condition with `status` and `reason`,
    /// and returns its message.
    pub async fn wait_lbc_condition(
        &self,
        name: &str,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
    ) -> String {
        let api = self.lbcs();
        wait_for(
            format!("LBC {name} condition {type_}={status:?} ({reason})"),
            DEADLINE,
            || async {
                let lbc = api
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no LoadBalancerConfig")?;
                let conditions = lbc.status.unwrap_or_default().0.conditions;
                let c = cond::find_condition(&conditions, type_)
                    .ok_or_else(|| format!("no {type_} condition in {conditions:?}"))?;
                if c.status == status && c.reason == reason {
                    Ok(c.message.clone())
                } else {
                    Err(format!("{c:?}"))
                }
            },
        )
        .await
    }

    /// Waits for a Warning Event about the Service `name` whose note contains every one of
    /// `needles`; returns the note.
    pub async fn wait_warning_event(&self, name: &str, needles: &[&str]) -> String {
        let api = self.events();
        wait_for(
            format!("Warning Event on Service {name} naming {needles:?}"),
            DEADLINE,
            || async {
                let events = api
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let notes: Vec<String> = events
                    .items
                    .iter()
                    .filter(|e| e.type_.as_deref() == Some("Warning"))
                    .filter(|e| {
                        e.regarding.as_ref().is_some_and(|r| {
                            r.kind.as_deref() == Some("Service") && r.name.as_deref() == Some(name)
                        })
                    })
                    .filter_map(|e| e.note.clone())
                    .collect();
                notes
                    .iter()
                    .find(|n| needles.iter().all(|x| n.contains(x)))
                    .cloned()
                    .ok_or_else(|| format!("warnings so far: {notes:?}"))
            },
        )
        .await
    }

    // ---------------------------------------------------------------- foreign objects

    /// Creates a load balancer outside the cluster (a user's, or another cluster's when
    /// `tags` say so) with one TCP listener and pool, waits until it is `ACTIVE`, and
    /// remembers it: [`Harness::assert_converged_and_clean`] checks it was not deleted.
    pub async fn add_foreign_load_balancer(&self, name: &str, tags: &[(&str, &str)]) -> ForeignLb {
        use vlb_domain::model::{
            CreateLoadBalancerRequest, HealthCheckProtocol, HealthMonitor, ListenerProtocol,
            ListenerRequest, LoadBalancerScheme, LoadBalancerType, PoolAlgorithm, PoolProtocol,
            PoolRequest,
        };
        use vlb_domain::ports::LoadBalancerApi;
        let client = VngCloudClient::new(self.cloud_config()).expect("cloud client");
        let subnet = &self.options.fixture.networks[0].subnets[0];
        let request = CreateLoadBalancerRequest {
            name: name.to_owned(),
            package_id: Some(self.options.fixture.packages[0].id.clone()),
            scheme: LoadBalancerScheme::Internal,
            lb_type: LoadBalancerType::Layer4,
            subnet_id: subnet.id.clone(),
            zone_id: subnet.zone_id.clone(),
            private_subnet_id: None,
            private_zone_id: None,
            autoscale: false,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            listener: Some(ListenerRequest {
                name: format!("{name}-listener"),
                protocol: ListenerProtocol::Tcp,
                port: 9999,
                allowed_cidrs: "0.0.0.0/0".to_owned(),
                timeout_client: 50,
                timeout_member: 50,
                timeout_connection: 5,
                default_pool_id: None,
                insert_headers: Vec::new(),
                default_certificate_authority: None,
                certificate_authorities: Vec::new(),
                client_certificate: None,
            }),
            pool: Some(PoolRequest {
                name: format!("{name}-pool"),
                protocol: PoolProtocol::Tcp,
                algorithm: PoolAlgorithm::RoundRobin,
                stickiness: false,
                tls_encryption: false,
                health_monitor: HealthMonitor {
                    protocol: HealthCheckProtocol::Tcp,
                    healthy_threshold: Some(3),
                    unhealthy_threshold: Some(3),
                    interval: Some(30),
                    timeout: Some(5),
                    health_check_method: None,
                    http_version: None,
                    health_check_path: None,
                    domain_name: None,
                    success_code: None,
                },
                members: Vec::new(),
            }),
        };
        let id = client
            .create_load_balancer(&request)
            .await
            .expect("create foreign load balancer");
        let control = self.control();
        let lb = wait_until(format!("foreign {name} ACTIVE"), DEADLINE, || match control
            .load_balancer(&id)
        {
            Some(lb) if lb.phase == LbPhase::Active => Ok(lb),
            other => Err(format!("{:?}", other.map(|l| l.phase))),
        })
        .await;
        let foreign = ForeignLb {
            id: lb.id.clone(),
            listeners: lb.listeners.iter().map(|l| l.id.clone()).collect(),
            pools: lb.pools.iter().map(|p| p.id.clone()).collect(),
        };
        self.foreign.push(foreign.clone());
        foreign
    }

    /// Stops checking a foreign load balancer (the test deletes it on purpose, as its owner).
    pub fn forget_foreign(&self, id: &str) {
        self.foreign.retain(|f| f.id != id);
    }

    // ---------------------------------------------------------------- counters

    /// Cloud calls so far, split into reads and writes.
    pub fn cloud_counts(&self) -> CloudCounts {
        let mut out = CloudCounts::default();
        for (route, by_status) in self.control().counters() {
            let n: u64 = by_status.values().sum();
            out.by_route.insert(route.clone(), n);
            for (status, count) in &by_status {
                if (200..300).contains(status) {
                    *out.ok_by_route.entry(route.clone()).or_default() += count;
                } else {
                    out.failed_by_route
                        .insert(format!("{route} {status}"), *count);
                }
            }
            let (method, template) = route.split_once(' ').unwrap_or((&route, ""));
            if template == TOKEN_PATH {
                out.tokens += n;
            } else if method == "GET" {
                out.reads += n;
            } else {
                out.writes += n;
                out.writes_by_route.insert(route.clone(), n);
            }
        }
        out
    }

    /// Kubernetes requests so far not made by the harness's writes (see the crate docs),
    /// lease renewals left out.
    pub fn kube_counts(&self) -> KubeCounts {
        let mut out = KubeCounts::default();
        for e in self.kube.journal().entries() {
            if e.resource == "leases" {
                continue;
            }
            if e.field_manager.as_deref() == Some(TEST_FIELD_MANAGER) {
                continue;
            }
            match e.verb {
                Verb::Get | Verb::List | Verb::Watch => out.reads += 1,
                _ => {
                    out.writes += 1;
                    out.changed_writes += usize::from(e.changed);
                    let route = match &e.subresource {
                        Some(s) => format!("{} {}/{s}", e.verb.as_str(), e.resource),
                        None => format!("{} {}", e.verb.as_str(), e.resource),
                    };
                    *out.writes_by_route.entry(route).or_default() += 1;
                }
            }
        }
        out
    }

    /// Waits until the operator is idle: no cloud write and no Kubernetes write (leases and
    /// the harness's own writes aside) for [`QUIET_WINDOW`]. Reads are not waited for: a
    /// short drift period reads all the time. Reads only the in-memory journals.
    pub async fn wait_quiet(&self) {
        self.wait_quiet_of(true).await;
    }

    /// Waits until the cloud sees no write for [`QUIET_WINDOW`] (Kubernetes writes aside:
    /// for tests with a short drift period, where every drift check may write status).
    pub async fn wait_cloud_quiet(&self) {
        self.wait_quiet_of(false).await;
    }

    async fn wait_quiet_of(&self, kube: bool) {
        let stamp = || {
            let k = if kube { self.kube_counts().writes } else { 0 };
            (self.cloud_counts().writes, k)
        };
        let mut last = stamp();
        let mut since = Instant::now();
        wait_until("the operator to be idle", DEADLINE, || {
            let now = stamp();
            if now != last {
                last = now;
                since = Instant::now();
            }
            if since.elapsed() >= QUIET_WINDOW {
                Ok(())
            } else {
                Err(format!("writes still coming: (cloud, kube) = {now:?}"))
            }
        })
        .await;
    }

    // ---------------------------------------------------------------- convergence

    /// Waits until [`Harness::converged_and_clean`] holds; fails with the last discrepancy.
    pub async fn assert_converged_and_clean(&self) {
        wait_for(
            "cloud state = desired state, no orphan, nothing foreign deleted",
            DEADLINE,
            || self.converged_and_clean(),
        )
        .await;
    }

    /// One check: every Service that wants a load balancer has it (`Ready` LBC for its
    /// generation, address on the Service, `ACTIVE` load balancer with one listener per
    /// port, its default pool with exactly the Ready Nodes as members, listener and pool
    /// settings as the LBC spec says, provenance tag on what this cluster created, managed
    /// security group with an ingress rule from the load balancer's subnet to every node
    /// port, attached to every member's server); no load balancer, listener, pool
    /// or security group of this cluster that no Service wants; no duplicate names; every
    /// foreign load balancer still there with what it held; no foreign object deleted; the
    /// user's security groups still exist and stay attached to their servers.
    pub async fn converged_and_clean(&self) -> Result<(), String> {
        let services = self
            .services()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let members = self.member_ips().await;
        let control = self.control();
        let lbs = control.load_balancers();
        let foreign = self.foreign.get();
        // Per load balancer: the (protocol, port) listeners Services want.
        let mut wanted_listeners: BTreeMap<String, BTreeSet<(String, i64)>> = BTreeMap::new();
        // Managed security group name → (source CIDR, the (protocol, port) rules it needs).
        let mut wanted_groups: BTreeMap<String, (String, BTreeSet<(String, i64)>)> =
            BTreeMap::new();
        for svc in &services.items {
            let name = svc.name_any();
            let spec = svc.spec.clone().unwrap_or_default();
            if spec.type_.as_deref() != Some("LoadBalancer")
                || spec.load_balancer_class.is_some()
                || svc.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            let Ok(settings) = annotations::parse(svc.annotations()) else {
                continue;
            };
            if settings.ignore || !settings.enable_load_balancer {
                continue;
            }
            let ready = self
                .service_ready(&name)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let lbc = self.lbc(&name).await.ok_or("LBC vanished")?;
            let lb = lbs
                .iter()
                .find(|l| l.id == ready.id)
                .ok_or("load balancer vanished")?;
            let expected_name = settings
                .load_balancer_name
                .clone()
                .unwrap_or_else(|| self.default_lb_name(&name));
            if settings.load_balancer_id.is_none() && lb.name != expected_name {
                return Err(format!(
                    "{name}: load balancer named {} instead of {expected_name}",
                    lb.name
                ));
            }
            let wanted = wanted_listeners.entry(lb.id.clone()).or_default();
            for port in spec.ports.iter().flatten() {
                let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
                if protocol == "SCTP" {
                    continue;
                }
                wanted.insert((protocol.clone(), i64::from(port.port)));
                let listener = lb
                    .listeners
                    .iter()
                    .find(|l| l.protocol == protocol && l.port == i64::from(port.port))
                    .ok_or_else(|| {
                        format!("{name}: no {protocol} listener on port {}", port.port)
                    })?;
                let pool_id = listener
                    .default_pool_id
                    .clone()
                    .ok_or_else(|| format!("{name}: listener {} has no pool", listener.name))?;
                let pool = lb
                    .pools
                    .iter()
                    .find(|p| p.id == pool_id)
                    .ok_or_else(|| format!("{name}: default pool {pool_id} missing"))?;
                let node_port = i64::from(port.node_port.unwrap_or(0));
                let got: BTreeSet<(String, i64)> = pool
                    .members
                    .iter()
                    .map(|m| (m.address.clone(), m.port))
                    .collect();
                let want: BTreeSet<(String, i64)> =
                    members.iter().map(|ip| (ip.clone(), node_port)).collect();
                if got != want {
                    return Err(format!(
                        "{name}: pool {} members {got:?}, want {want:?}",
                        pool.name
                    ));
                }
                let spec_listener = lbc
                    .spec
                    .listeners
                    .iter()
                    .find(|l| i64::from(l.protocol_port) == listener.port)
                    .ok_or_else(|| format!("{name}: LBC spec lacks port {}", listener.port))?;
                let fields = [
                    (
                        "timeoutClient",
                        spec_listener.timeout_client.map(i64::from),
                        listener.timeout_client,
                    ),
                    (
                        "timeoutMember",
                        spec_listener.timeout_member.map(i64::from),
                        listener.timeout_member,
                    ),
                    (
                        "timeoutConnection",
                        spec_listener.timeout_connection.map(i64::from),
                        listener.timeout_connection,
                    ),
                ];
                for (field, want, got) in fields {
                    if let Some(want) = want
                        && want != got
                    {
                        return Err(format!(
                            "{name}: listener {} {field} {got}, want {want}",
                            listener.name
                        ));
                    }
                }
                if let Some(cidrs) = &spec_listener.allowed_cidrs
                    && *cidrs != listener.allowed_cidrs
                {
                    return Err(format!(
                        "{name}: listener {} allowedCidrs {}, want {cidrs}",
                        listener.name, listener.allowed_cidrs
                    ));
                }
                let spec_pool = lbc
                    .spec
                    .pools
                    .iter()
                    .find(|p| Some(&p.name) == spec_listener.default_pool_name.as_ref())
                    .ok_or_else(|| format!("{name}: LBC spec lacks the pool of {}", port.port))?;
                if pool.protocol != spec_pool.protocol.as_str() {
                    return Err(format!(
                        "{name}: pool {} protocol {}, want {}",
                        pool.name,
                        pool.protocol,
                        spec_pool.protocol.as_str()
                    ));
                }
                if let Some(alg) = spec_pool.algorithm {
                    let want = serde_json::to_value(alg).map_err(|e| e.to_string())?;
                    if want.as_str() != Some(pool.algorithm.as_str()) {
                        return Err(format!(
                            "{name}: pool {} algorithm {}, want {want}",
                            pool.name, pool.algorithm
                        ));
                    }
                }
                let hm = &spec_pool.health_monitor;
                let want_hm = serde_json::to_value(hm.protocol).map_err(|e| e.to_string())?;
                let got_hm = &pool.health_monitor;
                let hm_fields = [
                    (
                        "healthyThreshold",
                        hm.healthy_threshold,
                        got_hm.healthy_threshold,
                    ),
                    (
                        "unhealthyThreshold",
                        hm.unhealthy_threshold,
                        got_hm.unhealthy_threshold,
                    ),
                    ("interval", hm.interval, got_hm.interval),
                    ("timeout", hm.timeout, got_hm.timeout),
                ];
                if want_hm.as_str() != Some(got_hm.protocol.as_str()) {
                    return Err(format!(
                        "{name}: pool {} health check {}, want {want_hm}",
                        pool.name, got_hm.protocol
                    ));
                }
                for (field, want, got) in hm_fields {
                    if let Some(want) = want
                        && i64::from(want) != got
                    {
                        return Err(format!(
                            "{name}: pool {} health monitor {field} {got}, want {want}",
                            pool.name
                        ));
                    }
                }
            }
            if settings.security_groups.is_empty() {
                let cidr = self
                    .options
                    .fixture
                    .subnets()
                    .find(|(_, s)| s.id == lb.subnet_id)
                    .map(|(_, s)| s.cidr.clone())
                    .unwrap_or_default();
                let rules = spec
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.protocol.as_deref() != Some("SCTP"))
                    .map(|p| {
                        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                        (protocol, i64::from(p.node_port.unwrap_or(0)))
                    })
                    .collect();
                wanted_groups.insert(
                    Namer::new(CLUSTER_ID, &self.namespace, &name).security_group(),
                    (cidr, rules),
                );
            }
        }

        // Load balancers: ours must be wanted, exactly; foreign ones intact.
        let mut names = BTreeSet::new();
        for lb in &lbs {
            let created_here = lb
                .tags
                .iter()
                .any(|t| t.key == tags::CREATED_BY_CLUSTER && t.value == CLUSTER_ID);
            let named_here = lb.name.starts_with(&self.name_prefix());
            let foreign_lb = foreign.iter().find(|f| f.id == lb.id);
            if let Some(f) = foreign_lb {
                for id in &f.listeners {
                    if !lb.listeners.iter().any(|l| &l.id == id) {
                        return Err(format!("foreign {} lost its listener {id}", lb.name));
                    }
                }
                for id in &f.pools {
                    if !lb.pools.iter().any(|p| &p.id == id) {
                        return Err(format!("foreign {} lost its pool {id}", lb.name));
                    }
                }
                if created_here {
                    return Err(format!(
                        "foreign {} got this cluster's provenance tag",
                        lb.name
                    ));
                }
            } else if created_here || named_here {
                if lb.phase == LbPhase::Deleting {
                    return Err(format!("{} ({}) still being deleted", lb.name, lb.id));
                }
                if !names.insert(lb.name.clone()) {
                    return Err(format!("two load balancers named {}", lb.name));
                }
                if !created_here {
                    return Err(format!(
                        "{} ({}) has no provenance tag {}={CLUSTER_ID}",
                        lb.name,
                        lb.id,
                        tags::CREATED_BY_CLUSTER
                    ));
                }
                if !wanted_listeners.contains_key(&lb.id) {
                    return Err(format!("orphan load balancer {} ({})", lb.name, lb.id));
                }
            }
            let extra_listeners = foreign_lb.map_or(0, |f| f.listeners.len());
            let extra_pools = foreign_lb.map_or(0, |f| f.pools.len());
            if let Some(wanted) = wanted_listeners.get(&lb.id) {
                if lb.listeners.len() != wanted.len() + extra_listeners {
                    let got: Vec<_> = lb
                        .listeners
                        .iter()
                        .map(|l| format!("{} {}:{}", l.name, l.protocol, l.port))
                        .collect();
                    return Err(format!(
                        "{}: listeners {got:?}, want {wanted:?} (+{extra_listeners} foreign)",
                        lb.name
                    ));
                }
                if lb.pools.len() != wanted.len() + extra_pools {
                    let got: Vec<_> = lb.pools.iter().map(|p| p.name.clone()).collect();
                    return Err(format!(
                        "{}: pools {got:?}, want {} (+{extra_pools} foreign)",
                        lb.name,
                        wanted.len()
                    ));
                }
            }
        }
        for f in &foreign {
            if !lbs.iter().any(|l| l.id == f.id) {
                return Err(format!("foreign load balancer {} was deleted", f.id));
            }
        }
        for e in control.journal() {
            if e.method != "DELETE" {
                continue;
            }
            for f in &foreign {
                let own = format!("/loadBalancers/{}", f.id);
                if e.path.ends_with(&own)
                    || f.listeners
                        .iter()
                        .chain(&f.pools)
                        .any(|id| e.path.ends_with(id))
                {
                    return Err(format!("a foreign object was deleted: DELETE {}", e.path));
                }
            }
        }

        // Security groups: the managed group of every Service, no other of ours, attached
        // to the server of every member Node.
        let groups = control.security_groups();
        let ours: BTreeSet<String> = groups
            .iter()
            .filter(|g| g.name.starts_with(&self.name_prefix()))
            .map(|g| g.name.clone())
            .collect();
        let wanted_names: BTreeSet<String> = wanted_groups.keys().cloned().collect();
        if ours != wanted_names {
            return Err(format!("security groups {ours:?}, want {wanted_names:?}"));
        }
        let servers = control.servers();
        // The user's groups (the fixture's) are never deleted nor detached.
        for fixture_group in &self.options.fixture.security_groups {
            if !groups.iter().any(|g| g.id == fixture_group.id) {
                return Err(format!(
                    "the user's security group {} was deleted",
                    fixture_group.id
                ));
            }
        }
        for fixture_server in &self.options.fixture.servers {
            let server = servers
                .iter()
                .find(|s| s.id == fixture_server.id)
                .ok_or_else(|| format!("server {} vanished", fixture_server.id))?;
            for g in &fixture_server.security_groups {
                if !server.security_groups.contains(g) {
                    return Err(format!(
                        "the user's security group {g} was detached from {}",
                        server.name
                    ));
                }
            }
        }
        for group in &groups {
            let Some((cidr, rules)) = wanted_groups.get(&group.name) else {
                continue;
            };
            for (protocol, port) in rules {
                let found = group.rules.iter().any(|r| {
                    r.direction.eq_ignore_ascii_case("ingress")
                        && r.protocol.eq_ignore_ascii_case(protocol)
                        && r.port_range_min <= *port
                        && *port <= r.port_range_max
                        && r.remote_ip_prefix == *cidr
                });
                if !found {
                    let have: Vec<String> = group
                        .rules
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {} {}-{} from {}",
                                r.direction,
                                r.protocol,
                                r.port_range_min,
                                r.port_range_max,
                                r.remote_ip_prefix
                            )
                        })
                        .collect();
                    return Err(format!(
                        "security group {} lacks {protocol} {port} from {cidr}: {have:?}",
                        group.name
                    ));
                }
            }
        }
        for group in groups
            .iter()
            .filter(|g| wanted_groups.contains_key(&g.name))
        {
            for server in &servers {
                let is_member = server
                    .interfaces
                    .iter()
                    .any(|i| members.contains(&i.fixed_ip));
                if is_member && !server.security_groups.contains(&group.id) {
                    return Err(format!(
                        "security group {} ({}) not attached to {}, which has {:?}",
                        group.name, group.id, server.name, server.security_groups
                    ));
                }
            }
        }
        Ok(())
    }

    /// Prefix of every generated cloud name of this cluster.
    pub fn name_prefix(&self) -> String {
        let cluster: String = CLUSTER_ID.chars().take(10).collect();
        vlb_domain::naming::sanitize(&format!("{}_{cluster}_", vlb_domain::naming::PREFIX))
    }

    /// A one-line picture of an LBC and of the cloud, for failure messages.
    pub async fn describe(&self, name: &str) -> String {
        let lbc = self.lbc(name).await;
        let lbc = lbc.map(|l| {
            let s = l.status.unwrap_or_default().0;
            format!(
                "LBC spec name {:?} id {:?}; status id {:?} created {:?} adopted {:?} retiring {:?} conditions {:?}",
                l.spec.load_balancer_name,
                l.spec.load_balancer_id,
                s.load_balancer_id,
                s.created_load_balancer_id,
                s.adopted_load_balancer_id,
                s.retiring_load_balancer.map(|r| r.id),
                s.conditions
                    .iter()
                    .map(|c| format!("{}={:?} {} {}", c.type_, c.status, c.reason, c.message))
                    .collect::<Vec<_>>()
            )
        });
        let cloud: Vec<String> = self
            .control()
            .load_balancers()
            .iter()
            .map(|l| {
                format!(
                    "{} {} {:?} listeners {}",
                    l.id,
                    l.name,
                    l.phase,
                    l.listeners.len()
                )
            })
            .collect();
        format!("{lbc:?}; cloud: {cloud:?}")
    }

    /// Load balancers of the cloud whose name is `name`.
    pub fn load_balancers_named(&self, name: &str) -> Vec<LoadBalancer> {
        self.control().load_balancers_named(name)
    }
}

/// `Ready=True` on the status, for `generation`.
pub fn check_ready(
    status: &LoadBalancerConfigStatus,
    generation: Option<i64>,
) -> Result<(), String> {
    let ready = cond::find_condition(&status.conditions, cond::READY)
        .ok_or_else(|| format!("no Ready condition in {:?}", status.conditions))?;
    if ready.status != ConditionStatus::True {
        return Err(format!(
            "Ready is {:?}: {} {}",
            ready.status, ready.reason, ready.message
        ));
    }
    if status.observed_generation != generation {
        return Err(format!(
            "observedGeneration {:?}, generation {generation:?}",
            status.observed_generation
        ));
    }
    Ok(())
}

mod shared {
    //! A tiny shared list (std `Mutex`; the harness never holds it across an await).

    use std::sync::{Arc, Mutex, PoisonError};

    /// A cloneable shared `Vec`.
    #[derive(Debug)]
    pub struct Shared<T>(Arc<Mutex<T>>);

    impl<T: Default> Default for Shared<T> {
        fn default() -> Self {
            Self(Arc::new(Mutex::new(T::default())))
        }
    }

    impl<E: Clone> Shared<Vec<E>> {
        /// Appends.
        pub fn push(&self, e: E) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(e);
        }

        /// Keeps the elements `keep` accepts.
        pub fn retain(&self, keep: impl FnMut(&E) -> bool) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(keep);
        }

        /// A copy.
        pub fn get(&self) -> Vec<E> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }
}
