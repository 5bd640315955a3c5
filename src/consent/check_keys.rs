//! CheckMessage idempotency keys: the answer a keyed check gave, so a retry
//! gets it back instead of a second decision (and a second counted send).
//!
//! `check_keys`: `tenant 0x00 key` -> [`StoredCheck`] (versioned, bincode):
//! a digest of the request's decision-relevant fields, the instant it was
//! stored, the encoded answer without its body, and the text the answer put
//! around the request's body. No body and no phone number is stored.
//! `check_keys_by_time`: the stored instant (big-endian microseconds), then
//! the `check_keys` key -> nothing: the order in which `prune` drops keys.
//!
//! A send's key is written in one sled transaction with the recipient's
//! contact history (see `WriteBehind::write_through`), so after a crash a
//! retry finds both or neither. Like contact history these trees reach the
//! disk on sled's periodic flush (every 500 ms), not per call.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::ledger::Ledger;
use super::{keys, records, ConsentError};
use crate::domain::{ContactHistory, TenantId};
use crate::phone::PhoneNumber;

/// What a keyed check answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheck {
    /// SHA-256 over the request's decision-relevant fields (the caller's).
    pub digest: [u8; 32],
    /// When it was decided (microseconds since the epoch).
    pub at_us: i64,
    /// The encoded answer, its body left empty.
    pub answer: Vec<u8>,
    /// The answer's body is `head`, the request's body, then `tail`.
    pub head: String,
    pub tail: String,
}

#[derive(Serialize, Deserialize)]
enum Record {
    V1 { digest: [u8; 32], at_us: i64, answer: Vec<u8>, head: String, tail: String },
}

fn encode(s: &StoredCheck) -> Vec<u8> {
    let r = Record::V1 {
        digest: s.digest,
        at_us: s.at_us,
        answer: s.answer.clone(),
        head: s.head.clone(),
        tail: s.tail.clone(),
    };
    bincode::serialize(&r).expect("plain fields always encode")
}

fn decode(bytes: &[u8]) -> Result<StoredCheck, ConsentError> {
    let r: Record = bincode::deserialize(bytes)
        .map_err(|e| ConsentError::Corrupt { what: "check idempotency key".into(), source: Some(e) })?;
    let Record::V1 { digest, at_us, answer, head, tail } = r;
    Ok(StoredCheck { digest, at_us, answer, head, tail })
}

/// `check_keys_by_time` key: the instant (a non-negative microsecond count
/// sorts right as big-endian), then the `check_keys` key.
fn by_time(at_us: i64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&at_us.max(0).to_be_bytes());
    k.extend_from_slice(key);
    k
}

impl Ledger {
    /// The answer stored under a tenant's idempotency key, if any (possibly
    /// older than the window: the caller decides).
    pub fn check_key(&self, tenant: &TenantId, key: &str) -> Result<Option<StoredCheck>, ConsentError> {
        self.activity.check_keys.get(keys::idempotency(tenant.as_str(), key))?.map(|v| decode(&v)).transpose()
    }

    /// Stores a keyed check's answer and, for an allowed send, the
    /// recipient's new contact history, in one transaction (replacing what
    /// the key held). Callers hold the key's and the recipient's locks.
    pub fn remember_check(
        &self,
        tenant: &TenantId,
        key: &str,
        stored: &StoredCheck,
        contact: Option<(&PhoneNumber, &ContactHistory)>,
    ) -> Result<(), ConsentError> {
        self.outside_reserve()?;
        let main = keys::idempotency(tenant.as_str(), key);
        let value = encode(stored);
        let index = by_time(stored.at_us, &main);
        let contact =
            contact.map(|(phone, h)| (keys::phone(tenant.as_str(), phone.as_str()), records::encode_contact(h)));
        let (checks, times) = (&self.activity.check_keys, &self.activity.check_keys_by_time);
        let write = |contact_tree: &sled::Tree| {
            (contact_tree, checks, times)
                .transaction(|(c, k, t)| {
                    if let Some((ck, cv)) = &contact {
                        c.insert(ck.as_slice(), cv.as_slice())?;
                    }
                    k.insert(main.as_slice(), value.as_slice())?;
                    t.insert(index.as_slice(), &[] as &[u8])?;
                    Ok::<_, ConflictableTransactionError<ConsentError>>(())
                })
                .map_err(|e| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => e.into(),
                })
        };
        match &contact {
            Some((ck, _)) => self.activity.contact.write_through(ck, write),
            None => write(self.activity.contact.tree()),
        }
    }

    /// Drops up to `limit` keys stored before `before_us`; how many entries
    /// of the time index it went through (less than `limit`: done for now).
    pub fn prune_check_keys(&self, before_us: i64, limit: usize) -> Result<usize, ConsentError> {
        let (checks, times) = (&self.activity.check_keys, &self.activity.check_keys_by_time);
        let end = before_us.max(0).to_be_bytes();
        let mut seen = 0;
        for entry in times.range(..end.as_slice()).take(limit) {
            let (k, _) = entry?;
            seen += 1;
            let (at, main) = k.split_at(8.min(k.len()));
            let at_us = i64::from_be_bytes(at.try_into().map_err(|_| ConsentError::corrupt("check key time index"))?);
            // A key decided anew since holds a later instant: it stays.
            if let Some(current) = checks.get(main)? {
                if decode(&current).map_or(true, |s| s.at_us == at_us) {
                    let _ = checks.compare_and_swap(main, Some(current), None as Option<&[u8]>)?;
                }
            }
            times.remove(&k)?;
        }
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::LedgerOptions;
    use crate::domain::{Category, SentMessage};

    fn stored(at_us: i64, n: u8) -> StoredCheck {
        StoredCheck { digest: [n; 32], at_us, answer: vec![n], head: "Brand: ".into(), tail: " STOP".into() }
    }

    #[test]
    fn a_key_keeps_its_answer_and_the_send_in_one_write() {
        let ledger = Ledger::temporary(&LedgerOptions::default()).unwrap();
        let (t, phone) = (TenantId::new("demo"), PhoneNumber::parse("+13125550101").unwrap());
        assert_eq!(ledger.check_key(&t, "k1").unwrap(), None);
        let mut h = ContactHistory::default();
        let at = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        h.sends.push(SentMessage { campaign_id: "c".into(), category: Category::Informational, at });
        ledger.remember_check(&t, "k1", &stored(5, 1), Some((&phone, &h))).unwrap();
        assert_eq!(ledger.check_key(&t, "k1").unwrap(), Some(stored(5, 1)));
        assert_eq!(ledger.contact(&t, &phone).unwrap().sends.len(), 1);
        let other = TenantId::new("other");
        assert_eq!(ledger.check_key(&other, "k1").unwrap(), None, "keys are per tenant");
    }

    #[test]
    fn prune_drops_old_keys_in_bounded_batches_and_keeps_renewed_ones() {
        let ledger = Ledger::temporary(&LedgerOptions::default()).unwrap();
        let t = TenantId::new("demo");
        for i in 0..5u8 {
            ledger.remember_check(&t, &format!("k{i}"), &stored(i64::from(i) * 10, i), None).unwrap();
        }
        // k0 decided anew later: its first index entry must not drop it.
        ledger.remember_check(&t, "k0", &stored(100, 9), None).unwrap();
        assert_eq!(ledger.prune_check_keys(35, 2).unwrap(), 2);
        assert_eq!(ledger.prune_check_keys(35, 10).unwrap(), 2);
        assert_eq!(ledger.prune_check_keys(35, 10).unwrap(), 0);
        assert_eq!(ledger.check_key(&t, "k0").unwrap(), Some(stored(100, 9)));
        for i in 1..=3 {
            assert_eq!(ledger.check_key(&t, &format!("k{i}")).unwrap(), None, "k{i} pruned");
        }
        assert!(ledger.check_key(&t, "k4").unwrap().is_some(), "k4 is newer than the cut");
    }
}
