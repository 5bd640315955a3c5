//! Cluster mode: the consent ledger shared by every instance through the
//! replicated log (`crate::cluster`, NATS JetStream).
//!
//! The log is the system of record. A consent write is published, with its
//! `tenant/event_id` as the message id so a retry through any instance is
//! stored once, and answered only after JetStream acknowledged it AND this
//! instance applied it to its own sled store: an acknowledged write is then
//! on a quorum of NATS nodes and fsynced here too. Every instance applies the
//! consent stream in order (`applier`), storing the applied position in the
//! same transaction as the event, so every instance holds the same events
//! with the same per-tenant sequences, and a restart resumes where it stopped.
//!
//! Reads stay local. A `consistency_token` names a consent-stream position;
//! a read given one waits, bounded, until this instance has applied it.
//!
//! Single-node mode (no `[cluster]`) never builds any of this.

mod applier;
mod decisions;
mod facts;
mod metrics;
mod reconcile;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::cluster::record::ConsentV1;
use crate::cluster::{ClusterError, Connection, Family, Log, Published, ReplicatedRecord};
use crate::config::ClusterConfig;
use crate::consent::{ConsentError, Ledger, Recorded};
use crate::domain::NewEvent;
use crate::locks::RecipientLocks;

pub use metrics::ClusterMetrics;

/// Results of recent applies kept for their writers (by stream position).
const RECENT_RESULTS: usize = 4096;

/// Why a replicated write or read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The log did not acknowledge the write (NATS unreachable, no quorum,
    /// timeout). Nothing is acknowledged; a retry with the same id is safe.
    #[error("the replicated log did not acknowledge the write")]
    LogUnavailable(#[source] ClusterError),
    /// The log holds the write, but this instance has not applied it yet.
    #[error("this instance has not applied stream position {0} yet")]
    NotApplied(u64),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] ConsentError),
}

/// A `consistency_token`: a consent-stream position (`"N"`, from
/// RecordConsent and ProcessInbound), and for a CheckMessage's send the
/// decision whose send fact a read waits for (`"N.d1-…"`). A single node
/// hands out plain event sequences, which parse as positions it has applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub position: u64,
    pub decision: Option<&'a str>,
}

impl<'a> Token<'a> {
    pub fn parse(text: &'a str) -> Option<Token<'a>> {
        let (position, decision) = match text.split_once('.') {
            // Decision ids: sealed (`d1-`), or of the older clear form (`d-`).
            Some((p, d)) if (d.starts_with("d1-") || d.starts_with("d-")) && d.len() <= 64 => (p, Some(d)),
            Some(_) => return None,
            None => (text, None),
        };
        Some(Token { position: position.parse().ok()?, decision })
    }
}

/// A write as the caller hears it: the recorded event and the stream
/// position to pass as `consistency_token` for reads elsewhere.
#[derive(Debug, Clone)]
pub struct Replicated {
    pub recorded: Recorded,
    pub position: u64,
}

/// A consent write sent to the log: resolves once acknowledged and applied here.
pub type PendingWrite =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Replicated, ReplicationError>> + Send>>;

/// This instance's side of the shared ledger.
pub struct Replication {
    log: Log,
    ledger: Arc<Ledger>,
    instance_id: String,
    /// How long a write waits for the log and for its own apply.
    timeout: Duration,
    max_lag: u64,
    /// The last consent-stream position applied here.
    applied: watch::Receiver<u64>,
    /// The consent stream's last position, as last seen (for the lag).
    stream_last: AtomicU64,
    /// Set once this instance has applied what the stream held when it started.
    caught_up: AtomicBool,
    /// Set when applying stopped for good (a store failure, an unreadable
    /// record): this instance may miss opt-outs and leaves rotation.
    stalled: AtomicBool,
    recent: Mutex<BTreeMap<u64, Recorded>>,
    metrics: ClusterMetrics,
    /// Send and inbound facts: shared from here, applied from the others.
    facts: facts::Facts,
    /// The recipient locks the request handlers take.
    locks: Arc<RecipientLocks>,
    /// Set while the reconciler republishes the ledger.
    reconciling: AtomicBool,
    /// Tells the applier to apply the stream again from its start.
    rewind: tokio::sync::Notify,
}

/// What cluster mode needs from the rest of the server.
pub struct Parts {
    pub ledger: Arc<Ledger>,
    pub locks: Arc<RecipientLocks>,
    /// How much send history a contact keeps (the rule pack's).
    pub retention: crate::domain::Retention,
    pub metrics: ClusterMetrics,
}

impl Replication {
    /// Connects to the log (failing when no NATS server answers: a
    /// misconfigured instance says so at start) and starts, in the
    /// background, making sure the streams exist and applying the consent
    /// stream from this store's applied position. Until the streams answer
    /// (a NATS cluster electing its leaders, say) the instance serves
    /// decisions from its store and `/readyz` says why it is not ready.
    pub async fn start(config: &ClusterConfig, parts: Parts) -> Result<Arc<Replication>, ClusterError> {
        let Parts { ledger, locks, retention, metrics } = parts;
        let log = Log::connect(config).await?;
        let from =
            ledger.applied_position().map_err(|e| ClusterError::unavailable("reading the applied position", e))?;
        let (applied_tx, applied) = watch::channel(from);
        let replication = Arc::new(Replication {
            log: log.clone(),
            ledger,
            instance_id: config.instance_id.0.clone(),
            timeout: config.publish_timeout.0,
            max_lag: config.max_apply_lag,
            applied,
            stream_last: AtomicU64::new(from),
            caught_up: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            recent: Mutex::new(BTreeMap::new()),
            metrics,
            facts: facts::Facts::start(log.clone(), retention),
            locks,
            reconciling: AtomicBool::new(false),
            rewind: tokio::sync::Notify::new(),
        });
        let r = Arc::clone(&replication);
        tokio::spawn(async move {
            let stream_last = bring_up(&r.log).await;
            r.stream_last.fetch_max(stream_last, Ordering::AcqRel);
            if from >= stream_last {
                r.caught_up.store(true, Ordering::Release);
            }
            tracing::info!(applied = from, stream_last, "cluster mode: applying the consent stream");
            tokio::spawn(facts::run(Arc::clone(&r)));
            applier::run(r, applied_tx, stream_last).await;
        });
        tokio::spawn(watch_lag(Arc::downgrade(&replication)));
        tokio::spawn(decisions::serve(Arc::clone(&replication)));
        Ok(replication)
    }

    /// Records a consent event through the log: published (deduplicated by
    /// `tenant/event_id`), acknowledged by JetStream, applied here.
    pub async fn record(self: &Arc<Self>, event: NewEvent) -> Result<Replicated, ReplicationError> {
        self.submit(event).await?.await
    }

    /// Publishes a consent event and returns once it is sent, with the future
    /// of [`Replication::record`]'s answer. Events submitted one after the
    /// other take their stream positions in that order.
    pub async fn submit(self: &Arc<Self>, event: NewEvent) -> Result<PendingWrite, ReplicationError> {
        if let Some(recorded) = self.ledger.find(&event.tenant_id, &event.event_id)? {
            // Applied here already: answer it without touching the log.
            let position = *self.applied.borrow();
            return Ok(Box::pin(async move { Ok(Replicated { recorded, position }) }));
        }
        let record = ReplicatedRecord::ConsentV1(Box::new(ConsentV1::new(&event, Timestamp::now(), &self.instance_id)));
        let started = std::time::Instant::now();
        let ack = self
            .log
            .send(Family::Consent, event.tenant_id.as_str(), &record.msg_id(), record.encode().into())
            .await
            .map_err(ReplicationError::LogUnavailable)?;
        let this = Arc::clone(self);
        Ok(Box::pin(async move {
            let published = ack.await.map_err(ReplicationError::LogUnavailable)?;
            this.metrics.published(started.elapsed());
            this.answer(&event, published).await
        }))
    }

    /// Waits until this instance applied a published event; its outcome.
    async fn answer(&self, event: &NewEvent, published: Published) -> Result<Replicated, ReplicationError> {
        self.wait_for(published.sequence, self.timeout).await?;
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner()).get(&published.sequence).cloned();
        let recorded = match recent {
            // The applier's own outcome: a duplicate beyond the log's window is one too.
            Some(mut r) if r.event.event.event_id == event.event_id => {
                r.duplicate |= published.duplicate;
                r
            }
            // Evicted, or the log answered with an earlier message's position.
            _ => self
                .ledger
                .find(&event.tenant_id, &event.event_id)?
                .ok_or(ReplicationError::NotApplied(published.sequence))?,
        };
        Ok(Replicated { recorded, position: published.sequence })
    }

    /// Waits until this instance has applied `position` of the consent
    /// stream, at most `within`.
    pub async fn wait_for(&self, position: u64, within: Duration) -> Result<(), ReplicationError> {
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(within, applied.wait_for(|a| *a >= position)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ReplicationError::NotApplied(position)),
        }
    }

    /// How long a read given a token waits for this instance to apply it.
    pub fn read_timeout(&self) -> Duration {
        self.timeout
    }

    /// The last consent-stream position applied here.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Whether this instance should take traffic: it has applied what the
    /// stream held at start, applying has not stopped, and it is at most
    /// `max_apply_lag` behind the stream's end as last seen. None: ready;
    /// else why not.
    pub fn not_ready(&self) -> Option<&'static str> {
        if self.stalled.load(Ordering::Acquire) {
            Some("applying the consent stream stopped (see the log); restart textgate")
        } else if !self.caught_up.load(Ordering::Acquire) {
            Some("reaching the replicated log, or catching up with the consent stream")
        } else if self.lag() > self.max_lag {
            Some("too far behind the consent stream (cluster.max_apply_lag)")
        } else {
            None
        }
    }

    fn lag(&self) -> u64 {
        self.stream_last.load(Ordering::Acquire).saturating_sub(self.applied())
    }

    /// Called by the applier after each applied message.
    fn applied_one(&self, position: u64, recorded: Recorded) {
        let last = self.stream_last.fetch_max(position, Ordering::AcqRel).max(position);
        self.metrics.positions(position, last - position);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.insert(position, recorded);
        while recent.len() > RECENT_RESULTS {
            recent.pop_first();
        }
    }
}

/// Makes sure the streams exist, retrying while the log is unavailable;
/// returns the consent stream's last position, which the instance must
/// reach before it is ready.
async fn bring_up(log: &Log) -> u64 {
    let mut logged = false;
    loop {
        let up = async {
            log.ensure_streams().await?;
            log.last_sequence(Family::Consent).await
        };
        match up.await {
            Ok(last) => return last,
            Err(e) if !logged => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "the replicated log is not answering yet; retrying"
                );
                logged = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every second: the stream's end, the lag, and the connection state.
async fn watch_lag(replication: std::sync::Weak<Replication>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(r) = replication.upgrade() else { return };
        let connected = *r.log.connection().borrow() == Connection::Connected;
        r.metrics.connected(connected);
        if connected {
            match r.log.last_sequence(Family::Consent).await {
                Ok(last) => {
                    r.stream_last.fetch_max(last, Ordering::AcqRel);
                    if last < r.applied() {
                        let r = Arc::clone(&r);
                        tokio::spawn(async move { reconcile::check(&r, last).await });
                    }
                }
                // Connected, yet no stream: it was deleted. Recreate it (empty);
                // the next tick finds it behind and the reconciler refills it.
                Err(e) if !e.is_unavailable() => {
                    tracing::error!(
                        error = &e as &dyn std::error::Error,
                        "the consent stream is missing; recreating it"
                    );
                    let _ = r.log.ensure_streams().await;
                }
                Err(_) => {}
            }
        }
        r.metrics.positions(r.applied(), r.lag());
    }
}

#[cfg(test)]
mod token_tests {
    use super::Token;

    #[test]
    fn tokens_name_a_position_and_perhaps_a_decision_of_either_id_form() {
        let sealed = "d1-0005f1e2d3c4b5a69f8e7d6c5b4a392817";
        let clear = "d-0005f1e2d3c4b50000000000000000a0";
        assert_eq!(Token::parse("42"), Some(Token { position: 42, decision: None }));
        for id in [sealed, clear] {
            assert_eq!(Token::parse(&format!("7.{id}")), Some(Token { position: 7, decision: Some(id) }));
        }
        for bad in ["", "x", "7.", "7.e-1", &format!("7.d1-{}", "0".repeat(62)), "-1.d1-00"] {
            assert_eq!(Token::parse(bad), None, "{bad:?}");
        }
    }
}
