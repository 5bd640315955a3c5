//! The reconciler: when the consent stream holds less than this instance
//! has applied (a stream deleted and recreated, messages lost with the disks
//! of a NATS quorum), this instance republishes every event of its own
//! fsynced ledger, with the same message ids, and applies the stream again
//! from its start.
//!
//! Several instances may do so at once: each republishes tenant by tenant
//! in ledger order, and the log keeps the first copy of each id, so every
//! tenant's events keep their order in the rebuilt stream. Applying them
//! again changes nothing here (each is a duplicate the idempotency index
//! recognizes); an instance that held fewer events learns the rest.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Replication;
use crate::cluster::record::ConsentV1;
use crate::cluster::{ClusterError, Family, ReplicatedRecord};

/// How long one event is retried while the log is unavailable.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Republishes the ledger if the stream is behind what was applied here.
pub async fn check(r: &Replication, stream_last: u64) {
    if stream_last >= r.applied() || r.reconciling.swap(true, Ordering::AcqRel) {
        return;
    }
    tracing::error!(
        stream_last,
        applied = r.applied(),
        "the consent stream holds less than this instance applied; republishing this instance's ledger"
    );
    match republish(r).await {
        Ok(n) => {
            tracing::warn!(events = n, "ledger republished; applying the consent stream again from its start");
            r.stream_last.store(0, Ordering::Release);
            r.rewind.notify_one();
            // Stay the only reconciler until the applier has started over
            // (bounded), so the same shortfall is not republished twice.
            for _ in 0..150 {
                match r.log.last_sequence(Family::Consent).await {
                    Ok(last) if r.applied() <= last => break,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        Err(e) => tracing::error!(error = &e as &dyn std::error::Error, "republishing failed; retrying"),
    }
    r.reconciling.store(false, Ordering::Release);
}

async fn republish(r: &Replication) -> Result<u64, ClusterError> {
    r.log.ensure_streams().await?;
    let mut n = 0;
    for event in r.ledger.all_events() {
        let event = event.map_err(|e| ClusterError::unavailable("reading the ledger", e))?;
        let tenant = event.event.tenant_id.to_string();
        let record =
            ReplicatedRecord::ConsentV1(Box::new(ConsentV1::new(&event.event, event.recorded_at, &r.instance_id)));
        let (id, bytes) = (record.msg_id(), record.encode());
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        loop {
            match r.log.publish(Family::Consent, &tenant, &id, bytes.clone().into()).await {
                Ok(_) => break,
                Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
        n += 1;
    }
    Ok(n)
}
