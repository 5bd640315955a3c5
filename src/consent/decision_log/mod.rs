//! The decision log: every logged decision, appended to segment files of our
//! own instead of a sled tree, so a decision costs the request one memory
//! append and the disk one sequential write per batch.
//!
//! Callers see these ids sealed (`opaque`); the log itself deals in its own.
//! A decision's id says where it is: `d-` then 32 hex digits, the decision
//! instant (14, microseconds since the epoch, so ids sort by time), the
//! segment (8) and the byte offset in it (10). Looking one up reads one frame
//! at that offset and checks its checksum, its id and its tenant; there is no
//! index to keep. A new segment starts at every open and past
//! [`SEGMENT_BYTES`], so a torn tail after a crash is never appended to.
//!
//! Frame (big-endian): `u32 len`, `u32 crc32(payload)`, then the payload:
//! `u8 id_len, id, u16 tenant_len, tenant, record`.
//!
//! Retention: with one set, a closed segment whose file was last written
//! longer ago than it is deleted at open and then hourly; GetDecision on its
//! ids answers NOT_FOUND.
//!
//! Not consent: like the other activity trees, a record reaches the file
//! within [`WRITE_EVERY`] and the disk (fdatasync) within [`SYNC_EVERY`]; a
//! crash of the machine may lose the last instants of it. Appends wait for
//! room when [`MAX_PENDING`] bytes are not yet written (back-pressure).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ConsentError;

mod files;
mod opaque;

pub(super) use files::{scan, Restorer};
pub(super) use opaque::IdSeal;

use files::{
    decision_id, decode, encode_into, io_err, locate, segment_path, segments, Chunk, Files, HEADER, ID_LEN, MAX_FRAME,
};

/// A segment is closed once it holds this many bytes.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes appended but not yet handed to the writer before appends wait.
const MAX_PENDING: usize = 16 * 1024 * 1024;
/// Longest time a written record waits for fdatasync.
const SYNC_EVERY: Duration = Duration::from_millis(500);
/// How often the writer takes what was appended: appends never wake it one
/// by one (on a busy core each wake-up costs more than the write).
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Pending bytes that wake the writer before [`WRITE_EVERY`].
const WAKE_BYTES: usize = 1024 * 1024;
/// How often the writer deletes segments past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct State {
    /// The segment appends go to, and its length counting pending bytes.
    seg: u32,
    end: u64,
    pending: Vec<Chunk>,
    pending_bytes: usize,
    /// What the writer is writing now (still readable from memory).
    in_flight: Option<Arc<Vec<Chunk>>>,
    /// (segment, end) of the last batch the writer handled (written or not).
    written: (u32, u64),
    /// The writer sleeps with nothing to do: the next append wakes it.
    idle: bool,
    /// A batch could not be written: start a new segment, so no record
    /// follows the hole it left.
    rotate: bool,
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    retention: Option<Duration>,
    state: Mutex<State>,
    /// The writer waits here for work.
    work: Condvar,
    /// Appenders wait here for room; `flush` for an empty queue.
    room: Condvar,
}

pub(super) struct DecisionLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// A throwaway log (tests): its directory goes with it.
    remove_dir: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deletes the closed segments last written longer ago than the retention.
    fn prune(&self) {
        let Some(retention) = self.retention else { return };
        let active = {
            // Never a segment that still has bytes on their way to it.
            let st = self.lock();
            let in_flight = st.in_flight.as_deref().map(|v| v.as_slice()).unwrap_or_default();
            st.pending.iter().chain(in_flight).map(|c| c.seg).fold(st.seg, u32::min)
        };
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(retention) else { return };
        let (mut deleted, mut failed) = (0, 0);
        for seg in segments(&self.dir).unwrap_or_default().into_iter().filter(|&s| s < active) {
            let path = segment_path(&self.dir, seg);
            let old = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if old {
                match std::fs::remove_file(&path) {
                    Ok(()) => deleted += 1,
                    Err(_) => failed += 1,
                }
            }
        }
        if deleted + failed > 0 {
            tracing::info!(deleted, failed, retention = ?retention, "decision log segments past their retention");
        }
    }

    /// Writes batches as they come and syncs them; returns once closed and drained.
    fn run(&self) {
        let mut files = Files { dir: self.dir.clone(), open: None, dirty: false, synced: Instant::now(), failures: 0 };
        let mut last = Instant::now();
        let mut pruned = Instant::now();
        loop {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                self.prune();
            }
            let batch = {
                let mut st = self.lock();
                loop {
                    if st.closed || st.pending_bytes >= WAKE_BYTES || pruned.elapsed() >= PRUNE_EVERY {
                        break;
                    }
                    let idle = st.pending.is_empty();
                    let wait = if idle {
                        if files.dirty && files.synced.elapsed() >= SYNC_EVERY {
                            break;
                        }
                        let sync =
                            if files.dirty { SYNC_EVERY.saturating_sub(files.synced.elapsed()) } else { PRUNE_EVERY };
                        sync.min(PRUNE_EVERY.saturating_sub(pruned.elapsed()))
                    } else {
                        let since = last.elapsed();
                        if since >= WRITE_EVERY {
                            break;
                        }
                        WRITE_EVERY - since
                    };
                    st.idle = idle;
                    st = self
                        .work
                        .wait_timeout(st, wait.max(Duration::from_millis(1)))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if idle && !st.idle {
                        // Woken by the first append after a lull: let more come.
                        last = Instant::now();
                    }
                    st.idle = false;
                }
                if st.pending.is_empty() && st.closed {
                    drop(st);
                    files.sync();
                    return;
                }
                last = Instant::now();
                let batch = Arc::new(std::mem::take(&mut st.pending));
                st.pending_bytes = 0;
                st.in_flight = Some(Arc::clone(&batch));
                self.room.notify_all();
                batch
            };
            let mut all_written = true;
            for chunk in batch.iter() {
                all_written &= files.write(chunk);
            }
            {
                let mut st = self.lock();
                st.in_flight = None;
                st.rotate |= !all_written;
                if let Some(last) = batch.last() {
                    st.written = (last.seg, last.start + last.bytes.len() as u64);
                }
            }
            self.room.notify_all();
            if files.synced.elapsed() >= SYNC_EVERY {
                files.sync();
            }
        }
    }
}

impl DecisionLog {
    /// Opens the log in `dir` (created if absent); appends start a new
    /// segment. With a `retention`, older segments are deleted now and hourly.
    pub(super) fn open(dir: &Path, retention: Option<Duration>) -> Result<DecisionLog, ConsentError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("directory", e))?;
        let next = segments(dir)?.last().map_or(0, |s| s + 1);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            retention,
            state: Mutex::new(State { seg: next, ..State::default() }),
            work: Condvar::new(),
            room: Condvar::new(),
        });
        shared.prune();
        let worker = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || worker.run())
            .map_err(|e| ConsentError::io("starting the decision log thread", e))?;
        Ok(DecisionLog { shared, writer: Mutex::new(Some(writer)), remove_dir: false })
    }

    /// A log in a fresh directory under the system's temporary one, removed
    /// with the log.
    pub(super) fn temporary() -> Result<DecisionLog, ConsentError> {
        let dir = std::env::temp_dir().join(format!(
            "textgate-decisions-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut log = Self::open(&dir, None)?;
        log.remove_dir = true;
        Ok(log)
    }

    /// Appends `record` for `tenant`, decided at `micros`; returns its id. The
    /// record is readable at once and on disk shortly.
    pub(super) fn append(&self, tenant: &str, micros: i64, record: &[u8]) -> Result<String, ConsentError> {
        if tenant.len() > usize::from(u16::MAX) {
            return Err(ConsentError::Unavailable("decision log: tenant id too long".into()));
        }
        let frame = HEADER + 1 + ID_LEN + 2 + tenant.len() + record.len();
        let mut st = self.shared.lock();
        if st.pending_bytes >= MAX_PENDING && !st.closed {
            st = super::blocking_wait(|| {
                while st.pending_bytes >= MAX_PENDING && !st.closed {
                    st = self.shared.room.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                st
            });
        }
        if st.end > 0 && (st.rotate || st.end + frame as u64 > SEGMENT_BYTES) {
            st.seg += 1;
            st.end = 0;
        }
        st.rotate = false;
        let (seg, off) = (st.seg, st.end);
        let id = decision_id(micros.max(0) as u64, seg, off);
        if st.closed {
            // The writer is gone (shutdown): write it through.
            let mut bytes = Vec::with_capacity(frame);
            encode_into(&mut bytes, &id, tenant, record);
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(segment_path(&self.shared.dir, seg))
                .map_err(|e| io_err("open", e))?;
            st.end += frame as u64;
            file.write_all_at(&bytes, off).and_then(|()| file.sync_data()).map_err(|e| io_err("write", e))?;
            return Ok(id);
        }
        match st.pending.last_mut() {
            Some(c) if c.seg == seg => encode_into(&mut c.bytes, &id, tenant, record),
            _ => {
                let mut bytes = Vec::with_capacity((64 * 1024).max(frame));
                encode_into(&mut bytes, &id, tenant, record);
                st.pending.push(Chunk { seg, start: off, bytes });
            }
        }
        st.end += frame as u64;
        st.pending_bytes += frame;
        let wake =
            std::mem::take(&mut st.idle) || (st.pending_bytes >= WAKE_BYTES && st.pending_bytes - frame < WAKE_BYTES);
        drop(st);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(id)
    }

    /// The record logged under `id` for `tenant`, if any.
    pub(super) fn get(&self, tenant: &str, id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        let Some((seg, off)) = locate(id) else { return Ok(None) };
        let found =
            |frame: &[u8]| decode(frame).filter(|(i, t, _)| *i == id && *t == tenant).map(|(_, _, r)| r.to_vec());
        {
            let st = self.shared.lock();
            let in_flight = st.in_flight.as_deref().map(|v| v.as_slice()).unwrap_or_default();
            if let Some(frame) = st.pending.iter().chain(in_flight).find_map(|c| c.frame_at(seg, off)) {
                return Ok(found(frame));
            }
        }
        let file = match File::open(segment_path(&self.shared.dir, seg)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", e)),
        };
        // The id first: an offset that is not this id's frame costs one small read.
        let mut head = [0u8; HEADER + 1 + ID_LEN];
        if file.read_exact_at(&mut head, off).is_err()
            || head[HEADER] as usize != ID_LEN
            || &head[HEADER + 1..] != id.as_bytes()
        {
            return Ok(None);
        }
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
        if len > MAX_FRAME {
            return Ok(None);
        }
        let mut frame = vec![0u8; HEADER + len as usize];
        if file.read_exact_at(&mut frame, off).is_err() {
            return Ok(None);
        }
        Ok(found(&frame))
    }

    /// Waits until everything appended before this call is written to the
    /// files (later appends may still be pending).
    pub(super) fn flush(&self) {
        let mut st = self.shared.lock();
        let upto = (st.seg, st.end);
        while st.written < upto && (!st.pending.is_empty() || st.in_flight.is_some()) {
            self.shared.work.notify_one();
            st = self.shared.room.wait_timeout(st, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Every record in the files, oldest first, as (tenant, id, record); a
    /// segment's torn tail (a crash mid-write) ends that segment.
    pub(super) fn for_each(
        &self,
        f: impl FnMut(&str, &str, &[u8]) -> Result<(), ConsentError>,
    ) -> Result<(), ConsentError> {
        self.flush();
        scan(&self.shared.dir, f)
    }

    /// Writes what is pending, syncs it and stops the writer; later appends
    /// write through. Blocking.
    pub(super) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        self.shared.room.notify_all();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        self.close();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.shared.dir);
        }
    }
}
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
