//! Benchmarks at scale of the vlb operator against both emulators (issue 10): Kubernetes
//! and cloud calls counted from the emulators' journals, wall times as ratios to a bound
//! computed in the same run, the operator's peak memory.
//!
//! ```text
//!   vlb-bench (src/main.rs)            tests/call_counts.rs (CI, small scale)
//!          │ scenarios 1..8                    │ exact call counts
//!          ▼                                   ▼
//!   vlb_tests::Harness ── creates Nodes, Services; waits by LIST (never GET)
//!          │
//!          ▼
//!   vlb_app::embedded::Operator (real controllers, real adapters, in-process)
//!          │ kube::Client                      │ HTTP (VNGCloud)
//!          ▼                                   ▼
//!   vlb-kube-emulator ── journal ─┐   vlb-vngcloud-emulator ── journal, 429s
//!                                 ▼            ▼
//!                        counts per object / per route  ──►  tables ──► BENCHMARKS.md
//! ```
//!
//! Run every scenario and regenerate BENCHMARKS.md (the run time is printed at the end and
//! recorded there):
//! `cargo run --release -p vlb-bench -- --scale 1 --churn-scale 1 --memory-scale 1 --write BENCHMARKS.md`;
//! the CI checks are `cargo test -p vlb-bench` (tests/call_counts.rs). `VLB_BENCH_TRACE=1`
//! prints scenario 6's cloud calls with their times.
//!
//! Waiting never sleeps for convergence: [`wait_ready_by_list`] polls with a deadline, and
//! [`wait_idle`] polls the journals until nothing new was recorded for a window (a bounded
//! idle-window poll, itself under a deadline). Readiness is checked with LIST requests only,
//! so every GET of one object in the Kubernetes journal is the operator's.

pub mod memory;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use vlb_k8s_adapter::LoadBalancerConfig;
use vlb_kube_emulator::JournalEntry;
use vlb_kube_emulator::Verb;
use vlb_tests::{Harness, TEST_FIELD_MANAGER, check_ready};

/// Poll period of every wait.
pub const POLL: Duration = Duration::from_millis(50);

/// Kubernetes requests against one object (the harness's own writes left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectCalls {
    /// GET of the object (or of one of its subresources).
    pub gets: usize,
    /// Writes of the object itself (create, update, patch without subresource).
    pub spec_writes: usize,
    /// PATCH (or update) of its `status` subresource.
    pub status_patches: usize,
    /// Writes that stored no change.
    pub unchanged_writes: usize,
    /// Deletes.
    pub deletes: usize,
}

/// Counts the requests of `entries` against the object `resource` `namespace/name`, the
/// writes carrying the harness's field manager left out.
pub fn object_calls(
    entries: &[JournalEntry],
    namespace: &str,
    resource: &str,
    name: &str,
) -> ObjectCalls {
    let mut out = ObjectCalls::default();
    for e in entries {
        if e.resource != resource
            || e.namespace.as_deref() != Some(namespace)
            || e.name.as_deref() != Some(name)
            || e.field_manager.as_deref() == Some(TEST_FIELD_MANAGER)
        {
            continue;
        }
        match e.verb {
            Verb::Get => out.gets += 1,
            Verb::List | Verb::Watch => {}
            Verb::Delete | Verb::DeleteCollection => out.deletes += 1,
            _ => {
                if e.subresource.as_deref() == Some("status") {
                    out.status_patches += 1;
                } else {
                    out.spec_writes += 1;
                }
                if !e.changed {
                    out.unchanged_writes += 1;
                }
            }
        }
    }
    out
}

/// Sum of [`object_calls`] over every object named in `names`.
pub fn total_object_calls(
    entries: &[JournalEntry],
    namespace: &str,
    resource: &str,
    names: &[String],
) -> ObjectCalls {
    let mut out = ObjectCalls::default();
    for n in names {
        let c = object_calls(entries, namespace, resource, n);
        out.gets += c.gets;
        out.spec_writes += c.spec_writes;
        out.status_patches += c.status_patches;
        out.unchanged_writes += c.unchanged_writes;
        out.deletes += c.deletes;
    }
    out
}

/// Names among `names` whose Service has an address and whose LBC is `Ready` for its
/// generation, found with two LIST requests.
pub async fn ready_by_list(
    client: &kube::Client,
    namespace: &str,
    names: &[String],
) -> Result<BTreeSet<String>> {
    let lp = ListParams::default();
    let services =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .context("list services")?;
    let lbcs = Api::<LoadBalancerConfig>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .context("list load balancer configs")?;
    let wanted: BTreeSet<&String> = names.iter().collect();
    let with_address: BTreeSet<String> = services
        .items
        .iter()
        .filter(|s| {
            s.status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .is_some_and(|i| i.iter().any(|x| x.ip.is_some() || x.hostname.is_some()))
        })
        .map(ResourceExt::name_any)
        .collect();
    Ok(lbcs
        .items
        .iter()
        .filter(|l| {
            let status = l.status.clone().unwrap_or_default();
            check_ready(&status, l.metadata.generation).is_ok() && status.load_balancer_id.is_some()
        })
        .map(ResourceExt::name_any)
        .filter(|n| wanted.contains(n) && with_address.contains(n))
        .collect())
}

/// Polls [`ready_by_list`] until every one of `names` is ready; returns the time it took.
pub async fn wait_ready_by_list(
    client: &kube::Client,
    namespace: &str,
    names: &[String],
    deadline: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        let ready = ready_by_list(client, namespace, names).await?;
        if reported.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {} of {} Services ready after {:?}",
                ready.len(),
                names.len(),
                started.elapsed()
            );
            reported = Instant::now();
        }
        if ready.len() == names.len() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > deadline {
            bail!(
                "after {deadline:?} only {} of {} Services ready",
                ready.len(),
                names.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Activity stamp: every cloud call (reads included: polling a `CREATING` load balancer is
/// work in progress) and every Kubernetes write not made by the harness.
fn activity(h: &Harness) -> (u64, usize) {
    let kube_writes = h
        .kube
        .journal()
        .entries()
        .iter()
        .filter(|e| {
            !matches!(e.verb, Verb::Get | Verb::List | Verb::Watch)
                && e.resource != "leases"
                && e.field_manager.as_deref() != Some(TEST_FIELD_MANAGER)
        })
        .count();
    (h.control().total_calls(), kube_writes)
}

/// Waits until nothing new is recorded for `window` (cloud calls of any kind, Kubernetes
/// writes of the operator): a bounded idle-window poll, failing after `deadline`. Use it with
/// a drift period longer than the run, or drift reads keep it busy.
pub async fn wait_idle(h: &Harness, window: Duration, deadline: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last = activity(h);
    let mut since = Instant::now();
    loop {
        let now = activity(h);
        if now != last {
            last = now;
            since = Instant::now();
        }
        if since.elapsed() >= window {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!("still active after {deadline:?}: (cloud calls, kube writes) = {now:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Peak and current resident set size (`VmHWM`, `VmRSS`) of process `pid`, in KiB.
pub fn process_rss_kib(pid: u32) -> Result<(u64, u64)> {
    let pid = pid.to_string();
    Ok((field_kib(&pid, "VmHWM:")?, field_kib(&pid, "VmRSS:")?))
}

fn field_kib(process: &str, field: &str) -> Result<u64> {
    let path = format!("/proc/{process}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in {path}"))?;
    line.trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("parse {line}"))
}
