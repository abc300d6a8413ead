//! The adapter against answers a Go server gives (vngcloud-go-sdk v2): `null` for empty
//! lists, packages found by name.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{NLB_MEDIUM, NLB_SMALL, config_for, lb_request, start, tcp_pool};
use vlb_cloud_adapter::VngCloudClient;
use vlb_domain::ports::LoadBalancerApi;

// Go renders a nil slice as `null`: an empty load balancer's listeners and pools, an empty
// pool's members and an untagged load balancer's tags are `null`, read as empty.
#[tokio::test]
async fn null_lists_of_an_empty_load_balancer_read_as_empty() {
    let (emu, client) = start().await;
    emu.control().set_null_empty_lists(true);
    let mut request = lb_request("lb-null-lists");
    request.listener = None;
    request.pool = None;
    request.tags.clear();
    let id = client.create_load_balancer(&request).await.unwrap();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    assert!(client.list_listeners(&id).await.unwrap().is_empty());
    assert!(client.list_pools(&id).await.unwrap().is_empty());
    assert!(client.get_tags(&id).await.unwrap().is_empty());
    let pool = client
        .create_pool(&id, &tcp_pool("empty", Vec::new()))
        .await
        .unwrap();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    assert!(client.get_members(&id, &pool).await.unwrap().is_empty());
}

// The Go controller picks the package by name (defaultL4PackageName, NLB_Small by
// default), not the smallest of the type.
#[tokio::test]
async fn a_request_without_package_gets_the_package_of_the_configured_name() {
    let (emu, client) = start().await;
    let mut request = lb_request("lb-package-by-name");
    request.package_id = None;
    let id = client.create_load_balancer(&request).await.unwrap();
    assert_eq!(
        emu.control().load_balancer(&id).unwrap().package_id,
        NLB_SMALL
    );

    let mut config = config_for(&emu);
    config.package_names.layer4 = "NLB_Medium".to_owned();
    let client = VngCloudClient::new(config).unwrap();
    let mut request = lb_request("lb-package-medium");
    request.package_id = None;
    let id = client.create_load_balancer(&request).await.unwrap();
    assert_eq!(
        emu.control().load_balancer(&id).unwrap().package_id,
        NLB_MEDIUM
    );
}
