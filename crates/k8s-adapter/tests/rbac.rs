//! The shipped ClusterRole is enough and least: with the emulator's authorizer set to exactly
//! its rules, every call the adapter makes is allowed, and calls outside it are refused 403.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use vlb_domain::model::{
    LoadBalancerConfigSpec, NodeSecurityGroupSpec, ObjectKey, ObjectKind, ObjectRef,
};
use vlb_domain::ports::{ClusterReader, DesiredMeta, Event, EventType, ObjectWriter};
use vlb_k8s_adapter::error::KubeError;
use vlb_k8s_adapter::{
    KubeEventSink, KubeReader, KubeWriter, LoadBalancerConfig, Reflectors, RetryPolicy,
    cluster_role,
};
use vlb_kube_emulator::KubeEmulator;

async fn create<K>(api: &Api<K>, v: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

async fn fixtures(client: &Client) {
    common::install_crds(client).await;
    common::namespace(client, "apps").await;
    common::namespace(client, "vlb-system").await;
    create(
        &Api::<Node>::all(client.clone()),
        json!({"metadata": {"name": "node-1"}, "spec": {"providerID": "vngcloud://ins-1"}}),
    )
    .await;
    create(
        &Api::<Service>::namespaced(client.clone(), "apps"),
        json!({"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    )
    .await;
    create(
        &Api::<EndpointSlice>::namespaced(client.clone(), "apps"),
        json!({
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"name": "", "port": 8080}]
        }),
    )
    .await;
    create(
        &Api::<Secret>::namespaced(client.clone(), "apps"),
        json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x", "tls.key": "y"}}),
    )
    .await;
}

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r.map_err(KubeError::from), Err(KubeError::Forbidden(_)))
}

#[tokio::test]
async fn the_cluster_role_allows_every_adapter_call_and_nothing_more() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    fixtures(&client).await;
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    emu.journal().clear();

    // Reads: reflectors list and watch every kind.
    let reflectors = Reflectors::start(&client);
    reflectors
        .wait_until_ready(Duration::from_secs(10))
        .await
        .unwrap();
    let reader = KubeReader::new(reflectors.stores.clone());
    assert_eq!(reader.list_nodes().await.unwrap().len(), 1);
    assert_eq!(
        reader
            .service_endpoints(&ObjectKey::new("apps", "web"))
            .await
            .unwrap()[0]
            .address,
        "10.0.0.1"
    );
    assert!(
        reader
            .get_secret(&ObjectKey::new("apps", "tls"))
            .await
            .unwrap()
            .is_some()
    );

    // Writes.
    let writer = KubeWriter::new(client.clone()).with_policy(RetryPolicy::fast());
    let meta = DesiredMeta {
        key: ObjectKey::new("apps", "web"),
        labels: std::collections::BTreeMap::default(),
        finalizers: vec!["lbc.vngcloud.vn/resources".into()],
    };
    writer
        .apply_lbc(&meta, &LoadBalancerConfigSpec::default())
        .await
        .unwrap();
    writer
        .apply_nsg(&meta, &NodeSecurityGroupSpec::default())
        .await
        .unwrap();
    let svc = ObjectRef {
        kind: ObjectKind::Service,
        key: ObjectKey::new("apps", "web"),
        uid: None,
    };
    let fin = "service.kubernetes.io/load-balancer-cleanup";
    writer.add_finalizer(&svc, fin).await.unwrap();
    writer.remove_finalizer(&svc, fin).await.unwrap();
    let lbc = ObjectRef {
        kind: ObjectKind::LoadBalancerConfig,
        ..svc.clone()
    };
    writer.add_finalizer(&lbc, "x.example/y").await.unwrap();
    writer.remove_finalizer(&lbc, "x.example/y").await.unwrap();
    // Status patches (the batch's writes).
    let services = Api::<Service>::namespaced(client.clone(), "apps");
    services
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}),
            ),
        )
        .await
        .unwrap();
    let lbcs = Api::<LoadBalancerConfig>::namespaced(client.clone(), "apps");
    lbcs.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"address": "203.0.113.7"}})),
    )
    .await
    .unwrap();
    // Events: a create, then a series patch.
    let sink = KubeEventSink::new(client.clone(), Some("pod-1".into()));
    let event = Event {
        event_type: EventType::Normal,
        reason: "EnsuredLoadBalancer".into(),
        message: "ok".into(),
    };
    sink.try_publish(&svc, &event).await.unwrap();
    sink.try_publish(&svc, &event).await.unwrap();
    // Leader election.
    let leases = Api::<Lease>::namespaced(client.clone(), "vlb-system");
    create(
        &leases,
        json!({"metadata": {"name": "vlb-controller-leader"}, "spec": {"holderIdentity": "pod-1"}}),
    )
    .await;
    let lease = leases.get("vlb-controller-leader").await.unwrap();
    leases
        .patch(
            &lease.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"leaseDurationSeconds": 15}})),
        )
        .await
        .unwrap();
    // Deletes.
    writer
        .delete_lbc(&ObjectKey::new("apps", "web"))
        .await
        .unwrap();
    writer
        .delete_nsg(&ObjectKey::new("apps", "web"))
        .await
        .unwrap();

    let refused: Vec<String> = emu
        .journal()
        .entries()
        .iter()
        .filter(|e| e.status == 403)
        .map(|e| format!("{:?} {} {:?}", e.verb, e.resource, e.subresource))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");

    // Outside the role: refused.
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "apps");
    assert!(is_forbidden(
        cms.create(&PostParams::default(), &ConfigMap::default())
            .await
    ));
    let secrets = Api::<Secret>::namespaced(client.clone(), "apps");
    assert!(is_forbidden(
        secrets
            .patch(
                "tls",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {}}))
            )
            .await
    ));
    assert!(is_forbidden(
        Api::<Node>::all(client.clone())
            .delete("node-1", &DeleteParams::default())
            .await
    ));
    assert!(is_forbidden(
        services.delete("web", &DeleteParams::default()).await
    ));
    let current = lbcs.get("web").await;
    if let Ok(obj) = current {
        assert!(is_forbidden(
            lbcs.replace("web", &PostParams::default(), &obj).await
        ));
    }
    assert!(is_forbidden(
        Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));
}
