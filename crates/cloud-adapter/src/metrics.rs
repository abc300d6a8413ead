//! Prometheus metrics of the client: calls and their duration by service, method, path template
//! and status.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub service: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// HTTP status, or `transport` when no answer came.
    pub status: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The metric families; clones share the same series.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub calls: Family<CallLabels, Counter>,
    pub duration: Family<CallLabels, Histogram, fn() -> Histogram>,
    pub retries: Family<CallLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            calls: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            retries: Family::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("vngcloud");
        sub.register(
            "requests",
            "HTTP calls to VNGCloud by service, method, path template and status",
            self.calls.clone(),
        );
        sub.register(
            "request_duration_seconds",
            "Duration of HTTP calls to VNGCloud",
            self.duration.clone(),
        );
        sub.register(
            "retries",
            "Calls to VNGCloud retried, by the status that caused the retry",
            self.retries.clone(),
        );
    }
}
