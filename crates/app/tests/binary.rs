//! The `vlb-controller` binary: exit codes, help text, `manifests`, `install` /
//! `uninstall` against the Kubernetes emulator, and `run` with SIGTERM (the demo's
//! fixture seeds the cluster).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use vlb_kube_emulator::KubeEmulator;
use vlb_vngcloud_emulator::VngEmulator;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vlb-controller"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("binary runs")
}

#[test]
fn version_prints_the_crate_version_and_exits_zero() {
    let out = run(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn run_with_unreadable_credentials_is_a_configuration_error() {
    let out = run(&[
        "run",
        "--cluster-id",
        "c1",
        "--project-id",
        "p1",
        "--credentials-file",
        "/nonexistent/vlb-credentials",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/vlb-credentials"), "{err}");
}

#[test]
fn run_help_explains_every_flag() {
    let out = run(&["run", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--kubeconfig",
        "--in-cluster",
        "--cluster-id",
        "--iam-endpoint",
        "--vlb-endpoint",
        "--vserver-endpoint",
        "--project-id",
        "--credentials-file",
        "--load-balancer-class",
        "--concurrency",
        "--drift-check-period",
        "--metrics-address",
        "--log-format",
        "--log-level",
        "--leader-elect",
        "--shutdown-timeout",
    ] {
        assert!(
            text.contains(flag),
            "{flag} missing from run --help:\n{text}"
        );
    }
    assert!(text.contains("VLB_CLUSTER_ID"), "env fallbacks are shown");
}

#[test]
fn manifests_prints_a_yaml_install_set_with_the_crds_and_the_cluster_role() {
    let out = run(&[
        "manifests",
        "--cluster-id",
        "k8s-1",
        "--project-id",
        "pro-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect::<Vec<serde_json::Value>>()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    let named = |kind: &str| -> Vec<String> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        named("CustomResourceDefinition"),
        [
            "loadbalancerconfigs.vks.vngcloud.vn",
            "nodesecuritygroups.vks.vngcloud.vn"
        ]
    );
    assert_eq!(named("ClusterRole"), ["vlb-controller"]);
    assert_eq!(named("Deployment"), ["vlb-controller"]);
    assert_eq!(named("Namespace"), ["vlb-system"]);
    let config = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(config["data"]["VLB_CLUSTER_ID"], "k8s-1");
    assert_eq!(config["data"]["VLB_PROJECT_ID"], "pro-1");
    assert_eq!(docs[0]["kind"], "CustomResourceDefinition", "CRDs first");
}

async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_twice_then_uninstall_twice_against_the_kube_emulator() {
    let kube = KubeEmulator::start().await.unwrap();
    let kubeconfig = kube.kubeconfig_path().to_str().unwrap().to_owned();
    let with = |verb: &str| {
        vec![
            verb.to_owned(),
            "--kubeconfig".to_owned(),
            kubeconfig.clone(),
        ]
    };
    for attempt in 1..=2 {
        let out = run_async(with("install")).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "install #{attempt}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("ClusterRole/vlb-controller applied"),
            "{text}"
        );
    }
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(kube.client());
    assert!(
        crds.get_opt("loadbalancerconfigs.vks.vngcloud.vn")
            .await
            .unwrap()
            .is_some()
    );
    let first = run_async(with("uninstall")).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(text.contains("Deployment/vlb-controller deleted"), "{text}");
    let second = run_async(with("uninstall")).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("Deployment/vlb-controller already absent"),
        "{text}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while crds
        .get_opt("loadbalancerconfigs.vks.vngcloud.vn")
        .await
        .unwrap()
        .is_some()
    {
        assert!(tokio::time::Instant::now() < deadline, "CRD not deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_leader_election_converges_then_exits_gracefully_on_sigterm() {
    let kube = KubeEmulator::start().await.unwrap();
    let cloud = VngEmulator::start().await.unwrap();
    vlb_demo::seed(&kube.client(), &vlb_demo::demo_servers(&cloud))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(
        &creds,
        format!(
            "client-id={}\nclient-secret={}\n",
            cloud.client_id(),
            cloud.client_secret()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vlb-controller"))
        .args([
            "--log-level",
            "debug",
            "run",
            "--kubeconfig",
            kube.kubeconfig_path().to_str().unwrap(),
            "--cluster-id",
            "c1",
            "--project-id",
            cloud.project_id(),
            "--iam-endpoint",
            &cloud.iam_url(),
            "--vlb-endpoint",
            &cloud.vlb_url(),
            "--vserver-endpoint",
            &cloud.vserver_url(),
            "--credentials-file",
            creds.to_str().unwrap(),
            "--lease-namespace",
            "default",
            "--identity",
            "vlb-run-test",
            "--debounce",
            "50ms",
            "--metrics-address",
            &addr.to_string(),
            "--shutdown-timeout",
            "5s",
        ])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut { stderr }, &mut s).unwrap();
        s
    });

    // Converged: the sample Services are Ready (the production retry delays apply).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = vlb_demo::observe(&kube.client()).await.unwrap();
        if vlb_demo::converged(&rows) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not converged:\n{}",
            vlb_demo::render(&rows)
        );
        assert!(child.try_wait().unwrap().is_none(), "run exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = get(addr, "/readyz").await.unwrap();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let metrics = get(addr, "/metrics").await.unwrap();
    assert!(metrics.contains("vlb_leader 1"), "{metrics}");
    assert!(metrics.contains("rest_client_requests_total{"), "{metrics}");
    let leases: kube::Api<Lease> = kube::Api::namespaced(kube.client(), "default");
    let holder = |l: Option<Lease>| {
        l.and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    };
    assert_eq!(
        holder(
            leases
                .get_opt(&vlb_app::leader::go_lease_name("c1"))
                .await
                .unwrap()
        )
        .as_deref(),
        Some("vlb-run-test")
    );

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logs = logs.join().unwrap();
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(logs.contains("shutdown requested"), "{logs}");
    assert!(
        !logs.contains(cloud.client_secret()),
        "the client secret reached the logs"
    );
    assert_eq!(
        holder(
            leases
                .get_opt(&vlb_app::leader::go_lease_name("c1"))
                .await
                .unwrap()
        ),
        None,
        "the lease is released on the way out"
    );
}

#[test]
fn the_deployments_environment_is_all_run_needs() {
    let out = run(&[
        "manifests",
        "--cluster-id",
        "k8s-1",
        "--project-id",
        "pro-1",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let config = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vlb-controller"));
    cmd.env_clear();
    for (k, v) in config["data"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    for e in container["env"].as_array().unwrap() {
        // fieldRef values (pod name and namespace) are filled in by the kubelet.
        let value = e["value"].as_str().unwrap_or("from-field-ref");
        cmd.env(e["name"].as_str().unwrap(), value);
    }
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["run"]);
    let out = cmd.args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Every flag was accepted; it stops at the (absent here) mounted credentials.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/etc/vlb/credentials"), "{err}");
    assert!(!err.contains("required"), "{err}");
}
