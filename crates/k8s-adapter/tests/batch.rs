//! The domain's `Batch` over `vlb-batch`: queued domain mutators become one patch per
//! changed part at flush.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;

use vlb_domain::model::{IngressView, LoadBalancerConfigSpec, ObjectKey};
use vlb_domain::ports::{Batch, DesiredMeta, ObjectWriter};
use vlb_k8s_adapter::batch_port::batcher_for;
use vlb_k8s_adapter::{
    KubeBatch, KubeWriter, LoadBalancerConfig, Reflectors, RetryPolicy, cluster_role,
};
use vlb_kube_emulator::{KubeEmulator, Verb};

#[tokio::test]
async fn queued_status_changes_are_written_once_per_object_at_flush() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    common::namespace(&client, "apps").await;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "apps")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let key = ObjectKey::new("apps", "web");
    KubeWriter::new(client.clone())
        .with_policy(RetryPolicy::fast())
        .apply_lbc(
            &DesiredMeta {
                key: key.clone(),
                ..DesiredMeta::default()
            },
            &LoadBalancerConfigSpec::default(),
        )
        .await
        .unwrap();
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let reflectors = Reflectors::start(&client);
    reflectors
        .wait_until_ready(Duration::from_secs(10))
        .await
        .unwrap();
    let stores = reflectors.stores.clone();
    common::eventually("the LBC in the cache", Duration::from_secs(10), || {
        let lbcs = stores.lbcs.clone();
        async move { !lbcs.is_empty() }
    })
    .await;
    emu.journal().clear();

    let configured = batcher_for(client.clone(), &stores, vlb_batch::RetryPolicy::default());
    let batch = KubeBatch::new(configured.fresh());
    batch.queue_lbc_status(
        &key,
        Box::new(|s| {
            s.load_balancer_id = Some("lb-1".into());
            true
        }),
    );
    batch.queue_lbc_status(
        &key,
        Box::new(|s| {
            s.address = Some("203.0.113.7".into());
            true
        }),
    );
    batch.queue_service_status(
        &key,
        Box::new(|s| {
            s.ingress = vec![IngressView {
                ip: Some("203.0.113.7".into()),
                ..IngressView::default()
            }];
            true
        }),
    );
    batch.queue_lbc_spec(&key, Box::new(|_| false));
    batch.flush().await.unwrap();
    let journal = emu.journal();
    assert_eq!(journal.count(|e| e.status == 403), 0);
    assert_eq!(
        journal.count(|e| e.verb == Verb::Get),
        0,
        "read from the stores"
    );
    assert_eq!(
        journal.count(|e| e.verb == Verb::Patch && e.resource == "loadbalancerconfigs"),
        1
    );
    assert_eq!(
        journal.count(|e| e.verb == Verb::Patch && e.resource == "services"),
        1
    );

    let lbc = Api::<LoadBalancerConfig>::namespaced(client.clone(), "apps")
        .get("web")
        .await
        .unwrap();
    let status = lbc.status.unwrap();
    assert_eq!(status.load_balancer_id.as_deref(), Some("lb-1"));
    assert_eq!(status.address.as_deref(), Some("203.0.113.7"));
    let svc = Api::<Service>::namespaced(client, "apps")
        .get("web")
        .await
        .unwrap();
    let ingress = svc.status.unwrap().load_balancer.unwrap().ingress.unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("203.0.113.7"));
}
