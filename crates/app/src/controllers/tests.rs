use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::runtime::controller::Action;
use vlb_domain::model::{ObjectKey, ObjectKind, ObjectRef as DomainRef};
use vlb_domain::ports::{
    MockBatch, MockClock, MockClusterReader, MockEventSink, MockLoadBalancerApi, MockNetworkApi,
    MockObjectWriter,
};
use vlb_domain::usecase::{Config, Deps, SERVICE_FINALIZER};
use vlb_domain::{CloudError, ClusterError, DomainError};

use super::*;

/// Hands out the given mocks once, counts flushes, records finalizers dropped by the
/// engine.
struct TestWiring {
    deps: Mutex<Option<Deps>>,
    scopes: AtomicUsize,
    flushes: Arc<AtomicUsize>,
    flush_result: Result<(), ClusterError>,
    removed_finalizers: Mutex<Vec<(ObjectKey, String)>>,
}

impl TestWiring {
    fn new(writer: MockObjectWriter, reader: MockClusterReader, batch: MockBatch) -> Self {
        let deps = Deps {
            lb: Arc::new(MockLoadBalancerApi::new()),
            net: Arc::new(MockNetworkApi::new()),
            reader: Arc::new(reader),
            writer: Arc::new(writer),
            batch: Arc::new(batch),
            events: Arc::new(MockEventSink::new()),
            clock: Arc::new(MockClock::new()),
        };
        Self::with(deps)
    }

    fn with(deps: Deps) -> Self {
        Self {
            deps: Mutex::new(Some(deps)),
            scopes: AtomicUsize::new(0),
            flushes: Arc::new(AtomicUsize::new(0)),
            flush_result: Ok(()),
            removed_finalizers: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Wiring for TestWiring {
    async fn remove_finalizer(
        &self,
        target: &DomainRef,
        finalizer: &str,
    ) -> Result<(), ClusterError> {
        self.removed_finalizers
            .lock()
            .push((target.key.clone(), finalizer.to_owned()));
        Ok(())
    }

    fn scope(&self) -> Scope {
        self.scopes.fetch_add(1, Ordering::SeqCst);
        let deps = self
            .deps
            .lock()
            .take()
            .expect("one scope per test reconcile");
        let flushes = self.flushes.clone();
        let result = self.flush_result.clone();
        Scope {
            deps,
            flush: Box::new(move || {
                Box::pin(async move {
                    flushes.fetch_add(1, Ordering::SeqCst);
                    result
                })
            }),
        }
    }
}

fn svc_ref() -> DomainRef {
    DomainRef {
        kind: ObjectKind::Service,
        key: ObjectKey::new("ns", "web"),
        uid: Some("u".into()),
    }
}

fn client() -> kube::Client {
    let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

fn context(wiring: Arc<dyn Wiring>) -> Context {
    Context::new(
        client(),
        Config {
            cluster_id: "c1".into(),
            ..Config::default()
        },
        wiring,
        Metrics::new(),
        Settings {
            drift_check: Duration::from_secs(600),
            backoff: Backoff::default(),
        },
    )
}

#[tokio::test]
async fn batch_is_flushed_exactly_once_after_success() {
    let w = TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    );
    let r = with_scope(&w, |_deps| async { Ok::<_, DomainError>(7) }).await;
    assert_eq!(r.unwrap(), 7);
    assert_eq!(w.flushes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn batch_is_flushed_exactly_once_after_an_error_and_the_use_case_error_wins() {
    let mut w = TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    );
    w.flush_result = Err(ClusterError::Conflict("x".into()));
    let r: Result<(), _> = with_scope(&w, |_deps| async {
        Err(DomainError::from(CloudError::Busy("updating".into())))
    })
    .await;
    assert!(matches!(
        r,
        Err(ReconcileError::Domain(DomainError::Cloud(
            CloudError::Busy(_)
        )))
    ));
    assert_eq!(w.flushes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failed_flush_fails_the_reconcile() {
    let mut w = TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    );
    w.flush_result = Err(ClusterError::Server("503".into()));
    let r = with_scope(&w, |_deps| async { Ok::<_, DomainError>(()) }).await;
    assert!(matches!(
        r,
        Err(ReconcileError::Flush(ClusterError::Server(_)))
    ));
}

#[tokio::test]
async fn error_policy_follows_the_error_class_and_resets_on_success() {
    let w = Arc::new(TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    ));
    let ctx = context(w);
    let key = ObjectKey::new("ns", "web");
    let busy = ReconcileError::Domain(CloudError::Busy("updating".into()).into());
    assert_eq!(
        ctx.action(LBC, &key, Some(&busy)),
        Action::requeue(Duration::from_secs(5))
    );
    let limited = ReconcileError::Domain(
        CloudError::RateLimited {
            retry_after: Duration::from_secs(17),
        }
        .into(),
    );
    assert_eq!(
        ctx.action(LBC, &key, Some(&limited)),
        Action::requeue(Duration::from_secs(17))
    );
    let quota = ReconcileError::Domain(CloudError::QuotaExceeded("lb".into()).into());
    assert_eq!(
        ctx.action(LBC, &key, Some(&quota)),
        Action::requeue(Duration::from_secs(180))
    );
    let invalid = ReconcileError::Domain(DomainError::Invalid("bad annotation".into()));
    assert_eq!(
        ctx.action(SERVICE, &key, Some(&invalid)),
        Action::await_change()
    );
    let server = ReconcileError::Domain(CloudError::Server("500".into()).into());
    // Fourth failure of this LBC: 1 s doubled three times.
    assert_eq!(
        ctx.action(LBC, &key, Some(&server)),
        Action::requeue(Duration::from_secs(8))
    );
    assert_eq!(
        ctx.action(LBC, &key, None),
        Action::requeue(Duration::from_secs(600))
    );
    assert_eq!(
        ctx.action(LBC, &key, Some(&server)),
        Action::requeue(Duration::from_secs(1))
    );
}

fn service(type_: &str, finalizers: Option<Vec<String>>) -> k8s_openapi::api::core::v1::Service {
    k8s_openapi::api::core::v1::Service {
        metadata: kube::api::ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("u".into()),
            finalizers,
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
            type_: Some(type_.into()),
            ..Default::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn service_of_another_type_without_our_finalizer_costs_nothing() {
    let w = Arc::new(TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    ));
    let ctx = Arc::new(context(w.clone()));
    let action = reconcile_service(Arc::new(service("ClusterIP", None)), ctx)
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(w.scopes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn service_no_longer_ours_is_cleaned_up_and_loses_our_finalizer() {
    let mut writer = MockObjectWriter::new();
    writer.expect_delete_lbc().times(1).returning(|_| Ok(()));
    writer.expect_delete_nsg().times(1).returning(|_| Ok(()));
    let mut reader = MockClusterReader::new();
    reader.expect_get_lbc().returning(|_| Ok(None));
    let mut batch = MockBatch::new();
    batch
        .expect_queue_service_status()
        .times(1)
        .return_const(());
    let w = Arc::new(TestWiring::new(writer, reader, batch));
    let ctx = Arc::new(context(w.clone()));
    let svc = service("ClusterIP", Some(vec![SERVICE_FINALIZER.to_owned()]));
    let action = reconcile_service(Arc::new(svc), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(w.flushes.load(Ordering::SeqCst), 1);
    // The engine, not the use case, drops the finalizer.
    assert_eq!(
        *w.removed_finalizers.lock(),
        vec![(svc_ref().key, SERVICE_FINALIZER.to_owned())]
    );
    let text = ctx.metrics.encode().unwrap();
    assert!(
        text.contains(
            "controller_runtime_reconcile_total{controller=\"service\",result=\"success\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn lbcs_on_one_load_balancer_share_a_lock_key_whether_or_not_its_id_is_recorded() {
    let mut first = LoadBalancerConfigView::default();
    first.spec.load_balancer_name = "shared".into();
    first.status.load_balancer_id = Some("lb-1".into());
    let mut second = LoadBalancerConfigView::default();
    second.spec.load_balancer_name = "shared".into();
    let a = lock_keys(&first);
    let b = lock_keys(&second);
    assert!(a.iter().any(|k| b.contains(k)), "{a:?} / {b:?}");
    let mut other = LoadBalancerConfigView::default();
    other.spec.load_balancer_name = "other".into();
    let c = lock_keys(&other);
    assert!(!a.iter().any(|k| c.contains(k)));
}

#[tokio::test]
async fn ignored_service_gets_no_finalizer_and_costs_no_write() {
    // Only the use case's own reads may happen: a direct call, no finalizer helper
    // (which would need the API server here and add a finalizer).
    let w = Arc::new(TestWiring::new(
        MockObjectWriter::new(),
        MockClusterReader::new(),
        MockBatch::new(),
    ));
    let ctx = Arc::new(context(w.clone()));
    let mut svc = service("LoadBalancer", None);
    svc.metadata.annotations = Some(
        [("vks.vngcloud.vn/ignore".to_owned(), "true".to_owned())]
            .into_iter()
            .collect(),
    );
    let action = reconcile_service(Arc::new(svc), ctx).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(600)));
    assert_eq!(w.flushes.load(Ordering::SeqCst), 1);
}

fn lbc_object(generation: i64) -> LoadBalancerConfig {
    let spec = vlb_domain::model::LoadBalancerConfigSpec {
        load_balancer_name: "vks_c1_ns_web_abcde".into(),
        ..Default::default()
    };
    let mut o = LoadBalancerConfig::new("web", spec.into());
    o.metadata.namespace = Some("ns".into());
    o.metadata.uid = Some("u".into());
    o.metadata.generation = Some(generation);
    o.metadata.finalizers = Some(vec![vlb_domain::usecase::LBC_FINALIZER.to_owned()]);
    o.status = Some(
        vlb_domain::model::LoadBalancerConfigStatus {
            observed_generation: Some(1),
            ..Default::default()
        }
        .into(),
    );
    o
}

fn busy_cloud_deps(all: Vec<LoadBalancerConfigView>) -> Deps {
    let mut reader = MockClusterReader::new();
    reader.expect_list_lbcs().returning(move || Ok(all.clone()));
    let mut lb = MockLoadBalancerApi::new();
    lb.expect_find_load_balancer_by_name()
        .times(1)
        .returning(|_| Err(CloudError::Busy("is updating".into())));
    let mut events = MockEventSink::new();
    events.expect_publish().times(1).return_const(());
    let mut clock = MockClock::new();
    clock.expect_now().returning(jiff::Timestamp::now);
    let mut batch = MockBatch::new();
    batch.expect_queue_lbc_status().times(1).return_const(());
    Deps {
        lb: Arc::new(lb),
        net: Arc::new(MockNetworkApi::new()),
        reader: Arc::new(reader),
        writer: Arc::new(MockObjectWriter::new()),
        batch: Arc::new(batch),
        events: Arc::new(events),
        clock: Arc::new(clock),
    }
}

#[tokio::test]
async fn busy_load_balancer_fails_the_lbc_reconcile_with_a_short_requeue_and_one_flush() {
    let w = Arc::new(TestWiring::with(busy_cloud_deps(Vec::new())));
    let ctx = Arc::new(context(w.clone()));
    // The object already carries the finalizer: the helper goes straight to Apply.
    let (result, requeue) = reconcile_lbc(Arc::new(lbc_object(1)), ctx.clone()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ReconcileError::Domain(DomainError::Cloud(CloudError::Busy(_)))
        ),
        "{err}"
    );
    assert!(requeue.is_empty());
    assert_eq!(w.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(
        ctx.action(LBC, &ObjectKey::new("ns", "web"), Some(&err)),
        Action::requeue(Duration::from_secs(5))
    );
    assert!(ctx.locks.is_empty(), "the load balancer lock is released");
    let text = ctx.metrics.encode().unwrap();
    assert!(
        text.contains(
            "controller_runtime_reconcile_errors_total{controller=\"loadbalancerconfig\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn changed_lbc_requeues_the_lbcs_sharing_its_load_balancer_even_when_it_fails() {
    let mut other = lbc_view(&lbc_object(1));
    other.meta.key = ObjectKey::new("ns", "api");
    let mut unrelated = other.clone();
    unrelated.meta.key = ObjectKey::new("ns", "db");
    unrelated.spec.load_balancer_name = "another".into();
    let all = vec![lbc_view(&lbc_object(2)), other, unrelated];
    let w = Arc::new(TestWiring::with(busy_cloud_deps(all)));
    let ctx = Arc::new(context(w));
    let (result, requeue) = reconcile_lbc(Arc::new(lbc_object(2)), ctx).await;
    assert!(result.is_err());
    assert_eq!(requeue, vec![ObjectKey::new("ns", "api")]);
}
