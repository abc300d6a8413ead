//! Objects the operator cannot decode never stop it (issue #17): a cluster holding an LBC
//! and an NSG with values vlb does not know (written while a more permissive CRD was
//! installed, as the Go controller's CRDs are) still lets a freshly started operator sync
//! its caches, turn ready and converge a new Service; the two objects carry one Warning
//! Event each, naming the problem without their body, and are left untouched.

// Test helpers fail the test by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use vlb_tests::{DEADLINE, Harness, Options, lb_service, wait_for};

/// `crd` with a schema accepting any spec and status (as loose as the Go controller's, which
/// has no enums).
fn permissive(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let loose = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    for v in &mut crd.spec.versions {
        v.schema = Some(serde_json::from_value(json!({"openAPIV3Schema": loose})).unwrap());
    }
    crd
}

/// Replaces the installed CRD of `crd`'s name by `crd` (its objects stay stored).
async fn replace_crd(client: &kube::Client, mut crd: CustomResourceDefinition) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let name = crd.metadata.name.clone().unwrap();
    let current = api.get(&name).await.unwrap();
    crd.metadata.resource_version = current.metadata.resource_version;
    api.replace(&name, &PostParams::default(), &crd)
        .await
        .unwrap();
}

async fn create(h: &Harness, ar: &kube::api::ApiResource, body: Value) {
    let api = Api::<DynamicObject>::namespaced_with(h.client.clone(), &h.namespace, ar);
    let obj: DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

/// The Warning Events on `kind` `name`.
async fn warnings(h: &Harness, kind: &str, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(h.client.clone(), &h.namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .collect()
}

#[tokio::test]
async fn undecodable_lbc_and_nsg_are_reported_and_do_not_stop_the_operator() {
    let mut opts = Options::new("undecodable");
    opts.start_operator = false;
    let mut h = Harness::start_with(opts).await;
    let crds = vlb_k8s_adapter::crds();
    for crd in &crds {
        replace_crd(&h.client, permissive(crd.clone())).await;
    }
    let lbc_ar = kube::api::ApiResource::erase::<vlb_k8s_adapter::LoadBalancerConfig>(&());
    let nsg_ar = kube::api::ApiResource::erase::<vlb_k8s_adapter::NodeSecurityGroup>(&());
    let marker = "body-marker-never-logged";
    create(
        &h,
        &lbc_ar,
        json!({
            "apiVersion": "vks.vngcloud.vn/v1alpha1", "kind": "LoadBalancerConfig",
            "metadata": {"name": "go-broken"},
            "spec": {"type": "Layer 4", "loadBalancerName": marker,
                     "pools": [{"name": "p", "protocol": "SCTP"}]},
        }),
    )
    .await;
    create(
        &h,
        &nsg_ar,
        json!({
            "apiVersion": "vks.vngcloud.vn/v1alpha1", "kind": "NodeSecurityGroup",
            "metadata": {"name": "go-broken"},
            "spec": {"selectNodeLabels": null, "managedSecurityGroup": {"name": marker, "rules": [
                {"protocol": "gre", "fromPort": 0, "toPort": 0, "cidr": "10.0.0.0/8",
                 "description": marker, "direction": "ingress", "etherType": "IPv4"}]}},
        }),
    )
    .await;
    // vlb is installed over them: its CRDs replace the loose ones, the objects stay.
    for crd in crds {
        replace_crd(&h.client, crd).await;
    }

    h.start_operator().await;
    assert_eq!(
        h.operator().readiness().missing(),
        Vec::<&str>::new(),
        "ready"
    );
    h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
        .await;
    h.wait_service_ready("web").await;

    for kind in ["LoadBalancerConfig", "NodeSecurityGroup"] {
        let events = wait_for(
            format!("Warning Event on {kind} go-broken"),
            DEADLINE,
            || async {
                let w = warnings(&h, kind, "go-broken").await;
                if w.is_empty() {
                    Err("none yet".to_owned())
                } else {
                    Ok(w)
                }
            },
        )
        .await;
        assert_eq!(events.len(), 1, "{kind}: one Event: {events:?}");
        let e = &events[0];
        assert_eq!(e.reason.as_deref(), Some("Undecodable"));
        let note = e.note.clone().unwrap_or_default();
        assert!(note.contains("unknown variant"), "{kind}: {note}");
        assert!(!note.contains(marker), "{kind}: the body leaked: {note}");
        assert_eq!(
            e.series.as_ref().map_or(1, |s| s.count),
            1,
            "{kind}: reported once"
        );
    }
    // Left as they were: no finalizer, no status.
    for ar in [&lbc_ar, &nsg_ar] {
        let api = Api::<DynamicObject>::namespaced_with(h.client.clone(), &h.namespace, ar);
        let obj = api.get("go-broken").await.unwrap();
        assert!(obj.metadata.finalizers.unwrap_or_default().is_empty());
        assert!(obj.data.get("status").is_none_or(Value::is_null));
    }
    h.stop_operator().await;
}
