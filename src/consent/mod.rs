//! The consent ledger: an append-only, fsynced event log per tenant in sled,
//! with the current state per phone number derived from it.
//!
//! `sled::Error` stops at this module's edge and becomes [`ConsentError`].

mod activity;
pub mod backup;
mod committer;
pub mod contact;
mod decision_log;
mod index;
mod keys;
mod ledger;
pub mod model;
mod offline;
pub mod rebuild;
pub mod state;
mod unacked;
pub mod verify;
mod write_behind;

pub use activity::logged_decisions;
pub use ledger::{CommitObserver, Ledger, LedgerOptions, Recorded, DEFAULT_CONSENT_INDEX_MIB};
pub use model::{Action, Category, ConsentEvent, Evidence, Level, NewEvent, Scope, Source};
pub use state::{ContactConsent, ScopeState, Status};

/// What can go wrong in the ledger. Callers see only the kind; the cause is
/// logged where it happens.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The store cannot take or serve data right now (disk, shutdown).
    #[error("consent store unavailable: {0}")]
    StoreUnavailable(String),
    /// Stored bytes do not decode: the store needs `textgate verify`.
    #[error("consent store holds a record that does not decode: {0}")]
    Corrupt(String),
}

/// Runs a wait for room that a stalled disk could make long. On a
/// multi-thread Tokio worker it goes through `block_in_place`, so the
/// runtime moves the worker's other tasks away instead of stalling them;
/// elsewhere it simply runs.
pub(crate) fn blocking_wait<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

impl From<sled::Error> for ConsentError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => ConsentError::Corrupt(e.to_string()),
            other => ConsentError::StoreUnavailable(other.to_string()),
        }
    }
}

impl From<bincode::Error> for ConsentError {
    fn from(e: bincode::Error) -> Self {
        ConsentError::Corrupt(e.to_string())
    }
}
