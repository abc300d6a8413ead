//! Every typed error, produced by the emulator (injected faults or real answers), is
//! classified into its narrowest `KubeError` and retried only when its class allows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use vlb_k8s_adapter::error::{KubeError, Op, RetryPolicy, retry};
use vlb_kube_emulator::{FaultRule, KubeEmulator, Verb};

async fn get_with_fault(status: u16, retry_after: Option<u64>) -> KubeError {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    let mut rule = FaultRule::new(status)
        .verb(Verb::Get)
        .resource("configmaps");
    if let Some(s) = retry_after {
        rule = rule.retry_after(s);
    }
    emu.faults().inject(rule);
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.get("x")
        .await
        .map(drop)
        .map_err(KubeError::from)
        .unwrap_err()
}

#[tokio::test]
async fn missing_object_is_not_found() {
    let emu = KubeEmulator::start().await.unwrap();
    let api = Api::<ConfigMap>::namespaced(common::client(&emu).await, "default");
    let e = KubeError::from(api.get("absent").await.unwrap_err());
    assert!(matches!(e, KubeError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn injected_faults_are_classified_by_status() {
    assert!(matches!(
        get_with_fault(404, None).await,
        KubeError::NotFound(_)
    ));
    assert!(matches!(
        get_with_fault(409, None).await,
        KubeError::Conflict(_)
    ));
    assert!(matches!(
        get_with_fault(410, None).await,
        KubeError::Gone(_)
    ));
    assert!(matches!(
        get_with_fault(401, None).await,
        KubeError::Unauthorized(_)
    ));
    assert!(matches!(
        get_with_fault(403, None).await,
        KubeError::Forbidden(_)
    ));
    assert!(matches!(
        get_with_fault(422, None).await,
        KubeError::Invalid { code: 422, .. }
    ));
    assert!(matches!(
        get_with_fault(400, None).await,
        KubeError::Invalid { code: 400, .. }
    ));
    assert!(matches!(
        get_with_fault(500, None).await,
        KubeError::Server { code: 500, .. }
    ));
    assert!(matches!(
        get_with_fault(503, None).await,
        KubeError::Server { code: 503, .. }
    ));
}

#[tokio::test]
async fn too_many_requests_carries_the_servers_retry_after() {
    let e = get_with_fault(429, Some(7)).await;
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e:?}");
    assert!(matches!(e, KubeError::TooManyRequests { .. }));
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    drop(emu);
    let api = Api::<ConfigMap>::namespaced(client, "default");
    let e = KubeError::from(api.get("x").await.unwrap_err());
    assert!(matches!(e, KubeError::Transport(_)), "{e:?}");
}

#[tokio::test]
async fn server_unavailable_is_retried_until_the_fault_is_used_up() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    emu.faults().inject(
        FaultRule::new(503)
            .verb(Verb::Get)
            .resource("namespaces")
            .times(2),
    );
    let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let ns = retry(&RetryPolicy::fast(), Op::Other, || async {
        api.get("default").await.map_err(KubeError::from)
    })
    .await
    .unwrap();
    assert_eq!(ns.metadata.name.as_deref(), Some("default"));
    assert_eq!(
        emu.journal()
            .count(|e| e.verb == Verb::Get && e.resource == "namespaces"),
        3
    );
}

#[tokio::test]
async fn forbidden_is_not_retried() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    emu.faults().inject(
        FaultRule::new(403)
            .verb(Verb::Get)
            .resource("namespaces")
            .times(5),
    );
    let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let e = retry(&RetryPolicy::fast(), Op::Apply, || async {
        api.get("default").await.map_err(KubeError::from)
    })
    .await
    .unwrap_err();
    assert!(matches!(e, KubeError::Forbidden(_)));
    assert_eq!(emu.journal().count_verb(Verb::Get, "namespaces"), 1);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_servers_delay() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    emu.faults().inject(
        FaultRule::new(429)
            .verb(Verb::Get)
            .resource("namespaces")
            .retry_after(1),
    );
    let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let start = std::time::Instant::now();
    retry(&RetryPolicy::fast(), Op::Other, || async {
        api.get("default").await.map_err(KubeError::from)
    })
    .await
    .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(emu.journal().count_verb(Verb::Get, "namespaces"), 2);
}
