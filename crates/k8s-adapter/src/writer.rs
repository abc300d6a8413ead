//! [`ObjectWriter`] on the Kubernetes API: server-side apply of LBC/NSG specs, idempotent
//! background deletes, and finalizer patches that cannot clobber anyone else's finalizers.

use std::fmt::Debug;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use vlb_domain::error::ClusterError;
use vlb_domain::model::{
    LoadBalancerConfigSpec, NodeSecurityGroupSpec, ObjectKey, ObjectKind, ObjectRef,
};
use vlb_domain::ports::{DesiredMeta, ObjectWriter};

use crate::crd::{LoadBalancerConfig, NodeSecurityGroup};
use crate::error::{KubeError, Op, RetryPolicy, retry};

/// Field manager of the operator's server-side applies.
pub const FIELD_MANAGER: &str = "vlb-controller";

/// How many times a finalizer patch whose `test` failed (someone changed the list meanwhile)
/// is recomputed from a fresh read.
const FINALIZER_ATTEMPTS: usize = 8;

/// Writes LBCs, NSGs and finalizers through the Kubernetes API, every call under the
/// crate's [`RetryPolicy`].
#[derive(Clone)]
pub struct KubeWriter {
    client: Client,
    policy: RetryPolicy,
    field_manager: String,
}

impl KubeWriter {
    /// A writer with the default retry policy and field manager [`FIELD_MANAGER`].
    pub fn new(client: Client) -> Self {
        Self {
            client,
            policy: RetryPolicy::default(),
            field_manager: FIELD_MANAGER.to_owned(),
        }
    }

    /// Replaces the retry policy (short delays in tests).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the field manager.
    pub fn with_field_manager(mut self, field_manager: impl Into<String>) -> Self {
        self.field_manager = field_manager.into();
        self
    }

    /// Server-side applies `obj` (force: the controller owns every field it sends) under the
    /// writer's field manager; 409 is retried.
    pub async fn apply<K>(&self, api: &Api<K>, name: &str, obj: &K) -> Result<K, KubeError>
    where
        K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    {
        let params = PatchParams::apply(&self.field_manager).force();
        retry(&self.policy, Op::Apply, || async {
            api.patch(name, &params, &Patch::Apply(obj))
                .await
                .map_err(KubeError::from)
        })
        .await
    }

    /// Deletes an object with propagation policy Background; an object already gone (404) is
    /// success. Returns whether a delete was accepted.
    pub async fn delete<K>(&self, api: &Api<K>, name: &str) -> Result<bool, KubeError>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        delete_idempotent(&self.policy, api, name).await
    }

    async fn finalizer<K>(
        &self,
        api: Api<K>,
        name: &str,
        finalizer: &str,
        add: bool,
    ) -> Result<(), KubeError>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        update_finalizers(&self.policy, &api, name, finalizer, add).await
    }
}

/// Deletes `name` with propagation policy Background under `policy`; 404 is success.
/// Returns whether a delete was accepted (false: it was already gone).
pub async fn delete_idempotent<K>(
    policy: &RetryPolicy,
    api: &Api<K>,
    name: &str,
) -> Result<bool, KubeError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let params = DeleteParams::background();
    match retry(policy, Op::Other, || async {
        api.delete(name, &params).await.map_err(KubeError::from)
    })
    .await
    {
        Ok(_) => Ok(true),
        Err(KubeError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The JSON patch that adds or removes `finalizer`, given the object's current metadata, or
/// `None` when nothing is to change. The patch first `test`s what it changes (the whole list
/// when adding to an existing list, the resource version when creating the list, the one
/// element when removing), so a concurrent change makes it fail instead of clobbering.
pub fn finalizer_patch(meta: &ObjectMeta, finalizer: &str, add: bool) -> Option<Value> {
    let current = meta.finalizers.as_deref();
    let present = current.is_some_and(|f| f.iter().any(|x| x == finalizer));
    match (add, current) {
        (true, _) if present => None,
        (false, _) if !present => None,
        (true, Some(list)) => Some(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ])),
        (true, None) => Some(json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ])),
        (false, list) => {
            let index = list?.iter().position(|x| x == finalizer)?;
            let path = format!("/metadata/finalizers/{index}");
            Some(json!([
                {"op": "test", "path": path, "value": finalizer},
                {"op": "remove", "path": path},
            ]))
        }
    }
}

/// Adds (`add`) or removes a finalizer of `name`: read, JSON patch guarded by `test`, and
/// on a failed test (409/422: the list changed meanwhile) read again, at most a few times.
/// Removing from an object that is gone is success; adding to one is `NotFound`.
pub async fn update_finalizers<K>(
    policy: &RetryPolicy,
    api: &Api<K>,
    name: &str,
    finalizer: &str,
    add: bool,
) -> Result<(), KubeError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut last = None;
    for _ in 0..FINALIZER_ATTEMPTS {
        let current = retry(policy, Op::Other, || async {
            api.get_opt(name).await.map_err(KubeError::from)
        })
        .await?;
        let Some(obj) = current else {
            return if add {
                Err(KubeError::NotFound(format!("{name} is gone")))
            } else {
                Ok(())
            };
        };
        let Some(patch) = finalizer_patch(obj.meta(), finalizer, add) else {
            return Ok(());
        };
        let patch: json_patch::Patch =
            serde_json::from_value(patch).map_err(|e| KubeError::Client(e.to_string()))?;
        let result = retry(policy, Op::Other, || async {
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::<()>::Json(patch.clone()),
            )
            .await
            .map_err(KubeError::from)
        })
        .await;
        match result {
            Ok(_) => return Ok(()),
            Err(KubeError::NotFound(_)) if !add => return Ok(()),
            Err(e @ (KubeError::Conflict(_) | KubeError::Invalid { code: 422, .. })) => {
                tracing::debug!(error = %e, name, finalizer, "finalizer patch lost a race, re-reading");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| KubeError::Conflict(format!("finalizers of {name}"))))
}

fn desired_meta(meta: &DesiredMeta) -> ObjectMeta {
    ObjectMeta {
        name: Some(meta.key.name.clone()),
        namespace: Some(meta.key.namespace.clone()),
        labels: (!meta.labels.is_empty()).then(|| meta.labels.clone()),
        finalizers: (!meta.finalizers.is_empty()).then(|| meta.finalizers.clone()),
        ..ObjectMeta::default()
    }
}

/// The `LoadBalancerConfig` a [`DesiredMeta`] and spec describe (what [`KubeWriter`] applies).
pub fn desired_lbc(meta: &DesiredMeta, spec: &LoadBalancerConfigSpec) -> LoadBalancerConfig {
    LoadBalancerConfig {
        metadata: desired_meta(meta),
        spec: spec.clone().into(),
        status: None,
    }
}

/// The `NodeSecurityGroup` a [`DesiredMeta`] and spec describe (what [`KubeWriter`] applies).
pub fn desired_nsg(meta: &DesiredMeta, spec: &NodeSecurityGroupSpec) -> NodeSecurityGroup {
    NodeSecurityGroup {
        metadata: desired_meta(meta),
        spec: spec.clone().into(),
        status: None,
    }
}

#[async_trait]
impl ObjectWriter for KubeWriter {
    async fn apply_lbc(
        &self,
        meta: &DesiredMeta,
        spec: &LoadBalancerConfigSpec,
    ) -> Result<(), ClusterError> {
        let api = Api::<LoadBalancerConfig>::namespaced(self.client.clone(), &meta.key.namespace);
        self.apply(&api, &meta.key.name, &desired_lbc(meta, spec))
            .await
            .map(drop)
            .map_err(Into::into)
    }

    async fn apply_nsg(
        &self,
        meta: &DesiredMeta,
        spec: &NodeSecurityGroupSpec,
    ) -> Result<(), ClusterError> {
        let api = Api::<NodeSecurityGroup>::namespaced(self.client.clone(), &meta.key.namespace);
        self.apply(&api, &meta.key.name, &desired_nsg(meta, spec))
            .await
            .map(drop)
            .map_err(Into::into)
    }

    async fn delete_lbc(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        let api = Api::<LoadBalancerConfig>::namespaced(self.client.clone(), &key.namespace);
        self.delete(&api, &key.name)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    async fn delete_nsg(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        let api = Api::<NodeSecurityGroup>::namespaced(self.client.clone(), &key.namespace);
        self.delete(&api, &key.name)
            .await
            .map(drop)
            .map_err(Into::into)
    }
}

/// Finalizers outside kube-runtime's finalizer helper (the engine drops ours from a Service
/// that no longer wants a load balancer); the domain's ports have none.
impl KubeWriter {
    /// Adds a finalizer (no-op when present).
    pub async fn add_finalizer(
        &self,
        target: &ObjectRef,
        finalizer: &str,
    ) -> Result<(), ClusterError> {
        self.change_finalizer(target, finalizer, true).await
    }

    /// Removes a finalizer (no-op when absent or the object is gone).
    pub async fn remove_finalizer(
        &self,
        target: &ObjectRef,
        finalizer: &str,
    ) -> Result<(), ClusterError> {
        self.change_finalizer(target, finalizer, false).await
    }

    async fn change_finalizer(
        &self,
        target: &ObjectRef,
        finalizer: &str,
        add: bool,
    ) -> Result<(), ClusterError> {
        let (client, ns, name) = (self.client.clone(), &target.key.namespace, &target.key.name);
        let result = match target.kind {
            ObjectKind::Service => {
                self.finalizer(Api::<Service>::namespaced(client, ns), name, finalizer, add)
                    .await
            }
            ObjectKind::LoadBalancerConfig => {
                self.finalizer(
                    Api::<LoadBalancerConfig>::namespaced(client, ns),
                    name,
                    finalizer,
                    add,
                )
                .await
            }
            ObjectKind::NodeSecurityGroup => {
                self.finalizer(
                    Api::<NodeSecurityGroup>::namespaced(client, ns),
                    name,
                    finalizer,
                    add,
                )
                .await
            }
        };
        result.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(finalizers: Option<Vec<&str>>) -> ObjectMeta {
        ObjectMeta {
            resource_version: Some("7".into()),
            finalizers: finalizers.map(|v| v.into_iter().map(String::from).collect()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn adding_a_present_finalizer_or_removing_an_absent_one_patches_nothing() {
        assert_eq!(finalizer_patch(&meta(Some(vec!["a"])), "a", true), None);
        assert_eq!(finalizer_patch(&meta(Some(vec!["a"])), "b", false), None);
        assert_eq!(finalizer_patch(&meta(None), "b", false), None);
    }

    #[test]
    fn adding_tests_the_current_list_and_appends() {
        let p = finalizer_patch(&meta(Some(vec!["other"])), "mine", true).unwrap();
        assert_eq!(
            p,
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "mine"},
            ])
        );
        let p = finalizer_patch(&meta(None), "mine", true).unwrap();
        assert_eq!(p[0]["path"], "/metadata/resourceVersion");
        assert_eq!(p[0]["value"], "7");
    }

    #[test]
    fn removing_tests_the_element_it_removes() {
        let p = finalizer_patch(&meta(Some(vec!["x", "mine", "y"])), "mine", false).unwrap();
        assert_eq!(
            p,
            json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": "mine"},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ])
        );
    }

    fn object(finalizers: Option<&Vec<String>>, rv: &str) -> Value {
        let mut o = json!({"metadata": {"name": "x", "resourceVersion": rv}});
        if let Some(f) = finalizers {
            o["metadata"]["finalizers"] = json!(f);
        }
        o
    }

    fn finalizers_of(o: &Value) -> Vec<String> {
        o["metadata"]["finalizers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn names() -> impl proptest::strategy::Strategy<Value = Option<Vec<String>>> {
        use proptest::prelude::*;
        proptest::option::of(proptest::collection::vec(
            prop::sample::select(vec!["a", "b", "mine", "c"]).prop_map(String::from),
            0..4,
        ))
    }

    proptest::proptest! {
        /// A patch computed from what was read, applied to what is there now (maybe changed
        /// by someone else meanwhile), either fails its `test` or gives exactly "now, plus or
        /// minus ours": another writer's finalizers are never lost or added back.
        #[test]
        fn a_finalizer_patch_never_clobbers_a_concurrent_change(
            read in names(),
            now in names(),
            add in proptest::bool::ANY,
        ) {
            let rv_read = "1";
            let rv_now = if read == now { "1" } else { "2" };
            let meta = ObjectMeta {
                resource_version: Some(rv_read.into()),
                finalizers: read.clone(),
                ..ObjectMeta::default()
            };
            let Some(patch) = finalizer_patch(&meta, "mine", add) else {
                return Ok(());
            };
            let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
            let mut doc = object(now.as_ref(), rv_now);
            let before = finalizers_of(&doc);
            if json_patch::patch(&mut doc, &patch).is_err() {
                return Ok(());
            }
            let after = finalizers_of(&doc);
            let others = |v: &[String]| v.iter().filter(|f| *f != "mine").cloned().collect::<Vec<_>>();
            proptest::prop_assert_eq!(others(&after), others(&before));
            let mine_before = before.iter().filter(|f| *f == "mine").count();
            let mine_after = after.iter().filter(|f| *f == "mine").count();
            if add {
                proptest::prop_assert_eq!(mine_after, mine_before + 1);
            } else {
                proptest::prop_assert_eq!(mine_after + 1, mine_before);
            }
        }
    }

    #[test]
    fn the_applied_lbc_carries_owner_labels_and_finalizers() {
        let meta = DesiredMeta {
            key: ObjectKey::new("ns", "n"),
            labels: [("k".to_owned(), "v".to_owned())].into(),
            finalizers: vec!["lbc.vngcloud.vn/resources".into()],
        };
        let obj =
            serde_json::to_value(desired_lbc(&meta, &LoadBalancerConfigSpec::default())).unwrap();
        assert_eq!(obj["apiVersion"], "vks.vngcloud.vn/v1alpha1");
        assert_eq!(obj["kind"], "LoadBalancerConfig");
        assert_eq!(obj["metadata"]["labels"]["k"], "v");
        assert_eq!(
            obj["metadata"]["finalizers"][0],
            "lbc.vngcloud.vn/resources"
        );
        assert!(obj.get("status").is_none());
    }
}
