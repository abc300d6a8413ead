//! PATCH: JSON merge patch, JSON patch, strategic merge patch and server-side apply.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::App;
use crate::resources::ResourceType;
use crate::store::{WriteOpts, Written};

/// What a PATCH request carries.
pub(crate) struct PatchRequest<'a> {
    pub name: &'a str,
    pub sub: Option<&'a str>,
    pub version: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
    pub opts: WriteOpts,
    pub field_manager: Option<&'a str>,
    pub force: bool,
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn rejected(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("the server rejected our request due to an error in our request: {e}"),
    )
}

/// Applies a patch under the storage lock and stores the result.
pub(crate) fn patch(
    app: &App,
    req: &PatchRequest<'_>,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
) -> Result<Written, ApiError> {
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut st = app.shared.lock();
    let current = st.get(rt, ns, req.name);
    let present = |v: Value| crate::present(rt, req.version, v);
    let new = match ct.as_str() {
        "application/apply-patch+yaml" => {
            let Some(manager) = req.field_manager.filter(|m| !m.is_empty()) else {
                // What kube-apiserver answers (the PatchOptions are invalid), not a 400.
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    &[(
                        "fieldManager".to_owned(),
                        "FieldValueRequired".to_owned(),
                        "Required value: is required for apply patch".to_owned(),
                    )],
                ));
            };
            let applied: Value = serde_yaml::from_slice(req.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            if !applied.is_object() {
                return Err(ApiError::bad_request(
                    "the applied configuration is not an object",
                ));
            }
            // kube-apiserver converts the configuration to its typed form first: a field the
            // kind does not declare fails there (500, whatever fieldValidation says).
            let undeclared = crate::validation::undeclared_fields(rt, &applied);
            if !undeclared.is_empty() {
                let object_ns = current
                    .as_ref()
                    .ok()
                    .and_then(|o| o.pointer("/metadata/namespace"))
                    .or_else(|| applied.pointer("/metadata/namespace"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let fields: Vec<String> = undeclared
                    .iter()
                    .map(|f| format!(".{f}: field not declared in schema"))
                    .collect();
                let gv = if rt.group.is_empty() {
                    format!("/{}", req.version)
                } else {
                    format!("{}/{}", rt.group, req.version)
                };
                return Err(ApiError::new(
                    500,
                    "",
                    format!(
                        "failed to create typed patch object ({object_ns}/{}; {gv}, Kind={}): {}",
                        req.name,
                        rt.kind,
                        fields.join("\n")
                    ),
                ));
            }
            for (field, what) in [("apiVersion", "apiVersion"), ("kind", "kind")] {
                if applied
                    .get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(ApiError::bad_request(format!("{what} must be set")));
                }
            }
            let live = current.ok().map(present);
            let merged = crate::validation::apply(
                rt,
                req.version,
                req.sub,
                req.name,
                live.as_ref(),
                &applied,
                manager,
                req.force,
            )?;
            let opts = WriteOpts {
                manager: Some(manager.to_owned()),
                apply: true,
                ..req.opts.clone()
            };
            if live.is_none() {
                if req.sub.is_some() {
                    return Err(ApiError::not_found(&rt.group, &rt.plural, req.name));
                }
                let mut merged = merged;
                if merged.pointer("/metadata/name").is_none() {
                    merged["metadata"]["name"] = json!(req.name);
                }
                return st.create(rt, ns, merged, &opts);
            }
            return st.update(rt, ns, req.name, merged, req.sub, &opts, false);
        }
        "application/merge-patch+json" => {
            let mut doc = present(current?);
            json_patch::merge(&mut doc, &parse_json(req.body)?);
            doc
        }
        "application/json-patch+json" => {
            let mut doc = present(current?);
            let p: json_patch::Patch = serde_json::from_slice(req.body).map_err(rejected)?;
            for op in &p.0 {
                // As the apiserver's JSON patch library: testing a missing path against null
                // succeeds (kube-runtime's finalizer helper relies on it).
                if let json_patch::PatchOperation::Test(t) = op
                    && t.value.is_null()
                    && doc.pointer(t.path.as_str()).is_none()
                {
                    continue;
                }
                json_patch::patch(&mut doc, std::slice::from_ref(op)).map_err(rejected)?;
            }
            doc
        }
        "application/strategic-merge-patch+json" => {
            if rt.is_crd_type() {
                return Err(ApiError::unsupported_media(&ct));
            }
            let doc = present(current?);
            crate::strategic::strategic_merge(&doc, &parse_json(req.body)?, &rt.kind)
                .map_err(rejected)?
        }
        other => return Err(ApiError::unsupported_media(other)),
    };
    st.update(rt, ns, req.name, new, req.sub, &req.opts, false)
}
