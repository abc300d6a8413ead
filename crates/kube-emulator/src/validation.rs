//! Glue between the storage and the validation, patch and field-management modules.

use serde_json::{Value, json};

use crate::apply::Scope;

use crate::error::ApiError;
use crate::resources::ResourceType;

/// Defaults and validates (for custom resources: prunes, defaults and validates against the
/// CRD schema) an object about to be stored; `old` is the stored object on updates.
pub(crate) fn validate(
    rt: &ResourceType,
    version: &str,
    obj: &mut Value,
    old: Option<&Value>,
    strict: bool,
) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut errs = Vec::new();
    if let Some(crd) = &rt.crd {
        if let Some(schema) = crd.schemas.get(version) {
            let before = strict.then(|| obj.clone());
            if let Err(e) = crate::schema::validate_and_prune(schema, obj) {
                errs.extend(e);
            }
            if let Some(before) = before {
                let mut unknown = Vec::new();
                pruned(&before, obj, "", &mut unknown);
                if !unknown.is_empty() {
                    let list: Vec<String> = unknown
                        .iter()
                        .map(|f| format!("unknown field \"{f}\""))
                        .collect();
                    return Err(ApiError::bad_request(format!(
                        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict \
                         decoding error: {}",
                        list.join(", "),
                        kind = rt.kind
                    )));
                }
            }
        }
    } else {
        typed_prune(rt, obj, strict)?;
        crate::builtin_validation::apply_defaults(&rt.kind, obj);
    }
    let checked = match old {
        Some(o) => crate::builtin_validation::validate_update(&rt.kind, o, obj),
        None if rt.group == "events.k8s.io" => crate::builtin_validation::validate_event_v1(obj),
        None => crate::builtin_validation::validate(&rt.kind, obj),
    };
    if let Err(e) = checked {
        errs.extend(e);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        // events.k8s.io Events are validated as the core Event they are stored as: the
        // apiserver's message names the kind without a group.
        let group = if rt.group == "events.k8s.io" {
            ""
        } else {
            rt.group.as_str()
        };
        Err(ApiError::invalid_fields(group, &rt.kind, &name, &errs))
    }
}

/// Decodes a built-in object into its typed form (as the apiserver's decoder does) and back.
/// `None` for kinds without a typed form here.
fn typed_roundtrip(rt: &ResourceType, obj: &Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api;
    fn rt_of<T: serde::de::DeserializeOwned + serde::Serialize>(
        obj: &Value,
    ) -> Result<Value, String> {
        let typed = T::deserialize(obj).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    Some(match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => rt_of::<api::core::v1::Namespace>(obj),
        ("", "Service") => rt_of::<api::core::v1::Service>(obj),
        ("", "Node") => rt_of::<api::core::v1::Node>(obj),
        ("", "Pod") => rt_of::<api::core::v1::Pod>(obj),
        ("", "Endpoints") => rt_of::<api::core::v1::Endpoints>(obj),
        ("", "Secret") => rt_of::<api::core::v1::Secret>(obj),
        ("", "ConfigMap") => rt_of::<api::core::v1::ConfigMap>(obj),
        ("", "ServiceAccount") => rt_of::<api::core::v1::ServiceAccount>(obj),
        ("", "Event") => rt_of::<api::core::v1::Event>(obj),
        ("events.k8s.io", "Event") => rt_of::<api::events::v1::Event>(obj),
        ("discovery.k8s.io", "EndpointSlice") => rt_of::<api::discovery::v1::EndpointSlice>(obj),
        ("networking.k8s.io", "Ingress") => rt_of::<api::networking::v1::Ingress>(obj),
        ("networking.k8s.io", "IngressClass") => rt_of::<api::networking::v1::IngressClass>(obj),
        ("coordination.k8s.io", "Lease") => rt_of::<api::coordination::v1::Lease>(obj),
        ("rbac.authorization.k8s.io", "Role") => rt_of::<api::rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => rt_of::<api::rbac::v1::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => rt_of::<api::rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            rt_of::<api::rbac::v1::ClusterRoleBinding>(obj)
        }
        ("apps", "Deployment") => rt_of::<api::apps::v1::Deployment>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => rt_of::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(obj),
        _ => return None,
    })
}

/// Drops the fields a built-in kind does not have (as decoding into the Go type does), or with
/// `strict` rejects them (400, `strict decoding error: unknown field "spec.x"`). A value of the
/// wrong type answers 400 like the apiserver's decoder.
fn typed_prune(rt: &ResourceType, obj: &mut Value, strict: bool) -> Result<(), ApiError> {
    let Some(round) = typed_roundtrip(rt, obj) else {
        return Ok(());
    };
    let kind = &rt.kind;
    let typed = round.map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {e}",
            rt.storage_version
        ))
    })?;
    let mut unknown = Vec::new();
    pruned(obj, &typed, "", &mut unknown);
    if unknown.is_empty() {
        return Ok(());
    }
    if strict {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: strict decoding error: {}",
            rt.storage_version,
            list.join(", ")
        )));
    }
    remove_unknown(obj, &typed);
    Ok(())
}

/// The fields of `obj` (a built-in kind's object or apply configuration) its Go type does not
/// declare, as `spec.x` paths; empty for custom resources and for values that do not decode.
pub(crate) fn undeclared_fields(rt: &ResourceType, obj: &Value) -> Vec<String> {
    let Some(Ok(typed)) = typed_roundtrip(rt, obj) else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    pruned(obj, &typed, "", &mut unknown);
    unknown
}

/// Removes from `obj` every non-null field `typed` does not have.
fn remove_unknown(obj: &mut Value, typed: &Value) {
    match (obj, typed) {
        (Value::Object(o), Value::Object(t)) => {
            o.retain(|k, v| v.is_null() || t.contains_key(k));
            for (k, v) in o.iter_mut() {
                if let Some(tv) = t.get(k) {
                    remove_unknown(v, tv);
                }
            }
        }
        (Value::Array(o), Value::Array(t)) if o.len() == t.len() => {
            for (v, tv) in o.iter_mut().zip(t) {
                remove_unknown(v, tv);
            }
        }
        _ => {}
    }
}

/// Paths present in `before` and missing in `after` (what pruning removed).
fn pruned(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(w) => pruned(v, w, &p, out),
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if a.len() == b.len() => {
            for (i, (v, w)) in b.iter().zip(a).enumerate() {
                pruned(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn scope<'a>(rt: &'a ResourceType, version: &str, sub: Option<&'a str>) -> Scope<'a> {
    Scope {
        subresource: sub,
        status_subresource: rt.status,
        schema: rt.crd.as_ref().and_then(|c| c.schemas.get(version)),
    }
}

/// Records the manager of a non-apply write in `metadata.managedFields`.
pub(crate) fn record(
    rt: &ResourceType,
    sub: Option<&str>,
    old: Option<&Value>,
    new: &mut Value,
    manager: Option<&str>,
    now: &str,
) {
    let Some(manager) = manager.filter(|m| !m.is_empty()) else {
        return;
    };
    crate::apply::record_update_in(
        old,
        new,
        manager,
        "Update",
        now,
        &scope(rt, &rt.storage_version, sub),
    );
}

/// Server-side apply of `applied` by `manager` onto `live` (both in `version`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    rt: &ResourceType,
    version: &str,
    sub: Option<&str>,
    name: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApiError> {
    crate::apply::apply_in(
        live,
        applied,
        manager,
        force,
        &crate::store::now(),
        &scope(rt, version, sub),
    )
    .map_err(|e| {
        let Some(body) = e.conflict_status() else {
            return ApiError::new(422, "Invalid", e.message());
        };
        let mut err = ApiError::new(409, "Conflict", e.message());
        let mut details = body.get("details").cloned().unwrap_or_else(|| json!({}));
        details["name"] = json!(name);
        details["kind"] = json!(rt.plural);
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        err.details = Some(details);
        err
    })
}
