//! The subcommands besides `version`: `run` (probes and metrics server, leader election,
//! the controllers, graceful shutdown), `manifests`, `install`, `uninstall`, and the
//! error they end with ([`AppError`], mapped to the exit code).

use std::sync::Arc;

use kube::config::KubeConfigOptions;
use tokio_util::sync::CancellationToken;

use crate::cli::{KubeArgs, RunArgs};
use crate::embedded::{Operator, OperatorConfig};
use crate::metrics::Metrics;
use crate::probes::{self, OpsState, Readiness};

/// Error of a subcommand.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad configuration (not retried: fix the flags or the mounted Secret).
    #[error("configuration: {0}")]
    Config(String),
    /// The Kubernetes API could not be reached or configured (retried by restarting).
    #[error("kubernetes: {0}")]
    Kube(String),
    /// Leader election failed (retried by restarting).
    #[error(transparent)]
    Leader(#[from] crate::leader::LeaderError),
    /// The leader election stopped (retried by restarting).
    #[error("leader election stopped")]
    LeadershipLost,
    /// Graceful shutdown did not finish within its deadline (the rest was aborted).
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimedOut(std::time::Duration),
    /// Installing or uninstalling the operator failed (retried by running it again: it is
    /// idempotent).
    #[error(transparent)]
    Install(#[from] vlb_k8s_adapter::manifests::InstallError),
    /// The probe server failed.
    #[error("metrics/probe server: {0}")]
    Server(#[from] std::io::Error),
}

/// A Kubernetes client from the flags: `--in-cluster`, `--kubeconfig` (+ `--context`), or
/// the usual inference (KUBECONFIG, ~/.kube/config, in-cluster).
/// Every call is counted in `metrics` (see [`counted_client`]).
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
    counted_client(config, metrics)
}

/// A client for `config` whose calls are counted in `metrics`
/// (`rest_client_requests_total`), with kube's built-in retry layer off (as
/// `vlb_k8s_adapter::error::client_without_builtin_retry` does: the adapter's classified
/// retries are the one policy). Pass the same `metrics` in
/// [`OperatorConfig::metrics`](crate::embedded::OperatorConfig::metrics) to see the calls in
/// the operator's registry.
pub fn counted_client(
    mut config: kube::Config,
    metrics: &Metrics,
) -> Result<kube::Client, AppError> {
    config.default_retry = false;
    let builder =
        kube::client::ClientBuilder::try_from(config).map_err(|e| AppError::Kube(e.to_string()))?;
    Ok(builder
        .with_layer(&crate::kube_metrics::CountCallsLayer::new(metrics))
        .build())
}

/// The VNGCloud configuration from the flags and the credentials (default timeouts and
/// retries, pacing from the flags).
pub fn cloud_config(
    args: &crate::cli::CloudArgs,
    credentials: &crate::credentials::Credentials,
) -> vlb_cloud_adapter::CloudConfig {
    let mut config = vlb_cloud_adapter::CloudConfig::new(
        &args.iam_endpoint,
        &args.vlb_endpoint,
        &args.vserver_endpoint,
        &args.project_id,
        &credentials.client_id,
        credentials.client_secret.expose(),
    );
    config.pacing = std::num::NonZeroU32::new(args.cloud_requests_per_second).map(|per_second| {
        vlb_cloud_adapter::Pacing {
            per_second,
            burst: std::num::NonZeroU32::new(args.cloud_burst).unwrap_or(std::num::NonZeroU32::MIN),
        }
    });
    config
}

/// The embedded operator's configuration from the `run` flags.
pub fn operator_config(
    args: &RunArgs,
    cloud: vlb_cloud_adapter::CloudConfig,
    metrics: &Metrics,
    readiness: &Arc<Readiness>,
) -> OperatorConfig {
    OperatorConfig {
        vpc_id: args.vpc_id.clone(),
        load_balancer_class: args.load_balancer_class.clone(),
        service_address: args.service_address.into(),
        concurrency: args.concurrency,
        debounce: args.debounce,
        drift_period: args.drift_check_period,
        leader_election: args.leader_elect,
        identity: args
            .identity
            .clone()
            .unwrap_or_else(crate::leader::default_identity),
        lease_name: args
            .lease_name
            .clone()
            .unwrap_or_else(|| crate::leader::go_lease_name(&args.cluster_id)),
        lease_namespace: args.lease_namespace.clone(),
        lease_duration: args.lease_duration,
        shutdown_timeout: args.shutdown_timeout,
        metrics: Some(metrics.clone()),
        readiness: Some(readiness.clone()),
        ..OperatorConfig::new(args.cluster_id.clone(), cloud)
    }
}

/// `vlb-controller run`: serves probes and metrics, starts the operator (watches, leader
/// election, controllers) and runs it until `shutdown` (SIGTERM/SIGINT); then stops
/// taking work, lets in-flight reconciles finish within `--shutdown-timeout` and releases
/// the lease.
pub async fn run(args: &RunArgs, shutdown: CancellationToken) -> Result<(), AppError> {
    let credentials = crate::credentials::load(&args.cloud.credentials_file)
        .map_err(|e| AppError::Config(e.to_string()))?;
    tracing::info!(
        client_id = %credentials.client_id,
        project_id = %args.cloud.project_id,
        cluster_id = %args.cluster_id,
        "starting"
    );
    let metrics = Metrics::new();
    let readiness = Readiness::new();
    let state = OpsState {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
    };
    let server_stop = CancellationToken::new();
    let (addr, server) = probes::bind(args.metrics_address, state, server_stop.clone()).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let server = tokio::spawn(server);

    let result = async {
        let client = kube_client(&args.kube, &metrics).await?;
        let config = operator_config(
            args,
            cloud_config(&args.cloud, &credentials),
            &metrics,
            &readiness,
        );
        let operator = tokio::select! {
            started = Operator::start(client, config) => started?,
            () = shutdown.cancelled() => return Ok(()),
        };
        tokio::select! {
            () = operator.stopped() => tracing::error!("the operator stopped on its own"),
            () = shutdown.cancelled() => {}
        }
        operator.shutdown().await
    }
    .await;

    readiness.set_shutting_down();
    server_stop.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "probe server failed"),
        Err(e) => tracing::warn!(error = %e, "probe server task failed"),
    }
    result
}

/// The install set's options from the flags.
pub fn manifest_options(args: &crate::cli::ManifestsArgs) -> vlb_k8s_adapter::ManifestOptions {
    let mut settings: std::collections::BTreeMap<String, String> =
        args.settings.iter().cloned().collect();
    if let Some(id) = &args.cluster_id {
        settings.insert("VLB_CLUSTER_ID".to_owned(), id.clone());
    }
    if let Some(id) = &args.project_id {
        settings.insert("VLB_PROJECT_ID".to_owned(), id.clone());
    }
    vlb_k8s_adapter::ManifestOptions {
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        credentials_secret: args.credentials_secret.clone(),
        replicas: args.replicas,
        settings,
        shutdown_timeout: args.shutdown_timeout,
    }
}

/// `vlb-controller manifests`: the install set as a multi-document YAML stream.
pub fn manifests_yaml(args: &crate::cli::ManifestsArgs) -> Result<String, AppError> {
    let set = vlb_k8s_adapter::manifests::manifests(&manifest_options(args));
    vlb_k8s_adapter::manifests::to_yaml(&set).map_err(|e| AppError::Config(e.to_string()))
}

/// `vlb-controller install` / `uninstall`: applies the install set in kind order, or
/// deletes it in reverse order (both idempotent), and prints what was done.
pub async fn install(args: &crate::cli::InstallArgs, remove: bool) -> Result<(), AppError> {
    let client = kube_client(&args.kube, &Metrics::new()).await?;
    let options = manifest_options(&args.manifests);
    let report = if remove {
        vlb_k8s_adapter::uninstall(&client, &options).await?
    } else {
        vlb_k8s_adapter::install(&client, &options).await?
    };
    for object in &report.objects {
        let verb = if !remove {
            "applied"
        } else if report.already_gone.contains(object) {
            "already absent"
        } else {
            "deleted"
        };
        println!("{object} {verb}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    #[test]
    fn cloud_pacing_follows_the_flags_and_zero_turns_it_off() {
        let credentials = crate::credentials::Credentials {
            client_id: "id".to_owned(),
            client_secret: crate::credentials::ClientSecret::new("secret"),
        };
        let parse = |extra: &[&str]| {
            let mut argv = vec![
                "vlb-controller",
                "--project-id",
                "p",
                "--credentials-file",
                "/c",
            ];
            argv.extend_from_slice(extra);
            #[derive(Parser)]
            struct Wrap {
                #[command(flatten)]
                cloud: crate::cli::CloudArgs,
            }
            Wrap::parse_from(argv).cloud
        };
        let default = cloud_config(&parse(&[]), &credentials);
        let pacing = default.pacing.unwrap();
        assert_eq!((pacing.per_second.get(), pacing.burst.get()), (16, 10));
        let set = cloud_config(
            &parse(&["--cloud-requests-per-second", "5", "--cloud-burst", "2"]),
            &credentials,
        );
        let pacing = set.pacing.unwrap();
        assert_eq!((pacing.per_second.get(), pacing.burst.get()), (5, 2));
        let off = cloud_config(&parse(&["--cloud-requests-per-second", "0"]), &credentials);
        assert!(off.pacing.is_none());
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
            cloud_requests_per_second: 16,
            cloud_burst: 10,
        };
        let credentials = crate::credentials::Credentials {
            client_id: emu.client_id().to_owned(),
            client_secret: crate::credentials::ClientSecret::new(emu.client_secret()),
        };
        let metrics = Metrics::new();
        let client =
            vlb_cloud_adapter::VngCloudClient::new(cloud_config(&args, &credentials)).unwrap();
        metrics.with_registry(|r| client.register_metrics(r));
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
    async fn run_serves_probes_while_caches_sync_and_stops_on_shutdown() {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        std::fs::write(&creds, "client-id=id\nclient-secret=s3cr3t\n").unwrap();
        // An API server that refuses connections: caches never sync.
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
             http://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    \
             user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
        )
        .unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "vlb-controller",
            "run",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--cluster-id",
            "c1",
            "--project-id",
            "p1",
            "--credentials-file",
            creds.to_str().unwrap(),
            "--leader-elect",
            "false",
            "--metrics-address",
            &addr,
            "--shutdown-timeout",
            "1s",
        ])
        .unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("run expected")
        };
        let token = CancellationToken::new();
        let run = tokio::spawn({
            let token = token.clone();
            async move { run(&args, token).await }
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
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(ready.contains("caches not synced"), "{ready}");
        let health = http_get(socket, "/healthz").await.unwrap();
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let metrics = http_get(socket, "/metrics").await.unwrap();
        assert!(metrics.contains("vlb_leader 0"), "{metrics}");
        assert!(!metrics.contains("s3cr3t"));

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
