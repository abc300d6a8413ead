//! Every `LoadBalancerApi` method against the emulator: success and not-found.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use vlb_cloud_adapter::WaitError;
use vlb_domain::CloudError;
use vlb_domain::model::{
    CertificateRequest, L7Policy, L7Rule, LoadBalancerType, PolicyAction, PolicyCompareType,
    PolicyRuleType, PoolProtocol,
};
use vlb_domain::ports::LoadBalancerApi;

#[tokio::test]
async fn load_balancer_round_trip_uses_every_call() {
    let (emu, client) = start().await;
    let id = client
        .create_load_balancer(&lb_request("lb-a"))
        .await
        .unwrap();
    let lb = client.wait_load_balancer_ready(&id, None).await.unwrap();
    assert_eq!(lb.name, "lb-a");
    assert_eq!(lb.package_id, NLB_SMALL);
    assert_eq!(lb.subnet_id, SUBNET);
    assert_eq!(lb.zone_id, ZONE);
    assert_eq!(lb.lb_type, LoadBalancerType::Layer4);
    assert!(lb.address.is_some());
    assert_eq!(client.get_load_balancer(&id).await.unwrap().id, id);
    assert_eq!(
        client
            .find_load_balancer_by_name("lb-a")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert!(
        client
            .find_load_balancer_by_name("lb")
            .await
            .unwrap()
            .is_none()
    );
    let tagged = client
        .list_load_balancers_by_tag("vks-cluster", "c1")
        .await
        .unwrap();
    assert_eq!(tagged.len(), 1);

    let listeners = client.list_listeners(&id).await.unwrap();
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].port, 80);
    let pools = client.list_pools(&id).await.unwrap();
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].members, vec![member("10.76.0.11", 30080)]);
    assert_eq!(pools[0].health_monitor.interval, Some(30));
    assert_eq!(
        listeners[0].default_pool_id.as_deref(),
        Some(pools[0].id.as_str())
    );
    let pool_id = pools[0].id.clone();

    // Members: replace, read back; the same list again is a no-op.
    let members = vec![member("10.76.0.11", 30080), member("10.76.0.12", 30080)];
    client.put_members(&id, &pool_id, &members).await.unwrap();
    assert_eq!(client.get_members(&id, &pool_id).await.unwrap(), members);
    client.put_members(&id, &pool_id, &members).await.unwrap();

    // Pool update carries the health monitor.
    let mut req = tcp_pool("web", vec![]);
    req.health_monitor.interval = Some(15);
    client.update_pool(&id, &pool_id, &req).await.unwrap();
    assert_eq!(
        client
            .get_health_monitor(&id, &pool_id)
            .await
            .unwrap()
            .interval,
        Some(15)
    );

    // Second listener and pool.
    let pool2 = client
        .create_pool(&id, &tcp_pool("api", vec![member("10.76.0.12", 30081)]))
        .await
        .unwrap();
    let mut l2 = tcp_listener("tcp-81", 81);
    l2.default_pool_id = Some(pool2.clone());
    let lis2 = client.create_listener(&id, &l2).await.unwrap();
    // Creating again by the same name returns the same id (find first).
    assert_eq!(client.create_listener(&id, &l2).await.unwrap(), lis2);
    l2.timeout_client = 70;
    client.update_listener(&id, &lis2, &l2).await.unwrap();
    let got = client.list_listeners(&id).await.unwrap();
    assert_eq!(
        got.iter().find(|l| l.id == lis2).unwrap().timeout_client,
        70
    );

    // Pool still used by a listener.
    assert!(matches!(
        client.delete_pool(&id, &pool2).await,
        Err(CloudError::InUse(_))
    ));
    client.delete_listener(&id, &lis2).await.unwrap();
    client.delete_pool(&id, &pool2).await.unwrap();
    assert_eq!(client.list_pools(&id).await.unwrap().len(), 1);

    // Resize.
    client.resize_load_balancer(&id, NLB_MEDIUM).await.unwrap();
    let lb = client.wait_load_balancer_ready(&id, None).await.unwrap();
    assert_eq!(lb.package_id, NLB_MEDIUM);

    // Tags.
    let mut tags = client.get_tags(&id).await.unwrap();
    assert_eq!(tags.get("vks-cluster").map(String::as_str), Some("c1"));
    tags.insert("owner".to_owned(), "svc-a".to_owned());
    client.put_tags(&id, &tags).await.unwrap();
    assert_eq!(client.get_tags(&id).await.unwrap(), tags);

    client.delete_load_balancer(&id).await.unwrap();
    assert_eq!(emu.control().load_balancers().len(), 1); // DELETING
}

#[tokio::test]
async fn layer7_policies_and_certificates_round_trip() {
    let (_emu, client) = start().await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let cert = client
        .create_certificate(&CertificateRequest {
            name: "site".to_owned(),
            certificate_type: "TLS/SSL".to_owned(),
            certificate: pem.to_owned(),
            private_key: Some("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----".into()),
        })
        .await
        .unwrap();
    let certs = client.list_certificates().await.unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].id, cert);

    let mut req = lb_request("alb");
    req.lb_type = LoadBalancerType::Layer7;
    req.package_id = None; // the adapter picks the zone's ALB package
    let mut l = tcp_listener("http-80", 80);
    l.protocol = vlb_domain::model::ListenerProtocol::Http;
    req.listener = Some(l);
    let mut p = tcp_pool("web", vec![member("10.76.0.11", 30080)]);
    p.protocol = PoolProtocol::Http;
    req.pool = Some(p);
    let id = client.create_load_balancer(&req).await.unwrap();
    let lb = client.wait_load_balancer_ready(&id, None).await.unwrap();
    assert_eq!(lb.package_id, ALB_SMALL);
    let lis = client.list_listeners(&id).await.unwrap().remove(0);
    let pool = lis.default_pool_id.clone().unwrap();

    let policy = |name: &str, host: &str, position: u32| L7Policy {
        id: String::new(),
        name: name.to_owned(),
        action: PolicyAction::RedirectToPool,
        redirect_pool_id: Some(pool.clone()),
        redirect_url: None,
        redirect_http_code: None,
        keep_query_string: false,
        position,
        rules: vec![L7Rule {
            compare_type: PolicyCompareType::EqualTo,
            rule_value: host.to_owned(),
            rule_type: PolicyRuleType::HostName,
        }],
    };
    let a = client
        .create_policy(&id, &lis.id, &policy("a", "a.example", 0))
        .await
        .unwrap();
    let b = client
        .create_policy(&id, &lis.id, &policy("b", "b.example", 1))
        .await
        .unwrap();
    let got = client.list_policies(&id, &lis.id).await.unwrap();
    assert_eq!(
        got.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![b.as_str(), a.as_str()]
    );
    let mut upd = got[1].clone();
    upd.position = 1;
    upd.rules[0].rule_value = "c.example".to_owned();
    client.update_policy(&id, &lis.id, &upd).await.unwrap();
    let got = client.list_policies(&id, &lis.id).await.unwrap();
    assert_eq!(got[0].id, a);
    assert_eq!(got[0].rules[0].rule_value, "c.example");
    client.delete_policy(&id, &lis.id, &b).await.unwrap();
    assert_eq!(client.list_policies(&id, &lis.id).await.unwrap().len(), 1);

    client.delete_certificate(&cert).await.unwrap();
    assert!(client.list_certificates().await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_objects_are_typed_not_found() {
    let (_emu, client) = start().await;
    let nf = |r: Result<(), CloudError>, resource: &str| match r {
        Err(CloudError::NotFound { resource: got, .. }) => assert_eq!(got, resource),
        other => panic!("expected {resource} not found, got {other:?}"),
    };
    nf(
        client.get_load_balancer("lb-nope").await.map(drop),
        "load balancer",
    );
    nf(
        client.list_listeners("lb-nope").await.map(drop),
        "load balancer",
    );
    nf(
        client.list_pools("lb-nope").await.map(drop),
        "load balancer",
    );
    nf(
        client.delete_load_balancer("lb-nope").await,
        "load balancer",
    );
    nf(client.get_tags("lb-nope").await.map(drop), "load balancer");
    nf(
        client.delete_certificate("secret-nope").await,
        "certificate",
    );
    let id = client
        .create_load_balancer(&lb_request("lb-b"))
        .await
        .unwrap();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    nf(
        client.get_health_monitor(&id, "pool-nope").await.map(drop),
        "pool",
    );
    nf(client.get_members(&id, "pool-nope").await.map(drop), "pool");
    nf(client.delete_pool(&id, "pool-nope").await, "pool");
    nf(client.delete_listener(&id, "lis-nope").await, "listener");
    nf(
        client.list_policies(&id, "lis-nope").await.map(drop),
        "listener",
    );
    let mut tags = BTreeMap::new();
    tags.insert("k".to_owned(), "v".to_owned());
    nf(client.put_tags("lb-nope", &tags).await, "load balancer");
}

#[tokio::test]
async fn load_balancer_in_error_ends_the_wait_with_a_typed_error() {
    let (emu, client) = start().await;
    emu.control().fail_next_creates(1);
    let id = client
        .create_load_balancer(&lb_request("lb-err"))
        .await
        .unwrap();
    let err = client
        .wait_load_balancer_ready(&id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Failed { .. }), "{err:?}");
    assert!(matches!(CloudError::from(err), CloudError::Invalid(_)));
}
