//! The batcher: queue, flush, per-object pipeline.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, Retryable};
use futures::StreamExt;
use futures::future::BoxFuture;
use kube::core::params::{GetParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{Instrument, debug, debug_span, info_span, warn};

use crate::error::{BatchError, CallError, FlushError, ObjectFailure, classify};
use crate::key::QueueKey;
use crate::patch::{spec_patch, status_patch, with_resource_version};
use crate::policy::RetryPolicy;
use crate::report::{
    FlushReport, ObjectOutcome, ObjectReport, PendingEntry, RequestEvent, RequestKind,
};

/// A kube resource type the batcher can queue: any typed [`Resource`] with serde (custom
/// resources from `#[derive(CustomResource)]` and `k8s_openapi` built-ins alike).
///
/// Implemented for every type meeting the bounds; not meant to be implemented by hand.
pub trait BatchObject:
    Resource<DynamicType: Default + Eq + Hash + Clone>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> BatchObject for K where
    K: Resource<DynamicType: Default + Eq + Hash + Clone>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// A queued change: mutates the object in place and returns whether it changed anything.
///
/// Mutators run at flush time, on a copy of the current object; after a conflict they run
/// again on the re-read object, hence `FnMut`.
pub type Mutator<K> = Box<dyn FnMut(&mut K) -> bool + Send>;

/// Hook called once per request the batcher sends (for metrics).
pub type Observer = Arc<dyn Fn(&RequestEvent<'_>) + Send + Sync>;

/// Queue identity: the Rust type is part of it so that two types sharing a GVK never get
/// mixed up in one entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    type_id: TypeId,
    key: QueueKey,
}

/// Configuration of a batcher; [`fresh`](Batcher::fresh) batchers start from a snapshot.
#[derive(Clone)]
struct Config {
    client: Client,
    stores: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    policy: RetryPolicy,
    observer: Option<Observer>,
    concurrency: usize,
}

struct Inner {
    config: RwLock<Arc<Config>>,
    queue: Mutex<Queue>,
    /// The object as the batcher's own last write returned it, per key: fresher than a
    /// reflector store that has not seen that write yet.
    known: Mutex<HashMap<EntryKey, Box<dyn Any + Send + Sync>>>,
}

type FlushedSlot = (
    EntryKey,
    Box<dyn ErasedEntry>,
    ObjectReport,
    Option<BatchError>,
);

#[derive(Default)]
struct Queue {
    slots: Vec<(EntryKey, Box<dyn ErasedEntry>)>,
    index: HashMap<EntryKey, usize>,
}

/// Per-reconcile mutation batcher.
///
/// Queue mutators with [`spec`](Self::spec), [`status`](Self::status) or a
/// [`Handle`]; write them with one [`flush`](Self::flush). Cloning is cheap and clones share
/// the queue.
#[derive(Clone)]
pub struct Batcher {
    inner: Arc<Inner>,
}

impl Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// A batcher writing through `client`, with the default [`RetryPolicy`] and no store.
    ///
    /// A client built with `kube::Config::default_retry = false` leaves retrying to the
    /// batcher's [`RetryPolicy`] alone (see the crate docs).
    pub fn new(client: Client) -> Self {
        Self::with_config(Arc::new(Config {
            client,
            stores: HashMap::new(),
            policy: RetryPolicy::default(),
            observer: None,
            concurrency: 8,
        }))
    }

    fn with_config(config: Arc<Config>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                queue: Mutex::new(Queue::default()),
                known: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A batcher with an empty queue and this one's client, stores, policy and observer:
    /// build one configured batcher at start-up and take a `fresh()` one per reconcile
    /// (cheap: the configuration is shared until one of them changes its own).
    pub fn fresh(&self) -> Self {
        Self::with_config(self.inner.config())
    }

    fn configure(&self, change: impl FnOnce(&mut Config)) {
        let mut current = self.inner.config.write();
        let mut config = Config::clone(&current);
        change(&mut config);
        *current = Arc::new(config);
    }

    /// Registers the reflector store of kind `K`: the flush reads `K` objects from it instead
    /// of GETting them (replaces a store registered before for `K`).
    pub fn with_store<K: BatchObject>(self, store: Store<K>) -> Self {
        self.register_store(store);
        self
    }

    /// Same as [`with_store`](Self::with_store), through a shared reference (the clones of
    /// this batcher see it; `fresh` batchers taken before do not).
    pub fn register_store<K: BatchObject>(&self, store: Store<K>) {
        self.configure(|c| {
            c.stores.insert(TypeId::of::<K>(), Arc::new(store));
        });
    }

    /// Sets the retry budgets.
    pub fn with_retry(self, policy: RetryPolicy) -> Self {
        self.configure(|c| c.policy = policy);
        self
    }

    /// Sets a hook called once per request sent (for metrics).
    pub fn with_observer(
        self,
        observer: impl Fn(&RequestEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.configure(|c| c.observer = Some(Arc::new(observer)));
        self
    }

    /// Sets how many objects a flush writes at once (default 8, at least 1).
    pub fn with_concurrency(self, objects: usize) -> Self {
        self.configure(|c| c.concurrency = objects.max(1));
        self
    }

    /// The client the batcher writes through.
    pub fn client(&self) -> Client {
        self.inner.config().client.clone()
    }

    /// Queues a change of everything outside `.status` (spec, metadata, data, ...) of the
    /// `K` object `name` in `namespace` (`None` for a cluster-scoped kind).
    ///
    /// Changes the mutator makes to `.status` are not written: queue those with
    /// [`status`](Self::status).
    pub fn spec<K: BatchObject>(
        &self,
        namespace: Option<&str>,
        name: &str,
        mutator: impl FnMut(&mut K) -> bool + Send + 'static,
    ) {
        self.push::<K>(namespace, name, Part::Spec, Box::new(mutator));
    }

    /// Queues a change of `.status` of the `K` object `name` in `namespace`, written through
    /// the `status` subresource after the spec patch (so the mutator sees the new spec).
    ///
    /// Changes the mutator makes outside `.status` are not written.
    pub fn status<K: BatchObject>(
        &self,
        namespace: Option<&str>,
        name: &str,
        mutator: impl FnMut(&mut K) -> bool + Send + 'static,
    ) {
        self.push::<K>(namespace, name, Part::Status, Box::new(mutator));
    }

    /// A handle on one object: mutations queued through any handle of the same object
    /// coalesce into one entry.
    pub fn handle<K: BatchObject>(&self, namespace: Option<&str>, name: &str) -> Handle<K> {
        Handle {
            batcher: self.clone(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            _kind: PhantomData,
        }
    }

    /// The queued entries, in queue order.
    pub fn pending(&self) -> Vec<PendingEntry> {
        self.inner
            .queue
            .lock()
            .slots
            .iter()
            .map(|(_, e)| {
                let (spec_mutators, status_mutators) = e.counts();
                PendingEntry {
                    key: e.key().clone(),
                    spec_mutators,
                    status_mutators,
                }
            })
            .collect()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.queue.lock().slots.is_empty()
    }

    /// Drops the queued mutators of one object (nothing is written for it); returns whether
    /// any were queued. For an object known to be gone, for instance.
    pub fn discard<K: BatchObject>(&self, namespace: Option<&str>, name: &str) -> bool {
        let ek = EntryKey {
            type_id: TypeId::of::<K>(),
            key: QueueKey::of::<K>(namespace, name),
        };
        let mut q = self.inner.queue.lock();
        let Some(i) = q.index.remove(&ek) else {
            return false;
        };
        q.slots.remove(i);
        q.reindex();
        true
    }

    /// Drops every queued mutator (nothing is written).
    pub fn clear(&self) {
        let mut q = self.inner.queue.lock();
        q.slots.clear();
        q.index.clear();
    }

    fn push<K: BatchObject>(
        &self,
        namespace: Option<&str>,
        name: &str,
        part: Part,
        mutator: Mutator<K>,
    ) {
        let ek = EntryKey {
            type_id: TypeId::of::<K>(),
            key: QueueKey::of::<K>(namespace, name),
        };
        let mut q = self.inner.queue.lock();
        let existing = q.index.get(&ek).copied();
        let entry = existing.and_then(|i| {
            q.slots
                .get_mut(i)
                .and_then(|(_, e)| e.as_any_mut().downcast_mut::<Entry<K>>())
        });
        let entry = if let Some(entry) = entry {
            entry
        } else {
            let i = q.slots.len();
            q.slots
                .push((ek.clone(), Box::new(Entry::<K>::new(ek.key.clone()))));
            q.index.insert(ek, i);
            match q
                .slots
                .last_mut()
                .and_then(|(_, e)| e.as_any_mut().downcast_mut::<Entry<K>>())
            {
                Some(e) => e,
                None => return,
            }
        };
        match part {
            Part::Spec => entry.spec.push(mutator),
            Part::Status => entry.status.push(mutator),
        }
    }

    /// Writes every queued entry: per object, one merge patch of what the spec mutators
    /// changed, then one patch of the `status` subresource with what the status mutators
    /// changed on the post-spec object; both guarded by `metadata.resourceVersion`.
    ///
    /// Best effort across objects: every object is tried; the failed ones stay queued (a
    /// failed spec patch keeps the status mutators queued too, untried) and their errors are
    /// joined into the [`FlushError`]. Entries queued while the flush runs are kept for the
    /// next flush, after the failed ones.
    pub async fn flush(&self) -> Result<FlushReport, FlushError> {
        let start = Instant::now();
        let slots = {
            let mut q = self.inner.queue.lock();
            q.index.clear();
            std::mem::take(&mut q.slots)
        };
        let span = info_span!("vlb_batch.flush", objects = slots.len());
        async move {
            if slots.is_empty() {
                return Ok(FlushReport::default());
            }
            let config = self.inner.config();
            let config: &Config = &config;
            let inner: &Inner = &self.inner;
            // Boxed futures built up front (not in a stream combinator's closure) keep the
            // flush future `Send` for callers that spawn it.
            let writes: Vec<BoxFuture<'_, FlushedSlot>> = slots
                .into_iter()
                .map(|(ek, mut entry)| -> BoxFuture<'_, FlushedSlot> {
                    Box::pin(async move {
                        let span = debug_span!("vlb_batch.object", key = %ek.key);
                        let (report, error) = entry.flush(inner, config).instrument(span).await;
                        (ek, entry, report, error)
                    })
                })
                .collect();
            let results: Vec<FlushedSlot> = futures::stream::iter(writes)
                .buffered(config.concurrency)
                .collect()
                .await;

            let mut report = FlushReport::default();
            let mut failures = Vec::new();
            let mut leftovers = Vec::new();
            for (ek, entry, object, error) in results {
                if let Some(error) = error {
                    warn!(key = %ek.key, %error, "batched write failed; entry kept queued");
                    failures.push(ObjectFailure {
                        key: ek.key.clone(),
                        error,
                    });
                }
                report.objects.push(object);
                if !entry.is_empty() {
                    leftovers.push((ek, entry));
                }
            }
            if !leftovers.is_empty() {
                self.inner.queue.lock().requeue_front(leftovers);
            }
            report.elapsed = start.elapsed();
            debug!(
                gets = report.gets(),
                patches = report.patches(),
                failed = failures.len(),
                "flushed"
            );
            if failures.is_empty() {
                Ok(report)
            } else {
                Err(FlushError::new(failures, report))
            }
        }
        .instrument(span)
        .await
    }
}

impl Queue {
    /// Puts entries that failed back in front, each followed by what was queued for the same
    /// object meanwhile.
    fn requeue_front(&mut self, leftovers: Vec<(EntryKey, Box<dyn ErasedEntry>)>) {
        let mut newer: Vec<Option<(EntryKey, Box<dyn ErasedEntry>)>> =
            std::mem::take(&mut self.slots)
                .into_iter()
                .map(Some)
                .collect();
        let mut slots = Vec::with_capacity(leftovers.len() + newer.len());
        for (ek, mut entry) in leftovers {
            if let Some(i) = self.index.get(&ek).copied()
                && let Some((_, later)) = newer.get_mut(i).and_then(Option::take)
            {
                entry.append(later);
            }
            slots.push((ek, entry));
        }
        slots.extend(newer.into_iter().flatten());
        self.slots = slots;
        self.reindex();
    }

    /// Rebuilds the position index after slots moved.
    fn reindex(&mut self) {
        self.index = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, (ek, _))| (ek.clone(), i))
            .collect();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Spec,
    Status,
}

impl Part {
    fn request_kind(self) -> RequestKind {
        match self {
            Self::Spec => RequestKind::PatchSpec,
            Self::Status => RequestKind::PatchStatus,
        }
    }
}

/// A queue entry with its type erased, so one queue holds several kinds.
trait ErasedEntry: Send {
    fn key(&self) -> &QueueKey;
    fn counts(&self) -> (usize, usize);
    fn is_empty(&self) -> bool;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// Appends the mutators of `later` (same key and type) after this entry's.
    fn append(&mut self, later: Box<dyn ErasedEntry>);
    fn flush<'a>(
        &'a mut self,
        inner: &'a Inner,
        config: &'a Config,
    ) -> BoxFuture<'a, (ObjectReport, Option<BatchError>)>;
}

struct Entry<K> {
    key: QueueKey,
    spec: Vec<Mutator<K>>,
    status: Vec<Mutator<K>>,
}

impl<K: BatchObject> Entry<K> {
    fn new(key: QueueKey) -> Self {
        Self {
            key,
            spec: Vec::new(),
            status: Vec::new(),
        }
    }
}

impl<K: BatchObject> ErasedEntry for Entry<K> {
    fn key(&self) -> &QueueKey {
        &self.key
    }

    fn counts(&self) -> (usize, usize) {
        (self.spec.len(), self.status.len())
    }

    fn is_empty(&self) -> bool {
        self.spec.is_empty() && self.status.is_empty()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn append(&mut self, later: Box<dyn ErasedEntry>) {
        if let Ok(later) = later.into_any().downcast::<Entry<K>>() {
            let later = *later;
            self.spec.extend(later.spec);
            self.status.extend(later.status);
        }
    }

    fn flush<'a>(
        &'a mut self,
        inner: &'a Inner,
        config: &'a Config,
    ) -> BoxFuture<'a, (ObjectReport, Option<BatchError>)> {
        Box::pin(async move {
            let mut report = ObjectReport::new(self.key.clone());
            match self.write(inner, config, &mut report).await {
                Ok(patched) => {
                    report.outcome = if patched {
                        ObjectOutcome::Patched
                    } else {
                        ObjectOutcome::Unchanged
                    };
                    (report, None)
                }
                Err(e) => {
                    report.outcome = ObjectOutcome::Failed;
                    (report, Some(e))
                }
            }
        })
    }
}

/// Runs every mutator in order on `obj`; true if any said it changed something.
fn run_all<K>(mutators: &mut [Mutator<K>], obj: &mut K) -> bool {
    let mut changed = false;
    for m in mutators.iter_mut() {
        // No short-circuit: every mutator runs and sees the previous ones' changes.
        changed |= m(obj);
    }
    changed
}

fn to_json<K: Serialize>(obj: &K) -> Result<Value, BatchError> {
    serde_json::to_value(obj).map_err(|e| BatchError::Invalid {
        status: 0,
        message: format!("serializing the object: {e}"),
    })
}

impl<K: BatchObject> Entry<K> {
    /// The per-object pipeline; returns whether a patch landed.
    async fn write(
        &mut self,
        inner: &Inner,
        config: &Config,
        report: &mut ObjectReport,
    ) -> Result<bool, BatchError> {
        if self.is_empty() {
            return Ok(false);
        }
        let ek = EntryKey {
            type_id: TypeId::of::<K>(),
            key: self.key.clone(),
        };
        let api = ObjectApi::<K>::new(config, &self.key);
        let mut base = if let Some(obj) = inner.cached::<K>(config, &ek) {
            report.from_cache = true;
            obj
        } else {
            api.get(report).await?
        };
        let mut patched = false;
        for part in [Part::Spec, Part::Status] {
            let mutators = match part {
                Part::Spec => &mut self.spec,
                Part::Status => &mut self.status,
            };
            if mutators.is_empty() {
                continue;
            }
            let mut delays = api.policy.conflict_backoff().build();
            let mut attempts = 0;
            loop {
                let mut work = base.clone();
                if !run_all(mutators, &mut work) {
                    break;
                }
                let (old, new) = (to_json(&base)?, to_json(&work)?);
                let patch = match part {
                    Part::Spec => spec_patch(&old, &new),
                    Part::Status => status_patch(&old, &new),
                };
                let Some(patch) = patch else { break };
                let patch = match base.resource_version() {
                    Some(rv) => with_resource_version(patch, &rv),
                    None => patch,
                };
                attempts += 1;
                match api.patch(part, &patch, report).await {
                    Ok(written) => {
                        // Fresher than the store until the watch brings this write in.
                        inner.remember(ek.clone(), written.clone());
                        base = written;
                        patched = true;
                        break;
                    }
                    Err(CallError::Conflict(message)) => {
                        report.conflicts += 1;
                        if attempts >= api.policy.conflict_attempts.max(1) {
                            return Err(BatchError::ConflictExhausted { attempts, message });
                        }
                        let delay = delays.next().unwrap_or(api.policy.conflict_max_delay);
                        debug!(?part, attempts, ?delay, "conflict: re-reading the object");
                        tokio::time::sleep(delay).await;
                        base = api.get(report).await?;
                    }
                    Err(CallError::Failed(e)) => return Err(e),
                }
            }
            // This part is written (or had nothing to write): its mutators are done and are
            // not run again, even if the next part conflicts.
            mutators.clear();
        }
        Ok(patched)
    }
}

impl Inner {
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read())
    }

    /// The object from the reflector store of `K`, or from the batcher's last write when
    /// that is newer; `None` when neither has it.
    fn cached<K: BatchObject>(&self, config: &Config, ek: &EntryKey) -> Option<K> {
        let from_store = {
            config
                .stores
                .get(&TypeId::of::<K>())
                .and_then(|s| s.downcast_ref::<Store<K>>())
                .and_then(|store| {
                    let mut r = ObjectRef::<K>::new_with(&ek.key.name, Default::default());
                    if let Some(ns) = &ek.key.namespace {
                        r = r.within(ns);
                    }
                    store.get(&r)
                })
        };
        let mut known = self.known.lock();
        let mine = known.get(ek).and_then(|o| o.downcast_ref::<K>()).cloned();
        match (from_store, mine) {
            (Some(cached), Some(mine)) => {
                if is_newer(&mine, &cached) {
                    Some(mine)
                } else {
                    known.remove(ek);
                    Some((*cached).clone())
                }
            }
            (Some(cached), None) => Some((*cached).clone()),
            (None, mine) => mine,
        }
    }

    fn remember<K: BatchObject>(&self, ek: EntryKey, obj: K) {
        self.known.lock().insert(ek, Box::new(obj));
    }
}

/// Whether `a` is a later version than `b`. Resource versions are opaque, but every API
/// server in practice issues increasing integers; when they do not parse, the store wins
/// (the optimistic lock keeps a wrong guess safe: it costs one conflict).
fn is_newer<K: Resource>(a: &K, b: &K) -> bool {
    let rv = |o: &K| {
        o.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    matches!((rv(a), rv(b)), (Some(a), Some(b)) if a > b)
}

/// Requests about one object.
struct ObjectApi<'a, K> {
    client: &'a Client,
    key: &'a QueueKey,
    request: kube::core::Request,
    policy: &'a RetryPolicy,
    observer: Option<&'a Observer>,
    _kind: PhantomData<fn() -> K>,
}

impl<'a, K: BatchObject> ObjectApi<'a, K> {
    fn new(config: &'a Config, key: &'a QueueKey) -> Self {
        let dt = K::DynamicType::default();
        Self {
            client: &config.client,
            key,
            request: kube::core::Request::new(K::url_path(&dt, key.namespace.as_deref())),
            policy: &config.policy,
            observer: config.observer.as_ref(),
            _kind: PhantomData,
        }
    }

    async fn get(&self, report: &mut ObjectReport) -> Result<K, BatchError> {
        let build = || self.request.get(&self.key.name, &GetParams::default());
        self.send(RequestKind::Get, build, report)
            .await
            .map_err(|e| match e {
                CallError::Failed(e) => e,
                // A GET cannot conflict; keep the message if a server says so anyway.
                CallError::Conflict(message) => BatchError::Server {
                    status: 409,
                    retry_after: None,
                    message,
                },
            })
    }

    async fn patch(
        &self,
        part: Part,
        patch: &Value,
        report: &mut ObjectReport,
    ) -> Result<K, CallError> {
        let pp = PatchParams::default();
        let body = Patch::Merge(patch);
        let build = || match part {
            Part::Spec => self.request.patch(&self.key.name, &pp, &body),
            Part::Status => self
                .request
                .patch_subresource("status", &self.key.name, &pp, &body),
        };
        self.send(part.request_kind(), build, report).await
    }

    /// Sends a request, again after 429, 5xx and transport errors (honouring
    /// `Retry-After`), and decodes the answer.
    async fn send(
        &self,
        kind: RequestKind,
        build: impl Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
        report: &mut ObjectReport,
    ) -> Result<K, CallError> {
        let sent = AtomicU32::new(0);
        let retries = AtomicU32::new(0);
        let max_retry_after = self.policy.max_retry_after;
        let result = (|| async {
            let request = build().map_err(|e| {
                CallError::Failed(BatchError::Invalid {
                    status: 0,
                    message: format!("building the request: {e}"),
                })
            })?;
            sent.fetch_add(1, Ordering::Relaxed);
            self.send_once(kind, request).await
        })
        .retry(self.policy.transient_backoff())
        .sleep(tokio::time::sleep)
        .when(CallError::is_transient)
        .adjust(|e, delay| {
            // Past the budget `delay` is None: stop, whatever the server asked.
            delay.map(|d| {
                e.retry_after()
                    .map_or(d, |asked| asked.min(max_retry_after))
            })
        })
        .notify(|e, delay| {
            retries.fetch_add(1, Ordering::Relaxed);
            debug!(
                kind = kind.as_str(),
                ?e,
                ?delay,
                "transient failure: retrying"
            );
        })
        .await;
        let sent = sent.into_inner();
        match kind {
            RequestKind::Get => report.gets += sent,
            RequestKind::PatchSpec => report.spec_patches += sent,
            RequestKind::PatchStatus => report.status_patches += sent,
        }
        report.transient_retries += retries.into_inner();
        result
    }

    async fn send_once(
        &self,
        kind: RequestKind,
        request: http::Request<Vec<u8>>,
    ) -> Result<K, CallError> {
        let start = Instant::now();
        let answer = self
            .client
            .send(request.map(kube::client::Body::from))
            .await;
        let response = match answer {
            Ok(r) => r,
            Err(e) => {
                self.observe(kind, None, start.elapsed());
                return Err(CallError::Failed(BatchError::Transport {
                    message: e.to_string(),
                }));
            }
        };
        let status = response.status().as_u16();
        let retry_after_header = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.into_body().collect_bytes().await;
        self.observe(kind, Some(status), start.elapsed());
        let body = body.map_err(|e| {
            CallError::Failed(BatchError::Transport {
                message: format!("reading the answer: {e}"),
            })
        })?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<K>(&body).map_err(|e| {
                CallError::Failed(BatchError::Invalid {
                    status: 0,
                    message: format!("decoding the answer: {e}"),
                })
            });
        }
        let parsed = serde_json::from_slice::<kube::core::Status>(&body).ok();
        let retry_after = retry_after_header.or_else(|| {
            parsed
                .as_ref()
                .and_then(|s| s.details.as_ref())
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)))
        });
        let message = match parsed {
            Some(s) if !s.message.is_empty() => s.message,
            _ => String::from_utf8_lossy(&body).chars().take(512).collect(),
        };
        Err(classify(status, retry_after, message))
    }

    fn observe(&self, kind: RequestKind, status: Option<u16>, elapsed: Duration) {
        if let Some(observer) = self.observer {
            observer(&RequestEvent {
                key: self.key,
                kind,
                status,
                elapsed,
            });
        }
    }
}

/// A handle on one object of kind `K`: a shortcut for [`Batcher::spec`] and
/// [`Batcher::status`] with the object's namespace and name filled in. Handles are cheap to
/// clone; mutations queued through distinct handles of the same object coalesce.
pub struct Handle<K> {
    batcher: Batcher,
    namespace: Option<String>,
    name: String,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Self {
            batcher: self.batcher.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> Debug for Handle<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K: BatchObject> Handle<K> {
    /// Queues a spec change (see [`Batcher::spec`]).
    pub fn spec(&self, mutator: impl FnMut(&mut K) -> bool + Send + 'static) -> &Self {
        self.batcher
            .spec::<K>(self.namespace.as_deref(), &self.name, mutator);
        self
    }

    /// Queues a status change (see [`Batcher::status`]).
    pub fn status(&self, mutator: impl FnMut(&mut K) -> bool + Send + 'static) -> &Self {
        self.batcher
            .status::<K>(self.namespace.as_deref(), &self.name, mutator);
        self
    }

    /// The object's key.
    pub fn key(&self) -> QueueKey {
        QueueKey::of::<K>(self.namespace.as_deref(), &self.name)
    }

    /// The batcher the handle queues into.
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Service};

    use super::*;

    fn offline_batcher() -> Batcher {
        // Nothing is sent in these tests: the queue alone is under test.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Batcher::new(Client::try_from(config).unwrap())
    }

    fn pending(b: &Batcher) -> Vec<(String, usize, usize)> {
        b.pending()
            .into_iter()
            .map(|p| (p.key.to_string(), p.spec_mutators, p.status_mutators))
            .collect()
    }

    #[tokio::test]
    async fn mutations_of_one_object_coalesce_in_queue_order() {
        let b = offline_batcher();
        b.status::<Service>(Some("ns"), "a", |_| true);
        b.spec::<ConfigMap>(Some("ns"), "a", |_| true);
        b.status::<Service>(Some("ns"), "b", |_| true);
        b.spec::<Service>(Some("ns"), "a", |_| true);
        b.status::<Service>(Some("ns"), "a", |_| true);
        b.status::<Service>(Some("other"), "a", |_| true);
        assert_eq!(
            pending(&b),
            vec![
                ("v1/Service ns/a".to_owned(), 1, 2),
                ("v1/ConfigMap ns/a".to_owned(), 1, 0),
                ("v1/Service ns/b".to_owned(), 0, 1),
                ("v1/Service other/a".to_owned(), 0, 1),
            ]
        );
    }

    #[tokio::test]
    async fn discard_drops_one_object_and_keeps_the_others_coalescing() {
        let b = offline_batcher();
        b.status::<Service>(Some("ns"), "a", |_| true);
        b.status::<Service>(Some("ns"), "b", |_| true);
        b.status::<Service>(Some("ns"), "c", |_| true);
        assert!(b.discard::<Service>(Some("ns"), "a"));
        assert!(!b.discard::<Service>(Some("ns"), "a"));
        assert!(!b.discard::<ConfigMap>(Some("ns"), "b"), "other kind");
        b.spec::<Service>(Some("ns"), "c", |_| true);
        assert_eq!(
            pending(&b),
            vec![
                ("v1/Service ns/b".to_owned(), 0, 1),
                ("v1/Service ns/c".to_owned(), 1, 1),
            ]
        );
    }

    #[tokio::test]
    async fn distinct_handles_of_one_object_share_one_entry() {
        let b = offline_batcher();
        let h1 = b.handle::<Service>(Some("ns"), "a");
        let h2 = b.clone().handle::<Service>(Some("ns"), "a");
        h1.status(|_| true);
        h2.status(|_| true).spec(|_| true);
        assert_eq!(pending(&b), vec![("v1/Service ns/a".to_owned(), 1, 2)]);
        assert_eq!(h1.key(), h2.key());
    }

    fn assert_spawnable<F: Future + Send + 'static>(_: F) {}

    #[tokio::test]
    async fn flush_future_can_be_spawned() {
        let b = offline_batcher();
        assert_spawnable(async move { b.flush().await });
    }

    #[tokio::test]
    async fn fresh_batcher_snapshots_the_configuration() {
        let configured = offline_batcher()
            .with_retry(RetryPolicy::fast())
            .with_concurrency(3);
        let per_reconcile = configured.fresh();
        assert_eq!(per_reconcile.inner.config().policy, RetryPolicy::fast());
        assert_eq!(per_reconcile.inner.config().concurrency, 3);
        // Changing one's configuration leaves the other's alone.
        let per_reconcile = per_reconcile.with_concurrency(1);
        assert_eq!(per_reconcile.inner.config().concurrency, 1);
        assert_eq!(configured.inner.config().concurrency, 3);
    }

    #[tokio::test]
    async fn fresh_batcher_has_its_own_queue_and_clear_empties_it() {
        let b = offline_batcher();
        b.status::<Service>(Some("ns"), "a", |_| true);
        let f = b.fresh();
        assert!(f.is_empty());
        assert!(!b.is_empty());
        b.clear();
        assert!(b.is_empty());
    }

    #[tokio::test]
    async fn failed_entries_go_back_in_front_of_what_was_queued_meanwhile() {
        let b = offline_batcher();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tag = |t: &'static str| {
            let log = Arc::clone(&log);
            move |_: &mut Service| {
                log.lock().push(t);
                true
            }
        };
        b.status::<Service>(Some("ns"), "a", tag("old-a"));
        b.status::<Service>(Some("ns"), "b", tag("old-b"));
        let old = {
            let mut q = b.inner.queue.lock();
            q.index.clear();
            std::mem::take(&mut q.slots)
        };
        // Queued while the flush runs.
        b.status::<Service>(Some("ns"), "c", tag("new-c"));
        b.status::<Service>(Some("ns"), "b", tag("new-b"));
        b.inner
            .queue
            .lock()
            .requeue_front(old.into_iter().rev().collect());
        assert_eq!(
            pending(&b),
            vec![
                ("v1/Service ns/b".to_owned(), 0, 2),
                ("v1/Service ns/a".to_owned(), 0, 1),
                ("v1/Service ns/c".to_owned(), 0, 1),
            ]
        );
        // Coalescing still finds the requeued entries.
        b.spec::<Service>(Some("ns"), "a", tag("spec-a"));
        assert_eq!(b.pending()[1].spec_mutators, 1);
        // The merged entry runs the old mutator first.
        let mut q = b.inner.queue.lock();
        let entry = q.slots[0]
            .1
            .as_any_mut()
            .downcast_mut::<Entry<Service>>()
            .unwrap();
        run_all(&mut entry.status, &mut Service::default());
        drop(q);
        assert_eq!(*log.lock(), vec!["old-b", "new-b"]);
    }

    #[test]
    fn every_mutator_runs_in_order_and_sees_the_previous_change() {
        let mut mutators: Vec<Mutator<ConfigMap>> = vec![
            Box::new(|cm| {
                cm.data
                    .get_or_insert_with(Default::default)
                    .insert("a".into(), "1".into());
                true
            }),
            Box::new(|_| false),
            Box::new(|cm| {
                let seen = cm.data.as_ref().and_then(|d| d.get("a")).cloned();
                cm.data
                    .get_or_insert_with(Default::default)
                    .insert("b".into(), seen.unwrap_or_default());
                false
            }),
        ];
        let mut cm = ConfigMap::default();
        assert!(run_all(&mut mutators, &mut cm));
        assert_eq!(cm.data.unwrap().get("b").map(String::as_str), Some("1"));
        let mut quiet: Vec<Mutator<ConfigMap>> = vec![Box::new(|_| false), Box::new(|_| false)];
        assert!(!run_all(&mut quiet, &mut ConfigMap::default()));
    }

    #[test]
    fn newer_resource_version_wins_and_unparsable_ones_defer_to_the_store() {
        let with_rv = |rv: &str| {
            let mut cm = ConfigMap::default();
            cm.metadata.resource_version = Some(rv.to_owned());
            cm
        };
        assert!(is_newer(&with_rv("12"), &with_rv("9")));
        assert!(!is_newer(&with_rv("9"), &with_rv("12")));
        assert!(!is_newer(&with_rv("9"), &with_rv("9")));
        assert!(!is_newer(&with_rv("x"), &with_rv("9")));
    }
}
