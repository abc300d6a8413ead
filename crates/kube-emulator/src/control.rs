//! Journal of requests and fault injection: the out-of-band controls of a running emulator.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::store::Shared;

/// A Kubernetes API verb, as the authorizer and the audit log name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// GET of one object (or of a subresource).
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH (any patch type, server-side apply included).
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    #[serde(rename = "deletecollection")]
    DeleteCollection,
}

impl Verb {
    /// The lowercase name RBAC rules use (`get`, `list`, `deletecollection`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Parses an RBAC verb name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "get" => Verb::Get,
            "list" => Verb::List,
            "watch" => Verb::Watch,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            "deletecollection" => Verb::DeleteCollection,
            _ => return None,
        })
    }
}

/// One request to the Kubernetes URL space, as answered.
#[derive(Clone, Debug)]
pub struct JournalEntry {
    /// Verb of the request.
    pub verb: Verb,
    /// API group (`""` for core).
    pub group: String,
    /// API version asked for.
    pub version: String,
    /// Resource (plural, e.g. `services`).
    pub resource: String,
    /// Subresource (`status`, ...).
    pub subresource: Option<String>,
    /// Namespace of the request, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// HTTP status answered (a watch is journaled when it starts, with 200).
    pub status: u16,
    /// A write that stored a new resourceVersion.
    pub changed: bool,
    /// `dryRun=All` was asked.
    pub dry_run: bool,
    /// `fieldManager` query parameter.
    pub field_manager: Option<String>,
    /// `Content-Type` of the request body.
    pub content_type: Option<String>,
    /// `User-Agent` of the caller (tells an operator's calls from a test harness's).
    pub user_agent: Option<String>,
    /// When the answer was produced.
    pub at: SystemTime,
}

impl JournalEntry {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let at = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        serde_json::json!({
            "verb": self.verb.as_str(),
            "group": self.group,
            "version": self.version,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
            "status": self.status,
            "changed": self.changed,
            "dryRun": self.dry_run,
            "fieldManager": self.field_manager,
            "contentType": self.content_type,
            "userAgent": self.user_agent,
            "at": at,
        })
    }
}

/// A cheap handle on the request journal of an emulator. It keeps the most recent
/// `EmulatorConfig::journal_capacity` entries (clear it between phases of a long benchmark).
#[derive(Clone, Debug)]
pub struct Journal {
    pub(crate) entries: Arc<Mutex<Vec<JournalEntry>>>,
    capacity: usize,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Arc::new(Mutex::new(Vec::new())),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn push(&self, e: JournalEntry) {
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity {
            // Drop the oldest tenth at once (amortized O(1) per entry).
            let n = (self.capacity / 10).max(1).min(entries.len());
            entries.drain(..n);
        }
        entries.push(e);
    }

    /// Every request journaled so far, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().clone()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Number of entries matching `pred`.
    pub fn count(&self, pred: impl Fn(&JournalEntry) -> bool) -> usize {
        self.entries.lock().iter().filter(|e| pred(e)).count()
    }

    /// Number of requests with this verb on this resource (plural name, any group, any status).
    pub fn count_verb(&self, verb: Verb, resource: &str) -> usize {
        self.count(|e| e.verb == verb && e.resource == resource)
    }
}

/// Makes matching requests fail. Unset matchers match anything.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Verb to match.
    #[serde(default)]
    pub verb: Option<Verb>,
    /// Resource (plural) to match.
    #[serde(default)]
    pub resource: Option<String>,
    /// Subresource to match (`status`); a rule without one also matches subresource requests.
    #[serde(default)]
    pub subresource: Option<String>,
    /// Namespace to match.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Object name to match.
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP status to answer (409, 429, 500, 503, 504, ...).
    pub status: u16,
    /// `Retry-After` seconds (sent with 429 and 503; 1 by default for 429).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Message of the Status body (a standard one otherwise).
    #[serde(default)]
    pub message: Option<String>,
    /// How many matching requests fail before the rule is used up.
    #[serde(default = "one")]
    pub times: usize,
}

fn one() -> usize {
    1
}

impl FaultRule {
    /// A rule failing the next matching request (`times` = 1) with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            verb: None,
            resource: None,
            subresource: None,
            namespace: None,
            name: None,
            status,
            retry_after: None,
            message: None,
            times: 1,
        }
    }

    /// Only requests with this verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    /// Only requests on this resource (plural).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Only requests on this subresource.
    pub fn subresource(mut self, subresource: impl Into<String>) -> Self {
        self.subresource = Some(subresource.into());
        self
    }

    /// Only requests in this namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Only requests naming this object.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sends `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Message of the Status body.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Fails `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    pub(crate) fn matches(&self, e: &JournalEntry) -> bool {
        self.verb.is_none_or(|v| v == e.verb)
            && self.resource.as_ref().is_none_or(|r| *r == e.resource)
            && self
                .subresource
                .as_ref()
                .is_none_or(|s| Some(s) == e.subresource.as_ref())
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| Some(n) == e.namespace.as_ref())
            && self
                .name
                .as_ref()
                .is_none_or(|n| Some(n) == e.name.as_ref())
    }
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub(crate) rules: Vec<FaultRule>,
    pub(crate) latency: Duration,
}

/// What ends watches and expires history: the emulator's store, or a proxy's open streams.
#[derive(Clone, Debug)]
pub(crate) enum WatchControl {
    /// The emulator's own store.
    Store(Shared),
    /// The watches a [`crate::KubeProxy`] relays.
    Proxy(Arc<crate::proxy::Watches>),
}

/// A cheap handle on the fault injection of an emulator (or of a [`crate::KubeProxy`]).
#[derive(Clone, Debug)]
pub struct Faults {
    pub(crate) state: Arc<Mutex<FaultState>>,
    pub(crate) watches: WatchControl,
}

impl Faults {
    /// Adds a rule; rules are tried in the order added.
    pub fn inject(&self, rule: FaultRule) {
        if rule.times > 0 {
            self.state.lock().rules.push(rule);
        }
    }

    /// Removes every rule and the latency.
    pub fn clear(&self) {
        let mut st = self.state.lock();
        st.rules.clear();
        st.latency = Duration::ZERO;
    }

    /// Delays every Kubernetes request by `d` before it is answered.
    pub fn set_latency(&self, d: Duration) {
        self.state.lock().latency = d;
    }

    /// Ends every open watch (the HTTP response ends cleanly, as when an apiserver restarts).
    pub fn close_watches(&self) {
        match &self.watches {
            WatchControl::Store(shared) => shared.lock().close_watches(),
            WatchControl::Proxy(w) => w.close(),
        }
    }

    /// Compacts the history: every resourceVersion issued so far becomes too old. Open watches
    /// receive an `ERROR` event with a 410 Status and end; watches and `continue` tokens from
    /// before (and lists with `resourceVersionMatch=Exact`) answer 410 Gone.
    ///
    /// In front of a real apiserver ([`crate::KubeProxy`]) the proxy plays the compaction: open
    /// watches get the `ERROR` event and end, and a watch resuming from a resourceVersion it
    /// relayed before answers the same `ERROR` event (what kube-apiserver sends for a
    /// resourceVersion older than its history).
    pub fn compact(&self) {
        match &self.watches {
            WatchControl::Store(shared) => shared.lock().compact(),
            WatchControl::Proxy(w) => w.compact(),
        }
    }

    /// Takes the first rule matching `e`, counting one use.
    pub(crate) fn take(&self, e: &JournalEntry) -> Option<FaultRule> {
        let mut st = self.state.lock();
        let i = st.rules.iter().position(|r| r.matches(e))?;
        let rule = st.rules[i].clone();
        st.rules[i].times -= 1;
        if st.rules[i].times == 0 {
            st.rules.remove(i);
        }
        Some(rule)
    }

    pub(crate) fn latency(&self) -> Duration {
        self.state.lock().latency
    }
}
