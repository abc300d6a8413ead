//! Use-case tests with the mockall mocks: success paths and each error class.
#![allow(clippy::default_trait_access)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lbc::{finalize_lbc, reconcile_lbc};
use super::nsg::{finalize_nsg, reconcile_nsg};
use super::service::{ServiceOutcome, reconcile_service};
use super::*;
use crate::error::{CloudError, ClusterError, DomainError, QUOTA_RETRY, Retry};
use crate::model::*;
use crate::planner;
use crate::ports::*;

const CLUSTER: &str = "k8s-cluster1";

fn cfg() -> Config {
    Config {
        cluster_id: CLUSTER.into(),
        vpc_id: "net-1".into(),
        load_balancer_class: None,
        service_address: crate::model::ServiceAddress::Ip,
    }
}

/// Captured side effects.
#[derive(Default, Clone)]
struct Seen {
    events: Arc<Mutex<Vec<Event>>>,
    lbc_status: Arc<Mutex<Option<LoadBalancerConfigStatus>>>,
    nsg_status: Arc<Mutex<Option<NodeSecurityGroupStatus>>>,
    svc_status: Arc<Mutex<Option<ServiceStatusView>>>,
}

struct Mocks {
    lb: MockLoadBalancerApi,
    net: MockNetworkApi,
    reader: MockClusterReader,
    writer: MockObjectWriter,
    seen: Seen,
    lbc_base: LoadBalancerConfigStatus,
    nsg_base: NodeSecurityGroupStatus,
    /// What `list_nsgs` answers (the NSG under test need not be in it).
    nsgs: Vec<NodeSecurityGroupView>,
}

impl Mocks {
    fn new() -> Self {
        Self {
            lb: MockLoadBalancerApi::new(),
            net: MockNetworkApi::new(),
            reader: MockClusterReader::new(),
            writer: MockObjectWriter::new(),
            seen: Seen::default(),
            lbc_base: LoadBalancerConfigStatus::default(),
            nsg_base: NodeSecurityGroupStatus::default(),
            nsgs: Vec::new(),
        }
    }

    fn deps(mut self) -> (Deps, Seen) {
        let seen = self.seen.clone();
        let nsgs = std::mem::take(&mut self.nsgs);
        self.reader
            .expect_list_nsgs()
            .returning(move || Ok(nsgs.clone()));
        let mut batch = MockBatch::new();
        let (s, base) = (seen.lbc_status.clone(), self.lbc_base.clone());
        batch.expect_queue_lbc_status().returning(move |_, mut m| {
            let mut g = s.lock().unwrap();
            let mut st = g.clone().unwrap_or_else(|| base.clone());
            m(&mut st);
            *g = Some(st);
        });
        let (s, base) = (seen.nsg_status.clone(), self.nsg_base.clone());
        batch.expect_queue_nsg_status().returning(move |_, mut m| {
            let mut g = s.lock().unwrap();
            let mut st = g.clone().unwrap_or_else(|| base.clone());
            m(&mut st);
            *g = Some(st);
        });
        let s = seen.svc_status.clone();
        batch
            .expect_queue_service_status()
            .returning(move |_, mut m| {
                let mut g = s.lock().unwrap();
                let mut st = g.clone().unwrap_or_default();
                m(&mut st);
                *g = Some(st);
            });
        let mut events = MockEventSink::new();
        let e = seen.events.clone();
        events
            .expect_publish()
            .returning(move |_, ev| e.lock().unwrap().push(ev.clone()));
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .returning(|| jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let deps = Deps {
            lb: Arc::new(self.lb),
            net: Arc::new(self.net),
            reader: Arc::new(self.reader),
            writer: Arc::new(self.writer),
            batch: Arc::new(batch),
            events: Arc::new(events),
            clock: Arc::new(clock),
        };
        (deps, seen)
    }
}

fn node(name: &str, ip: &str) -> NodeView {
    NodeView {
        name: name.into(),
        ready: true,
        internal_ip: Some(ip.into()),
        provider_id: Some(format!("vngcloud://ins-{name}")),
        ..NodeView::default()
    }
}

fn service(annotations: &[(&str, &str)]) -> ServiceView {
    ServiceView {
        namespace: "default".into(),
        name: "web".into(),
        uid: "uid-1".into(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (format!("vks.vngcloud.vn/{k}"), (*v).to_owned()))
            .collect(),
        service_type: "LoadBalancer".into(),
        ports: vec![
            ServicePortView {
                name: "http".into(),
                protocol: PortProtocol::Tcp,
                port: 80,
                node_port: 31080,
            },
            ServicePortView {
                name: "dns".into(),
                protocol: PortProtocol::Udp,
                port: 53,
                node_port: 31053,
            },
        ],
        generation: 1,
        ..ServiceView::default()
    }
}

fn server(id: &str, groups: &[&str]) -> Server {
    Server {
        id: id.into(),
        name: id.into(),
        zone_id: Some("HCM03-1A".into()),
        interfaces: vec![ServerInterface {
            network_id: "net-1".into(),
            subnet_id: "sub-1".into(),
            fixed_ip: "10.0.0.1".into(),
            internal: true,
        }],
        security_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

fn expect_placement(m: &mut Mocks) {
    m.net
        .expect_get_server()
        .returning(|id| Ok(server(id, &[])));
    m.net.expect_get_subnet().returning(|net, sub| {
        Ok(Subnet {
            id: sub.into(),
            network_id: net.into(),
            cidr: "10.0.0.0/24".parse().unwrap(),
            zone_id: None,
        })
    });
}

// ---------------------------------------------------------------- Service

#[tokio::test]
async fn service_applies_lbc_and_nsg_and_copies_the_address() {
    let mut m = Mocks::new();
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("b", "10.0.0.2"), node("a", "10.0.0.1")]));
    expect_placement(&mut m);
    let applied = Arc::new(Mutex::new(None));
    let a = applied.clone();
    m.writer
        .expect_apply_lbc()
        .times(1)
        .returning(move |meta, spec| {
            assert_eq!(meta.finalizers, vec![LBC_FINALIZER.to_owned()]);
            assert_eq!(meta.labels[OWNER_UID_LABEL], "uid-1");
            *a.lock().unwrap() = Some(spec.clone());
            Ok(())
        });
    m.writer.expect_apply_nsg().times(1).returning(|_, spec| {
        let g = spec.managed_security_group.as_ref().unwrap();
        assert!(
            g.rules
                .iter()
                .any(|r| r.from_port == 31080 && r.cidr == "10.0.0.0/24")
        );
        assert!(
            g.rules.iter().any(|r| r.protocol == RuleProtocol::Icmp),
            "ICMP for PING-UDP"
        );
        Ok(())
    });
    m.reader.expect_get_lbc().returning(|_| {
        Ok(Some(LoadBalancerConfigView {
            status: LoadBalancerConfigStatus {
                address: Some("203.0.113.7".into()),
                ..Default::default()
            },
            ..Default::default()
        }))
    });
    let (deps, seen) = m.deps();
    let out = reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap();
    assert_eq!(out, ServiceOutcome::Applied);
    let spec = applied.lock().unwrap().clone().unwrap();
    assert_eq!(spec.listeners.len(), 2);
    assert_eq!(spec.pools.len(), 2);
    assert_eq!(spec.subnet_id, "sub-1");
    assert!(
        spec.load_balancer_name
            .starts_with("vks-k8s-cluste-default-web-")
    );
    let tcp = spec
        .pools
        .iter()
        .find(|p| p.protocol == PoolProtocol::Tcp)
        .unwrap();
    // Node members are a template the LBC resolves: the LBC never lists the nodes.
    assert!(tcp.members.is_empty());
    let on_nodes = tcp.node_members.as_ref().unwrap();
    assert_eq!((on_nodes.port, on_nodes.monitor_port), (31080, None));
    assert!(on_nodes.select_node_labels.is_empty());
    assert_eq!(spec.tags[crate::tags::CLUSTER_IDS], CLUSTER);
    let status = seen.svc_status.lock().unwrap().clone().unwrap();
    assert_eq!(status.ingress[0].ip.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn invalid_annotations_warn_set_ready_false_and_leave_the_lb_untouched() {
    let mut m = Mocks::new();
    // No writer or cloud expectation: any call would fail the test.
    m.reader
        .expect_get_lbc()
        .returning(|_| Ok(Some(LoadBalancerConfigView::default())));
    let (deps, seen) = m.deps();
    let svc = service(&[("scheme", "public"), ("idle-timeout-client", "-1")]);
    let err = reconcile_service(&deps, &cfg(), &svc).await.unwrap_err();
    assert!(matches!(err, DomainError::Invalid(_)));
    assert_eq!(err.retry(), Retry::Never);
    let events = seen.events.lock().unwrap();
    assert_eq!(events[0].event_type, EventType::Warning);
    assert!(
        events[0].message.contains("vks.vngcloud.vn/scheme")
            && events[0].message.contains("idle-timeout-client")
    );
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    let c = condition::find_condition(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.status, ConditionStatus::False);
    assert_eq!(c.reason, condition::REASON_INVALID_ANNOTATIONS);
    assert!(c.message.contains("public"));
}

#[tokio::test]
async fn deployed_load_balancer_keeps_its_subnet_when_the_node_it_was_taken_from_leaves() {
    let mut m = Mocks::new();
    // Node "a" (subnet sub-1) left; the load balancer was deployed in sub-0.
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("b", "10.0.1.2")]));
    expect_placement(&mut m);
    m.reader.expect_get_lbc().returning(|_| {
        Ok(Some(LoadBalancerConfigView {
            status: LoadBalancerConfigStatus {
                load_balancer_id: Some("lb-1".into()),
                subnet_id: Some("sub-0".into()),
                ..Default::default()
            },
            ..Default::default()
        }))
    });
    m.writer.expect_apply_lbc().times(1).returning(|_, spec| {
        assert_eq!(
            spec.subnet_id, "sub-0",
            "the LBC stays in the deployed subnet"
        );
        Ok(())
    });
    m.writer
        .expect_apply_nsg()
        .times(1)
        .returning(|_, _| Ok(()));
    let (deps, _) = m.deps();
    reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap();
}

#[tokio::test]
async fn service_cluster_error_is_returned_with_backoff() {
    let mut m = Mocks::new();
    m.reader.expect_get_lbc().returning(|_| Ok(None));
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    expect_placement(&mut m);
    m.writer
        .expect_apply_lbc()
        .returning(|_, _| Err(ClusterError::Conflict("apply".into())));
    let (deps, _) = m.deps();
    let err = reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Cluster(ClusterError::Conflict(_))
    ));
    assert_eq!(err.retry(), Retry::Backoff);
}

#[tokio::test]
async fn service_cloud_rate_limit_reading_the_node_server_keeps_its_delay() {
    let mut m = Mocks::new();
    m.reader.expect_get_lbc().returning(|_| Ok(None));
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    m.net.expect_get_server().returning(|_| {
        Err(CloudError::RateLimited {
            retry_after: Duration::from_secs(20),
        })
    });
    let (deps, _) = m.deps();
    let err = reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::After(Duration::from_secs(20)));
}

#[tokio::test]
async fn service_without_nodes_is_not_ready() {
    let mut m = Mocks::new();
    m.reader.expect_get_lbc().returning(|_| Ok(None));
    m.reader.expect_list_nodes().returning(|| Ok(vec![]));
    let (deps, _) = m.deps();
    let err = reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::NotReady(_)));
}

#[tokio::test]
async fn deleted_service_deletes_children_and_is_removed() {
    let mut m = Mocks::new();
    m.writer.expect_delete_lbc().times(1).returning(|_| Ok(()));
    m.writer.expect_delete_nsg().times(1).returning(|_| Ok(()));
    m.reader.expect_get_lbc().returning(|_| Ok(None));
    let (deps, _) = m.deps();
    let mut svc = service(&[]);
    svc.deleting = true;
    svc.finalizers.push(SERVICE_FINALIZER.into());
    assert_eq!(
        reconcile_service(&deps, &cfg(), &svc).await.unwrap(),
        ServiceOutcome::Removed
    );
}

#[tokio::test]
async fn deleted_service_waits_for_its_lbc_to_be_finalized() {
    let mut m = Mocks::new();
    m.writer.expect_delete_lbc().returning(|_| Ok(()));
    m.writer.expect_delete_nsg().returning(|_| Ok(()));
    m.reader
        .expect_get_lbc()
        .returning(|_| Ok(Some(LoadBalancerConfigView::default())));
    let (deps, _) = m.deps();
    let mut svc = service(&[]);
    svc.deleting = true;
    let outcome = reconcile_service(&deps, &cfg(), &svc).await.unwrap();
    let waiting = outcome.waiting().expect("waits for the LBC");
    assert!(waiting.what.contains("to be finalized"), "{waiting:?}");
}

#[tokio::test]
async fn other_services_and_ignored_ones_are_skipped() {
    let (deps, _) = Mocks::new().deps();
    let mut svc = service(&[]);
    svc.service_type = "ClusterIP".into();
    assert_eq!(
        reconcile_service(&deps, &cfg(), &svc).await.unwrap(),
        ServiceOutcome::Skipped
    );
    let svc = service(&[("ignore", "true")]);
    assert_eq!(
        reconcile_service(&deps, &cfg(), &svc).await.unwrap(),
        ServiceOutcome::Skipped
    );
}

// ---------------------------------------------------------------- LBC

fn lbc_spec(ports: &[(u16, ListenerProtocol)]) -> LoadBalancerConfigSpec {
    let mut spec = LoadBalancerConfigSpec {
        load_balancer_name: "vks_lb".into(),
        subnet_id: "sub-1".into(),
        tags: crate::tags::cluster_tags(CLUSTER, "net-1"),
        ..Default::default()
    };
    for (port, proto) in ports {
        let pp = if *proto == ListenerProtocol::Udp {
            PoolProtocol::Udp
        } else {
            PoolProtocol::Tcp
        };
        let name = format!("pool_{port}");
        spec.pools.push(PoolSpec {
            name: name.clone(),
            protocol: pp,
            description: None,
            algorithm: None,
            stickiness: None,
            tls_encryption: None,
            health_monitor: HealthMonitor::default(),
            members: vec![PoolMember {
                ip: "10.0.0.1".into(),
                port: 31000 + port,
                monitor_port: None,
                name: "a".into(),
                weight: None,
                backup: None,
            }],
            node_members: None,
        });
        spec.listeners.push(ListenerSpec {
            name: format!("listener_{port}"),
            description: None,
            protocol: *proto,
            protocol_port: *port,
            default_pool_name: Some(name),
            timeout_client: None,
            timeout_member: None,
            timeout_connection: None,
            allowed_cidrs: None,
            insert_headers: vec![],
            policies: vec![],
            certificate_default: None,
            certificate_authorities: vec![],
            client_certificate_id: None,
        });
    }
    spec
}

fn lbc_view(
    spec: LoadBalancerConfigSpec,
    status: LoadBalancerConfigStatus,
) -> LoadBalancerConfigView {
    LoadBalancerConfigView {
        meta: ObjectMetaView {
            key: ObjectKey::new("default", "web"),
            uid: "lbc-uid".into(),
            generation: 2,
            created: Some(jiff::Timestamp::from_second(1_000).unwrap()),
            finalizers: vec![LBC_FINALIZER.into()],
            ..Default::default()
        },
        spec,
        status,
    }
}

fn active(id: &str) -> LoadBalancer {
    LoadBalancer {
        id: id.into(),
        name: "vks_lb".into(),
        display_status: "ACTIVE".into(),
        progress_status: "CREATED".into(),
        address: Some("203.0.113.9".into()),
        ..Default::default()
    }
}

/// Reads of the listener and pool a load balancer was created with (port 80).
fn expect_inline_reads(m: &mut Mocks) {
    m.lb.expect_list_listeners().returning(|_| {
        Ok(vec![Listener {
            id: "lis-80".into(),
            port: 80,
            ..Default::default()
        }])
    });
    m.lb.expect_list_pools().returning(|_| {
        Ok(vec![Pool {
            id: "pool-80".into(),
            name: "pool_80".into(),
            ..Default::default()
        }])
    });
}

/// Cloud state and status after the spec was fully deployed by this cluster.
fn deployed(spec: &LoadBalancerConfigSpec) -> (planner::Observed, LoadBalancerConfigStatus) {
    let mut status = LoadBalancerConfigStatus::default();
    let p = planner::plan(spec, &status, None, CLUSTER);
    let obs = planner::simulate(None, &mut status, &p, &mut 0).unwrap();
    (obs, status)
}

/// Reconciles a new LBC of `spec` (the load balancer reads back ACTIVE) and returns the
/// status it queued.
async fn reconcile_new_lbc(mut m: Mocks, spec: LoadBalancerConfigSpec) -> LoadBalancerConfigStatus {
    m.lb.expect_get_load_balancer()
        .returning(|id| Ok(active(id)));
    let (deps, seen) = m.deps();
    reconcile_lbc(
        &deps,
        &cfg(),
        &lbc_view(spec, LoadBalancerConfigStatus::default()),
    )
    .await
    .unwrap();
    seen.lbc_status.lock().unwrap().clone().unwrap()
}

#[tokio::test]
async fn new_lbc_creates_the_load_balancer_and_records_what_it_created() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp), (53, ListenerProtocol::Udp)]);
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.lb.expect_create_load_balancer()
        .times(1)
        .returning(|req| {
            assert!(req.listener.is_some() && req.pool.is_some());
            assert_eq!(req.tags[crate::tags::CREATED_BY_CLUSTER], CLUSTER);
            Ok("lb-1".into())
        });
    expect_inline_reads(&mut m);
    m.lb.expect_create_pool()
        .times(1)
        .returning(|_, _| Ok("pool-53".into()));
    m.lb.expect_create_listener().times(1).returning(|_, req| {
        assert_eq!(req.default_pool_id.as_deref(), Some("pool-53"));
        Ok("lis-53".into())
    });
    let st = reconcile_new_lbc(m, spec).await;
    assert_eq!(st.created_load_balancer_id.as_deref(), Some("lb-1"));
    assert_eq!(st.address.as_deref(), Some("203.0.113.9"));
    assert_eq!(st.created_pools.len(), 2);
    assert_eq!(st.created_listeners.len(), 2);
    assert_eq!(st.observed_generation, Some(2));
    let c = condition::find_condition(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.status, ConditionStatus::True);
}

#[tokio::test]
async fn new_lbc_puts_the_selected_nodes_of_its_node_member_template_in_the_pool() {
    let mut spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    spec.pools[0].members.clear();
    spec.pools[0].node_members = Some(crate::model::NodeMembers {
        port: 31080,
        monitor_port: None,
        select_node_labels: BTreeMap::new(),
    });
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let mut unready = node("c", "10.0.0.3");
    unready.ready = false;
    m.reader.expect_list_nodes().times(1).returning(move || {
        Ok(vec![
            node("b", "10.0.0.2"),
            node("a", "10.0.0.1"),
            unready.clone(),
        ])
    });
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.lb.expect_create_load_balancer()
        .times(1)
        .returning(|req| {
            let pool = req.pool.as_ref().unwrap();
            let got: Vec<(&str, u16)> = pool.members.iter().map(PoolMember::key).collect();
            assert_eq!(got, [("10.0.0.1", 31080), ("10.0.0.2", 31080)]);
            Ok("lb-1".into())
        });
    expect_inline_reads(&mut m);
    let st = reconcile_new_lbc(m, spec).await;
    // Recorded by port: the status does not grow with the nodes.
    assert!(st.created_pools[0].created_members.is_empty());
    assert_eq!(st.created_pools[0].node_port, Some(31080));
}

#[tokio::test]
async fn redeploy_with_same_spec_makes_no_cloud_write_and_no_status_write() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    let lb_id = obs.lb.id.clone();
    let mut lb = active(&lb_id);
    lb.tags = obs.lb.tags.clone();
    status.load_balancer_id = Some(lb_id.clone());
    status.address.clone_from(&lb.address);
    status.load_balancer_name = Some(lb.name.clone());
    status.lb_type = Some(lb.lb_type);
    status.observed_generation = Some(2);
    status.last_reconcile_message = "load balancer converged".into();
    status.conditions.push(Condition {
        type_: condition::READY.into(),
        status: ConditionStatus::True,
        reason: condition::REASON_SUCCESS.into(),
        message: "load balancer converged".into(),
        last_transition_time: jiff::Timestamp::from_second(5).unwrap(),
        observed_generation: Some(2),
    });
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let l2 = lb.clone();
    m.lb.expect_get_load_balancer()
        .times(1)
        .returning(move |_| Ok(l2.clone()));
    expect_lb_reads(&mut m, &obs);
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
    assert!(seen.lbc_status.lock().unwrap().is_none(), "no status write");
    assert!(seen.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn busy_load_balancer_fails_with_short_retry_and_records_partial_progress() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp), (53, ListenerProtocol::Udp)]);
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.lb.expect_create_load_balancer()
        .returning(|_| Ok("lb-1".into()));
    expect_inline_reads(&mut m);
    m.lb.expect_create_pool()
        .returning(|_, _| Ok("pool-53".into()));
    m.lb.expect_create_listener()
        .returning(|_, _| Err(CloudError::Busy("is updating".into())));
    let (deps, seen) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::After(crate::error::BUSY_RETRY));
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(st.created_load_balancer_id.as_deref(), Some("lb-1"));
    assert!(
        st.created_pools.iter().any(|p| p.id == "pool-53"),
        "partial progress kept"
    );
    let c = condition::find_condition(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.status, ConditionStatus::False);
    assert!(
        seen.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.event_type == EventType::Warning)
    );
}

#[tokio::test]
async fn quota_and_rate_limit_errors_carry_their_delays() {
    for (error, want) in [
        (
            CloudError::QuotaExceeded("exceeded load_balancer quota".into()),
            Retry::After(QUOTA_RETRY),
        ),
        (
            CloudError::RateLimited {
                retry_after: Duration::from_secs(42),
            },
            Retry::After(Duration::from_secs(42)),
        ),
        (CloudError::Invalid("bad".into()), Retry::Never),
        (CloudError::Transport("reset".into()), Retry::Backoff),
    ] {
        let mut m = Mocks::new();
        m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
        m.lb.expect_find_load_balancer_by_name()
            .returning(|_| Ok(None));
        let e = error.clone();
        m.lb.expect_create_load_balancer()
            .returning(move |_| Err(e.clone()));
        let (deps, seen) = m.deps();
        let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
        let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.retry(), want, "{error}");
        assert!(seen.lbc_status.lock().unwrap().is_some());
    }
}

#[tokio::test]
async fn later_lbc_claiming_a_port_with_another_protocol_is_rejected() {
    let mine = lbc_view(lbc_spec(&[(80, ListenerProtocol::Udp)]), Default::default());
    let mut older = lbc_view(lbc_spec(&[(80, ListenerProtocol::Tcp)]), Default::default());
    older.meta.key = ObjectKey::new("other", "svc");
    older.meta.created = Some(jiff::Timestamp::from_second(10).unwrap());
    let mut m = Mocks::new();
    let all = vec![older, mine.clone()];
    m.reader
        .expect_list_lbcs()
        .returning(move || Ok(all.clone()));
    let (deps, seen) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &mine).await.unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)));
    assert_eq!(err.retry(), Retry::Never);
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    let c = condition::find_condition(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.reason, condition::REASON_PORT_CONFLICT);
    assert!(
        c.message.contains("port 80") && c.message.contains("other/svc"),
        "{}",
        c.message
    );
}

#[tokio::test]
async fn earlier_lbc_is_not_rejected_by_a_later_one() {
    let mine = lbc_view(lbc_spec(&[(80, ListenerProtocol::Udp)]), Default::default());
    let mut later = lbc_view(lbc_spec(&[(80, ListenerProtocol::Tcp)]), Default::default());
    later.meta.key = ObjectKey::new("other", "svc");
    later.meta.created = Some(jiff::Timestamp::from_second(99_999).unwrap());
    assert!(super::lbc::port_conflict(&mine, &[later]).is_none());
}

#[tokio::test]
async fn adopting_a_missing_load_balancer_id_is_invalid() {
    let mut spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    spec.load_balancer_id = Some("lb-missing".into());
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_get_load_balancer()
        .returning(|id| Err(CloudError::not_found("load balancer", id)));
    let (deps, _) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Invalid(_)));
}

// Waiting on the cloud is not a failure: Ready=False with reason Provisioning, no
// Warning Event, and an outcome that says when to look again .
#[tokio::test]
async fn pending_load_balancer_is_waited_for_as_provisioning_without_a_warning() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name().returning(|_| {
        let mut lb = active("lb-1");
        lb.display_status = "CREATING".into();
        Ok(Some(lb))
    });
    m.lb.expect_get_tags().returning(|_| Ok(BTreeMap::new()));
    let (deps, seen) = m.deps();
    let outcome = reconcile_lbc(&deps, &cfg(), &lbc_view(lbc_spec(&[]), Default::default()))
        .await
        .unwrap();
    let waiting = outcome.waiting.expect("waits for the load balancer");
    assert!(waiting.what.contains("lb-1 is CREATING"), "{waiting:?}");
    assert_eq!(waiting.recheck_after, crate::error::BUSY_RETRY);
    let status = seen.lbc_status.lock().unwrap().clone().unwrap();
    let ready = ready_of(&status);
    assert_eq!(ready.status, condition::ConditionStatus::False);
    assert_eq!(ready.reason, condition::REASON_PROVISIONING);
    assert!(seen.events.lock().unwrap().is_empty(), "no Warning Event");
}

#[tokio::test]
async fn finalize_deletes_the_own_load_balancer_and_lets_the_finalizer_go() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, status) = deployed(&spec);
    let id = obs.lb.id.clone();
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let lb = obs.lb.clone();
    m.lb.expect_get_load_balancer()
        .returning(move |_| Ok(lb.clone()));
    expect_lb_reads(&mut m, &obs);
    m.lb.expect_delete_load_balancer()
        .times(1)
        .returning(move |got| {
            assert_eq!(got, id);
            Ok(())
        });
    let (deps, _) = m.deps();
    let mut v = lbc_view(spec, status);
    v.meta.deleting = true;
    finalize_lbc(&deps, &cfg(), &v).await.unwrap();
}

#[tokio::test]
async fn finalize_when_the_load_balancer_is_already_gone_succeeds() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_get_load_balancer()
        .returning(|id| Err(CloudError::not_found("load balancer", id)));
    let (deps, _) = m.deps();
    let status = LoadBalancerConfigStatus {
        load_balancer_id: Some("lb-gone".into()),
        created_load_balancer_id: Some("lb-gone".into()),
        ..Default::default()
    };
    finalize_lbc(&deps, &cfg(), &lbc_view(lbc_spec(&[]), status))
        .await
        .unwrap();
}

#[tokio::test]
async fn finalize_on_a_shared_load_balancer_deletes_only_its_own_listener_and_pool() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (mut obs, status) = deployed(&spec);
    obs.listeners.push(Listener {
        id: "lis-foreign".into(),
        port: 9000,
        ..Default::default()
    });
    obs.pools.push(Pool {
        id: "pool-foreign".into(),
        name: "foreign".into(),
        ..Default::default()
    });
    let (own_l, own_p) = (
        status.created_listeners[0].id.clone(),
        status.created_pools[0].id.clone(),
    );
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let lb = obs.lb.clone();
    m.lb.expect_get_load_balancer()
        .returning(move |_| Ok(lb.clone()));
    expect_lb_reads(&mut m, &obs);
    m.lb.expect_delete_listener()
        .times(1)
        .returning(move |_, id| {
            assert_eq!(id, own_l);
            Ok(())
        });
    m.lb.expect_delete_pool().times(1).returning(move |_, id| {
        assert_eq!(id, own_p);
        Err(CloudError::not_found("pool", id))
    });
    m.lb.expect_put_tags().times(1).returning(|_, t| {
        assert!(!t.contains_key(crate::tags::CLUSTER_IDS));
        Ok(())
    });
    let (deps, _) = m.deps();
    finalize_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
}

#[tokio::test]
async fn finalize_cloud_error_keeps_the_finalizer() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, status) = deployed(&spec);
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let lb = obs.lb.clone();
    m.lb.expect_get_load_balancer()
        .returning(move |_| Ok(lb.clone()));
    expect_lb_reads(&mut m, &obs);
    m.lb.expect_delete_load_balancer()
        .returning(|_| Err(CloudError::Server("500".into())));
    let (deps, seen) = m.deps();
    let err = finalize_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Backoff);
    assert!(seen.lbc_status.lock().unwrap().is_some());
}

// ---------------------------------------------------------------- NSG

fn nsg_view(spec: NodeSecurityGroupSpec, status: NodeSecurityGroupStatus) -> NodeSecurityGroupView {
    NodeSecurityGroupView {
        meta: ObjectMetaView {
            key: ObjectKey::new("default", "web"),
            uid: "nsg-uid".into(),
            generation: 3,
            finalizers: vec![NSG_FINALIZER.into()],
            ..Default::default()
        },
        spec,
        status,
    }
}

fn nsg_spec() -> NodeSecurityGroupSpec {
    NodeSecurityGroupSpec {
        select_node_labels: BTreeMap::new(),
        attach_security_groups: vec!["secg-extra".into()],
        managed_security_group: Some(ManagedSecurityGroup {
            name: "vks_sg".into(),
            description: None,
            rules: vec![NodeSecurityGroupRule {
                protocol: RuleProtocol::Tcp,
                from_port: 31080,
                to_port: 31080,
                cidr: "10.0.0.0/24".into(),
                description: String::new(),
                direction: RuleDirection::Ingress,
                ether_type: EtherType::IPv4,
            }],
        }),
    }
}

#[tokio::test]
async fn nsg_creates_the_managed_group_its_rules_and_attaches_every_selected_server() {
    let mut m = Mocks::new();
    m.net
        .expect_find_security_group_by_name()
        .returning(|_| Ok(None));
    m.net
        .expect_create_security_group()
        .times(1)
        .returning(|name, _| {
            Ok(SecurityGroup {
                id: "secg-managed".into(),
                name: name.into(),
                ..Default::default()
            })
        });
    m.net
        .expect_create_security_group_rule()
        .times(1)
        .returning(|_, _| Ok("rule-1".into()));
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), node("b", "10.0.0.2")]));
    m.net
        .expect_get_server()
        .returning(|id| Ok(server(id, &["secg-default"])));
    m.net
        .expect_set_server_security_groups()
        .times(2)
        .returning(|_, groups| {
            assert_eq!(groups, ["secg-default", "secg-extra", "secg-managed"]);
            Ok(())
        });
    let seen = reconciled_nsg(m, nsg_spec(), Default::default()).await;
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert_eq!(
        st.managed_security_group.id.as_deref(),
        Some("secg-managed")
    );
    assert_eq!(st.selected_node_count, 2);
    assert!(st.selected_nodes.is_empty(), "no longer written");
    assert_eq!(
        st.server_security_groups,
        [
            attached("ins-a", &["secg-extra"]),
            attached("ins-b", &["secg-extra"])
        ],
        "one entry per server only because the spec has an extra group"
    );
    assert_eq!(st.observed_generation, 3);
}

/// Reconciles the NSG of `spec` and `status` (it must succeed); what it queued is in the
/// returned [`Seen`].
async fn reconciled_nsg(
    m: Mocks,
    spec: NodeSecurityGroupSpec,
    status: NodeSecurityGroupStatus,
) -> Seen {
    let (deps, seen) = m.deps();
    reconcile_nsg(&deps, &cfg(), &nsg_view(spec, status))
        .await
        .unwrap();
    seen
}

/// An NSG of another Service (`default/other`) whose managed group is `secg-other`.
fn other_nsg(status_id: &str, deleting: bool) -> NodeSecurityGroupView {
    let mut v = nsg_view(
        NodeSecurityGroupSpec {
            attach_security_groups: Vec::new(),
            ..nsg_spec()
        },
        NodeSecurityGroupStatus {
            managed_security_group: ManagedSecurityGroupStatus {
                id: Some(status_id.into()),
                error: None,
            },
            ..Default::default()
        },
    );
    v.meta.key = ObjectKey::new("default", "other");
    v.meta.deleting = deleting;
    v
}

/// Mocks for an NSG whose managed group `secg-managed` exists without rules to change, on
/// one node whose server has `groups`.
fn nsg_on_one_server(groups: &'static [&'static str]) -> Mocks {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    m.net
        .expect_get_server()
        .returning(move |id| Ok(server(id, groups)));
    m
}

fn to_rule(spec: &NodeSecurityGroupSpec) -> SecurityGroupRule {
    super::nsg::to_cloud(&spec.managed_security_group.as_ref().unwrap().rules[0])
}

/// `get_security_group` answers the managed group with its one rule in place.
fn expect_group_in_place(m: &mut Mocks) {
    m.net.expect_get_security_group().returning(|id| {
        Ok(SecurityGroup {
            id: id.into(),
            name: "vks_sg".into(),
            rules: vec![SecurityGroupRule {
                id: "rule-1".into(),
                ..to_rule(&nsg_spec())
            }],
            ..Default::default()
        })
    });
}

/// Server writes recorded as (server id, groups written).
type ServerWrites = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// Every server carries the default, this NSG's and the other NSG's groups; writes to
/// servers succeed and are recorded.
fn servers_with_every_group(m: &mut Mocks) -> ServerWrites {
    servers_recording(m, |_| {
        &["secg-default", "secg-extra", "secg-managed", "secg-other"]
    })
}

/// Server `id` carries `groups(id)`; writes to servers succeed and are recorded.
fn servers_recording(
    m: &mut Mocks,
    groups: impl Fn(&str) -> &'static [&'static str] + Send + 'static,
) -> ServerWrites {
    m.net
        .expect_get_server()
        .returning(move |id| Ok(server(id, groups(id))));
    let writes = ServerWrites::default();
    let w = writes.clone();
    m.net
        .expect_set_server_security_groups()
        .returning(move |id, groups| {
            w.lock().unwrap().push((id.to_owned(), groups.to_vec()));
            Ok(())
        });
    writes
}

/// An NSG status entry: `groups` attached to server `id`.
fn attached(id: &str, groups: &[&str]) -> ServerSecurityGroupStatus {
    ServerSecurityGroupStatus {
        server_id: id.into(),
        attached_security_group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
        error: None,
    }
}

fn known_group() -> NodeSecurityGroupStatus {
    NodeSecurityGroupStatus {
        managed_security_group: ManagedSecurityGroupStatus {
            id: Some("secg-managed".into()),
            error: None,
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn a_server_gets_the_groups_of_every_nsg_selecting_it_in_one_write() {
    let mut m = nsg_on_one_server(&["secg-default"]);
    m.nsgs = vec![
        other_nsg("secg-other", false),
        other_nsg("secg-leaving", true),
    ];
    m.net
        .expect_set_server_security_groups()
        .times(1)
        .returning(|_, groups| {
            assert_eq!(
                groups,
                ["secg-default", "secg-extra", "secg-managed", "secg-other"],
                "the other NSG's group rides along; a deleting NSG's does not"
            );
            Ok(())
        });
    let seen = reconciled_nsg(m, nsg_spec(), known_group()).await;
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert_eq!(
        st.server_security_groups,
        [attached("ins-a", &["secg-extra"])],
        "the status records this NSG's own extra groups only"
    );
}

#[tokio::test]
async fn a_server_already_carrying_every_group_is_not_written() {
    let mut m = nsg_on_one_server(&["secg-default", "secg-extra", "secg-managed", "secg-other"]);
    m.nsgs = vec![other_nsg("secg-other", false)];
    m.net.expect_set_server_security_groups().never();
    reconciled_nsg(m, nsg_spec(), known_group()).await;
}

#[tokio::test]
async fn a_group_of_another_nsg_gone_out_of_band_does_not_block_this_one() {
    let mut m = nsg_on_one_server(&["secg-default"]);
    m.nsgs = vec![other_nsg("secg-gone", false)];
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    m.net
        .expect_set_server_security_groups()
        .times(2)
        .returning(move |_, groups| {
            c.lock().unwrap().push(groups.to_vec());
            if groups.iter().any(|g| g == "secg-gone") {
                Err(CloudError::not_found("security group", "secg-gone"))
            } else {
                Ok(())
            }
        });
    reconciled_nsg(m, nsg_spec(), known_group()).await;
    assert_eq!(
        calls.lock().unwrap().last().unwrap(),
        &["secg-default", "secg-extra", "secg-managed"]
    );
}

#[tokio::test]
async fn detaching_a_server_keeps_the_groups_other_nsgs_still_want_there() {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    // The node of server "ins-b" now has a label this NSG does not select; the other NSG
    // selects every node and shares the extra group.
    m.reader.expect_list_nodes().returning(|| {
        let mut a = node("a", "10.0.0.1");
        a.labels.insert("pool".into(), "main".into());
        let mut b = node("b", "10.0.0.2");
        b.labels.insert("pool".into(), "other".into());
        Ok(vec![a, b])
    });
    let mut other = other_nsg("secg-other", false);
    other.spec.attach_security_groups = vec!["secg-extra".into()];
    other.spec.select_node_labels = BTreeMap::new();
    m.nsgs = vec![other];
    let writes = servers_with_every_group(&mut m);
    let spec = NodeSecurityGroupSpec {
        select_node_labels: BTreeMap::from([("pool".into(), "main".into())]),
        ..nsg_spec()
    };
    let mut status = known_group();
    status.server_security_groups = vec![
        attached("ins-a", &["secg-extra", "secg-managed"]),
        attached("ins-b", &["secg-extra", "secg-managed"]),
    ];
    let (deps, _) = m.deps();
    let v = nsg_view(spec, status);
    let _ = reconcile_nsg(&deps, &cfg(), &v).await;
    let writes = writes.lock().unwrap().clone();
    let b = writes
        .iter()
        .find(|(id, _)| id == "ins-b")
        .expect("server b detached");
    assert_eq!(b.1, ["secg-default", "secg-extra", "secg-other"]);
}

#[tokio::test]
async fn a_server_every_nsg_leaves_is_detached_from_all_their_groups_in_one_write() {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    // Only node "a" is left; server "ins-b" carries this NSG's groups and the other's.
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    let mut other = other_nsg("secg-other", false);
    other.status.server_security_groups = vec![
        attached("ins-a", &["secg-other"]),
        attached("ins-b", &["secg-other"]),
    ];
    m.nsgs = vec![other];
    let writes = servers_with_every_group(&mut m);
    let mut status = known_group();
    status.server_security_groups = vec![
        attached("ins-a", &["secg-extra", "secg-managed"]),
        attached("ins-b", &["secg-extra", "secg-managed"]),
    ];
    reconciled_nsg(m, nsg_spec(), status).await;
    assert_eq!(
        writes.lock().unwrap().clone(),
        [("ins-b".to_owned(), vec!["secg-default".to_owned()])],
        "one write: b loses every group; a keeps all of them"
    );
}

#[tokio::test]
async fn nsg_quota_error_retries_after_three_minutes_and_is_recorded() {
    let mut m = Mocks::new();
    m.net
        .expect_find_security_group_by_name()
        .returning(|_| Ok(None));
    m.net
        .expect_create_security_group()
        .returning(|_, _| Err(CloudError::QuotaExceeded("secgroup".into())));
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    m.net
        .expect_get_server()
        .returning(|id| Ok(server(id, &["secg-default", "secg-extra"])));
    let (deps, seen) = m.deps();
    let err = reconcile_nsg(&deps, &cfg(), &nsg_view(nsg_spec(), Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::After(QUOTA_RETRY));
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert!(st.managed_security_group.error.is_some());
    let c = condition::find_condition(&st.conditions, condition::READY).unwrap();
    assert_eq!(c.status, ConditionStatus::False);
}

#[tokio::test]
async fn nsg_one_failing_server_does_not_block_the_others() {
    let mut m = Mocks::new();
    m.net.expect_get_security_group().returning(|id| {
        Ok(SecurityGroup {
            id: id.into(),
            name: "vks_sg".into(),
            rules: vec![SecurityGroupRule {
                id: "stale".into(),
                direction: RuleDirection::Ingress,
                ether_type: EtherType::IPv4,
                protocol: RuleProtocol::Tcp,
                port_range_min: 1,
                port_range_max: 1,
                remote_ip_prefix: "10.0.0.0/24".into(),
                description: String::new(),
            }],
            ..Default::default()
        })
    });
    m.net
        .expect_delete_security_group_rule()
        .times(1)
        .returning(|_, _| Ok(()));
    m.net
        .expect_create_security_group_rule()
        .times(1)
        .returning(|_, _| Ok("r".into()));
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), node("b", "10.0.0.2")]));
    m.net.expect_get_server().returning(|id| {
        if id == "ins-a" {
            Err(CloudError::Server("boom".into()))
        } else {
            Ok(server(id, &[]))
        }
    });
    m.net
        .expect_set_server_security_groups()
        .times(1)
        .returning(|id, _| {
            assert_eq!(id, "ins-b");
            Ok(())
        });
    let (deps, seen) = m.deps();
    let status = NodeSecurityGroupStatus {
        managed_security_group: ManagedSecurityGroupStatus {
            id: Some("secg-managed".into()),
            error: None,
        },
        ..Default::default()
    };
    let err = reconcile_nsg(&deps, &cfg(), &nsg_view(nsg_spec(), status))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Backoff);
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    let a = st
        .server_security_groups
        .iter()
        .find(|s| s.server_id == "ins-a")
        .unwrap();
    assert!(a.error.is_some());
}

#[tokio::test]
async fn finalize_nsg_detaches_deletes_the_group_and_lets_the_finalizer_go() {
    let mut m = Mocks::new();
    // Server "ins-a" is both recorded and a node's: it is written once.
    m.reader
        .expect_list_nodes()
        .times(1)
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    m.net
        .expect_get_server()
        .returning(|id| Ok(server(id, &["secg-default", "secg-managed"])));
    m.net
        .expect_set_server_security_groups()
        .times(1)
        .returning(|_, groups| {
            assert_eq!(groups, ["secg-default"]);
            Ok(())
        });
    m.net
        .expect_delete_security_group()
        .times(1)
        .returning(|id| Err(CloudError::not_found("security group", id)));
    let (deps, _) = m.deps();
    let status = NodeSecurityGroupStatus {
        managed_security_group: ManagedSecurityGroupStatus {
            id: Some("secg-managed".into()),
            error: None,
        },
        server_security_groups: vec![ServerSecurityGroupStatus {
            server_id: "ins-a".into(),
            attached_security_group_ids: vec!["secg-managed".into()],
            error: None,
        }],
        ..Default::default()
    };
    let mut v = nsg_view(nsg_spec(), status);
    v.meta.deleting = true;
    finalize_nsg(&deps, &v).await.unwrap();
}

#[tokio::test]
async fn finalize_nsg_in_use_error_keeps_the_finalizer() {
    let mut m = Mocks::new();
    m.reader.expect_list_nodes().returning(|| Ok(vec![]));
    m.net
        .expect_delete_security_group()
        .returning(|_| Err(CloudError::InUse("in use".into())));
    let (deps, _) = m.deps();
    let status = NodeSecurityGroupStatus {
        managed_security_group: ManagedSecurityGroupStatus {
            id: Some("secg-managed".into()),
            error: None,
        },
        ..Default::default()
    };
    let err = finalize_nsg(&deps, &nsg_view(nsg_spec(), status))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Backoff);
}

/// The NSG spec without extra groups: the managed group only.
fn managed_only_spec() -> NodeSecurityGroupSpec {
    NodeSecurityGroupSpec {
        attach_security_groups: Vec::new(),
        ..nsg_spec()
    }
}

/// Node `name` (server `ins-{name}`) that no NSG selects: not ready.
fn not_ready(name: &str) -> NodeView {
    NodeView {
        ready: false,
        ..node(name, "10.0.0.9")
    }
}

#[tokio::test]
async fn a_converged_nsg_without_extra_groups_records_no_server_whatever_the_node_count() {
    let mut statuses = Vec::new();
    for count in [3_usize, 50] {
        let mut m = Mocks::new();
        expect_group_in_place(&mut m);
        m.reader.expect_list_nodes().returning(move || {
            Ok((0..count)
                .map(|i| node(&format!("n{i}"), "10.0.0.1"))
                .collect())
        });
        let writes = servers_recording(&mut m, |_| &["secg-default", "secg-managed"]);
        let seen = reconciled_nsg(m, managed_only_spec(), known_group()).await;
        assert!(writes.lock().unwrap().is_empty(), "converged: no write");
        let st = seen.nsg_status.lock().unwrap().clone().unwrap();
        assert_eq!(st.selected_node_count, u32::try_from(count).unwrap());
        assert!(st.selected_nodes.is_empty());
        assert!(st.server_security_groups.is_empty());
        statuses.push(st);
    }
    statuses[1].selected_node_count = statuses[0].selected_node_count;
    assert_eq!(
        statuses[0], statuses[1],
        "only the count differs between 3 and 50 nodes"
    );
}

#[tokio::test]
async fn a_node_leaving_the_selection_loses_the_managed_group_though_the_status_never_listed_it() {
    // Node "b" leaves either by becoming not ready or by being labelled out.
    let labelled_out = || {
        let mut b = node("b", "10.0.0.2");
        b.labels.insert("pool".into(), "other".into());
        b
    };
    for b in [not_ready("b"), labelled_out()] {
        let mut m = Mocks::new();
        expect_group_in_place(&mut m);
        m.reader.expect_list_nodes().returning(move || {
            let mut a = node("a", "10.0.0.1");
            a.labels.insert("pool".into(), "main".into());
            Ok(vec![a, b.clone()])
        });
        let writes = servers_recording(&mut m, |_| &["secg-default", "secg-managed", "secg-user"]);
        let spec = NodeSecurityGroupSpec {
            select_node_labels: BTreeMap::from([("pool".into(), "main".into())]),
            ..managed_only_spec()
        };
        let seen = reconciled_nsg(m, spec, known_group()).await;
        assert_eq!(
            writes.lock().unwrap().clone(),
            [(
                "ins-b".to_owned(),
                vec!["secg-default".to_owned(), "secg-user".to_owned()]
            )],
            "one write: b loses the managed group only; a keeps it"
        );
        let st = seen.nsg_status.lock().unwrap().clone().unwrap();
        assert_eq!(st.selected_node_count, 1);
        assert!(st.server_security_groups.is_empty());
    }
}

#[tokio::test]
async fn a_node_not_selected_whose_server_lacks_the_managed_group_is_not_written() {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), not_ready("b")]));
    let writes = servers_recording(&mut m, |id| {
        if id == "ins-b" {
            &["secg-default", "secg-user"]
        } else {
            &["secg-default", "secg-managed"]
        }
    });
    let seen = reconciled_nsg(m, managed_only_spec(), known_group()).await;
    assert!(writes.lock().unwrap().is_empty());
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert!(st.server_security_groups.is_empty());
}

#[tokio::test]
async fn a_leaving_server_that_fails_to_detach_is_recorded_with_its_error() {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), not_ready("b"), not_ready("c")]));
    m.net.expect_get_server().returning(|id| match id {
        "ins-b" => Err(CloudError::Server("boom".into())),
        "ins-c" => Err(CloudError::not_found("server", id)),
        _ => Ok(server(id, &["secg-managed"])),
    });
    m.net.expect_set_server_security_groups().never();
    let (deps, seen) = m.deps();
    let err = reconcile_nsg(&deps, &cfg(), &nsg_view(managed_only_spec(), known_group()))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Backoff);
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert_eq!(
        st.server_security_groups,
        [ServerSecurityGroupStatus {
            server_id: "ins-b".into(),
            attached_security_group_ids: Vec::new(),
            error: Some(CloudError::Server("boom".into()).to_string()),
        }],
        "the failed server is recorded; a server already gone is not"
    );
}

#[tokio::test]
async fn a_leaving_server_recorded_with_extra_groups_loses_them_and_the_managed_group_in_one_write()
{
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), not_ready("b")]));
    let writes = servers_recording(&mut m, |_| {
        &["secg-default", "secg-extra", "secg-managed", "secg-user"]
    });
    let mut status = known_group();
    status.server_security_groups = vec![
        attached("ins-a", &["secg-extra"]),
        attached("ins-b", &["secg-extra"]),
    ];
    let seen = reconciled_nsg(m, nsg_spec(), status).await;
    assert_eq!(
        writes.lock().unwrap().clone(),
        [(
            "ins-b".to_owned(),
            vec!["secg-default".to_owned(), "secg-user".to_owned()]
        )]
    );
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert_eq!(
        st.server_security_groups,
        [attached("ins-a", &["secg-extra"])]
    );
}

#[tokio::test]
async fn finalize_detaches_the_managed_group_from_every_nodes_server_then_deletes_it() {
    let mut m = Mocks::new();
    m.reader.expect_list_nodes().times(1).returning(|| {
        let no_server = NodeView {
            provider_id: None,
            ..node("c", "10.0.0.3")
        };
        Ok(vec![node("a", "10.0.0.1"), not_ready("b"), no_server])
    });
    let writes = servers_recording(&mut m, |_| &["secg-default", "secg-managed"]);
    let w = writes.clone();
    m.net
        .expect_delete_security_group()
        .times(1)
        .returning(move |id| {
            assert_eq!(id, "secg-managed");
            assert_eq!(w.lock().unwrap().len(), 2, "deleted after the detaches");
            Ok(())
        });
    let (deps, _) = m.deps();
    let mut v = nsg_view(managed_only_spec(), known_group());
    v.meta.deleting = true;
    finalize_nsg(&deps, &v).await.unwrap();
    let default = vec!["secg-default".to_owned()];
    assert_eq!(
        writes.lock().unwrap().clone(),
        [
            ("ins-a".to_owned(), default.clone()),
            ("ins-b".to_owned(), default)
        ]
    );
}

#[tokio::test]
async fn finalize_removes_recorded_extra_groups_and_the_managed_group_in_one_write_per_server() {
    let mut m = Mocks::new();
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1"), node("b", "10.0.0.2")]));
    let writes = servers_recording(&mut m, |_| &["secg-default", "secg-extra", "secg-managed"]);
    m.net
        .expect_delete_security_group()
        .times(1)
        .returning(|_| Ok(()));
    let (deps, _) = m.deps();
    // Only server "ins-a" records the extra group: "ins-b" keeps it.
    let mut status = known_group();
    status.server_security_groups = vec![attached("ins-a", &["secg-extra"])];
    let mut v = nsg_view(nsg_spec(), status);
    v.meta.deleting = true;
    finalize_nsg(&deps, &v).await.unwrap();
    assert_eq!(
        writes.lock().unwrap().clone(),
        [
            ("ins-a".to_owned(), vec!["secg-default".to_owned()]),
            (
                "ins-b".to_owned(),
                vec!["secg-default".to_owned(), "secg-extra".to_owned()]
            ),
        ]
    );
}

#[tokio::test]
async fn an_old_format_entry_listing_the_managed_group_is_detached_once_unselected() {
    let mut m = Mocks::new();
    expect_group_in_place(&mut m);
    // Server "ins-gone" has no Node any more; only the old status names it.
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    let writes = servers_recording(&mut m, |_| &["secg-default", "secg-managed"]);
    let mut status = known_group();
    status.selected_nodes = vec![
        NodeInfo {
            name: "a".into(),
            server_id: "ins-a".into(),
        },
        NodeInfo {
            name: "gone".into(),
            server_id: "ins-gone".into(),
        },
    ];
    status.server_security_groups = vec![
        attached("ins-a", &["secg-managed"]),
        attached("ins-gone", &["secg-managed"]),
    ];
    let seen = reconciled_nsg(m, managed_only_spec(), status).await;
    assert_eq!(
        writes.lock().unwrap().clone(),
        [("ins-gone".to_owned(), vec!["secg-default".to_owned()])]
    );
    let st = seen.nsg_status.lock().unwrap().clone().unwrap();
    assert!(st.selected_nodes.is_empty(), "the old list is dropped");
    assert!(
        st.server_security_groups.is_empty(),
        "old entries are dropped"
    );
    assert_eq!(st.selected_node_count, 1);
}

#[tokio::test]
async fn another_nsgs_leaving_managed_group_rides_along_unless_some_nsg_still_wants_it() {
    // This NSG selects every node; the other selects "pool=main" only, so its group
    // `secg-other` is leaving server "ins-b", which lacks this NSG's group.
    for still_wanted in [false, true] {
        let mut m = Mocks::new();
        expect_group_in_place(&mut m);
        m.reader.expect_list_nodes().returning(|| {
            let mut a = node("a", "10.0.0.1");
            a.labels.insert("pool".into(), "main".into());
            Ok(vec![a, node("b", "10.0.0.2")])
        });
        let mut other = other_nsg("secg-other", false);
        other.spec.select_node_labels = BTreeMap::from([("pool".into(), "main".into())]);
        m.nsgs = vec![other];
        if still_wanted {
            // A third NSG attaches `secg-other` as an extra group to every node.
            let mut third = other_nsg("secg-third", false);
            third.meta.key = ObjectKey::new("default", "third");
            third.status.managed_security_group.id = None;
            third.spec.attach_security_groups = vec!["secg-other".into()];
            m.nsgs.push(third);
        }
        let writes = servers_recording(&mut m, |id| {
            if id == "ins-b" {
                &["secg-default", "secg-other"]
            } else {
                &["secg-default", "secg-managed", "secg-other"]
            }
        });
        reconciled_nsg(m, managed_only_spec(), known_group()).await;
        let want: &[&str] = if still_wanted {
            &["secg-default", "secg-other", "secg-managed"]
        } else {
            &["secg-default", "secg-managed"]
        };
        assert_eq!(
            writes.lock().unwrap().clone(),
            [(
                "ins-b".to_owned(),
                want.iter().map(|g| (*g).to_owned()).collect::<Vec<_>>()
            )],
            "still wanted: {still_wanted}"
        );
    }
}

#[tokio::test]
async fn migration_deploys_the_new_load_balancer_then_retires_the_old_one() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (old, mut status) = deployed(&spec);
    let old_id = old.lb.id.clone();
    status.load_balancer_id = Some(old_id.clone());
    let mut spec2 = spec.clone();
    spec2.load_balancer_id = Some("lb-new".into());
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let old_lb = old.lb.clone();
    m.lb.expect_get_load_balancer().returning(move |id| {
        if id == "lb-new" {
            Ok(active("lb-new"))
        } else {
            Ok(old_lb.clone())
        }
    });
    let (ls, ps, ts) = (
        old.listeners.clone(),
        old.pools.clone(),
        old.lb.tags.clone(),
    );
    m.lb.expect_list_listeners()
        .returning(move |id| Ok(if id == "lb-new" { vec![] } else { ls.clone() }));
    m.lb.expect_list_pools()
        .returning(move |id| Ok(if id == "lb-new" { vec![] } else { ps.clone() }));
    m.lb.expect_get_tags().returning(move |id| {
        Ok(if id == "lb-new" {
            BTreeMap::new()
        } else {
            ts.clone()
        })
    });
    m.lb.expect_create_pool().times(1).returning(|lb, _| {
        assert_eq!(lb, "lb-new");
        Ok("pool-new".into())
    });
    m.lb.expect_create_listener().times(1).returning(|lb, _| {
        assert_eq!(lb, "lb-new");
        Ok("lis-new".into())
    });
    m.lb.expect_put_tags().times(1).returning(|lb, _| {
        assert_eq!(lb, "lb-new");
        Ok(())
    });
    let o = old_id.clone();
    m.lb.expect_delete_load_balancer()
        .times(1)
        .returning(move |id| {
            assert_eq!(id, o, "the old, self-created load balancer is retired");
            Ok(())
        });
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec2, status))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(st.load_balancer_id.as_deref(), Some("lb-new"));
    assert_eq!(st.adopted_load_balancer_id.as_deref(), Some("lb-new"));
    assert!(st.retiring_load_balancer.is_none());
    assert_eq!(st.created_pools.len(), 1);
}

#[tokio::test]
async fn renaming_creates_the_load_balancer_of_the_new_name_then_retires_the_old_one() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (old, mut status) = deployed(&spec);
    let old_id = old.lb.id.clone();
    status.load_balancer_id = Some(old_id.clone());
    status.created_load_balancer_id = Some(old_id.clone());
    let mut renamed = spec.clone();
    renamed.load_balancer_name = "vks_renamed".into();
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let old_lb = LoadBalancer {
        name: "vks_lb".into(),
        ..old.lb.clone()
    };
    m.lb.expect_get_load_balancer().returning(move |id| {
        if id == "lb-new" {
            Ok(LoadBalancer {
                name: "vks_renamed".into(),
                ..active("lb-new")
            })
        } else {
            Ok(old_lb.clone())
        }
    });
    m.lb.expect_find_load_balancer_by_name()
        .times(1)
        .returning(|name| {
            assert_eq!(name, "vks_renamed", "the new name is looked up");
            Ok(None)
        });
    m.lb.expect_create_load_balancer()
        .times(1)
        .returning(|req| {
            assert_eq!(req.name, "vks_renamed");
            Ok("lb-new".into())
        });
    let (ls, ps) = (old.listeners.clone(), old.pools.clone());
    m.lb.expect_list_listeners().returning(move |id| {
        Ok(if id == "lb-new" {
            vec![Listener {
                id: "lis-80".into(),
                port: 80,
                ..Default::default()
            }]
        } else {
            ls.clone()
        })
    });
    m.lb.expect_list_pools().returning(move |id| {
        Ok(if id == "lb-new" {
            vec![Pool {
                id: "pool-80".into(),
                name: "pool_80".into(),
                ..Default::default()
            }]
        } else {
            ps.clone()
        })
    });
    let ts = old.lb.tags.clone();
    m.lb.expect_get_tags().returning(move |_| Ok(ts.clone()));
    // Teardown takes this cluster's tags off before deleting.
    m.lb.expect_put_tags().returning(|_, _| Ok(()));
    let o = old_id.clone();
    m.lb.expect_delete_load_balancer()
        .times(1)
        .returning(move |id| {
            assert_eq!(id, o, "the old, self-created load balancer is retired");
            Ok(())
        });
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(renamed, status))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(st.load_balancer_id.as_deref(), Some("lb-new"));
    assert_eq!(st.created_load_balancer_id.as_deref(), Some("lb-new"));
    assert!(st.retiring_load_balancer.is_none());
}

#[tokio::test]
async fn finalize_keeps_cluster_tags_while_another_lbc_uses_the_load_balancer() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (mut obs, status) = deployed(&spec);
    obs.listeners.push(Listener {
        id: "lis-other".into(),
        port: 8080,
        ..Default::default()
    });
    let mut other = lbc_view(
        lbc_spec(&[(8080, ListenerProtocol::Tcp)]),
        LoadBalancerConfigStatus::default(),
    );
    other.meta.key = ObjectKey::new("default", "other");
    other.status.load_balancer_id = Some(obs.lb.id.clone());
    let mut mine = lbc_view(spec, status);
    mine.status.load_balancer_id = Some(obs.lb.id.clone());
    let mut m = Mocks::new();
    m.reader
        .expect_list_lbcs()
        .returning(move || Ok(vec![other.clone()]));
    let lb = obs.lb.clone();
    m.lb.expect_get_load_balancer()
        .returning(move |_| Ok(lb.clone()));
    expect_lb_reads(&mut m, &obs);
    m.lb.expect_delete_listener()
        .times(1)
        .returning(|_, _| Ok(()));
    m.lb.expect_delete_pool().times(1).returning(|_, _| Ok(()));
    // No put_tags and no delete_load_balancer expected.
    let (deps, _) = m.deps();
    finalize_lbc(&deps, &cfg(), &mine).await.unwrap();
    assert_eq!(
        super::lbc::serialization_key(&mine),
        mine.status.load_balancer_id.clone().unwrap()
    );
}

#[tokio::test]
async fn lbc_cluster_errors_are_retried_as_the_api_server_asks() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| {
        Err(ClusterError::TooManyRequests {
            retry_after: Duration::from_secs(7),
        })
    });
    let (deps, _) = m.deps();
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let err = reconcile_lbc(
        &deps,
        &cfg(),
        &lbc_view(spec, LoadBalancerConfigStatus::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.retry(), Retry::After(Duration::from_secs(7)));
}

#[tokio::test]
async fn nsg_cluster_error_listing_nodes_is_retried_with_backoff() {
    let mut m = Mocks::new();
    m.net.expect_find_security_group_by_name().returning(|_| {
        Ok(Some(SecurityGroup {
            id: "secg-managed".into(),
            name: "vks_sg".into(),
            ..Default::default()
        }))
    });
    m.net
        .expect_create_security_group_rule()
        .returning(|_, _| Ok("r".into()));
    m.reader
        .expect_list_nodes()
        .returning(|| Err(ClusterError::Server("etcd".into())));
    let (deps, _) = m.deps();
    let err = reconcile_nsg(
        &deps,
        &cfg(),
        &nsg_view(nsg_spec(), NodeSecurityGroupStatus::default()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DomainError::Cluster(ClusterError::Server(_))));
    assert_eq!(err.retry(), Retry::Backoff);
}

// ---------------------------------------------------------------- invalid input stays visible

const BAD: &str = "invalid annotations: vks.vngcloud.vn/scheme=\"public\": accepted Internal, Internet or InterVPC";

fn cond(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message: message.into(),
        last_transition_time: jiff::Timestamp::from_second(5).unwrap(),
        observed_generation: Some(2),
    }
}

/// What the Service use case leaves on the LBC while the annotations are invalid.
fn invalid_conditions() -> Vec<Condition> {
    vec![
        cond(
            condition::READY,
            ConditionStatus::False,
            condition::REASON_INVALID_ANNOTATIONS,
            BAD,
        ),
        cond(
            condition::ANNOTATIONS_VALID,
            ConditionStatus::False,
            condition::REASON_INVALID_ANNOTATIONS,
            BAD,
        ),
    ]
}

/// Reads of the listeners, pools and tags of `obs`.
fn expect_lb_reads(m: &mut Mocks, obs: &planner::Observed) {
    let (ls, ps, ts) = (
        obs.listeners.clone(),
        obs.pools.clone(),
        obs.lb.tags.clone(),
    );
    m.lb.expect_list_listeners()
        .returning(move |_| Ok(ls.clone()));
    m.lb.expect_list_pools().returning(move |_| Ok(ps.clone()));
    m.lb.expect_get_tags().returning(move |_| Ok(ts.clone()));
}

/// Reads of a deployed load balancer, no write.
fn expect_deployed_reads(m: &mut Mocks, obs: &planner::Observed) {
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    let mut lb = active(&obs.lb.id);
    lb.tags = obs.lb.tags.clone();
    m.lb.expect_get_load_balancer()
        .returning(move |_| Ok(lb.clone()));
    expect_lb_reads(m, obs);
}

fn ready_of(st: &LoadBalancerConfigStatus) -> Condition {
    condition::find_condition(&st.conditions, condition::READY)
        .cloned()
        .expect("Ready condition")
}

#[tokio::test]
async fn lbc_reconcile_keeps_ready_false_while_the_service_annotations_are_invalid() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    status.conditions = invalid_conditions();
    let mut m = Mocks::new();
    m.lbc_base = status.clone();
    // The last good load balancer keeps serving: reads only, no cloud write.
    expect_deployed_reads(&mut m, &obs);
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    let ready = ready_of(&st);
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason, condition::REASON_INVALID_ANNOTATIONS);
    assert_eq!(ready.message, BAD);
    assert_eq!(st.address.as_deref(), Some("203.0.113.9"));
}

#[tokio::test]
async fn lbc_reconcile_started_before_the_service_flagged_bad_input_does_not_hide_it() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    let mut m = Mocks::new();
    // The stored LBC already carries the Service's verdict; the snapshot does not.
    m.lbc_base = LoadBalancerConfigStatus {
        conditions: invalid_conditions(),
        ..status.clone()
    };
    expect_deployed_reads(&mut m, &obs);
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(ready_of(&st).reason, condition::REASON_INVALID_ANNOTATIONS);
    let valid = condition::find_condition(&st.conditions, condition::ANNOTATIONS_VALID).unwrap();
    assert_eq!(valid.status, ConditionStatus::False);
}

#[tokio::test]
async fn invalid_annotations_are_recorded_on_the_lbc_with_its_own_generation() {
    let mut m = Mocks::new();
    m.reader.expect_get_lbc().returning(|_| {
        let mut v = LoadBalancerConfigView::default();
        v.meta.generation = 7;
        Ok(Some(v))
    });
    let (deps, seen) = m.deps();
    let svc = service(&[("scheme", "public")]);
    let err = reconcile_service(&deps, &cfg(), &svc).await.unwrap_err();
    assert_eq!(err.retry(), Retry::Never);
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    let valid = condition::find_condition(&st.conditions, condition::ANNOTATIONS_VALID).unwrap();
    assert_eq!(valid.status, ConditionStatus::False);
    assert_eq!(valid.observed_generation, Some(7));
    assert!(valid.message.contains("public"));
    assert_eq!(ready_of(&st).reason, condition::REASON_INVALID_ANNOTATIONS);
}

/// Expectations of a Service reconcile that applies its LBC and NSG.
fn expect_service_apply(m: &mut Mocks) {
    m.reader
        .expect_list_nodes()
        .returning(|| Ok(vec![node("a", "10.0.0.1")]));
    expect_placement(m);
    m.writer
        .expect_apply_lbc()
        .times(1)
        .returning(|_, _| Ok(()));
    m.writer
        .expect_apply_nsg()
        .times(1)
        .returning(|_, _| Ok(()));
}

#[tokio::test]
async fn fixed_annotations_mark_the_lbc_valid_and_the_next_lbc_reconcile_sets_ready() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    status.conditions = invalid_conditions();
    let mut m = Mocks::new();
    m.lbc_base = status.clone();
    expect_service_apply(&mut m);
    let view = lbc_view(spec.clone(), status.clone());
    m.reader
        .expect_get_lbc()
        .returning(move |_| Ok(Some(view.clone())));
    let (deps, seen) = m.deps();
    reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    let valid = condition::find_condition(&st.conditions, condition::ANNOTATIONS_VALID).unwrap();
    assert_eq!(valid.status, ConditionStatus::True);
    assert_eq!(ready_of(&st).status, ConditionStatus::Unknown);
    assert_eq!(ready_of(&st).reason, condition::REASON_RECONCILING);

    let mut m = Mocks::new();
    m.lbc_base = st.clone();
    expect_deployed_reads(&mut m, &obs);
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, st))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(ready_of(&st).status, ConditionStatus::True);
}

#[tokio::test]
async fn valid_annotations_without_a_previous_error_write_no_lbc_condition() {
    let mut m = Mocks::new();
    expect_service_apply(&mut m);
    m.reader
        .expect_get_lbc()
        .returning(|_| Ok(Some(LoadBalancerConfigView::default())));
    let (deps, seen) = m.deps();
    reconcile_service(&deps, &cfg(), &service(&[]))
        .await
        .unwrap();
    assert!(seen.lbc_status.lock().unwrap().is_none());
}

// ---------------------------------------------------------------- shared load balancers

#[tokio::test]
async fn the_loser_of_a_port_conflict_is_listed_for_requeue_and_wins_once_the_winner_goes() {
    let mut winner = lbc_view(lbc_spec(&[(80, ListenerProtocol::Tcp)]), Default::default());
    winner.meta.key = ObjectKey::new("a", "winner");
    winner.meta.created = Some(jiff::Timestamp::from_second(10).unwrap());
    let loser = lbc_view(lbc_spec(&[(80, ListenerProtocol::Udp)]), Default::default());
    let mut elsewhere = lbc_view(lbc_spec(&[(80, ListenerProtocol::Udp)]), Default::default());
    elsewhere.meta.key = ObjectKey::new("b", "elsewhere");
    elsewhere.spec.load_balancer_name = "another_lb".into();
    let all = vec![winner.clone(), loser.clone(), elsewhere.clone()];
    assert!(super::lbc::port_conflict(&loser, &all).is_some());
    assert_eq!(
        super::lbc::lbcs_sharing_load_balancer(&winner, &all),
        vec![loser.meta.key.clone()]
    );
    assert!(super::lbc::lbcs_sharing_load_balancer(&elsewhere, &all).is_empty());
    // The winner is being deleted: requeued, the loser deploys.
    let mut going = winner;
    going.meta.deleting = true;
    let all = vec![going, loser.clone(), elsewhere];
    assert!(super::lbc::port_conflict(&loser, &all).is_none());
}

#[tokio::test]
async fn lbcs_sharing_by_load_balancer_id_are_found_whatever_their_names() {
    let mut a = lbc_view(lbc_spec(&[]), Default::default());
    a.spec.load_balancer_id = Some("lb-shared".into());
    a.spec.load_balancer_name = "x".into();
    let mut b = lbc_view(lbc_spec(&[]), Default::default());
    b.meta.key = ObjectKey::new("other", "b");
    b.spec.load_balancer_name = "y".into();
    b.status.load_balancer_id = Some("lb-shared".into());
    assert_eq!(
        super::lbc::lbcs_sharing_load_balancer(&a, &[a.clone(), b.clone()]),
        vec![b.meta.key.clone()]
    );
}

// ---------------------------------------------------------------- L7: certificates, policies

fn tls_secret(name: &str, rv: &str, with_key: bool) -> SecretView {
    let mut data = BTreeMap::from([(
        "tls.crt".to_owned(),
        b"-----BEGIN CERTIFICATE-----\r\nx\r\n".to_vec(),
    )]);
    if with_key {
        data.insert("tls.key".into(), b"-----BEGIN PRIVATE KEY-----".to_vec());
    }
    SecretView {
        key: ObjectKey::new("default", name),
        resource_version: rv.into(),
        data,
    }
}

/// An HTTPS listener on 443 with a certificate from secret `tls` and a policy sending
/// `/api` to its pool.
fn https_spec() -> LoadBalancerConfigSpec {
    let mut spec = lbc_spec(&[(443, ListenerProtocol::Https)]);
    spec.lb_type = LoadBalancerType::Layer7;
    spec.create_certificates.push(CreateCertificate {
        secret_name: "tls".into(),
    });
    let l = &mut spec.listeners[0];
    l.certificate_default = Some(ListenerCertificate {
        secret_name: Some("tls".into()),
        ..Default::default()
    });
    l.policies.push(PolicySpec {
        name: "api".into(),
        description: None,
        redirect_pool_name: Some("pool_443".into()),
        action: PolicyAction::RedirectToPool,
        redirect_url: None,
        redirect_http_code: None,
        keep_query_string: None,
        position: Some(1),
        l7_rules: vec![L7Rule {
            compare_type: PolicyCompareType::StartsWith,
            rule_value: "/api".into(),
            rule_type: PolicyRuleType::Path,
        }],
    });
    spec
}

#[tokio::test]
async fn https_lbc_imports_its_secret_certificate_then_creates_listener_and_policy() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.reader
        .expect_get_secret()
        .returning(|k| Ok(Some(tls_secret(&k.name, "7", true))));
    m.lb.expect_list_certificates().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.lb.expect_create_certificate().times(1).returning(|req| {
        assert!(req.name.starts_with("vks-"), "{}", req.name);
        assert!(!req.certificate.contains('\r'));
        assert!(req.private_key.is_some());
        Ok("cert-1".into())
    });
    m.lb.expect_create_load_balancer()
        .times(1)
        .returning(|_| Ok("lb-1".into()));
    m.lb.expect_create_pool()
        .times(1)
        .returning(|_, _| Ok("pool-1".into()));
    m.lb.expect_create_listener().times(1).returning(|_, req| {
        assert_eq!(req.default_certificate_authority.as_deref(), Some("cert-1"));
        assert_eq!(req.default_pool_id.as_deref(), Some("pool-1"));
        Ok("lis-1".into())
    });
    m.lb.expect_create_policy()
        .times(1)
        .returning(|_, listener, policy| {
            assert_eq!(listener, "lis-1");
            assert_eq!(policy.redirect_pool_id.as_deref(), Some("pool-1"));
            assert_eq!(policy.position, 1);
            Ok("pol-1".into())
        });
    m.lb.expect_get_load_balancer()
        .returning(|id| Ok(active(id)));
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(https_spec(), Default::default()))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(st.created_certificates.len(), 1);
    let c = &st.created_certificates[0];
    assert_eq!(
        (
            c.id.as_str(),
            c.secret_name.as_str(),
            c.resource_version.as_str()
        ),
        ("cert-1", "tls", "7")
    );
    assert_eq!(st.created_listeners[0].created_policies[0].id, "pol-1");
    assert_eq!(ready_of(&st).status, ConditionStatus::True);
}

#[tokio::test]
async fn tls_secret_without_a_key_is_invalid_input_and_not_retried() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.reader
        .expect_get_secret()
        .returning(|k| Ok(Some(tls_secret(&k.name, "7", false))));
    let (deps, seen) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(https_spec(), Default::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::Invalid(m) if m.contains("tls.key")),
        "{err}"
    );
    assert_eq!(err.retry(), Retry::Never);
    assert_eq!(
        ready_of(&seen.lbc_status.lock().unwrap().clone().unwrap()).status,
        ConditionStatus::False
    );
}

#[tokio::test]
async fn missing_tls_secret_is_retried_with_backoff() {
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.reader.expect_get_secret().returning(|_| Ok(None));
    let (deps, _) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(https_spec(), Default::default()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Cluster(ClusterError::NotFound(_))
    ));
    assert_eq!(err.retry(), Retry::Backoff);
}

#[tokio::test]
async fn listener_certificate_named_but_not_in_the_cloud_is_reported_and_retried() {
    let mut spec = lbc_spec(&[(443, ListenerProtocol::Https)]);
    spec.listeners[0].certificate_default = Some(ListenerCertificate {
        name: Some("wildcard".into()),
        ..Default::default()
    });
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_find_load_balancer_by_name()
        .returning(|_| Ok(None));
    m.lb.expect_list_certificates().returning(|| Ok(vec![]));
    // The load balancer and pool are still deployed; the listener waits.
    m.lb.expect_create_load_balancer()
        .times(1)
        .returning(|_| Ok("lb-1".into()));
    m.lb.expect_create_pool()
        .times(1)
        .returning(|_, _| Ok("pool-1".into()));
    m.lb.expect_get_load_balancer()
        .returning(|id| Ok(active(id)));
    let (deps, seen) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wildcard"), "{err}");
    assert_eq!(err.retry(), Retry::Backoff);
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(st.created_load_balancer_id.as_deref(), Some("lb-1"));
}

#[tokio::test]
async fn finalize_deletes_the_load_balancer_then_the_imported_certificates() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.created_certificates = vec![
        CreatedCertificate {
            secret_name: "tls".into(),
            resource_version: "7".into(),
            id: "cert-1".into(),
            certificate_name: None,
        },
        CreatedCertificate {
            secret_name: "old".into(),
            resource_version: "1".into(),
            id: "cert-gone".into(),
            certificate_name: None,
        },
    ];
    let mut m = Mocks::new();
    expect_deployed_reads(&mut m, &obs);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    m.lb.expect_delete_load_balancer()
        .times(1)
        .returning(move |_| {
            o.lock().unwrap().push("lb".to_owned());
            Ok(())
        });
    let o = order.clone();
    m.lb.expect_delete_certificate()
        .times(2)
        .returning(move |id| {
            o.lock().unwrap().push(id.to_owned());
            if id == "cert-gone" {
                Err(CloudError::not_found("certificate", id))
            } else {
                Ok(())
            }
        });
    let (deps, seen) = m.deps();
    finalize_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
    assert_eq!(*order.lock().unwrap(), ["lb", "cert-1", "cert-gone"]);
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert!(st.created_certificates.is_empty());
}

#[tokio::test]
async fn finalize_without_a_load_balancer_still_deletes_imported_certificates() {
    let status = LoadBalancerConfigStatus {
        created_certificates: vec![CreatedCertificate {
            id: "cert-1".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut m = Mocks::new();
    m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
    m.lb.expect_delete_certificate()
        .times(1)
        .returning(|_| Ok(()));
    let (deps, _) = m.deps();
    finalize_lbc(&deps, &cfg(), &lbc_view(lbc_spec(&[]), status))
        .await
        .unwrap();
}

#[tokio::test]
async fn layer4_reconcile_lists_no_policy_and_no_certificate() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    let mut m = Mocks::new();
    expect_deployed_reads(&mut m, &obs);
    m.lb.expect_list_policies().times(0);
    m.lb.expect_list_certificates().times(0);
    let (deps, _) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
}

// ---------------------------------------------------------------- every error class

/// One error of each cloud class.
fn cloud_errors() -> Vec<CloudError> {
    vec![
        CloudError::not_found("load balancer", "lb-x"),
        CloudError::Busy("is updating".into()),
        CloudError::RateLimited {
            retry_after: Duration::from_secs(20),
        },
        CloudError::QuotaExceeded("exceeded load_balancer quota".into()),
        CloudError::InUse("is used in listener".into()),
        CloudError::Duplicate("duplicated pool name".into()),
        CloudError::Invalid("bad request".into()),
        CloudError::Unauthorized("token expired".into()),
        CloudError::Server("500".into()),
        CloudError::Transport("connection reset".into()),
        CloudError::Other {
            status: 418,
            message: "teapot".into(),
        },
    ]
}

/// One error of each cluster class.
fn cluster_errors() -> Vec<ClusterError> {
    vec![
        ClusterError::NotFound("x".into()),
        ClusterError::Conflict("x".into()),
        ClusterError::Gone("x".into()),
        ClusterError::Unauthorized("x".into()),
        ClusterError::Forbidden("x".into()),
        ClusterError::Invalid("x".into()),
        ClusterError::TooManyRequests {
            retry_after: Duration::from_secs(7),
        },
        ClusterError::Server("x".into()),
        ClusterError::Transport("x".into()),
    ]
}

#[tokio::test]
async fn service_reconcile_returns_each_cloud_error_class_with_its_retry() {
    for error in cloud_errors() {
        let mut m = Mocks::new();
        m.reader.expect_get_lbc().returning(|_| Ok(None));
        m.reader
            .expect_list_nodes()
            .returning(|| Ok(vec![node("a", "10.0.0.1")]));
        let e = error.clone();
        m.net.expect_get_server().returning(move |_| Err(e.clone()));
        // No LBC or NSG is applied on error.
        let (deps, _) = m.deps();
        let err = reconcile_service(&deps, &cfg(), &service(&[]))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Cloud(error.clone()));
        assert_eq!(err.retry(), error.retry(), "{error}");
    }
}

#[tokio::test]
async fn service_reconcile_returns_each_cluster_error_class_with_its_retry() {
    for error in cluster_errors() {
        let mut m = Mocks::new();
        m.reader.expect_get_lbc().returning(|_| Ok(None));
        m.reader
            .expect_list_nodes()
            .returning(|| Ok(vec![node("a", "10.0.0.1")]));
        expect_placement(&mut m);
        let e = error.clone();
        m.writer
            .expect_apply_lbc()
            .returning(move |_, _| Err(e.clone()));
        let (deps, _) = m.deps();
        let err = reconcile_service(&deps, &cfg(), &service(&[]))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Cluster(error.clone()));
        assert_eq!(err.retry(), error.retry(), "{error}");
    }
}

#[tokio::test]
async fn lbc_reconcile_records_each_cloud_error_class_and_returns_its_retry() {
    for error in cloud_errors() {
        let mut m = Mocks::new();
        m.reader.expect_list_lbcs().returning(|| Ok(vec![]));
        m.lb.expect_find_load_balancer_by_name()
            .returning(|_| Ok(None));
        let e = error.clone();
        m.lb.expect_create_load_balancer()
            .returning(move |_| Err(e.clone()));
        let (deps, seen) = m.deps();
        let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
        let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Cloud(error.clone()));
        assert_eq!(err.retry(), error.retry(), "{error}");
        let st = seen.lbc_status.lock().unwrap().clone().unwrap();
        let ready = ready_of(&st);
        assert_eq!(ready.status, ConditionStatus::False, "{error}");
        assert_eq!(ready.reason, condition::REASON_FAILED);
        assert_eq!(st.last_reconcile_message, err.to_string());
    }
}

#[tokio::test]
async fn lbc_reconcile_returns_each_cluster_error_class_with_its_retry() {
    for error in cluster_errors() {
        let mut m = Mocks::new();
        let e = error.clone();
        m.reader
            .expect_list_lbcs()
            .returning(move || Err(e.clone()));
        let (deps, _) = m.deps();
        let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
        let err = reconcile_lbc(&deps, &cfg(), &lbc_view(spec, Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Cluster(error.clone()));
        assert_eq!(err.retry(), error.retry(), "{error}");
    }
}

#[tokio::test]
async fn redundant_pool_still_in_use_is_retried_with_backoff_after_its_listener_went() {
    let spec = lbc_spec(&[(80, ListenerProtocol::Tcp), (81, ListenerProtocol::Tcp)]);
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    let smaller = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
    let mut m = Mocks::new();
    expect_deployed_reads(&mut m, &obs);
    let gone = status
        .created_listeners
        .iter()
        .find(|l| l.port == 81)
        .unwrap()
        .id
        .clone();
    m.lb.expect_delete_listener()
        .times(1)
        .returning(|_, _| Ok(()));
    m.lb.expect_delete_pool()
        .times(1)
        .returning(|_, _| Err(CloudError::InUse("is used in listener".into())));
    let (deps, seen) = m.deps();
    let err = reconcile_lbc(&deps, &cfg(), &lbc_view(smaller, status))
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Backoff);
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert!(
        !st.created_listeners.iter().any(|l| l.id == gone),
        "the deleted listener is recorded as gone"
    );
    assert_eq!(st.created_pools.len(), 2, "the pool in use stays recorded");
}

#[tokio::test]
async fn finalize_lbc_keeps_its_finalizer_on_each_cloud_error_class_but_not_found() {
    for error in cloud_errors() {
        let spec = lbc_spec(&[(80, ListenerProtocol::Tcp)]);
        let (obs, status) = deployed(&spec);
        let mut m = Mocks::new();
        expect_deployed_reads(&mut m, &obs);
        let e = error.clone();
        m.lb.expect_delete_load_balancer()
            .returning(move |_| Err(e.clone()));
        let gone = error.is_not_found();
        let (deps, _) = m.deps();
        let result = finalize_lbc(&deps, &cfg(), &lbc_view(spec, status)).await;
        if gone {
            assert!(result.is_ok(), "already gone is success");
        } else {
            let err = result.unwrap_err();
            assert_eq!(err, DomainError::Cloud(error.clone()));
            assert_eq!(err.retry(), error.retry(), "{error}");
        }
    }
}

#[tokio::test]
async fn nsg_reconcile_records_each_cloud_error_class_of_a_rule_and_returns_its_retry() {
    for error in cloud_errors() {
        if matches!(error, CloudError::Duplicate(_)) {
            continue; // The rule exists: success, tested below.
        }
        let mut m = Mocks::new();
        m.net.expect_find_security_group_by_name().returning(|_| {
            Ok(Some(SecurityGroup {
                id: "secg-managed".into(),
                name: "vks_sg".into(),
                ..Default::default()
            }))
        });
        let e = error.clone();
        m.net
            .expect_create_security_group_rule()
            .returning(move |_, _| Err(e.clone()));
        m.reader.expect_list_nodes().returning(|| Ok(vec![]));
        let (deps, seen) = m.deps();
        let err = reconcile_nsg(&deps, &cfg(), &nsg_view(nsg_spec(), Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Cloud(error.clone()));
        assert_eq!(err.retry(), error.retry(), "{error}");
        let st = seen.nsg_status.lock().unwrap().clone().unwrap();
        assert_eq!(
            st.managed_security_group.error,
            Some(error.to_string()),
            "{error}"
        );
    }
}

#[tokio::test]
async fn nsg_rule_that_already_exists_is_success() {
    let mut m = Mocks::new();
    m.net.expect_find_security_group_by_name().returning(|_| {
        Ok(Some(SecurityGroup {
            id: "secg-managed".into(),
            ..Default::default()
        }))
    });
    m.net
        .expect_create_security_group_rule()
        .returning(|_, _| Err(CloudError::Duplicate("rule exists".into())));
    m.reader.expect_list_nodes().returning(|| Ok(vec![]));
    reconciled_nsg(m, nsg_spec(), Default::default()).await;
}

#[tokio::test]
async fn finalize_nsg_keeps_its_finalizer_on_each_cloud_error_class_but_not_found() {
    for error in cloud_errors() {
        let mut m = Mocks::new();
        let e = error.clone();
        m.net
            .expect_delete_security_group()
            .returning(move |_| Err(e.clone()));
        m.reader.expect_list_nodes().returning(|| Ok(vec![]));
        let gone = error.is_not_found();
        let (deps, _) = m.deps();
        let status = NodeSecurityGroupStatus {
            managed_security_group: ManagedSecurityGroupStatus {
                id: Some("secg-managed".into()),
                error: None,
            },
            ..Default::default()
        };
        let result = finalize_nsg(&deps, &nsg_view(nsg_spec(), status)).await;
        if gone {
            assert!(result.is_ok(), "already gone is success");
        } else {
            let err = result.unwrap_err();
            assert_eq!(err, DomainError::Cloud(error.clone()));
            assert_eq!(err.retry(), error.retry(), "{error}");
        }
    }
}

#[tokio::test]
async fn policies_no_longer_wanted_are_deleted_and_foreign_ones_on_the_listener_stay() {
    let mut spec = https_spec();
    spec.create_certificates.clear();
    spec.listeners[0].certificate_default = Some(ListenerCertificate {
        id: Some("cert-x".into()),
        ..Default::default()
    });
    let (obs, mut status) = deployed(&spec);
    status.load_balancer_id = Some(obs.lb.id.clone());
    let listener_id = status.created_listeners[0].id.clone();
    // On the cloud: our "api" policy, an old one of ours, and someone else's.
    let policy = |id: &str, name: &str, value: &str| L7Policy {
        id: id.into(),
        name: name.into(),
        action: PolicyAction::Reject,
        redirect_pool_id: None,
        redirect_url: None,
        redirect_http_code: None,
        keep_query_string: false,
        position: 0,
        rules: vec![L7Rule {
            compare_type: PolicyCompareType::StartsWith,
            rule_value: value.into(),
            rule_type: PolicyRuleType::Path,
        }],
    };
    let mut ours = policy("pol-api", "api", "/api");
    ours.action = PolicyAction::RedirectToPool;
    ours.redirect_pool_id = Some(status.created_pools[0].id.clone());
    ours.position = 1;
    let cloud = vec![
        ours,
        policy("pol-old", "old", "/old"),
        policy("pol-theirs", "theirs", "/theirs"),
    ];
    status.created_listeners[0].created_policies = vec![
        CreatedPolicy {
            id: "pol-api".into(),
        },
        CreatedPolicy {
            id: "pol-old".into(),
        },
    ];
    let mut m = Mocks::new();
    expect_deployed_reads(&mut m, &obs);
    let l = listener_id.clone();
    m.lb.expect_list_policies()
        .times(1)
        .returning(move |_, id| {
            assert_eq!(id, l);
            Ok(cloud.clone())
        });
    m.lb.expect_delete_policy().times(1).returning(|_, _, id| {
        assert_eq!(id, "pol-old", "only the recorded, unwanted policy goes");
        Ok(())
    });
    let (deps, seen) = m.deps();
    reconcile_lbc(&deps, &cfg(), &lbc_view(spec, status))
        .await
        .unwrap();
    let st = seen.lbc_status.lock().unwrap().clone().unwrap();
    assert_eq!(
        st.created_listeners[0].created_policies,
        vec![CreatedPolicy {
            id: "pol-api".into()
        }]
    );
}
