//! Server-side apply: create on apply, managedFields, conflicts between managers, force.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use common::status_of;

fn cm(data: &serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

differential! {
async fn apply_creates_then_conflicts_with_another_manager_unless_forced(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = PatchParams::apply("manager-a");
    let created = api
        .patch("cfg", &a, &Patch::Apply(cm(&json!({"k": "1"}))))
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("manager-a"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let b = PatchParams::apply("manager-b");
    let err = api
        .patch("cfg", &b, &Patch::Apply(cm(&json!({"k": "2"}))))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message
            .starts_with("Apply failed with 1 conflict: conflict with \"manager-a\""),
        "{}",
        s.message
    );
    let forced = api
        .patch(
            "cfg",
            &b.clone().force(),
            &Patch::Apply(cm(&json!({"k": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "2");
    // Now manager-b owns k: manager-a's apply of another value conflicts the other way.
    let err = api
        .patch("cfg", &a, &Patch::Apply(cm(&json!({"k": "3"}))))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(409));
}
}

differential! {
async fn apply_conflicts_with_fields_set_by_an_update(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = PatchParams::apply("owner");
    api.patch("cfg", &a, &Patch::Apply(cm(&json!({"k": "1"}))))
        .await
        .unwrap();
    let pp = PatchParams {
        field_manager: Some("editor".to_owned()),
        ..PatchParams::default()
    };
    api.patch("cfg", &pp, &Patch::Merge(json!({"data": {"k": "edited"}})))
        .await
        .unwrap();
    let err = api
        .patch("cfg", &a, &Patch::Apply(cm(&json!({"k": "1", "x": "y"}))))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 409);
    assert!(s.message.contains("\"editor\""), "{}", s.message);
}
}

differential! {
async fn apply_removes_fields_the_manager_stops_applying(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = PatchParams::apply("owner");
    api.patch(
        "cfg",
        &a,
        &Patch::Apply(cm(&json!({"k": "1", "gone": "soon"}))),
    )
    .await
    .unwrap();
    let after = api
        .patch("cfg", &a, &Patch::Apply(cm(&json!({"k": "1"}))))
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert!(!data.contains_key("gone"), "{data:?}");
    assert_eq!(data["k"], "1");
}
}

differential! {
async fn apply_without_field_manager_is_invalid_patch_options(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let err = api
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Apply(cm(&json!({"k": "1"}))),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(422), "{err:?}");
    assert!(
        err.to_string()
            .contains("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value"),
        "{err}"
    );
}
}
