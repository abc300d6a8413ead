//! Journal and fault types shared by the Rust control API and the admin HTTP paths.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One API call as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Sequence number, from 0.
    pub seq: u64,
    /// HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// Path template, e.g. `/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}/pools`.
    pub template: String,
    /// Concrete path.
    pub path: String,
    /// Status answered; 0 when the connection was dropped.
    pub status: u16,
    /// Milliseconds since the emulator started.
    pub at_ms: u64,
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer this status (500, 502, 503, 504, ...) without applying the call.
    Status {
        /// Status code.
        status: u16,
    },
    /// Close the connection without answering and without applying the call.
    Drop,
    /// Delay the call, then serve it normally.
    Latency {
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// Apply the call, then lose its answer: reply `status` instead, or drop the connection
    /// when `status` is absent.
    LostResponse {
        /// Status sent instead of the real one; `None` drops the connection.
        status: Option<u16>,
    },
}

impl FaultKind {
    /// Added latency, if any.
    pub fn latency(self) -> Option<Duration> {
        match self {
            Self::Latency { ms } => Some(Duration::from_millis(ms)),
            _ => None,
        }
    }
}

/// A fault applied to the next `times` calls matching `method` and `template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Method to match; `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path template to match; `None` matches any VNGCloud path.
    #[serde(default)]
    pub template: Option<String>,
    /// Effect.
    pub kind: FaultKind,
    /// How many matching calls it affects.
    pub times: u32,
}

impl Fault {
    /// A fault on the next `times` calls of `method` on `template`.
    pub fn new(method: &str, template: &str, kind: FaultKind, times: u32) -> Self {
        Self {
            method: Some(method.to_owned()),
            template: Some(template.to_owned()),
            kind,
            times,
        }
    }

    pub(crate) fn matches(&self, method: &str, template: &str) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.template.as_deref().is_none_or(|t| t == template)
    }
}

/// Counters of calls: `"METHOD template"` → status → count.
pub type Counters = std::collections::BTreeMap<String, std::collections::BTreeMap<u16, u64>>;

/// Every call, bounded (oldest entries fall off), with exact counters that never fall off.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    entries: std::collections::VecDeque<JournalEntry>,
    capacity: usize,
    next_seq: u64,
    counters: Counters,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: std::collections::VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            counters: Counters::new(),
        }
    }

    pub fn push(&mut self, method: &str, template: &str, path: &str, status: u16, at_ms: u64) {
        *self
            .counters
            .entry(format!("{method} {template}"))
            .or_default()
            .entry(status)
            .or_default() += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(JournalEntry {
            seq: self.next_seq,
            method: method.to_owned(),
            template: template.to_owned(),
            path: path.to_owned(),
            status,
            at_ms,
        });
        self.next_seq += 1;
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.counters.clear();
        self.next_seq = 0;
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.iter().cloned().collect()
    }

    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    pub fn count(&self, method: &str, template: &str, status: Option<u16>) -> u64 {
        let key = format!("{} {template}", method.to_ascii_uppercase());
        self.counters.get(&key).map_or(0, |by_status| match status {
            Some(s) => by_status.get(&s).copied().unwrap_or(0),
            None => by_status.values().sum(),
        })
    }

    pub fn total(&self) -> u64 {
        self.next_seq
    }
}
