//! Shared set-up: an emulator per test and a client with fast retries.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use vlb_cloud_adapter::{CloudConfig, RetryConfig, VngCloudClient};
use vlb_domain::model::{
    CreateLoadBalancerRequest, HealthMonitor, ListenerProtocol, ListenerRequest,
    LoadBalancerScheme, LoadBalancerType, PoolAlgorithm, PoolMember, PoolProtocol, PoolRequest,
};
use vlb_vngcloud_emulator::{EmulatorConfig, VngEmulator};

pub const SUBNET: &str = "sub-0a1b2c3d-1111-4e5f-8a9b-aaaaaaaaaaaa";
pub const NETWORK: &str = "net-4f4a2d1c-7d0e-4a53-9b2e-1e2f3a4b5c6d";
pub const ZONE: &str = "HCM03-1A";
pub const NLB_SMALL: &str = "lbp-96b6b072-aadb-4b58-9d5f-c16ad69d36aa";
pub const NLB_MEDIUM: &str = "lbp-71d3e3ff-1b2a-4c5f-9a0b-3b8c6d1e2f40";
pub const ALB_SMALL: &str = "lbp-f562b658-0fd4-4fa6-9c57-c1a803ccbf86";
pub const SERVER_1: &str = "ins-5e6f7a8b-0001-4c3d-9e8f-000000000001";
pub const VLB: &str = "/vlb-gateway/v2/{projectId}";
pub const VS: &str = "/vserver-gateway/v2/{projectId}";
pub const TOKEN: &str = "/accounts-api/v2/auth/token";

pub fn lb_t(rest: &str) -> String {
    format!("{VLB}/{rest}")
}

pub fn config_for(emu: &VngEmulator) -> CloudConfig {
    let mut c = CloudConfig::new(
        emu.iam_url(),
        emu.vlb_url(),
        emu.vserver_url(),
        emu.project_id(),
        emu.client_id(),
        emu.client_secret(),
    );
    c.retry = RetryConfig::fast();
    c.pacing = None;
    c.wait_poll = std::time::Duration::from_millis(20);
    c.wait_deadline = std::time::Duration::from_secs(10);
    // Every read reaches the emulator (the tests of the read cache turn it on).
    c.read_cache_ttl = std::time::Duration::ZERO;
    c
}

pub async fn start() -> (VngEmulator, VngCloudClient) {
    start_with(EmulatorConfig::default()).await
}

pub async fn start_with(config: EmulatorConfig) -> (VngEmulator, VngCloudClient) {
    let emu = VngEmulator::start_with(config).await.expect("emulator");
    let client = VngCloudClient::new(config_for(&emu)).expect("client");
    (emu, client)
}

pub fn member(ip: &str, port: u16) -> PoolMember {
    PoolMember {
        ip: ip.to_owned(),
        port,
        monitor_port: Some(port),
        name: format!("m-{ip}"),
        weight: Some(1),
        backup: Some(false),
    }
}

pub fn tcp_listener(name: &str, port: u16) -> ListenerRequest {
    ListenerRequest {
        name: name.to_owned(),
        protocol: ListenerProtocol::Tcp,
        port,
        allowed_cidrs: "0.0.0.0/0".to_owned(),
        timeout_client: 50,
        timeout_member: 50,
        timeout_connection: 5,
        default_pool_id: None,
        insert_headers: Vec::new(),
        default_certificate_authority: None,
        certificate_authorities: Vec::new(),
        client_certificate: None,
    }
}

pub fn tcp_pool(name: &str, members: Vec<PoolMember>) -> PoolRequest {
    PoolRequest {
        name: name.to_owned(),
        protocol: PoolProtocol::Tcp,
        algorithm: PoolAlgorithm::RoundRobin,
        stickiness: false,
        tls_encryption: false,
        health_monitor: HealthMonitor {
            healthy_threshold: Some(3),
            unhealthy_threshold: Some(3),
            interval: Some(30),
            timeout: Some(5),
            ..HealthMonitor::default()
        },
        members,
    }
}

pub fn lb_request(name: &str) -> CreateLoadBalancerRequest {
    let mut tags = BTreeMap::new();
    tags.insert("vks-cluster".to_owned(), "c1".to_owned());
    CreateLoadBalancerRequest {
        name: name.to_owned(),
        package_id: Some(NLB_SMALL.to_owned()),
        scheme: LoadBalancerScheme::Internal,
        lb_type: LoadBalancerType::Layer4,
        subnet_id: SUBNET.to_owned(),
        zone_id: ZONE.to_owned(),
        private_subnet_id: None,
        private_zone_id: None,
        autoscale: false,
        tags,
        listener: Some(tcp_listener("tcp-80", 80)),
        pool: Some(tcp_pool("web", vec![member("10.76.0.11", 30080)])),
    }
}
