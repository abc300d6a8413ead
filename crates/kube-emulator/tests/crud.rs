//! CRUD of every built-in kind, metadata semantics and error shapes, through kube::Api.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use vlb_kube_emulator::KubeEmulator;

use common::{reason_of, status_of};

async fn crud<K>(api: Api<K>, obj: serde_json::Value)
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let obj: K = serde_json::from_value(obj).unwrap();
    let name = obj.meta().name.clone().unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.meta().uid.is_some());
    assert!(created.meta().creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();
    let got = api.get(&name).await.unwrap();
    assert_eq!(got.meta().uid, created.meta().uid);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|o| o.meta().name.as_deref() == Some(&name))
    );
    let mut changed = got.clone();
    changed
        .meta_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert("touched".into(), "yes".into());
    let replaced = api
        .replace(&name, &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1, "resourceVersion increases: {rv1} -> {rv2}");
    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.annotations().get("a").map(String::as_str),
        Some("b")
    );
    assert_eq!(
        patched.labels().get("touched").map(String::as_str),
        Some("yes")
    );
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    match api.get(&name).await {
        Err(err) => assert_eq!(status_of(&err), Some(404), "{err:?}"),
        // A Namespace waits for the namespace controller (kube-controller-manager), which the
        // real control plane of the tests does not run: it stays Terminating there.
        Ok(o) if K::kind(&K::DynamicType::default()) == "Namespace" => {
            assert!(o.meta().deletion_timestamp.is_some());
        }
        Ok(o) => panic!("{name} still there: {:?}", o.meta()),
    }
}

differential! {
async fn every_builtin_kind_supports_create_get_list_replace_patch_delete(emu) {
    let c = emu.client();
    let ns = "default";
    crud::<Namespace>(Api::all(c.clone()), json!({"metadata": {"name": "team-a"}})).await;
    crud::<Service>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    )
    .await;
    crud::<Node>(Api::all(c.clone()), json!({"metadata": {"name": "node-1"}})).await;
    crud::<Pod>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    crud::<Endpoints>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "ep"}}),
    )
    .await;
    crud::<Secret>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
    )
    .await;
    crud::<ConfigMap>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "cm"}, "data": {"k": "v"}}),
    )
    .await;
    crud::<ServiceAccount>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "sa"}}),
    )
    .await;
    crud::<Event>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "ev"}, "involvedObject": {"kind": "Service", "name": "web"}}),
    )
    .await;
    crud::<k8s_openapi::api::events::v1::Event>(
        Api::namespaced(c.clone(), ns),
        json!({
            "metadata": {"name": "ev2"}, "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "example.com/test", "reportingInstance": "test-1",
            "action": "Testing", "reason": "Tested", "type": "Normal",
        }),
    )
    .await;
    crud::<EndpointSlice>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "es"}, "addressType": "IPv4", "endpoints": []}),
    )
    .await;
    crud::<Ingress>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "ing"}, "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}),
    )
    .await;
    crud::<IngressClass>(
        Api::all(c.clone()),
        json!({"metadata": {"name": "vngcloud"}, "spec": {"controller": "vngcloud.vn/vlb"}}),
    )
    .await;
    crud::<Lease>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "leader"}}),
    )
    .await;
    crud::<Role>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "r"}}),
    )
    .await;
    crud::<RoleBinding>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "rb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}}),
    )
    .await;
    crud::<ClusterRole>(Api::all(c.clone()), json!({"metadata": {"name": "cr"}})).await;
    crud::<ClusterRoleBinding>(
        Api::all(c.clone()),
        json!({"metadata": {"name": "crb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}}),
    )
    .await;
    crud::<Deployment>(
        Api::namespaced(c.clone(), ns),
        json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
    )
    .await;
}
}

differential! {
async fn stale_update_is_rejected_with_conflict_status(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    let v1 = api.create(&PostParams::default(), &cm).await.unwrap();
    let mut a = v1.clone();
    a.data = Some([("k".to_owned(), "1".to_owned())].into());
    api.replace("x", &PostParams::default(), &a).await.unwrap();
    let mut stale = v1.clone();
    stale.data = Some([("k".to_owned(), "2".to_owned())].into());
    let err = api
        .replace("x", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let err = api
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"resourceVersion": v1.resource_version()}, "data": {"k": "3"}}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), "Conflict");
}
}

differential! {
async fn missing_and_duplicate_objects_answer_not_found_and_already_exists(emu) {
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let err = api.get("nope").await.unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "services \"nope\" not found");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
    let err = api.create(&PostParams::default(), &svc).await.unwrap_err();
    assert_eq!(
        (status_of(&err), reason_of(&err)),
        (Some(409), "AlreadyExists".to_owned())
    );
}
}

differential! {
async fn generation_changes_on_spec_writes_only(emu) {
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "g"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap();
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let d = api
        .patch(
            "g",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "metadata change keeps generation"
    );
    let d = api
        .patch_status(
            "g",
            &pp,
            &Patch::Merge(json!({"status": {"observedGeneration": 1, "replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "status change keeps generation"
    );
    assert_eq!(d.status.unwrap().replicas, Some(1));
    let d = api
        .patch("g", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    // A main-resource write cannot change status; a status write cannot change spec.
    let d = api
        .patch("g", &pp, &Patch::Merge(json!({"status": {"replicas": 7}})))
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().replicas, Some(1));
    let d = api
        .patch_status("g", &pp, &Patch::Merge(json!({"spec": {"replicas": 9}})))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(3));
    assert_eq!(d.metadata.generation, Some(2));
}
}

differential! {
async fn service_status_subresource_and_no_generation_as_on_a_real_cluster(emu) {
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "g"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}}}),
    )
    .unwrap();
    let s = api.create(&PostParams::default(), &svc).await.unwrap();
    assert_eq!(s.metadata.generation, None, "Services carry no generation");
    assert!(
        s.status
            .and_then(|st| st.load_balancer)
            .and_then(|lb| lb.ingress)
            .is_none(),
        "create drops status"
    );
    let pp = PatchParams::default();
    let s = api
        .patch_status(
            "g",
            &pp,
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        s.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip
            .as_deref(),
        Some("1.2.3.4")
    );
    let s = api
        .patch(
            "g",
            &pp,
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": []}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        s.status
            .unwrap()
            .load_balancer
            .unwrap()
            .ingress
            .unwrap()
            .len(),
        1
    );
}
}

differential! {
async fn load_balancer_service_gets_cluster_ip_and_node_ports(emu) {
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}))
    .unwrap();
    let s = api.create(&PostParams::default(), &svc).await.unwrap();
    let spec = s.spec.unwrap();
    assert!(spec.cluster_ip.is_some());
    let ports = spec.ports.unwrap();
    let np: Vec<i32> = ports.iter().map(|p| p.node_port.unwrap()).collect();
    assert!(np.iter().all(|p| (30000..=32767).contains(p)));
    assert_ne!(np[0], np[1]);
    // Node ports survive a patch that does not mention them.
    let s = api
        .patch(
            "lb",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    let np2: Vec<i32> = s
        .spec
        .unwrap()
        .ports
        .unwrap()
        .iter()
        .map(|p| p.node_port.unwrap())
        .collect();
    assert_eq!(np, np2);
}
}

differential! {
async fn generate_name_and_dry_run_create(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cfg-"}})).unwrap();
    let a = api.create(&PostParams::default(), &cm).await.unwrap();
    assert!(
        a.name_any().starts_with("cfg-") && a.name_any().len() == 9,
        "{}",
        a.name_any()
    );
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let named: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    api.create(&dry, &named).await.unwrap();
    assert_eq!(status_of(&api.get("dry").await.unwrap_err()), Some(404));
    let with_rv: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "rv", "resourceVersion": "5"}}))
            .unwrap();
    let err = api
        .create(&PostParams::default(), &with_rv)
        .await
        .unwrap_err();
    // kube-apiserver answers 500 (no reason), not 400.
    assert_eq!(status_of(&err), Some(500), "{err:?}");
    let kube::Error::Api(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        status.message,
        "resourceVersion should not be set on objects to be created"
    );
    assert_eq!(status.reason, "");
}
}

#[tokio::test]
async fn objects_can_be_read_out_of_band_without_journal_entries() {
    let emu = KubeEmulator::start().await.unwrap();
    let before = emu.resource_version();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "oob"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    assert!(emu.resource_version() > before);
    emu.journal().clear();
    let objs = emu.objects("", "configmaps");
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["metadata"]["name"], "oob");
    assert_eq!(objs[0]["kind"], "ConfigMap");
    assert!(emu.objects("", "nope").is_empty());
    assert!(emu.journal().entries().is_empty());
}

differential! {
async fn create_in_missing_namespace_is_not_found(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "ghost");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    let err = api.create(&PostParams::default(), &cm).await.unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 404);
    assert_eq!(s.message, "namespaces \"ghost\" not found");
}
}

differential! {
async fn invalid_service_is_rejected_with_422_and_causes(emu) {
    let api: Api<Service> = Api::namespaced(emu.client(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "bad"}, "spec": {"ports": [{"port": 70000}]}}),
    )
    .unwrap();
    let err = api.create(&PostParams::default(), &svc).await.unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message
            .starts_with("Service \"bad\" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
        "{}",
        s.message
    );
    assert_eq!(status_of(&api.get("bad").await.unwrap_err()), Some(404));
}
}

differential! {
async fn unknown_fields_of_builtin_kinds_are_dropped_and_wrong_types_rejected(emu) {
    let ar = kube::core::ApiResource::erase::<ConfigMap>(&());
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(emu.client(), "default", &ar);
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x"}, "data": {"a": "b"}, "dataa": {"typo": "1"},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.data.get("dataa").is_none(), "{:?}", created.data);
    assert_eq!(created.data["data"]["a"], "b");
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "y"}, "data": {"a": 1},
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:?}");
}
}

differential! {
async fn deployment_scale_subresource_reads_and_writes_replicas(emu) {
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "s"}, "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let scale = api.get_scale("s").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("a=b"));
    let scale = api
        .patch_scale(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(5));
    let d = api.get("s").await.unwrap();
    assert_eq!(d.spec.replicas, Some(5));
    assert_eq!(d.metadata.generation, Some(2));
}
}

differential! {
/// kube-apiserver validates `events.k8s.io/v1` Events strictly on create (the emulator took
/// any): the reporting fields, action, reason and type are required.
async fn an_events_v1_event_without_its_reporting_fields_is_invalid(emu) {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(emu.client(), "default");
    let bare: k8s_openapi::api::events::v1::Event = serde_json::from_value(
        json!({"metadata": {"name": "bare"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
    )
    .unwrap();
    let err = api.create(&PostParams::default(), &bare).await.unwrap_err();
    assert_eq!(status_of(&err), Some(422), "{err:?}");
    let kube::Error::Api(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        status.message,
        "Event \"bare\" is invalid: [reportingController: Required value, reportingController: \
         Invalid value: \"\": name part must be non-empty, reportingController: Invalid value: \
         \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must \
         start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
         '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), \
         reportingInstance: Required value, action: Required value, reason: Required value, \
         type: Invalid value: \"\": has invalid value: ]"
    );
}
}
