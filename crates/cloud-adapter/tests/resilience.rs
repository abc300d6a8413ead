//! Busy, 429, 5xx, dropped connections, quota, token expiry, paging, lost 202, pacing.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use vlb_cloud_adapter::{Pacing, VngCloudClient};
use vlb_domain::CloudError;
use vlb_domain::ports::{LoadBalancerApi, NetworkApi};
use vlb_vngcloud_emulator::{EmulatorConfig, Fault, FaultKind, Quotas, RateLimit};

async fn ready_lb(client: &VngCloudClient, name: &str) -> String {
    let id = client
        .create_load_balancer(&lb_request(name))
        .await
        .unwrap();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    id
}

#[tokio::test]
async fn busy_load_balancer_is_retried_until_the_change_goes_through() {
    let (emu, client) = start().await;
    // No wait: the load balancer is CREATING, so the change of another client (which does
    // not know it is still being created) is refused as not ready first.
    let id = client
        .create_load_balancer(&lb_request("lb-busy"))
        .await
        .unwrap();
    let other = VngCloudClient::new(config_for(&emu)).unwrap();
    let pool = other
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 30081)]))
        .await
        .unwrap();
    assert!(!pool.is_empty());
    let c = emu.control();
    let post_pools = lb_t("loadBalancers/{loadBalancerId}/pools");
    assert!(
        c.count_status("POST", &post_pools, 400) >= 1,
        "{:?}",
        c.counters()
    );
    assert_eq!(c.count_status("POST", &post_pools, 202), 1);
    // And a busy refusal that outlives the deadline is surfaced as Busy.
    c.inject_error(&id).unwrap();
    let mut cfg = config_for(&emu);
    cfg.retry.busy_deadline = Duration::from_millis(100);
    let short = VngCloudClient::new(cfg).unwrap();
    let err = short
        .put_members(&id, &pool, &[member("10.76.0.13", 1)])
        .await;
    assert!(matches!(err, Err(CloudError::Busy(_))), "{err:?}");
}

#[tokio::test]
async fn rate_limited_call_succeeds_after_the_advertised_delay() {
    let (emu, client) = start().await;
    let id = ready_lb(&client, "lb-429").await;
    // One request a second, bucket of one: the second call gets 429 with Retry-After: 1.
    emu.control().set_rate_limit(RateLimit {
        requests: 1,
        window: Duration::from_secs(1),
    });
    client.get_load_balancer(&id).await.unwrap();
    let started = Instant::now();
    client.get_load_balancer(&id).await.unwrap();
    let c = emu.control();
    let t = lb_t("loadBalancers/{loadBalancerId}");
    assert!(c.count_status("GET", &t, 429) >= 1);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limit_is_surfaced_with_its_delay_when_retries_run_out() {
    let (emu, _) = start().await;
    let mut cfg = config_for(&emu);
    cfg.retry.max_rate_limited_retries = 0;
    let client = VngCloudClient::new(cfg).unwrap();
    emu.control().set_rate_limit(RateLimit {
        requests: 1,
        window: Duration::from_secs(30),
    });
    client.get_server(SERVER_1).await.unwrap();
    match client.get_server(SERVER_1).await {
        Err(CloudError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(20), "{retry_after:?}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried() {
    let (emu, client) = start().await;
    let id = ready_lb(&client, "lb-5xx").await;
    let c = emu.control();
    let t = lb_t("loadBalancers/{loadBalancerId}");
    c.add_fault(Fault::new("GET", &t, FaultKind::Status { status: 503 }, 2));
    client.get_load_balancer(&id).await.unwrap();
    assert_eq!(c.count_status("GET", &t, 503), 2);
    c.add_fault(Fault::new("GET", &t, FaultKind::Drop, 1));
    client.get_load_balancer(&id).await.unwrap();
    assert_eq!(c.count_status("GET", &t, 0), 1);
    // Idempotent changes are resent too.
    let lis = lb_t("loadBalancers/{loadBalancerId}/listeners/{listenerId}");
    let l = client.list_listeners(&id).await.unwrap().remove(0);
    c.add_fault(Fault::new("PUT", &lis, FaultKind::Drop, 1));
    let mut req = tcp_listener("tcp-80", 80);
    req.timeout_client = 99;
    req.default_pool_id = l.default_pool_id.clone();
    client.update_listener(&id, &l.id, &req).await.unwrap();
    assert_eq!(
        client.list_listeners(&id).await.unwrap()[0].timeout_client,
        99
    );
    // A delete applied but whose answer was lost: the resend finds it gone, which is success.
    let pool = client
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 30081)]))
        .await
        .unwrap();
    let pool_t = lb_t("loadBalancers/{loadBalancerId}/pools/{poolId}");
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    c.add_fault(Fault::new(
        "DELETE",
        &pool_t,
        FaultKind::LostResponse { status: Some(502) },
        1,
    ));
    client.delete_pool(&id, &pool).await.unwrap();
    assert_eq!(
        c.count_status("DELETE", &pool_t, 404),
        1,
        "{:?}",
        c.counters()
    );
    // Persisting 5xx ends as a Server error after the bounded retries.
    c.add_fault(Fault::new(
        "GET",
        &t,
        FaultKind::Status { status: 500 },
        100,
    ));
    assert!(matches!(
        client.get_load_balancer(&id).await,
        Err(CloudError::Server(_))
    ));
}

#[tokio::test]
async fn quota_errors_are_surfaced() {
    let mut config = EmulatorConfig::default();
    config.fixture.quotas = Quotas {
        load_balancers: 1,
        security_groups: 1,
        security_group_rules: 50,
    };
    let (_emu, client) = start_with(config).await;
    client
        .create_load_balancer(&lb_request("one"))
        .await
        .unwrap();
    let err = client.create_load_balancer(&lb_request("two")).await;
    assert!(matches!(err, Err(CloudError::QuotaExceeded(_))), "{err:?}");
    // The fixture's default group fills the security group quota.
    let err = client.create_security_group("sg-x", "x").await;
    assert!(matches!(err, Err(CloudError::QuotaExceeded(_))), "{err:?}");
}

#[tokio::test]
async fn expired_token_is_refreshed_once_and_the_call_retried() {
    let (emu, client) = start().await;
    client.get_server(SERVER_1).await.unwrap();
    let c = emu.control();
    assert_eq!(c.count("POST", TOKEN), 1);
    c.expire_tokens();
    // Many concurrent callers hit 401 at once; they share the refresh.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        tasks.push(tokio::spawn(
            async move { client.get_server(SERVER_1).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(c.count("POST", TOKEN), 2, "{:?}", c.counters());
    assert!(c.count_status("GET", &format!("{VS}/servers/{{serverId}}"), 401) >= 1);
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let config = EmulatorConfig {
        token_ttl: Duration::from_secs(2),
        ..EmulatorConfig::default()
    };
    let (emu, client) = start_with(config).await;
    client.get_server(SERVER_1).await.unwrap();
    // The margin (min(60 s, ttl/2) = 1 s) has passed: the next call refreshes first.
    let deadline = Instant::now() + Duration::from_secs(5);
    while emu.control().count("POST", TOKEN) < 2 && Instant::now() < deadline {
        client.get_server(SERVER_1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = emu.control();
    assert_eq!(c.count("POST", TOKEN), 2);
    assert_eq!(
        c.count_status("GET", &format!("{VS}/servers/{{serverId}}"), 401),
        0
    );
}

#[tokio::test]
async fn single_flight_token_for_concurrent_first_calls() {
    let (emu, client) = start().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.push(tokio::spawn(
            async move { client.get_server(SERVER_1).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(emu.control().count("POST", TOKEN), 1);
}

#[tokio::test]
async fn list_follows_every_page() {
    let mut config = EmulatorConfig::default();
    config.fixture.quotas.load_balancers = 40;
    config.delays.create_ms = 0;
    let (emu, _) = start_with(config).await;
    let mut cfg = config_for(&emu);
    cfg.page_size = 10;
    let client = VngCloudClient::new(cfg).unwrap();
    for i in 0..25 {
        let mut req = lb_request(&format!("paged-{i:02}"));
        req.listener = None;
        req.pool = None;
        client.create_load_balancer(&req).await.unwrap();
    }
    let c = emu.control();
    c.clear_journal();
    let all = client
        .list_load_balancers_by_tag("vks-cluster", "c1")
        .await
        .unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(c.count("GET", &lb_t("loadBalancers")), 3);
    // Exact name among substring matches, on the last page.
    let found = client.find_load_balancer_by_name("paged-24").await.unwrap();
    assert_eq!(found.unwrap().name, "paged-24");
}

#[tokio::test]
async fn lost_create_answer_does_not_make_a_second_load_balancer() {
    let (emu, client) = start().await;
    let c = emu.control();
    let lbs = lb_t("loadBalancers");
    c.add_fault(Fault::new(
        "POST",
        &lbs,
        FaultKind::LostResponse { status: Some(502) },
        1,
    ));
    let id = client
        .create_load_balancer(&lb_request("lost-502"))
        .await
        .unwrap();
    assert_eq!(c.load_balancers_named("lost-502").len(), 1);
    assert_eq!(c.load_balancers_named("lost-502")[0].id, id);
    c.add_fault(Fault::new(
        "POST",
        &lbs,
        FaultKind::LostResponse { status: None },
        1,
    ));
    let id2 = client
        .create_load_balancer(&lb_request("lost-drop"))
        .await
        .unwrap();
    assert_eq!(c.load_balancers_named("lost-drop").len(), 1);
    assert_eq!(c.load_balancers_named("lost-drop")[0].id, id2);
    // A create that was refused before being applied (503) is sent again.
    c.add_fault(Fault::new(
        "POST",
        &lbs,
        FaultKind::Status { status: 503 },
        1,
    ));
    client
        .create_load_balancer(&lb_request("refused"))
        .await
        .unwrap();
    assert_eq!(c.load_balancers_named("refused").len(), 1);
    assert_eq!(c.count("POST", &lbs), 4);
    // Same name again: found, not created.
    client
        .create_load_balancer(&lb_request("refused"))
        .await
        .unwrap();
    assert_eq!(c.count("POST", &lbs), 4);
}

#[tokio::test]
async fn lost_create_answers_of_listeners_pools_and_groups_are_recovered() {
    let (emu, client) = start().await;
    let c = emu.control();
    let id = ready_lb(&client, "lb-lost").await;
    let pools = lb_t("loadBalancers/{loadBalancerId}/pools");
    c.add_fault(Fault::new(
        "POST",
        &pools,
        FaultKind::LostResponse { status: None },
        1,
    ));
    let pool = client
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 30081)]))
        .await
        .unwrap();
    let listeners = lb_t("loadBalancers/{loadBalancerId}/listeners");
    c.add_fault(Fault::new(
        "POST",
        &listeners,
        FaultKind::LostResponse { status: Some(504) },
        1,
    ));
    let mut l = tcp_listener("tcp-81", 81);
    l.default_pool_id = Some(pool.clone());
    let lis = client.create_listener(&id, &l).await.unwrap();
    let got = client.list_listeners(&id).await.unwrap();
    assert_eq!(got.iter().filter(|x| x.name == "tcp-81").count(), 1);
    assert!(got.iter().any(|x| x.id == lis));
    assert_eq!(client.list_pools(&id).await.unwrap().len(), 2);

    let sgs = format!("{VS}/secgroups");
    c.add_fault(Fault::new(
        "POST",
        &sgs,
        FaultKind::LostResponse { status: Some(502) },
        1,
    ));
    let g = client.create_security_group("sg-lost", "d").await.unwrap();
    assert_eq!(
        c.security_groups()
            .iter()
            .filter(|x| x.name == "sg-lost")
            .count(),
        1
    );
    assert_eq!(g.name, "sg-lost");
}

#[tokio::test]
async fn pacer_never_exceeds_the_configured_pace() {
    let (emu, _) = start().await;
    let mut cfg = config_for(&emu);
    let per_second = 40u32;
    let burst = 5u32;
    cfg.pacing = Some(Pacing {
        per_second: std::num::NonZeroU32::new(per_second).unwrap(),
        burst: std::num::NonZeroU32::new(burst).unwrap(),
    });
    let client = Arc::new(VngCloudClient::new(cfg).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                client.get_server(SERVER_1).await.map(drop)
            } else {
                client.get_subnet(NETWORK, SUBNET).await.map(drop)
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let journal = emu.control().journal();
    assert_eq!(journal.len(), 201); // 200 calls + one token
    // In any window of one second: at most `burst` + `per_second` calls (GCRA bound), with
    // one call of slack for timer rounding.
    let times: Vec<u64> = journal.iter().map(|e| e.at_ms).collect();
    let limit = (burst + per_second + 1) as usize;
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(
            in_window <= limit,
            "{in_window} calls in 1 s from {start} ms"
        );
    }
    let span = times.last().unwrap() - times.first().unwrap();
    assert!(span >= 4000, "200 calls at 40/s took only {span} ms");
}
