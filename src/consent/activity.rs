//! Per-recipient activity beside the consent ledger: contact history (caps,
//! disclosures, conversation window), the decision log and the inbound
//! idempotency record. These are not consent: a periodic flush (every
//! 500 ms) makes them durable, and a crash may lose the last instants of them.
//! Contact history is written behind the request path ([`WriteBehind`]); the
//! decision log is appended to segment files of its own ([`DecisionLog`]);
//! the inbound record is written at once, because it is what makes a retried
//! ProcessInbound idempotent.

use std::path::Path;

use super::contact::ContactHistory;
use super::decision_log::DecisionLog;
use super::ledger::Ledger;
use super::write_behind::WriteBehind;
use super::{keys, ConsentError};

/// Keys the write-behind queues of the activity trees hold, each.
const WRITE_BEHIND_QUEUE: usize = 65_536;

pub(super) struct ActivityTrees {
    contact: WriteBehind,
    pub(super) decision_log: DecisionLog,
    /// Decisions logged before the decision log had files of its own (also
    /// when a backup restores them): read only.
    decisions: sled::Tree,
    inbound: sled::Tree,
}

/// The decision log's directory inside a store.
pub(super) const DECISION_LOG_DIR: &str = "decision-log";

/// Decisions in the decision log's files of the (stopped) store in `dir`.
pub fn logged_decisions(dir: &Path) -> Result<u64, ConsentError> {
    let log = dir.join(DECISION_LOG_DIR);
    if !log.is_dir() {
        return Ok(0);
    }
    let mut n = 0;
    super::decision_log::scan(&log, |_, _, _| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

impl ActivityTrees {
    /// `store`: the store's directory; None for a throwaway store.
    pub(super) fn open(
        db: &sled::Db,
        store: Option<&Path>,
        retention: Option<std::time::Duration>,
    ) -> Result<Self, ConsentError> {
        let decision_log = match store {
            Some(dir) => DecisionLog::open(&dir.join(DECISION_LOG_DIR), retention)?,
            None => DecisionLog::temporary()?,
        };
        Ok(ActivityTrees {
            contact: WriteBehind::new(db.open_tree("contact")?, WRITE_BEHIND_QUEUE)?,
            decision_log,
            decisions: db.open_tree("decisions")?,
            inbound: db.open_tree("inbound")?,
        })
    }

    /// Waits until what was put before is in the trees and files (blocking).
    pub(super) fn flush(&self) {
        self.contact.flush();
        self.decision_log.flush();
    }

    /// Writes what is pending and stops the background writers (blocking).
    pub(super) fn close(&self) {
        self.contact.close();
        self.decision_log.close();
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

    /// Appends an encoded decision record, decided at `at`; returns the
    /// decision's id (time-ordered, and naming where the record is).
    pub fn log_decision(&self, tenant: &str, at: jiff::Timestamp, record: &[u8]) -> Result<String, ConsentError> {
        self.activity.decision_log.append(tenant, at.as_microsecond(), record)
    }

    /// An encoded decision record, if it was logged.
    pub fn decision(&self, tenant: &str, decision_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        if let Some(record) = self.activity.decision_log.get(tenant, decision_id)? {
            return Ok(Some(record));
        }
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
