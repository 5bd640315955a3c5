//! `textgate`: see `textgate --help`. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = textgate::cli::Cli::parse();
    textgate::cli::run(cli, std::env::var("RUST_LOG").ok()).await
}
