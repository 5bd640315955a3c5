//! The decision log as the ledger shows it: ids sealed for callers (see
//! `decision_log::opaque`) and bodies as keyed digests (see `server_key`).

use super::ledger::Ledger;
use super::{keys, ConsentError};
use crate::domain::TenantId;

impl Ledger {
    /// Appends an encoded decision record, decided at `at`; returns the
    /// decision's id (time-ordered, and naming where the record is only to
    /// this store: see `decision_log::opaque`).
    pub fn log_decision(&self, tenant: &TenantId, at: jiff::Timestamp, record: &[u8]) -> Result<String, ConsentError> {
        self.outside_reserve()?;
        Ok(self.ids.seal(&self.activity.decision_log.append(tenant.as_str(), at.as_microsecond(), record)?))
    }

    /// An encoded decision record, if it was logged (under an id this store
    /// handed out, sealed or of the older clear form).
    pub fn decision(&self, tenant: &TenantId, decision_id: &str) -> Result<Option<Vec<u8>>, ConsentError> {
        let opened = self.ids.open(decision_id);
        let own = opened.as_deref().unwrap_or(decision_id);
        if let Some(record) = self.activity.decision_log.get(tenant.as_str(), own)? {
            return Ok(Some(record));
        }
        Ok(self.activity.decisions.get(keys::idempotency(tenant.as_str(), decision_id))?.map(|v| v.to_vec()))
    }

    /// How a message body is kept in the tenant's decision records: its
    /// HMAC-SHA256 under the tenant's body key (see `server_key`).
    pub fn body_digest(&self, tenant: &TenantId, body: &str) -> String {
        self.key.body_digest(tenant.as_str(), body)
    }
}
