//! The real `kubectl` binary against the emulator. CI installs kubectl: a missing binary fails
//! these tests (it does not skip them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use vlb_kube_emulator::KubeEmulator;

use common::eventually;

const CRD: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
";

const CR: &str = r"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: default
spec:
  size: 3
";

struct Kubectl {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(kubeconfig: &Path) -> Self {
        Self {
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .env_remove("KUBECONFIG");
        c
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().expect("kubectl must be installed"))
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a long-running kubectl; its stdout lines arrive on the channel.
    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl must be installed");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }
}

async fn wait_line(rx: &mpsc::Receiver<String>, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        while let Ok(line) = rx.try_recv() {
            if line.contains(want) {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line containing {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn widgets(emu: &common::Server) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(emu.client(), "default", &ar)
}

differential! {
async fn kubectl_api_resources_lists_builtins_and_crds(emu) {
    let k = Kubectl::new(emu.kubeconfig_path());
    let crd = k.file("crd.yaml", CRD);
    k.ok(&["apply", "--server-side", "-f", &crd]).await;
    let out = k.ok(&["api-resources"]).await;
    for want in [
        "services",
        "endpointslices",
        "leases",
        "customresourcedefinitions",
        "widgets",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "{want} missing in\n{out}"
        );
    }
}
}

differential! {
async fn kubectl_server_side_apply_of_crd_then_custom_resource(emu) {
    let k = Kubectl::new(emu.kubeconfig_path());
    let crd = k.file("crd.yaml", CRD);
    let cr = k.file("cr.yaml", CR);
    let out = k.ok(&["apply", "--server-side", "-f", &crd]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = k.ok(&["apply", "--server-side", "-f", &cr]).await;
    assert!(
        out.contains("widget.example.com/w1 serverside-applied"),
        "{out}"
    );
    let w = widgets(&emu).get("w1").await.unwrap();
    assert_eq!(w.data["spec"]["size"], 3);
    // Printer columns of the CRD.
    let table = k.ok(&["get", "widgets"]).await;
    let mut lines = table.lines();
    assert_eq!(
        lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["NAME", "SIZE"]
    );
    assert_eq!(
        lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["w1", "3"]
    );
    // Re-applying a change updates the object.
    let cr2 = k.file("cr2.yaml", &CR.replace("size: 3", "size: 4"));
    k.ok(&["apply", "--server-side", "-f", &cr2]).await;
    let w = widgets(&emu).get("w1").await.unwrap();
    assert_eq!(w.data["spec"]["size"], 4);
    assert_eq!(w.metadata.generation, Some(2));
}
}

differential! {
async fn kubectl_get_prints_table_and_json(emu) {
    let k = Kubectl::new(emu.kubeconfig_path());
    let out = k.ok(&["get", "services"]).await;
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with("NAME"), "{out}");
    assert!(
        first.contains("CLUSTER-IP") && first.contains("PORT(S)"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("kubernetes")), "{out}");
    let out = k.ok(&["get", "service", "kubernetes", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "Service");
    assert_eq!(v["metadata"]["name"], "kubernetes");
    let out = k.ok(&["get", "namespaces", "-o", "name"]).await;
    assert!(out.contains("namespace/default"), "{out}");
    // The journal tells kubectl's calls from others by their User-Agent.
    let by_kubectl = emu.journal().count(|e| {
        e.resource == "services"
            && e.user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("kubectl/"))
    });
    assert_eq!(by_kubectl, 2);
}
}

differential! {
async fn kubectl_get_watch_sees_an_update(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w"}, "data": {"k": "one"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let k = Kubectl::new(emu.kubeconfig_path());
    let (mut child, rx) = k.spawn(&[
        "get",
        "configmap",
        "w",
        "-w",
        "--request-timeout=20s",
        "-o",
        "jsonpath={.data.k}{\"\\n\"}",
    ]);
    wait_line(&rx, "one").await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "two"}})),
    )
    .await
    .unwrap();
    wait_line(&rx, "two").await;
    let _ = child.kill();
    let _ = child.wait();
}
}

differential! {
async fn kubectl_patch_merge_json_and_strategic(emu) {
    let k = Kubectl::new(emu.kubeconfig_path());
    let svc = k.file(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  ports:\n  - name: http\n    port: 80\n",
    );
    k.ok(&["create", "-f", &svc]).await;
    k.ok(&[
        "patch",
        "service",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"m":"1"}}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "service",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/annotations","value":{"j":"2"}}]"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "service",
        "web",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"ports":[{"name":"https","port":443}]}}"#,
    ])
    .await;
    let out = k.ok(&["get", "service", "web", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["metadata"]["labels"]["m"], "1");
    assert_eq!(v["metadata"]["annotations"]["j"], "2");
    // kubectl validates strictly on the server: a misspelled field is an error.
    let typo = k.file(
        "typo.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selektor: {a: b}\n  ports:\n  - port: 80\n",
    );
    let out = k.run(&["apply", "--server-side", "-f", &typo]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to create typed patch object (default/web; /v1, Kind=Service): .spec.selektor: field not declared in schema"),
        "{err}"
    );
    let ports: Vec<&str> = v["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        ports.len(),
        2,
        "strategic merge keeps the http port: {ports:?}"
    );
    assert!(ports.contains(&"http") && ports.contains(&"https"));
}
}

differential! {
async fn kubectl_label_and_annotate(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let k = Kubectl::new(emu.kubeconfig_path());
    // kubectl's generators send protobuf bodies.
    k.ok(&["create", "configmap", "c", "--from-literal=a=b"])
        .await;
    k.ok(&["label", "configmap", "c", "team=lb"]).await;
    k.ok(&["annotate", "configmap", "c", "note=hello"]).await;
    let c = api.get("c").await.unwrap();
    assert_eq!(c.data.unwrap()["a"], "b");
    assert_eq!(c.metadata.labels.unwrap()["team"], "lb");
    assert_eq!(c.metadata.annotations.unwrap()["note"], "hello");
    let out = k
        .ok(&["get", "configmaps", "-l", "team=lb", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "configmap/c");
    k.ok(&["label", "configmap", "c", "team-"]).await;
    let c = api.get("c").await.unwrap();
    assert!(!c.metadata.labels.unwrap_or_default().contains_key("team"));
}
}

differential! {
async fn kubectl_wait_for_condition_is_satisfied_by_a_status_write(emu) {
    let k = Kubectl::new(emu.kubeconfig_path());
    let crd = k.file("crd.yaml", CRD);
    let cr = k.file("cr.yaml", CR);
    k.ok(&["apply", "--server-side", "-f", &crd]).await;
    k.ok(&["apply", "--server-side", "-f", &cr]).await;
    let (mut child, _rx) = k.spawn(&[
        "wait",
        "--for=condition=Ready",
        "widget/w1",
        "--timeout=25s",
    ]);
    let j = emu.journal();
    eventually(15, "kubectl wait watching", || {
        let j = j.clone();
        async move {
            (j.count(|e| e.resource == "widgets" && e.verb == vlb_kube_emulator::Verb::Watch) > 0)
                .then_some(())
        }
    })
    .await;
    widgets(&emu)
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await
        .unwrap();
    assert!(wait_exit(&mut child).await.success());
}
}

differential! {
async fn kubectl_delete_waits_for_a_finalizer_removed_by_another_client(emu) {
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let k = Kubectl::new(emu.kubeconfig_path());
    let (mut child, _rx) = k.spawn(&["delete", "configmap", "held", "--wait", "--timeout=25s"]);
    eventually(15, "deletionTimestamp set", || {
        let api = api.clone();
        async move {
            api.get("held")
                .await
                .ok()
                .and_then(|c| c.metadata.deletion_timestamp)
                .map(|_| ())
        }
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "kubectl still waits");
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(wait_exit(&mut child).await.success());
    assert!(api.get_opt("held").await.unwrap().is_none());
}
}

differential! {
async fn kubectl_with_a_wrong_token_is_unauthorized(emu) {
    let text = std::fs::read_to_string(emu.kubeconfig_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, text.replace(emu.token(), "not-the-token")).unwrap();
    let k = Kubectl::new(&path);
    let out = k.run(&["get", "pods"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("You must be logged in to the server"), "{err}");
    assert!(
        emu.journal().entries().is_empty(),
        "401s happen before routing"
    );
}
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_auth_can_i_follows_the_authorizer_rules() {
    let emu = KubeEmulator::start().await.unwrap();
    let rule: k8s_openapi::api::rbac::v1::PolicyRule = serde_json::from_value(
        json!({"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}),
    )
    .unwrap();
    emu.set_authorizer_rules(Some(vec![rule]));
    let k = Kubectl::new(emu.kubeconfig_path());
    assert_eq!(
        k.ok(&["auth", "can-i", "list", "services"]).await.trim(),
        "yes"
    );
    let out = k.run(&["auth", "can-i", "patch", "services"]).await;
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let out = k.run(&["get", "configmaps"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configmaps is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_generators_send_protobuf_the_emulator_decodes() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Service};
    let emu = KubeEmulator::start().await.unwrap();
    let k = Kubectl::new(emu.kubeconfig_path());
    k.ok(&["create", "namespace", "demo"]).await;
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "demo",
        "--image=nginx:1.27",
        "--port=8080",
        "--replicas=2",
    ])
    .await;
    k.ok(&[
        "create",
        "service",
        "loadbalancer",
        "web",
        "-n",
        "demo",
        "--tcp=80:8080",
    ])
    .await;
    let c = emu.client();
    Api::<Namespace>::all(c.clone()).get("demo").await.unwrap();
    let d = Api::<Deployment>::namespaced(c.clone(), "demo")
        .get("web")
        .await
        .unwrap();
    let spec = d.spec;
    assert_eq!(spec.replicas, Some(2));
    let container = &spec.template.spec.unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("nginx:1.27"));
    assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 8080);
    let s = Api::<Service>::namespaced(c, "demo")
        .get("web")
        .await
        .unwrap();
    let spec = s.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!((port.port, port.name.as_deref()), (80, Some("80-8080")));
    assert!(port.node_port.is_some());
    assert_eq!(spec.selector.unwrap()["app"], "web");
}
