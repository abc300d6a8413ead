//! The `vlb-demo` binary: see the `vlb_demo` crate docs.

use std::process::ExitCode;

use clap::Parser;
use vlb_demo::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut log = cli.log.clone();
    if std::env::var_os("VLB_LOG_LEVEL").is_none() && log.log_level == "info" {
        // The table is the output; the logs only when asked for.
        "error".clone_into(&mut log.log_level);
    }
    if let Err(e) = vlb_app::logging::init(&log) {
        eprintln!("vlb-demo: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vlb-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let shutdown = vlb_app::shutdown::on_signal();
        vlb_demo::run(&cli.demo, shutdown).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vlb-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
