//! Ordered, idempotent install and uninstall of the operator's install set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use vlb_k8s_adapter::manifests::{ManifestOptions, install_set, manifests, uninstall_set};
use vlb_kube_emulator::{KubeEmulator, Verb};

fn position(entries: &[vlb_kube_emulator::JournalEntry], resource: &str) -> usize {
    entries
        .iter()
        .position(|e| e.verb == Verb::Patch && e.resource == resource)
        .unwrap_or_else(|| panic!("no apply of {resource}"))
}

#[tokio::test]
async fn install_applies_in_rank_order_and_a_second_install_changes_nothing() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    let opts = ManifestOptions::default();
    let report = install_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    assert_eq!(report.objects.len(), manifests(&opts).len());

    let entries = emu.journal().entries();
    let order: Vec<usize> = [
        "customresourcedefinitions",
        "namespaces",
        "serviceaccounts",
        "clusterroles",
        "clusterrolebindings",
        "configmaps",
        "deployments",
    ]
    .iter()
    .map(|r| position(&entries, r))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(
        entries
            .iter()
            .filter(|e| e.verb == Verb::Patch)
            .all(|e| e.content_type.as_deref() == Some("application/apply-patch+yaml"))
    );
    assert!(
        entries
            .iter()
            .filter(|e| e.content_type.as_deref() == Some("application/apply-patch+yaml"))
            .all(|e| e.verb == Verb::Patch),
        "apply content type only on PATCH"
    );
    // The CRDs were Established before the Namespace was applied.
    let first_ns = position(&entries, "namespaces");
    assert!(
        entries[..first_ns]
            .iter()
            .any(|e| e.verb == Verb::Get && e.resource == "customresourcedefinitions")
    );
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get("loadbalancerconfigs.vks.vngcloud.vn")
        .await
        .unwrap();
    assert!(
        crd.status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    emu.journal().clear();
    install_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    let changed: Vec<String> = emu
        .journal()
        .entries()
        .iter()
        .filter(|e| e.changed)
        .map(|e| format!("{:?} {}", e.verb, e.resource))
        .collect();
    assert!(changed.is_empty(), "second install changed {changed:?}");
}

#[tokio::test]
async fn uninstall_deletes_in_reverse_order_and_twice_succeeds() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    let opts = ManifestOptions::default();
    install_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    emu.journal().clear();

    let first = uninstall_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    assert!(first.already_gone.is_empty(), "{:?}", first.already_gone);
    let deletes: Vec<String> = emu
        .journal()
        .entries()
        .iter()
        .filter(|e| e.verb == Verb::Delete)
        .map(|e| e.resource.clone())
        .collect();
    assert_eq!(deletes.first().map(String::as_str), Some("deployments"));
    assert_eq!(
        deletes.last().map(String::as_str),
        Some("customresourcedefinitions")
    );
    let ns = deletes.iter().position(|r| r == "namespaces").unwrap();
    let sa = deletes.iter().position(|r| r == "serviceaccounts").unwrap();
    assert!(sa < ns);

    let second = uninstall_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    assert_eq!(second.objects.len(), first.objects.len());
    let deployments = Api::<Deployment>::namespaced(client.clone(), &opts.namespace);
    assert!(
        deployments
            .get_opt("vlb-controller")
            .await
            .unwrap()
            .is_none()
    );
    common::eventually("namespace gone", std::time::Duration::from_secs(10), || {
        let api = Api::<Namespace>::all(client.clone());
        async move {
            api.get_opt("vlb-system")
                .await
                .unwrap()
                .is_none_or(|n| n.metadata.deletion_timestamp.is_some())
        }
    })
    .await;
}

#[tokio::test]
async fn install_right_after_uninstall_succeeds() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    let opts = ManifestOptions::default();
    install_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    uninstall_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    install_set(&client, manifests(&opts), &common::fast_install())
        .await
        .unwrap();
    let deployments = Api::<Deployment>::namespaced(client, &opts.namespace);
    assert!(
        deployments
            .get_opt("vlb-controller")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn kubectl_applies_the_generated_yaml() {
    let emu = KubeEmulator::start().await.unwrap();
    let opts = ManifestOptions::default();
    let yaml = vlb_k8s_adapter::manifests::to_yaml(&manifests(&opts)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("install.yaml");
    std::fs::write(&file, yaml).unwrap();
    let kubeconfig = emu.kubeconfig_path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["apply", "--server-side", "--request-timeout=20s", "-f"])
            .arg(&file)
            .output()
            .expect("kubectl must be installed to run this test")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let client = common::client(&emu).await;
    let deployments = Api::<Deployment>::namespaced(client, &opts.namespace);
    assert!(
        deployments
            .get_opt("vlb-controller")
            .await
            .unwrap()
            .is_some()
    );
}
