//! Flags of `vlb-demo`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use vlb_app::cli::{LogArgs, parse_duration};

/// `vlb-demo`: start a Kubernetes emulator and a VNGCloud emulator in-process, run the
/// operator against them with sample Services, show a live table, exit 0 once converged.
#[derive(Debug, Parser)]
#[command(name = "vlb-demo", version, about, long_about = None)]
pub struct Cli {
    /// Logging flags (the demo logs only errors unless `--log-level` or `VLB_LOG_LEVEL`
    /// says otherwise: its table is the output).
    #[command(flatten)]
    pub log: LogArgs,
    /// What the demo does.
    #[command(flatten)]
    pub demo: DemoArgs,
}

/// What the demo does and how long it waits.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the emulators and the operator running after convergence (until Ctrl+C), to
    /// look around with the printed `kubectl` line.
    #[arg(long)]
    pub keep_running: bool,
    /// Give up (exit 1) when not converged after this long.
    #[arg(long, visible_alias = "deadline", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Where to write the kubeconfig of the embedded Kubernetes emulator (default:
    /// `vlb-demo.kubeconfig` in the temporary directory).
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Print the table once at the end instead of redrawing it live (the default when
    /// standard output is not a terminal).
    #[arg(long)]
    pub no_live: bool,
}
