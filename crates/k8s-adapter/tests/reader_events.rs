//! Reads come from reflector stores (no API call per read); events are deduplicated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams};
use vlb_domain::model::{
    LoadBalancerConfigSpec, LoadBalancerScheme, ObjectKey, ObjectKind, ObjectRef,
};
use vlb_domain::ports::{ClusterReader, DesiredMeta, Event, EventSink, EventType, ObjectWriter};
use vlb_k8s_adapter::{
    KubeEventSink, KubeReader, KubeWriter, Reflectors, RetryPolicy, cluster_role,
};
use vlb_kube_emulator::{KubeEmulator, Verb};

#[tokio::test]
async fn reads_are_served_from_the_caches_without_api_calls() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    common::namespace(&client, "apps").await;
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let reflectors = Reflectors::start(&client);
    reflectors
        .wait_until_ready(Duration::from_secs(10))
        .await
        .unwrap();
    let reader = KubeReader::new(reflectors.stores.clone());
    let writer = KubeWriter::new(client.clone()).with_policy(RetryPolicy::fast());
    let spec = LoadBalancerConfigSpec {
        scheme: Some(LoadBalancerScheme::Internal),
        ..LoadBalancerConfigSpec::default()
    };
    let meta = DesiredMeta {
        key: ObjectKey::new("apps", "web"),
        labels: [("owner".to_owned(), "web".to_owned())].into(),
        finalizers: vec![],
    };
    writer.apply_lbc(&meta, &spec).await.unwrap();
    common::eventually("the LBC in the cache", Duration::from_secs(10), || {
        let reader = reader.clone();
        async move {
            reader
                .get_lbc(&ObjectKey::new("apps", "web"))
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;

    emu.journal().clear();
    for _ in 0..10 {
        let view = reader
            .get_lbc(&ObjectKey::new("apps", "web"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.spec, spec);
        assert_eq!(
            view.meta.labels.get("owner").map(String::as_str),
            Some("web")
        );
        assert!(!view.meta.uid.is_empty());
        assert_eq!(reader.list_lbcs().await.unwrap().len(), 1);
        assert!(
            reader
                .get_nsg(&ObjectKey::new("apps", "web"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(reader.list_nodes().await.unwrap().is_empty());
    }
    let calls = emu.journal().count(|e| e.verb != Verb::Watch);
    assert_eq!(calls, 0);
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn repeated_events_fold_into_one_series_and_new_messages_are_new_events() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::namespace(&client, "apps").await;
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let sink = KubeEventSink::new(client.clone(), Some("pod-1".into()));
    let target = ObjectRef {
        kind: ObjectKind::Service,
        key: ObjectKey::new("apps", "web"),
        uid: Some("uid-1".into()),
    };
    let failed = |m: &str| Event {
        event_type: EventType::Warning,
        reason: "SyncLoadBalancerFailed".into(),
        message: m.into(),
    };
    sink.publish(&target, &failed("quota exceeded")).await;
    sink.publish(&target, &failed("quota exceeded")).await;
    sink.publish(&target, &failed("quota exceeded")).await;
    sink.publish(&target, &failed("subnet not found")).await;

    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
    emu.set_authorizer_rules(None);
    let events = Api::<K8sEvent>::namespaced(client, "apps")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 2, "{events:#?}");
    let quota = events
        .iter()
        .find(|e| e.note.as_deref() == Some("quota exceeded"))
        .unwrap();
    assert_eq!(quota.series.as_ref().unwrap().count, 3);
    assert_eq!(quota.reason.as_deref(), Some("SyncLoadBalancerFailed"));
    assert_eq!(quota.type_.as_deref(), Some("Warning"));
    assert_eq!(
        quota.regarding.as_ref().unwrap().uid.as_deref(),
        Some("uid-1")
    );
    assert_eq!(emu.journal().count_verb(Verb::Create, "events"), 2);
}

#[tokio::test]
async fn a_refused_event_is_logged_not_returned() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    emu.set_authorizer_rules(Some(vec![]));
    let sink = KubeEventSink::new(client, None);
    let target = ObjectRef {
        kind: ObjectKind::LoadBalancerConfig,
        key: ObjectKey::new("apps", "web"),
        uid: None,
    };
    // Returns (no panic, no error) although the API refuses it.
    sink.publish(
        &target,
        &Event {
            event_type: EventType::Normal,
            reason: "EnsuringLoadBalancer".into(),
            message: "m".into(),
        },
    )
    .await;
    assert_eq!(
        emu.journal()
            .count(|e| e.resource == "events" && e.status == 403),
        1
    );
}

#[tokio::test]
async fn the_adapter_starts_synced_under_the_shipped_role() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let adapter = vlb_k8s_adapter::Adapter::start(&client, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(adapter.reader.list_lbcs().await.unwrap().is_empty());
    let report = adapter.batch().flush().await.unwrap();
    assert_eq!(report.requests(), 0);
    assert_eq!(emu.journal().count(|e| e.status == 403), 0);
}

#[tokio::test]
async fn the_caches_relist_after_410_gone() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    common::namespace(&client, "apps").await;
    emu.set_authorizer_rules(Some(cluster_role().rules.unwrap()));
    let reflectors = Reflectors::start(&client);
    reflectors
        .wait_until_ready(Duration::from_secs(10))
        .await
        .unwrap();
    let reader = KubeReader::new(reflectors.stores.clone());
    let writer = KubeWriter::new(client.clone()).with_policy(RetryPolicy::fast());
    let apply = |name: &'static str| {
        let writer = writer.clone();
        async move {
            let meta = DesiredMeta {
                key: ObjectKey::new("apps", name),
                ..DesiredMeta::default()
            };
            writer
                .apply_lbc(&meta, &LoadBalancerConfigSpec::default())
                .await
                .unwrap();
        }
    };
    apply("one").await;
    // Every resourceVersion so far becomes too old: open watches end with 410.
    emu.faults().compact();
    apply("two").await;
    common::eventually("both LBCs in the cache", Duration::from_secs(20), || {
        let reader = reader.clone();
        async move { reader.list_lbcs().await.unwrap().len() == 2 }
    })
    .await;
}

#[tokio::test]
async fn caches_keep_only_tls_secrets_and_drop_fields_never_read() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{ContainerImage, Node, NodeStatus, Secret, Service};
    use kube::api::PostParams;

    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    common::namespace(&client, "apps").await;
    let pp = PostParams::default();
    let mut node = Node::default();
    node.metadata.name = Some("n1".to_owned());
    node.metadata.annotations =
        Some([("node.alpha.kubernetes.io/ttl".to_owned(), "0".to_owned())].into());
    node.metadata.labels = Some([("zone".to_owned(), "a".to_owned())].into());
    node.status = Some(NodeStatus {
        images: Some(vec![ContainerImage {
            names: Some(vec!["registry.example/app:1".to_owned()]),
            size_bytes: Some(1 << 20),
        }]),
        ..NodeStatus::default()
    });
    Api::<Node>::all(client.clone())
        .create(&pp, &node)
        .await
        .unwrap();
    let mut svc = Service::default();
    svc.metadata.name = Some("web".to_owned());
    svc.spec = Some(k8s_openapi::api::core::v1::ServiceSpec {
        ports: Some(vec![k8s_openapi::api::core::v1::ServicePort {
            port: 80,
            ..Default::default()
        }]),
        ..Default::default()
    });
    svc.metadata.annotations = Some(
        [
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                "{}".to_owned(),
            ),
            ("vks.vngcloud.vn/scheme".to_owned(), "internal".to_owned()),
        ]
        .into(),
    );
    Api::<Service>::namespaced(client.clone(), "apps")
        .create(&pp, &svc)
        .await
        .unwrap();
    let secrets = Api::<Secret>::namespaced(client.clone(), "apps");
    for (name, type_) in [("cert", "kubernetes.io/tls"), ("other", "Opaque")] {
        let mut s = Secret::default();
        s.metadata.name = Some(name.to_owned());
        s.type_ = Some(type_.to_owned());
        s.data = Some(
            [
                ("tls.crt".to_owned(), ByteString(b"c".to_vec())),
                ("tls.key".to_owned(), ByteString(b"k".to_vec())),
            ]
            .into(),
        );
        secrets.create(&pp, &s).await.unwrap();
    }

    let reflectors = Reflectors::start(&client);
    reflectors
        .wait_until_ready(Duration::from_secs(10))
        .await
        .unwrap();
    let s = &reflectors.stores;
    let node = s
        .nodes
        .state()
        .into_iter()
        .find(|x| x.metadata.name.as_deref() == Some("n1"))
        .unwrap();
    assert!(
        node.status.as_ref().unwrap().images.is_none(),
        "images kept"
    );
    assert!(
        node.metadata
            .annotations
            .as_ref()
            .is_none_or(std::collections::BTreeMap::is_empty)
    );
    assert_eq!(node.metadata.labels.as_ref().unwrap()["zone"], "a");
    assert!(
        node.metadata
            .managed_fields
            .as_ref()
            .is_none_or(Vec::is_empty)
    );
    let svc = s
        .services
        .state()
        .into_iter()
        .find(|x| x.metadata.namespace.as_deref() == Some("apps"))
        .unwrap();
    let annotations = svc.metadata.annotations.clone().unwrap();
    assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    assert_eq!(annotations["vks.vngcloud.vn/scheme"], "internal");
    let cached: Vec<String> = s
        .secrets
        .state()
        .iter()
        .map(|x| x.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        cached,
        vec!["cert".to_owned()],
        "only TLS secrets are cached"
    );
    let reader = KubeReader::new(s.clone());
    assert!(
        reader
            .get_secret(&ObjectKey::new("apps", "cert"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        reader
            .get_secret(&ObjectKey::new("apps", "other"))
            .await
            .unwrap()
            .is_none()
    );
}
