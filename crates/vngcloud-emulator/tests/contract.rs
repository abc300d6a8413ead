//! Contract tests: each endpoint's request/response pair deserialised into mirrors of the Go
//! SDK structs, and the SDK's error texts for each error class.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::struct_field_names,
    clippy::unused_self
)]

mod common;

use common::{env, sdk};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn msg(body: &Value) -> String {
    serde_json::from_value::<sdk::NormalErrorResponse>(body.clone())
        .expect("NormalErrorResponse")
        .message
}

#[tokio::test]
async fn token_with_client_credentials_has_sdk_shape_and_bad_secret_is_authentication_failed() {
    let e = env().await;
    assert!(e.token.starts_with("emu."));
    let resp = e
        .http
        .post(format!("{}/accounts-api/v2/auth/token", e.emu.url()))
        .basic_auth(e.emu.client_id(), Some("wrong"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let err: sdk::IamErrorResponse = resp.json().await.unwrap();
    assert_eq!(err.errors[0].code, "AUTHENTICATION_FAILED");
}

#[tokio::test]
async fn calls_without_or_with_a_wrong_token_answer_401() {
    let e = env().await;
    let url = e.vlb("loadBalancers?name=&page=1&size=10");
    let no_token = e.http.get(&url).send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let wrong = e.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (ok, _) = e.get(&url).await;
    assert_eq!(ok, StatusCode::OK);
}

#[tokio::test]
async fn create_get_list_load_balancer_match_sdk_structs() {
    let e = env().await;
    let id = e.create_nlb("lb-contract-1").await;
    assert!(id.starts_with("lb-"));
    let (status, body) = e.get(&e.vlb(&format!("loadBalancers/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let lb: sdk::GetLoadBalancerByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(lb.data.uuid, id);
    assert_eq!(lb.data.name, "lb-contract-1");
    assert_eq!(lb.data.lb_type, "Layer 4");
    assert_eq!(lb.data.load_balancer_schema, "Internal");
    assert_eq!(lb.data.private_subnet_id, e.subnet_a());
    assert_eq!(lb.data.private_subnet_cidr, "10.76.0.0/24");
    assert!(lb.data.address.starts_with("10.76.0."));
    assert_eq!(lb.data.zone.uuid, "HCM03-1A");
    assert_eq!(lb.data.package_info.package_id, e.nlb_package());

    e.create_nlb("other-lb").await;
    let (status, body) = e
        .get(&e.vlb("loadBalancers?name=contract&page=1&size=10"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 1);
    assert_eq!(list.list_data[0].uuid, id);

    let (_, body) = e
        .get(&e.vlb("loadBalancers?name=&page=1&size=10&tags=key:vks-cluster,value:c1"))
        .await;
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 2);
    let (_, body) = e
        .get(&e.vlb("loadBalancers?name=&page=1&size=10&tags=key:vks-cluster,value:other"))
        .await;
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 0);
}

#[tokio::test]
async fn list_load_balancers_pages() {
    let e = env().await;
    for n in 0..5 {
        e.create_nlb(&format!("paged-{n}")).await;
    }
    let (_, body) = e.get(&e.vlb("loadBalancers?name=&page=2&size=2")).await;
    let list: sdk::ListLoadBalancersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(
        (list.page, list.page_size, list.total_page, list.total_item),
        (2, 2, 3, 5)
    );
    assert_eq!(list.list_data.len(), 2);
    assert_eq!(list.list_data[0].name, "paged-2");
}

#[tokio::test]
async fn missing_load_balancer_says_cannot_get_load_balancer_with_id() {
    let e = env().await;
    let (status, body) = e.get(&e.vlb("loadBalancers/lb-missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get load balancer with id lb-missing")
    );
    let (_, body) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers/lb-missing/listeners"),
            Some(json!({})),
        )
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("could not find resource")
    );
}

#[tokio::test]
async fn packages_are_listed_by_zone() {
    let e = env().await;
    let (status, body) = e
        .get(&e.vlb("loadBalancers/packages?zoneId=HCM03-1A"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let list: sdk::ListLoadBalancerPackagesResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.list_data.len(), 3);
    assert!(
        list.list_data
            .iter()
            .any(|p| p.name == "NLB_Small" && p.display_lb_type == "Layer 4")
    );
}

#[tokio::test]
async fn listeners_pools_members_and_health_monitor_match_sdk_structs() {
    let e = env().await;
    let lb = e.create_active_nlb("lb-children").await;
    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners")))
        .await;
    let listeners: sdk::ListListenersByLoadBalancerIdResponse =
        serde_json::from_value(body).unwrap();
    assert_eq!(listeners.data.len(), 1);
    let l = &listeners.data[0];
    assert_eq!((l.protocol.as_str(), l.protocol_port), ("TCP", 80));
    assert_eq!(l.default_pool_name, "pool-tcp-80");

    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners/{}", l.uuid)))
        .await;
    let one: sdk::GetListenerByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(one.data.uuid, l.uuid);

    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}/pools"))).await;
    let pools: sdk::ListPoolsByLoadBalancerIdResponse = serde_json::from_value(body).unwrap();
    let pool = &pools.data[0];
    assert_eq!(pool.uuid, l.default_pool_id);
    assert_eq!(pool.load_balance_method, "ROUND_ROBIN");
    assert_eq!(pool.members[0].address, "10.76.0.11");
    assert_eq!(pool.members[0].protocol_port, 30080);

    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/pools/{}", pool.uuid)))
        .await;
    let one: sdk::GetPoolByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(one.data.name, "pool-tcp-80");

    let (_, body) = e
        .get(&e.vlb(&format!(
            "loadBalancers/{lb}/pools/{}/healthMonitor",
            pool.uuid
        )))
        .await;
    let hm: sdk::GetPoolHealthMonitorByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(hm.data.health_check_protocol, "TCP");
    assert_eq!(hm.data.interval, 30);

    // Whole-list PUT of members.
    let members_url = e.vlb(&format!("loadBalancers/{lb}/pools/{}/members", pool.uuid));
    let (status, body) = e
        .call(
            Method::PUT,
            &members_url,
            Some(json!({"members": [
                {"backup": false, "ipAddress": "10.76.0.11", "monitorPort": 30080, "name": "worker-1", "port": 30080, "weight": 1},
                {"backup": false, "ipAddress": "10.76.1.13", "monitorPort": 30080, "name": "worker-3", "port": 30080, "weight": 1}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, body) = e.get(&members_url).await;
    let members: sdk::ListPoolMembersResponse = serde_json::from_value(body).unwrap();
    assert_eq!(members.data.len(), 2);
    let m3 = members.data.iter().find(|m| m.name == "worker-3").unwrap();
    assert_eq!(m3.subnet_id, "sub-0a1b2c3d-2222-4e5f-8a9b-bbbbbbbbbbbb");
    assert_eq!(m3.pool_id, pool.uuid);
}

#[tokio::test]
async fn identical_members_are_refused_with_the_sdk_text() {
    let e = env().await;
    let lb = e.create_active_nlb("lb-identical").await;
    let (_, body) = e.get(&e.vlb(&format!("loadBalancers/{lb}/pools"))).await;
    let pools: sdk::ListPoolsByLoadBalancerIdResponse = serde_json::from_value(body).unwrap();
    let (status, body) = e
        .call(
            Method::PUT,
            &e.vlb(&format!("loadBalancers/{lb}/pools/{}/members", pools.data[0].uuid)),
            Some(json!({"members": [
                {"backup": false, "ipAddress": "10.76.0.11", "monitorPort": 30080, "name": "worker-1", "port": 30080, "weight": 1}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("the members provided are identical to the existing members in the pool")
    );
}

async fn wait_and_call(
    e: &common::Env,
    lb: &str,
    method: Method,
    url: &str,
    body: Value,
) -> (StatusCode, Value) {
    e.wait_active(lb).await;
    e.call(method, url, Some(body)).await
}

#[tokio::test]
async fn pool_and_listener_validation_uses_sdk_error_texts() {
    let e = env().await;
    let lb = e.create_active_nlb("lb-validation").await;
    let pools = e.vlb(&format!("loadBalancers/{lb}/pools"));
    let listeners = e.vlb(&format!("loadBalancers/{lb}/listeners"));

    // Duplicated pool name.
    let dup = json!({"algorithm": "ROUND_ROBIN", "poolName": "pool-tcp-80", "poolProtocol": "TCP",
        "healthMonitor": {"healthCheckProtocol": "TCP", "healthyThreshold": 3, "unhealthyThreshold": 3, "interval": 30, "timeout": 5},
        "members": []});
    let (status, body) = e.call(Method::POST, &pools, Some(dup)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).to_lowercase().contains("duplicated pool name"));

    // New pool, then duplicated listener name and port.
    let (status, body) = e
        .call(Method::POST, &pools, Some(json!({"algorithm": "LEAST_CONNECTIONS", "poolName": "pool-2", "poolProtocol": "TCP", "members": []})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let pool2: sdk::CreatePoolResponse = serde_json::from_value(body).unwrap();

    let listener = |name: &str, port: i64| {
        json!({"allowedCidrs": "0.0.0.0/0", "listenerName": name, "listenerProtocol": "TCP",
        "listenerProtocolPort": port, "timeoutClient": 50, "timeoutConnection": 5, "timeoutMember": 50, "defaultPoolId": pool2.uuid})
    };
    let (_, body) = wait_and_call(
        &e,
        &lb,
        Method::POST,
        &listeners,
        listener("listener-tcp-80", 81),
    )
    .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("duplicated listener name")
    );
    let (_, body) = e
        .call(Method::POST, &listeners, Some(listener("listener-2", 80)))
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("duplicated listener protocol port")
    );
    let (status, body) = e
        .call(Method::POST, &listeners, Some(listener("listener-2", 0)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains("between 1 and 65535"));
    let (status, _) = e
        .call(
            Method::POST,
            &listeners,
            Some(listener("listener-2", 65536)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = e
        .call(Method::POST, &listeners, Some(listener("bad name!", 81)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut http = listener("listener-http", 81);
    http["listenerProtocol"] = json!("HTTP");
    let (status, body) = e.call(Method::POST, &listeners, Some(http)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains("not supported"));
    let (status, body) = e
        .call(Method::POST, &listeners, Some(listener("listener-2", 81)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let created: sdk::CreateListenerResponse = serde_json::from_value(body).unwrap();

    // A pool used by a listener cannot be deleted.
    let (status, body) = wait_and_call(
        &e,
        &lb,
        Method::DELETE,
        &format!("{pools}/{}", pool2.uuid),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).to_lowercase().contains("is used in listener"));

    // Update the listener, then the pool (algorithm + health monitor).
    let (status, body) = e
        .call(Method::PUT, &format!("{listeners}/{}", created.uuid), Some(json!({"allowedCidrs": "10.0.0.0/8", "defaultPoolId": pool2.uuid, "timeoutClient": 60, "timeoutConnection": 6, "timeoutMember": 60})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = wait_and_call(&e, &lb, Method::PUT, &format!("{pools}/{}", pool2.uuid), json!({"algorithm": "SOURCE_IP",
        "healthMonitor": {"healthCheckProtocol": "HTTP", "healthyThreshold": 2, "unhealthyThreshold": 4, "interval": 10, "timeout": 3,
            "healthCheckMethod": "GET", "httpVersion": "1.1", "healthCheckPath": "/healthz", "domainName": "nip.io", "successCode": "200"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, body) = e
        .get(&format!("{pools}/{}/healthMonitor", pool2.uuid))
        .await;
    let hm: sdk::GetPoolHealthMonitorByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(hm.data.health_check_path.as_deref(), Some("/healthz"));
    assert_eq!(hm.data.interval, 10);

    // Delete listener, then the pool may go.
    let (status, _) = wait_and_call(
        &e,
        &lb,
        Method::DELETE,
        &format!("{listeners}/{}", created.uuid),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = wait_and_call(
        &e,
        &lb,
        Method::DELETE,
        &format!("{pools}/{}", pool2.uuid),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, body) = e.get(&format!("{pools}/{}", pool2.uuid)).await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get pool with id")
    );
    let (_, body) = e.get(&format!("{listeners}/{}", created.uuid)).await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get listener with id")
    );
}

#[tokio::test]
async fn quota_resize_and_package_errors_use_sdk_texts() {
    let mut config = vlb_vngcloud_emulator::EmulatorConfig::default();
    config.fixture.quotas.load_balancers = 1;
    let e = common::env_with(config).await;
    let lb = e.create_active_nlb("lb-quota").await;
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers"),
            Some(common::nlb_body(
                "lb-quota-2",
                &e.nlb_package(),
                &e.subnet_a(),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("exceeded load_balancer quota. current used")
    );

    let resize = e.vlb(&format!("loadBalancers/{lb}/resize"));
    let (_, body) = e
        .call(
            Method::PUT,
            &resize,
            Some(json!({"packageId": e.nlb_package()})),
        )
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("is the same as the current package")
    );
    let (_, body) = e
        .call(Method::PUT, &resize, Some(json!({"packageId": "lbp-nope"})))
        .await;
    assert!(msg(&body).to_lowercase().contains("invalid package id"));
    let medium = vlb_vngcloud_emulator::Fixture::default().packages[1]
        .id
        .clone();
    let (status, _) = e
        .call(Method::PUT, &resize, Some(json!({"packageId": medium})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        e.emu.control().load_balancer(&lb).unwrap().package_id,
        medium
    );
}

#[tokio::test]
async fn l7_policies_crud_and_reorder_match_sdk_structs() {
    let e = env().await;
    let body = json!({"name": "alb-policies", "packageId": e.alb_package(), "scheme": "Internet", "subnetId": e.subnet_a(), "type": "Layer 7",
        "listener": {"listenerName": "http-80", "listenerProtocol": "HTTP", "listenerProtocolPort": 80, "allowedCidrs": "0.0.0.0/0", "timeoutClient": 50, "timeoutConnection": 5, "timeoutMember": 50},
        "pool": {"algorithm": "ROUND_ROBIN", "poolName": "web", "poolProtocol": "HTTP", "members": []}});
    let (status, body) = e
        .call(Method::POST, &e.vlb("loadBalancers"), Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let lb = serde_json::from_value::<sdk::CreateLoadBalancerResponse>(body)
        .unwrap()
        .uuid;
    e.wait_active(&lb).await;
    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners")))
        .await;
    let l: sdk::ListListenersByLoadBalancerIdResponse = serde_json::from_value(body).unwrap();
    let lis = l.data[0].uuid.clone();
    let pool = l.data[0].default_pool_id.clone();
    let base = e.vlb(&format!("loadBalancers/{lb}/listeners/{lis}/l7policies"));

    let mut ids = Vec::new();
    for (name, action) in [("to-pool", "REDIRECT_TO_POOL"), ("reject", "REJECT")] {
        e.wait_active(&lb).await;
        let (status, body) = e
            .call(Method::POST, &base, Some(json!({"name": name, "action": action, "redirectPoolId": pool,
                "rules": [{"compareType": "STARTS_WITH", "ruleType": "PATH", "ruleValue": "/api"}]})))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(
            serde_json::from_value::<sdk::CreatePolicyResponse>(body)
                .unwrap()
                .uuid,
        );
    }
    let (_, body) = e.get(&base).await;
    let list: sdk::ListPoliciesResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.list_data.len(), 2);
    assert_eq!(list.list_data[0].redirect_pool_name, "web");

    e.wait_active(&lb).await;
    let (status, _) = e
        .call(Method::PUT, &e.vlb(&format!("loadBalancers/{lb}/listeners/{lis}/reorderL7Policies")),
            Some(json!({"policies": [{"position": 1, "policyId": ids[1]}, {"position": 2, "policyId": ids[0]}]})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, body) = e.get(&format!("{base}/{}", ids[1])).await;
    let one: sdk::GetPolicyResponse = serde_json::from_value(body).unwrap();
    assert_eq!(one.data.position, 1);
    assert_eq!(one.data.l7_rules[0].rule_value, "/api");

    e.wait_active(&lb).await;
    let (status, _) = e
        .call(Method::PUT, &format!("{base}/{}", ids[1]), Some(json!({"action": "REDIRECT_TO_URL", "redirectUrl": "https://x.example", "redirectHttpCode": 301,
            "keepQueryString": true, "rules": [{"compareType": "EQUAL_TO", "ruleType": "HOST_NAME", "ruleValue": "a.example"}]})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    e.wait_active(&lb).await;
    let (status, _) = e
        .call(Method::DELETE, &format!("{base}/{}", ids[0]), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, body) = e.get(&base).await;
    let list: sdk::ListPoliciesResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 1);
    assert_eq!(list.list_data[0].action, "REDIRECT_TO_URL");
}

#[tokio::test]
async fn certificates_crud_match_sdk_structs() {
    let e = env().await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let (status, body) = e
        .call(Method::POST, &e.vlb("cas"), Some(json!({"name": "my-cert", "type": "TLS/SSL", "certificate": pem,
            "certificateChain": null, "passphrase": null, "privateKey": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: sdk::CreateCertificateResponse = serde_json::from_value(body).unwrap();
    let (_, body) = e.get(&e.vlb("cas")).await;
    let list: sdk::ListCertificatesResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 1);
    let (_, body) = e.get(&e.vlb(&format!("cas/{}", created.data.uuid))).await;
    let one: sdk::CertResponseData = serde_json::from_value(body).unwrap();
    assert_eq!(one.name, "my-cert");
    let (status, _) = e
        .call(
            Method::DELETE,
            &e.vlb(&format!("cas/{}", created.data.uuid)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn tags_live_on_the_vserver_base() {
    let e = env().await;
    let lb = e.create_nlb("lb-tags").await;
    let url = e.vs(&format!("tag/resource/{lb}"));
    let (status, body) = e.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    let tags: Vec<sdk::ListTagResponse> = serde_json::from_value(body).unwrap();
    assert_eq!(tags.len(), 1);
    let (status, _) = e
        .call(Method::PUT, &url, Some(json!({"resourceId": lb, "resourceType": "LOAD-BALANCER",
            "tagRequestList": [{"key": "vks-cluster", "value": "c1"}, {"key": "owner", "value": "vlb", "isEdited": true}]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = e.get(&url).await;
    let tags: Vec<sdk::ListTagResponse> = serde_json::from_value(body).unwrap();
    assert_eq!(tags.len(), 2);
    let (status, body) = e
        .call(Method::PUT, &url, Some(json!({"resourceId": lb, "resourceType": "LOAD-BALANCER", "tagRequestList": [{"key": "bad key!", "value": "x"}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("the value for the tag key contains illegal characters")
    );
}

#[tokio::test]
async fn servers_networks_and_subnets_match_sdk_structs() {
    let e = env().await;
    let f = vlb_vngcloud_emulator::Fixture::default();
    let server = &f.servers[2];
    let (status, body) = e.get(&e.vs(&format!("servers/{}", server.id))).await;
    assert_eq!(status, StatusCode::OK);
    let s: sdk::GetServerByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(s.data.internal_interfaces[0].fixed_ip, "10.76.1.13");
    assert_eq!(
        s.data.internal_interfaces[0].subnet_uuid,
        server.interfaces[0].subnet_id
    );
    assert_eq!(s.data.internal_interfaces[0].network_uuid, f.networks[0].id);

    let (_, body) = e
        .get(&e.vs(&format!("networks/{}", f.networks[0].id)))
        .await;
    let n: sdk::GetNetworkByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(n.cidr, "10.76.0.0/16");
    let sub = &f.networks[0].subnets[1];
    let (_, body) = e
        .get(&e.vs(&format!("networks/{}/subnets/{}", f.networks[0].id, sub.id)))
        .await;
    let s: sdk::GetSubnetByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(
        (s.cidr.as_str(), s.zone.uuid.as_str()),
        ("10.76.1.0/24", "HCM03-1B")
    );
    let (status, body) = e.get(&e.vs("servers/ins-missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get server with id")
    );
    let (_, body) = e
        .get(&e.vs(&format!(
            "networks/{}/subnets/sub-missing",
            f.networks[0].id
        )))
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("subnet with id sub-missing is not found")
    );
}

#[tokio::test]
async fn security_groups_rules_and_server_attachment() {
    let clock = vlb_vngcloud_emulator::ManualClock::new();
    let e = common::env_with(vlb_vngcloud_emulator::EmulatorConfig {
        clock: std::sync::Arc::new(clock.clone()),
        ..vlb_vngcloud_emulator::EmulatorConfig::default()
    })
    .await;
    let f = vlb_vngcloud_emulator::Fixture::default();
    let (status, body) = e
        .call(
            Method::POST,
            &e.vs("secgroups"),
            Some(json!({"name": "vlb-nodes", "description": "managed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sg = serde_json::from_value::<sdk::CreateSecgroupResponse>(body)
        .unwrap()
        .data
        .uuid;
    let (_, body) = e
        .call(
            Method::POST,
            &e.vs("secgroups"),
            Some(json!({"name": "vlb-nodes", "description": ""})),
        )
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("name of security group already exist")
    );
    let (_, body) = e.get(&e.vs(&format!("secgroups/{sg}"))).await;
    let g: sdk::GetSecgroupByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(g.data.name, "vlb-nodes");
    let (_, body) = e.get(&e.vs("secgroups")).await;
    let list: sdk::ListSecgroupResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.total_item, 2);

    let rule = json!({"description": "nodeport", "direction": "ingress", "etherType": "IPv4", "portRangeMax": 30080,
        "portRangeMin": 30080, "protocol": "TCP", "remoteIpPrefix": "10.76.0.0/16", "securityGroupId": sg});
    let rules = e.vs(&format!("secgroups/{sg}/secgroupRules"));
    let (status, body) = e.call(Method::POST, &rules, Some(rule.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = serde_json::from_value::<sdk::CreateSecgroupRuleResponse>(body)
        .unwrap()
        .data;
    let (_, body) = e.call(Method::POST, &rules, Some(rule)).await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("securitygroupruleexists")
    );
    let (_, body) = e.get(&e.vs(&format!("secgroups/{sg}/secGroupRules"))).await;
    let list: sdk::ListSecgroupRulesBySecgroupIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(list.data[0].port_range_min, 30080);

    // Attach with the full list, then deleting the group is refused.
    let server = &f.servers[0].id;
    let (status, body) = e
        .call(
            Method::PUT,
            &e.vs(&format!("servers/{server}/update-sec-group")),
            Some(json!({"securityGroup": [f.security_groups[0].id, sg]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let s: sdk::GetServerByIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(s.data.sec_groups.len(), 2);
    let (_, body) = e.get(&e.vs(&format!("secgroups/{sg}/servers"))).await;
    let servers: sdk::ListAllServersBySecgroupIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(servers.data[0].uuid, *server);
    let (_, body) = e
        .call(Method::DELETE, &e.vs(&format!("secgroups/{sg}")), None)
        .await;
    assert!(msg(&body).to_lowercase().contains("securitygroupinuse"));
    assert!(msg(&body).contains("in use"));

    // The server is CHANGING-SECURITY-GROUP for a while and refuses a second change meanwhile.
    let detach = json!({"securityGroup": [f.security_groups[0].id]});
    let url = e.vs(&format!("servers/{server}/update-sec-group"));
    let (status, body) = e.call(Method::PUT, &url, Some(detach.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains("Cannot change security group of server with status"));
    clock.advance(std::time::Duration::from_millis(100));
    let (status, _) = e.call(Method::PUT, &url, Some(detach.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = e
        .call(
            Method::DELETE,
            &e.vs(&format!("secgroups/{sg}/secgroupRules/{}", r.uuid)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = e
        .call(
            Method::DELETE,
            &e.vs(&format!("secgroups/{sg}/secgroupRules/{}", r.uuid)),
            None,
        )
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get security group rule with id")
    );
    let (status, _) = e
        .call(Method::DELETE, &e.vs(&format!("secgroups/{sg}")), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = e.get(&e.vs(&format!("secgroups/{sg}"))).await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("cannot get security group with id")
    );
}

#[tokio::test]
async fn security_group_and_rule_quotas_use_sdk_texts() {
    let mut config = vlb_vngcloud_emulator::EmulatorConfig::default();
    config.fixture.quotas.security_groups = 2;
    config.fixture.quotas.security_group_rules = 1;
    let e = common::env_with(config).await;
    let (_, body) = e
        .call(
            Method::POST,
            &e.vs("secgroups"),
            Some(json!({"name": "sg-1"})),
        )
        .await;
    let sg = serde_json::from_value::<sdk::CreateSecgroupResponse>(body)
        .unwrap()
        .data
        .uuid;
    let (_, body) = e
        .call(
            Method::POST,
            &e.vs("secgroups"),
            Some(json!({"name": "sg-2"})),
        )
        .await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("exceeded secgroup quota")
    );
    let rules = e.vs(&format!("secgroups/{sg}/secgroupRules"));
    let rule = |port: i64| json!({"direction": "ingress", "etherType": "IPv4", "portRangeMax": port, "portRangeMin": port, "protocol": "TCP", "remoteIpPrefix": "0.0.0.0/0", "securityGroupId": sg});
    let (status, _) = e.call(Method::POST, &rules, Some(rule(1))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = e.call(Method::POST, &rules, Some(rule(2))).await;
    assert!(
        msg(&body)
            .to_lowercase()
            .contains("exceeded secgroup_rule quota")
    );
}

#[tokio::test]
async fn quota_used_lists_the_fixture_quotas_in_the_portal_shape() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Quota {
        description: Option<String>,
        quota_name: String,
        #[serde(rename = "type")]
        quota_type: String,
        used: String,
        limit: i64,
    }
    #[derive(serde::Deserialize)]
    struct ListAllQuotaUsedResponse {
        data: Vec<Quota>,
    }
    let e = env().await;
    e.create_nlb("lb-quota-used").await;
    let (status, body) = e.get(&e.vs("quotas/quotaUsed")).await;
    assert_eq!(status, StatusCode::OK);
    let q: ListAllQuotaUsedResponse = serde_json::from_value(body).unwrap();
    let lb = q
        .data
        .iter()
        .find(|q| q.quota_name == "LOAD_BALANCER")
        .unwrap();
    assert_eq!(
        (lb.used.as_str(), lb.limit, lb.quota_type.as_str()),
        ("1", 20, "VLB")
    );
    assert!(lb.description.is_some());
}

#[tokio::test]
async fn https_listener_uses_imported_certificates_which_cannot_be_deleted_while_used() {
    let e = env().await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n";
    let (_, body) = e
        .call(
            Method::POST,
            &e.vlb("cas"),
            Some(json!({"name": "site-cert", "type": "TLS/SSL", "certificate": pem, "privateKey": key})),
        )
        .await;
    let cert = serde_json::from_value::<sdk::CreateCertificateResponse>(body)
        .unwrap()
        .data
        .uuid;
    let lb_body = |default_ca: Value| {
        json!({"name": "alb-https", "packageId": e.alb_package(), "scheme": "Internet", "subnetId": e.subnet_a(), "type": "Layer 7",
        "listener": {"listenerName": "https-443", "listenerProtocol": "HTTPS", "listenerProtocolPort": 443,
            "allowedCidrs": "0.0.0.0/0", "timeoutClient": 50, "timeoutConnection": 5, "timeoutMember": 50,
            "certificateAuthorities": [], "defaultCertificateAuthority": default_ca, "clientCertificate": null,
            "insertHeaders": [{"headerName": "X-Forwarded-Proto", "headerValue": "https"}]},
        "pool": {"algorithm": "ROUND_ROBIN", "poolName": "web", "poolProtocol": "HTTP", "members": []}})
    };
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers"),
            Some(lb_body(Value::Null)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains("certificate"));
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb("loadBalancers"),
            Some(lb_body(json!(cert))),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let lb = serde_json::from_value::<sdk::CreateLoadBalancerResponse>(body)
        .unwrap()
        .uuid;
    let (_, body) = e
        .get(&e.vlb(&format!("loadBalancers/{lb}/listeners")))
        .await;
    let l: sdk::ListListenersByLoadBalancerIdResponse = serde_json::from_value(body).unwrap();
    assert_eq!(
        l.data[0].default_certificate_authority.as_deref(),
        Some(cert.as_str())
    );
    assert_eq!(l.data[0].insert_headers[0].header_name, "X-Forwarded-Proto");
    let (status, body) = e
        .call(Method::DELETE, &e.vlb(&format!("cas/{cert}")), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg(&body).contains("in use"));
}

#[tokio::test]
async fn go_nil_slices_sent_as_null_are_read_as_empty() {
    let e = env().await;
    let lb = e.create_active_nlb("lb-null-slices").await;
    let (status, body) = e
        .call(
            Method::POST,
            &e.vlb(&format!("loadBalancers/{lb}/pools")),
            Some(json!({"algorithm": "ROUND_ROBIN", "poolName": "empty", "poolProtocol": "TCP", "healthMonitor": null, "members": null})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let f = vlb_vngcloud_emulator::Fixture::default();
    let (status, body) = e
        .call(
            Method::PUT,
            &e.vs(&format!("servers/{}/update-sec-group", f.servers[1].id)),
            Some(json!({"securityGroup": null})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
