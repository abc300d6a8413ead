//! Every port method, each call preceded by a one-shot fault on whatever path it uses
//! (503, dropped connection, 429), and every change sent while the previous one still keeps
//! the load balancer busy: each call still succeeds.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::many_single_char_names,
    clippy::assigning_clones
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use vlb_cloud_adapter::VngCloudClient;
use vlb_domain::model::{
    CertificateRequest, EtherType, L7Policy, L7Rule, ListenerProtocol, LoadBalancerType,
    PolicyAction, PolicyCompareType, PolicyRuleType, PoolProtocol, RuleDirection, RuleProtocol,
    SecurityGroupRule,
};
use vlb_domain::ports::{LoadBalancerApi, NetworkApi};
use vlb_vngcloud_emulator::{Control, Fault, FaultKind};

/// Arms a fault on the next call, whatever its path.
fn arm(c: &Control, kind: FaultKind) {
    c.clear_faults();
    c.add_fault(Fault {
        method: None,
        template: None,
        kind,
        times: 1,
    });
}

async fn run_every_method(client: &VngCloudClient, c: &Control, kind: FaultKind, tag: &str) {
    let a = || arm(c, kind);
    let mut req = lb_request(&format!("alb-{tag}"));
    req.lb_type = LoadBalancerType::Layer7;
    req.package_id = Some(ALB_SMALL.to_owned());
    let mut l = tcp_listener("http-80", 80);
    l.protocol = ListenerProtocol::Http;
    req.listener = Some(l.clone());
    let mut p = tcp_pool("web", vec![member("10.76.0.11", 30080)]);
    p.protocol = PoolProtocol::Http;
    req.pool = Some(p.clone());
    a();
    let id = client.create_load_balancer(&req).await.unwrap();
    a();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    a();
    client.get_load_balancer(&id).await.unwrap();
    a();
    assert!(
        client
            .find_load_balancer_by_name(&req.name)
            .await
            .unwrap()
            .is_some()
    );
    a();
    client
        .list_load_balancers_by_tag("vks-cluster", "c1")
        .await
        .unwrap();
    a();
    let pools = client.list_pools(&id).await.unwrap();
    let pool_id = pools[0].id.clone();
    a();
    client.get_health_monitor(&id, &pool_id).await.unwrap();
    a();
    client
        .put_members(&id, &pool_id, &[member("10.76.0.12", 30080)])
        .await
        .unwrap();
    a();
    assert_eq!(client.get_members(&id, &pool_id).await.unwrap().len(), 1);
    a();
    client.update_pool(&id, &pool_id, &p).await.unwrap();
    p.name = "api".to_owned();
    a();
    let pool2 = client.create_pool(&id, &p).await.unwrap();
    let mut l2 = l.clone();
    l2.name = "http-81".to_owned();
    l2.port = 81;
    l2.default_pool_id = Some(pool2.clone());
    a();
    let lis2 = client.create_listener(&id, &l2).await.unwrap();
    a();
    let listeners = client.list_listeners(&id).await.unwrap();
    assert_eq!(listeners.len(), 2);
    l2.timeout_member = 40;
    a();
    client.update_listener(&id, &lis2, &l2).await.unwrap();
    let policy = L7Policy {
        id: String::new(),
        name: "p1".to_owned(),
        action: PolicyAction::Reject,
        redirect_pool_id: None,
        redirect_url: None,
        redirect_http_code: None,
        keep_query_string: false,
        position: 0,
        rules: vec![L7Rule {
            compare_type: PolicyCompareType::StartsWith,
            rule_value: "/admin".to_owned(),
            rule_type: PolicyRuleType::Path,
        }],
    };
    a();
    let pol = client.create_policy(&id, &lis2, &policy).await.unwrap();
    a();
    let mut got = client.list_policies(&id, &lis2).await.unwrap().remove(0);
    got.rules[0].rule_value = "/private".to_owned();
    a();
    client.update_policy(&id, &lis2, &got).await.unwrap();
    a();
    client.delete_policy(&id, &lis2, &pol).await.unwrap();
    a();
    client.delete_listener(&id, &lis2).await.unwrap();
    a();
    client.delete_pool(&id, &pool2).await.unwrap();
    a();
    let mut tags = client.get_tags(&id).await.unwrap();
    tags.insert("k".to_owned(), tag.to_owned());
    a();
    client.put_tags(&id, &tags).await.unwrap();
    a();
    let cert = client
        .create_certificate(&CertificateRequest {
            name: format!("ca-{tag}"),
            certificate_type: "CA".to_owned(),
            certificate: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----".to_owned(),
            private_key: None,
        })
        .await
        .unwrap();
    a();
    assert!(!client.list_certificates().await.unwrap().is_empty());
    a();
    client.delete_certificate(&cert).await.unwrap();
    a();
    client.delete_load_balancer(&id).await.unwrap();

    // Network.
    a();
    let server = client.get_server(SERVER_1).await.unwrap();
    let iface = server.internal_interface().unwrap().clone();
    a();
    client
        .get_subnet(&iface.network_id, &iface.subnet_id)
        .await
        .unwrap();
    a();
    let g = client
        .create_security_group(&format!("sg-{tag}"), "d")
        .await
        .unwrap();
    a();
    assert!(
        client
            .find_security_group_by_name(&g.name)
            .await
            .unwrap()
            .is_some()
    );
    let rule = SecurityGroupRule {
        id: String::new(),
        direction: RuleDirection::Ingress,
        ether_type: EtherType::IPv4,
        protocol: RuleProtocol::Udp,
        port_range_min: 53,
        port_range_max: 53,
        remote_ip_prefix: "0.0.0.0/0".to_owned(),
        description: String::new(),
    };
    a();
    let r = client
        .create_security_group_rule(&g.id, &rule)
        .await
        .unwrap();
    a();
    assert_eq!(
        client.get_security_group(&g.id).await.unwrap().rules.len(),
        1
    );
    let mut groups = server.security_groups.clone();
    groups.push(g.id.clone());
    a();
    client
        .set_server_security_groups(SERVER_1, &groups)
        .await
        .unwrap();
    a();
    client
        .set_server_security_groups(SERVER_1, &server.security_groups)
        .await
        .unwrap();
    a();
    client.delete_security_group_rule(&g.id, &r).await.unwrap();
    a();
    client.delete_security_group(&g.id).await.unwrap();
    c.clear_faults();
}

#[tokio::test]
async fn every_method_survives_a_server_error_before_it() {
    let (emu, client) = start().await;
    let c = emu.control();
    run_every_method(&client, &c, FaultKind::Status { status: 503 }, "s503").await;
    let failed: u64 = c.counters().values().filter_map(|s| s.get(&503)).sum();
    assert!(failed >= 36, "{failed} injected 503s");
    // The create's 503 hid nothing: it was sent again once, and only once applied.
    let lbs = lb_t("loadBalancers");
    assert_eq!(c.count_status("POST", &lbs, 202), 1);
}

#[tokio::test]
async fn every_method_survives_a_dropped_connection_before_it() {
    let (emu, client) = start().await;
    let c = emu.control();
    run_every_method(&client, &c, FaultKind::Drop, "drop").await;
    let dropped: u64 = c.counters().values().filter_map(|s| s.get(&0)).sum();
    assert!(dropped >= 36, "{dropped} dropped");
}

#[tokio::test]
async fn every_method_survives_a_429_before_it() {
    let (emu, _) = start().await;
    // The injected 429 carries no Retry-After (1 s assumed): clamp it down to keep the test
    // short, as the configurable bounds allow.
    let mut cfg = config_for(&emu);
    cfg.retry.rate_limit_max = std::time::Duration::from_millis(100);
    let client = VngCloudClient::new(cfg).unwrap();
    let c = emu.control();
    run_every_method(&client, &c, FaultKind::Status { status: 429 }, "r429").await;
    let limited: u64 = c.counters().values().filter_map(|s| s.get(&429)).sum();
    assert!(limited >= 36, "{limited} 429s");
}

/// Counts of 400 (busy) answers by route.
fn busy_refusals(c: &Control) -> BTreeMap<String, u64> {
    c.counters()
        .into_iter()
        .filter_map(|(k, s)| s.get(&400).map(|n| (k, *n)))
        .collect()
}

/// Creates a load balancer and sends every kind of change to it back to back, alternating
/// between `clients` (index `i % len`); returns the load balancer id.
async fn change_everything(clients: &[&VngCloudClient], name: &str) -> String {
    let at = |i: usize| clients[i % clients.len()];
    let id = at(0).create_load_balancer(&lb_request(name)).await.unwrap();
    let pool = at(1)
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 1)]))
        .await
        .unwrap();
    at(2)
        .put_members(&id, &pool, &[member("10.76.0.12", 2)])
        .await
        .unwrap();
    at(3)
        .update_pool(&id, &pool, &tcp_pool("api", vec![]))
        .await
        .unwrap();
    let mut l = tcp_listener("tcp-81", 81);
    l.default_pool_id = Some(pool.clone());
    let lis = at(4).create_listener(&id, &l).await.unwrap();
    l.timeout_client = 9;
    at(5).update_listener(&id, &lis, &l).await.unwrap();
    at(6).delete_listener(&id, &lis).await.unwrap();
    at(7).delete_pool(&id, &pool).await.unwrap();
    at(8).resize_load_balancer(&id, NLB_MEDIUM).await.unwrap();
    at(9).delete_load_balancer(&id).await.unwrap();
    id
}

#[tokio::test]
async fn back_to_back_changes_of_one_client_wait_for_ready_and_are_never_refused_as_busy() {
    let (emu, client) = start().await;
    let c = emu.control();
    c.clear_faults();
    change_everything(&[&client], "b2b").await;
    assert_eq!(busy_refusals(&c), BTreeMap::new());
    assert_eq!(c.load_balancers().len(), 1); // DELETING
}

#[tokio::test]
async fn a_load_balancer_made_busy_by_another_client_is_retried_until_it_accepts() {
    let (emu, _client) = start().await;
    // A fresh client per change: none knows of the change before its own, which still
    // keeps the load balancer UPDATING.
    let clients: Vec<VngCloudClient> = (0..10)
        .map(|_| VngCloudClient::new(config_for(&emu)).unwrap())
        .collect();
    let c = emu.control();
    c.clear_faults();
    change_everything(&clients.iter().collect::<Vec<_>>(), "shared").await;
    let busy = busy_refusals(&c);
    for t in [
        "POST /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools",
        "PUT /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}/members",
        "PUT /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}",
        "POST /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners",
        "PUT /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners/{listenerId}",
        "DELETE /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/listeners/{listenerId}",
        "DELETE /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools/{poolId}",
        "PUT /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/resize",
        "DELETE /vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}",
    ] {
        assert!(
            busy.contains_key(t),
            "no busy refusal seen for {t}: {busy:?}"
        );
    }
    assert_eq!(c.load_balancers().len(), 1); // DELETING
}

#[tokio::test]
async fn once_a_busy_time_is_learnt_each_change_waits_with_one_or_two_readiness_polls() {
    let (emu, client) = start().await;
    let c = emu.control();
    c.set_delays(vlb_vngcloud_emulator::Delays {
        create_ms: 100,
        update_ms: 150,
        delete_ms: 50,
    });
    let id = client
        .create_load_balancer(&lb_request("learn"))
        .await
        .unwrap();
    let pool = client
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 1)]))
        .await
        .unwrap();
    let get_lb = "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}";
    let mut per_change = Vec::new();
    for port in 2..12 {
        let before = c.count("GET", get_lb);
        client
            .put_members(&id, &pool, &[member("10.76.0.12", port)])
            .await
            .unwrap();
        per_change.push(c.count("GET", get_lb) - before);
    }
    assert_eq!(busy_refusals(&c), BTreeMap::new());
    // The first waits measure the busy time (polling from `wait_poll`, 20 ms here); then
    // the first poll comes when the change is likely done.
    let learnt = &per_change[3..];
    assert!(
        learnt.iter().all(|n| (1..=2).contains(n)),
        "readiness GETs per change: {per_change:?}"
    );
}
