//! The Service address setting (issue #17): by default the address is written as the Go
//! controller writes it (`status.loadBalancer.ingress[0].hostname: <ip>.nip.io`, its
//! `k8s_repo.go` `UpdateServiceStatusAddress`), so a takeover changes no address;
//! `--service-address ip-proxy` writes the IP with `ipMode: Proxy`.

// Test helpers fail the test by panicking, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::LoadBalancerIngress;
use vlb_domain::model::ServiceAddress;
use vlb_tests::{Harness, Options, lb_service};

async fn ingress(h: &Harness, name: &str) -> Vec<LoadBalancerIngress> {
    h.services()
        .get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default()
}

#[tokio::test]
async fn by_default_the_address_is_the_go_controllers_nip_io_hostname() {
    let h = Harness::start("address-default").await;
    h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
        .await;
    let ready = h.wait_service_ready("web").await;
    let ingress = ingress(&h, "web").await;
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    assert_eq!(
        ingress[0].hostname.as_deref(),
        Some(format!("{}.nip.io", ready.address).as_str())
    );
    assert_eq!(ingress[0].ip, None);
    assert_eq!(ingress[0].ip_mode, None);
}

#[tokio::test]
async fn ip_proxy_writes_the_ip_with_ip_mode_proxy() {
    let mut opts = Options::new("address-ip-proxy");
    opts.start_operator = false;
    let mut h = Harness::start_with(opts).await;
    let mut config = h.operator_config();
    config.service_address = ServiceAddress::IpProxy;
    h.start_operator_with(config).await;
    h.create_service(&lb_service("web", &[("http", "TCP", 80)], &[]))
        .await;
    let ready = h.wait_service_ready("web").await;
    let ingress = ingress(&h, "web").await;
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    assert_eq!(ingress[0].ip.as_deref(), Some(ready.address.as_str()));
    assert_eq!(ingress[0].ip_mode.as_deref(), Some("Proxy"));
    assert_eq!(ingress[0].hostname, None);
}
