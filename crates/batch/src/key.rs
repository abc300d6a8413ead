//! Identity of a queued object.

use std::fmt;

use kube::Resource;

/// Identity of an object in the batch queue: group, version, kind, namespace and name (the
/// domain's `ObjectKey` is namespace and name only; this one also tells the kind).
///
/// Mutations queued under equal keys coalesce into one queue entry (and one patch per part).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    /// API group (`""` for the core group).
    pub group: String,
    /// API version (`v1`, `v1alpha1`, ...).
    pub version: String,
    /// Kind (`Service`, `LoadBalancerConfig`, ...).
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl QueueKey {
    /// The key of object `name` in `namespace` of kind `K`.
    pub fn of<K>(namespace: Option<&str>, name: &str) -> Self
    where
        K: Resource,
        K::DynamicType: Default,
    {
        let dt = K::DynamicType::default();
        Self {
            group: K::group(&dt).into_owned(),
            version: K::version(&dt).into_owned(),
            kind: K::kind(&dt).into_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// `group/version` (or `version` for the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for QueueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ", self.api_version(), self.kind)?;
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;

    use super::*;

    #[test]
    fn key_of_core_kind_displays_version_kind_namespace_and_name() {
        let key = QueueKey::of::<Service>(Some("default"), "web");
        assert_eq!(key.group, "");
        assert_eq!(key.api_version(), "v1");
        assert_eq!(key.to_string(), "v1/Service default/web");
    }
}
