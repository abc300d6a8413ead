//! The in-memory storage: objects, resourceVersions, watch history, garbage collection.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::resources::{self, ResKey, ResourceType};
use crate::validation;

/// The state shared by the HTTP handlers and the control handles.
pub(crate) type Shared = Arc<Mutex<State>>;

/// A list snapshot: shared pointers to the objects, in key order.
pub(crate) type Snapshot = Arc<Vec<Arc<Value>>>;

/// `(namespace or "", name)`.
pub(crate) type ObjKey = (String, String);

/// ADDED, MODIFIED or DELETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// A stored change.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub key: ResKey,
    pub ns: String,
    pub typ: EventType,
    pub obj: Arc<Value>,
    pub old: Option<Arc<Value>>,
    /// The serialized watch line, for the first version it was rendered in.
    pub line: std::sync::OnceLock<(String, bytes::Bytes)>,
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub(crate) enum WatchMsg {
    Event(Arc<Event>),
    /// History was compacted: the watch must end with a 410 ERROR.
    Gone(u64),
}

#[derive(Debug)]
struct Watcher {
    key: ResKey,
    ns: Option<String>,
    tx: mpsc::UnboundedSender<WatchMsg>,
}

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    pub dry_run: bool,
    pub manager: Option<String>,
    /// managedFields were already computed (server-side apply).
    pub apply: bool,
    /// `fieldValidation=Strict`: unknown fields of custom resources are an error.
    pub strict: bool,
}

/// Result of a write.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub obj: Value,
    pub changed: bool,
    pub created: bool,
}

/// Result of a delete.
#[derive(Debug, Clone)]
pub(crate) struct Deleted {
    pub obj: Value,
    /// Gone now (false: marked with a deletionTimestamp, waiting on finalizers).
    pub gone: bool,
    /// Something was stored (false for dry runs and repeated deletes).
    pub changed: bool,
}

/// deleteOptions.propagationPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// A page of a list.
#[derive(Debug)]
pub(crate) struct Page {
    pub items: Vec<Value>,
    pub rv: u64,
    /// Key of the last item when more remain.
    pub next: Option<ObjKey>,
    pub remaining: usize,
}

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";
const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta(obj: &Value) -> &Value {
    obj.get("metadata").unwrap_or(&Value::Null)
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).get(field).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let slot = &mut obj["metadata"];
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        // Made an object just above.
        _ => unreachable!("metadata is an object"),
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn set_finalizers(obj: &mut Value, f: &[String]) {
    let m = meta_mut(obj);
    if f.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), json!(f));
    }
}

/// Drops the metadata lists and maps that are empty (or null), as kube-apiserver does: its
/// `ObjectMeta` fields are `omitempty`, so `finalizers: []` written by a patch reads back as
/// no `finalizers` at all (kube-runtime's finalizer helper tests `/metadata/finalizers` against
/// null and gets 422 otherwise).
fn drop_empty_metadata(obj: &mut Value) {
    let Some(Value::Object(m)) = obj.get_mut("metadata") else {
        return;
    };
    for key in [
        "finalizers",
        "ownerReferences",
        "labels",
        "annotations",
        "managedFields",
    ] {
        let empty = match m.get(key) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            m.remove(key);
        }
    }
}

fn is_terminating(obj: &Value) -> bool {
    meta(obj)
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The part of an object whose change bumps `metadata.generation`.
fn spec_part(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("kind");
        m.remove("apiVersion");
        if rt.status {
            m.remove("status");
        }
    }
    v
}

/// The object without resourceVersion and managedFields, to detect no-op writes.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(Value::Object(m)) = v.get_mut("metadata") {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The whole server state.
#[derive(Debug)]
pub(crate) struct State {
    rv: u64,
    /// Watches and lists from a resourceVersion below this answer 410.
    floor: u64,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    types: BTreeMap<ResKey, Arc<ResourceType>>,
    objects: HashMap<ResKey, BTreeMap<ObjKey, Arc<Value>>>,
    watchers: Vec<Watcher>,
    node_ports: HashSet<u64>,
    next_ip: u32,
    gc_pending: bool,
    /// Objects with a deletionTimestamp (what the system finalizers work on).
    terminating: HashSet<(ResKey, ObjKey)>,
    /// Snapshots of paged lists, for their continue tokens (most recent last).
    saved_lists: VecDeque<(u64, Snapshot)>,
    next_saved: u64,
}

impl State {
    pub fn new(history_cap: usize) -> Self {
        let mut st = Self {
            rv: 1,
            floor: 0,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            types: BTreeMap::new(),
            objects: HashMap::new(),
            watchers: Vec::new(),
            node_ports: HashSet::new(),
            next_ip: 1,
            gc_pending: false,
            terminating: HashSet::new(),
            saved_lists: VecDeque::new(),
            next_saved: 1,
        };
        for t in resources::builtins() {
            st.types.insert(t.key(), t);
        }
        if let Some(ns) = st.find_type("", "v1", "namespaces") {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let _ = st.create(
                    &ns,
                    None,
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                    &WriteOpts::default(),
                );
            }
        }
        if let Some(svc) = st.find_type("", "v1", "services") {
            let _ = st.create(
                &svc,
                Some("default"),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
                &WriteOpts::default(),
            );
        }
        st
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    // ------------------------------------------------------------------ types

    pub fn types(&self) -> Vec<Arc<ResourceType>> {
        self.types.values().cloned().collect()
    }

    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_owned(), plural.to_owned()))
            .filter(|t| t.versions.iter().any(|v| v == version))
            .cloned()
    }

    fn register_crd(&mut self, crd: &Value) {
        if let Some(t) = resources::from_crd(crd) {
            let key = t.key();
            if self.types.get(&key).is_some_and(|old| old.crd.is_none()) {
                return;
            }
            self.types.insert(key, Arc::new(t));
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let group = crd.pointer("/spec/group").and_then(Value::as_str);
        let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str);
        if let (Some(g), Some(p)) = (group, plural) {
            let key = (g.to_owned(), p.to_owned());
            if self.types.get(&key).is_some_and(|t| t.crd.is_some()) {
                self.types.remove(&key);
                self.objects.remove(&key);
                self.terminating.retain(|(k, _)| *k != key);
                // The resource is no longer served: its watches end.
                self.watchers.retain(|w| w.key != key);
            }
        }
    }

    // ------------------------------------------------------------------ watch

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(
        &mut self,
        key: &ResKey,
        ns: &str,
        typ: EventType,
        obj: Arc<Value>,
        old: Option<Arc<Value>>,
    ) {
        let rv = self.rv;
        let ev = Arc::new(Event {
            rv,
            key: key.clone(),
            ns: ns.to_owned(),
            typ,
            obj,
            old,
            line: std::sync::OnceLock::new(),
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(e) = self.history.pop_front() {
                self.floor = e.rv;
            }
        }
        self.watchers.retain(|w| {
            if w.key != ev.key {
                return !w.tx.is_closed();
            }
            if w.ns.as_ref().is_some_and(|n| *n != ev.ns) {
                return !w.tx.is_closed();
            }
            w.tx.send(WatchMsg::Event(ev.clone())).is_ok()
        });
    }

    /// Registers a watcher from `since`: returns the events after it (already in history).
    pub fn watch(
        &mut self,
        key: &ResKey,
        ns: Option<&str>,
        since: u64,
    ) -> Result<(Vec<Arc<Event>>, mpsc::UnboundedReceiver<WatchMsg>), ApiError> {
        if since < self.floor {
            return Err(ApiError::gone(format!(
                "too old resource version: {since} ({})",
                self.floor + 1
            )));
        }
        let past = self
            .history
            .iter()
            .filter(|e| e.rv > since && e.key == *key && ns.is_none_or(|n| n == e.ns))
            .cloned()
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers.push(Watcher {
            key: key.clone(),
            ns: ns.map(str::to_owned),
            tx,
        });
        Ok((past, rx))
    }

    /// Registers a watcher at the current version and returns the current objects.
    pub fn watch_now(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
    ) -> (Vec<Arc<Value>>, u64, mpsc::UnboundedReceiver<WatchMsg>) {
        let key = rt.key();
        let (items, _) = self.snapshot(rt, ns, None);
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers.push(Watcher {
            key,
            ns: ns.map(str::to_owned),
            tx,
        });
        (items, self.rv, rx)
    }

    /// Keeps the snapshot of a paged list for its continue tokens; returns its id.
    pub fn save_list(&mut self, objs: Snapshot) -> u64 {
        const KEPT: usize = 64;
        let id = self.next_saved;
        self.next_saved += 1;
        self.saved_lists.push_back((id, objs));
        while self.saved_lists.len() > KEPT {
            self.saved_lists.pop_front();
        }
        id
    }

    /// A saved paged-list snapshot, if still kept.
    pub fn saved_list(&self, id: u64) -> Option<Snapshot> {
        self.saved_lists
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, objs)| objs.clone())
    }

    pub fn close_watches(&mut self) {
        self.watchers.clear();
    }

    pub fn compact(&mut self) {
        self.saved_lists.clear();
        let rv = self.next_rv();
        self.floor = rv;
        self.history.clear();
        for w in self.watchers.drain(..) {
            let _ = w.tx.send(WatchMsg::Gone(rv));
        }
    }

    // ------------------------------------------------------------------ reads

    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&rt.key())
            .and_then(|m| m.get(&(ns.unwrap_or("").to_owned(), name.to_owned())))
            .map(|v| (**v).clone())
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// The objects of a type (in a namespace), after `after`, in key order, and the current
    /// resourceVersion: cheap (shared pointers) so filtering can happen without the lock.
    pub fn snapshot(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        after: Option<&ObjKey>,
    ) -> (Vec<Arc<Value>>, u64) {
        let items = self
            .objects
            .get(&rt.key())
            .map(|m| {
                let start = match (after, ns) {
                    (Some(a), _) => std::ops::Bound::Excluded(a.clone()),
                    (None, Some(n)) => std::ops::Bound::Included((n.to_owned(), String::new())),
                    (None, None) => std::ops::Bound::Unbounded,
                };
                m.range((start, std::ops::Bound::Unbounded))
                    .take_while(|((n, _), _)| ns.is_none_or(|x| x == n))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, self.rv)
    }

    // ------------------------------------------------------------------ writes

    fn check_namespace(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<(), ApiError> {
        let key = (String::new(), "namespaces".to_owned());
        match self
            .objects
            .get(&key)
            .and_then(|m| m.get(&(String::new(), ns.to_owned())))
        {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if is_terminating(n) => {
                let mut e = ApiError::forbidden(format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} \
                     because it is being terminated",
                    crate::error::qualified(&rt.group, &rt.plural)
                ));
                e.details = Some(json!({"name": name, "kind": rt.plural, "causes": [{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {ns} is being terminated"),
                    "field": "metadata.namespace"}]}));
                Err(e)
            }
            Some(_) => Ok(()),
        }
    }

    fn store(&mut self, rt: &ResourceType, obj: Value, typ: EventType) {
        let key = rt.key();
        let ns = meta_str(&obj, "namespace").unwrap_or("").to_owned();
        let name = meta_str(&obj, "name").unwrap_or("").to_owned();
        let id = (key.clone(), (ns.clone(), name));
        if is_terminating(&obj) {
            self.terminating.insert(id.clone());
        } else {
            self.terminating.remove(&id);
        }
        let obj = Arc::new(obj);
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(id.1, obj.clone());
        self.emit(&key, &ns, typ, obj, old);
    }

    fn remove(&mut self, rt: &ResourceType, mut obj: Value) -> Value {
        let key = rt.key();
        let ns = meta_str(&obj, "namespace").unwrap_or("").to_owned();
        let name = meta_str(&obj, "name").unwrap_or("").to_owned();
        self.terminating
            .remove(&(key.clone(), (ns.clone(), name.clone())));
        let old = self
            .objects
            .get_mut(&key)
            .and_then(|m| m.remove(&(ns.clone(), name)));
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.release(&obj);
        self.gc_pending = true;
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.unregister_crd(&obj);
        }
        self.emit(&key, &ns, EventType::Deleted, Arc::new(obj.clone()), old);
        obj
    }

    /// Frees node ports of a deleted Service.
    fn release(&mut self, obj: &Value) {
        if obj.get("kind").and_then(Value::as_str) == Some("Service") {
            for p in ports(obj) {
                self.node_ports.remove(&p);
            }
        }
    }

    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not an object",
            ));
        }
        let ns_owned = if rt.namespaced {
            let body_ns = meta_str(&obj, "namespace").map(str::to_owned);
            match (ns, body_ns) {
                (Some(u), Some(b)) if !b.is_empty() && b != u => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                (Some(u), _) => Some(u.to_owned()),
                (None, _) => {
                    return Err(ApiError::bad_request("a namespace is required"));
                }
            }
        } else {
            None
        };
        if meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            // kube-apiserver answers this 500, with no reason.
            return Err(ApiError::new(
                500,
                "",
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut name = meta_str(&obj, "name").unwrap_or("").to_owned();
        if name.is_empty() {
            if let Some(prefix) = meta_str(&obj, "generateName").filter(|p| !p.is_empty()) {
                name = format!("{prefix}{}", random_suffix());
            } else {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    "",
                    &[(
                        "metadata.name".into(),
                        "FieldValueRequired".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        }
        if let Some(n) = &ns_owned {
            self.check_namespace(rt, n, &name)?;
        }
        let key = (ns_owned.clone().unwrap_or_default(), name.clone());
        if self
            .objects
            .get(&rt.key())
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        obj["apiVersion"] = json!(rt.api_version(&rt.storage_version));
        obj["kind"] = json!(rt.kind);
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            if let Some(n) = &ns_owned {
                m.insert("namespace".into(), json!(n));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now()));
            if rt.has_generation() {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("resourceVersion");
            m.remove("selfLink");
        }
        if rt.status
            && rt.kind != "Node"
            && let Value::Object(m) = &mut obj
        {
            m.remove("status");
        }
        self.prepare_create(rt, &mut obj);
        drop_empty_metadata(&mut obj);
        validation::validate(rt, &rt.storage_version, &mut obj, None, opts.strict)?;
        if !opts.apply {
            validation::record(rt, None, None, &mut obj, opts.manager.as_deref(), &now());
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            crd_status(&mut obj);
        }
        if opts.dry_run {
            return Ok(Written {
                obj,
                changed: false,
                created: true,
            });
        }
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.commit_ports(&obj);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.register_crd(&obj);
        }
        self.store(rt, obj.clone(), EventType::Added);
        self.settle();
        Ok(Written {
            obj,
            changed: true,
            created: true,
        })
    }

    /// Kind-specific defaults on create.
    fn prepare_create(&mut self, rt: &ResourceType, obj: &mut Value) {
        if !rt.group.is_empty() {
            return;
        }
        match rt.kind.as_str() {
            "Namespace" => {
                let name = meta_str(obj, "name").unwrap_or("").to_owned();
                let m = meta_mut(obj);
                let labels = m.entry("labels").or_insert_with(|| json!({}));
                if let Value::Object(l) = labels {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            "Pod" => {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
            "Service" => self.default_service(obj, None),
            _ => {}
        }
    }

    fn commit_ports(&mut self, obj: &Value) {
        if obj.get("kind").and_then(Value::as_str) == Some("Service") {
            for p in ports(obj) {
                self.node_ports.insert(p);
            }
        }
    }

    /// Service defaults and allocations (clusterIP, nodePorts), keeping what `old` allocated.
    fn default_service(&mut self, obj: &mut Value, old: Option<&Value>) {
        let freed: HashSet<u64> = old.map(ports).unwrap_or_default().into_iter().collect();
        let mut mine: HashSet<u64> = HashSet::new();
        let spec = obj
            .as_object_mut()
            .map(|m| m.entry("spec").or_insert_with(|| json!({})));
        let Some(Value::Object(spec)) = spec else {
            return;
        };
        let typ = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        spec.insert("type".into(), json!(typ));
        if typ == "ExternalName" {
            return;
        }
        let old_spec = old.and_then(|o| o.get("spec"));
        let ip = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                old_spec
                    .and_then(|s| s.get("clusterIP"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let ip = if let Some(ip) = ip {
            ip
        } else {
            let n = self.next_ip;
            self.next_ip += 1;
            format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1)
        };
        spec.insert("clusterIP".into(), json!(ip));
        if !spec.contains_key("clusterIPs") {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        spec.entry("sessionAffinity").or_insert(json!("None"));
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
        let external = typ == "NodePort" || typ == "LoadBalancer";
        if external {
            spec.entry("externalTrafficPolicy")
                .or_insert(json!("Cluster"));
        }
        if typ == "LoadBalancer" {
            spec.entry("allocateLoadBalancerNodePorts")
                .or_insert(json!(true));
        }
        let allocate = external
            && spec
                .get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                .unwrap_or(true);
        let old_ports: Vec<Value> = old_spec
            .and_then(|s| s.get("ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut() {
                let Value::Object(p) = p else { continue };
                p.entry("protocol").or_insert(json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    p.entry("targetPort").or_insert(port);
                }
                if !external {
                    p.remove("nodePort");
                    continue;
                }
                if p.get("nodePort")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n > 0)
                {
                    if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                        mine.insert(n);
                    }
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
                });
                if let Some(n) = same.and_then(|o| o.get("nodePort")).and_then(Value::as_u64) {
                    p.insert("nodePort".into(), json!(n));
                    mine.insert(n);
                    continue;
                }
                if allocate {
                    let mut rng = rand::rng();
                    let mut n = rng.random_range(30000..=32767u64);
                    let mut tries = 0;
                    while (mine.contains(&n)
                        || (self.node_ports.contains(&n) && !freed.contains(&n)))
                        && tries < 3000
                    {
                        n = if n >= 32767 { 30000 } else { n + 1 };
                        tries += 1;
                    }
                    mine.insert(n);
                    p.insert("nodePort".into(), json!(n));
                }
            }
        }
        if typ == "LoadBalancer"
            && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
        {
            let hc = spec
                .get("healthCheckNodePort")
                .and_then(Value::as_u64)
                .or_else(|| {
                    old_spec
                        .and_then(|s| s.get("healthCheckNodePort"))
                        .and_then(Value::as_u64)
                });
            let hc = hc.unwrap_or_else(|| {
                let mut n = 32767;
                while (mine.contains(&n) || (self.node_ports.contains(&n) && !freed.contains(&n)))
                    && n > 30000
                {
                    n -= 1;
                }
                n
            });
            spec.insert("healthCheckNodePort".into(), json!(hc));
        }
    }

    /// Update (PUT, or the result of a patch). `sub` is the subresource written.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        mut new: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
        require_rv: bool,
    ) -> Result<Written, ApiError> {
        let old = self.get(rt, ns, name)?;
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not an object",
            ));
        }
        if let Some(n) = meta_str(&new, "name").filter(|n| !n.is_empty())
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced
            && let Some(n) = meta_str(&new, "namespace").filter(|n| !n.is_empty())
            && Some(n) != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(uid) = meta_str(&new, "uid").filter(|u| !u.is_empty())
            && Some(uid) != meta_str(&old, "uid")
        {
            let mut e = ApiError::conflict(&rt.group, &rt.plural, name);
            e.message = format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in \
                 precondition: {uid}, UID in object meta: {}",
                crate::error::qualified(&rt.group, &rt.plural),
                meta_str(&old, "uid").unwrap_or("")
            );
            return Err(e);
        }
        let old_rv = meta_str(&old, "resourceVersion").unwrap_or("").to_owned();
        match meta_str(&new, "resourceVersion").filter(|r| !r.is_empty()) {
            Some(rv) if rv != old_rv => {
                return Err(ApiError::conflict(&rt.group, &rt.plural, name));
            }
            None if require_rv => {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    name,
                    &[(
                        "metadata.resourceVersion".into(),
                        "FieldValueInvalid".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            _ => {}
        }
        let managed = meta(&new).get("managedFields").cloned();
        if sub == Some("status") {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    if let Value::Object(m) = &mut merged {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = managed {
                meta_mut(&mut merged).insert("managedFields".into(), mf);
            }
            new = merged;
        } else {
            if rt.status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Value::Object(m) = &mut new {
                            m.remove("status");
                        }
                    }
                }
            }
            new["apiVersion"] = json!(rt.api_version(&rt.storage_version));
            new["kind"] = json!(rt.kind);
            let om = meta(&old).clone();
            let m = meta_mut(&mut new);
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match om.get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            m.remove("selfLink");
            if is_terminating(&old) {
                let before: HashSet<String> = finalizers(&old).into_iter().collect();
                if finalizers(&new).iter().any(|f| !before.contains(f)) {
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        name,
                        &[(
                            "metadata.finalizers".into(),
                            "FieldValueForbidden".into(),
                            "Forbidden: no new finalizers can be added if the object is being deleted"
                                .into(),
                        )],
                    ));
                }
            }
            if rt.group.is_empty() && rt.kind == "Service" {
                self.default_service(&mut new, Some(&old));
            }
            if rt.group.is_empty()
                && rt.kind == "Namespace"
                && let Some(s) = old.get("spec")
            {
                new["spec"] = s.clone();
            }
            validation::validate(rt, &rt.storage_version, &mut new, Some(&old), opts.strict)?;
            if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
                new["status"] = old.get("status").cloned().unwrap_or(Value::Null);
                crd_status(&mut new);
            }
        }
        meta_mut(&mut new).insert("resourceVersion".into(), json!(old_rv));
        if rt.has_generation() && spec_part(rt, &old) != spec_part(rt, &new) {
            let g = meta(&old)
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if !opts.apply {
            validation::record(
                rt,
                sub,
                Some(&old),
                &mut new,
                opts.manager.as_deref(),
                &now(),
            );
        }
        drop_empty_metadata(&mut new);
        if comparable(&old) == comparable(&new) {
            return Ok(Written {
                obj: old,
                changed: false,
                created: false,
            });
        }
        if opts.dry_run {
            return Ok(Written {
                obj: new,
                changed: false,
                created: false,
            });
        }
        Ok(self.commit_update(rt, new, &old))
    }

    fn commit_update(&mut self, rt: &ResourceType, mut new: Value, old: &Value) -> Written {
        if is_terminating(&new) && finalizers(&new).is_empty() {
            let obj = self.remove(rt, new);
            self.settle();
            return Written {
                obj,
                changed: true,
                created: false,
            };
        }
        let rv = self.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        self.release(old);
        self.commit_ports(&new);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.register_crd(&new);
        }
        if owner_uids(old) != owner_uids(&new) {
            self.gc_pending = true;
        }
        self.store(rt, new.clone(), EventType::Modified);
        self.settle();
        Written {
            obj: new,
            changed: true,
            created: false,
        }
    }

    /// Deletes one object, honouring finalizers and the propagation policy.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        propagation: Option<Propagation>,
        preconditions: (Option<&str>, Option<&str>),
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        let obj = self.get(rt, ns, name)?;
        if rt.group.is_empty()
            && rt.kind == "Namespace"
            && matches!(name, "default" | "kube-system" | "kube-public")
        {
            let mut e = ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ));
            e.details = Some(json!({"name": name, "kind": "namespaces"}));
            return Err(e);
        }
        if let Some(uid) = preconditions.0
            && meta_str(&obj, "uid") != Some(uid)
        {
            let mut e = ApiError::conflict(&rt.group, &rt.plural, name);
            e.message = format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in \
                     precondition: {uid}, UID in object meta: {}",
                crate::error::qualified(&rt.group, &rt.plural),
                meta_str(&obj, "uid").unwrap_or("")
            );
            return Err(e);
        }
        if let Some(rv) = preconditions.1
            && meta_str(&obj, "resourceVersion") != Some(rv)
        {
            let mut e = ApiError::conflict(&rt.group, &rt.plural, name);
            e.message = format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: \
                     ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                crate::error::qualified(&rt.group, &rt.plural),
                meta_str(&obj, "resourceVersion").unwrap_or("")
            );
            return Err(e);
        }
        let mut fins = finalizers(&obj);
        let extra = match propagation {
            Some(Propagation::Foreground) => Some(FOREGROUND),
            Some(Propagation::Orphan) => Some(ORPHAN),
            _ => None,
        };
        let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
        let is_crd = rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        if is_terminating(&obj) {
            // Already being deleted: only the propagation finalizer may change.
            if let Some(f) = extra
                && !fins.iter().any(|x| x == f)
                && !dry_run
            {
                fins.push(f.to_owned());
                let mut new = obj.clone();
                set_finalizers(&mut new, &fins);
                let w = self.commit_update(rt, new, &obj);
                return Ok(Deleted {
                    obj: w.obj,
                    gone: false,
                    changed: w.changed,
                });
            }
            return Ok(Deleted {
                obj,
                gone: false,
                changed: false,
            });
        }
        if let Some(f) = extra
            && !fins.iter().any(|x| x == f)
        {
            fins.push(f.to_owned());
        }
        if is_crd && !fins.iter().any(|x| x == CRD_CLEANUP) {
            fins.push(CRD_CLEANUP.to_owned());
        }
        if fins.is_empty() && !is_ns {
            if dry_run {
                return Ok(Deleted {
                    obj,
                    gone: true,
                    changed: false,
                });
            }
            let obj = self.remove(rt, obj);
            self.settle();
            return Ok(Deleted {
                obj,
                gone: true,
                changed: true,
            });
        }
        let mut new = obj.clone();
        set_finalizers(&mut new, &fins);
        {
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        if is_ns {
            new["status"] = json!({"phase": "Terminating"});
        }
        if dry_run {
            return Ok(Deleted {
                obj: new,
                gone: false,
                changed: false,
            });
        }
        let rv = self.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        self.store(rt, new.clone(), EventType::Modified);
        self.gc_pending = true;
        self.settle();
        // Report what is left (it may be gone already once the GC ran).
        let gone = self.get(rt, ns, name).is_err();
        let current = self.get(rt, ns, name).unwrap_or(new);
        Ok(Deleted {
            obj: current,
            gone,
            changed: true,
        })
    }

    fn type_of_key(&self, key: &ResKey) -> Option<Arc<ResourceType>> {
        self.types.get(key).cloned()
    }

    /// Removes a system finalizer from a stored object (deleting it when it was the last one).
    fn drop_finalizer(&mut self, rt: &ResourceType, obj: &Value, f: &str) {
        let mut new = obj.clone();
        let fins: Vec<String> = finalizers(obj).into_iter().filter(|x| x != f).collect();
        set_finalizers(&mut new, &fins);
        if rt.group.is_empty() && rt.kind == "Namespace" && fins.is_empty() {
            // The namespace's own finalizer is in spec.finalizers.
            if let Some(Value::Object(s)) = new.get_mut("spec") {
                s.remove("finalizers");
            }
        }
        self.commit_update_raw(rt, new);
    }

    fn commit_update_raw(&mut self, rt: &ResourceType, mut new: Value) {
        if is_terminating(&new) && finalizers(&new).is_empty() {
            self.remove(rt, new);
            return;
        }
        let rv = self.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        self.store(rt, new, EventType::Modified);
    }

    /// Deletes (background) an object found by the garbage collector.
    fn gc_delete(&mut self, rt: &ResourceType, obj: &Value) {
        let ns = meta_str(obj, "namespace").map(str::to_owned);
        let name = meta_str(obj, "name").unwrap_or("").to_owned();
        let _ = self.delete(rt, ns.as_deref(), &name, None, (None, None), false);
    }

    /// Garbage collection and system finalizers, run after every write until nothing changes.
    fn settle(&mut self) {
        for _ in 0..1000 {
            if !self.settle_once() {
                break;
            }
        }
    }

    fn settle_once(&mut self) -> bool {
        // Objects being deleted that carry a system finalizer.
        let mut work: Vec<(Arc<ResourceType>, Value)> = Vec::new();
        let mut ids: Vec<&(ResKey, ObjKey)> = self.terminating.iter().collect();
        ids.sort();
        for (key, okey) in ids {
            let Some(rt) = self.types.get(key) else {
                continue;
            };
            let Some(v) = self.objects.get(key).and_then(|m| m.get(okey)) else {
                continue;
            };
            let is_ns = rt.group.is_empty() && rt.kind == "Namespace";
            let f = finalizers(v);
            if is_ns
                || f.iter()
                    .any(|x| x == FOREGROUND || x == ORPHAN || x == CRD_CLEANUP)
            {
                work.push((rt.clone(), (**v).clone()));
            }
        }
        for (rt, obj) in work {
            let uid = meta_str(&obj, "uid").unwrap_or("").to_owned();
            let fins = finalizers(&obj);
            if fins.iter().any(|f| f == ORPHAN) {
                self.orphan_dependents(&uid);
                self.drop_finalizer(&rt, &obj, ORPHAN);
                return true;
            }
            if fins.iter().any(|f| f == FOREGROUND) {
                let deps = self.dependents(&uid);
                if deps.is_empty() {
                    self.drop_finalizer(&rt, &obj, FOREGROUND);
                    return true;
                }
                let mut acted = false;
                for (drt, d) in deps {
                    if !is_terminating(&d) {
                        self.gc_delete(&drt, &d);
                        acted = true;
                    }
                }
                if acted {
                    return true;
                }
                continue;
            }
            if fins.iter().any(|f| f == CRD_CLEANUP) {
                let group = obj
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let plural = obj
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let key = (group.to_owned(), plural.to_owned());
                let crs: Vec<Value> = self
                    .objects
                    .get(&key)
                    .map(|m| m.values().map(|v| (**v).clone()).collect())
                    .unwrap_or_default();
                if crs.is_empty() {
                    self.drop_finalizer(&rt, &obj, CRD_CLEANUP);
                    return true;
                }
                let mut acted = false;
                if let Some(crt) = self.type_of_key(&key) {
                    for cr in crs {
                        if !is_terminating(&cr) {
                            self.gc_delete(&crt, &cr);
                            acted = true;
                        }
                    }
                }
                if acted {
                    return true;
                }
                continue;
            }
            if rt.group.is_empty() && rt.kind == "Namespace" {
                let ns = meta_str(&obj, "name").unwrap_or("").to_owned();
                let mut left = Vec::new();
                for (key, m) in &self.objects {
                    let Some(t) = self.types.get(key) else {
                        continue;
                    };
                    if !t.namespaced {
                        continue;
                    }
                    for ((n, _), v) in m {
                        if *n == ns {
                            left.push((t.clone(), v.clone()));
                        }
                    }
                }
                if left.is_empty() {
                    let mut new = obj.clone();
                    if let Some(Value::Object(s)) = new.get_mut("spec") {
                        s.remove("finalizers");
                    }
                    if finalizers(&new).is_empty() {
                        self.remove(&rt, new);
                        return true;
                    }
                    if new != obj {
                        self.commit_update_raw(&rt, new);
                        return true;
                    }
                    continue;
                }
                let mut acted = false;
                for (t, v) in left {
                    if !is_terminating(&v) {
                        self.gc_delete(&t, &v);
                        acted = true;
                    }
                }
                if acted {
                    return true;
                }
            }
        }
        if self.gc_pending {
            self.gc_pending = false;
            let mut uids = HashSet::new();
            for m in self.objects.values() {
                for v in m.values() {
                    if let Some(u) = meta_str(v, "uid") {
                        uids.insert(u.to_owned());
                    }
                }
            }
            // Owners of kinds this server does not serve cannot be checked: like the real
            // garbage collector, leave their dependents alone.
            let served: HashSet<(String, String)> = self
                .types
                .values()
                .map(|t| (t.group.clone(), t.kind.clone()))
                .collect();
            let gone = |r: &Value| -> bool {
                let group = r
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .and_then(|av| av.rsplit_once('/').map(|(g, _)| g))
                    .unwrap_or("");
                let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
                let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
                served.contains(&(group.to_owned(), kind.to_owned())) && !uids.contains(uid)
            };
            let mut orphans = Vec::new();
            for (key, m) in &self.objects {
                let Some(rt) = self.types.get(key) else {
                    continue;
                };
                for v in m.values() {
                    let refs = meta(v)
                        .get("ownerReferences")
                        .and_then(Value::as_array)
                        .map_or(&[][..], Vec::as_slice);
                    if !refs.is_empty() && refs.iter().all(gone) && !is_terminating(v) {
                        orphans.push((rt.clone(), v.clone()));
                    }
                }
            }
            if !orphans.is_empty() {
                for (rt, v) in orphans {
                    self.gc_delete(&rt, &v);
                }
                return true;
            }
        }
        false
    }

    fn dependents(&self, uid: &str) -> Vec<(Arc<ResourceType>, Value)> {
        let mut out = Vec::new();
        for (key, m) in &self.objects {
            let Some(rt) = self.types.get(key) else {
                continue;
            };
            for v in m.values() {
                if owner_uids(v).iter().any(|u| u == uid) {
                    out.push((rt.clone(), (**v).clone()));
                }
            }
        }
        out
    }

    fn orphan_dependents(&mut self, uid: &str) {
        for (rt, d) in self.dependents(uid) {
            let mut new = d.clone();
            if let Some(Value::Array(refs)) = meta_mut(&mut new).get_mut("ownerReferences") {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty() {
                    meta_mut(&mut new).remove("ownerReferences");
                }
            }
            self.commit_update_raw(&rt, new);
        }
    }
}

/// A page of `objects` (in key order) matching `filter`: at most `limit` items, the key of the
/// last one when more remain, and how many remain.
pub(crate) fn page(
    objects: &[Arc<Value>],
    rv: u64,
    filter: &dyn Fn(&Value) -> bool,
    limit: Option<usize>,
) -> Page {
    let mut items = Vec::new();
    let mut last: Option<&Value> = None;
    let mut remaining = 0;
    for v in objects {
        if !filter(v) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push((**v).clone());
        last = Some(v);
    }
    let next = if remaining == 0 {
        None
    } else {
        last.map(|v| {
            (
                meta_str(v, "namespace").unwrap_or("").to_owned(),
                meta_str(v, "name").unwrap_or("").to_owned(),
            )
        })
    };
    Page {
        items,
        rv,
        next,
        remaining,
    }
}

fn ports(obj: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .collect()
        })
        .unwrap_or_default();
    if let Some(hc) = obj
        .pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_u64)
    {
        out.push(hc);
    }
    out
}

/// Fills a CRD's status as the apiextensions controllers do at once.
fn crd_status(obj: &mut Value) {
    let names = obj
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if let Value::Object(a) = &mut accepted {
        let kind = a
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        a.entry("singular")
            .or_insert_with(|| json!(kind.to_ascii_lowercase()));
        a.entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let t = now();
    let mut stored: Vec<Value> = obj
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    let keep_time = |typ: &str| -> String {
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(typ))
            })
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .map_or_else(|| t.clone(), str::to_owned)
    };
    let conditions = json!([
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
         "message": "no conflicts found", "lastTransitionTime": keep_time("NamesAccepted")},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted", "lastTransitionTime": keep_time("Established")},
    ]);
    obj["status"] = json!({
        "conditions": conditions,
        "acceptedNames": accepted,
        "storedVersions": stored,
    });
}
