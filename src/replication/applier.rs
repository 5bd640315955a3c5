//! Applies the consent stream to this instance's store, in stream order.
//!
//! Messages are handed to the ledger's committer as they arrive, without
//! waiting for each to be durable, so a burst shares group commits; a second
//! task takes the outcomes in the same order and advances the applied
//! position only after each is durable. A replay that ends (a lost server, a
//! reconnect that failed) resumes right after the last position applied.
//!
//! What cannot be applied stops applying for good rather than skip it: a
//! record this version cannot read could be an opt-out. The instance then
//! leaves rotation (`Replication::not_ready`) and says why in the log.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::StreamExt;

use super::Replication;
use crate::cluster::{Family, ReplicatedRecord, StreamMessage};
use crate::consent::{ConsentError, Recorded};

/// Applies handed to the committer whose outcome is not yet in.
const IN_FLIGHT: usize = 1024;
/// Pause before resuming a replay that ended.
const RESUME_AFTER: Duration = Duration::from_millis(200);

type Outcome = (u64, oneshot::Receiver<Result<Recorded, ConsentError>>);

/// Runs until applying stops for good or the process ends. `start_last`: the
/// stream's end when the instance started, which it must reach to be ready.
pub async fn run(r: Arc<Replication>, applied: watch::Sender<u64>, start_last: u64) {
    let (tx, rx) = mpsc::channel::<Outcome>(IN_FLIGHT);
    let completer = tokio::spawn(complete(Arc::clone(&r), rx, applied, start_last));
    let mut next = r.applied() + 1;
    'resume: loop {
        if completer.is_finished() {
            return;
        }
        let mut replay = match r.log.replay_from(Family::Consent, next).await {
            Ok(replay) => replay,
            Err(e) => {
                tracing::debug!(error = &e as &dyn std::error::Error, next, "consent stream unavailable; retrying");
                tokio::time::sleep(RESUME_AFTER).await;
                continue;
            }
        };
        loop {
            let message = tokio::select! {
                m = replay.next() => m,
                () = r.rewind.notified() => {
                    tracing::warn!("applying the consent stream again from its start");
                    next = 1;
                    continue 'resume;
                }
            };
            let Some(message) = message else { break };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = &e as &dyn std::error::Error, next, "consent stream replay ended; resuming");
                    tokio::time::sleep(RESUME_AFTER).await;
                    continue 'resume;
                }
            };
            let position = message.sequence;
            match hand_over(&r, message).await {
                Ok(outcome) => {
                    if tx.send((position, outcome)).await.is_err() {
                        return;
                    }
                    next = position + 1;
                }
                Err(why) => {
                    stall(&r, position, &why);
                    return;
                }
            }
        }
        tokio::time::sleep(RESUME_AFTER).await;
    }
}

/// Decodes one message and queues its event at the ledger.
async fn hand_over(
    r: &Replication,
    message: StreamMessage,
) -> Result<oneshot::Receiver<Result<Recorded, ConsentError>>, String> {
    let record = ReplicatedRecord::decode(&message.payload).map_err(|e| format!("undecodable record: {e}"))?;
    let ReplicatedRecord::ConsentV1(consent) = record else {
        return Err(format!("a {record:?} in the consent stream"));
    };
    let (event, recorded_at) = consent.to_event().map_err(|e| format!("unreadable consent record: {e}"))?;
    r.ledger.apply_replicated(event, recorded_at, message.sequence).await.map_err(|e| e.to_string())
}

/// Takes outcomes in stream order and advances the applied position.
async fn complete(r: Arc<Replication>, mut rx: mpsc::Receiver<Outcome>, applied: watch::Sender<u64>, start_last: u64) {
    while let Some((position, outcome)) = rx.recv().await {
        let recorded = match outcome.await {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(e)) => return stall(&r, position, &e.to_string()),
            Err(_) => return stall(&r, position, "the ledger stopped"),
        };
        r.applied_one(position, recorded);
        applied.send_replace(position);
        if position >= start_last {
            r.caught_up.store(true, Ordering::Release);
        }
    }
}

fn stall(r: &Replication, position: u64, why: &str) {
    tracing::error!(position, why, "cannot apply the consent stream; this instance stops applying and leaves rotation");
    r.stalled.store(true, Ordering::Release);
}
