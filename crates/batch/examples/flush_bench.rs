//! Flush benchmark: OBJECTS objects × MUTATIONS status mutations each against an in-process
//! kube emulator, written three ways: a naive GET + PATCH per mutation; the batcher without a
//! store (the Go k8sbatch design: one GET + one PATCH per object); the batcher reading from a
//! synced reflector store (one PATCH per object). Calls are read from the emulator's journal.
//!
//! ```text
//! cargo run --release -p vlb-batch --example flush_bench [-- OBJECTS MUTATIONS CONCURRENCY]
//! ```
//! Defaults: 1000 objects, 10 mutations, 8 objects written at once (both sides).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vlb_batch::Batcher;
use vlb_kube_emulator::{JournalEntry, KubeEmulator, Verb};

const NS: &str = "default";

/// The benchmarked custom resource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "bench.vlb.io",
    version = "v1",
    kind = "Item",
    namespaced,
    status = "ItemStatus"
)]
pub struct ItemSpec {
    /// Payload.
    pub size: i64,
}

/// Status: one field per mutation, as a reconcile recording listeners and pools does.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct ItemStatus {
    /// Recorded steps.
    #[serde(default)]
    pub steps: Vec<String>,
}

struct Run {
    gets: usize,
    patches: usize,
    elapsed: Duration,
}

fn counts(emu: &KubeEmulator) -> (usize, usize) {
    let j = emu.journal();
    let is = |v: Verb| move |e: &JournalEntry| e.verb == v && e.resource == "items";
    (j.count(is(Verb::Get)), j.count(is(Verb::Patch)))
}

fn record(status: &mut Option<ItemStatus>, phase: &str, m: usize) {
    status
        .get_or_insert_with(Default::default)
        .steps
        .push(format!("{phase}-{m}"));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let objects = args.next().transpose()?.unwrap_or(1000);
    let mutations = args.next().transpose()?.unwrap_or(10);
    let concurrency = args.next().transpose()?.unwrap_or(8).max(1);

    let emu = KubeEmulator::start().await?;
    let client = emu.client();
    setup(&client, objects, concurrency).await?;
    let names: Vec<String> = (0..objects).map(|i| format!("item-{i}")).collect();

    // Reflector store, synced with every object.
    let (store, writer) = reflector::store::<Item>();
    let stream = watcher(
        Api::<Item>::namespaced(client.clone(), NS),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    tokio::spawn(stream.for_each(|_| async {}));
    store.wait_until_ready().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while names
        .iter()
        .any(|n| store.get(&ObjectRef::new(n).within(NS)).is_none())
    {
        anyhow::ensure!(Instant::now() < deadline, "store did not sync");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Batched: every mutation queued, one flush; first without a store (the Go k8sbatch
    // design: GET + PATCH per object), then reading from the reflector store.
    let mut batched_runs = Vec::new();
    for with_store in [false, true] {
        emu.journal().clear();
        let start = Instant::now();
        let mut batch = Batcher::new(client.clone()).with_concurrency(concurrency);
        if with_store {
            batch = batch.with_store(store.clone());
        }
        for name in &names {
            for m in 0..mutations {
                batch.status::<Item>(Some(NS), name, move |item| {
                    record(&mut item.status, "batched", m);
                    true
                });
            }
        }
        let report = batch.flush().await?;
        let elapsed = start.elapsed();
        let (gets, patches) = counts(&emu);
        anyhow::ensure!(
            report.gets() as usize == gets && report.patches() as usize == patches,
            "report and journal disagree"
        );
        batched_runs.push(Run {
            gets,
            patches,
            elapsed,
        });
        // Let the store catch up with this run's writes before the next one reads it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while names.iter().any(|n| {
            store
                .get(&ObjectRef::new(n).within(NS))
                .and_then(|i| i.status.clone())
                .is_none_or(|s| s.steps.len() < mutations * batched_runs.len())
        }) {
            anyhow::ensure!(Instant::now() < deadline, "store did not catch up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let batched = batched_runs.pop().expect("two runs");
    let batched_no_store = batched_runs.pop().expect("two runs");

    // Naive: GET + PATCH (resourceVersion-guarded status merge patch) per mutation.
    emu.journal().clear();
    let api: Api<Item> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    futures::stream::iter(names.iter())
        .map(|name| {
            let api = api.clone();
            async move {
                for m in 0..mutations {
                    let mut item = api.get(name).await?;
                    record(&mut item.status, "naive", m);
                    let patch = json!({
                        "metadata": {"resourceVersion": item.resource_version()},
                        "status": item.status,
                    });
                    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await?;
                }
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let elapsed = start.elapsed();
    let (gets, patches) = counts(&emu);
    let naive = Run {
        gets,
        patches,
        elapsed,
    };

    println!(
        "flush_bench: {objects} objects x {mutations} status mutations, {concurrency} objects at once"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>12}",
        "", "GET", "PATCH", "calls", "time"
    );
    for (label, r) in [
        ("naive", &naive),
        ("batched, no store", &batched_no_store),
        ("batched, store", &batched),
    ] {
        println!(
            "{label:<18} {:>8} {:>8} {:>8} {:>10.1}ms",
            r.gets,
            r.patches,
            r.gets + r.patches,
            r.elapsed.as_secs_f64() * 1000.0
        );
    }
    let calls = |r: &Run| (r.gets + r.patches) as f64;
    println!(
        "naive / batched with store: {:.1}x fewer calls, {:.1}x faster",
        calls(&naive) / calls(&batched).max(1.0),
        naive.elapsed.as_secs_f64() / batched.elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}

async fn setup(client: &Client, objects: usize, concurrency: usize) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Item::crd()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let crd = crds.get(&Item::crd().name_any()).await?;
        let established = crd.status.and_then(|s| s.conditions).is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        if established {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "CRD not established");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let api: Api<Item> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(0..objects)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &Item::new(&format!("item-{i}"), ItemSpec { size: i as i64 }),
                )
                .await
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(())
}
