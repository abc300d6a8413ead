//! Asynchronous life cycle: CREATING → ACTIVE, UPDATING refusals, DELETING, injected ERROR.

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
use std::time::Duration;

use common::{env_with, sdk};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vlb_vngcloud_emulator::{Delays, EmulatorConfig, LbPhase, ManualClock};

fn config(create_ms: u64, update_ms: u64, delete_ms: u64) -> EmulatorConfig {
    EmulatorConfig {
        delays: Delays {
            create_ms,
            update_ms,
            delete_ms,
        },
        ..EmulatorConfig::default()
    }
}

/// A config on a frozen clock: transient phases end only when the test advances it.
fn manual(create_ms: u64, update_ms: u64, delete_ms: u64) -> (EmulatorConfig, ManualClock) {
    let clock = ManualClock::new();
    let config = EmulatorConfig {
        clock: Arc::new(clock.clone()),
        ..config(create_ms, update_ms, delete_ms)
    };
    (config, clock)
}

fn msg(body: &Value) -> String {
    serde_json::from_value::<sdk::NormalErrorResponse>(body.clone())
        .unwrap()
        .message
        .to_lowercase()
}

async fn statuses(e: &common::Env, lb: &str) -> (String, String) {
    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    let r: sdk::GetLoadBalancerByIdResponse = serde_json::from_value(body).unwrap();
    (r.data.display_status, r.data.progress_status)
}

fn pool_body(name: &str) -> Value {
    json!({"algorithm": "ROUND_ROBIN", "poolName": name, "poolProtocol": "TCP", "members": []})
}

#[tokio::test]
async fn new_load_balancer_is_creating_then_active_and_refuses_changes_meanwhile() {
    let (config, clock) = manual(300, 50, 50);
    let e = env_with(config).await;
    let lb = e.create_nlb("lb-lifecycle").await;
    assert_eq!(
        statuses(&e, &lb).await,
        ("CREATING".into(), "CREATING".into())
    );
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb(&format!("loadBalancers/{lb}/pools")),
            Some(pool_body("p2")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains(&format!("load balancer id {lb} is not ready")));
    let (_, body) = e
        .call(Method::DELETE, &e.vlb(&format!("loadBalancers/{lb}")), None)
        .await;
    assert!(msg(&body).contains(&format!("load balancer id {lb} is creating")));
    clock.advance(Duration::from_millis(299));
    assert_eq!(statuses(&e, &lb).await.0, "CREATING");
    clock.advance(Duration::from_millis(1));
    assert_eq!(statuses(&e, &lb).await, ("ACTIVE".into(), "CREATED".into()));
}

#[tokio::test]
async fn every_change_sets_updating_and_changes_sent_meanwhile_are_refused() {
    let (config, clock) = manual(0, 400, 50);
    let e = env_with(config).await;
    let lb = e.create_nlb("lb-updating").await;
    assert_eq!(statuses(&e, &lb).await.0, "ACTIVE");
    let pools = e.vlb(&format!("loadBalancers/{lb}/pools"));
    let (status, _) = e.call(Method::POST, &pools, Some(pool_body("p2"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        statuses(&e, &lb).await,
        ("UPDATING".into(), "UPDATING".into())
    );
    let (status, body) = e.call(Method::POST, &pools, Some(pool_body("p3"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains(&format!("load balancer id {lb} is updating")));
    let (_, body) = e
        .call(Method::DELETE, &e.vlb(&format!("loadBalancers/{lb}")), None)
        .await;
    assert!(msg(&body).contains("is updating"));
    clock.advance(Duration::from_millis(400));
    assert_eq!(statuses(&e, &lb).await, ("ACTIVE".into(), "CREATED".into()));
    let (status, _) = e.call(Method::POST, &pools, Some(pool_body("p3"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn deletion_goes_through_deleting_then_the_load_balancer_is_gone() {
    let (config, clock) = manual(0, 0, 300);
    let e = env_with(config).await;
    let lb = e.create_nlb("lb-deleting").await;
    let (status, _) = e
        .call(Method::DELETE, &e.vlb(&format!("loadBalancers/{lb}")), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(statuses(&e, &lb).await.0, "DELETING");
    let (_, body) = e
        .call(Method::DELETE, &e.vlb(&format!("loadBalancers/{lb}")), None)
        .await;
    assert!(msg(&body).contains(&format!("load balancer id {lb} is deleting")));
    clock.advance(Duration::from_millis(300));
    let (status, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(msg(&body).contains("cannot get load balancer with id"));
}

#[tokio::test]
async fn injected_error_is_reported_and_refuses_changes_but_allows_delete() {
    let e = env_with(config(0, 0, 0)).await;
    let lb = e.create_nlb("lb-error").await;
    e.emu.control().inject_error(&lb).unwrap();
    assert_eq!(statuses(&e, &lb).await, ("ERROR".into(), "ERROR".into()));
    let (_, body) = e
        .call(
            Method::POST,
            &e.vlb(&format!("loadBalancers/{lb}/pools")),
            Some(pool_body("p2")),
        )
        .await;
    assert!(msg(&body).contains("is not ready"));
    let (status, _) = e
        .call(Method::DELETE, &e.vlb(&format!("loadBalancers/{lb}")), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(e.emu.control().load_balancer(&lb).is_none());
}

#[tokio::test]
async fn out_of_band_drift_and_deletion_are_visible_to_the_api() {
    let e = env_with(config(0, 0, 0)).await;
    let lb = e.create_nlb("lb-drift").await;
    let control = e.emu.control();
    control
        .edit_load_balancer(&lb, |l| l.pools[0].members.clear())
        .unwrap();
    let pool = control.load_balancer(&lb).unwrap().pools[0].id.clone();
    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/pools/{pool}/members")))
        .await;
    let members: sdk::ListPoolMembersResponse = serde_json::from_value(body).unwrap();
    assert!(members.data.is_empty());
    control
        .patch_load_balancer(&lb, &json!({"name": "renamed-in-portal"}))
        .unwrap();
    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    let r: sdk::GetLoadBalancerByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(r.data.name, "renamed-in-portal");
    control
        .patch_load_balancer(&lb, &json!({"phase": "UPDATING"}))
        .unwrap();
    assert_eq!(control.load_balancer(&lb).unwrap().phase, LbPhase::Updating);
    control.delete_load_balancer(&lb).unwrap();
    let (status, _) = e.get(&e.vlb(&format!("loadBalancers/{lb}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    control.reset();
    assert!(control.load_balancers().is_empty());
    assert_eq!(control.total_calls(), 0);
}

#[tokio::test]
async fn failed_creation_goes_from_creating_to_error() {
    let (config, clock) = manual(100, 0, 0);
    let e = env_with(config).await;
    e.emu.control().fail_next_creates(1);
    let lb = e.create_nlb("lb-fails").await;
    assert_eq!(statuses(&e, &lb).await.0, "CREATING");
    let next = e.create_nlb("lb-succeeds").await;
    clock.advance(Duration::from_millis(100));
    assert_eq!(statuses(&e, &lb).await, ("ERROR".into(), "ERROR".into()));
    assert_eq!(
        statuses(&e, &next).await,
        ("ACTIVE".into(), "CREATED".into())
    );
}

#[tokio::test]
async fn delays_can_change_at_runtime() {
    let e = env_with(config(60_000, 60_000, 60_000)).await;
    e.emu.control().set_delays(Delays {
        create_ms: 0,
        update_ms: 0,
        delete_ms: 0,
    });
    let lb = e.create_nlb("lb-fast").await;
    assert_eq!(statuses(&e, &lb).await, ("ACTIVE".into(), "CREATED".into()));
}
