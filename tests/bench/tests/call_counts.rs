//! Exact call counts of the operator at small scale (issue 10, scenarios 1 and 3): a change
//! that adds a Kubernetes or cloud call fails these tests.
//!
//! Waiting: conditions are polled with deadlines ([`vlb_bench::wait_ready_by_list`] lists,
//! never GETs, so the GET counts are the operator's alone); quiescence is a bounded idle
//! window on both journals ([`vlb_bench::wait_idle`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use vlb_bench::{object_calls, wait_idle, wait_ready_by_list};
use vlb_tests::{Harness, Options, lb_service, reconciles};

const DEADLINE: Duration = Duration::from_secs(120);

fn five_ports() -> Vec<(String, String, i32)> {
    (0..5)
        .map(|i| (format!("p{i}"), "TCP".to_owned(), 8000 + i))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_port_service_converges_without_any_get_and_one_patch_per_changing_reconcile() {
    let h = Harness::start_with(Options::new("bench-s1")).await;
    let ports = five_ports();
    let ports: Vec<(&str, &str, i32)> = ports
        .iter()
        .map(|(n, p, port)| (n.as_str(), p.as_str(), *port))
        .collect();
    h.create_service(&lb_service("web", &ports, &[])).await;
    wait_ready_by_list(&h.client, &h.namespace, &["web".to_owned()], DEADLINE)
        .await
        .unwrap();
    wait_idle(&h, Duration::from_millis(1500), DEADLINE)
        .await
        .unwrap();

    let entries = h.kube.journal().entries();
    let lbc = object_calls(&entries, &h.namespace, "loadbalancerconfigs", "web");
    let svc = object_calls(&entries, &h.namespace, "services", "web");
    let op = h.operator();
    let svc_reconciles = usize::try_from(reconciles(op, "service")).unwrap();
    let lbc_reconciles = usize::try_from(reconciles(op, "loadbalancerconfig")).unwrap();
    eprintln!("service {svc:?} ({svc_reconciles} reconciles); lbc {lbc:?} ({lbc_reconciles})");

    // No GET of either object over the whole convergence: the operator reads its caches.
    assert_eq!(lbc.gets, 0, "GETs of the LBC: {lbc:?}");
    assert_eq!(svc.gets, 0, "GETs of the Service: {svc:?}");
    // Every write stored a change (no no-op PATCH reached the server).
    assert_eq!(lbc.unchanged_writes, 0, "no-op writes of the LBC: {lbc:?}");
    assert_eq!(
        svc.unchanged_writes, 0,
        "no-op writes of the Service: {svc:?}"
    );
    // At most one spec and one status PATCH per reconcile: the LBC spec is written by the
    // Service controller, its status by the LBC controller; the Service's status (address)
    // and metadata (finalizer) by the Service controller.
    assert!(
        lbc.spec_writes <= svc_reconciles,
        "{lbc:?} vs {svc_reconciles} Service reconciles"
    );
    assert!(
        lbc.status_patches <= lbc_reconciles,
        "{lbc:?} vs {lbc_reconciles} LBC reconciles"
    );
    assert!(svc.spec_writes <= svc_reconciles, "{svc:?}");
    assert!(svc.status_patches <= svc_reconciles, "{svc:?}");
    // Exactly: the LBC applied once and its status written once (the batcher's single
    // flush), the Service's finalizer added once and its address written once. A change
    // that adds a write fails here.
    assert_eq!((lbc.spec_writes, lbc.status_patches), (1, 1), "{lbc:?}");
    assert_eq!((svc.spec_writes, svc.status_patches), (1, 1), "{svc:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_over_twenty_converged_services_writes_nothing_and_reads_each_cloud_object_once() {
    let mut h = Harness::start_with(Options::new("bench-s3")).await;
    let names: Vec<String> = (0..20).map(|i| format!("svc-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let port = 9000 + i as i32;
        h.create_service(&lb_service(name, &[("http", "TCP", port)], &[]))
            .await;
    }
    wait_ready_by_list(&h.client, &h.namespace, &names, DEADLINE)
        .await
        .unwrap();
    wait_idle(&h, Duration::from_millis(1500), DEADLINE)
        .await
        .unwrap();

    // Re-reconcile everything: a fresh operator over converged state.
    h.stop_operator().await;
    let cloud_before = h.cloud_counts();
    let kube_before = h.kube_counts();
    h.start_operator().await;
    let op_reconciled = |h: &Harness| reconciles(h.operator(), "loadbalancerconfig");
    let started = std::time::Instant::now();
    while op_reconciled(&h) < 20 {
        assert!(
            started.elapsed() < DEADLINE,
            "only {} LBC reconciles after restart",
            op_reconciled(&h)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_idle(&h, Duration::from_millis(1500), DEADLINE)
        .await
        .unwrap();
    let cloud = h.cloud_counts().since(&cloud_before);
    let kube = h.kube_counts().since(&kube_before);
    eprintln!(
        "resync of 20: cloud reads {} (tokens {}), writes {:?}; kube reads {}, writes {:?}; \
         LBC reconciles {}, Service reconciles {}",
        cloud.reads,
        cloud.tokens,
        cloud.writes_by_route,
        kube.reads,
        kube.writes_by_route,
        op_reconciled(&h),
        reconciles(h.operator(), "service")
    );
    assert_eq!(cloud.writes, 0, "cloud writes {:?}", cloud.writes_by_route);
    assert_eq!(kube.writes, 0, "kube writes {:?}", kube.writes_by_route);
    // Exactly one read per object a drift check must see, per one-port Service: its load
    // balancer, listeners, pools, the pool's health monitor and tags (LBC), its security
    // group and rules (NSG).
    let per_service = [
        "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}",
        "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners",
        "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools",
        "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}/healthMonitor",
        "/vserver-gateway/v2/{projectId}/tag/resource/{resourceId}",
        "/vserver-gateway/v2/{projectId}/secgroups/{secgroupId}",
        "/vserver-gateway/v2/{projectId}/secgroups/{secgroupId}/secGroupRules",
    ];
    for route in per_service {
        assert_eq!(
            cloud.route("GET", route),
            20,
            "GET {route}: {:?}",
            cloud.by_route
        );
    }
    // Servers and subnets come from the read cache: a few reads shared by every Service
    // (concurrent first reads may miss it together), never one per Service.
    let shared = cloud.route("GET", "/vserver-gateway/v2/{projectId}/servers/{serverId}")
        + cloud.route(
            "GET",
            "/vserver-gateway/v2/{projectId}/networks/{networkId}/subnets/{subnetId}",
        );
    assert!(shared < 20, "server and subnet reads: {:?}", cloud.by_route);
    assert_eq!(
        cloud.reads,
        7 * 20 + shared,
        "no other read: {:?}",
        cloud.by_route
    );
}
