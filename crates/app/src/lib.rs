//! `vlb-controller`: the operator binary. It wires the pure domain use cases to the
//! Kubernetes adapter, the per-reconcile batch and the VNGCloud adapter, and adds what an
//! operator needs to run: CLI, logging, metrics and probes, leader election, graceful
//! shutdown.
//!
//! ```text
//!             ┌─────────────── vlb-controller run / embedded::Operator ─────────────────┐
//!  SIGTERM ──►│ shutdown token ─► controllers stop taking work, in-flight finish        │
//!             │                                                                         │
//!  Lease   ◄──│ leader election (kube-lease-manager): only the leader reconciles        │
//!             │                                                                         │
//!  one watch ►│ watches: reflector per kind ──► stores ──► KubeReader, batch reads      │
//!  per kind   │   (Service, Node, EndpointSlice,  └──► feeds (shared streams)           │
//!  (kube-rs)  │    Secret, LBC, NSG)                      │                             │
//!             │                                           ▼                             │
//!             │ Controller<Service> ◄─ Node, EndpointSlice, LBC status (debounced)      │
//!             │ Controller<LBC>     ◄─ LBCs sharing a load balancer                     │
//!             │ Controller<NSG>     ◄─ Node                                             │
//!             │   finalizer helper, span per object key, load balancer / node locks,    │
//!             │   error policy, one KubeBatch per reconcile flushed exactly once        │
//!             │            │                                                            │
//!             │            ▼                                                            │
//!             │   vlb-domain use cases ──► ports ──► vlb-k8s-adapter  (cluster)         │
//!             │                                 ├──► vlb-batch      (status, via batch) │
//!             │                                 └──► vlb-cloud-adapter (VNGCloud)       │
//!             │                                                                         │
//!  :8080   ◄──│ axum: /metrics (prometheus-client), /healthz, /readyz                   │
//!             └─────────────────────────────────────────────────────────────────────────┘
//!   the demo (crate vlb-demo) runs both emulators and this operator in-process; this
//!   crate links no emulator
//! ```
//!
//! Modules: [`cli`] (flags), [`logging`], [`credentials`] (mounted Secret, redacted),
//! [`metrics`] (controller-runtime names), [`kube_metrics`] (Kubernetes call counters),
//! [`probes`] (metrics and probe server), [`shutdown`], [`leader`] (lease), [`requeue`]
//! (error classes → when to reconcile again), [`locks`] (serialised deployments per load balancer), [`views`] (watched
//! objects → domain views), [`watches`] (one shared watch per kind), [`controllers`] (the
//! reconcile engine and the adapters' wiring), [`skip_unchanged`] (no-op applies skipped),
//! [`operator`] (the three kube-runtime controllers), [`embedded`] (the operator as a
//! library: `run`, the demo and the end-to-end tests start it), [`commands`] (the
//! `run`, `manifests`, `install` and `uninstall` subcommands).
//!
//! Exit codes: 0 success, 1 failure (Kubernetes, cloud), 2 bad
//! configuration.

use std::process::ExitCode;

pub mod cli;
pub mod commands;
pub mod controllers;
pub mod credentials;
pub mod embedded;
pub mod kube_metrics;
pub mod leader;
pub mod locks;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod probes;
pub mod requeue;
pub mod shutdown;
pub mod skip_unchanged;
pub mod undecodable;
pub mod views;
pub mod watches;

use cli::{Cli, Command};
use commands::AppError;

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
        Command::Run(args) => commands::run(&args, shutdown::on_signal()).await,
        Command::Manifests(args) => commands::manifests_yaml(&args).map(|yaml| print!("{yaml}")),
        Command::Install(args) => commands::install(&args, false).await,
        Command::Uninstall(args) => commands::install(&args, true).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
