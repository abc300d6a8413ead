//! An in-memory Kubernetes API server that kube-rs and `kubectl` cannot tell from the real one.
//!
//! It follows the documented API conventions: one global, monotonically increasing
//! resourceVersion, optimistic concurrency, generation, the status subresource, finalizers,
//! ownerReference garbage collection, watch with bookmarks and 410 Gone, paging, the patch types
//! (merge, JSON, strategic, server-side apply), CustomResourceDefinitions that start serving their
//! resource, discovery, bearer-token authentication and an optional RBAC authorizer.
//!
//! ```text
//!   operator (kube::Client, kube::runtime)     kubectl --kubeconfig PATH
//!                    |  http://127.0.0.1:PORT      |  https://127.0.0.1:PORT (same port)
//!                    v                             v
//!   +------------------------------------------------------------+
//!   | vlb-kube-emulator                                          |
//!   |  /version /api /apis /apis/{g}/{v}        discovery        |
//!   |  /api/v1/... /apis/{g}/{v}/...            resources, watch |
//!   |  /_emulator/...                           admin            |
//!   |  store: objects | resourceVersion | history | GC | CRDs   |
//!   |  journal | faults | authorizer                             |
//!   +------------------------------------------------------------+
//!                    ^
//!                    |  Journal / Faults handles (Rust), admin HTTP paths
//!         tests, benchmarks, embedded demo
//! ```
//!
//! For differential tests the crate also runs the real thing: [`ControlPlane`] starts etcd and
//! kube-apiserver (built from source by `scripts/test.d/10-control-plane.sh`) on loopback, behind
//! a [`KubeProxy`] that journals and injects faults through the same [`Journal`] and [`Faults`]
//! handles, so a test written against the emulator runs unchanged against kube-apiserver.
//!
//! Inside, `http` routes and authenticates, `store` keeps objects and the watch history and runs
//! garbage collection, `patch` / `validation` apply the semantics modules (`selector`,
//! `strategic`, `apply`, `schema`, `builtin_validation`, `rbac`, `table`, `causes`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use vlb_kube_emulator::{KubeEmulator, Verb};
//!
//! let emu = KubeEmulator::start().await?;
//! let cms: kube::Api<ConfigMap> = kube::Api::namespaced(emu.client(), "default");
//! let list = cms.list(&Default::default()).await?;
//! assert!(list.items.is_empty());
//! assert_eq!(emu.journal().count_verb(Verb::List, "configmaps"), 1);
//! # Ok(()) }
//! ```

#[allow(dead_code)]
mod apply;
#[allow(dead_code)]
mod builtin_validation;
#[allow(dead_code)]
mod causes;
mod control;
pub mod control_plane;
mod error;
mod filter;
mod http;
mod patch;
mod protobuf;
mod proxy;
#[allow(dead_code)]
mod rbac;
mod resources;
#[allow(dead_code)]
mod schema;
#[allow(dead_code)]
mod selector;
mod store;
#[allow(dead_code)]
mod strategic;
#[allow(dead_code)]
mod table;
#[cfg(test)]
mod test_support;
mod validation;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::PolicyRule;
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use control::{FaultRule, Faults, Journal, JournalEntry, Verb};
pub use control_plane::{ControlPlane, ControlPlaneError};
pub use proxy::{KubeProxy, ProxyError};

/// Parses authorizer rules from YAML or JSON text: a list of PolicyRules, or a Role /
/// ClusterRole (its `rules`); `null` means allow everything.
pub fn parse_rules(text: &str) -> Result<Option<Vec<PolicyRule>>, String> {
    let v: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    http::parse_rules(&v)
}

use crate::resources::ResourceType;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the socket failed; retrying with another address (or port 0) may help.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing the kubeconfig failed; not retryable until the path is writable.
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Configuration of an emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on (`127.0.0.1:0` by default: an ephemeral port).
    pub addr: SocketAddr,
    /// Bearer token clients must send.
    pub token: String,
    /// Where to write the kubeconfig (a temporary file, removed on drop, otherwise).
    pub kubeconfig_path: Option<PathBuf>,
    /// How many change events the watch history keeps (older resourceVersions answer 410).
    pub watch_history: usize,
    /// RBAC rules of the only identity (`None`: everything is allowed).
    pub rules: Option<Vec<PolicyRule>>,
    /// User name the authorizer's Forbidden messages name.
    pub user: String,
    /// How many requests the journal keeps (the oldest are dropped beyond).
    pub journal_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: format!("emulator-{}", uuid::Uuid::new_v4().simple()),
            kubeconfig_path: None,
            watch_history: 10_000,
            rules: None,
            user: "system:serviceaccount:default:default".to_owned(),
            journal_capacity: 1_000_000,
        }
    }
}

/// A running emulator; dropping it stops the server and ends every connection.
pub struct KubeEmulator {
    addr: SocketAddr,
    token: String,
    kubeconfig: PathBuf,
    _temp: Option<tempfile::TempPath>,
    core: http::App,
    client: Mutex<Option<kube::Client>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for KubeEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEmulator")
            .field("addr", &self.addr)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

/// The kubeconfig YAML for a server URL and a token (kubectl only sends tokens over TLS, so the
/// kubeconfig names the HTTPS side of the port, with the emulator's CA).
fn kubeconfig_yaml(url: &str, token: &str, ca_pem: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {url}\n    \
         certificate-authority-data: {ca}\n\
         contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    \
         namespace: default\ncurrent-context: emulator\npreferences: {{}}\nusers:\n- name: emulator\n  \
         user:\n    token: {token}\n"
    )
}

impl KubeEmulator {
    /// Starts on `127.0.0.1:0` with a random token and a temporary kubeconfig.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// Starts with the given configuration.
    pub async fn start_with(config: EmulatorConfig) -> Result<Self, StartError> {
        let bind = |source| StartError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind)?;
        let mut addr = listener.local_addr().map_err(bind)?;
        // Clients cannot connect to an unspecified address: name loopback instead.
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let tls = http::loopback_tls();
        let yaml = kubeconfig_yaml(&format!("https://{addr}"), &config.token, &tls.ca_pem);
        let (kubeconfig, temp) = if let Some(p) = &config.kubeconfig_path {
            std::fs::write(p, &yaml).map_err(|source| StartError::Kubeconfig {
                path: p.clone(),
                source,
            })?;
            (p.clone(), None)
        } else {
            let kc_err = |source| StartError::Kubeconfig {
                path: std::env::temp_dir(),
                source,
            };
            let mut f = tempfile::Builder::new()
                .prefix("kube-emulator-")
                .suffix(".kubeconfig")
                .tempfile()
                .map_err(kc_err)?;
            std::io::Write::write_all(&mut f, yaml.as_bytes()).map_err(kc_err)?;
            let path = f.into_temp_path();
            (path.to_path_buf(), Some(path))
        };
        let shared = Arc::new(Mutex::new(store::State::new(config.watch_history)));
        let journal = Journal::new(config.journal_capacity);
        let faults = Faults {
            state: Arc::default(),
            watches: control::WatchControl::Store(shared.clone()),
        };
        let core = Arc::new(http::Core {
            shared,
            journal,
            faults,
            token: config.token.clone(),
            user: config.user.clone(),
            rules: RwLock::new(config.rules.map(rbac::Authorizer::new)),
            addr,
        });
        let router = http::router(core.clone());
        let tls = tls.acceptor;
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(http::serve_connection(stream, router.clone(), tls.clone()));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            token: config.token,
            kubeconfig,
            _temp: temp,
            core,
            client: Mutex::new(None),
            shutdown: Some(tx),
            task,
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The kubeconfig written at start (server URL, bearer token, namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A `kube::Client` authenticated for this server (default namespace `default`).
    ///
    /// Must be called inside a Tokio runtime (the client spawns its request buffer task).
    pub fn client(&self) -> kube::Client {
        let mut cached = self.client.lock();
        if let Some(c) = cached.as_ref() {
            return c.clone();
        }
        let c = build_client(&self.url(), &self.token);
        *cached = Some(c.clone());
        c
    }

    /// The request journal (a cheap handle).
    pub fn journal(&self) -> Journal {
        self.core.journal.clone()
    }

    /// Fault injection (a cheap handle).
    pub fn faults(&self) -> Faults {
        self.core.faults.clone()
    }

    /// The stored objects of a resource (`group` is `""` for core, `resource` the plural), read
    /// out of band: not journaled, no faults, no latency. Sorted by namespace and name.
    pub fn objects(&self, group: &str, resource: &str) -> Vec<Value> {
        let st = self.core.shared.lock();
        let Some(rt) = st
            .types()
            .into_iter()
            .find(|t| t.group == group && t.plural == resource)
        else {
            return Vec::new();
        };
        let (objs, _) = st.snapshot(&rt, None, None);
        drop(st);
        objs.iter()
            .map(|o| present(&rt, &rt.storage_version, (**o).clone()))
            .collect()
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.core.shared.lock().resource_version()
    }

    /// Replaces the authorizer's rules (cluster-wide, as bound by a ClusterRoleBinding); `None`
    /// allows everything.
    pub fn set_authorizer_rules(&self, rules: Option<Vec<PolicyRule>>) {
        *self.core.rules.write() = rules.map(rbac::Authorizer::new);
    }

    /// Adds rules that apply only to requests in `namespace` (a Role bound by a RoleBinding).
    /// When everything was allowed, the authorizer starts enforcing with no cluster-wide rules.
    pub fn add_namespaced_authorizer_rules(&self, namespace: &str, rules: Vec<PolicyRule>) {
        let mut current = self.core.rules.write();
        let base = current.take().unwrap_or_default();
        *current = Some(base.with_namespaced_rules(namespace, rules));
    }
}

#[allow(clippy::expect_used)]
fn build_client(url: &str, token: &str) -> kube::Client {
    // The URL is `http://127.0.0.1:PORT` built by us and the auth info a plain token: neither
    // can fail to parse, and an http client needs no TLS set-up.
    let uri: ::http::Uri = url.parse().expect("emulator URL is a valid URI");
    let mut config = kube::Config::new(uri);
    "default".clone_into(&mut config.default_namespace);
    config.auth_info =
        serde_json::from_value(json!({ "token": token })).expect("token auth info deserializes");
    kube::Client::try_from(config).expect("client for the emulator URL")
}

impl Drop for KubeEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
        self.core.shared.lock().close_watches();
    }
}

/// The object as served in `version` (custom resources are stored in their storage version and
/// converted with the `None` strategy: only `apiVersion` changes).
pub(crate) fn present(rt: &ResourceType, version: &str, mut obj: Value) -> Value {
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), json!(rt.api_version(version)));
        m.insert("kind".into(), json!(rt.kind));
    }
    obj
}

/// A `meta.k8s.io/v1` Table of objects (for `kubectl get`): the kind's printer columns, or the
/// CRD version's additionalPrinterColumns.
pub(crate) fn table_of(
    rt: &ResourceType,
    version: &str,
    objects: &[Value],
    list_meta: &Value,
    include_object: &str,
) -> Value {
    let cols = match &rt.crd {
        Some(c) => table::TableColumns::from_printer_columns(
            c.columns.get(version).map_or(&[][..], Vec::as_slice),
        )
        .unwrap_or_else(|_| table::TableColumns::default_columns()),
        None => table::TableColumns::for_builtin(&rt.kind),
    };
    table::to_table(
        &cols,
        objects,
        list_meta.clone(),
        include_object,
        jiff::Timestamp::now(),
    )
}
