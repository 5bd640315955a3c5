//! Which tenant a call acts for, as a type of its own so a tenant id is never
//! mistaken for an event id, a phone number or any other string.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// A configured tenant's id. Made where a caller's credential is resolved
/// (from the configuration's validated tenant ids) and passed down as is;
/// clones share one allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// A tenant id already known to be one: a key of the validated
    /// configuration's `tenants`, or an id the ledger stored.
    pub fn new(id: impl Into<Arc<str>>) -> TenantId {
        TenantId(id.into())
    }

    /// The id as configured ("northside").
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maps keyed by tenant answer lookups by the id's text.
impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_id_and_compare_by_its_text() {
        let a = TenantId::new("northside");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!((a.as_str(), a.to_string()), ("northside", "northside".to_string()));
        assert_eq!(a, TenantId::new(String::from("northside")));
        let map: std::collections::HashMap<TenantId, u8> = [(a, 1)].into();
        assert_eq!(map.get("northside"), Some(&1));
    }
}
