//! Reconcile and finalize a NodeSecurityGroup: the managed group and its rules, attached
//! (with the extra groups) to the server of every selected node.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Deps, NSG_FINALIZER};
use crate::error::{CloudError, DomainError};
use crate::members;
use crate::model::condition::{self, REASON_FAILED, REASON_SUCCESS};
use crate::model::{
    ManagedSecurityGroup, NodeInfo, NodeSecurityGroupRule, NodeSecurityGroupStatus,
    NodeSecurityGroupView, ObjectKind, ObjectRef, SecurityGroup, SecurityGroupRule,
    ServerSecurityGroupStatus,
};

fn object_ref(nsg: &NodeSecurityGroupView) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::NodeSecurityGroup,
        key: nsg.meta.key.clone(),
        uid: Some(nsg.meta.uid.clone()),
    }
}

fn to_cloud(r: &NodeSecurityGroupRule) -> SecurityGroupRule {
    SecurityGroupRule {
        id: String::new(),
        direction: r.direction,
        ether_type: r.ether_type,
        protocol: r.protocol,
        port_range_min: r.from_port,
        port_range_max: r.to_port,
        remote_ip_prefix: r.cidr.clone(),
        description: r.description.clone(),
    }
}

fn queue_status(deps: &Deps, nsg: &NodeSecurityGroupView, mut status: NodeSecurityGroupStatus) {
    status.last_reconcile_time = nsg.status.last_reconcile_time;
    if status == nsg.status {
        return;
    }
    status.last_reconcile_time = Some(deps.clock.now());
    deps.batch
        .queue_nsg_status(&nsg.meta.key, super::replace_with(status));
}

/// Ensures the managed group exists with exactly the desired rules; returns its id.
async fn ensure_group(
    deps: &Deps,
    want: &ManagedSecurityGroup,
    known_id: Option<&str>,
) -> Result<String, CloudError> {
    let mut group: Option<SecurityGroup> = None;
    if let Some(id) = known_id {
        match deps.net.get_security_group(id).await {
            Ok(g) => group = Some(g),
            Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if group.is_none() {
        group = deps.net.find_security_group_by_name(&want.name).await?;
    }
    let group = match group {
        Some(g) => g,
        None => {
            deps.net
                .create_security_group(&want.name, want.description.as_deref().unwrap_or_default())
                .await?
        }
    };
    let desired: Vec<SecurityGroupRule> = want.rules.iter().map(to_cloud).collect();
    for have in &group.rules {
        if !desired.iter().any(|d| d.same_rule(have)) {
            match deps
                .net
                .delete_security_group_rule(&group.id, &have.id)
                .await
            {
                Ok(()) | Err(CloudError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for d in &desired {
        if !group.rules.iter().any(|h| h.same_rule(d)) {
            match deps.net.create_security_group_rule(&group.id, d).await {
                Ok(_) | Err(CloudError::Duplicate(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(group.id)
}

/// Sets the groups of one server: `add` present, `remove` absent. Returns whether it wrote.
async fn attach(
    deps: &Deps,
    server_id: &str,
    add: &[String],
    remove: &[String],
) -> Result<bool, CloudError> {
    let server = deps.net.get_server(server_id).await?;
    let mut want: Vec<String> = server
        .security_groups
        .iter()
        .filter(|g| !remove.contains(g) || add.contains(g))
        .cloned()
        .collect();
    for g in add {
        if !want.contains(g) {
            want.push(g.clone());
        }
    }
    let before: BTreeSet<&String> = server.security_groups.iter().collect();
    let after: BTreeSet<&String> = want.iter().collect();
    if before == after {
        return Ok(false);
    }
    deps.net
        .set_server_security_groups(server_id, &want)
        .await?;
    Ok(true)
}

/// The groups the other NodeSecurityGroups want on each server (by server id): their managed
/// group once it exists and their extra groups, on the servers of the nodes they select.
/// Writing them along with this NSG's own makes one PUT per server serve every NSG: when a
/// node joins, the first NSG reconciled attaches all groups, and the others find them there.
fn wanted_by_others(
    nsg: &NodeSecurityGroupView,
    all: &[NodeSecurityGroupView],
    nodes: &[crate::model::NodeView],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for other in all
        .iter()
        .filter(|o| o.meta.key != nsg.meta.key && !o.meta.deleting)
    {
        let groups: BTreeSet<String> = other
            .spec
            .attach_security_groups
            .iter()
            .cloned()
            .chain(other.status.managed_security_group.id.clone())
            .collect();
        if groups.is_empty() {
            continue;
        }
        for node in members::select_nodes(nodes, &other.spec.select_node_labels) {
            if let Some(server) = node.server_id().filter(|s| !s.is_empty()) {
                out.entry(server).or_default().extend(groups.iter().cloned());
            }
        }
    }
    out
}

/// [`attach`] with the groups other NSGs want on the server too (see [`wanted_by_others`]);
/// when the cloud refuses them (a group of another NSG gone out of band), once more with
/// this NSG's change alone, so another NSG's state never blocks this one.
async fn attach_coalesced(
    deps: &Deps,
    server_id: &str,
    own: &[String],
    others: Option<&BTreeSet<String>>,
    remove: &[String],
) -> Result<bool, CloudError> {
    let Some(others) = others.filter(|o| o.iter().any(|g| !own.contains(g))) else {
        return attach(deps, server_id, own, remove).await;
    };
    let mut add = own.to_vec();
    add.extend(others.iter().filter(|g| !own.contains(g)).cloned());
    let remove: Vec<String> = remove
        .iter()
        .filter(|g| !others.contains(*g))
        .cloned()
        .collect();
    match attach(deps, server_id, &add, &remove).await {
        Err(CloudError::NotFound { resource, .. }) if resource != "server" => {
            attach(deps, server_id, own, &remove).await
        }
        done => done,
    }
}

/// Reconciles an NSG (finalizes it when it is being deleted).
pub async fn reconcile_nsg(
    deps: &Deps,
    cfg: &Config,
    nsg: &NodeSecurityGroupView,
) -> Result<(), DomainError> {
    let _ = cfg;
    if nsg.meta.deleting {
        return finalize_nsg(deps, nsg).await;
    }
    if !nsg.meta.finalizers.iter().any(|f| f == NSG_FINALIZER) {
        deps.writer
            .add_finalizer(&object_ref(nsg), NSG_FINALIZER)
            .await?;
    }
    let generation = nsg.meta.generation;
    let mut status = nsg.status.clone();
    status.observed_generation = generation;
    let mut first_error: Option<DomainError> = None;

    let mut groups: Vec<String> = nsg.spec.attach_security_groups.clone();
    if let Some(managed) = &nsg.spec.managed_security_group {
        match ensure_group(deps, managed, status.managed_security_group.id.as_deref()).await {
            Ok(id) => {
                status.managed_security_group.id = Some(id.clone());
                status.managed_security_group.error = None;
                groups.push(id);
            }
            Err(e) => {
                status.managed_security_group.error = Some(e.to_string());
                first_error = Some(e.into());
            }
        }
    }

    let nodes = deps.reader.list_nodes().await?;
    let others = wanted_by_others(nsg, &deps.reader.list_nsgs().await?, &nodes);
    let selected = members::select_nodes(&nodes, &nsg.spec.select_node_labels);
    status.selected_nodes = selected
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            server_id: n.server_id().unwrap_or_default(),
        })
        .collect();
    let mut servers = Vec::new();
    for info in &status.selected_nodes {
        if info.server_id.is_empty() {
            continue;
        }
        let result = attach_coalesced(
            deps,
            &info.server_id,
            &groups,
            others.get(&info.server_id),
            &[],
        )
        .await;
        let error = result.as_ref().err().map(ToString::to_string);
        if let Err(e) = result
            && first_error.is_none()
        {
            first_error = Some(e.into());
        }
        servers.push(ServerSecurityGroupStatus {
            server_id: info.server_id.clone(),
            attached_security_group_ids: if error.is_none() {
                groups.clone()
            } else {
                Vec::new()
            },
            error,
        });
    }
    // Servers no longer selected lose the groups this NSG attached.
    for old in &nsg.status.server_security_groups {
        if servers.iter().any(|s| s.server_id == old.server_id)
            || old.attached_security_group_ids.is_empty()
        {
            continue;
        }
        let detached = attach_coalesced(
            deps,
            &old.server_id,
            &[],
            others.get(&old.server_id),
            &old.attached_security_group_ids,
        )
        .await;
        match detached {
            Ok(_) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => {
                servers.push(ServerSecurityGroupStatus {
                    error: Some(e.to_string()),
                    ..old.clone()
                });
                first_error.get_or_insert(e.into());
            }
        }
    }
    servers.sort_by(|a, b| a.server_id.cmp(&b.server_id));
    status.server_security_groups = servers;

    let (ok, reason, message) = match &first_error {
        None => (true, REASON_SUCCESS, "security groups attached".to_owned()),
        Some(e) => (false, REASON_FAILED, e.to_string()),
    };
    if !ok {
        deps.warn(&object_ref(nsg), reason, message.clone()).await;
    }
    condition::set_condition(
        &mut status.conditions,
        deps.ready(ok, reason, message.clone(), generation),
    );
    status.last_reconcile_message = message;
    queue_status(deps, nsg, status);
    first_error.map_or(Ok(()), Err)
}

/// Finalizes an NSG: detaches its groups from the servers, deletes the managed group
/// (already gone is success), removes the finalizer.
pub async fn finalize_nsg(deps: &Deps, nsg: &NodeSecurityGroupView) -> Result<(), DomainError> {
    for s in &nsg.status.server_security_groups {
        match attach(deps, &s.server_id, &[], &s.attached_security_group_ids).await {
            Ok(_) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(id) = &nsg.status.managed_security_group.id {
        match deps.net.delete_security_group(id).await {
            Ok(()) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    deps.writer
        .remove_finalizer(&object_ref(nsg), NSG_FINALIZER)
        .await?;
    Ok(())
}
