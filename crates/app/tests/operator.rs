//! The embedded operator against both emulators: convergence, one watch per kind, leader
//! election (only the leader reconciles, failover after a crash, handover on shutdown).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use vlb_app::embedded::{Operator, OperatorConfig};
use vlb_demo as demo;
use vlb_kube_emulator::{KubeEmulator, Verb};
use vlb_vngcloud_emulator::VngEmulator;

struct Env {
    kube: KubeEmulator,
    cloud: VngEmulator,
}

/// Both emulators, the CRDs, the demo's nodes and sample Services.
async fn env() -> Env {
    let kube = KubeEmulator::start().await.unwrap();
    let cloud = VngEmulator::start().await.unwrap();
    demo::seed(&kube.client(), &demo::demo_servers(&cloud))
        .await
        .unwrap();
    Env { kube, cloud }
}

impl Env {
    fn config(&self) -> OperatorConfig {
        OperatorConfig::for_tests("c1", demo::cloud_config(&self.cloud))
    }

    fn elected(&self) -> OperatorConfig {
        OperatorConfig {
            leader_election: true,
            ..self.config()
        }
    }

    async fn converged(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = demo::observe(&self.kube.client()).await.unwrap();
            if demo::converged(&rows) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not converged:\n{}",
                demo::render(&rows)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn lease_holder(&self) -> Option<String> {
        let leases: kube::Api<Lease> = kube::Api::namespaced(self.kube.client(), "default");
        leases
            .get_opt(&vlb_app::leader::go_lease_name("c1"))
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }
}

async fn until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sum of the samples of `metric` with a label set containing `labels`.
fn sample(text: &str, metric: &str, labels: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_operator_converges_the_sample_services_watching_each_kind_once() {
    let env = env().await;
    let operator = Operator::start(env.kube.client(), env.config())
        .await
        .unwrap();
    assert!(
        operator.is_leader(),
        "without election it reconciles at once"
    );
    env.converged(Duration::from_secs(30)).await;
    // Every valid Service's security group is attached to every node's server (NSG
    // reconciles of several Services touch the same servers).
    let control = env.cloud.control();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ours: Vec<String> = control
            .security_groups()
            .into_iter()
            .filter(|g| g.name.starts_with("vks-"))
            .map(|g| g.id)
            .collect();
        let servers = control.servers();
        let attached = servers
            .iter()
            .all(|s| ours.iter().all(|g| s.security_groups.contains(g)));
        if ours.len() == 3 && attached {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "security groups {ours:?}, servers {:?}",
            servers
                .iter()
                .map(|s| (&s.name, &s.security_groups))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Converged means quiet: pending requeues and the LBC status echoes that reach the
    // Services write nothing more, to Kubernetes or to the cloud.
    let journal = env.kube.journal();
    let writes = |j: &vlb_kube_emulator::Journal| {
        j.count(|e| {
            e.changed
                && matches!(
                    e.verb,
                    Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
                )
        })
    };
    let cloud_writes = || {
        env.cloud
            .control()
            .journal()
            .iter()
            .filter(|e| e.method != "GET" && !e.template.contains("auth/token"))
            .count()
    };
    let (kube_before, cloud_before) = (writes(&journal), cloud_writes());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cloud_writes(),
        cloud_before,
        "cloud writes after convergence"
    );
    assert_eq!(
        writes(&journal),
        kube_before,
        "kubernetes writes after convergence"
    );

    for kind in [
        "services",
        "nodes",
        "endpointslices",
        "loadbalancerconfigs",
        "nodesecuritygroups",
    ] {
        assert_eq!(
            journal.count_verb(Verb::Watch, kind),
            1,
            "{kind} must be watched exactly once"
        );
    }
    let text = operator.metrics_text();
    assert!(
        sample(
            &text,
            "controller_runtime_reconcile_total",
            "controller=\"service\",result=\"success\""
        ) > 0,
        "{text}"
    );
    assert!(text.contains("vngcloud_requests_total{"), "{text}");
    assert!(text.contains("vlb_leader 1"), "{text}");
    operator.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_standby_takes_over_after_a_crash() {
    let env = env().await;
    let first_config = env.elected();
    let first_id = first_config.identity.clone();
    let first = Operator::start(env.kube.client(), first_config)
        .await
        .unwrap();
    until("the first replica leads", Duration::from_secs(10), || {
        first.is_leader()
    })
    .await;
    let second_config = env.elected();
    let second_id = second_config.identity.clone();
    let second = Operator::start(env.kube.client(), second_config)
        .await
        .unwrap();
    env.converged(Duration::from_secs(30)).await;

    assert!(first.is_leader());
    assert!(!second.is_leader());
    assert_eq!(env.lease_holder().await.as_deref(), Some(first_id.as_str()));
    let standby = second.metrics_text();
    assert_eq!(
        sample(&standby, "controller_runtime_reconcile_total", ""),
        0,
        "the standby must not reconcile:\n{standby}"
    );
    assert!(standby.contains("vlb_leader 0"), "{standby}");
    assert!(
        sample(
            &first.metrics_text(),
            "controller_runtime_reconcile_total",
            ""
        ) > 0
    );

    // A crash: the lease is not released; the standby takes over when it expires.
    first.abort();
    until(
        "the standby takes over within the lease time",
        Duration::from_secs(15),
        || second.is_leader(),
    )
    .await;
    assert_eq!(
        env.lease_holder().await.as_deref(),
        Some(second_id.as_str())
    );
    until(
        "the new leader reconciles every object again",
        Duration::from_secs(10),
        || {
            sample(
                &second.metrics_text(),
                "controller_runtime_reconcile_total",
                "controller=\"service\"",
            ) > 0
        },
    )
    .await;
    env.converged(Duration::from_secs(10)).await;
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_the_lease() {
    let env = env().await;
    let config = env.elected();
    let id = config.identity.clone();
    let operator = Operator::start(env.kube.client(), config).await.unwrap();
    until("it leads", Duration::from_secs(10), || operator.is_leader()).await;
    assert_eq!(env.lease_holder().await.as_deref(), Some(id.as_str()));
    operator.shutdown().await.unwrap();
    assert_eq!(
        env.lease_holder().await,
        None,
        "the lease is released on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_sets_cluster_role_is_all_the_operator_needs() {
    let env = env().await;
    env.kube
        .set_authorizer_rules(vlb_k8s_adapter::cluster_role().rules);
    let operator = Operator::start(env.kube.client(), env.elected())
        .await
        .unwrap();
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(env.kube.client(), demo::NAMESPACE);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for name in ["web-tcp", "dns-udp", "two-ports"] {
        loop {
            let svc = services.get(name).await.unwrap();
            let ingress = svc
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .unwrap_or_default();
            if !ingress.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} got no address"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let forbidden: Vec<String> = env
        .kube
        .journal()
        .entries()
        .iter()
        .filter(|e| e.status == 403)
        .map(|e| format!("{:?} {}/{}", e.verb, e.group, e.resource))
        .collect();
    assert!(forbidden.is_empty(), "forbidden calls: {forbidden:?}");
    operator.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_of_another_load_balancer_class_are_left_alone() {
    use k8s_openapi::api::core::v1::Service;
    let env = env().await;
    let services: kube::Api<Service> = kube::Api::namespaced(env.kube.client(), demo::NAMESPACE);
    let mut foreign = demo::services().remove(0);
    foreign.metadata.name = Some("foreign".into());
    foreign.spec.as_mut().unwrap().load_balancer_class = Some("example.com/other-lb".into());
    if let Some(ports) = foreign.spec.as_mut().unwrap().ports.as_mut() {
        ports[0].node_port = Some(30099);
    }
    services
        .create(&kube::api::PostParams::default(), &foreign)
        .await
        .unwrap();
    let operator = Operator::start(env.kube.client(), env.config())
        .await
        .unwrap();
    // Every Service was reconciled at start: ours converge; the foreign one is untouched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = demo::observe(&env.kube.client()).await.unwrap();
        let ours: Vec<_> = rows
            .into_iter()
            .filter(|r| r.service != "foreign")
            .collect();
        if demo::converged(&ours) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            demo::render(&ours)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let svc = services.get("foreign").await.unwrap();
    assert!(svc.metadata.finalizers.unwrap_or_default().is_empty());
    assert!(
        svc.status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .unwrap_or_default()
            .is_empty()
    );
    let lbcs: kube::Api<vlb_k8s_adapter::LoadBalancerConfig> =
        kube::Api::namespaced(env.kube.client(), demo::NAMESPACE);
    assert!(lbcs.get_opt("foreign").await.unwrap().is_none());
    operator.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_node_changes_costs_one_member_update_per_pool() {
    use k8s_openapi::api::core::v1::Node;
    let env = env().await;
    let config = OperatorConfig {
        debounce: Duration::from_secs(1),
        ..env.config()
    };
    let operator = Operator::start(env.kube.client(), config).await.unwrap();
    env.converged(Duration::from_secs(30)).await;
    let control = env.cloud.control();
    let pools = || -> Vec<(String, usize)> {
        control
            .load_balancers()
            .into_iter()
            .flat_map(|lb| lb.pools)
            .map(|p| (p.id, p.members.len()))
            .collect()
    };
    assert_eq!(pools().len(), 4, "one pool per port: {:?}", pools());
    assert!(pools().iter().all(|(_, n)| *n == 3), "{:?}", pools());
    control.clear_journal();

    // A rolling upgrade: two nodes go NotReady one right after the other.
    let nodes: kube::Api<Node> = kube::Api::all(env.kube.client());
    let not_ready = serde_json::json!({
        "status": { "conditions": [{ "type": "Ready", "status": "False" }] }
    });
    for name in ["worker-1", "worker-2"] {
        nodes
            .patch_status(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&not_ready),
            )
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pools().iter().all(|(_, n)| *n == 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "members not updated: {:?}",
            pools()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut puts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for e in control.journal() {
        if e.method == "PUT" && e.template.ends_with("/members") && e.status < 300 {
            *puts.entry(e.path).or_default() += 1;
        }
    }
    assert_eq!(puts.len(), 4, "{puts:?}");
    assert!(puts.values().all(|n| *n == 1), "one PUT per pool: {puts:?}");
    operator.shutdown().await.unwrap();
}

/// Rollout over the Go controller (issue #17): vlb takes the Go controller's Lease by
/// default (`n-<clusterID>-n.n--n.lbc.vks.vngcloud.vn`, its `cmd/main.go`), so while the Go
/// controller holds it, as client-go writes it, vlb stands by and reconciles nothing; vlb
/// leads only once the Go controller stopped renewing for its lease duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_the_go_controller_holds_keeps_vlb_standing_by_until_it_expires() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let env = env().await;
    let config = env.elected();
    assert_eq!(config.lease_name, "n-c1-n.n--n.lbc.vks.vngcloud.vn");
    let leases: kube::Api<Lease> = kube::Api::namespaced(env.kube.client(), "default");
    let go_duration = 8;
    let renewed = jiff::Timestamp::now();
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": config.lease_name},
        "spec": {
            "holderIdentity": "vngcloud-load-balancer-controller-manager-6c9d8_2f1e",
            "leaseDurationSeconds": go_duration,
            "acquireTime": MicroTime(renewed),
            "renewTime": MicroTime(renewed),
            "leaseTransitions": 4,
        },
    }))
    .unwrap();
    let pp = kube::api::PostParams {
        field_manager: Some("manager".into()),
        ..Default::default()
    };
    leases.create(&pp, &lease).await.unwrap();

    let id = config.identity.clone();
    let operator = Operator::start(env.kube.client(), config).await.unwrap();
    until(
        "vlb leads once the Go lease expired",
        Duration::from_secs(30),
        || {
            let text = operator.metrics_text();
            if !operator.is_leader() {
                assert_eq!(
                    sample(&text, "controller_runtime_reconcile_total", ""),
                    0,
                    "vlb must not reconcile while the Go controller leads:\n{text}"
                );
            }
            operator.is_leader()
        },
    )
    .await;
    let waited = jiff::Timestamp::now().duration_since(renewed);
    assert!(
        waited >= jiff::SignedDuration::from_secs(go_duration),
        "vlb led {waited:?} after the Go controller's last renewal, before its lease expired"
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some(id.as_str()));
    env.converged(Duration::from_secs(30)).await;
    operator.shutdown().await.unwrap();
}

// #15: a load balancer the cloud is still creating is waited for, not failed: the LBC's
// Ready condition says Provisioning (never ReconcileFailed), the Service's row shows it, and
// no reconcile of the LBC controller counts as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_load_balancer_is_creating_the_conditions_say_provisioning_not_failed() {
    let env = env().await;
    env.cloud
        .control()
        .set_delays(vlb_vngcloud_emulator::Delays {
            create_ms: 20_000,
            ..vlb_vngcloud_emulator::Delays::test()
        });
    let operator = Operator::start(env.kube.client(), env.config())
        .await
        .unwrap();
    let lbcs: kube::Api<vlb_k8s_adapter::LoadBalancerConfig> =
        kube::Api::namespaced(env.kube.client(), demo::NAMESPACE);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut provisioning = false;
    while !provisioning {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no LBC showed Provisioning:\n{}",
            demo::render(&demo::observe(&env.kube.client()).await.unwrap())
        );
        for lbc in lbcs.list(&kube::api::ListParams::default()).await.unwrap() {
            let name = lbc.metadata.name.clone().unwrap_or_default();
            let Some(ready) = lbc
                .status
                .iter()
                .flat_map(|s| s.conditions.iter())
                .find(|c| c.type_ == "Ready")
            else {
                continue;
            };
            assert_ne!(ready.reason, "ReconcileFailed", "{name}: {ready:?}");
            if ready.reason == "Provisioning" {
                assert!(ready.message.contains("CREATING"), "{name}: {ready:?}");
                provisioning = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every load balancer is still CREATING, and the table's rows say so plainly.
    assert!(
        env.cloud
            .control()
            .load_balancers()
            .iter()
            .all(|lb| lb.phase == vlb_vngcloud_emulator::LbPhase::Creating)
    );
    let rows = demo::observe(&env.kube.client()).await.unwrap();
    assert!(
        rows.iter().all(|r| !r.state.contains("ReconcileFailed")),
        "{}",
        demo::render(&rows)
    );
    let metrics = operator.metrics_text();
    assert_eq!(
        sample(
            &metrics,
            "controller_runtime_reconcile_errors_total",
            "controller=\"loadbalancerconfig\""
        ),
        0,
        "{metrics}"
    );
    operator.shutdown().await.unwrap();
}
