//! Custom resources the operator cannot decode (a Go controller's value vlb does not know, a
//! hand edit the CRD schema let through): their spec or status is read leniently by the
//! adapter (`vlb_k8s_adapter::Undecodable`), so the list and watch of the others go on and
//! start-up completes; here each such object is reported once per version (a Warning Event
//! on it and a log line, naming the reason, never the body) and left alone: it is not
//! reconciled, its finalizer is neither added nor removed, until it changes.
//!
//! ```text
//! watch ─▶ reflector store ─▶ reconcile_lbc / reconcile_nsg ─▶ undecodable? ─ yes ─▶ Event once, await change
//!                                                                    └─ no ──▶ use case
//! ```

use std::collections::HashSet;
use std::sync::LazyLock;

use kube::{Resource, ResourceExt};
use parking_lot::Mutex;
use vlb_domain::model::{ObjectKey, ObjectKind, ObjectRef};
use vlb_domain::ports::{Event, EventType};
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup, Undecodable};

use crate::controllers::Context;

/// Reason of the Warning Event on an object the operator cannot decode.
pub const REASON: &str = "Undecodable";

/// Versions (`uid/resourceVersion`) already reported, process-wide: a re-list or a restart of
/// the watch hands the same version over again, which must not repeat the Event.
static REPORTED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// An object read leniently.
pub trait Lenient: Resource {
    /// Kind, for the Event.
    const KIND: ObjectKind;
    /// What could not be decoded, if anything.
    fn undecodable(&self) -> Option<&Undecodable>;
}

impl Lenient for LoadBalancerConfig {
    const KIND: ObjectKind = ObjectKind::LoadBalancerConfig;
    fn undecodable(&self) -> Option<&Undecodable> {
        LoadBalancerConfig::undecodable(self)
    }
}

impl Lenient for NodeSecurityGroup {
    const KIND: ObjectKind = ObjectKind::NodeSecurityGroup;
    fn undecodable(&self) -> Option<&Undecodable> {
        NodeSecurityGroup::undecodable(self)
    }
}

/// Whether `obj` could not be decoded; if so, reports it (once per version) and the caller
/// must leave it alone.
pub async fn skip_undecodable<K: Lenient>(ctx: &Context, obj: &K) -> bool {
    let Some(u) = obj.undecodable() else {
        return false;
    };
    let uid = obj.uid().unwrap_or_default();
    let version = format!("{uid}/{}", obj.resource_version().unwrap_or_default());
    if !REPORTED.lock().insert(version) {
        return true;
    }
    let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
    tracing::warn!(
        kind = ?K::KIND,
        object = %key,
        reason = u.reason(),
        "cannot decode this object: left alone until it changes"
    );
    let target = ObjectRef {
        kind: K::KIND,
        key,
        uid: (!uid.is_empty()).then_some(uid),
    };
    let event = Event {
        event_type: EventType::Warning,
        reason: REASON.to_owned(),
        message: format!(
            "vlb cannot decode this object ({}); it is left as it is until it changes",
            u.reason()
        ),
    };
    ctx.wiring
        .scope()
        .deps
        .events
        .publish(&target, &event)
        .await;
    true
}
