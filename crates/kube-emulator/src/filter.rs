//! Label and field selectors of list, watch and delete-collection requests.

use serde_json::Value;

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};

/// A parsed `labelSelector` + `fieldSelector` pair.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
}

impl Filter {
    /// Parses both selectors; 400 BadRequest when one is malformed or uses an unsupported field.
    pub fn new(label: Option<&str>, field: Option<&str>, kind: &str) -> Result<Self, ApiError> {
        let label = match label.filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            None => None,
        };
        let field = match field.filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let f =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                if let Some(bad) = f.unsupported_field(kind) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {bad}"
                    )));
                }
                Some(f)
            }
            None => None,
        };
        Ok(Self { label, field })
    }

    /// Whether an object is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.label {
            let labels = obj
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_object);
            let ok = l.requirements().iter().all(|r| {
                r.matches_value(labels.and_then(|m| m.get(r.key())).and_then(Value::as_str))
            });
            if !ok {
                return false;
            }
        }
        self.field.as_ref().is_none_or(|f| f.matches(obj))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn direct_matching_agrees_with_the_selector_module() {
        let objs = [
            json!({"metadata": {"labels": {"app": "web", "tier": "1"}}}),
            json!({"metadata": {"labels": {"app": "db"}}}),
            json!({"metadata": {}}),
        ];
        for sel in [
            "app=web",
            "app!=web",
            "app in (db,web)",
            "app notin (db)",
            "tier",
            "!tier",
            "tier>0",
            "tier<1",
            "app==db,!tier",
        ] {
            let f = Filter::new(Some(sel), None, "ConfigMap").unwrap();
            let l = LabelSelector::parse(sel).unwrap();
            for o in &objs {
                let labels: BTreeMap<String, String> = o
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(f.matches(o), l.matches(&labels), "{sel} on {o}");
            }
        }
    }
}
