//! Per-recipient activity beside the consent ledger: contact history (caps,
//! disclosures, conversation window), the decision log and the inbound
//! idempotency record. These are not consent: sled's periodic flush (every
//! 500 ms) makes them durable, and a crash may lose the last instants of them.
//! Contact history and the decision log are written behind the request path
//! ([`WriteBehind`]); the inbound record is written at once, because it is
//! what makes a retried ProcessInbound idempotent.

use super::contact::ContactHistory;
use super::ledger::Ledger;
use super::write_behind::WriteBehind;
use super::{keys, ConsentError};

/// Keys the write-behind queues of the activity trees hold, each.
const WRITE_BEHIND_QUEUE: usize = 65_536;

pub(super) struct ActivityTrees {
    contact: WriteBehind,
    decisions: WriteBehind,
    inbound: sled::Tree,
}

impl ActivityTrees {
    pub(super) fn open(db: &sled::Db) -> Result<Self, ConsentError> {
        Ok(ActivityTrees {
            contact: WriteBehind::new(db.open_tree("contact")?, WRITE_BEHIND_QUEUE)?,
            decisions: WriteBehind::new(db.open_tree("decisions")?, WRITE_BEHIND_QUEUE)?,
            inbound: db.open_tree("inbound")?,
        })
    }

    /// Writes what is pending and stops the background writers (blocking).
    pub(super) fn close(&self) {
        self.contact.close();
        self.decisions.close();
    }
}

impl Ledger {
    /// Contact history of one number (empty when it has none).
    pub fn contact(&self, tenant: &str, phone: &str) -> Result<ContactHistory, ConsentError> {
        match self.activity.contact.get(&keys::phone(tenant, phone))? {
            Some(b) => Ok(bincode::deserialize(&b)?),
            None => Ok(ContactHistory::default()),
        }
    }

    /// Stores the contact history of one number. Callers serialize writes per
    /// number (read, decide, write) so no update is lost.
    pub fn put_contact(&self, tenant: &str, phone: &str, history: &ContactHistory) -> Result<(), ConsentError> {
        self.activity.contact.put(keys::phone(tenant, phone), bincode::serialize(history)?)
    }

    /// Appends an encoded decision record under its id.
    pub fn log_decision(&self, tenant: &str, decision_id: &str, record: Vec<u8>) -> Result<(), ConsentError> {
        self.activity.decisions.put(keys::idempotency(tenant, decision_id), record)
    }

    /// An encoded decision record, if it was logged.
    pub fn decision(&self, tenant: &str, decision_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.activity.decisions.get(&keys::idempotency(tenant, decision_id))?.map(|v| v.to_vec()))
    }

    /// The stored answer to an inbound message id, if it was processed.
    pub fn inbound_answer(&self, tenant: &str, message_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.activity.inbound.get(keys::idempotency(tenant, message_id))?.map(|v| v.to_vec()))
    }

    /// Remembers the answer to an inbound message id (first answer wins).
    pub fn remember_inbound(&self, tenant: &str, message_id: &str, answer: Vec<u8>) -> Result<(), ConsentError> {
        let key = keys::idempotency(tenant, message_id);
        let _ = self.activity.inbound.compare_and_swap(key, None as Option<&[u8]>, Some(answer))?;
        Ok(())
    }
}
