//! The fixture file format: the shipped example equals the built-in default, and a custom
//! fixture drives what the API serves.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;

use reqwest::StatusCode;
use vlb_vngcloud_emulator::{EmulatorConfig, Fixture};

#[test]
fn shipped_default_fixture_file_equals_the_built_in_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/default.json");
    let from_file = Fixture::from_file(&path).expect("fixture file");
    assert_eq!(from_file, Fixture::default());
}

#[test]
fn a_missing_fixture_file_is_a_fixture_error() {
    let err = Fixture::from_file(Path::new("/nonexistent/fixture.json")).unwrap_err();
    assert!(err.to_string().contains("bad fixture"));
}

#[tokio::test]
async fn a_custom_fixture_sets_project_credentials_and_packages() {
    let mut fixture = Fixture {
        project_id: "pro-custom".into(),
        client_id: "custom-id".into(),
        ..Fixture::default()
    };
    fixture.packages.truncate(1);
    let e = common::env_with(EmulatorConfig {
        fixture,
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(e.emu.project_id(), "pro-custom");
    assert_eq!(e.emu.client_id(), "custom-id");
    let (status, body) = e.get(&e.vlb("loadBalancers/packages?zoneId=")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["listData"].as_array().unwrap().len(), 1);
    let wrong_project = format!("{}/vlb-gateway/v2/pro-other/loadBalancers", e.emu.url());
    let (status, _) = e.get(&wrong_project).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
