//! Policy hot reload: on SIGHUP or when the config file (or its tokens file) changes, parse and
//! compile it and swap it in atomically. A bad file keeps the old policy, and
//! the failure is logged and counted (`textgate_policy_reloads_total{result="error"}`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::app::App;
use crate::config::Config;

/// How often the file's modification time is checked.
const POLL: Duration = Duration::from_millis(500);

/// The settings that take effect only at a restart, as the file states them
/// (before `--listen`, `--data-dir` and environment overrides).
type RestartOnly = (std::net::SocketAddr, PathBuf, Option<crate::config::TlsConfig>);

fn restart_only(c: &Config) -> RestartOnly {
    (c.server.listen, c.server.data_dir.clone(), c.server.tls.clone())
}

/// Reloads `path` now; returns the new version or why the old one stays.
/// `file_was` holds the file's restart-only settings at its last load: a
/// warning says when the file changed them, not when a command-line override
/// differs from the file (which would repeat on every reload).
fn reload(app: &App, path: &std::path::Path, file_was: &mut Option<RestartOnly>) -> Result<String, String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    let in_file = restart_only(&config);
    if file_was.as_ref().is_some_and(|was| *was != in_file) {
        tracing::warn!("server.listen, server.data_dir and server.tls changes take effect only after a restart");
    }
    *file_was = Some(in_file);
    let old = app.config.load();
    let (new, was) = (&mut config.server, &old.server);
    // The running config keeps describing the sockets and store in use.
    new.listen = was.listen;
    new.data_dir.clone_from(&was.data_dir);
    new.tls.clone_from(&was.tls);
    new.allow_plaintext = was.allow_plaintext;
    // Judged where it listens: an exposed server never takes on tokenless
    // access, demo tokens or weak tokens by a reload.
    if let Some(refusal) = crate::config::exposure::assess(&config).refusals.first() {
        return Err(format!("refused, the server listens beyond loopback: {refusal}"));
    }
    let version = config.version.clone();
    app.install(config)?;
    Ok(version)
}

/// When the config file and the tokens file it names were last changed.
fn modified(app: &App, path: &std::path::Path) -> [Option<SystemTime>; 2] {
    let changed = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let tokens = app.config.load().auth.tokens_file.clone();
    [changed(path), tokens.as_deref().and_then(changed)]
}

/// SIGHUP's handler, installed at once: until it is, a SIGHUP ends the
/// process (the signal's default), so the server installs it before it says
/// it is serving rather than leaving it to the [`watch`] task's first poll.
#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangup = ();

/// Installs the SIGHUP handler [`watch`] reloads on.
#[cfg(unix)]
pub fn hangup() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
/// No SIGHUP here: [`watch`] reloads on file changes only.
#[cfg(not(unix))]
pub fn hangup() -> Hangup {}

/// Runs until aborted: reloads on SIGHUP (`hup`, from [`hangup`]) and on a
/// change of the config file or of its `auth.tokens_file` (a rotated secret).
#[cfg_attr(not(unix), allow(unused_variables, unused_mut))]
pub async fn watch(app: Arc<App>, path: PathBuf, mut hup: Hangup) {
    let mut seen = modified(&app, &path);
    let mut file_was = Config::load(&path).ok().map(|c| restart_only(&c));
    let mut tick = tokio::time::interval(POLL);
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(h) => h.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<bool>();
        let forced = tokio::select! {
            _ = tick.tick() => false,
            fired = hup_fired => fired,
        };
        let now = modified(&app, &path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match reload(&app, &path, &mut file_was) {
            Ok(version) => {
                app.metrics.reload(true);
                tracing::info!(policy_version = %version, "policy reloaded");
            }
            Err(e) => {
                app.metrics.reload(false);
                tracing::error!(error = %e, "policy reload failed; the previous policy stays in force");
            }
        }
    }
}
