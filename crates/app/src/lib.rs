//! `vlb-controller`: the operator binary. It wires the pure domain use cases to the
//! Kubernetes adapter, the per-reconcile batch and the VNGCloud adapter, and adds what an
//! operator needs to run: CLI, logging, metrics and probes, leader election, graceful
//! shutdown.
//!
//! ```text
//!             ┌──────────────────────── vlb-controller run ───────────────────────┐
//!  SIGTERM ──►│ shutdown token ─► controllers stop taking work, in-flight finish  │
//!             │                                                                   │
//!  Lease   ◄──│ leader election (kube-lease-manager): only the leader reconciles  │
//!             │                                                                   │
//!  watches ──►│ Controller<Service>  ──┐ finalizer helper, span per object key,   │
//!  (kube-rs)  │ Controller<LBC>      ──┤ one batch flush per reconcile,           │
//!  Node/EPS ─►│ Controller<NSG>      ──┘ per-load-balancer lock, error policy     │
//!  (debounced)│            │                                                      │
//!             │            ▼                                                      │
//!             │   vlb-domain use cases ──► ports ──► vlb-k8s-adapter  (cluster)   │
//!             │                                 ├──► vlb-batch      (status)    │
//!             │                                 └──► vlb-cloud-adapter (VNGCloud)│
//!             │                                                                   │
//!  :8080   ◄──│ axum: /metrics (prometheus-client), /healthz, /readyz             │
//!             └───────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Modules: [`cli`] (flags), [`logging`], [`credentials`] (mounted Secret, redacted),
//! [`metrics`] (controller-runtime names), [`kube_metrics`] (Kubernetes call counters),
//! [`ops`] (probe server), [`shutdown`], [`leader`] (lease), [`policy`] (error classes →
//! requeue), [`locks`] (serialised deployments per load balancer), [`views`] (watched
//! objects → domain views), [`controllers`] (the reconcile engine), [`operator`] (the three
//! kube-runtime controllers), [`app`] (the `run` subcommand), [`demo`] (the demo's fixture
//! and table).
//!
//! Wiring status: `run` reads the credentials, builds its kube client (calls counted) and
//! the VNGCloud client (metrics registered), then stops with "not wired" (exit 3) until the
//! Kubernetes adapter and the batch are linked in [`app::wire`];
//! `demo`, `manifests`, `install` and `uninstall` say "not wired" and exit 3.

use std::process::ExitCode;

pub mod app;
pub mod cli;
pub mod controllers;
pub mod credentials;
pub mod demo;
pub mod kube_metrics;
pub mod leader;
pub mod locks;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod ops;
pub mod policy;
pub mod shutdown;
pub mod views;

use app::AppError;
use cli::{Cli, Command};

/// Exit code of a subcommand that is not wired yet (2 is a configuration error, 1 any
/// other failure).
pub const EXIT_NOT_WIRED: u8 = 3;

/// Runs the CLI; returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    if let Command::Version = cli.command {
        println!("{}", version());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = logging::init(&cli.log) {
        eprintln!("vlb-controller: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vlb-controller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli.command))
}

/// `vlb-controller <version>`.
pub fn version() -> String {
    format!("vlb-controller {}", env!("CARGO_PKG_VERSION"))
}

async fn dispatch(command: Command) -> ExitCode {
    let result = match command {
        Command::Version => Ok(()),
        Command::Run(args) => run(&args).await,
        Command::Demo(_) => Err(AppError::NotWired(
            "demo: needs the Kubernetes emulator and the adapters".to_owned(),
        )),
        Command::Manifests(_) => Err(AppError::NotWired(
            "manifests: needs the Kubernetes adapter's install set".to_owned(),
        )),
        Command::Install(_) | Command::Uninstall(_) => Err(AppError::NotWired(
            "install/uninstall: needs the Kubernetes adapter's ordered apply/delete".to_owned(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ AppError::NotWired(_)) => {
            eprintln!("vlb-controller: {e}; nothing was done");
            ExitCode::from(EXIT_NOT_WIRED)
        }
        Err(e @ AppError::Config(_)) => {
            eprintln!("vlb-controller: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("vlb-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &cli::RunArgs) -> Result<(), AppError> {
    let credentials = credentials::load(&args.cloud.credentials_file)
        .map_err(|e| AppError::Config(e.to_string()))?;
    tracing::info!(
        client_id = %credentials.client_id,
        project_id = %args.cloud.project_id,
        cluster_id = %args.cluster_id,
        "starting"
    );
    let metrics = metrics::Metrics::new();
    let client = app::kube_client(&args.kube, &metrics).await?;
    match app::wire(args, &credentials, client, &metrics)? {}
}
