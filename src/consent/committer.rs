//! Group commit: one thread takes queued writes, applies up to `max_batch` of
//! them in one sled transaction, fsyncs once, and answers every waiter.
//!
//! Tracing: a batch's `ledger.commit` span is a child of its first writer's
//! span and links (follows-from) to the others', so every writer's trace
//! shows the fsync it waited for.
//!
//! Measured on this machine kind (DESIGN.md): a flush costs ~115 µs, and
//! batching 64 writes per flush gives ~5.7x the throughput of one flush per
//! write. `flush_async` from many tasks hangs sled 0.34, so only this thread
//! ever flushes on the write path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use jiff::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use tokio::sync::{mpsc, oneshot};
use tracing::field::Empty;
use tracing::Span;

use super::index::ConsentIndex;
use super::trees::Trees;
use super::unacked::Unacked;
use super::{keys, records, usage, ConsentError};
use crate::domain::{ConsentEvent, ContactConsent, NewEvent, TenantId};

/// Watches the committer, e.g. to export metrics. Must be cheap: it runs on
/// the committer thread between fsyncs.
pub trait CommitObserver: Send + Sync {
    /// One durable batch: how many writes it covered and how long its fsync took.
    fn committed(&self, batch: usize, flush: std::time::Duration);
    /// An event newly appended (not a duplicate) for `tenant`.
    fn appended(&self, tenant: &str);
}

/// The outcome of one write.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The stored event: the original one when `duplicate`.
    pub event: ConsentEvent,
    pub duplicate: bool,
    /// The number's consent after the write.
    pub consent: ContactConsent,
}

/// Where a write comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A caller of this instance: the event is stamped now.
    Local,
    /// The replicated log (cluster mode): the event keeps the stamp the
    /// accepting instance gave it, so every instance stores the same event,
    /// and `position` (its place in the consent stream) is stored as applied
    /// in the same transaction, so a restart resumes right after it.
    Replicated { recorded_at: Timestamp, position: u64 },
}

/// `meta` key of the last consent-stream position applied (big-endian u64).
pub const APPLIED_KEY: &[u8] = b"applied/consent";
/// `meta` key of the last send-stream position applied (contact history is
/// written behind, so this is at most a little ahead of what is durable;
/// applying send facts again is harmless).
pub const FACTS_KEY: &[u8] = b"applied/send";

/// A request to the committer.
pub enum Job {
    /// `span` is the writer's, for the commit span to join.
    Write {
        event: Box<NewEvent>,
        origin: Origin,
        reply: oneshot::Sender<Result<Recorded, ConsentError>>,
        span: Span,
    },
    /// Answers, between two batches, the last sequence of every tenant: a
    /// cut where no batch is half applied (online backup).
    Cut {
        reply: oneshot::Sender<Result<Vec<(String, u64)>, ConsentError>>,
    },
    Shutdown,
}

pub struct Committer {
    db: sled::Db,
    trees: Trees,
    max_batch: usize,
    /// Last sequence per tenant; loaded from the tree on first use.
    last_seq: HashMap<TenantId, u64>,
    observer: Option<Arc<dyn CommitObserver>>,
    durable: Durable,
    unacked: Arc<Unacked>,
    /// Told every number's new state once its batch is durable.
    index: Arc<ConsentIndex>,
    /// Per tenant of the batch being committed, its first new sequence.
    first_of_batch: HashMap<TenantId, u64>,
}

/// What makes a batch durable after sled's `flush`.
///
/// On Linux sled 0.34's `flush` writes its buffers with `sync_file_range`,
/// which neither writes the file's metadata (its size, when the log grew)
/// nor flushes the device's write cache; only its background thread calls
/// `fsync`, every 500 ms. So after `flush` the committer calls `fdatasync`
/// on sled's log file (`DIR/db`) through its own handle: fsync acts on the
/// file, whichever descriptor asks. A test store (temporary) has no file.
#[derive(Default)]
pub struct Durable {
    pub log: Option<std::fs::File>,
    /// Test hook: this many next flushes fail as a full disk would.
    pub faults: Arc<AtomicU32>,
}

impl Durable {
    fn flush(&self, db: &sled::Db) -> Result<(), ConsentError> {
        if self.faults.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ConsentError::io("injected storage fault", std::io::Error::other("disk full (test)")));
        }
        db.flush()?;
        if let Some(log) = &self.log {
            log.sync_data().map_err(|e| ConsentError::io("fdatasync of the store's log", e))?;
        }
        Ok(())
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<ConsentError>>;

/// One write's outcome, and the number's new state as stored (a record),
/// None for a duplicate.
type Applied = (Recorded, Option<Vec<u8>>);

/// A write waiting in a batch.
type Pending = (NewEvent, Origin, oneshot::Sender<Result<Recorded, ConsentError>>, Span);

impl Committer {
    pub fn new(
        db: sled::Db,
        trees: Trees,
        max_batch: usize,
        observer: Option<Arc<dyn CommitObserver>>,
        durable: Durable,
        unacked: Arc<Unacked>,
        index: Arc<ConsentIndex>,
    ) -> Self {
        Committer {
            db,
            trees,
            max_batch,
            last_seq: HashMap::new(),
            observer,
            durable,
            unacked,
            index,
            first_of_batch: HashMap::new(),
        }
    }

    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        loop {
            let Some(first) = rx.blocking_recv() else { break };
            let mut batch = Vec::with_capacity(self.max_batch);
            // A job other than a write ends the batch and runs after it.
            let mut control = None;
            match first {
                Job::Write { event, origin, reply, span } => batch.push((*event, origin, reply, span)),
                other => control = Some(other),
            }
            while control.is_none() && batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Job::Write { event, origin, reply, span }) => batch.push((*event, origin, reply, span)),
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
            match control {
                Some(Job::Shutdown) => break,
                Some(Job::Cut { reply }) => {
                    let _ = reply.send(self.cut());
                }
                _ => {}
            }
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "final ledger flush failed");
        }
    }

    fn commit(&mut self, batch: Vec<Pending>) {
        let parent = batch.first().map_or_else(Span::none, |(_, _, _, s)| s.clone());
        let span = tracing::info_span!(parent: &parent, "ledger.commit", batch = batch.len(), flush_us = Empty);
        let mut events = Vec::with_capacity(batch.len());
        let mut origins = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for (i, (event, origin, reply, writer)) in batch.into_iter().enumerate() {
            if i > 0 && !span.is_disabled() {
                span.follows_from(&writer);
            }
            events.push(event);
            origins.push(origin);
            replies.push(reply);
        }
        if self.unacked.latched() {
            for reply in replies {
                let _ = reply.send(Err(ConsentError::Latched));
            }
            return;
        }
        let result = span.in_scope(|| {
            self.load_last_seqs(&events).and_then(|()| self.apply(&events, &origins)).and_then(|out| {
                let started = std::time::Instant::now();
                self.durable.flush(&self.db)?;
                let took = started.elapsed();
                let flush_us = took.as_micros() as u64;
                tracing::Span::current().record("flush_us", flush_us);
                tracing::debug!(flush_us, "ledger flushed");
                Ok((out, took))
            })
        });
        // End the spans before answering: a writer's span ends after its answer.
        drop((span, parent));
        match result {
            Ok((outcomes, took)) => {
                // Before any answer: an acknowledged write is visible to reads.
                let (outcomes, states): (Vec<Recorded>, Vec<Option<Vec<u8>>>) = outcomes.into_iter().unzip();
                let changed = outcomes.iter().zip(states).filter_map(|(r, s)| Some((r, s?)));
                self.index
                    .set(changed.map(|(r, s)| (r.event.event.tenant_id.as_str(), r.event.event.phone.as_str(), s)));
                if let Some(o) = &self.observer {
                    o.committed(outcomes.len(), took);
                    outcomes.iter().filter(|r| !r.duplicate).for_each(|r| o.appended(r.event.event.tenant_id.as_str()));
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "ledger batch failed; no write in it is acknowledged, none accepted until restart"
                );
                let next: HashMap<TenantId, u64> = events
                    .iter()
                    .map(|e| (e.tenant_id.clone(), self.first_of_batch.get(&e.tenant_id).copied().unwrap_or(1)))
                    .collect();
                self.unacked.latch(&self.trees, &events, &next);
                // The cause is logged above; every writer hears that this
                // process now accepts no write until it restarts.
                for reply in replies {
                    let _ = reply.send(Err(ConsentError::Latched));
                }
            }
        }
    }

    /// Loads the last sequence of every tenant in the batch and notes the
    /// first one the batch will use.
    fn load_last_seqs(&mut self, events: &[NewEvent]) -> Result<(), ConsentError> {
        self.first_of_batch.clear();
        for e in events {
            if !self.last_seq.contains_key(&e.tenant_id) {
                let last = self.load_last_seq(e.tenant_id.as_str())?;
                self.last_seq.insert(e.tenant_id.clone(), last);
            }
            self.first_of_batch.insert(e.tenant_id.clone(), self.last_seq[&e.tenant_id] + 1);
        }
        Ok(())
    }

    /// Applies a batch in one transaction; updates sequence counters only
    /// after it commits (the closure may run more than once). Each outcome
    /// comes with the number's new state as stored (None for a duplicate).
    fn apply(&mut self, events: &[NewEvent], origins: &[Origin]) -> Result<Vec<Applied>, ConsentError> {
        let t = &self.trees;
        let now = Timestamp::now();
        let applied = origins.iter().filter_map(|o| match o {
            Origin::Replicated { position, .. } => Some(*position),
            Origin::Local => None,
        });
        let applied = applied.max();
        let (outcomes, seqs) = (&t.events, &t.idempotency, &t.by_phone, &t.consent, &t.meta)
            .transaction(|(ev_t, id_t, bp_t, cs_t, meta_t)| {
                let mut seqs = self.last_seq.clone();
                let mut out = Vec::with_capacity(events.len());
                let tx = TxTrees { events: ev_t, idempotency: id_t, by_phone: bp_t, consent: cs_t, meta: meta_t };
                for (e, origin) in events.iter().zip(origins) {
                    let stamp = match origin {
                        Origin::Local => now,
                        Origin::Replicated { recorded_at, .. } => *recorded_at,
                    };
                    out.push(apply_one(e, stamp, &mut seqs, &tx)?);
                }
                if let Some(position) = applied {
                    meta_t.insert(APPLIED_KEY, &position.to_be_bytes())?;
                }
                Ok((out, seqs))
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => e,
                sled::transaction::TransactionError::Storage(e) => e.into(),
            })?;
        self.last_seq = seqs;
        Ok(outcomes)
    }

    /// Every tenant's last stored sequence. Runs between batches, so each
    /// batch is either wholly inside the cut or wholly after it.
    fn cut(&self) -> Result<Vec<(String, u64)>, ConsentError> {
        if self.unacked.latched() {
            return Err(ConsentError::Latched);
        }
        let mut out = Vec::new();
        let mut from = Vec::new();
        while let Some(kv) = self.trees.events.range(from.as_slice()..).next() {
            let (k, _) = kv?;
            let tenant = keys::split_tenant(&k).ok_or_else(|| ConsentError::corrupt("event key"))?.0.to_string();
            out.push((tenant.clone(), self.load_last_seq(&tenant)?));
            from = keys::after_tenant(&tenant);
        }
        Ok(out)
    }

    fn load_last_seq(&self, tenant: &str) -> Result<u64, ConsentError> {
        match self.trees.events.scan_prefix(keys::tenant_prefix(tenant)).next_back() {
            Some(r) => {
                let (k, _) = r?;
                keys::event_seq(&k).ok_or_else(|| ConsentError::corrupt("event key"))
            }
            None => Ok(0),
        }
    }
}

fn abort(e: impl Into<ConsentError>) -> ConflictableTransactionError<ConsentError> {
    ConflictableTransactionError::Abort(e.into())
}

/// The trees one write touches, as seen inside the batch's transaction.
struct TxTrees<'a> {
    events: &'a TransactionalTree,
    idempotency: &'a TransactionalTree,
    by_phone: &'a TransactionalTree,
    consent: &'a TransactionalTree,
    /// Each tenant's usage (`usage`), kept with the write that changes it.
    meta: &'a TransactionalTree,
}

fn apply_one(e: &NewEvent, now: Timestamp, seqs: &mut HashMap<TenantId, u64>, tx: &TxTrees<'_>) -> TxResult<Applied> {
    let TxTrees { events: ev_t, idempotency: id_t, by_phone: bp_t, consent: cs_t, meta: meta_t } = *tx;
    let phone_key = keys::phone(e.tenant_id.as_str(), e.phone.as_str());
    let load_consent = |bytes: Option<sled::IVec>| -> TxResult<ContactConsent> {
        match bytes {
            Some(b) => records::decode_consent(&b).map_err(abort),
            None => Ok(ContactConsent::default()),
        }
    };
    if let Some(seq) = id_t.get(keys::idempotency(e.tenant_id.as_str(), &e.event_id))? {
        let seq = keys::event_seq(&seq).ok_or_else(|| abort(ConsentError::corrupt("idempotency value")))?;
        let original = ev_t
            .get(keys::event(e.tenant_id.as_str(), seq))?
            .ok_or_else(|| abort(ConsentError::corrupt(format!("idempotency names missing event {seq}"))))?;
        let event = records::decode_event(&original).map_err(abort)?;
        let consent = load_consent(cs_t.get(keys::phone(e.tenant_id.as_str(), event.event.phone.as_str()))?)?;
        return Ok((Recorded { event, duplicate: true, consent }, None));
    }
    let seq = seqs.get(&e.tenant_id).copied().unwrap_or(0) + 1;
    seqs.insert(e.tenant_id.clone(), seq);
    let stored = ConsentEvent { sequence: seq, recorded_at: now, event: e.clone() };
    let before = cs_t.get(phone_key.as_slice())?;
    let new_number = before.is_none();
    let mut consent = load_consent(before)?;
    consent.apply(&stored);
    let encoded = records::encode_event(&stored);
    usage::add(meta_t, e.tenant_id.as_str(), new_number, encoded.len())?;
    ev_t.insert(keys::event(e.tenant_id.as_str(), seq), encoded)?;
    id_t.insert(keys::idempotency(e.tenant_id.as_str(), &e.event_id), &seq.to_be_bytes())?;
    bp_t.insert(keys::by_phone(e.tenant_id.as_str(), e.phone.as_str(), seq), &[])?;
    let state = records::encode_consent(&consent);
    cs_t.insert(phone_key, state.as_slice())?;
    Ok((Recorded { event: stored, duplicate: false, consent }, Some(state)))
}

#[cfg(test)]
#[path = "committer_tests.rs"]
mod tests;
