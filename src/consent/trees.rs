//! The ledger's sled trees: `events` (the source of truth) and the trees
//! derived from it, which one transaction updates together.

use super::{keys, ConsentError};

/// The trees a write touches, updated together in one transaction.
#[derive(Clone)]
pub struct Trees {
    pub events: sled::Tree,
    pub idempotency: sled::Tree,
    pub by_phone: sled::Tree,
    pub consent: sled::Tree,
    /// Per store: schema version, markers, the applied stream position.
    pub meta: sled::Tree,
}

impl Trees {
    pub fn open(db: &sled::Db) -> Result<Trees, ConsentError> {
        Ok(Trees {
            events: db.open_tree("events")?,
            idempotency: db.open_tree("idempotency")?,
            by_phone: db.open_tree("by_phone")?,
            consent: db.open_tree("consent")?,
            meta: db.open_tree("meta")?,
        })
    }

    /// A stream position kept in `meta` under `key` (0: none yet).
    pub fn position(&self, key: &[u8]) -> Result<u64, ConsentError> {
        match self.meta.get(key)? {
            None => Ok(0),
            Some(v) => keys::event_seq(&v).ok_or_else(|| ConsentError::corrupt("stream position")),
        }
    }

    /// The trees derived from `events` (everything `rebuild` rewrites).
    pub fn derived(&self) -> [&sled::Tree; 3] {
        [&self.idempotency, &self.by_phone, &self.consent]
    }
}
