//! Measures how many requests per second the emulator serves on this machine.
//!
//! `cargo run --release -p vlb-vngcloud-emulator --example vngcloud_emulator_throughput -- [CONNECTIONS] [SECONDS]`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vlb_vngcloud_emulator::{Delays, EmulatorConfig, RateLimit, VngEmulator};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let emu = VngEmulator::start_with(EmulatorConfig {
        delays: Delays {
            create_ms: 0,
            update_ms: 0,
            delete_ms: 0,
        },
        rate_limit: RateLimit {
            requests: u32::MAX,
            window: Duration::from_secs(1),
        },
        ..EmulatorConfig::default()
    })
    .await
    .expect("start");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/accounts-api/v2/auth/token", emu.url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let f = vlb_vngcloud_emulator::Fixture::default();
    let created: Value = http
        .post(format!("{}/vlb-gateway/v2/{}/loadBalancers", emu.url(), emu.project_id()))
        .bearer_auth(&token)
        .json(&json!({"name": "bench", "packageId": f.packages[0].id, "scheme": "Internal",
            "subnetId": f.networks[0].subnets[0].id, "type": "Layer 4",
            "listener": {"listenerName": "tcp-80", "listenerProtocol": "TCP", "listenerProtocolPort": 80},
            "pool": {"poolName": "web", "poolProtocol": "TCP", "members": []}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}/vlb-gateway/v2/{}/loadBalancers/{}",
        emu.url(),
        emu.project_id(),
        created["uuid"].as_str().unwrap()
    );
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (http, url, token, done) = (http.clone(), url.clone(), token.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert!(resp.status().is_success());
                let _ = resp.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let rps = n as f64 / secs as f64;
    println!("{conns} connections, {secs} s: {n} GET load balancer calls, {rps:.0} requests/s");
}
