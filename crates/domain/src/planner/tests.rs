use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{
    Certificate, CreateCertificate, HealthCheckProtocol, HealthMonitor, L7Rule,
    ListenerCertificate, ListenerProtocol, LoadBalancerConfigSpec, NodeMembers, PolicyAction,
    PolicyCompareType, PolicyRuleType, PolicySpec, PoolAlgorithm, PoolProtocol,
};

const CLUSTER: &str = "cluster-1";
/// Name prefix of the certificates the tests import.
const OUR_CERT: &str = "vks_cert_";

fn member(i: u8, port: u16) -> PoolMember {
    PoolMember {
        ip: format!("10.0.0.{i}"),
        port,
        monitor_port: Some(port),
        name: format!("node-{i}"),
        weight: None,
        backup: None,
    }
}

fn rule(value: &str) -> L7Rule {
    L7Rule {
        compare_type: PolicyCompareType::StartsWith,
        rule_value: value.to_owned(),
        rule_type: PolicyRuleType::Path,
    }
}

/// A foreign listener (with a foreign L7 policy) and pool on a shared load balancer, with
/// a foreign tag.
fn foreign_lb() -> Observed {
    Observed {
        lb: LoadBalancer {
            id: "lb-shared".into(),
            name: "shared".into(),
            tags: BTreeMap::from([("owner".to_owned(), "someone-else".to_owned())]),
            display_status: "ACTIVE".into(),
            progress_status: "CREATED".into(),
            ..LoadBalancer::default()
        },
        listeners: vec![Listener {
            id: "listener-foreign".into(),
            name: "foreign".into(),
            protocol: Some(ListenerProtocol::Tcp),
            port: 9000,
            allowed_cidrs: "0.0.0.0/0".into(),
            default_pool_id: Some("pool-foreign".into()),
            ..Listener::default()
        }],
        pools: vec![Pool {
            id: "pool-foreign".into(),
            name: "foreign".into(),
            protocol: Some(PoolProtocol::Tcp),
            members: vec![member(99, 8080)],
            ..Pool::default()
        }],
        policies: BTreeMap::from([(
            "listener-foreign".to_owned(),
            vec![L7Policy {
                id: "policy-foreign".into(),
                name: "pol-a".into(),
                action: PolicyAction::Reject,
                redirect_pool_id: None,
                redirect_url: None,
                redirect_http_code: None,
                keep_query_string: false,
                position: 1,
                rules: vec![rule("/foreign")],
            }],
        )]),
    }
}

/// A certificate of the project this cluster did not import.
fn foreign_cert() -> Certificate {
    Certificate {
        id: "cert-foreign".into(),
        name: "foreign-cert".into(),
        certificate_type: "TLS/SSL".into(),
        expired_at: None,
    }
}

/// One generated L7 policy: name index, action, whether it sets its position, rule.
#[derive(Debug, Clone, Default)]
struct PolicyGen {
    name: u8,
    action: u8,
    positioned: bool,
    rule: u8,
}

#[derive(Debug, Clone, Default)]
struct PortSpec {
    port: u16,
    udp: bool,
    members: Vec<u8>,
    algorithm: u8,
    interval: u32,
    timeout_client: u32,
    cidr: u8,
    /// 0: plain TCP, 1: HTTP, 2: HTTPS (ignored for UDP).
    l7: u8,
    /// HTTPS certificate: 0 secret `tls-a`, 1 secret `tls-b`, 2 foreign id, 3 foreign name.
    cert: u8,
    /// Policies (HTTP and HTTPS listeners).
    policies: Vec<PolicyGen>,
    /// Members given as node members (the spec as the LBC reconcile resolves it: the
    /// template plus the members it resolved to).
    on_nodes: bool,
}

fn cert_ref(cert: u8) -> ListenerCertificate {
    match cert % 4 {
        0 => ListenerCertificate {
            secret_name: Some("tls-a".into()),
            ..ListenerCertificate::default()
        },
        1 => ListenerCertificate {
            secret_name: Some("tls-b".into()),
            ..ListenerCertificate::default()
        },
        2 => ListenerCertificate {
            id: Some("cert-foreign".into()),
            ..ListenerCertificate::default()
        },
        _ => ListenerCertificate {
            name: Some("foreign-cert".into()),
            ..ListenerCertificate::default()
        },
    }
}

fn policy_of(g: &PolicyGen, index: usize, pool_name: &str) -> PolicySpec {
    let action = match g.action % 3 {
        0 => PolicyAction::Reject,
        1 => PolicyAction::RedirectToPool,
        _ => PolicyAction::RedirectToUrl,
    };
    let url = action == PolicyAction::RedirectToUrl;
    PolicySpec {
        name: format!("pol-{}", g.name),
        description: None,
        redirect_pool_name: (action == PolicyAction::RedirectToPool).then(|| pool_name.to_owned()),
        action,
        redirect_url: url.then(|| format!("https://example.com/{}", g.rule)),
        redirect_http_code: url.then_some(if g.rule.is_multiple_of(2) { 301 } else { 302 }),
        keep_query_string: url.then_some(g.rule.is_multiple_of(2)),
        position: g.positioned.then_some(index as u32 + 1),
        l7_rules: vec![rule(&format!("/p{}", g.rule))],
    }
}

fn spec_of(ports: &[PortSpec], tags: &BTreeMap<String, String>) -> LoadBalancerConfigSpec {
    let mut spec = LoadBalancerConfigSpec {
        load_balancer_name: "vks_lb".into(),
        subnet_id: "sub-1".into(),
        tags: tags.clone(),
        ..LoadBalancerConfigSpec::default()
    };
    for p in ports {
        let l7 = if p.udp { 0 } else { p.l7 % 3 };
        let (lp, pp, hp) = match (p.udp, l7) {
            (true, _) => (
                ListenerProtocol::Udp,
                PoolProtocol::Udp,
                HealthCheckProtocol::PingUdp,
            ),
            (false, 0) => (
                ListenerProtocol::Tcp,
                PoolProtocol::Tcp,
                HealthCheckProtocol::Tcp,
            ),
            (false, 1) => (
                ListenerProtocol::Http,
                PoolProtocol::Http,
                HealthCheckProtocol::Tcp,
            ),
            (false, _) => (
                ListenerProtocol::Https,
                PoolProtocol::Http,
                HealthCheckProtocol::Tcp,
            ),
        };
        let pool_name = format!("pool_{}_{}", pp.as_str(), p.port);
        spec.pools.push(PoolSpec {
            name: pool_name.clone(),
            protocol: pp,
            description: None,
            algorithm: Some(match p.algorithm % 3 {
                0 => PoolAlgorithm::RoundRobin,
                1 => PoolAlgorithm::LeastConnections,
                _ => PoolAlgorithm::SourceIp,
            }),
            stickiness: None,
            tls_encryption: None,
            health_monitor: HealthMonitor {
                protocol: hp,
                interval: Some(p.interval),
                ..HealthMonitor::default()
            },
            members: p
                .members
                .iter()
                .map(|i| member(*i, 30000 + p.port))
                .collect(),
            node_members: p.on_nodes.then(|| NodeMembers {
                port: 30000 + p.port,
                monitor_port: None,
                select_node_labels: BTreeMap::new(),
            }),
        });
        let https = lp == ListenerProtocol::Https;
        let certificate_default = https.then(|| cert_ref(p.cert));
        if let Some(secret) = certificate_default
            .as_ref()
            .and_then(|c| c.secret_name.clone())
            && !spec
                .create_certificates
                .iter()
                .any(|c| c.secret_name == secret)
        {
            spec.create_certificates.push(CreateCertificate {
                secret_name: secret,
            });
        }
        let mut policies: Vec<PolicySpec> = Vec::new();
        if l7 > 0 {
            for (i, g) in p.policies.iter().enumerate() {
                let pol = policy_of(g, i, &pool_name);
                if !policies.iter().any(|x| x.name == pol.name) {
                    policies.push(pol);
                }
            }
        }
        spec.listeners.push(ListenerSpec {
            name: format!("listener_{}", p.port),
            description: None,
            protocol: lp,
            protocol_port: p.port,
            default_pool_name: Some(pool_name),
            timeout_client: Some(p.timeout_client),
            timeout_member: None,
            timeout_connection: None,
            allowed_cidrs: Some(
                if p.cidr % 2 == 0 {
                    "0.0.0.0/0"
                } else {
                    "10.0.0.0/8"
                }
                .into(),
            ),
            insert_headers: Vec::new(),
            policies,
            certificate_default,
            certificate_authorities: Vec::new(),
            client_certificate_id: None,
        });
    }
    spec
}

/// The certificates `spec` imports, from secrets at resource version `rv`.
fn desired_certs(spec: &LoadBalancerConfigSpec, rv: &str) -> Vec<DesiredCertificate> {
    spec.create_certificates
        .iter()
        .map(|c| DesiredCertificate {
            secret_name: c.secret_name.clone(),
            resource_version: rv.to_owned(),
            request: CertificateRequest {
                name: format!("{OUR_CERT}{}_{rv}", c.secret_name),
                certificate_type: "TLS/SSL".into(),
                certificate: "-----BEGIN CERTIFICATE-----".into(),
                private_key: Some("-----BEGIN PRIVATE KEY-----".into()),
            },
        })
        .collect()
}

fn policy_gens() -> impl Strategy<Value = Vec<PolicyGen>> {
    proptest::collection::vec(
        (0u8..3, 0u8..3, any::<bool>(), 0u8..3).prop_map(|(name, action, positioned, rule)| {
            PolicyGen {
                name,
                action,
                positioned,
                rule,
            }
        }),
        0..3,
    )
}

fn port_specs() -> impl Strategy<Value = Vec<PortSpec>> {
    proptest::collection::btree_map(
        80u16..88,
        (
            (
                any::<bool>(),
                proptest::collection::btree_set(1u8..7, 0..4),
                0u8..3,
                5u32..8,
            ),
            (
                40u32..43,
                0u8..2,
                0u8..3,
                0u8..4,
                policy_gens(),
                any::<bool>(),
            ),
        ),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(
                |(
                    port,
                    (
                        (udp, members, algorithm, interval),
                        (timeout_client, cidr, l7, cert, policies, on_nodes),
                    ),
                )| PortSpec {
                    port,
                    udp,
                    members: members.into_iter().collect(),
                    algorithm,
                    interval,
                    timeout_client,
                    cidr,
                    l7,
                    cert,
                    policies,
                    on_nodes,
                },
            )
            .collect()
    })
}

fn tag_sets() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[ab]", "[xy]", 0..2).prop_map(|mut t| {
        t.extend(crate::tags::cluster_tags(CLUSTER, "net-1"));
        t
    })
}

/// Every delete in `plan` targets something `status` records as created (not adopted).
fn deletes_only_created(plan: &Plan, status: &LoadBalancerConfigStatus) -> Result<(), String> {
    for op in &plan.ops {
        let ok = match op {
            CloudOp::DeleteListener { listener_id } => status
                .created_listeners
                .iter()
                .any(|r| &r.id == listener_id && !r.adopted),
            CloudOp::DeletePool { pool_id } => status
                .created_pools
                .iter()
                .any(|r| &r.id == pool_id && !r.adopted),
            CloudOp::DeletePolicy {
                listener_id,
                policy_id,
            } => status.created_listeners.iter().any(|r| {
                &r.id == listener_id && r.created_policies.iter().any(|p| &p.id == policy_id)
            }),
            CloudOp::DeleteCertificate { certificate_id } => status
                .created_certificates
                .iter()
                .any(|c| &c.id == certificate_id),
            CloudOp::DeleteLoadBalancer { lb_id } => {
                status.created_load_balancer_id.as_deref() == Some(lb_id)
            }
            _ => true,
        };
        if !ok {
            return Err(format!(
                "{op:?} deletes something not created by this cluster"
            ));
        }
    }
    Ok(())
}

/// The id a listener certificate reference must resolve to.
fn expected_cert_id(c: &ListenerCertificate, certs: &[Certificate], rv: &str) -> Option<String> {
    let name = match (&c.id, &c.secret_name, &c.name) {
        (Some(id), _, _) => return Some(id.clone()),
        (None, Some(secret), _) => format!("{OUR_CERT}{secret}_{rv}"),
        (None, None, Some(name)) => name.clone(),
        (None, None, None) => return None,
    };
    certs.iter().find(|x| x.name == name).map(|x| x.id.clone())
}

/// The cloud matches `spec` (certificates imported at `rv`), and `foreign` (listeners,
/// pools, policies, tags) is intact.
fn assert_converged(
    obs: &Observed,
    certs: &[Certificate],
    spec: &LoadBalancerConfigSpec,
    rv: &str,
    foreign: Option<&Observed>,
) {
    for want in &spec.pools {
        let have = obs
            .pools
            .iter()
            .find(|p| p.name == want.name)
            .expect("pool exists");
        assert_eq!(have.protocol, Some(want.protocol));
        assert_eq!(Some(have.algorithm), want.algorithm);
        assert_eq!(have.health_monitor, want.health_monitor);
        for m in &want.members {
            assert!(
                have.members.contains(m),
                "member {m:?} missing from {}",
                want.name
            );
        }
    }
    let pool_id = |name: &str| {
        obs.pools
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.id.clone())
    };
    for want in &spec.listeners {
        let have = obs
            .listeners
            .iter()
            .find(|l| l.port == want.protocol_port)
            .expect("listener");
        assert_eq!(have.protocol, Some(want.protocol));
        assert_eq!(Some(have.timeout_client), want.timeout_client);
        assert_eq!(Some(&have.allowed_cidrs), want.allowed_cidrs.as_ref());
        assert_eq!(
            have.default_pool_id,
            want.default_pool_name.as_deref().and_then(pool_id)
        );
        assert_eq!(
            have.default_certificate_authority,
            want.certificate_default
                .as_ref()
                .and_then(|c| expected_cert_id(c, certs, rv))
        );
        let policies = obs.policies.get(&have.id).map_or(&[][..], Vec::as_slice);
        assert_eq!(
            policies.len(),
            want.policies.len(),
            "policies of {}: {policies:?}",
            want.name
        );
        for p in &want.policies {
            let h = policies
                .iter()
                .find(|h| h.name == p.name)
                .expect("policy exists");
            assert_eq!(h.action, p.action);
            assert_eq!(h.rules, p.l7_rules);
            assert_eq!(
                h.redirect_pool_id,
                p.redirect_pool_name.as_deref().and_then(pool_id)
            );
            assert_eq!(h.redirect_url, p.redirect_url);
            if let Some(pos) = p.position {
                assert_eq!(h.position, pos);
            }
        }
    }
    // Nothing else of ours remains.
    let ours = |name: &str| name.starts_with("pool_") || name.starts_with("listener_");
    assert_eq!(
        obs.pools.iter().filter(|p| ours(&p.name)).count(),
        spec.pools.len(),
        "stale pools: {:?}",
        obs.pools
    );
    assert_eq!(
        obs.listeners.iter().filter(|l| ours(&l.name)).count(),
        spec.listeners.len()
    );
    let mut our_certs: Vec<&str> = certs
        .iter()
        .filter(|c| c.name.starts_with(OUR_CERT))
        .map(|c| c.name.as_str())
        .collect();
    our_certs.sort_unstable();
    let mut want_certs: Vec<String> = desired_certs(spec, rv)
        .into_iter()
        .map(|d| d.request.name)
        .collect();
    want_certs.sort();
    assert_eq!(our_certs, want_certs, "imported certificates");
    assert!(certs.contains(&foreign_cert()), "foreign certificate lost");
    for (k, v) in &spec.tags {
        if k != crate::tags::CLUSTER_IDS {
            assert_eq!(obs.lb.tags.get(k), Some(v));
        }
    }
    if let Some(f) = foreign {
        assert_foreign_kept(obs, f);
    }
}

fn assert_foreign_kept(obs: &Observed, f: &Observed) {
    for l in &f.listeners {
        assert!(obs.listeners.contains(l), "foreign listener {} lost", l.id);
    }
    for p in &f.pools {
        assert!(obs.pools.contains(p), "foreign pool {} lost", p.id);
    }
    for (listener, policies) in &f.policies {
        for p in policies {
            assert!(
                obs.policies.get(listener).is_some_and(|ps| ps.contains(p)),
                "foreign policy {} lost",
                p.id
            );
        }
    }
    for (k, v) in &f.lb.tags {
        assert_eq!(obs.lb.tags.get(k), Some(v), "foreign tag {k} lost");
    }
}

/// Plans `spec` (certificates from secrets at `rv`), checks the deletes, applies, and
/// checks that planning again is empty.
fn step_with_certificates(
    obs: Option<Observed>,
    certs: &mut Vec<Certificate>,
    status: &mut LoadBalancerConfigStatus,
    spec: &LoadBalancerConfigSpec,
    rv: &str,
    seed: &mut u64,
) -> Observed {
    let input = |certs: &[Certificate]| Certificates {
        desired: desired_certs(spec, rv),
        observed: certs.to_vec(),
    };
    let p = plan_with_certificates(spec, status, obs.as_ref(), Some(&input(certs)), CLUSTER);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert!(p.unresolved.is_empty(), "{:?}", p.unresolved);
    deletes_only_created(&p, status).unwrap();
    let obs =
        simulate_with_certificates(obs, certs, status, &p, seed).expect("load balancer exists");
    let again = plan_with_certificates(spec, status, Some(&obs), Some(&input(certs)), CLUSTER);
    assert!(again.is_empty(), "second plan not empty: {again:?}");
    obs
}

/// [`step_with_certificates`] with a project holding only the foreign certificate.
fn step(
    obs: Option<Observed>,
    status: &mut LoadBalancerConfigStatus,
    spec: &LoadBalancerConfigSpec,
    seed: &mut u64,
) -> Observed {
    step_with_certificates(obs, &mut vec![foreign_cert()], status, spec, "1", seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_the_plan_reaches_the_desired_state_and_replanning_is_empty(
        shared in any::<bool>(), first in port_specs(), second in port_specs(),
        t1 in tag_sets(), t2 in tag_sets(), intruder in any::<bool>(), rotate in any::<bool>(),
    ) {
        let foreign = shared.then(foreign_lb);
        let mut status = LoadBalancerConfigStatus::default();
        if shared {
            status.load_balancer_id = Some("lb-shared".into());
            status.adopted_load_balancer_id = Some("lb-shared".into());
        }
        let mut seed = 0;
        let mut certs = vec![foreign_cert()];
        let spec1 = spec_of(&first, &t1);
        let mut obs = step_with_certificates(foreign.clone(), &mut certs, &mut status, &spec1, "1", &mut seed);
        assert_converged(&obs, &certs, &spec1, "1", foreign.as_ref());

        // Someone adds a member to one of our pools out of band: it must be kept.
        let mut intruders = Vec::new();
        if intruder && let Some(p) = obs.pools.iter_mut().find(|p| p.name.starts_with("pool_")) {
            p.members.push(member(200, 1234));
            intruders.push((p.name.clone(), member(200, 1234)));
        }

        // The secrets may get a new resource version: new certificates replace the old.
        let rv2 = if rotate { "2" } else { "1" };
        let spec2 = spec_of(&second, &t2);
        let obs2 = step_with_certificates(Some(obs), &mut certs, &mut status, &spec2, rv2, &mut seed);
        assert_converged(&obs2, &certs, &spec2, rv2, foreign.as_ref());
        for (pool, m) in &intruders {
            if let Some(p) = obs2.pools.iter().find(|p| &p.name == pool) {
                prop_assert!(p.members.contains(m), "foreign member dropped");
            }
        }

        let down = plan_teardown(&status, Some(&obs2), CLUSTER);
        deletes_only_created(&down, &status).unwrap();
        let after = simulate_with_certificates(Some(obs2), &mut certs, &mut status, &down, &mut seed);
        prop_assert_eq!(&certs, &vec![foreign_cert()], "imported certificates left behind");
        match (&foreign, after) {
            (Some(f), Some(a)) => {
                assert_foreign_kept(&a, f);
                prop_assert!(a.pools.iter().all(|p| !p.name.starts_with("pool_")));
                prop_assert!(a.listeners.iter().all(|l| !l.name.starts_with("listener_")));
            }
            (Some(_), None) => prop_assert!(false, "shared load balancer deleted"),
            (None, a) => prop_assert!(a.is_none(), "own load balancer left behind"),
        }
    }

    #[test]
    fn no_plan_deletes_what_the_cluster_did_not_create(
        ports in port_specs(), tags in tag_sets(), claim_foreign in any::<bool>(),
    ) {
        // A status that (wrongly or after a crash) knows nothing, on a load balancer full
        // of foreign objects: the plan must not delete any of them.
        let foreign = foreign_lb();
        let mut status = LoadBalancerConfigStatus::default();
        if claim_foreign {
            // Records of adoption are not ownership.
            status.created_listeners.push(CreatedListener {
                id: "listener-foreign".into(), port: 9000, adopted: true,
                original_default_pool_id: Some("pool-foreign".into()), ..CreatedListener::default()
            });
            status.created_pools.push(CreatedPool {
                id: "pool-foreign".into(), name: "foreign".into(), adopted: true, ..CreatedPool::default()
            });
        }
        let spec = spec_of(&ports, &tags);
        let certs = Certificates { desired: desired_certs(&spec, "1"), observed: vec![foreign_cert()] };
        let p = plan_with_certificates(&spec, &status, Some(&foreign), Some(&certs), CLUSTER);
        deletes_only_created(&p, &status).unwrap();
        let down = plan_teardown(&status, Some(&foreign), CLUSTER);
        let deletes = down.ops.iter().any(|o| matches!(o,
            CloudOp::DeleteListener { .. } | CloudOp::DeletePool { .. } | CloudOp::DeleteLoadBalancer { .. }
            | CloudOp::DeletePolicy { .. } | CloudOp::DeleteCertificate { .. }));
        prop_assert!(!deletes, "teardown deletes foreign objects: {:?}", down);
    }
}

#[test]
fn new_load_balancer_carries_its_first_listener_and_pool_inline() {
    let ports = [
        PortSpec {
            port: 80,
            udp: false,
            members: vec![1, 2],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
            ..PortSpec::default()
        },
        PortSpec {
            port: 81,
            udp: true,
            members: vec![1],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
            ..PortSpec::default()
        },
    ];
    let spec = spec_of(&ports, &BTreeMap::new());
    let p = plan(&spec, &LoadBalancerConfigStatus::default(), None, CLUSTER);
    let CloudOp::CreateLoadBalancer { request, .. } = &p.ops[0] else {
        panic!("{p:?}")
    };
    assert_eq!(request.listener.as_ref().unwrap().port, 80);
    assert_eq!(request.pool.as_ref().unwrap().members.len(), 2);
    assert_eq!(
        request
            .tags
            .get(crate::tags::CREATED_BY_CLUSTER)
            .map(String::as_str),
        Some(CLUSTER)
    );
    assert!(
        matches!(&p.ops[1], CloudOp::CreatePool { request, .. } if request.name == "pool_UDP_81")
    );
    assert!(matches!(&p.ops[2], CloudOp::CreateListener { request, .. } if request.port == 81));
    assert_eq!(p.ops.len(), 3);
}

#[test]
fn shared_load_balancer_keeps_foreign_listener_and_members_through_create_update_teardown() {
    let mut obs = foreign_lb();
    // A foreign member already sits in the pool our spec will adopt by name.
    obs.pools.push(Pool {
        id: "pool-prev".into(),
        name: "pool_TCP_80".into(),
        protocol: Some(PoolProtocol::Tcp),
        members: vec![member(50, 5000)],
        ..Pool::default()
    });
    let foreign_snapshot = foreign_lb();
    let mut status = LoadBalancerConfigStatus {
        load_balancer_id: Some("lb-shared".into()),
        adopted_load_balancer_id: Some("lb-shared".into()),
        ..LoadBalancerConfigStatus::default()
    };
    let mut seed = 0;
    let mk = |members: Vec<u8>| {
        spec_of(
            &[PortSpec {
                port: 80,
                udp: false,
                members,
                algorithm: 1,
                interval: 6,
                timeout_client: 41,
                cidr: 1,
                ..PortSpec::default()
            }],
            &crate::tags::cluster_tags(CLUSTER, "net-1"),
        )
    };
    // Create.
    let obs1 = step(Some(obs), &mut status, &mk(vec![1, 2]), &mut seed);
    assert_foreign_kept(&obs1, &foreign_snapshot);
    let pool = obs1.pools.iter().find(|p| p.name == "pool_TCP_80").unwrap();
    assert!(
        pool.members.contains(&member(50, 5000)),
        "foreign member kept on create"
    );
    // Update: members change.
    let obs2 = step(Some(obs1), &mut status, &mk(vec![3]), &mut seed);
    assert_foreign_kept(&obs2, &foreign_snapshot);
    let pool = obs2.pools.iter().find(|p| p.name == "pool_TCP_80").unwrap();
    assert!(
        pool.members.contains(&member(50, 5000)),
        "foreign member kept on update"
    );
    assert!(!pool.members.contains(&member(1, 30080)));
    // Teardown.
    let down = plan_teardown(&status, Some(&obs2), CLUSTER);
    assert!(
        !down
            .ops
            .iter()
            .any(|o| matches!(o, CloudOp::DeleteLoadBalancer { .. }))
    );
    let obs3 = simulate(Some(obs2), &mut status, &down, &mut seed).expect("shared LB survives");
    assert_foreign_kept(&obs3, &foreign_snapshot);
    assert!(obs3.listeners.iter().all(|l| l.port != 80));
    assert_eq!(
        obs3.lb.tags.get("owner").map(String::as_str),
        Some("someone-else")
    );
    assert!(!obs3.lb.tags.contains_key(crate::tags::CLUSTER_IDS));
}

/// A spec with one TCP port 80 whose pool has node members (NodePort 30080) resolved to
/// `members`.
fn on_nodes(members: Vec<u8>) -> LoadBalancerConfigSpec {
    spec_of(
        &[PortSpec {
            port: 80,
            members,
            on_nodes: true,
            ..PortSpec::default()
        }],
        &crate::tags::cluster_tags(CLUSTER, "net-1"),
    )
}

fn pool_80(obs: &mut Observed) -> &mut Pool {
    obs.pools
        .iter_mut()
        .find(|p| p.name == "pool_TCP_80")
        .expect("pool of port 80")
}

#[test]
fn node_members_of_a_created_pool_are_recorded_by_port_and_a_leaving_node_goes() {
    let (mut status, mut seed) = (LoadBalancerConfigStatus::default(), 0);
    let mut obs = step(None, &mut status, &on_nodes(vec![1, 2, 3]), &mut seed);
    assert_eq!(status.created_pools.len(), 1);
    let record = &status.created_pools[0];
    assert!(record.created_members.is_empty(), "{record:?}");
    assert_eq!(record.node_port, Some(30080));
    assert_eq!(pool_80(&mut obs).members.len(), 3);
    // Someone adds a member on another port to our pool: it is not ours.
    pool_80(&mut obs).members.push(member(60, 9000));
    // Node 3 leaves.
    let mut obs = step(Some(obs), &mut status, &on_nodes(vec![1, 2]), &mut seed);
    assert_eq!(
        sorted(pool_80(&mut obs).members.clone()),
        sorted(vec![member(1, 30080), member(2, 30080), member(60, 9000)])
    );
    assert!(status.created_pools[0].created_members.is_empty());
}

#[test]
fn node_members_in_an_adopted_pool_are_listed_so_others_on_the_same_port_stay() {
    let mut obs = foreign_lb();
    // Another cluster's node sits in the pool on the very same port.
    obs.pools.push(Pool {
        id: "pool-adopted".into(),
        name: "pool_TCP_80".into(),
        protocol: Some(PoolProtocol::Tcp),
        members: vec![member(70, 30080)],
        ..Pool::default()
    });
    let mut status = LoadBalancerConfigStatus {
        load_balancer_id: Some("lb-shared".into()),
        adopted_load_balancer_id: Some("lb-shared".into()),
        created_pools: vec![CreatedPool {
            id: "pool-adopted".into(),
            name: "pool_TCP_80".into(),
            adopted: true,
            ..CreatedPool::default()
        }],
        ..LoadBalancerConfigStatus::default()
    };
    let mut seed = 0;
    let mut obs = step(Some(obs), &mut status, &on_nodes(vec![1, 2]), &mut seed);
    let record = status
        .created_pools
        .iter()
        .find(|r| r.id == "pool-adopted")
        .unwrap();
    assert_eq!(record.node_port, None);
    assert_eq!(record.created_members, [member(1, 30080), member(2, 30080)]);
    assert!(pool_80(&mut obs).members.contains(&member(70, 30080)));
    // Node 2 leaves: only it goes.
    let mut obs = step(Some(obs), &mut status, &on_nodes(vec![1]), &mut seed);
    assert_eq!(
        sorted(pool_80(&mut obs).members.clone()),
        sorted(vec![member(1, 30080), member(70, 30080)])
    );
    // Teardown leaves the other cluster's member.
    let down = plan_teardown(&status, Some(&obs), CLUSTER);
    let mut obs = simulate(Some(obs), &mut status, &down, &mut seed).expect("LB survives");
    assert_eq!(pool_80(&mut obs).members, [member(70, 30080)]);
}

#[test]
fn a_status_listing_node_members_one_by_one_moves_to_the_port_record() {
    let (mut status, mut seed) = (LoadBalancerConfigStatus::default(), 0);
    let obs = step(None, &mut status, &on_nodes(vec![1, 2]), &mut seed);
    // As an older version recorded it: every member listed, no port.
    status.created_pools[0].node_port = None;
    status.created_pools[0].created_members = vec![member(1, 30080), member(2, 30080)];
    let mut obs = step(Some(obs), &mut status, &on_nodes(vec![1]), &mut seed);
    assert_eq!(pool_80(&mut obs).members, [member(1, 30080)]);
    let record = &status.created_pools[0];
    assert_eq!(
        (record.created_members.len(), record.node_port),
        (0, Some(30080))
    );
}

#[test]
fn listener_port_taken_by_a_foreign_protocol_is_a_conflict() {
    let obs = foreign_lb();
    let mut spec = spec_of(
        &[PortSpec {
            port: 9000,
            udp: true,
            members: vec![],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
            ..PortSpec::default()
        }],
        &BTreeMap::new(),
    );
    spec.listeners[0].protocol_port = 9000;
    let p = plan(
        &spec,
        &LoadBalancerConfigStatus::default(),
        Some(&obs),
        CLUSTER,
    );
    assert_eq!(p.conflicts.len(), 1, "{p:?}");
    assert!(p.conflicts[0].contains("9000"));
    assert!(
        !p.ops
            .iter()
            .any(|o| matches!(o, CloudOp::DeleteListener { .. }))
    );
}

#[test]
fn adopted_listener_gets_its_original_default_pool_back() {
    let mut obs = foreign_lb();
    obs.listeners[0].port = 80;
    let spec = spec_of(
        &[PortSpec {
            port: 80,
            udp: false,
            members: vec![1],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
            ..PortSpec::default()
        }],
        &BTreeMap::new(),
    );
    let mut status = LoadBalancerConfigStatus::default();
    let mut seed = 0;
    let obs1 = step(Some(obs), &mut status, &spec, &mut seed);
    let l = obs1
        .listeners
        .iter()
        .find(|l| l.id == "listener-foreign")
        .unwrap();
    assert_ne!(l.default_pool_id.as_deref(), Some("pool-foreign"));
    assert!(
        status
            .created_listeners
            .iter()
            .any(|r| r.adopted && r.id == "listener-foreign")
    );
    let down = plan_teardown(&status, Some(&obs1), CLUSTER);
    let obs2 = simulate(Some(obs1), &mut status, &down, &mut seed).unwrap();
    let l = obs2
        .listeners
        .iter()
        .find(|l| l.id == "listener-foreign")
        .expect("never deleted");
    assert_eq!(l.default_pool_id.as_deref(), Some("pool-foreign"));
}

#[test]
fn cloud_defaults_on_members_and_health_monitor_cause_no_update() {
    let spec = spec_of(
        &[PortSpec {
            port: 80,
            udp: false,
            members: vec![1],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
            ..PortSpec::default()
        }],
        &BTreeMap::new(),
    );
    let mut status = LoadBalancerConfigStatus::default();
    let p = plan(&spec, &status, None, CLUSTER);
    let mut obs = simulate(None, &mut status, &p, &mut 0).unwrap();
    // The cloud answers with its own defaults filled in.
    for pool in &mut obs.pools {
        pool.health_monitor.healthy_threshold = Some(3);
        pool.health_monitor.health_check_method = Some(crate::model::HealthCheckMethod::Get);
        for m in &mut pool.members {
            m.weight = Some(1);
            m.backup = Some(false);
        }
    }
    let again = plan(&spec, &status, Some(&obs), CLUSTER);
    assert!(again.is_empty(), "{again:?}");
}

/// Position of the first op matching `f`.
fn pos(p: &Plan, f: impl Fn(&CloudOp) -> bool) -> usize {
    p.ops.iter().position(f).expect("op present")
}

#[test]
fn l7_changes_follow_the_go_order_certificates_first_redundant_certificates_after_pools() {
    let https = |port: u16, cert: u8, policies: Vec<PolicyGen>| PortSpec {
        port,
        members: vec![1],
        interval: 5,
        timeout_client: 40,
        l7: 2,
        cert,
        policies,
        ..PortSpec::default()
    };
    let pol = |name: u8, action: u8| PolicyGen {
        name,
        action,
        positioned: true,
        rule: 0,
    };
    let spec1 = spec_of(
        &[
            https(443, 0, vec![pol(0, 1)]),
            https(444, 0, vec![pol(1, 0)]),
        ],
        &BTreeMap::new(),
    );
    let mut status = LoadBalancerConfigStatus::default();
    let mut certs = vec![foreign_cert()];
    let mut seed = 0;
    let input = Certificates {
        desired: desired_certs(&spec1, "1"),
        observed: certs.clone(),
    };
    let p = plan_with_certificates(&spec1, &status, None, Some(&input), CLUSTER);
    let cert = pos(&p, |o| matches!(o, CloudOp::CreateCertificate { .. }));
    let lb = pos(&p, |o| matches!(o, CloudOp::CreateLoadBalancer { .. }));
    let listener = pos(&p, |o| matches!(o, CloudOp::CreateListener { .. }));
    let policy = pos(&p, |o| matches!(o, CloudOp::CreatePolicy { .. }));
    assert!(cert < lb && lb < listener && listener < policy, "{p:?}");
    let CloudOp::CreateLoadBalancer { request, .. } = &p.ops[lb] else {
        unreachable!()
    };
    assert!(
        request.listener.is_none(),
        "a listener waiting for an imported certificate is not created inline"
    );
    let obs = step_with_certificates(None, &mut certs, &mut status, &spec1, "1", &mut seed);
    assert_eq!(status.created_certificates.len(), 1);
    assert_eq!(
        status
            .created_listeners
            .iter()
            .map(|l| l.created_policies.len())
            .sum::<usize>(),
        2
    );

    // Port 444 goes, the secret is rotated: the new certificate is imported first, the
    // listener and its policy are deleted, then its pool, then the old certificate.
    let spec2 = spec_of(&[https(443, 0, vec![pol(0, 1)])], &BTreeMap::new());
    let input = Certificates {
        desired: desired_certs(&spec2, "2"),
        observed: certs.clone(),
    };
    let p = plan_with_certificates(&spec2, &status, Some(&obs), Some(&input), CLUSTER);
    let create_cert = pos(&p, |o| matches!(o, CloudOp::CreateCertificate { .. }));
    let update_listener = pos(&p, |o| matches!(o, CloudOp::UpdateListener { .. }));
    let delete_listener = pos(&p, |o| matches!(o, CloudOp::DeleteListener { .. }));
    let delete_pool = pos(&p, |o| matches!(o, CloudOp::DeletePool { .. }));
    let delete_cert = pos(&p, |o| matches!(o, CloudOp::DeleteCertificate { .. }));
    assert!(create_cert < update_listener && update_listener < delete_listener);
    assert!(
        delete_listener < delete_pool && delete_pool < delete_cert,
        "{p:?}"
    );
    step_with_certificates(Some(obs), &mut certs, &mut status, &spec2, "2", &mut seed);
}

#[test]
fn policy_position_change_is_an_update_and_foreign_policies_on_an_adopted_listener_stay() {
    // Our HTTP listener lands on the foreign listener's port: it is adopted.
    let mut obs = foreign_lb();
    obs.listeners[0].port = 80;
    obs.listeners[0].protocol = Some(ListenerProtocol::Http);
    let port80 = |positioned: bool| PortSpec {
        port: 80,
        members: vec![1],
        interval: 5,
        timeout_client: 40,
        l7: 1,
        policies: vec![
            PolicyGen {
                name: 1,
                action: 2,
                positioned,
                rule: 1,
            },
            PolicyGen {
                name: 2,
                action: 0,
                positioned,
                rule: 2,
            },
        ],
        ..PortSpec::default()
    };
    let mut status = LoadBalancerConfigStatus::default();
    let mut seed = 0;
    let obs1 = step(
        Some(obs),
        &mut status,
        &spec_of(&[port80(false)], &BTreeMap::new()),
        &mut seed,
    );
    let record = status
        .created_listeners
        .iter()
        .find(|r| r.id == "listener-foreign")
        .expect("adopted");
    assert!(record.adopted);
    assert_eq!(record.created_policies.len(), 2);

    // Positions are now asked for: the policies are updated, nothing is re-created.
    let spec = spec_of(&[port80(true)], &BTreeMap::new());
    let p = plan(&spec, &status, Some(&obs1), CLUSTER);
    assert!(
        p.ops
            .iter()
            .all(|o| matches!(o, CloudOp::UpdatePolicy { .. })),
        "{p:?}"
    );
    let obs2 = step(Some(obs1), &mut status, &spec, &mut seed);

    // Teardown: our policies go, the foreign one and the listener stay.
    let down = plan_teardown(&status, Some(&obs2), CLUSTER);
    deletes_only_created(&down, &status).unwrap();
    let obs3 = simulate(Some(obs2), &mut status, &down, &mut seed).expect("shared LB survives");
    let left = &obs3.policies["listener-foreign"];
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "policy-foreign");
    let l = &obs3.listeners[0];
    assert_eq!(l.default_pool_id.as_deref(), Some("pool-foreign"));
}

#[test]
fn missing_certificate_leaves_the_listener_alone_and_is_reported() {
    let mut ports = vec![PortSpec {
        port: 443,
        members: vec![1],
        interval: 5,
        timeout_client: 40,
        l7: 2,
        cert: 3,
        ..PortSpec::default()
    }];
    let spec = spec_of(&ports, &BTreeMap::new());
    let old_cert = Certificate {
        id: "cert-old".into(),
        name: format!("{OUR_CERT}old"),
        ..Certificate::default()
    };
    let empty = Certificates {
        desired: Vec::new(),
        observed: vec![old_cert.clone()],
    };
    let status = LoadBalancerConfigStatus {
        created_certificates: vec![CreatedCertificate {
            id: old_cert.id.clone(),
            ..CreatedCertificate::default()
        }],
        ..LoadBalancerConfigStatus::default()
    };
    let p = plan_with_certificates(&spec, &status, None, Some(&empty), CLUSTER);
    assert_eq!(p.unresolved.len(), 1, "{p:?}");
    assert!(
        !p.ops
            .iter()
            .any(|o| matches!(o, CloudOp::DeleteCertificate { .. })),
        "an old certificate may still be in use by the listener left alone"
    );
    assert!(p.unresolved[0].contains("foreign-cert") && p.unresolved[0].contains("443"));
    assert!(
        !p.ops
            .iter()
            .any(|o| matches!(o, CloudOp::CreateListener { .. }))
    );
    // A secret that is not imported cannot be resolved either.
    ports[0].cert = 0;
    let mut spec = spec_of(&ports, &BTreeMap::new());
    spec.create_certificates.clear();
    let p = plan_with_certificates(
        &spec,
        &LoadBalancerConfigStatus::default(),
        None,
        Some(&empty),
        CLUSTER,
    );
    assert!(p.unresolved[0].contains("tls-a"), "{:?}", p.unresolved);
}

#[test]
fn certificate_requests_never_show_the_private_key_in_debug_output() {
    let d = &desired_certs(
        &spec_of(
            &[PortSpec {
                l7: 2,
                ..PortSpec::default()
            }],
            &BTreeMap::new(),
        ),
        "1",
    )[0];
    let text = format!("{d:?}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(text.contains("redacted"));
}

/// Port 53 over TCP or UDP, one member.
fn dns_port(udp: bool) -> PortSpec {
    PortSpec {
        port: 53,
        udp,
        members: vec![1],
        interval: 5,
        timeout_client: 40,
        ..PortSpec::default()
    }
}

/// Issue #22 item 2 (DNS on 53): TCP and UDP listeners asking the same port switched the
/// port's listener between the protocols at every reconcile. VNGCloud holds one protocol per
/// port (the Go controller refuses the LBC: lbc_uc/validate.go validateSelfListenerPorts,
/// validate_test.go "same port different protocols"): one is deployed, the other is a
/// conflict of every plan, and the plans after converging change nothing.
#[test]
fn tcp_and_udp_on_the_same_port_deploy_one_listener_and_report_the_other_without_flapping() {
    let spec = spec_of(&[dns_port(false), dns_port(true)], &BTreeMap::new());
    assert_eq!(spec.listeners.len(), 2);
    let mut status = LoadBalancerConfigStatus::default();
    let mut seed = 0;
    let p = plan(&spec, &status, None, CLUSTER);
    assert_eq!(p.conflicts.len(), 1, "{p:?}");
    assert!(p.conflicts[0].contains("port 53"), "{}", p.conflicts[0]);
    let creates = |p: &Plan| {
        p.ops
            .iter()
            .filter(|o| matches!(o, CloudOp::CreateLoadBalancer { request, .. } if request.listener.is_some())
                || matches!(o, CloudOp::CreateListener { .. }))
            .count()
    };
    assert_eq!(creates(&p), 1, "one listener for port 53: {p:?}");
    let pools = p
        .ops
        .iter()
        .filter(|o| {
            matches!(o, CloudOp::CreateLoadBalancer { request, .. } if request.pool.is_some())
                || matches!(o, CloudOp::CreatePool { .. })
        })
        .count();
    assert_eq!(
        pools, 1,
        "the refused listener's pool is not created either: {p:?}"
    );
    let mut obs = simulate(None, &mut status, &p, &mut seed).expect("created");
    let served = obs.listeners[0].protocol;
    for _ in 0..3 {
        let again = plan(&spec, &status, Some(&obs), CLUSTER);
        assert!(again.ops.is_empty(), "no flapping: {again:?}");
        assert_eq!(again.conflicts.len(), 1);
        obs = simulate(Some(obs), &mut status, &again, &mut seed).expect("still there");
        assert_eq!(obs.listeners.len(), 1);
        assert_eq!(obs.listeners[0].protocol, served);
    }
}

/// Adding UDP 53 beside a serving TCP 53 (or the other way round) never takes the serving
/// listener away, whatever the order of the spec.
#[test]
fn a_second_protocol_on_a_serving_port_keeps_the_serving_listener() {
    for serving_udp in [false, true] {
        let mut status = LoadBalancerConfigStatus::default();
        let mut seed = 0;
        let first = spec_of(&[dns_port(serving_udp)], &BTreeMap::new());
        let obs = step(None, &mut status, &first, &mut seed);
        let both = spec_of(&[dns_port(false), dns_port(true)], &BTreeMap::new());
        let p = plan(&both, &status, Some(&obs), CLUSTER);
        assert_eq!(p.conflicts.len(), 1, "{p:?}");
        assert!(
            !p.ops.iter().any(|o| matches!(
                o,
                CloudOp::DeleteListener { .. } | CloudOp::CreateListener { .. }
            )),
            "serving udp={serving_udp}: {p:?}"
        );
    }
}
