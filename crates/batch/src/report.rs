//! What a flush sent, what is still queued, and the per-request hook for metrics.

use std::time::Duration;

use crate::key::QueueKey;

/// A queued entry, as shown by [`Batcher::pending`](crate::Batcher::pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The object.
    pub key: QueueKey,
    /// Queued spec mutators.
    pub spec_mutators: usize,
    /// Queued status mutators.
    pub status_mutators: usize,
}

/// How the flush of one object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// At least one patch landed.
    Patched,
    /// The mutators changed nothing: no request was sent for a write.
    Unchanged,
    /// The object failed (see [`FlushError`](crate::FlushError)); its entry stays queued.
    Failed,
}

/// What the flush sent for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// The object.
    pub key: QueueKey,
    /// Outcome.
    pub outcome: ObjectOutcome,
    /// GET requests sent (object not in the cache, or re-read after a conflict).
    pub gets: u32,
    /// Spec PATCH requests sent (retries included).
    pub spec_patches: u32,
    /// Status PATCH requests sent (retries included).
    pub status_patches: u32,
    /// 409 answers received.
    pub conflicts: u32,
    /// Requests repeated after a 429, a 5xx or a transport error.
    pub transient_retries: u32,
    /// Whether the object was read from a reflector store (or the batcher's own copy of its
    /// last write) rather than from the API.
    pub from_cache: bool,
}

impl ObjectReport {
    pub(crate) fn new(key: QueueKey) -> Self {
        Self {
            key,
            outcome: ObjectOutcome::Unchanged,
            gets: 0,
            spec_patches: 0,
            status_patches: 0,
            conflicts: 0,
            transient_retries: 0,
            from_cache: false,
        }
    }

    /// Requests sent for this object.
    pub fn requests(&self) -> u32 {
        self.gets + self.spec_patches + self.status_patches
    }
}

/// What a flush sent, per object, in queue order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// One report per flushed object.
    pub objects: Vec<ObjectReport>,
    /// Wall time of the flush.
    pub elapsed: Duration,
}

impl FlushReport {
    /// GET requests sent.
    pub fn gets(&self) -> u32 {
        self.objects.iter().map(|o| o.gets).sum()
    }

    /// PATCH requests sent (spec and status).
    pub fn patches(&self) -> u32 {
        self.objects
            .iter()
            .map(|o| o.spec_patches + o.status_patches)
            .sum()
    }

    /// Requests sent.
    pub fn requests(&self) -> u32 {
        self.objects.iter().map(ObjectReport::requests).sum()
    }

    /// 409 answers received.
    pub fn conflicts(&self) -> u32 {
        self.objects.iter().map(|o| o.conflicts).sum()
    }

    /// The report of object `key`.
    pub fn object(&self, key: &QueueKey) -> Option<&ObjectReport> {
        self.objects.iter().find(|o| &o.key == key)
    }
}

/// The kind of a request the batcher sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// GET of the object.
    Get,
    /// Merge PATCH of the object (everything outside `.status`).
    PatchSpec,
    /// Merge PATCH of the `status` subresource.
    PatchStatus,
}

impl RequestKind {
    /// A short label (`get`, `patch_spec`, `patch_status`) for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::PatchSpec => "patch_spec",
            Self::PatchStatus => "patch_status",
        }
    }
}

/// One request the batcher sent, handed to the observer set with
/// [`Batcher::with_observer`](crate::Batcher::with_observer).
#[derive(Debug, Clone, Copy)]
pub struct RequestEvent<'a> {
    /// The object.
    pub key: &'a QueueKey,
    /// What was sent.
    pub kind: RequestKind,
    /// HTTP status of the answer; `None` when no answer came (transport error).
    pub status: Option<u16>,
    /// Time to the answer.
    pub elapsed: Duration,
}
