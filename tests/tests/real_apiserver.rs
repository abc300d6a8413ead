//! What only a real kube-apiserver can prove (these tests run on [`Backend::Apiserver`] only):
//! the shipped least-privilege ClusterRole on the real RBAC authorizer, the CRDs on the real
//! apiextensions server, and `kubectl wait` on real objects.
//!
//! The e2e suites already run the operator as the identity bound only to the ClusterRole on
//! the real apiserver (every call they make is allowed, or they fail); here each rule is removed
//! in turn and the operator must meet a 403.

// Test helpers fail the test by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use vlb_tests::{
    Backend, DEADLINE, Harness, Operator, Options, Verb, bind_cluster_role, lb_service, on_backend,
    wait_until,
};

/// A one-port Service with leader election on: every kind the operator reads, every write
/// of a first convergence, the lease.
async fn converge_as_operator(h: &Harness, name: &str) -> Option<Operator> {
    let mut config = h.operator_config();
    config.leader_election = true;
    config.sync_timeout = std::time::Duration::from_secs(5);
    let launch = tokio::spawn(Operator::start(h.kube.operator_client(), config));
    h.create_service(&lb_service(name, &[("http", "TCP", 80)], &[]))
        .await;
    let journal = h.kube.journal();
    wait_until(
        format!("a 403 answered to the operator for {name}"),
        DEADLINE,
        || {
            if journal.count(|e| e.status == 403) > 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} requests, none refused",
                    journal.count(|_| true)
                ))
            }
        },
    )
    .await;
    if launch.is_finished() {
        launch.await.ok().and_then(Result::ok)
    } else {
        launch.abort();
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_any_one_rule_of_the_cluster_role_makes_the_operator_meet_a_403() {
    on_backend(Backend::Apiserver, async {
        let full = vlb_k8s_adapter::cluster_role();
        let rules = full.rules.clone().unwrap();
        assert!(rules.len() > 3, "the ClusterRole lists its rules");
        for (i, rule) in rules.iter().enumerate() {
            // A fresh control plane per rule: nothing the previous operator started lingers.
            let h = Harness::start_with(Options {
                start_operator: false,
                ..Options::new(&format!("rbac-{i}"))
            })
            .await;
            let mut role = full.clone();
            role.rules.as_mut().unwrap().remove(i);
            bind_cluster_role(&h.client, role).await;
            h.kube.journal().clear();
            let op = converge_as_operator(&h, "web").await;
            let refused: Vec<String> = h
                .kube
                .journal()
                .entries()
                .iter()
                .filter(|e| e.status == 403)
                .map(|e| {
                    format!(
                        "{} {}{}",
                        e.verb.as_str(),
                        e.resource,
                        e.subresource
                            .as_ref()
                            .map(|s| format!("/{s}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let granted: Vec<String> = rule.resources.iter().flatten().cloned().collect();
            assert!(
                refused
                    .iter()
                    .any(|r| granted.iter().any(|g| r.ends_with(&format!(" {g}"))
                        && rule.verbs.iter().any(|v| r.starts_with(v.as_str())))),
                "without rule {i} ({:?} {:?}) the refusals {refused:?} name none of its grants",
                rule.resources,
                rule.verbs
            );
            if let Some(op) = op {
                op.abort();
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_whole_cluster_role_the_operator_converges_and_is_never_refused() {
    on_backend(Backend::Apiserver, async {
        let mut h = Harness::start_with(Options {
            start_operator: false,
            ..Options::new("rbac-full")
        })
        .await;
        let mut config = h.operator_config();
        config.leader_election = true;
        h.start_operator_with(config).await;
        h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
            .await;
        h.wait_service_ready("web").await;
        h.delete_service("web").await;
        h.wait_service_gone("web").await;
        h.assert_converged_and_clean().await;
        let refused = h.kube.journal().count(|e| e.status == 403);
        assert_eq!(refused, 0, "the operator was refused {refused} calls");
        assert!(
            h.kube
                .journal()
                .count(|e| e.verb == Verb::Create && e.resource == "leases")
                > 0,
            "the election ran"
        );
    })
    .await;
}

fn kubectl(h: &Harness, args: &[&str]) -> std::process::Output {
    let cache = tempfile_dir();
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(h.kube.kubeconfig_path())
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl must be installed (/usr/bin/kubectl)")
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vlb-kubectl-cache-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace(':', "_")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_are_established_and_kubectl_waits_for_ready_and_prints_their_columns() {
    on_backend(Backend::Apiserver, async {
        let h = Harness::start("kubectl-wait").await;
        // Structural schemas, list-type markers and printer columns: the apiextensions server
        // accepted and established both CRDs (Harness::start waits for Established).
        let crds = Api::<CustomResourceDefinition>::all(h.client.clone());
        for crd in vlb_k8s_adapter::crds() {
            let name = kube::ResourceExt::name_any(&crd);
            let got = crds.get(&name).await.unwrap();
            let status = got.status.unwrap();
            for cond in ["NamesAccepted", "Established"] {
                assert!(
                    status
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == cond && c.status == "True"),
                    "{name}: {cond} not True: {:?}",
                    status.conditions
                );
            }
            assert!(
                !status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "NonStructuralSchema" && c.status == "True"),
                "{name}: schema not structural"
            );
        }
        h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
            .await;
        let ns = h.namespace.clone();
        // `kubectl wait` fails at once on an object that does not exist yet, and an LBC's
        // Ready can still turn False once after the load balancer's create was accepted
        // (the next reconcile finds it CREATING: known, see the issue note): wait for the
        // served Service first, then for the condition through kubectl.
        h.wait_service_ready("web").await;
        let args = [
            "wait",
            "--for=condition=Ready",
            "loadbalancerconfig/web",
            "-n",
            ns.as_str(),
            "--timeout=60s",
        ];
        let h_ref = &h;
        let out = tokio::task::block_in_place(|| kubectl(h_ref, &args));
        assert!(
            out.status.success(),
            "kubectl wait: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out =
            tokio::task::block_in_place(|| kubectl(h_ref, &["get", "lbc", "-n", ns.as_str()]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conditions = h
            .lbc("web")
            .await
            .and_then(|l| l.status)
            .map(|s| s.conditions.clone());
        let header = text.lines().next().unwrap_or_default();
        for column in ["NAME", "TYPE", "LB-ID", "ADDRESS", "READY", "AGE"] {
            assert!(header.contains(column), "column {column} missing: {text}");
        }
        assert!(
            text.lines().nth(1).is_some_and(|l| l.contains("True")),
            "{text}\nconditions: {conditions:#?}"
        );
    })
    .await;
}
