//! Scenario 8 support: the converged state of many Services written without a cloud, and the
//! operator binary run in a process of its own as a standby replica (its caches full, its
//! controllers waiting for the Lease the bench holds), so its resident set is its own.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use async_trait::async_trait;
use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use vlb_domain::model::condition::{Condition, ConditionStatus, READY, REASON_SUCCESS};
use vlb_domain::model::{
    CreatedListener, CreatedPool, LoadBalancerConfigSpec, LoadBalancerConfigStatus,
    ManagedSecurityGroupStatus, NodeSecurityGroupStatus, NodeView, ObjectKey, ObjectRef,
    ServiceStatusView,
};
use vlb_domain::planner::OwnedMembers;
use vlb_domain::ports::{Batch, Event, EventSink, Mutator, SystemClock};
use vlb_domain::usecase::{Config, Deps, service};
use vlb_k8s_adapter::reader::service_view;
use vlb_k8s_adapter::{KubeReader, KubeWriter, LoadBalancerConfig, NodeSecurityGroup, Reflectors};
use vlb_tests::{CLUSTER_ID, Harness, TEST_FIELD_MANAGER};

/// Name of the Lease the bench holds so the operator under test stays a standby.
pub const LEASE: &str = "vlb-bench-memory";

/// The subcommand under which the bench binary runs the operator (`vlb-controller`).
pub const OPERATOR_SUBCOMMAND: &str = "operator";

/// A batch that drops what is queued: seeding writes specs only, statuses come after.
struct NoBatch;

impl Batch for NoBatch {
    fn queue_lbc_spec(&self, _: &ObjectKey, _: Mutator<LoadBalancerConfigSpec>) {}
    fn queue_lbc_status(&self, _: &ObjectKey, _: Mutator<LoadBalancerConfigStatus>) {}
    fn queue_nsg_spec(&self, _: &ObjectKey, _: Mutator<vlb_domain::model::NodeSecurityGroupSpec>) {}
    fn queue_nsg_status(&self, _: &ObjectKey, _: Mutator<NodeSecurityGroupStatus>) {}
    fn queue_service_status(&self, _: &ObjectKey, _: Mutator<ServiceStatusView>) {}
}

/// Events are not what is measured.
struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _: &ObjectRef, _: &Event) {}
}

/// Writes the LBC and NSG of every Service of `h`'s namespace the way the operator's Service
/// controller does (its use case, run here with the real Kubernetes writer and cloud
/// reads), then gives each the status a converged one carries. Returns the number seeded.
pub async fn seed_children(h: &Harness, services: usize) -> Result<usize> {
    let reflectors = Reflectors::start(&h.client);
    reflectors
        .wait_until_ready(Duration::from_secs(120))
        .await
        .context("bench caches")?;
    let stores = reflectors.stores.clone();
    let started = Instant::now();
    let ours = |s: &k8s_openapi::api::core::v1::Service| {
        s.metadata.namespace.as_deref() == Some(h.namespace.as_str())
    };
    while stores.services.state().iter().filter(|s| ours(s)).count() < services {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the bench cache never saw every Service");
        }
        tokio::time::sleep(crate::POLL).await;
    }
    let cloud =
        Arc::new(vlb_cloud_adapter::VngCloudClient::new(h.cloud_config()).context("cloud client")?);
    let deps = Deps {
        lb: cloud.clone(),
        net: cloud,
        reader: Arc::new(KubeReader::new(stores.clone())),
        writer: Arc::new(KubeWriter::new(h.client.clone())),
        batch: Arc::new(NoBatch),
        events: Arc::new(NoEvents),
        clock: Arc::new(SystemClock),
    };
    let cfg = Config {
        cluster_id: CLUSTER_ID.to_owned(),
        vpc_id: String::new(),
        load_balancer_class: None,
        service_address: vlb_domain::model::ServiceAddress::default(),
    };
    let views: Vec<_> = stores
        .services
        .state()
        .iter()
        .filter(|s| ours(s))
        .map(|s| service_view(s))
        .collect();
    let results: Vec<_> = futures::stream::iter(views.iter())
        .map(|v| service::reconcile_service(&deps, &cfg, v))
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r.context("seed an LBC and NSG")?;
    }
    let lbcs: Api<LoadBalancerConfig> = Api::namespaced(h.client.clone(), &h.namespace);
    let nsgs: Api<NodeSecurityGroup> = Api::namespaced(h.client.clone(), &h.namespace);
    let node_views = deps.reader.list_nodes().await?;
    let node_count = u32::try_from(node_views.len()).unwrap_or(u32::MAX);
    let pp = PatchParams::apply(TEST_FIELD_MANAGER).force();
    let patched: Vec<Result<()>> = futures::stream::iter(0..views.len())
        .map(|i| {
            let (lbcs, nsgs, pp, node_views) = (&lbcs, &nsgs, &pp, &node_views);
            let name = views[i].name.clone();
            async move {
                let lbc = lbcs.get(&name).await.context("seeded LBC")?;
                let status =
                    converged_lbc_status(i, &lbc.spec, node_views, lbc.metadata.generation);
                apply_status(lbcs, &name, pp, &status).await?;
                let nsg = nsgs.get(&name).await.context("seeded NSG")?;
                let status = converged_nsg_status(i, node_count, nsg.metadata.generation);
                apply_status(nsgs, &name, pp, &status).await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in patched {
        r?;
    }
    Ok(views.len())
}

/// Server-side applies `status` to the object `name` of `api` (the bench's field manager).
async fn apply_status<K>(
    api: &Api<K>,
    name: &str,
    pp: &PatchParams,
    status: &impl serde::Serialize,
) -> Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, pp, &Patch::Apply(&patch))
        .await
        .with_context(|| format!("{} {name} status", K::kind(&())))?;
    Ok(())
}

fn ready(generation: Option<i64>) -> Condition {
    Condition {
        type_: READY.to_owned(),
        status: ConditionStatus::True,
        reason: REASON_SUCCESS.to_owned(),
        message: "converged".to_owned(),
        last_transition_time: jiff::Timestamp::now(),
        observed_generation: generation,
    }
}

/// The status of a converged LBC for `spec`: ids of what it created, its members recorded.
fn converged_lbc_status(
    i: usize,
    spec: &LoadBalancerConfigSpec,
    nodes: &[NodeView],
    generation: Option<i64>,
) -> LoadBalancerConfigStatus {
    let lb = format!("lb-00000000-0000-4000-8000-{i:012}");
    let resolved = vlb_domain::members::resolve_node_members(spec, nodes);
    LoadBalancerConfigStatus {
        observed_generation: generation,
        last_reconcile_time: Some(jiff::Timestamp::now()),
        last_reconcile_message: "load balancer converged".to_owned(),
        address: Some(format!(
            "10.{}.{}.{}",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256
        )),
        load_balancer_id: Some(lb.clone()),
        created_load_balancer_id: Some(lb),
        load_balancer_name: Some(spec.load_balancer_name.clone()),
        lb_type: Some(spec.lb_type),
        subnet_id: Some(spec.subnet_id.clone()),
        zone_id: Some(spec.zone_id.clone()),
        created_tags: BTreeMap::from([(
            vlb_domain::tags::CREATED_BY_CLUSTER.to_owned(),
            CLUSTER_ID.to_owned(),
        )]),
        created_pools: spec
            .pools
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let mut record = CreatedPool {
                    id: format!("pool-00000000-0000-4000-8000-{i:08}{j:04}"),
                    name: p.name.clone(),
                    ..CreatedPool::default()
                };
                // What the LBC reconcile records for the members it resolved.
                let resolved = &resolved.pools[j].members;
                let node_port = p.node_port();
                OwnedMembers::new(resolved, node_port, false).record(&mut record);
                record
            })
            .collect(),
        created_listeners: spec
            .listeners
            .iter()
            .enumerate()
            .map(|(j, l)| CreatedListener {
                id: format!("lis-00000000-0000-4000-8000-{i:08}{j:04}"),
                port: l.protocol_port,
                ..CreatedListener::default()
            })
            .collect(),
        conditions: vec![ready(generation)],
        ..LoadBalancerConfigStatus::default()
    }
}

/// The status of a converged NSG: every node selected, its group attached to each. The
/// bench's NSGs have a managed group and no extra groups, so no server is listed.
fn converged_nsg_status(
    i: usize,
    node_count: u32,
    generation: Option<i64>,
) -> NodeSecurityGroupStatus {
    let sg = format!("secg-00000000-0000-4000-8000-{i:012}");
    NodeSecurityGroupStatus {
        selected_nodes: Vec::new(),
        selected_node_count: node_count,
        managed_security_group: ManagedSecurityGroupStatus {
            id: Some(sg),
            error: None,
        },
        server_security_groups: Vec::new(),
        observed_generation: generation.unwrap_or_default(),
        last_reconcile_time: Some(jiff::Timestamp::now()),
        last_reconcile_message: "security groups attached".to_owned(),
        conditions: vec![ready(generation)],
    }
}

/// Holds [`LEASE`] in `namespace` for an hour, so an operator started with it stays standby.
pub async fn hold_lease(client: &kube::Client, namespace: &str) -> Result<()> {
    let now = MicroTime(jiff::Timestamp::now());
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(LEASE.to_owned()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("vlb-bench".to_owned()),
            lease_duration_seconds: Some(3600),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    Api::<Lease>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &lease)
        .await
        .context("create the lease")?;
    Ok(())
}

/// The operator binary (this executable, `operator run ...`) against the harness's
/// emulators, as a standby replica; killed on drop.
pub struct OperatorProcess {
    child: Child,
    metrics: std::net::SocketAddr,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OperatorProcess {
    /// Starts it; `dir` holds its credentials file.
    pub fn start(h: &Harness, dir: &Path) -> Result<Self> {
        let credentials = dir.join("vlb-bench-credentials");
        let mut f = std::fs::File::create(&credentials).context("credentials file")?;
        writeln!(
            f,
            "client-id={}\nclient-secret={}",
            h.cloud.client_id(),
            h.cloud.client_secret()
        )?;
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(std::env::current_exe().context("own path")?)
            .arg(OPERATOR_SUBCOMMAND)
            .args(["--log-level", "warn", "run"])
            .arg("--kubeconfig")
            .arg(h.kube.kubeconfig_path())
            .args(["--iam-endpoint", &h.cloud.iam_url()])
            .args(["--vlb-endpoint", &h.cloud.vlb_url()])
            .args(["--vserver-endpoint", &h.cloud.vserver_url()])
            .args(["--project-id", h.cloud.project_id()])
            .arg("--credentials-file")
            .arg(&credentials)
            .args(["--cluster-id", CLUSTER_ID])
            .args(["--leader-elect", "true"])
            .args(["--lease-name", LEASE, "--lease-namespace", &h.namespace])
            .args(["--identity", "vlb-bench-standby"])
            .args(["--metrics-address", &metrics.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start the operator process")?;
        Ok(Self { child, metrics })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200 (caches synced, leadership known).
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the operator process exited: {status}");
            }
            if http_status(self.metrics, "/readyz").await == Some(200) {
                return Ok(());
            }
            if started.elapsed() > deadline {
                bail!("the operator process not ready after {deadline:?}");
            }
            tokio::time::sleep(crate::POLL).await;
        }
    }
}

async fn http_status(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}
