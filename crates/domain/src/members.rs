//! Node selection, pool members and the default subnet.

use std::collections::BTreeMap;

use crate::model::{
    EndpointView, LoadBalancerConfigSpec, NodeMembers, NodeView, PoolMember, ServicePortView,
};

/// Label excluding a node from external load balancers.
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Taint the cluster autoscaler sets on nodes it removes.
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";

/// Whether a node may carry load-balancer traffic and has all `labels`.
pub fn node_selected(node: &NodeView, labels: &BTreeMap<String, String>) -> bool {
    node.ready
        && !node.deleting
        && !node.labels.contains_key(EXCLUDE_LABEL)
        && !node.taints.iter().any(|t| t.key == TO_BE_DELETED_TAINT)
        && labels.iter().all(|(k, v)| node.labels.get(k) == Some(v))
}

/// The selected nodes, sorted by name.
pub fn select_nodes<'a>(
    nodes: &'a [NodeView],
    labels: &BTreeMap<String, String>,
) -> Vec<&'a NodeView> {
    let mut out: Vec<&NodeView> = nodes.iter().filter(|n| node_selected(n, labels)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The node whose server gives the default subnet: the smallest name among nodes with a
/// provider id (never list order).
pub fn subnet_node(nodes: &[NodeView]) -> Option<&NodeView> {
    nodes
        .iter()
        .filter(|n| n.server_id().is_some() && !n.deleting)
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// The node members of a pool: every node `template` selects, at its InternalIP and the
/// template's port, sorted by address.
pub fn node_members(template: &NodeMembers, nodes: &[NodeView]) -> Vec<PoolMember> {
    let mut out: Vec<PoolMember> = nodes
        .iter()
        .filter(|n| node_selected(n, &template.select_node_labels))
        .filter_map(|n| {
            n.internal_ip.as_ref().map(|ip| PoolMember {
                ip: ip.clone(),
                port: template.port,
                monitor_port: Some(template.monitor_port.unwrap_or(template.port)),
                name: n.name.clone(),
                weight: None,
                backup: None,
            })
        })
        .collect();
    sort_members(&mut out);
    out
}

/// `spec` with every pool's node members resolved on `nodes` and added to its listed
/// members (the template stays, so the planner knows which members are node members).
pub fn resolve_node_members(
    spec: &LoadBalancerConfigSpec,
    nodes: &[NodeView],
) -> LoadBalancerConfigSpec {
    let mut spec = spec.clone();
    for pool in &mut spec.pools {
        if let Some(template) = &pool.node_members {
            pool.members.extend(node_members(template, nodes));
            sort_members(&mut pool.members);
        }
    }
    spec
}

/// Members for target type `ip` of the pool of `port`: every ready endpoint address with
/// the port's target port, on one of `nodes` when the endpoint names its node; sorted by
/// address and port.
pub fn endpoint_members(
    port: &ServicePortView,
    nodes: &[&NodeView],
    endpoints: &[EndpointView],
    monitor_port: Option<u16>,
) -> Vec<PoolMember> {
    let mut out: Vec<PoolMember> = endpoints
        .iter()
        .filter(|e| e.ready)
        .filter(|e| {
            e.node_name
                .as_ref()
                .is_none_or(|nn| nodes.iter().any(|n| &n.name == nn))
        })
        .filter_map(|e| {
            let target_port = *e.ports.get(&port.name)?;
            Some(PoolMember {
                ip: e.address.clone(),
                port: target_port,
                monitor_port: Some(monitor_port.unwrap_or(target_port)),
                name: e.target_name.clone().unwrap_or_default(),
                weight: None,
                backup: None,
            })
        })
        .collect();
    sort_members(&mut out);
    out
}

fn sort_members(members: &mut Vec<PoolMember>) {
    members.sort_by(|a, b| a.ip.cmp(&b.ip).then(a.port.cmp(&b.port)));
    members.dedup_by(|a, b| a.key() == b.key());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortProtocol, TaintView};

    fn node(name: &str, ip: &str) -> NodeView {
        NodeView {
            name: name.into(),
            ready: true,
            internal_ip: Some(ip.into()),
            provider_id: Some(format!("vngcloud://ins-{name}")),
            ..NodeView::default()
        }
    }

    #[test]
    fn selection_skips_unready_excluded_tainted_deleting_and_unlabelled_nodes() {
        let mut nodes = vec![node("a", "10.0.0.1"); 6];
        nodes[1].ready = false;
        nodes[2].labels.insert(EXCLUDE_LABEL.into(), String::new());
        nodes[3].taints.push(TaintView {
            key: TO_BE_DELETED_TAINT.into(),
            ..TaintView::default()
        });
        nodes[4].deleting = true;
        nodes[5].labels.insert("pool".into(), "web".into());
        assert_eq!(select_nodes(&nodes, &BTreeMap::new()).len(), 2);
        let want = BTreeMap::from([("pool".to_owned(), "web".to_owned())]);
        assert_eq!(select_nodes(&nodes, &want).len(), 1);
    }

    #[test]
    fn default_subnet_comes_from_the_smallest_node_name() {
        let nodes = vec![node("b", "1"), node("a", "2"), node("c", "3")];
        assert_eq!(subnet_node(&nodes).unwrap().name, "a");
        assert_eq!(nodes[1].server_id().as_deref(), Some("ins-a"));
    }

    #[test]
    fn node_members_are_the_selected_nodes_internal_ips_at_the_port() {
        let mut nodes = vec![
            node("b", "10.0.0.2"),
            node("a", "10.0.0.1"),
            node("c", "10.0.0.3"),
        ];
        nodes[2].ready = false;
        let mut template = NodeMembers {
            port: 31000,
            monitor_port: None,
            select_node_labels: BTreeMap::new(),
        };
        let m = node_members(&template, &nodes);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].ip.as_str(), m[0].port, m[0].monitor_port),
            ("10.0.0.1", 31000, Some(31000))
        );
        template.monitor_port = Some(8080);
        template
            .select_node_labels
            .insert("pool".into(), "web".into());
        nodes[0].labels.insert("pool".into(), "web".into());
        let m = node_members(&template, &nodes);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].ip.as_str(), m[0].monitor_port),
            ("10.0.0.2", Some(8080))
        );
    }

    #[test]
    fn resolving_adds_node_members_to_the_listed_ones_and_keeps_the_template() {
        use crate::model::{PoolProtocol, PoolSpec};
        let listed = PoolMember {
            ip: "192.168.9.9".into(),
            port: 8080,
            monitor_port: None,
            name: String::new(),
            weight: None,
            backup: None,
        };
        let template = NodeMembers {
            port: 31000,
            monitor_port: None,
            select_node_labels: BTreeMap::new(),
        };
        let spec = LoadBalancerConfigSpec {
            pools: vec![PoolSpec {
                name: "p".into(),
                protocol: PoolProtocol::Tcp,
                description: None,
                algorithm: None,
                stickiness: None,
                tls_encryption: None,
                health_monitor: crate::model::HealthMonitor::default(),
                members: vec![listed.clone()],
                node_members: Some(template.clone()),
            }],
            ..LoadBalancerConfigSpec::default()
        };
        let nodes = [node("a", "10.0.0.1"), node("b", "10.0.0.2")];
        let resolved = resolve_node_members(&spec, &nodes);
        let pool = &resolved.pools[0];
        let keys: Vec<(&str, u16)> = pool.members.iter().map(PoolMember::key).collect();
        assert_eq!(
            keys,
            [
                ("10.0.0.1", 31000),
                ("10.0.0.2", 31000),
                ("192.168.9.9", 8080)
            ]
        );
        assert_eq!(pool.node_members.as_ref(), Some(&template));
        assert_eq!(spec.pools[0].members, [listed]);
    }

    #[test]
    fn ip_members_use_ready_endpoint_addresses() {
        let nodes = [node("a", "10.0.0.1")];
        let refs: Vec<&NodeView> = nodes.iter().collect();
        let p = ServicePortView {
            name: "http".into(),
            protocol: PortProtocol::Tcp,
            port: 80,
            node_port: 0,
        };
        let ep = |addr: &str, ready: bool, node: &str| EndpointView {
            address: addr.into(),
            ready,
            node_name: Some(node.into()),
            target_name: Some("pod".into()),
            ports: BTreeMap::from([("http".to_owned(), 8080)]),
        };
        let eps = [
            ep("192.168.0.2", true, "a"),
            ep("192.168.0.3", false, "a"),
            ep("192.168.0.4", true, "gone"),
        ];
        let m = endpoint_members(&p, &refs, &eps, None);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].ip.as_str(), m[0].port), ("192.168.0.2", 8080));
    }
}
