//! Per-recipient activity beside the consent ledger: contact history (caps,
//! disclosures, conversation window), the decision log and the inbound
//! idempotency record. These are not consent: sled's periodic flush (every
//! 500 ms) makes them durable, and a crash may lose the last instants of them.

use super::contact::ContactHistory;
use super::ledger::Ledger;
use super::{keys, ConsentError};

pub(super) struct ActivityTrees {
    contact: sled::Tree,
    decisions: sled::Tree,
    inbound: sled::Tree,
}

impl ActivityTrees {
    pub(super) fn open(db: &sled::Db) -> Result<Self, ConsentError> {
        Ok(ActivityTrees {
            contact: db.open_tree("contact")?,
            decisions: db.open_tree("decisions")?,
            inbound: db.open_tree("inbound")?,
        })
    }
}

impl Ledger {
    /// Contact history of one number (empty when it has none).
    pub fn contact(&self, tenant: &str, phone: &str) -> Result<ContactHistory, ConsentError> {
        match self.activity.contact.get(keys::phone(tenant, phone))? {
            Some(b) => Ok(bincode::deserialize(&b)?),
            None => Ok(ContactHistory::default()),
        }
    }

    /// Stores the contact history of one number. Callers serialize writes per
    /// number (read, decide, write) so no update is lost.
    pub fn put_contact(&self, tenant: &str, phone: &str, history: &ContactHistory) -> Result<(), ConsentError> {
        self.activity.contact.insert(keys::phone(tenant, phone), bincode::serialize(history)?)?;
        Ok(())
    }

    /// Appends an encoded decision record under its id.
    pub fn log_decision(&self, tenant: &str, decision_id: &str, record: Vec<u8>) -> Result<(), ConsentError> {
        self.activity.decisions.insert(keys::idempotency(tenant, decision_id), record)?;
        Ok(())
    }

    /// An encoded decision record, if it was logged.
    pub fn decision(&self, tenant: &str, decision_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.activity.decisions.get(keys::idempotency(tenant, decision_id))?.map(|v| v.to_vec()))
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
