//! The decision log as the ledger shows it: ids sealed for callers (see
//! `decision_log::opaque`) and bodies as keyed digests (see `server_key`),
//! and the index that finds a number's decisions.
//!
//! The index (`decisions_by_number`): `tenant 0x00`, a 16-byte keyed hash of
//! the recipient, the decision instant (big-endian microseconds) -> the
//! sealed decision id. One sled insert (~70 bytes, no flush: like the log it
//! reaches the disk on sled's periodic flush) per logged decision; a lookup
//! is one reverse prefix scan. Entries whose decision the log's retention
//! deleted resolve to nothing and are skipped by readers.

use super::ledger::Ledger;
use super::{keys, ConsentError};
use crate::domain::TenantId;
use crate::phone::PhoneNumber;

impl Ledger {
    /// Appends an encoded decision record, decided at `at`; returns the
    /// decision's id (time-ordered, and naming where the record is only to
    /// this store: see `decision_log::opaque`).
    pub fn log_decision(&self, tenant: &TenantId, at: jiff::Timestamp, record: &[u8]) -> Result<String, ConsentError> {
        self.outside_reserve()?;
        Ok(self.ids.seal(&self.activity.decision_log.append(tenant.as_str(), at.as_microsecond(), record)?))
    }

    /// [`Ledger::log_decision`], and the decision noted in the recipient's
    /// index. The decision stands when only the index cannot take it.
    pub fn log_decision_for(
        &self,
        tenant: &TenantId,
        recipient: &PhoneNumber,
        at: jiff::Timestamp,
        record: &[u8],
    ) -> Result<String, ConsentError> {
        let id = self.log_decision(tenant, at, record)?;
        let mut key = self.number_prefix(tenant, recipient);
        key.extend_from_slice(&at.as_microsecond().to_be_bytes());
        key.extend_from_slice(id.as_bytes());
        if let Err(e) = self.activity.by_number.insert(key, id.as_bytes()) {
            tracing::warn!(error = %e, "decision not indexed by number; GetDecision still finds it");
        }
        Ok(id)
    }

    /// The ids of the latest `limit` decisions logged for `recipient`, newest
    /// first (some may be past the log's retention).
    pub fn decisions_for(
        &self,
        tenant: &TenantId,
        recipient: &PhoneNumber,
        limit: usize,
    ) -> Result<Vec<String>, ConsentError> {
        let prefix = self.number_prefix(tenant, recipient);
        self.activity
            .by_number
            .scan_prefix(prefix)
            .rev()
            .take(limit)
            .map(|kv| Ok(String::from_utf8_lossy(&kv?.1).into_owned()))
            .collect()
    }

    fn number_prefix(&self, tenant: &TenantId, recipient: &PhoneNumber) -> Vec<u8> {
        let mut key = keys::tenant_prefix(tenant.as_str());
        key.extend_from_slice(&self.key.number_tag(tenant.as_str(), recipient.as_str()));
        key
    }

    /// The key the compliance console signs its session cookies with.
    pub fn console_key(&self) -> [u8; 32] {
        self.key.console_key()
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

    /// A keyed digest of a request's fields (see `ServerKey::request_digest`).
    pub fn request_digest(&self, tenant: &TenantId, parts: &[&str]) -> [u8; 32] {
        self.key.request_digest(tenant.as_str(), parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::LedgerOptions;

    #[tokio::test]
    async fn a_numbers_decisions_are_listed_newest_first_and_for_its_tenant_only() {
        let ledger = Ledger::temporary(&LedgerOptions::default()).unwrap();
        let (north, south) = (TenantId::new("northside"), TenantId::new("southside"));
        let a = PhoneNumber::parse("+13125550101").unwrap();
        let b = PhoneNumber::parse("+13125550102").unwrap();
        let at = |s: i64| jiff::Timestamp::from_second(1_800_000_000 + s).unwrap();
        let first = ledger.log_decision_for(&north, &a, at(0), b"one").unwrap();
        let second = ledger.log_decision_for(&north, &a, at(1), b"two").unwrap();
        let other_number = ledger.log_decision_for(&north, &b, at(2), b"three").unwrap();
        let other_tenant = ledger.log_decision_for(&south, &a, at(3), b"four").unwrap();
        assert_eq!(ledger.decisions_for(&north, &a, 10).unwrap(), vec![second.clone(), first]);
        assert_eq!(ledger.decisions_for(&north, &a, 1).unwrap(), vec![second]);
        assert_eq!(ledger.decisions_for(&north, &b, 10).unwrap(), vec![other_number]);
        assert_eq!(ledger.decisions_for(&south, &a, 10).unwrap(), vec![other_tenant.clone()]);
        assert_eq!(ledger.decision(&south, &other_tenant).unwrap().as_deref(), Some(&b"four"[..]));
        // The index keys hold no number.
        for kv in ledger.activity.by_number.iter() {
            let (k, _) = kv.unwrap();
            assert!(!k.windows(10).any(|w| w == b"3125550101"), "{k:?}");
        }
    }
}
