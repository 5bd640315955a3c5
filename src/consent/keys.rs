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

/// Splits a key into its tenant and the rest (after the 0x00).
pub fn split_tenant(key: &[u8]) -> Option<(&str, &[u8])> {
    let at = key.iter().position(|&b| b == 0)?;
    Some((std::str::from_utf8(&key[..at]).ok()?, &key[at + 1..]))
}

/// An `events` key as (tenant, sequence).
pub fn parse_event(key: &[u8]) -> Option<(&str, u64)> {
    let (tenant, rest) = split_tenant(key)?;
    Some((tenant, u64::from_be_bytes(rest.try_into().ok()?)))
}

/// A `by_phone` key as (tenant, phone, sequence).
pub fn parse_by_phone(key: &[u8]) -> Option<(&str, &str, u64)> {
    let (tenant, rest) = split_tenant(key)?;
    let (phone, seq) = rest.split_at(rest.len().checked_sub(9)?);
    let seq = seq.strip_prefix(&[0])?;
    Some((tenant, std::str::from_utf8(phone).ok()?, u64::from_be_bytes(seq.try_into().ok()?)))
}

/// The key just past every key of `tenant`: where the next tenant starts.
pub fn after_tenant(tenant: &str) -> Vec<u8> {
    let mut k = tenant.as_bytes().to_vec();
    k.push(1);
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
        assert!(event("t", u64::MAX) < after_tenant("t") && after_tenant("t") < tenant_prefix("t0"));
    }

    #[test]
    fn keys_parse_back() {
        assert_eq!(parse_event(&event("north", 7)), Some(("north", 7)));
        assert_eq!(parse_event(b"north\0short"), None);
        assert_eq!(parse_by_phone(&by_phone("north", "+13125550199", 258)), Some(("north", "+13125550199", 258)));
        assert_eq!(split_tenant(&phone("north", "+1")), Some(("north", &b"+1"[..])));
    }
}
