//! `textgate`: see `textgate --help`. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the request path allocates and
/// frees many small buffers (protobuf, HTTP/2 frames, sled nodes), where
/// glibc's malloc spent about a sixth of the server's CPU (bench/ab).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = textgate::cli::Cli::parse();
    textgate::cli::run(cli, std::env::var("RUST_LOG").ok()).await
}
