//! API errors answered as `meta.k8s.io/v1` Status bodies.

use serde_json::{Value, json};

/// An error answer of the API (a Status with `status: Failure`).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

/// `services` or `customresourcedefinitions.apiextensions.k8s.io`.
pub(crate) fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, kind: &str, name: &str) -> Value {
    let mut d = json!({ "kind": kind });
    if !name.is_empty() {
        d["name"] = json!(name);
    }
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        );
        e.details = Some(details(group, plural, name));
        e
    }

    /// 422 Invalid with causes `(field, reason, message)`.
    pub fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        causes: &[(String, String, String)],
    ) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|(f, _, m)| {
                if f.is_empty() {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", qualified(group, kind)),
        );
        let mut d = details(group, kind, name);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|(f, r, m)| json!({ "reason": r, "message": m, "field": f }))
                .collect(),
        );
        e.details = Some(d);
        e
    }

    /// 422 Invalid from field errors (message and causes as the apiserver prints them).
    pub fn invalid_fields(
        group: &str,
        kind: &str,
        name: &str,
        errs: &[crate::causes::FieldError],
    ) -> Self {
        let body = crate::causes::invalid_status(group, kind, name, errs);
        let mut e = Self::new(
            422,
            "Invalid",
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or("invalid"),
        );
        e.details = body.get("details").cloned();
        e
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, \
                 application/apply-patch+yaml (got {ct})"
            ),
        )
    }

    /// The standard answer for an injected fault of status `code`.
    pub fn fault(code: u16, message: Option<String>, retry_after: Option<u64>) -> Self {
        let (reason, default): (&'static str, &str) = match code {
            400 => ("BadRequest", "injected fault: bad request"),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "injected fault: forbidden"),
            404 => ("NotFound", "injected fault: not found"),
            409 => (
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your \
                 changes to the latest version and try again",
            ),
            410 => ("Expired", "injected fault: too old resource version"),
            422 => ("Invalid", "injected fault: invalid"),
            429 => (
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still \
                 be processing the request",
            ),
            _ => (
                "InternalError",
                "an error on the server (\"injected fault\") has prevented the request from \
                 succeeding",
            ),
        };
        let mut e = Self::new(code, reason, message.unwrap_or_else(|| default.to_owned()));
        e.retry_after = match code {
            429 => Some(retry_after.unwrap_or(1)),
            _ => retry_after,
        };
        if let Some(s) = e.retry_after {
            e.details = Some(json!({ "retryAfterSeconds": s }));
        }
        e
    }

    pub fn status_body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        if self.reason.is_empty()
            && let Value::Object(m) = &mut v
        {
            // kube-apiserver omits an empty reason (internal errors of its own).
            m.remove("reason");
        }
        v
    }
}
