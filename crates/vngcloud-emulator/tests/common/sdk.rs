//! Mirrors of vngcloud-go-sdk v2 response structs. Every non-pointer Go field is a required
//! Rust field, so a missing or misspelt key fails deserialisation.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::struct_field_names,
    clippy::unused_self
)]

use serde::Deserialize;

// identity/v2/identity_response.go
#[derive(Debug, Deserialize)]
pub struct GetAccessTokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub token_type: String,
    pub refresh_expires_in: i64,
}

// sdk_error/errors.go
#[derive(Debug, Deserialize)]
pub struct IamErrorItem {
    pub code: String,
    pub message: String,
}
#[derive(Debug, Deserialize)]
pub struct IamErrorResponse {
    pub errors: Vec<IamErrorItem>,
}
#[derive(Debug, Deserialize)]
pub struct NormalErrorResponse {
    pub message: String,
}

// loadbalancer/v2/loadbalancer_response.go
#[derive(Debug, Deserialize)]
pub struct CreateLoadBalancerResponse {
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfo {
    pub package_id: String,
    pub connection_number: i64,
    pub data_transfer: i64,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct LbZone {
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub status: String,
    pub zone_id: String,
    pub zone_name: String,
    pub subnet_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    pub uuid: String,
    pub name: String,
    pub display_status: String,
    pub address: String,
    pub private_subnet_id: String,
    pub private_subnet_cidr: String,
    #[serde(rename = "type")]
    pub lb_type: String,
    pub display_type: String,
    pub load_balancer_schema: String,
    pub package_id: String,
    pub description: String,
    pub location: String,
    pub created_at: String,
    pub updated_at: String,
    pub backend_subnet_id: String,
    pub package_info: PackageInfo,
    pub progress_status: String,
    pub auto_scalable: bool,
    pub zone: LbZone,
    pub min_size: i64,
    pub max_size: i64,
    pub total_nodes: i64,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
pub struct GetLoadBalancerByIdResponse {
    pub data: LoadBalancer,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLoadBalancersResponse {
    pub list_data: Vec<LoadBalancer>,
    pub page: i64,
    pub page_size: i64,
    pub total_page: i64,
    pub total_item: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerPackageResponse {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub package_type: String,
    pub connection_number: i64,
    pub data_transfer: i64,
    pub mode: String,
    pub lb_type: String,
    pub display_lb_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLoadBalancerPackagesResponse {
    pub list_data: Vec<LoadBalancerPackageResponse>,
}

// entity/listener.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerInsertHeader {
    pub header_name: String,
    pub header_value: String,
}

// loadbalancer/v2/listener_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub protocol: String,
    pub protocol_port: i64,
    pub connection_limit: i64,
    pub default_pool_id: String,
    pub default_pool_name: String,
    pub timeout_client: i64,
    pub timeout_member: i64,
    pub timeout_connection: i64,
    pub allowed_cidrs: String,
    pub certificate_authorities: Vec<String>,
    pub display_status: String,
    pub created_at: String,
    pub updated_at: String,
    pub default_certificate_authority: Option<String>,
    pub client_certificate_authentication: Option<String>,
    pub progress_status: String,
    pub insert_headers: Vec<ListenerInsertHeader>,
}

#[derive(Debug, Deserialize)]
pub struct ListListenersByLoadBalancerIdResponse {
    pub data: Vec<Listener>,
}

#[derive(Debug, Deserialize)]
pub struct GetListenerByIdResponse {
    pub data: Listener,
}

#[derive(Debug, Deserialize)]
pub struct CreateListenerResponse {
    pub uuid: String,
}

// loadbalancer/v2/pool_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolMember {
    pub address: String,
    pub backup: bool,
    pub created_at: String,
    pub display_status: String,
    pub monitor_port: i64,
    pub name: String,
    pub pool_id: String,
    pub progress_status: String,
    pub protocol_port: i64,
    pub subnet_id: String,
    pub type_create: String,
    pub update_at: Option<String>,
    pub uuid: String,
    pub weight: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    pub uuid: String,
    pub name: String,
    pub protocol: String,
    pub description: Option<String>,
    pub load_balance_method: String,
    pub display_status: String,
    pub created_at: String,
    pub updated_at: String,
    pub stickiness: bool,
    pub tls_encryption: bool,
    pub progress_status: String,
    pub members: Vec<PoolMember>,
}

#[derive(Debug, Deserialize)]
pub struct ListPoolsByLoadBalancerIdResponse {
    pub data: Vec<Pool>,
}

#[derive(Debug, Deserialize)]
pub struct GetPoolByIdResponse {
    pub data: Pool,
}

#[derive(Debug, Deserialize)]
pub struct ListPoolMembersResponse {
    pub data: Vec<PoolMember>,
}

#[derive(Debug, Deserialize)]
pub struct CreatePoolResponse {
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthMonitorData {
    pub uuid: String,
    pub timeout: i64,
    pub created_at: String,
    pub updated_at: String,
    pub domain_name: Option<String>,
    pub http_version: Option<String>,
    pub health_check_protocol: String,
    pub interval: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub health_check_method: Option<String>,
    pub health_check_path: Option<String>,
    pub success_code: Option<String>,
    pub progress_status: String,
    pub display_status: String,
}

#[derive(Debug, Deserialize)]
pub struct GetPoolHealthMonitorByIdResponse {
    pub data: HealthMonitorData,
}

// loadbalancer/v2/policy_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L7Rule {
    pub uuid: String,
    pub compare_type: String,
    pub rule_value: String,
    pub rule_type: String,
    pub created_at: String,
    pub updated_at: String,
    pub provisioning_status: String,
    pub operating_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyData {
    pub uuid: String,
    pub name: String,
    pub description: String,
    pub redirect_pool_id: String,
    pub redirect_pool_name: String,
    pub action: String,
    pub redirect_url: String,
    pub redirect_http_code: i64,
    pub keep_query_string: bool,
    pub position: i64,
    pub l7_rules: Vec<L7Rule>,
    pub display_status: String,
    pub created_at: String,
    pub updated_at: String,
    pub progress_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPoliciesResponse {
    #[serde(rename = "data")]
    pub list_data: Vec<PolicyData>,
    pub page: i64,
    pub page_size: i64,
    pub total_page: i64,
    pub total_item: i64,
}

#[derive(Debug, Deserialize)]
pub struct GetPolicyResponse {
    pub data: PolicyData,
}

#[derive(Debug, Deserialize)]
pub struct CreatePolicyResponse {
    pub uuid: String,
}

// loadbalancer/v2/certificate_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertResponseData {
    pub uuid: String,
    pub name: String,
    pub certificate_type: String,
    pub expired_at: String,
    pub imported_at: String,
    pub not_after: i64,
    pub key_algorithm: String,
    pub serial: String,
    pub subject: String,
    pub domain_name: String,
    pub in_use: bool,
    pub issuer: String,
    pub signature_algorithm: String,
    pub not_before: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCertificatesResponse {
    pub list_data: Vec<CertResponseData>,
    pub page: i64,
    pub page_size: i64,
    pub total_page: i64,
    pub total_item: i64,
}

#[derive(Debug, Deserialize)]
pub struct CreateCertificateResponse {
    pub data: CertResponseData,
}

// loadbalancer/v2/tag_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagResponse {
    pub key: String,
    pub value: String,
    pub created_at: String,
    pub system_tag: Option<bool>,
}

// network/v2/secgroup_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecgroupData {
    pub id: i64,
    pub uuid: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    pub status: String,
    pub secgroup_id: i64,
    pub secgroup_name: String,
    pub project_uuid: String,
    pub description: String,
    pub updated_at: Option<String>,
    pub is_system: bool,
    #[serde(rename = "type")]
    pub sg_type: String,
}

#[derive(Debug, Deserialize)]
pub struct CreateSecgroupResponse {
    pub data: CreateSecgroupData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecgroupData {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub created_at: String,
    pub is_system: bool,
}

#[derive(Debug, Deserialize)]
pub struct GetSecgroupByIdResponse {
    pub data: SecgroupData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSecgroupResponse {
    pub list_data: Vec<SecgroupData>,
    pub page: i64,
    pub page_size: i64,
    pub total_page: i64,
    pub total_item: i64,
}

// network/v2/secgroup_rule_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecgroupRuleData {
    pub id: i64,
    pub uuid: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    pub updated_at: Option<String>,
    pub status: String,
    pub secgroup_uuid: String,
    pub direction: String,
    pub ether_type: String,
    pub port_range_max: i64,
    pub port_range_min: i64,
    pub protocol: String,
    pub rule_id: i64,
    pub description: String,
    pub remote_ip_prefix: String,
    pub is_system: bool,
}

#[derive(Debug, Deserialize)]
pub struct CreateSecgroupRuleResponse {
    pub data: CreateSecgroupRuleData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecgroupRuleData {
    pub id: String,
    pub direction: String,
    pub ether_type: String,
    pub protocol: String,
    pub port_range_min: i64,
    pub port_range_max: i64,
    pub remote_ip_prefix: String,
    pub remote_group_id: String,
    pub status: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct ListSecgroupRulesBySecgroupIdResponse {
    pub data: Vec<SecgroupRuleData>,
}

// network/v2/server_response.go
#[derive(Debug, Deserialize)]
pub struct SecgroupServer {
    pub name: String,
    pub uuid: String,
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct ListAllServersBySecgroupIdResponse {
    pub data: Vec<SecgroupServer>,
}

// network/v2/network_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetNetworkByIdResponse {
    pub status: String,
    pub elastic_ips: Vec<String>,
    pub display_name: String,
    pub id: String,
    pub created_at: String,
    pub cidr: String,
}

// network/v2/subnet_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetSubnetByIdResponse {
    pub uuid: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub status: String,
    pub cidr: String,
    pub network_uuid: String,
    pub route_table_uuid: Option<String>,
    pub name: String,
    pub zone: LbZone,
}

// compute/v2/server_response.go
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub created_at: String,
    pub fixed_ip: String,
    pub floating_ip: Option<String>,
    pub floating_ip_id: Option<String>,
    pub interface_type: String,
    pub mac: String,
    pub network_uuid: String,
    pub port_uuid: String,
    pub product: String,
    pub server_uuid: String,
    pub status: String,
    pub subnet_uuid: String,
    #[serde(rename = "type")]
    pub if_type: String,
    pub updated_at: String,
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
pub struct ServerSecgroup {
    pub name: String,
    pub uuid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub boot_volume_id: String,
    pub created_at: String,
    pub encryption_volume: bool,
    pub licence: bool,
    pub location: String,
    pub metadata: String,
    pub migrate_state: String,
    pub name: String,
    pub product: String,
    pub server_group_id: String,
    pub server_group_name: String,
    pub ssh_key_name: String,
    pub status: String,
    pub stop_before_migrate: bool,
    pub user: String,
    pub uuid: String,
    pub image: serde_json::Value,
    pub flavor: serde_json::Value,
    pub sec_groups: Vec<ServerSecgroup>,
    pub zone_id: String,
    pub external_interfaces: Vec<NetworkInterface>,
    pub internal_interfaces: Vec<NetworkInterface>,
}

#[derive(Debug, Deserialize)]
pub struct GetServerByIdResponse {
    pub data: Server,
}
