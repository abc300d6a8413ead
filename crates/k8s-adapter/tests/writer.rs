//! The `ObjectWriter`: server-side apply, idempotent deletes, finalizer patches and retries,
//! against the kube emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use vlb_domain::error::ClusterError;
use vlb_domain::model::{
    ListenerProtocol, ListenerSpec, LoadBalancerConfigSpec, ObjectKey, ObjectKind, ObjectRef,
};
use vlb_domain::ports::{DesiredMeta, ObjectWriter};
use vlb_k8s_adapter::crd::LBC_FINALIZER;
use vlb_k8s_adapter::{KubeWriter, LoadBalancerConfig, RetryPolicy, cluster_role};
use vlb_kube_emulator::{FaultRule, KubeEmulator, Verb};

async fn setup() -> (KubeEmulator, Client, KubeWriter) {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    common::namespace(&client, "apps").await;
    // Every call below runs as the operator: exactly the shipped ClusterRole.
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    emu.journal().clear();
    let writer = KubeWriter::new(client.clone()).with_policy(RetryPolicy::fast());
    (emu, client, writer)
}

fn desired(name: &str) -> DesiredMeta {
    DesiredMeta {
        key: ObjectKey::new("apps", name),
        labels: BTreeMap::from([(
            "vks.vngcloud.vn/owner-resource-name".to_owned(),
            name.to_owned(),
        )]),
        finalizers: vec![LBC_FINALIZER.to_owned()],
    }
}

fn spec(port: u16) -> LoadBalancerConfigSpec {
    LoadBalancerConfigSpec {
        load_balancer_name: "lb".into(),
        listeners: vec![ListenerSpec {
            name: "http".into(),
            description: None,
            protocol: ListenerProtocol::Tcp,
            protocol_port: port,
            default_pool_name: None,
            timeout_client: None,
            timeout_member: None,
            timeout_connection: None,
            allowed_cidrs: None,
            insert_headers: vec![],
            policies: vec![],
            certificate_default: None,
            certificate_authorities: vec![],
            client_certificate_id: None,
        }],
        ..LoadBalancerConfigSpec::default()
    }
}

fn lbc_ref(name: &str) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::LoadBalancerConfig,
        key: ObjectKey::new("apps", name),
        uid: None,
    }
}

#[tokio::test]
async fn apply_creates_the_lbc_with_owner_labels_and_finalizer_then_changes_nothing() {
    let (emu, client, writer) = setup().await;
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    let lbc = Api::<LoadBalancerConfig>::namespaced(client, "apps")
        .get("web")
        .await
        .unwrap();
    assert_eq!(lbc.spec.listeners[0].protocol_port, 80);
    assert_eq!(lbc.finalizers(), [LBC_FINALIZER]);
    assert_eq!(
        lbc.labels().get("vks.vngcloud.vn/owner-resource-name"),
        Some(&"web".to_owned())
    );
    let patch = emu
        .journal()
        .entries()
        .into_iter()
        .find(|e| e.verb == Verb::Patch)
        .unwrap();
    assert_eq!(patch.field_manager.as_deref(), Some("vlb-controller"));
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );

    emu.journal().clear();
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    assert_eq!(emu.journal().count(|e| e.changed), 0);
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn apply_conflict_is_retried_then_succeeds() {
    let (emu, _client, writer) = setup().await;
    emu.faults().inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .times(2),
    );
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    assert_eq!(
        emu.journal().count_verb(Verb::Patch, "loadbalancerconfigs"),
        3
    );
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn apply_server_unavailable_is_retried_then_succeeds() {
    let (emu, _client, writer) = setup().await;
    emu.faults().inject(
        FaultRule::new(503)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .times(2),
    );
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    assert_eq!(
        emu.journal().count_verb(Verb::Patch, "loadbalancerconfigs"),
        3
    );
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn apply_forbidden_is_returned_after_one_attempt() {
    let (emu, _client, writer) = setup().await;
    emu.faults().inject(
        FaultRule::new(403)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .times(5),
    );
    let e = writer
        .apply_lbc(&desired("web"), &spec(80))
        .await
        .unwrap_err();
    assert!(matches!(e, ClusterError::Forbidden(_)), "{e:?}");
    assert_eq!(
        emu.journal().count_verb(Verb::Patch, "loadbalancerconfigs"),
        1
    );
}

#[tokio::test]
async fn deleting_a_missing_lbc_succeeds() {
    let (emu, _client, writer) = setup().await;
    writer
        .delete_lbc(&ObjectKey::new("apps", "never"))
        .await
        .unwrap();
    writer
        .delete_nsg(&ObjectKey::new("apps", "never"))
        .await
        .unwrap();
    assert_eq!(
        emu.journal()
            .count_verb(Verb::Delete, "loadbalancerconfigs"),
        1
    );
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn delete_removes_the_lbc_once_its_finalizer_is_gone() {
    let (emu, client, writer) = setup().await;
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    writer
        .delete_lbc(&ObjectKey::new("apps", "web"))
        .await
        .unwrap();
    let api = Api::<LoadBalancerConfig>::namespaced(client, "apps");
    let held = api.get("web").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    writer
        .remove_finalizer(&lbc_ref("web"), LBC_FINALIZER)
        .await
        .unwrap();
    assert!(api.get_opt("web").await.unwrap().is_none());
    // Removing again, from an object that is gone, is a no-op.
    writer
        .remove_finalizer(&lbc_ref("web"), LBC_FINALIZER)
        .await
        .unwrap();
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn finalizer_changes_keep_other_finalizers() {
    let (emu, client, writer) = setup().await;
    let services = Api::<Service>::namespaced(client.clone(), "apps");
    // The fixture is created as an admin; the operator may not create Services.
    emu.set_authorizer_rules(None);
    let mut svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "finalizers": ["example.com/keep"]},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
    }))
    .unwrap();
    svc = services.create(&PostParams::default(), &svc).await.unwrap();
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let target = ObjectRef {
        kind: ObjectKind::Service,
        key: ObjectKey::new("apps", "web"),
        uid: svc.uid(),
    };
    let mine = "service.kubernetes.io/load-balancer-cleanup";
    writer.add_finalizer(&target, mine).await.unwrap();
    writer.add_finalizer(&target, mine).await.unwrap();
    assert_eq!(
        services.get("web").await.unwrap().finalizers(),
        ["example.com/keep", mine]
    );
    // Someone else adds a finalizer meanwhile: ours goes, theirs stay.
    services
        .patch(
            "web",
            &PatchParams::default(),
            &kube::api::Patch::Json::<()>(
                serde_json::from_value(serde_json::json!([
                    {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/late"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    writer.remove_finalizer(&target, mine).await.unwrap();
    assert_eq!(
        services.get("web").await.unwrap().finalizers(),
        ["example.com/keep", "example.com/late"]
    );
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn a_failed_finalizer_test_is_recomputed_from_a_fresh_read() {
    let (emu, client, writer) = setup().await;
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    emu.faults().inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource("loadbalancerconfigs")
            .times(1),
    );
    writer
        .add_finalizer(&lbc_ref("web"), "example.com/extra")
        .await
        .unwrap();
    let lbc = Api::<LoadBalancerConfig>::namespaced(client, "apps")
        .get("web")
        .await
        .unwrap();
    assert_eq!(lbc.finalizers(), [LBC_FINALIZER, "example.com/extra"]);
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn adding_a_finalizer_to_a_missing_object_is_not_found() {
    let (emu, _client, writer) = setup().await;
    let e = writer
        .add_finalizer(&lbc_ref("ghost"), LBC_FINALIZER)
        .await
        .unwrap_err();
    assert!(matches!(e, ClusterError::NotFound(_)), "{e:?}");
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn a_finalizer_patch_computed_from_a_stale_read_is_refused_not_applied() {
    let (emu, client, writer) = setup().await;
    writer.apply_lbc(&desired("web"), &spec(80)).await.unwrap();
    let api = Api::<LoadBalancerConfig>::namespaced(client, "apps");
    let stale = api.get("web").await.unwrap();
    // Someone else removes our finalizer and adds theirs meanwhile.
    writer
        .remove_finalizer(&lbc_ref("web"), LBC_FINALIZER)
        .await
        .unwrap();
    writer
        .add_finalizer(&lbc_ref("web"), "example.com/theirs")
        .await
        .unwrap();
    let patch = vlb_k8s_adapter::writer::finalizer_patch(&stale.metadata, "example.com/mine", true)
        .unwrap();
    let e = api
        .patch(
            "web",
            &PatchParams::default(),
            &kube::api::Patch::Json::<()>(serde_json::from_value(patch).unwrap()),
        )
        .await
        .map_err(vlb_k8s_adapter::KubeError::from)
        .unwrap_err();
    assert!(
        matches!(
            e,
            vlb_k8s_adapter::KubeError::Conflict(_)
                | vlb_k8s_adapter::KubeError::Invalid { code: 422, .. }
        ),
        "{e:?}"
    );
    assert_eq!(
        api.get("web").await.unwrap().finalizers(),
        ["example.com/theirs"]
    );
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}
