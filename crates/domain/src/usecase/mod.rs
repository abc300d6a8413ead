//! Use cases: reconcile a Service, reconcile and finalize a LoadBalancerConfig, reconcile
//! and finalize a NodeSecurityGroup. Each takes its ports through [`Deps`] and returns
//! what it did and what it waits for ([`Outcome`], [`service::ServiceOutcome`]), or a
//! [`DomainError`](crate::DomainError) that says whether and when to retry. None of them
//! touches a finalizer: the engine (kube-runtime's finalizer helper) owns them and
//! decides between reconcile and finalize.

use std::sync::Arc;
use std::time::Duration;

use crate::model::condition::{self, Condition, ConditionStatus};
use crate::ports::{
    Batch, Clock, ClusterReader, Event, EventSink, EventType, LoadBalancerApi, NetworkApi,
    ObjectWriter,
};

pub mod lbc;
pub mod nsg;
pub mod service;

#[cfg(test)]
mod tests;

/// Finalizer on Services of type LoadBalancer.
pub const SERVICE_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";
/// Finalizer on LoadBalancerConfigs.
pub const LBC_FINALIZER: &str = "lbc.vngcloud.vn/resources";
/// Finalizer on NodeSecurityGroups.
pub const NSG_FINALIZER: &str = "nsg.vngcloud.vn/resources";
/// Owner labels on LBCs and NSGs.
pub const OWNER_KIND_LABEL: &str = "vks.vngcloud.vn/owner-resource-kind";
/// Owner name label.
pub const OWNER_NAME_LABEL: &str = "vks.vngcloud.vn/owner-resource-name";
/// Owner uid label.
pub const OWNER_UID_LABEL: &str = "vks.vngcloud.vn/owner-resource-uid";

/// What a reconcile waits for (not a failure): the engine reconciles again after
/// `recheck_after` without counting an error, and the object's `Ready` condition says
/// what is awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What is awaited, for the condition's message and the logs
    /// (`load balancer lb-1 is CREATING/CREATING`).
    pub what: String,
    /// When to look again: the expected time for the awaited change.
    pub recheck_after: Duration,
}

/// What an LBC or NSG reconcile leaves to do: nothing, or wait (see [`Waiting`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// `Some` while the reconcile waits for the cloud or the cluster.
    pub waiting: Option<Waiting>,
}

impl Outcome {
    /// Nothing left to do until the next change or drift check.
    pub fn done() -> Self {
        Self::default()
    }

    /// Waiting for `what`, expected within `recheck_after`.
    pub fn waiting(what: String, recheck_after: Duration) -> Self {
        Self {
            waiting: Some(Waiting {
                what,
                recheck_after,
            }),
        }
    }
}

/// Settings of this controller instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Id of this cluster.
    pub cluster_id: String,
    /// VPC (network) id of this cluster, when known up front.
    pub vpc_id: String,
    /// `spec.loadBalancerClass` handled (None: Services without a class).
    pub load_balancer_class: Option<String>,
    /// How the Service's address is written.
    pub service_address: crate::model::ServiceAddress,
}

/// The ports a use case needs.
#[derive(Clone)]
pub struct Deps {
    /// vLB.
    pub lb: Arc<dyn LoadBalancerApi>,
    /// vServer network.
    pub net: Arc<dyn NetworkApi>,
    /// Cluster reads.
    pub reader: Arc<dyn ClusterReader>,
    /// Cluster writes.
    pub writer: Arc<dyn ObjectWriter>,
    /// Per-reconcile batch (the caller flushes).
    pub batch: Arc<dyn Batch>,
    /// Events.
    pub events: Arc<dyn EventSink>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    async fn event(
        &self,
        target: &crate::model::ObjectRef,
        event_type: EventType,
        reason: &str,
        message: String,
    ) {
        let event = Event {
            event_type,
            reason: reason.to_owned(),
            message,
        };
        self.events.publish(target, &event).await;
    }

    pub(crate) async fn warn(
        &self,
        target: &crate::model::ObjectRef,
        reason: &str,
        message: String,
    ) {
        self.event(target, EventType::Warning, reason, message)
            .await;
    }

    pub(crate) async fn normal(
        &self,
        target: &crate::model::ObjectRef,
        reason: &str,
        message: String,
    ) {
        self.event(target, EventType::Normal, reason, message).await;
    }

    pub(crate) fn condition(
        &self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: String,
        generation: i64,
    ) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            last_transition_time: self.clock.now(),
            observed_generation: Some(generation),
        }
    }

    pub(crate) fn ready(
        &self,
        ok: bool,
        reason: &str,
        message: String,
        generation: i64,
    ) -> Condition {
        let status = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        self.condition(condition::READY, status, reason, message, generation)
    }
}

/// Keeps an LBC's `Ready` condition `False` with reason
/// [`REASON_INVALID_ANNOTATIONS`](condition::REASON_INVALID_ANNOTATIONS) while its
/// [`ANNOTATIONS_VALID`](condition::ANNOTATIONS_VALID) condition (written by the Service use
/// case) is `False`, so a successful LBC reconcile of the last good spec never hides bad
/// input. Returns whether `conditions` changed.
pub fn hold_invalid_annotations(conditions: &mut Vec<Condition>, now: jiff::Timestamp) -> bool {
    let Some(invalid) = condition::find_condition(conditions, condition::ANNOTATIONS_VALID)
        .filter(|c| c.status == ConditionStatus::False)
    else {
        return false;
    };
    let ready = Condition {
        type_: condition::READY.to_owned(),
        status: ConditionStatus::False,
        reason: condition::REASON_INVALID_ANNOTATIONS.to_owned(),
        message: invalid.message.clone(),
        last_transition_time: now,
        observed_generation: invalid.observed_generation,
    };
    condition::set_condition(conditions, ready)
}

/// A batch mutator that makes the object's value `value`, reporting no change when it
/// already is.
pub(crate) fn replace_with<T>(value: T) -> crate::ports::Mutator<T>
where
    T: PartialEq + Clone + Send + 'static,
{
    Box::new(move |s: &mut T| {
        if *s == value {
            return false;
        }
        s.clone_from(&value);
        true
    })
}

/// Makes the condition of type `type_` in `to` what it is in `from` (removed when `from`
/// has none), keeping the position of the others. Returns whether `to` changed.
pub(crate) fn carry_condition(from: &[Condition], to: &mut Vec<Condition>, type_: &str) -> bool {
    if let Some(c) = condition::find_condition(from, type_) {
        condition::set_condition(to, c.clone())
    } else {
        let before = to.len();
        to.retain(|c| c.type_ != type_);
        before != to.len()
    }
}
