//! Faults on both sides, end to end through the real operator: Kubernetes 409, 429, 5xx,
//! dropped watches and 410; VNGCloud 5xx, 429, busy, quota, token expiry, lost answers; a
//! crash between "create load balancer" and "record it"; leader election and failover.
//! Every test ends with `assert_converged_and_clean`.

// Test helpers fail the test by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use vlb_domain::annotations::keys;
use vlb_domain::model::condition::{self as cond, ConditionStatus};
use vlb_tests::{
    DEADLINE, Fault, FaultKind, FaultRule, Harness, LISTENERS, LOAD_BALANCER, LOAD_BALANCERS,
    LbPhase, MEMBERS, Options, RateLimit, Verb, ann, lb_service, reconciles, wait_for, wait_until,
};

fn web(name: &str) -> Service {
    lb_service(name, &[("http", "TCP", 80), ("dns", "UDP", 53)], &[])
}

/// Requests the Kubernetes emulator answered with `status`.
fn kube_answered(h: &Harness, status: u16) -> usize {
    h.kube.journal().count(|e| e.status == status)
}

/// Cloud calls answered with `status`.
fn cloud_answered(h: &Harness, status: u16) -> usize {
    h.control()
        .journal()
        .iter()
        .filter(|e| e.status == status)
        .count()
}

// ------------------------------------------------------------------------------ Kubernetes

vlb_tests::e2e! {
async fn kubernetes_conflicts_on_writes_are_retried_until_converged() {
    let h = Harness::start("kube-409").await;
    let faults = h.kube.faults();
    faults.inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .subresource("status")
            .times(3),
    );
    faults.inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource("services")
            .subresource("status")
            .times(3),
    );
    faults.inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource("services")
            .times(2),
    );
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
    assert!(kube_answered(&h, 409) >= 8, "every injected 409 was met");
}
}

vlb_tests::e2e! {
async fn kubernetes_rate_limiting_is_ridden_out() {
    let h = Harness::start("kube-429").await;
    let faults = h.kube.faults();
    faults.inject(
        FaultRule::new(429)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .retry_after(1)
            .times(2),
    );
    faults.inject(
        FaultRule::new(429)
            .verb(Verb::Patch)
            .resource("services")
            .retry_after(1)
            .times(2),
    );
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
    assert!(kube_answered(&h, 429) >= 4, "every injected 429 was met");
}
}

vlb_tests::e2e! {
async fn kubernetes_server_errors_are_retried_until_converged() {
    let h = Harness::start("kube-5xx").await;
    let faults = h.kube.faults();
    faults.inject(
        FaultRule::new(500)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .times(3),
    );
    faults.inject(
        FaultRule::new(503)
            .verb(Verb::Patch)
            .resource("services")
            .subresource("status")
            .times(2),
    );
    faults.inject(
        FaultRule::new(500)
            .verb(Verb::Patch)
            .resource("nodesecuritygroups")
            .subresource("status")
            .times(2),
    );
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
    assert!(kube_answered(&h, 500) >= 5, "every injected 500 was met");
    assert!(kube_answered(&h, 503) >= 2, "every injected 503 was met");
}
}

vlb_tests::e2e! {
async fn dropped_watches_are_resumed_without_missing_changes() {
    let h = Harness::start("kube-watch-drop").await;
    h.create_service(&web("a")).await;
    h.wait_service_ready("a").await;
    let watches = h.kube.journal().count(|e| e.verb == Verb::Watch);
    h.kube.faults().close_watches();
    // Changes made while the watches are being re-established must not be lost.
    h.create_service(&web("b")).await;
    h.delete_node("worker-2").await;
    h.wait_service_ready("b").await;
    h.assert_converged_and_clean().await;
    assert!(
        h.kube.journal().count(|e| e.verb == Verb::Watch) > watches,
        "the operator re-opened its watches"
    );
}
}

vlb_tests::e2e! {
async fn expired_watch_history_410_is_recovered_by_a_relist() {
    let h = Harness::start("kube-410").await;
    h.create_service(&web("a")).await;
    h.wait_service_ready("a").await;
    let lists = h.kube.journal().count(|e| e.verb == Verb::List);
    // Changes the watches have not delivered yet, then history compacted and watches
    // dropped: resuming from the last seen resourceVersion answers 410 Gone.
    h.create_service(&web("b")).await;
    h.add_node("worker-4").await;
    h.kube.faults().compact();
    h.kube.faults().close_watches();
    h.wait_service_ready("b").await;
    h.assert_converged_and_clean().await;
    assert!(
        h.kube.journal().count(|e| e.verb == Verb::List) > lists,
        "the operator re-listed after 410"
    );
}
}

// ------------------------------------------------------------------------------ VNGCloud

vlb_tests::e2e! {
async fn cloud_server_errors_are_retried_without_duplicates() {
    let h = Harness::start("cloud-5xx").await;
    let c = h.control();
    c.add_fault(Fault::new(
        "POST",
        LOAD_BALANCERS,
        FaultKind::Status { status: 500 },
        2,
    ));
    c.add_fault(Fault::new(
        "GET",
        LOAD_BALANCER,
        FaultKind::Status { status: 503 },
        3,
    ));
    c.add_fault(Fault::new(
        "POST",
        LISTENERS,
        FaultKind::Status { status: 502 },
        1,
    ));
    c.add_fault(Fault::new("PUT", MEMBERS, FaultKind::Drop, 1));
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.add_node("worker-4").await;
    h.assert_converged_and_clean().await;
    assert_eq!(h.load_balancers_named(&h.default_lb_name("web")).len(), 1);
    assert!(cloud_answered(&h, 500) >= 2, "the injected 500s were met");
}
}

vlb_tests::e2e! {
async fn cloud_rate_limiting_429_is_honoured_and_converges() {
    let h = Harness::start_with(Options {
        rate_limit: RateLimit {
            requests: 8,
            window: Duration::from_secs(1),
        },
        ..Options::new("cloud-429")
    })
    .await;
    h.create_service(&web("a")).await;
    h.create_service(&web("b")).await;
    h.wait_service_ready("a").await;
    h.wait_service_ready("b").await;
    h.assert_converged_and_clean().await;
    assert!(cloud_answered(&h, 429) > 0, "the rate limit was reached");
    for name in ["a", "b"] {
        assert_eq!(h.load_balancers_named(&h.default_lb_name(name)).len(), 1);
    }
}
}

vlb_tests::e2e! {
async fn a_busy_load_balancer_is_retried_and_does_not_block_the_others() {
    let h = Harness::start("cloud-busy").await;
    h.create_service(&web("stuck")).await;
    let stuck = h.wait_service_ready("stuck").await;
    // The load balancer stays UPDATING (refuses every change) until released below.
    h.control()
        .edit_load_balancer(&stuck.id, |lb| {
            lb.phase = LbPhase::Updating;
            lb.phase_until = None;
        })
        .unwrap();
    let stuck_members = |h: &Harness| {
        h.control().load_balancer(&stuck.id).unwrap().pools[0]
            .members
            .len()
    };
    let members = stuck_members(&h);
    h.add_node("worker-4").await;
    // The operator sees the load balancer busy and says so, without changing it ...
    wait_for("the stuck LBC reported busy", DEADLINE, || async {
        let lbc = h.lbc("stuck").await.ok_or("no LBC")?;
        let conditions = lbc.status.unwrap_or_default().0.conditions;
        let ready = cond::find_condition(&conditions, cond::READY).ok_or("no Ready")?;
        if ready.status == ConditionStatus::False && ready.message.contains("UPDATING") {
            Ok(())
        } else {
            Err(format!("{ready:?}"))
        }
    })
    .await;
    // ... while another Service converges meanwhile.
    h.create_service(&web("other")).await;
    h.wait_service_ready("other").await;
    assert_eq!(
        stuck_members(&h),
        members,
        "a busy load balancer was changed"
    );
    h.control()
        .edit_load_balancer(&stuck.id, |lb| lb.phase = LbPhase::Active)
        .unwrap();
    h.assert_converged_and_clean().await;
}
}

vlb_tests::e2e! {
async fn cloud_quota_exceeded_is_reported_and_converges_once_quota_is_freed() {
    let mut options = Options::new("cloud-quota");
    options.fixture.quotas.load_balancers = 1;
    let h = Harness::start_with(options).await;
    let hog = h.add_foreign_load_balancer("quota-hog", &[]).await;
    h.create_service(&web("web")).await;
    let message = wait_for(
        "a Ready=False condition naming the quota",
        DEADLINE,
        || async {
            let lbc = h.lbc("web").await.ok_or("no LBC")?;
            let conditions = lbc.status.unwrap_or_default().0.conditions;
            let ready = cond::find_condition(&conditions, cond::READY).ok_or("no Ready")?;
            if ready.status == ConditionStatus::False
                && ready.message.to_lowercase().contains("quota")
            {
                Ok(ready.message.clone())
            } else {
                Err(format!("{ready:?}"))
            }
        },
    )
    .await;
    assert!(!message.is_empty());
    assert!(
        h.control()
            .load_balancers_named(&h.default_lb_name("web"))
            .is_empty()
    );

    // The user frees the quota and edits the Service (the quota retry is 3 minutes; a
    // change is reconciled at once).
    h.forget_foreign(&hog.id);
    h.control().delete_load_balancer(&hog.id).unwrap();
    h.annotate_service("web", &ann(keys::IDLE_TIMEOUT_CLIENT), Some("60"))
        .await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
}
}

vlb_tests::e2e! {
async fn an_expired_token_is_renewed_and_calls_succeed() {
    let h = Harness::start("cloud-token").await;
    h.create_service(&web("a")).await;
    h.wait_service_ready("a").await;
    let tokens = h.cloud_counts().tokens;
    h.control().expire_tokens();
    // The first renewal fails too.
    h.control().add_fault(Fault::new(
        "POST",
        vlb_tests::TOKEN_PATH,
        FaultKind::Status { status: 503 },
        1,
    ));
    h.add_node("worker-4").await;
    h.create_service(&web("b")).await;
    h.wait_service_ready("b").await;
    h.assert_converged_and_clean().await;
    assert!(
        h.cloud_counts().tokens > tokens,
        "a new token was requested"
    );
    assert!(cloud_answered(&h, 401) > 0, "the expired token was refused");
}
}

vlb_tests::e2e! {
async fn a_lost_create_load_balancer_answer_does_not_leak_a_second_load_balancer() {
    let h = Harness::start("cloud-lost-202").await;
    h.control().add_fault(Fault::new(
        "POST",
        LOAD_BALANCERS,
        FaultKind::LostResponse { status: Some(502) },
        1,
    ));
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
    let named = h.load_balancers_named(&h.default_lb_name("web"));
    assert_eq!(named.len(), 1, "load balancers: {named:?}");
}
}

vlb_tests::e2e! {
async fn a_lost_delete_load_balancer_answer_still_completes_the_deletion() {
    let h = Harness::start("cloud-lost-delete").await;
    h.create_service(&web("web")).await;
    let ready = h.wait_service_ready("web").await;
    h.control().add_fault(Fault::new(
        "DELETE",
        LOAD_BALANCER,
        FaultKind::LostResponse { status: Some(504) },
        1,
    ));
    h.delete_service("web").await;
    h.wait_service_gone("web").await;
    h.assert_converged_and_clean().await;
    assert!(
        h.control()
            .load_balancer(&ready.id)
            .is_none_or(|l| l.phase == LbPhase::Deleting)
    );
    assert!(cloud_answered(&h, 504) >= 1, "the lost answer was met");
}
}

vlb_tests::e2e! {
async fn a_dropped_connection_after_create_listener_does_not_duplicate_the_listener() {
    let h = Harness::start("cloud-lost-listener").await;
    h.control().add_fault(Fault::new(
        "POST",
        LISTENERS,
        FaultKind::LostResponse { status: None },
        1,
    ));
    h.control().add_fault(Fault::new(
        "POST",
        vlb_tests::POOLS,
        FaultKind::LostResponse { status: None },
        1,
    ));
    h.create_service(&lb_service(
        "web",
        &[
            ("http", "TCP", 80),
            ("https", "TCP", 443),
            ("dns", "UDP", 53),
        ],
        &[],
    ))
    .await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
}
}

// ------------------------------------------------------------------------------ crashes

vlb_tests::e2e! {
async fn an_operator_aborted_between_create_and_record_adopts_its_own_load_balancer() {
    let mut h = Harness::start("crash-adopt").await;
    // The status can never be recorded while this holds.
    h.kube.faults().inject(
        FaultRule::new(500)
            .resource("loadbalancerconfigs")
            .subresource("status")
            .times(100_000),
    );
    let before = h.cloud_counts();
    h.create_service(&web("web")).await;
    let control = h.control();
    wait_until("the load balancer created", DEADLINE, || {
        let n = control.count("POST", LOAD_BALANCERS);
        if n >= 1 {
            Ok(())
        } else {
            Err(format!("{n} creates"))
        }
    })
    .await;
    h.abort_operator();
    let lbc = h.lbc("web").await.expect("LBC");
    assert_eq!(
        lbc.status.unwrap_or_default().load_balancer_id,
        None,
        "the load balancer was recorded despite the fault"
    );

    h.kube.faults().clear();
    h.start_operator().await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
    let cost = h.cloud_counts().since(&before);
    assert_eq!(
        cost.route("POST", LOAD_BALANCERS),
        1,
        "a second load balancer was created: {:?}",
        cost.writes_by_route
    );
    assert_eq!(h.load_balancers_named(&h.default_lb_name("web")).len(), 1);
}
}

vlb_tests::e2e! {
async fn a_load_balancer_another_cluster_created_is_used_by_name_but_never_deleted() {
    let h = Harness::start("other-cluster").await;
    let other = h
        .add_foreign_load_balancer(
            "team-shared-lb",
            &[
                (
                    vlb_domain::tags::CREATED_BY_CLUSTER,
                    vlb_tests::OTHER_CLUSTER_ID,
                ),
                (vlb_domain::tags::CLUSTER_IDS, vlb_tests::OTHER_CLUSTER_ID),
            ],
        )
        .await;
    h.create_service(&lb_service(
        "web",
        &[("http", "TCP", 80)],
        &[(keys::LOAD_BALANCER_NAME, "team-shared-lb")],
    ))
    .await;
    let ready = h.wait_service_ready("web").await;
    assert_eq!(ready.id, other.id, "the named load balancer is used");
    h.assert_converged_and_clean().await;
    let status = h.lbc("web").await.unwrap().status.unwrap();
    assert_eq!(
        status.created_load_balancer_id, None,
        "recorded as created here"
    );

    h.delete_service("web").await;
    h.wait_service_gone("web").await;
    h.assert_converged_and_clean().await;
    let lb = h.control().load_balancer(&other.id).expect("kept");
    assert_eq!(
        lb.listeners.len(),
        1,
        "only the other cluster's listener is left"
    );
    assert_eq!(h.control().count("DELETE", LOAD_BALANCER), 0);
}
}

// ------------------------------------------------------------------------------ election

vlb_tests::e2e! {
async fn two_replicas_elect_one_leader_and_fail_over_within_the_lease_time() {
    let h = Harness::start_with(Options {
        start_operator: false,
        ..Options::new("election")
    })
    .await;
    let config = || {
        let mut c = h.operator_config();
        c.leader_election = true;
        c.lease_duration = Duration::from_secs(3);
        c
    };
    let lease = config().lease_duration;
    let one = h.launch_operator(config()).await;
    let two = h.launch_operator(config()).await;
    let (one_ref, two_ref) = (&one, &two);
    wait_until("one leader", DEADLINE, || {
        match (one_ref.is_leader(), two_ref.is_leader()) {
            (true, false) | (false, true) => Ok(()),
            other => Err(format!("leading: {other:?}")),
        }
    })
    .await;
    let (leader, standby) = if one.is_leader() {
        (one, two)
    } else {
        (two, one)
    };

    h.create_service(&web("a")).await;
    h.wait_service_ready("a").await;
    assert!(
        leader.is_leader() && !standby.is_leader(),
        "exactly one leader"
    );
    assert!(reconciles(&leader, "service") >= 1);
    assert_eq!(reconciles(&standby, "service"), 0, "the standby reconciled");

    let aborted = Instant::now();
    leader.abort();
    let standby_ref = &standby;
    wait_until("the standby to take over", DEADLINE, || {
        if standby_ref.is_leader() {
            Ok(())
        } else {
            Err("standby".into())
        }
    })
    .await;
    let took = aborted.elapsed();
    // The lease expires at most `lease` after the last renewal; the standby notices within
    // its retry period (a third of the lease) — one second of slack on top.
    let bound = lease + lease / 3 + Duration::from_secs(1);
    assert!(took <= bound, "failover took {took:?}, bound {bound:?}");

    h.create_service(&web("b")).await;
    h.wait_service_ready("b").await;
    h.assert_converged_and_clean().await;
    for name in ["a", "b"] {
        assert_eq!(h.load_balancers_named(&h.default_lb_name(name)).len(), 1);
    }
    standby.shutdown().await.expect("graceful shutdown");
}
}

vlb_tests::e2e! {
async fn a_graceful_shutdown_hands_the_lease_over_at_once() {
    let h = Harness::start_with(Options {
        start_operator: false,
        ..Options::new("handover")
    })
    .await;
    let config = || {
        let mut c = h.operator_config();
        c.leader_election = true;
        c.lease_duration = Duration::from_secs(10);
        c
    };
    let first = h.launch_operator(config()).await;
    let first_ref = &first;
    wait_until("the first replica leads", DEADLINE, || {
        if first_ref.is_leader() {
            Ok(())
        } else {
            Err("standby".into())
        }
    })
    .await;
    let second = h.launch_operator(config()).await;
    let stopped = Instant::now();
    first.shutdown().await.expect("graceful shutdown");
    let second_ref = &second;
    wait_until("the second replica leads", DEADLINE, || {
        if second_ref.is_leader() {
            Ok(())
        } else {
            Err("standby".into())
        }
    })
    .await;
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "handover took {took:?}: the lease was not released"
    );
    h.create_service(&web("web")).await;
    h.wait_service_ready("web").await;
    h.assert_converged_and_clean().await;
}
}
