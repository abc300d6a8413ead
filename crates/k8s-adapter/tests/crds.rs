//! The CRDs as the API server sees them: invalid specs are refused, `kubectl get lbc` shows
//! the printer columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kube::api::{Api, PostParams};
use serde_json::json;
use vlb_k8s_adapter::LoadBalancerConfig;
use vlb_k8s_adapter::error::KubeError;
use vlb_kube_emulator::KubeEmulator;

fn lbc(name: &str, spec: &serde_json::Value) -> LoadBalancerConfig {
    serde_json::from_value(json!({
        "apiVersion": "vks.vngcloud.vn/v1alpha1",
        "kind": "LoadBalancerConfig",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

async fn create_raw(client: &kube::Client, body: serde_json::Value) -> Result<(), KubeError> {
    // A dynamic object, so the client-side types cannot refuse the values first.
    let ar = kube::api::ApiResource::erase::<LoadBalancerConfig>(&());
    let api = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), "default", &ar);
    let obj: kube::api::DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .map(drop)
        .map_err(KubeError::from)
}

fn raw(name: &str, spec: &serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "vks.vngcloud.vn/v1alpha1",
        "kind": "LoadBalancerConfig",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    })
}

#[tokio::test]
async fn the_api_server_rejects_a_port_out_of_range_and_an_unknown_scheme() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;

    let listener = |port: u32| json!({"type": "Layer 4", "listeners": [{"name": "l", "protocol": "TCP", "protocolPort": port}]});
    let e = create_raw(&client, raw("bad-port", &listener(70000)))
        .await
        .unwrap_err();
    assert!(matches!(e, KubeError::Invalid { code: 422, .. }), "{e:?}");
    assert!(e.to_string().contains("protocolPort"), "{e}");

    let e = create_raw(
        &client,
        raw(
            "bad-scheme",
            &json!({"type": "Layer 4", "scheme": "Public"}),
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KubeError::Invalid { code: 422, .. }), "{e:?}");
    assert!(e.to_string().contains("scheme"), "{e}");

    let e = create_raw(&client, raw("bad-type", &json!({"type": "Layer 9"})))
        .await
        .unwrap_err();
    assert!(matches!(e, KubeError::Invalid { code: 422, .. }), "{e:?}");

    create_raw(&client, raw("good", &listener(443)))
        .await
        .unwrap();
    create_raw(
        &client,
        raw(
            "internal",
            &json!({"type": "Layer 4", "scheme": "Internal"}),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn kubectl_get_lbc_shows_the_printer_columns() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    let api = Api::<LoadBalancerConfig>::namespaced(client.clone(), "default");
    let created = api
        .create(
            &PostParams::default(),
            &lbc("web", &json!({"type": "Layer 4"})),
        )
        .await
        .unwrap();
    let mut with_status = created.clone();
    with_status.status = Some(
        serde_json::from_value(json!({
            "loadBalancerId": "lb-1234",
            "address": "203.0.113.7",
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "ReconcileSuccess",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]
        }))
        .unwrap(),
    );
    api.replace_status("web", &PostParams::default(), &with_status)
        .await
        .unwrap();

    // kubectl blocks: run it off the runtime thread that serves the emulator.
    let kubeconfig = emu.kubeconfig_path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["get", "lbc", "-n", "default", "--request-timeout=20s"])
            .output()
            .expect("kubectl must be installed to run this test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "LB-ID", "ADDRESS", "READY", "AGE"]);
    let row = lines.next().unwrap();
    for want in ["web", "Layer 4", "lb-1234", "203.0.113.7", "True"] {
        assert!(row.contains(want), "{want} missing in {row:?}");
    }
}
