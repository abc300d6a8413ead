//! Wire-shape tests: the JSON field names of the Go CRDs, and the JSON schema markers.

use super::*;

#[test]
fn lbc_spec_and_status_use_the_go_field_names() {
    let json = serde_json::json!({
        "type": "Layer 4",
        "clusterId": "k8s-1",
        "loadBalancerName": "vks_lb",
        "subnetId": "sub-1",
        "vpcId": "net-1",
        "zoneId": "HCM03-1A",
        "scheme": "InterVPC",
        "privateSubnetId": "sub-2",
        "enableAutoscale": true,
        "tags": {"a": "b"},
        "listeners": [{
            "name": "l80", "protocol": "TCP", "protocolPort": 80, "defaultPoolName": "p80",
            "timeoutClient": 50, "allowedCidrs": "0.0.0.0/0"
        }],
        "pools": [{
            "name": "p80", "protocol": "PROXY", "algorithm": "SOURCE_IP",
            "healthMonitor": {"protocol": "PING-UDP", "healthyThreshold": 3, "interval": 30},
            "members": [{"ip": "10.0.0.1", "port": 31000, "monitorPort": 31000, "name": "n1"}]
        }]
    });
    let spec: LoadBalancerConfigSpec = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(spec.lb_type, LoadBalancerType::Layer4);
    assert_eq!(spec.scheme, Some(LoadBalancerScheme::InterVPC));
    assert_eq!(spec.pools[0].protocol, PoolProtocol::Proxy);
    assert_eq!(
        spec.pools[0].health_monitor.protocol,
        HealthCheckProtocol::PingUdp
    );
    assert_eq!(serde_json::to_value(&spec).unwrap(), json);

    let status = serde_json::json!({
        "observedGeneration": 3,
        "address": "1.2.3.4",
        "loadBalancerId": "lb-1",
        "createdLoadBalancerId": "lb-1",
        "adoptedLoadBalancerId": "lb-0",
        "createdTags": {"vng.vks.cluster.ids": "k8s-1"},
        "createdPools": [{"id": "pool-1", "name": "p80", "createdMembers": [{"ip": "10.0.0.1", "port": 31000}]}],
        "createdListeners": [{"id": "lis-1", "port": 80, "adopted": true, "originalDefaultPoolId": "pool-0"}],
        "retiringLoadBalancer": {"id": "lb-old"},
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "ReconcileSuccess", "message": "ok",
            "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 3
        }]
    });
    let st: LoadBalancerConfigStatus = serde_json::from_value(status.clone()).unwrap();
    assert!(st.created_listeners[0].adopted);
    assert_eq!(st.conditions[0].status, ConditionStatus::True);
    assert_eq!(serde_json::to_value(&st).unwrap(), status);
}

#[test]
fn nsg_spec_uses_the_go_field_names() {
    let json = serde_json::json!({
        "selectNodeLabels": {"pool": "web"},
        "attachSecurityGroups": ["secg-1"],
        "managedSecurityGroup": {"name": "sg", "rules": [{
            "protocol": "udp", "fromPort": 53, "toPort": 53, "cidr": "10.0.0.0/24",
            "direction": "ingress", "etherType": "IPv4"
        }]}
    });
    let spec: NodeSecurityGroupSpec = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(
        spec.managed_security_group.as_ref().unwrap().rules[0].protocol,
        RuleProtocol::Udp
    );
    assert_eq!(serde_json::to_value(&spec).unwrap(), json);
    let st = serde_json::json!({
        "selectedNodes": [{"name": "a", "serverId": "ins-a"}],
        "managedSecurityGroup": {"id": "secg-m"},
        "serverSecurityGroups": [{"serverId": "ins-a", "attachedSecurityGroupIds": ["secg-m"]}],
        "observedGeneration": 1
    });
    let parsed: NodeSecurityGroupStatus = serde_json::from_value(st.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), st);
}

#[test]
fn json_schema_has_enums_and_port_ranges() {
    let schema = serde_json::to_value(schemars::schema_for!(LoadBalancerConfigSpec)).unwrap();
    let text = schema.to_string();
    assert!(text.contains("\"InterVPC\""), "scheme enum");
    assert!(text.contains("\"Layer 4\""));
    assert!(text.contains("\"ROUND_ROBIN\""));
    let port = &schema["$defs"]["ListenerSpec"]["properties"]["protocolPort"];
    assert_eq!(port["minimum"], 1, "{port}");
    assert_eq!(port["maximum"], 65535);
    let nsg = serde_json::to_value(schemars::schema_for!(NodeSecurityGroupStatus)).unwrap();
    assert!(nsg.to_string().contains("serverSecurityGroups"));
}

#[test]
fn nsg_status_count_is_selected_node_count_and_absent_in_old_statuses() {
    let st = serde_json::json!({
        "selectedNodeCount": 500,
        "managedSecurityGroup": {"id": "secg-m"},
        "observedGeneration": 1
    });
    let parsed: NodeSecurityGroupStatus = serde_json::from_value(st.clone()).unwrap();
    assert_eq!(parsed.selected_node_count, 500);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), st);
    let old: NodeSecurityGroupStatus =
        serde_json::from_value(serde_json::json!({"observedGeneration": 1})).unwrap();
    assert_eq!(old.selected_node_count, 0);
}

/// The Go SDK's rule protocols (`networkv2.SecgroupRuleProtocol*`, lower case, `4` for IP in
/// IP) are what the Go controller writes (`service_uc/build_sec_group.go`); vlb's earlier
/// upper-case spellings are still read, and written back in Go's form.
#[test]
fn rule_protocols_are_read_in_both_spellings_and_written_as_the_go_sdk_constants() {
    for (text, want) in [
        ("tcp", RuleProtocol::Tcp),
        ("TCP", RuleProtocol::Tcp),
        ("udp", RuleProtocol::Udp),
        ("UDP", RuleProtocol::Udp),
        ("icmp", RuleProtocol::Icmp),
        ("ICMP", RuleProtocol::Icmp),
        ("any", RuleProtocol::Any),
        ("ANY", RuleProtocol::Any),
        ("4", RuleProtocol::IpInIp),
    ] {
        let got: RuleProtocol = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(got, want, "{text}");
        let written = serde_json::to_value(got).unwrap();
        assert_eq!(written, text.to_ascii_lowercase(), "{text}");
        assert!(RuleProtocol::SPELLINGS.contains(&text));
    }
    assert!(serde_json::from_value::<RuleProtocol>(serde_json::json!("gre")).is_err());
    let schema = serde_json::to_value(schemars::schema_for!(RuleProtocol)).unwrap();
    assert_eq!(schema["enum"].as_array().unwrap().len(), 9, "{schema}");
}

/// Go's Ingress L7 rules compare with `CONTAINS` (`loadbalancerv2.PolicyCompareTypeCONTAINS`).
#[test]
fn compare_type_contains_is_read_and_written() {
    let rule: L7Rule = serde_json::from_value(serde_json::json!({
        "compareType": "CONTAINS", "ruleValue": "/api", "ruleType": "PATH"
    }))
    .unwrap();
    assert_eq!(rule.compare_type, PolicyCompareType::Contains);
    assert_eq!(
        serde_json::to_value(&rule).unwrap()["compareType"],
        "CONTAINS"
    );
}

/// Go writes `selectNodeLabels: null` for an NSG without node labels (no `omitempty`).
#[test]
fn null_select_node_labels_read_as_empty() {
    let spec: NodeSecurityGroupSpec =
        serde_json::from_value(serde_json::json!({"selectNodeLabels": null})).unwrap();
    assert!(spec.select_node_labels.is_empty());
}

/// The Go controller writes `<ip>.nip.io` (`k8s_repo.go` `UpdateServiceStatusAddress`), a
/// non-IP address as it is; every form reads back as the load balancer's address.
#[test]
fn service_address_forms() {
    let nip = ServiceAddress::default().ingress("203.0.113.7");
    assert_eq!(nip.hostname.as_deref(), Some("203.0.113.7.nip.io"));
    assert_eq!((nip.ip.as_deref(), nip.ip_mode.as_deref()), (None, None));
    let proxy = ServiceAddress::IpProxy.ingress("203.0.113.7");
    assert_eq!(proxy.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(proxy.ip_mode.as_deref(), Some("Proxy"));
    let ip = ServiceAddress::Ip.ingress("203.0.113.7");
    assert_eq!(
        (ip.ip.as_deref(), ip.ip_mode.as_deref()),
        (Some("203.0.113.7"), None)
    );
    for mode in [
        ServiceAddress::NipIo,
        ServiceAddress::IpProxy,
        ServiceAddress::Ip,
    ] {
        let named = mode.ingress("lb.example.com");
        assert_eq!(named.hostname.as_deref(), Some("lb.example.com"));
        assert_eq!(named.ip, None);
        assert_eq!(
            ServiceAddress::address_of(&mode.ingress("203.0.113.7")),
            Some("203.0.113.7")
        );
    }
}
