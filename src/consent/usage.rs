//! What each tenant holds in the ledger, for its quotas
//! (`tenants.<id>.max_numbers`, `tenants.<id>.max_ledger_mib`): the numbers
//! with a consent state and the bytes of its events.
//!
//! Kept in `meta` under `usage/<tenant>` and updated in the same
//! transaction as the write that changes it, so it is exact after a crash;
//! `rebuild` recounts it from the trees, `verify` compares it with a
//! recount, and a store written before it existed is counted once at open.

use std::collections::BTreeMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::trees::Trees;
use super::{keys, ConsentError};

/// Set in `meta` once every tenant's usage is kept there.
const COUNTED: &[u8] = b"usage_counted";
const PREFIX: &[u8] = b"usage/";

/// One tenant's share of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Numbers with a consent state (any event ever recorded for them).
    pub numbers: u64,
    /// Bytes of its stored events.
    pub event_bytes: u64,
}

impl Usage {
    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.numbers.to_be_bytes());
        b[8..].copy_from_slice(&self.event_bytes.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Usage, ConsentError> {
        let (n, bytes) = b.split_at_checked(8).filter(|(_, r)| r.len() == 8).ok_or_else(|| {
            ConsentError::corrupt(format!("a usage record of {} bytes (16 expected); run `textgate rebuild`", b.len()))
        })?;
        let word = |s: &[u8]| u64::from_be_bytes(s.try_into().expect("8 bytes"));
        Ok(Usage { numbers: word(n), event_bytes: word(bytes) })
    }
}

fn key(tenant: &str) -> Vec<u8> {
    [PREFIX, tenant.as_bytes()].concat()
}

/// Adds one stored event (`bytes` long, for a number new to the tenant or
/// not) inside the write's transaction.
pub fn add(
    meta: &TransactionalTree,
    tenant: &str,
    new_number: bool,
    bytes: usize,
) -> Result<(), ConflictableTransactionError<ConsentError>> {
    let k = key(tenant);
    let mut u = match meta.get(&k)? {
        Some(b) => Usage::decode(&b).map_err(ConflictableTransactionError::Abort)?,
        None => Usage::default(),
    };
    u.numbers += u64::from(new_number);
    u.event_bytes += bytes as u64;
    meta.insert(k, &u.encode())?;
    Ok(())
}

/// The usage stored for `tenant`.
pub fn get(t: &Trees, tenant: &str) -> Result<Usage, ConsentError> {
    t.meta.get(key(tenant))?.map_or(Ok(Usage::default()), |b| Usage::decode(&b))
}

/// Every tenant's stored usage.
pub fn all(t: &Trees) -> Result<BTreeMap<String, Usage>, ConsentError> {
    let mut out = BTreeMap::new();
    for kv in t.meta.scan_prefix(PREFIX) {
        let (k, v) = kv?;
        out.insert(String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned(), Usage::decode(&v)?);
    }
    Ok(out)
}

/// Counts every tenant's usage from the `consent` and `events` trees.
pub fn recount(t: &Trees) -> Result<BTreeMap<String, Usage>, ConsentError> {
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    let tenant_of = |k: &[u8]| keys::split_tenant(k).map(|(t, _)| t.to_string());
    for k in t.consent.iter().keys() {
        let k = k?;
        out.entry(tenant_of(&k).ok_or_else(|| ConsentError::corrupt("consent key"))?).or_default().numbers += 1;
    }
    for kv in t.events.iter() {
        let (k, v) = kv?;
        out.entry(tenant_of(&k).ok_or_else(|| ConsentError::corrupt("event key"))?).or_default().event_bytes +=
            v.len() as u64;
    }
    Ok(out)
}

/// Replaces the stored usage with `counted` and marks the store counted.
pub fn store(t: &Trees, counted: &BTreeMap<String, Usage>) -> Result<(), ConsentError> {
    let mut batch = sled::Batch::default();
    for kv in t.meta.scan_prefix(PREFIX) {
        batch.remove(kv?.0);
    }
    for (tenant, u) in counted {
        batch.insert(key(tenant), &u.encode());
    }
    batch.insert(COUNTED, &[1u8]);
    t.meta.apply_batch(batch)?;
    Ok(())
}

/// Whether the store keeps usage (a store written before it did is counted
/// when the server opens it).
pub fn counted(t: &Trees) -> Result<bool, ConsentError> {
    Ok(t.meta.get(COUNTED)?.is_some())
}

/// A store written before usage was kept: count it now (once).
pub fn count_if_new(t: &Trees) -> Result<(), ConsentError> {
    if t.meta.get(COUNTED)?.is_none() {
        store(t, &recount(t)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Ledger, LedgerOptions};
    use crate::domain::{Action, Level, NewEvent, TenantId};

    #[tokio::test]
    async fn usage_follows_every_write_and_verify_catches_a_wrong_count() {
        let ledger = Ledger::temporary(&LedgerOptions::default()).unwrap();
        let grant = Action::Grant(Level::Express);
        for (tenant, id, phone, action) in [
            ("north", "a", "+13125550101", grant),
            ("north", "b", "+13125550101", Action::Revoke),
            ("north", "c", "+13125550102", Action::Revoke),
            ("north", "c", "+13125550102", Action::Revoke), // a retry: stored once
            ("south", "a", "+13125550101", grant),
        ] {
            ledger.record(NewEvent::for_test(tenant, id, phone, action)).await.unwrap();
        }
        let north = ledger.usage(&TenantId::new("north")).unwrap();
        assert_eq!(north.numbers, 2);
        assert_eq!(ledger.usage(&TenantId::new("south")).unwrap().numbers, 1);
        assert_eq!(ledger.all_usage().unwrap(), recount(&ledger.trees).unwrap(), "kept = counted");
        let north_bytes: u64 = ledger.trees.events.scan_prefix(b"north\0").map(|kv| kv.unwrap().1.len() as u64).sum();
        assert_eq!(north.event_bytes, north_bytes);

        // Kept wrong (a bug, a hand edit): verify says so; a recount repairs it.
        let mut wrong = ledger.all_usage().unwrap();
        wrong.get_mut("north").unwrap().numbers = 7;
        store(&ledger.trees, &wrong).unwrap();
        let report = crate::consent::verify::verify(&ledger.trees).unwrap();
        assert_eq!(report.problems.len(), 1, "{report}");
        assert!(format!("{:?}", report.problems).contains("usage"), "{report}");
        store(&ledger.trees, &recount(&ledger.trees).unwrap()).unwrap();
        assert!(crate::consent::verify::verify(&ledger.trees).unwrap().is_clean());
        ledger.shutdown().await.unwrap();
    }
}
