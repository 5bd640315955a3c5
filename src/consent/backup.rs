//! Backups: a consistent copy of the ledger, taken while it serves, in one
//! self-checking file; and `restore`, which brings it back.
//!
//! Consistency: the activity trees (contact history, decision log, inbound
//! answers; the decision log's files as a `decisions` tree) are copied
//! first, as they are at that moment; then the committer
//! is asked, between two batches, for every tenant's last sequence (the cut);
//! then the events up to the cut are copied. Events are append-only, so the
//! copy holds exactly the ledger as of the cut: every event acknowledged
//! before the backup began and no half-applied batch. An inbound answer is
//! stored only after its event was acknowledged, so every answer in the copy
//! has its event too. Derived trees are not copied; `restore` rebuilds them.
//!
//! File format (big-endian): the magic line, the seal byte (`K`: HMAC-SHA256
//! under the backup key; `U`: plain SHA-256, see [`super::backup_key`]), then
//! tree sections `'T' u16 name_len name` each followed by entries
//! `'E' u32 key_len key u32 value_len value`, then `'Z' u64 entries u64
//! events` and the HMAC (or SHA-256) of every byte before it. A truncated or
//! altered file fails the check and is never restored. Version 1 files (no
//! seal byte, SHA-256) are read as unauthenticated.
//!
//! Restore is bounded before it allocates: a length is refused when it is
//! over [`MAX_ITEM`] or over what the file has left, and only the trees a
//! backup writes are accepted.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use tokio::sync::oneshot;

use super::backup_key::{bad, open_input, Hasher, Seal, Trust, MAGIC};
use super::committer::Job;
use super::ledger::Ledger;
use super::offline::{self, Operation};
use super::trees::Trees;
use super::verify::{verify, VerifyReport};
use super::{keys, rebuild, ConsentError};

/// The trees a backup holds, and so the only ones restore writes.
const COPIED: &[&str] = &["contact", "decisions", "events", "inbound"];
/// Entries imported per sled batch.
const CHUNK: usize = 4096;

/// What a backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Tenants with events.
    pub tenants: usize,
    pub events: u64,
    /// Every entry, events included.
    pub entries: u64,
    /// How the file's end was made.
    pub seal: Seal,
    /// A keyed file read without its key: structure and counts checked,
    /// not the HMAC.
    pub unchecked: bool,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tenants={} events={} entries={} seal={}",
            self.tenants,
            self.events,
            self.entries,
            self.seal.name()
        )?;
        if self.unchecked {
            f.write_str(" (not checked: no backup key given)")?;
        }
        Ok(())
    }
}

fn io_err(e: io::Error) -> ConsentError {
    ConsentError::io("backup file", e)
}

/// Writes the format, hashing everything it writes.
struct Writer<W: Write> {
    out: W,
    hash: Hasher,
    summary: BackupSummary,
}

impl<W: Write> Writer<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ConsentError> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(io_err)
    }

    fn tree(&mut self, name: &[u8]) -> Result<(), ConsentError> {
        self.put(b"T")?;
        self.put(&(name.len() as u16).to_be_bytes())?;
        self.put(name)
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), ConsentError> {
        self.put(b"E")?;
        for part in [key, value] {
            self.put(&(part.len() as u32).to_be_bytes())?;
            self.put(part)?;
        }
        self.summary.entries += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<BackupSummary, ConsentError> {
        self.put(b"Z")?;
        let counts = [self.summary.entries.to_be_bytes(), self.summary.events.to_be_bytes()].concat();
        self.put(&counts)?;
        let digest = self.hash.finalize();
        self.out.write_all(&digest).map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok(self.summary)
    }
}

impl Ledger {
    /// Writes a consistent backup to `out` while the ledger keeps serving.
    /// Blocking: call it from a blocking thread.
    pub fn write_backup(&self, out: impl Write) -> Result<BackupSummary, ConsentError> {
        let key = self.backup_key.as_ref();
        let seal = if key.is_some() { Seal::Keyed } else { Seal::Unkeyed };
        if key.is_none() {
            tracing::warn!("backup written without a backup key: anyone who can edit it can fix its checksum");
        }
        let summary = BackupSummary { seal, ..BackupSummary::default() };
        let mut w = Writer { out, hash: Hasher::new(key), summary };
        w.put(MAGIC)?;
        w.put(&[seal.byte()])?;
        self.activity.flush();
        let mut names = self.db.tree_names();
        names.sort();
        let copied = |n: &sled::IVec| COPIED.iter().any(|c| c.as_bytes() == n.as_ref() && *c != "events");
        for name in names.iter().filter(|n| copied(n)) {
            w.tree(name)?;
            for kv in self.db.open_tree(name)?.iter() {
                let (k, v) = kv?;
                w.entry(&k, &v)?;
            }
        }
        // The decision log's files, as entries of the `decisions` tree: a
        // restored store reads them from there, under the same ids.
        w.tree(b"decisions")?;
        self.activity.decision_log.for_each(|tenant, id, record| w.entry(&keys::idempotency(tenant, id), record))?;
        let cut = self.cut()?;
        w.tree(b"events")?;
        for (tenant, last) in &cut {
            for kv in self.trees.events.range(keys::event(tenant, 1)..=keys::event(tenant, *last)) {
                let (k, v) = kv?;
                w.entry(&k, &v)?;
                w.summary.events += 1;
            }
        }
        w.summary.tenants = cut.len();
        w.finish()
    }

    /// Every tenant's last sequence, taken by the committer between batches.
    fn cut(&self) -> Result<Vec<(String, u64)>, ConsentError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ConsentError::Unavailable("ledger is shut down".into());
        self.jobs.blocking_send(Job::Cut { reply }).map_err(|_| gone())?;
        answer.blocking_recv().map_err(|_| gone())?
    }
}

/// One item of a backup file.
enum Item<'a> {
    Tree(&'a [u8]),
    Entry(&'a [u8], &'a [u8]),
}

/// Reads a backup of `len` bytes, handing each item to `sink`, and checks
/// its end and digest as `trust` says. An error from `sink` stops the read.
fn read(
    input: impl Read,
    len: u64,
    trust: Trust<'_>,
    mut sink: impl FnMut(Item<'_>) -> Result<(), ConsentError>,
) -> Result<BackupSummary, ConsentError> {
    let (mut r, seal, unchecked) = open_input(BufReader::with_capacity(1 << 16, input), len, trust)?;
    let mut s = BackupSummary { seal, unchecked, ..BackupSummary::default() };
    let mut in_events = false;
    let mut tenant: Option<String> = None;
    loop {
        match r.take(1)?[0] {
            b'T' => {
                let len = u16::from_be_bytes(r.take(2)?.try_into().expect("2 bytes"));
                let name = r.take(len.into())?;
                if !COPIED.iter().any(|c| c.as_bytes() == name) {
                    return Err(bad(format!("a tree no backup holds ({:?})", String::from_utf8_lossy(&name))));
                }
                in_events = name == b"events";
                sink(Item::Tree(&name))?;
            }
            b'E' => {
                let (k, v) = (r.item()?, r.item()?);
                s.entries += 1;
                if in_events {
                    s.events += 1;
                    let t = keys::parse_event(&k).ok_or_else(|| bad("an event key"))?.0;
                    if tenant.as_deref() != Some(t) {
                        tenant = Some(t.to_string());
                        s.tenants += 1;
                    }
                }
                sink(Item::Entry(&k, &v))?;
            }
            b'Z' => {
                let counts = r.take(16)?;
                let mut stored = [0u8; 32];
                r.r.read_exact(&mut stored).map_err(|_| bad("it ends early"))?;
                if !r.hash.matches(&stored) && !s.unchecked {
                    return Err(bad(match s.seal {
                        Seal::Keyed => "its HMAC does not match: altered, or written under another backup key",
                        Seal::Unkeyed => "checksum mismatch",
                    }));
                }
                if counts != [s.entries.to_be_bytes(), s.events.to_be_bytes()].concat() {
                    return Err(bad("entry counts differ"));
                }
                if r.r.read(&mut [0u8; 1]).map_err(io_err)? != 0 {
                    return Err(bad("bytes after its end"));
                }
                return Ok(s);
            }
            other => return Err(bad(format!("unknown record {other:#04x}"))),
        }
    }
}

/// Checks a backup file end to end (magic, every record, digest), as
/// `trust` says.
pub fn check_file(path: &Path, trust: Trust<'_>) -> Result<BackupSummary, ConsentError> {
    let (file, len) = open_file(path)?;
    read(file, len, trust, |_| Ok(()))
}

fn open_file(path: &Path) -> Result<(File, u64), ConsentError> {
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    Ok((file, len))
}

/// Restores the backup `from` into the store `dir` (created if absent; a
/// non-empty directory only with `force`, which replaces its contents), then
/// rebuilds the derived trees and verifies the result. The file is checked
/// completely before anything is written; a crash part-way leaves a store
/// that refuses to serve until `restore` is run again.
pub fn restore(
    from: &Path,
    dir: &Path,
    force: bool,
    trust: Trust<'_>,
) -> Result<(BackupSummary, VerifyReport), ConsentError> {
    let trust = Trust { structure_only: false, ..trust };
    let summary = check_file(from, trust)?;
    let occupied = std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if occupied && !force {
        return Err(ConsentError::Unavailable(format!(
            "{} is not empty; restore only into an empty directory, or pass --force to replace its contents",
            dir.display()
        )));
    }
    let db = offline::open_dir(dir, 64 * 1024 * 1024)?;
    offline::begin(&db, Operation::Restore)?;
    let log_dir = dir.join(super::activity::DECISION_LOG_DIR);
    match std::fs::remove_dir_all(&log_dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(e)),
        _ => {}
    }
    let mut decisions = super::decision_log::Restorer::new(&log_dir)?;
    let mut in_decisions = false;
    for name in db.tree_names() {
        match name.as_ref() {
            b"meta" => {}
            b"__sled__default" => db.clear()?,
            _ => {
                db.drop_tree(&name)?;
            }
        }
    }
    let mut tree: Option<(sled::Tree, sled::Batch, usize)> = None;
    let flush = |t: &mut Option<(sled::Tree, sled::Batch, usize)>| -> Result<(), ConsentError> {
        if let Some((tree, batch, _)) = t.take() {
            tree.apply_batch(batch)?;
        }
        Ok(())
    };
    let (file, len) = open_file(from)?;
    read(file, len, trust, |item| match item {
        Item::Tree(name) => {
            flush(&mut tree)?;
            in_decisions = name == b"decisions";
            tree = Some((db.open_tree(name)?, sled::Batch::default(), 0));
            Ok(())
        }
        // Decisions go back into the decision log's files, under their ids.
        Item::Entry(k, v)
            if in_decisions
                && keys::split_tenant(k)
                    .and_then(|(t, id)| Some((t, std::str::from_utf8(id).ok()?)))
                    .map(|(t, id)| decisions.put(t, id, v))
                    .transpose()?
                    .unwrap_or(false) =>
        {
            Ok(())
        }
        Item::Entry(k, v) => {
            let (t, batch, n) = tree.as_mut().ok_or_else(|| bad("an entry before any tree"))?;
            batch.insert(k, v);
            *n += 1;
            if *n == CHUNK {
                t.apply_batch(std::mem::take(batch))?;
                *n = 0;
            }
            Ok(())
        }
    })?;
    flush(&mut tree)?;
    decisions.finish()?;
    let trees = Trees::open(&db)?;
    rebuild::rebuild(&db, &trees, Operation::Restore, None)?;
    Ok((summary, verify(&trees)?))
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
