//! Reading a stream in order from a sequence: catch-up after a restart, a
//! rebuild from scratch, and the tail an instance applies while it runs.
//!
//! Built on JetStream's ordered consumer (ephemeral, memory, no acks): the
//! client checks that consumer sequences are contiguous and, on a gap, a lost
//! heartbeat or a lost server, recreates the consumer from the last stream
//! sequence it delivered. Two of its behaviours are covered here:
//! - if it recreates before delivering anything, it restarts from the
//!   stream's first message, not from ours, so `Replay` drops what lies
//!   before the next sequence it owes;
//! - it checks heartbeats at half the pull expiry, 15 s by default; a short
//!   expiry makes it notice a killed server in seconds.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use bytes::Bytes;
use tokio_stream::Stream;

use super::error::{api_error, ClusterError, Result};
use super::{Family, Log};

/// How long one pull waits at the server; heartbeats come at half of it,
/// and two missed ones make the client recreate the consumer.
const PULL_EXPIRY: Duration = Duration::from_secs(4);

/// One message of a stream, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    /// Its position in the stream: the position an instance records as applied.
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
    /// The `Nats-Msg-Id` it was published with.
    pub msg_id: Option<String>,
    /// When the stream stored it (the server's clock).
    pub stored_at: jiff::Timestamp,
}

type Inner = Pin<Box<dyn Stream<Item = Result<async_nats::jetstream::Message, pull::OrderedError>> + Send>>;

/// A stream's messages in strict sequence order, each once, from a starting
/// sequence; it waits for new ones at the end. It survives reconnects and
/// the loss of a server. After an error it ends: resume with
/// `Log::replay_from(family, last_applied + 1)`.
pub struct Replay {
    inner: Option<Inner>,
    /// The lowest sequence not yet delivered.
    next: u64,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("next", &self.next).field("ended", &self.inner.is_none()).finish()
    }
}

impl Log {
    /// `family`'s messages from sequence `start` on (0 and 1 both mean the
    /// first). Fails with `Unavailable` when the consumer cannot be created.
    pub async fn replay_from(&self, family: Family, start: u64) -> Result<Replay> {
        let start = start.max(1);
        let config = pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: start },
            max_expires: PULL_EXPIRY,
            ..Default::default()
        };
        let create = async {
            let consumer = self.jetstream().create_consumer_on_stream(config, self.stream_name(family)).await?;
            Ok::<_, async_nats::Error>(consumer.messages().await?)
        };
        let ordered = match tokio::time::timeout(PULL_EXPIRY * 2, create).await {
            Err(elapsed) => return Err(ClusterError::unavailable("replay_from", elapsed)),
            Ok(Err(e)) => {
                let api = api_error(&*e).cloned();
                return Err(ClusterError::from_api("replay_from", e, api.as_ref()));
            }
            Ok(Ok(ordered)) => ordered,
        };
        Ok(Replay { inner: Some(Box::pin(ordered)), next: start })
    }
}

impl Stream for Replay {
    type Item = Result<StreamMessage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
            let message = match ready!(inner.as_mut().poll_next(cx)) {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    // The ordered consumer must not be polled after it
                    // failed to recreate itself.
                    self.inner = None;
                    return Poll::Ready(Some(Err(ClusterError::unavailable("replay", e))));
                }
                None => {
                    self.inner = None;
                    return Poll::Ready(None);
                }
            };
            let (sequence, stored_at) = match message.info() {
                Ok(info) => (info.stream_sequence, info.published.unix_timestamp_nanos()),
                Err(e) => {
                    self.inner = None;
                    return Poll::Ready(Some(Err(ClusterError::rejected("replay", e))));
                }
            };
            if sequence < self.next {
                continue; // delivered again after the consumer was recreated
            }
            self.next = sequence + 1;
            let message = message.message;
            let msg_id = message.headers.as_ref().and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID));
            return Poll::Ready(Some(Ok(StreamMessage {
                sequence,
                msg_id: msg_id.map(|v| v.as_str().to_string()),
                subject: message.subject.to_string(),
                payload: message.payload,
                stored_at: jiff::Timestamp::from_nanosecond(stored_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            })));
        }
    }
}
