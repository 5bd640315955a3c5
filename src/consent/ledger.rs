//! Opening the store, reading it, and handing writes to the group committer.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::activity::ActivityTrees;
use super::backup_key::BackupKey;
use super::committer::{CommitObserver, Committer, Durable, Job, Origin, Recorded, APPLIED_KEY, FACTS_KEY};
use super::decision_log::IdSeal;
use super::disk_reserve::DiskReserve;
use super::index::{ConsentIndex, Lookup};
use super::server_key::ServerKey;
use super::trees::Trees;
use super::unacked::Unacked;
use super::{keys, offline, records, ConsentError};
use crate::domain::{ConsentEvent, ContactConsent, ContactHistory, NewEvent, TenantId};
use crate::phone::PhoneNumber;

/// How the ledger commits writes.
#[derive(Clone)]
pub struct LedgerOptions {
    /// Most events one fsync covers. 1 = one fsync per write.
    pub max_batch: usize,
    /// Writes waiting for the committer before callers wait for room.
    pub queue: usize,
    /// sled page cache, bytes.
    pub cache_bytes: u64,
    /// Told about every commit (metrics); called on the committer thread.
    pub observer: Option<Arc<dyn CommitObserver>>,
    /// Decision-log segments older than this are deleted (None: kept).
    pub decision_log_retention: Option<std::time::Duration>,
    /// Memory for every number's consent (0: read sled always).
    pub consent_index_bytes: usize,
    /// Free disk kept for revocations: below it, nothing else is written
    /// (0: none; see `disk_reserve`).
    pub reserved_disk_bytes: u64,
    /// Authenticates the backups this ledger writes (None: a plain checksum).
    pub backup_key: Option<BackupKey>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_batch: 64,
            queue: 4096,
            cache_bytes: 256 * 1024 * 1024,
            observer: None,
            decision_log_retention: None,
            consent_index_bytes: (DEFAULT_CONSENT_INDEX_MIB as usize) << 20,
            reserved_disk_bytes: 0,
            backup_key: None,
        }
    }
}

/// Memory of the in-memory consent index by default: about 2,200,000
/// numbers (measured about 180 bytes each).
pub const DEFAULT_CONSENT_INDEX_MIB: u64 = 384;

impl std::fmt::Debug for LedgerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerOptions")
            .field("max_batch", &self.max_batch)
            .field("queue", &self.queue)
            .field("cache_bytes", &self.cache_bytes)
            .field("observer", &self.observer.is_some())
            .field("decision_log_retention", &self.decision_log_retention)
            .field("consent_index_bytes", &self.consent_index_bytes)
            .field("reserved_disk_bytes", &self.reserved_disk_bytes)
            .field("backup_key", &self.backup_key)
            .finish()
    }
}

/// The consent ledger. Writes go through one committer thread that applies a
/// batch in one sled transaction and fsyncs it once (group commit); a write is
/// acknowledged only after that fsync.
pub struct Ledger {
    pub(super) db: sled::Db,
    pub(super) trees: Trees,
    pub(super) activity: Arc<ActivityTrees>,
    pub(super) jobs: mpsc::Sender<Job>,
    committer: Mutex<Option<JoinHandle<()>>>,
    /// Every number's consent in memory, loaded by `loader` after open.
    index: Arc<ConsentIndex>,
    loader: Mutex<Option<JoinHandle<()>>>,
    faults: Arc<std::sync::atomic::AtomicU32>,
    /// Set when a batch failed to reach the disk; readers skip what it left.
    unacked: Arc<Unacked>,
    /// The free space kept for revocations (a store on disk with a reserve).
    pub(super) reserve: Option<DiskReserve>,
    /// The data directory (None for a temporary store).
    pub(super) dir: Option<std::path::PathBuf>,
    /// The store's secret (`server.key`): keys body digests.
    pub(super) key: ServerKey,
    /// Makes decision ids opaque, under a key derived from `key`.
    pub(super) ids: IdSeal,
    /// Authenticates backups (see `backup_key`).
    pub(super) backup_key: Option<BackupKey>,
}

impl Ledger {
    /// Opens (or creates) the store in `dir` and starts the committer.
    pub fn open(dir: &Path, opts: &LedgerOptions) -> Result<Ledger, ConsentError> {
        let db = offline::open_dir(dir, opts.cache_bytes)?;
        let log = std::fs::File::open(dir.join("db"))
            .map_err(|e| ConsentError::io(format!("opening {}", dir.join("db").display()), e))?;
        let key = ServerKey::load_or_create(dir)?;
        let mut ledger = Self::with_db(db, Some(dir), opts, Durable { log: Some(log), ..Durable::default() }, key)?;
        ledger.reserve = (opts.reserved_disk_bytes > 0).then(|| DiskReserve::new(dir.into(), opts.reserved_disk_bytes));
        ledger.dir = Some(dir.into());
        Ok(ledger)
    }

    /// A throwaway store for tests.
    pub fn temporary(opts: &LedgerOptions) -> Result<Ledger, ConsentError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::with_db(db, None, opts, Durable::default(), ServerKey::random())
    }

    fn with_db(
        db: sled::Db,
        dir: Option<&Path>,
        opts: &LedgerOptions,
        durable: Durable,
        key: ServerKey,
    ) -> Result<Ledger, ConsentError> {
        offline::check_complete(&db)?;
        let trees = Trees::open(&db)?;
        super::usage::count_if_new(&trees)?;
        db.open_tree("meta")?.insert("schema_version", &records::SCHEMA_VERSION.to_be_bytes())?;
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let faults = Arc::clone(&durable.faults);
        let unacked = Arc::new(Unacked::default());
        let index = Arc::new(ConsentIndex::new(opts.consent_index_bytes));
        let committer = Committer::new(
            db.clone(),
            trees.clone(),
            opts.max_batch.max(1),
            opts.observer.clone(),
            durable,
            Arc::clone(&unacked),
            Arc::clone(&index),
        );
        let handle = std::thread::Builder::new()
            .name("ledger-committer".into())
            .spawn(move || committer.run(rx))
            .map_err(|e| ConsentError::io("starting the committer thread", e))?;
        let activity = Arc::new(ActivityTrees::open(&db, dir, opts.decision_log_retention)?);
        let loader = {
            let (index, tree) = (Arc::clone(&index), trees.consent.clone());
            std::thread::Builder::new()
                .name("consent-index".into())
                .spawn(move || index.load(&tree))
                .map_err(|e| ConsentError::io("starting the consent index thread", e))?
        };
        Ok(Ledger {
            db,
            trees,
            activity,
            jobs: tx,
            committer: Mutex::new(Some(handle)),
            index,
            loader: Mutex::new(Some(loader)),
            faults,
            unacked,
            reserve: None,
            dir: None,
            ids: IdSeal::new(&key.derive("textgate decision id v1", "")),
            backup_key: opts.backup_key.clone(),
            key,
        })
    }

    /// Test hook: the next `n` group commits fail as if the disk were full
    /// (applied in memory, never acknowledged); the first failure latches
    /// the ledger, which then refuses writes until it is reopened.
    #[doc(hidden)]
    pub fn inject_flush_faults(&self, n: u32) {
        self.faults.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Appends an event, or returns the original if its id was seen before.
    /// Returns only after the event is fsynced.
    /// The wait is a `ledger.record` span; the committer's `ledger.commit`
    /// span joins it (as child or as link).
    pub async fn record(&self, event: NewEvent) -> Result<Recorded, ConsentError> {
        self.write(event, Origin::Local).await
    }

    /// Queues an event read from the replicated log at `position` of the
    /// consent stream, stamped `recorded_at` by the instance that accepted
    /// it; the position is stored with it. Cluster mode's only way in.
    /// Returns once queued, so a caller that queues in stream order gets
    /// them applied in that order; the receiver answers once it is durable.
    pub async fn apply_replicated(
        &self,
        event: NewEvent,
        recorded_at: jiff::Timestamp,
        position: u64,
    ) -> Result<oneshot::Receiver<Result<Recorded, ConsentError>>, ConsentError> {
        self.queue(event, Origin::Replicated { recorded_at, position }).await
    }

    /// Queues a write of this instance's caller and returns at once; the
    /// receiver answers once it is fsynced. Writes queued one after the other
    /// get sequences in that order (a bulk import keeps its file's order
    /// while many writes wait for their fsync at once).
    pub async fn submit(
        &self,
        event: NewEvent,
    ) -> Result<oneshot::Receiver<Result<Recorded, ConsentError>>, ConsentError> {
        self.queue(event, Origin::Local).await
    }

    async fn queue(
        &self,
        event: NewEvent,
        origin: Origin,
    ) -> Result<oneshot::Receiver<Result<Recorded, ConsentError>>, ConsentError> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        self.jobs
            .send(Job::Write { event: Box::new(event), origin, reply, span })
            .await
            .map_err(|_| ConsentError::Unavailable("ledger is shut down".into()))?;
        Ok(answer)
    }

    /// Every event of every tenant, tenant by tenant in ledger order (the
    /// reconciler republishes them when the replicated log lost them).
    pub fn all_events(&self) -> impl Iterator<Item = Result<ConsentEvent, ConsentError>> + '_ {
        self.trees.events.iter().map(|kv| records::decode_event(&kv?.1))
    }

    /// The last consent-stream position applied to this store (0: none).
    pub fn applied_position(&self) -> Result<u64, ConsentError> {
        self.position(APPLIED_KEY)
    }

    /// The last send-stream position applied to the contact histories.
    pub fn fact_position(&self) -> Result<u64, ConsentError> {
        self.position(FACTS_KEY)
    }

    /// Notes the send-stream position applied (made durable with the next flush).
    pub fn set_fact_position(&self, position: u64) -> Result<(), ConsentError> {
        self.trees.meta.insert(FACTS_KEY, &position.to_be_bytes())?;
        Ok(())
    }

    fn position(&self, key: &[u8]) -> Result<u64, ConsentError> {
        self.trees.position(key)
    }

    /// The stored event with `event_id`, and its number's consent now.
    pub fn find(&self, tenant: &TenantId, event_id: &str) -> Result<Option<Recorded>, ConsentError> {
        let Some(seq) = self.trees.idempotency.get(keys::idempotency(tenant.as_str(), event_id))? else {
            return Ok(None);
        };
        let seq = keys::event_seq(&seq).ok_or_else(|| ConsentError::corrupt("idempotency value"))?;
        let bytes = self
            .trees
            .events
            .get(keys::event(tenant.as_str(), seq))?
            .ok_or_else(|| ConsentError::corrupt(format!("idempotency names missing event {seq}")))?;
        let event = records::decode_event(&bytes)?;
        let consent = self.consent(tenant, &event.event.phone)?.unwrap_or_default();
        Ok(Some(Recorded { event, duplicate: true, consent }))
    }

    async fn write(&self, event: NewEvent, origin: Origin) -> Result<Recorded, ConsentError> {
        let wait = async {
            let answer = self.queue(event, origin).await?;
            answer.await.map_err(|_| ConsentError::Unavailable("ledger stopped before the write".into()))?
        };
        wait.instrument(tracing::debug_span!("ledger.record")).await
    }

    /// False once a batch failed to reach the disk: every write is refused
    /// until the process restarts.
    pub fn writable(&self) -> bool {
        !self.unacked.latched()
    }

    /// Numbers in the in-memory consent index, and whether it answers every
    /// read (loaded, within its limit).
    pub fn consent_index(&self) -> (usize, bool) {
        self.index.stats()
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, ConsentError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Current consent of one number (None when nothing was ever recorded).
    /// Reads the in-memory index when it can answer, else sled.
    pub fn consent(&self, tenant: &TenantId, phone: &PhoneNumber) -> Result<Option<ContactConsent>, ConsentError> {
        if self.unacked.latched() {
            if let Some(durable) = self.unacked.consent(&keys::phone(tenant.as_str(), phone.as_str())) {
                return Ok(Some(durable));
            }
        }
        match self.index.get(tenant.as_str(), phone.as_str())? {
            Lookup::Found(c) => return Ok(Some(c)),
            Lookup::Absent => return Ok(None),
            Lookup::Unknown => {}
        }
        match self.trees.consent.get(keys::phone(tenant.as_str(), phone.as_str()))? {
            Some(bytes) => Ok(Some(records::decode_consent(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Events of a tenant (optionally one number) with sequence > `after`,
    /// oldest first.
    pub fn events<'a>(
        &'a self,
        tenant: &TenantId,
        phone: Option<&PhoneNumber>,
        after: u64,
    ) -> Box<dyn Iterator<Item = Result<ConsentEvent, ConsentError>> + Send + 'a> {
        let start = after.saturating_add(1);
        if let Some(end) = self.unacked.first_unacked(tenant.as_str()) {
            let durable = self.events_from(tenant.as_str(), phone.map(PhoneNumber::as_str), start);
            return Box::new(durable.take_while(move |r| r.as_ref().map_or(true, |e| e.sequence < end)));
        }
        self.events_from(tenant.as_str(), phone.map(PhoneNumber::as_str), start)
    }

    fn events_from<'a>(
        &'a self,
        tenant: &str,
        phone: Option<&str>,
        start: u64,
    ) -> Box<dyn Iterator<Item = Result<ConsentEvent, ConsentError>> + Send + 'a> {
        match phone {
            None => {
                let lo = keys::event(tenant, start);
                let hi = keys::event(tenant, u64::MAX);
                Box::new(self.trees.events.range(lo..=hi).map(|r| {
                    let (_, v) = r?;
                    records::decode_event(&v)
                }))
            }
            Some(p) => {
                let lo = keys::by_phone(tenant, p, start);
                let prefix = keys::by_phone_prefix(tenant, p);
                let tenant = tenant.to_string();
                Box::new(
                    self.trees
                        .by_phone
                        .range(lo..)
                        .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
                        .map(move |r| {
                            let (k, _) = r?;
                            let seq = keys::event_seq(&k).ok_or_else(|| ConsentError::corrupt("by_phone key"))?;
                            let v = self
                                .trees
                                .events
                                .get(keys::event(&tenant, seq))?
                                .ok_or_else(|| ConsentError::corrupt(format!("index names missing event {seq}")))?;
                            records::decode_event(&v)
                        }),
                )
            }
        }
    }

    /// Stops the committer after the writes already queued, then flushes.
    /// Writes submitted afterwards fail with `Unavailable`.
    pub async fn shutdown(&self) -> Result<(), ConsentError> {
        self.index.stop();
        let loader = self.loader.lock().map_err(|_| poisoned())?.take();
        let handle = self.committer.lock().map_err(|_| poisoned())?.take();
        if let Some(h) = handle {
            // The committer answers everything queued before Shutdown, then exits.
            let _ = self.jobs.send(Job::Shutdown).await;
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(|e| ConsentError::Unavailable(format!("joining the committer: {e}")))?
                .map_err(|_| ConsentError::Unavailable("committer panicked".into()))?;
        }
        let db = self.db.clone();
        let activity = Arc::clone(&self.activity);
        tokio::task::spawn_blocking(move || {
            if let Some(l) = loader {
                let _ = l.join();
            }
            activity.close();
            db.flush()
        })
        .await
        .map_err(|e| ConsentError::Unavailable(format!("closing the store: {e}")))??;
        Ok(())
    }

    // Activity: contact history, the decision log, inbound answers (see `activity`).

    /// Contact history of one number (empty when it has none).
    pub fn contact(&self, tenant: &TenantId, phone: &PhoneNumber) -> Result<ContactHistory, ConsentError> {
        match self.activity.contact.get(&keys::phone(tenant.as_str(), phone.as_str()))? {
            Some(b) => records::decode_contact(&b),
            None => Ok(ContactHistory::default()),
        }
    }

    /// Stores the contact history of one number. Callers serialize writes per
    /// number (read, decide, write) so no update is lost.
    pub fn put_contact(
        &self,
        tenant: &TenantId,
        phone: &PhoneNumber,
        history: &ContactHistory,
    ) -> Result<(), ConsentError> {
        self.outside_reserve()?;
        self.activity.contact.put(keys::phone(tenant.as_str(), phone.as_str()), records::encode_contact(history))
    }

    /// The stored answer to an inbound message id, if it was processed.
    pub fn inbound_answer(&self, tenant: &TenantId, message_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.activity.inbound.get(keys::idempotency(tenant.as_str(), message_id))?.map(|v| v.to_vec()))
    }

    /// Remembers the answer to an inbound message id (first answer wins).
    pub fn remember_inbound(&self, tenant: &TenantId, message_id: &str, answer: Vec<u8>) -> Result<(), ConsentError> {
        let key = keys::idempotency(tenant.as_str(), message_id);
        let _ = self.activity.inbound.compare_and_swap(key, None as Option<&[u8]>, Some(answer))?;
        Ok(())
    }
}

impl Drop for Ledger {
    /// A ledger dropped without `shutdown` still stops its index loader, which
    /// would otherwise hold the store open until its scan ends.
    fn drop(&mut self) {
        self.index.stop();
    }
}

fn poisoned() -> ConsentError {
    ConsentError::Unavailable("ledger lock poisoned".into())
}
