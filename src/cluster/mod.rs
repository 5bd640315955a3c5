//! Cluster mode's transport: the shared, replicated log on NATS JetStream
//! that every instance publishes its writes to and applies in order
//! (DESIGN.md, "Scale-out"). Pure transport: no sled, no gRPC; applying the
//! log to the ledger is the consent module's job.
//!
//! Two streams, one per [`Family`], rather than one stream with two subject
//! families: JetStream's retention (`max_age`, limits) is per stream, and the
//! families need opposite ones. Consent events are the system of record and
//! must never expire; send and inbound facts arrive at up to the decision
//! rate and matter only for as long as a cap window or disclosure interval
//! looks back, so they must. One stream would either keep every send forever
//! or expire consent. The price is two positions to track instead of one.
//!
//! # Layout
//!
//! - [`Log`] (`log.rs`): connect, `ensure_streams`, `publish`, positions.
//! - [`Replay`] (`replay.rs`): a stream's messages in order from a sequence.
//! - [`record`]: the versioned wire record of what is replicated.
//! - [`ClusterError`] (`error.rs`): unavailable versus rejected.

mod error;
mod log;
pub mod record;
mod replay;

pub use error::{Cause, ClusterError, Result};
pub use log::{Log, Published};
pub use record::ReplicatedRecord;
pub use replay::{Replay, StreamMessage};

/// Which stream a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Consent events (grants, revokes): kept forever.
    Consent,
    /// Facts about traffic (allowed sends, inbound texts): kept for
    /// `send_retention`.
    Send,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Consent, Family::Send];

    /// The subject token after the prefix: `<stream>.consent.<tenant>`.
    pub fn subject_token(self) -> &'static str {
        match self {
            Family::Consent => "consent",
            Family::Send => "send",
        }
    }

    /// The stream name suffix: `<stream>_CONSENT`.
    pub fn stream_suffix(self) -> &'static str {
        match self {
            Family::Consent => "CONSENT",
            Family::Send => "SEND",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Family::Consent => "textgate consent events (system of record; never expires)",
            Family::Send => "textgate send and inbound facts (caps, disclosure timing, windows)",
        }
    }
}

/// Whether the client is connected to a NATS server right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connected,
    Disconnected,
}
