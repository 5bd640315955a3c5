//! Per-recipient activity beside the consent ledger: contact history (caps,
//! disclosures, conversation window), the decision log and the inbound
//! idempotency record, and CheckMessage idempotency keys. These are not consent: a periodic flush (every
//! 500 ms) makes them durable, and a crash may lose the last instants of them.
//! Contact history is written behind the request path ([`WriteBehind`]); the
//! decision log is appended to segment files of its own ([`DecisionLog`]);
//! the inbound record is written at once, because it is what makes a retried
//! ProcessInbound idempotent; a CheckMessage key is written at once too, in
//! one transaction with the send's contact history (`check_keys`).

use std::path::Path;

use super::decision_log::DecisionLog;
use super::write_behind::WriteBehind;
use super::ConsentError;

/// Keys the write-behind queues of the activity trees hold, each.
const WRITE_BEHIND_QUEUE: usize = 65_536;

pub(super) struct ActivityTrees {
    pub(super) contact: WriteBehind,
    pub(super) decision_log: DecisionLog,
    /// Decisions logged before the decision log had files of its own (also
    /// when a backup restores them): read only.
    pub(super) decisions: sled::Tree,
    pub(super) inbound: sled::Tree,
    /// Logged decisions by recipient (`decision_records`): keyed by a keyed
    /// hash of the number, so the index names no number.
    pub(super) by_number: sled::Tree,
    /// CheckMessage idempotency keys and their time index (`check_keys`).
    pub(super) check_keys: sled::Tree,
    pub(super) check_keys_by_time: sled::Tree,
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
            by_number: db.open_tree("decisions_by_number")?,
            check_keys: db.open_tree("check_keys")?,
            check_keys_by_time: db.open_tree("check_keys_by_time")?,
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
