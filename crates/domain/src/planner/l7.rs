//! The Layer 7 part of the planner: certificate references and imports, and the L7
//! policies of listeners.

use std::collections::{BTreeMap, BTreeSet};

use super::{Claim, CloudOp, Plan, PoolRef};
use crate::model::{
    Certificate, CertificateRequest, CreatedCertificate, CreatedListener, L7Policy, L7Rule,
    Listener, ListenerCertificate, ListenerSpec, LoadBalancerConfigStatus, PolicyAction,
    PolicySpec, SecretView,
};

/// A certificate referred to by an operation: a known id, or the name of a certificate
/// that exists or is imported earlier in the same plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRef {
    /// Known id.
    Id(String),
    /// Certificate name.
    Name(String),
}

/// The certificates a listener uses, resolved into ids when its operation runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerCertRefs {
    /// `defaultCertificateAuthority`.
    pub default: Option<CertRef>,
    /// `certificateAuthorities`.
    pub authorities: Vec<CertRef>,
}

impl ListenerCertRefs {
    /// The certificates `listener` has now (to give it back as it was).
    pub fn of(listener: &Listener) -> Self {
        Self {
            default: listener
                .default_certificate_authority
                .clone()
                .map(CertRef::Id),
            authorities: listener
                .certificate_authorities
                .iter()
                .cloned()
                .map(CertRef::Id)
                .collect(),
        }
    }

    /// The ids, looking names up with `by_name` (an unknown name is left out).
    pub fn resolve(
        &self,
        by_name: impl Fn(&str) -> Option<String>,
    ) -> (Option<String>, Vec<String>) {
        let one = |r: &CertRef| match r {
            CertRef::Id(id) => Some(id.clone()),
            CertRef::Name(n) => by_name(n),
        };
        (
            self.default.as_ref().and_then(one),
            self.authorities.iter().filter_map(one).collect(),
        )
    }
}

/// A listener referred to by an operation: a known id, or the port of a listener created
/// earlier in the same plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerRef {
    /// Known id.
    Id(String),
    /// Port of a listener of this plan.
    Port(u16),
}

/// A certificate to import from a Kubernetes secret, as the use case read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCertificate {
    /// Secret it comes from.
    pub secret_name: String,
    /// Resource version of the secret (a new version is a new certificate).
    pub resource_version: String,
    /// The import request; its `name` identifies the certificate in the cloud.
    pub request: CertificateRequest,
}

impl DesiredCertificate {
    /// The certificate of a `kubernetes.io/tls` secret (`tls.crt`, `tls.key`; carriage
    /// returns dropped), imported under `name`; or why the secret does not do.
    pub fn from_secret(name: String, secret: &SecretView) -> Result<Self, String> {
        let text = |k: &str| {
            secret
                .data
                .get(k)
                .filter(|v| !v.is_empty())
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(|v| v.replace('\r', ""))
        };
        let (Some(certificate), Some(key)) = (text("tls.crt"), text("tls.key")) else {
            return Err(format!(
                "secret {} needs non-empty UTF-8 PEM in tls.crt and tls.key",
                secret.key
            ));
        };
        Ok(Self {
            secret_name: secret.key.name.clone(),
            resource_version: secret.resource_version.clone(),
            request: CertificateRequest {
                name,
                certificate_type: "TLS/SSL".to_owned(),
                certificate,
                private_key: Some(key),
            },
        })
    }
}

/// The certificates of a plan: those the LBC imports and those the cloud holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Certificates {
    /// Certificates to import (from `createCertificates` and listener `secretName`s).
    pub desired: Vec<DesiredCertificate>,
    /// Certificates of the project.
    pub observed: Vec<Certificate>,
}

/// How the certificates of one listener resolve at planning time.
pub(super) struct ResolvedCerts {
    /// What the operation resolves when it runs.
    pub refs: ListenerCertRefs,
    /// `defaultCertificateAuthority` as known now (`""`: imported by this plan).
    pub default: Option<String>,
    /// `certificateAuthorities` as known now (`""`: imported by this plan).
    pub authorities: Vec<String>,
    /// Some certificate is imported by this plan: its id is not known yet.
    pub pending: bool,
}

/// Certificate lookups of one plan (`None`: certificates are not managed by this plan).
pub(super) struct CertCtx<'a> {
    certs: Option<&'a Certificates>,
}

impl<'a> CertCtx<'a> {
    pub(super) fn new(certs: Option<&'a Certificates>) -> Self {
        Self { certs }
    }

    fn observed_id(&self, name: &str) -> Option<&'a str> {
        self.certs?
            .observed
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.as_str())
    }

    fn desired_name(&self, secret: &str) -> Option<&'a str> {
        self.certs?
            .desired
            .iter()
            .find(|d| d.secret_name == secret)
            .map(|d| d.request.name.as_str())
    }

    fn is_desired_name(&self, name: &str) -> bool {
        self.certs
            .is_some_and(|c| c.desired.iter().any(|d| d.request.name == name))
    }

    /// One reference: the op's ref, the id known now (`""` when imported by this plan).
    fn one(&self, c: &ListenerCertificate) -> Result<(CertRef, String), String> {
        if let Some(id) = &c.id {
            return Ok((CertRef::Id(id.clone()), id.clone()));
        }
        let name = if let Some(secret) = &c.secret_name {
            self.desired_name(secret)
                .ok_or_else(|| format!("of secret {secret} (not imported)"))?
        } else if let Some(name) = &c.name {
            name.as_str()
        } else {
            return Err("without id, name or secretName".into());
        };
        match self.observed_id(name) {
            Some(id) => Ok((CertRef::Name(name.to_owned()), id.to_owned())),
            None if self.is_desired_name(name) => {
                Ok((CertRef::Name(name.to_owned()), String::new()))
            }
            None => Err(format!("named {name}")),
        }
    }

    /// The certificates of a listener, or why they cannot be found.
    pub(super) fn listener(&self, l: &ListenerSpec) -> Result<ResolvedCerts, String> {
        let mut out = ResolvedCerts {
            refs: ListenerCertRefs::default(),
            default: None,
            authorities: Vec::new(),
            pending: false,
        };
        if let Some(c) = &l.certificate_default {
            let (r, id) = self.one(c)?;
            out.pending |= id.is_empty();
            out.refs.default = Some(r);
            out.default = Some(id);
        }
        for c in &l.certificate_authorities {
            let (r, id) = self.one(c)?;
            out.pending |= id.is_empty();
            out.refs.authorities.push(r);
            out.authorities.push(id);
        }
        Ok(out)
    }

    /// Imports the desired certificates the cloud lacks and claims those it has; returns
    /// the ids of the desired certificates that exist.
    pub(super) fn plan_imports(
        &self,
        status: &LoadBalancerConfigStatus,
        plan: &mut Plan,
    ) -> BTreeSet<String> {
        let mut kept = BTreeSet::new();
        let Some(certs) = self.certs else {
            return kept;
        };
        for d in &certs.desired {
            let Some(have) = certs.observed.iter().find(|c| c.name == d.request.name) else {
                plan.ops.push(CloudOp::CreateCertificate {
                    request: d.request.clone(),
                    secret_name: d.secret_name.clone(),
                    resource_version: d.resource_version.clone(),
                });
                continue;
            };
            kept.insert(have.id.clone());
            let record = CreatedCertificate {
                secret_name: d.secret_name.clone(),
                resource_version: d.resource_version.clone(),
                id: have.id.clone(),
                certificate_name: Some(have.name.clone()),
            };
            if !status.created_certificates.contains(&record) {
                plan.claims.push(Claim::Certificate(record));
            }
        }
        kept
    }

    /// Deletes the certificates this cluster imported that no desired one uses any more.
    pub(super) fn plan_redundant(
        &self,
        status: &LoadBalancerConfigStatus,
        kept: &BTreeSet<String>,
        plan: &mut Plan,
    ) {
        let Some(certs) = self.certs else { return };
        for r in &status.created_certificates {
            if kept.contains(&r.id) {
                continue;
            }
            if certs.observed.iter().any(|c| c.id == r.id) {
                plan.ops.push(CloudOp::DeleteCertificate {
                    certificate_id: r.id.clone(),
                });
            } else {
                plan.claims.push(Claim::ForgetCertificate(r.id.clone()));
            }
        }
    }
}

/// The listener a policy plan works on.
pub(super) struct PolicyTarget<'a> {
    /// How operations refer to the listener.
    pub listener: ListenerRef,
    /// The existing listener's id, record, and whether it is this cluster's own (policies
    /// found by name on it are claimed).
    pub existing: Option<(&'a str, Option<&'a CreatedListener>, bool)>,
    /// Its observed policies.
    pub observed: &'a [L7Policy],
}

/// The policy `p` asks for; the pool reference and whether the pool's id is not known yet.
fn desired_policy(
    p: &PolicySpec,
    pool_ref: &dyn Fn(&str) -> PoolRef,
) -> (L7Policy, Option<PoolRef>, bool) {
    let redirect_pool = if p.action == PolicyAction::RedirectToPool {
        p.redirect_pool_name.as_deref().map(pool_ref)
    } else {
        None
    };
    let (redirect_pool_id, pending) = match &redirect_pool {
        Some(PoolRef::Id(id)) => (Some(id.clone()), false),
        Some(PoolRef::Name(_)) => (None, true),
        None => (None, false),
    };
    let url = p.action == PolicyAction::RedirectToUrl;
    let policy = L7Policy {
        id: String::new(),
        name: p.name.clone(),
        action: p.action,
        redirect_pool_id,
        redirect_url: p.redirect_url.clone().filter(|_| url),
        redirect_http_code: p.redirect_http_code.filter(|_| url),
        keep_query_string: url && p.keep_query_string.unwrap_or(false),
        position: p.position.unwrap_or(0),
        rules: p.l7_rules.clone(),
    };
    (policy, redirect_pool, pending)
}

fn same_rules(a: &[L7Rule], b: &[L7Rule]) -> bool {
    a.len() == b.len() && a.iter().all(|r| b.contains(r)) && b.iter().all(|r| a.contains(r))
}

/// `have` differs from `want` on what the action uses (position only when `want` sets one).
fn policy_differs(want: &L7Policy, pool_pending: bool, have: &L7Policy) -> bool {
    let action = match want.action {
        PolicyAction::RedirectToPool => {
            pool_pending || want.redirect_pool_id != have.redirect_pool_id
        }
        PolicyAction::RedirectToUrl => {
            want.redirect_url != have.redirect_url
                || want
                    .redirect_http_code
                    .is_some_and(|c| have.redirect_http_code != Some(c))
                || want.keep_query_string != have.keep_query_string
        }
        PolicyAction::Reject => false,
    };
    want.action != have.action
        || action
        || !same_rules(&want.rules, &have.rules)
        || (want.position != 0 && want.position != have.position)
}

/// Plans the policies of one desired listener: create the missing ones, update those that
/// differ (position included), delete the recorded ones no longer desired.
pub(super) fn plan_policies(
    want: &ListenerSpec,
    target: &PolicyTarget<'_>,
    pool_ref: &dyn Fn(&str) -> PoolRef,
    plan: &mut Plan,
) {
    let Some((listener_id, record, ours)) = target.existing else {
        for p in &want.policies {
            let (policy, redirect_pool, _) = desired_policy(p, pool_ref);
            plan.ops.push(CloudOp::CreatePolicy {
                listener: target.listener.clone(),
                policy,
                redirect_pool,
            });
        }
        return;
    };
    let recorded = |id: &str| record.is_some_and(|r| r.created_policies.iter().any(|c| c.id == id));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for p in &want.policies {
        let (mut policy, redirect_pool, pending) = desired_policy(p, pool_ref);
        let Some(have) = target.observed.iter().find(|h| h.name == p.name) else {
            plan.ops.push(CloudOp::CreatePolicy {
                listener: ListenerRef::Id(listener_id.to_owned()),
                policy,
                redirect_pool,
            });
            continue;
        };
        kept.insert(&have.id);
        if ours && !recorded(&have.id) {
            plan.claims.push(Claim::Policy {
                listener_id: listener_id.to_owned(),
                policy_id: have.id.clone(),
            });
        }
        if policy_differs(&policy, pending, have) {
            policy.id.clone_from(&have.id);
            if policy.position == 0 {
                policy.position = have.position;
            }
            plan.ops.push(CloudOp::UpdatePolicy {
                listener_id: listener_id.to_owned(),
                policy,
                redirect_pool,
            });
        }
    }
    if let Some(r) = record {
        let observed: BTreeMap<&str, &L7Policy> =
            target.observed.iter().map(|p| (p.id.as_str(), p)).collect();
        for c in &r.created_policies {
            if kept.contains(c.id.as_str()) {
                continue;
            }
            if observed.contains_key(c.id.as_str()) {
                plan.ops.push(CloudOp::DeletePolicy {
                    listener_id: listener_id.to_owned(),
                    policy_id: c.id.clone(),
                });
            } else {
                plan.claims.push(Claim::ForgetPolicy {
                    listener_id: listener_id.to_owned(),
                    policy_id: c.id.clone(),
                });
            }
        }
    }
}

/// Deletes the policies this cluster created on a listener it keeps (an adopted one being
/// released): those still observed, or all when its policies were not listed.
pub(super) fn delete_created_policies(
    r: &CreatedListener,
    observed: Option<&Vec<L7Policy>>,
    plan: &mut Plan,
) {
    for c in &r.created_policies {
        if observed.is_none_or(|ps| ps.iter().any(|p| p.id == c.id)) {
            plan.ops.push(CloudOp::DeletePolicy {
                listener_id: r.id.clone(),
                policy_id: c.id.clone(),
            });
        }
    }
}
