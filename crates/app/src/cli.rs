//! Command line: subcommands and flags, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `vlb-controller`: the Kubernetes operator for VNGCloud load balancers.
#[derive(Debug, Parser)]
#[command(name = "vlb-controller", version, about, long_about = None)]
pub struct Cli {
    /// Logging flags (valid for every subcommand).
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator: watch Services, LoadBalancerConfigs and NodeSecurityGroups and
    /// converge the VNGCloud load balancers (only the elected leader reconciles).
    Run(Box<RunArgs>),
    /// Print the install set (CRDs, RBAC, Deployment) as YAML on standard output.
    Manifests(ManifestsArgs),
    /// Apply the install set to a cluster, in kind order (idempotent).
    Install(InstallArgs),
    /// Delete the install set from a cluster, in reverse kind order (idempotent).
    Uninstall(InstallArgs),
    /// Print the version and exit.
    Version,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging flags.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format: `text` for humans, `json` for log collectors.
    #[arg(long, global = true, env = "VLB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level or filter directives, `RUST_LOG` syntax (e.g. `info`,
    /// `vlb_app=debug,kube=warn`).
    #[arg(long, global = true, env = "VLB_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// How to reach the Kubernetes API server.
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Path of a kubeconfig file; when absent, `KUBECONFIG`, `~/.kube/config`, then the
    /// in-cluster service account are tried in that order.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, env = "VLB_KUBE_CONTEXT")]
    pub context: Option<String>,
    /// Use the in-cluster service account only (ignore any kubeconfig).
    #[arg(long, env = "VLB_IN_CLUSTER", conflicts_with_all = ["kubeconfig", "context"])]
    pub in_cluster: bool,
}

/// How to reach VNGCloud.
#[derive(Debug, Clone, Args)]
pub struct CloudArgs {
    /// VNGCloud IAM endpoint (OAuth2 client-credentials token).
    #[arg(
        long,
        env = "VLB_IAM_ENDPOINT",
        default_value = "https://iamapis.vngcloud.vn/accounts-api"
    )]
    pub iam_endpoint: String,
    /// VNGCloud vLB endpoint (load balancers, listeners, pools).
    #[arg(
        long,
        env = "VLB_VLB_ENDPOINT",
        default_value = "https://hcm-3.api.vngcloud.vn/vserver/vlb-gateway"
    )]
    pub vlb_endpoint: String,
    /// VNGCloud vServer endpoint (servers, subnets, security groups).
    #[arg(
        long,
        env = "VLB_VSERVER_ENDPOINT",
        default_value = "https://hcm-3.api.vngcloud.vn/vserver/vserver-gateway"
    )]
    pub vserver_endpoint: String,
    /// VNGCloud project id the load balancers belong to.
    #[arg(long, env = "VLB_PROJECT_ID")]
    pub project_id: String,
    /// Credentials: a mounted Secret directory (files `client-id` and `client-secret`, or
    /// `clientID` and `clientSecret`) or a file of `client-id=...` / `client-secret=...`
    /// lines. The secret is never logged.
    #[arg(long, env = "VLB_CREDENTIALS_FILE")]
    pub credentials_file: PathBuf,
    /// Sustained cloud requests per second this operator sends (the project's limit is about
    /// 1000 a minute, shared with every other client of the project); 0 turns pacing off.
    #[arg(long, env = "VLB_CLOUD_REQUESTS_PER_SECOND", default_value_t = 16)]
    pub cloud_requests_per_second: u32,
    /// Cloud requests allowed at once after a quiet period.
    #[arg(long, env = "VLB_CLOUD_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub cloud_burst: u32,
}

/// Flags of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Kubernetes access.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// VNGCloud access.
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Id of this cluster: names load balancers and tags those this cluster created (the
    /// provenance record that protects other clusters' load balancers).
    #[arg(long, env = "VLB_CLUSTER_ID")]
    pub cluster_id: String,
    /// VPC (network) id of the cluster; when empty it is read from the nodes' servers.
    #[arg(long, env = "VLB_VPC_ID", default_value = "")]
    pub vpc_id: String,
    /// `spec.loadBalancerClass` handled; when unset only Services without a class are.
    #[arg(long, env = "VLB_LOAD_BALANCER_CLASS")]
    pub load_balancer_class: Option<String>,
    /// How a Service's address is written on its status: `nip-io` (hostname
    /// `<ip>.nip.io`, as the Go controller writes it), `ip-proxy` (the IP with
    /// `ipMode: Proxy`, Kubernetes 1.30+) or `ip` (the bare IP).
    #[arg(long, env = "VLB_SERVICE_ADDRESS", value_enum, default_value_t = ServiceAddressArg::NipIo)]
    pub service_address: ServiceAddressArg,
    /// Reconciles running at once, per controller (Service, LoadBalancerConfig,
    /// NodeSecurityGroup).
    #[arg(long, env = "VLB_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Period after which every object is reconciled again to repair drift made out of
    /// band (e.g. `10m`, `1h`, `90s`).
    #[arg(long, env = "VLB_DRIFT_CHECK_PERIOD", default_value = "10m", value_parser = parse_duration)]
    pub drift_check_period: Duration,
    /// Quiet time collecting Node and EndpointSlice changes before the Services they affect
    /// are reconciled (a rolling node upgrade becomes one reconcile, not one per node).
    #[arg(long, env = "VLB_DEBOUNCE", default_value = "5s", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Address of the metrics and probe server (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, env = "VLB_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// Leader election; disable only when a single replica runs.
    #[arg(long, env = "VLB_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the Lease used for leader election; default: the Go controller's,
    /// `n-<cluster-id>-n.n--n.lbc.vks.vngcloud.vn`, so vlb and the Go controller never
    /// reconcile at once (see the README's takeover section).
    #[arg(long, env = "VLB_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Namespace of the Lease: the namespace the Go controller runs in, to share its Lease.
    #[arg(long, env = "VLB_LEASE_NAMESPACE", default_value = "kube-system")]
    pub lease_namespace: String,
    /// Lease duration: a standby takes over this long after the leader stops renewing.
    #[arg(long, env = "VLB_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// Identity in the Lease (default: the host name, i.e. the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// On SIGTERM/SIGINT, how long in-flight reconciles may run before the process exits.
    #[arg(long, env = "VLB_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// Values of `--service-address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceAddressArg {
    /// Hostname `<ip>.nip.io` (the Go controller's form).
    NipIo,
    /// The IP with `ipMode: Proxy`.
    IpProxy,
    /// The bare IP.
    Ip,
}

impl From<ServiceAddressArg> for vlb_domain::model::ServiceAddress {
    fn from(a: ServiceAddressArg) -> Self {
        match a {
            ServiceAddressArg::NipIo => Self::NipIo,
            ServiceAddressArg::IpProxy => Self::IpProxy,
            ServiceAddressArg::Ip => Self::Ip,
        }
    }
}

/// Flags of `manifests` (and of `install` / `uninstall`): what the install set contains.
#[derive(Debug, Clone, Args)]
pub struct ManifestsArgs {
    /// Image of the operator in the Deployment.
    #[arg(long, env = "VLB_IMAGE", default_value = concat!("ghcr.io/vlb-operator/vlb-controller:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Namespace the operator is installed in (created by `install`, deleted by
    /// `uninstall`: use a namespace of its own).
    #[arg(long, env = "VLB_NAMESPACE", default_value = "vlb-system")]
    pub namespace: String,
    /// Replicas of the Deployment (leader election picks the one that reconciles).
    #[arg(long, env = "VLB_REPLICAS", default_value_t = 2)]
    pub replicas: i32,
    /// Name of the Secret (in the operator's namespace, created by you) with the keys
    /// `client-id` and `client-secret`; mounted at /etc/vlb/credentials.
    #[arg(
        long,
        env = "VLB_CREDENTIALS_SECRET",
        default_value = "vlb-cloud-credentials"
    )]
    pub credentials_secret: String,
    /// Cluster id written into the operator's ConfigMap (`VLB_CLUSTER_ID`).
    #[arg(long = "cluster-id", env = "VLB_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// VNGCloud project id written into the operator's ConfigMap (`VLB_PROJECT_ID`).
    #[arg(long = "project-id", env = "VLB_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Shutdown timeout of the operator (`VLB_SHUTDOWN_TIMEOUT` of its container); the
    /// pod's termination grace period is 10 s longer.
    #[arg(long, env = "VLB_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Further `KEY=VALUE` settings for the ConfigMap (environment of `run`, e.g.
    /// `VLB_LOAD_BALANCER_CLASS=vngcloud.vn/vlb`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
}

/// Parses `KEY=VALUE`.
pub fn parse_setting(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    if k == "VLB_SHUTDOWN_TIMEOUT" {
        // The Deployment sets it in the container's environment (which wins over the
        // ConfigMap) and sizes the pod's grace period from it.
        return Err("use --shutdown-timeout for VLB_SHUTDOWN_TIMEOUT".to_owned());
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Flags of `install` and `uninstall`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Kubernetes access.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// What to install.
    #[command(flatten)]
    pub manifests: ManifestsArgs,
}

/// Parses a duration: `90s`, `10m`, `1h 30m`, `250ms` or ISO 8601 (`PT10M`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 90s, 10m, 1h30m)"))?;
    Duration::try_from(d).map_err(|_| format!("duration {s:?} must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vlb-controller").chain(args.iter().copied()))
    }

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut args = vec![
            "run",
            "--cluster-id",
            "k8s-1",
            "--project-id",
            "pro-1",
            "--credentials-file",
            "/etc/vlb/creds",
        ];
        args.extend_from_slice(extra);
        match parse(&args).unwrap().command {
            Command::Run(r) => *r,
            other => panic!("expected run, got {other:?}"),
        }
    }

    #[test]
    fn service_address_is_a_setting() {
        assert_eq!(
            run_args(&["--service-address", "ip-proxy"]).service_address,
            ServiceAddressArg::IpProxy
        );
        assert_eq!(
            run_args(&["--service-address", "ip"]).service_address,
            ServiceAddressArg::Ip
        );
        let bad = [
            "run",
            "--cluster-id",
            "k8s-1",
            "--project-id",
            "pro-1",
            "--credentials-file",
            "/etc/vlb/creds",
            "--service-address",
        ];
        assert!(parse(&[&bad[..], &["ip"]].concat()).is_ok());
        assert!(parse(&[&bad[..], &["dns"]].concat()).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_has_documented_defaults() {
        let r = run_args(&[]);
        assert_eq!(r.cluster_id, "k8s-1");
        assert_eq!(r.concurrency, 4);
        assert_eq!(r.drift_check_period, Duration::from_secs(600));
        assert_eq!(r.metrics_address, "0.0.0.0:8080".parse().unwrap());
        assert!(r.leader_elect);
        assert_eq!(r.load_balancer_class, None);
        assert_eq!(r.service_address, ServiceAddressArg::NipIo);
        assert_eq!(
            r.lease_name, None,
            "the Go controller's, from the cluster id"
        );
        assert_eq!(r.lease_namespace, "kube-system");
        assert!(!r.kube.in_cluster);
    }

    #[test]
    fn run_flags_override_defaults() {
        let r = run_args(&[
            "--concurrency",
            "8",
            "--drift-check-period",
            "1h 30m",
            "--load-balancer-class",
            "vngcloud.vn/vlb",
            "--leader-elect",
            "false",
            "--in-cluster",
            "--metrics-address",
            "127.0.0.1:9090",
        ]);
        assert_eq!(r.concurrency, 8);
        assert_eq!(r.drift_check_period, Duration::from_secs(5400));
        assert_eq!(r.load_balancer_class.as_deref(), Some("vngcloud.vn/vlb"));
        assert!(!r.leader_elect);
        assert!(r.kube.in_cluster);
        assert_eq!(r.metrics_address.port(), 9090);
    }

    #[test]
    fn run_without_cluster_id_is_rejected() {
        let err = parse(&["run", "--project-id", "p", "--credentials-file", "/c"]).unwrap_err();
        assert!(err.to_string().contains("--cluster-id"), "{err}");
    }

    #[test]
    fn zero_concurrency_is_rejected() {
        let err = parse(&[
            "run",
            "--cluster-id",
            "c",
            "--project-id",
            "p",
            "--credentials-file",
            "/c",
            "--concurrency",
            "0",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn in_cluster_conflicts_with_kubeconfig() {
        let err = parse(&[
            "run",
            "--cluster-id",
            "c",
            "--project-id",
            "p",
            "--credentials-file",
            "/c",
            "--in-cluster",
            "--kubeconfig",
            "/k",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn log_flags_are_global() {
        let cli = parse(&["version", "--log-format", "json", "--log-level", "debug"]).unwrap();
        assert_eq!(cli.log.log_format, LogFormat::Json);
        assert_eq!(cli.log.log_level, "debug");
        assert!(matches!(cli.command, Command::Version));
    }

    #[test]
    fn durations_parse_friendly_and_iso_forms() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("PT10M"), Ok(Duration::from_secs(600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn manifests_take_the_shutdown_timeout_as_a_flag_not_a_setting() {
        let cli = parse(&["manifests", "--shutdown-timeout", "45s"]).unwrap();
        let Command::Manifests(args) = cli.command else {
            panic!("not manifests")
        };
        assert_eq!(args.shutdown_timeout, Duration::from_secs(45));
        let err = parse(&["manifests", "--set", "VLB_SHUTDOWN_TIMEOUT=45s"]).unwrap_err();
        assert!(err.to_string().contains("--shutdown-timeout"), "{err}");
    }

    #[test]
    fn every_flag_has_help() {
        fn check(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help text");
            }
            for sub in cmd.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no about",
                    sub.get_name()
                );
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "vlb-controller");
    }
}
