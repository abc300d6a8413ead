//! Metrics by path template and status, in a registry the app passes in.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::*;
use vlb_domain::ports::NetworkApi;
use vlb_vngcloud_emulator::{Fault, FaultKind};

#[tokio::test]
async fn metrics_count_calls_by_path_template_and_status() {
    let (emu, client) = start().await;
    let mut registry = prometheus_client::registry::Registry::default();
    client.register_metrics(&mut registry);
    client.get_server(SERVER_1).await.unwrap();
    emu.control().add_fault(Fault::new(
        "GET",
        &format!("{VS}/servers/{{serverId}}"),
        FaultKind::Status { status: 500 },
        1,
    ));
    client.get_server(SERVER_1).await.unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"vngcloud_requests_total{service="vserver",method="GET",path="servers/{serverId}",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"path="servers/{serverId}",status="500"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"vngcloud_retries_total{service="vserver",method="GET",path="servers/{serverId}",status="5xx"} 1"#), "{text}");
    assert!(
        text.contains("vngcloud_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"service="iam""#), "{text}");
}
