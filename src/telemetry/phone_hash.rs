//! Phone numbers in spans and logs, as keyed hashes.
//!
//! DESIGN.md: a number appears in logs, traces and metrics only as a keyed
//! hash. A plain SHA-256 would not do: there are only ~10^10 NANP numbers, so
//! anyone could hash them all and reverse it. HMAC-SHA256 under a key the
//! trace backend never sees cannot be reversed that way, yet one number always
//! maps to the same value under one key, so an operator can follow a recipient
//! across spans and log lines.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex digits kept: 64 bits, enough to tell numbers apart in a trace search.
pub const HASH_HEX_LEN: usize = 16;

/// Hashes phone numbers under one key.
#[derive(Clone)]
pub struct PhoneHasher {
    /// The keyed state, computed once; each hash clones it.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PhoneHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneHasher(<key hidden>)")
    }
}

impl PhoneHasher {
    /// A hasher under `key` (any length; config asks for at least 16 bytes).
    pub fn new(key: &[u8]) -> PhoneHasher {
        PhoneHasher { mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length") }
    }

    /// The configured key, or a random one for this process.
    pub fn from_config(key: Option<&str>) -> PhoneHasher {
        match key {
            Some(k) => PhoneHasher::new(k.as_bytes()),
            None => PhoneHasher::new(&rand::random::<[u8; 32]>()),
        }
    }

    /// First 16 hex digits of HMAC-SHA256(key, number). Hash the normalized
    /// (E.164) form so every spelling of a number gives one value.
    pub fn hash(&self, phone: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(phone.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..HASH_HEX_LEN / 2])
    }

    /// Records `phone_hash` on `span`, hashing only when the span is on.
    pub fn record(&self, span: &tracing::Span, phone: &str) {
        if !span.is_disabled() {
            span.record("phone_hash", self.hash(phone).as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERS: &[&str] = &["+13125550199", "+13125550100", "+442079460958", "+17735550123"];

    #[test]
    fn stable_per_key_and_never_the_digits() {
        let h = PhoneHasher::new(b"0123456789abcdef-test");
        for n in NUMBERS {
            let a = h.hash(n);
            assert_eq!(a, h.hash(n), "{n}: same key, same hash");
            assert_eq!(a, h.clone().hash(n), "{n}: a clone keeps the key");
            assert_eq!(a.len(), HASH_HEX_LEN);
            assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
            let digits = n.trim_start_matches('+');
            for part in [digits, &digits[digits.len() - 7..], &digits[digits.len() - 4..]] {
                assert!(!a.contains(part), "{n}: hash {a} shows {part}");
            }
        }
    }

    #[test]
    fn differs_across_numbers_and_keys() {
        let keys: &[&[u8]] = &[b"0123456789abcdef-one", b"0123456789abcdef-two", b"0123456789abcdef-one "];
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            let h = PhoneHasher::new(k);
            for n in NUMBERS {
                assert!(seen.insert(h.hash(n)), "collision for {n} under key {:?}", String::from_utf8_lossy(k));
            }
        }
        let a = PhoneHasher::from_config(None).hash(NUMBERS[0]);
        let b = PhoneHasher::from_config(None).hash(NUMBERS[0]);
        assert_ne!(a, b, "each process without a key draws its own");
        let c = PhoneHasher::from_config(Some("0123456789abcdef-one")).hash(NUMBERS[0]);
        assert_eq!(c, PhoneHasher::new(b"0123456789abcdef-one").hash(NUMBERS[0]));
    }

    #[test]
    fn matches_the_hmac_sha256_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = PhoneHasher::new(b"Jefe");
        assert_eq!(h.hash("what do ya want for nothing?"), "5bdcc146bf60754e");
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", PhoneHasher::new(b"secret-key-0123456789"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
