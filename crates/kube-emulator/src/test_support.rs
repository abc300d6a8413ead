//! Test-only helpers shared by the unit tests of the pure modules.

use serde_json::Value;

/// Arbitrary JSON shaped like Kubernetes objects (the keys the modules look at, nested a
/// few levels), for the property tests that check no input makes a module panic.
pub(crate) fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..70000).prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        "[a-zA-Z0-9./_-]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("metadata".to_owned()),
                    Just("spec".to_owned()),
                    Just("status".to_owned()),
                    Just("ports".to_owned()),
                    Just("port".to_owned()),
                    Just("listeners".to_owned()),
                    Just("name".to_owned()),
                    Just("type".to_owned()),
                    Just("data".to_owned()),
                    Just("labels".to_owned()),
                    "[a-z]{1,3}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
