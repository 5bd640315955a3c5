//! After a batch fails to reach the disk: no more writes, and no reader acts
//! on what that batch may have left in memory.
//!
//! A sled transaction is applied in memory before `flush` makes it durable,
//! so a batch whose flush (or fdatasync) fails stays readable although it
//! was never acknowledged and may vanish on restart. And after a failed
//! fsync a later one may succeed without the lost pages ever reaching the
//! disk. So the first failure latches: every later write is refused until
//! the process restarts and recovers from what is really on disk (sled 0.34
//! also refuses writes after an I/O error). Until then readers see, for each
//! number the failed batch touched, the replay of its durable events plus
//! the batch's revocations -- an unacknowledged opt-out is honoured, an
//! unacknowledged grant is not -- and listings stop before the batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use jiff::Timestamp;

use super::trees::Trees;
use super::{keys, records, ConsentError};
use crate::domain::{Action, ConsentEvent, ContactConsent, NewEvent, TenantId};

/// Shared by the committer (which latches it) and the ledger's readers.
#[derive(Default)]
pub struct Unacked {
    latched: AtomicBool,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// What readers see instead of the stored state, by `consent` key.
    consent: HashMap<Vec<u8>, ContactConsent>,
    /// Per tenant, the first sequence the failed batch may have used.
    first_unacked: HashMap<TenantId, u64>,
}

impl Unacked {
    /// Whether a batch failed: writes are refused until restart.
    pub fn latched(&self) -> bool {
        self.latched.load(Ordering::Acquire)
    }

    /// The state readers see for a number the failed batch touched.
    pub fn consent(&self, key: &[u8]) -> Option<ContactConsent> {
        if !self.latched() {
            return None;
        }
        self.inner.read().unwrap_or_else(|e| e.into_inner()).consent.get(key).cloned()
    }

    /// Sequences of `tenant` at or past this may be unacknowledged.
    pub fn first_unacked(&self, tenant: &str) -> Option<u64> {
        if !self.latched() {
            return None;
        }
        self.inner.read().unwrap_or_else(|e| e.into_inner()).first_unacked.get(tenant).copied()
    }

    /// Latches after `batch` failed; `next_seq` holds, per tenant of the
    /// batch, the first sequence it would have used.
    pub fn latch(&self, trees: &Trees, batch: &[NewEvent], next_seq: &HashMap<TenantId, u64>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for e in batch {
            let key = keys::phone(e.tenant_id.as_str(), e.phone.as_str());
            let below = next_seq.get(&e.tenant_id).copied().unwrap_or(1);
            inner.first_unacked.entry(e.tenant_id.clone()).or_insert(below);
            if !inner.consent.contains_key(&key) {
                let durable = replay(trees, e.tenant_id.as_str(), e.phone.as_str(), below).unwrap_or_else(|err| {
                    // Unreadable history: suppress the number rather than guess.
                    tracing::error!(
                        error = &err as &dyn std::error::Error,
                        "cannot replay a number's ledger after a failed write"
                    );
                    let revoke = NewEvent { action: Action::Revoke, scope: Default::default(), ..e.clone() };
                    let mut suppressed = ContactConsent::default();
                    suppressed.apply(&ConsentEvent { sequence: below, recorded_at: Timestamp::now(), event: revoke });
                    Some(suppressed)
                });
                inner.consent.insert(key.clone(), durable.unwrap_or_default());
            }
            if e.action.is_revoke() {
                let stored = ConsentEvent { sequence: below, recorded_at: Timestamp::now(), event: e.clone() };
                inner.consent.get_mut(&key).expect("inserted above").apply(&stored);
            }
        }
        self.latched.store(true, Ordering::Release);
    }
}

/// The fold of one number's events with sequence below `below`; None when
/// it has none.
fn replay(t: &Trees, tenant: &str, phone: &str, below: u64) -> Result<Option<ContactConsent>, ConsentError> {
    let mut state: Option<ContactConsent> = None;
    for kv in t.by_phone.range(keys::by_phone(tenant, phone, 1)..keys::by_phone(tenant, phone, below)) {
        let (k, _) = kv?;
        let seq = keys::event_seq(&k).ok_or_else(|| ConsentError::corrupt("by_phone key"))?;
        let bytes = t.events.get(keys::event(tenant, seq))?.ok_or_else(|| ConsentError::corrupt("indexed event"))?;
        state.get_or_insert_with(ContactConsent::default).apply(&records::decode_event(&bytes)?);
    }
    Ok(state)
}
