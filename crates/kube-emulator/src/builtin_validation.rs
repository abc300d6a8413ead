//! Validation (and the defaulting that precedes it) of built-in kinds, as the apiserver's
//! `pkg/apis/*/validation` and defaulting code do.
//!
//! ```text
//!  create/update of a built-in kind ──► apply_defaults(kind, obj) ──► validate(kind, obj)
//!                                                                 └─► validate_update(kind, old, new)
//!                                          Err(Vec<FieldError>) ──► causes::invalid_status ──► 422
//! ```
//!
//! Covered: object metadata of every kind (name rules per kind — DNS-1035 label for Services,
//! DNS-1123 label for Namespaces, path segment for RBAC objects, DNS-1123 subdomain otherwise;
//! label and annotation syntax, finalizer names, ownerReferences), Services (type, ports, port
//! names, protocols, targetPort, nodePort, duplicates, clusterIP(s), ExternalName,
//! externalTrafficPolicy, internalTrafficPolicy, sessionAffinity, loadBalancerClass,
//! allocateLoadBalancerNodePorts, update immutability), Ingresses (hosts, paths, pathType,
//! backends, class), Leases, Endpoints, EndpointSlices, Node taints, Secrets (type, keys, size, type-specific
//! keys, immutability), ConfigMaps (keys, size, immutability), Namespaces, Pods and Deployments
//! (the basics: containers, names, images, selector, replicas), and CustomResourceDefinitions
//! (name, group, names, scope, versions). Validation assumes [`apply_defaults`] ran first, as the
//! apiserver defaults before it validates.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::causes::{FieldError, REASON_DUPLICATE, go_quote};
use crate::selector::{
    LabelSelector, dns1035_label_errors, dns1123_label_errors, dns1123_subdomain_errors,
    label_value_errors, qualified_name_errors,
};

/// Maximum total size of a Secret's or ConfigMap's data (`core.MaxSecretSize`).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;
/// Maximum total size of an object's annotations (`TotalAnnotationSizeLimitB`).
pub const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;

const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const TRAFFIC_POLICIES: [&str; 2] = ["Cluster", "Local"];
const SESSION_AFFINITIES: [&str; 2] = ["ClientIP", "None"];

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn push_msgs(errs: &mut Vec<FieldError>, field: &str, value: &Value, msgs: Vec<String>) {
    for m in msgs {
        errs.push(FieldError::invalid(field, value, &m));
    }
}

/// Validates a built-in object on create. `kind` is the object's kind (`Service`, `Secret`,
/// ...); unknown kinds (custom resources) get the generic metadata checks only.
pub fn validate(kind: &str, obj: &Value) -> Result<(), Vec<FieldError>> {
    let mut errs = validate_metadata(kind, obj);
    match kind {
        "Service" => validate_service(obj, &mut errs),
        "Secret" => validate_secret(obj, &mut errs),
        "ConfigMap" => validate_config_map(obj, &mut errs),
        "Namespace" => validate_namespace(obj, &mut errs),
        "Pod" => validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", &mut errs),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            validate_workload(obj, &mut errs);
        }
        "CustomResourceDefinition" => validate_crd(obj, &mut errs),
        "Ingress" => validate_ingress(obj, &mut errs),
        "Lease" => validate_lease(obj, &mut errs),
        "Endpoints" => validate_endpoints(obj, &mut errs),
        "EndpointSlice" => validate_endpoint_slice(obj, &mut errs),
        "Node" => validate_node(obj, &mut errs),
        "IngressClass" if s(obj, "/spec/controller").is_empty() => {
            errs.push(FieldError::required("spec.controller"));
        }
        _ => {}
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Validates an `events.k8s.io/v1` Event on create, as kube-apiserver does for that API
/// (core `v1` Events stay lenient): [`validate`], then `reportingController` (a qualified
/// name), `reportingInstance`, `action` and `reason` required, `eventTime` required, `type`
/// `Normal` or `Warning`.
pub fn validate_event_v1(obj: &Value) -> Result<(), Vec<FieldError>> {
    let mut errs = validate("Event", obj).err().unwrap_or_default();
    let controller = s(obj, "/reportingController");
    if controller.is_empty() {
        errs.push(FieldError::required("reportingController"));
    }
    push_msgs(
        &mut errs,
        "reportingController",
        &json!(controller),
        qualified_name_errors(controller),
    );
    for field in ["reportingInstance", "action", "reason"] {
        if s(obj, &format!("/{field}")).is_empty() {
            errs.push(FieldError::required(field));
        }
    }
    if s(obj, "/eventTime").is_empty() {
        errs.push(FieldError::required("eventTime"));
    }
    let type_ = s(obj, "/type");
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(FieldError::invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {type_}"),
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Validates an update: [`validate`] of the new object plus the immutability rules
/// (Service `clusterIP` and `loadBalancerClass`, Secret `type`, immutable Secrets and
/// ConfigMaps, workload selectors, CRD scope stays checked by [`validate`]).
pub fn validate_update(kind: &str, old: &Value, new: &Value) -> Result<(), Vec<FieldError>> {
    let mut errs = match validate(kind, new) {
        Ok(()) => Vec::new(),
        Err(e) => e,
    };
    match kind {
        "Service" => {
            let (old_ip, new_ip) = (s(old, "/spec/clusterIP"), s(new, "/spec/clusterIP"));
            if !old_ip.is_empty()
                && !new_ip.is_empty()
                && old_ip != new_ip
                && s(old, "/spec/type") != "ExternalName"
                && s(new, "/spec/type") != "ExternalName"
            {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    &Value::String(new_ip.to_owned()),
                    "may not change once set",
                ));
            }
            let lb = |v: &Value| s(v, "/spec/type") == "LoadBalancer";
            let old_class = old
                .pointer("/spec/loadBalancerClass")
                .filter(|c| !c.is_null());
            let new_class = new
                .pointer("/spec/loadBalancerClass")
                .filter(|c| !c.is_null());
            if lb(old) && lb(new) && old_class != new_class {
                errs.push(FieldError::invalid(
                    "spec.loadBalancerClass",
                    new_class.unwrap_or(&Value::Null),
                    "may not change once set",
                ));
            }
        }
        "Secret" | "ConfigMap" => {
            if kind == "Secret" {
                let (ot, nt) = (s(old, "/type"), s(new, "/type"));
                if ot != nt {
                    errs.push(FieldError::invalid(
                        "type",
                        &Value::String(nt.to_owned()),
                        "field is immutable",
                    ));
                }
            }
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                let msg = "field is immutable when `immutable` is set";
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(FieldError::forbidden("immutable", msg));
                }
                let fields: &[&str] = if kind == "Secret" {
                    &["data"]
                } else {
                    &["data", "binaryData"]
                };
                for f in fields {
                    let empty = Value::Object(Map::new());
                    let o = old.get(*f).filter(|v| !v.is_null()).unwrap_or(&empty);
                    let n = new.get(*f).filter(|v| !v.is_null()).unwrap_or(&empty);
                    if o != n {
                        errs.push(FieldError::forbidden(*f, msg));
                    }
                }
            }
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let (o, n) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
            if o != n {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    n.unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
        "CustomResourceDefinition" => {
            let (o, n) = (s(old, "/spec/scope"), s(new, "/spec/scope"));
            if o != n {
                errs.push(FieldError::invalid(
                    "spec.scope",
                    &Value::String(n.to_owned()),
                    "field is immutable",
                ));
            }
        }
        _ => {}
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

// ---------------------------------------------------------------------------------------------
// Defaulting.
// ---------------------------------------------------------------------------------------------

/// Applies the apiserver's defaults and write-time conversions for built-in kinds, before
/// validation: Service (`type`, `sessionAffinity`, port `protocol` and `targetPort`,
/// `internalTrafficPolicy`, `externalTrafficPolicy` and `allocateLoadBalancerNodePorts` where
/// they apply, `ipFamilyPolicy`), Secret (`type: Opaque`, `stringData` folded into base64
/// `data`), Namespace (`spec.finalizers: [kubernetes]`, `status.phase: Active`), Deployment
/// (`replicas`, `strategy`, `revisionHistoryLimit`, `progressDeadlineSeconds`), and Pod
/// containers' port `protocol`. Cluster IP and node port allocation are left to the caller.
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    match kind {
        "Service" => default_service(obj),
        "Secret" => default_secret(obj),
        "Namespace" => {
            set_if_missing(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            set_if_missing(obj, &["status", "phase"], json!("Active"));
        }
        "Deployment" => {
            set_if_missing(obj, &["spec", "replicas"], json!(1));
            set_if_missing(
                obj,
                &["spec", "strategy"],
                json!({"type": "RollingUpdate",
                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            set_if_missing(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_if_missing(obj, &["spec", "progressDeadlineSeconds"], json!(600));
            default_pod_spec(obj.pointer_mut("/spec/template/spec"));
        }
        "Pod" => default_pod_spec(obj.get_mut("spec")),
        _ => {}
    }
}

fn set_if_missing(obj: &mut Value, path: &[&str], value: Value) {
    let mut cur = obj;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_object() {
            return;
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            if map.get(*seg).is_none_or(Value::is_null) {
                map.insert((*seg).to_owned(), value);
            }
            return;
        }
        let next = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
}

fn default_service(obj: &mut Value) {
    set_if_missing(obj, &["spec", "type"], json!("ClusterIP"));
    let ty = s(obj, "/spec/type").to_owned();
    if ty == "ExternalName" {
        return;
    }
    set_if_missing(obj, &["spec", "sessionAffinity"], json!("None"));
    set_if_missing(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    let external_ips = !arr(obj, "/spec/externalIPs").is_empty();
    if ty == "LoadBalancer" || ty == "NodePort" || external_ips {
        set_if_missing(obj, &["spec", "externalTrafficPolicy"], json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_if_missing(obj, &["spec", "allocateLoadBalancerNodePorts"], json!(true));
    }
    set_if_missing(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_if_missing(p, &["protocol"], json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set_if_missing(p, &["targetPort"], port);
            }
        }
    }
}

fn default_pod_spec(spec: Option<&mut Value>) {
    let Some(spec) = spec else { return };
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_if_missing(p, &["protocol"], json!("TCP"));
                    }
                }
            }
        }
    }
}

fn default_secret(obj: &mut Value) {
    set_if_missing(obj, &["type"], json!("Opaque"));
    let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object)
        && let Some(m) = obj.as_object_mut()
    {
        m.insert("data".to_owned(), Value::Object(Map::new()));
    }
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data.insert(k, Value::String(base64_encode(text.as_bytes())));
        }
    }
}

/// Standard base64 with padding (how `[]byte` fields such as Secret data travel in JSON).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The decoded length of standard padded base64, or `None` when it is not valid base64
/// (decoded as Go's `base64.StdEncoding` does: padding required, trailing bits ignored).
pub fn base64_decoded_len(text: &str) -> Option<usize> {
    use base64::Engine as _;
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    GO_STD.decode(text).ok().map(|d| d.len())
}

// ---------------------------------------------------------------------------------------------
// Metadata.
// ---------------------------------------------------------------------------------------------

/// The name rule of a kind: its checker, as the apiserver's `ValidateNameFunc`.
fn name_errors(kind: &str, name: &str) -> Vec<String> {
    match kind {
        "Service" => dns1035_label_errors(name),
        "Namespace" => dns1123_label_errors(name),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment_errors(name),
        _ => dns1123_subdomain_errors(name),
    }
}

fn path_segment_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name == "." || name == ".." {
        errs.push(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

fn validate_metadata(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = s(obj, "/metadata/name");
    if name.is_empty() {
        errs.push(FieldError::required_with(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        push_msgs(
            &mut errs,
            "metadata.name",
            &Value::String(name.to_owned()),
            name_errors(kind, name),
        );
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            push_msgs(
                &mut errs,
                "metadata.labels",
                &Value::String(k.clone()),
                qualified_name_errors(k),
            );
            let text = v.as_str().unwrap_or_default();
            push_msgs(
                &mut errs,
                "metadata.labels",
                &Value::String(text.to_owned()),
                label_value_errors(text),
            );
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            push_msgs(
                &mut errs,
                "metadata.annotations",
                &Value::String(k.clone()),
                qualified_name_errors(&k.to_lowercase()),
            );
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > MAX_ANNOTATIONS_SIZE {
            errs.push(FieldError::too_long(
                "metadata.annotations",
                MAX_ANNOTATIONS_SIZE,
            ));
        }
    }
    for f in arr(obj, "/metadata/finalizers") {
        let text = f.as_str().unwrap_or_default();
        push_msgs(
            &mut errs,
            "metadata.finalizers",
            f,
            qualified_name_errors(text),
        );
    }
    let mut controllers = 0;
    for r in arr(obj, "/metadata/ownerReferences") {
        let checks = [
            ("apiVersion", "version must not be empty"),
            ("kind", "kind must not be empty"),
            ("name", "name must not be empty"),
            ("uid", "uid must not be empty"),
        ];
        for (field, msg) in checks {
            let v = r.get(field).and_then(Value::as_str).unwrap_or_default();
            if v.is_empty() {
                errs.push(FieldError::invalid(
                    format!("metadata.ownerReferences.{field}"),
                    &Value::String(String::new()),
                    msg,
                ));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            obj.pointer("/metadata/ownerReferences")
                .unwrap_or(&Value::Null),
            "Only one reference can have Controller set to true",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Service.
// ---------------------------------------------------------------------------------------------

/// Errors of `validation.IsValidPortNum`.
fn port_num_errors(v: &Value) -> Vec<String> {
    match v.as_i64() {
        Some(n) if (1..=65535).contains(&n) => Vec::new(),
        _ => vec!["must be between 1 and 65535, inclusive".to_owned()],
    }
}

static PORT_NAME_CHARS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^[-a-z0-9]+$").ok());
static PORT_NAME_LETTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("[a-z]").ok());

/// Errors of `validation.IsValidPortName` (IANA service names).
pub fn port_name_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 15 {
        errs.push("must be no more than 15 characters".to_owned());
    }
    if !PORT_NAME_CHARS.as_ref().is_some_and(|r| r.is_match(name)) {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !PORT_NAME_LETTER.as_ref().is_some_and(|r| r.is_match(name)) {
        errs.push("must contain at least one letter (a-z)".to_owned());
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens".to_owned());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_owned());
    }
    errs
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn go_service_port(protocol: &str, port: &Value) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, \
         TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol),
        port.as_i64().unwrap_or_default()
    )
}

fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let ty = s(obj, "/spec/type");
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    if !SERVICE_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            "spec.type",
            &Value::String(ty.to_owned()),
            &SERVICE_TYPES,
        ));
    }
    let cluster_ip = s(obj, "/spec/clusterIP");
    let headless = cluster_ip == "None";
    let ports = arr(obj, "/spec/ports");

    if ty == "ExternalName" {
        let ext = s(obj, "/spec/externalName");
        if ext.is_empty() {
            errs.push(FieldError::required("spec.externalName"));
        } else {
            push_msgs(
                errs,
                "spec.externalName",
                &Value::String(ext.to_owned()),
                dns1123_subdomain_errors(ext.trim_end_matches('.')),
            );
        }
        if !cluster_ip.is_empty() {
            errs.push(FieldError::forbidden(
                "spec.clusterIPs",
                "may not be set when `type` is 'ExternalName'",
            ));
        }
    } else {
        let ips: Vec<(String, &str)> =
            match obj.pointer("/spec/clusterIPs").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            format!("spec.clusterIPs[{i}]"),
                            v.as_str().unwrap_or_default(),
                        )
                    })
                    .collect(),
                None if !cluster_ip.is_empty() => vec![("spec.clusterIP".to_owned(), cluster_ip)],
                None => Vec::new(),
            };
        for (i, (path, ip)) in ips.iter().enumerate() {
            if *ip == "None" && i == 0 {
                continue;
            }
            if !is_ip(ip) {
                errs.push(FieldError::invalid(
                    path.as_str(),
                    &Value::String((*ip).to_owned()),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
    }

    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports"));
    }
    let require_name = ports.len() > 1;
    let mut names = BTreeSet::new();
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut seen_node: Vec<(String, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let base = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            if require_name {
                errs.push(FieldError::required(format!("{base}.name")));
            }
        } else {
            push_msgs(
                errs,
                &format!("{base}.name"),
                &Value::String(name.to_owned()),
                dns1123_label_errors(name),
            );
            if !names.insert(name.to_owned()) {
                errs.push(FieldError::duplicate(
                    format!("{base}.name"),
                    &Value::String(name.to_owned()),
                ));
            }
        }
        let port = p.get("port").unwrap_or(&Value::Null);
        push_msgs(errs, &format!("{base}.port"), port, port_num_errors(port));
        let protocol = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if protocol.is_empty() {
            errs.push(FieldError::required(format!("{base}.protocol")));
        } else if !PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(
                format!("{base}.protocol"),
                &Value::String(protocol.to_owned()),
                &PROTOCOLS,
            ));
        }
        match p.get("targetPort") {
            Some(Value::String(tp)) => push_msgs(
                errs,
                &format!("{base}.targetPort"),
                &Value::String(tp.clone()),
                port_name_errors(tp),
            ),
            Some(tp @ Value::Number(_)) => {
                push_msgs(errs, &format!("{base}.targetPort"), tp, port_num_errors(tp));
            }
            _ => {}
        }
        if let Some(np) = p
            .get("nodePort")
            .filter(|n| n.as_i64() != Some(0) && !n.is_null())
        {
            push_msgs(errs, &format!("{base}.nodePort"), np, port_num_errors(np));
            if ty == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    format!("{base}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
            let key = (protocol.to_owned(), np.as_i64().unwrap_or_default());
            if seen_node.contains(&key) {
                errs.push(FieldError::duplicate(format!("{base}.nodePort"), np));
            }
            seen_node.push(key);
        }
        let key = (protocol.to_owned(), port.as_i64().unwrap_or_default());
        if seen.contains(&key) {
            errs.push(FieldError {
                field: base.clone(),
                reason: REASON_DUPLICATE.to_owned(),
                message: format!("Duplicate value: {}", go_service_port(protocol, port)),
            });
        }
        seen.push(key);
    }

    let externally_accessible = ty == "LoadBalancer"
        || ty == "NodePort"
        || (ty == "ClusterIP" && !arr(obj, "/spec/externalIPs").is_empty());
    if let Some(etp) = obj
        .pointer("/spec/externalTrafficPolicy")
        .and_then(Value::as_str)
        && !etp.is_empty()
    {
        if !externally_accessible {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                &Value::String(etp.to_owned()),
                "may only be set for externally-accessible services",
            ));
        } else if !TRAFFIC_POLICIES.contains(&etp) {
            errs.push(FieldError::not_supported(
                "spec.externalTrafficPolicy",
                &Value::String(etp.to_owned()),
                &TRAFFIC_POLICIES,
            ));
        }
    }
    if let Some(itp) = obj
        .pointer("/spec/internalTrafficPolicy")
        .and_then(Value::as_str)
        && !TRAFFIC_POLICIES.contains(&itp)
    {
        errs.push(FieldError::not_supported(
            "spec.internalTrafficPolicy",
            &Value::String(itp.to_owned()),
            &TRAFFIC_POLICIES,
        ));
    }
    if let Some(sa) = obj.pointer("/spec/sessionAffinity").and_then(Value::as_str)
        && !SESSION_AFFINITIES.contains(&sa)
    {
        errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            &Value::String(sa.to_owned()),
            &SESSION_AFFINITIES,
        ));
    }
    if let Some(class) = obj
        .pointer("/spec/loadBalancerClass")
        .filter(|c| !c.is_null())
    {
        if ty == "LoadBalancer" {
            let text = class.as_str().unwrap_or_default();
            push_msgs(
                errs,
                "spec.loadBalancerClass",
                class,
                qualified_name_errors(text),
            );
        } else {
            errs.push(FieldError::forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    if obj
        .pointer("/spec/allocateLoadBalancerNodePorts")
        .is_some_and(|v| !v.is_null())
        && ty != "LoadBalancer"
    {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Secret, ConfigMap, Namespace.
// ---------------------------------------------------------------------------------------------

static CONFIG_KEY_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("^[-._a-zA-Z0-9]+$").ok());

/// Errors of `validation.IsConfigMapKey` (Secret and ConfigMap data keys).
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push("must be no more than 253 characters".to_owned());
    }
    if !CONFIG_KEY_RE.as_ref().is_some_and(|r| r.is_match(key)) {
        errs.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. \
             'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is \
             '[-._a-zA-Z0-9]+')"
                .to_owned(),
        );
    }
    if key == "." {
        errs.push("must not be '.'".to_owned());
    } else if key == ".." {
        errs.push("must not be '..'".to_owned());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_owned());
    }
    errs
}

fn validate_secret(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut total = 0;
    let data = obj.get("data").and_then(Value::as_object);
    if let Some(data) = data {
        for (k, v) in data {
            push_msgs(
                errs,
                &format!("data[{k}]"),
                &Value::String(k.clone()),
                config_key_errors(k),
            );
            let text = v.as_str().unwrap_or_default();
            match base64_decoded_len(text) {
                Some(n) => total += n,
                None => errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    &Value::String("<secret contents redacted>".to_owned()),
                    "illegal base64 data",
                )),
            }
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("data", MAX_DATA_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let mut require = |k: &str| {
        if !has(k) {
            errs.push(FieldError::required(format!("data[{k}]")));
        }
    };
    match s(obj, "/type") {
        "kubernetes.io/dockercfg" => require(".dockercfg"),
        "kubernetes.io/dockerconfigjson" => require(".dockerconfigjson"),
        "kubernetes.io/ssh-auth" => require("ssh-privatekey"),
        "kubernetes.io/tls" => {
            require("tls.crt");
            require("tls.key");
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            require("username");
            require("password");
        }
        "kubernetes.io/service-account-token"
            if s(
                obj,
                "/metadata/annotations/kubernetes.io~1service-account.name",
            )
            .is_empty() =>
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
            ));
        }
        _ => {}
    }
}

fn validate_config_map(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut total = 0;
    let data = obj.get("data").and_then(Value::as_object);
    if let Some(data) = data {
        for (k, v) in data {
            push_msgs(
                errs,
                &format!("data[{k}]"),
                &Value::String(k.clone()),
                config_key_errors(k),
            );
            total += v.as_str().map_or(0, str::len);
        }
    }
    if let Some(bin) = obj.get("binaryData").and_then(Value::as_object) {
        for (k, v) in bin {
            push_msgs(
                errs,
                &format!("binaryData[{k}]"),
                &Value::String(k.clone()),
                config_key_errors(k),
            );
            if data.is_some_and(|d| d.contains_key(k)) {
                errs.push(FieldError::invalid(
                    format!("binaryData[{k}]"),
                    &Value::String(k.clone()),
                    "duplicate of key present in data",
                ));
            }
            total += base64_decoded_len(v.as_str().unwrap_or_default()).unwrap_or_default();
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("", MAX_DATA_SIZE));
    }
}

fn validate_namespace(obj: &Value, errs: &mut Vec<FieldError>) {
    for f in arr(obj, "/spec/finalizers") {
        let text = f.as_str().unwrap_or_default();
        push_msgs(errs, "spec.finalizers", f, qualified_name_errors(text));
        if !text.contains('/') && text != "kubernetes" {
            errs.push(FieldError::invalid(
                "spec.finalizers",
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pods and workloads.
// ---------------------------------------------------------------------------------------------

fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers")));
    }
    let mut names = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        let items = spec
            .get(list)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, c) in items.iter().enumerate() {
            let base = format!("{path}.{list}[{i}]");
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(format!("{base}.name")));
            } else {
                push_msgs(
                    errs,
                    &format!("{base}.name"),
                    &Value::String(name.to_owned()),
                    dns1123_label_errors(name),
                );
                if !names.insert(name.to_owned()) {
                    errs.push(FieldError::duplicate(
                        format!("{base}.name"),
                        &Value::String(name.to_owned()),
                    ));
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                errs.push(FieldError::required(format!("{base}.image")));
            }
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .enumerate()
            {
                let cp = p.get("containerPort").unwrap_or(&Value::Null);
                push_msgs(
                    errs,
                    &format!("{base}.ports[{j}].containerPort"),
                    cp,
                    port_num_errors(cp),
                );
            }
        }
    }
}

fn validate_workload(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            &Value::from(r),
            "must be greater than or equal to 0",
        ));
    }
    match obj.pointer("/spec/selector").filter(|v| !v.is_null()) {
        None => errs.push(FieldError::required("spec.selector")),
        Some(sel) => {
            let empty = sel
                .get("matchLabels")
                .is_none_or(|m| m.as_object().is_none_or(Map::is_empty))
                && sel
                    .get("matchExpressions")
                    .is_none_or(|m| m.as_array().is_none_or(Vec::is_empty));
            if empty {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    sel,
                    "empty selector is invalid for deployment",
                ));
            } else if let Ok(parsed) = LabelSelector::from_label_selector_object(sel) {
                let template = obj.pointer("/spec/template").unwrap_or(&Value::Null);
                if !parsed.matches_object(template) {
                    errs.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        template.pointer("/metadata/labels").unwrap_or(&Value::Null),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    validate_pod_spec(
        obj.pointer("/spec/template/spec").unwrap_or(&Value::Null),
        "spec.template.spec",
        errs,
    );
}

// ---------------------------------------------------------------------------------------------
// Networking, coordination, discovery, nodes.
// ---------------------------------------------------------------------------------------------

const PATH_TYPES: [&str; 3] = ["Exact", "ImplementationSpecific", "Prefix"];

/// A host that may start with `*.` (Ingress rules and TLS hosts).
fn wildcard_host_errors(host: &str) -> Vec<String> {
    if is_ip(host) {
        return vec!["must be a DNS name, not an IP address".to_owned()];
    }
    match host.strip_prefix("*.") {
        Some(rest) => dns1123_subdomain_errors(rest),
        None => dns1123_subdomain_errors(host),
    }
}

fn validate_ingress_backend(b: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let service = b.get("service").filter(|v| !v.is_null());
    let resource = b.get("resource").filter(|v| !v.is_null());
    match (service, resource) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            "cannot set both resource and service backends",
        )),
        (None, None) => errs.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            "resource or service backend is required",
        )),
        (Some(svc), None) => {
            let name = svc.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(format!("{path}.service.name")));
            } else {
                push_msgs(
                    errs,
                    &format!("{path}.service.name"),
                    &Value::String(name.to_owned()),
                    dns1035_label_errors(name),
                );
            }
            let port = svc.get("port").unwrap_or(&Value::Null);
            let pname = port.get("name").and_then(Value::as_str).unwrap_or_default();
            let pnum = port.get("number").filter(|n| n.as_i64().unwrap_or(0) != 0);
            let ppath = format!("{path}.service.port");
            match (pname.is_empty(), pnum) {
                (false, Some(_)) => errs.push(FieldError::invalid(
                    ppath,
                    port,
                    "cannot set both port name & port number",
                )),
                (true, None) => errs.push(FieldError::invalid(
                    ppath,
                    port,
                    "port name or number is required",
                )),
                (false, None) => push_msgs(
                    errs,
                    &format!("{ppath}.name"),
                    &Value::String(pname.to_owned()),
                    port_name_errors(pname),
                ),
                (true, Some(n)) => {
                    push_msgs(errs, &format!("{ppath}.number"), n, port_num_errors(n));
                }
            }
        }
        (None, Some(_)) => {}
    }
}

fn validate_ingress(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let rules = arr(obj, "/spec/rules");
    let default_backend = spec.get("defaultBackend").filter(|v| !v.is_null());
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            "spec",
            &Value::Array(Vec::new()),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default_backend {
        validate_ingress_backend(b, "spec.defaultBackend", errs);
    }
    if let Some(class) = spec.get("ingressClassName").and_then(Value::as_str) {
        push_msgs(
            errs,
            "spec.ingressClassName",
            &Value::String(class.to_owned()),
            dns1123_subdomain_errors(class),
        );
    }
    for (i, t) in arr(obj, "/spec/tls").iter().enumerate() {
        for (j, h) in t
            .get("hosts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let host = h.as_str().unwrap_or_default();
            push_msgs(
                errs,
                &format!("spec.tls[{i}].hosts[{j}]"),
                h,
                wildcard_host_errors(host),
            );
        }
    }
    for (i, r) in rules.iter().enumerate() {
        let base = format!("spec.rules[{i}]");
        if let Some(host) = r
            .get("host")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
        {
            push_msgs(
                errs,
                &format!("{base}.host"),
                &Value::String(host.to_owned()),
                wildcard_host_errors(host),
            );
        }
        let Some(http) = r.get("http").filter(|h| !h.is_null()) else {
            continue;
        };
        let paths = http
            .get("paths")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if paths.is_empty() {
            errs.push(FieldError::required(format!("{base}.http.paths")));
        }
        for (j, p) in paths.iter().enumerate() {
            let pbase = format!("{base}.http.paths[{j}]");
            let path_type = p
                .get("pathType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let path = p.get("path").and_then(Value::as_str).unwrap_or_default();
            if path_type.is_empty() {
                errs.push(FieldError::required_with(
                    format!("{pbase}.pathType"),
                    "pathType must be specified",
                ));
            } else if !PATH_TYPES.contains(&path_type) {
                errs.push(FieldError::not_supported(
                    format!("{pbase}.pathType"),
                    &Value::String(path_type.to_owned()),
                    &PATH_TYPES,
                ));
            } else if path_type != "ImplementationSpecific" && !path.starts_with('/') {
                errs.push(FieldError::invalid(
                    format!("{pbase}.path"),
                    &Value::String(path.to_owned()),
                    "must be an absolute path",
                ));
            }
            validate_ingress_backend(
                p.get("backend").unwrap_or(&Value::Null),
                &format!("{pbase}.backend"),
                errs,
            );
        }
    }
}

fn validate_lease(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(d) = obj
        .pointer("/spec/leaseDurationSeconds")
        .filter(|v| !v.is_null())
        && d.as_i64().unwrap_or(0) <= 0
    {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = obj
        .pointer("/spec/leaseTransitions")
        .filter(|v| !v.is_null())
        && t.as_i64().unwrap_or(-1) < 0
    {
        errs.push(FieldError::invalid(
            "spec.leaseTransitions",
            t,
            "must be greater than or equal to 0",
        ));
    }
}

fn validate_port_list(ports: &[Value], base: &str, errs: &mut Vec<FieldError>) {
    for (k, p) in ports.iter().enumerate() {
        let pb = format!("{base}[{k}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() && ports.len() > 1 {
            errs.push(FieldError::required(format!("{pb}.name")));
        } else if !name.is_empty() {
            push_msgs(
                errs,
                &format!("{pb}.name"),
                &Value::String(name.to_owned()),
                dns1123_label_errors(name),
            );
        }
        if let Some(port) = p.get("port").filter(|v| !v.is_null()) {
            push_msgs(errs, &format!("{pb}.port"), port, port_num_errors(port));
        }
        if let Some(proto) = p.get("protocol").and_then(Value::as_str)
            && !PROTOCOLS.contains(&proto)
        {
            errs.push(FieldError::not_supported(
                format!("{pb}.protocol"),
                &Value::String(proto.to_owned()),
                &PROTOCOLS,
            ));
        }
    }
}

fn validate_endpoints(obj: &Value, errs: &mut Vec<FieldError>) {
    for (i, sub) in arr(obj, "/subsets").iter().enumerate() {
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in sub
                .get(list)
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .enumerate()
            {
                let ip = a.get("ip").and_then(Value::as_str).unwrap_or_default();
                if !is_ip(ip) {
                    errs.push(FieldError::invalid(
                        format!("subsets[{i}].{list}[{j}].ip"),
                        &Value::String(ip.to_owned()),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        let ports = sub
            .get("ports")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        validate_port_list(ports, &format!("subsets[{i}].ports"), errs);
    }
}

const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];

fn validate_endpoint_slice(obj: &Value, errs: &mut Vec<FieldError>) {
    let at = s(obj, "/addressType");
    if at.is_empty() {
        errs.push(FieldError::required("addressType"));
    } else if !ADDRESS_TYPES.contains(&at) {
        errs.push(FieldError::not_supported(
            "addressType",
            &Value::String(at.to_owned()),
            &ADDRESS_TYPES,
        ));
    }
    for (i, e) in arr(obj, "/endpoints").iter().enumerate() {
        let addrs = e
            .get("addresses")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if addrs.is_empty() {
            errs.push(FieldError::required_with(
                format!("endpoints[{i}].addresses"),
                "must contain at least 1 address",
            ));
        } else if addrs.len() > 100 {
            errs.push(FieldError::too_many(
                format!("endpoints[{i}].addresses"),
                addrs.len(),
                100,
            ));
        }
        if at == "IPv4" || at == "IPv6" {
            for (j, a) in addrs.iter().enumerate() {
                let ip = a.as_str().unwrap_or_default();
                let ok = match at {
                    "IPv4" => ip.parse::<std::net::Ipv4Addr>().is_ok(),
                    _ => ip.parse::<std::net::Ipv6Addr>().is_ok(),
                };
                if !ok {
                    errs.push(FieldError::invalid(
                        format!("endpoints[{i}].addresses[{j}]"),
                        a,
                        &format!("must be a valid {at} address"),
                    ));
                }
            }
        }
    }
    validate_port_list(arr(obj, "/ports"), "ports", errs);
}

const TAINT_EFFECTS: [&str; 3] = ["NoExecute", "NoSchedule", "PreferNoSchedule"];

fn validate_node(obj: &Value, errs: &mut Vec<FieldError>) {
    for (i, t) in arr(obj, "/spec/taints").iter().enumerate() {
        let key = t.get("key").and_then(Value::as_str).unwrap_or_default();
        push_msgs(
            errs,
            &format!("spec.taints[{i}].key"),
            &Value::String(key.to_owned()),
            qualified_name_errors(key),
        );
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
        if effect.is_empty() {
            errs.push(FieldError::required(format!("spec.taints[{i}].effect")));
        } else if !TAINT_EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                format!("spec.taints[{i}].effect"),
                &Value::String(effect.to_owned()),
                &TAINT_EFFECTS,
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CustomResourceDefinition.
// ---------------------------------------------------------------------------------------------

fn validate_crd(obj: &Value, errs: &mut Vec<FieldError>) {
    let group = s(obj, "/spec/group");
    let plural = s(obj, "/spec/names/plural");
    let name = s(obj, "/metadata/name");
    if !name.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &Value::String(name.to_owned()),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group"));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            &Value::String(group.to_owned()),
            "should be a domain with at least one dot",
        ));
    }
    for (field, value) in [
        ("plural", plural),
        ("singular", s(obj, "/spec/names/singular")),
    ] {
        if !value.is_empty() {
            push_msgs(
                errs,
                &format!("spec.names.{field}"),
                &Value::String(value.to_owned()),
                dns1035_label_errors(value),
            );
        }
    }
    if plural.is_empty() {
        errs.push(FieldError::required_with("spec.names.plural", ""));
    }
    if s(obj, "/spec/names/kind").is_empty() {
        errs.push(FieldError::required_with("spec.names.kind", ""));
    }
    let scope = s(obj, "/spec/scope");
    if !["Cluster", "Namespaced"].contains(&scope) {
        if scope.is_empty() {
            errs.push(FieldError::required("spec.scope"));
        } else {
            errs.push(FieldError::not_supported(
                "spec.scope",
                &Value::String(scope.to_owned()),
                &["Cluster", "Namespaced"],
            ));
        }
    }
    let versions = arr(obj, "/spec/versions");
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            &Value::Array(Vec::new()),
            "must have exactly one version marked as storage version",
        ));
        return;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            obj.pointer("/spec/versions").unwrap_or(&Value::Null),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, v) in versions.iter().enumerate() {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("spec.versions[{i}].name")));
        } else {
            push_msgs(
                errs,
                &format!("spec.versions[{i}].name"),
                &Value::String(name.to_owned()),
                dns1035_label_errors(name),
            );
            if !seen.insert(name) {
                errs.push(FieldError::invalid(
                    "spec.versions",
                    &Value::String(name.to_owned()),
                    "must appear only once",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(r: Result<(), Vec<FieldError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[allow(clippy::needless_pass_by_value)]
    fn svc(spec: Value) -> Value {
        let mut v = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec});
        apply_defaults("Service", &mut v);
        v
    }

    #[test]
    fn valid_load_balancer_service_passes() {
        let v = svc(
            json!({"type": "LoadBalancer", "loadBalancerClass": "vngcloud.vn/lb",
                           "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                                     {"name": "https", "port": 443, "targetPort": 8443}]}),
        );
        assert_eq!(msgs(validate("Service", &v)), Vec::<String>::new());
        assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(v["spec"]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn service_port_out_of_range_is_invalid() {
        let v = svc(json!({"ports": [{"port": 70000, "targetPort": 80}]}));
        assert_eq!(
            msgs(validate("Service", &v)),
            ["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"]
        );
    }

    #[test]
    fn service_name_must_be_a_dns1035_label() {
        let mut v = svc(json!({"ports": [{"port": 80}]}));
        v["metadata"]["name"] = json!("1web");
        let m = msgs(validate("Service", &v));
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with(
                "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist"
            )
        );
        // The same name is fine for a ConfigMap (DNS-1123 subdomain).
        v["kind"] = json!("ConfigMap");
        assert!(validate("ConfigMap", &v).is_ok());
    }

    #[test]
    fn ports_are_required_unless_headless_or_external_name() {
        assert_eq!(
            msgs(validate("Service", &svc(json!({})))),
            ["spec.ports: Required value"]
        );
        assert!(validate("Service", &svc(json!({"clusterIP": "None"}))).is_ok());
        assert!(
            validate(
                "Service",
                &svc(json!({"type": "ExternalName", "externalName": "a.example.com"}))
            )
            .is_ok()
        );
        assert_eq!(
            msgs(validate("Service", &svc(json!({"type": "ExternalName"})))),
            ["spec.externalName: Required value"]
        );
    }

    #[test]
    fn unsupported_type_and_protocol_list_sorted_values() {
        let v = svc(json!({"type": "Magic", "ports": [{"port": 80, "protocol": "HTTP"}]}));
        assert_eq!(
            msgs(validate("Service", &v)),
            [
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ]
        );
    }

    #[test]
    fn multiple_ports_need_unique_names_and_distinct_port_protocol() {
        let v = svc(
            json!({"ports": [{"port": 80}, {"name": "a", "port": 80}, {"name": "a", "port": 81, "protocol": "UDP"}]}),
        );
        let m = msgs(validate("Service", &v));
        assert_eq!(m[0], "spec.ports[0].name: Required value");
        assert!(m[1].starts_with(
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\""
        ));
        assert_eq!(m[2], "spec.ports[2].name: Duplicate value: \"a\"");
        // Same port, different protocol is fine.
        let ok = svc(
            json!({"ports": [{"name": "d", "port": 53}, {"name": "u", "port": 53, "protocol": "UDP"}]}),
        );
        assert!(validate("Service", &ok).is_ok());
    }

    #[test]
    fn target_port_accepts_numbers_and_iana_names() {
        let bad = svc(json!({"ports": [{"port": 80, "targetPort": "Http--"}]}));
        let m = msgs(validate("Service", &bad));
        assert!(
            m.iter()
                .all(|e| e.starts_with("spec.ports[0].targetPort: Invalid value: \"Http--\""))
        );
        assert!(m.len() >= 2);
        let zero = svc(json!({"ports": [{"port": 80, "targetPort": 0}]}));
        assert_eq!(
            msgs(validate("Service", &zero)),
            ["spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"]
        );
    }

    #[test]
    fn external_traffic_policy_only_for_externally_accessible_services() {
        let v = svc(json!({"ports": [{"port": 80}], "externalTrafficPolicy": "Local"}));
        assert_eq!(
            msgs(validate("Service", &v)),
            [
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
            ]
        );
        let lb = svc(
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}], "externalTrafficPolicy": "Remote"}),
        );
        assert_eq!(
            msgs(validate("Service", &lb)),
            [
                "spec.externalTrafficPolicy: Unsupported value: \"Remote\": supported values: \"Cluster\", \"Local\""
            ]
        );
    }

    #[test]
    fn node_port_is_forbidden_for_cluster_ip_and_range_checked() {
        let v = svc(json!({"ports": [{"port": 80, "nodePort": 70000}]}));
        assert_eq!(
            msgs(validate("Service", &v)),
            [
                "spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            ]
        );
    }

    #[test]
    fn load_balancer_class_rules() {
        let v = svc(json!({"ports": [{"port": 80}], "loadBalancerClass": "x/y"}));
        assert_eq!(
            msgs(validate("Service", &v)),
            ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"]
        );
        let old = svc(
            json!({"type": "LoadBalancer", "ports": [{"port": 80}], "loadBalancerClass": "a.io/x"}),
        );
        let mut new = old.clone();
        new["spec"]["loadBalancerClass"] = json!("a.io/y");
        assert_eq!(
            msgs(validate_update("Service", &old, &new)),
            ["spec.loadBalancerClass: Invalid value: \"a.io/y\": may not change once set"]
        );
        let mut unset = old.clone();
        unset["spec"]["loadBalancerClass"] = Value::Null;
        assert!(validate_update("Service", &old, &unset).is_err());
        // ClusterIP → LoadBalancer may set a class.
        let cip = svc(json!({"ports": [{"port": 80}]}));
        let mut to_lb = old.clone();
        to_lb["spec"]["allocateLoadBalancerNodePorts"] = json!(true);
        assert!(validate_update("Service", &cip, &to_lb).is_ok());
    }

    #[test]
    fn cluster_ip_must_be_an_ip_and_is_immutable() {
        let v = svc(json!({"ports": [{"port": 80}], "clusterIP": "abc"}));
        assert_eq!(
            msgs(validate("Service", &v)),
            [
                "spec.clusterIP: Invalid value: \"abc\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ]
        );
        let old = svc(json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.1"}));
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.0.0.2");
        assert_eq!(msgs(validate_update("Service", &old, &new)).len(), 1);
    }

    #[test]
    fn labels_and_annotations_are_checked() {
        let v = json!({"metadata": {"name": "c", "labels": {"bad key": "ok", "k": "bad value"},
                                    "annotations": {"UPPER.example.com/Fine": "x", "a/b/c": "y"}}});
        let m = msgs(validate("ConfigMap", &v));
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(
            m[0].starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist")
        );
        assert!(
            m[1].starts_with("metadata.labels: Invalid value: \"bad value\": a valid label must")
        );
        assert!(
            m[2].starts_with("metadata.annotations: Invalid value: \"a/b/c\": a qualified name")
        );
    }

    #[test]
    fn missing_name_is_required() {
        assert_eq!(
            msgs(validate("ConfigMap", &json!({"metadata": {}}))),
            ["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn namespace_names_are_dns1123_labels() {
        let mut ns = json!({"metadata": {"name": "a.b"}});
        apply_defaults("Namespace", &mut ns);
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(msgs(validate("Namespace", &ns)).len(), 1);
    }

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(
            validate(
                "ClusterRole",
                &json!({"metadata": {"name": "system:controller:vlb"}})
            )
            .is_ok()
        );
        assert_eq!(
            msgs(validate("Role", &json!({"metadata": {"name": "a/b"}}))),
            ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
    }

    #[test]
    fn secret_keys_types_and_string_data() {
        let mut sec = json!({"metadata": {"name": "s"}, "stringData": {"user": "admin"},
                             "data": {"bad key": "eA=="}});
        apply_defaults("Secret", &mut sec);
        assert_eq!(sec["type"], "Opaque");
        assert_eq!(sec["data"]["user"], base64_encode(b"admin"));
        assert!(sec.get("stringData").is_none());
        let m = msgs(validate("Secret", &sec));
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key"));
        let tls = json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(
            msgs(validate("Secret", &tls)),
            ["data[tls.key]: Required value"]
        );
    }

    #[test]
    fn immutable_secrets_and_config_maps_reject_data_changes() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        assert_eq!(
            msgs(validate_update("ConfigMap", &old, &new)),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let old_s = json!({"metadata": {"name": "s"}, "type": "Opaque"});
        let mut new_s = old_s.clone();
        new_s["type"] = json!("kubernetes.io/tls");
        new_s["data"] = json!({"tls.crt": "", "tls.key": ""});
        assert_eq!(
            msgs(validate_update("Secret", &old_s, &new_s)),
            ["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }

    #[test]
    fn config_map_binary_data_may_not_repeat_data_keys() {
        let cm =
            json!({"metadata": {"name": "c"}, "data": {"k": "v"}, "binaryData": {"k": "eA=="}});
        assert_eq!(
            msgs(validate("ConfigMap", &cm)),
            ["binaryData[k]: Invalid value: \"k\": duplicate of key present in data"]
        );
    }

    #[test]
    fn deployments_need_matching_selector_and_containers() {
        let mut d = json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c"}]}}}});
        apply_defaults("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            msgs(validate("Deployment", &d)),
            [
                "spec.template.metadata.labels: Invalid value: {\"app\":\"y\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers[0].image: Required value",
            ]
        );
    }

    #[test]
    fn crd_names_and_versions_are_checked() {
        let crd = json!({"metadata": {"name": "lbs.vngcloud.vn"}, "spec": {
            "group": "vngcloud.vn", "scope": "Namespaced",
            "names": {"plural": "lbs", "singular": "lb", "kind": "LB"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        assert!(validate("CustomResourceDefinition", &crd).is_ok());
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("x.vngcloud.vn");
        bad["spec"]["versions"][0]["storage"] = json!(false);
        assert_eq!(msgs(validate("CustomResourceDefinition", &bad)).len(), 2);
    }

    #[test]
    fn owner_references_need_their_fields_and_one_controller() {
        let v = json!({"metadata": {"name": "c", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Service", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "v1", "kind": "Service", "name": "b", "uid": "", "controller": true}]}});
        let m = msgs(validate("ConfigMap", &v));
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"
        );
    }

    #[test]
    fn base64_helpers_round_trip_lengths() {
        for input in [&b""[..], b"a", b"ab", b"abc", b"abcd"] {
            let enc = base64_encode(input);
            assert_eq!(base64_decoded_len(&enc), Some(input.len()));
        }
        assert_eq!(base64_encode(b"admin"), "YWRtaW4=");
        assert_eq!(base64_decoded_len("abc"), None);
        assert_eq!(base64_decoded_len("a*c="), None);
    }

    #[test]
    fn ingress_paths_backends_and_hosts_are_checked() {
        let ok = json!({"metadata": {"name": "i"}, "spec": {"ingressClassName": "vngcloud",
            "rules": [{"host": "*.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        assert!(validate("Ingress", &ok).is_ok());
        let bad = json!({"metadata": {"name": "i"}, "spec": {
            "rules": [{"host": "10.0.0.1", "http": {"paths": [
                {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {}}}},
                {"path": "/", "backend": {}}]}}]}});
        assert_eq!(
            msgs(validate("Ingress", &bad)),
            [
                "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path",
                "spec.rules[0].http.paths[0].backend.service.port: Invalid value: {}: port name or number is required",
                "spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[1].backend: Invalid value: \"\": resource or service backend is required",
            ]
        );
        let empty = json!({"metadata": {"name": "i"}, "spec": {}});
        assert_eq!(
            msgs(validate("Ingress", &empty)),
            ["spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]
        );
    }

    #[test]
    fn lease_durations_must_be_positive() {
        let l = json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}});
        assert_eq!(
            msgs(validate("Lease", &l)),
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn endpoints_and_slices_check_addresses_and_ports() {
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "x"}],
                        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 0, "name": "b"}]}]});
        assert_eq!(
            msgs(validate("Endpoints", &ep)),
            [
                "subsets[0].addresses[0].ip: Invalid value: \"x\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                "subsets[0].ports[0].name: Required value",
                "subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ]
        );
        let es = json!({"metadata": {"name": "s"}, "addressType": "IPv4",
                        "endpoints": [{"addresses": ["10.0.0.1", "::1"]}, {"addresses": []}]});
        assert_eq!(
            msgs(validate("EndpointSlice", &es)),
            [
                "endpoints[0].addresses[1]: Invalid value: \"::1\": must be a valid IPv4 address",
                "endpoints[1].addresses: Required value: must contain at least 1 address",
            ]
        );
    }

    #[test]
    fn node_taints_need_key_and_known_effect() {
        let n = json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "a", "effect": "Never"}, {"key": "b"}]}});
        assert_eq!(
            msgs(validate("Node", &n)),
            [
                "spec.taints[0].effect: Unsupported value: \"Never\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"",
                "spec.taints[1].effect: Required value",
            ]
        );
    }

    use crate::test_support::arbitrary_json;

    proptest::proptest! {
        #[test]
        fn validation_and_defaulting_never_panic(obj in arbitrary_json(), k in 0usize..14) {
            let kinds = ["Service", "Secret", "ConfigMap", "Namespace", "Pod", "Deployment",
                         "CustomResourceDefinition", "Ingress", "Endpoints", "EndpointSlice",
                         "Lease", "Node", "Role", "Widget"];
            let kind = kinds[k];
            let mut o = obj.clone();
            apply_defaults(kind, &mut o);
            let _ = validate(kind, &o);
            let _ = validate_update(kind, &obj, &o);
        }
    }
}
