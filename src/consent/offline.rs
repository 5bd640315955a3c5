//! Opening a store for the offline commands (`verify`, `rebuild`, `restore`):
//! no committer, and a clear error when a running server holds the store.
//!
//! An operation that rewrites derived trees or imports a backup leaves a
//! marker in `meta` while it runs, so a crash part-way leaves a store that
//! refuses to serve (instead of serving without some opt-outs) until the
//! operation is run again.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use super::trees::Trees;
use super::ConsentError;

/// `meta` key present while a rebuild or restore is under way; its value
/// names the operation.
const INCOMPLETE: &[u8] = b"incomplete";

/// An operation that marks the store incomplete while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Rebuild,
    Restore,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Rebuild => "rebuild",
            Operation::Restore => "restore",
        }
    }
}

/// sled's page cache for the offline commands, which read everything once.
const OFFLINE_CACHE: u64 = 64 * 1024 * 1024;

/// Opens the existing store in `dir` (never creates one).
pub fn open_existing(dir: &Path) -> Result<sled::Db, ConsentError> {
    if !dir.join("conf").is_file() {
        return Err(ConsentError::Unavailable(format!("{}: no textgate store here", dir.display())));
    }
    open_dir(dir, OFFLINE_CACHE)
}

/// Opens (or creates) the store in `dir`, saying so plainly when it is locked.
/// A store this process has just closed may hold its lock a few moments more
/// (sled's flusher thread lets go of it asynchronously), so a locked store is
/// retried for up to a second before the answer is "in use".
pub fn open_dir(dir: &Path, cache_bytes: u64) -> Result<sled::Db, ConsentError> {
    private_dir(dir)?;
    let locked =
        |e: &sled::Error| matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"));
    let mut tries = 0;
    loop {
        match open_caught(dir, cache_bytes)? {
            Ok(db) => return Ok(db),
            Err(e) if locked(&e) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) if locked(&e) => {
                return Err(ConsentError::Unavailable(format!(
                    "{}: in use by another process (is textgate serving from it? stop it first)",
                    dir.display()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Opens with sled, turning a panic inside sled into an error that says what
/// to do. sled 0.34 panics ("tried to serialize Uninitialized") instead of
/// answering when its files lost writes it had made (a disk that dropped
/// acknowledged writes, a partial copy); its panic message is kept off
/// stderr, where it would read like a textgate bug.
fn open_caught(dir: &Path, cache_bytes: u64) -> Result<sled::Result<sled::Db>, ConsentError> {
    let opened = quiet_panics(|| sled::Config::new().path(dir).cache_capacity(cache_bytes).open());
    opened.map_err(|why| {
        ConsentError::Unavailable(format!(
            "{}: the store is damaged and cannot be opened (sled: {why}); its files lost data that was written \
             to them, as when a disk drops acknowledged writes. Recover: keep this directory for inspection, \
             then `textgate restore --from BACKUP --data-dir NEW_DIR` from the latest backup and serve from \
             NEW_DIR; in cluster mode, serve from an empty directory instead and the instance rebuilds \
             from the consent stream",
            dir.display()
        ))
    })
}

thread_local! {
    /// Set while this thread runs `quiet_panics`.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, returning its panic's message instead of unwinding; the panic is
/// not printed. Panics on other threads print as before.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Fails when a rebuild or restore was interrupted, naming what to run.
pub fn check_complete(db: &sled::Db) -> Result<(), ConsentError> {
    match db.open_tree("meta")?.get(INCOMPLETE)? {
        None => Ok(()),
        Some(op) => Err(ConsentError::Unavailable(format!(
            "an interrupted `textgate {}` left this store incomplete; run it again before serving",
            String::from_utf8_lossy(&op)
        ))),
    }
}

/// Marks the store incomplete for `op` (durably) before it changes anything.
/// Refuses when another operation was interrupted: a half-restored ledger
/// must be restored again, not rebuilt into a consistent-looking subset.
pub fn begin(db: &sled::Db, op: Operation) -> Result<(), ConsentError> {
    let meta = db.open_tree("meta")?;
    if let Some(other) = meta.get(INCOMPLETE)? {
        if other != op.name().as_bytes() {
            return Err(ConsentError::Unavailable(format!(
                "an interrupted `textgate {}` must be run again first",
                String::from_utf8_lossy(&other)
            )));
        }
    }
    meta.insert(INCOMPLETE, op.name())?;
    db.flush()?;
    Ok(())
}

/// Clears the marker once everything the operation wrote is flushed.
pub fn finish(db: &sled::Db) -> Result<(), ConsentError> {
    db.flush()?;
    db.open_tree("meta")?.remove(INCOMPLETE)?;
    db.flush()?;
    Ok(())
}

/// The ledger trees of an open store.
pub fn trees(db: &sled::Db) -> Result<Trees, ConsentError> {
    Trees::open(db)
}

/// The last two digits of a phone number, for problem reports (no
/// whole number is ever printed).
pub fn masked(phone: &str) -> String {
    let tail: String = phone.chars().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

/// Creates `dir` readable by its owner only (0700), or makes an existing one
/// so: the store holds phone numbers and consent evidence, and whatever sled
/// and the decision log create inside it is then out of other users' reach.
pub fn private_dir(dir: &Path) -> Result<(), ConsentError> {
    let io = |what: &str, e| ConsentError::io(format!("{what} {}", dir.display()), e);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io("creating", e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| io("restricting", e))
}
