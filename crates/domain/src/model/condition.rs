//! Conditions, shaped like `metav1.Condition`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `Ready` condition type.
pub const READY: &str = "Ready";
/// Reason of a successful reconcile.
pub const REASON_SUCCESS: &str = "ReconcileSuccess";
/// Reason of a failed reconcile (a real failure: waiting on the cloud is
/// [`REASON_PROVISIONING`]).
pub const REASON_FAILED: &str = "ReconcileFailed";
/// Reason of a `Ready` condition `False` while the cloud is still working on the load
/// balancer (CREATING, UPDATING): nothing failed, the reconcile runs again by itself.
pub const REASON_PROVISIONING: &str = "Provisioning";
/// Reason of invalid Service annotations.
pub const REASON_INVALID_ANNOTATIONS: &str = "InvalidAnnotations";
/// Reason of a port claimed by another LBC with another protocol.
pub const REASON_PORT_CONFLICT: &str = "PortConflict";
/// Condition type on an LBC, owned by the Service use case: whether the owning Service's
/// annotations are valid. While it is `False` the LBC's `Ready` stays `False` with reason
/// [`REASON_INVALID_ANNOTATIONS`] and its message, whatever the LBC reconcile achieves.
pub const ANNOTATIONS_VALID: &str = "AnnotationsValid";
/// Reason of valid Service annotations.
pub const REASON_ANNOTATIONS_ACCEPTED: &str = "AnnotationsAccepted";
/// Reason of a `Ready` condition waiting for the next LBC reconcile.
pub const REASON_RECONCILING: &str = "Reconciling";

/// Status of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// Not known.
    #[default]
    Unknown,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status.
    pub status: ConditionStatus,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[schemars(with = "String")]
    pub last_transition_time: jiff::Timestamp,
    /// Generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Sets `cond` in `conditions` (keyed by type), keeping the transition time when the status
/// did not change. Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut cond: Condition) -> bool {
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        if existing.status == cond.status {
            cond.last_transition_time = existing.last_transition_time;
        }
        if *existing == cond {
            return false;
        }
        *existing = cond;
        return true;
    }
    conditions.push(cond);
    true
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: ConditionStatus, secs: i64, msg: &str) -> Condition {
        Condition {
            type_: READY.into(),
            status,
            reason: "R".into(),
            message: msg.into(),
            last_transition_time: jiff::Timestamp::from_second(secs).unwrap(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn same_status_keeps_transition_time_and_reports_no_change() {
        let mut v = vec![cond(ConditionStatus::True, 10, "a")];
        assert!(!set_condition(&mut v, cond(ConditionStatus::True, 20, "a")));
        assert!(set_condition(&mut v, cond(ConditionStatus::True, 30, "b")));
        assert_eq!(v[0].last_transition_time.as_second(), 10);
        assert!(set_condition(&mut v, cond(ConditionStatus::False, 40, "b")));
        assert_eq!(v[0].last_transition_time.as_second(), 40);
    }
}
