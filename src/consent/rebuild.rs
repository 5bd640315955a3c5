//! `textgate rebuild`: rewrites every tree derived from the ledger
//! (`idempotency`, `by_phone`, `consent`) from the `events` tree.
//!
//! Crash safety: every event is decoded before anything changes (a ledger
//! that does not decode is left as it is); then an "incomplete" marker is
//! flushed, the derived trees are cleared and rewritten, flushed, and the
//! marker removed. A crash in between leaves the marker, so the server
//! refuses to start (rather than serve without some opt-outs) until a second
//! `rebuild` — which starts over from the untouched events — completes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::offline::{self, Operation};
use super::trees::Trees;
use super::verify::{verify, VerifyReport};
use super::{keys, records, ConsentError};
use crate::domain::ContactConsent;

/// Index entries written per sled batch.
const CHUNK: usize = 4096;

/// What a rebuild rewrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub phones: u64,
}

/// Rebuilds the store in `dir` (no server may be using it), then verifies it.
pub fn rebuild_dir(dir: &Path) -> Result<(RebuildReport, VerifyReport), ConsentError> {
    let db = offline::open_existing(dir)?;
    let trees = offline::trees(&db)?;
    let report = rebuild(&db, &trees, Operation::Rebuild, None)?;
    Ok((report, verify(&trees)?))
}

/// Rewrites the derived trees from `events` under `op`'s marker.
/// `crash_after`: tests stop here after that many events, marker still set,
/// as a crash would.
pub(super) fn rebuild(
    db: &sled::Db,
    t: &Trees,
    op: Operation,
    crash_after: Option<u64>,
) -> Result<RebuildReport, ConsentError> {
    // Refuse before touching anything when the ledger itself does not decode.
    for kv in t.events.iter() {
        let (k, v) = kv?;
        let seq = keys::parse_event(&k).map(|(_, s)| s);
        records::decode_event(&v).map_err(|e| {
            let what = format!("event {seq:?} ({}); restore the ledger from a backup", e.root_cause());
            ConsentError::Corrupt { what, source: None }
        })?;
    }
    offline::begin(db, op)?;
    for tree in t.derived() {
        tree.clear()?;
    }
    let mut report = RebuildReport::default();
    let mut folded: BTreeMap<Vec<u8>, ContactConsent> = BTreeMap::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let (mut ids, mut index) = (sled::Batch::default(), sled::Batch::default());
    let mut pending = 0;
    for kv in t.events.iter() {
        if crash_after == Some(report.events) {
            return Ok(report);
        }
        let (k, v) = kv?;
        let ev = records::decode_event(&v)?;
        let e = &ev.event;
        // Indexes point where the event is stored (a key that disagrees with
        // its event is reported by verify; rebuild cannot repair the ledger).
        let seq = keys::parse_event(&k).map_or(ev.sequence, |(_, s)| s);
        // The first event with an id owns it, as when it was recorded.
        let id_key = keys::idempotency(e.tenant_id.as_str(), &e.event_id);
        if seen.insert(id_key.clone()) {
            ids.insert(id_key, &seq.to_be_bytes());
        }
        index.insert(keys::by_phone(e.tenant_id.as_str(), e.phone.as_str(), seq), &[]);
        folded.entry(keys::phone(e.tenant_id.as_str(), e.phone.as_str())).or_default().apply(&ev);
        report.events += 1;
        pending += 1;
        if pending == CHUNK {
            t.idempotency.apply_batch(std::mem::take(&mut ids))?;
            t.by_phone.apply_batch(std::mem::take(&mut index))?;
            pending = 0;
        }
    }
    t.idempotency.apply_batch(ids)?;
    t.by_phone.apply_batch(index)?;
    report.phones = folded.len() as u64;
    let mut states = sled::Batch::default();
    for (i, (key, state)) in folded.into_iter().enumerate() {
        states.insert(key, records::encode_consent(&state));
        if (i + 1) % CHUNK == 0 {
            t.consent.apply_batch(std::mem::take(&mut states))?;
        }
    }
    t.consent.apply_batch(states)?;
    super::usage::store(t, &super::usage::recount(t)?)?;
    offline::finish(db)?;
    Ok(report)
}

#[cfg(test)]
#[path = "rebuild_tests.rs"]
mod tests;
