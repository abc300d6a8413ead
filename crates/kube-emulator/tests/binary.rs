//! The `vlb-kube-emulator` binary: prints its address, writes a kubeconfig, serves kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_listening_line_and_writes_a_working_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vlb-kube-emulator"))
        .args(["--addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kc)
        .args(["--token", "t0ken"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(text.contains(&format!("server: https://{addr}")), "{text}");
    assert!(text.contains("token: t0ken"));
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .expect("kubectl must be installed");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );
}

#[test]
fn binary_enforces_a_cluster_role_given_with_rules() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let rules = dir.path().join("role.yaml");
    std::fs::write(
        &rules,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\nrules:\n- apiGroups: [\"\"]\n  resources: [namespaces]\n  verbs: [get]\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vlb-kube-emulator"))
        .args(["--addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kc)
        .arg("--rules")
        .arg(&rules)
        .args(["--user", "system:serviceaccount:vlb:operator"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://"), "{line}");
    let cache = tempfile::tempdir().unwrap();
    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .arg("--cache-dir")
            .arg(cache.path())
            .args(args)
            .output()
            .expect("kubectl must be installed")
    };
    let ok = kubectl(&["get", "namespace", "default", "-o", "name"]);
    let denied = kubectl(&["get", "services"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains(
            "User \"system:serviceaccount:vlb:operator\" cannot list resource \"services\""
        ),
        "{err}"
    );
}
