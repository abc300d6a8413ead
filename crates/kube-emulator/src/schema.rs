//! Structural-schema pruning, defaulting and validation of custom resources.
//!
//! ```text
//!  CR create/update/patch ──► prune (unknown fields) ──► default ──► validate ──► 422 or store
//!                                   ▲
//!                    CRD spec.versions[].schema.openAPIV3Schema
//! ```
//!
//! Follows "Extend the Kubernetes API with CustomResourceDefinitions" (validation, pruning,
//! defaulting) and the apiserver's translation of kube-openapi errors into field errors:
//! - pruning drops fields not in `properties` unless `x-kubernetes-preserve-unknown-fields: true`;
//!   `additionalProperties` makes a map; `apiVersion`, `kind`, `metadata` are kept at the root and
//!   in `x-kubernetes-embedded-resource` objects, `metadata` keeping only `ObjectMeta` fields;
//! - a `null` field that is not `nullable` is pruned, then defaulted; missing fields with a
//!   `default` get it (nested defaults apply inside the inserted value);
//! - validation: `type`, `nullable`, `enum`, `required`, `minimum`/`maximum` (and the boolean
//!   `exclusiveMinimum`/`exclusiveMaximum`), `multipleOf`, `minLength`/`maxLength`, `pattern`,
//!   `format` `int32`/`int64`, `minItems`/`maxItems`, `uniqueItems`,
//!   `minProperties`/`maxProperties`, `x-kubernetes-int-or-string`,
//!   `x-kubernetes-embedded-resource` (needs `apiVersion` and `kind`), `x-kubernetes-list-type`
//!   `set`/`map` duplicates, `allOf`/`anyOf`/`oneOf`/`not`.
//!
//! [`prune_builtin`] applies the same pruning to built-in kinds with the schemas k8s-openapi
//! generates (what decoding into the Go types drops).
//!
//! Not covered: `x-kubernetes-validations` (CEL rules) and string formats other than the integer
//! ones; they are accepted without checking.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError};

use regex::Regex;
use serde_json::{Map, Value};

use crate::causes::{FieldError, join_path};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The fields of `ObjectMeta`: anything else in a custom resource's `metadata` is dropped, as
/// decoding into `ObjectMeta` does.
pub const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Prunes unknown fields, applies defaults and validates `obj` against a CRD version's
/// `openAPIV3Schema`, as the apiserver does on create, update and patch of a custom resource.
/// `obj` is modified in place (pruned and defaulted) even when validation fails.
pub fn validate_and_prune(schema: &Value, obj: &mut Value) -> Result<(), Vec<FieldError>> {
    prune_and_default(schema, obj);
    let errors = validate(schema, obj);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Pruning and defaulting only (what the apiserver also does when reading stored objects).
pub fn prune_and_default(schema: &Value, obj: &mut Value) {
    let ctx = Ctx {
        root: schema,
        free_form_objects: false,
    };
    walk_prune(&ctx, schema, obj, true);
}

/// Validation only: every field error of `obj` against `schema` (empty when valid). The root's
/// `apiVersion`, `kind` and `metadata` are not checked here.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ctx = Ctx {
        root: schema,
        free_form_objects: false,
    };
    walk_validate(&ctx, schema, obj, "", true, &mut errs);
    errs
}

/// The schema used for a `$ref` that cannot be resolved: anything goes, nothing is pruned.
static ANY_SCHEMA: LazyLock<Value> =
    LazyLock::new(|| serde_json::json!({"x-kubernetes-preserve-unknown-fields": true}));

/// The root schema, against which `$ref`s (`#/$defs/X`, `#/definitions/X`) are resolved.
struct Ctx<'a> {
    root: &'a Value,
    /// Built-in (non-structural) schemas: an object with neither `properties` nor
    /// `additionalProperties` is free-form JSON (`JSON`, `RawExtension`, `FieldsV1`).
    free_form_objects: bool,
}

impl<'a> Ctx<'a> {
    /// Follows `$ref`s (at most 32 hops; an unresolvable reference accepts and keeps anything).
    fn resolve(&self, mut s: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            let target = r
                .strip_prefix("#/$defs/")
                .map(|n| ("$defs", n))
                .or_else(|| r.strip_prefix("#/definitions/").map(|n| ("definitions", n)))
                .and_then(|(section, name)| self.root.get(section).and_then(|d| d.get(name)));
            match target {
                Some(t) => s = t,
                None => return &ANY_SCHEMA,
            }
        }
        &ANY_SCHEMA
    }
}

/// JSON schemas of the built-in kinds, generated from k8s-openapi's `JsonSchema` impls, keyed
/// by (group, kind).
static BUILTIN_SCHEMAS: LazyLock<BTreeMap<(&'static str, &'static str), Value>> =
    LazyLock::new(|| {
        use k8s_openapi::api::{
            apps::v1 as apps, coordination::v1 as coordination, core::v1 as core,
            discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
            rbac::v1 as rbac,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
        macro_rules! schema {
            ($t:ty) => {
                serde_json::to_value(k8s_openapi::schemars::schema_for!($t)).unwrap_or(Value::Null)
            };
        }
        let mut m = BTreeMap::new();
        m.insert(("", "Namespace"), schema!(core::Namespace));
        m.insert(("", "Service"), schema!(core::Service));
        m.insert(("", "Node"), schema!(core::Node));
        m.insert(("", "Pod"), schema!(core::Pod));
        m.insert(("", "Endpoints"), schema!(core::Endpoints));
        m.insert(("", "Secret"), schema!(core::Secret));
        m.insert(("", "ConfigMap"), schema!(core::ConfigMap));
        m.insert(("", "ServiceAccount"), schema!(core::ServiceAccount));
        m.insert(("", "Event"), schema!(core::Event));
        m.insert(("events.k8s.io", "Event"), schema!(events::Event));
        m.insert(
            ("discovery.k8s.io", "EndpointSlice"),
            schema!(discovery::EndpointSlice),
        );
        m.insert(
            ("networking.k8s.io", "Ingress"),
            schema!(networking::Ingress),
        );
        m.insert(
            ("networking.k8s.io", "IngressClass"),
            schema!(networking::IngressClass),
        );
        m.insert(
            ("coordination.k8s.io", "Lease"),
            schema!(coordination::Lease),
        );
        m.insert(("rbac.authorization.k8s.io", "Role"), schema!(rbac::Role));
        m.insert(
            ("rbac.authorization.k8s.io", "ClusterRole"),
            schema!(rbac::ClusterRole),
        );
        m.insert(
            ("rbac.authorization.k8s.io", "RoleBinding"),
            schema!(rbac::RoleBinding),
        );
        m.insert(
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            schema!(rbac::ClusterRoleBinding),
        );
        m.insert(("apps", "Deployment"), schema!(apps::Deployment));
        m.insert(
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            schema!(apiext::CustomResourceDefinition),
        );
        m.retain(|_, v| v.is_object());
        m
    });

/// The JSON schema of a built-in kind (`group` is `""` for the core group), as k8s-openapi
/// describes it; `None` for kinds this module does not know.
pub fn builtin_schema(group: &str, kind: &str) -> Option<&'static Value> {
    BUILTIN_SCHEMAS
        .iter()
        .find(|((g, k), _)| *g == group && *k == kind)
        .map(|(_, v)| v)
}

/// Drops the fields a built-in kind does not have, as decoding into its Go type does (the
/// apiserver's "unknown field" handling): compare before and after to report them for
/// `fieldValidation=Strict`. Free-form parts (`RawExtension`, apiextensions `JSON`, `FieldsV1`)
/// and `oneOf` nodes are kept as they are. Returns `false` (and changes nothing) for kinds
/// without a known schema.
pub fn prune_builtin(group: &str, kind: &str, obj: &mut Value) -> bool {
    let Some(schema) = builtin_schema(group, kind) else {
        return false;
    };
    let ctx = Ctx {
        root: schema,
        free_form_objects: true,
    };
    walk_prune(&ctx, schema, obj, true);
    true
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn walk_prune(ctx: &Ctx<'_>, schema: &Value, v: &mut Value, root: bool) {
    let schema = ctx.resolve(schema);
    if flag(schema, "x-kubernetes-int-or-string") {
        return;
    }
    let shapeless = schema.get("properties").is_none()
        && schema.get("additionalProperties").is_none()
        && schema.get("items").is_none();
    // A node described only by oneOf/anyOf/allOf (e.g. JSONSchemaPropsOrBool) prunes nothing.
    if shapeless
        && ["oneOf", "anyOf", "allOf"]
            .iter()
            .any(|k| schema.get(*k).is_some())
    {
        return;
    }
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields")
        || (ctx.free_form_objects && shapeless);
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = match schema.get("additionalProperties") {
                Some(a @ Value::Object(_)) => Some(a),
                _ => None,
            };
            let additional_any = schema
                .get("additionalProperties")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if (root || embedded) && META_FIELDS.contains(&k.as_str()) {
                    if k == "metadata"
                        && let Some(Value::Object(meta)) = map.get_mut(&k)
                    {
                        meta.retain(|f, _| OBJECT_META_FIELDS.contains(&f.as_str()));
                    }
                    continue;
                }
                let sub = props.and_then(|p| p.get(&k)).or(additional);
                match sub {
                    Some(sub) => {
                        let sub = ctx.resolve(sub);
                        let is_null = map.get(&k).is_some_and(Value::is_null);
                        if is_null && !flag(sub, "nullable") {
                            map.remove(&k);
                        } else if let Some(child) = map.get_mut(&k) {
                            walk_prune(ctx, sub, child, false);
                        }
                    }
                    None => {
                        if !preserve && !additional_any {
                            map.remove(&k);
                        }
                    }
                }
            }
            if let Some(props) = props {
                for (k, sub) in props {
                    if (root || embedded) && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    if map.contains_key(k) {
                        continue;
                    }
                    if let Some(d) = ctx.resolve(sub).get("default") {
                        let mut d = d.clone();
                        walk_prune(ctx, sub, &mut d, false);
                        map.insert(k.clone(), d);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    walk_prune(ctx, item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) => {
            if n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                "integer"
            } else {
                "number"
            }
        }
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    let actual = type_name(v);
    actual == expected || (expected == "number" && actual == "integer")
}

/// Go's `%v` of a float64 bound: `65535`, `1.5`.
fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn body(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        format!("{path} in body")
    }
}

fn child(path: &str, key: &str) -> String {
    join_path(path, key)
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn walk_validate(
    ctx: &Ctx<'_>,
    schema: &Value,
    v: &Value,
    path: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    let schema = ctx.resolve(schema);
    if v.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        if let Some(t) = schema.get("type").and_then(Value::as_str) {
            errs.push(FieldError::type_invalid(
                path,
                &Value::String("null".to_owned()),
                &format!("{} must be of type {t}: \"null\"", body(path)),
            ));
            return;
        }
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !matches!(type_name(v), "integer" | "string") {
            errs.push(FieldError::type_invalid(
                path,
                &Value::String(type_name(v).to_owned()),
                &format!(
                    "{} must be of type integer,string: \"{}\"",
                    body(path),
                    type_name(v)
                ),
            ));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !type_matches(t, v)
    {
        errs.push(FieldError::type_invalid(
            path,
            &Value::String(type_name(v).to_owned()),
            &format!("{} must be of type {t}: \"{}\"", body(path), type_name(v)),
        ));
        return;
    }

    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|a| json_eq(a, v))
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        errs.push(FieldError::not_supported(path, v, &names));
    }

    match v {
        Value::String(s) => validate_string(schema, s, v, path, errs),
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                validate_number(schema, f, v, path, errs);
            }
        }
        Value::Array(items) => validate_array(ctx, schema, items, v, path, errs),
        Value::Object(map) => validate_object(ctx, schema, map, path, root, errs),
        _ => {}
    }
    validate_combinators(ctx, schema, v, path, errs);
}

fn validate_string(schema: &Value, s: &str, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let len = s.chars().count();
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len as u64 > max
    {
        errs.push(FieldError::too_long(path, max as usize));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (len as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{} should be at least {min} chars long", body(path)),
        ));
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        match pattern_matches(p, s) {
            Some(false) => errs.push(FieldError::invalid(
                path,
                v,
                &format!("{} should match '{p}'", body(path)),
            )),
            Some(true) => {}
            None => errs.push(FieldError::internal(
                path,
                &format!("invalid pattern '{p}' in the schema"),
            )),
        }
    }
}

/// Compiled `pattern`s, shared by every validation (CRD schemas repeat the same few patterns).
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const PATTERN_CACHE_MAX: usize = 1024;

/// Whether `s` matches `pattern`; `None` when the pattern does not compile.
fn pattern_matches(pattern: &str, s: &str) -> Option<bool> {
    let mut cache = PATTERNS.lock().unwrap_or_else(PoisonError::into_inner);
    if !cache.contains_key(pattern) {
        if cache.len() >= PATTERN_CACHE_MAX {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Regex::new(pattern).ok());
    }
    cache
        .get(pattern)
        .and_then(Option::as_ref)
        .map(|re| re.is_match(s))
}

fn validate_number(schema: &Value, f: f64, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMaximum");
        if exclusive && f >= max {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{} should be less than {}", body(path), fmt_num(max)),
            ));
        } else if !exclusive && f > max {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!(
                    "{} should be less than or equal to {}",
                    body(path),
                    fmt_num(max)
                ),
            ));
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMinimum");
        if exclusive && f <= min {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{} should be greater than {}", body(path), fmt_num(min)),
            ));
        } else if !exclusive && f < min {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!(
                    "{} should be greater than or equal to {}",
                    body(path),
                    fmt_num(min)
                ),
            ));
        }
    }
    if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
        && (f / m).fract().abs() > 1e-9
    {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{} should be a multiple of {}", body(path), fmt_num(m)),
        ));
    }
    let bounds = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => Some((f64::from(i32::MIN), f64::from(i32::MAX), "int32")),
        Some("int64") => Some((i64::MIN as f64, i64::MAX as f64, "int64")),
        _ => None,
    };
    if let Some((lo, hi, name)) = bounds
        && (f < lo || f > hi)
    {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{} must be of type {name}: \"{}\"", body(path), v),
        ));
    }
}

fn validate_array(
    ctx: &Ctx<'_>,
    schema: &Value,
    items: &[Value],
    v: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && items.len() as u64 > max
    {
        errs.push(FieldError::too_many(path, items.len(), max as usize));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            &Value::from(items.len()),
            &format!("{} should have at least {min} items", body(path)),
        ));
    }
    if flag(schema, "uniqueItems") {
        let dup = (0..items.len()).any(|i| (0..i).any(|j| json_eq(&items[i], &items[j])));
        if dup {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{} shouldn't contain duplicates", body(path)),
            ));
        }
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for i in 0..items.len() {
                if (0..i).any(|j| json_eq(&items[i], &items[j])) {
                    errs.push(FieldError::duplicate(index(path, i), &items[i]));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| -> Value {
                let mut m = Map::new();
                for k in &keys {
                    if let Some(x) = item.get(*k) {
                        m.insert((*k).to_owned(), x.clone());
                    }
                }
                Value::Object(m)
            };
            for i in 0..items.len() {
                let ki = key_of(&items[i]);
                if (0..i).any(|j| json_eq(&ki, &key_of(&items[j]))) {
                    errs.push(FieldError::duplicate(index(path, i), &ki));
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
        for (i, item) in items.iter().enumerate() {
            walk_validate(ctx, item_schema, item, &index(path, i), false, errs);
        }
    }
}

fn validate_object(
    ctx: &Ctx<'_>,
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if root && META_FIELDS.contains(&r) {
                continue;
            }
            if !map.contains_key(r) {
                errs.push(FieldError::required(child(path, r)));
            }
        }
    }
    if embedded {
        for k in ["apiVersion", "kind"] {
            if map
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                errs.push(FieldError::required_with(
                    child(path, k),
                    "must not be empty",
                ));
            }
        }
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && map.len() as u64 > max
    {
        errs.push(FieldError::too_many(path, map.len(), max as usize));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            &Value::from(map.len()),
            &format!("{} should have at least {min} properties", body(path)),
        ));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, val) in map {
        if (root || embedded) && META_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
            walk_validate(ctx, sub, val, &child(path, k), false, errs);
        }
    }
}

fn validate_combinators(
    ctx: &Ctx<'_>,
    schema: &Value,
    v: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let passes = |s: &Value| {
        let mut e = Vec::new();
        walk_validate(ctx, s, v, path, false, &mut e);
        e.is_empty()
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            walk_validate(ctx, s, v, path, false, errs);
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(passes)
    {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{} must validate at least one schema (anyOf)", body(path)),
        ));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|s| passes(s)).count();
        if n != 1 {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!(
                    "{} must validate one and only one schema (oneOf)",
                    body(path)
                ),
            ));
        }
    }
    if let Some(not) = schema.get("not").filter(|s| s.is_object())
        && passes(not)
    {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{} must not validate the schema (not)", body(path)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lb_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["listeners"],
                    "properties": {
                        "class": {"type": "string", "enum": ["internal", "external"], "default": "external"},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "format": "int32"},
                        "name": {"type": "string", "minLength": 3, "maxLength": 8, "pattern": "^[a-z]+$"},
                        "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
                        "target": {"x-kubernetes-int-or-string": true},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 3},
                        "note": {"type": "string", "nullable": true},
                        "listeners": {
                            "type": "array",
                            "minItems": 1,
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port"],
                            "items": {
                                "type": "object",
                                "required": ["port"],
                                "properties": {
                                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                    "protocol": {"type": "string", "default": "TCP"},
                                    "options": {"type": "object", "properties": {
                                        "timeout": {"type": "integer", "default": 30}}, "default": {}}
                                }
                            }
                        },
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "properties": {"spec": {"type": "object"}}}
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })
    }

    fn check(obj: Value) -> (Value, Vec<FieldError>) {
        let mut obj = obj;
        let errs = match validate_and_prune(&lb_schema(), &mut obj) {
            Ok(()) => Vec::new(),
            Err(e) => e,
        };
        (obj, errs)
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn unknown_fields_are_pruned_and_metadata_keeps_object_meta_fields() {
        let (obj, errs) = check(json!({
            "apiVersion": "x/v1", "kind": "LB", "metadata": {"name": "a", "whatever": 1},
            "bogus": true,
            "spec": {"listeners": [{"port": 80, "junk": 1}], "unknown": 1}
        }));
        assert!(errs.is_empty(), "{errs:?}");
        assert!(obj.get("bogus").is_none());
        assert!(obj["spec"].get("unknown").is_none());
        assert!(obj["spec"]["listeners"][0].get("junk").is_none());
        assert_eq!(obj["metadata"], json!({"name": "a"}));
    }

    #[test]
    fn preserve_unknown_fields_keeps_everything_below() {
        let (obj, _) = check(
            json!({"spec": {"listeners": [{"port": 1}], "extra": {"a": {"b": 1}}},
                                    "status": {"anything": [1, 2]}}),
        );
        assert_eq!(obj["spec"]["extra"], json!({"a": {"b": 1}}));
        assert_eq!(obj["status"]["anything"], json!([1, 2]));
    }

    #[test]
    fn defaults_fill_missing_fields_including_nested_ones() {
        let (obj, errs) = check(json!({"spec": {"listeners": [{"port": 80}]}}));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["spec"]["class"], "external");
        assert_eq!(obj["spec"]["listeners"][0]["protocol"], "TCP");
        assert_eq!(
            obj["spec"]["listeners"][0]["options"],
            json!({"timeout": 30})
        );
    }

    #[test]
    fn non_nullable_null_is_pruned_then_defaulted_and_nullable_null_is_kept() {
        let (obj, errs) =
            check(json!({"spec": {"listeners": [{"port": 80}], "class": null, "note": null}}));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["spec"]["class"], "external");
        assert!(obj["spec"]["note"].is_null() && obj["spec"].get("note").is_some());
    }

    #[test]
    fn wrong_type_reports_the_actual_type() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": "80"}]}}));
        assert_eq!(
            messages(&errs),
            [
                "spec.listeners[0].port: Invalid value: \"string\": spec.listeners[0].port in body must be of type integer: \"string\""
            ]
        );
        assert_eq!(errs[0].reason, "FieldValueTypeInvalid");
    }

    #[test]
    fn required_fields_are_reported_with_their_path() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"protocol": "UDP"}]}}));
        assert_eq!(messages(&errs), ["spec.listeners[0].port: Required value"]);
        let (_, errs) = check(json!({"spec": {}}));
        assert_eq!(messages(&errs), ["spec.listeners: Required value"]);
    }

    #[test]
    fn enum_violations_list_supported_values() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "class": "public"}}));
        assert_eq!(
            messages(&errs),
            [
                "spec.class: Unsupported value: \"public\": supported values: \"internal\", \"external\""
            ]
        );
    }

    #[test]
    fn numeric_bounds_follow_kube_openapi_wording() {
        let (_, errs) =
            check(json!({"spec": {"listeners": [{"port": 70000}], "replicas": 0, "weight": 0}}));
        assert_eq!(
            messages(&errs),
            [
                "spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in body should be less than or equal to 65535",
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
                "spec.weight: Invalid value: 0: spec.weight in body should be greater than 0",
            ]
        );
    }

    #[test]
    fn integer_rejects_fractions_and_number_accepts_integers() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1.5}], "weight": 2}}));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .message
                .contains("must be of type integer: \"number\"")
        );
    }

    #[test]
    fn int32_format_bounds_are_checked() {
        let (_, errs) =
            check(json!({"spec": {"listeners": [{"port": 1}], "replicas": 5_000_000_000_i64}}));
        assert!(
            messages(&errs)
                .iter()
                .any(|m| m.contains("must be of type int32"))
        );
    }

    #[test]
    fn string_length_and_pattern() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "name": "ab"}}));
        assert_eq!(
            messages(&errs),
            ["spec.name: Invalid value: \"ab\": spec.name in body should be at least 3 chars long"]
        );
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "name": "abcdefghij"}}));
        assert_eq!(
            messages(&errs),
            ["spec.name: Too long: may not be more than 8 bytes"]
        );
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "name": "ABC"}}));
        assert_eq!(
            messages(&errs),
            ["spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"]
        );
    }

    #[test]
    fn int_or_string_accepts_both_and_nothing_else() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "target": "http"}}));
        assert!(errs.is_empty());
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "target": 8080}}));
        assert!(errs.is_empty());
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "target": true}}));
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn maps_validate_values_with_additional_properties() {
        let (obj, errs) =
            check(json!({"spec": {"listeners": [{"port": 1}], "labels": {"a": "x", "b": 1}}}));
        assert_eq!(obj["spec"]["labels"]["a"], "x");
        assert_eq!(
            messages(&errs),
            [
                "spec.labels.b: Invalid value: \"integer\": spec.labels.b in body must be of type string: \"integer\""
            ]
        );
    }

    #[test]
    fn list_type_set_and_map_report_duplicates() {
        let (_, errs) = check(
            json!({"spec": {"listeners": [{"port": 1}, {"port": 2}, {"port": 1}],
                                              "tags": ["a", "b", "a"]}}),
        );
        assert_eq!(
            messages(&errs),
            [
                "spec.listeners[2]: Duplicate value: {\"port\":1}",
                "spec.tags[2]: Duplicate value: \"a\"",
            ]
        );
        assert!(errs.iter().all(|e| e.reason == "FieldValueDuplicate"));
    }

    #[test]
    fn max_and_min_items() {
        let (_, errs) = check(json!({"spec": {"listeners": [], "tags": ["a", "b", "c", "d"]}}));
        assert_eq!(
            messages(&errs),
            [
                "spec.listeners: Invalid value: 0: spec.listeners in body should have at least 1 items",
                "spec.tags: Too many: 4: must have at most 3 items",
            ]
        );
    }

    #[test]
    fn embedded_resources_keep_and_require_type_meta() {
        let (obj, errs) = check(json!({"spec": {"listeners": [{"port": 1}],
            "template": {"metadata": {"name": "x"}, "spec": {"a": 1}, "junk": 1}}}));
        assert_eq!(obj["spec"]["template"]["metadata"]["name"], "x");
        assert!(obj["spec"]["template"].get("junk").is_none());
        assert_eq!(
            messages(&errs),
            [
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty",
            ]
        );
    }

    #[test]
    fn object_without_properties_prunes_all_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object"}}});
        let mut obj = json!({"spec": {"a": 1}});
        validate_and_prune(&schema, &mut obj).unwrap();
        assert_eq!(obj, json!({"spec": {}}));
    }

    #[test]
    fn one_of_and_any_of() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]
        }}});
        let mut ok = json!({"spec": {"a": "x"}});
        assert!(validate_and_prune(&schema, &mut ok).is_ok());
        let mut both = json!({"spec": {"a": "x", "b": "y"}});
        let errs = validate_and_prune(&schema, &mut both).unwrap_err();
        assert!(
            errs[0]
                .message
                .contains("must validate one and only one schema (oneOf)")
        );
        let any = json!({"type": "object", "properties": {"spec": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}});
        let mut none = json!({"spec": {"c": 1}});
        assert!(validate_and_prune(&any, &mut none).is_err());
    }

    #[test]
    fn non_nullable_null_in_a_list_is_a_type_error() {
        let (_, errs) = check(json!({"spec": {"listeners": [{"port": 1}], "tags": [null]}}));
        assert_eq!(
            messages(&errs),
            [
                "spec.tags[0]: Invalid value: \"null\": spec.tags[0] in body must be of type string: \"null\""
            ]
        );
    }

    #[test]
    fn an_uncompilable_pattern_is_an_internal_error_not_a_panic() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string", "pattern": "(unclosed"}}}}});
        let mut obj = json!({"spec": {"a": "x"}});
        let errs = validate_and_prune(&schema, &mut obj).unwrap_err();
        assert_eq!(errs[0].reason, "InternalError");
        // The cached compiled pattern is reused on the next call.
        let mut again = json!({"spec": {"a": "y"}});
        assert!(validate_and_prune(&schema, &mut again).is_err());
    }

    #[test]
    fn builtin_kinds_drop_unknown_fields_and_keep_known_ones() {
        let mut svc = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"type": "LoadBalancer", "typo": true,
                     "ports": [{"port": 80, "targetPort": "http", "protocl": "TCP"}],
                     "selector": {"app": "x"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        assert!(prune_builtin("", "Service", &mut svc));
        assert_eq!(
            svc,
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "labels": {"a": "b"}},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http"}],
                         "selector": {"app": "x"}},
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})
        );
        let mut cr = json!({"spec": {}});
        assert!(!prune_builtin("example.com", "Widget", &mut cr));
    }

    #[test]
    fn builtin_crd_schemas_survive_pruning_intact() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "lbs.vngcloud.vn"},
            "spec": {"group": "vngcloud.vn", "scope": "Namespaced",
                "names": {"plural": "lbs", "kind": "LB"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Ready", "type": "string", "jsonPath": ".status.ready"}],
                    "schema": {"openAPIV3Schema": lb_schema()}}]}});
        let mut pruned = crd.clone();
        assert!(prune_builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &mut pruned
        ));
        assert_eq!(pruned, crd);
    }

    #[test]
    fn every_listed_builtin_schema_is_generated() {
        for (g, k) in [
            ("", "Service"),
            ("", "Node"),
            ("apps", "Deployment"),
            ("networking.k8s.io", "Ingress"),
            ("coordination.k8s.io", "Lease"),
            ("events.k8s.io", "Event"),
            ("discovery.k8s.io", "EndpointSlice"),
        ] {
            let s = builtin_schema(g, k).unwrap();
            assert!(s.get("properties").is_some(), "{g}/{k}");
        }
    }

    use crate::test_support::arbitrary_json;

    proptest::proptest! {
        #[test]
        fn pruning_is_idempotent_and_validation_never_panics(obj in arbitrary_json()) {
            let mut once = obj.clone();
            let _ = validate_and_prune(&lb_schema(), &mut once);
            let mut twice = once.clone();
            prune_and_default(&lb_schema(), &mut twice);
            proptest::prop_assert_eq!(twice, once);
        }
    }
}
