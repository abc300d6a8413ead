//! The custom resources `LoadBalancerConfig` (`lbc`) and `NodeSecurityGroup` (`nsg`) in
//! `vks.vngcloud.vn/v1alpha1`.
//!
//! The spec and status types are the domain's ([`LoadBalancerConfigSpec`],
//! [`NodeSecurityGroupSpec`], ...): the CRD structs here are transparent wrappers, so there is
//! one copy of the fields. Validation markers (port ranges, enums) come from the domain's
//! `schemars` attributes; [`structural_violations`] checks that the generated schemas are
//! structural (the tests assert it is empty for [`crds`]).

// `printcolumn(type_ = "string", ...)` repeats inside `#[kube(...)]` are not duplicates.
#![allow(clippy::duplicated_attributes)]

use std::ops::{Deref, DerefMut};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vlb_domain::model::{
    LoadBalancerConfigSpec, LoadBalancerConfigStatus, NodeSecurityGroupSpec,
    NodeSecurityGroupStatus,
};

/// API group of the custom resources.
pub const GROUP: &str = "vks.vngcloud.vn";
/// API version of the custom resources.
pub const VERSION: &str = "v1alpha1";
/// Finalizer the LBC controller puts on a `LoadBalancerConfig`.
pub const LBC_FINALIZER: &str = "lbc.vngcloud.vn/resources";
/// Finalizer the NSG controller puts on a `NodeSecurityGroup`.
pub const NSG_FINALIZER: &str = "nsg.vngcloud.vn/resources";

/// Spec of the `LoadBalancerConfig` custom resource: the domain's
/// [`LoadBalancerConfigSpec`], serialised transparently.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Default)]
#[kube(
    group = "vks.vngcloud.vn",
    version = "v1alpha1",
    kind = "LoadBalancerConfig",
    plural = "loadbalancerconfigs",
    singular = "loadbalancerconfig",
    shortname = "lbc",
    namespaced,
    status = "LoadBalancerConfigCrdStatus",
    derive = "PartialEq",
    doc = "Desired and observed state of one VNGCloud load balancer configuration (one per Service).",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "LB-ID", type_ = "string", json_path = ".status.loadBalancerId"),
    printcolumn(name = "Address", type_ = "string", json_path = ".status.address"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct LoadBalancerConfigCrdSpec(pub LoadBalancerConfigSpec, Option<Undecodable>);

/// Spec of the `NodeSecurityGroup` custom resource: the domain's [`NodeSecurityGroupSpec`],
/// serialised transparently.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Default)]
#[kube(
    group = "vks.vngcloud.vn",
    version = "v1alpha1",
    kind = "NodeSecurityGroup",
    plural = "nodesecuritygroups",
    singular = "nodesecuritygroup",
    shortname = "nsg",
    namespaced,
    status = "NodeSecurityGroupCrdStatus",
    derive = "PartialEq",
    doc = "Desired and observed state of the security group the nodes of one Service need.",
    printcolumn(
        name = "Security-Group",
        type_ = "string",
        json_path = ".status.managedSecurityGroup.id"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct NodeSecurityGroupCrdSpec(pub NodeSecurityGroupSpec, Option<Undecodable>);

/// What the operator could not decode of an object's spec or status: the JSON as stored
/// (written back unchanged, so nothing is lost) and the reason, without the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    raw: serde_json::Value,
    reason: String,
}

impl Undecodable {
    /// Why it could not be decoded (serde's message: the field's problem, not the body).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A spec or status read leniently: what does not decode into the domain's type becomes a
/// per-object [`Undecodable`] (the domain value is then its default and must not be acted
/// on), so one object never fails the list or watch of the others.
macro_rules! lenient {
    ($wrapper:ident, $inner:ty, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc = ""]
        #[doc = "Serialises as the domain type, or as the JSON read when it did not decode."]
        impl $wrapper {
            /// Wraps a decoded value.
            pub fn new(value: $inner) -> Self {
                Self(value, None)
            }

            /// What could not be decoded, if anything.
            pub fn undecodable(&self) -> Option<&Undecodable> {
                self.1.as_ref()
            }
        }

        impl Deref for $wrapper {
            type Target = $inner;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl From<$inner> for $wrapper {
            fn from(value: $inner) -> Self {
                Self::new(value)
            }
        }

        impl Serialize for $wrapper {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match &self.1 {
                    Some(u) => u.raw.serialize(s),
                    None => self.0.serialize(s),
                }
            }
        }

        impl<'de> Deserialize<'de> for $wrapper {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Missing and `null` both read as None (serde asks a missing field for an
                // option), and report the object rather than fail the list.
                let Some(raw) = Option::<serde_json::Value>::deserialize(d)? else {
                    return Ok(Self(
                        <$inner>::default(),
                        Some(Undecodable {
                            raw: serde_json::Value::Null,
                            reason: concat!($what, " is missing").to_owned(),
                        }),
                    ));
                };
                match <$inner as serde::Deserialize>::deserialize(&raw) {
                    Ok(value) => Ok(Self(value, None)),
                    Err(e) => Ok(Self(
                        <$inner>::default(),
                        Some(Undecodable {
                            raw,
                            reason: format!(concat!($what, ": {}"), e),
                        }),
                    )),
                }
            }
        }

        impl JsonSchema for $wrapper {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$inner>::schema_name()
            }
            fn inline_schema() -> bool {
                <$inner>::inline_schema()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$inner>::json_schema(g)
            }
        }
    };
}

lenient!(
    LoadBalancerConfigCrdSpec,
    LoadBalancerConfigSpec,
    "spec",
    "The spec of a `LoadBalancerConfig`, read leniently."
);
lenient!(
    NodeSecurityGroupCrdSpec,
    NodeSecurityGroupSpec,
    "spec",
    "The spec of a `NodeSecurityGroup`, read leniently."
);
lenient!(
    LoadBalancerConfigCrdStatus,
    LoadBalancerConfigStatus,
    "status",
    "The status of a `LoadBalancerConfig`, read leniently."
);
lenient!(
    NodeSecurityGroupCrdStatus,
    NodeSecurityGroupStatus,
    "status",
    "The status of a `NodeSecurityGroup`, read leniently."
);

/// Status of the `LoadBalancerConfig` custom resource: the domain's
/// [`LoadBalancerConfigStatus`], read leniently.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancerConfigCrdStatus(pub LoadBalancerConfigStatus, Option<Undecodable>);

/// Status of the `NodeSecurityGroup` custom resource: the domain's
/// [`NodeSecurityGroupStatus`], read leniently.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSecurityGroupCrdStatus(pub NodeSecurityGroupStatus, Option<Undecodable>);

impl LoadBalancerConfig {
    /// Why this object cannot be acted on: its spec or status did not decode.
    pub fn undecodable(&self) -> Option<&Undecodable> {
        self.spec
            .undecodable()
            .or_else(|| self.status.as_ref().and_then(|s| s.undecodable()))
    }
}

impl NodeSecurityGroup {
    /// Why this object cannot be acted on: its spec or status did not decode.
    pub fn undecodable(&self) -> Option<&Undecodable> {
        self.spec
            .undecodable()
            .or_else(|| self.status.as_ref().and_then(|s| s.undecodable()))
    }
}

/// The two CustomResourceDefinitions, `LoadBalancerConfig` first.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![LoadBalancerConfig::crd(), NodeSecurityGroup::crd()]
}

/// Every place where a CRD's schema is not structural (empty when it is).
///
/// Checks the rules the API server enforces
/// (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema>):
/// every node with properties, items or additionalProperties, and every leaf, has a `type`
/// (unless `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`); no `$ref`;
/// inside `allOf`/`anyOf`/`oneOf`/`not` no `type`, `default`, `nullable`, `description` or
/// `additionalProperties`.
pub fn structural_violations(crd: &CustomResourceDefinition) -> Vec<String> {
    let mut out = Vec::new();
    for version in &crd.spec.versions {
        match version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        {
            Some(schema) => check_node(schema, &format!("{}:", version.name), false, &mut out),
            None => out.push(format!("{}: no schema", version.name)),
        }
    }
    out
}

fn check_node(node: &JSONSchemaProps, path: &str, in_junctor: bool, out: &mut Vec<String>) {
    if node.ref_path.is_some() {
        out.push(format!("{path} has $ref"));
    }
    let escape = node.x_kubernetes_int_or_string == Some(true)
        || node.x_kubernetes_preserve_unknown_fields == Some(true);
    if in_junctor {
        if node.type_.is_some()
            || node.default.is_some()
            || node.nullable.is_some()
            || node.description.is_some()
            || node.additional_properties.is_some()
        {
            out.push(format!(
                "{path} sets type, default, nullable, description or additionalProperties inside a junctor"
            ));
        }
    } else if node.type_.as_deref().is_none_or(str::is_empty) && !escape {
        out.push(format!("{path} has no type"));
    }
    if let Some(props) = &node.properties {
        for (name, child) in props {
            check_node(child, &format!("{path}.{name}"), in_junctor, out);
        }
    }
    if let Some(items) = &node.items {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray;
        match items {
            JSONSchemaPropsOrArray::Schema(s) => {
                check_node(s, &format!("{path}[]"), in_junctor, out);
            }
            JSONSchemaPropsOrArray::Schemas(_) => out.push(format!("{path} has tuple items")),
        }
    }
    if let Some(
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(s),
    ) = &node.additional_properties
    {
        check_node(s, &format!("{path}{{}}"), in_junctor, out);
    }
    for (kind, list) in [
        ("allOf", &node.all_of),
        ("anyOf", &node.any_of),
        ("oneOf", &node.one_of),
    ] {
        for (i, child) in list.iter().flatten().enumerate() {
            check_node(child, &format!("{path}/{kind}[{i}]"), true, out);
        }
    }
    if let Some(not) = &node.not {
        check_node(not, &format!("{path}/not"), true, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn schema(crd: &CustomResourceDefinition) -> Value {
        serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn generated_schemas_are_structural() {
        for crd in crds() {
            assert_eq!(
                structural_violations(&crd),
                Vec::<String>::new(),
                "{}",
                crd.spec.names.kind
            );
        }
    }

    #[test]
    fn the_checker_flags_a_typeless_node() {
        let mut crd = LoadBalancerConfig::crd();
        let v = &mut crd.spec.versions[0];
        let props = v
            .schema
            .as_mut()
            .unwrap()
            .open_api_v3_schema
            .as_mut()
            .unwrap()
            .properties
            .as_mut()
            .unwrap();
        props.insert("loose".into(), JSONSchemaProps::default());
        assert_eq!(structural_violations(&crd).len(), 1);
    }

    #[test]
    fn both_kinds_are_namespaced_with_status_subresource_and_short_names() {
        for (crd, short) in crds().iter().zip(["lbc", "nsg"]) {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(
                crd.spec.names.short_names.as_deref(),
                Some(&[short.to_owned()][..])
            );
            let v = &crd.spec.versions[0];
            assert_eq!(v.name, VERSION);
            assert!(v.subresources.as_ref().unwrap().status.is_some());
        }
    }

    #[test]
    fn lbc_prints_type_id_address_ready_and_age() {
        let crd = LoadBalancerConfig::crd();
        let cols: Vec<String> = crd.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(cols, ["Type", "LB-ID", "Address", "Ready", "Age"]);
    }

    #[test]
    fn ports_are_bounded_and_enums_listed_in_the_schema() {
        let s = schema(&LoadBalancerConfig::crd());
        let spec = &s["properties"]["spec"]["properties"];
        let port = &spec["listeners"]["items"]["properties"]["protocolPort"];
        assert_eq!(port["minimum"], 1.0);
        assert_eq!(port["maximum"], 65535.0);
        let schemes = spec["scheme"]["enum"].as_array().unwrap();
        assert_eq!(schemes.len(), 3);
        assert!(schemes.contains(&Value::from("Internet")));
        let nsg = schema(&NodeSecurityGroup::crd());
        let rule = &nsg["properties"]["spec"]["properties"]["managedSecurityGroup"]["properties"]["rules"]
            ["items"]["properties"];
        assert_eq!(rule["toPort"]["maximum"], 65535.0);
    }

    #[test]
    fn an_lbc_round_trips_through_json_as_the_domain_spec() {
        let mut lbc = LoadBalancerConfig::new("a", LoadBalancerConfigCrdSpec::default());
        lbc.spec.load_balancer_name = "x".into();
        let v = serde_json::to_value(&lbc).unwrap();
        assert_eq!(v["spec"]["loadBalancerName"], "x");
        let back: LoadBalancerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, lbc);
    }
}
