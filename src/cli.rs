//! The `textgate` command line: `serve`, `check-config`, `hash-token`, `gen-token`,
//! `body-digest`, `import` (a consent file into a running server), `rnd-load`, and the
//! ledger commands (`verify`, `rebuild`, `backup`, `restore`; see [`crate::ops`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, OtelEnv};
use crate::server::{serve, ServeOptions};

#[derive(Parser, Debug)]
#[command(name = "textgate", version, about = "Policy decisions and consent ledger for business texting")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gRPC service (the built-in demo tenant when no --config is given).
    Serve {
        /// The TOML configuration (absent: the built-in demo tenant, loopback only).
        #[arg(long, env = "TEXTGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Override `server.listen` (gRPC address).
        #[arg(long, env = "TEXTGATE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Override `server.data_dir` (the consent store's directory).
        #[arg(long, env = "TEXTGATE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Override `server.admin_listen` (HTTP /metrics, /healthz, /readyz).
        #[arg(long, env = "TEXTGATE_ADMIN_LISTEN")]
        admin_listen: Option<std::net::SocketAddr>,
        /// Override `server.console_listen` (HTTP: the compliance console).
        #[arg(long, env = "TEXTGATE_CONSOLE_LISTEN")]
        console_listen: Option<std::net::SocketAddr>,
    },
    /// Validate a configuration file and print what is wrong with it.
    CheckConfig {
        /// The TOML file to check (exit 0 and "ok" on stdout; 3 with every problem on stderr).
        file: PathBuf,
    },
    /// Read a bearer token on stdin; print the `sha256:<hex>` form `[auth] tokens` accepts.
    HashToken,
    /// Make a new random bearer token: prints the token (for the client), then
    /// its `sha256:<hex>` form (for `[auth] tokens` or `auth.tokens_file`).
    GenToken,
    /// Read a message body on stdin (all of it, byte for byte); print the digest
    /// the tenant's decision records hold for it (`hmac-sha256:<hex>`, under
    /// the key in the data directory's `server.key`), to check a candidate body.
    BodyDigest {
        /// The data directory whose `server.key` keys the digests.
        #[arg(long)]
        data_dir: PathBuf,
        /// The tenant whose decision records to match.
        #[arg(long)]
        tenant: String,
    },
    /// Load Reassigned Numbers Database answers from a CSV file into a running
    /// server (RecordReassignedCheck): header `event_id,phone,queried_at,answer`
    /// plus optional `disconnected_at`, `reference`. Exit 1 when a row is refused.
    RndLoad(crate::rnd_load::RndLoad),
    #[command(flatten)]
    Ledger(crate::ops::LedgerCommand),
    /// Load consent events (grants, revocations, a do-not-contact list) from a
    /// CSV or JSON Lines file into a running server, through ImportConsent.
    Import(crate::import::ImportArgs),
}

/// Exit status of `check-config` and `serve` when the configuration is
/// invalid or refused where it would listen. Usage errors exit 2 (clap's),
/// a failure while running exits 1.
pub const EXIT_CONFIG: u8 = 3;

/// Runs a parsed command line; `log_filter` is usually `RUST_LOG`.
pub async fn run(cli: Cli, log_filter: Option<String>) -> ExitCode {
    match cli.command {
        Command::Ledger(cmd) => {
            crate::telemetry::init(cli.log_json, log_filter.as_deref());
            crate::ops::run(cmd).await
        }
        Command::CheckConfig { file } => {
            crate::telemetry::init(cli.log_json, log_filter.as_deref());
            check_config(&file)
        }
        Command::HashToken => hash_token(std::io::stdin().lock()),
        Command::Import(args) => {
            crate::telemetry::init(cli.log_json, log_filter.as_deref());
            crate::import::run(args).await
        }
        Command::GenToken => {
            let token = crate::config::token::generate();
            println!("{token}\n{}", crate::api::auth::hash_token(&token));
            ExitCode::SUCCESS
        }
        Command::RndLoad(args) => crate::rnd_load::run(args).await,
        Command::BodyDigest { data_dir, tenant } => body_digest(&data_dir, &tenant, std::io::stdin().lock()),
        Command::Serve { config, listen, data_dir, admin_listen, console_listen } => {
            let overrides = Overrides { listen, data_dir, admin_listen, console_listen };
            serve_command(config, overrides, cli.log_json, log_filter).await
        }
    }
}

/// `textgate check-config FILE`: the file's problems, or ok and its warnings.
fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(c) => match judge_exposure(&c, &file.display().to_string()) {
            Ok(warnings) => {
                let file = file.display();
                c.warnings().iter().chain(&warnings).for_each(|w| eprintln!("{file}: warning: {w}"));
                println!("{file}: ok ({} tenants)", c.tenants.len());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The `serve` options that replace configured `[server]` values.
struct Overrides {
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    admin_listen: Option<std::net::SocketAddr>,
    console_listen: Option<std::net::SocketAddr>,
}

/// `textgate serve`: loads and judges the configuration, installs telemetry,
/// serves until a signal, then flushes the last spans.
async fn serve_command(path: Option<PathBuf>, o: Overrides, log_json: bool, log_filter: Option<String>) -> ExitCode {
    let origin = path.as_ref().map_or("<built-in demo>".into(), |p| p.display().to_string());
    let loaded = match &path {
        Some(path) => Config::load(path),
        None => Ok(Config::demo()),
    };
    let mut config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    config.telemetry = match config.telemetry.clone().with_env(&otel_env()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{origin}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let telemetry = match crate::telemetry::install(&config.telemetry, log_json, log_filter.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    config.server.listen = o.listen.unwrap_or(config.server.listen);
    config.server.data_dir = o.data_dir.unwrap_or(config.server.data_dir);
    config.server.admin_listen = o.admin_listen.or(config.server.admin_listen);
    config.server.console_listen = o.console_listen.or(config.server.console_listen);
    match judge_exposure(&config, &origin) {
        // The built-in demo's tokens are public by design: the demo warning below says so.
        Ok(warnings) if path.is_some() => warnings.iter().for_each(|w| tracing::warn!(config = %origin, "{w}")),
        Ok(_) => {}
        Err(code) => return code,
    }
    tracing::info!(
        config = %origin,
        policy_version = %config.version,
        tenants = config.tenants.len(),
        require_token = config.auth.require_token,
        "configuration loaded"
    );
    if path.is_none() {
        tracing::warn!(
            "no --config: serving the built-in demo (tenant northside, calls without a token act for it); \
             for trying textgate, not for real traffic"
        );
    }
    let code = serve_until_signal(config, path).await;
    // After the ledger is flushed: export the spans of the last calls.
    telemetry.shutdown().await;
    code
}

/// What `config` risks where it listens ([`crate::config::exposure`]):
/// the warnings, or (refusals printed) [`EXIT_CONFIG`].
fn judge_exposure(config: &Config, origin: &str) -> Result<Vec<String>, ExitCode> {
    let verdict = crate::config::exposure::assess(config);
    if verdict.refusals.is_empty() {
        return Ok(verdict.warnings);
    }
    // Only an exposed gRPC address is named here: a console refusal names its own.
    let addr = config.server.listen;
    let what = if crate::config::exposure::beyond_loopback(addr) {
        format!("refusing to serve on {addr}, beyond loopback")
    } else {
        String::from("refusing to serve")
    };
    for r in &verdict.refusals {
        eprintln!("{origin}: {what}: {r}");
    }
    Err(ExitCode::from(EXIT_CONFIG))
}

async fn serve_until_signal(config: Config, config_path: Option<PathBuf>) -> ExitCode {
    let listener = match bind(config.server.listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let admin_listener = match config.server.admin_listen {
        Some(addr) => match bind(addr).await {
            Ok(l) => Some(l),
            Err(code) => return code,
        },
        None => None,
    };
    let console_listener = match config.server.console_listen {
        Some(addr) => match bind(addr).await {
            Ok(l) => Some(l),
            Err(code) => return code,
        },
        None => None,
    };
    let opts = ServeOptions { config_path, admin_listener, console_listener, ..ServeOptions::new(config) };
    match serve(listener, opts, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log goes to stderr already.
            tracing::error!(error = %e, "textgate failed");
            ExitCode::from(1)
        }
    }
}

/// `textgate hash-token`: the first line of `input`, hashed.
fn hash_token(mut input: impl std::io::BufRead) -> ExitCode {
    let mut line = String::new();
    if let Err(e) = input.read_line(&mut line) {
        eprintln!("hash-token: cannot read the token from stdin: {e}");
        return ExitCode::from(2);
    }
    let token = line.trim();
    if token.len() < 8 {
        eprintln!("hash-token: give the token (at least 8 characters) on stdin");
        return ExitCode::from(2);
    }
    println!("{}", crate::api::auth::hash_token(token));
    ExitCode::SUCCESS
}

/// `textgate body-digest`: all of `input`, digested as the decision log
/// digests a body of `tenant`. The body itself is never printed.
fn body_digest(data_dir: &std::path::Path, tenant: &str, mut input: impl std::io::Read) -> ExitCode {
    let key = match crate::consent::server_key::ServerKey::load(data_dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("body-digest: {e}");
            return ExitCode::from(2);
        }
    };
    let mut body = String::new();
    if let Err(e) = input.read_to_string(&mut body) {
        eprintln!("body-digest: cannot read the body (UTF-8) from stdin: {e}");
        return ExitCode::from(2);
    }
    println!("{}", key.body_digest(tenant, &body));
    ExitCode::SUCCESS
}

/// Binds a listener, or says why not.
async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ExitCode> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        ExitCode::from(1)
    })
}

/// The standard OpenTelemetry variables that fill unset `[telemetry]` keys.
fn otel_env() -> OtelEnv {
    OtelEnv {
        otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
        service_name: std::env::var("OTEL_SERVICE_NAME").ok(),
        otlp_protocol: std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // Register the handlers now, not at the future's first poll: the server
    // may answer calls before it polls its shutdown future, and a SIGTERM in
    // that window would otherwise kill the process outright.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::spawn(tokio::signal::ctrl_c());
    async move {
        #[cfg(unix)]
        let term = async {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        tracing::info!("shutdown requested");
    }
}
