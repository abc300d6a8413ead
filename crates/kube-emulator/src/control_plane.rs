//! A real control plane for tests: etcd and kube-apiserver (built from source by
//! `scripts/test.d/10-control-plane.sh`) started on loopback, with a [`KubeProxy`] in front.
//!
//! ```text
//!   tests ──kube::Client──▶ KubeProxy ──https──▶ kube-apiserver ──http──▶ etcd
//!          (admin token,    journal │ faults    token file, RBAC       temp data dir
//!           or operator)                        authorizer
//!   kubectl ──https (kubeconfig_path)──▶ KubeProxy
//! ```
//!
//! Each [`ControlPlane`] owns its etcd (temporary data directory) and apiserver (free ports,
//! certificates made with rcgen at start, a static token file with two identities: an admin in
//! `system:masters` and [`OPERATOR_USER`], which RBAC allows only what is bound to it). Both
//! processes stop when it is dropped; with `VLB_EXIT_WITH_PARENT=1` (set here) they also exit
//! on their own when the test process is gone. No controller-manager runs: no garbage
//! collector, no namespace finalization, no ServiceAccount controller (the `ServiceAccount`
//! admission plugin is off, so Pods need none).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;

use crate::{Faults, Journal, KubeProxy, StartError};

/// Environment variable naming the kube-apiserver binary.
pub const APISERVER_ENV: &str = "VLB_KUBE_APISERVER";
/// Environment variable naming the etcd binary.
pub const ETCD_ENV: &str = "VLB_ETCD";
/// User name of the operator's identity (bound to nothing at start).
pub const OPERATOR_USER: &str = "vlb-operator";
/// User name of the admin identity (group `system:masters`).
pub const ADMIN_USER: &str = "vlb-admin";

/// How long the apiserver may take to answer `/readyz` (a loaded 2-core machine is slow).
const READY_DEADLINE: Duration = Duration::from_secs(120);

/// Errors starting a control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// A binary is not configured; run `scripts/test` (or source
    /// `scripts/test.d/10-control-plane.sh`) first. Not retryable.
    #[error(
        "{var} is not set to an executable: run scripts/test, or source scripts/test.d/10-control-plane.sh"
    )]
    Missing {
        /// The environment variable.
        var: &'static str,
    },
    /// A file or process operation failed; retrying may help if it was transient.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Certificates could not be made; not retryable.
    #[error("cannot make certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A server exited before becoming ready; its log says why. Not retryable as is.
    #[error("{name} exited ({status}) before it was ready; last log lines:\n{log}")]
    Exited {
        /// Which server.
        name: &'static str,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// The apiserver did not answer `/readyz` in time; retryable on a less loaded machine.
    #[error(
        "kube-apiserver not ready after {waited:?} (last answer: {last}); last log lines:\n{log}"
    )]
    NotReady {
        /// How long it was waited for.
        waited: Duration,
        /// Last answer or error of `/readyz`.
        last: String,
        /// The end of its log.
        log: String,
    },
    /// The proxy could not start; retryable.
    #[error("cannot start the proxy: {0}")]
    Proxy(#[from] StartError),
    /// A client could not be built; not retryable.
    #[error("cannot build a client: {0}")]
    Client(#[from] kube::Error),
}

/// Paths of the two server binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// kube-apiserver.
    pub kube_apiserver: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
}

impl Binaries {
    /// From [`APISERVER_ENV`] and [`ETCD_ENV`].
    pub fn from_env() -> Result<Self, ControlPlaneError> {
        let get = |var: &'static str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_file())
                .ok_or(ControlPlaneError::Missing { var })
        };
        Ok(Self {
            kube_apiserver: get(APISERVER_ENV)?,
            etcd: get(ETCD_ENV)?,
        })
    }
}

/// One server process; killed and reaped on drop.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        dir: &Path,
    ) -> Result<Self, ControlPlaneError> {
        let log = dir.join(format!("{name}.log"));
        let io = |what: String| move |source| ControlPlaneError::Io { what, source };
        let out = std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("clone {}", log.display())))?;
        let child = Command::new(binary)
            .args(args)
            .env("VLB_EXIT_WITH_PARENT", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("start {}", binary.display())))?;
        Ok(Self { name, child, log })
    }

    /// The end of the log (for error messages).
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn exited(&mut self) -> Option<ControlPlaneError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(ControlPlaneError::Exited {
                name: self.name,
                status: status.to_string(),
                log: self.log_tail(),
            }),
            _ => None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, ControlPlaneError> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).map_err(|source| {
        ControlPlaneError::Io {
            what: "bind a free port".into(),
            source,
        }
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|source| ControlPlaneError::Io {
            what: "read a free port".into(),
            source,
        })
}

fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// PEMs of a fresh CA and of a serving certificate it signed for `127.0.0.1` and `localhost`.
struct Certificates {
    ca_pem: String,
    ca_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
    /// Key the apiserver signs service-account tokens with (PKCS#8).
    sa_key_pem: String,
    /// Its public half (kube-apiserver reads no PKCS#8 private key as a verification key).
    sa_public_pem: String,
}

fn certificates() -> Result<Certificates, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "vlb test control plane CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &ca)?;
    let sa = KeyPair::generate()?;
    Ok(Certificates {
        ca_pem: ca.pem(),
        ca_der: ca.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sa_key_pem: sa.serialize_pem(),
        sa_public_pem: sa.public_key_pem(),
    })
}

/// A running etcd + kube-apiserver pair with a proxy in front; dropping it stops all three.
pub struct ControlPlane {
    proxy: KubeProxy,
    apiserver_url: String,
    ca_pem: String,
    admin_token: String,
    operator_token: String,
    kubeconfig: PathBuf,
    admin: Mutex<Option<kube::Client>>,
    // Dropped in this order: apiserver first, then etcd, then the directory.
    _apiserver: Server,
    _etcd: Server,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("apiserver", &self.apiserver_url)
            .field("proxy", &self.proxy.url())
            .finish_non_exhaustive()
    }
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> ControlPlaneError {
    move |source| ControlPlaneError::Io { what, source }
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver from [`Binaries::from_env`] and waits until the
    /// apiserver is ready.
    pub async fn start() -> Result<Self, ControlPlaneError> {
        Self::start_with(&Binaries::from_env()?).await
    }

    /// Starts etcd and kube-apiserver from `bins` and waits until the apiserver is ready (and
    /// has made the `default/kubernetes` Service, as every cluster has). A server that exits
    /// at once (a port another test took between its choice and the bind) is retried with
    /// fresh ports, three times at most.
    pub async fn start_with(bins: &Binaries) -> Result<Self, ControlPlaneError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(bins).await {
                Err(ControlPlaneError::Exited { log, .. })
                    if attempt < 3 && log.contains("address already in use") => {}
                other => return other,
            }
        }
    }

    async fn start_once(bins: &Binaries) -> Result<Self, ControlPlaneError> {
        let dir = tempfile::Builder::new()
            .prefix("vlb-control-plane-")
            .tempdir()
            .map_err(io_err("make a temporary directory".into()))?;
        let d = dir.path();
        let certs = certificates()?;
        let write = |name: &str, text: &str| {
            let p = d.join(name);
            std::fs::write(&p, text).map_err(io_err(format!("write {}", p.display())))?;
            Ok::<_, ControlPlaneError>(p)
        };
        let admin_token = random_token();
        let operator_token = random_token();
        let tokens = write(
            "tokens.csv",
            &format!(
                "{admin_token},{ADMIN_USER},uid-admin,\"system:masters\"\n\
                 {operator_token},{OPERATOR_USER},uid-operator\n"
            ),
        )?;
        let cert = write("apiserver.crt", &certs.cert_pem)?;
        let key = write("apiserver.key", &certs.key_pem)?;
        let sa_key = write("service-account.key", &certs.sa_key_pem)?;
        let sa_public = write("service-account.pub", &certs.sa_public_pem)?;

        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let port = free_port()?;
        let s = |v: &str| v.to_owned();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = Server::spawn(
            "etcd",
            &bins.etcd,
            &[
                s("--name=default"),
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
                s("--log-level=warn"),
                // A test cluster dies with its test: durability buys nothing here.
                s("--unsafe-no-fsync"),
            ],
            d,
        )?;
        let mut apiserver = Server::spawn(
            "kube-apiserver",
            &bins.kube_apiserver,
            &[
                format!("--etcd-servers={etcd_url}"),
                s("--bind-address=127.0.0.1"),
                s("--advertise-address=127.0.0.1"),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", d.join("certs").display()),
                format!("--tls-cert-file={}", cert.display()),
                format!("--tls-private-key-file={}", key.display()),
                format!("--token-auth-file={}", tokens.display()),
                s("--authorization-mode=RBAC"),
                s("--anonymous-auth=false"),
                s("--service-account-issuer=https://127.0.0.1"),
                format!("--service-account-key-file={}", sa_public.display()),
                format!("--service-account-signing-key-file={}", sa_key.display()),
                s("--service-cluster-ip-range=10.96.0.0/16"),
                s("--endpoint-reconciler-type=none"),
                // Its Pods would wait for ServiceAccounts that only kube-controller-manager
                // (not run here) creates.
                s("--disable-admission-plugins=ServiceAccount"),
                s("--profiling=false"),
                s("--v=1"),
            ],
            d,
        )?;
        let apiserver_url = format!("https://127.0.0.1:{port}");
        let direct = direct_client(&apiserver_url, &certs.ca_der, Some(&admin_token))?;
        wait_ready(&direct, &mut etcd, &mut apiserver).await?;

        let upstream = direct_client(&apiserver_url, &certs.ca_der, None)?;
        let proxy = KubeProxy::start(upstream, admin_token.clone()).await?;
        let kubeconfig = write(
            "admin.kubeconfig",
            &crate::kubeconfig_yaml(&proxy.https_url(), &admin_token, proxy.ca_pem()),
        )?;
        Ok(Self {
            proxy,
            apiserver_url,
            ca_pem: certs.ca_pem,
            admin_token,
            operator_token,
            kubeconfig,
            admin: Mutex::new(None),
            _apiserver: apiserver,
            _etcd: etcd,
            _dir: dir,
        })
    }

    /// URL of the proxy, `http://127.0.0.1:PORT` (journaled, faults apply).
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    /// URL of the apiserver itself, `https://127.0.0.1:PORT` (nothing journaled).
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// PEM of the CA that signed the apiserver's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig for kubectl: the proxy's HTTPS side (journaled, as the emulator's
    /// kubeconfig), the admin token, namespace `default`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The admin's bearer token (`system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The bearer token of [`OPERATOR_USER`].
    pub fn operator_token(&self) -> &str {
        &self.operator_token
    }

    /// A client through the proxy as the admin (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        let mut cached = self.admin.lock();
        if let Some(c) = cached.as_ref() {
            return c.clone();
        }
        let c = crate::build_client(&self.url(), &self.admin_token);
        *cached = Some(c.clone());
        c
    }

    /// A new client through the proxy as [`OPERATOR_USER`].
    pub fn operator_client(&self) -> kube::Client {
        crate::build_client(&self.url(), &self.operator_token)
    }

    /// The proxy's request journal.
    pub fn journal(&self) -> Journal {
        self.proxy.journal()
    }

    /// The proxy's fault injection.
    pub fn faults(&self) -> Faults {
        self.proxy.faults()
    }
}

/// A client straight to the apiserver (HTTPS, trusting `ca_der`), with a token or none.
fn direct_client(
    url: &str,
    ca_der: &[u8],
    token: Option<&str>,
) -> Result<kube::Client, ControlPlaneError> {
    let uri: ::http::Uri =
        url.parse()
            .map_err(|e: ::http::uri::InvalidUri| ControlPlaneError::Io {
                what: format!("parse {url}"),
                source: std::io::Error::other(e.to_string()),
            })?;
    let mut config = kube::Config::new(uri);
    "default".clone_into(&mut config.default_namespace);
    config.root_cert = Some(vec![ca_der.to_vec()]);
    if let Some(token) = token {
        config.auth_info = serde_json::from_value(json!({ "token": token })).map_err(|e| {
            ControlPlaneError::Io {
                what: "token auth info".into(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    }
    Ok(kube::Client::try_from(config)?)
}

async fn wait_ready(
    client: &kube::Client,
    etcd: &mut Server,
    apiserver: &mut Server,
) -> Result<(), ControlPlaneError> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        if let Some(e) = etcd.exited() {
            return Err(e);
        }
        if let Some(e) = apiserver.exited() {
            return Err(e);
        }
        let req = ::http::Request::get("/readyz").body(Vec::new());
        if let Ok(req) = req {
            match client.request_text(req).await {
                Ok(text) if text.trim() == "ok" => {
                    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
                        kube::Api::namespaced(client.clone(), "default");
                    match services.get_opt("kubernetes").await {
                        Ok(Some(_)) => return Ok(()),
                        Ok(None) => last = "ready, no default/kubernetes Service yet".into(),
                        Err(e) => last = e.to_string(),
                    }
                }
                Ok(text) => last = text,
                Err(e) => last = e.to_string(),
            }
        }
        if started.elapsed() > READY_DEADLINE {
            return Err(ControlPlaneError::NotReady {
                waited: started.elapsed(),
                last,
                log: apiserver.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
