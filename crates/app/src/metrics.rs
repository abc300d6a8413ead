//! Prometheus metrics with controller-runtime's names, in one registry that the cloud
//! adapter's counters join.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels `{controller, result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// Controller name (`service`, `loadbalancerconfig`, `nodesecuritygroup`).
    pub controller: String,
    /// `success`, `error` or `requeue_after`.
    pub result: String,
}

/// Label `{controller}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name.
    pub controller: String,
}

/// Label `{name}` (controller-runtime's work-queue label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueueLabels {
    /// Queue (controller) name.
    pub name: String,
}

type HistogramFamily = Family<ControllerLabels, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// How a reconcile ended, for `controller_runtime_reconcile_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Done, nothing scheduled but the drift check.
    Success,
    /// Done, asked to run again after a delay.
    RequeueAfter,
    /// Failed.
    Error,
}

impl ReconcileResult {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::RequeueAfter => "requeue_after",
            Self::Error => "error",
        }
    }
}

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    reconcile_total: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_time: HistogramFamily,
    active_workers: Family<ControllerLabels, Gauge>,
    queue_depth: Family<QueueLabels, Gauge>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the registry and registers the operator's metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile_total = Family::<ResultLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller and result",
            reconcile_total.clone(),
        );
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        let reconcile_time: HistogramFamily = Family::new_with_constructor(reconcile_histogram);
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            reconcile_time.clone(),
        );
        let active_workers = Family::<ControllerLabels, Gauge>::default();
        registry.register(
            "controller_runtime_active_workers",
            "Number of reconciles running per controller",
            active_workers.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "workqueue_depth",
            "Reconciles started and not finished per controller: running, or waiting for \
             the lock of their load balancer",
            queue_depth.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "vlb_leader",
            "1 while this replica holds the leader lease and reconciles, else 0",
            leader.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            reconcile_total,
            reconcile_errors,
            reconcile_time,
            active_workers,
            queue_depth,
            leader,
        }
    }

    /// Lets another component (the cloud adapter) register its metrics into the same
    /// registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.registry.lock())
    }

    /// The registry in the text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry.lock())?;
        Ok(out)
    }

    /// Records the end of a reconcile.
    pub fn reconciled(&self, controller: &str, result: ReconcileResult, took: Duration) {
        self.reconcile_total
            .get_or_create(&ResultLabels {
                controller: controller.to_owned(),
                result: result.as_str().to_owned(),
            })
            .inc();
        let labels = ControllerLabels {
            controller: controller.to_owned(),
        };
        if result == ReconcileResult::Error {
            self.reconcile_errors.get_or_create(&labels).inc();
        }
        self.reconcile_time
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Marks a reconcile as started (queued on its lock); the guard marks it running and
    /// then finished.
    pub fn started(&self, controller: &str) -> InFlight {
        let depth = self.queue_depth.get_or_create_owned(&QueueLabels {
            name: controller.to_owned(),
        });
        depth.inc();
        InFlight {
            depth,
            active: self.active_workers.get_or_create_owned(&ControllerLabels {
                controller: controller.to_owned(),
            }),
            running: false,
        }
    }

    /// Sets the leader gauge.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }
}

/// A reconcile in flight (decrements the gauges on drop).
#[derive(Debug)]
pub struct InFlight {
    depth: Gauge,
    active: Gauge,
    running: bool,
}

impl InFlight {
    /// The reconcile got its lock and runs.
    pub fn running(&mut self) {
        if !self.running {
            self.running = true;
            self.active.inc();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.depth.dec();
        if self.running {
            self.active.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_metrics_use_controller_runtime_names() {
        let m = Metrics::new();
        m.reconciled(
            "service",
            ReconcileResult::Success,
            Duration::from_millis(20),
        );
        m.reconciled("service", ReconcileResult::Error, Duration::from_millis(30));
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                "controller_runtime_reconcile_total{controller=\"service\",result=\"success\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("controller_runtime_reconcile_errors_total{controller=\"service\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "controller_runtime_reconcile_time_seconds_count{controller=\"service\"} 2"
            ),
            "{text}"
        );
    }

    #[test]
    fn queue_depth_follows_in_flight_reconciles() {
        let m = Metrics::new();
        let mut a = m.started("loadbalancerconfig");
        let _b = m.started("loadbalancerconfig");
        a.running();
        let text = m.encode().unwrap();
        assert!(
            text.contains("workqueue_depth{name=\"loadbalancerconfig\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("controller_runtime_active_workers{controller=\"loadbalancerconfig\"} 1"),
            "{text}"
        );
        drop(a);
        let text = m.encode().unwrap();
        assert!(
            text.contains("workqueue_depth{name=\"loadbalancerconfig\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("controller_runtime_active_workers{controller=\"loadbalancerconfig\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn other_components_register_into_the_same_registry() {
        let m = Metrics::new();
        let c: Counter = Counter::default();
        m.with_registry(|r| r.register("vlb_cloud_requests", "cloud calls", c.clone()));
        c.inc();
        assert!(m.encode().unwrap().contains("vlb_cloud_requests_total 1"));
    }
}
