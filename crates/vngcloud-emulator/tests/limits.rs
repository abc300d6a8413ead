//! Rate limiter, token expiry, every fault kind, the journal and the admin HTTP paths.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::struct_field_names,
    clippy::unused_self
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env, env_with, sdk};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vlb_vngcloud_emulator::{
    EmulatorConfig, Fault, FaultKind, JournalEntry, LOAD_BALANCER, LOAD_BALANCERS, ManualClock,
    RateLimit,
};

async fn honour_retry_after(resp: &reqwest::Response) {
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1);
    let reset: u64 = resp.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset, secs, "X-Ratelimit-Reset is the delay in seconds");
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test]
async fn the_1001st_call_in_a_minute_gets_429_and_honouring_retry_after_lets_the_next_pass() {
    // The default bucket (1000 / 60 s) on a frozen clock: no refill while the calls are made;
    // Retry-After is honoured by moving the emulator's clock forward by the advertised delay.
    let clock = ManualClock::new();
    let e = env_with(EmulatorConfig {
        clock: Arc::new(clock.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let url = e.vlb("loadBalancers?name=&page=1&size=10");
    for n in 0..1000 {
        let (status, _) = e.get(&url).await;
        assert_eq!(status, StatusCode::OK, "call {n}");
    }
    let resp = e.http.get(&url).bearer_auth(&e.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(resp.headers().contains_key("x-ratelimit-reset"));
    let (status, _) = e.get(&url).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "no refill before Retry-After"
    );
    clock.advance(Duration::from_secs(secs));
    let (status, _) = e.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e.emu.control().count_status("GET", LOAD_BALANCERS, 429), 2);
}

#[tokio::test]
async fn a_small_configured_limit_refuses_then_recovers_after_retry_after() {
    let e = env_with(EmulatorConfig {
        rate_limit: RateLimit {
            requests: 3,
            window: Duration::from_secs(3),
        },
        ..EmulatorConfig::default()
    })
    .await;
    let url = e.vs("secgroups");
    for _ in 0..3 {
        assert_eq!(e.get(&url).await.0, StatusCode::OK);
    }
    let resp = e.http.get(&url).bearer_auth(&e.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    honour_retry_after(&resp).await;
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
}

#[tokio::test]
async fn tokens_expire_after_the_configured_ttl() {
    let clock = ManualClock::new();
    let e = env_with(EmulatorConfig {
        token_ttl: Duration::from_secs(60),
        clock: Arc::new(clock.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let url = e.vs("secgroups");
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(59));
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(2));
    assert_eq!(e.get(&url).await.0, StatusCode::UNAUTHORIZED);
    let fresh = common::get_token(&e.http, &e.emu).await;
    let resp = e.http.get(&url).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    e.emu.control().expire_tokens();
    let resp = e.http.get(&url).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn status_faults_fail_the_next_n_matching_calls_without_effect() {
    let e = env().await;
    let control = e.emu.control();
    for status in [500u16, 502, 503, 504] {
        control.add_fault(Fault::new(
            "POST",
            LOAD_BALANCERS,
            FaultKind::Status { status },
            1,
        ));
        let (got, _) = e
            .call(
                Method::POST,
                &e.vlb("loadBalancers"),
                Some(common::nlb_body(
                    &format!("lb-{status}"),
                    &e.nlb_package(),
                    &e.subnet_a(),
                )),
            )
            .await;
        assert_eq!(got.as_u16(), status);
        assert!(control.load_balancers().is_empty());
        assert_eq!(control.count_status("POST", LOAD_BALANCERS, status), 1);
    }
    control.add_fault(Fault::new(
        "GET",
        LOAD_BALANCERS,
        FaultKind::Status { status: 503 },
        2,
    ));
    let url = e.vlb("loadBalancers?name=&page=1&size=10");
    assert_eq!(e.get(&url).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.get(&url).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
    assert!(control.faults().is_empty());
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_effect() {
    let e = env().await;
    let control = e.emu.control();
    control.add_fault(Fault::new("POST", LOAD_BALANCERS, FaultKind::Drop, 1));
    let result = e
        .http
        .post(e.vlb("loadBalancers"))
        .bearer_auth(&e.token)
        .json(&common::nlb_body(
            "lb-dropped",
            &e.nlb_package(),
            &e.subnet_a(),
        ))
        .send()
        .await;
    assert!(
        result.is_err(),
        "expected a broken connection, got {result:?}"
    );
    assert!(control.load_balancers().is_empty());
    assert_eq!(control.count_status("POST", LOAD_BALANCERS, 0), 1);
    e.create_nlb("lb-after-drop").await;
}

#[tokio::test]
async fn latency_fault_delays_the_call_then_serves_it() {
    let e = env().await;
    e.emu.control().add_fault(Fault::new(
        "GET",
        LOAD_BALANCERS,
        FaultKind::Latency { ms: 300 },
        1,
    ));
    let url = e.vlb("loadBalancers?name=&page=1&size=10");
    let started = Instant::now();
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn lost_response_applies_the_effect_but_answers_5xx_or_drops() {
    let e = env().await;
    let control = e.emu.control();
    control.add_fault(Fault::new(
        "POST",
        LOAD_BALANCERS,
        FaultKind::LostResponse { status: Some(502) },
        1,
    ));
    let (status, _) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers"),
            Some(common::nlb_body(
                "lb-lost-502",
                &e.nlb_package(),
                &e.subnet_a(),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(control.load_balancers().len(), 1);

    control.add_fault(Fault::new(
        "POST",
        LOAD_BALANCERS,
        FaultKind::LostResponse { status: None },
        1,
    ));
    let result = e
        .http
        .post(e.vlb("loadBalancers"))
        .bearer_auth(&e.token)
        .json(&common::nlb_body(
            "lb-lost-drop",
            &e.nlb_package(),
            &e.subnet_a(),
        ))
        .send()
        .await;
    assert!(result.is_err());
    assert_eq!(control.load_balancers().len(), 2);
    assert_eq!(control.load_balancers_named("lb-lost-drop").len(), 1);
    // Find before re-create: the list shows both.
    let (_, body) = e
        .get(&e.vlb("loadBalancers?name=lb-lost&page=1&size=10"))
        .await;
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 2);
}

#[tokio::test]
async fn journal_records_method_template_status_and_counts_calls_exactly() {
    let e = env().await;
    let control = e.emu.control();
    let lb = e.create_nlb("lb-journal").await;
    e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    e.get(&e.vlb("loadBalancers/lb-nope")).await;
    assert_eq!(control.count("POST", LOAD_BALANCERS), 1);
    assert_eq!(control.count("GET", LOAD_BALANCER), 2);
    assert_eq!(control.count_status("GET", LOAD_BALANCER, 404), 1);
    assert_eq!(control.count("POST", vlb_vngcloud_emulator::TOKEN_PATH), 1);
    let counters = control.counters();
    assert_eq!(counters[&format!("GET {LOAD_BALANCER}")][&200], 1);
    let journal = control.journal();
    let last = journal.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.template.as_str(), last.status),
        ("GET", LOAD_BALANCER, 404)
    );
    assert_eq!(
        last.path,
        format!(
            "/vlb-gateway/v2/{}/loadBalancers/lb-nope",
            e.emu.project_id()
        )
    );
}

#[tokio::test]
async fn admin_http_paths_mirror_the_control_api() {
    let e = env().await;
    let admin = |p: &str| format!("{}/_emulator/{p}", e.emu.url());
    let lb = e.create_nlb("lb-admin").await;

    let state: Value = e
        .http
        .get(admin("state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["loadBalancers"][0]["id"], json!(lb));
    assert_eq!(state["servers"].as_array().unwrap().len(), 3);

    let journal: Vec<JournalEntry> = e
        .http
        .get(admin("journal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        journal
            .iter()
            .any(|j| j.template == LOAD_BALANCERS && j.method == "POST" && j.status == 202)
    );
    let counters: Value = e
        .http
        .get(admin("counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters[format!("POST {LOAD_BALANCERS}")]["202"], json!(1));

    let fault = json!({"method": "GET", "template": LOAD_BALANCER, "kind": {"kind": "status", "status": 500}, "times": 1});
    let resp = e
        .http
        .post(admin("faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let resp = e
        .http
        .post(admin(&format!("loadBalancers/{lb}/error")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    assert_eq!(body["data"]["displayStatus"], json!("ERROR"));
    let resp = e
        .http
        .patch(admin(&format!("loadBalancers/{lb}")))
        .json(&json!({"phase": "ACTIVE", "name": "portal-name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    assert_eq!(body["data"]["name"], json!("portal-name"));
    let resp = e
        .http
        .delete(admin(&format!("loadBalancers/{lb}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await.0,
        StatusCode::NOT_FOUND
    );

    let resp = e.http.post(admin("tokens/expire")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(e.get(&e.vs("secgroups")).await.0, StatusCode::UNAUTHORIZED);
    let resp = e.http.post(admin("reset")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(e.emu.control().journal().is_empty());
}

#[tokio::test]
async fn dropping_the_emulator_stops_the_server() {
    let e = env().await;
    let url = e.vs("secgroups");
    let http = e.http.clone();
    let token = e.token.clone();
    drop(e.emu);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = common::client();
        if fresh.get(&url).bearer_auth(&token).send().await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "server still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = http;
}

#[tokio::test]
async fn journal_keeps_the_last_entries_but_counters_stay_exact() {
    let e = env_with(EmulatorConfig {
        journal_capacity: 3,
        ..EmulatorConfig::default()
    })
    .await;
    for _ in 0..5 {
        e.get(&e.vs("secgroups")).await;
    }
    let control = e.emu.control();
    let journal = control.journal();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[2].seq, 5);
    assert_eq!(
        control.count("GET", "/vserver-gateway/v2/{projectId}/secgroups"),
        5
    );
    assert_eq!(control.total_calls(), 6);
}

#[tokio::test]
async fn rate_limit_can_change_at_runtime() {
    let e = env().await;
    e.emu.control().set_rate_limit(RateLimit {
        requests: 1,
        window: Duration::from_secs(60),
    });
    let url = e.vs("secgroups");
    assert_eq!(e.get(&url).await.0, StatusCode::OK);
    let resp = e.http.get(&url).bearer_auth(&e.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "60");
}
