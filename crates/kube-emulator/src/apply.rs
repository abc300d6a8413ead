//! Server-side apply and field ownership (`metadata.managedFields`, FieldsV1).
//!
//! ```text
//!  PATCH application/apply-patch+yaml ──► apply(live, applied, manager, force, now)
//!        merge(live, applied) → prune fields the manager dropped → conflicts? → managedFields
//!  POST / PUT / PATCH (other types)    ──► record_update(old, &mut new, manager, "Update", now)
//!        fields this write changed → owned by the manager, taken from the others
//! ```
//!
//! Follows the "Server-Side Apply" page of the Kubernetes docs and sigs.k8s.io/structured-merge-diff:
//! - a field set is the set of leaf paths of an object: scalars, atomic lists, empty maps,
//!   items of associative lists (`k:{"port":80,"protocol":"TCP"}`) and of sets (`v:"x"`), with
//!   the item itself a member (`.` in FieldsV1);
//! - list types come from the kinds' declared merge keys (containers by `name`, Service ports by
//!   `port`+`protocol`, container ports by `containerPort`+`protocol`, conditions by `type`,
//!   ownerReferences by `uid`, env by `name`, ...), `metadata.finalizers` is a set, every other
//!   list is atomic; custom resources use their schema's `x-kubernetes-list-type`,
//!   `x-kubernetes-list-map-keys` and `x-kubernetes-map-type` (default atomic lists);
//! - `apiVersion`, `kind`, `metadata.{name, namespace, uid, resourceVersion, generation,
//!   creationTimestamp, selfLink, managedFields}` are never tracked; with a status subresource,
//!   main-resource writes never own `status` and status writes own only `status`;
//! - an apply conflicts when it changes (or adds) a field another manager owns; `force` moves
//!   the ownership; fields the applier owned before and no longer applies are removed unless
//!   another manager owns them (or something below them);
//! - the entry of each manager is keyed by (manager, operation, subresource, and the apiVersion
//!   for updates) and entries are sorted as the apiserver sorts them;
//! - objects without managedFields stay untracked on update (creates are always tracked); the
//!   first apply to such an object first gives its fields to `before-first-apply`; a client may
//!   overwrite managedFields on non-apply writes (`[{}]` resets them, `[]` is ignored).
//!
//! Not covered: the cap of 10 update managers (`ancient-changes`), the
//! `last-applied-configuration` annotation upkeep, and version conversion of field sets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::strategic::{ListStrategy, list_strategy};

/// The manager that owns the existing fields of an untracked object on its first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// One path of a field set, as FieldsV1 path elements (`f:spec`, `k:{"name":"a"}`, `v:"x"`).
pub type FieldPath = Vec<String>;
/// A set of field paths.
pub type FieldSet = BTreeSet<FieldPath>;

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name, e.g. `kubectl-client-side-apply`.
    pub manager: String,
    /// The field, printed as the apiserver prints paths: `.spec.replicas`,
    /// `.spec.ports[port=80,protocol="TCP"].targetPort`.
    pub field: String,
    /// The other manager's operation, `Apply` or `Update`.
    pub operation: String,
    /// The other manager's apiVersion.
    pub api_version: String,
    /// The other manager's subresource (`status`), if any.
    pub subresource: Option<String>,
}

impl Conflict {
    /// The manager as the apiserver prints it: `"m"`, `"m" with subresource "status"`, and for
    /// updates ` using v1` appended.
    pub fn manager_display(&self) -> String {
        let mut s = quote(&self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {}", quote(sub));
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The apply changes fields other managers own (409 Conflict); retry with `force` or
    /// without those fields.
    #[error("{}", conflict_message(.conflicts))]
    Conflict {
        /// Every conflicting field, sorted by manager then path.
        conflicts: Vec<Conflict>,
    },
    /// The applied configuration is malformed (e.g. not an object, no `apiVersion`/`kind`,
    /// duplicate keys in an associative list); not retryable as is.
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// The Status message: `Apply failed with 1 conflict: conflict with "m" using v1:
    /// .spec.replicas`, or the invalid-input text.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The 409 Status body for a conflict (reason `Conflict`, causes of type
    /// `FieldManagerConflict`), `None` for [`ApplyError::Invalid`].
    pub fn conflict_status(&self) -> Option<Value> {
        let ApplyError::Conflict { conflicts } = self else {
            return None;
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", c.manager_display()),
                    "field": c.field,
                })
            })
            .collect();
        Some(json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": "Conflict",
            "details": {"causes": causes},
            "code": 409,
        }))
    }
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager_display(),
            c.field
        );
    }
    let mut by_manager: BTreeMap<String, Vec<&Conflict>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(c.manager.clone()).or_default().push(c);
    }
    let mut lines = Vec::new();
    for group in by_manager.values() {
        lines.push(format!("conflicts with {}:", group[0].manager_display()));
        for c in group {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Where a write goes and what shapes the object: pass `Scope::default()` for a built-in kind
/// without status subresource written at its main resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    /// The subresource written (`Some("status")`), `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// Whether the kind has a status subresource (main-resource writes then never own status).
    pub status_subresource: bool,
    /// The custom resource's `openAPIV3Schema`, for its list and map types.
    pub schema: Option<&'a Value>,
}

// ---------------------------------------------------------------------------------------------
// Managers.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerId {
    manager: String,
    operation: String,
    subresource: String,
    /// Only part of the identity for updates.
    api_version: String,
}

#[derive(Clone, Debug)]
struct Entry {
    api_version: String,
    time: Option<String>,
    set: FieldSet,
}

fn parse_managers(obj: Option<&Value>) -> BTreeMap<ManagerId, Entry> {
    let mut out = BTreeMap::new();
    let Some(list) = obj
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
    else {
        return out;
    };
    for e in list {
        let get = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let operation = get("operation");
        let api_version = get("apiVersion");
        let id = ManagerId {
            manager: get("manager"),
            operation: operation.clone(),
            subresource: get("subresource"),
            api_version: if operation == "Apply" {
                String::new()
            } else {
                api_version.clone()
            },
        };
        let set = e.get("fieldsV1").map(fields_v1_to_set).unwrap_or_default();
        let time = e.get("time").and_then(Value::as_str).map(str::to_owned);
        out.entry(id)
            .and_modify(|x: &mut Entry| x.set.extend(set.clone()))
            .or_insert(Entry {
                api_version,
                time,
                set,
            });
    }
    out
}

fn encode_managers(managers: &BTreeMap<ManagerId, Entry>) -> Value {
    let mut entries: Vec<(&ManagerId, &Entry)> =
        managers.iter().filter(|(_, e)| !e.set.is_empty()).collect();
    entries.sort_by(|(a, ea), (b, eb)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| ea.time.cmp(&eb.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| ea.api_version.cmp(&eb.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    Value::Array(
        entries
            .into_iter()
            .map(|(id, e)| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(id.manager));
                m.insert("operation".into(), json!(id.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), set_to_fields_v1(&e.set));
                if !id.subresource.is_empty() {
                    m.insert("subresource".into(), json!(id.subresource));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

fn set_managed_fields(obj: &mut Value, managers: &BTreeMap<ManagerId, Entry>) {
    let encoded = encode_managers(managers);
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        if encoded.as_array().is_some_and(Vec::is_empty) {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), encoded);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// FieldsV1 <-> sets.
// ---------------------------------------------------------------------------------------------

/// Decodes a FieldsV1 object (`{"f:spec":{"f:replicas":{}}}`) into a set of paths.
pub fn fields_v1_to_set(v: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Some(map) = v.as_object() else { return };
        for (k, child) in map {
            if k == "." {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                continue;
            }
            path.push(k.clone());
            if child.as_object().is_some_and(Map::is_empty) {
                out.insert(path.clone());
            } else {
                walk(child, path, out);
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// Encodes a set of paths as FieldsV1 (members with children carry `".": {}`).
pub fn set_to_fields_v1(set: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node {
        member: bool,
        children: BTreeMap<String, Node>,
    }
    fn to_value(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &n.children {
            m.insert(k.clone(), to_value(c));
        }
        Value::Object(m)
    }
    let mut root = Node::default();
    for path in set {
        let mut cur = &mut root;
        for el in path {
            cur = cur.children.entry(el.clone()).or_default();
        }
        cur.member = true;
    }
    to_value(&root)
}

/// Prints a path as the apiserver does in conflicts: `.spec.replicas`,
/// `.spec.containers[name="a"].image`, `.metadata.finalizers[="x"]`.
pub fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            let _ = write!(out, "[{}]", parts.join(","));
        } else if let Some(v) = el.strip_prefix("v:") {
            let _ = write!(out, "[={v}]");
        } else if let Some(i) = el.strip_prefix("i:") {
            let _ = write!(out, "[{i}]");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Object shape: list and map types.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

struct Shape<'a> {
    kind: String,
    schema: Option<&'a Value>,
}

/// Field names of a path (`k:`/`v:` elements skipped).
fn names(path: &[String]) -> Vec<&str> {
    path.iter().filter_map(|e| e.strip_prefix("f:")).collect()
}

impl Shape<'_> {
    fn schema_at(&self, names: &[&str]) -> Option<&Value> {
        let mut s = self.schema?;
        for (i, n) in names.iter().enumerate() {
            let next = s
                .get("properties")
                .and_then(|p| p.get(*n))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))?;
            s = next;
            // Step into list items: the next name (if any) is a field of an item.
            if s.get("type").and_then(Value::as_str) == Some("array")
                && let Some(items) = s.get("items")
            {
                // Keep the array schema for the last element (its list type lives there).
                if i + 1 < names.len() {
                    s = items;
                }
            }
        }
        Some(s)
    }

    fn list_type(&self, names: &[&str]) -> ListType {
        match names {
            ["metadata", "finalizers"] => return ListType::Set,
            ["metadata", "ownerReferences"] => return ListType::Map(vec!["uid".into()]),
            _ => {}
        }
        if self.schema.is_some() {
            let Some(s) = self.schema_at(names) else {
                return ListType::Atomic;
            };
            return match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    s.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|k| {
                            k.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListType::Atomic,
            };
        }
        match list_strategy(&self.kind, names) {
            ListStrategy::Replace => ListType::Atomic,
            ListStrategy::MergeScalars => ListType::Set,
            ListStrategy::MergeByKey(k) => {
                let with_protocol =
                    (self.kind == "Service" && names == ["spec", "ports"]) || k == "containerPort";
                if with_protocol {
                    ListType::Map(vec![k.to_owned(), "protocol".to_owned()])
                } else {
                    ListType::Map(vec![k.to_owned()])
                }
            }
        }
    }

    fn atomic_map(&self, names: &[&str]) -> bool {
        if self.schema.is_some() {
            return self.schema_at(names).is_some_and(|s| {
                matches!(
                    s.get("x-kubernetes-map-type").and_then(Value::as_str),
                    Some("atomic")
                ) || matches!(
                    s.get("x-kubernetes-struct-type").and_then(Value::as_str),
                    Some("atomic")
                )
            });
        }
        matches!(
            (self.kind.as_str(), names),
            (
                "Service" | "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job",
                ["spec", "selector"]
            )
        )
    }

    /// The key of an item of an associative list (`k:` element), with `protocol` defaulting
    /// to `TCP` as the schema default does.
    fn item_key(keys: &[String], item: &Value) -> Result<String, String> {
        let mut m = Map::new();
        for k in keys {
            match item.get(k) {
                Some(v) if !v.is_null() => {
                    m.insert(k.clone(), v.clone());
                }
                _ if k == "protocol" => {
                    m.insert(k.clone(), json!("TCP"));
                }
                _ => {
                    return Err(format!(
                        "associative list with keys has an element that omits key field {}",
                        quote(k)
                    ));
                }
            }
        }
        Ok(format!("k:{}", Value::Object(m)))
    }
}

/// The field set of an object (all leaf and item paths).
fn object_set(shape: &Shape<'_>, obj: &Value) -> Result<FieldSet, String> {
    fn walk(
        shape: &Shape<'_>,
        v: &Value,
        path: &mut FieldPath,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        match v {
            Value::Object(m) if !m.is_empty() && !shape.atomic_map(&names(path)) => {
                for (k, c) in m {
                    path.push(format!("f:{k}"));
                    walk(shape, c, path, out)?;
                    path.pop();
                }
            }
            Value::Array(items) => match shape.list_type(&names(path)) {
                ListType::Atomic => {
                    out.insert(path.clone());
                }
                ListType::Set => {
                    for it in items {
                        path.push(format!("v:{it}"));
                        if !out.insert(path.clone()) {
                            return Err(format!(
                                "{}: duplicate entries for key {it}",
                                path_string(&path[..path.len() - 1])
                            ));
                        }
                        path.pop();
                    }
                }
                ListType::Map(keys) => {
                    for it in items {
                        let key = Shape::item_key(&keys, it)
                            .map_err(|e| format!("{}: {e}", path_string(path)))?;
                        path.push(key);
                        if !out.insert(path.clone()) {
                            return Err(format!(
                                "{}: duplicate entries for key {}",
                                path_string(&path[..path.len() - 1]),
                                path_string(&path[path.len() - 1..])
                            ));
                        }
                        if let Value::Object(m) = it {
                            for (k, c) in m {
                                path.push(format!("f:{k}"));
                                walk(shape, c, path, out)?;
                                path.pop();
                            }
                        }
                        path.pop();
                    }
                }
            },
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
        Ok(())
    }
    let mut out = FieldSet::new();
    walk(shape, obj, &mut Vec::new(), &mut out)?;
    Ok(out)
}

const UNTRACKED: &[&[&str]] = &[
    &["f:apiVersion"],
    &["f:kind"],
    &["f:metadata", "f:name"],
    &["f:metadata", "f:namespace"],
    &["f:metadata", "f:uid"],
    &["f:metadata", "f:resourceVersion"],
    &["f:metadata", "f:generation"],
    &["f:metadata", "f:creationTimestamp"],
    &["f:metadata", "f:selfLink"],
    &["f:metadata", "f:managedFields"],
    &["f:metadata", "f:deletionTimestamp"],
    &["f:metadata", "f:deletionGracePeriodSeconds"],
];

fn tracked(path: &[String], scope: &Scope<'_>) -> bool {
    if UNTRACKED
        .iter()
        .any(|u| path.len() >= u.len() && path.iter().zip(u.iter()).all(|(a, b)| a == b))
    {
        return false;
    }
    let under_status = path.first().is_some_and(|p| p == "f:status");
    match scope.subresource {
        Some("status") => under_status,
        _ => !(scope.status_subresource && under_status),
    }
}

fn filter(set: FieldSet, scope: &Scope<'_>) -> FieldSet {
    set.into_iter().filter(|p| tracked(p, scope)).collect()
}

// ---------------------------------------------------------------------------------------------
// Values at paths, comparison, removal, merge.
// ---------------------------------------------------------------------------------------------

fn find_item(items: &[Value], el: &str, shape: &Shape<'_>, names: &[&str]) -> Option<usize> {
    if let Some(v) = el.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().position(|i| *i == want);
    }
    let ListType::Map(keys) = shape.list_type(names) else {
        return None;
    };
    items
        .iter()
        .position(|i| Shape::item_key(&keys, i).is_ok_and(|k| k == el))
}

fn value_at<'v>(shape: &Shape<'_>, obj: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = obj;
    for (i, el) in path.iter().enumerate() {
        cur = if let Some(f) = el.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let items = cur.as_array()?;
            let idx = find_item(items, el, shape, &names(&path[..i]))?;
            &items[idx]
        };
    }
    Some(cur)
}

fn is_leaf_value(shape: &Shape<'_>, v: &Value, path: &[String]) -> bool {
    match v {
        Value::Object(m) => m.is_empty() || shape.atomic_map(&names(path)),
        Value::Array(_) => shape.list_type(&names(path)) == ListType::Atomic,
        _ => true,
    }
}

struct Comparison {
    added: FieldSet,
    removed: FieldSet,
    modified: FieldSet,
}

fn compare(shape: &Shape<'_>, old: &Value, new: &Value) -> Result<Comparison, String> {
    let a = object_set(shape, old)?;
    let b = object_set(shape, new)?;
    let added = b.difference(&a).cloned().collect();
    let removed = a.difference(&b).cloned().collect();
    let modified = a
        .intersection(&b)
        .filter(
            |p| match (value_at(shape, old, p), value_at(shape, new, p)) {
                (Some(x), Some(y)) => is_leaf_value(shape, y, p) && x != y,
                _ => false,
            },
        )
        .cloned()
        .collect();
    Ok(Comparison {
        added,
        removed,
        modified,
    })
}

/// Removes the value at `path` from `obj` (a key, a keyed item, a set value).
fn remove_at(shape: &Shape<'_>, obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for (i, el) in parent.iter().enumerate() {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let nm = names(&path[..i]);
            let idx = cur
                .as_array()
                .and_then(|items| find_item(items, el, shape, &nm));
            match (idx, cur.as_array_mut()) {
                (Some(idx), Some(items)) => items.get_mut(idx),
                _ => None,
            }
        };
        let Some(next) = next else { return };
        cur = next;
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else {
        let nm = names(parent);
        let idx = cur
            .as_array()
            .and_then(|items| find_item(items, last, shape, &nm));
        if let (Some(idx), Some(items)) = (idx, cur.as_array_mut()) {
            items.remove(idx);
        }
    }
}

/// The JSON pointer of a path made only of `f:` elements.
fn json_pointer(path: &[String]) -> String {
    path.iter().fold(String::new(), |mut acc, e| {
        let name = e.strip_prefix("f:").unwrap_or(e);
        let _ = write!(acc, "/{}", name.replace('~', "~0").replace('/', "~1"));
        acc
    })
}

/// Drops maps left empty by pruning (below the root), as typed objects omit them.
fn drop_empty_parents(obj: &mut Value, path: &[String]) {
    for depth in (1..path.len()).rev() {
        let prefix = &path[..depth];
        if !prefix.iter().all(|e| e.starts_with("f:")) {
            return;
        }
        let ptr = json_pointer(prefix);
        if obj
            .pointer(&ptr)
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
        {
            let parent_ptr = json_pointer(&prefix[..depth - 1]);
            let key = &prefix[depth - 1][2..];
            let parent = if parent_ptr.is_empty() {
                Some(&mut *obj)
            } else {
                obj.pointer_mut(&parent_ptr)
            };
            if let Some(m) = parent.and_then(Value::as_object_mut) {
                m.remove(key);
            }
        } else {
            return;
        }
    }
}

fn merge_values(shape: &Shape<'_>, live: &Value, cfg: &Value, path: &mut FieldPath) -> Value {
    match (live, cfg) {
        (Value::Object(l), Value::Object(c)) if !shape.atomic_map(&names(path)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    // An explicit null clears the field (typed objects drop nulls); the applier
                    // still owns it.
                    out.remove(k);
                    continue;
                }
                path.push(format!("f:{k}"));
                let merged = match l.get(k) {
                    Some(lv) => merge_values(shape, lv, cv, path),
                    None => without_nulls(cv),
                };
                path.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match shape.list_type(&names(path)) {
            ListType::Atomic => without_nulls(cfg),
            // Config order for config items, live-only items keep their place.
            ListType::Set => Value::Array(interleave(l, c, |x, y| x == y)),
            ListType::Map(keys) => {
                let key = |v: &Value| Shape::item_key(&keys, v).ok();
                let mut out = Vec::new();
                let mut emitted = vec![false; c.len()];
                let find_cfg = |lv: &Value| {
                    c.iter()
                        .position(|cv| key(cv).is_some() && key(cv) == key(lv))
                };
                for lv in l {
                    match find_cfg(lv) {
                        None => out.push(lv.clone()),
                        Some(ci) => {
                            for (j, cv) in c.iter().enumerate().take(ci + 1) {
                                if emitted[j] {
                                    continue;
                                }
                                emitted[j] = true;
                                let live_match =
                                    l.iter().find(|x| key(x).is_some() && key(x) == key(cv));
                                path.push(key(cv).unwrap_or_default());
                                let m = match live_match {
                                    Some(lm) => merge_values(shape, lm, cv, path),
                                    None => without_nulls(cv),
                                };
                                path.pop();
                                out.push(m);
                            }
                        }
                    }
                }
                for (j, cv) in c.iter().enumerate() {
                    if !emitted[j] {
                        out.push(cv.clone());
                    }
                }
                Value::Array(out)
            }
        },
        _ => without_nulls(cfg),
    }
}

/// A config value with its `null` map entries dropped (typed objects have no nulls).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Set merge order: live-only items keep their place, config items in config order.
fn interleave<F>(live: &[Value], cfg: &[Value], same: F) -> Vec<Value>
where
    F: Fn(&Value, &Value) -> bool,
{
    let mut out = Vec::new();
    let mut emitted = vec![false; cfg.len()];
    for lv in live {
        match cfg.iter().position(|cv| same(lv, cv)) {
            None => out.push(lv.clone()),
            Some(ci) => {
                for j in 0..=ci {
                    if !emitted[j] {
                        emitted[j] = true;
                        out.push(cfg[j].clone());
                    }
                }
            }
        }
    }
    for (j, cv) in cfg.iter().enumerate() {
        if !emitted[j] {
            out.push(cv.clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Apply and update.
// ---------------------------------------------------------------------------------------------

/// Server-side apply of `applied` (the request body) by `manager` onto `live` (`None` on
/// create) for the main resource of a built-in kind; see [`apply_in`].
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_in(live, applied, manager, force, now, &Scope::default())
}

/// Server-side apply with an explicit [`Scope`] (status subresource, custom resource schema).
/// Returns the new object with its `metadata.managedFields` updated; `now` is the RFC 3339
/// time stamped on the manager's entry.
pub fn apply_in(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    scope: &Scope<'_>,
) -> Result<Value, ApplyError> {
    let Value::Object(cfg_map) = applied else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".to_owned(),
        ));
    };
    let api_version = cfg_map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = cfg_map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ApplyError::Invalid(
            "apiVersion and kind must be set in the applied configuration".to_owned(),
        ));
    }
    if manager.is_empty() {
        return Err(ApplyError::Invalid(
            "PATCH, application/apply-patch+yaml requests must specify a fieldManager".to_owned(),
        ));
    }
    let shape = Shape {
        kind: kind.to_owned(),
        schema: scope.schema,
    };
    // Only the part of the config the scope lets this write touch.
    let mut cfg = applied.clone();
    if let Some(m) = cfg.as_object_mut() {
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        match scope.subresource {
            Some("status") => {
                m.retain(|k, _| {
                    matches!(k.as_str(), "status" | "apiVersion" | "kind" | "metadata")
                });
            }
            _ if scope.status_subresource => {
                m.remove("status");
            }
            _ => {}
        }
    }
    let empty = Value::Object(Map::new());
    let live_obj = live.unwrap_or(&empty);
    let mut managers = parse_managers(live);
    if let Some(live) = live
        && managers.is_empty()
    {
        // The first apply to an untracked object: its existing fields belong to
        // "before-first-apply" (an update from an empty object), so the apply conflicts
        // where it changes them.
        let mut seeded = live.clone();
        record_update_in(None, &mut seeded, BEFORE_FIRST_APPLY, "Update", now, scope);
        managers = parse_managers(Some(&seeded));
    }
    let id = ManagerId {
        manager: manager.to_owned(),
        operation: "Apply".to_owned(),
        subresource: scope.subresource.unwrap_or_default().to_owned(),
        api_version: String::new(),
    };
    let new_set = filter(
        object_set(&shape, &cfg).map_err(ApplyError::Invalid)?,
        scope,
    );
    let last_set = managers.get(&id).map(|e| e.set.clone()).unwrap_or_default();

    let mut new_obj = merge_values(&shape, live_obj, &cfg, &mut Vec::new());
    if scope.subresource == Some("status") {
        // The status subresource never changes anything but status.
        let mut kept = live_obj.clone();
        if let (Some(k), Some(st)) = (kept.as_object_mut(), new_obj.get("status")) {
            k.insert("status".into(), st.clone());
        }
        new_obj = kept;
    }

    // Prune what this manager applied before and no longer applies, unless owned elsewhere.
    let others: Vec<&FieldSet> = managers
        .iter()
        .filter(|(k, _)| **k != id)
        .map(|(_, e)| &e.set)
        .collect();
    let mut dropped: Vec<&FieldPath> = last_set.difference(&new_set).collect();
    dropped.sort_by_key(|p| p.len());
    let mut removed_prefixes: Vec<&FieldPath> = Vec::new();
    for p in dropped {
        if removed_prefixes.iter().any(|r| p.starts_with(r)) {
            continue;
        }
        let owned_elsewhere = others.iter().any(|s| s.iter().any(|q| q.starts_with(p)))
            || new_set
                .iter()
                .any(|q| q.starts_with(p) && q.len() > p.len());
        if !owned_elsewhere {
            remove_at(&shape, &mut new_obj, p);
            drop_empty_parents(&mut new_obj, p);
            removed_prefixes.push(p);
        }
    }

    let cmp = compare(&shape, live_obj, &new_obj).map_err(ApplyError::Invalid)?;
    let changed: FieldSet = cmp.modified.union(&cmp.added).cloned().collect();
    let mut conflicts = Vec::new();
    for (other, entry) in &managers {
        if *other == id {
            continue;
        }
        for p in entry.set.intersection(&changed) {
            conflicts.push(Conflict {
                manager: other.manager.clone(),
                field: path_string(p),
                operation: other.operation.clone(),
                api_version: entry.api_version.clone(),
                subresource: Some(other.subresource.clone()).filter(|s| !s.is_empty()),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager).then(a.field.cmp(&b.field)));
        return Err(ApplyError::Conflict { conflicts });
    }
    for (other, entry) in &mut managers {
        if *other == id {
            continue;
        }
        entry
            .set
            .retain(|p| !changed.contains(p) && !cmp.removed.contains(p));
    }
    let changed_obj = live.is_none() || new_obj != *live_obj || new_set != last_set;
    let prev_time = managers.get(&id).and_then(|e| e.time.clone());
    managers.insert(
        id,
        Entry {
            api_version,
            time: if changed_obj {
                Some(now.to_owned())
            } else {
                prev_time.or_else(|| Some(now.to_owned()))
            },
            set: new_set,
        },
    );
    set_managed_fields(&mut new_obj, &managers);
    Ok(new_obj)
}

/// Records a non-apply write (create, update, JSON/merge/strategic patch) by `manager` with
/// `operation` (`"Update"`) in `new`'s managedFields: the fields this write added or changed
/// become the manager's and leave the other managers' sets. `old` is `None` on create. A
/// `metadata.managedFields` sent by the client that differs from `old`'s replaces them (an
/// empty list resets ownership), as the apiserver allows.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    now: &str,
) {
    record_update_in(old, new, manager, operation, now, &Scope::default());
}

/// [`record_update`] with an explicit [`Scope`] (`subresource: Some("status")` records the
/// entry with `subresource: status` and only status fields).
pub fn record_update_in(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    now: &str,
    scope: &Scope<'_>,
) {
    let kind = new
        .get("kind")
        .or_else(|| old.and_then(|o| o.get("kind")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api_version = new
        .get("apiVersion")
        .or_else(|| old.and_then(|o| o.get("apiVersion")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let shape = Shape {
        kind,
        schema: scope.schema,
    };
    // The client may overwrite managedFields (`[{}]` resets them); an empty or missing list,
    // or any subresource write, keeps the stored ones (FieldManager.Update).
    let sent = new
        .pointer("/metadata/managedFields")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .cloned();
    let mut managers = match &sent {
        Some(s) if scope.subresource.is_none() => {
            parse_managers(Some(&json!({"metadata": {"managedFields": s}})))
        }
        _ => parse_managers(old),
    };
    // Objects that predate field management stay untracked on update
    // (skipNonAppliedManager); creates are always tracked.
    if old.is_some() && managers.is_empty() {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        return;
    }
    let empty = Value::Object(Map::new());
    let mut old_obj = old.cloned().unwrap_or_else(|| empty.clone());
    let mut new_obj = new.clone();
    for o in [&mut old_obj, &mut new_obj] {
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    // Lists with duplicate keys cannot be tracked; ownership is then left as it was.
    let Ok(cmp) = compare(&shape, &old_obj, &new_obj) else {
        set_managed_fields(new, &managers);
        return;
    };
    let changed = filter(cmp.modified.union(&cmp.added).cloned().collect(), scope);
    let removed = filter(cmp.removed.clone(), scope);
    let id = ManagerId {
        manager: manager.to_owned(),
        operation: operation.to_owned(),
        subresource: scope.subresource.unwrap_or_default().to_owned(),
        api_version: if operation == "Apply" {
            String::new()
        } else {
            api_version.clone()
        },
    };
    for (other, entry) in &mut managers {
        if *other == id {
            continue;
        }
        entry
            .set
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let entry = managers.entry(id).or_insert(Entry {
        api_version,
        time: None,
        set: FieldSet::new(),
    });
    let before = entry.set.clone();
    entry.set.retain(|p| !removed.contains(p));
    entry.set.extend(changed.iter().cloned());
    if entry.set != before || entry.time.is_none() {
        entry.time = Some(now.to_owned());
    }
    set_managed_fields(new, &managers);
}

/// The field set a manager entry of `obj` owns (for tests and diagnostics): the union over
/// that manager's entries, or empty.
pub fn managed_set(obj: &Value, manager: &str) -> FieldSet {
    parse_managers(Some(obj))
        .into_iter()
        .filter(|(id, _)| id.manager == manager)
        .flat_map(|(_, e)| e.set)
        .collect()
}

/// Maximum length of a field manager name (`FieldManagerMaxLength`).
pub const FIELD_MANAGER_MAX_LEN: usize = 128;

/// The manager of a non-apply write that names none: the User-Agent up to its first `/`,
/// printable characters only, at most 128 (`prefixFromUserAgent`), e.g. `kubectl` for
/// `kubectl/v1.31.0 (linux/amd64) kubernetes/abc`.
pub fn default_manager(user_agent: &str) -> String {
    user_agent
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(FIELD_MANAGER_MAX_LEN)
        .collect()
}

/// Checks a `fieldManager` query parameter as `ValidateFieldManager` does (the apiserver
/// answers 422 with this cause).
pub fn validate_manager(name: &str) -> Result<(), crate::causes::FieldError> {
    if name.chars().count() > FIELD_MANAGER_MAX_LEN {
        return Err(crate::causes::FieldError::too_long(
            "fieldManager",
            FIELD_MANAGER_MAX_LEN,
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(crate::causes::FieldError::invalid(
            "fieldManager",
            &Value::String(name.to_owned()),
            "must only contain printable characters",
        ));
    }
    Ok(())
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:01:00Z";

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}
        })
    }

    fn paths(obj: &Value, manager: &str) -> Vec<String> {
        managed_set(obj, manager)
            .iter()
            .map(|p| path_string(p))
            .collect()
    }

    #[test]
    fn apply_on_create_owns_every_applied_field() {
        let obj = apply(None, &deploy(2, "nginx:1"), "kubectl", false, T0).unwrap();
        let mf = &obj["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "kubectl");
        assert_eq!(mf["operation"], "Apply");
        assert_eq!(mf["apiVersion"], "apps/v1");
        assert_eq!(mf["time"], T0);
        assert_eq!(mf["fieldsType"], "FieldsV1");
        assert_eq!(
            mf["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
                    }}}
                }
            })
        );
    }

    #[test]
    fn untracked_metadata_is_never_owned() {
        let mut cfg = deploy(1, "x");
        cfg["metadata"]["resourceVersion"] = json!("5");
        cfg["metadata"]["uid"] = json!("u");
        let obj = apply(None, &cfg, "m", false, T0).unwrap();
        let p = paths(&obj, "m");
        assert!(!p.iter().any(|p| p.contains("resourceVersion")
            || p.contains(".uid")
            || p == ".metadata.name"
            || p == ".kind"));
    }

    #[test]
    fn apply_conflicts_with_an_updater_that_owns_the_field() {
        let mut live = deploy(3, "nginx:1");
        record_update(None, &mut live, "kubectl-client-side-apply", "Update", T0);
        let err = apply(Some(&live), &deploy(5, "nginx:1"), "kubectl", false, T1).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let status = err.conflict_status().unwrap();
        assert_eq!(status["code"], 409);
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
        assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
    }

    #[test]
    fn same_value_is_shared_ownership_not_a_conflict() {
        let mut live = deploy(3, "nginx:1");
        record_update(None, &mut live, "editor", "Update", T0);
        let obj = apply(Some(&live), &deploy(3, "nginx:1"), "kubectl", false, T1).unwrap();
        assert!(paths(&obj, "editor").contains(&".spec.replicas".to_owned()));
        assert!(paths(&obj, "kubectl").contains(&".spec.replicas".to_owned()));
    }

    #[test]
    fn force_takes_ownership_from_the_other_manager() {
        let mut live = deploy(3, "nginx:1");
        record_update(None, &mut live, "editor", "Update", T0);
        let obj = apply(Some(&live), &deploy(5, "nginx:2"), "kubectl", true, T1).unwrap();
        assert_eq!(obj["spec"]["replicas"], 5);
        let editor = paths(&obj, "editor");
        assert!(!editor.contains(&".spec.replicas".to_owned()));
        assert!(!editor.iter().any(|p| p.contains("image")));
        assert!(editor.contains(&".metadata.labels.app".to_owned()));
        assert!(paths(&obj, "kubectl").contains(&".spec.replicas".to_owned()));
    }

    #[test]
    fn multiple_conflicts_are_grouped_by_manager() {
        let mut live = deploy(3, "nginx:1");
        record_update(None, &mut live, "editor", "Update", T0);
        let err = apply(Some(&live), &deploy(4, "nginx:2"), "kubectl", false, T1).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 2 conflicts: conflicts with \"editor\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn fields_dropped_from_the_config_are_removed_when_nobody_else_owns_them() {
        let mut cfg = deploy(2, "nginx:1");
        cfg["metadata"]["labels"]["tier"] = json!("fe");
        let live = apply(None, &cfg, "kubectl", false, T0).unwrap();
        let next = apply(Some(&live), &deploy(2, "nginx:1"), "kubectl", false, T1).unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn fields_dropped_from_the_config_stay_when_another_manager_owns_them() {
        let mut cfg = deploy(2, "nginx:1");
        cfg["metadata"]["labels"]["tier"] = json!("fe");
        let live = apply(None, &cfg, "a", false, T0).unwrap();
        let live = apply(Some(&live), &cfg, "b", false, T0).unwrap();
        let next = apply(Some(&live), &deploy(2, "nginx:1"), "a", false, T1).unwrap();
        assert_eq!(next["metadata"]["labels"]["tier"], "fe");
        assert!(!paths(&next, "a").contains(&".metadata.labels.tier".to_owned()));
    }

    #[test]
    fn containers_merge_by_name_between_appliers() {
        let live = apply(None, &deploy(1, "nginx:1"), "a", false, T0).unwrap();
        let mut other = deploy(1, "nginx:1");
        other["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "sidecar", "image": "envoy"}]);
        other["spec"].as_object_mut().unwrap().remove("replicas");
        let obj = apply(Some(&live), &other, "b", false, T1).unwrap();
        let names: Vec<&str> = obj["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["nginx", "sidecar"]);
        assert_eq!(obj["spec"]["replicas"], 1);
    }

    #[test]
    fn service_ports_are_keyed_by_port_and_protocol() {
        let svc = |ports: Value| {
            json!({"apiVersion": "v1", "kind": "Service",
                                        "metadata": {"name": "s"}, "spec": {"ports": ports}})
        };
        let live = apply(
            None,
            &svc(json!([{"port": 53, "protocol": "TCP", "name": "t"}])),
            "a",
            false,
            T0,
        )
        .unwrap();
        let obj = apply(
            Some(&live),
            &svc(json!([{"port": 53, "protocol": "UDP", "name": "u"}])),
            "b",
            false,
            T1,
        )
        .unwrap();
        assert_eq!(obj["spec"]["ports"].as_array().unwrap().len(), 2);
        assert!(
            paths(&obj, "b").contains(&".spec.ports[port=53,protocol=\"UDP\"].name".to_owned())
        );
        // A port without protocol is keyed with the TCP default.
        let obj2 = apply(
            Some(&live),
            &svc(json!([{"port": 53, "name": "t"}])),
            "a",
            false,
            T1,
        )
        .unwrap();
        assert_eq!(obj2["spec"]["ports"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn finalizers_are_a_set() {
        let cm = |f: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "c", "finalizers": f}})
        };
        let live = apply(None, &cm(json!(["a.io/x"])), "a", false, T0).unwrap();
        let obj = apply(Some(&live), &cm(json!(["b.io/y"])), "b", false, T1).unwrap();
        assert_eq!(obj["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
        assert_eq!(paths(&obj, "b"), [".metadata.finalizers[=\"b.io/y\"]"]);
        // a drops its finalizer: it goes away.
        let obj = apply(Some(&obj), &cm(json!([])), "a", false, T1).unwrap();
        assert_eq!(obj["metadata"]["finalizers"], json!(["b.io/y"]));
    }

    #[test]
    fn duplicate_keys_in_the_config_are_invalid() {
        let cfg = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                         "spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]}});
        let err = apply(None, &cfg, "a", false, T0).unwrap_err();
        assert!(matches!(err, ApplyError::Invalid(_)));
        assert!(err.message().contains("duplicate entries for key"));
        assert!(matches!(
            apply(None, &json!({"kind": "X"}), "a", false, T0),
            Err(ApplyError::Invalid(_))
        ));
    }

    #[test]
    fn record_update_takes_changed_fields_from_other_managers() {
        let live = apply(None, &deploy(2, "nginx:1"), "kubectl", false, T0).unwrap();
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(7);
        record_update(Some(&live), &mut new, "hpa", "Update", T1);
        assert_eq!(paths(&new, "hpa"), [".spec.replicas"]);
        assert!(!paths(&new, "kubectl").contains(&".spec.replicas".to_owned()));
        // Now kubectl re-applies replicas 2: a conflict with the updater.
        let err = apply(Some(&new), &deploy(2, "nginx:1"), "kubectl", false, T1).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"hpa\" using apps/v1: .spec.replicas"
        );
    }

    #[test]
    fn status_writes_are_recorded_with_the_status_subresource() {
        let mut live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                              "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}});
        record_update(None, &mut live, "creator", "Update", T0);
        let mut new = live.clone();
        new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
        let scope = Scope {
            subresource: Some("status"),
            status_subresource: true,
            schema: None,
        };
        record_update_in(Some(&live), &mut new, "vlb", "Update", T1, &scope);
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        let vlb = entries.iter().find(|e| e["manager"] == "vlb").unwrap();
        assert_eq!(vlb["subresource"], "status");
        assert_eq!(
            vlb["fieldsV1"],
            json!({"f:status": {"f:loadBalancer": {"f:ingress": {}}}})
        );
    }

    #[test]
    fn apply_to_status_only_touches_status() {
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                          "spec": {"type": "ClusterIP"}});
        let cfg = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                         "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        let scope = Scope {
            subresource: Some("status"),
            status_subresource: true,
            schema: None,
        };
        let obj = apply_in(Some(&live), &cfg, "ctl", false, T0, &scope).unwrap();
        assert_eq!(obj["spec"]["type"], "ClusterIP");
        assert_eq!(obj["status"], json!({"loadBalancer": {}}));
        assert_eq!(paths(&obj, "ctl"), [".status.loadBalancer"]);
    }

    #[test]
    fn custom_resources_use_their_schema_list_types() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "listeners": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port"],
                          "items": {"type": "object", "properties": {"port": {"type": "integer"}, "name": {"type": "string"}}}},
            "tags": {"type": "array", "items": {"type": "string"}}}}}});
        let scope = Scope {
            subresource: None,
            status_subresource: true,
            schema: Some(&schema),
        };
        let cr = |l: Value, t: Value| {
            json!({"apiVersion": "x.io/v1", "kind": "LB", "metadata": {"name": "a"},
                                              "spec": {"listeners": l, "tags": t}})
        };
        let live = apply_in(
            None,
            &cr(json!([{"port": 80}]), json!(["a"])),
            "a",
            false,
            T0,
            &scope,
        )
        .unwrap();
        let obj = apply_in(
            Some(&live),
            &cr(json!([{"port": 443}]), json!(["a"])),
            "b",
            false,
            T1,
            &scope,
        )
        .unwrap();
        assert_eq!(obj["spec"]["listeners"].as_array().unwrap().len(), 2);
        assert!(paths(&obj, "a").contains(&".spec.tags".to_owned()));
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}}},
                       "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}});
        assert_eq!(set_to_fields_v1(&fields_v1_to_set(&v)), v);
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let live = apply(None, &deploy(2, "nginx:1"), "kubectl", false, T0).unwrap();
        let again = apply(Some(&live), &deploy(2, "nginx:1"), "kubectl", false, T1).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn client_sent_single_empty_entry_resets_ownership() {
        let live = apply(None, &deploy(2, "nginx:1"), "kubectl", false, T0).unwrap();
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        new["spec"]["replicas"] = json!(4);
        record_update(Some(&live), &mut new, "editor", "Update", T1);
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["manager"], "editor");
        assert_eq!(paths(&new, "editor"), [".spec.replicas"]);
    }

    #[test]
    fn client_sent_empty_list_keeps_the_stored_managed_fields() {
        let live = apply(None, &deploy(2, "nginx:1"), "kubectl", false, T0).unwrap();
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([]);
        new["spec"]["replicas"] = json!(4);
        record_update(Some(&live), &mut new, "editor", "Update", T1);
        assert_eq!(
            new["metadata"]["managedFields"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn updates_of_untracked_objects_stay_untracked() {
        let live = deploy(2, "nginx:1");
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(4);
        record_update(Some(&live), &mut new, "editor", "Update", T1);
        assert!(new["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
        let live = deploy(2, "nginx:1");
        let err = apply(Some(&live), &deploy(3, "nginx:1"), "kubectl", false, T1).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
        );
        let same = apply(Some(&live), &deploy(2, "nginx:1"), "kubectl", false, T1).unwrap();
        let managers: Vec<&str> = same["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["kubectl", "before-first-apply"]);
    }

    #[test]
    fn two_appliers_conflict_without_api_version_in_the_message() {
        let live = apply(None, &deploy(2, "nginx:1"), "a", false, T0).unwrap();
        let err = apply(Some(&live), &deploy(3, "nginx:1"), "b", false, T1).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
    }

    #[test]
    fn dropping_a_container_from_the_config_removes_it() {
        let mut two = deploy(1, "nginx:1");
        two["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "envoy"}));
        let live = apply(None, &two, "a", false, T0).unwrap();
        let obj = apply(Some(&live), &deploy(1, "nginx:1"), "a", false, T1).unwrap();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx:1"}])
        );
        assert!(!paths(&obj, "a").iter().any(|p| p.contains("sidecar")));
    }

    #[test]
    fn apply_and_update_entries_of_one_manager_are_separate() {
        let live = apply(None, &deploy(1, "nginx:1"), "vlb", false, T0).unwrap();
        let mut new = live.clone();
        new["metadata"]["annotations"] = json!({"x": "y"});
        record_update(Some(&live), &mut new, "vlb", "Update", T1);
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["operation"], "Apply");
        assert_eq!(entries[1]["operation"], "Update");
        assert_eq!(
            entries[1]["fieldsV1"],
            json!({"f:metadata": {"f:annotations": {"f:x": {}}}})
        );
    }

    #[test]
    fn applying_null_clears_the_field_and_keeps_ownership() {
        let live = apply(None, &deploy(2, "nginx:1"), "a", false, T0).unwrap();
        let mut cfg = deploy(2, "nginx:1");
        cfg["spec"]["replicas"] = Value::Null;
        let obj = apply(Some(&live), &cfg, "a", false, T1).unwrap();
        assert!(obj["spec"].get("replicas").is_none());
        assert!(paths(&obj, "a").contains(&".spec.replicas".to_owned()));
    }

    #[test]
    fn default_manager_comes_from_the_user_agent() {
        assert_eq!(
            default_manager("kubectl/v1.31.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(default_manager("vlb-operator"), "vlb-operator");
        assert_eq!(default_manager(&"x".repeat(200)).len(), 128);
        assert!(validate_manager("kubectl").is_ok());
        assert_eq!(
            validate_manager(&"x".repeat(129)).unwrap_err().to_string(),
            "fieldManager: Too long: may not be more than 128 bytes"
        );
        assert!(validate_manager("a\u{7}b").is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (0i64..5).prop_map(Value::from),
                "[a-c]{0,2}".prop_map(Value::String),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 20, 3, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-c]", inner, 0..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn config() -> impl Strategy<Value = Value> {
            (
                prop_oneof![
                    Just("Deployment"),
                    Just("Pod"),
                    Just("Service"),
                    Just("Widget")
                ],
                proptest::collection::vec("[a-c]", 0..3),
                proptest::collection::vec(("[a-c]", "[a-c]{0,2}"), 0..3),
                proptest::collection::vec((1i64..4, prop_oneof![Just("TCP"), Just("UDP")]), 0..3),
                value(),
            )
                .prop_map(|(kind, finalizers, containers, ports, extra)| {
                    let containers: Vec<Value> = containers
                        .into_iter()
                        .map(|(n, i)| json!({"name": n, "image": i}))
                        .collect();
                    let ports: Vec<Value> = ports
                        .into_iter()
                        .map(|(p, proto)| json!({"port": p, "protocol": proto}))
                        .collect();
                    json!({
                        "apiVersion": "v1", "kind": kind,
                        "metadata": {"name": "x", "finalizers": finalizers},
                        "spec": {"containers": containers, "ports": ports, "extra": extra,
                                 "template": {"spec": {"containers": []}}}
                    })
                })
        }

        proptest! {
            #[test]
            fn reapplying_is_idempotent_and_never_panics(a in config(), b in config()) {
                let Ok(live) = apply(None, &a, "m1", false, T0) else { return Ok(()); };
                let again = apply(Some(&live), &a, "m1", false, T0).unwrap();
                prop_assert_eq!(&again, &live);
                // Another manager's forced apply always succeeds (or the config is invalid).
                if let Ok(forced) = apply(Some(&live), &b, "m2", true, T1) {
                    // ...and re-applying it is then conflict-free.
                    prop_assert!(apply(Some(&forced), &b, "m2", false, T1).is_ok());
                }
            }

            #[test]
            fn record_update_never_panics_and_owns_what_changed(a in config(), b in config()) {
                let mut first = a.clone();
                record_update(None, &mut first, "u1", "Update", T0);
                let mut second = b.clone();
                record_update(Some(&first), &mut second, "u2", "Update", T1);
                let fields = second["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
                for e in fields {
                    prop_assert_eq!(&e["fieldsType"], "FieldsV1");
                    prop_assert!(e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty()));
                }
            }
        }
    }
}
