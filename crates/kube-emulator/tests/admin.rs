//! The admin HTTP paths under /_emulator (journal, faults, latency, compact, watches, rules).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use vlb_kube_emulator::{KubeEmulator, Verb};

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status: u16 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_faults_and_journal_work_over_http() {
    let emu = KubeEmulator::start().await.unwrap();
    let (code, _) = http(
        emu.addr(),
        "POST",
        "/_emulator/faults",
        r#"{"verb":"get","resource":"services","status":503,"retryAfter":0,"times":1}"#,
    )
    .await;
    assert_eq!(code, 200);
    let mut config = kube::Config::new(emu.url().parse().unwrap());
    config.auth_info = serde_json::from_value(json!({"token": emu.token()})).unwrap();
    config.default_retry = false;
    let api: Api<Service> = Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    let err = api.get("kubernetes").await.unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (503, "ServiceUnavailable"));
    api.get("kubernetes").await.unwrap();
    let (_, body) = http(
        emu.addr(),
        "GET",
        "/_emulator/journal?verb=get&resource=services",
        "",
    )
    .await;
    let entries: Vec<Value> = serde_json::from_str(&body).unwrap();
    let statuses: Vec<u64> = entries
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 200]);
    let (_, body) = http(
        emu.addr(),
        "GET",
        "/_emulator/journal?count=true&status=503",
        "",
    )
    .await;
    assert!(body.contains(r#"{"count":1}"#), "{body}");
    let (code, _) = http(emu.addr(), "DELETE", "/_emulator/journal", "").await;
    assert_eq!(code, 200);
    assert_eq!(emu.journal().count_verb(Verb::Get, "services"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_rules_and_compact_change_the_server() {
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let (code, _) = http(
        emu.addr(),
        "POST",
        "/_emulator/rules",
        r#"[{"apiGroups":[""],"resources":["services"],"verbs":["get"]}]"#,
    )
    .await;
    assert_eq!(code, 200);
    api.get("kubernetes").await.unwrap();
    let err = api
        .patch(
            "kubernetes",
            &PatchParams::default(),
            &Patch::Merge(json!({})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err:?}"
    );
    let (code, _) = http(emu.addr(), "POST", "/_emulator/rules", "null").await;
    assert_eq!(code, 200);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let (code, _) = http(emu.addr(), "POST", "/_emulator/compact", "").await;
    assert_eq!(code, 200);
    // A list not older than a compacted version is served from the present...
    api.list(
        &ListParams::default()
            .at(&rv)
            .matching(kube::api::VersionMatch::NotOlderThan),
    )
    .await
    .unwrap();
    // ...a watch from it is gone.
    let mut w = api
        .watch(&kube::api::WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = w.try_next().await.unwrap().unwrap();
    assert!(
        matches!(&ev, kube::api::WatchEvent::Error(e) if e.code == 410),
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_paths_without_a_token_answer_401_status() {
    let emu = KubeEmulator::start().await.unwrap();
    for path in ["/api/v1/namespaces", "/apis", "/version"] {
        let (code, body) = http(emu.addr(), "GET", path, "").await;
        assert_eq!(code, 401, "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Unauthorized");
        assert_eq!(v["code"], 401);
    }
    assert!(emu.journal().entries().is_empty());
}
