//! A faithful HTTP emulator of the VNGCloud IAM, vLB and vServer APIs the vlb operator uses.
//!
//! Paths, request and response bodies, status codes and error texts follow the public Go SDK
//! `vngcloud/vngcloud-go-sdk` (v2). One server answers all three services:
//!
//! ```text
//!   cloud-adapter / e2e tests / benchmarks / demo
//!                    |  HTTP (127.0.0.1)
//!                    v
//!   +------------------------------------------------------------+
//!   | vlb-vngcloud-emulator                                      |
//!   |  /accounts-api/v2/auth/token         IAM (client creds)    |
//!   |  /vlb-gateway/v2/{project}/...       vLB                   |
//!   |  /vserver-gateway/v2/{project}/...   vServer               |
//!   |  /_emulator/...                      admin (state, faults) |
//!   |  journal | faults | token bucket | life cycle (Clock)      |
//!   +------------------------------------------------------------+
//!                    ^
//!                    |  Control (Rust handle: drift, faults, journal)
//!                  tests
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), vlb_vngcloud_emulator::EmulatorError> {
//! let emu = vlb_vngcloud_emulator::VngEmulator::start().await?;
//! println!("IAM at {}/accounts-api/v2/auth/token", emu.url());
//! let calls = emu.control().count("POST", "/vlb-gateway/v2/{projectId}/loadBalancers");
//! assert_eq!(calls, 0);
//! # Ok(()) }
//! ```

mod config;
mod control;
mod http;
mod model;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use config::{
    Clock, Delays, EmulatorConfig, Fixture, FixtureInterface, FixtureNetwork, FixturePackage,
    FixtureSecgroup, FixtureServer, FixtureSubnet, ManualClock, Quotas, RateLimit, SystemClock,
    TokioClock,
};
pub use control::{Counters, Fault, FaultKind, JournalEntry};
pub use http::TOKEN_PATH;

/// Failed logins in a row (with the fixture's client id) after which IAM locks the client
/// out with `TOO_MANY_FAILED_LOGINS` (the real threshold is not documented).
pub const MAX_FAILED_LOGINS: u32 = 5;

/// How long that lock-out lasts (the real duration is not documented).
pub const LOGIN_LOCKOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub use model::{
    BusyObject, Certificate, HealthMonitor, InsertHeader, Interface, LbPhase, Listener,
    LoadBalancer, Member, Policy, PolicyRule, Pool, SecurityGroup, SecurityGroupRule, Server, Tag,
};

use http::{App, Core};
use state::State;

/// Path template of the vLB load-balancer collection.
pub const LOAD_BALANCERS: &str = "/vlb-gateway/v2/{projectId}/loadBalancers";
/// Path template of one load balancer.
pub const LOAD_BALANCER: &str = "/vlb-gateway/v2/{projectId}/loadBalancers/{loadBalancerId}";

/// Errors of the emulator itself (not API errors, which are HTTP answers).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding or reading the listening socket failed; retrying with another address may help.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The fixture file cannot be read or parsed; not retryable until the file is fixed.
    #[error("bad fixture {path}: {reason}")]
    Fixture {
        /// File path.
        path: String,
        /// Cause.
        reason: String,
    },
    /// An out-of-band edit named an object that does not exist; not retryable.
    #[error("no {kind} with id {id}")]
    NotFound {
        /// Kind of object.
        kind: &'static str,
        /// Id asked for.
        id: String,
    },
    /// An out-of-band JSON patch does not fit the object; not retryable.
    #[error("invalid patch: {0}")]
    Patch(String),
}

/// A running emulator; dropping it stops the server.
#[derive(Debug)]
pub struct VngEmulator {
    addr: SocketAddr,
    project_id: String,
    client_id: String,
    client_secret: String,
    control: Control,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl VngEmulator {
    /// Starts on `127.0.0.1:0` with the built-in fixture and short test delays.
    pub async fn start() -> Result<Self, EmulatorError> {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// Starts with the given configuration.
    pub async fn start_with(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.addr,
                source,
            })?;
        let fixture = config.fixture.clone();
        let core: App = Arc::new(Core {
            state: Mutex::new(State::new(
                config.fixture,
                config.delays,
                config.token_ttl,
                config.rate_limit,
                config.journal_capacity,
            )),
            started: config.clock.now(),
            clock: config.clock,
        });
        let router = http::router(core.clone());
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(http::serve_connection(stream, router.clone()));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            project_id: fixture.project_id,
            client_id: fixture.client_id,
            client_secret: fixture.client_secret,
            control: Control { core },
            shutdown: Some(tx),
            task,
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// IAM base (`{url}/accounts-api`), as the SDK's IAM endpoint.
    pub fn iam_url(&self) -> String {
        format!("{}/accounts-api", self.url())
    }

    /// vLB base (`{url}/vlb-gateway`), as the SDK's vLB endpoint.
    pub fn vlb_url(&self) -> String {
        format!("{}/vlb-gateway", self.url())
    }

    /// vServer base (`{url}/vserver-gateway`), as the SDK's vServer endpoint.
    pub fn vserver_url(&self) -> String {
        format!("{}/vserver-gateway", self.url())
    }

    /// Project id of the fixture.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Client id of the fixture.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Client secret of the fixture.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// A cheap handle for out-of-band control.
    pub fn control(&self) -> Control {
        self.control.clone()
    }
}

impl Drop for VngEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(t) = target {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
    } else {
        *target = patch.clone();
    }
}

pub(crate) fn patch_lb(st: &mut State, id: &str, patch: &Value) -> Result<(), EmulatorError> {
    let lb = st
        .lbs
        .iter_mut()
        .find(|lb| lb.id == id)
        .ok_or_else(|| EmulatorError::NotFound {
            kind: "load balancer",
            id: id.to_owned(),
        })?;
    let mut v = serde_json::to_value(&*lb).map_err(|e| EmulatorError::Patch(e.to_string()))?;
    merge_patch(&mut v, patch);
    let mut new: LoadBalancer =
        serde_json::from_value(v).map_err(|e| EmulatorError::Patch(e.to_string()))?;
    new.phase_until = if new.phase == lb.phase {
        lb.phase_until
    } else {
        None
    };
    *lb = new;
    Ok(())
}

/// Out-of-band control of a running emulator (what a portal user or a test harness can do).
#[derive(Debug, Clone)]
pub struct Control {
    core: App,
}

impl Control {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let now = self.core.clock.now();
        let mut st = self.core.state.lock();
        st.refresh(now);
        f(&mut st)
    }

    /// The whole state as JSON (load balancers, certificates, security groups, servers).
    pub fn state(&self) -> Value {
        self.with(|st| st.snapshot())
    }

    /// All load balancers.
    pub fn load_balancers(&self) -> Vec<LoadBalancer> {
        self.with(|st| st.lbs.clone())
    }

    /// One load balancer.
    pub fn load_balancer(&self, id: &str) -> Option<LoadBalancer> {
        self.with(|st| st.lbs.iter().find(|lb| lb.id == id).cloned())
    }

    /// Load balancers whose name is exactly `name` (duplicates are possible, as in the real API).
    pub fn load_balancers_named(&self, name: &str) -> Vec<LoadBalancer> {
        self.with(|st| {
            st.lbs
                .iter()
                .filter(|lb| lb.name == name)
                .cloned()
                .collect()
        })
    }

    /// All security groups.
    pub fn security_groups(&self) -> Vec<SecurityGroup> {
        self.with(|st| st.secgroups.clone())
    }

    /// All servers.
    pub fn servers(&self) -> Vec<Server> {
        self.with(|st| st.servers.clone())
    }

    /// All certificates.
    pub fn certificates(&self) -> Vec<Certificate> {
        self.with(|st| st.certificates.clone())
    }

    /// Changes a load balancer in place, as a portal user would (drift). The closure runs under
    /// the emulator's lock: it must not call back into `Control`.
    pub fn edit_load_balancer(
        &self,
        id: &str,
        f: impl FnOnce(&mut LoadBalancer),
    ) -> Result<(), EmulatorError> {
        self.with(|st| {
            let lb = st.lbs.iter_mut().find(|lb| lb.id == id).ok_or_else(|| {
                EmulatorError::NotFound {
                    kind: "load balancer",
                    id: id.to_owned(),
                }
            })?;
            f(lb);
            Ok(())
        })
    }

    /// Applies a JSON merge patch (RFC 7386) to the stored form of a load balancer.
    pub fn patch_load_balancer(&self, id: &str, patch: &Value) -> Result<(), EmulatorError> {
        self.with(|st| patch_lb(st, id, patch))
    }

    /// Deletes a load balancer at once (out-of-band deletion).
    pub fn delete_load_balancer(&self, id: &str) -> Result<(), EmulatorError> {
        self.with(|st| {
            let before = st.lbs.len();
            st.lbs.retain(|lb| lb.id != id);
            if st.lbs.len() == before {
                Err(EmulatorError::NotFound {
                    kind: "load balancer",
                    id: id.to_owned(),
                })
            } else {
                Ok(())
            }
        })
    }

    /// Puts a load balancer into `ERROR` (it stays there until edited or deleted).
    pub fn inject_error(&self, id: &str) -> Result<(), EmulatorError> {
        self.edit_load_balancer(id, |lb| {
            lb.phase = LbPhase::Error;
            lb.phase_until = None;
        })
    }

    /// The next `n` load balancers created end in `ERROR` (after the create delay) instead of
    /// `ACTIVE`.
    pub fn fail_next_creates(&self, n: u32) {
        self.with(|st| st.create_errors = n);
    }

    /// Renders empty lists (`"data"` of listeners, pools, members, rules; an untagged
    /// resource's tags) as `null`, as a Go server renders a nil slice; `[]` otherwise.
    pub fn set_null_empty_lists(&self, on: bool) {
        self.with(|st| st.null_empty_lists = on);
    }

    /// Changes the life-cycle delays from now on (transitions already scheduled keep theirs).
    pub fn set_delays(&self, delays: Delays) {
        self.with(|st| st.delays = delays);
    }

    /// Changes the rate limit from now on (buckets refill to the new capacity).
    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.with(|st| {
            st.rate_limit = limit;
            st.buckets.clear();
        });
    }

    /// Changes a security group in place (drift). The closure must not call back into `Control`.
    pub fn edit_security_group(
        &self,
        id: &str,
        f: impl FnOnce(&mut SecurityGroup),
    ) -> Result<(), EmulatorError> {
        self.with(|st| {
            let g = st
                .secgroups
                .iter_mut()
                .find(|g| g.id == id)
                .ok_or_else(|| EmulatorError::NotFound {
                    kind: "security group",
                    id: id.to_owned(),
                })?;
            f(g);
            Ok(())
        })
    }

    /// Deletes a security group at once and detaches it from servers (out-of-band deletion).
    pub fn delete_security_group(&self, id: &str) -> Result<(), EmulatorError> {
        self.with(|st| {
            let before = st.secgroups.len();
            st.secgroups.retain(|g| g.id != id);
            if st.secgroups.len() == before {
                return Err(EmulatorError::NotFound {
                    kind: "security group",
                    id: id.to_owned(),
                });
            }
            for s in &mut st.servers {
                s.security_groups.retain(|g| g != id);
            }
            Ok(())
        })
    }

    /// Changes a server in place (drift), e.g. its security groups. The closure must not call
    /// back into `Control`.
    pub fn edit_server(&self, id: &str, f: impl FnOnce(&mut Server)) -> Result<(), EmulatorError> {
        self.with(|st| {
            let s = st.servers.iter_mut().find(|s| s.id == id).ok_or_else(|| {
                EmulatorError::NotFound {
                    kind: "server",
                    id: id.to_owned(),
                }
            })?;
            f(s);
            Ok(())
        })
    }

    /// Back to the fixture: objects, journal, faults and rate-limit buckets (tokens stay valid).
    pub fn reset(&self) {
        self.with(|st| {
            st.load_fixture();
            st.journal.clear();
            st.faults.clear();
        });
    }

    /// Invalidates every issued access token.
    pub fn expire_tokens(&self) {
        self.with(|st| st.tokens.clear());
    }

    /// Adds a fault.
    pub fn add_fault(&self, fault: Fault) {
        self.with(|st| st.faults.push(fault));
    }

    /// Faults still pending.
    pub fn faults(&self) -> Vec<Fault> {
        self.with(|st| st.faults.clone())
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.with(|st| st.faults.clear());
    }

    /// The most recent calls (at most `EmulatorConfig::journal_capacity`), oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.with(|st| st.journal.entries())
    }

    /// Forgets the journal and the counters.
    pub fn clear_journal(&self) {
        self.with(|st| st.journal.clear());
    }

    /// Number of calls of `method` on `template`, any status (exact, never truncated).
    pub fn count(&self, method: &str, template: &str) -> u64 {
        self.with(|st| st.journal.count(method, template, None))
    }

    /// Number of calls of `method` on `template` answered with `status` (0 = dropped).
    pub fn count_status(&self, method: &str, template: &str, status: u16) -> u64 {
        self.with(|st| st.journal.count(method, template, Some(status)))
    }

    /// Counters by `"METHOD template"` and status.
    pub fn counters(&self) -> Counters {
        self.with(|st| st.journal.counters())
    }

    /// Number of calls to the VNGCloud API (IAM included).
    pub fn total_calls(&self) -> u64 {
        self.with(|st| st.journal.total())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_replaces_adds_and_removes_keys() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(
            &mut v,
            &json!({"a": 5, "b": {"c": null, "x": 1}, "e": [2, 3]}),
        );
        assert_eq!(v, json!({"a": 5, "b": {"d": 3, "x": 1}, "e": [2, 3]}));
    }
}
