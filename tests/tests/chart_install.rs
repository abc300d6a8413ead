//! The Helm chart (charts/vlb-controller) installed and uninstalled with real helm on a real
//! kube-apiserver (issue #21): `helm install` creates every object `helm template` renders
//! (CRDs included, Established), and `helm uninstall` leaves only what the README says stays:
//! the CRDs (Helm never deletes `crds/`) and the namespace.
//!
//! helm comes from `VLB_HELM` (scripts/test.d/20-helm.sh, sourced by scripts/test); when it is
//! unset the test builds it through the same script. The control plane comes from
//! `VLB_KUBE_APISERVER` / `VLB_ETCD` (scripts/test.d/10-control-plane.sh). No kubelet nor
//! controller manager runs, so no pod starts: the chart's objects are what is checked.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vlb_tests::ControlPlane;

const NAMESPACE: &str = "vlb-system";
const RELEASE: &str = "vlb";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("VLB_HELM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/test.d/20-helm.sh >&2 && printf %s "$VLB_HELM""#)
        .current_dir(root())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "building helm failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap())
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// Names (`kind/name`) of the objects of `file` that exist, as kubectl reports them.
fn existing(cp: &ControlPlane, file: &Path) -> Vec<String> {
    let out = ok(
        "kubectl get -f",
        kubectl(
            cp,
            &[
                "get",
                "-f",
                file.to_str().unwrap(),
                "--ignore-not-found",
                "-o",
                "name",
            ],
        ),
    );
    let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_and_uninstalls_on_a_real_apiserver_leaving_only_crds_and_namespace() {
    let cp = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("real control plane: {e}"));
    let helm = helm();
    let chart = root().join("charts/vlb-controller");
    let dir = tempfile_dir();
    let values = [
        "--set",
        "clusterId=k8s-chart",
        "--set",
        "projectId=pro-chart",
    ];
    let kubeconfig = cp.kubeconfig_path().to_str().unwrap().to_owned();

    // What the chart renders (without its CRDs) is what must exist after the install.
    let rendered = ok(
        "helm template",
        Command::new(&helm)
            .args(["template", RELEASE])
            .arg(&chart)
            .args(["--namespace", NAMESPACE])
            .args(values)
            .output()
            .expect("helm runs"),
    );
    let objects = dir.join("objects.yaml");
    std::fs::write(&objects, &rendered).unwrap();
    let expected =
        rendered.matches("\nkind: ").count() + usize::from(rendered.starts_with("kind: "));
    assert!(expected >= 6, "the chart renders too little:\n{rendered}");

    ok(
        "helm install",
        Command::new(&helm)
            .args(["install", RELEASE])
            .arg(&chart)
            .args(["--namespace", NAMESPACE, "--create-namespace"])
            .args(["--kubeconfig", &kubeconfig])
            .args(values)
            .output()
            .expect("helm runs"),
    );
    let installed = existing(&cp, &objects);
    assert_eq!(
        installed.len(),
        expected,
        "every rendered object exists after the install: {installed:?}"
    );
    let crds = chart.join("crds");
    for crd in [
        "loadbalancerconfigs.vks.vngcloud.vn",
        "nodesecuritygroups.vks.vngcloud.vn",
    ] {
        ok(
            "kubectl wait crd Established",
            kubectl(
                &cp,
                &[
                    "wait",
                    "--for=condition=Established",
                    "--timeout=60s",
                    &format!("crd/{crd}"),
                ],
            ),
        );
    }

    ok(
        "helm uninstall",
        Command::new(&helm)
            .args(["uninstall", RELEASE])
            .args(["--namespace", NAMESPACE, "--wait", "--timeout", "60s"])
            .args(["--kubeconfig", &kubeconfig])
            .output()
            .expect("helm runs"),
    );
    assert_eq!(
        existing(&cp, &objects),
        Vec::<String>::new(),
        "the release's objects are gone after the uninstall"
    );
    // What stays, as README says: the CRDs and the namespace; Helm's release record goes.
    assert_eq!(existing(&cp, &crds).len(), 2, "the CRDs stay");
    ok(
        "kubectl get namespace",
        kubectl(&cp, &["get", "namespace", NAMESPACE]),
    );
    let secrets = ok(
        "kubectl get secrets",
        kubectl(&cp, &["get", "secrets", "-n", NAMESPACE, "-o", "name"]),
    );
    assert!(
        !secrets.contains("sh.helm.release"),
        "helm's release record is gone: {secrets}"
    );
}

/// A fresh directory under the system's temporary directory, for this test's files.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vlb-chart-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
