//! Reconcile and finalize a NodeSecurityGroup: the managed group and its rules, attached
//! (with the extra groups) to the server of every selected node. A server's group list is
//! one shared value (each write replaces it whole), so a reconcile writes it for every NSG at
//! once: the groups the other NSGs want there and the ones they are leaving go in the same
//! write, and a node joining or leaving costs one write per server, not one per Service.
//!
//! The status does not grow with the nodes. The managed group is created by this NSG and is
//! its alone, so whether a server carries it is read from the server (reads are cached in
//! the cloud adapter): the server of every listed node that is not selected loses it, whether
//! or not the status ever named that server. The status keeps the number of selected nodes,
//! and per-server entries only for servers whose attachment failed and for servers where this
//! NSG attached extra groups (`spec.attachSecurityGroups`: owned by the user and shared, so
//! the server alone cannot tell whether this NSG put them there). In the usual case (a
//! managed group, no extra groups, every attachment done) it has no per-server entry at all.
//! Entries written by older versions (one per selected server, the managed group included)
//! are still honoured: their groups are detached once the server is no longer selected.
//!
//! Deleted Nodes: only the servers of listed Node objects are visited, so the server of a
//! Node whose object is gone is not. That is acceptable: on VKS a Node's server is deleted
//! with it, and a kubelet whose Node object was deleted registers it again, so its server
//! comes back as a Node and is handled then. Old-format entries still cover the servers they
//! list.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Deps};
use crate::error::{CloudError, DomainError};
use crate::members;
use crate::model::condition::{self, REASON_FAILED, REASON_SUCCESS};
use crate::model::{
    ManagedSecurityGroup, NodeSecurityGroupRule, NodeSecurityGroupStatus, NodeSecurityGroupView,
    NodeView, ObjectKind, ObjectRef, SecurityGroup, SecurityGroupRule, ServerSecurityGroupStatus,
};

fn object_ref(nsg: &NodeSecurityGroupView) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::NodeSecurityGroup,
        key: nsg.meta.key.clone(),
        uid: Some(nsg.meta.uid.clone()),
    }
}

/// The cloud rule of a desired NSG rule.
pub(crate) fn to_cloud(r: &NodeSecurityGroupRule) -> SecurityGroupRule {
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

/// What the other NodeSecurityGroups want of each server (by server id).
#[derive(Debug, Default)]
struct Others {
    /// Their managed group once it exists and their extra groups, on the servers of the
    /// nodes they select.
    wanted: BTreeMap<String, BTreeSet<String>>,
    /// The groups due to be detached: their managed group on the server of every node they
    /// do not select, and the groups they recorded for servers they no longer select.
    leaving: BTreeMap<String, BTreeSet<String>>,
}

/// Writing the other NSGs' wishes along with this NSG's own makes one PUT per server serve
/// every NSG: when a node joins, the first NSG reconciled attaches every group; when one
/// leaves, the first detaches every group; the others then find nothing left to write.
fn others(
    nsg: &NodeSecurityGroupView,
    all: &[NodeSecurityGroupView],
    nodes: &[NodeView],
) -> Others {
    let mut out = Others::default();
    for other in all
        .iter()
        .filter(|o| o.meta.key != nsg.meta.key && !o.meta.deleting)
    {
        let managed = other.status.managed_security_group.id.as_ref();
        let groups: BTreeSet<String> = other
            .spec
            .attach_security_groups
            .iter()
            .chain(managed)
            .cloned()
            .collect();
        let mut selected: BTreeSet<String> = BTreeSet::new();
        for node in nodes {
            let Some(server) = node.server_id() else {
                continue;
            };
            if members::node_selected(node, &other.spec.select_node_labels) {
                if !groups.is_empty() {
                    out.wanted
                        .entry(server.clone())
                        .or_default()
                        .extend(groups.iter().cloned());
                }
                selected.insert(server);
            } else if let Some(id) = managed {
                // Its managed group leaves every server it does not select (see
                // [`reconcile_nsg`]); a server it also selects through another node keeps it
                // through `wanted`.
                out.leaving.entry(server).or_default().insert(id.clone());
            }
        }
        for old in &other.status.server_security_groups {
            if !selected.contains(&old.server_id) {
                out.leaving
                    .entry(old.server_id.clone())
                    .or_default()
                    .extend(old.attached_security_group_ids.iter().cloned());
            }
        }
    }
    out
}

/// [`attach`] with what other NSGs want of the server too (see [`others`]): their groups
/// added, the groups they are leaving removed, a group any of them still wants kept. When
/// the cloud refuses that (a group of another NSG gone out of band), once more with this
/// NSG's change alone, so another NSG's state never blocks this one.
async fn attach_coalesced(
    deps: &Deps,
    server_id: &str,
    own: &[String],
    others: &Others,
    remove: &[String],
) -> Result<bool, CloudError> {
    let empty = BTreeSet::new();
    let wanted = others.wanted.get(server_id).unwrap_or(&empty);
    let leaving = others.leaving.get(server_id).unwrap_or(&empty);
    let keep = |g: &String| wanted.contains(g) || own.contains(g);
    let mut add = own.to_vec();
    add.extend(wanted.iter().filter(|g| !own.contains(g)).cloned());
    let own_remove: Vec<String> = remove.iter().filter(|g| !keep(g)).cloned().collect();
    let mut all_remove = own_remove.clone();
    for g in leaving {
        if !keep(g) && !all_remove.contains(g) {
            all_remove.push(g.clone());
        }
    }
    let coalesced = add.len() > own.len() || all_remove.len() > own_remove.len();
    match attach(deps, server_id, &add, &all_remove).await {
        Err(CloudError::NotFound { resource, .. }) if coalesced && resource != "server" => {
            attach(deps, server_id, own, &own_remove).await
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
    let others = others(nsg, &deps.reader.list_nsgs().await?, &nodes);
    let selected = members::select_nodes(&nodes, &nsg.spec.select_node_labels);
    status.selected_nodes = Vec::new();
    status.selected_node_count = u32::try_from(selected.len()).unwrap_or(u32::MAX);
    let managed_id = status.managed_security_group.id.clone();
    // The groups that need a per-server record: all but the managed group.
    let extras: Vec<String> = groups
        .iter()
        .filter(|g| managed_id.as_ref() != Some(*g))
        .cloned()
        .collect();
    let selected_servers: BTreeSet<String> =
        selected.iter().filter_map(|n| n.server_id()).collect();
    let mut servers = Vec::new();
    for server_id in &selected_servers {
        let result = attach_coalesced(deps, server_id, &groups, &others, &[]).await;
        match result {
            Ok(_) if extras.is_empty() => {}
            Ok(_) => servers.push(ServerSecurityGroupStatus {
                server_id: server_id.clone(),
                attached_security_group_ids: extras.clone(),
                error: None,
            }),
            Err(e) => failed(&mut servers, &mut first_error, server_id, &[], e),
        }
    }
    // Servers no longer selected lose the groups this NSG attached: those recorded, and the
    // managed group (read from the server, so it needs no record).
    let mut left: BTreeSet<String> = BTreeSet::new();
    for old in &nsg.status.server_security_groups {
        if selected_servers.contains(&old.server_id)
            || old.attached_security_group_ids.is_empty()
            || !left.insert(old.server_id.clone())
        {
            continue;
        }
        let remove = with_managed(&old.attached_security_group_ids, managed_id.as_ref());
        let detached = attach_coalesced(deps, &old.server_id, &[], &others, &remove).await;
        match detached {
            Ok(_) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => failed(
                &mut servers,
                &mut first_error,
                &old.server_id,
                &old.attached_security_group_ids,
                e,
            ),
        }
    }
    if let Some(id) = &managed_id {
        let remove = [id.clone()];
        for server_id in nodes.iter().filter_map(NodeView::server_id) {
            if selected_servers.contains(&server_id) || !left.insert(server_id.clone()) {
                continue;
            }
            match attach_coalesced(deps, &server_id, &[], &others, &remove).await {
                Ok(_) | Err(CloudError::NotFound { .. }) => {}
                Err(e) => failed(&mut servers, &mut first_error, &server_id, &[], e),
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

/// Finalizes an NSG: detaches its groups from the servers (the recorded groups from the
/// recorded servers, the managed group from the server of every node), deletes the managed
/// group (already gone is success) (`Ok` lets the engine drop the finalizer).
pub async fn finalize_nsg(deps: &Deps, nsg: &NodeSecurityGroupView) -> Result<(), DomainError> {
    let managed_id = nsg.status.managed_security_group.id.as_ref();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for s in &nsg.status.server_security_groups {
        if !done.insert(&s.server_id) {
            continue;
        }
        let remove = with_managed(&s.attached_security_group_ids, managed_id);
        detach(deps, &s.server_id, &remove).await?;
    }
    if let Some(id) = managed_id {
        let remove = [id.clone()];
        for node in deps.reader.list_nodes().await? {
            if let Some(server_id) = node.server_id()
                && !done.contains(server_id.as_str())
            {
                detach(deps, &server_id, &remove).await?;
            }
        }
        match deps.net.delete_security_group(id).await {
            Ok(()) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Records that writing the groups of `server_id` failed with `e` (keeping `attached`, what
/// it still holds of this NSG's), the first such error being the reconcile's.
fn failed(
    servers: &mut Vec<ServerSecurityGroupStatus>,
    first_error: &mut Option<DomainError>,
    server_id: &str,
    attached: &[String],
    e: CloudError,
) {
    servers.push(ServerSecurityGroupStatus {
        server_id: server_id.to_owned(),
        attached_security_group_ids: attached.to_vec(),
        error: Some(e.to_string()),
    });
    first_error.get_or_insert(e.into());
}

/// The groups a server record says this NSG attached, with its managed group (a record
/// written now leaves it out: it is read back from the server).
fn with_managed(recorded: &[String], managed: Option<&String>) -> Vec<String> {
    let mut groups = recorded.to_vec();
    if let Some(id) = managed
        && !groups.contains(id)
    {
        groups.push(id.clone());
    }
    groups
}

/// Removes `groups` from a server; a server (or group) already gone is success.
async fn detach(deps: &Deps, server_id: &str, groups: &[String]) -> Result<(), CloudError> {
    match attach(deps, server_id, &[], groups).await {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
