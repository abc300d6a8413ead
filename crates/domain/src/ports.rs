//! Ports: the contract the adapters implement. Every trait is `Send + Sync` and used as
//! `Arc<dyn Trait>`; with the `mocks` feature each has a mockall mock (`MockLoadBalancerApi`, ...).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::{CloudError, ClusterError};
use crate::model::{
    Certificate, CertificateRequest, CreateLoadBalancerRequest, EndpointView, HealthMonitor,
    L7Policy, Listener, ListenerRequest, LoadBalancer, LoadBalancerConfigSpec,
    LoadBalancerConfigStatus, LoadBalancerConfigView, NodeSecurityGroupSpec,
    NodeSecurityGroupStatus, NodeSecurityGroupView, NodeView, ObjectKey, ObjectRef, Pool,
    PoolMember, PoolRequest, SecretView, SecurityGroup, SecurityGroupRule, Server,
    ServiceStatusView, Subnet,
};

/// Tags of a load balancer.
pub type Tags = BTreeMap<String, String>;

/// The vLB API. Waiting until a load balancer is `ACTIVE` again after a change is the
/// adapter's concern; a change refused because the load balancer is busy is `CloudError::Busy`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoadBalancerApi: Send + Sync {
    /// Gets a load balancer by id.
    async fn get_load_balancer(&self, lb_id: &str) -> Result<LoadBalancer, CloudError>;
    /// Finds a load balancer by exact name.
    async fn find_load_balancer_by_name(
        &self,
        name: &str,
    ) -> Result<Option<LoadBalancer>, CloudError>;
    /// Lists the load balancers carrying tag `key=value` (all pages).
    async fn list_load_balancers_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<LoadBalancer>, CloudError>;
    /// Creates a load balancer (with its first listener and pool inline); returns its id.
    async fn create_load_balancer(
        &self,
        request: &CreateLoadBalancerRequest,
    ) -> Result<String, CloudError>;
    /// Deletes a load balancer.
    async fn delete_load_balancer(&self, lb_id: &str) -> Result<(), CloudError>;
    /// Changes the package of a load balancer.
    async fn resize_load_balancer(&self, lb_id: &str, package_id: &str) -> Result<(), CloudError>;

    /// Lists the listeners of a load balancer.
    async fn list_listeners(&self, lb_id: &str) -> Result<Vec<Listener>, CloudError>;
    /// Creates a listener; returns its id.
    async fn create_listener(
        &self,
        lb_id: &str,
        request: &ListenerRequest,
    ) -> Result<String, CloudError>;
    /// Updates a listener.
    async fn update_listener(
        &self,
        lb_id: &str,
        listener_id: &str,
        request: &ListenerRequest,
    ) -> Result<(), CloudError>;
    /// Deletes a listener.
    async fn delete_listener(&self, lb_id: &str, listener_id: &str) -> Result<(), CloudError>;

    /// Lists the pools of a load balancer, each with its health monitor and members.
    async fn list_pools(&self, lb_id: &str) -> Result<Vec<Pool>, CloudError>;
    /// Creates a pool (with its members); returns its id.
    async fn create_pool(&self, lb_id: &str, request: &PoolRequest) -> Result<String, CloudError>;
    /// Updates a pool and its health monitor (members are not touched).
    async fn update_pool(
        &self,
        lb_id: &str,
        pool_id: &str,
        request: &PoolRequest,
    ) -> Result<(), CloudError>;
    /// Deletes a pool.
    async fn delete_pool(&self, lb_id: &str, pool_id: &str) -> Result<(), CloudError>;
    /// Gets the health monitor of a pool.
    async fn get_health_monitor(
        &self,
        lb_id: &str,
        pool_id: &str,
    ) -> Result<HealthMonitor, CloudError>;
    /// Gets the members of a pool.
    async fn get_members(&self, lb_id: &str, pool_id: &str) -> Result<Vec<PoolMember>, CloudError>;
    /// Replaces the whole member list of a pool (one PUT).
    async fn put_members(
        &self,
        lb_id: &str,
        pool_id: &str,
        members: &[PoolMember],
    ) -> Result<(), CloudError>;

    /// Lists the L7 policies of a listener.
    async fn list_policies(
        &self,
        lb_id: &str,
        listener_id: &str,
    ) -> Result<Vec<L7Policy>, CloudError>;
    /// Creates an L7 policy (id ignored; position 0: last); returns its id.
    async fn create_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy: &L7Policy,
    ) -> Result<String, CloudError>;
    /// Updates an L7 policy, its `position` included: the planner reorders policies through
    /// this call (an adapter whose API moves positions with `PUT .../l7policies` makes that
    /// call when the position changes).
    async fn update_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy: &L7Policy,
    ) -> Result<(), CloudError>;
    /// Deletes an L7 policy.
    async fn delete_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy_id: &str,
    ) -> Result<(), CloudError>;

    /// Lists imported certificates.
    async fn list_certificates(&self) -> Result<Vec<Certificate>, CloudError>;
    /// Imports a certificate; returns its id.
    async fn create_certificate(&self, request: &CertificateRequest) -> Result<String, CloudError>;
    /// Deletes a certificate.
    async fn delete_certificate(&self, certificate_id: &str) -> Result<(), CloudError>;

    /// Gets the tags of a load balancer.
    async fn get_tags(&self, lb_id: &str) -> Result<Tags, CloudError>;
    /// Replaces the tags of a load balancer.
    async fn put_tags(&self, lb_id: &str, tags: &Tags) -> Result<(), CloudError>;
}

/// The vServer network API.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NetworkApi: Send + Sync {
    /// Gets a server with its interfaces and security groups.
    async fn get_server(&self, server_id: &str) -> Result<Server, CloudError>;
    /// Gets a subnet with its CIDR.
    async fn get_subnet(&self, network_id: &str, subnet_id: &str) -> Result<Subnet, CloudError>;
    /// Finds a security group by exact name.
    async fn find_security_group_by_name(
        &self,
        name: &str,
    ) -> Result<Option<SecurityGroup>, CloudError>;
    /// Gets a security group with its rules.
    async fn get_security_group(&self, sg_id: &str) -> Result<SecurityGroup, CloudError>;
    /// Creates a security group (the cloud adds no rule); returns it.
    async fn create_security_group(
        &self,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, CloudError>;
    /// Deletes a security group.
    async fn delete_security_group(&self, sg_id: &str) -> Result<(), CloudError>;
    /// Creates a rule (id ignored); returns its id.
    async fn create_security_group_rule(
        &self,
        sg_id: &str,
        rule: &SecurityGroupRule,
    ) -> Result<String, CloudError>;
    /// Deletes a rule.
    async fn delete_security_group_rule(
        &self,
        sg_id: &str,
        rule_id: &str,
    ) -> Result<(), CloudError>;
    /// Sets the full list of security groups of a server.
    async fn set_server_security_groups(
        &self,
        server_id: &str,
        sg_ids: &[String],
    ) -> Result<(), CloudError>;
}

/// Reads from the cluster (served from the adapter's caches).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ClusterReader: Send + Sync {
    /// All nodes.
    async fn list_nodes(&self) -> Result<Vec<NodeView>, ClusterError>;
    /// Endpoint addresses of a Service (from its EndpointSlices).
    async fn service_endpoints(
        &self,
        service: &ObjectKey,
    ) -> Result<Vec<EndpointView>, ClusterError>;
    /// A Secret, if it exists.
    async fn get_secret(&self, key: &ObjectKey) -> Result<Option<SecretView>, ClusterError>;
    /// A LoadBalancerConfig, if it exists.
    async fn get_lbc(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<LoadBalancerConfigView>, ClusterError>;
    /// All LoadBalancerConfigs (to find those sharing a load balancer).
    async fn list_lbcs(&self) -> Result<Vec<LoadBalancerConfigView>, ClusterError>;
    /// A NodeSecurityGroup, if it exists.
    async fn get_nsg(&self, key: &ObjectKey)
    -> Result<Option<NodeSecurityGroupView>, ClusterError>;
    /// All NodeSecurityGroups (a server's groups are written once for all of them).
    async fn list_nsgs(&self) -> Result<Vec<NodeSecurityGroupView>, ClusterError>;
}

/// Labels and name of an object the domain wants to exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredMeta {
    /// Namespace and name.
    pub key: ObjectKey,
    /// Labels (the owner labels).
    pub labels: BTreeMap<String, String>,
    /// Finalizers to set at creation.
    pub finalizers: Vec<String>,
}

/// Writes to the cluster.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ObjectWriter: Send + Sync {
    /// Server-side applies the desired spec of an LBC.
    async fn apply_lbc(
        &self,
        meta: &DesiredMeta,
        spec: &LoadBalancerConfigSpec,
    ) -> Result<(), ClusterError>;
    /// Server-side applies the desired spec of an NSG.
    async fn apply_nsg(
        &self,
        meta: &DesiredMeta,
        spec: &NodeSecurityGroupSpec,
    ) -> Result<(), ClusterError>;
    /// Deletes an LBC; already gone is success.
    async fn delete_lbc(&self, key: &ObjectKey) -> Result<(), ClusterError>;
    /// Deletes an NSG; already gone is success.
    async fn delete_nsg(&self, key: &ObjectKey) -> Result<(), ClusterError>;
}

/// A queued change: returns whether it changed anything.
pub type Mutator<T> = Box<dyn FnMut(&mut T) -> bool + Send>;

/// The per-reconcile batch: queue changes, the caller flushes once per reconcile.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[allow(clippy::struct_field_names)]
pub trait Batch: Send + Sync {
    /// Queues a change of an LBC's spec.
    fn queue_lbc_spec(&self, key: &ObjectKey, mutator: Mutator<LoadBalancerConfigSpec>);
    /// Queues a change of an LBC's status.
    fn queue_lbc_status(&self, key: &ObjectKey, mutator: Mutator<LoadBalancerConfigStatus>);
    /// Queues a change of an NSG's spec.
    fn queue_nsg_spec(&self, key: &ObjectKey, mutator: Mutator<NodeSecurityGroupSpec>);
    /// Queues a change of an NSG's status.
    fn queue_nsg_status(&self, key: &ObjectKey, mutator: Mutator<NodeSecurityGroupStatus>);
    /// Queues a change of a Service's status.
    fn queue_service_status(&self, key: &ObjectKey, mutator: Mutator<ServiceStatusView>);
}

/// Type of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
}

/// An event about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Type.
    pub event_type: EventType,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// Publishes events (best effort: failures are the adapter's to log).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes an event on an object.
    async fn publish(&self, target: &ObjectRef, event: &Event);
}

/// The time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> jiff::Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}
