//! Bad input: every invalid annotation value gives a Warning Event and a `False` condition
//! naming it, nothing panics, and the last good load balancer is left untouched; the
//! annotation parser is fuzzed.

// Test helpers fail the test by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use vlb_domain::annotations::{self, ALL, PREFIX, keys};
use vlb_domain::model::condition::{self as cond, ConditionStatus};
use vlb_tests::{Harness, LOAD_BALANCERS, ann, lb_service};

/// Annotations as (suffix, value) pairs.
type Pairs = &'static [(&'static str, &'static str)];

/// One rejected value per annotation of the reference table, with the annotations the case
/// needs besides.
const BAD: &[(&str, &str, Pairs)] = &[
    (keys::LOAD_BALANCER_NAME, "bad name!", &[]),
    (keys::LOAD_BALANCER_ID, "0d9a1f", &[]),
    (keys::PACKAGE_ID, "two words", &[]),
    (keys::SCHEME, "public", &[]),
    (keys::TARGET_TYPE, "pod", &[]),
    (keys::IGNORE, "yes", &[]),
    (keys::ENABLE_LOAD_BALANCER, "no", &[]),
    (keys::TAGS, "team", &[]),
    (keys::SECURITY_GROUPS, "sg 1", &[]),
    (keys::TARGET_NODE_LABELS, "=web", &[]),
    (keys::ENABLE_AUTOSCALE, "1", &[]),
    (keys::PREFER_ZONE_ID, "two words", &[]),
    (keys::PREFER_SUBNET_ID, "net-123", &[]),
    (
        keys::PRIVATE_SUBNET_ID,
        "net-9",
        &[(keys::SCHEME, "InterVPC")],
    ),
    (
        keys::PRIVATE_ZONE_ID,
        "two words",
        &[(keys::SCHEME, "InterVPC")],
    ),
    (keys::IDLE_TIMEOUT_CLIENT, "0", &[]),
    (keys::IDLE_TIMEOUT_MEMBER, "abc", &[]),
    (keys::IDLE_TIMEOUT_CONNECTION, "4000", &[]),
    (keys::INBOUND_CIDRS, "10.0.0.0/33", &[]),
    (keys::HEALTHCHECK_PROTOCOL, "ICMP", &[]),
    (keys::HEALTHCHECK_PORT, "70000", &[]),
    (keys::HEALTHCHECK_PATH, "healthz", &[]),
    (keys::HEALTHCHECK_SUCCESS_CODES, "200-", &[]),
    (keys::HEALTHCHECK_METHOD, "PATCH", &[]),
    (keys::HEALTHCHECK_HTTP_VERSION, "2", &[]),
    (keys::HEALTHCHECK_DOMAIN, "bad_domain!", &[]),
    (keys::HEALTHCHECK_INTERVAL_SECONDS, "1", &[]),
    (keys::HEALTHCHECK_TIMEOUT_SECONDS, "1000", &[]),
    (keys::HEALTHY_THRESHOLD_COUNT, "11", &[]),
    (keys::UNHEALTHY_THRESHOLD_COUNT, "1", &[]),
    (keys::POOL_ALGORITHM, "RANDOM", &[]),
    (keys::ENABLE_PROXY_PROTOCOL, ",*", &[]),
];

fn annotations_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (ann(k), (*v).to_owned()))
        .collect()
}

#[test]
fn the_bad_value_table_covers_every_annotation_and_each_value_is_rejected() {
    let covered: BTreeSet<&str> = BAD.iter().map(|(k, _, _)| *k).collect();
    let all: BTreeSet<&str> = ALL.iter().copied().collect();
    assert_eq!(
        covered, all,
        "every annotation of the reference table has a bad value"
    );
    for (key, value, extra) in BAD {
        let mut a = annotations_of(extra);
        a.insert(ann(key), (*value).to_owned());
        let errors = annotations::parse(&a).expect_err(key).0;
        assert!(
            errors
                .iter()
                .any(|e| e.annotation == ann(key) && e.value == *value),
            "{key}={value:?} not named in {errors:?}"
        );
    }
}

vlb_tests::e2e! {
async fn every_invalid_annotation_value_gives_a_warning_and_a_false_condition_and_keeps_the_load_balancer()
 {
    let h = Harness::start("bad-annotations").await;
    h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
        .await;
    let good = h.wait_service_ready("web").await;
    h.wait_quiet().await;
    let lb_before = h.control().load_balancer(&good.id).unwrap();
    let before = h.cloud_counts();

    for (key, value, extra) in BAD {
        let name = ann(key);
        for (k, v) in *extra {
            h.annotate_service("web", &ann(k), Some(v)).await;
        }
        h.annotate_service("web", &name, Some(value)).await;

        let note = h.wait_warning_event("web", &[&name, value]).await;
        assert!(
            note.contains("accepted"),
            "the event says what is accepted: {note}"
        );
        let message = h
            .wait_lbc_condition(
                "web",
                cond::ANNOTATIONS_VALID,
                ConditionStatus::False,
                cond::REASON_INVALID_ANNOTATIONS,
            )
            .await;
        assert!(
            message.contains(&name),
            "{key}: condition names it: {message}"
        );
        let ready = h
            .wait_lbc_condition(
                "web",
                cond::READY,
                ConditionStatus::False,
                cond::REASON_INVALID_ANNOTATIONS,
            )
            .await;
        assert!(ready.contains(&name), "{key}: Ready names it: {ready}");

        // Back to the last good annotations: Ready again, same load balancer.
        h.annotate_service("web", &name, None).await;
        for (k, _) in *extra {
            h.annotate_service("web", &ann(k), None).await;
        }
        assert_eq!(h.wait_service_ready("web").await, good, "{key}");
    }
    h.wait_quiet().await;
    let cost = h.cloud_counts().since(&before);
    assert_eq!(
        cost.writes, 0,
        "the last good load balancer was changed: {:?}",
        cost.writes_by_route
    );
    assert_eq!(h.control().load_balancer(&good.id).unwrap(), lb_before);
    h.assert_converged_and_clean().await;
}
}

vlb_tests::e2e! {
async fn every_bad_annotation_of_a_service_is_reported_at_once() {
    let h = Harness::start("bad-all-at-once").await;
    h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
        .await;
    let good = h.wait_service_ready("web").await;
    let bad = [
        (keys::SCHEME, "public"),
        (keys::IDLE_TIMEOUT_CLIENT, "0"),
        (keys::POOL_ALGORITHM, "RANDOM"),
    ];
    let mut svc = h.services().get("web").await.unwrap();
    let annotations = svc.metadata.annotations.get_or_insert_default();
    for (k, v) in bad {
        annotations.insert(ann(k), v.to_owned());
    }
    let pp = kube::api::PostParams {
        field_manager: Some(vlb_tests::TEST_FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    h.services().replace("web", &pp, &svc).await.unwrap();
    let names: Vec<String> = bad.iter().map(|(k, _)| ann(k)).collect();
    let needles: Vec<&str> = names.iter().map(String::as_str).collect();
    h.wait_warning_event("web", &needles).await;
    let message = h
        .wait_lbc_condition(
            "web",
            cond::READY,
            ConditionStatus::False,
            cond::REASON_INVALID_ANNOTATIONS,
        )
        .await;
    for n in &names {
        assert!(message.contains(n.as_str()), "{n} missing in {message}");
    }
    assert_eq!(
        h.control().load_balancer(&good.id).unwrap().phase,
        vlb_tests::LbPhase::Active
    );
}
}

vlb_tests::e2e! {
async fn a_new_service_with_a_bad_annotation_gets_a_warning_and_no_load_balancer_and_others_still_converge()
 {
    let h = Harness::start("bad-new").await;
    let before = h.cloud_counts();
    h.create_service(&lb_service(
        "broken",
        &[("http", "TCP", 80)],
        &[(keys::HEALTHCHECK_PORT, "70000")],
    ))
    .await;
    h.wait_warning_event("broken", &[&ann(keys::HEALTHCHECK_PORT), "70000"])
        .await;
    // The operator did not panic: a good Service still converges.
    h.create_service(&lb_service("fine", &[("http", "TCP", 80)], &[]))
        .await;
    h.wait_service_ready("fine").await;
    h.wait_quiet().await;
    let cost = h.cloud_counts().since(&before);
    assert_eq!(
        cost.route("POST", LOAD_BALANCERS),
        1,
        "{:?}",
        cost.writes_by_route
    );
    h.assert_converged_and_clean().await;
}
}

/// Annotation names the fuzzer picks from: every real key, the Go controller's aliases,
/// near misses and foreign prefixes.
fn any_name() -> impl Strategy<Value = String> {
    let real = proptest::sample::select(ALL.to_vec()).prop_map(|k| format!("{PREFIX}{k}"));
    let aliases = proptest::sample::select(vec![
        "success-codes",
        "healthcheck-http-method",
        "healthcheck-http-domain-name",
        "load-balancer-nam",
        "",
    ])
    .prop_map(|k| format!("{PREFIX}{k}"));
    let other = "[a-z./-]{0,30}";
    prop_oneof![6 => real, 2 => aliases, 1 => other]
}

/// Values: anything, and things that look almost right.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[0-9]{0,7}",
        "-?[0-9]{1,12}",
        "[ ,=*/.a-zA-Z0-9_-]{0,40}",
        "([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,3}(, ?[0-9./]{0,18}){0,3}",
        "[a-z]{1,8}=[a-z]{0,8}(,[a-z=]{0,8}){0,4}",
        proptest::sample::select(vec![
            "true", "false", "TRUE", "Internal", "InterVPC", "ip", "*", "1.1", "PING-UDP",
            "200-299", "/", "lb-", "sub-", "secg-",
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_annotation_parser_never_panics_and_names_every_rejected_annotation(
        annotations in proptest::collection::btree_map(any_name(), any_value(), 0..12)
    ) {
        match annotations::parse(&annotations) {
            Ok(settings) => {
                prop_assert!(settings.idle_timeout_client >= 1);
                let timeout_given = annotations.contains_key(&ann(keys::HEALTHCHECK_TIMEOUT_SECONDS));
                let ordered = settings.healthcheck_timeout < settings.healthcheck_interval;
                prop_assert!(ordered || !timeout_given);
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for e in &errors.0 {
                    prop_assert!(
                        annotations.contains_key(&e.annotation),
                        "error names an annotation not given: {:?}", e
                    );
                    prop_assert!(!e.accepted.is_empty());
                    let text = errors.to_string();
                    prop_assert!(text.contains(&e.annotation));
                }
            }
        }
    }
}
