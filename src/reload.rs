//! Policy hot reload: on SIGHUP or when the config file changes, parse and
//! compile it and swap it in atomically. A bad file keeps the old policy, and
//! the failure is logged and counted (`textgate_policy_reloads_total{result="error"}`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::app::App;
use crate::config::Config;

/// How often the file's modification time is checked.
const POLL: Duration = Duration::from_millis(500);

/// Reloads `path` now; returns the new version or why the old one stays.
pub fn reload(app: &App, path: &std::path::Path) -> Result<String, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let old = app.config.load();
    let (new, was) = (&config.server, &old.server);
    if new.listen != was.listen || new.data_dir != was.data_dir || new.tls != was.tls {
        tracing::warn!("server.listen, server.data_dir and server.tls changes take effect only after a restart");
    }
    let version = config.version.clone();
    app.install(config)?;
    Ok(version)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs until aborted: reloads on SIGHUP and on a change of the file.
pub async fn watch(app: Arc<App>, path: PathBuf) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = modified(&path);
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
        let now = modified(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match reload(&app, &path) {
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
