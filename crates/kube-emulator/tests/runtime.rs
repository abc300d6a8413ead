//! CRDs, a kube-runtime Controller with a finalizer, garbage collection, faults, journal, auth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vlb_kube_emulator::{FaultRule, KubeEmulator, Verb};

use common::{eventually, reason_of, status_of};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd"
)]
struct WidgetSpec {
    size: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, Default)]
struct WidgetStatus {
    observed: i32,
}

/// Creates the Widget CRD and waits until it is `Established` (kube-apiserver answers the
/// create before its controllers run: no condition yet, as the emulator does).
async fn install_crd(client: kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let crd = crds
        .create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    assert_eq!(crd.status.and_then(|s| s.conditions), None);
    eventually(30, "Widget CRD Established", || {
        let crds = crds.clone();
        async move {
            let conds = crds
                .get("widgets.example.com")
                .await
                .ok()?
                .status?
                .conditions?;
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;
}

differential! {
async fn crd_serves_its_resource_with_status_and_stops_on_delete(emu) {
    let c = emu.client();
    install_crd(c.clone()).await;
    let api: Api<Widget> = Api::namespaced(c.clone(), "default");
    let w = api
        .create(
            &PostParams::default(),
            &Widget::new("w", WidgetSpec { size: 1 }),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    let w = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observed": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(w.status.unwrap().observed, 1);
    assert_eq!(w.metadata.generation, Some(1));
    let w = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(2));
    // Schema validation: size must be an integer.
    let err = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "big"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(422), "{err:?}");
    // Strategic merge patch is not supported for custom resources.
    let err = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(415), "{err:?}");
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually(5, "CRD gone", || {
        let crds = crds.clone();
        async move {
            crds.get_opt("widgets.example.com")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    // Requests to a resource no longer served are journaled too.
    assert_eq!(
        emu.journal()
            .count(|e| e.verb == Verb::List && e.resource == "widgets" && e.status == 404),
        1
    );
}
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

differential! {
async fn controller_with_finalizer_reconciles_create_update_delete(emu) {
    let c = emu.client();
    install_crd(c.clone()).await;
    let api: Api<Widget> = Api::namespaced(c.clone(), "default");
    let cleaned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ctx = Arc::new((api.clone(), cleaned.clone()));
    let controller = Controller::new(api.clone(), kube::runtime::watcher::Config::default())
        .run(
            |w: Arc<Widget>, ctx: Arc<(Api<Widget>, Arc<std::sync::atomic::AtomicUsize>)>| async move {
                let api = ctx.0.clone();
                finalizer(&api, "example.com/cleanup", w, |ev| async {
                    match ev {
                        Finalizer::Apply(w) => {
                            let size = w.spec.size;
                            api.patch_status(
                                &w.name_any(),
                                &PatchParams::default(),
                                &Patch::Merge(json!({"status": {"observed": size}})),
                            )
                            .await?;
                            Ok::<_, kube::Error>(Action::await_change())
                        }
                        Finalizer::Cleanup(_) => {
                            ctx.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Ok(Action::await_change())
                        }
                    }
                })
                .await
                .map_err(|e| ReconcileError::Finalizer(e.to_string()))
            },
            |_w, _e: &ReconcileError, _ctx| Action::requeue(Duration::from_millis(100)),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    api.create(
        &PostParams::default(),
        &Widget::new("w", WidgetSpec { size: 1 }),
    )
    .await
    .unwrap();
    let observed = |want: i32| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let w = api.get_opt("w").await.unwrap()?;
                (w.status.as_ref().map(|s| s.observed) == Some(want)
                    && w.finalizers().iter().any(|f| f == "example.com/cleanup"))
                .then_some(())
            }
        }
    };
    eventually(10, "first reconcile", observed(1)).await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 5}})),
    )
    .await
    .unwrap();
    eventually(10, "reconcile of the update", observed(5)).await;
    api.delete("w", &DeleteParams::default()).await.unwrap();
    eventually(10, "finalized delete", || {
        let api = api.clone();
        async move { api.get_opt("w").await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert_eq!(cleaned.load(std::sync::atomic::Ordering::SeqCst), 1);
    handle.abort();
}
}

#[tokio::test]
async fn owned_object_is_garbage_collected_after_background_delete_of_owner() {
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = api.create(&PostParams::default(), &owner).await.unwrap();
    let oref = owner.controller_owner_ref(&()).unwrap();
    let child: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "child", "ownerReferences": [oref]}}))
            .unwrap();
    api.create(&PostParams::default(), &child).await.unwrap();
    // An owner of a kind the server does not serve cannot be checked: its dependent stays.
    let foreign: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "kept", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "00000000-0000-0000-0000-000000000001"}]}}))
    .unwrap();
    api.create(&PostParams::default(), &foreign).await.unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually(5, "child collected", || {
        let api = api.clone();
        async move { api.get_opt("child").await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert!(api.get_opt("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn orphan_delete_keeps_dependents_and_drops_their_owner_reference() {
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = api.create(&PostParams::default(), &owner).await.unwrap();
    let child: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "child", "ownerReferences": [owner.controller_owner_ref(&()).unwrap()]}})).unwrap();
    api.create(&PostParams::default(), &child).await.unwrap();
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually(5, "owner gone", || {
        let api = api.clone();
        async move { api.get_opt("owner").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let child = api.get("child").await.unwrap();
    assert!(child.owner_references().is_empty());
}

#[tokio::test]
async fn foreground_delete_removes_dependents_before_owner() {
    let emu = KubeEmulator::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = api.create(&PostParams::default(), &owner).await.unwrap();
    let child: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "child", "finalizers": ["x/hold"], "ownerReferences": [owner.controller_owner_ref(&()).unwrap()]}})).unwrap();
    api.create(&PostParams::default(), &child).await.unwrap();
    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    // The child is held by its finalizer, so the owner waits with foregroundDeletion.
    let o = api.get("owner").await.unwrap();
    assert!(o.metadata.deletion_timestamp.is_some());
    assert!(o.finalizers().iter().any(|f| f == "foregroundDeletion"));
    api.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(5, "owner gone", || {
        let api = api.clone();
        async move { api.get_opt("owner").await.unwrap().is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn namespace_delete_cascades_to_its_objects() {
    let emu = KubeEmulator::start().await.unwrap();
    let c = emu.client();
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "tmp");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    eventually(5, "namespace gone", || {
        let nss = nss.clone();
        async move { nss.get_opt("tmp").await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert_eq!(status_of(&api.get("x").await.unwrap_err()), Some(404));
    let err = nss
        .delete("default", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:?}");
}

differential! {
async fn injected_faults_answer_their_status_and_are_journaled(emu) {
    // kube's default client retries 429/503/504: count raw answers with retries off.
    let mut config = kube::Config::new(emu.url().parse().unwrap());
    config.auth_info = serde_json::from_value(json!({"token": emu.token()})).unwrap();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    emu.faults().inject(
        FaultRule::new(429)
            .verb(Verb::Get)
            .resource("services")
            .retry_after(2)
            .times(2),
    );
    for _ in 0..2 {
        let err = api.get("kubernetes").await.unwrap_err();
        assert_eq!(
            (status_of(&err), reason_of(&err)),
            (Some(429), "TooManyRequests".to_owned())
        );
    }
    api.get("kubernetes").await.unwrap();
    emu.faults().inject(FaultRule::new(500).name("kubernetes"));
    assert_eq!(
        status_of(&api.get("kubernetes").await.unwrap_err()),
        Some(500)
    );
    let j = emu.journal();
    assert_eq!(j.count_verb(Verb::Get, "services"), 4);
    assert_eq!(j.count(|e| e.status == 429), 2);
    assert_eq!(
        j.count(|e| e.status == 500 && e.name.as_deref() == Some("kubernetes")),
        1
    );
    // Writes are journaled with `changed`.
    let cms: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();
    cms.patch("c", &pp, &Patch::Merge(json!({"data": {"a": "1"}})))
        .await
        .unwrap();
    cms.patch("c", &pp, &Patch::Merge(json!({"data": {"a": "1"}})))
        .await
        .unwrap();
    let patches: Vec<bool> = j
        .entries()
        .iter()
        .filter(|e| e.verb == Verb::Patch)
        .map(|e| e.changed)
        .collect();
    assert_eq!(patches, vec![true, false], "a no-op patch stores nothing");
}
}

differential! {
async fn requests_without_the_token_are_unauthorized(emu) {
    let mut config = kube::Config::new(emu.url().parse().unwrap());
    config.auth_info = serde_json::from_value(json!({"token": "wrong"})).unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(
        (status_of(&err), reason_of(&err)),
        (Some(401), "Unauthorized".to_owned())
    );
}
}

#[tokio::test]
async fn authorizer_forbids_what_the_rules_do_not_grant() {
    let emu = KubeEmulator::start().await.unwrap();
    let rule: PolicyRule = serde_json::from_value(
        json!({"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}),
    )
    .unwrap();
    emu.set_authorizer_rules(Some(vec![rule]));
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    api.get("kubernetes").await.unwrap();
    let err = api
        .patch(
            "kubernetes",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        "services \"kubernetes\" is forbidden: User \"system:serviceaccount:default:default\" cannot patch resource \"services\" in API group \"\" in the namespace \"default\""
    );
    emu.set_authorizer_rules(None);
    api.patch(
        "kubernetes",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn namespaced_rules_apply_only_in_their_namespace() {
    let emu = KubeEmulator::start().await.unwrap();
    let rule: PolicyRule = serde_json::from_value(
        json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create"]}),
    )
    .unwrap();
    emu.add_namespaced_authorizer_rules("kube-system", vec![rule]);
    let in_ns: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(emu.client(), "kube-system");
    let elsewhere: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(emu.client(), "default");
    assert_eq!(status_of(&in_ns.get("x").await.unwrap_err()), Some(404));
    assert_eq!(status_of(&elsewhere.get("x").await.unwrap_err()), Some(403));
}

differential! {
async fn kubeconfig_written_at_start_gives_a_working_client(emu) {
    let kc = kube::config::Kubeconfig::read_from(emu.kubeconfig_path()).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let api: Api<Service> = Api::default_namespaced(client);
    api.get("kubernetes").await.unwrap();
}
}

#[tokio::test]
async fn lease_manager_leader_election_hands_over_on_release() {
    use kube_lease_manager::LeaseManagerBuilder;
    let emu = KubeEmulator::start().await.unwrap();
    let build = |id: &str| {
        LeaseManagerBuilder::new(emu.client(), "leader")
            .with_identity(id)
            .with_duration(3)
            .with_grace(1)
            .build()
    };
    let a = build("a").await.unwrap();
    assert!(a.changed().await.unwrap(), "a becomes leader");
    let b = build("b").await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(500), b.changed()).await;
    assert!(waiting.is_err(), "b cannot lock a held lease");
    a.release().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), b.changed())
        .await
        .expect("b takes over")
        .unwrap();
    assert!(got);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(emu.client(), "default");
    let l = leases.get("leader").await.unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn runtime_event_recorder_creates_then_updates_an_event_series() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let emu = KubeEmulator::start().await.unwrap();
    let svcs: Api<Service> = Api::namespaced(emu.client(), "default");
    let svc = svcs.get("kubernetes").await.unwrap();
    let recorder = Recorder::new(
        emu.client(),
        Reporter {
            controller: "vlb".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("load balancer ready".into()),
        action: "Sync".into(),
        secondary: None,
    };
    let reference = svc.object_ref(&());
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(emu.client(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "the second publish patches the series");
    assert_eq!(list.items[0].reason.as_deref(), Some("Synced"));
    assert_eq!(emu.journal().count_verb(Verb::Patch, "events"), 1);
}

differential! {
async fn multi_version_cluster_scoped_crd_serves_every_version_from_one_storage(emu) {
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "categories": ["all"]},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            ],
        },
    }))
    .unwrap();
    let crd = crds.create(&PostParams::default(), &crd).await.unwrap();
    assert_eq!(
        crd.status.unwrap().stored_versions,
        Some(vec!["v1".to_owned()])
    );
    let ar = |v: &str| {
        kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("example.com", v, "Gadget"),
            "gadgets",
        )
    };
    let v1: Api<kube::api::DynamicObject> = Api::all_with(emu.client(), &ar("v1"));
    let beta: Api<kube::api::DynamicObject> = Api::all_with(emu.client(), &ar("v1beta1"));
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1beta1", "kind": "Gadget",
        "metadata": {"name": "g"}, "spec": {"x": 1},
    }))
    .unwrap();
    // Serving starts once the CRD is established (at once on the emulator, soon after on
    // kube-apiserver).
    eventually(30, "gadgets served", || {
        let beta = beta.clone();
        let obj = obj.clone();
        async move { beta.create(&PostParams::default(), &obj).await.ok().map(|_| ()) }
    })
    .await;
    let got = v1.get("g").await.unwrap();
    assert_eq!(got.types.unwrap().api_version, "example.com/v1");
    assert_eq!(got.data["spec"]["x"], 1);
    // Without a status subresource, status is written with the main resource.
    let got = v1
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ok": true}})),
        )
        .await
        .unwrap();
    assert_eq!(got.data["status"]["ok"], true);
    assert_eq!(
        got.metadata.generation,
        Some(2),
        "without status subresource, status bumps generation"
    );
}
}

differential! {
async fn dry_run_update_and_delete_store_nothing(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "d"}, "data": {"a": "1"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let out = api
        .patch("d", &dry, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["a"], "2");
    let dp = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    api.delete("d", &dp).await.unwrap();
    let now = api.get("d").await.unwrap();
    assert_eq!(now.data.unwrap()["a"], "1");
    assert_eq!(
        now.metadata.resource_version,
        created.metadata.resource_version
    );
    assert!(
        emu.journal()
            .entries()
            .iter()
            .filter(|e| e.dry_run)
            .all(|e| !e.changed)
    );
}
}

differential! {
async fn delete_collection_removes_only_selected_objects(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}}}))
                .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(left, vec!["c"]);
}
}

differential! {
/// Issue #22 item 10: an emptied finalizer list reads back absent (kube-apiserver's metadata
/// lists are `omitempty`), so kube-runtime's finalizer helper, which sends `test
/// /metadata/finalizers == null` before adding its first finalizer, succeeds.
async fn an_emptied_finalizer_list_reads_back_absent_and_the_null_test_of_kube_runtime_passes(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "fin", "finalizers": ["example.com/a"], "labels": {"x": "y"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let emptied = api
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [], "labels": {"x": null}}})),
        )
        .await
        .unwrap();
    assert_eq!(emptied.metadata.finalizers, None, "{:?}", emptied.metadata);
    assert_eq!(emptied.metadata.labels, None, "{:?}", emptied.metadata);
    let read = api.get("fin").await.unwrap();
    assert_eq!(read.metadata.finalizers, None);
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/b"]},
    ]))
    .unwrap();
    let added = api
        .patch("fin", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    assert_eq!(
        added.metadata.finalizers,
        Some(vec!["example.com/b".to_owned()])
    );
}
}
