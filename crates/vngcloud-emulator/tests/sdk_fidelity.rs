//! What the official SDK sends and reads, as the emulator must take and answer it
//! (vngcloud-go-sdk v2, and the Go controller's calls in internal/repository/vngcloud_repo).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{env_with, sdk};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vlb_vngcloud_emulator::{Delays, EmulatorConfig, ManualClock};

fn manual(update_ms: u64) -> (EmulatorConfig, ManualClock) {
    let clock = ManualClock::new();
    let config = EmulatorConfig {
        clock: Arc::new(clock.clone()),
        delays: Delays {
            create_ms: 0,
            update_ms,
            delete_ms: 0,
        },
        ..EmulatorConfig::default()
    };
    (config, clock)
}

fn instant() -> EmulatorConfig {
    manual(0).0
}

fn msg(body: &Value) -> String {
    serde_json::from_value::<sdk::NormalErrorResponse>(body.clone())
        .unwrap()
        .message
}

async fn first_listener_and_pool(e: &common::Env, lb: &str) -> (Value, Value) {
    let (_, l) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners")))
        .await;
    let (_, p) = e.get(&e.vlb(&format!("loadBalancers/{lb}/pools"))).await;
    (l["data"][0].clone(), p["data"][0].clone())
}

// The Go controller detaches a listener's default pool with `defaultPoolId: ""`
// (UpdateListenerRequest is the whole new state of the listener).
#[tokio::test]
async fn listener_put_is_the_whole_state_and_an_empty_default_pool_detaches_it() {
    let e = env_with(instant()).await;
    let lb = e.create_nlb("lb-put-listener").await;
    let (listener, pool) = first_listener_and_pool(&e, &lb).await;
    assert_eq!(listener["defaultPoolId"], pool["uuid"]);
    let lid = listener["uuid"].as_str().unwrap();
    let body = json!({
        "allowedCidrs": "10.0.0.0/8",
        "defaultPoolId": "",
        "timeoutClient": 40,
        "timeoutConnection": 4,
        "timeoutMember": 40,
        "certificateAuthorities": null,
        "clientCertificate": null,
        "defaultCertificateAuthority": null,
        "insertHeaders": null,
    });
    let url = e.vlb(&format!("loadBalancers/{lb}/listeners/{lid}"));
    let (status, answer) = e.call(Method::PUT, &url, Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (listener, _) = first_listener_and_pool(&e, &lb).await;
    assert_eq!(listener["defaultPoolId"], "");
    assert_eq!(listener["defaultPoolName"], "");
    assert_eq!(listener["allowedCidrs"], "10.0.0.0/8");
    assert_eq!(listener["timeoutClient"], 40);
    // The pool is no longer used by the listener: it can go.
    let pid = pool["uuid"].as_str().unwrap();
    let (status, answer) = e
        .call(
            Method::DELETE,
            &e.vlb(&format!("loadBalancers/{lb}/pools/{pid}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

// UpdatePoolRequest carries algorithm, stickiness, tlsEncryption and healthMonitor: a field
// left out is not "keep the current value".
#[tokio::test]
async fn pool_put_is_the_whole_state_of_the_pool() {
    let e = env_with(instant()).await;
    let lb = e.create_nlb("lb-put-pool").await;
    let (_, pool) = first_listener_and_pool(&e, &lb).await;
    let pid = pool["uuid"].as_str().unwrap();
    let url = e.vlb(&format!("loadBalancers/{lb}/pools/{pid}"));
    let hm = e.vlb(&format!("loadBalancers/{lb}/pools/{pid}/healthMonitor"));
    let body = json!({
        "algorithm": "SOURCE_IP",
        "healthMonitor": {"healthCheckProtocol": "TCP", "healthyThreshold": 2,
            "unhealthyThreshold": 2, "interval": 10, "timeout": 3},
    });
    let (status, answer) = e.call(Method::PUT, &url, Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(e.get(&hm).await.1["data"]["interval"], 10);
    let (status, answer) = e
        .call(Method::PUT, &url, Some(json!({"algorithm": "ROUND_ROBIN"})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(e.get(&hm).await.1["data"]["interval"], 30);
    let (_, pool) = first_listener_and_pool(&e, &lb).await;
    assert_eq!(pool["loadBalanceMethod"], "ROUND_ROBIN");
}

// The Go controller lists with the SDK's offset 0: `page=0&size=1000` (vngcloud_repo.go
// defaultOffset/defaultPageSize).
#[tokio::test]
async fn list_with_page_zero_answers_the_first_page() {
    let e = env_with(instant()).await;
    let lb = e.create_nlb("lb-page-zero").await;
    let (status, body) = e
        .get(&e.vlb("loadBalancers?name=&page=0&size=1000&tags=key:vks-cluster,value:c1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.list_data.len(), 1);
    assert_eq!(list.list_data[0].uuid, lb);
    let (status, _) = e.get(&e.vlb("loadBalancers?page=-1&size=10")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// NewDeleteSecgroupRuleByIdRequest sets the group id to "undefined"
// (network/v2/secgroup_rule_request.go).
#[tokio::test]
async fn rule_delete_under_the_sdks_undefined_group_deletes_the_rule() {
    let e = env_with(instant()).await;
    let (status, body) = e
        .call(
            Method::POST,
            &e.vs("secgroups"),
            Some(json!({"name": "sg-undefined", "description": "d"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sg = body["data"]["uuid"].as_str().unwrap().to_owned();
    let rule = json!({"description": "", "direction": "ingress", "etherType": "IPv4",
        "portRangeMax": 80, "portRangeMin": 80, "protocol": "tcp",
        "remoteIpPrefix": "10.0.0.0/8", "securityGroupId": sg});
    let (status, body) = e
        .call(
            Method::POST,
            &e.vs(&format!("secgroups/{sg}/secgroupRules")),
            Some(rule),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let rid = body["data"]["uuid"].as_str().unwrap().to_owned();
    let url = e.vs(&format!("secgroups/undefined/secgroupRules/{rid}"));
    let (status, body) = e.call(Method::DELETE, &url, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, rules) = e.get(&e.vs(&format!("secgroups/{sg}/secGroupRules"))).await;
    assert_eq!(rules["data"], json!([]));
    let (status, body) = e.call(Method::DELETE, &url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

// sdk_error/loadbalancer.go: `listener id … is not ready` and `pool id … is updating` are
// busy answers, next to the load-balancer-level ones.
#[tokio::test]
async fn changes_of_the_listener_or_pool_being_updated_answer_its_own_busy_text() {
    let (config, clock) = manual(400);
    let e = env_with(config).await;
    let lb = e.create_nlb("lb-busy-objects").await;
    let (listener, pool) = first_listener_and_pool(&e, &lb).await;
    let (lid, pid) = (
        listener["uuid"].as_str().unwrap(),
        pool["uuid"].as_str().unwrap(),
    );
    let lurl = e.vlb(&format!("loadBalancers/{lb}/listeners/{lid}"));
    let body = json!({"allowedCidrs": "0.0.0.0/0", "defaultPoolId": pid, "timeoutClient": 50,
        "timeoutConnection": 5, "timeoutMember": 50});
    let (status, _) = e.call(Method::PUT, &lurl, Some(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, answer) = e.call(Method::PUT, &lurl, Some(body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(msg(&answer), format!("Listener id {lid} is not ready"));
    // Another object of the busy load balancer: the load balancer's text.
    let murl = e.vlb(&format!("loadBalancers/{lb}/pools/{pid}/members"));
    let members = json!({"members": [{"backup": false, "ipAddress": "10.76.0.12",
        "monitorPort": 30080, "name": "w2", "port": 30080, "weight": 1}]});
    let (_, answer) = e.call(Method::PUT, &murl, Some(members.clone())).await;
    assert_eq!(msg(&answer), format!("Load balancer id {lb} is updating"));
    clock.advance(Duration::from_millis(400));
    let (status, _) = e.call(Method::PUT, &murl, Some(members)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let members = json!({"members": []});
    let (status, answer) = e.call(Method::PUT, &murl, Some(members)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(msg(&answer), format!("Pool id {pid} is updating"));
    clock.advance(Duration::from_millis(400));
    let (status, _) = e.call(Method::PUT, &lurl, Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

async fn login(e: &common::Env, secret: &str) -> (StatusCode, Value) {
    let resp = e
        .http
        .post(format!("{}/accounts-api/v2/auth/token", e.emu.url()))
        .basic_auth(e.emu.client_id(), Some(secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

// sdk_error/identity.go: IAM answers TOO_MANY_FAILED_LOGINS after repeated failures.
#[tokio::test]
async fn repeated_failed_logins_lock_the_client_out_for_a_while() {
    let (config, clock) = manual(0);
    let e = env_with(config).await;
    for _ in 0..vlb_vngcloud_emulator::MAX_FAILED_LOGINS {
        let (status, body) = login(&e, "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["errors"][0]["code"], "AUTHENTICATION_FAILED");
    }
    let secret = e.emu.client_secret().to_owned();
    let (status, body) = login(&e, &secret).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let err: sdk::IamErrorResponse = serde_json::from_value(body).unwrap();
    assert_eq!(err.errors[0].code, "TOO_MANY_FAILED_LOGINS");
    clock.advance(vlb_vngcloud_emulator::LOGIN_LOCKOUT);
    let (status, _) = login(&e, &secret).await;
    assert_eq!(status, StatusCode::OK);
}

// Go renders an empty slice as `null`; with `Control::set_null_empty_lists` the emulator
// answers as such a server does.
#[tokio::test]
async fn empty_lists_can_be_rendered_as_null() {
    let e = env_with(instant()).await;
    e.emu.control().set_null_empty_lists(true);
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers"),
            Some(
                json!({"name": "lb-null-lists", "packageId": e.nlb_package(),
                "scheme": "Internal", "subnetId": e.subnet_a(), "type": "Layer 4"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let lb = body["uuid"].as_str().unwrap();
    let (_, l) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners")))
        .await;
    assert_eq!(l, json!({"data": null}));
    let (_, p) = e.get(&e.vlb(&format!("loadBalancers/{lb}/pools"))).await;
    assert_eq!(p, json!({"data": null}));
    let (_, t) = e.get(&e.vs(&format!("tag/resource/{lb}"))).await;
    assert_eq!(t, Value::Null);
}
