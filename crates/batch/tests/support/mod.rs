//! Shared test support: an emulator per test, test CRDs, reflector stores, journal counts.

#![allow(
    dead_code,
    clippy::missing_panics_doc,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vlb_kube_emulator::{JournalEntry, KubeEmulator, Verb};

/// Namespace of every test object.
pub const NS: &str = "default";

/// A test custom resource with a status subresource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "batch.test.vlb.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    /// Size.
    pub size: i64,
    /// Color.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// Status of a [`Widget`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    /// Steps recorded, in order.
    #[serde(default)]
    pub steps: Vec<String>,
    /// The spec size a status mutator saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_size: Option<i64>,
}

/// A second test custom resource kind.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "batch.test.vlb.io",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus"
)]
pub struct GadgetSpec {
    /// Owner.
    pub owner: String,
}

/// Status of a [`Gadget`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct GadgetStatus {
    /// Ready.
    #[serde(default)]
    pub ready: bool,
}

/// Polls `check` every 10 ms until it returns `Some`, panicking after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh emulator with the Widget and Gadget CRDs established.
pub async fn emulator() -> KubeEmulator {
    let emu = KubeEmulator::start().await.expect("emulator starts");
    let client = emu.client();
    install_crd(&client, Widget::crd()).await;
    install_crd(&client, Gadget::crd()).await;
    emu
}

async fn install_crd(client: &Client, crd: CustomResourceDefinition) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    api.create(&PostParams::default(), &crd)
        .await
        .expect("CRD created");
    eventually("CRD established", Duration::from_secs(10), || {
        let api = api.clone();
        let name = name.clone();
        async move {
            let crd = api.get(&name).await.ok()?;
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        }
    })
    .await;
}

/// Creates a Widget of `size`.
pub async fn create_widget(client: &Client, name: &str, size: i64) -> Widget {
    let api: Api<Widget> = Api::namespaced(client.clone(), NS);
    api.create(
        &PostParams::default(),
        &Widget::new(name, WidgetSpec { size, color: None }),
    )
    .await
    .expect("widget created")
}

/// Creates a Gadget.
pub async fn create_gadget(client: &Client, name: &str, owner: &str) -> Gadget {
    let api: Api<Gadget> = Api::namespaced(client.clone(), NS);
    api.create(
        &PostParams::default(),
        &Gadget::new(
            name,
            GadgetSpec {
                owner: owner.to_owned(),
            },
        ),
    )
    .await
    .expect("gadget created")
}

/// Reads a Widget from the API.
pub async fn get_widget(client: &Client, name: &str) -> Widget {
    Api::<Widget>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .expect("widget read")
}

/// A reflector store of `K` in [`NS`], fed by a watcher task, synced.
pub async fn synced_store<K>(client: &Client) -> Store<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = watcher(
        Api::<K>::namespaced(client.clone(), NS),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .expect("store synced in time")
        .expect("store writer alive");
    reader
}

/// Waits until `store` holds `name` at `resource_version` or later.
pub async fn wait_in_store<K>(store: &Store<K>, name: &str, resource_version: &str)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let wanted: u64 = resource_version.parse().expect("numeric resourceVersion");
    eventually("object in the store", Duration::from_secs(10), || {
        let got = store
            .get(&ObjectRef::new(name).within(NS))
            .and_then(|o| o.meta().resource_version.clone())
            .and_then(|rv| rv.parse::<u64>().ok());
        async move { got.filter(|rv| *rv >= wanted).map(|_| ()) }
    })
    .await;
}

/// Requests a batcher could have sent (reads and writes of single objects): the reflector's
/// list and watch requests are left out.
pub fn is_object_call(e: &JournalEntry) -> bool {
    matches!(
        e.verb,
        Verb::Get | Verb::Patch | Verb::Update | Verb::Create
    )
}

/// GETs of `resource` `name`.
pub fn gets(emu: &KubeEmulator, resource: &str, name: &str) -> usize {
    emu.journal()
        .count(|e| e.verb == Verb::Get && e.resource == resource && e.name.as_deref() == Some(name))
}

/// PATCHes of `resource` `name` on `subresource` (`None`: the main resource).
pub fn patches(emu: &KubeEmulator, resource: &str, name: &str, subresource: Option<&str>) -> usize {
    emu.journal().count(|e| {
        e.verb == Verb::Patch
            && e.resource == resource
            && e.name.as_deref() == Some(name)
            && e.subresource.as_deref() == subresource
    })
}

/// A client of `emu` with kube's built-in retry layer (429/503/504) turned off, so that the
/// batcher's own [`RetryPolicy`](vlb_batch::RetryPolicy) is the only one retrying.
pub async fn client_without_retry(emu: &KubeEmulator) -> Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(emu.kubeconfig_path()).expect("kubeconfig readable");
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kubeconfig valid");
    config.default_retry = false;
    Client::try_from(config).expect("client")
}
