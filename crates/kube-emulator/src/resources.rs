//! Resource types served (built-in and from CustomResourceDefinitions) and discovery documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

/// `(group, plural)`: the storage key of a resource type.
pub(crate) type ResKey = (String, String);

/// One served resource type.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    pub storage_version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Has the `status` subresource.
    pub status: bool,
    /// Built from a CRD.
    pub crd: Option<CrdInfo>,
    /// A review resource: only `create`, nothing stored (SelfSubjectAccessReview).
    pub review: bool,
}

/// What a CRD adds to a resource type.
#[derive(Debug, Clone, Default)]
pub(crate) struct CrdInfo {
    /// openAPIV3Schema per version.
    pub schemas: BTreeMap<String, Value>,
    /// additionalPrinterColumns per version.
    pub columns: BTreeMap<String, Vec<Value>>,
}

impl ResourceType {
    pub fn key(&self) -> ResKey {
        (self.group.clone(), self.plural.clone())
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether objects carry `metadata.generation` (custom resources and the built-in kinds
    /// whose registry sets it; Services, ConfigMaps, Nodes, ... have none).
    pub fn has_generation(&self) -> bool {
        self.crd.is_some()
            || matches!(
                (self.group.as_str(), self.kind.as_str()),
                ("apiextensions.k8s.io", "CustomResourceDefinition")
                    | ("apps", "Deployment")
                    | ("networking.k8s.io", "Ingress" | "IngressClass")
                    | ("discovery.k8s.io", "EndpointSlice")
            )
    }

    /// Has the `scale` subresource (Deployments).
    pub fn has_scale(&self) -> bool {
        self.group == "apps" && self.kind == "Deployment"
    }

    pub fn is_crd_type(&self) -> bool {
        self.crd.is_some()
    }

    /// Verbs of the main resource in discovery.
    pub fn verbs() -> Value {
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    }

    /// Entries of an APIResourceList for this type.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": if self.review { json!(["create"]) } else { Self::verbs() },
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.has_scale() {
            out.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

struct B {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    all: bool,
}

const BUILTINS: &[B] = &[
    B {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        short: &["ns"],
        namespaced: false,
        status: true,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        short: &["svc"],
        namespaced: true,
        status: true,
        all: true,
    },
    B {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        short: &["no"],
        namespaced: false,
        status: true,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        short: &["po"],
        namespaced: true,
        status: true,
        all: true,
    },
    B {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        short: &["ep"],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        short: &[],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        short: &["cm"],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        short: &["sa"],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        short: &["ev"],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        short: &["ev"],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        short: &[],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        short: &["ing"],
        namespaced: true,
        status: true,
        all: false,
    },
    B {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IngressClass",
        plural: "ingressclasses",
        short: &[],
        namespaced: false,
        status: false,
        all: false,
    },
    B {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        short: &[],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        short: &[],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        short: &[],
        namespaced: true,
        status: false,
        all: false,
    },
    B {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        short: &[],
        namespaced: false,
        status: false,
        all: false,
    },
    B {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        short: &[],
        namespaced: false,
        status: false,
        all: false,
    },
    B {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        short: &["deploy"],
        namespaced: true,
        status: true,
        all: true,
    },
    B {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        short: &["crd", "crds"],
        namespaced: false,
        status: true,
        all: false,
    },
];

/// The built-in resource types.
pub(crate) fn builtins() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|b| {
            Arc::new(ResourceType {
                group: b.group.to_owned(),
                versions: vec![b.version.to_owned()],
                storage_version: b.version.to_owned(),
                kind: b.kind.to_owned(),
                list_kind: format!("{}List", b.kind),
                plural: b.plural.to_owned(),
                singular: b.kind.to_ascii_lowercase(),
                short_names: b.short.iter().map(|s| (*s).to_owned()).collect(),
                categories: if b.all {
                    vec!["all".to_owned()]
                } else {
                    Vec::new()
                },
                namespaced: b.namespaced,
                status: b.status,
                crd: None,
                review: false,
            })
        })
        .chain(std::iter::once(Arc::new(ResourceType {
            group: "authorization.k8s.io".to_owned(),
            versions: vec!["v1".to_owned()],
            storage_version: "v1".to_owned(),
            kind: "SelfSubjectAccessReview".to_owned(),
            list_kind: "SelfSubjectAccessReviewList".to_owned(),
            plural: "selfsubjectaccessreviews".to_owned(),
            singular: "selfsubjectaccessreview".to_owned(),
            short_names: Vec::new(),
            categories: Vec::new(),
            namespaced: false,
            status: false,
            crd: None,
            review: true,
        })))
        .collect()
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first.
pub(crate) fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match num.parse::<u32>() {
        Ok(n) => (level, major, n),
        Err(_) => (0, 0, 0),
    }
}

/// Builds the resource type a CRD object describes (None when it names no served version).
pub(crate) fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_owned();
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_owned();
    let kind = names.get("kind")?.as_str()?.to_owned();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
    let list_kind = names
        .get("listKind")
        .and_then(Value::as_str)
        .map_or_else(|| format!("{kind}List"), str::to_owned);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    let mut storage = None;
    let mut status = false;
    let mut info = CrdInfo::default();
    for v in spec.get("versions")?.as_array()? {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage = Some(name.to_owned());
        }
        if v.get("served").and_then(Value::as_bool) != Some(false) {
            versions.push(name.to_owned());
        }
        if v.pointer("/subresources/status").is_some() {
            status = true;
        }
        if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
            info.schemas.insert(name.to_owned(), s.clone());
        }
        if let Some(c) = v.get("additionalPrinterColumns").and_then(Value::as_array) {
            info.columns.insert(name.to_owned(), c.clone());
        }
    }
    if versions.is_empty() {
        return None;
    }
    versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    let storage_version = storage.unwrap_or_else(|| versions[0].clone());
    Some(ResourceType {
        group,
        versions,
        storage_version,
        kind,
        list_kind,
        plural,
        singular,
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        status,
        crd: Some(info),
        review: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_orders_ga_beta_alpha() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v2", "v1beta2", "foo"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
