//! Decision ids as callers see them: the decision instant, then where the
//! record is (segment and offset) under a keyed permutation, so an id tells
//! a tenant nothing about how many decisions the server logged before it
//! (for any tenant) or how often it restarted.
//!
//! `d1-{micros:014x}{sealed:018x}`: the 72-bit locator (`segment << 40 |
//! offset`) through a four-round Feistel network whose round function is
//! HMAC-SHA256 under the store's id key, tweaked by the instant (Luby and
//! Rackoff: four rounds of a pseudorandom function make a pseudorandom
//! permutation). Opening is the inverse, so a look-up stays one read at the
//! offset. An id that was tampered with, or sealed under another store's key,
//! opens to a locator whose frame (if any) does not carry that instant,
//! segment and offset: not found. Ids still sort by decision time.
//!
//! The log keeps its own ids (`d-…`, which name the locator in the clear)
//! in its frames and backups, so records never depend on the key; ids of that
//! form handed out before this scheme still resolve.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::files::{decision_id, locate};

/// The prefix of sealed ids.
const PREFIX: &str = "d1-";
/// Bits in each half of the 72-bit locator.
const HALF: u32 = 36;
const MASK: u64 = (1 << HALF) - 1;
const ROUNDS: u8 = 4;
/// Bits of the offset in the locator (as in the log's own ids).
const OFFSET_BITS: u32 = 40;

/// Seals and opens decision ids under one key.
#[derive(Clone)]
pub(in crate::consent) struct IdSeal {
    mac: Hmac<Sha256>,
}

impl IdSeal {
    pub(in crate::consent) fn new(key: &[u8; 32]) -> IdSeal {
        IdSeal { mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length") }
    }

    fn round(&self, i: u8, micros: u64, half: u64) -> u64 {
        let mut mac = self.mac.clone();
        mac.update(&[i]);
        mac.update(&micros.to_be_bytes());
        mac.update(&half.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) & MASK
    }

    /// The id to hand out for the log's own id `id`.
    pub(in crate::consent) fn seal(&self, id: &str) -> String {
        let micros = id.get(2..16).and_then(|h| u64::from_str_radix(h, 16).ok());
        let (Some((seg, off)), Some(micros)) = (locate(id), micros) else {
            return id.to_string();
        };
        let x = u128::from(seg) << OFFSET_BITS | u128::from(off);
        let (mut l, mut r) = ((x >> HALF) as u64, x as u64 & MASK);
        for i in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(i, micros, r));
        }
        format!("{PREFIX}{micros:014x}{:018x}", u128::from(l) << HALF | u128::from(r))
    }

    /// The log's own id for a sealed id; None when `id` is not of that form.
    pub(in crate::consent) fn open(&self, id: &str) -> Option<String> {
        let hex = id.strip_prefix(PREFIX).filter(|h| h.len() == 32)?;
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let micros = u64::from_str_radix(&hex[..14], 16).ok()?;
        let x = u128::from_str_radix(&hex[14..], 16).ok()?;
        if x >> (2 * HALF) != 0 {
            return None;
        }
        let (mut l, mut r) = ((x >> HALF) as u64, x as u64 & MASK);
        for i in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(i, micros, l), l);
        }
        let x = u128::from(l) << HALF | u128::from(r);
        let seg = u32::try_from(x >> OFFSET_BITS).ok()?;
        Some(decision_id(micros, seg, (x as u64) & ((1 << OFFSET_BITS) - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_ids_open_to_the_logs_id_and_show_no_offset() {
        let seal = IdSeal::new(&[3; 32]);
        let mut seen = std::collections::HashSet::new();
        for (seg, off) in [(0, 0), (0, 1), (0, 2), (1, 0), (7, 123_456), (u32::MAX, (1 << 40) - 1)] {
            let own = decision_id(0x1234_5678, seg, off);
            let sealed = seal.seal(&own);
            assert_eq!(sealed.len(), own.len() + 1);
            assert!(sealed.starts_with("d1-00000012345678"), "the instant stays in the clear: {sealed}");
            assert_eq!(seal.open(&sealed).as_deref(), Some(own.as_str()));
            assert!(!sealed.ends_with(&format!("{off:010x}")), "the offset does not show: {sealed}");
            assert!(seen.insert(sealed[17..].to_string()), "distinct locators seal apart");
            let other = IdSeal::new(&[4; 32]).open(&sealed);
            assert_ne!(other.as_deref(), Some(own.as_str()), "another key opens it elsewhere");
        }
        // Consecutive offsets do not give consecutive ids.
        let a = u128::from_str_radix(&seal.seal(&decision_id(1, 0, 100))[17..], 16).unwrap();
        let b = u128::from_str_radix(&seal.seal(&decision_id(1, 0, 101))[17..], 16).unwrap();
        assert!(a.abs_diff(b) > 1 << 20, "{a:x} {b:x}");
    }

    #[test]
    fn malformed_sealed_ids_do_not_open() {
        let seal = IdSeal::new(&[3; 32]);
        let good = seal.seal(&decision_id(99, 1, 2));
        for bad in
            ["", "d1-", &good[..good.len() - 1], &format!("{good}0"), &good.to_uppercase(), &decision_id(99, 1, 2)]
        {
            assert_eq!(seal.open(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod ledger_tests {
    use crate::consent::{Ledger, LedgerOptions};
    use crate::domain::TenantId;

    #[tokio::test]
    async fn sealed_and_older_clear_ids_both_find_the_record_for_its_tenant_only() {
        let ledger = Ledger::temporary(&LedgerOptions::default()).unwrap();
        let (north, south) = (TenantId::new("northside"), TenantId::new("southside"));
        let at = jiff::Timestamp::from_second(1_767_225_600).unwrap();
        ledger.log_decision(&south, at, b"another tenant's").unwrap();
        let sealed = ledger.log_decision(&north, at, b"record").unwrap();
        let clear = ledger.ids.open(&sealed).expect("a sealed id");
        assert!(clear.starts_with("d-") && !sealed.contains(&clear[16..]), "{sealed} hides {clear}");
        for id in [&sealed, &clear] {
            assert_eq!(ledger.decision(&north, id).unwrap().as_deref(), Some(&b"record"[..]), "{id}");
            assert_eq!(ledger.decision(&south, id).unwrap(), None, "{id}: not another tenant's");
        }
        ledger.shutdown().await.unwrap();
    }
}
