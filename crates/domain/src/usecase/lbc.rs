//! Reconcile and finalize a LoadBalancerConfig: observe (load balancer, listeners, pools,
//! tags; L7 policies and certificates only when the LBC uses or recorded any) → read the TLS
//! secrets it imports → plan → execute through the `LoadBalancerApi` → status records
//! through the batch (partial progress recorded even on error).
//!
//! The `Ready` condition of an LBC whose Service has invalid annotations stays `False`
//! (see [`hold_invalid_annotations`](super::hold_invalid_annotations)) while the last good
//! spec keeps being served. For LBCs sharing a load balancer, see
//! [`lbcs_sharing_load_balancer`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Deps, Outcome};
use crate::error::{BUSY_RETRY, CloudError, ClusterError, DomainError};
use crate::model::condition::{
    self, ANNOTATIONS_VALID, REASON_FAILED, REASON_PORT_CONFLICT, REASON_PROVISIONING,
    REASON_SUCCESS,
};
use crate::model::{
    Certificate, L7Policy, Listener, ListenerRequest, LoadBalancer, LoadBalancerConfigSpec,
    LoadBalancerConfigStatus, LoadBalancerConfigView, ObjectKey, ObjectKind, ObjectRef,
    RetiringLoadBalancer,
};
use crate::naming::{NamedKind, Namer};
use crate::planner::{
    self, Certificates, CloudOp, DesiredCertificate, ListenerCertRefs, ListenerRef, Observed,
    OpIds, Plan, PoolRef,
};
use crate::tags;

fn object_ref(lbc: &LoadBalancerConfigView) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::LoadBalancerConfig,
        key: lbc.meta.key.clone(),
        uid: Some(lbc.meta.uid.clone()),
    }
}

/// Whether two LBCs point at the same load balancer.
fn same_lb(a: &LoadBalancerConfigView, b: &LoadBalancerConfigView) -> bool {
    let id = |v: &LoadBalancerConfigView| {
        v.spec
            .load_balancer_id
            .clone()
            .or_else(|| v.status.load_balancer_id.clone())
    };
    match (id(a), id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => {
            !a.spec.load_balancer_name.is_empty()
                && a.spec.load_balancer_name == b.spec.load_balancer_name
        }
    }
}

/// Key under which deployments to one load balancer are serialised by the caller: the
/// load balancer id when known, else its name.
pub fn serialization_key(lbc: &LoadBalancerConfigView) -> String {
    lbc.spec
        .load_balancer_id
        .clone()
        .or_else(|| lbc.status.load_balancer_id.clone())
        .unwrap_or_else(|| format!("name:{}", lbc.spec.load_balancer_name))
}

/// The keys of the other LBCs that use the same load balancer as `lbc` (same
/// `loadBalancerId` in spec or status, else same load balancer name), sorted.
///
/// A port conflict ([`DomainError::Conflict`]) is never retried on its own: the loser
/// only wins once the winner stops claiming the port. So when an LBC is deleted, starts
/// being deleted, or its spec changes, the app requeues every key this function returns for
/// it (computed from the LBC as it was, e.g. from the watch event): a rejected LBC then
/// re-runs [`port_conflict`], which ignores LBCs being deleted, and deploys.
pub fn lbcs_sharing_load_balancer(
    lbc: &LoadBalancerConfigView,
    all: &[LoadBalancerConfigView],
) -> Vec<ObjectKey> {
    let mut keys: Vec<ObjectKey> = all
        .iter()
        .filter(|o| o.meta.key != lbc.meta.key && same_lb(lbc, o))
        .map(|o| o.meta.key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The first port of `lbc` that an earlier LBC on the same load balancer claims with
/// another protocol.
pub fn port_conflict(
    lbc: &LoadBalancerConfigView,
    all: &[LoadBalancerConfigView],
) -> Option<String> {
    let earlier = |o: &LoadBalancerConfigView| {
        (o.meta.created, &o.meta.key) < (lbc.meta.created, &lbc.meta.key)
    };
    for other in all
        .iter()
        .filter(|o| o.meta.key != lbc.meta.key && !o.meta.deleting && earlier(o) && same_lb(lbc, o))
    {
        for mine in &lbc.spec.listeners {
            if let Some(theirs) = other
                .spec
                .listeners
                .iter()
                .find(|l| l.protocol_port == mine.protocol_port && l.protocol != mine.protocol)
            {
                return Some(format!(
                    "port {} is claimed with protocol {} by {} (this one asks {})",
                    mine.protocol_port,
                    theirs.protocol.as_str(),
                    other.meta.key,
                    mine.protocol.as_str()
                ));
            }
        }
    }
    None
}

/// Which load balancer the LBC uses, and how it got it.
enum Found {
    /// None yet: create one. `recorded_exists`: the load balancer the status records still
    /// exists (the LBC was renamed away from it), so it must be retired, not forgotten.
    Missing {
        /// Whether the recorded load balancer still exists.
        recorded_exists: bool,
    },
    /// Found, with whether this cluster created it.
    Existing(Box<LoadBalancer>, bool),
}

async fn find_lb(
    deps: &Deps,
    cfg: &Config,
    lbc: &LoadBalancerConfigView,
) -> Result<Found, DomainError> {
    let st = &lbc.status;
    if let Some(id) = &lbc.spec.load_balancer_id {
        return match deps.lb.get_load_balancer(id).await {
            Ok(lb) => {
                let created = st.created_load_balancer_id.as_ref() == Some(id);
                Ok(Found::Existing(Box::new(lb), created))
            }
            Err(CloudError::NotFound { .. }) => Err(DomainError::Invalid(format!(
                "load balancer {id} of the load-balancer-id annotation does not exist"
            ))),
            Err(e) => Err(e.into()),
        };
    }
    let mut recorded_exists = false;
    if let Some(id) = &st.load_balancer_id {
        match deps.lb.get_load_balancer(id).await {
            // A recorded load balancer of another name: the load-balancer-name annotation
            // changed, so look the new name up (the recorded one is retired by `converge`).
            Ok(lb)
                if !lbc.spec.load_balancer_name.is_empty()
                    && lb.name != lbc.spec.load_balancer_name =>
            {
                recorded_exists = true;
            }
            Ok(lb) => {
                return Ok(Found::Existing(
                    Box::new(lb),
                    st.created_load_balancer_id.as_ref() == Some(id),
                ));
            }
            Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if lbc.spec.load_balancer_name.is_empty() {
        return Ok(Found::Missing { recorded_exists });
    }
    match deps
        .lb
        .find_load_balancer_by_name(&lbc.spec.load_balancer_name)
        .await?
    {
        Some(lb) => {
            let tags = deps.lb.get_tags(&lb.id).await?;
            let created = tags::created_by(&tags, &cfg.cluster_id);
            Ok(Found::Existing(
                Box::new(LoadBalancer { tags, ..lb }),
                created,
            ))
        }
        None => Ok(Found::Missing { recorded_exists }),
    }
}

/// Reads the listeners, pools and tags of `lb`, and the policies of the listeners
/// `wants_policies` names (none at all on a plain Layer 4 load balancer).
async fn observe(
    deps: &Deps,
    lb: LoadBalancer,
    wants_policies: impl Fn(&Listener) -> bool,
) -> Result<Observed, DomainError> {
    let listeners = deps.lb.list_listeners(&lb.id).await?;
    let pools = deps.lb.list_pools(&lb.id).await?;
    let tags = deps.lb.get_tags(&lb.id).await?;
    let mut policies = BTreeMap::new();
    for l in listeners.iter().filter(|l| wants_policies(l)) {
        policies.insert(l.id.clone(), deps.lb.list_policies(&lb.id, &l.id).await?);
    }
    Ok(Observed {
        lb: LoadBalancer { tags, ..lb },
        listeners,
        pools,
        policies,
    })
}

/// Whether this cluster recorded policies on listener `l`.
fn has_created_policies(status: &LoadBalancerConfigStatus, l: &Listener) -> bool {
    status
        .created_listeners
        .iter()
        .any(|r| r.id == l.id && !r.created_policies.is_empty())
}

/// Ids of the objects operations refer to by name or port, learnt as the plan runs.
struct Refs {
    pools: BTreeMap<String, String>,
    listeners: BTreeMap<u16, String>,
    certificates: BTreeMap<String, String>,
}

impl Refs {
    fn new(observed: Option<&Observed>, certificates: &[Certificate]) -> Self {
        Self {
            pools: observed
                .map(|o| {
                    o.pools
                        .iter()
                        .map(|p| (p.name.clone(), p.id.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            listeners: observed
                .map(|o| o.listeners.iter().map(|l| (l.port, l.id.clone())).collect())
                .unwrap_or_default(),
            certificates: certificates
                .iter()
                .map(|c| (c.name.clone(), c.id.clone()))
                .collect(),
        }
    }

    fn pool(&self, r: Option<&PoolRef>) -> Option<String> {
        match r? {
            PoolRef::Id(id) => Some(id.clone()),
            PoolRef::Name(n) => self.pools.get(n).cloned(),
        }
    }

    fn listener(&self, r: &ListenerRef) -> Result<String, CloudError> {
        match r {
            ListenerRef::Id(id) => Ok(id.clone()),
            ListenerRef::Port(port) => self
                .listeners
                .get(port)
                .cloned()
                .ok_or_else(|| CloudError::not_found("listener on port", &port.to_string())),
        }
    }

    /// The request with its default pool and certificate ids filled in.
    fn listener_request(
        &self,
        request: &ListenerRequest,
        default_pool: Option<&PoolRef>,
        certificates: &ListenerCertRefs,
    ) -> ListenerRequest {
        let mut request = request.clone();
        request.default_pool_id = self.pool(default_pool);
        (
            request.default_certificate_authority,
            request.certificate_authorities,
        ) = certificates.resolve(|n| self.certificates.get(n).cloned());
        request
    }

    /// The policy with the id of its target pool filled in.
    fn policy(&self, policy: &L7Policy, redirect_pool: Option<&PoolRef>) -> L7Policy {
        let mut policy = policy.clone();
        if redirect_pool.is_some() {
            policy.redirect_pool_id = self.pool(redirect_pool);
        }
        policy
    }

    /// Learns the ids a completed operation created.
    fn learn(&mut self, op: &CloudOp, ids: &OpIds) {
        match (op, &ids.id) {
            (CloudOp::CreateLoadBalancer { request, .. }, _) => {
                if let (Some(p), Some(id)) = (&request.pool, &ids.pool_id) {
                    self.pools.insert(p.name.clone(), id.clone());
                }
                if let (Some(l), Some(id)) = (&request.listener, &ids.listener_id) {
                    self.listeners.insert(l.port, id.clone());
                }
            }
            (CloudOp::CreatePool { request, .. }, Some(id)) => {
                self.pools.insert(request.name.clone(), id.clone());
            }
            (CloudOp::CreateListener { request, .. }, Some(id)) => {
                self.listeners.insert(request.port, id.clone());
            }
            (CloudOp::DeleteListener { listener_id }, _) => {
                self.listeners.retain(|_, id| id != listener_id);
            }
            (CloudOp::CreateCertificate { request, .. }, Some(id)) => {
                self.certificates.insert(request.name.clone(), id.clone());
            }
            _ => {}
        }
    }
}

/// Runs one operation; returns the ids the cloud gave.
async fn execute(
    deps: &Deps,
    lb_id: &mut Option<String>,
    op: &CloudOp,
    refs: &Refs,
) -> Result<OpIds, CloudError> {
    let mut ids = OpIds::default();
    if let CloudOp::CreateLoadBalancer { request, .. } = op {
        let id = deps.lb.create_load_balancer(request).await?;
        if let Some(l) = &request.listener {
            ids.listener_id = deps
                .lb
                .list_listeners(&id)
                .await?
                .into_iter()
                .find(|x| x.port == l.port)
                .map(|x| x.id);
        }
        if let Some(p) = &request.pool {
            ids.pool_id = deps
                .lb
                .list_pools(&id)
                .await?
                .into_iter()
                .find(|x| x.name == p.name)
                .map(|x| x.id);
        }
        *lb_id = Some(id.clone());
        ids.id = Some(id);
        return Ok(ids);
    }
    let lb = lb_id.clone().unwrap_or_default();
    match op {
        CloudOp::ResizeLoadBalancer { package_id, .. } => {
            deps.lb.resize_load_balancer(&lb, package_id).await?;
        }
        CloudOp::CreatePool { request, .. } => {
            ids.id = Some(deps.lb.create_pool(&lb, request).await?);
        }
        CloudOp::UpdatePool { pool_id, request } => {
            deps.lb.update_pool(&lb, pool_id, request).await?;
        }
        CloudOp::ReplaceMembers {
            pool_id, members, ..
        } => deps.lb.put_members(&lb, pool_id, members).await?,
        CloudOp::CreateListener {
            request,
            default_pool,
            certificates,
        } => {
            let request = refs.listener_request(request, default_pool.as_ref(), certificates);
            ids.id = Some(deps.lb.create_listener(&lb, &request).await?);
        }
        CloudOp::UpdateListener {
            listener_id,
            request,
            default_pool,
            certificates,
            ..
        } => {
            let request = refs.listener_request(request, default_pool.as_ref(), certificates);
            deps.lb.update_listener(&lb, listener_id, &request).await?;
        }
        CloudOp::DeleteListener { listener_id } => {
            ok_if_gone(deps.lb.delete_listener(&lb, listener_id).await)?;
        }
        CloudOp::CreatePolicy {
            listener,
            policy,
            redirect_pool,
        } => {
            let listener_id = refs.listener(listener)?;
            let policy = refs.policy(policy, redirect_pool.as_ref());
            ids.id = Some(deps.lb.create_policy(&lb, &listener_id, &policy).await?);
            ids.listener_id = Some(listener_id);
        }
        CloudOp::UpdatePolicy {
            listener_id,
            policy,
            redirect_pool,
        } => {
            let policy = refs.policy(policy, redirect_pool.as_ref());
            deps.lb.update_policy(&lb, listener_id, &policy).await?;
        }
        CloudOp::DeletePolicy {
            listener_id,
            policy_id,
        } => ok_if_gone(deps.lb.delete_policy(&lb, listener_id, policy_id).await)?,
        CloudOp::CreateCertificate { request, .. } => {
            ids.id = Some(deps.lb.create_certificate(request).await?);
        }
        CloudOp::DeleteCertificate { certificate_id } => {
            ok_if_gone(deps.lb.delete_certificate(certificate_id).await)?;
        }
        CloudOp::DeletePool { pool_id } => ok_if_gone(deps.lb.delete_pool(&lb, pool_id).await)?,
        CloudOp::PutTags { tags, .. } => deps.lb.put_tags(&lb, tags).await?,
        CloudOp::DeleteLoadBalancer { lb_id } => {
            ok_if_gone(deps.lb.delete_load_balancer(lb_id).await)?;
        }
        CloudOp::CreateLoadBalancer { .. } => {}
    }
    Ok(ids)
}

fn ok_if_gone(r: Result<(), CloudError>) -> Result<(), CloudError> {
    match r {
        Err(CloudError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// Executes a plan, recording each completed step in `status`; stops at the first error.
async fn run(
    deps: &Deps,
    plan: &Plan,
    lb_id: &mut Option<String>,
    observed: Option<&Observed>,
    certificates: &[Certificate],
    status: &mut LoadBalancerConfigStatus,
) -> Result<(), CloudError> {
    for c in &plan.claims {
        planner::record_claim(status, c);
    }
    let mut refs = Refs::new(observed, certificates);
    for op in &plan.ops {
        let ids = execute(deps, lb_id, op, &refs).await?;
        planner::record_op(status, op, &ids);
        refs.learn(op, &ids);
    }
    Ok(())
}

/// Names of the secrets an LBC imports certificates from: `createCertificates` and the
/// listeners' `secretName` references.
fn certificate_secrets(spec: &LoadBalancerConfigSpec) -> BTreeSet<&str> {
    let listed = spec
        .create_certificates
        .iter()
        .map(|c| c.secret_name.as_str());
    let referenced = spec.listeners.iter().flat_map(|l| {
        l.certificate_default
            .iter()
            .chain(&l.certificate_authorities)
            .filter_map(|c| c.secret_name.as_deref())
    });
    listed.chain(referenced).collect()
}

/// The certificates of the plan: the secrets read and the project's certificates listed,
/// only when the LBC uses or recorded any (None otherwise: no cloud call).
async fn certificates(
    deps: &Deps,
    cfg: &Config,
    lbc: &LoadBalancerConfigView,
    status: &LoadBalancerConfigStatus,
) -> Result<Option<Certificates>, DomainError> {
    let secrets = certificate_secrets(&lbc.spec);
    let by_name = lbc.spec.listeners.iter().any(|l| {
        l.certificate_default
            .iter()
            .chain(&l.certificate_authorities)
            .any(|c| c.id.is_none() && c.name.is_some())
    });
    if secrets.is_empty() && !by_name && status.created_certificates.is_empty() {
        return Ok(None);
    }
    let key = &lbc.meta.key;
    // Go's generateCertName (lbc_uc/deploy_cert.go) hashes the owner named by the label, as
    // an Ingress whatever the owner's kind.
    let owner = lbc
        .meta
        .labels
        .get(super::OWNER_NAME_LABEL)
        .unwrap_or(&key.name);
    let namer = Namer::of_kind(&cfg.cluster_id, &key.namespace, owner, NamedKind::Ingress);
    let mut desired = Vec::new();
    for name in secrets {
        let secret_key = ObjectKey::new(&key.namespace, name);
        let secret = deps.reader.get_secret(&secret_key).await?.ok_or_else(|| {
            ClusterError::NotFound(format!(
                "secret {secret_key} of type kubernetes.io/tls (with tls.crt and tls.key)"
            ))
        })?;
        let cert_name = namer.certificate(name, &secret.resource_version);
        desired.push(
            DesiredCertificate::from_secret(cert_name, &secret).map_err(DomainError::Invalid)?,
        );
    }
    Ok(Some(Certificates {
        desired,
        observed: deps.lb.list_certificates().await?,
    }))
}

/// Queues `status` as the LBC's new status when it differs from `old` (the reconcile time
/// only moves when something else changed, so a no-op reconcile writes nothing).
fn queue_status(deps: &Deps, lbc: &LoadBalancerConfigView, mut status: LoadBalancerConfigStatus) {
    let now = deps.clock.now();
    super::hold_invalid_annotations(&mut status.conditions, now);
    status.last_reconcile_time = lbc.status.last_reconcile_time;
    if status == lbc.status {
        return;
    }
    status.last_reconcile_time = Some(now);
    deps.batch.queue_lbc_status(
        &lbc.meta.key,
        Box::new(move |s| {
            // The Service use case owns `AnnotationsValid`: keep the stored one, which may
            // be newer than the snapshot this reconcile started from.
            let mut next = status.clone();
            super::carry_condition(&s.conditions, &mut next.conditions, ANNOTATIONS_VALID);
            super::hold_invalid_annotations(&mut next.conditions, now);
            if *s == next {
                return false;
            }
            *s = next;
            true
        }),
    );
}

/// Reconciles an LBC (the engine calls [`finalize_lbc`] instead once it is being
/// deleted). A load balancer the cloud
/// is still working on is waited for: `Ready=False` with reason
/// [`REASON_PROVISIONING`], no Warning Event, and an [`Outcome`] that says when to look
/// again.
pub async fn reconcile_lbc(
    deps: &Deps,
    cfg: &Config,
    lbc: &LoadBalancerConfigView,
) -> Result<Outcome, DomainError> {
    let generation = lbc.meta.generation;
    let mut status = lbc.status.clone();
    status.observed_generation = Some(generation);

    let all = deps.reader.list_lbcs().await?;
    if let Some(reason) = port_conflict(lbc, &all) {
        deps.warn(&object_ref(lbc), REASON_PORT_CONFLICT, reason.clone())
            .await;
        condition::set_condition(
            &mut status.conditions,
            deps.ready(false, REASON_PORT_CONFLICT, reason.clone(), generation),
        );
        status.last_reconcile_message.clone_from(&reason);
        queue_status(deps, lbc, status);
        return Err(DomainError::Conflict(reason));
    }

    let result = converge(deps, cfg, lbc, &mut status).await;
    let (ok, reason, message) = match &result {
        Ok(Progress::Deployed(conflicts)) if conflicts.is_empty() => {
            (true, REASON_SUCCESS, "load balancer converged".to_owned())
        }
        Ok(Progress::Deployed(conflicts)) => (false, REASON_PORT_CONFLICT, conflicts.join("; ")),
        Ok(Progress::Waiting(what)) => (false, REASON_PROVISIONING, what.clone()),
        Err(e) => (false, REASON_FAILED, e.to_string()),
    };
    if !ok && reason != REASON_PROVISIONING {
        deps.warn(&object_ref(lbc), reason, message.clone()).await;
    }
    condition::set_condition(
        &mut status.conditions,
        deps.ready(ok, reason, message.clone(), generation),
    );
    status.last_reconcile_message = message.clone();
    queue_status(deps, lbc, status);
    match result {
        Ok(Progress::Deployed(c)) if c.is_empty() => Ok(Outcome::done()),
        Ok(Progress::Deployed(_)) => Err(DomainError::Conflict(message)),
        Ok(Progress::Waiting(what)) => Ok(Outcome::waiting(what, BUSY_RETRY)),
        Err(e) => Err(e),
    }
}

/// Migration: the recorded load balancer keeps serving until the new one is deployed, then
/// is torn down (only what this cluster created on it). A retiring load balancer already
/// recorded is kept (its teardown is still due) unless it is the recorded one itself.
fn retire_recorded(status: &mut LoadBalancerConfigStatus) {
    let Some(old) = status.load_balancer_id.take() else {
        return;
    };
    if status.retiring_load_balancer.is_none() {
        status.retiring_load_balancer = Some(RetiringLoadBalancer {
            id: old,
            created_listeners: std::mem::take(&mut status.created_listeners),
            created_pools: std::mem::take(&mut status.created_pools),
            created_tags: std::mem::take(&mut status.created_tags),
        });
    } else {
        status.created_listeners.clear();
        status.created_pools.clear();
        status.created_tags.clear();
    }
    status.created_load_balancer_id = None;
}

/// The spec with its pools' node members resolved on the cluster's current Nodes (read
/// from the cache only when a pool has node members).
async fn resolved_spec<'a>(
    deps: &Deps,
    spec: &'a LoadBalancerConfigSpec,
) -> Result<Cow<'a, LoadBalancerConfigSpec>, DomainError> {
    if spec.pools.iter().all(|p| p.node_members.is_none()) {
        return Ok(Cow::Borrowed(spec));
    }
    let nodes = deps.reader.list_nodes().await?;
    Ok(Cow::Owned(crate::members::resolve_node_members(
        spec, &nodes,
    )))
}

/// How far [`converge`] got.
enum Progress {
    /// Deployed; the listener conflicts of the plan (empty: all deployed).
    Deployed(Vec<String>),
    /// The load balancer is busy in the cloud (CREATING, UPDATING): nothing was planned.
    Waiting(String),
}

/// Observe, plan, execute; returns the listener conflicts of the plan, or what it waits
/// for.
async fn converge(
    deps: &Deps,
    cfg: &Config,
    lbc: &LoadBalancerConfigView,
    status: &mut LoadBalancerConfigStatus,
) -> Result<Progress, DomainError> {
    let observed = match find_lb(deps, cfg, lbc).await? {
        Found::Missing { recorded_exists } => {
            if recorded_exists {
                // Renamed: create the new one, then retire the recorded one.
                retire_recorded(status);
            } else if status.load_balancer_id.is_some() {
                // Gone out of band: forget it and create a new one.
                status.load_balancer_id = None;
                status.created_load_balancer_id = None;
                status.created_listeners.clear();
                status.created_pools.clear();
                status.created_tags.clear();
            }
            None
        }
        Found::Existing(lb, created) => {
            if !lb.is_ready() {
                return Ok(Progress::Waiting(format!(
                    "load balancer {} is {}/{}",
                    lb.id, lb.display_status, lb.progress_status
                )));
            }
            if status
                .load_balancer_id
                .as_ref()
                .is_some_and(|old| *old != lb.id)
            {
                retire_recorded(status);
            }
            status.load_balancer_id = Some(lb.id.clone());
            if created {
                status.created_load_balancer_id = Some(lb.id.clone());
            } else if status.created_load_balancer_id.as_ref() != Some(&lb.id) {
                status.adopted_load_balancer_id = Some(lb.id.clone());
            }
            let wants = |l: &Listener| {
                has_created_policies(status, l)
                    || lbc
                        .spec
                        .listeners
                        .iter()
                        .any(|w| w.protocol_port == l.port && !w.policies.is_empty())
            };
            Some(observe(deps, *lb, wants).await?)
        }
    };
    let certs = certificates(deps, cfg, lbc, status).await?;
    let spec = resolved_spec(deps, &lbc.spec).await?;
    let plan = planner::plan_with_certificates(
        &spec,
        status,
        observed.as_ref(),
        certs.as_ref(),
        &cfg.cluster_id,
    );
    let mut lb_id = observed.as_ref().map(|o| o.lb.id.clone());
    let known = certs.as_ref().map_or(&[][..], |c| c.observed.as_slice());
    run(deps, &plan, &mut lb_id, observed.as_ref(), known, status).await?;
    if let Some(id) = lb_id {
        let lb = if plan.ops.is_empty() {
            observed.map(|o| o.lb)
        } else {
            None
        };
        let lb = match lb {
            Some(lb) => lb,
            None => deps.lb.get_load_balancer(&id).await?,
        };
        status.address.clone_from(&lb.address);
        status.load_balancer_name = Some(lb.name);
        status.lb_type = Some(lb.lb_type);
        status.subnet_id = Some(lb.subnet_id).filter(|s| !s.is_empty());
        status.zone_id = Some(lb.zone_id).filter(|s| !s.is_empty());
    }
    if !plan.unresolved.is_empty() {
        // Retried with backoff: the certificate may be imported out of band.
        return Err(CloudError::not_found("certificate", &plan.unresolved.join("; ")).into());
    }
    if plan.conflicts.is_empty() && status.retiring_load_balancer.is_some() {
        teardown_retiring(deps, cfg, status).await?;
    }
    if !plan.ops.is_empty() {
        deps.normal(
            &object_ref(lbc),
            "Deployed",
            format!("{} cloud operations applied", plan.ops.len()),
        )
        .await;
    }
    Ok(Progress::Deployed(plan.conflicts))
}

/// Finalizes an LBC: tears down only what it created (already gone is success). `Ok`
/// lets the engine drop the finalizer; an error keeps it.
pub async fn finalize_lbc(
    deps: &Deps,
    cfg: &Config,
    lbc: &LoadBalancerConfigView,
) -> Result<(), DomainError> {
    let mut status = lbc.status.clone();
    // Another LBC still using the load balancer keeps the cluster tags on it.
    let all = deps.reader.list_lbcs().await?;
    if all
        .iter()
        .any(|o| o.meta.key != lbc.meta.key && !o.meta.deleting && same_lb(lbc, o))
    {
        status.created_tags.clear();
    }
    let result = teardown(deps, cfg, &mut status).await;
    if let Err(e) = result {
        condition::set_condition(
            &mut status.conditions,
            deps.ready(false, REASON_FAILED, e.to_string(), lbc.meta.generation),
        );
        queue_status(deps, lbc, status);
        return Err(e);
    }
    queue_status(deps, lbc, status);
    Ok(())
}

/// Tears down what `records` say this LBC created on load balancer `id`; `records` is
/// updated with the progress. Already gone is success.
async fn teardown_one(
    deps: &Deps,
    cfg: &Config,
    id: &str,
    records: &mut LoadBalancerConfigStatus,
) -> Result<(), DomainError> {
    let observed = match deps.lb.get_load_balancer(id).await {
        Ok(lb) => Some(observe(deps, lb, |l| has_created_policies(records, l)).await?),
        Err(CloudError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let plan = planner::plan_teardown(records, observed.as_ref(), &cfg.cluster_id);
    let mut lb_id = Some(id.to_owned());
    run(deps, &plan, &mut lb_id, observed.as_ref(), &[], records).await?;
    Ok(())
}

/// Tears down the load balancer a migration left behind, from its snapshot. Its own
/// provenance tag (the durable record) says whether this cluster created it.
async fn teardown_retiring(
    deps: &Deps,
    cfg: &Config,
    status: &mut LoadBalancerConfigStatus,
) -> Result<(), DomainError> {
    let Some(r) = status.retiring_load_balancer.clone() else {
        return Ok(());
    };
    let created = match deps.lb.get_tags(&r.id).await {
        Ok(t) => tags::created_by(&t, &cfg.cluster_id),
        Err(CloudError::NotFound { .. }) => {
            status.retiring_load_balancer = None;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mut records = LoadBalancerConfigStatus {
        load_balancer_id: Some(r.id.clone()),
        created_load_balancer_id: created.then(|| r.id.clone()),
        created_listeners: r.created_listeners,
        created_pools: r.created_pools,
        created_tags: r.created_tags,
        ..LoadBalancerConfigStatus::default()
    };
    let outcome = teardown_one(deps, cfg, &r.id, &mut records).await;
    status.retiring_load_balancer = if outcome.is_ok() {
        None
    } else {
        Some(RetiringLoadBalancer {
            id: r.id,
            created_listeners: records.created_listeners,
            created_pools: records.created_pools,
            created_tags: records.created_tags,
        })
    };
    outcome
}

async fn teardown(
    deps: &Deps,
    cfg: &Config,
    status: &mut LoadBalancerConfigStatus,
) -> Result<(), DomainError> {
    if let Some(id) = status.load_balancer_id.clone() {
        teardown_one(deps, cfg, &id, status).await?;
    } else {
        // No load balancer (its creation failed): only imported certificates remain.
        let plan = planner::plan_teardown(status, None, &cfg.cluster_id);
        run(deps, &plan, &mut None, None, &[], status).await?;
    }
    teardown_retiring(deps, cfg, status).await?;
    status.load_balancer_id = None;
    status.created_load_balancer_id = None;
    status.address = None;
    status.created_listeners.clear();
    status.created_pools.clear();
    status.created_tags.clear();
    status.created_certificates.clear();
    Ok(())
}
