//! What the controllers read from watched objects: a Service as the domain's
//! [`ServiceView`], and the Service an EndpointSlice belongs to.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use vlb_domain::model::ServiceView;

/// Label naming the Service of an EndpointSlice, and a Service as the domain needs it: the
/// Kubernetes adapter's, the ones its reader serves.
pub use vlb_k8s_adapter::reader::{SERVICE_NAME_LABEL, service_view};

/// Whether the Service is ours and targets pod IPs (`target-type: ip`): only then do its
/// EndpointSlices decide pool members.
pub fn targets_pods(svc: &Service, class: Option<&str>) -> bool {
    is_ours_service(svc, class)
        && svc
            .annotations()
            .get(TARGET_TYPE_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("ip"))
}

/// The annotation choosing node or pod targets.
pub const TARGET_TYPE_ANNOTATION: &str = "vks.vngcloud.vn/target-type";

/// Whether this controller handles the Service: type LoadBalancer, and its
/// `spec.loadBalancerClass` is ours (or unset when we handle unset).
pub fn is_ours(view: &ServiceView, class: Option<&str>) -> bool {
    handles(
        Some(&view.service_type),
        view.load_balancer_class.as_deref(),
        class,
    )
}

/// [`is_ours`] on the watched Service itself, without building its view (called for every
/// Service on each Node and EndpointSlice change).
pub fn is_ours_service(svc: &Service, class: Option<&str>) -> bool {
    let spec = svc.spec.as_ref();
    handles(
        spec.and_then(|s| s.type_.as_deref()),
        spec.and_then(|s| s.load_balancer_class.as_deref()),
        class,
    )
}

fn handles(service_type: Option<&str>, service_class: Option<&str>, class: Option<&str>) -> bool {
    service_type == Some("LoadBalancer") && service_class == class
}

/// Namespace and name of the Service an EndpointSlice belongs to.
pub fn endpoint_slice_service(slice: &EndpointSlice) -> Option<(String, String)> {
    let name = slice.labels().get(SERVICE_NAME_LABEL)?.clone();
    Some((slice.namespace()?, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use kube::api::ObjectMeta;
    use vlb_domain::model::PortProtocol;

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

    #[test]
    fn the_service_and_its_view_are_handled_alike() {
        let mut untyped = lb_service(None);
        if let Some(spec) = untyped.spec.as_mut() {
            spec.type_ = None;
        }
        let services = [
            lb_service(None),
            lb_service(Some("vngcloud.vn/vlb")),
            untyped,
            Service::default(),
        ];
        for svc in &services {
            for class in [None, Some("vngcloud.vn/vlb")] {
                assert_eq!(
                    is_ours_service(svc, class),
                    is_ours(&service_view(svc), class),
                    "{svc:?} {class:?}"
                );
            }
        }
    }

    #[test]
    fn only_our_services_targeting_pods_follow_their_endpoint_slices() {
        let mut svc = lb_service(None);
        assert!(!targets_pods(&svc, None));
        svc.metadata.annotations = Some(
            [(TARGET_TYPE_ANNOTATION.to_owned(), "ip".to_owned())]
                .into_iter()
                .collect(),
        );
        assert!(targets_pods(&svc, None));
        assert!(!targets_pods(&svc, Some("other")));
    }
}
