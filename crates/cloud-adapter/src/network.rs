//! `NetworkApi` over the vServer API (`{vserver}/v2/{projectId}/...`).

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;
use vlb_domain::CloudError;
use vlb_domain::model::{SecurityGroup, SecurityGroupRule, Server, Subnet};
use vlb_domain::ports::NetworkApi;

use crate::client::{Call, Service, VngCloudClient};
use crate::wire::{
    Data, ListData, Page, WireCreatedSecgroup, WireSecgroup, WireSecgroupRule, WireServer,
    WireSubnet, rule_body,
};

const SERVER: &str = "servers/{serverId}";
const SERVER_SECGROUPS: &str = "servers/{serverId}/update-sec-group";
const SUBNET: &str = "networks/{networkId}/subnets/{subnetId}";
const SECGROUPS: &str = "secgroups";
const SECGROUP: &str = "secgroups/{secgroupId}";
const RULES_LIST: &str = "secgroups/{secgroupId}/secGroupRules";
const RULES: &str = "secgroups/{secgroupId}/secgroupRules";
const RULE: &str = "secgroups/{secgroupId}/secgroupRules/{secgroupRuleId}";

fn call<'a>(
    method: Method,
    template: &'static str,
    path: String,
    resource: &'static str,
    id: &'a str,
) -> Call<'a> {
    Call::new(method, Service::Vserver, template, path, resource, id)
}

impl VngCloudClient {
    async fn list_secgroups(&self) -> Result<Vec<WireSecgroup>, CloudError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let c = call(
                Method::GET,
                SECGROUPS,
                SECGROUPS.to_owned(),
                "security group",
                "",
            )
            .query("page", page.to_string())
            .query("size", self.config().page_size.to_string());
            let p: Page<WireSecgroup> = self.json(&c).await?;
            let n = p.list_data.len();
            out.extend(p.list_data);
            if n == 0 || i64::from(page) >= p.total_page {
                return Ok(out);
            }
            page += 1;
        }
    }

    async fn list_rules(&self, sg_id: &str) -> Result<Vec<SecurityGroupRule>, CloudError> {
        let c = call(
            Method::GET,
            RULES_LIST,
            format!("secgroups/{sg_id}/secGroupRules"),
            "security group",
            sg_id,
        );
        let d: ListData<WireSecgroupRule> = self.json(&c).await?;
        Ok(d.data
            .into_iter()
            .filter_map(WireSecgroupRule::into_domain)
            .collect())
    }
}

#[async_trait]
impl NetworkApi for VngCloudClient {
    async fn get_server(&self, server_id: &str) -> Result<Server, CloudError> {
        if let Some(s) = self.servers().get(server_id) {
            return Ok(s);
        }
        let c = call(
            Method::GET,
            SERVER,
            format!("servers/{server_id}"),
            "server",
            server_id,
        );
        let d: Data<WireServer> = self.json(&c).await?;
        let server = d.data.into_domain();
        self.servers().put(server_id.to_owned(), server.clone());
        Ok(server)
    }

    async fn get_subnet(&self, network_id: &str, subnet_id: &str) -> Result<Subnet, CloudError> {
        let key = (network_id.to_owned(), subnet_id.to_owned());
        if let Some(s) = self.subnets().get(&key) {
            return Ok(s);
        }
        let c = call(
            Method::GET,
            SUBNET,
            format!("networks/{network_id}/subnets/{subnet_id}"),
            "subnet",
            subnet_id,
        );
        let s: WireSubnet = self.json(&c).await?;
        let cidr = s.cidr.parse().map_err(|e| CloudError::Other {
            status: 200,
            message: format!("subnet {subnet_id} has a bad CIDR {:?}: {e}", s.cidr),
        })?;
        let subnet = Subnet {
            id: s.uuid,
            network_id: if s.network_uuid.is_empty() {
                network_id.to_owned()
            } else {
                s.network_uuid
            },
            cidr,
            zone_id: (!s.zone.uuid.is_empty()).then_some(s.zone.uuid),
        };
        self.subnets().put(key, subnet.clone());
        Ok(subnet)
    }

    async fn find_security_group_by_name(
        &self,
        name: &str,
    ) -> Result<Option<SecurityGroup>, CloudError> {
        let found = self
            .list_secgroups()
            .await?
            .into_iter()
            .find(|g| g.name == name);
        match found {
            Some(g) => {
                let rules = self.list_rules(&g.id).await?;
                Ok(Some(g.into_domain(rules)))
            }
            None => Ok(None),
        }
    }

    async fn get_security_group(&self, sg_id: &str) -> Result<SecurityGroup, CloudError> {
        let c = call(
            Method::GET,
            SECGROUP,
            format!("secgroups/{sg_id}"),
            "security group",
            sg_id,
        );
        let d: Data<WireSecgroup> = self.json(&c).await?;
        let rules = self.list_rules(sg_id).await?;
        Ok(d.data.into_domain(rules))
    }

    async fn create_security_group(
        &self,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, CloudError> {
        // Find first: a create whose answer was lost must not make a second group.
        if let Some(g) = self.find_security_group_by_name(name).await? {
            return Ok(g);
        }
        let c = call(
            Method::POST,
            SECGROUPS,
            SECGROUPS.to_owned(),
            "security group",
            "",
        )
        .body(json!({ "name": name, "description": description }));
        let max = self.config().retry.max_retries + 1;
        let mut last = None;
        for _ in 0..max {
            match self.json::<Data<WireCreatedSecgroup>>(&c).await {
                Ok(d) => {
                    return Ok(SecurityGroup {
                        id: d.data.uuid,
                        name: d.data.secgroup_name,
                        description: d.data.description,
                        rules: Vec::new(),
                    });
                }
                Err(
                    e @ (CloudError::Transport(_)
                    | CloudError::Server(_)
                    | CloudError::Duplicate(_)),
                ) => {
                    if let Some(g) = self.find_security_group_by_name(name).await? {
                        return Ok(g);
                    }
                    if matches!(e, CloudError::Duplicate(_)) {
                        return Err(e);
                    }
                    last = Some(e);
                    tokio::time::sleep(self.config().retry.min_delay).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| CloudError::Transport("create not sent".to_owned())))
    }

    async fn delete_security_group(&self, sg_id: &str) -> Result<(), CloudError> {
        let c = call(
            Method::DELETE,
            SECGROUP,
            format!("secgroups/{sg_id}"),
            "security group",
            sg_id,
        );
        self.send(&c).await.map(drop)
    }

    async fn create_security_group_rule(
        &self,
        sg_id: &str,
        rule: &SecurityGroupRule,
    ) -> Result<String, CloudError> {
        let c = call(
            Method::POST,
            RULES,
            format!("secgroups/{sg_id}/secgroupRules"),
            "security group",
            sg_id,
        )
        .body(rule_body(sg_id, rule));
        let find = || async {
            Ok::<_, CloudError>(
                self.list_rules(sg_id)
                    .await?
                    .into_iter()
                    .find(|r| r.same_rule(rule))
                    .map(|r| r.id),
            )
        };
        let max = self.config().retry.max_retries + 1;
        let mut last = None;
        for _ in 0..max {
            match self.json::<Data<crate::wire::Uuid>>(&c).await {
                Ok(d) => return Ok(d.data.uuid),
                Err(
                    e @ (CloudError::Transport(_)
                    | CloudError::Server(_)
                    | CloudError::Duplicate(_)),
                ) => {
                    if let Some(id) = find().await? {
                        return Ok(id);
                    }
                    if matches!(e, CloudError::Duplicate(_)) {
                        return Err(e);
                    }
                    last = Some(e);
                    tokio::time::sleep(self.config().retry.min_delay).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| CloudError::Transport("create not sent".to_owned())))
    }

    async fn delete_security_group_rule(
        &self,
        sg_id: &str,
        rule_id: &str,
    ) -> Result<(), CloudError> {
        let c = call(
            Method::DELETE,
            RULE,
            format!("secgroups/{sg_id}/secgroupRules/{rule_id}"),
            "security group rule",
            rule_id,
        );
        self.send(&c).await.map(drop)
    }

    async fn set_server_security_groups(
        &self,
        server_id: &str,
        sg_ids: &[String],
    ) -> Result<(), CloudError> {
        let c = call(
            Method::PUT,
            SERVER_SECGROUPS,
            format!("servers/{server_id}/update-sec-group"),
            "server",
            server_id,
        )
        .body(json!({ "securityGroup": sg_ids }));
        let sent = self.send(&c).await.map(drop);
        let servers = self.servers();
        match &sent {
            Ok(()) => servers.update(server_id, |s| s.security_groups = sg_ids.to_vec()),
            Err(_) => servers.remove(server_id),
        }
        sent
    }
}
