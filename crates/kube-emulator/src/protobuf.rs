//! Decoding of the Kubernetes protobuf envelope for the few simple kinds kubectl's typed
//! generators create (`kubectl create namespace|configmap|secret|serviceaccount`).
//!
//! ```text
//!  "k8s\0" + runtime.Unknown { typeMeta{apiVersion, kind}, raw } ──► raw decoded per kind ──► JSON
//! ```

use base64::Engine;
use serde_json::{Map, Value, json};

/// One protobuf field value.
#[derive(Clone, Copy)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8)?;
                continue;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                let s = buf.get(pos..end)?;
                pos = end;
                Field::Bytes(s)
            }
            5 => {
                pos = pos.checked_add(4)?;
                continue;
            }
            _ => return None,
        };
        out.push((num, f));
    }
    (pos == buf.len()).then_some(out)
}

fn text(b: &[u8]) -> Option<Value> {
    std::str::from_utf8(b).ok().map(|s| json!(s))
}

/// A `map<string, string>` (or `map<string, bytes>` as base64 when `bytes`) entry.
fn map_entry(b: &[u8], bytes: bool, into: &mut Map<String, Value>) -> Option<()> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(v) = f {
            match n {
                1 => std::str::from_utf8(v).ok()?.clone_into(&mut key),
                2 if bytes => {
                    value = json!(base64::engine::general_purpose::STANDARD.encode(v));
                }
                2 => value = text(v)?,
                _ => {}
            }
        }
    }
    into.insert(key, value);
    Some(())
}

fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    if let Some(Value::Array(a)) = obj.get_mut(key) {
        a.push(v);
    } else {
        obj.insert(key.to_owned(), Value::Array(vec![v]));
    }
}

fn map_field(obj: &mut Map<String, Value>, key: &str, b: &[u8], bytes: bool) -> Option<()> {
    let entry = obj
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = entry {
        map_entry(b, bytes, m)?;
    }
    Some(())
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => set(&mut m, "name", text(v)?),
            (2, Field::Bytes(v)) => set(&mut m, "generateName", text(v)?),
            (3, Field::Bytes(v)) => set(&mut m, "namespace", text(v)?),
            (6, Field::Bytes(v)) => set(&mut m, "resourceVersion", text(v)?),
            (11, Field::Bytes(v)) => map_field(&mut m, "labels", v, false)?,
            (12, Field::Bytes(v)) => map_field(&mut m, "annotations", v, false)?,
            (14, Field::Bytes(v)) => push(&mut m, "finalizers", text(v)?),
            _ => {}
        }
    }
    Some(Value::Object(m))
}

/// `SelfSubjectAccessReviewSpec`: resource or non-resource attributes.
fn access_review_spec(b: &[u8]) -> Option<Value> {
    const RESOURCE: [&str; 7] = [
        "namespace",
        "verb",
        "group",
        "version",
        "resource",
        "subresource",
        "name",
    ];
    const NON_RESOURCE: [&str; 2] = ["path", "verb"];
    let mut spec = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(v) = f else { continue };
        let (key, names): (&str, &[&str]) = match n {
            1 => ("resourceAttributes", &RESOURCE),
            2 => ("nonResourceAttributes", &NON_RESOURCE),
            _ => continue,
        };
        let mut attrs = Map::new();
        for (m, g) in fields(v)? {
            let name = usize::try_from(m)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| names.get(i));
            if let (Field::Bytes(s), Some(name)) = (g, name) {
                attrs.insert((*name).to_owned(), text(s)?);
            }
        }
        spec.insert(key.to_owned(), Value::Object(attrs));
    }
    Some(Value::Object(spec))
}

/// Sets a field unless it is the zero value protobuf carries for unset strings and numbers
/// (Go decodes those to zero values, which JSON omits).
fn set(m: &mut Map<String, Value>, key: &str, v: Value) {
    if v.as_str() == Some("") || (v.as_u64() == Some(0) && key != "replicas") {
        return;
    }
    m.insert(key.to_owned(), v);
}

/// `intstr.IntOrString`: type 0 int, 1 string.
fn int_or_string(b: &[u8]) -> Option<Value> {
    let (mut typ, mut int, mut text_val) = (0, 0, String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(t)) => typ = t,
            (2, Field::Varint(i)) => int = i,
            (3, Field::Bytes(s)) => std::str::from_utf8(s).ok()?.clone_into(&mut text_val),
            _ => {}
        }
    }
    Some(if typ == 1 {
        json!(text_val)
    } else {
        json!(int)
    })
}

fn service_port(b: &[u8]) -> Option<Value> {
    let mut p = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(s)) => set(&mut p, "name", text(s)?),
            (2, Field::Bytes(s)) => set(&mut p, "protocol", text(s)?),
            (3, Field::Varint(v)) => set(&mut p, "port", json!(v)),
            (4, Field::Bytes(s)) => set(&mut p, "targetPort", int_or_string(s)?),
            (5, Field::Varint(v)) => set(&mut p, "nodePort", json!(v)),
            (6, Field::Bytes(s)) => set(&mut p, "appProtocol", text(s)?),
            _ => {}
        }
    }
    Some(Value::Object(p))
}

/// The ServiceSpec fields kubectl's `create service` generators set.
fn service_spec(b: &[u8]) -> Option<Value> {
    let mut spec = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(p)) => push(&mut spec, "ports", service_port(p)?),
            (2, Field::Bytes(e)) => map_field(&mut spec, "selector", e, false)?,
            (3, Field::Bytes(s)) => set(&mut spec, "clusterIP", text(s)?),
            (4, Field::Bytes(s)) => set(&mut spec, "type", text(s)?),
            (10, Field::Bytes(s)) => set(&mut spec, "externalName", text(s)?),
            _ => {}
        }
    }
    Some(Value::Object(spec))
}

fn label_selector(b: &[u8]) -> Option<Value> {
    let mut sel = Map::new();
    for (n, f) in fields(b)? {
        if let (1, Field::Bytes(e)) = (n, f) {
            map_field(&mut sel, "matchLabels", e, false)?;
        }
    }
    Some(Value::Object(sel))
}

fn container(b: &[u8]) -> Option<Value> {
    let mut c = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(s)) => set(&mut c, "name", text(s)?),
            (2, Field::Bytes(s)) => set(&mut c, "image", text(s)?),
            (3, Field::Bytes(s)) => push(&mut c, "command", text(s)?),
            (4, Field::Bytes(s)) => push(&mut c, "args", text(s)?),
            (6, Field::Bytes(p)) => {
                let mut port = Map::new();
                for (m, g) in fields(p)? {
                    match (m, g) {
                        (1, Field::Bytes(s)) => set(&mut port, "name", text(s)?),
                        (3, Field::Varint(v)) => set(&mut port, "containerPort", json!(v)),
                        (4, Field::Bytes(s)) => set(&mut port, "protocol", text(s)?),
                        _ => {}
                    }
                }
                push(&mut c, "ports", Value::Object(port));
            }
            (8, Field::Bytes(_)) => set(&mut c, "resources", json!({})),
            _ => {}
        }
    }
    Some(Value::Object(c))
}

/// The DeploymentSpec fields kubectl's `create deployment` generator sets.
fn deployment_spec(b: &[u8]) -> Option<Value> {
    let mut spec = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(r)) => set(&mut spec, "replicas", json!(r)),
            (2, Field::Bytes(s)) => set(&mut spec, "selector", label_selector(s)?),
            (3, Field::Bytes(t)) => {
                let mut template = Map::new();
                for (m, g) in fields(t)? {
                    match (m, g) {
                        (1, Field::Bytes(md)) => set(&mut template, "metadata", object_meta(md)?),
                        (2, Field::Bytes(ps)) => {
                            let mut pod = Map::new();
                            for (k, h) in fields(ps)? {
                                if let (2, Field::Bytes(cb)) = (k, h) {
                                    push(&mut pod, "containers", container(cb)?);
                                }
                            }
                            set(&mut template, "spec", Value::Object(pod));
                        }
                        _ => {}
                    }
                }
                set(&mut spec, "template", Value::Object(template));
            }
            _ => {}
        }
    }
    Some(Value::Object(spec))
}

/// Decodes a protobuf request body of a supported kind into its JSON form.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or("not a Kubernetes protobuf envelope")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest).ok_or("malformed protobuf envelope")? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (m, g) in fields(tm).ok_or("malformed typeMeta")? {
                    if let Field::Bytes(v) = g {
                        let s = String::from_utf8_lossy(v).into_owned();
                        match m {
                            1 => api_version = s,
                            2 => kind = s,
                            _ => {}
                        }
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let bad = || format!("malformed protobuf {kind}");
    let supported = matches!(
        (api_version.as_str(), kind.as_str()),
        (
            "v1",
            "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount" | "Service"
        ) | ("authorization.k8s.io/v1", "SelfSubjectAccessReview")
            | ("apps/v1", "Deployment")
    );
    if !supported {
        return Err(format!(
            "protobuf bodies of {api_version}/{kind} are not supported by the emulator; send JSON"
        ));
    }
    for (n, f) in fields(raw).ok_or_else(bad)? {
        let Field::Bytes(v) = f else {
            if let (4, Field::Varint(x)) = (n, f) {
                let key = match kind.as_str() {
                    "ConfigMap" => "immutable",
                    "ServiceAccount" => "automountServiceAccountToken",
                    _ => continue,
                };
                obj.insert(key.into(), json!(x != 0));
            } else if let (5, Field::Varint(x), "Secret") = (n, f, kind.as_str()) {
                obj.insert("immutable".into(), json!(x != 0));
            }
            continue;
        };
        match (kind.as_str(), n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(v).ok_or_else(bad)?);
            }
            ("ConfigMap", 2) => map_field(&mut obj, "data", v, false).ok_or_else(bad)?,
            ("ConfigMap", 3) | ("Secret", 2) => {
                let key = if kind == "Secret" {
                    "data"
                } else {
                    "binaryData"
                };
                map_field(&mut obj, key, v, true).ok_or_else(bad)?;
            }
            ("Secret", 3) => set(&mut obj, "type", text(v).ok_or_else(bad)?),
            ("Secret", 4) => map_field(&mut obj, "stringData", v, false).ok_or_else(bad)?,
            ("Service", 2) => {
                obj.insert("spec".into(), service_spec(v).ok_or_else(bad)?);
            }
            ("Deployment", 2) => {
                obj.insert("spec".into(), deployment_spec(v).ok_or_else(bad)?);
            }
            ("SelfSubjectAccessReview", 2) => {
                obj.insert("spec".into(), access_review_spec(v).ok_or_else(bad)?);
            }
            ("Namespace", 2) => {
                let mut spec = Map::new();
                for (m, g) in fields(v).ok_or_else(bad)? {
                    if let (1, Field::Bytes(s)) = (m, g) {
                        push(&mut spec, "finalizers", text(s).ok_or_else(bad)?);
                    }
                }
                obj.insert("spec".into(), Value::Object(spec));
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let label = [field(1, b"a"), field(2, b"b")].concat();
        let meta = [field(1, b"cm"), field(11, &label)].concat();
        let data = [field(1, b"k"), field(2, b"v")].concat();
        let raw = [field(1, &meta), field(2, &data)].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn rejects_unsupported_kinds() {
        let tm = [field(1, b"batch/v1"), field(2, b"Job")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm)].concat();
        assert!(decode(&body).is_err());
    }
}
