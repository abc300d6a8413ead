//! `vlb-kube-emulator`: serves an in-memory Kubernetes API until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use vlb_kube_emulator::{EmulatorConfig, KubeEmulator};

/// Command line.
#[derive(Debug, Parser)]
#[command(version, about = "In-memory Kubernetes API server for tests and demos")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Where to write the kubeconfig (server URL and bearer token).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Bearer token clients must send (random otherwise).
    #[arg(long, env = "KUBE_EMULATOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How many change events the watch history keeps.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
    /// Enforce these RBAC rules (YAML/JSON: a ClusterRole, a Role or a list of PolicyRules).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// User name in Forbidden messages.
    #[arg(long)]
    user: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = EmulatorConfig {
        addr: args.addr,
        kubeconfig_path: Some(args.kubeconfig),
        watch_history: args.watch_history,
        ..EmulatorConfig::default()
    };
    if let Some(t) = args.token {
        config.token = t;
    }
    if let Some(u) = args.user {
        config.user = u;
    }
    if let Some(path) = args.rules {
        let text = std::fs::read_to_string(&path)?;
        config.rules = vlb_kube_emulator::parse_rules(&text)
            .map_err(|e| format!("bad rules file {}: {e}", path.display()))?;
    }
    let emulator = KubeEmulator::start_with(config).await?;
    println!("listening on {}", emulator.url());
    wait_for_signal().await;
    drop(emulator);
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
