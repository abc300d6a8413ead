//! Throughput and memory of the emulator on this machine; the numbers go to BENCHMARKS.md.
//!
//! `cargo run --release -p vlb-kube-emulator --example kube_emulator_throughput`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use vlb_kube_emulator::KubeEmulator;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn rate<F, Fut>(what: &str, n: usize, conc: usize, f: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(conc, |i| {
            let f = f.clone();
            async move { f(i).await }
        })
        .await;
    let secs = start.elapsed().as_secs_f64();
    println!("{what:<48} {n:>6} requests  {:>9.0} req/s", n as f64 / secs);
}

#[tokio::main]
async fn main() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = emu.client();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    let before = rss_kib();
    let start = Instant::now();
    {
        let svcs = svcs.clone();
        rate("create Service (LoadBalancer), 8 concurrent", 10_000, 8, move |i| {
            let svcs = svcs.clone();
            async move {
                let s: Service = serde_json::from_value(json!({
                    "metadata": {"name": format!("svc-{i}"), "labels": {"app": format!("a{}", i % 100)}},
                    "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]},
                }))
                .unwrap();
                svcs.create(&PostParams::default(), &s).await.unwrap();
            }
        })
        .await;
    }
    {
        let nodes = nodes.clone();
        rate("create Node, 8 concurrent", 500, 8, move |i| {
            let nodes = nodes.clone();
            async move {
                let n: Node = serde_json::from_value(json!({
                    "metadata": {"name": format!("node-{i}")},
                    "status": {"addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", i / 250, i % 250)}]},
                }))
                .unwrap();
                nodes.create(&PostParams::default(), &n).await.unwrap();
            }
        })
        .await;
    }
    println!(
        "stored 10 000 Services + 500 Nodes in {:.1} s; RSS {} MiB -> {} MiB (process, client included)",
        start.elapsed().as_secs_f64(),
        before / 1024,
        rss_kib() / 1024
    );
    {
        let svcs = svcs.clone();
        rate("get Service, 8 concurrent", 20_000, 8, move |i| {
            let svcs = svcs.clone();
            async move {
                svcs.get(&format!("svc-{}", i % 10_000)).await.unwrap();
            }
        })
        .await;
    }
    {
        let t = Instant::now();
        for i in 0..20 {
            svcs.list(&ListParams::default().labels(&format!("app=a{i}")))
                .await
                .unwrap();
        }
        let full = t.elapsed() / 20;
        let t = Instant::now();
        for _ in 0..20 {
            svcs.list(&ListParams::default().labels("app=none"))
                .await
                .unwrap();
        }
        let empty = t.elapsed() / 20;
        println!(
            "one label-selected list of 10 000 Services: {:.1} ms (100 items), {:.1} ms (none)",
            full.as_secs_f64() * 1000.0,
            empty.as_secs_f64() * 1000.0
        );
    }
    {
        let svcs = svcs.clone();
        rate(
            "list Services by label (100 of 10 000), 8 conc.",
            500,
            8,
            move |i| {
                let svcs = svcs.clone();
                async move {
                    let l = svcs
                        .list(&ListParams::default().labels(&format!("app=a{}", i % 100)))
                        .await
                        .unwrap();
                    assert_eq!(l.items.len(), 100);
                }
            },
        )
        .await;
    }
    {
        let nodes = nodes.clone();
        rate("list all 500 Nodes, 4 concurrent", 100, 4, move |_| {
            let nodes = nodes.clone();
            async move {
                nodes.list(&ListParams::default()).await.unwrap();
            }
        })
        .await;
    }
    {
        let svcs = svcs.clone();
        rate("merge-patch Service status, 8 concurrent", 10_000, 8, move |i| {
            let svcs = svcs.clone();
            async move {
                svcs.patch_status(
                    &format!("svc-{}", i % 10_000),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": format!("1.1.{}.{}", i / 250 % 250, i % 250)}]}}})),
                )
                .await
                .unwrap();
            }
        })
        .await;
    }
    // Watch fan-out: W watchers on services, P patches; time until every watcher saw them all.
    for watchers in [10usize, 100] {
        let rv = svcs
            .list(&ListParams::default().limit(1))
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let patches = 1000usize;
        let mut handles = Vec::new();
        for _ in 0..watchers {
            let s = svcs
                .watch(&WatchParams::default(), &rv)
                .await
                .unwrap()
                .boxed();
            handles.push(tokio::spawn(async move {
                let mut s = s;
                let mut seen = 0;
                while seen < patches {
                    match s.try_next().await {
                        Ok(Some(WatchEvent::Modified(_))) => seen += 1,
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
                seen
            }));
        }
        let start = Instant::now();
        for i in 0..patches {
            svcs.patch(
                &format!("svc-{i}"),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"w": watchers.to_string()}}})),
            )
            .await
            .unwrap();
        }
        let mut total = 0;
        for h in handles {
            total += tokio::time::timeout(Duration::from_secs(120), h)
                .await
                .unwrap()
                .unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "watch fan-out: {watchers:>3} watchers x {patches} events delivered in {secs:.2} s ({:.0} events/s)",
            total as f64 / secs
        );
    }
    println!("final RSS {} MiB", rss_kib() / 1024);
}
