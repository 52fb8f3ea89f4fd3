//! The `docent` binary: parse the command line and configuration, then run.

use std::process::ExitCode;

use clap::Parser;
use docent::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("docent: {err}");
            return ExitCode::from(2);
        }
    };
    match cli::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("docent: {err:#}");
            ExitCode::FAILURE
        }
    }
}
