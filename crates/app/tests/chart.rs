//! The Helm chart (charts/vlb-controller) renders, with real helm, exactly the objects
//! `vlb-controller manifests` prints for the same settings: both YAML streams are parsed and
//! compared object by object (kind, namespace, name), so any difference fails.
//!
//! helm comes from `VLB_HELM` (exported by scripts/test.d/20-helm.sh, which scripts/test
//! sources); when it is unset this test builds helm through the same script (idempotent: once
//! per machine). Set `VLB_BLESS_CHART=1` to rewrite charts/vlb-controller/crds/ from the
//! CRDs the code generates (after a CRD change), then review the diff.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

type Key = (String, String, String);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> PathBuf {
    root().join("charts/vlb-controller")
}

fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
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
    })
}

fn parse_stream(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn key(v: &Value) -> Key {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

fn by_key(objects: Vec<Value>) -> BTreeMap<Key, Value> {
    let mut map = BTreeMap::new();
    for o in objects {
        let k = key(&o);
        assert!(map.insert(k.clone(), o).is_none(), "{k:?} twice");
    }
    map
}

/// `helm template` of the chart in `namespace` with `--set` values, CRDs included.
fn render(namespace: &str, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut cmd = Command::new(helm());
    cmd.args(["template", "vlb"])
        .arg(chart())
        .args(["--namespace", namespace, "--include-crds"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("helm runs");
    if out.status.success() {
        Ok(parse_stream(&String::from_utf8(out.stdout).unwrap()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `vlb-controller manifests` with `args`.
fn manifests(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_vlb-controller"))
        .arg("manifests")
        .args(args)
        .env_remove("VLB_SHUTDOWN_TIMEOUT")
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_stream(&String::from_utf8(out.stdout).unwrap())
}

/// Every difference between the two sets, in words (empty: equal).
fn differences(chart: &BTreeMap<Key, Value>, code: &BTreeMap<Key, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in code {
        match chart.get(k) {
            None => out.push(format!(
                "{k:?}: printed by manifests, not rendered by the chart"
            )),
            Some(c) if c != v => out.push(format!(
                "{k:?} differs\n--- chart:\n{}\n--- manifests:\n{}",
                serde_yaml::to_string(c).unwrap(),
                serde_yaml::to_string(v).unwrap()
            )),
            Some(_) => {}
        }
    }
    for k in chart.keys().filter(|k| !code.contains_key(*k)) {
        out.push(format!(
            "{k:?}: rendered by the chart, not printed by manifests"
        ));
    }
    out
}

fn assert_same(chart: Vec<Value>, code: Vec<Value>) {
    let diff = differences(&by_key(chart), &by_key(code));
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

fn crds_from_code() -> Vec<Value> {
    manifests(&[])
        .into_iter()
        .filter(|v| key(v).0 == "CustomResourceDefinition")
        .collect()
}

#[test]
fn the_chart_crds_are_the_crds_the_code_generates() {
    let dir = chart().join("crds");
    if std::env::var_os("VLB_BLESS_CHART").is_some() {
        for crd in crds_from_code() {
            let name = key(&crd).2;
            let text = format!(
                "# Generated from crates/k8s-adapter/src/crd.rs (`vlb-controller manifests`);\n\
                 # rewrite with VLB_BLESS_CHART=1 cargo test -p vlb-app --test chart.\n{}",
                serde_yaml::to_string(&crd).unwrap()
            );
            std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        files.extend(parse_stream(
            &std::fs::read_to_string(entry.unwrap().path()).unwrap(),
        ));
    }
    assert_same(files, crds_from_code());
}

#[test]
fn the_chart_renders_the_manifests_for_the_default_settings() {
    let chart = render(
        "vlb-system",
        &[
            "clusterId=c1",
            "projectId=pro-1",
            "namespace.create=true",
            "podDisruptionBudget.enabled=false",
        ],
    )
    .unwrap();
    assert_same(
        chart,
        manifests(&["--cluster-id", "c1", "--project-id", "pro-1"]),
    );
}

#[test]
fn the_chart_renders_the_manifests_for_every_setting_both_take() {
    let chart = render(
        "team-lb",
        &[
            "clusterId=k8s-7",
            "projectId=pro-2",
            "namespace.create=true",
            "podDisruptionBudget.enabled=false",
            "image.repository=registry.example/vlb",
            "image.tag=9.9.9",
            "replicas=3",
            "credentials.secretName=my-creds",
            "endpoints.iam=https://iam.example/accounts-api",
            "endpoints.vlb=https://vlb.example/vlb-gateway",
            "endpoints.vserver=https://vserver.example/vserver-gateway",
            "settings.VLB_LOAD_BALANCER_CLASS=vngcloud.vn/vlb",
            "settings.VLB_CONCURRENCY=8",
            "shutdownTimeoutSeconds=95",
        ],
    )
    .unwrap();
    assert_same(
        chart,
        manifests(&[
            "--cluster-id",
            "k8s-7",
            "--project-id",
            "pro-2",
            "--namespace",
            "team-lb",
            "--image",
            "registry.example/vlb:9.9.9",
            "--replicas",
            "3",
            "--credentials-secret",
            "my-creds",
            "--set",
            "VLB_IAM_ENDPOINT=https://iam.example/accounts-api",
            "--set",
            "VLB_VLB_ENDPOINT=https://vlb.example/vlb-gateway",
            "--set",
            "VLB_VSERVER_ENDPOINT=https://vserver.example/vserver-gateway",
            "--set",
            "VLB_LOAD_BALANCER_CLASS=vngcloud.vn/vlb",
            "--set",
            "VLB_CONCURRENCY=8",
            "--shutdown-timeout",
            "95s",
        ]),
    );
}

#[test]
fn the_default_chart_adds_only_a_disruption_budget_and_leaves_the_namespace_to_helm() {
    let chart = by_key(render("vlb-system", &["clusterId=c1", "projectId=pro-1"]).unwrap());
    let mut code = by_key(manifests(&["--cluster-id", "c1", "--project-id", "pro-1"]));
    let ns = (
        "Namespace".to_owned(),
        String::new(),
        "vlb-system".to_owned(),
    );
    assert!(code.remove(&ns).is_some());
    let pdb_key = (
        "PodDisruptionBudget".to_owned(),
        "vlb-system".to_owned(),
        "vlb-controller".to_owned(),
    );
    let mut chart = chart;
    let pdb = chart.remove(&pdb_key).expect("a PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "vlb-controller"
    );
    let diff = differences(&chart, &code);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

#[test]
fn options_add_a_credentials_secret_and_a_network_policy() {
    let chart = by_key(
        render(
            "vlb-system",
            &[
                "clusterId=c1",
                "projectId=pro-1",
                "credentials.create=true",
                "credentials.clientId=id-1",
                "credentials.clientSecret=s3cr3t",
                "networkPolicy.enabled=true",
            ],
        )
        .unwrap(),
    );
    let ns = |kind: &str, name: &str| (kind.to_owned(), "vlb-system".to_owned(), name.to_owned());
    let secret = &chart[&ns("Secret", "vlb-cloud-credentials")];
    // base64 of "id-1" and "s3cr3t".
    assert_eq!(secret["data"]["client-id"], "aWQtMQ==");
    assert_eq!(secret["data"]["client-secret"], "czNjcjN0");
    let policy = &chart[&ns("NetworkPolicy", "vlb-controller")];
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], "metrics");
    let egress: Vec<&Value> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap())
        .map(|port| &port["port"])
        .collect();
    for port in [53, 443, 6443] {
        assert!(egress.iter().any(|p| **p == port), "egress to {port}");
    }
}

#[test]
fn the_chart_refuses_to_render_without_cluster_and_project_ids() {
    let err = render("vlb-system", &["projectId=pro-1"]).unwrap_err();
    assert!(err.contains("clusterId is required"), "{err}");
    let err = render("vlb-system", &["clusterId=c1"]).unwrap_err();
    assert!(err.contains("projectId is required"), "{err}");
    let err = render(
        "vlb-system",
        &["clusterId=c1", "projectId=p", "credentials.create=true"],
    )
    .unwrap_err();
    assert!(err.contains("credentials.clientId is required"), "{err}");
}

#[test]
fn any_difference_between_chart_and_manifests_is_reported() {
    let code = by_key(manifests(&["--cluster-id", "c1", "--project-id", "pro-1"]));
    let mut chart = code.clone();
    assert!(differences(&chart, &code).is_empty());
    let deployment = chart
        .iter_mut()
        .find(|(k, _)| k.0 == "Deployment")
        .unwrap()
        .1;
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = Value::from(41);
    assert_eq!(differences(&chart, &code).len(), 1);
    let extra = ("Secret".to_owned(), "vlb-system".to_owned(), "x".to_owned());
    chart.insert(extra, Value::Null);
    let first = code.keys().next().unwrap().clone();
    chart.remove(&first);
    assert_eq!(differences(&chart, &code).len(), 3);
}
