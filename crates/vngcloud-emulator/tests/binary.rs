//! The binary prints `listening on http://ADDR` and serves the fixture it was given.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

#[tokio::test]
async fn binary_prints_its_address_and_honours_credential_flags() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vlb-vngcloud-emulator"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--project-id",
            "pro-cli",
            "--client-id",
            "cli-id",
            "--client-secret",
            "cli-secret",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{url}/accounts-api/v2/auth/token"))
        .basic_auth("cli-id", Some("cli-secret"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let resp = http
        .get(format!("{url}/vserver-gateway/v2/pro-cli/secgroups"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}
