//! Strategic merge patch (`application/strategic-merge-patch+json`) for built-in kinds.
//!
//! ```text
//!  PATCH (strategic) ──► strategic_merge(live, patch, kind) ──► new object ──► validation, store
//!                                │
//!                                └── list_strategy(kind, path): merge key or replace, per field
//! ```
//!
//! Follows `k8s.io/apimachinery/pkg/util/strategicpatch` as the apiserver runs it
//! (`MergeParallelList` and `IgnoreUnmatchedNulls` on):
//! - maps merge recursively; `null` deletes a key (a `null` for an absent key adds nothing);
//! - lists whose field has `patchStrategy:"merge"` merge: lists of maps by their
//!   `patchMergeKey` (containers by `name`, Service ports by `port`, container ports by
//!   `containerPort`, conditions by `type`, ownerReferences by `uid`, ...), lists of scalars as a
//!   set union (`metadata.finalizers`); every other list is replaced whole;
//! - directives: `$patch: replace` / `$patch: delete` in a map, `{"$patch": "delete", <key>}` and
//!   `{"$patch": "replace"}` list elements, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
//!   `$setElementOrder/<field>`;
//! - merged list order: patch items in patch order interleaved with server-only items, as
//!   `normalizeElementOrder` does.
//!
//! Like the apiserver, a Service port merges on `port` alone (the merge key declared in
//! `k8s.io/api`), so `53/TCP` and `53/UDP` in one patch collide exactly as they do there.
//! Custom resources do not support strategic merge patch (the apiserver answers 415); the caller
//! decides that, this module treats unknown kinds as having no merge lists.

use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied (the apiserver answers 400 Bad Request);
/// not retryable without changing the patch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not a JSON object.
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAnObject(&'static str),
    /// A `$patch` directive has an unknown value.
    #[error("Unknown patch type: {directive} in map: {map}")]
    BadDirective {
        /// The directive value found.
        directive: String,
        /// The map carrying it.
        map: String,
    },
    /// An element of a merge list lacks the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element.
        map: String,
        /// The merge key of the list.
        key: String,
    },
    /// A directive has a value of the wrong shape (e.g. `$retainKeys` not a list).
    #[error("invalid patch: {0}")]
    Invalid(String),
}

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch list replaces the live list (no `patchStrategy`, i.e. atomic lists).
    Replace,
    /// Lists of scalars merged as a set (e.g. `metadata.finalizers`).
    MergeScalars,
    /// Lists of maps merged by the named key.
    MergeByKey(&'static str),
}

/// The controllers whose `spec.template.spec` is a PodSpec.
const POD_TEMPLATE_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicationController",
];

/// The patch strategy of the list at `path` (field names from the object root, list indices
/// omitted) in an object of `kind`, as declared by the `patchStrategy`/`patchMergeKey` tags of
/// `k8s.io/api`.
pub fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::{MergeByKey, MergeScalars, Replace};
    // ObjectMeta, wherever it appears (object root or a template).
    match path {
        [.., "metadata", "finalizers"] => return MergeScalars,
        [.., "metadata", "ownerReferences"] => return MergeByKey("uid"),
        _ => {}
    }
    // PodSpec, in a Pod, a PodTemplate or a controller's template.
    let pod_spec: Option<&[&str]> = match (kind, path) {
        ("Pod", ["spec", rest @ ..])
        | ("PodTemplate", ["template", "spec", rest @ ..])
        | ("CronJob", ["spec", "jobTemplate", "spec", "template", "spec", rest @ ..]) => Some(rest),
        (k, ["spec", "template", "spec", rest @ ..]) if POD_TEMPLATE_KINDS.contains(&k) => {
            Some(rest)
        }
        _ => None,
    };
    if let Some(rest) = pod_spec {
        return match rest {
            [
                "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "volumes"
                | "imagePullSecrets"
                | "resourceClaims"
                | "schedulingGates",
            ] => MergeByKey("name"),
            ["hostAliases"] => MergeByKey("ip"),
            ["topologySpreadConstraints"] => MergeByKey("topologyKey"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                field,
            ] => match *field {
                "ports" => MergeByKey("containerPort"),
                "env" => MergeByKey("name"),
                "volumeMounts" => MergeByKey("mountPath"),
                "volumeDevices" => MergeByKey("devicePath"),
                _ => Replace,
            },
            _ => Replace,
        };
    }
    match (kind, path) {
        (_, ["status", "conditions"]) | ("Node", ["status", "addresses"]) => MergeByKey("type"),
        ("Service", ["spec", "ports"]) => MergeByKey("port"),
        ("Node", ["spec", "podCIDRs"]) => MergeScalars,
        ("Pod", ["status", "podIPs" | "hostIPs"]) => MergeByKey("ip"),
        ("ServiceAccount", ["secrets"]) => MergeByKey("name"),
        _ => Replace,
    }
}

/// Applies a strategic merge patch to `target` (the live object) for an object of `kind`
/// (e.g. `Service`, `Deployment`) and returns the patched object.
pub fn strategic_merge(target: &Value, patch: &Value, kind: &str) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject(json_kind(patch)));
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut path = Vec::new();
    let merged = merge_map(original, patch.clone(), kind, &mut path)?;
    Ok(Value::Object(merged))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(d) = patch.get(DIRECTIVE) {
        match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                return Ok(clean_map(patch));
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {
                patch.remove(DIRECTIVE);
            }
            _ => {
                return Err(PatchError::BadDirective {
                    directive: value_text(d),
                    map: Value::Object(patch.clone()).to_string(),
                });
            }
        }
    }

    if let Some(retain) = patch.remove(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(PatchError::Invalid(format!(
                "{RETAIN_KEYS} must be a list of strings"
            )));
        };
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }

    // $setElementOrder/<field>: merge the field's list now, then order it.
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for order_key in order_keys {
        let field = order_key[SET_ELEMENT_ORDER.len()..].to_owned();
        let Some(Value::Array(order)) = patch.remove(&order_key) else {
            return Err(PatchError::Invalid(format!("{order_key} must be a list")));
        };
        let patch_list = patch.remove(&field);
        let delete_list = patch.remove(&format!("{DELETE_FROM_PRIMITIVE_LIST}{field}"));
        let live_list = match original.get(&field) {
            Some(Value::Array(l)) => l.clone(),
            _ => Vec::new(),
        };
        if patch_list.is_none() && !original.contains_key(&field) {
            continue;
        }
        if matches!(patch_list, Some(Value::Null)) {
            original.remove(&field);
            continue;
        }
        path.push(field.clone());
        let strategy = list_strategy(kind, &path_refs(path));
        let mut merged = match patch_list {
            Some(Value::Array(p)) => merge_list(live_list.clone(), p, strategy, kind, path)?,
            Some(other) => {
                path.pop();
                original.insert(field, clean(other));
                continue;
            }
            None => live_list.clone(),
        };
        if let Some(Value::Array(del)) = delete_list {
            merged.retain(|v| !del.contains(v));
        }
        let key = merge_key(strategy);
        let (in_order, server_only) = partition(merged, &order, key);
        let merged = normalize_order(in_order, server_only, &order, &live_list, key);
        path.pop();
        original.insert(field, Value::Array(merged));
    }

    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            if let (Some(Value::Array(live)), Value::Array(del)) = (original.get_mut(field), &pv) {
                live.retain(|v| !del.contains(v));
            }
            continue;
        }
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(ov) = original.remove(&k) else {
            original.insert(k, clean(pv));
            continue;
        };
        path.push(k.clone());
        let merged = match (ov, pv) {
            (Value::Object(o), Value::Object(p)) => Value::Object(merge_map(o, p, kind, path)?),
            (Value::Array(o), Value::Array(p)) => {
                let strategy = list_strategy(kind, &path_refs(path));
                Value::Array(merge_list(o, p, strategy, kind, path)?)
            }
            (_, p) => clean(p),
        };
        path.pop();
        original.insert(k, merged);
    }
    Ok(original)
}

fn path_refs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

fn merge_key(strategy: ListStrategy) -> Option<&'static str> {
    match strategy {
        ListStrategy::MergeByKey(k) => Some(k),
        _ => None,
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    strategy: ListStrategy,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    if strategy == ListStrategy::Replace {
        return Ok(clean_list(patch));
    }
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let elements_are_maps = original.iter().chain(patch.iter()).any(Value::is_object);
    let key = match strategy {
        ListStrategy::MergeByKey(k) if elements_are_maps => Some(k),
        _ => None,
    };
    let Some(key) = key else {
        // Scalars: set union keeping the first occurrence.
        let mut merged: Vec<Value> = Vec::new();
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, None);
        return Ok(normalize_order(
            in_patch,
            server_only,
            &patch,
            &original,
            None,
        ));
    };

    // Special elements: {"$patch": "delete", key: v} and {"$patch": "replace"}.
    let mut live = original.clone();
    let mut plain: Vec<Value> = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = &item else {
            plain.push(item);
            continue;
        };
        match m.get(DIRECTIVE) {
            None => plain.push(item),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(kv) = m.get(key) else {
                        return Err(PatchError::NoMergeKey {
                            map: item.to_string(),
                            key: key.to_owned(),
                        });
                    };
                    live.retain(|e| e.get(key) != Some(kv));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Invalid(
                        "merging lists cannot yet be specified in the patch".to_owned(),
                    ));
                }
                _ => {
                    return Err(PatchError::BadDirective {
                        directive: value_text(d),
                        map: item.to_string(),
                    });
                }
            },
        }
    }
    if replace {
        return Ok(clean_list(plain));
    }
    let order_ref = plain.clone();
    for item in plain {
        let Value::Object(pm) = item else {
            return Err(PatchError::NoMergeKey {
                map: item.to_string(),
                key: key.to_owned(),
            });
        };
        let Some(kv) = pm.get(key).cloned() else {
            return Err(PatchError::NoMergeKey {
                map: Value::Object(pm).to_string(),
                key: key.to_owned(),
            });
        };
        if let Some(pos) = live.iter().position(|e| e.get(key) == Some(&kv)) {
            let base = match std::mem::take(&mut live[pos]) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            live[pos] = Value::Object(merge_map(base, pm, kind, path)?);
        } else {
            live.push(Value::Object(clean_map(pm)));
        }
    }
    let (in_patch, server_only) = partition(live, &order_ref, Some(key));
    Ok(normalize_order(
        in_patch,
        server_only,
        &order_ref,
        &original,
        Some(key),
    ))
}

/// Index of `item` in `list`, comparing by merge key for maps and by value for scalars.
fn index_of(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(k) => {
            let kv = item.get(k)?;
            list.iter().position(|e| e.get(k) == Some(kv))
        }
        None => list.iter().position(|e| e == item),
    }
}

/// Splits `merged` into the items present in `reference` and the others (server-only).
fn partition(
    merged: Vec<Value>,
    reference: &[Value],
    key: Option<&str>,
) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|v| index_of(reference, v, key).is_some())
}

/// `normalizeElementOrder`: sort patch items by `patch_order`, keep server-only items in live
/// order, then interleave both by their positions in the live list.
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let pos = |list: &[Value], v: &Value| index_of(list, v, key).map_or(-1, |i| i as i64);
    patch_items.sort_by_key(|v| pos(patch_order, v));
    server_only.sort_by_key(|v| pos(server_order, v));
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let (li, ri) = (pos(server_order, l), pos(server_order, r));
                li >= 0 && ri >= 0 && li < ri
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(v) = next {
            out.push(v);
        }
    }
    out
}

fn clean_list(items: Vec<Value>) -> Vec<Value> {
    match clean(Value::Array(items)) {
        Value::Array(v) => v,
        _ => Vec::new(),
    }
}

/// A patch value inserted where nothing was merged: directives and `null`s removed.
fn clean(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(clean_map(m)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|i| {
                    !i.is_null()
                        && !i.as_object().is_some_and(|m| {
                            m.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
                        })
                })
                .map(clean)
                .collect(),
        ),
        other => other,
    }
}

fn clean_map(m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        if v.is_null() || k == DIRECTIVE || k == RETAIN_KEYS {
            continue;
        }
        if k.starts_with(SET_ELEMENT_ORDER) || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            continue;
        }
        out.insert(k, clean(v));
    }
    out
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn smp(target: &Value, patch: &Value, kind: &str) -> Value {
        strategic_merge(target, patch, kind).unwrap()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "patch-demo"},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {
                    "containers": [{"name": "patch-demo-ctr", "image": "nginx",
                                    "ports": [{"containerPort": 80}]}],
                    "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]
                }}
            }
        })
    }

    #[test]
    fn containers_merge_by_name_as_in_the_kubectl_patch_docs() {
        let out = smp(
            &deployment(),
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "patch-demo-ctr-2", "image": "redis"}]}}}}),
            "Deployment",
        );
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        // New patch items come before the remaining live items, as in the docs' output.
        assert_eq!(names, ["patch-demo-ctr-2", "patch-demo-ctr"]);
    }

    #[test]
    fn tolerations_have_no_merge_key_and_are_replaced() {
        let out = smp(
            &deployment(),
            &json!({"spec": {"template": {"spec": {"tolerations": [
                {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}}}),
            "Deployment",
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["tolerations"],
            json!([{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])
        );
    }

    #[test]
    fn matching_container_is_merged_in_place() {
        let out = smp(
            &deployment(),
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "patch-demo-ctr", "image": "nginx:2", "ports": [{"containerPort": 443}]}]}}}}),
            "Deployment",
        );
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2");
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 443}, {"containerPort": 80}])
        );
    }

    #[test]
    fn retain_keys_clears_unlisted_fields_as_in_the_docs() {
        let out = smp(
            &deployment(),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            "Deployment",
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn null_deletes_a_key_and_unmatched_null_adds_nothing() {
        let out = smp(
            &json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            &json!({"metadata": {"labels": {"a": null, "c": null}}}),
            "ConfigMap",
        );
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2"}}}));
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let out = smp(
            &json!({"metadata": {"finalizers": ["a", "b"]}}),
            &json!({"metadata": {"finalizers": ["b", "c"]}}),
            "Service",
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn delete_from_primitive_list_removes_finalizers() {
        let out = smp(
            &json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            "Service",
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({"spec": {"ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP"}]}});
        let out = smp(
            &svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 53, "name": "dns"}]}}),
            "Service",
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9090},
                {"name": "dns", "port": 53},
                {"name": "https", "port": 443, "protocol": "TCP"}
            ])
        );
    }

    #[test]
    fn delete_directive_in_a_list_removes_the_keyed_element() {
        let svc = json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}});
        let out = smp(
            &svc,
            &json!({"spec": {"ports": [{"$patch": "delete", "port": 80}]}}),
            "Service",
        );
        assert_eq!(out["spec"]["ports"], json!([{"port": 443}]));
    }

    #[test]
    fn replace_directive_in_a_list_replaces_it() {
        let svc = json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}});
        let out = smp(
            &svc,
            &json!({"spec": {"ports": [{"$patch": "replace"}, {"port": 8443}]}}),
            "Service",
        );
        assert_eq!(out["spec"]["ports"], json!([{"port": 8443}]));
    }

    #[test]
    fn replace_directive_in_a_map_replaces_it() {
        let out = smp(
            &json!({"data": {"a": "1", "b": "2"}}),
            &json!({"data": {"$patch": "replace", "c": "3"}}),
            "ConfigMap",
        );
        assert_eq!(out["data"], json!({"c": "3"}));
    }

    #[test]
    fn delete_directive_in_a_map_empties_it() {
        let out = smp(
            &json!({"data": {"a": "1"}, "x": 1}),
            &json!({"data": {"$patch": "delete"}}),
            "ConfigMap",
        );
        assert_eq!(out, json!({"data": {}, "x": 1}));
    }

    #[test]
    fn conditions_merge_by_type() {
        let node = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}});
        let out = smp(
            &node,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            "Node",
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}])
        );
    }

    #[test]
    fn set_element_order_reorders_the_merged_list() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let out = smp(
            &pod,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "x"}]
            }}),
            "Pod",
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "c"}, {"name": "a", "image": "x"}, {"name": "b"}])
        );
    }

    #[test]
    fn set_element_order_with_delete_from_primitive_list() {
        let out = smp(
            &json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            &json!({"metadata": {
                "$setElementOrder/finalizers": ["c", "a"],
                "$deleteFromPrimitiveList/finalizers": ["b"]
            }}),
            "Service",
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a"]));
    }

    #[test]
    fn lists_without_merge_keys_are_replaced() {
        let out = smp(
            &json!({"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}]}),
            &json!({"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}),
            "Endpoints",
        );
        assert_eq!(out["subsets"], json!([{"addresses": [{"ip": "2.2.2.2"}]}]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let out = smp(
            &json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}),
            &json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}),
            "ConfigMap",
        );
        assert_eq!(
            out["metadata"]["ownerReferences"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn new_values_are_added_without_directives_or_nulls() {
        let out = smp(
            &json!({}),
            &json!({"spec": {"ports": [{"port": 80, "name": null}], "x": {"$patch": "merge", "y": 1}}}),
            "Service",
        );
        assert_eq!(
            out,
            json!({"spec": {"ports": [{"port": 80}], "x": {"y": 1}}})
        );
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let err = strategic_merge(
            &json!({"spec": {"ports": [{"port": 80}]}}),
            &json!({"spec": {"ports": [{"name": "x"}]}}),
            "Service",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "map: {\"name\":\"x\"} does not contain declared merge key: port"
        );
    }

    #[test]
    fn non_object_patch_and_bad_directive_are_errors() {
        assert!(matches!(
            strategic_merge(&json!({}), &json!([1]), "Service"),
            Err(PatchError::NotAnObject("array"))
        ));
        assert!(matches!(
            strategic_merge(
                &json!({"a": {}}),
                &json!({"a": {"$patch": "bogus"}}),
                "Service"
            ),
            Err(PatchError::BadDirective { .. })
        ));
    }

    #[test]
    fn patch_item_order_wins_over_live_order() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let out = smp(
            &pod,
            &json!({"spec": {"containers": [{"name": "c"}, {"name": "a"}]}}),
            "Pod",
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "b"}, {"name": "c"}, {"name": "a"}])
        );
    }

    #[test]
    fn strategy_table_knows_pod_templates() {
        assert_eq!(
            list_strategy(
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "env"
                ]
            ),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            list_strategy("StatefulSet", &["spec", "template", "spec", "volumes"]),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            list_strategy("Ingress", &["spec", "rules"]),
            ListStrategy::Replace
        );
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-100i64..100).prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn no_nulls(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Array(a) => a.iter().all(no_nulls),
            Value::Object(m) => m.values().all(no_nulls),
            _ => true,
        }
    }

    proptest! {
        #[test]
        fn empty_patch_is_the_identity(
            target in proptest::collection::btree_map("[a-z]{1,3}", json_value(), 0..4)
        ) {
            let target = Value::Object(target.into_iter().collect());
            prop_assert_eq!(smp(&target, &json!({}), "ConfigMap"), target);
        }

        #[test]
        fn patching_empty_yields_the_cleaned_patch_for_unknown_kinds(
            patch in proptest::collection::btree_map("[a-z]{1,3}", json_value(), 0..4)
        ) {
            let patch = Value::Object(patch.into_iter().collect());
            let out = smp(&json!({}), &patch, "Widget");
            prop_assert!(no_nulls(&out));
            // Applying the same patch again changes nothing (idempotence).
            prop_assert_eq!(smp(&out, &patch, "Widget"), out);
        }

        #[test]
        fn finalizer_merges_are_idempotent_unions(
            live in proptest::collection::vec("[a-c]", 0..4),
            add in proptest::collection::vec("[a-e]", 0..4)
        ) {
            let mut live_set: Vec<String> = Vec::new();
            for f in live { if !live_set.contains(&f) { live_set.push(f); } }
            let target = json!({"metadata": {"finalizers": live_set}});
            let patch = json!({"metadata": {"finalizers": add}});
            let once = smp(&target, &patch, "Service");
            let twice = smp(&once, &patch, "Service");
            prop_assert_eq!(&once, &twice);
            let got: Vec<String> = serde_json::from_value(once["metadata"]["finalizers"].clone()).unwrap();
            for f in live_set.iter().chain(add.iter()) { prop_assert!(got.contains(f)); }
        }
    }

    use crate::test_support::arbitrary_json;

    proptest::proptest! {
        #[test]
        fn strategic_merge_never_panics(t in arbitrary_json(), p in arbitrary_json(), k in 0usize..5) {
            let kinds = ["Service", "Pod", "Deployment", "Node", "Widget"];
            let _ = strategic_merge(&t, &p, kinds[k]);
            let _ = strategic_merge(&t, &with_directives(p), kinds[k]);
        }
    }

    /// Sprinkles directive keys over every object of a patch.
    fn with_directives(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let n = m.len();
                let mut out: Map<String, Value> = m
                    .into_iter()
                    .map(|(k, v)| (k, with_directives(v)))
                    .collect();
                match n % 5 {
                    0 => {
                        out.insert(
                            "$patch".into(),
                            json!(["replace", "delete", "merge"][n % 3]),
                        );
                    }
                    1 => {
                        out.insert("$retainKeys".into(), json!(["spec", "ports"]));
                    }
                    2 => {
                        out.insert("$setElementOrder/ports".into(), json!([{"port": 1}, 2]));
                    }
                    3 => {
                        out.insert("$deleteFromPrimitiveList/finalizers".into(), json!(["a"]));
                    }
                    _ => {}
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.into_iter().map(with_directives).collect()),
            other => other,
        }
    }
}
