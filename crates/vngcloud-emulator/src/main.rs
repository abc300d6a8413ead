//! `vlb-vngcloud-emulator`: serves the emulated VNGCloud APIs until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use vlb_vngcloud_emulator::{Delays, EmulatorConfig, Fixture, RateLimit, VngEmulator};

/// Command line.
#[derive(Debug, Parser)]
#[command(version, about = "Emulator of the VNGCloud IAM, vLB and vServer APIs")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Fixture file (JSON); the built-in fixture otherwise.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Overrides the fixture's project id.
    #[arg(long)]
    project_id: Option<String>,
    /// Overrides the fixture's client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Overrides the fixture's client secret.
    #[arg(long, env = "VNG_EMULATOR_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// CREATING -> ACTIVE delay in milliseconds.
    #[arg(long, default_value_t = Delays::test().create_ms)]
    create_ms: u64,
    /// UPDATING duration in milliseconds.
    #[arg(long, default_value_t = Delays::test().update_ms)]
    update_ms: u64,
    /// DELETING duration in milliseconds.
    #[arg(long, default_value_t = Delays::test().delete_ms)]
    delete_ms: u64,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    token_ttl_secs: u64,
    /// Requests per window and project.
    #[arg(long, default_value_t = 1000)]
    rate_limit: u32,
    /// Rate-limit window in seconds.
    #[arg(long, default_value_t = 60)]
    rate_window_secs: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut fixture = match &args.fixture {
        Some(path) => Fixture::from_file(path)?,
        None => Fixture::default(),
    };
    if let Some(p) = args.project_id {
        fixture.project_id = p;
    }
    if let Some(c) = args.client_id {
        fixture.client_id = c;
    }
    if let Some(s) = args.client_secret {
        fixture.client_secret = s;
    }
    let config = EmulatorConfig {
        addr: args.addr,
        fixture,
        delays: Delays {
            create_ms: args.create_ms,
            update_ms: args.update_ms,
            delete_ms: args.delete_ms,
        },
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        rate_limit: RateLimit {
            requests: args.rate_limit,
            window: Duration::from_secs(args.rate_window_secs.max(1)),
        },
        ..EmulatorConfig::default()
    };
    let emulator = VngEmulator::start_with(config).await?;
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
