//! Reconcile a Service: desired LBC + NSG through the object writer, and the Service's
//! `status.loadBalancer` from the LBC's status through the batch.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::{Config, Deps, LBC_FINALIZER, NSG_FINALIZER, SERVICE_FINALIZER, Waiting};
use crate::annotations::{self, ServiceSettings, TargetType};
use crate::error::DomainError;
use crate::members;
use crate::model::condition::{self, ConditionStatus, REASON_INVALID_ANNOTATIONS};
use crate::model::{
    EndpointView, HealthCheckProtocol, HealthMonitor, ListenerProtocol, ListenerSpec,
    LoadBalancerConfigSpec, LoadBalancerConfigView, LoadBalancerType, ManagedSecurityGroup,
    NodeMembers, NodeSecurityGroupRule, NodeSecurityGroupSpec, NodeView, ObjectKey, PoolProtocol,
    PoolSpec, PortProtocol, RuleDirection, RuleProtocol, ServicePortView, ServiceStatusView,
    ServiceView,
};
use crate::naming::Namer;
use crate::ports::DesiredMeta;
use crate::tags;

/// What a Service reconcile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Not ours (type, class or `ignore`).
    Skipped,
    /// LBC and NSG applied.
    Applied,
    /// LBC and NSG deleted (Service deleted, or load balancer disabled).
    Removed,
    /// LBC and NSG deleted, waiting for the LBC's finalizer to tear the cloud down before
    /// the Service may go.
    Waiting(Waiting),
}

impl ServiceOutcome {
    /// What the reconcile waits for, if it does.
    pub fn waiting(&self) -> Option<&Waiting> {
        match self {
            Self::Waiting(w) => Some(w),
            Self::Skipped | Self::Applied | Self::Removed => None,
        }
    }
}

/// Where the load balancer is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Subnet.
    pub subnet_id: String,
    /// VPC (network).
    pub vpc_id: String,
    /// Zone.
    pub zone_id: String,
    /// CIDR of the subnet (source of the NSG rules).
    pub cidr: IpNet,
}

fn is_ours(cfg: &Config, svc: &ServiceView) -> bool {
    svc.service_type == "LoadBalancer" && svc.load_balancer_class == cfg.load_balancer_class
}

/// Key of the LBC and NSG of a Service (same namespace and name).
pub fn child_key(svc: &ServiceView) -> ObjectKey {
    svc.key()
}

/// Reconciles a Service.
pub async fn reconcile_service(
    deps: &Deps,
    cfg: &Config,
    svc: &ServiceView,
) -> Result<ServiceOutcome, DomainError> {
    let has_finalizer = svc.finalizers.iter().any(|f| f == SERVICE_FINALIZER);
    if !is_ours(cfg, svc) {
        if has_finalizer {
            return remove(deps, svc).await;
        }
        return Ok(ServiceOutcome::Skipped);
    }
    if svc.deleting {
        return remove(deps, svc).await;
    }
    let settings = match annotations::parse(&svc.annotations) {
        Ok(s) => s,
        Err(errors) => {
            let message = errors.to_string();
            deps.warn(
                &svc.object_ref(),
                REASON_INVALID_ANNOTATIONS,
                message.clone(),
            )
            .await;
            // The LBC keeps its last good spec (nothing is applied) and so the load
            // balancer keeps serving; the LBC's conditions say why it is not updated.
            if let Some(lbc) = deps.reader.get_lbc(&child_key(svc)).await? {
                let invalid = deps.condition(
                    condition::ANNOTATIONS_VALID,
                    ConditionStatus::False,
                    REASON_INVALID_ANNOTATIONS,
                    message.clone(),
                    lbc.meta.generation,
                );
                let now = deps.clock.now();
                deps.batch.queue_lbc_status(
                    &child_key(svc),
                    Box::new(move |s| {
                        let a = condition::set_condition(&mut s.conditions, invalid.clone());
                        let b = super::hold_invalid_annotations(&mut s.conditions, now);
                        a || b
                    }),
                );
            }
            return Err(DomainError::Invalid(message));
        }
    };
    if settings.ignore {
        return Ok(ServiceOutcome::Skipped);
    }
    if !settings.enable_load_balancer {
        return remove(deps, svc).await;
    }

    let nodes = deps.reader.list_nodes().await?;
    let selected = members::select_nodes(&nodes, &settings.target_node_labels);
    let endpoints = if settings.target_type == TargetType::Ip {
        deps.reader.service_endpoints(&svc.key()).await?
    } else {
        Vec::new()
    };
    // A deployed load balancer stays in its subnet: nodes coming and going must not move
    // the LBC's subnet nor the NSG's source CIDR away from where the load balancer is.
    let current = deps.reader.get_lbc(&child_key(svc)).await?;
    let deployed_subnet = current
        .as_ref()
        .filter(|c| c.status.load_balancer_id.is_some())
        .and_then(|c| c.status.subnet_id.clone());
    let placement = placement(deps, cfg, &settings, &nodes, deployed_subnet).await?;
    let lbc = build_lbc_spec(cfg, svc, &settings, &selected, &endpoints, &placement);
    let nsg = build_nsg_spec(cfg, svc, &settings, &lbc, &placement);
    let labels = BTreeMap::from([
        (super::OWNER_KIND_LABEL.to_owned(), "Service".to_owned()),
        (super::OWNER_NAME_LABEL.to_owned(), svc.name.clone()),
        (super::OWNER_UID_LABEL.to_owned(), svc.uid.clone()),
    ]);
    let meta = |finalizer: &str| DesiredMeta {
        key: child_key(svc),
        labels: labels.clone(),
        finalizers: vec![finalizer.to_owned()],
    };
    deps.writer.apply_lbc(&meta(LBC_FINALIZER), &lbc).await?;
    deps.writer.apply_nsg(&meta(NSG_FINALIZER), &nsg).await?;

    if let Some(current) = current {
        clear_invalid_annotations(deps, &current);
        // Service status from the LBC's.
        if let Some(address) = current.status.address.clone() {
            let ingress = vec![cfg.service_address.ingress(&address)];
            deps.batch.queue_service_status(
                &svc.key(),
                super::replace_with(ServiceStatusView { ingress }),
            );
        }
    }
    Ok(ServiceOutcome::Applied)
}

/// Once the Service's annotations are valid again: marks them valid on the LBC, and turns a
/// `Ready` held `False` for them into `Unknown` until the next LBC reconcile decides.
fn clear_invalid_annotations(deps: &Deps, lbc: &LoadBalancerConfigView) {
    let held = condition::find_condition(&lbc.status.conditions, condition::ANNOTATIONS_VALID)
        .is_some_and(|c| c.status != ConditionStatus::True);
    if !held {
        return;
    }
    let generation = lbc.meta.generation;
    let valid = deps.condition(
        condition::ANNOTATIONS_VALID,
        ConditionStatus::True,
        condition::REASON_ANNOTATIONS_ACCEPTED,
        "the Service annotations are valid".to_owned(),
        generation,
    );
    let reconciling = deps.condition(
        condition::READY,
        ConditionStatus::Unknown,
        condition::REASON_RECONCILING,
        "waiting for the load balancer to be reconciled".to_owned(),
        generation,
    );
    deps.batch.queue_lbc_status(
        &lbc.meta.key,
        Box::new(move |s| {
            let mut changed = condition::set_condition(&mut s.conditions, valid.clone());
            let ready = condition::find_condition(&s.conditions, condition::READY);
            if ready.is_some_and(|c| c.reason == REASON_INVALID_ANNOTATIONS) {
                changed |= condition::set_condition(&mut s.conditions, reconciling.clone());
            }
            changed
        }),
    );
}

async fn remove(deps: &Deps, svc: &ServiceView) -> Result<ServiceOutcome, DomainError> {
    let key = child_key(svc);
    deps.writer.delete_lbc(&key).await?;
    deps.writer.delete_nsg(&key).await?;
    // The LBC's finalizer tears the cloud down first; the Service goes once the LBC is gone.
    if deps.reader.get_lbc(&key).await?.is_some() {
        // Its deletion (or its finalizer's removal) requeues the Service through the LBC
        // watch; the recheck is a safety net.
        return Ok(ServiceOutcome::Waiting(Waiting {
            what: format!("LoadBalancerConfig {key} to be finalized"),
            recheck_after: crate::error::BUSY_RETRY,
        }));
    }
    deps.batch.queue_service_status(
        &svc.key(),
        Box::new(|s| {
            let changed = !s.ingress.is_empty();
            s.ingress.clear();
            changed
        }),
    );
    Ok(ServiceOutcome::Removed)
}

/// Subnet, VPC and zone: from the annotations, else the subnet the load balancer was
/// deployed in (`deployed_subnet`), else from the server of the node with the smallest name.
async fn placement(
    deps: &Deps,
    cfg: &Config,
    settings: &ServiceSettings,
    nodes: &[NodeView],
    deployed_subnet: Option<String>,
) -> Result<Placement, DomainError> {
    let node = members::subnet_node(nodes).ok_or_else(|| {
        DomainError::NotReady("no node with a provider id to take the subnet from".into())
    })?;
    let server_id = node.server_id().unwrap_or_default();
    let server = deps.net.get_server(&server_id).await?;
    let iface = server.internal_interface().ok_or_else(|| {
        DomainError::NotReady(format!(
            "server {server_id} of node {} has no internal interface",
            node.name
        ))
    })?;
    let subnet_id = settings
        .prefer_subnet_id
        .clone()
        .or(deployed_subnet)
        .unwrap_or_else(|| iface.subnet_id.clone());
    let subnet = deps.net.get_subnet(&iface.network_id, &subnet_id).await?;
    let vpc_id = if cfg.vpc_id.is_empty() {
        iface.network_id.clone()
    } else {
        cfg.vpc_id.clone()
    };
    let zone_id = settings
        .prefer_zone_id
        .clone()
        .or(subnet.zone_id.clone())
        .or(server.zone_id.clone())
        .unwrap_or_default();
    Ok(Placement {
        subnet_id,
        vpc_id,
        zone_id,
        cidr: subnet.cidr,
    })
}

fn pool_protocol(settings: &ServiceSettings, port: &ServicePortView) -> PoolProtocol {
    match port.protocol {
        PortProtocol::Udp => PoolProtocol::Udp,
        _ if settings.proxy_protocol.applies_to(&port.name) => PoolProtocol::Proxy,
        _ => PoolProtocol::Tcp,
    }
}

fn health_monitor(settings: &ServiceSettings, port: &ServicePortView) -> HealthMonitor {
    let protocol = settings
        .healthcheck_protocol
        .unwrap_or(match port.protocol {
            PortProtocol::Udp => HealthCheckProtocol::PingUdp,
            _ => HealthCheckProtocol::Tcp,
        });
    let http = protocol.is_http();
    HealthMonitor {
        protocol,
        healthy_threshold: Some(settings.healthy_threshold),
        unhealthy_threshold: Some(settings.unhealthy_threshold),
        interval: Some(settings.healthcheck_interval),
        timeout: Some(settings.healthcheck_timeout),
        health_check_method: http.then(|| {
            settings
                .healthcheck_method
                .unwrap_or(crate::model::HealthCheckMethod::Get)
        }),
        http_version: http.then(|| {
            settings
                .healthcheck_http_version
                .unwrap_or(crate::model::HealthCheckHttpVersion::Http11)
        }),
        health_check_path: http.then(|| {
            settings
                .healthcheck_path
                .clone()
                .unwrap_or_else(|| "/".into())
        }),
        domain_name: settings.healthcheck_domain.clone().filter(|_| http),
        success_code: http.then(|| {
            settings
                .healthcheck_success_codes
                .clone()
                .unwrap_or_else(|| "200".into())
        }),
    }
}

/// The desired LBC spec of a Service (pure).
pub fn build_lbc_spec(
    cfg: &Config,
    svc: &ServiceView,
    settings: &ServiceSettings,
    nodes: &[&NodeView],
    endpoints: &[EndpointView],
    placement: &Placement,
) -> LoadBalancerConfigSpec {
    let namer = Namer::new(&cfg.cluster_id, &svc.namespace, &svc.name);
    let mut tags = tags::cluster_tags(&cfg.cluster_id, &placement.vpc_id);
    tags.extend(settings.tags.clone());
    let mut spec = LoadBalancerConfigSpec {
        lb_type: LoadBalancerType::Layer4,
        cluster_id: Some(cfg.cluster_id.clone()),
        load_balancer_name: settings
            .load_balancer_name
            .clone()
            .unwrap_or_else(|| namer.load_balancer()),
        subnet_id: placement.subnet_id.clone(),
        vpc_id: placement.vpc_id.clone(),
        private_subnet_id: settings.private_subnet_id.clone(),
        private_zone_id: settings.private_zone_id.clone(),
        zone_id: placement.zone_id.clone(),
        package_id: settings.package_id.clone(),
        scheme: Some(settings.scheme),
        load_balancer_id: settings.load_balancer_id.clone(),
        enable_autoscale: settings.enable_autoscale,
        tags,
        ..LoadBalancerConfigSpec::default()
    };
    let mut ports: Vec<&ServicePortView> = svc
        .ports
        .iter()
        .filter(|p| p.protocol != PortProtocol::Sctp)
        .collect();
    ports.sort_by_key(|p| (p.port, p.protocol));
    for port in ports {
        let protocol = pool_protocol(settings, port);
        let pool_name = namer.pool(port, protocol);
        spec.pools.push(PoolSpec {
            name: pool_name.clone(),
            protocol,
            description: None,
            algorithm: Some(settings.pool_algorithm),
            stickiness: None,
            tls_encryption: None,
            health_monitor: health_monitor(settings, port),
            members: match settings.target_type {
                TargetType::Ip => {
                    members::endpoint_members(port, nodes, endpoints, settings.healthcheck_port)
                }
                TargetType::Instance => Vec::new(),
            },
            // Resolved from the Nodes by the LBC's reconcile: the LBC does not list nodes.
            node_members: (settings.target_type == TargetType::Instance && port.node_port != 0)
                .then(|| NodeMembers {
                    port: port.node_port,
                    monitor_port: settings.healthcheck_port,
                    select_node_labels: settings.target_node_labels.clone(),
                }),
        });
        spec.listeners.push(ListenerSpec {
            name: namer.listener(port),
            description: None,
            protocol: if port.protocol == PortProtocol::Udp {
                ListenerProtocol::Udp
            } else {
                ListenerProtocol::Tcp
            },
            protocol_port: port.port,
            default_pool_name: Some(pool_name),
            timeout_client: Some(settings.idle_timeout_client),
            timeout_member: Some(settings.idle_timeout_member),
            timeout_connection: Some(settings.idle_timeout_connection),
            allowed_cidrs: Some(settings.allowed_cidrs()),
            insert_headers: Vec::new(),
            policies: Vec::new(),
            certificate_default: None,
            certificate_authorities: Vec::new(),
            client_certificate_id: None,
        });
    }
    spec
}

/// The desired NSG spec of a Service (pure): rules from the load balancer subnet CIDR to
/// every member port and health port, plus ICMP for UDP health checks.
pub fn build_nsg_spec(
    cfg: &Config,
    svc: &ServiceView,
    settings: &ServiceSettings,
    lbc: &LoadBalancerConfigSpec,
    placement: &Placement,
) -> NodeSecurityGroupSpec {
    let cidr = placement.cidr.to_string();
    let mut rules: BTreeSet<NodeSecurityGroupRule> = BTreeSet::new();
    let rule =
        |protocol: RuleProtocol, from: u16, to: u16, description: String| NodeSecurityGroupRule {
            protocol,
            from_port: from,
            to_port: to,
            cidr: cidr.clone(),
            description,
            direction: RuleDirection::Ingress,
            ether_type: crate::model::EtherType::IPv4,
        };
    for pool in &lbc.pools {
        let proto = if pool.protocol == PoolProtocol::Udp {
            RuleProtocol::Udp
        } else {
            RuleProtocol::Tcp
        };
        let listed = pool.members.iter().map(|m| (m.port, m.monitor_port));
        let on_nodes = pool.node_members.iter().map(|n| (n.port, n.monitor_port));
        for (port, monitor_port) in listed.chain(on_nodes) {
            rules.insert(rule(
                proto,
                port,
                port,
                format!("load balancer to port {port}"),
            ));
            if let Some(mp) = monitor_port
                && mp != port
            {
                rules.insert(rule(
                    RuleProtocol::Tcp,
                    mp,
                    mp,
                    format!("health check to port {mp}"),
                ));
            }
        }
        if pool.health_monitor.protocol == HealthCheckProtocol::PingUdp {
            rules.insert(rule(RuleProtocol::Icmp, 0, 0, "health check ping".into()));
        }
    }
    let managed = settings
        .security_groups
        .is_empty()
        .then(|| ManagedSecurityGroup {
            name: Namer::new(&cfg.cluster_id, &svc.namespace, &svc.name).security_group(),
            description: Some(format!(
                "vlb: load balancer access to {}/{}",
                svc.namespace, svc.name
            )),
            rules: rules.into_iter().collect(),
        });
    NodeSecurityGroupSpec {
        select_node_labels: settings.target_node_labels.clone(),
        attach_security_groups: settings.security_groups.clone(),
        managed_security_group: managed,
    }
}
