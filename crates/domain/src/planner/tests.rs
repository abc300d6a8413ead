use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{
    HealthCheckProtocol, HealthMonitor, ListenerProtocol, LoadBalancerConfigSpec, PoolAlgorithm,
    PoolProtocol,
};

const CLUSTER: &str = "cluster-1";

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

/// A foreign listener and pool on a shared load balancer, with a foreign tag.
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
    }
}

#[derive(Debug, Clone)]
struct PortSpec {
    port: u16,
    udp: bool,
    members: Vec<u8>,
    algorithm: u8,
    interval: u32,
    timeout_client: u32,
    cidr: u8,
}

fn spec_of(ports: &[PortSpec], tags: &BTreeMap<String, String>) -> LoadBalancerConfigSpec {
    let mut spec = LoadBalancerConfigSpec {
        load_balancer_name: "vks_lb".into(),
        subnet_id: "sub-1".into(),
        tags: tags.clone(),
        ..LoadBalancerConfigSpec::default()
    };
    for p in ports {
        let (lp, pp, hp) = if p.udp {
            (
                ListenerProtocol::Udp,
                PoolProtocol::Udp,
                HealthCheckProtocol::PingUdp,
            )
        } else {
            (
                ListenerProtocol::Tcp,
                PoolProtocol::Tcp,
                HealthCheckProtocol::Tcp,
            )
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
        });
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
            policies: Vec::new(),
            certificate_default: None,
            certificate_authorities: Vec::new(),
            client_certificate_id: None,
        });
    }
    spec
}

fn port_specs() -> impl Strategy<Value = Vec<PortSpec>> {
    proptest::collection::btree_map(
        80u16..88,
        (
            any::<bool>(),
            proptest::collection::btree_set(1u8..7, 0..4),
            0u8..3,
            5u32..8,
            40u32..43,
            0u8..2,
        ),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(
                |(port, (udp, members, algorithm, interval, timeout_client, cidr))| PortSpec {
                    port,
                    udp,
                    members: members.into_iter().collect(),
                    algorithm,
                    interval,
                    timeout_client,
                    cidr,
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

/// The cloud matches `spec`, and `foreign` (listeners, pools, tags) is intact.
fn assert_converged(obs: &Observed, spec: &LoadBalancerConfigSpec, foreign: Option<&Observed>) {
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
    for want in &spec.listeners {
        let have = obs
            .listeners
            .iter()
            .find(|l| l.port == want.protocol_port)
            .expect("listener");
        assert_eq!(have.protocol, Some(want.protocol));
        assert_eq!(Some(have.timeout_client), want.timeout_client);
        assert_eq!(Some(&have.allowed_cidrs), want.allowed_cidrs.as_ref());
        let pool = obs
            .pools
            .iter()
            .find(|p| Some(&p.name) == want.default_pool_name.as_ref());
        assert_eq!(have.default_pool_id, pool.map(|p| p.id.clone()));
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
    for (k, v) in &f.lb.tags {
        assert_eq!(obs.lb.tags.get(k), Some(v), "foreign tag {k} lost");
    }
}

/// Plans `spec`, checks the deletes, applies, and checks that planning again is empty.
fn step(
    obs: Option<Observed>,
    status: &mut LoadBalancerConfigStatus,
    spec: &LoadBalancerConfigSpec,
    seed: &mut u64,
) -> Observed {
    let p = plan(spec, status, obs.as_ref(), CLUSTER);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    deletes_only_created(&p, status).unwrap();
    let obs = simulate(obs, status, &p, seed).expect("load balancer exists");
    let again = plan(spec, status, Some(&obs), CLUSTER);
    assert!(again.is_empty(), "second plan not empty: {again:?}");
    obs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_the_plan_reaches_the_desired_state_and_replanning_is_empty(
        shared in any::<bool>(), first in port_specs(), second in port_specs(),
        t1 in tag_sets(), t2 in tag_sets(), intruder in any::<bool>(),
    ) {
        let foreign = shared.then(foreign_lb);
        let mut status = LoadBalancerConfigStatus::default();
        if shared {
            status.load_balancer_id = Some("lb-shared".into());
            status.adopted_load_balancer_id = Some("lb-shared".into());
        }
        let mut seed = 0;
        let spec1 = spec_of(&first, &t1);
        let mut obs = step(foreign.clone(), &mut status, &spec1, &mut seed);
        assert_converged(&obs, &spec1, foreign.as_ref());

        // Someone adds a member to one of our pools out of band: it must be kept.
        let mut intruders = Vec::new();
        if intruder && let Some(p) = obs.pools.iter_mut().find(|p| p.name.starts_with("pool_")) {
            p.members.push(member(200, 1234));
            intruders.push((p.name.clone(), member(200, 1234)));
        }

        let spec2 = spec_of(&second, &t2);
        let obs2 = step(Some(obs), &mut status, &spec2, &mut seed);
        assert_converged(&obs2, &spec2, foreign.as_ref());
        for (pool, m) in &intruders {
            if let Some(p) = obs2.pools.iter().find(|p| &p.name == pool) {
                prop_assert!(p.members.contains(m), "foreign member dropped");
            }
        }

        let down = plan_teardown(&status, Some(&obs2), CLUSTER);
        deletes_only_created(&down, &status).unwrap();
        let after = simulate(Some(obs2), &mut status, &down, &mut seed);
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
        let p = plan(&spec, &status, Some(&foreign), CLUSTER);
        deletes_only_created(&p, &status).unwrap();
        let down = plan_teardown(&status, Some(&foreign), CLUSTER);
        let deletes = down.ops.iter().any(|o| matches!(o,
            CloudOp::DeleteListener { .. } | CloudOp::DeletePool { .. } | CloudOp::DeleteLoadBalancer { .. }));
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
        },
        PortSpec {
            port: 81,
            udp: true,
            members: vec![1],
            algorithm: 0,
            interval: 5,
            timeout_client: 40,
            cidr: 0,
        },
    ];
    let spec = spec_of(&ports, &BTreeMap::new());
    let p = plan(&spec, &LoadBalancerConfigStatus::default(), None, CLUSTER);
    let CloudOp::CreateLoadBalancer { request } = &p.ops[0] else {
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
    assert!(matches!(&p.ops[1], CloudOp::CreatePool { request } if request.name == "pool_UDP_81"));
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
