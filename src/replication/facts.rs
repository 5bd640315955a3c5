//! Send and inbound facts across instances, so frequency caps, disclosure
//! timing and conversation windows hold whichever instance decides.
//!
//! Decisions stay local and never wait on the network: an allowed send is
//! noted in this instance's contact history at once (as in single-node mode)
//! and queued here; a background publisher puts it on the `SEND` stream.
//! Every instance, this one included, applies that stream to its contact
//! history under the recipient's lock. Applying is idempotent (a send
//! already in the history, identical to the one recorded, is not added
//! twice, and one the bounded history already pruned is pruned again by the
//! same rule; an inbound or disclosure time only moves forward), so an
//! instance's own facts coming back, a replay after a restart and a wiped
//! instance rebuilding all leave the same history.
//!
//! These facts are not consent: when NATS stays away longer than the queue
//! lasts, facts are dropped (counted and logged), and caps elsewhere may
//! undercount until it returns; opt-outs never travel this way.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

use super::Replication;
use crate::cluster::record::{InboundV1, SendV1};
use crate::cluster::{Family, Log, ReplicatedRecord};
use crate::consent::ConsentError;
use crate::domain::{Retention, SentMessage, TenantId};
use crate::phone::PhoneNumber;

/// Facts waiting for the publisher; past this they are dropped.
const QUEUE: usize = 65_536;
/// Publishes awaiting their acknowledgement at once.
const CONCURRENT: usize = 64;
/// How long one fact is retried while NATS is away.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// Message ids of recently applied facts kept for token waits.
const SEEN: usize = 16_384;

/// The publishing side and what has been applied, for token waits.
pub struct Facts {
    queue: mpsc::Sender<ReplicatedRecord>,
    seen: Mutex<Seen>,
    /// Bumped after every applied fact, so waiters look again.
    applied: watch::Sender<u64>,
    /// How much send history a contact keeps (the rule pack's).
    keep: Retention,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

impl Facts {
    /// Starts the publisher on `log`; the applier starts with [`run`].
    pub fn start(log: Log, keep: Retention) -> Facts {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(publish(log, rx));
        Facts { queue, seen: Mutex::default(), applied: watch::Sender::new(0), keep }
    }

    fn queue(&self, record: ReplicatedRecord) {
        let id = record.msg_id();
        // Decided here: a token naming it is satisfied here at once.
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        if self.queue.try_send(record).is_err() {
            tracing::warn!("send-fact queue full (NATS away?): a fact is not shared; caps elsewhere may undercount");
        }
    }

    fn seen(&self, id: &str) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).ids.contains(id)
    }
}

impl Replication {
    /// Shares an allowed, recorded send with the other instances.
    pub fn share_send(
        &self,
        tenant: &TenantId,
        to: &PhoneNumber,
        sent: &SentMessage,
        disclosed: bool,
        decision_id: &str,
    ) {
        self.facts.queue(ReplicatedRecord::SendV1(SendV1 {
            tenant_id: tenant.to_string(),
            phone: to.as_str().to_string(),
            campaign_id: sent.campaign_id.clone(),
            sender: String::new(),
            category: sent.category.into(),
            at_ns: sent.at.as_nanosecond(),
            disclosed,
            decision_id: decision_id.to_string(),
            origin: self.instance_id.clone(),
        }));
    }

    /// Shares an inbound text's arrival (it opens the conversation window).
    pub fn share_inbound(&self, tenant: &TenantId, from: &PhoneNumber, message_id: &str, at: Timestamp) {
        self.facts.queue(ReplicatedRecord::InboundV1(InboundV1 {
            tenant_id: tenant.to_string(),
            phone: from.as_str().to_string(),
            message_id: message_id.to_string(),
            received_at_ns: at.as_nanosecond(),
            origin: self.instance_id.clone(),
        }));
    }

    /// Waits, at most `within`, until the send of `decision_id` is in this
    /// instance's contact history.
    pub async fn wait_for_send(&self, tenant: &TenantId, decision_id: &str, within: Duration) -> bool {
        let id = format!("{tenant}/{decision_id}");
        let mut applied = self.facts.applied.subscribe();
        let found = tokio::time::timeout(within, applied.wait_for(|_| self.facts.seen(&id))).await;
        matches!(found, Ok(Ok(_)))
    }
}

/// Publishes queued facts, several at once, each retried while NATS is away.
async fn publish(log: Log, mut rx: mpsc::Receiver<ReplicatedRecord>) {
    let mut running = tokio::task::JoinSet::new();
    while let Some(record) = rx.recv().await {
        while running.len() >= CONCURRENT {
            running.join_next().await;
        }
        let log = log.clone();
        running.spawn(async move {
            let deadline = tokio::time::Instant::now() + RETRY_FOR;
            let (tenant, id, bytes) = (record.tenant_id().to_string(), record.msg_id(), record.encode());
            loop {
                match log.publish(Family::Send, &tenant, &id, bytes.clone().into()).await {
                    Ok(_) => return,
                    Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = &e as &dyn std::error::Error, "a send fact was not shared");
                        return;
                    }
                }
            }
        });
    }
}

/// Applies the SEND stream to this instance's contact histories, in order,
/// from the position stored last; runs for as long as the process.
pub async fn run(r: Arc<Replication>) {
    let mut next = r.ledger.fact_position().unwrap_or(0) + 1;
    loop {
        let mut replay = match r.log.replay_from(Family::Send, next).await {
            Ok(replay) => replay,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(Ok(message)) = replay.next().await {
            match ReplicatedRecord::decode(&message.payload) {
                Ok(record) => {
                    match apply(&r, &record).await {
                        // Down to the disk's reserve: activity waits, no log line per fact.
                        Ok(()) | Err(ConsentError::DiskReserve { .. }) => {}
                        Err(e) => tracing::warn!(error = &e as &dyn std::error::Error, "a send fact was not applied"),
                    }
                    r.facts.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(record.msg_id());
                }
                Err(e) => tracing::warn!(error = &e as &dyn std::error::Error, "an unreadable send fact skipped"),
            }
            next = message.sequence + 1;
            let _ = r.ledger.set_fact_position(message.sequence);
            r.metrics.fact_applied(message.sequence);
            r.facts.applied.send_modify(|n| *n += 1);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Folds one fact into its number's contact history, under the number's lock.
async fn apply(r: &Replication, record: &ReplicatedRecord) -> Result<(), ConsentError> {
    let (tenant, phone) = match record {
        ReplicatedRecord::SendV1(s) => (&s.tenant_id, &s.phone),
        ReplicatedRecord::InboundV1(i) => (&i.tenant_id, &i.phone),
        ReplicatedRecord::ConsentV1(_) => return Ok(()),
    };
    let tenant = TenantId::new(tenant.as_str());
    let phone = PhoneNumber::parse_e164(phone).map_err(|_| ConsentError::corrupt("a send fact's phone number"))?;
    let _lock = r.locks.lock(&tenant, &phone).await;
    let mut history = r.ledger.contact(&tenant, &phone)?;
    match record {
        ReplicatedRecord::SendV1(s) => {
            let sent = s.to_sent().map_err(|_| ConsentError::corrupt("a send fact's time"))?;
            if history.sends.contains(&sent) {
                return Ok(());
            }
            history.note_send(sent, s.disclosed, &r.facts.keep, Timestamp::now());
        }
        ReplicatedRecord::InboundV1(i) => {
            let at =
                Timestamp::from_nanosecond(i.received_at_ns).map_err(|_| ConsentError::corrupt("an inbound time"))?;
            history.note_inbound(at);
        }
        ReplicatedRecord::ConsentV1(_) => {}
    }
    r.ledger.put_contact(&tenant, &phone, &history)
}
