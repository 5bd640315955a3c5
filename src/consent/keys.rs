//! Key layout of the sled trees. Tenant ids never contain 0x00 (config
//! validation), so `tenant 0x00 rest` keys group by tenant and big-endian
//! sequences keep range scans in ledger order.

/// `tenant 0x00`: the prefix of every key of one tenant.
pub fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 1);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k
}

/// `events`: tenant, sequence.
pub fn event(tenant: &str, seq: u64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence at the end of an `events` key.
pub fn event_seq(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// `idempotency`: tenant, event id.
pub fn idempotency(tenant: &str, event_id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(event_id.as_bytes());
    k
}

/// `consent` and `contact`: tenant, phone.
pub fn phone(tenant: &str, phone: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(phone.as_bytes());
    k
}

/// `by_phone` index prefix: tenant, phone, 0x00.
pub fn by_phone_prefix(tenant: &str, phone_e164: &str) -> Vec<u8> {
    let mut k = phone(tenant, phone_e164);
    k.push(0);
    k
}

/// `by_phone` index: tenant, phone, 0x00, sequence.
pub fn by_phone(tenant: &str, phone_e164: &str, seq: u64) -> Vec<u8> {
    let mut k = by_phone_prefix(tenant, phone_e164);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_sequence_and_round_trip() {
        let a = event("t", 9);
        let b = event("t", 256);
        assert!(a < b);
        assert_eq!(event_seq(&b), Some(256));
        assert!(event("t", u64::MAX) < tenant_prefix("t0"));
    }
}
