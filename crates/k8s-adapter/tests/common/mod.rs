//! Shared helpers of the integration tests: one emulator per test, clients without kube's
//! built-in retry, CRD installation and deadline polling.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use vlb_k8s_adapter::error::client_without_builtin_retry;
use vlb_k8s_adapter::manifests::{InstallOptions, Manifest, install_set};
use vlb_k8s_adapter::{RetryPolicy, crds};
use vlb_kube_emulator::KubeEmulator;

/// A client of `emu` built from its kubeconfig with kube's own retry layer off, so faults
/// reach the adapter.
pub async fn client(emu: &KubeEmulator) -> Client {
    let kubeconfig = Kubeconfig::read_from(emu.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    client_without_builtin_retry(config).unwrap()
}

/// Install options with short delays.
pub fn fast_install() -> InstallOptions {
    InstallOptions {
        retry: RetryPolicy::fast(),
        crd_timeout: Duration::from_secs(10),
        crd_poll: Duration::from_millis(20),
        ..InstallOptions::default()
    }
}

/// Installs the two CRDs (waiting until Established) with an admin client.
pub async fn install_crds(client: &Client) {
    let set = crds()
        .into_iter()
        .map(|c| Manifest::Crd(Box::new(c)))
        .collect();
    install_set(client, set, &fast_install()).await.unwrap();
}

/// Creates a namespace.
pub async fn namespace(client: &Client, name: &str) {
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Polls `cond` every 20 ms until it holds, failing after `deadline`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
