//! The `vlb-controller` binary: exit codes and help text.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::{Command, Output};

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
fn subcommands_not_wired_yet_say_so_and_exit_non_zero() {
    for sub in [&["demo"][..], &["manifests"][..]] {
        let out = run(sub);
        assert_eq!(out.status.code(), Some(3), "{sub:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not wired"), "{sub:?}: {err}");
    }
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
fn run_reaches_the_unwired_adapters_without_logging_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "client-id=id-1\nclient-secret=TOPSECRET-123\n").unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n\
         users:\n- name: u\n  user:\n    token: abc\n",
    )
    .unwrap();
    let out = run(&[
        "--log-level",
        "trace",
        "run",
        "--cluster-id",
        "c1",
        "--project-id",
        "p1",
        "--credentials-file",
        creds.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not wired"), "{err}");
    assert!(err.contains("id-1"), "the client id is logged: {err}");
    assert!(!err.contains("TOPSECRET-123"), "the secret leaked: {err}");
}
