//! The decision log's files: segment names, the frame format, and the
//! writer's open segment.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::super::ConsentError;

/// Largest frame payload a reader accepts (a corrupt length fails fast).
pub(super) const MAX_FRAME: u32 = 1024 * 1024;
pub(super) const HEADER: usize = 8;
/// Length of an id this log hands out.
pub(super) const ID_LEN: usize = 2 + 14 + 8 + 10;

/// Bytes for one segment, from where they start in it.
pub(super) struct Chunk {
    pub(super) seg: u32,
    pub(super) start: u64,
    pub(super) bytes: Vec<u8>,
}

impl Chunk {
    /// The frame at `off`, if this chunk holds it.
    pub(super) fn frame_at(&self, seg: u32, off: u64) -> Option<&[u8]> {
        if seg != self.seg || off < self.start {
            return None;
        }
        let at = usize::try_from(off - self.start).ok()?;
        let header = self.bytes.get(at..at + HEADER)?;
        let len = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
        self.bytes.get(at..at + HEADER + len)
    }
}

pub(super) fn io_err(what: &str, e: std::io::Error) -> ConsentError {
    ConsentError::io(format!("decision log {what}"), e)
}

pub(super) fn segment_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{seg:08x}.log"))
}

/// Segment numbers present in `dir`, ascending.
pub(super) fn segments(dir: &Path) -> Result<Vec<u32>, ConsentError> {
    let mut segs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err("directory", e))? {
        let name = entry.map_err(|e| io_err("directory", e))?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".log").filter(|n| n.len() == 8) {
            if let Ok(seg) = u32::from_str_radix(n, 16) {
                segs.push(seg);
            }
        }
    }
    segs.sort_unstable();
    Ok(segs)
}

/// The id of the record at `off` in `seg`, decided at `micros`:
/// `d-{micros:014x}{seg:08x}{off:010x}`, written without `format!` (it is on
/// every logged decision's path).
pub(super) fn decision_id(micros: u64, seg: u32, off: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(ID_LEN);
    id.push_str("d-");
    for (v, digits) in [(micros, 14), (u64::from(seg), 8), (off, 10)] {
        for i in (0..digits).rev() {
            id.push(char::from(HEX[((v >> (4 * i)) & 15) as usize]));
        }
    }
    id
}

/// (segment, offset) named by a decision id this log handed out.
pub(super) fn locate(id: &str) -> Option<(u32, u64)> {
    let hex = id.strip_prefix("d-").filter(|_| id.len() == ID_LEN)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((u32::from_str_radix(&hex[14..22], 16).ok()?, u64::from_str_radix(&hex[22..], 16).ok()?))
}

/// A frame's (id, tenant, record), if its checksum holds.
pub(super) fn decode(frame: &[u8]) -> Option<(&str, &str, &[u8])> {
    let len = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?);
    let payload = frame.get(HEADER..HEADER + len)?;
    if len == 0 || crc32fast::hash(payload) != crc {
        return None;
    }
    let id_len = *payload.first()? as usize;
    let id = std::str::from_utf8(payload.get(1..1 + id_len)?).ok()?;
    let rest = &payload[1 + id_len..];
    let tenant_len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let tenant = std::str::from_utf8(rest.get(2..2 + tenant_len)?).ok()?;
    Some((id, tenant, &rest[2 + tenant_len..]))
}

pub(super) fn encode_into(out: &mut Vec<u8>, id: &str, tenant: &str, record: &[u8]) {
    let at = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&(tenant.len() as u16).to_be_bytes());
    out.extend_from_slice(tenant.as_bytes());
    out.extend_from_slice(record);
    let payload = &out[at + HEADER..];
    let (len, crc) = (payload.len() as u32, crc32fast::hash(payload));
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
}

/// Every record in the segment files in `dir`, oldest first, as (tenant, id,
/// record); a segment's torn tail (a crash mid-write) ends that segment.
pub(in crate::consent) fn scan(
    dir: &Path,
    mut f: impl FnMut(&str, &str, &[u8]) -> Result<(), ConsentError>,
) -> Result<(), ConsentError> {
    for seg in segments(dir)? {
        let file = match File::open(segment_path(dir, seg)) {
            Ok(f) => f,
            // Deleted since the listing (retention): nothing to read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("read", e)),
        };
        let size = file.metadata().map_err(|e| io_err("read", e))?.len();
        let mut r = BufReader::with_capacity(1 << 16, file);
        let (mut at, mut frame) = (0u64, vec![0u8; HEADER]);
        while at < size {
            frame.truncate(HEADER);
            let Some((id, tenant, record)) = read_frame(&mut r, &mut frame) else {
                tracing::warn!(
                    segment = seg,
                    offset = at,
                    skipped = size - at,
                    "decision log: a damaged frame ends this segment's scan"
                );
                break;
            };
            f(tenant, id, record)?;
            at += frame.len() as u64;
        }
    }
    Ok(())
}

/// The next frame of `r`, read into `frame` (which holds HEADER bytes).
fn read_frame<'a>(r: &mut impl Read, frame: &'a mut Vec<u8>) -> Option<(&'a str, &'a str, &'a [u8])> {
    r.read_exact(frame).ok()?;
    let len = u32::from_be_bytes(frame[..4].try_into().ok()?);
    if len == 0 || len > MAX_FRAME {
        return None;
    }
    frame.resize(HEADER + len as usize, 0);
    r.read_exact(&mut frame[HEADER..]).ok()?;
    decode(frame)
}

/// The writer's open segment.
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) open: Option<(u32, File)>,
    /// Written since the last fdatasync.
    pub(super) dirty: bool,
    pub(super) synced: Instant,
    pub(super) failures: u64,
}

impl Files {
    /// Writes `chunk` at its reserved offset; false when it could not be
    /// written (the next appends then go to a new segment, so a hole never
    /// sits before records a scan should find).
    pub(super) fn write(&mut self, chunk: &Chunk) -> bool {
        if self.open.as_ref().is_none_or(|(seg, _)| *seg != chunk.seg) {
            self.sync();
            let path = segment_path(&self.dir, chunk.seg);
            let opened = OpenOptions::new().create(true).write(true).truncate(false).open(&path);
            // The new file's name must survive a power loss too.
            match opened.and_then(|f| File::open(&self.dir).and_then(|d| d.sync_all()).map(|()| f)) {
                Ok(f) => self.open = Some((chunk.seg, f)),
                Err(e) => {
                    self.failed(&io_err("open", e));
                    return false;
                }
            }
        }
        let (_, file) = self.open.as_ref().expect("opened above");
        // At its reserved offset: a failed write leaves a hole that readers
        // reject, never a shift of every later record.
        match file.write_all_at(&chunk.bytes, chunk.start) {
            Ok(()) => {
                self.dirty = true;
                true
            }
            Err(e) => {
                self.failed(&io_err("write", e));
                false
            }
        }
    }

    pub(super) fn sync(&mut self) {
        if let (true, Some((_, f))) = (self.dirty, &self.open) {
            if let Err(e) = f.sync_data() {
                self.failed(&io_err("fdatasync", e));
            }
        }
        self.dirty = false;
        self.synced = Instant::now();
    }

    /// Decisions are not consent: a full or failing disk loses log records
    /// (they read as not found), never an answer. Logged on the first and
    /// every 10,000th failure.
    fn failed(&mut self, e: &ConsentError) {
        if self.failures.is_multiple_of(10_000) {
            tracing::warn!(error = %e, failures = self.failures + 1, "decision log records not written");
        }
        self.failures += 1;
    }
}

/// Writes restored decisions back where their ids say, so they keep their
/// ids and the retention applies to them (each segment's modification time
/// is set to its newest decision's).
pub(in crate::consent) struct Restorer {
    dir: PathBuf,
    open: std::collections::HashMap<u32, (File, u64)>,
}

impl Restorer {
    pub(in crate::consent) fn new(dir: &Path) -> Result<Restorer, ConsentError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("directory", e))?;
        Ok(Restorer { dir: dir.to_path_buf(), open: Default::default() })
    }

    /// Writes one decision; false when `id` is not one this log hands out
    /// (an older decision, which stays in the sled tree).
    pub(in crate::consent) fn put(&mut self, tenant: &str, id: &str, record: &[u8]) -> Result<bool, ConsentError> {
        let Some((seg, off)) = locate(id) else { return Ok(false) };
        let micros = u64::from_str_radix(&id[2..16], 16).unwrap_or(0);
        let (file, newest) = match self.open.entry(seg) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = segment_path(&self.dir, seg);
                let f = OpenOptions::new().create(true).write(true).truncate(false).open(path);
                v.insert((f.map_err(|e| io_err("restore", e))?, 0))
            }
        };
        let mut bytes = Vec::with_capacity(HEADER + 3 + id.len() + tenant.len() + record.len());
        encode_into(&mut bytes, id, tenant, record);
        file.write_all_at(&bytes, off).map_err(|e| io_err("restore", e))?;
        *newest = (*newest).max(micros);
        Ok(true)
    }

    /// Syncs every file written, dates it, and syncs the directory.
    pub(in crate::consent) fn finish(self) -> Result<(), ConsentError> {
        for (file, newest) in self.open.into_values() {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(newest);
            file.set_modified(at).and_then(|()| file.sync_all()).map_err(|e| io_err("restore", e))?;
        }
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io_err("restore", e))
    }
}
