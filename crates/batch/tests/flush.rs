//! The batcher against the kube emulator: behaviours and exact call counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service, ServicePort, ServiceSpec};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{
    Gadget, NS, Widget, client_without_retry, create_gadget, create_widget, emulator, get_widget,
    gets, is_object_call, patches, synced_store, wait_in_store,
};
use vlb_batch::{BatchError, Batcher, ObjectOutcome, QueueKey, RequestKind, RetryPolicy};
use vlb_kube_emulator::{FaultRule, Verb};

const WIDGETS: &str = "widgets";

fn batcher(client: &Client) -> Batcher {
    Batcher::new(client.clone()).with_retry(RetryPolicy::fast())
}

/// A status mutator appending `step` to the widget's steps.
fn step(step: &'static str) -> impl FnMut(&mut Widget) -> bool + Send + 'static {
    move |w: &mut Widget| {
        w.status
            .get_or_insert_with(Default::default)
            .steps
            .push(step.to_owned());
        true
    }
}

fn steps(w: &Widget) -> Vec<String> {
    w.status
        .as_ref()
        .map(|s| s.steps.clone())
        .unwrap_or_default()
}

/// Patches a widget's spec from outside the batcher.
async fn patch_spec_out_of_band(client: &Client, name: &str, patch: serde_json::Value) -> Widget {
    Api::<Widget>::namespaced(client.clone(), NS)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("out-of-band patch")
}

#[tokio::test]
async fn single_status_mutation_lands_with_one_patch() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.journal().clear();

    let b = batcher(&client);
    b.status::<Widget>(Some(NS), "w", step("created"));
    let report = b.flush().await.expect("flush");

    // No store registered: one GET, one status PATCH.
    assert_eq!(gets(&emu, WIDGETS, "w"), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 1);
    assert_eq!(emu.journal().count(is_object_call), 2);
    let key = QueueKey::of::<Widget>(Some(NS), "w");
    let obj = report.object(&key).expect("object reported");
    assert_eq!(obj.outcome, ObjectOutcome::Patched);
    assert_eq!((obj.gets, obj.spec_patches, obj.status_patches), (1, 0, 1));
    assert_eq!(steps(&get_widget(&client, "w").await), vec!["created"]);
    assert!(b.pending().is_empty());
}

#[tokio::test]
async fn n_status_mutations_with_a_synced_store_cost_zero_get_and_one_patch() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let seen = Arc::clone(&seen);
        b.status::<Widget>(Some(NS), "w", move |w| {
            // Each mutator sees every earlier one's change.
            seen.lock().push(steps(w).len());
            w.status
                .get_or_insert_with(Default::default)
                .steps
                .push(format!("s{i}"));
            true
        });
    }
    assert_eq!(b.pending()[0].status_mutators, 10);
    let report = b.flush().await.expect("flush");

    // Exactly 0 GET + 1 PATCH, read from the emulator's journal.
    assert_eq!(emu.journal().count(is_object_call), 1);
    assert_eq!(gets(&emu, WIDGETS, "w"), 0);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 1);
    assert_eq!((report.gets(), report.patches()), (0, 1));
    assert!(report.objects[0].from_cache);
    let expected: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    assert_eq!(steps(&get_widget(&client, "w").await), expected);
    assert_eq!(*seen.lock(), (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn mutators_returning_false_send_nothing_and_keep_the_resource_version() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    // An empty queue costs nothing.
    let report = b.flush().await.expect("empty flush");
    assert_eq!(report.requests(), 0);
    // Mutators that change nothing cost nothing either.
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let calls = Arc::clone(&calls);
        b.status::<Widget>(Some(NS), "w", move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            false
        });
    }
    b.spec::<Widget>(Some(NS), "w", |_| false);
    let report = b.flush().await.expect("no-op flush");

    assert_eq!(calls.load(Ordering::SeqCst), 3, "every mutator ran");
    assert_eq!(report.requests(), 0);
    assert_eq!(report.objects[0].outcome, ObjectOutcome::Unchanged);
    assert_eq!(emu.journal().count(is_object_call), 0);
    assert!(b.pending().is_empty());
    assert_eq!(
        get_widget(&client, "w").await.resource_version(),
        created.resource_version()
    );
}

#[tokio::test]
async fn mutator_claiming_a_change_that_changes_nothing_sends_nothing() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    b.spec::<Widget>(Some(NS), "w", |w| {
        w.spec.size = 1; // already 1
        true
    });
    let report = b.flush().await.expect("flush");
    assert_eq!(report.requests(), 0);
    assert_eq!(emu.journal().count(is_object_call), 0);
}

#[tokio::test]
async fn missing_object_surfaces_not_found_and_stays_queued() {
    let emu = emulator().await;
    let client = emu.client();
    let b = batcher(&client);
    b.status::<Widget>(Some(NS), "ghost", step("never"));

    let err = b.flush().await.expect_err("object does not exist");
    assert!(err.is_not_found());
    assert!(err.all_not_found());
    let key = QueueKey::of::<Widget>(Some(NS), "ghost");
    assert!(matches!(
        err.error_for(&key),
        Some(BatchError::NotFound { .. })
    ));
    assert!(err.find(BatchError::is_not_found).is_some());
    // Unwrappable through the std error chain too.
    let source = std::error::Error::source(&err).expect("source");
    let inner = std::error::Error::source(source).expect("inner source");
    assert!(
        inner
            .downcast_ref::<BatchError>()
            .is_some_and(BatchError::is_not_found)
    );
    let pending = b.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key, key);
    assert_eq!(pending[0].status_mutators, 1);
    // 404 is not retried.
    assert_eq!(gets(&emu, WIDGETS, "ghost"), 1);
}

#[tokio::test]
async fn spec_only_mutation_patches_the_main_resource_and_clears_the_entry() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.journal().clear();

    let b = batcher(&client);
    b.spec::<Widget>(Some(NS), "w", |w| {
        w.spec.size = 3;
        w.labels_mut().insert("tier".into(), "gold".into());
        true
    });
    let report = b.flush().await.expect("flush");

    let w = get_widget(&client, "w").await;
    assert_eq!(w.spec.size, 3);
    assert_eq!(w.labels().get("tier").map(String::as_str), Some("gold"));
    assert!(b.pending().is_empty());
    assert_eq!(report.objects[0].spec_patches, 1);
    assert_eq!(report.objects[0].status_patches, 0);
    assert_eq!(patches(&emu, WIDGETS, "w", None), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 0);
}

#[tokio::test]
async fn status_mutator_sees_the_spec_written_before_it() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    // Queued status first: the spec is still written first.
    b.status::<Widget>(Some(NS), "w", |w| {
        let size = w.spec.size;
        w.status.get_or_insert_with(Default::default).seen_size = Some(size);
        true
    });
    b.spec::<Widget>(Some(NS), "w", |w| {
        w.spec.size = 5;
        true
    });
    let report = b.flush().await.expect("flush");

    let w = get_widget(&client, "w").await;
    assert_eq!(w.spec.size, 5);
    assert_eq!(w.status.and_then(|s| s.seen_size), Some(5));
    assert_eq!((report.gets(), report.patches()), (0, 2));
    let order: Vec<Option<String>> = emu
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.verb == Verb::Patch)
        .map(|e| e.subresource)
        .collect();
    assert_eq!(order, vec![None, Some("status".to_owned())]);
}

#[tokio::test]
async fn failed_spec_patch_skips_status_and_keeps_both_queued() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(422)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(1),
    );

    let b = batcher(&client);
    let status_runs = Arc::new(AtomicUsize::new(0));
    b.spec::<Widget>(Some(NS), "w", |w| {
        w.spec.size = 9;
        true
    });
    let runs = Arc::clone(&status_runs);
    b.status::<Widget>(Some(NS), "w", move |w| {
        runs.fetch_add(1, Ordering::SeqCst);
        let size = w.spec.size;
        w.status.get_or_insert_with(Default::default).seen_size = Some(size);
        true
    });

    let err = b.flush().await.expect_err("spec patch refused");
    assert!(matches!(
        err.errors().next(),
        Some(BatchError::Invalid { status: 422, .. })
    ));
    assert_eq!(status_runs.load(Ordering::SeqCst), 0, "status never tried");
    let pending = b.pending();
    assert_eq!(
        (pending[0].spec_mutators, pending[0].status_mutators),
        (1, 1)
    );
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 0);

    // The next flush writes both.
    b.flush().await.expect("second flush");
    let w = get_widget(&client, "w").await;
    assert_eq!(w.spec.size, 9);
    assert_eq!(w.status.and_then(|s| s.seen_size), Some(9));
    assert!(b.pending().is_empty());
}

#[tokio::test]
async fn one_failing_object_does_not_stop_the_others() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "present", 1).await;

    let b = batcher(&client);
    b.status::<Widget>(Some(NS), "absent", step("a"));
    b.status::<Widget>(Some(NS), "present", step("p"));
    let err = b.flush().await.expect_err("absent fails");

    assert_eq!(err.failures().len(), 1);
    assert!(err.is_not_found());
    assert_eq!(steps(&get_widget(&client, "present").await), vec!["p"]);
    let pending = b.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key.name, "absent");
    let report = err.report();
    assert_eq!(report.objects.len(), 2);
    assert_eq!(report.objects[1].outcome, ObjectOutcome::Patched);
}

#[tokio::test]
async fn second_flush_in_one_reconcile_sees_an_out_of_band_change() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;

    let b = batcher(&client).with_store(store);
    b.status::<Widget>(Some(NS), "w", step("first"));
    b.flush().await.expect("first flush");

    patch_spec_out_of_band(&client, "w", json!({"spec": {"size": 42}})).await;

    b.status::<Widget>(Some(NS), "w", |w| {
        let size = w.spec.size;
        w.status.get_or_insert_with(Default::default).seen_size = Some(size);
        true
    });
    b.flush().await.expect("second flush");

    let w = get_widget(&client, "w").await;
    let status = w.status.unwrap();
    assert_eq!(status.seen_size, Some(42));
    assert_eq!(status.steps, vec!["first"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_conflict_from_an_out_of_band_patch_is_resolved_by_rereading_and_rerunning() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    let runs = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&runs);
    let oob = client.clone();
    b.status::<Widget>(Some(NS), "w", move |w| {
        let first = seen.lock().is_empty();
        seen.lock().push(w.spec.color.clone());
        if first {
            // Another writer changes the object between our read and our patch.
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(patch_spec_out_of_band(
                    &oob,
                    "w",
                    json!({"spec": {"color": "red"}}),
                ))
            });
        }
        w.status
            .get_or_insert_with(Default::default)
            .steps
            .push("mine".into());
        true
    });
    let flusher = b.clone();
    let report = tokio::spawn(async move { flusher.flush().await })
        .await
        .expect("flush task")
        .expect("flush");

    // Exactly 1 GET + 2 status PATCH (the first refused with 409), besides the other
    // writer's own PATCH of the main resource.
    assert_eq!(gets(&emu, WIDGETS, "w"), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 2);
    assert_eq!(
        emu.journal().count(|e| e.verb == Verb::Patch
            && e.subresource.as_deref() == Some("status")
            && e.status == 409),
        1
    );
    assert_eq!(patches(&emu, WIDGETS, "w", None), 1, "the other writer");
    assert_eq!(emu.journal().count(is_object_call), 4);
    let obj = &report.objects[0];
    assert_eq!((obj.conflicts, obj.gets, obj.status_patches), (1, 1, 2));
    // The mutator re-ran on the re-read object, which carries the other writer's change.
    assert_eq!(*runs.lock(), vec![None, Some("red".to_owned())]);
    let w = get_widget(&client, "w").await;
    assert_eq!(w.spec.color.as_deref(), Some("red"));
    assert_eq!(steps(&w), vec!["mine"]);
}

#[tokio::test]
async fn one_conflict_costs_exactly_one_get_and_two_patches() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.faults().inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(1),
    );
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    for s in ["a", "b", "c"] {
        b.status::<Widget>(Some(NS), "w", step(s));
    }
    b.flush().await.expect("flush");

    assert_eq!(emu.journal().count(is_object_call), 3);
    assert_eq!(gets(&emu, WIDGETS, "w"), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 2);
    assert_eq!(steps(&get_widget(&client, "w").await), vec!["a", "b", "c"]);
}

#[tokio::test]
async fn conflicts_beyond_the_budget_give_conflict_exhausted_and_keep_the_entry() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(409)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(100),
    );
    let b = Batcher::new(client.clone()).with_retry(RetryPolicy {
        conflict_attempts: 3,
        ..RetryPolicy::fast()
    });
    b.status::<Widget>(Some(NS), "w", step("x"));
    let err = b.flush().await.expect_err("conflicts every time");
    assert!(matches!(
        err.errors().next(),
        Some(BatchError::ConflictExhausted { attempts: 3, .. })
    ));
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 3);
    assert_eq!(b.pending().len(), 1);
}

#[tokio::test]
async fn distinct_handles_of_one_object_coalesce_into_one_patch() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.journal().clear();

    let b = batcher(&client);
    let h1 = b.handle::<Widget>(Some(NS), "w");
    let h2 = b.handle::<Widget>(Some(NS), "w");
    h1.status(step("one"));
    h2.status(step("two"));
    h1.status(step("three"));
    assert_eq!(b.pending().len(), 1);
    b.flush().await.expect("flush");

    assert_eq!(gets(&emu, WIDGETS, "w"), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 1);
    assert_eq!(
        steps(&get_widget(&client, "w").await),
        vec!["one", "two", "three"]
    );
}

#[tokio::test]
async fn two_custom_resource_kinds_flush_together() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "same", 1).await;
    create_gadget(&client, "same", "me").await;

    let b = batcher(&client);
    b.status::<Widget>(Some(NS), "same", step("widget"));
    b.status::<Gadget>(Some(NS), "same", |g| {
        g.status.get_or_insert_with(Default::default).ready = true;
        true
    });
    assert_eq!(b.pending().len(), 2, "same name, two kinds: two entries");
    let report = b.flush().await.expect("flush");

    assert_eq!(report.objects.len(), 2);
    assert_eq!(steps(&get_widget(&client, "same").await), vec!["widget"]);
    let g = Api::<Gadget>::namespaced(client.clone(), NS)
        .get("same")
        .await
        .unwrap();
    assert!(g.status.unwrap().ready);
    assert_eq!(patches(&emu, "gadgets", "same", Some("status")), 1);
    assert_eq!(patches(&emu, WIDGETS, "same", Some("status")), 1);
}

#[tokio::test]
async fn rate_limited_and_unavailable_patches_are_retried() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    for (status, times) in [(429, 1), (503, 2), (500, 1)] {
        emu.faults().inject(
            FaultRule::new(status)
                .verb(Verb::Patch)
                .resource(WIDGETS)
                .name("w")
                .retry_after(1)
                .times(times),
        );
    }

    // kube's own retry layer is off: the batcher's policy does the retrying (and counts it).
    let b = Batcher::new(client_without_retry(&emu).await).with_retry(RetryPolicy::fast());
    b.status::<Widget>(Some(NS), "w", step("through"));
    let report = b.flush().await.expect("retried to success");

    assert_eq!(report.objects[0].transient_retries, 4);
    assert_eq!(report.objects[0].status_patches, 5);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 5);
    assert_eq!(steps(&get_widget(&client, "w").await), vec!["through"]);
}

#[tokio::test]
async fn transient_failures_beyond_the_budget_surface_typed_and_stay_queued() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(503)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(100),
    );
    let b = Batcher::new(client_without_retry(&emu).await).with_retry(RetryPolicy {
        transient_retries: 2,
        ..RetryPolicy::fast()
    });
    b.status::<Widget>(Some(NS), "w", step("x"));
    let err = b.flush().await.expect_err("still unavailable");
    let e = err.errors().next().unwrap();
    assert!(matches!(e, BatchError::Server { status: 503, .. }), "{e}");
    assert_eq!(e.retry(), vlb_batch::RetryHint::Backoff);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 3);
    assert_eq!(b.pending().len(), 1);
}

#[tokio::test]
async fn retry_after_of_a_rate_limit_is_honoured() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(429)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .retry_after(1)
            .times(1),
    );
    let b = Batcher::new(client_without_retry(&emu).await).with_retry(RetryPolicy {
        max_retry_after: Duration::from_secs(5),
        ..RetryPolicy::fast()
    });
    b.status::<Widget>(Some(NS), "w", step("late"));
    let start = Instant::now();
    b.flush().await.expect("flush");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(steps(&get_widget(&client, "w").await), vec!["late"]);
}

#[tokio::test]
async fn forbidden_patch_is_not_retried_and_stays_queued() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(403)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(1),
    );

    let b = Batcher::new(client_without_retry(&emu).await).with_retry(RetryPolicy::fast());
    b.status::<Widget>(Some(NS), "w", step("x"));
    let err = b.flush().await.expect_err("forbidden");
    let e = err.errors().next().unwrap();
    assert!(matches!(e, BatchError::Forbidden { .. }));
    assert_eq!(e.retry(), vlb_batch::RetryHint::Never);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 1);
    assert_eq!(err.report().objects[0].transient_retries, 0);
    assert_eq!(b.pending().len(), 1);
}

#[tokio::test]
async fn service_status_is_written_through_the_status_subresource() {
    let emu = emulator().await;
    let client = emu.client();
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    let svc = Service {
        metadata: kube::api::ObjectMeta {
            name: Some("web".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ports: Some(vec![ServicePort {
                port: 80,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service created");
    emu.journal().clear();

    let b = batcher(&client);
    b.status::<Service>(Some(NS), "web", |svc| {
        svc.status
            .get_or_insert_with(Default::default)
            .load_balancer
            .get_or_insert_with(Default::default)
            .ingress = Some(vec![LoadBalancerIngress {
            ip: Some("203.0.113.7".into()),
            ..Default::default()
        }]);
        true
    });
    b.spec::<Service>(Some(NS), "web", |svc| {
        svc.annotations_mut()
            .insert("vlb.vngcloud.vn/id".into(), "lb-1".into());
        true
    });
    b.flush().await.expect("flush");

    let svc = services.get("web").await.unwrap();
    let ip = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .and_then(|i| i.into_iter().next())
        .and_then(|i| i.ip);
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(
        svc.metadata
            .annotations
            .unwrap_or_default()
            .get("vlb.vngcloud.vn/id")
            .map(String::as_str),
        Some("lb-1")
    );
    assert_eq!(patches(&emu, "services", "web", Some("status")), 1);
    assert_eq!(patches(&emu, "services", "web", None), 1);
}

#[tokio::test]
async fn observer_sees_every_request() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let b = batcher(&client).with_observer(move |e| {
        sink.lock().push((e.key.name.clone(), e.kind, e.status));
    });
    b.status::<Widget>(Some(NS), "w", step("x"));
    b.flush().await.expect("flush");
    assert_eq!(
        *events.lock(),
        vec![
            ("w".to_owned(), RequestKind::Get, Some(200)),
            ("w".to_owned(), RequestKind::PatchStatus, Some(200)),
        ]
    );
}

#[tokio::test]
async fn back_to_back_flushes_use_the_batchers_own_last_write_without_a_get() {
    let emu = emulator().await;
    let client = emu.client();
    let created = create_widget(&client, "w", 1).await;
    let store = synced_store::<Widget>(&client).await;
    wait_in_store(&store, "w", &created.resource_version().unwrap()).await;
    emu.journal().clear();

    let b = batcher(&client).with_store(store);
    for s in ["one", "two", "three"] {
        // The store may or may not have seen the previous write yet: either way the freshest
        // copy is used, so no conflict and no GET.
        b.status::<Widget>(Some(NS), "w", step(s));
        let report = b.flush().await.expect("flush");
        assert_eq!((report.gets(), report.conflicts()), (0, 0), "{s}");
    }
    assert_eq!(gets(&emu, WIDGETS, "w"), 0);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 3);
    assert_eq!(
        steps(&get_widget(&client, "w").await),
        vec!["one", "two", "three"]
    );
}

#[tokio::test]
async fn object_missing_from_the_store_is_read_from_the_api() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    // A store nobody feeds: it never holds the object.
    let (empty, _writer) = kube::runtime::reflector::store::<Widget>();
    emu.journal().clear();

    let b = batcher(&client).with_store(empty);
    b.status::<Widget>(Some(NS), "w", step("x"));
    let report = b.flush().await.expect("flush");
    assert!(!report.objects[0].from_cache);
    assert_eq!(gets(&emu, WIDGETS, "w"), 1);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 1);
}

#[tokio::test]
async fn default_kube_client_retries_rate_limits_underneath_the_batcher() {
    let emu = emulator().await;
    let client = emu.client();
    create_widget(&client, "w", 1).await;
    emu.faults().inject(
        FaultRule::new(503)
            .verb(Verb::Patch)
            .resource(WIDGETS)
            .name("w")
            .times(1),
    );
    // kube's default retry layer (on in kube 5) resends the request before the batcher sees
    // an answer: the flush succeeds, the batcher counts one request, the server saw two.
    let b = batcher(&client);
    b.status::<Widget>(Some(NS), "w", step("x"));
    let report = b.flush().await.expect("flush");
    assert_eq!(report.objects[0].status_patches, 1);
    assert_eq!(report.objects[0].transient_retries, 0);
    assert_eq!(patches(&emu, WIDGETS, "w", Some("status")), 2);
}
