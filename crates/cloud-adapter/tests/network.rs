//! Every `NetworkApi` method against the emulator.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vlb_domain::CloudError;
use vlb_domain::model::{EtherType, RuleDirection, RuleProtocol, SecurityGroupRule};
use vlb_domain::ports::NetworkApi;
use vlb_vngcloud_emulator::{Fault, FaultKind};

fn rule(port: u16) -> SecurityGroupRule {
    SecurityGroupRule {
        id: String::new(),
        direction: RuleDirection::Ingress,
        ether_type: EtherType::IPv4,
        protocol: RuleProtocol::Tcp,
        port_range_min: port,
        port_range_max: port,
        remote_ip_prefix: "10.76.0.0/16".to_owned(),
        description: "vlb".to_owned(),
    }
}

#[tokio::test]
async fn servers_subnets_and_security_groups_round_trip() {
    let (emu, client) = start().await;
    let server = client.get_server(SERVER_1).await.unwrap();
    assert_eq!(server.name, "worker-1");
    let iface = server.internal_interface().unwrap();
    assert_eq!(iface.subnet_id, SUBNET);
    assert_eq!(iface.fixed_ip, "10.76.0.11");
    let subnet = client
        .get_subnet(&iface.network_id, &iface.subnet_id)
        .await
        .unwrap();
    assert_eq!(subnet.cidr.to_string(), "10.76.0.0/24");
    assert_eq!(subnet.zone_id.as_deref(), Some(ZONE));

    assert!(
        client
            .find_security_group_by_name("vlb-sg")
            .await
            .unwrap()
            .is_none()
    );
    let g = client
        .create_security_group("vlb-sg", "managed")
        .await
        .unwrap();
    assert_eq!(g.name, "vlb-sg");
    // Same name again: the existing group.
    assert_eq!(
        client
            .create_security_group("vlb-sg", "managed")
            .await
            .unwrap()
            .id,
        g.id
    );
    let r1 = client
        .create_security_group_rule(&g.id, &rule(30080))
        .await
        .unwrap();
    // The same rule again (SecurityGroupRuleExists): the existing rule's id.
    assert_eq!(
        client
            .create_security_group_rule(&g.id, &rule(30080))
            .await
            .unwrap(),
        r1
    );
    let got = client.get_security_group(&g.id).await.unwrap();
    assert_eq!(got.rules.len(), 1);
    assert!(got.rules[0].same_rule(&rule(30080)));
    assert_eq!(got.rules[0].id, r1);
    let found = client
        .find_security_group_by_name("vlb-sg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.rules.len(), 1);

    let mut groups = server.security_groups.clone();
    groups.push(g.id.clone());
    client
        .set_server_security_groups(SERVER_1, &groups)
        .await
        .unwrap();
    assert_eq!(
        client.get_server(SERVER_1).await.unwrap().security_groups,
        groups
    );
    // Attached: deleting the group is refused as in use.
    assert!(matches!(
        client.delete_security_group(&g.id).await,
        Err(CloudError::InUse(_))
    ));
    // The server is changing security groups for a while: the next change waits.
    client
        .set_server_security_groups(SERVER_1, &server.security_groups)
        .await
        .unwrap();
    client.delete_security_group_rule(&g.id, &r1).await.unwrap();
    client.delete_security_group(&g.id).await.unwrap();
    assert!(emu.control().security_groups().iter().all(|x| x.id != g.id));
}

#[tokio::test]
async fn missing_network_objects_are_typed_not_found() {
    let (_emu, client) = start().await;
    let nf = |r: Result<(), CloudError>, resource: &str| match r {
        Err(CloudError::NotFound { resource: got, .. }) => assert_eq!(got, resource),
        other => panic!("expected {resource} not found, got {other:?}"),
    };
    nf(client.get_server("ins-nope").await.map(drop), "server");
    nf(
        client.get_subnet(NETWORK, "sub-nope").await.map(drop),
        "subnet",
    );
    nf(
        client.get_security_group("secg-nope").await.map(drop),
        "security group",
    );
    nf(
        client.delete_security_group("secg-nope").await,
        "security group",
    );
    nf(
        client
            .create_security_group_rule("secg-nope", &rule(1))
            .await
            .map(drop),
        "security group",
    );
    nf(
        client.set_server_security_groups("ins-nope", &[]).await,
        "server",
    );
    let g = client.create_security_group("g", "d").await.unwrap();
    nf(
        client.delete_security_group_rule(&g.id, "sgr-nope").await,
        "security group rule",
    );
}

#[tokio::test]
async fn network_calls_survive_faults() {
    let (emu, client) = start().await;
    let c = emu.control();
    let server = format!("{VS}/servers/{{serverId}}");
    c.add_fault(Fault::new(
        "GET",
        &server,
        FaultKind::Status { status: 502 },
        1,
    ));
    c.add_fault(Fault::new("GET", &server, FaultKind::Drop, 1));
    client.get_server(SERVER_1).await.unwrap();
    assert_eq!(c.count("GET", &server), 3);
    let rules = format!("{VS}/secgroups/{{secgroupId}}/secgroupRules");
    let g = client.create_security_group("g2", "d").await.unwrap();
    c.add_fault(Fault::new(
        "POST",
        &rules,
        FaultKind::LostResponse { status: None },
        1,
    ));
    let id = client
        .create_security_group_rule(&g.id, &rule(80))
        .await
        .unwrap();
    let got = client.get_security_group(&g.id).await.unwrap();
    assert_eq!(got.rules.len(), 1);
    assert_eq!(got.rules[0].id, id);
    c.add_fault(Fault::new("GET", &server, FaultKind::Latency { ms: 50 }, 1));
    let started = std::time::Instant::now();
    client.get_server(SERVER_1).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
}

const SERVER_T: &str = "/vserver-gateway/v2/{projectId}/servers/{serverId}";
const SUBNET_T: &str = "/vserver-gateway/v2/{projectId}/networks/{networkId}/subnets/{subnetId}";

/// An emulator and a client with the default read cache.
async fn start_cached() -> (
    vlb_vngcloud_emulator::VngEmulator,
    vlb_cloud_adapter::VngCloudClient,
) {
    let emu = vlb_vngcloud_emulator::VngEmulator::start().await.unwrap();
    let mut config = config_for(&emu);
    config.read_cache_ttl = Duration::from_secs(30);
    let client = vlb_cloud_adapter::VngCloudClient::new(config).unwrap();
    (emu, client)
}

#[tokio::test]
async fn repeated_server_and_subnet_reads_within_the_cache_ttl_make_one_call_each() {
    let (emu, client) = start_cached().await;
    let ctl = emu.control();
    for _ in 0..5 {
        let s = client.get_server(SERVER_1).await.unwrap();
        let i = s.internal_interface().unwrap();
        client
            .get_subnet(&i.network_id, &i.subnet_id)
            .await
            .unwrap();
    }
    assert_eq!(ctl.count("GET", SERVER_T), 1);
    assert_eq!(ctl.count("GET", SUBNET_T), 1);
}

#[tokio::test]
async fn own_security_group_write_keeps_the_cached_server_true_and_a_failed_one_forgets_it() {
    let (emu, client) = start_cached().await;
    let ctl = emu.control();
    let g = client.create_security_group("cached", "d").await.unwrap();
    let before = client.get_server(SERVER_1).await.unwrap().security_groups;
    let mut groups = before.clone();
    groups.push(g.id.clone());
    client
        .set_server_security_groups(SERVER_1, &groups)
        .await
        .unwrap();
    // The accepted list is what the next read sees, without asking the cloud again.
    assert_eq!(
        client.get_server(SERVER_1).await.unwrap().security_groups,
        groups
    );
    assert_eq!(ctl.count("GET", SERVER_T), 1);
    // A refused write: the copy is dropped and the next read asks the cloud.
    assert!(
        client
            .set_server_security_groups(SERVER_1, &["secg-nope".to_owned()])
            .await
            .is_err()
    );
    assert_eq!(
        client.get_server(SERVER_1).await.unwrap().security_groups,
        groups
    );
    assert_eq!(ctl.count("GET", SERVER_T), 2);
}

#[tokio::test]
async fn a_zero_cache_ttl_reads_the_cloud_every_time_and_sees_changes_made_out_of_band() {
    let (emu, client) = start().await;
    assert_eq!(client.config().read_cache_ttl, Duration::ZERO);
    let ctl = emu.control();
    client.get_server(SERVER_1).await.unwrap();
    ctl.edit_server(SERVER_1, |s| s.security_groups.clear())
        .unwrap();
    assert!(
        client
            .get_server(SERVER_1)
            .await
            .unwrap()
            .security_groups
            .is_empty()
    );
    assert_eq!(ctl.count("GET", SERVER_T), 2);
}
