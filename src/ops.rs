//! The ledger commands: `verify`, `rebuild`, `backup`, `restore`.
//!
//! `verify`, `rebuild` and `restore` work on a stopped store (sled locks its
//! directory; a running server makes them fail with "in use"). `backup`
//! copies a running server's ledger through its admin endpoint, or a stopped
//! store directly. `verify --config` with a `[cluster]` section also compares
//! the store, event by event, with the consent stream it applied (NATS must be
//! reachable; the stream is only read). Exit status: 0 when the result verifies clean, 1 when
//! problems were found or the command could not run.

use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::consent::backup::restore;
use crate::consent::backup_key::{BackupKey, Trust};
use crate::consent::rebuild::rebuild_dir;
use crate::consent::verify::{verify_dir, Problem, VerifyReport};
use crate::consent::verify_log::LogReport;
use crate::consent::{Ledger, LedgerOptions};

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Check the consent ledger and everything derived from it (server stopped);
    /// with a --config that has `[cluster]`, also against the consent stream.
    Verify {
        /// The stopped store's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The instance's configuration: in cluster mode the store is also
        /// compared, event by event, with the consent stream it applied.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Rebuild the indexes and consent states from the ledger (server stopped).
    Rebuild {
        /// The stopped store's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Write a consistent backup file, from a running server's admin endpoint
    /// (--admin 127.0.0.1:9464 --token-file F) or from a stopped store (--data-dir).
    Backup {
        /// A running server's admin endpoint, HOST:PORT (127.0.0.1:9464, localhost:9464).
        #[arg(long, required_unless_present = "data_dir", conflicts_with = "data_dir", requires = "token_file")]
        admin: Option<String>,
        /// A file holding a bearer token that may act for every tenant ("*"):
        /// the admin endpoint serves backups to operators only.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// A stopped store's data directory (instead of --admin).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The backup file to create (it must not exist).
        #[arg(long)]
        to: PathBuf,
        /// File holding the backup key (`ledger.backup_key_file`): a backup
        /// from --data-dir is authenticated with it; one from --admin is
        /// checked with it (the server authenticates with its own).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Restore a backup file into a data directory (server stopped), then verify.
    Restore {
        /// The backup file to restore.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to restore into (empty, or replaced with --force).
        #[arg(long)]
        data_dir: PathBuf,
        /// Replace the contents of a non-empty data directory.
        #[arg(long)]
        force: bool,
        /// File holding the backup key the backup was written with.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Restore a backup that carries only a plain checksum (written
        /// without a backup key, or by an older version), which proves
        /// nobody edited it only as far as the file's custody does.
        #[arg(long)]
        unauthenticated: bool,
    },
}

/// Runs one ledger command, printing its summary to stdout.
pub async fn run(cmd: LedgerCommand) -> ExitCode {
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::spawn_blocking(move || run_blocking(cmd, &handle)).await;
    match outcome {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("textgate: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("textgate: {e}");
            ExitCode::from(1)
        }
    }
}

/// Ok(true) when the result is clean.
fn run_blocking(cmd: LedgerCommand, rt: &tokio::runtime::Handle) -> Result<bool, String> {
    match cmd {
        LedgerCommand::Verify { data_dir, config } => {
            let cluster = match config {
                Some(path) => Config::load(&path).map_err(|e| e.to_string())?.cluster,
                None => None,
            };
            let local = print_verify(&verify_dir(&data_dir).map_err(|e| e.to_string())?);
            let Some(cluster) = cluster else { return Ok(local) };
            let report = rt.block_on(crate::replication::verify::against_stream(&data_dir, &cluster))?;
            Ok(print_stream(&report) && local)
        }
        LedgerCommand::Rebuild { data_dir } => {
            let (rebuilt, report) = rebuild_dir(&data_dir).map_err(|e| e.to_string())?;
            println!("rebuilt: events={} phones={}", rebuilt.events, rebuilt.phones);
            Ok(print_verify(&report))
        }
        LedgerCommand::Backup { admin: Some(admin), token_file, to, key_file, .. } => {
            let admin = admin_address(&admin)?;
            let token = read_token(token_file.as_deref().ok_or("--admin needs --token-file")?)?;
            let key = backup_key(key_file.as_deref())?;
            let summary = crate::snapshot::fetch(admin, &token, &to, key.as_ref())?;
            println!("backup: {} {summary}", to.display());
            Ok(true)
        }
        LedgerCommand::Backup { admin: None, data_dir, to, key_file, .. } => {
            let dir = data_dir.ok_or("--admin or --data-dir is required")?;
            let backup_key = backup_key(key_file.as_deref())?;
            let opts = LedgerOptions { backup_key: backup_key.clone(), ..LedgerOptions::default() };
            let ledger = Ledger::open(&dir, &opts).map_err(|e| e.to_string())?;
            let written = crate::snapshot::write_checked(&to, backup_key.as_ref(), |file| {
                ledger.write_backup(BufWriter::with_capacity(1 << 16, file)).map(drop).map_err(|e| e.to_string())
            });
            rt.block_on(ledger.shutdown()).map_err(|e| e.to_string())?;
            println!("backup: {} {}", to.display(), written?);
            Ok(true)
        }
        LedgerCommand::Restore { from, data_dir, force, key_file, unauthenticated } => {
            let key = backup_key(key_file.as_deref())?;
            let trust = Trust { key: key.as_ref(), unauthenticated, structure_only: false };
            let (summary, report) = restore(&from, &data_dir, force, trust).map_err(|e| e.to_string())?;
            println!("restored: {} -> {} {summary}", from.display(), data_dir.display());
            let key = crate::consent::server_key::KEY_FILE;
            if !data_dir.join(key).exists() {
                eprintln!(
                    "note: copy the original store's {key} into {} before serving from it: the decision ids it \
                     handed out and its body digests are keyed by it (backups do not carry it)",
                    data_dir.display()
                );
            }
            Ok(print_verify(&report))
        }
    }
}

/// The backup key in `path`, if one is given.
fn backup_key(path: Option<&std::path::Path>) -> Result<Option<BackupKey>, String> {
    path.map(BackupKey::from_file).transpose().map_err(|e| e.to_string())
}

/// Prints the comparison with the consent stream; true when clean.
fn print_stream(r: &LogReport) -> bool {
    println!("stream: {r}");
    print_problems(&r.problems, r.problem_count);
    r.is_clean()
}

/// Prints a verify report; true when clean.
fn print_verify(r: &VerifyReport) -> bool {
    println!("verify: {r}");
    print_problems(&r.problems, r.problem_count);
    r.is_clean()
}

fn print_problems(listed: &[Problem], count: u64) {
    for p in listed {
        println!("problem: {p}");
    }
    if count > listed.len() as u64 {
        println!("problem: … and {} more", count - listed.len() as u64);
    }
}

/// `--admin`'s HOST:PORT (`127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`)
/// as an address: IPv4 first when a name has both (`admin_listen`
/// defaults to 127.0.0.1).
fn admin_address(admin: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let found = admin.to_socket_addrs().map_err(|e| format!("--admin {admin}: {e} (want HOST:PORT)"))?;
    found.min_by_key(SocketAddr::is_ipv6).ok_or_else(|| format!("--admin {admin}: resolves to no address"))
}

/// The bearer token on the first line of `file`.
pub fn read_token(file: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("cannot read --token-file {}: {e}", file.display()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(format!("--token-file {}: the first line must hold the token", file.display()));
    }
    Ok(token.to_string())
}
