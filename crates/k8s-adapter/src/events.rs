//! [`EventSink`] through kube-runtime's [`Recorder`] (`events.k8s.io/v1`).
//!
//! Deduplication: the recorder keeps one Event per (object, type, reason, action) for six
//! minutes and turns a repeat into a `series` patch (count + last time) instead of a new
//! Event. The action this sink sends is the reason's action followed by a short hash of the
//! message, so a repeated identical event is folded into the series, while a new message
//! (another error) is a new Event the user sees. Publishing failures are logged (warn),
//! never returned: events are best effort.

use std::hash::{DefaultHasher, Hash, Hasher};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder, Reporter};
use vlb_domain::model::{ObjectKind, ObjectRef};
use vlb_domain::ports::{Event, EventSink, EventType};

/// Reasons of the events the operator publishes (the ones users of the Kubernetes service
/// controller and of the Go controller know).
pub mod reasons {
    /// A load balancer is being created or updated.
    pub const ENSURING_LOAD_BALANCER: &str = "EnsuringLoadBalancer";
    /// A load balancer is in the desired state.
    pub const ENSURED_LOAD_BALANCER: &str = "EnsuredLoadBalancer";
    /// Creating or updating a load balancer failed.
    pub const SYNC_LOAD_BALANCER_FAILED: &str = "SyncLoadBalancerFailed";
    /// A load balancer is being deleted.
    pub const DELETING_LOAD_BALANCER: &str = "DeletingLoadBalancer";
    /// A load balancer was deleted.
    pub const DELETED_LOAD_BALANCER: &str = "DeletedLoadBalancer";
    /// Deleting a load balancer failed.
    pub const DELETE_LOAD_BALANCER_FAILED: &str = "DeleteLoadBalancerFailed";
    /// A Service annotation has a bad value.
    pub const INVALID_ANNOTATION: &str = "InvalidAnnotation";
    /// Pool members were updated.
    pub const UPDATED_LOAD_BALANCER: &str = "UpdatedLoadBalancer";
    /// Updating pool members failed.
    pub const UPDATE_LOAD_BALANCER_FAILED: &str = "UpdateLoadBalancerFailed";
    /// The security group of the nodes was ensured.
    pub const ENSURED_SECURITY_GROUP: &str = "EnsuredSecurityGroup";
    /// Ensuring the security group of the nodes failed.
    pub const SYNC_SECURITY_GROUP_FAILED: &str = "SyncSecurityGroupFailed";
    /// The Kubernetes API refused a call (401/403/422): fix RBAC or the object.
    pub const KUBERNETES_API_REFUSED: &str = "KubernetesApiRefused";
}

/// Name of the reporting controller in the Events.
pub const REPORTING_CONTROLLER: &str = "vlb-controller";

/// Longest note the Events API accepts (1 kB).
const MAX_NOTE: usize = 1024;

/// Publishes domain events as `events.k8s.io/v1` Events.
#[derive(Clone)]
pub struct KubeEventSink {
    recorder: Recorder,
}

impl KubeEventSink {
    /// A sink reporting as [`REPORTING_CONTROLLER`] from `instance` (the pod name; the host
    /// name when `None`).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes, returning the API error instead of logging it (for tests and callers that
    /// care).
    pub async fn try_publish(&self, target: &ObjectRef, event: &Event) -> Result<(), kube::Error> {
        self.recorder
            .publish(&kube_event(event), &object_reference(target))
            .await
    }
}

/// The `ObjectReference` of a domain object.
pub fn object_reference(target: &ObjectRef) -> ObjectReference {
    let (api_version, kind) = match target.kind {
        ObjectKind::Service => ("v1", "Service"),
        ObjectKind::LoadBalancerConfig => ("vks.vngcloud.vn/v1alpha1", "LoadBalancerConfig"),
        ObjectKind::NodeSecurityGroup => ("vks.vngcloud.vn/v1alpha1", "NodeSecurityGroup"),
    };
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(target.key.name.clone()),
        namespace: (!target.key.namespace.is_empty()).then(|| target.key.namespace.clone()),
        uid: target.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The action an event reports (CamelCase verb of its reason).
pub fn action_of(reason: &str) -> &'static str {
    match reason {
        reasons::ENSURING_LOAD_BALANCER
        | reasons::ENSURED_LOAD_BALANCER
        | reasons::SYNC_LOAD_BALANCER_FAILED => "EnsureLoadBalancer",
        reasons::DELETING_LOAD_BALANCER
        | reasons::DELETED_LOAD_BALANCER
        | reasons::DELETE_LOAD_BALANCER_FAILED => "DeleteLoadBalancer",
        reasons::UPDATED_LOAD_BALANCER | reasons::UPDATE_LOAD_BALANCER_FAILED => {
            "UpdateLoadBalancer"
        }
        reasons::ENSURED_SECURITY_GROUP | reasons::SYNC_SECURITY_GROUP_FAILED => {
            "EnsureSecurityGroup"
        }
        reasons::INVALID_ANNOTATION => "ValidateAnnotations",
        _ => "Reconcile",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn kube_event(event: &Event) -> KubeEvent {
    let mut h = DefaultHasher::new();
    event.message.hash(&mut h);
    let digest = h.finish() as u32;
    KubeEvent {
        type_: match event.event_type {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: truncate(&event.reason, 128),
        note: Some(truncate(&event.message, MAX_NOTE)),
        action: format!("{}-{digest:08x}", action_of(&event.reason)),
        secondary: None,
    }
}

#[async_trait]
impl EventSink for KubeEventSink {
    async fn publish(&self, target: &ObjectRef, event: &Event) {
        if let Err(e) = self.try_publish(target, event).await {
            tracing::warn!(
                object = %target.key,
                reason = %event.reason,
                error = %e,
                "publishing an event failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use vlb_domain::model::ObjectKey;

    use super::*;

    #[test]
    fn same_message_gives_same_action_and_another_message_another() {
        let e = |m: &str| Event {
            event_type: EventType::Warning,
            reason: reasons::SYNC_LOAD_BALANCER_FAILED.into(),
            message: m.into(),
        };
        assert_eq!(kube_event(&e("a")).action, kube_event(&e("a")).action);
        assert_ne!(kube_event(&e("a")).action, kube_event(&e("b")).action);
        assert!(
            kube_event(&e("a"))
                .action
                .starts_with("EnsureLoadBalancer-")
        );
    }

    #[test]
    fn long_notes_are_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn references_name_the_custom_resource_group() {
        let r = object_reference(&ObjectRef {
            kind: ObjectKind::LoadBalancerConfig,
            key: ObjectKey::new("ns", "x"),
            uid: Some("u".into()),
        });
        assert_eq!(r.api_version.as_deref(), Some("vks.vngcloud.vn/v1alpha1"));
        assert_eq!(r.uid.as_deref(), Some("u"));
    }
}
