//! The `vlb-controller` binary: see the `vlb_app` crate docs.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = vlb_app::cli::Cli::parse();
    vlb_app::main(cli)
}
