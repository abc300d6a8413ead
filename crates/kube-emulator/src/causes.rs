//! Field validation errors shaped like the apiserver's `field.Error` and `StatusCause`.
//!
//! ```text
//!  validation (builtin_validation, schema)  ──►  Vec<FieldError>  ──►  summary() / invalid_status()
//!                                                                       │
//!                                                                       ▼
//!                                                   422 Status { reason: Invalid, details.causes }
//! ```
//!
//! A [`FieldError`] serializes exactly like a `metav1.StatusCause` (`field`, `reason`, `message`),
//! where `message` is the apiserver's "error body" (`Invalid value: 70000: must be between 1 and
//! 65535, inclusive`), and its [`Display`](std::fmt::Display) is the full error
//! (`spec.ports[0].port: Invalid value: 70000: ...`) used in the Status message.

use std::fmt;

use serde_json::Value;

/// Cause reason of an invalid value (`field.ErrorTypeInvalid`).
pub const REASON_INVALID: &str = "FieldValueInvalid";
/// Cause reason of a missing required value (`field.ErrorTypeRequired`).
pub const REASON_REQUIRED: &str = "FieldValueRequired";
/// Cause reason of a value outside an enumeration (`field.ErrorTypeNotSupported`).
pub const REASON_NOT_SUPPORTED: &str = "FieldValueNotSupported";
/// Cause reason of a duplicated value (`field.ErrorTypeDuplicate`).
pub const REASON_DUPLICATE: &str = "FieldValueDuplicate";
/// Cause reason of a too long value (`field.ErrorTypeTooLong`).
pub const REASON_TOO_LONG: &str = "FieldValueTooLong";
/// Cause reason of a list with too many items (`field.ErrorTypeTooMany`).
pub const REASON_TOO_MANY: &str = "FieldValueTooMany";
/// Cause reason of a forbidden value or change (`field.ErrorTypeForbidden`).
pub const REASON_FORBIDDEN: &str = "FieldValueForbidden";
/// Cause reason of a value of the wrong type (`field.ErrorTypeTypeInvalid`).
pub const REASON_TYPE_INVALID: &str = "FieldValueTypeInvalid";
/// Cause reason of a referenced object that does not exist (`field.ErrorTypeNotFound`).
pub const REASON_NOT_FOUND: &str = "FieldValueNotFound";
/// Cause reason of an internal error while validating (`field.ErrorTypeInternal`).
pub const REASON_INTERNAL: &str = "InternalError";

/// One validation failure, serializable as a `metav1.StatusCause`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Path of the offending field, e.g. `spec.ports[0].port` or `metadata.labels`.
    pub field: String,
    /// Cause type, one of the `REASON_*` constants (e.g. `FieldValueInvalid`).
    pub reason: String,
    /// The apiserver's error body without the field, e.g. `Invalid value: 70000: must be
    /// between 1 and 65535, inclusive`.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: &str, message: String) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_owned(),
            message,
        }
    }

    /// `field: Invalid value: VALUE: DETAIL` (`field.Invalid`). The detail may be empty.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::new(
            field,
            REASON_INVALID,
            with_detail(format!("Invalid value: {}", go_value(value)), detail),
        )
    }

    /// `field: Invalid value: DETAIL`, without echoing the value (the apiserver's `omitValue`).
    pub fn invalid_omit_value(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            REASON_INVALID,
            with_detail("Invalid value".to_owned(), detail),
        )
    }

    /// `field: Invalid value: "VALUE": must be of type T` (`field.TypeInvalid`).
    pub fn type_invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::new(
            field,
            REASON_TYPE_INVALID,
            with_detail(format!("Invalid value: {}", go_value(value)), detail),
        )
    }

    /// `field: Required value` (`field.Required` without detail).
    pub fn required(field: impl Into<String>) -> Self {
        Self::required_with(field, "")
    }

    /// `field: Required value: DETAIL` (`field.Required` with a detail).
    pub fn required_with(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            REASON_REQUIRED,
            with_detail("Required value".to_owned(), detail),
        )
    }

    /// `field: Unsupported value: "X": supported values: "A", "B"` (`field.NotSupported`).
    pub fn not_supported<S: AsRef<str>>(
        field: impl Into<String>,
        value: &Value,
        allowed: &[S],
    ) -> Self {
        let detail = if allowed.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = allowed.iter().map(|a| go_quote(a.as_ref())).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            field,
            REASON_NOT_SUPPORTED,
            with_detail(format!("Unsupported value: {}", go_value(value)), &detail),
        )
    }

    /// `field: Duplicate value: VALUE` (`field.Duplicate`).
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self::new(
            field,
            REASON_DUPLICATE,
            format!("Duplicate value: {}", go_value(value)),
        )
    }

    /// `field: Too long: may not be more than N bytes` (`field.TooLong`; the value is not echoed).
    pub fn too_long(field: impl Into<String>, max_len: usize) -> Self {
        let unit = if max_len == 1 { "byte" } else { "bytes" };
        Self::new(
            field,
            REASON_TOO_LONG,
            format!("Too long: may not be more than {max_len} {unit}"),
        )
    }

    /// `field: Too many: ACTUAL: must have at most MAX items` (`field.TooMany`).
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Self::new(
            field,
            REASON_TOO_MANY,
            format!("Too many: {actual}: must have at most {max} {unit}"),
        )
    }

    /// `field: Forbidden: DETAIL` (`field.Forbidden`).
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            REASON_FORBIDDEN,
            with_detail("Forbidden".to_owned(), detail),
        )
    }

    /// `field: Not found: VALUE` (`field.NotFound`).
    pub fn not_found(field: impl Into<String>, value: &Value) -> Self {
        Self::new(
            field,
            REASON_NOT_FOUND,
            format!("Not found: {}", go_value(value)),
        )
    }

    /// `field: Internal error: DETAIL` (`field.InternalError`).
    pub fn internal(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            REASON_INTERNAL,
            with_detail("Internal error".to_owned(), detail),
        )
    }

    /// The same error with its field path prefixed, e.g. `spec` + `ports[0]` → `spec.ports[0]`.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.field = join_path(prefix, &self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Joins a parent path and a child segment: `("spec", "ports[0]")` → `spec.ports[0]`,
/// `("spec.ports", "[0]")` → `spec.ports[0]`, and an empty side yields the other.
pub fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else if child.is_empty() {
        parent.to_owned()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

/// The group-qualified kind the apiserver prints in messages: `Service` for the core group,
/// `Deployment.apps`, `LoadBalancer.vngcloud.vn`.
pub fn qualified_kind(kind: &str, group: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

/// The 422 Status message: `Service "x" is invalid: spec.ports[0].port: Invalid value: ...` for
/// one cause and `Service "x" is invalid: [a: ..., b: ...]` for several (duplicate messages are
/// printed once, as `utilerrors.Aggregate` does). `kind` is the qualified kind
/// (see [`qualified_kind`]).
pub fn summary(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let head = format!("{kind} {} is invalid", go_quote(name));
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

/// The complete 422 `Status` body the apiserver returns for invalid objects
/// (`apierrors.NewInvalid`): reason `Invalid`, `details.{group, kind, name, causes}`.
pub fn invalid_status(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "reason": e.reason,
                "message": e.message,
                "field": e.field,
            })
        })
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("name".into(), Value::String(name.to_owned()));
    if !group.is_empty() {
        details.insert("group".into(), Value::String(group.to_owned()));
    }
    details.insert("kind".into(), Value::String(kind.to_owned()));
    details.insert("causes".into(), Value::Array(causes));
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": summary(&qualified_kind(kind, group), name, errors),
        "reason": "Invalid",
        "details": Value::Object(details),
        "code": 422,
    })
}

fn with_detail(mut head: String, detail: &str) -> String {
    if !detail.is_empty() {
        head.push_str(": ");
        head.push_str(detail);
    }
    head
}

/// Go's `%q` for a string (close enough: JSON escaping of a UTF-8 string).
pub fn go_quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// How `field.Error` prints a bad value: strings quoted, numbers and booleans bare, `null` for
/// nil, compact JSON for lists and maps.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_number_prints_like_the_apiserver() {
        let e = FieldError::invalid(
            "spec.ports[0].port",
            &json!(70000),
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.to_string(),
            "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
        assert_eq!(e.reason, "FieldValueInvalid");
        assert_eq!(
            e.message,
            "Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
    }

    #[test]
    fn invalid_string_value_is_quoted() {
        let e = FieldError::invalid("metadata.name", &json!("Bad_Name"), "x");
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Bad_Name\": x"
        );
    }

    #[test]
    fn not_supported_lists_quoted_values() {
        let e = FieldError::not_supported("spec.type", &json!("X"), &["A", "B"]);
        assert_eq!(
            e.to_string(),
            "spec.type: Unsupported value: \"X\": supported values: \"A\", \"B\""
        );
        assert_eq!(e.reason, "FieldValueNotSupported");
    }

    #[test]
    fn required_and_forbidden_have_no_value() {
        assert_eq!(
            FieldError::required("spec.ports").to_string(),
            "spec.ports: Required value"
        );
        assert_eq!(
            FieldError::required_with("spec.ports[0].name", "when multiple ports are specified")
                .to_string(),
            "spec.ports[0].name: Required value: when multiple ports are specified"
        );
        assert_eq!(
            FieldError::forbidden("spec.x", "may not be set").to_string(),
            "spec.x: Forbidden: may not be set"
        );
    }

    #[test]
    fn duplicate_too_long_and_too_many_shapes() {
        assert_eq!(
            FieldError::duplicate("spec.ports[1]", &json!({"port": 80, "protocol": "TCP"})).message,
            "Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}"
        );
        assert_eq!(
            FieldError::too_long("metadata.name", 63).message,
            "Too long: may not be more than 63 bytes"
        );
        assert_eq!(
            FieldError::too_many("spec.items", 5, 4).message,
            "Too many: 5: must have at most 4 items"
        );
    }

    #[test]
    fn serializes_as_a_status_cause() {
        let e = FieldError::required("spec.ports");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"field": "spec.ports", "reason": "FieldValueRequired", "message": "Required value"})
        );
    }

    #[test]
    fn summary_of_one_cause_has_no_brackets() {
        let errs = [FieldError::required("spec.ports")];
        assert_eq!(
            summary("Service", "x", &errs),
            "Service \"x\" is invalid: spec.ports: Required value"
        );
    }

    #[test]
    fn summary_of_several_causes_is_bracketed_and_deduplicated() {
        let a = FieldError::required("spec.ports");
        let b = FieldError::not_supported("spec.type", &json!("X"), &["ClusterIP"]);
        let errs = [a.clone(), b, a];
        assert_eq!(
            summary("Service", "x", &errs),
            "Service \"x\" is invalid: [spec.ports: Required value, spec.type: Unsupported value: \"X\": supported values: \"ClusterIP\"]"
        );
    }

    #[test]
    fn summary_without_causes_has_only_the_head() {
        assert_eq!(
            summary("Foo.example.com", "a", &[]),
            "Foo.example.com \"a\" is invalid"
        );
    }

    #[test]
    fn invalid_status_body_matches_new_invalid() {
        let errs = [FieldError::required("spec.ports")];
        let s = invalid_status("apps", "Deployment", "web", &errs);
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.ports");
        assert_eq!(
            s["message"],
            "Deployment.apps \"web\" is invalid: spec.ports: Required value"
        );
        let core = invalid_status("", "Service", "x", &errs);
        assert!(core["details"].get("group").is_none());
    }

    #[test]
    fn prefixed_joins_paths() {
        let e = FieldError::required("port").prefixed("spec.ports[0]");
        assert_eq!(e.field, "spec.ports[0].port");
        assert_eq!(join_path("spec.ports", "[2]"), "spec.ports[2]");
        assert_eq!(join_path("", "spec"), "spec");
    }
}
