//! The consent ledger: an append-only, fsynced event log per tenant in sled,
//! with the current state per phone number derived from it.
//!
//! `sled::Error` stops at this module's edge and becomes [`ConsentError`].

mod activity;
pub mod backup;
pub mod backup_key;
mod capacity;
mod check_keys;
mod committer;
mod decision_log;
mod decision_records;
mod disk_reserve;
mod index;
mod keys;
mod ledger;
mod offline;
pub mod rebuild;
pub mod records;
pub mod server_key;
mod trees;
mod unacked;
pub mod usage;
pub mod verify;
pub mod verify_log;
mod write_behind;

pub use activity::logged_decisions;
pub use check_keys::StoredCheck;
pub use committer::{CommitObserver, Recorded};
pub use ledger::{Ledger, LedgerOptions, DEFAULT_CONSENT_INDEX_MIB};

/// What can go wrong in the ledger. Each variant keeps its cause as a
/// source, so the one place that logs it (`crate::error`) logs the chain.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// sled failed to read or write (I/O inside sled, or its own state).
    #[error("consent store")]
    Store(#[source] sled::Error),
    /// A file or thread of the store's own failed: `context` says which.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes do not decode (or decode to something impossible): the
    /// store needs `textgate verify`.
    #[error("consent store holds a record that does not decode: {what}")]
    Corrupt {
        what: String,
        #[source]
        source: Option<bincode::Error>,
    },
    /// A batch failed to reach the disk earlier: this process accepts no
    /// write until it restarts (see `unacked`). Retrying here cannot succeed.
    #[error("an earlier write could not be made durable; restart textgate")]
    Latched,
    /// The store cannot take or serve data right now: shut down, held by
    /// another process, not a store, an operation left incomplete.
    #[error("{0}")]
    Unavailable(String),
    /// The store's disk is down to `ledger.reserved_disk_mib`: only
    /// revocations are written (see `disk_reserve`).
    #[error("the store's disk is down to its reserve ({free_bytes} bytes free)")]
    DiskReserve { free_bytes: u64 },
}

impl ConsentError {
    /// A record or key that does not make sense, found without a decoder error.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        ConsentError::Corrupt { what: what.into(), source: None }
    }

    /// The innermost cause, for a report that names what failed itself.
    pub(crate) fn root_cause(&self) -> String {
        let mut e: &dyn std::error::Error = self;
        while let Some(inner) = e.source() {
            e = inner;
        }
        e.to_string()
    }

    /// An I/O failure of the store's own files or threads.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ConsentError::Io { context: context.into(), source }
    }
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
            sled::Error::Corruption { .. } => ConsentError::Corrupt { what: e.to_string(), source: None },
            other => ConsentError::Store(other),
        }
    }
}
