//! Per-recipient locks: a number's contact history is read, decided on and
//! written back under its lock, by a CheckMessage, a ProcessInbound, and (in
//! cluster mode) the applier of other instances' send facts, so no update
//! is lost between them. Per-key locks: two CheckMessage calls with one
//! idempotency key decide once; a key's lock is taken before the
//! recipient's, never after it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

use crate::domain::TenantId;
use crate::phone::PhoneNumber;

/// Number of lock stripes.
const STRIPES: usize = 256;

/// Striped locks: two values may share a stripe, never a value two.
struct Stripes(Vec<Mutex<()>>);

impl Default for Stripes {
    fn default() -> Self {
        Stripes((0..STRIPES).map(|_| Mutex::new(())).collect())
    }
}

impl Stripes {
    async fn lock(&self, of: impl Hash) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        of.hash(&mut h);
        self.0[(h.finish() as usize) % STRIPES].lock().await
    }
}

/// Striped locks: two numbers may share a stripe, never a number two.
#[derive(Default)]
pub struct RecipientLocks {
    stripes: Stripes,
}

impl RecipientLocks {
    /// Serializes work on one recipient of one tenant.
    pub async fn lock(&self, tenant: &TenantId, phone: &PhoneNumber) -> MutexGuard<'_, ()> {
        self.stripes.lock((tenant.as_str(), phone.as_str())).await
    }
}

/// Striped locks over CheckMessage idempotency keys.
#[derive(Default)]
pub struct KeyLocks {
    stripes: Stripes,
}

impl KeyLocks {
    /// Serializes the calls that carry one idempotency key of one tenant.
    pub async fn lock(&self, tenant: &TenantId, key: &str) -> MutexGuard<'_, ()> {
        // Its own seed (the 1), so a key and a number share no pattern.
        self.stripes.lock((1u8, tenant.as_str(), key)).await
    }
}
