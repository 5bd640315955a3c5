//! Per-recipient locks: a number's contact history is read, decided on and
//! written back under its lock, by a CheckMessage, a ProcessInbound, and (in
//! cluster mode) the applier of other instances' send facts, so no update
//! is lost between them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

use crate::domain::TenantId;
use crate::phone::PhoneNumber;

/// Number of lock stripes.
const STRIPES: usize = 256;

/// Striped locks: two numbers may share a stripe, never a number two.
pub struct RecipientLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for RecipientLocks {
    fn default() -> Self {
        RecipientLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl RecipientLocks {
    /// Serializes work on one recipient of one tenant.
    pub async fn lock(&self, tenant: &TenantId, phone: &PhoneNumber) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        (tenant.as_str(), phone.as_str()).hash(&mut h);
        self.stripes[(h.finish() as usize) % STRIPES].lock().await
    }
}
