//! Use cases: reconcile a Service, reconcile and finalize a LoadBalancerConfig, reconcile
//! and finalize a NodeSecurityGroup. Each takes its ports through [`Deps`] and returns a
//! [`DomainError`](crate::DomainError) that says whether and when to retry.

use std::sync::Arc;

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

/// Settings of this controller instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Id of this cluster.
    pub cluster_id: String,
    /// VPC (network) id of this cluster, when known up front.
    pub vpc_id: String,
    /// `spec.loadBalancerClass` handled (None: Services without a class).
    pub load_balancer_class: Option<String>,
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
    pub(crate) async fn warn(
        &self,
        target: &crate::model::ObjectRef,
        reason: &str,
        message: String,
    ) {
        let event = Event {
            event_type: EventType::Warning,
            reason: reason.to_owned(),
            message,
        };
        self.events.publish(target, &event).await;
    }

    pub(crate) async fn normal(
        &self,
        target: &crate::model::ObjectRef,
        reason: &str,
        message: String,
    ) {
        let event = Event {
            event_type: EventType::Normal,
            reason: reason.to_owned(),
            message,
        };
        self.events.publish(target, &event).await;
    }

    pub(crate) fn ready(
        &self,
        ok: bool,
        reason: &str,
        message: String,
        generation: i64,
    ) -> Condition {
        Condition {
            type_: condition::READY.to_owned(),
            status: if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason: reason.to_owned(),
            message,
            last_transition_time: self.clock.now(),
            observed_generation: Some(generation),
        }
    }
}
