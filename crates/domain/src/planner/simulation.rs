//! Applies a plan as the cloud would: what the planner's and the use cases' tests check
//! the plans against (test builds only).

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::model::Certificate;

/// Applies a plan to a cloud state and a status as the cloud would (ids made from `seed`):
/// the reference semantics of the operations, used by tests and emulators. Certificate
/// operations act on a throwaway list: see [`simulate_with_certificates`].
pub fn simulate(
    observed: Option<Observed>,
    status: &mut LoadBalancerConfigStatus,
    plan: &Plan,
    seed: &mut u64,
) -> Option<Observed> {
    simulate_with_certificates(observed, &mut Vec::new(), status, plan, seed)
}

/// [`simulate`], with the project's certificates.
pub fn simulate_with_certificates(
    observed: Option<Observed>,
    certificates: &mut Vec<Certificate>,
    status: &mut LoadBalancerConfigStatus,
    plan: &Plan,
    seed: &mut u64,
) -> Option<Observed> {
    let mut next = |kind: &str| {
        *seed += 1;
        format!("{kind}-{seed}")
    };
    for c in &plan.claims {
        record_claim(status, c);
    }
    let mut obs = observed;
    for op in &plan.ops {
        let mut ids = OpIds::default();
        let cert_id = |certs: &[Certificate], name: &str| {
            certs.iter().find(|c| c.name == name).map(|c| c.id.clone())
        };
        match op {
            CloudOp::CreateLoadBalancer { request, .. } => {
                let lb_id = next("lb");
                let mut o = Observed {
                    lb: LoadBalancer {
                        id: lb_id.clone(),
                        name: request.name.clone(),
                        package_id: request.package_id.clone().unwrap_or_default(),
                        scheme: request.scheme,
                        lb_type: request.lb_type,
                        tags: request.tags.clone(),
                        display_status: "ACTIVE".into(),
                        progress_status: "CREATED".into(),
                        ..LoadBalancer::default()
                    },
                    ..Observed::default()
                };
                ids.id = Some(lb_id);
                if let Some(p) = &request.pool {
                    let pid = next("pool");
                    o.pools.push(pool_from(&pid, p));
                    ids.pool_id = Some(pid);
                }
                if let Some(l) = &request.listener {
                    let lid = next("listener");
                    let mut req = l.clone();
                    req.default_pool_id.clone_from(&ids.pool_id);
                    o.listeners.push(listener_from(&lid, &req));
                    ids.listener_id = Some(lid);
                }
                obs = Some(o);
            }
            CloudOp::CreateCertificate { request, .. } => {
                let id = next("cert");
                certificates.push(Certificate {
                    id: id.clone(),
                    name: request.name.clone(),
                    certificate_type: request.certificate_type.clone(),
                    expired_at: None,
                });
                ids.id = Some(id);
            }
            CloudOp::DeleteCertificate { certificate_id } => {
                certificates.retain(|c| &c.id != certificate_id);
            }
            _ => {
                let Some(o) = obs.as_mut() else { continue };
                match op {
                    CloudOp::ResizeLoadBalancer { package_id, .. } => {
                        o.lb.package_id.clone_from(package_id);
                    }
                    CloudOp::CreatePool { request, .. } => {
                        let pid = next("pool");
                        o.pools.push(pool_from(&pid, request));
                        ids.id = Some(pid);
                    }
                    CloudOp::UpdatePool { pool_id, request } => {
                        if let Some(p) = o.pools.iter_mut().find(|p| &p.id == pool_id) {
                            let members = std::mem::take(&mut p.members);
                            *p = pool_from(pool_id, request);
                            p.members = members;
                        }
                    }
                    CloudOp::ReplaceMembers {
                        pool_id, members, ..
                    } => {
                        if let Some(p) = o.pools.iter_mut().find(|p| &p.id == pool_id) {
                            p.members.clone_from(members);
                        }
                    }
                    CloudOp::CreateListener {
                        request,
                        default_pool,
                        certificates: refs,
                    } => {
                        let lid = next("listener");
                        let mut req = request.clone();
                        req.default_pool_id = resolve(o, default_pool.as_ref());
                        (
                            req.default_certificate_authority,
                            req.certificate_authorities,
                        ) = refs.resolve(|n| cert_id(certificates, n));
                        o.listeners.push(listener_from(&lid, &req));
                        ids.id = Some(lid);
                    }
                    CloudOp::UpdateListener {
                        listener_id,
                        request,
                        default_pool,
                        certificates: refs,
                        ..
                    } => {
                        let mut req = request.clone();
                        req.default_pool_id = resolve(o, default_pool.as_ref());
                        (
                            req.default_certificate_authority,
                            req.certificate_authorities,
                        ) = refs.resolve(|n| cert_id(certificates, n));
                        if let Some(l) = o.listeners.iter_mut().find(|l| &l.id == listener_id) {
                            let name = l.name.clone();
                            *l = listener_from(listener_id, &req);
                            l.name = name;
                        }
                    }
                    CloudOp::DeleteListener { listener_id } => {
                        o.listeners.retain(|l| &l.id != listener_id);
                        o.policies.remove(listener_id);
                    }
                    CloudOp::CreatePolicy {
                        listener,
                        policy,
                        redirect_pool,
                    } => {
                        let lid = match listener {
                            ListenerRef::Id(id) => Some(id.clone()),
                            ListenerRef::Port(port) => o
                                .listeners
                                .iter()
                                .find(|l| l.port == *port)
                                .map(|l| l.id.clone()),
                        };
                        let Some(lid) = lid else { continue };
                        let mut p = policy.clone();
                        p.id = next("policy");
                        p.redirect_pool_id = resolve(o, redirect_pool.as_ref());
                        let list = o.policies.entry(lid.clone()).or_default();
                        if p.position == 0 {
                            p.position = list.iter().map(|x| x.position).max().unwrap_or(0) + 1;
                        }
                        ids.id = Some(p.id.clone());
                        ids.listener_id = Some(lid);
                        list.push(p);
                    }
                    CloudOp::UpdatePolicy {
                        listener_id,
                        policy,
                        redirect_pool,
                    } => {
                        let pool_id = resolve(o, redirect_pool.as_ref());
                        if let Some(p) = o
                            .policies
                            .get_mut(listener_id)
                            .and_then(|ps| ps.iter_mut().find(|p| p.id == policy.id))
                        {
                            *p = policy.clone();
                            p.redirect_pool_id = pool_id;
                        }
                    }
                    CloudOp::DeletePolicy {
                        listener_id,
                        policy_id,
                    } => {
                        if let Some(ps) = o.policies.get_mut(listener_id) {
                            ps.retain(|p| &p.id != policy_id);
                        }
                    }
                    CloudOp::DeletePool { pool_id } => o.pools.retain(|p| &p.id != pool_id),
                    CloudOp::PutTags { tags, .. } => o.lb.tags.clone_from(tags),
                    CloudOp::DeleteLoadBalancer { .. } => obs = None,
                    CloudOp::CreateLoadBalancer { .. }
                    | CloudOp::CreateCertificate { .. }
                    | CloudOp::DeleteCertificate { .. } => {}
                }
            }
        }
        record_op(status, op, &ids);
    }
    obs
}

/// Resolves a pool reference against the observed pools.
pub fn resolve(o: &Observed, r: Option<&PoolRef>) -> Option<String> {
    match r? {
        PoolRef::Id(id) => Some(id.clone()),
        PoolRef::Name(n) => o.pools.iter().find(|p| &p.name == n).map(|p| p.id.clone()),
    }
}

fn pool_from(id: &str, r: &PoolRequest) -> Pool {
    Pool {
        id: id.to_owned(),
        name: r.name.clone(),
        protocol: Some(r.protocol),
        algorithm: r.algorithm,
        stickiness: r.stickiness,
        tls_encryption: r.tls_encryption,
        health_monitor: r.health_monitor.clone(),
        members: r.members.clone(),
    }
}

fn listener_from(id: &str, r: &ListenerRequest) -> Listener {
    Listener {
        id: id.to_owned(),
        name: r.name.clone(),
        protocol: Some(r.protocol),
        port: r.port,
        allowed_cidrs: r.allowed_cidrs.clone(),
        timeout_client: r.timeout_client,
        timeout_member: r.timeout_member,
        timeout_connection: r.timeout_connection,
        default_pool_id: r.default_pool_id.clone(),
        certificate_authorities: r.certificate_authorities.clone(),
        default_certificate_authority: r.default_certificate_authority.clone(),
        client_certificate: r.client_certificate.clone(),
        insert_headers: r.insert_headers.clone(),
    }
}
