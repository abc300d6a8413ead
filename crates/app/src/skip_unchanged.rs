//! Skips server-side applies that would change nothing: an LBC or NSG whose cached copy
//! already has the desired spec, labels and finalizers is not written again. A converged
//! Service's reconcile (a redeploy with the same spec, a restart, a drift check) then
//! costs no Kubernetes write.

use std::sync::Arc;

use async_trait::async_trait;
use kube::api::ObjectMeta;
use kube::runtime::reflector::ObjectRef as StoreRef;
use vlb_domain::ClusterError;
use vlb_domain::model::{LoadBalancerConfigSpec, NodeSecurityGroupSpec, ObjectKey};
use vlb_domain::ports::{DesiredMeta, ObjectWriter};
use vlb_k8s_adapter::Stores;

/// An [`ObjectWriter`] that answers an apply of an unchanged object from the watch cache.
pub struct SkipUnchangedApplies {
    inner: Arc<dyn ObjectWriter>,
    stores: Stores,
}

impl SkipUnchangedApplies {
    /// Wraps `inner`, comparing with `stores`.
    pub fn new(inner: Arc<dyn ObjectWriter>, stores: Stores) -> Self {
        Self { inner, stores }
    }
}

/// Whether `current` already carries every label and finalizer of `desired`.
pub fn covers(current: &ObjectMeta, desired: &DesiredMeta) -> bool {
    let labels = current.labels.as_ref();
    let finalizers = current.finalizers.as_deref().unwrap_or_default();
    desired
        .labels
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        && desired.finalizers.iter().all(|f| finalizers.contains(f))
}

fn store_ref<K: kube::Resource<DynamicType = ()>>(key: &ObjectKey) -> StoreRef<K> {
    StoreRef::new(&key.name).within(&key.namespace)
}

#[async_trait]
impl ObjectWriter for SkipUnchangedApplies {
    async fn apply_lbc(
        &self,
        meta: &DesiredMeta,
        spec: &LoadBalancerConfigSpec,
    ) -> Result<(), ClusterError> {
        if let Some(current) = self.stores.lbcs.get(&store_ref(&meta.key))
            && current.spec.0 == *spec
            && covers(&current.metadata, meta)
        {
            return Ok(());
        }
        self.inner.apply_lbc(meta, spec).await
    }
    async fn apply_nsg(
        &self,
        meta: &DesiredMeta,
        spec: &NodeSecurityGroupSpec,
    ) -> Result<(), ClusterError> {
        if let Some(current) = self.stores.nsgs.get(&store_ref(&meta.key))
            && current.spec.0 == *spec
            && covers(&current.metadata, meta)
        {
            return Ok(());
        }
        self.inner.apply_nsg(meta, spec).await
    }
    async fn delete_lbc(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        self.inner.delete_lbc(key).await
    }
    async fn delete_nsg(&self, key: &ObjectKey) -> Result<(), ClusterError> {
        self.inner.delete_nsg(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn desired() -> DesiredMeta {
        DesiredMeta {
            key: ObjectKey::new("ns", "web"),
            labels: BTreeMap::from([("owner".to_owned(), "web".to_owned())]),
            finalizers: vec!["f".to_owned()],
        }
    }

    #[test]
    fn an_object_with_every_desired_label_and_finalizer_is_covered() {
        let mut current = ObjectMeta {
            labels: Some(BTreeMap::from([
                ("owner".to_owned(), "web".to_owned()),
                ("extra".to_owned(), "x".to_owned()),
            ])),
            finalizers: Some(vec!["f".to_owned()]),
            ..ObjectMeta::default()
        };
        assert!(covers(&current, &desired()));
        current.finalizers = None;
        assert!(!covers(&current, &desired()));
        current.finalizers = Some(vec!["f".to_owned()]);
        current.labels = Some(BTreeMap::from([("owner".to_owned(), "api".to_owned())]));
        assert!(!covers(&current, &desired()));
    }
}
