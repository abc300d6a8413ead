//! `LoadBalancerApi` over the vLB API (`{vlb}/v2/{projectId}/...`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use vlb_domain::CloudError;
use vlb_domain::model::{
    Certificate, CertificateRequest, CreateLoadBalancerRequest, HealthMonitor, L7Policy, Listener,
    ListenerRequest, LoadBalancer, Pool, PoolMember, PoolRequest,
};
use vlb_domain::ports::{LoadBalancerApi, Tags};

use crate::busy::Change;
use crate::client::{Call, Service, VngCloudClient};
use crate::error::WaitError;
use crate::wire::{
    Data, ListData, Page, Uuid, WireCertificate, WireHealthMonitor, WireLb, WireListPolicies,
    WireListener, WireMember, WirePackage, WirePool, WireTags, choose_package,
    create_listener_body, create_pool_body, member_body, policy_body, scheme_str, type_str,
    update_listener_body, update_pool_body,
};

const LBS: &str = "loadBalancers";
const LB: &str = "loadBalancers/{loadBalancerId}";
const PACKAGES: &str = "loadBalancers/packages";
const RESIZE: &str = "loadBalancers/{loadBalancerId}/resize";
const LISTENERS: &str = "loadBalancers/{loadBalancerId}/listeners";
const LISTENER: &str = "loadBalancers/{loadBalancerId}/listeners/{listenerId}";
const POLICIES: &str = "loadBalancers/{loadBalancerId}/listeners/{listenerId}/l7policies";
const POLICY: &str = "loadBalancers/{loadBalancerId}/listeners/{listenerId}/l7policies/{policyId}";
const REORDER: &str = "loadBalancers/{loadBalancerId}/listeners/{listenerId}/reorderL7Policies";
const POOLS: &str = "loadBalancers/{loadBalancerId}/pools";
const POOL: &str = "loadBalancers/{loadBalancerId}/pools/{poolId}";
const MEMBERS: &str = "loadBalancers/{loadBalancerId}/pools/{poolId}/members";
const HEALTH: &str = "loadBalancers/{loadBalancerId}/pools/{poolId}/healthMonitor";
const CAS: &str = "cas";
const CA: &str = "cas/{certificateId}";
const TAGS: &str = "tag/resource/{resourceId}";

/// Polls of a busy load balancer back off up to this many times `wait_poll` (a wait
/// measured once is then mostly skipped: see [`crate::busy`]).
pub(crate) const MAX_POLL_FACTOR: u32 = 4;

fn get<'a>(template: &'static str, path: String, resource: &'static str, id: &'a str) -> Call<'a> {
    Call::new(Method::GET, Service::Vlb, template, path, resource, id)
}

impl VngCloudClient {
    /// Before a change of load balancer `lb_id`: when this client's previous change of it
    /// may still be in progress, waits until it is ready, as the Go controller does after
    /// every change, so the change is not refused as busy ("is updating"). The wait costs
    /// `GET`s only after a change of this client; a load balancer made busy by someone
    /// else is still met by the busy retry of the call itself. The first poll comes when
    /// the change is likely done, after the busy time learnt from earlier waits of the same
    /// kind of change (see [`crate::busy`]); later ones follow `wait_poll`.
    async fn settle(&self, lb_id: &str) -> Result<(), CloudError> {
        let (at, change, estimate) = {
            let busy = self.busy();
            let Some((at, change)) = busy.pending(lb_id) else {
                return Ok(());
            };
            (at, change, busy.estimate(lb_id, change))
        };
        let deadline = self.config().wait_deadline;
        if let Some(estimate) = estimate {
            let until = estimate.min(deadline);
            tokio::time::sleep(until.saturating_sub(at.elapsed())).await;
        }
        let waited = self.poll_ready(lb_id, deadline).await;
        self.forget_changing(lb_id);
        match waited {
            Ok((_, polls, last_gap)) => {
                self.busy()
                    .learn(lb_id, change, at.elapsed(), polls == 1, last_gap);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// After a change of `lb_id`: remembers it when it was accepted.
    fn changed<T>(&self, lb_id: &str, result: Result<T, CloudError>) -> Result<T, CloudError> {
        if result.is_ok() {
            self.mark_changing(lb_id, Change::Update);
        }
        result
    }

    /// Follows every page of a `listData` list; `call` builds the call of one page.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        call: impl Fn(u32) -> Call<'static>,
    ) -> Result<Vec<T>, CloudError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let p: Page<T> = self.json(&call(page)).await?;
            let n = p.list_data.len();
            out.extend(p.list_data);
            if n == 0 || i64::from(page) >= p.total_page {
                return Ok(out);
            }
            page += 1;
        }
    }

    fn list_lbs_call(&self, name: &str, tag: Option<(&str, &str)>, page: u32) -> Call<'static> {
        let mut c = get(LBS, LBS.to_owned(), "load balancer", "")
            .query("name", name)
            .query("page", page.to_string())
            .query("size", self.config().page_size.to_string());
        if let Some((k, v)) = tag {
            let mut t = format!("key:{k}");
            if !v.is_empty() {
                t.push_str(",value:");
                t.push_str(v);
            }
            c = c.query("tags", t);
        }
        c
    }

    /// Waits until a load balancer is ready (`ACTIVE`/`CREATED`), polling with exponential
    /// backoff (from `wait_poll` up to 4 times it) up to `deadline` (the configured
    /// `wait_deadline` when `None`). `ERROR` ends the wait at once with [`WaitError::Failed`].
    pub async fn wait_load_balancer_ready(
        &self,
        lb_id: &str,
        deadline: Option<Duration>,
    ) -> Result<LoadBalancer, WaitError> {
        let deadline = deadline.unwrap_or(self.config().wait_deadline);
        self.poll_ready(lb_id, deadline).await.map(|(lb, _, _)| lb)
    }

    /// [`Self::wait_load_balancer_ready`]; also returns the number of polls and the time
    /// between the last two.
    async fn poll_ready(
        &self,
        lb_id: &str,
        deadline: Duration,
    ) -> Result<(LoadBalancer, u32, Duration), WaitError> {
        let poll = self.config().wait_poll;
        let started = Instant::now();
        let mut delay = poll;
        let mut polls = 0u32;
        let mut last_gap = Duration::ZERO;
        loop {
            let lb = self.get_load_balancer(lb_id).await?;
            polls += 1;
            if lb.is_ready() {
                self.forget_changing(lb_id);
                return Ok((lb, polls, last_gap));
            }
            if lb.is_error() {
                return Err(WaitError::Failed {
                    id: lb.id,
                    progress_status: lb.progress_status,
                });
            }
            let waited = started.elapsed();
            if waited >= deadline {
                return Err(WaitError::Timeout {
                    id: lb.id,
                    waited,
                    display_status: lb.display_status,
                });
            }
            last_gap = delay.min(deadline.saturating_sub(waited));
            tokio::time::sleep(last_gap).await;
            delay = (delay * 2).min(poll * MAX_POLL_FACTOR);
        }
    }

    /// The package to use when a create request names none: the smallest of the zone's
    /// packages of the right type.
    async fn default_package(
        &self,
        request: &CreateLoadBalancerRequest,
    ) -> Result<String, CloudError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Packages {
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            list_data: Vec<WirePackage>,
        }
        let call = get(PACKAGES, PACKAGES.to_owned(), "package", "")
            .query("zoneId", request.zone_id.clone());
        let p: Packages = self.json(&call).await?;
        choose_package(&p.list_data, request.lb_type, &self.config().package_names).ok_or_else(
            || {
                CloudError::Invalid(format!(
                    "no {} package in zone {}",
                    type_str(request.lb_type),
                    request.zone_id
                ))
            },
        )
    }

    /// A create that must not run twice: POST once; on an answer that may hide a success
    /// (transport error, 5xx, duplicate) look the object up with `find` and return its id.
    async fn create_once<F, Fut>(&self, call: Call<'_>, find: F) -> Result<String, CloudError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>, CloudError>>,
    {
        let max = self.config().retry.max_retries + 1;
        let mut last = None;
        for _ in 0..max {
            match self.json::<Uuid>(&call).await {
                Ok(u) => return Ok(u.uuid),
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
                    tokio::time::sleep(self.config().retry.min_delay).await;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| CloudError::Transport("create not sent".to_owned())))
    }

    async fn policies(&self, lb_id: &str, listener_id: &str) -> Result<Vec<L7Policy>, CloudError> {
        let call = get(
            POLICIES,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}/l7policies"),
            "listener",
            listener_id,
        );
        let w: WireListPolicies = self.json(&call).await?;
        let mut out: Vec<L7Policy> = w
            .data
            .into_iter()
            .filter_map(crate::wire::WirePolicy::into_domain)
            .collect();
        out.sort_by_key(|p| p.position);
        Ok(out)
    }

    /// Moves `policy_id` to `position` (1-based; 0 or past the end: last) with one
    /// `reorderL7Policies` call, when it is not there already.
    async fn move_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy_id: &str,
        position: u32,
    ) -> Result<(), CloudError> {
        let current = self.policies(lb_id, listener_id).await?;
        let mut ids: Vec<&str> = current.iter().map(|p| p.id.as_str()).collect();
        let Some(from) = ids.iter().position(|id| *id == policy_id) else {
            return Err(CloudError::not_found("policy", policy_id));
        };
        let to = if position == 0 {
            ids.len() - 1
        } else {
            (position as usize - 1).min(ids.len() - 1)
        };
        if from == to {
            return Ok(());
        }
        let moved = ids.remove(from);
        ids.insert(to, moved);
        let body = json!({
            "policies": ids.iter().enumerate().map(|(i, id)| json!({
                "position": i + 1,
                "policyId": id,
            })).collect::<Vec<_>>(),
        });
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            REORDER,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}/reorderL7Policies"),
            "listener",
            listener_id,
        )
        .body(body);
        self.settle(lb_id).await?;
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }
}

#[async_trait]
impl LoadBalancerApi for VngCloudClient {
    async fn get_load_balancer(&self, lb_id: &str) -> Result<LoadBalancer, CloudError> {
        let call = get(LB, format!("loadBalancers/{lb_id}"), "load balancer", lb_id);
        let d: Data<WireLb> = self.json(&call).await?;
        let lb = d.data.into_domain();
        if lb.is_ready() {
            // Seen ready: the next change of it need not wait (see `settle`).
            self.forget_changing(lb_id);
        }
        Ok(lb)
    }

    async fn find_load_balancer_by_name(
        &self,
        name: &str,
    ) -> Result<Option<LoadBalancer>, CloudError> {
        let owned = name.to_owned();
        let all: Vec<WireLb> = self
            .all_pages(|page| self.list_lbs_call(&owned, None, page))
            .await?;
        // The API filters by substring: keep the exact name only.
        Ok(all
            .into_iter()
            .find(|lb| lb.name == name)
            .map(WireLb::into_domain))
    }

    async fn list_load_balancers_by_tag(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<LoadBalancer>, CloudError> {
        let all: Vec<WireLb> = self
            .all_pages(|page| self.list_lbs_call("", Some((key, value)), page))
            .await?;
        Ok(all.into_iter().map(WireLb::into_domain).collect())
    }

    async fn create_load_balancer(
        &self,
        request: &CreateLoadBalancerRequest,
    ) -> Result<String, CloudError> {
        // Find first: a create whose 202 was lost must not make a second load balancer.
        if let Some(lb) = self.find_load_balancer_by_name(&request.name).await? {
            return Ok(lb.id);
        }
        let package_id = match &request.package_id {
            Some(p) => p.clone(),
            None => self.default_package(request).await?,
        };
        let mut body = json!({
            "name": request.name,
            "packageId": package_id,
            "scheme": scheme_str(request.scheme),
            "autoScalable": request.autoscale,
            "subnetId": request.subnet_id,
            "type": type_str(request.lb_type),
            "tags": request.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "isPoc": false,
            "zoneId": if request.zone_id.is_empty() { Value::Null } else { json!(request.zone_id) },
        });
        if let Some(o) = body.as_object_mut() {
            if let Some(l) = &request.listener {
                o.insert("listener".into(), create_listener_body(l));
            }
            if let Some(p) = &request.pool {
                o.insert("pool".into(), create_pool_body(p));
            }
        }
        let call = Call::new(
            Method::POST,
            Service::Vlb,
            LBS,
            LBS.to_owned(),
            "load balancer",
            "",
        )
        .body(body);
        let name = request.name.clone();
        let id = self
            .create_once(call, || async {
                Ok(self
                    .find_load_balancer_by_name(&name)
                    .await?
                    .map(|lb| lb.id))
            })
            .await?;
        // CREATING for a while: the first change of it waits until it is ready.
        self.mark_changing(&id, Change::Create);
        Ok(id)
    }

    async fn delete_load_balancer(&self, lb_id: &str) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::DELETE,
            Service::Vlb,
            LB,
            format!("loadBalancers/{lb_id}"),
            "load balancer",
            lb_id,
        );
        let deleted = self.send(&call).await.map(drop);
        if deleted.is_ok() {
            self.busy().forget_all(lb_id);
        }
        deleted
    }

    async fn resize_load_balancer(&self, lb_id: &str, package_id: &str) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            RESIZE,
            format!("loadBalancers/{lb_id}/resize"),
            "load balancer",
            lb_id,
        )
        .body(json!({ "packageId": package_id }));
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn list_listeners(&self, lb_id: &str) -> Result<Vec<Listener>, CloudError> {
        let call = get(
            LISTENERS,
            format!("loadBalancers/{lb_id}/listeners"),
            "load balancer",
            lb_id,
        );
        let d: ListData<WireListener> = self.json(&call).await?;
        Ok(d.data.into_iter().map(WireListener::into_domain).collect())
    }

    async fn create_listener(
        &self,
        lb_id: &str,
        request: &ListenerRequest,
    ) -> Result<String, CloudError> {
        self.settle(lb_id).await?;
        let find = || async {
            Ok(self
                .list_listeners(lb_id)
                .await?
                .into_iter()
                .find(|l| l.name == request.name)
                .map(|l| l.id))
        };
        // No look-up first: the caller has just observed the listeners; an existing one of
        // this name answers "duplicated" and is then found.
        let call = Call::new(
            Method::POST,
            Service::Vlb,
            LISTENERS,
            format!("loadBalancers/{lb_id}/listeners"),
            "load balancer",
            lb_id,
        )
        .body(create_listener_body(request));
        let created = self.create_once(call, find).await;
        self.changed(lb_id, created)
    }

    async fn update_listener(
        &self,
        lb_id: &str,
        listener_id: &str,
        request: &ListenerRequest,
    ) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            LISTENER,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}"),
            "listener",
            listener_id,
        )
        .body(update_listener_body(request));
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn delete_listener(&self, lb_id: &str, listener_id: &str) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::DELETE,
            Service::Vlb,
            LISTENER,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}"),
            "listener",
            listener_id,
        );
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn list_pools(&self, lb_id: &str) -> Result<Vec<Pool>, CloudError> {
        let call = get(
            POOLS,
            format!("loadBalancers/{lb_id}/pools"),
            "load balancer",
            lb_id,
        );
        let d: ListData<WirePool> = self.json(&call).await?;
        let mut out = Vec::with_capacity(d.data.len());
        for p in d.data {
            let hm = self.get_health_monitor(lb_id, &p.uuid).await?;
            out.push(p.into_domain(hm));
        }
        Ok(out)
    }

    async fn create_pool(&self, lb_id: &str, request: &PoolRequest) -> Result<String, CloudError> {
        self.settle(lb_id).await?;
        let find = || async {
            let call = get(
                POOLS,
                format!("loadBalancers/{lb_id}/pools"),
                "load balancer",
                lb_id,
            );
            let d: ListData<WirePool> = self.json(&call).await?;
            Ok(d.data
                .into_iter()
                .find(|p| p.name == request.name)
                .map(|p| p.uuid))
        };
        // No look-up first: the caller has just observed the pools; an existing one of this
        // name answers "duplicated" and is then found.
        let call = Call::new(
            Method::POST,
            Service::Vlb,
            POOLS,
            format!("loadBalancers/{lb_id}/pools"),
            "load balancer",
            lb_id,
        )
        .body(create_pool_body(request));
        let created = self.create_once(call, find).await;
        self.changed(lb_id, created)
    }

    async fn update_pool(
        &self,
        lb_id: &str,
        pool_id: &str,
        request: &PoolRequest,
    ) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            POOL,
            format!("loadBalancers/{lb_id}/pools/{pool_id}"),
            "pool",
            pool_id,
        )
        .body(update_pool_body(request));
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn delete_pool(&self, lb_id: &str, pool_id: &str) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::DELETE,
            Service::Vlb,
            POOL,
            format!("loadBalancers/{lb_id}/pools/{pool_id}"),
            "pool",
            pool_id,
        );
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn get_health_monitor(
        &self,
        lb_id: &str,
        pool_id: &str,
    ) -> Result<HealthMonitor, CloudError> {
        let call = get(
            HEALTH,
            format!("loadBalancers/{lb_id}/pools/{pool_id}/healthMonitor"),
            "pool",
            pool_id,
        );
        let d: Data<WireHealthMonitor> = self.json(&call).await?;
        Ok(d.data.into_domain())
    }

    async fn get_members(&self, lb_id: &str, pool_id: &str) -> Result<Vec<PoolMember>, CloudError> {
        let call = get(
            MEMBERS,
            format!("loadBalancers/{lb_id}/pools/{pool_id}/members"),
            "pool",
            pool_id,
        );
        let d: ListData<WireMember> = self.json(&call).await?;
        Ok(d.data.into_iter().map(WireMember::into_domain).collect())
    }

    async fn put_members(
        &self,
        lb_id: &str,
        pool_id: &str,
        members: &[PoolMember],
    ) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            MEMBERS,
            format!("loadBalancers/{lb_id}/pools/{pool_id}/members"),
            "pool",
            pool_id,
        )
        .body(json!({ "members": members.iter().map(member_body).collect::<Vec<_>>() }));
        let sent = match self.send(&call).await {
            // "The members provided are identical to the existing members": nothing to do.
            Err(CloudError::Duplicate(m)) if m.to_ascii_lowercase().contains("identical") => {
                return Ok(());
            }
            sent => sent.map(drop),
        };
        self.changed(lb_id, sent)
    }

    async fn list_policies(
        &self,
        lb_id: &str,
        listener_id: &str,
    ) -> Result<Vec<L7Policy>, CloudError> {
        self.policies(lb_id, listener_id).await
    }

    async fn create_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy: &L7Policy,
    ) -> Result<String, CloudError> {
        self.settle(lb_id).await?;
        let find = || async {
            Ok(self
                .policies(lb_id, listener_id)
                .await?
                .into_iter()
                .find(|p| p.name == policy.name)
                .map(|p| p.id))
        };
        let call = Call::new(
            Method::POST,
            Service::Vlb,
            POLICIES,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}/l7policies"),
            "listener",
            listener_id,
        )
        .body(policy_body(policy, true));
        let created = self.create_once(call, find).await;
        let id = self.changed(lb_id, created)?;
        if policy.position != 0 {
            self.move_policy(lb_id, listener_id, &id, policy.position)
                .await?;
        }
        Ok(id)
    }

    async fn update_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy: &L7Policy,
    ) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::PUT,
            Service::Vlb,
            POLICY,
            format!(
                "loadBalancers/{lb_id}/listeners/{listener_id}/l7policies/{}",
                policy.id
            ),
            "policy",
            &policy.id,
        )
        .body(policy_body(policy, false));
        let sent = self.send(&call).await;
        self.changed(lb_id, sent)?;
        if policy.position != 0 {
            self.move_policy(lb_id, listener_id, &policy.id, policy.position)
                .await?;
        }
        Ok(())
    }

    async fn delete_policy(
        &self,
        lb_id: &str,
        listener_id: &str,
        policy_id: &str,
    ) -> Result<(), CloudError> {
        self.settle(lb_id).await?;
        let call = Call::new(
            Method::DELETE,
            Service::Vlb,
            POLICY,
            format!("loadBalancers/{lb_id}/listeners/{listener_id}/l7policies/{policy_id}"),
            "policy",
            policy_id,
        );
        let sent = self.send(&call).await.map(drop);
        self.changed(lb_id, sent)
    }

    async fn list_certificates(&self) -> Result<Vec<Certificate>, CloudError> {
        let size = self.config().page_size.to_string();
        let all: Vec<WireCertificate> = self
            .all_pages(|page| {
                get(CAS, CAS.to_owned(), "certificate", "")
                    .query("page", page.to_string())
                    .query("size", size.clone())
            })
            .await?;
        Ok(all.into_iter().map(WireCertificate::into_domain).collect())
    }

    async fn create_certificate(&self, request: &CertificateRequest) -> Result<String, CloudError> {
        let find = || async {
            Ok::<_, CloudError>(
                self.list_certificates()
                    .await?
                    .into_iter()
                    .find(|c| c.name == request.name)
                    .map(|c| c.id),
            )
        };
        let body = json!({
            "name": request.name,
            "type": request.certificate_type,
            "certificate": request.certificate,
            "certificateChain": Value::Null,
            "passphrase": Value::Null,
            "privateKey": request.private_key,
        });
        let call = Call::new(
            Method::POST,
            Service::Vlb,
            CAS,
            CAS.to_owned(),
            "certificate",
            "",
        )
        .body(body);
        // The answer is `{"data": {"uuid": ...}}`.
        let max = self.config().retry.max_retries + 1;
        let mut last = None;
        for _ in 0..max {
            match self.json::<Data<Uuid>>(&call).await {
                Ok(d) => return Ok(d.data.uuid),
                Err(e @ (CloudError::Transport(_) | CloudError::Server(_))) => {
                    if let Some(id) = find().await? {
                        return Ok(id);
                    }
                    last = Some(e);
                    tokio::time::sleep(self.config().retry.min_delay).await;
                }
                Err(CloudError::Invalid(m)) if m.contains("already exists") => {
                    if let Some(id) = find().await? {
                        return Ok(id);
                    }
                    return Err(CloudError::Duplicate(m));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| CloudError::Transport("create not sent".to_owned())))
    }

    async fn delete_certificate(&self, certificate_id: &str) -> Result<(), CloudError> {
        let call = Call::new(
            Method::DELETE,
            Service::Vlb,
            CA,
            format!("cas/{certificate_id}"),
            "certificate",
            certificate_id,
        );
        self.send(&call).await.map(drop)
    }

    async fn get_tags(&self, lb_id: &str) -> Result<Tags, CloudError> {
        let call = Call::new(
            Method::GET,
            Service::Vserver,
            TAGS,
            format!("tag/resource/{lb_id}"),
            "load balancer",
            lb_id,
        );
        let tags: WireTags = self.json(&call).await?;
        Ok(tags
            .0
            .into_iter()
            .filter(|t| !t.system_tag)
            .map(|t| (t.key, t.value))
            .collect())
    }

    async fn put_tags(&self, lb_id: &str, tags: &Tags) -> Result<(), CloudError> {
        let call = Call::new(
            Method::PUT,
            Service::Vserver,
            TAGS,
            format!("tag/resource/{lb_id}"),
            "load balancer",
            lb_id,
        )
        .body(json!({
            "resourceId": lb_id,
            "resourceType": "LOAD-BALANCER",
            "tagRequestList": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        }));
        self.send(&call).await.map(drop)
    }
}
