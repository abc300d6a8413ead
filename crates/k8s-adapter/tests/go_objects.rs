//! The objects the Go controller writes (fixtures under `tests/fixtures/go`, see its
//! README) are read, kept and written back field for field: decoding them into vlb's types
//! and encoding them again gives the same JSON (Go's `null`s aside, which the API server
//! prunes), so the Go controller can still read what vlb writes after a rollback; and vlb's
//! CRD schemas accept them unchanged (nothing pruned, nothing refused).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;
use vlb_domain::model::{PolicyCompareType, RuleDirection, RuleProtocol};
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup};
use vlb_kube_emulator::KubeEmulator;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/go/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `v` without its `null` members (the API server prunes them from non-nullable fields).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The fixture as vlb writes it back: Go's `null`s dropped, and an NSG's
/// `selectNodeLabels: null` (Go's nil map, no `omitempty`) as `{}`, which Go reads as the
/// same empty map (and which vlb's CRD schema defaults it to).
fn as_written(input: &Value) -> Value {
    let mut want = without_nulls(input);
    if want["kind"] == "NodeSecurityGroup"
        && let Some(spec) = want["spec"].as_object_mut()
    {
        spec.entry("selectNodeLabels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    want
}

/// Decodes `name` as `K`, encodes it again and compares spec and status with the fixture.
fn round_trip<K>(name: &str) -> K
where
    K: serde::de::DeserializeOwned + serde::Serialize,
{
    let input = fixture(name);
    let decoded: K = serde_json::from_value(input.clone()).unwrap();
    let output = serde_json::to_value(&decoded).unwrap();
    let want = as_written(&input);
    for part in ["spec", "status"] {
        assert_eq!(
            output[part], want[part],
            "{name}: {part} changed by a round trip"
        );
    }
    assert_eq!(output["metadata"], want["metadata"], "{name}: metadata");
    decoded
}

#[test]
fn go_service_lbc_round_trips_field_for_field() {
    let lbc: LoadBalancerConfig = round_trip("service_lbc.yaml");
    assert_eq!(
        lbc.spec.pools[0].name,
        "vks-k8s-3a5b2c-default-nginx-63147-TCP-80"
    );
    let status = lbc.status.unwrap();
    assert_eq!(status.created_pools[0].created_members.len(), 2);
}

#[test]
fn go_service_nsg_with_sdk_protocols_round_trips_field_for_field() {
    let nsg: NodeSecurityGroup = round_trip("service_nsg.yaml");
    let rules = &nsg.spec.managed_security_group.as_ref().unwrap().rules;
    let protocols: Vec<RuleProtocol> = rules.iter().map(|r| r.protocol).collect();
    assert_eq!(
        protocols,
        [
            RuleProtocol::Any,
            RuleProtocol::Any,
            RuleProtocol::Tcp,
            RuleProtocol::Icmp
        ]
    );
    assert_eq!(rules[0].direction, RuleDirection::Egress);
    assert!(nsg.spec.select_node_labels.is_empty(), "null is no labels");
}

#[test]
fn go_ingress_lbc_with_contains_rules_round_trips_field_for_field() {
    let lbc: LoadBalancerConfig = round_trip("ingress_lbc.yaml");
    let rule = &lbc.spec.listeners[0].policies[0].l7_rules[1];
    assert_eq!(rule.compare_type, PolicyCompareType::Contains);
    assert_eq!(lbc.spec.create_certificates[0].secret_name, "web-tls");
    assert!(lbc.status.unwrap().retiring_load_balancer.is_some());
}

/// Creates `body` through a dynamic client (no client-side types in the way), writes its
/// status, and returns what the API server then holds.
async fn store(client: &kube::Client, ar: &kube::api::ApiResource, body: &Value) -> Value {
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), "default", ar);
    let mut obj: DynamicObject = serde_json::from_value(body.clone()).unwrap();
    obj.metadata.finalizers = None;
    let name = obj.metadata.name.clone().unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
    let status = serde_json::json!({
        "apiVersion": body["apiVersion"], "kind": body["kind"], "status": body["status"],
    });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    serde_json::to_value(api.get(&name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn vlb_crds_accept_and_keep_every_field_the_go_controller_writes() {
    let emu = KubeEmulator::start().await.unwrap();
    let client = common::client(&emu).await;
    common::install_crds(&client).await;
    let lbc = kube::api::ApiResource::erase::<LoadBalancerConfig>(&());
    let nsg = kube::api::ApiResource::erase::<NodeSecurityGroup>(&());
    for (name, ar) in [
        ("service_lbc.yaml", &lbc),
        ("ingress_lbc.yaml", &lbc),
        ("service_nsg.yaml", &nsg),
    ] {
        let input = without_nulls(&fixture(name));
        let stored = store(&client, ar, &input).await;
        let want = as_written(&input);
        for part in ["spec", "status"] {
            assert_eq!(stored[part], want[part], "{name}: {part} as stored");
        }
        // And what is stored decodes into vlb's types.
        if stored["kind"] == "LoadBalancerConfig" {
            serde_json::from_value::<LoadBalancerConfig>(stored).unwrap();
        } else {
            serde_json::from_value::<NodeSecurityGroup>(stored).unwrap();
        }
    }
}

/// Go's `config/samples` have an empty `spec:` (YAML `null`): they decode, as objects to
/// report and leave alone, and a list holding them and a value vlb does not know decodes
/// too (one object never fails the list of the others), keeping the undecodable JSON as it
/// was when written back.
#[test]
fn go_samples_and_unknown_values_decode_as_undecodable_objects_not_list_failures() {
    let lbc: LoadBalancerConfig =
        serde_json::from_value(fixture("sample_loadbalancerconfig.yaml")).unwrap();
    assert_eq!(lbc.undecodable().unwrap().reason(), "spec is missing");
    let nsg: NodeSecurityGroup =
        serde_json::from_value(fixture("sample_nodesecuritygroup.yaml")).unwrap();
    assert!(nsg.undecodable().is_some());

    let mut odd = fixture("service_nsg.yaml");
    odd["spec"]["managedSecurityGroup"]["rules"][0]["protocol"] = "gre".into();
    odd["status"]["observedGeneration"] = "two".into();
    let list = serde_json::json!({
        "apiVersion": "vks.vngcloud.vn/v1alpha1", "kind": "NodeSecurityGroupList",
        "metadata": {}, "items": [odd, fixture("service_nsg.yaml")],
    });
    let list: kube::core::ObjectList<NodeSecurityGroup> = serde_json::from_value(list).unwrap();
    let reason = list.items[0].undecodable().unwrap().reason().to_owned();
    assert!(reason.contains("unknown variant `gre`"), "{reason}");
    assert!(
        !reason.contains("10.76.0.0"),
        "no body in the reason: {reason}"
    );
    assert!(
        list.items[0]
            .status
            .as_ref()
            .unwrap()
            .undecodable()
            .is_some()
    );
    assert!(list.items[1].undecodable().is_none());
    let back = serde_json::to_value(&list.items[0]).unwrap();
    assert_eq!(back["spec"], odd["spec"], "written back as read");
    assert_eq!(back["status"], odd["status"]);
}
