//! The operator's install set, generated from code, and its ordered, idempotent
//! [`install`] / [`uninstall`].
//!
//! Apply order is by [`Rank`]: CRDs → Namespace → ServiceAccount → RBAC → ConfigMap →
//! Deployment (the CRDs are waited for until `Established`); delete order is the exact
//! reverse. Every object is written by server-side apply under [`INSTALL_FIELD_MANAGER`], so
//! a second install of the same set changes nothing, and every delete treats 404 as done,
//! so uninstalling twice succeeds.
//!
//! The cloud credentials are **not** part of the set: the Deployment mounts the Secret named
//! by [`ManifestOptions::credentials_secret`] (keys `client-id`, `client-secret`), which the
//! user creates (`kubectl -n vlb-system create secret generic vlb-cloud-credentials
//! --from-literal=client-id=... --from-literal=client-secret=...`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, Namespace, ObjectFieldSelector, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource,
    SecurityContext, ServiceAccount, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::crds;
use crate::error::{KubeError, Op, RetryPolicy, retry};
use crate::writer::delete_idempotent;

/// Field manager of [`install`].
pub const INSTALL_FIELD_MANAGER: &str = "vlb-installer";
/// Name of the operator's ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap and
/// Deployment.
pub const NAME: &str = "vlb-controller";
/// Label every installed object carries.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "vlb");
/// Where the Deployment mounts the credentials Secret.
pub const CREDENTIALS_MOUNT: &str = "/etc/vlb/credentials";

/// What the install set is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// Namespace of the operator (`vlb-system`).
    pub namespace: String,
    /// Image of the operator.
    pub image: String,
    /// Name of the Secret with `client-id` / `client-secret` (not shipped).
    pub credentials_secret: String,
    /// Replicas (leader election picks one).
    pub replicas: i32,
    /// Environment of `vlb-controller run` put in the ConfigMap (`VLB_CLUSTER_ID`,
    /// `VLB_PROJECT_ID`, ...): non-secret settings only.
    pub settings: BTreeMap<String, String>,
    /// How long in-flight reconciles may finish after SIGTERM (`VLB_SHUTDOWN_TIMEOUT` of the
    /// container); the pod's `terminationGracePeriodSeconds` is this plus
    /// [`GRACE_MARGIN_SECONDS`], so the kubelet never kills a replica that is still draining.
    pub shutdown_timeout: Duration,
}

/// Seconds the pod's termination grace period adds to the shutdown timeout (time to stop
/// the watches, release the Lease and exit after the last reconcile).
pub const GRACE_MARGIN_SECONDS: u64 = 10;
/// UID and GID the container runs as: the image's `vlb` user (`scripts/build-image`).
pub const RUN_AS_USER: i64 = 65532;
/// Port of `/metrics`, `/livez` and `/readyz` (`VLB_METRICS_ADDRESS` default).
pub const METRICS_PORT: i32 = 8080;

impl Default for ManifestOptions {
    fn default() -> Self {
        Self {
            namespace: "vlb-system".to_owned(),
            image: concat!(
                "ghcr.io/vlb-operator/vlb-controller:",
                env!("CARGO_PKG_VERSION")
            )
            .to_owned(),
            credentials_secret: "vlb-cloud-credentials".to_owned(),
            replicas: 2,
            settings: BTreeMap::new(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Apply rank of a kind: lower first on install, last on uninstall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    /// CustomResourceDefinitions.
    Crd,
    /// The Namespace.
    Namespace,
    /// The ServiceAccount.
    ServiceAccount,
    /// ClusterRole and ClusterRoleBinding.
    Rbac,
    /// ConfigMap (and Secrets, which this set does not ship).
    Config,
    /// The Deployment.
    Workload,
}

/// One object of the install set.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// A CRD.
    Crd(Box<CustomResourceDefinition>),
    /// The operator's Namespace.
    Namespace(Namespace),
    /// The operator's ServiceAccount.
    ServiceAccount(ServiceAccount),
    /// The operator's ClusterRole.
    ClusterRole(ClusterRole),
    /// Binding of the ClusterRole to the ServiceAccount.
    ClusterRoleBinding(ClusterRoleBinding),
    /// Settings of the operator.
    ConfigMap(ConfigMap),
    /// The operator.
    Deployment(Box<Deployment>),
}

impl Manifest {
    /// Rank of the object's kind.
    pub fn rank(&self) -> Rank {
        match self {
            Self::Crd(_) => Rank::Crd,
            Self::Namespace(_) => Rank::Namespace,
            Self::ServiceAccount(_) => Rank::ServiceAccount,
            Self::ClusterRole(_) | Self::ClusterRoleBinding(_) => Rank::Rbac,
            Self::ConfigMap(_) => Rank::Config,
            Self::Deployment(_) => Rank::Workload,
        }
    }

    /// Kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Crd(_) => "CustomResourceDefinition",
            Self::Namespace(_) => "Namespace",
            Self::ServiceAccount(_) => "ServiceAccount",
            Self::ClusterRole(_) => "ClusterRole",
            Self::ClusterRoleBinding(_) => "ClusterRoleBinding",
            Self::ConfigMap(_) => "ConfigMap",
            Self::Deployment(_) => "Deployment",
        }
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Crd(o) => &o.metadata,
            Self::Namespace(o) => &o.metadata,
            Self::ServiceAccount(o) => &o.metadata,
            Self::ClusterRole(o) => &o.metadata,
            Self::ClusterRoleBinding(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
        }
    }

    /// Name.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// Namespace (`None` for cluster-scoped kinds).
    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The object as JSON (with `apiVersion` and `kind`).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::Crd(o) => serde_json::to_value(o),
            Self::Namespace(o) => serde_json::to_value(o),
            Self::ServiceAccount(o) => serde_json::to_value(o),
            Self::ClusterRole(o) => serde_json::to_value(o),
            Self::ClusterRoleBinding(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::Deployment(o) => serde_json::to_value(o),
        }
    }
}

fn labels() -> BTreeMap<String, String> {
    [
        (PART_OF.0.to_owned(), PART_OF.1.to_owned()),
        ("app.kubernetes.io/name".to_owned(), NAME.to_owned()),
    ]
    .into()
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// The least rights `vlb-controller run` needs:
///
/// | group | resources | verbs | why |
/// |---|---|---|---|
/// | core | services | get, list, watch, patch | watch Services; finalizer read + patch |
/// | core | services/status | patch | `status.loadBalancer.ingress` (batched) |
/// | core | nodes, secrets | list, watch | members, certificates (reflectors only) |
/// | discovery.k8s.io | endpointslices | list, watch | pod members (reflector only) |
/// | events.k8s.io | events | create, patch | Recorder (patch: event series) |
/// | coordination.k8s.io | leases | get, create, patch | leader election (kube-lease-manager) |
/// | vks.vngcloud.vn | loadbalancerconfigs, nodesecuritygroups | get, list, watch, create, patch, delete | SSA, finalizers, batch re-reads, deletes |
/// | vks.vngcloud.vn | .../status | patch | batched status patches |
///
/// No `get` where only reflectors read (they list and watch), no `update` (every write is a
/// patch), no `deletecollection`, no Secret writes, no CRD access (installing is the
/// installer's job, done with its own rights).
pub fn cluster_role() -> ClusterRole {
    let watch = ["list", "watch"];
    ClusterRole {
        metadata: meta(NAME, None),
        rules: Some(vec![
            rule("", &["services"], &["get", "list", "watch", "patch"]),
            rule("", &["services/status"], &["patch"]),
            rule("", &["nodes", "secrets"], &watch),
            rule("discovery.k8s.io", &["endpointslices"], &watch),
            rule("events.k8s.io", &["events"], &["create", "patch"]),
            rule(
                "coordination.k8s.io",
                &["leases"],
                &["get", "create", "patch"],
            ),
            rule(
                crate::crd::GROUP,
                &["loadbalancerconfigs", "nodesecuritygroups"],
                &["get", "list", "watch", "create", "patch", "delete"],
            ),
            rule(
                crate::crd::GROUP,
                &["loadbalancerconfigs/status", "nodesecuritygroups/status"],
                &["patch"],
            ),
        ]),
        aggregation_rule: None,
    }
}

fn cluster_role_binding(opts: &ManifestOptions) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(NAME, None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: NAME.to_owned(),
            namespace: Some(opts.namespace.clone()),
            api_group: None,
        }]),
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

/// An HTTP probe on the metrics port: `/livez` answers while the process serves, `/readyz`
/// once the caches are synced and the leader-election state is known.
fn probe(path: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("metrics".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

/// `VLB_SHUTDOWN_TIMEOUT` as `run` parses it: whole seconds when it has no fraction.
fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The shutdown timeout rounded up to whole seconds, plus [`GRACE_MARGIN_SECONDS`].
pub fn termination_grace_seconds(shutdown_timeout: Duration) -> i64 {
    let whole = shutdown_timeout.as_secs() + u64::from(shutdown_timeout.subsec_nanos() > 0);
    i64::try_from(whole.saturating_add(GRACE_MARGIN_SECONDS)).unwrap_or(i64::MAX)
}

/// Memory requests and limits, sized from BENCHMARKS.md scenario 8: the operator's peak RSS
/// is 123 MiB with 10 000 Services, 500 Nodes and their LBCs and NSGs cached, and grows by
/// about 10 KiB per Service. The request (128 MiB) is that peak: a scheduler reserving less
/// would overcommit a node with a controller that holds its caches for good. The limit
/// (512 MiB) is 4 times the peak: room for about 40 000 Services, or for the transient
/// buffers of a full relist, before an OOM kill (which would only restart into another full
/// relist). CPU: 100m requested (idle reconciles are rare and short), 1 core at most (the
/// start's relist of 10 000 objects).
fn resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_owned());
    ResourceRequirements {
        requests: Some(
            [
                ("cpu".to_owned(), q("100m")),
                ("memory".to_owned(), q("128Mi")),
            ]
            .into(),
        ),
        limits: Some(
            [
                ("cpu".to_owned(), q("1")),
                ("memory".to_owned(), q("512Mi")),
            ]
            .into(),
        ),
        ..ResourceRequirements::default()
    }
}

/// Spread the replicas across zones, then across nodes, without ever blocking scheduling
/// (`ScheduleAnyway`: a single-zone cluster still runs every replica).
fn spread(selector: &BTreeMap<String, String>) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .iter()
        .map(|key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: (*key).to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector.clone()),
                match_expressions: None,
            }),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

/// The operator's Deployment, hardened: non-root user of the image, read-only root
/// filesystem (the binary writes no file: its only state is in memory and in the cluster),
/// no capability, no privilege escalation, the runtime's default seccomp profile, probes on
/// the metrics port, replicas spread across zones, and a grace period longer than the
/// shutdown timeout.
fn deployment(opts: &ManifestOptions) -> Deployment {
    let selector: BTreeMap<String, String> =
        [("app.kubernetes.io/name".to_owned(), NAME.to_owned())].into();
    let container = Container {
        name: "controller".to_owned(),
        image: Some(opts.image.clone()),
        args: Some(vec!["run".to_owned()]),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            value_env("VLB_IN_CLUSTER", "true"),
            value_env("VLB_CREDENTIALS_FILE", CREDENTIALS_MOUNT),
            value_env(
                "VLB_SHUTDOWN_TIMEOUT",
                &duration_text(opts.shutdown_timeout),
            ),
        ]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: NAME.to_owned(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".to_owned()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(5),
            ..probe("/livez", 10)
        }),
        readiness_probe: Some(probe("/readyz", 5)),
        resources: Some(resources()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "cloud-credentials".to_owned(),
            mount_path: CREDENTIALS_MOUNT.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Deployment {
        metadata: meta(NAME, Some(&opts.namespace)),
        spec: DeploymentSpec {
            replicas: Some(opts.replicas),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    containers: vec![container],
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_USER),
                        run_as_group: Some(RUN_AS_USER),
                        seccomp_profile: Some(runtime_default()),
                        ..PodSecurityContext::default()
                    }),
                    termination_grace_period_seconds: Some(termination_grace_seconds(
                        opts.shutdown_timeout,
                    )),
                    topology_spread_constraints: Some(spread(&selector)),
                    volumes: Some(vec![Volume {
                        name: "cloud-credentials".to_owned(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(opts.credentials_secret.clone()),
                            optional: Some(false),
                            ..SecretVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

/// The install set, in apply order.
pub fn manifests(opts: &ManifestOptions) -> Vec<Manifest> {
    let mut out: Vec<Manifest> = crds()
        .into_iter()
        .map(|mut crd| {
            crd.metadata.labels = Some(labels());
            Manifest::Crd(Box::new(crd))
        })
        .collect();
    out.push(Manifest::Namespace(Namespace {
        metadata: meta(&opts.namespace, None),
        ..Namespace::default()
    }));
    out.push(Manifest::ServiceAccount(ServiceAccount {
        metadata: meta(NAME, Some(&opts.namespace)),
        ..ServiceAccount::default()
    }));
    out.push(Manifest::ClusterRole(cluster_role()));
    out.push(Manifest::ClusterRoleBinding(cluster_role_binding(opts)));
    out.push(Manifest::ConfigMap(ConfigMap {
        metadata: meta(NAME, Some(&opts.namespace)),
        data: Some(opts.settings.clone()),
        ..ConfigMap::default()
    }));
    out.push(Manifest::Deployment(Box::new(deployment(opts))));
    apply_order(out)
}

/// Sorts by rank (stable): the order [`install`] applies in.
pub fn apply_order(mut set: Vec<Manifest>) -> Vec<Manifest> {
    set.sort_by_key(Manifest::rank);
    set
}

/// The exact reverse of [`apply_order`]: the order [`uninstall`] deletes in.
pub fn delete_order(set: Vec<Manifest>) -> Vec<Manifest> {
    let mut set = apply_order(set);
    set.reverse();
    set
}

/// The set as multi-document YAML (`---` between documents), in apply order, preceded by a
/// comment saying which Secret to create.
pub fn to_yaml(set: &[Manifest]) -> Result<String, serde_yaml::Error> {
    let mut out = String::from(
        "# vlb operator install set. The cloud credentials are not included: create the Secret\n\
         # named in the Deployment (keys client-id, client-secret) in the operator's namespace.\n",
    );
    for m in set {
        let value = m
            .to_value()
            .map_err(<serde_yaml::Error as serde::ser::Error>::custom)?;
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&value)?);
    }
    Ok(out)
}

/// How [`install`] and [`uninstall`] run.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Field manager of the applies.
    pub field_manager: String,
    /// Retry policy of every call.
    pub retry: RetryPolicy,
    /// How long to wait for the CRDs to be `Established` (and for a terminating Namespace of
    /// an earlier uninstall to be gone).
    pub crd_timeout: Duration,
    /// How often to look while waiting.
    pub crd_poll: Duration,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            field_manager: INSTALL_FIELD_MANAGER.to_owned(),
            retry: RetryPolicy::default(),
            crd_timeout: Duration::from_secs(60),
            crd_poll: Duration::from_millis(250),
        }
    }
}

/// Why an install or uninstall stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A call failed (after the retries its class allows).
    #[error("{kind} {name}: {source}")]
    Api {
        /// Kind of the object.
        kind: &'static str,
        /// Name of the object.
        name: String,
        /// The error.
        source: KubeError,
    },
    /// The Namespace of an earlier uninstall was still terminating after the deadline.
    #[error("namespace {name} still terminating after {waited:?}")]
    NamespaceTerminating {
        /// Namespace name.
        name: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// A CRD was not `Established` in time.
    #[error("CRD {name} not established after {waited:?}")]
    CrdNotEstablished {
        /// CRD name.
        name: String,
        /// How long it was waited for.
        waited: Duration,
    },
}

impl InstallError {
    /// The underlying API error, if any.
    pub fn api_error(&self) -> Option<&KubeError> {
        match self {
            Self::Api { source, .. } => Some(source),
            Self::CrdNotEstablished { .. } | Self::NamespaceTerminating { .. } => None,
        }
    }
}

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = ()>,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::default_namespaced(client.clone()),
    }
}

async fn apply_one<K>(api: &Api<K>, obj: &K, opts: &InstallOptions) -> Result<(), KubeError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(&opts.field_manager).force();
    retry(&opts.retry, Op::Apply, || async {
        api.patch(&name, &params, &Patch::Apply(obj))
            .await
            .map_err(KubeError::from)
    })
    .await
    .map(drop)
}

/// Applies one object of the set by server-side apply.
async fn apply_manifest(
    client: &Client,
    m: &Manifest,
    opts: &InstallOptions,
) -> Result<(), KubeError> {
    let c = client.clone();
    match m {
        Manifest::Crd(o) => {
            apply_one(&Api::<CustomResourceDefinition>::all(c), o.as_ref(), opts).await
        }
        Manifest::Namespace(o) => apply_one(&Api::<Namespace>::all(c), o, opts).await,
        Manifest::ServiceAccount(o) => {
            apply_one(
                &namespaced_or_all::<ServiceAccount>(client, m.namespace()),
                o,
                opts,
            )
            .await
        }
        Manifest::ClusterRole(o) => apply_one(&Api::<ClusterRole>::all(c), o, opts).await,
        Manifest::ClusterRoleBinding(o) => {
            apply_one(&Api::<ClusterRoleBinding>::all(c), o, opts).await
        }
        Manifest::ConfigMap(o) => {
            apply_one(
                &namespaced_or_all::<ConfigMap>(client, m.namespace()),
                o,
                opts,
            )
            .await
        }
        Manifest::Deployment(o) => {
            apply_one(
                &namespaced_or_all::<Deployment>(client, m.namespace()),
                o.as_ref(),
                opts,
            )
            .await
        }
    }
}

/// Deletes one object of the set (Background; 404 is done).
async fn delete_manifest(
    client: &Client,
    m: &Manifest,
    opts: &InstallOptions,
) -> Result<bool, KubeError> {
    let c = client.clone();
    let p = &opts.retry;
    let name = m.name();
    match m {
        Manifest::Crd(_) => {
            delete_idempotent(p, &Api::<CustomResourceDefinition>::all(c), name).await
        }
        Manifest::Namespace(_) => delete_idempotent(p, &Api::<Namespace>::all(c), name).await,
        Manifest::ServiceAccount(_) => {
            delete_idempotent(
                p,
                &namespaced_or_all::<ServiceAccount>(client, m.namespace()),
                name,
            )
            .await
        }
        Manifest::ClusterRole(_) => delete_idempotent(p, &Api::<ClusterRole>::all(c), name).await,
        Manifest::ClusterRoleBinding(_) => {
            delete_idempotent(p, &Api::<ClusterRoleBinding>::all(c), name).await
        }
        Manifest::ConfigMap(_) => {
            delete_idempotent(
                p,
                &namespaced_or_all::<ConfigMap>(client, m.namespace()),
                name,
            )
            .await
        }
        Manifest::Deployment(_) => {
            delete_idempotent(
                p,
                &namespaced_or_all::<Deployment>(client, m.namespace()),
                name,
            )
            .await
        }
    }
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Established" && c.status == "True")
}

/// Polls the CRD until it is `Established`, at most `opts.crd_timeout`.
pub async fn wait_established(
    client: &Client,
    name: &str,
    opts: &InstallOptions,
) -> Result<(), InstallError> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    poll_until(
        &api,
        "CustomResourceDefinition",
        name,
        opts,
        |crd| crd.is_some_and(established),
        |waited| InstallError::CrdNotEstablished {
            name: name.to_owned(),
            waited,
        },
    )
    .await
}

/// Waits until the Namespace `name` is not terminating (gone or live), at most
/// `opts.crd_timeout`: applying into a terminating Namespace (install right after uninstall)
/// would be refused.
pub async fn wait_namespace_not_terminating(
    client: &Client,
    name: &str,
    opts: &InstallOptions,
) -> Result<(), InstallError> {
    let api = Api::<Namespace>::all(client.clone());
    poll_until(
        &api,
        "Namespace",
        name,
        opts,
        |ns| ns.is_none_or(|n| n.metadata.deletion_timestamp.is_none()),
        |waited| InstallError::NamespaceTerminating {
            name: name.to_owned(),
            waited,
        },
    )
    .await
}

/// Reads object `name` of `api` (with the install retries) every `crd_poll` until `done`
/// holds for it (absent: `None`); after `crd_timeout`, the error `timed_out` makes of the
/// time waited.
async fn poll_until<K>(
    api: &Api<K>,
    kind: &'static str,
    name: &str,
    opts: &InstallOptions,
    done: impl Fn(Option<&K>) -> bool,
    timed_out: impl FnOnce(std::time::Duration) -> InstallError,
) -> Result<(), InstallError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    loop {
        let obj = retry(&opts.retry, Op::Other, || async {
            api.get_opt(name).await.map_err(KubeError::from)
        })
        .await
        .map_err(|source| InstallError::Api {
            kind,
            name: name.to_owned(),
            source,
        })?;
        if done(obj.as_ref()) {
            return Ok(());
        }
        if start.elapsed() >= opts.crd_timeout {
            return Err(timed_out(start.elapsed()));
        }
        tokio::time::sleep(opts.crd_poll).await;
    }
}

/// What an install or uninstall did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// `Kind/name` of each object, in the order handled.
    pub objects: Vec<String>,
    /// Uninstall only: objects that were already gone.
    pub already_gone: Vec<String>,
}

/// Applies `set` in rank order by server-side apply, waiting for the CRDs to be
/// `Established` before anything of a higher rank. Idempotent.
pub async fn install_set(
    client: &Client,
    set: Vec<Manifest>,
    opts: &InstallOptions,
) -> Result<InstallReport, InstallError> {
    let mut report = InstallReport::default();
    let set = apply_order(set);
    let mut crds_pending: Vec<String> = Vec::new();
    for m in &set {
        if m.rank() > Rank::Crd {
            for name in crds_pending.drain(..) {
                wait_established(client, &name, opts).await?;
            }
        }
        if let Manifest::Namespace(_) = m {
            wait_namespace_not_terminating(client, m.name(), opts).await?;
        }
        apply_manifest(client, m, opts)
            .await
            .map_err(|source| InstallError::Api {
                kind: m.kind(),
                name: m.name().to_owned(),
                source,
            })?;
        if m.rank() == Rank::Crd {
            crds_pending.push(m.name().to_owned());
        }
        report.objects.push(format!("{}/{}", m.kind(), m.name()));
    }
    for name in crds_pending {
        wait_established(client, &name, opts).await?;
    }
    Ok(report)
}

/// Deletes `set` in reverse rank order (Background propagation); what is already gone is
/// success. Idempotent.
///
/// The Deployment goes first, the CRDs last: delete the operator's Services of type
/// LoadBalancer (or their LoadBalancerConfigs) *before* uninstalling, while the controller
/// still runs, so it releases the cloud resources and removes its finalizers; custom
/// resources still holding finalizers keep their CRD terminating.
pub async fn uninstall_set(
    client: &Client,
    set: Vec<Manifest>,
    opts: &InstallOptions,
) -> Result<InstallReport, InstallError> {
    let mut report = InstallReport::default();
    for m in delete_order(set) {
        let id = format!("{}/{}", m.kind(), m.name());
        let deleted =
            delete_manifest(client, &m, opts)
                .await
                .map_err(|source| InstallError::Api {
                    kind: m.kind(),
                    name: m.name().to_owned(),
                    source,
                })?;
        if !deleted {
            report.already_gone.push(id.clone());
        }
        report.objects.push(id);
    }
    Ok(report)
}

/// Installs the operator described by `options` (see [`install_set`]).
pub async fn install(
    client: &Client,
    options: &ManifestOptions,
) -> Result<InstallReport, InstallError> {
    install_set(client, manifests(options), &InstallOptions::default()).await
}

/// Uninstalls the operator described by `options` (see [`uninstall_set`]).
pub async fn uninstall(
    client: &Client,
    options: &ManifestOptions,
) -> Result<InstallReport, InstallError> {
    uninstall_set(client, manifests(options), &InstallOptions::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_order_is_crd_namespace_account_rbac_config_workload() {
        let kinds: Vec<&str> = manifests(&ManifestOptions::default())
            .iter()
            .map(Manifest::kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "Deployment"
            ]
        );
    }

    #[test]
    fn delete_order_is_the_exact_reverse() {
        let set = manifests(&ManifestOptions::default());
        let mut forward: Vec<String> = set
            .iter()
            .map(|m| format!("{}/{}", m.kind(), m.name()))
            .collect();
        let back: Vec<String> = delete_order(set)
            .iter()
            .map(|m| format!("{}/{}", m.kind(), m.name()))
            .collect();
        forward.reverse();
        assert_eq!(forward, back);
    }

    #[test]
    fn shuffled_sets_are_put_back_in_rank_order() {
        let mut set = manifests(&ManifestOptions::default());
        set.reverse();
        let ranks: Vec<Rank> = apply_order(set).iter().map(Manifest::rank).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn yaml_has_one_document_per_object_and_no_secret() {
        let set = manifests(&ManifestOptions::default());
        let yaml = to_yaml(&set).unwrap();
        assert_eq!(
            yaml.matches("\n---\n").count() + usize::from(yaml.starts_with("---")),
            set.len()
        );
        assert!(!yaml.contains("kind: Secret"));
        assert!(yaml.contains("secretName: vlb-cloud-credentials"));
        assert!(yaml.contains("namespace: vlb-system"));
    }

    fn the_deployment(opts: &ManifestOptions) -> Deployment {
        manifests(opts)
            .into_iter()
            .find_map(|m| match m {
                Manifest::Deployment(d) => Some(*d),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn the_deployment_runs_hardened() {
        let d = the_deployment(&ManifestOptions::default());
        let pod = d.spec.template.spec.unwrap();
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.run_as_user, Some(65532));
        assert_eq!(psc.run_as_group, Some(65532));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let [c] = pod.containers.as_slice() else {
            panic!("one container")
        };
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        // Nothing but the read-only credentials Secret is mounted: the binary writes no file.
        let mounts = c.volume_mounts.clone().unwrap();
        assert!(mounts.iter().all(|m| m.read_only == Some(true)));
    }

    #[test]
    fn probes_are_livez_and_readyz_on_the_metrics_port() {
        let d = the_deployment(&ManifestOptions::default());
        let c = &d.spec.template.spec.unwrap().containers[0];
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.container_port),
            (Some("metrics"), 8080)
        );
        for (probe, path) in [
            (&c.liveness_probe, "/livez"),
            (&c.readiness_probe, "/readyz"),
        ] {
            let get = probe.clone().unwrap().http_get.unwrap();
            assert_eq!(get.path.as_deref(), Some(path));
            assert_eq!(get.port, IntOrString::String("metrics".to_owned()));
        }
    }

    #[test]
    fn resources_have_requests_and_limits_covering_the_measured_peak() {
        let d = the_deployment(&ManifestOptions::default());
        let r = d.spec.template.spec.unwrap().containers[0]
            .resources
            .clone()
            .unwrap();
        let (req, lim) = (r.requests.unwrap(), r.limits.unwrap());
        // BENCHMARKS.md scenario 8: 123.2 MiB peak at 10 000 Services.
        assert_eq!(req["memory"], Quantity("128Mi".to_owned()));
        assert_eq!(lim["memory"], Quantity("512Mi".to_owned()));
        assert!(req.contains_key("cpu") && lim.contains_key("cpu"));
    }

    #[test]
    fn replicas_spread_across_zones_without_blocking_scheduling() {
        let d = the_deployment(&ManifestOptions::default());
        let spec = d.spec;
        let selector = spec.selector.match_labels.unwrap();
        let spread = spec
            .template
            .spec
            .unwrap()
            .topology_spread_constraints
            .unwrap();
        let zone = spread
            .iter()
            .find(|t| t.topology_key == "topology.kubernetes.io/zone")
            .unwrap();
        assert_eq!(zone.when_unsatisfiable, "ScheduleAnyway");
        assert_eq!(zone.max_skew, 1);
        assert_eq!(
            zone.label_selector.clone().unwrap().match_labels.unwrap(),
            selector
        );
    }

    #[test]
    fn the_grace_period_outlasts_the_shutdown_timeout() {
        for (timeout, text, grace) in [
            (Duration::from_secs(30), "30s", 40),
            (Duration::from_secs(95), "95s", 105),
            (Duration::from_millis(1500), "1500ms", 12),
        ] {
            let d = the_deployment(&ManifestOptions {
                shutdown_timeout: timeout,
                ..ManifestOptions::default()
            });
            let pod = d.spec.template.spec.unwrap();
            assert_eq!(pod.termination_grace_period_seconds, Some(grace));
            let env = pod.containers[0].env.clone().unwrap();
            let set = env
                .iter()
                .find(|e| e.name == "VLB_SHUTDOWN_TIMEOUT")
                .unwrap();
            assert_eq!(set.value.as_deref(), Some(text));
        }
    }

    #[test]
    fn the_role_grants_no_update_no_wildcard_and_only_watches_secrets() {
        for r in cluster_role().rules.unwrap() {
            let res = r.resources.unwrap_or_default();
            if res.iter().any(|x| x == "secrets" || x == "nodes") {
                assert_eq!(r.verbs, ["list", "watch"]);
            }
            assert!(
                !r.verbs
                    .iter()
                    .any(|v| v == "update" || v == "*" || v == "deletecollection")
            );
            assert!(!res.iter().any(|x| x == "*"));
        }
    }
}
