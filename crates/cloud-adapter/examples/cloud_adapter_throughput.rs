//! Calls per second through the adapter (pacer off) and the overhead per call versus raw
//! reqwest, against a local emulator. Run: `cargo run --release -p vlb-cloud-adapter --example
//! throughput`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use vlb_cloud_adapter::{CloudConfig, VngCloudClient};
use vlb_domain::ports::NetworkApi;
use vlb_vngcloud_emulator::{RateLimit, VngEmulator};

const SERVER: &str = "ins-5e6f7a8b-0001-4c3d-9e8f-000000000001";
const N: u32 = 5000;

#[tokio::main]
async fn main() {
    let emu = VngEmulator::start().await.expect("emulator");
    emu.control().set_rate_limit(RateLimit {
        requests: 10_000_000,
        window: Duration::from_secs(1),
    });
    let mut cfg = CloudConfig::new(
        emu.iam_url(),
        emu.vlb_url(),
        emu.vserver_url(),
        emu.project_id(),
        emu.client_id(),
        emu.client_secret(),
    );
    cfg.pacing = None;
    let client = VngCloudClient::new(cfg).expect("client");
    client.get_server(SERVER).await.unwrap(); // token + connection

    let t = Instant::now();
    for _ in 0..N {
        client.get_server(SERVER).await.unwrap();
    }
    let adapter_seq = t.elapsed();

    // Raw reqwest: same request, same token flow done once by hand.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/v2/auth/token", emu.iam_url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let url = format!(
        "{}/v2/{}/servers/{SERVER}",
        emu.vserver_url(),
        emu.project_id()
    );
    let t = Instant::now();
    for _ in 0..N {
        let v: serde_json::Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.get("data").is_some());
    }
    let raw_seq = t.elapsed();

    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..N / 64 {
                c.get_server(SERVER).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let conc = t.elapsed();
    let conc_calls = f64::from(N / 64 * 64);

    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    println!("sequential {N} GET servers/{{id}}:");
    println!(
        "  adapter: {:.0} calls/s, {:.1} us/call",
        f64::from(N) / adapter_seq.as_secs_f64(),
        per(adapter_seq)
    );
    println!(
        "  raw reqwest: {:.0} calls/s, {:.1} us/call",
        f64::from(N) / raw_seq.as_secs_f64(),
        per(raw_seq)
    );
    println!(
        "  adapter overhead: {:.1} us/call",
        per(adapter_seq) - per(raw_seq)
    );
    println!(
        "64 concurrent tasks through the adapter: {:.0} calls/s",
        conc_calls / conc.as_secs_f64()
    );
}
