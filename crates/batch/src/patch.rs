//! JSON merge patches (RFC 7386) of only what changed.
//!
//! The batcher serializes the object before and after its mutators ran and sends the
//! difference: untouched fields (and fields the Rust type does not know) are never sent, so
//! a flush cannot clobber what another writer set.

use serde_json::{Map, Value};

/// The merge patch turning `old` into `new`, or `None` when they are equal.
///
/// Objects are diffed key by key (a removed key becomes `null`); anything else (arrays
/// included, as RFC 7386 has no array operations) is replaced whole when it differs. A key
/// whose new value is `null` and that was absent or `null` before is no change.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut out = Map::new();
            for (k, nv) in new {
                match old.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None if !nv.is_null() => {
                        out.insert(k.clone(), nv.clone());
                    }
                    None => {}
                }
            }
            for (k, ov) in old {
                if !new.contains_key(k) && !ov.is_null() {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// The patch of everything outside `.status` (spec, metadata, data, ...), or `None` when
/// nothing changed there.
pub fn spec_patch(old: &Value, new: &Value) -> Option<Value> {
    merge_diff(&without_status(old), &without_status(new))
}

/// The patch of `.status` only (`{"status": {...}}`), or `None` when the status is unchanged.
pub fn status_patch(old: &Value, new: &Value) -> Option<Value> {
    merge_diff(&only_status(old), &only_status(new))
}

/// Adds `metadata.resourceVersion` to a patch: the API server then refuses it with 409 when
/// the object changed since `resource_version` (optimistic lock).
pub fn with_resource_version(mut patch: Value, resource_version: &str) -> Value {
    if let Value::Object(map) = &mut patch {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Value::Object(meta) = meta {
            meta.insert(
                "resourceVersion".to_owned(),
                Value::String(resource_version.to_owned()),
            );
        }
    }
    patch
}

fn without_status(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "status")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn only_status(v: &Value) -> Value {
    let mut out = Map::new();
    if let Some(status) = v.get("status") {
        out.insert("status".to_owned(), status.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_documents_have_no_patch() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}, "n": null});
        assert_eq!(merge_diff(&v, &v.clone()), None);
    }

    #[test]
    fn only_changed_leaves_are_sent() {
        let old = json!({"spec": {"a": 1, "b": 2, "deep": {"x": "1", "y": "2"}}});
        let new = json!({"spec": {"a": 1, "b": 3, "deep": {"x": "1", "y": "3"}}});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"spec": {"b": 3, "deep": {"y": "3"}}}))
        );
    }

    #[test]
    fn removed_key_becomes_null_and_added_key_is_sent() {
        let old = json!({"a": 1, "b": 2});
        let new = json!({"b": 2, "c": {"d": true}});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"a": null, "c": {"d": true}}))
        );
    }

    #[test]
    fn new_null_where_key_was_absent_is_no_change() {
        assert_eq!(merge_diff(&json!({}), &json!({"a": null})), None);
        assert_eq!(
            merge_diff(&json!({"a": 1}), &json!({"a": null})),
            Some(json!({"a": null}))
        );
    }

    #[test]
    fn arrays_are_replaced_whole() {
        let old = json!({"l": [1, 2, 3]});
        let new = json!({"l": [1, 2, 4]});
        assert_eq!(merge_diff(&old, &new), Some(json!({"l": [1, 2, 4]})));
    }

    #[test]
    fn type_change_replaces_value() {
        let old = json!({"a": "x"});
        let new = json!({"a": {"b": 1}});
        assert_eq!(merge_diff(&old, &new), Some(json!({"a": {"b": 1}})));
    }

    #[test]
    fn spec_patch_ignores_status_and_status_patch_ignores_the_rest() {
        let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"p": 1}, "status": {"s": 1}});
        let new = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"p": 1}, "status": {"s": 2}});
        assert_eq!(
            spec_patch(&old, &new),
            Some(json!({"metadata": {"labels": {"a": "2"}}}))
        );
        assert_eq!(status_patch(&old, &new), Some(json!({"status": {"s": 2}})));
    }

    #[test]
    fn status_appearing_from_nothing_is_sent_whole() {
        let old = json!({"spec": {}});
        let new = json!({"spec": {}, "status": {"ready": true}});
        assert_eq!(spec_patch(&old, &new), None);
        assert_eq!(
            status_patch(&old, &new),
            Some(json!({"status": {"ready": true}}))
        );
    }

    #[test]
    fn resource_version_is_merged_into_existing_metadata() {
        let p = with_resource_version(json!({"metadata": {"labels": {"a": "1"}}}), "42");
        assert_eq!(
            p,
            json!({"metadata": {"labels": {"a": "1"}, "resourceVersion": "42"}})
        );
        let p = with_resource_version(json!({"status": {"x": 1}}), "7");
        assert_eq!(
            p,
            json!({"status": {"x": 1}, "metadata": {"resourceVersion": "7"}})
        );
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::super::merge_diff;

        /// JSON without nulls (a null in a merge patch means "remove").
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                (-5i64..5).prop_map(Value::from),
                "[a-c]{0,2}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::btree_map("[a-d]", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        fn object() -> impl Strategy<Value = Value> {
            prop::collection::btree_map("[a-d]", json(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
        }

        proptest! {
            #[test]
            fn applying_the_diff_to_old_gives_new(old in object(), new in object()) {
                let diff = merge_diff(&old, &new);
                prop_assert_eq!(diff.is_none(), old == new);
                let mut patched = old.clone();
                if let Some(diff) = diff {
                    json_patch::merge(&mut patched, &diff);
                }
                prop_assert_eq!(patched, new);
            }
        }
    }
}
