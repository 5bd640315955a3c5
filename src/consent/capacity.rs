//! What the store holds and has room for: each tenant's usage (its quotas,
//! `usage`), the free disk against the reserve kept for opt-outs
//! (`disk_reserve`), and the decision log's size, for the metrics.

use super::disk_reserve::DiskReserve;
use super::ledger::Ledger;
use super::ConsentError;
use crate::domain::TenantId;

impl Ledger {
    /// What `tenant` holds in the store, for its quotas.
    pub fn usage(&self, tenant: &TenantId) -> Result<super::usage::Usage, ConsentError> {
        super::usage::get(&self.trees, tenant.as_str())
    }

    /// Every tenant's usage, for the metrics.
    pub fn all_usage(&self) -> Result<std::collections::BTreeMap<String, super::usage::Usage>, ConsentError> {
        super::usage::all(&self.trees)
    }

    /// The free bytes when the store's disk is down to its reserve: then
    /// only revocations may be written. None while there is room.
    pub fn disk_reserve_reached(&self) -> Option<u64> {
        self.reserve.as_ref().and_then(DiskReserve::reached)
    }

    pub(super) fn outside_reserve(&self) -> Result<(), ConsentError> {
        self.disk_reserve_reached().map_or(Ok(()), |free_bytes| Err(ConsentError::DiskReserve { free_bytes }))
    }

    /// Free bytes of the filesystem holding the store (None: temporary, or
    /// unreadable), and the bytes of the decision log's files.
    pub fn disk_usage(&self) -> (Option<u64>, u64) {
        let Some(dir) = &self.dir else { return (None, 0) };
        let log = super::disk_reserve::dir_bytes(&dir.join(super::activity::DECISION_LOG_DIR));
        (fs2::available_space(dir).ok(), log)
    }
}
