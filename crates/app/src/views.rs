//! What the controllers read from watched objects: a Service as the domain's
//! [`ServiceView`], a fingerprint of the Node fields that decide pool members, and the
//! Service an EndpointSlice belongs to.

use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use vlb_domain::model::{PortProtocol, ServicePortView, ServiceView};

/// Label naming the Service of an EndpointSlice.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service as the domain needs it.
pub fn service_view(svc: &Service) -> ServiceView {
    let spec = svc.spec.clone().unwrap_or_default();
    let ports = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let port = u16::try_from(p.port).ok()?;
            Some(ServicePortView {
                name: p.name.unwrap_or_default(),
                protocol: match p.protocol.as_deref() {
                    Some("UDP") => PortProtocol::Udp,
                    Some("SCTP") => PortProtocol::Sctp,
                    _ => PortProtocol::Tcp,
                },
                port,
                node_port: p.node_port.and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            })
        })
        .collect();
    ServiceView {
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        uid: svc.uid().unwrap_or_default(),
        annotations: svc.annotations().clone(),
        service_type: spec.type_.unwrap_or_else(|| "ClusterIP".to_owned()),
        load_balancer_class: spec.load_balancer_class,
        ports,
        deleting: svc.metadata.deletion_timestamp.is_some(),
        generation: svc.metadata.generation.unwrap_or(0),
        finalizers: svc.finalizers().to_vec(),
    }
}

/// Whether this controller handles the Service: type LoadBalancer, and its
/// `spec.loadBalancerClass` is ours (or unset when we handle unset).
pub fn is_ours(view: &ServiceView, class: Option<&str>) -> bool {
    view.service_type == "LoadBalancer" && view.load_balancer_class.as_deref() == class
}

/// Hash of what decides membership: readiness, labels, taints, addresses, provider id,
/// deletion. Heartbeats and image lists do not change it.
pub fn node_fingerprint(node: &Node) -> u64 {
    let mut h = DefaultHasher::new();
    node.labels().hash(&mut h);
    node.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(spec) = &node.spec {
        spec.provider_id.hash(&mut h);
        spec.unschedulable.hash(&mut h);
        for t in spec.taints.iter().flatten() {
            (&t.key, &t.value, &t.effect).hash(&mut h);
        }
    }
    if let Some(status) = &node.status {
        for a in status.addresses.iter().flatten() {
            (&a.type_, &a.address).hash(&mut h);
        }
        for c in status.conditions.iter().flatten() {
            if c.type_ == "Ready" {
                c.status.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Namespace and name of the Service an EndpointSlice belongs to.
pub fn endpoint_slice_service(slice: &EndpointSlice) -> Option<(String, String)> {
    let name = slice.labels().get(SERVICE_NAME_LABEL)?.clone();
    Some((slice.namespace()?, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        NodeCondition, NodeSpec, NodeStatus, ServicePort, ServiceSpec,
    };
    use kube::api::ObjectMeta;

    fn lb_service(class: Option<&str>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                uid: Some("u1".into()),
                generation: Some(3),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                load_balancer_class: class.map(str::to_owned),
                ports: Some(vec![
                    ServicePort {
                        name: Some("dns".into()),
                        protocol: Some("UDP".into()),
                        port: 53,
                        node_port: Some(30053),
                        ..ServicePort::default()
                    },
                    ServicePort {
                        port: 80,
                        ..ServicePort::default()
                    },
                ]),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn service_view_carries_ports_and_identity() {
        let v = service_view(&lb_service(None));
        assert_eq!((v.namespace.as_str(), v.name.as_str()), ("shop", "web"));
        assert_eq!(v.generation, 3);
        assert_eq!(v.ports.len(), 2);
        assert_eq!(v.ports[0].protocol, PortProtocol::Udp);
        assert_eq!(v.ports[0].node_port, 30053);
        assert_eq!(v.ports[1].protocol, PortProtocol::Tcp);
        assert!(!v.deleting);
    }

    #[test]
    fn only_our_class_or_unset_is_handled() {
        let unset = service_view(&lb_service(None));
        let ours = service_view(&lb_service(Some("vngcloud.vn/vlb")));
        assert!(is_ours(&unset, None));
        assert!(!is_ours(&ours, None));
        assert!(is_ours(&ours, Some("vngcloud.vn/vlb")));
        assert!(!is_ours(&unset, Some("vngcloud.vn/vlb")));
        let mut cluster_ip = unset;
        cluster_ip.service_type = "ClusterIP".into();
        assert!(!is_ours(&cluster_ip, None));
    }

    fn node(ready: &str, heartbeat: i64) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some("vngcloud://ins-1".into()),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    last_heartbeat_time: Some(
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                            jiff::Timestamp::from_second(heartbeat).unwrap(),
                        ),
                    ),
                    ..NodeCondition::default()
                }]),
                ..NodeStatus::default()
            }),
        }
    }

    #[test]
    fn node_heartbeat_does_not_change_the_fingerprint_but_readiness_does() {
        assert_eq!(
            node_fingerprint(&node("True", 1)),
            node_fingerprint(&node("True", 99))
        );
        assert_ne!(
            node_fingerprint(&node("True", 1)),
            node_fingerprint(&node("False", 1))
        );
    }
}
