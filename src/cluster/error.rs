//! `ClusterError`: what can go wrong talking to the shared log, sorted by
//! what the caller should do about it. NATS client errors are converted here
//! and never leak upward; the cause is kept as a source for the logs.

use std::path::PathBuf;

/// The NATS client's error, kept only as the source of a [`ClusterError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the cluster transport.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// NATS is unreachable, JetStream has no quorum, or the answer did not
    /// come in time. Retrying later may succeed; a write answered this way
    /// may or may not be stored (a retry with the same id is stored once).
    /// A later step maps it to gRPC UNAVAILABLE.
    #[error("the shared log is unavailable ({during})")]
    Unavailable {
        during: &'static str,
        #[source]
        source: Cause,
    },
    /// JetStream answered, and the answer is no: a stream configured
    /// differently from what this instance needs, a subject no stream
    /// holds, a message too large, bad credentials. Retrying does not help.
    #[error("the shared log refused ({during})")]
    Rejected {
        during: &'static str,
        #[source]
        source: Cause,
    },
    /// The acknowledgement came from another stream than ours: some other
    /// stream's subjects overlap ours. The message is stored there, not in
    /// the ledger.
    #[error("the write was stored in stream {actual:?}, not {expected:?}")]
    WrongStream { expected: String, actual: String },
    /// A tenant id that cannot be one token of a NATS subject.
    #[error("{0:?} cannot be a subject token (empty, or has '.', '*', '>' or whitespace)")]
    InvalidToken(String),
    /// The `.creds` file could not be read or parsed.
    #[error("cannot use NATS credentials {}", path.display())]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClusterError {
    /// Whether retrying the same call later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ClusterError::Unavailable { .. })
    }

    pub(crate) fn unavailable(during: &'static str, source: impl Into<Cause>) -> ClusterError {
        ClusterError::Unavailable { during, source: source.into() }
    }

    pub(crate) fn rejected(during: &'static str, source: impl Into<Cause>) -> ClusterError {
        ClusterError::Rejected { during, source: source.into() }
    }

    /// Sorts a JetStream API error: the server's 5xx codes (no quorum, no
    /// leader, temporarily unavailable) and transport failures can heal by
    /// themselves; 4xx answers are a refusal.
    pub(crate) fn from_api(during: &'static str, source: impl Into<Cause>, api: Option<&JetStreamApiError>) -> Self {
        match api {
            Some(e) if e.code() < 500 => ClusterError::rejected(during, source),
            _ => ClusterError::unavailable(during, source),
        }
    }
}

pub(crate) use async_nats::jetstream::Error as JetStreamApiError;

/// The JetStream API error (with its code) somewhere in `e`'s source chain.
pub(crate) fn api_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a JetStreamApiError> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(api) = e.downcast_ref::<JetStreamApiError>() {
            return Some(api);
        }
        next = e.source();
    }
    None
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
