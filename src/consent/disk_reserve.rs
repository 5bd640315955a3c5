//! The disk space kept for opt-outs (`ledger.reserved_disk_mib`).
//!
//! A full disk fails a sled flush, and a failed flush latches the ledger:
//! from then on no write is accepted, opt-outs included, for every tenant.
//! So the store stops taking what can wait before the disk is full: when the
//! free space of its filesystem is down to the reserve, new grants are
//! refused (`RESOURCE_EXHAUSTED` naming the key) and contact history and
//! decision records are not written (the decision still stands, as on any
//! failed activity write), while revocations go on being recorded into the
//! reserve. Whoever filled the disk, the opt-outs of every tenant still fit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one look at the free space is trusted: the statfs call stays
/// off the per-decision path, and the reserve absorbs what a second brings.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Free space of the store's filesystem against the reserve.
pub struct DiskReserve {
    dir: PathBuf,
    reserve_bytes: u64,
    /// Free bytes at the last look (u64::MAX: unknown, treated as plenty).
    free: AtomicU64,
    looked_at: Mutex<Option<Instant>>,
}

impl DiskReserve {
    /// Keeps `reserve_bytes` free on the filesystem holding `dir`.
    pub fn new(dir: PathBuf, reserve_bytes: u64) -> DiskReserve {
        DiskReserve { dir, reserve_bytes, free: AtomicU64::new(u64::MAX), looked_at: Mutex::new(None) }
    }

    /// The free bytes when they are down to the reserve, None while there is
    /// more. Looks at the disk at most once every [`LOOK_EVERY`]; a failed
    /// look keeps the last answer (the write itself will report a real fault).
    pub fn reached(&self) -> Option<u64> {
        if let Ok(mut last) = self.looked_at.try_lock() {
            if last.is_none_or(|t| t.elapsed() >= LOOK_EVERY) {
                *last = Some(Instant::now());
                match fs2::available_space(&self.dir) {
                    Ok(free) => self.free.store(free, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "cannot read the store's free disk space"),
                }
            }
        }
        let free = self.free.load(Ordering::Relaxed);
        (free <= self.reserve_bytes).then_some(free)
    }
}

/// Bytes of the files under `dir` (the decision log's segments), for the
/// metrics; what cannot be read counts as nothing.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_larger_than_the_free_space_is_reached_and_none_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let huge = DiskReserve::new(dir.path().into(), u64::MAX - 1);
        let free = huge.reached().expect("no disk has 16 EiB free");
        assert!(free > 0 && free < u64::MAX - 1, "{free}");
        assert_eq!(DiskReserve::new(dir.path().into(), 0).reached(), None);
    }
}
