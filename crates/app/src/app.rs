//! The `run` subcommand: probes and metrics server, leader election, the controllers,
//! graceful shutdown.

use std::sync::Arc;

use kube::core::NamespaceResourceScope;
use kube::{Resource, config::KubeConfigOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use vlb_domain::model::{LoadBalancerConfigView, NodeSecurityGroupView};

use crate::cli::{KubeArgs, RunArgs};
use crate::controllers::{Context, Settings, Wiring};
use crate::leader::{Leadership, LeaseSettings};
use crate::metrics::Metrics;
use crate::operator::{self, Crd, RunOptions};
use crate::ops::{self, OpsState, Readiness};
use crate::policy::Backoff;

/// Error of a subcommand.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A part of the operator is not wired in this build (not retried).
    #[error("not wired yet in this build: {0}")]
    NotWired(String),
    /// Bad configuration (not retried: fix the flags or the mounted Secret).
    #[error("configuration: {0}")]
    Config(String),
    /// The Kubernetes API could not be reached or configured (retried by restarting).
    #[error("kubernetes: {0}")]
    Kube(String),
    /// Leader election failed (retried by restarting).
    #[error(transparent)]
    Leader(#[from] crate::leader::LeaderError),
    /// Leadership was lost: the process exits so a fresh start competes again.
    #[error("leadership lost")]
    LeadershipLost,
    /// The probe server failed.
    #[error("metrics/probe server: {0}")]
    Server(#[from] std::io::Error),
}

/// A Kubernetes client from the flags: `--in-cluster`, `--kubeconfig` (+ `--context`), or
/// the usual inference (KUBECONFIG, ~/.kube/config, in-cluster).
/// Every call is counted in `metrics` (`rest_client_requests_total`).
pub async fn kube_client(args: &KubeArgs, metrics: &Metrics) -> Result<kube::Client, AppError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = if args.in_cluster {
        kube::Config::incluster().map_err(|e| AppError::Kube(e.to_string()))?
    } else if let Some(path) = &args.kubeconfig {
        let file = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| AppError::Kube(format!("{}: {e}", path.display())))?;
        kube::Config::from_custom_kubeconfig(file, &options)
            .await
            .map_err(|e| AppError::Kube(e.to_string()))?
    } else if args.context.is_some() {
        kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| AppError::Kube(e.to_string()))?
    } else {
        kube::Config::infer()
            .await
            .map_err(|e| AppError::Kube(e.to_string()))?
    };
    let builder =
        kube::client::ClientBuilder::try_from(config).map_err(|e| AppError::Kube(e.to_string()))?;
    Ok(builder
        .with_layer(&crate::kube_metrics::CountCallsLayer::new(metrics))
        .build())
}

/// The VNGCloud client from the flags and the credentials, its call counters registered in
/// `metrics` (`vngcloud_requests_total`, `vngcloud_request_duration_seconds`,
/// `vngcloud_retries_total`).
pub fn cloud_client(
    args: &crate::cli::CloudArgs,
    credentials: &crate::credentials::Credentials,
    metrics: &Metrics,
) -> Result<vlb_cloud_adapter::VngCloudClient, AppError> {
    let config = vlb_cloud_adapter::CloudConfig::new(
        &args.iam_endpoint,
        &args.vlb_endpoint,
        &args.vserver_endpoint,
        &args.project_id,
        &credentials.client_id,
        credentials.client_secret.expose(),
    );
    let client = vlb_cloud_adapter::VngCloudClient::new(config)
        .map_err(|e| AppError::Config(e.to_string()))?;
    metrics.with_registry(|r| client.register_metrics(r));
    Ok(client)
}

/// What `run` needs beyond its flags: the adapters' wiring and the CRD kinds.
pub struct Parts<L, N> {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Ports per reconcile.
    pub wiring: Arc<dyn Wiring>,
    /// The LoadBalancerConfig kind.
    pub lbc: Crd<L, LoadBalancerConfigView>,
    /// The NodeSecurityGroup kind.
    pub nsg: Crd<N, NodeSecurityGroupView>,
    /// Metrics (the cloud adapter's counters already registered).
    pub metrics: Metrics,
}

/// Runs the operator until SIGTERM/SIGINT (`shutdown`): serves probes and metrics,
/// competes for the lease, reconciles while leading; on shutdown stops taking work, lets
/// in-flight reconciles finish within `--shutdown-timeout`, releases the lease.
pub async fn run_operator<L, N>(
    args: &RunArgs,
    parts: Parts<L, N>,
    shutdown: CancellationToken,
) -> Result<(), AppError>
where
    L: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    N: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let readiness = Readiness::new();
    let state = OpsState {
        metrics: parts.metrics.clone(),
        readiness: readiness.clone(),
    };
    let server_stop = CancellationToken::new();
    let (addr, server) = ops::bind(args.metrics_address, state, server_stop.clone()).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let server = tokio::spawn(server);

    let result = lead_and_reconcile(args, &parts, &readiness, &shutdown).await;

    readiness.set_shutting_down();
    server_stop.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "probe server failed"),
        Err(e) => tracing::warn!(error = %e, "probe server task failed"),
    }
    result
}

async fn lead_and_reconcile<L, N>(
    args: &RunArgs,
    parts: &Parts<L, N>,
    readiness: &Arc<Readiness>,
    shutdown: &CancellationToken,
) -> Result<(), AppError>
where
    L: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    N: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut leadership = if args.leader_elect {
        let settings = LeaseSettings {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity: args
                .identity
                .clone()
                .unwrap_or_else(crate::leader::default_identity),
            duration: args.lease_duration,
        };
        tracing::info!(lease = %settings.name, namespace = %settings.namespace, identity = %settings.identity, "competing for leadership");
        Some(Leadership::start(parts.client.clone(), &settings).await?)
    } else {
        None
    };
    readiness.set_leadership_known();
    if let Some(l) = leadership.as_mut() {
        readiness.set_standby(!l.is_leader());
        tokio::select! {
            acquired = l.acquired() => {
                if !acquired {
                    return Err(AppError::LeadershipLost);
                }
            }
            () = shutdown.cancelled() => {
                if let Some(l) = leadership {
                    l.release(args.shutdown_timeout).await;
                }
                return Ok(());
            }
        }
    }
    readiness.set_standby(false);
    parts.metrics.set_leader(true);
    tracing::info!("leading: starting the controllers");

    let ctx = Arc::new(Context::new(
        parts.client.clone(),
        vlb_domain::usecase::Config {
            cluster_id: args.cluster_id.clone(),
            vpc_id: args.vpc_id.clone(),
            load_balancer_class: args.load_balancer_class.clone(),
        },
        parts.wiring.clone(),
        parts.metrics.clone(),
        Settings {
            drift_check: args.drift_check_period,
            backoff: Backoff::default(),
        },
    ));
    let stop = shutdown.child_token();
    let controllers = operator::run(
        ctx,
        parts.lbc,
        parts.nsg,
        RunOptions {
            concurrency: args.concurrency,
            debounce: args.debounce,
        },
        readiness.clone(),
        stop.clone(),
    );
    tokio::pin!(controllers);
    let lost = async {
        match leadership.as_mut() {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    };
    let mut result = Ok(());
    tokio::select! {
        () = &mut controllers => {
            tracing::warn!("controllers stopped on their own");
        }
        () = lost => {
            tracing::error!("leadership lost: stopping the controllers");
            result = Err(AppError::LeadershipLost);
        }
        () = shutdown.cancelled() => {}
    }
    stop.cancel();
    if !crate::shutdown::drain(&mut controllers, &stop, args.shutdown_timeout).await {
        tracing::warn!(timeout = ?args.shutdown_timeout, "in-flight reconciles did not finish in time");
    }
    parts.metrics.set_leader(false);
    if let Some(l) = leadership {
        l.release(args.shutdown_timeout).await;
    }
    result
}

/// The adapters' wiring for `run`. The VNGCloud client is built (and its metrics
/// registered); the Kubernetes adapter (CRD types, `ClusterReader`, `ObjectWriter`,
/// `EventSink`) and the batch are not linked yet, so this stops with
/// [`AppError::NotWired`].
pub fn wire(
    args: &RunArgs,
    credentials: &crate::credentials::Credentials,
    _client: kube::Client,
    metrics: &Metrics,
) -> Result<std::convert::Infallible, AppError> {
    let _cloud = cloud_client(&args.cloud, credentials, metrics)?;
    Err(AppError::NotWired(
        "the Kubernetes adapter (CRD types, ClusterReader/ObjectWriter/EventSink) and the \
         batch are not linked yet"
            .to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::Scope;
    use clap::Parser;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct NoWiring;
    impl Wiring for NoWiring {
        fn scope(&self) -> Scope {
            unreachable!("no object is reconciled without an API server")
        }
    }

    async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn cloud_client_reaches_the_emulator_and_counts_its_calls_in_our_registry() {
        use vlb_domain::ports::LoadBalancerApi;
        let emu = vlb_vngcloud_emulator::VngEmulator::start().await.unwrap();
        let args = crate::cli::CloudArgs {
            iam_endpoint: emu.iam_url(),
            vlb_endpoint: emu.vlb_url(),
            vserver_endpoint: emu.vserver_url(),
            project_id: emu.project_id().to_owned(),
            credentials_file: "/unused".into(),
        };
        let credentials = crate::credentials::Credentials {
            client_id: emu.client_id().to_owned(),
            client_secret: crate::credentials::ClientSecret::new(emu.client_secret()),
        };
        let metrics = Metrics::new();
        let client = cloud_client(&args, &credentials, &metrics).unwrap();
        let found = client.find_load_balancer_by_name("vks_none").await.unwrap();
        assert!(found.is_none());
        let text = metrics.encode().unwrap();
        assert!(text.contains("vngcloud_requests_total{"), "{text}");
        assert!(
            !text.contains(emu.client_secret()),
            "the client secret must not reach the metrics"
        );
    }

    #[tokio::test]
    async fn run_serves_probes_and_stops_gracefully_on_shutdown() {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let cli = crate::cli::Cli::try_parse_from([
            "vlb-controller",
            "run",
            "--cluster-id",
            "c1",
            "--project-id",
            "p1",
            "--credentials-file",
            "/nonexistent",
            "--leader-elect",
            "false",
            "--metrics-address",
            &addr,
            // Caches never sync here, so kube-runtime holds its runner: the deadline ends it.
            "--shutdown-timeout",
            "1s",
        ])
        .unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("run expected")
        };
        // An API server that refuses connections: caches never sync.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let parts = Parts {
            client,
            wiring: Arc::new(NoWiring),
            lbc: Crd::<ConfigMap, LoadBalancerConfigView> {
                view: |_| LoadBalancerConfigView::default(),
            },
            nsg: Crd::<ConfigMap, NodeSecurityGroupView> {
                view: |_| NodeSecurityGroupView::default(),
            },
            metrics: Metrics::new(),
        };
        let token = CancellationToken::new();
        let run = tokio::spawn({
            let token = token.clone();
            async move { run_operator(&args, parts, token).await }
        });
        let socket: std::net::SocketAddr = addr.parse().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let ready = loop {
            if let Some(r) = http_get(socket, "/readyz").await {
                break r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "probe server never answered"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(ready.contains("caches not synced"), "{ready}");
        let health = http_get(socket, "/healthz").await.unwrap();
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let metrics = http_get(socket, "/metrics").await.unwrap();
        assert!(metrics.contains("vlb_leader 1"), "{metrics}");

        token.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("run did not stop within the shutdown deadline")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(
            http_get(socket, "/healthz").await.is_none(),
            "server still up"
        );
    }
}
