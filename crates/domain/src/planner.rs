//! The planner: from the desired LBC spec, its status records and the observed cloud state,
//! the ordered, minimal list of cloud operations.
//!
//! Order (the Go controller's): import certificates → create the load balancer (first
//! listener and pool inline) → resize → create or update pools (health monitor included) →
//! replace member lists → create or update listeners, each followed by its L7 policies
//! (create, update with position, delete redundant ones) → delete redundant listeners →
//! delete redundant pools → delete redundant certificates → tags.
//!
//! Only what the status records say this cluster created is ever deleted (load balancer,
//! listeners, pools, policies, certificates); adopted objects are never deleted, and
//! members, listeners, policies and certificates this cluster did not create are kept.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    CertificateRequest, CreateLoadBalancerRequest, CreatedCertificate, CreatedListener,
    CreatedPolicy, CreatedPool, HealthMonitor, L7Policy, Listener, ListenerRequest, ListenerSpec,
    LoadBalancer, LoadBalancerConfigSpec, LoadBalancerConfigStatus, Pool, PoolMember, PoolRequest,
    PoolSpec,
};
use crate::tags;

mod l7;

pub use l7::{CertRef, Certificates, DesiredCertificate, ListenerCertRefs, ListenerRef};

/// The cloud state of one load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The load balancer (its `tags` filled).
    pub lb: LoadBalancer,
    /// Its listeners.
    pub listeners: Vec<Listener>,
    /// Its pools with members.
    pub pools: Vec<Pool>,
    /// L7 policies by listener id. Only the listeners the plan may touch policies on need
    /// an entry; a listener without an entry counts as having no policy (plan) or unknown
    /// policies (teardown deletes every recorded one, already gone being success).
    pub policies: BTreeMap<String, Vec<L7Policy>>,
}

/// A pool referred to by an operation: an existing id, or the name of a pool created
/// earlier in the same plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolRef {
    /// Known id.
    Id(String),
    /// Name of a pool of this plan.
    Name(String),
}

/// One cloud operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudOp {
    /// Create the load balancer with its first listener and pool.
    CreateLoadBalancer {
        /// Request.
        request: Box<CreateLoadBalancerRequest>,
        /// Port of the first pool's node members.
        pool_node_port: Option<u16>,
    },
    /// Change the package.
    ResizeLoadBalancer {
        /// Load balancer.
        lb_id: String,
        /// New package.
        package_id: String,
    },
    /// Create a pool with its members.
    CreatePool {
        /// Request.
        request: PoolRequest,
        /// Port of its node members (recorded by port, not one by one).
        node_port: Option<u16>,
    },
    /// Update a pool and its health monitor.
    UpdatePool {
        /// Pool.
        pool_id: String,
        /// Request.
        request: PoolRequest,
    },
    /// Replace a pool's member list.
    ReplaceMembers {
        /// Pool.
        pool_id: String,
        /// The whole new list (desired + foreign).
        members: Vec<PoolMember>,
        /// The members this cluster owns afterwards.
        owned: OwnedMembers,
    },
    /// Create a listener.
    CreateListener {
        /// Request (its `default_pool_id` is filled from `default_pool`, its certificate ids
        /// from `certificates`).
        request: ListenerRequest,
        /// Default pool.
        default_pool: Option<PoolRef>,
        /// Certificates.
        certificates: ListenerCertRefs,
    },
    /// Update a listener.
    UpdateListener {
        /// Listener.
        listener_id: String,
        /// Request (its `default_pool_id` is filled from `default_pool`, its certificate ids
        /// from `certificates`).
        request: ListenerRequest,
        /// Default pool.
        default_pool: Option<PoolRef>,
        /// Certificates.
        certificates: ListenerCertRefs,
        /// Release an adopted listener (its record is dropped).
        release: bool,
    },
    /// Import a certificate from a secret.
    CreateCertificate {
        /// Request (named after the LBC, the secret and its resource version).
        request: CertificateRequest,
        /// Secret it comes from.
        secret_name: String,
        /// Resource version of the secret.
        resource_version: String,
    },
    /// Delete a certificate this cluster imported.
    DeleteCertificate {
        /// Certificate.
        certificate_id: String,
    },
    /// Create an L7 policy on a listener.
    CreatePolicy {
        /// Listener (possibly created earlier in the plan).
        listener: ListenerRef,
        /// Policy (its `redirect_pool_id` is filled from `redirect_pool`).
        policy: L7Policy,
        /// Target pool of a `REDIRECT_TO_POOL` policy.
        redirect_pool: Option<PoolRef>,
    },
    /// Update an L7 policy (position included).
    UpdatePolicy {
        /// Listener.
        listener_id: String,
        /// Policy with its id (its `redirect_pool_id` is filled from `redirect_pool`).
        policy: L7Policy,
        /// Target pool of a `REDIRECT_TO_POOL` policy.
        redirect_pool: Option<PoolRef>,
    },
    /// Delete an L7 policy this cluster created.
    DeletePolicy {
        /// Listener.
        listener_id: String,
        /// Policy.
        policy_id: String,
    },
    /// Delete a listener this cluster created.
    DeleteListener {
        /// Listener.
        listener_id: String,
    },
    /// Delete a pool this cluster created.
    DeletePool {
        /// Pool.
        pool_id: String,
    },
    /// Replace the load balancer's tags.
    PutTags {
        /// Full tag set.
        tags: BTreeMap<String, String>,
        /// Tags this cluster owns afterwards.
        created: BTreeMap<String, String>,
    },
    /// Delete the load balancer this cluster created.
    DeleteLoadBalancer {
        /// Load balancer.
        lb_id: String,
    },
}

/// A status-only change: recording what exists without calling the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A pool with a desired name exists without a record (a create whose record was lost).
    Pool(CreatedPool),
    /// A listener on a desired port exists without a record (created and lost, or adopted).
    Listener(CreatedListener),
    /// A recorded pool no longer exists.
    ForgetPool(String),
    /// A recorded listener no longer exists.
    ForgetListener(String),
    /// The owned tags.
    Tags(BTreeMap<String, String>),
    /// A certificate with this LBC's generated name exists without a record.
    Certificate(CreatedCertificate),
    /// A recorded certificate no longer exists.
    ForgetCertificate(String),
    /// A policy with a desired name exists on a listener this cluster created, without a
    /// record.
    Policy {
        /// Listener.
        listener_id: String,
        /// Policy.
        policy_id: String,
    },
    /// A recorded policy no longer exists.
    ForgetPolicy {
        /// Listener.
        listener_id: String,
        /// Policy.
        policy_id: String,
    },
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Cloud operations, in order.
    pub ops: Vec<CloudOp>,
    /// Status-only records, applied before the operations.
    pub claims: Vec<Claim>,
    /// Desired listeners that cannot be deployed (port used with another protocol).
    pub conflicts: Vec<String>,
    /// Desired listeners left as they are because a certificate they refer to cannot be
    /// found (by name, or by a secret that is not imported).
    pub unresolved: Vec<String>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.claims.is_empty()
    }
}

/// The members of a pool this LBC owns, as its status records them
/// ([`CreatedPool::created_members`] and [`CreatedPool::node_port`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedMembers {
    /// Members recorded one by one.
    pub listed: Vec<PoolMember>,
    /// Every member on this port is owned (node members of a pool this LBC created).
    pub node_port: Option<u16>,
}

impl OwnedMembers {
    /// What `record` says this LBC owns (its list sorted, as [`OwnedMembers::new`] keeps it).
    pub fn of(record: &CreatedPool) -> Self {
        Self {
            listed: sorted(record.created_members.clone()),
            node_port: record.node_port,
        }
    }

    /// The record of `members` put by this LBC in a pool: in a pool it created, its node
    /// members (on `node_port`) are recorded by their port; in an adopted pool, where others'
    /// members may use the same port, every member is listed.
    pub fn new(members: &[PoolMember], node_port: Option<u16>, adopted: bool) -> Self {
        let node_port = node_port.filter(|_| !adopted);
        Self {
            listed: sorted(
                members
                    .iter()
                    .filter(|m| node_port != Some(m.port))
                    .cloned()
                    .collect(),
            ),
            node_port,
        }
    }

    /// Whether `m` is owned.
    pub fn owns(&self, m: &PoolMember) -> bool {
        self.node_port == Some(m.port) || self.listed.iter().any(|o| o.key() == m.key())
    }

    /// Writes this into `record`.
    pub fn record(&self, record: &mut CreatedPool) {
        record.created_members.clone_from(&self.listed);
        record.node_port = self.node_port;
    }
}

/// Ids the cloud returned for an operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpIds {
    /// Id of the created object (load balancer, pool or listener).
    pub id: Option<String>,
    /// Id of the inline listener of a created load balancer, or of the listener a policy
    /// was created on.
    pub listener_id: Option<String>,
    /// Id of the inline pool of a created load balancer.
    pub pool_id: Option<String>,
}

fn pool_request(p: &PoolSpec, members: Vec<PoolMember>) -> PoolRequest {
    PoolRequest {
        name: p.name.clone(),
        protocol: p.protocol,
        algorithm: p.algorithm.unwrap_or_default(),
        stickiness: p.stickiness.unwrap_or(false),
        tls_encryption: p.tls_encryption.unwrap_or(false),
        health_monitor: p.health_monitor.clone(),
        members,
    }
}

/// Default listener timeouts when the spec leaves them out.
const DEFAULT_TIMEOUTS: (u32, u32, u32) = (50, 50, 5);

fn listener_request(l: &ListenerSpec, certs: &l7::ResolvedCerts) -> ListenerRequest {
    ListenerRequest {
        name: l.name.clone(),
        protocol: l.protocol,
        port: l.protocol_port,
        allowed_cidrs: l
            .allowed_cidrs
            .clone()
            .unwrap_or_else(|| "0.0.0.0/0".to_owned()),
        timeout_client: l.timeout_client.unwrap_or(DEFAULT_TIMEOUTS.0),
        timeout_member: l.timeout_member.unwrap_or(DEFAULT_TIMEOUTS.1),
        timeout_connection: l.timeout_connection.unwrap_or(DEFAULT_TIMEOUTS.2),
        default_pool_id: None,
        insert_headers: l.insert_headers.clone(),
        default_certificate_authority: certs.default.clone(),
        certificate_authorities: certs.authorities.clone(),
        client_certificate: l.client_certificate_id.clone(),
    }
}

fn pool_differs(want: &PoolRequest, have: &Pool) -> bool {
    Some(want.protocol) != have.protocol
        || want.algorithm != have.algorithm
        || want.stickiness != have.stickiness
        || want.tls_encryption != have.tls_encryption
        || !health_monitor_matches(&want.health_monitor, &have.health_monitor)
}

/// `want == have` on the fields the desired monitor sets: the cloud fills defaults for the
/// rest, and the HTTP fields mean nothing to a TCP or PING-UDP check.
pub fn health_monitor_matches(want: &HealthMonitor, have: &HealthMonitor) -> bool {
    fn set<T: PartialEq>(w: Option<&T>, h: Option<&T>) -> bool {
        w.is_none_or(|w| h == Some(w))
    }
    let http = want.protocol.is_http();
    want.protocol == have.protocol
        && set(
            want.healthy_threshold.as_ref(),
            have.healthy_threshold.as_ref(),
        )
        && set(
            want.unhealthy_threshold.as_ref(),
            have.unhealthy_threshold.as_ref(),
        )
        && set(want.interval.as_ref(), have.interval.as_ref())
        && set(want.timeout.as_ref(), have.timeout.as_ref())
        && (!http
            || (set(
                want.health_check_method.as_ref(),
                have.health_check_method.as_ref(),
            ) && set(want.http_version.as_ref(), have.http_version.as_ref())
                && set(
                    want.health_check_path.as_ref(),
                    have.health_check_path.as_ref(),
                )
                && set(want.domain_name.as_ref(), have.domain_name.as_ref())
                && set(want.success_code.as_ref(), have.success_code.as_ref())))
}

/// `want` and `have` are the same member on the fields `want` sets (the cloud fills
/// defaults such as weight 1 and the monitor port).
pub fn member_matches(want: &PoolMember, have: &PoolMember) -> bool {
    want.key() == have.key()
        && want
            .monitor_port
            .is_none_or(|p| have.monitor_port.unwrap_or(have.port) == p)
        && want.weight.is_none_or(|w| have.weight == Some(w))
        && want
            .backup
            .is_none_or(|b| have.backup.unwrap_or(false) == b)
}

/// Whether two member lists are the same set.
fn members_match(want: &[PoolMember], have: &[PoolMember]) -> bool {
    want.len() == have.len()
        && want
            .iter()
            .all(|w| have.iter().any(|h| member_matches(w, h)))
}

fn listener_differs(
    want: &ListenerRequest,
    have: &Listener,
    default_pool_id: Option<&str>,
) -> bool {
    want.allowed_cidrs != have.allowed_cidrs
        || want.timeout_client != have.timeout_client
        || want.timeout_member != have.timeout_member
        || want.timeout_connection != have.timeout_connection
        || want.insert_headers != have.insert_headers
        || want.default_certificate_authority != have.default_certificate_authority
        || want.certificate_authorities != have.certificate_authorities
        || want.client_certificate != have.client_certificate
        || default_pool_id != have.default_pool_id.as_deref()
}

fn sorted(mut m: Vec<PoolMember>) -> Vec<PoolMember> {
    m.sort();
    m.dedup_by(|a, b| a.key() == b.key());
    m
}

/// Tags the load balancer must carry: the spec's, plus the provenance tag when this
/// cluster created it.
fn desired_tags(
    spec: &LoadBalancerConfigSpec,
    created_here: bool,
    cluster_id: &str,
) -> BTreeMap<String, String> {
    let mut t = spec.tags.clone();
    if created_here {
        let (k, v) = tags::provenance_tag(cluster_id);
        t.insert(k, v);
    }
    t
}

/// Plans the changes that take `observed` (None: no load balancer yet) to `spec`, leaving
/// certificates alone: [`plan_with_certificates`] without certificates. Listener
/// certificates given by id still apply; those given by name or secret are unresolved.
pub fn plan(
    spec: &LoadBalancerConfigSpec,
    status: &LoadBalancerConfigStatus,
    observed: Option<&Observed>,
    cluster_id: &str,
) -> Plan {
    plan_with_certificates(spec, status, observed, None, cluster_id)
}

/// Plans the changes that take `observed` (None: no load balancer yet) and the project's
/// certificates to `spec`. With `certs` None, certificates are not managed (no import, no
/// delete, their records kept).
pub fn plan_with_certificates(
    spec: &LoadBalancerConfigSpec,
    status: &LoadBalancerConfigStatus,
    observed: Option<&Observed>,
    certs: Option<&Certificates>,
    cluster_id: &str,
) -> Plan {
    let mut plan = Plan::default();
    let spec = &*one_listener_per_port(spec, observed, &mut plan);
    let certs = l7::CertCtx::new(certs);
    let kept_certs = certs.plan_imports(status, &mut plan);
    match observed {
        None => plan_create(spec, &certs, cluster_id, &mut plan),
        Some(obs) => plan_update(spec, status, obs, &certs, &mut plan),
    }
    if plan.unresolved.is_empty() {
        // A listener left as it is may still use an old certificate.
        certs.plan_redundant(status, &kept_certs, &mut plan);
    }
    if let Some(obs) = observed {
        plan_tags(spec, status, obs, cluster_id, &mut plan);
    }
    plan
}

/// `spec` with one listener per port: VNGCloud holds one listener, of one protocol, per port
/// of a load balancer (the Go controller refuses such an LBC: lbc_uc/validate.go
/// validateSelfListenerPorts). Of the listeners asking the same port, the one whose protocol
/// the load balancer's listener on that port already has is kept (so adding UDP 53 beside a
/// serving TCP 53 never takes TCP away), else the first in spec order; each other one is a
/// conflict of the plan, not deployed, and so are the pools only it uses. Without this the
/// plan switched the port's listener between the protocols at every reconcile.
fn one_listener_per_port<'a>(
    spec: &'a LoadBalancerConfigSpec,
    observed: Option<&Observed>,
    plan: &mut Plan,
) -> std::borrow::Cow<'a, LoadBalancerConfigSpec> {
    let mut chosen: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, l) in spec.listeners.iter().enumerate() {
        let serving = observed
            .and_then(|o| o.listeners.iter().find(|h| h.port == l.protocol_port))
            .and_then(|h| h.protocol);
        chosen
            .entry(l.protocol_port)
            .and_modify(|c| {
                if serving == Some(l.protocol) && serving != Some(spec.listeners[*c].protocol) {
                    *c = i;
                }
            })
            .or_insert(i);
    }
    if chosen.len() == spec.listeners.len() {
        return std::borrow::Cow::Borrowed(spec);
    }
    let (kept, dropped): (Vec<_>, Vec<_>) = spec
        .listeners
        .iter()
        .enumerate()
        .partition(|(i, l)| chosen.get(&l.protocol_port) == Some(i));
    for (_, l) in &dropped {
        let winner = &spec.listeners[chosen[&l.protocol_port]];
        plan.conflicts.push(format!(
            "listeners {} ({}) and {} ({}) both ask port {}: a VNGCloud load balancer holds \
             one protocol per port, so {} is not deployed",
            winner.name,
            winner.protocol.as_str(),
            l.name,
            l.protocol.as_str(),
            l.protocol_port,
            l.name
        ));
    }
    let kept: Vec<ListenerSpec> = kept.into_iter().map(|(_, l)| l.clone()).collect();
    let used: BTreeSet<&str> = kept
        .iter()
        .flat_map(|l| {
            l.default_pool_name.iter().chain(
                l.policies
                    .iter()
                    .filter_map(|p| p.redirect_pool_name.as_ref()),
            )
        })
        .map(String::as_str)
        .collect();
    let only_dropped: BTreeSet<&str> = dropped
        .iter()
        .filter_map(|(_, l)| l.default_pool_name.as_deref())
        .filter(|n| !used.contains(n))
        .collect();
    let mut out = spec.clone();
    out.pools
        .retain(|p| !only_dropped.contains(p.name.as_str()));
    out.listeners = kept;
    std::borrow::Cow::Owned(out)
}

/// Tags of an existing load balancer: this cluster's written over the others.
fn plan_tags(
    spec: &LoadBalancerConfigSpec,
    status: &LoadBalancerConfigStatus,
    obs: &Observed,
    cluster_id: &str,
    plan: &mut Plan,
) {
    let created_here = status.created_load_balancer_id.as_deref() == Some(obs.lb.id.as_str());
    let want_tags = desired_tags(spec, created_here, cluster_id);
    let merged = tags::merge(&obs.lb.tags, &want_tags);
    if merged != obs.lb.tags {
        plan.ops.push(CloudOp::PutTags {
            tags: merged,
            created: want_tags,
        });
    } else if status.created_tags != want_tags {
        plan.claims.push(Claim::Tags(want_tags));
    }
}

/// Pools and listeners (with their policies) of an existing load balancer.
fn plan_update(
    spec: &LoadBalancerConfigSpec,
    status: &LoadBalancerConfigStatus,
    obs: &Observed,
    certs: &l7::CertCtx<'_>,
    plan: &mut Plan,
) {
    let lb_id = obs.lb.id.as_str();
    let created_here = status.created_load_balancer_id.as_deref() == Some(lb_id);

    // Records of objects gone out of band.
    for r in &status.created_listeners {
        if !obs.listeners.iter().any(|l| l.id == r.id) {
            plan.claims.push(Claim::ForgetListener(r.id.clone()));
        }
    }
    for r in &status.created_pools {
        if !obs.pools.iter().any(|p| p.id == r.id) {
            plan.claims.push(Claim::ForgetPool(r.id.clone()));
        }
    }

    if created_here
        && let Some(pkg) = &spec.package_id
        && !pkg.is_empty()
        && *pkg != obs.lb.package_id
    {
        plan.ops.push(CloudOp::ResizeLoadBalancer {
            lb_id: lb_id.to_owned(),
            package_id: pkg.clone(),
        });
    }

    // Pools.
    let mut pool_ids: BTreeMap<&str, &str> = BTreeMap::new();
    for want in &spec.pools {
        let want_members = sorted(want.members.clone());
        let node_port = want.node_port();
        let Some(have) = obs.pools.iter().find(|p| p.name == want.name) else {
            plan.ops.push(CloudOp::CreatePool {
                request: pool_request(want, want_members),
                node_port,
            });
            continue;
        };
        pool_ids.insert(&want.name, &have.id);
        let record = status.created_pools.iter().find(|r| r.id == have.id);
        if record.is_none() {
            plan.claims.push(Claim::Pool(CreatedPool {
                id: have.id.clone(),
                name: have.name.clone(),
                ..CreatedPool::default()
            }));
        }
        let request = pool_request(want, Vec::new());
        if pool_differs(&request, have) {
            plan.ops.push(CloudOp::UpdatePool {
                pool_id: have.id.clone(),
                request,
            });
        }
        let owned_before = record.map(OwnedMembers::of).unwrap_or_default();
        let adopted = record.is_some_and(|r| r.adopted);
        let foreign = have
            .members
            .iter()
            .filter(|m| !owned_before.owns(m) && !want_members.iter().any(|w| w.key() == m.key()));
        let new_list = sorted(want_members.iter().chain(foreign).cloned().collect());
        let owned = OwnedMembers::new(&want_members, node_port, adopted);
        if !members_match(&new_list, &have.members) {
            plan.ops.push(CloudOp::ReplaceMembers {
                pool_id: have.id.clone(),
                members: new_list,
                owned,
            });
        } else if owned_before != owned {
            let mut claim = CreatedPool {
                id: have.id.clone(),
                name: have.name.clone(),
                adopted,
                ..CreatedPool::default()
            };
            owned.record(&mut claim);
            plan.claims.push(Claim::Pool(claim));
        }
    }

    // Listeners, each with its policies.
    let pool_ref = |n: &str| match pool_ids.get(n) {
        Some(id) => PoolRef::Id((*id).to_owned()),
        None => PoolRef::Name(n.to_owned()),
    };
    let mut kept_listeners: BTreeSet<&str> = BTreeSet::new();
    for want in &spec.listeners {
        let existing = obs.listeners.iter().find(|l| l.port == want.protocol_port);
        let resolved = match certs.listener(want) {
            Ok(r) => r,
            Err(e) => {
                // Left as it is (and never deleted) until its certificate can be found.
                plan.unresolved.push(unresolved(want, &e));
                if let Some(have) = existing {
                    kept_listeners.insert(&have.id);
                }
                continue;
            }
        };
        let request = listener_request(want, &resolved);
        let default_pool = want.default_pool_name.as_deref().map(pool_ref);
        let default_id = match &default_pool {
            Some(PoolRef::Id(id)) => Some(id.as_str()),
            Some(PoolRef::Name(_)) => Some(""),
            None => None,
        };
        let new_listener = l7::PolicyTarget {
            listener: l7::ListenerRef::Port(want.protocol_port),
            existing: None,
            observed: &[],
        };
        let Some(have) = existing else {
            plan.ops.push(CloudOp::CreateListener {
                request,
                default_pool,
                certificates: resolved.refs,
            });
            l7::plan_policies(want, &new_listener, &pool_ref, plan);
            continue;
        };
        let record = status.created_listeners.iter().find(|r| r.id == have.id);
        if have.protocol != Some(want.protocol) {
            if record.is_some_and(|r| !r.adopted) {
                plan.ops.push(CloudOp::DeleteListener {
                    listener_id: have.id.clone(),
                });
                plan.ops.push(CloudOp::CreateListener {
                    request,
                    default_pool,
                    certificates: resolved.refs,
                });
                l7::plan_policies(want, &new_listener, &pool_ref, plan);
                kept_listeners.insert(&have.id);
            } else {
                plan.conflicts.push(format!(
                    "port {} is used by listener {} with protocol {}, not {}",
                    want.protocol_port,
                    have.name,
                    have.protocol.map_or("?", |p| p.as_str()),
                    want.protocol.as_str()
                ));
            }
            continue;
        }
        kept_listeners.insert(&have.id);
        let ours = record.map_or(have.name == want.name, |r| !r.adopted);
        if record.is_none() {
            plan.claims.push(Claim::Listener(CreatedListener {
                id: have.id.clone(),
                port: have.port,
                created_policies: Vec::new(),
                adopted: !ours,
                original_default_pool_id: if ours {
                    None
                } else {
                    have.default_pool_id.clone()
                },
            }));
        }
        if listener_differs(&request, have, default_id) {
            plan.ops.push(CloudOp::UpdateListener {
                listener_id: have.id.clone(),
                request,
                default_pool,
                certificates: resolved.refs,
                release: false,
            });
        }
        let target = l7::PolicyTarget {
            listener: l7::ListenerRef::Id(have.id.clone()),
            existing: Some((&have.id, record, ours)),
            observed: obs.policies.get(&have.id).map_or(&[], Vec::as_slice),
        };
        l7::plan_policies(want, &target, &pool_ref, plan);
    }

    // Redundant listeners, then redundant pools.
    for r in &status.created_listeners {
        if kept_listeners.contains(r.id.as_str()) {
            continue;
        }
        let Some(have) = obs.listeners.iter().find(|l| l.id == r.id) else {
            continue;
        };
        release_or_delete_listener(r, have, obs, plan);
    }
    for r in &status.created_pools {
        if r.adopted || spec.pools.iter().any(|p| p.name == r.name) {
            continue;
        }
        if obs.pools.iter().any(|p| p.id == r.id) {
            plan.ops.push(CloudOp::DeletePool {
                pool_id: r.id.clone(),
            });
        }
    }
}

/// Says which certificate of which listener cannot be found.
fn unresolved(l: &ListenerSpec, what: &str) -> String {
    format!(
        "certificate {what} of listener {} (port {})",
        l.name, l.protocol_port
    )
}

/// Gives an adopted listener back as it was (without this cluster's policies, with its
/// original default pool), or deletes a listener this cluster created.
fn release_or_delete_listener(
    r: &CreatedListener,
    have: &Listener,
    obs: &Observed,
    plan: &mut Plan,
) {
    if r.adopted {
        l7::delete_created_policies(r, obs.policies.get(&r.id), plan);
        let mut request = restore_request(have);
        request
            .default_pool_id
            .clone_from(&r.original_default_pool_id);
        plan.ops.push(CloudOp::UpdateListener {
            listener_id: r.id.clone(),
            default_pool: r.original_default_pool_id.clone().map(PoolRef::Id),
            certificates: l7::ListenerCertRefs::of(have),
            request,
            release: true,
        });
    } else {
        plan.ops.push(CloudOp::DeleteListener {
            listener_id: r.id.clone(),
        });
    }
}

fn restore_request(have: &Listener) -> ListenerRequest {
    ListenerRequest {
        name: have.name.clone(),
        protocol: have.protocol.unwrap_or(crate::model::ListenerProtocol::Tcp),
        port: have.port,
        allowed_cidrs: have.allowed_cidrs.clone(),
        timeout_client: have.timeout_client,
        timeout_member: have.timeout_member,
        timeout_connection: have.timeout_connection,
        default_pool_id: have.default_pool_id.clone(),
        insert_headers: have.insert_headers.clone(),
        default_certificate_authority: have.default_certificate_authority.clone(),
        certificate_authorities: have.certificate_authorities.clone(),
        client_certificate: have.client_certificate.clone(),
    }
}

fn plan_create(
    spec: &LoadBalancerConfigSpec,
    certs: &l7::CertCtx<'_>,
    cluster_id: &str,
    plan: &mut Plan,
) {
    let resolved: Vec<Result<l7::ResolvedCerts, String>> =
        spec.listeners.iter().map(|l| certs.listener(l)).collect();
    // The first listener goes inline unless it waits for a certificate this plan imports.
    let first_listener = spec
        .listeners
        .first()
        .zip(resolved.first())
        .and_then(|(l, r)| r.as_ref().ok().filter(|r| !r.pending).map(|r| (l, r)));
    let first_pool = first_listener
        .and_then(|(l, _)| l.default_pool_name.as_ref())
        .and_then(|n| spec.pools.iter().find(|p| &p.name == n));
    let request = CreateLoadBalancerRequest {
        name: spec.load_balancer_name.clone(),
        package_id: spec.package_id.clone(),
        scheme: spec.scheme.unwrap_or_default(),
        lb_type: spec.lb_type,
        subnet_id: spec.subnet_id.clone(),
        zone_id: spec.zone_id.clone(),
        private_subnet_id: spec
            .private_subnet_id
            .clone()
            .or_else(|| spec.backend_subnet_id.clone()),
        private_zone_id: spec.private_zone_id.clone(),
        autoscale: spec.enable_autoscale.unwrap_or(false),
        tags: desired_tags(spec, true, cluster_id),
        listener: first_pool
            .and(first_listener)
            .map(|(l, r)| listener_request(l, r)),
        pool: first_pool.map(|p| pool_request(p, sorted(p.members.clone()))),
    };
    plan.ops.push(CloudOp::CreateLoadBalancer {
        request: Box::new(request),
        pool_node_port: first_pool.and_then(PoolSpec::node_port),
    });
    for p in &spec.pools {
        if first_pool.is_some_and(|f| f.name == p.name) {
            continue;
        }
        plan.ops.push(CloudOp::CreatePool {
            request: pool_request(p, sorted(p.members.clone())),
            node_port: p.node_port(),
        });
    }
    let pool_ref = |n: &str| PoolRef::Name(n.to_owned());
    for (i, (l, r)) in spec.listeners.iter().zip(resolved).enumerate() {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                plan.unresolved.push(unresolved(l, &e));
                continue;
            }
        };
        if !(i == 0 && first_pool.is_some()) {
            plan.ops.push(CloudOp::CreateListener {
                request: listener_request(l, &r),
                default_pool: l.default_pool_name.clone().map(PoolRef::Name),
                certificates: r.refs,
            });
        }
        let target = l7::PolicyTarget {
            listener: l7::ListenerRef::Port(l.protocol_port),
            existing: None,
            observed: &[],
        };
        l7::plan_policies(l, &target, &pool_ref, plan);
    }
}

/// Plans the teardown of what this LBC created on `observed` (None: the load balancer is
/// gone) and of the certificates it imported.
///
/// The load balancer itself is deleted only when the status says this LBC created it, no
/// other cluster's provenance tag is on it, and no listener it did not create remains;
/// otherwise its own listeners and pools are deleted, adopted listeners lose its policies
/// and get their original default pool back, its members leave adopted pools and its tags
/// are taken off. The certificates it imported are deleted last (already gone is success).
pub fn plan_teardown(
    status: &LoadBalancerConfigStatus,
    observed: Option<&Observed>,
    cluster_id: &str,
) -> Plan {
    let mut plan = Plan::default();
    if let Some(obs) = observed {
        plan_teardown_lb(status, obs, cluster_id, &mut plan);
    }
    for c in &status.created_certificates {
        plan.ops.push(CloudOp::DeleteCertificate {
            certificate_id: c.id.clone(),
        });
    }
    plan
}

fn plan_teardown_lb(
    status: &LoadBalancerConfigStatus,
    obs: &Observed,
    cluster_id: &str,
    plan: &mut Plan,
) {
    let lb_id = obs.lb.id.as_str();
    let ours = |id: &str| {
        status
            .created_listeners
            .iter()
            .any(|r| r.id == id && !r.adopted)
    };
    let foreign_listener = obs.listeners.iter().any(|l| !ours(&l.id));
    let provenance_ok = obs
        .lb
        .tags
        .get(tags::CREATED_BY_CLUSTER)
        .is_none_or(|v| v == cluster_id);
    if status.created_load_balancer_id.as_deref() == Some(lb_id)
        && status.adopted_load_balancer_id.as_deref() != Some(lb_id)
        && provenance_ok
        && !foreign_listener
    {
        plan.ops.push(CloudOp::DeleteLoadBalancer {
            lb_id: lb_id.to_owned(),
        });
        return;
    }
    for r in &status.created_listeners {
        if let Some(have) = obs.listeners.iter().find(|l| l.id == r.id) {
            release_or_delete_listener(r, have, obs, plan);
        }
    }
    for r in &status.created_pools {
        let Some(have) = obs.pools.iter().find(|p| p.id == r.id) else {
            continue;
        };
        if r.adopted {
            let owned = OwnedMembers::of(r);
            let rest: Vec<PoolMember> = have
                .members
                .iter()
                .filter(|m| !owned.owns(m))
                .cloned()
                .collect();
            if rest.len() != have.members.len() {
                plan.ops.push(CloudOp::ReplaceMembers {
                    pool_id: r.id.clone(),
                    members: sorted(rest),
                    owned: OwnedMembers::default(),
                });
            }
        } else {
            plan.ops.push(CloudOp::DeletePool {
                pool_id: r.id.clone(),
            });
        }
    }
    let rest = tags::unmerge(&obs.lb.tags, &status.created_tags, cluster_id);
    if rest != obs.lb.tags {
        plan.ops.push(CloudOp::PutTags {
            tags: rest,
            created: BTreeMap::new(),
        });
    }
}

/// Applies a claim to the status records.
pub fn record_claim(status: &mut LoadBalancerConfigStatus, claim: &Claim) {
    match claim {
        Claim::Pool(p) => {
            status.created_pools.retain(|r| r.id != p.id);
            status.created_pools.push(p.clone());
        }
        Claim::Listener(l) => {
            status.created_listeners.retain(|r| r.id != l.id);
            status.created_listeners.push(l.clone());
        }
        Claim::ForgetPool(id) => status.created_pools.retain(|r| &r.id != id),
        Claim::ForgetListener(id) => status.created_listeners.retain(|r| &r.id != id),
        Claim::Tags(t) => status.created_tags.clone_from(t),
        Claim::Certificate(c) => {
            status.created_certificates.retain(|r| r.id != c.id);
            status.created_certificates.push(c.clone());
        }
        Claim::ForgetCertificate(id) => status.created_certificates.retain(|r| &r.id != id),
        Claim::Policy {
            listener_id,
            policy_id,
        } => record_policy(status, listener_id, policy_id),
        Claim::ForgetPolicy {
            listener_id,
            policy_id,
        } => forget_policy(status, listener_id, policy_id),
    }
}

fn record_policy(status: &mut LoadBalancerConfigStatus, listener_id: &str, policy_id: &str) {
    if let Some(r) = status
        .created_listeners
        .iter_mut()
        .find(|r| r.id == listener_id)
        && !r.created_policies.iter().any(|p| p.id == policy_id)
    {
        r.created_policies.push(CreatedPolicy {
            id: policy_id.to_owned(),
        });
    }
}

fn forget_policy(status: &mut LoadBalancerConfigStatus, listener_id: &str, policy_id: &str) {
    if let Some(r) = status
        .created_listeners
        .iter_mut()
        .find(|r| r.id == listener_id)
    {
        r.created_policies.retain(|p| p.id != policy_id);
    }
}

/// Records a pool this LBC created with `request`.
fn record_created_pool(
    status: &mut LoadBalancerConfigStatus,
    id: String,
    request: &PoolRequest,
    node_port: Option<u16>,
) {
    status.created_pools.retain(|r| r.id != id);
    let mut record = CreatedPool {
        id,
        name: request.name.clone(),
        ..CreatedPool::default()
    };
    OwnedMembers::new(&request.members, node_port, false).record(&mut record);
    status.created_pools.push(record);
}

/// Records a completed operation in the status.
pub fn record_op(status: &mut LoadBalancerConfigStatus, op: &CloudOp, ids: &OpIds) {
    let id = ids.id.clone().unwrap_or_default();
    match op {
        CloudOp::CreateLoadBalancer {
            request,
            pool_node_port,
        } => {
            status.load_balancer_id = Some(id.clone());
            status.created_load_balancer_id = Some(id);
            status.created_tags.clone_from(&request.tags);
            if let (Some(l), Some(lid)) = (&request.listener, &ids.listener_id) {
                status.created_listeners.retain(|r| &r.id != lid);
                status.created_listeners.push(CreatedListener {
                    id: lid.clone(),
                    port: l.port,
                    ..CreatedListener::default()
                });
            }
            if let (Some(p), Some(pid)) = (&request.pool, &ids.pool_id) {
                record_created_pool(status, pid.clone(), p, *pool_node_port);
            }
        }
        CloudOp::CreatePool { request, node_port } => {
            record_created_pool(status, id, request, *node_port);
        }
        CloudOp::ReplaceMembers { pool_id, owned, .. } => {
            if let Some(r) = status.created_pools.iter_mut().find(|r| &r.id == pool_id) {
                owned.record(r);
            }
        }
        CloudOp::CreateListener { request, .. } => {
            status.created_listeners.retain(|r| r.id != id);
            status.created_listeners.push(CreatedListener {
                id,
                port: request.port,
                ..CreatedListener::default()
            });
        }
        CloudOp::UpdateListener {
            listener_id,
            release: true,
            ..
        }
        | CloudOp::DeleteListener { listener_id } => {
            status.created_listeners.retain(|r| &r.id != listener_id);
        }
        CloudOp::DeletePool { pool_id } => status.created_pools.retain(|r| &r.id != pool_id),
        CloudOp::PutTags { created, .. } => status.created_tags.clone_from(created),
        CloudOp::DeleteLoadBalancer { lb_id } => {
            if status.load_balancer_id.as_deref() == Some(lb_id) {
                status.load_balancer_id = None;
                status.address = None;
            }
            if status.created_load_balancer_id.as_deref() == Some(lb_id) {
                status.created_load_balancer_id = None;
            }
            status.created_listeners.clear();
            status.created_pools.clear();
            status.created_tags.clear();
        }
        CloudOp::CreateCertificate {
            request,
            secret_name,
            resource_version,
        } => {
            status.created_certificates.retain(|r| r.id != id);
            status.created_certificates.push(CreatedCertificate {
                secret_name: secret_name.clone(),
                resource_version: resource_version.clone(),
                id,
                certificate_name: Some(request.name.clone()),
            });
        }
        CloudOp::DeleteCertificate { certificate_id } => status
            .created_certificates
            .retain(|r| &r.id != certificate_id),
        CloudOp::CreatePolicy { .. } => {
            if let Some(listener_id) = &ids.listener_id {
                record_policy(status, listener_id, &id);
            }
        }
        CloudOp::DeletePolicy {
            listener_id,
            policy_id,
        } => forget_policy(status, listener_id, policy_id),
        CloudOp::ResizeLoadBalancer { .. }
        | CloudOp::UpdatePool { .. }
        | CloudOp::UpdateListener { .. }
        | CloudOp::UpdatePolicy { .. } => {}
    }
}

// The reference semantics of the plan's operations (what the cloud does with them), for
// the planner's and the use cases' tests.
#[cfg(test)]
mod simulation;
#[cfg(test)]
pub use simulation::{simulate, simulate_with_certificates};

#[cfg(test)]
mod tests;
