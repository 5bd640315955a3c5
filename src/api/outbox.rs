//! The sending side of a server stream (ListConsentEvents, CheckMessages):
//! a bounded channel to the client, and a limit on how long an answer waits
//! for the client to take it. A client that takes nothing for
//! `server.stream_send_timeout` loses the stream: what was queued still
//! reaches it, then the stream ends with DEADLINE_EXCEEDED naming the key, so
//! a cut listing is never mistaken for a complete one.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::Status;

use super::convert::EventStreamOf;

/// Where a stream's producer puts its answers.
pub struct Outbox<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    within: Duration,
    gave_up: Arc<AtomicBool>,
}

impl<T: Send + 'static> Outbox<T> {
    /// An outbox holding at most `capacity` answers, and the stream the
    /// client reads them from.
    pub fn new(capacity: usize, within: Duration) -> (Outbox<T>, EventStreamOf<T>) {
        let (tx, rx) = mpsc::channel(capacity);
        let gave_up = Arc::new(AtomicBool::new(false));
        let inbox = Inbox { rx, gave_up: Arc::clone(&gave_up), within, ended: false };
        (Outbox { tx, within, gave_up }, Box::pin(inbox))
    }

    /// Queues one answer; false when the stream is over (the client left,
    /// or took nothing for the send timeout): stop producing.
    pub async fn send(&self, item: Result<T, Status>) -> bool {
        match tokio::time::timeout(self.within, self.tx.send(item)).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                self.gave_up.store(true, Ordering::Release);
                false
            }
        }
    }
}

struct Inbox<T> {
    rx: mpsc::Receiver<Result<T, Status>>,
    gave_up: Arc<AtomicBool>,
    within: Duration,
    ended: bool,
}

impl<T> Stream for Inbox<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) if !self.ended && self.gave_up.load(Ordering::Acquire) => {
                self.ended = true;
                Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                    "stream: ended after the client took no answer for {:?} (server.stream_send_timeout)",
                    self.within
                )))))
            }
            other => other,
        }
    }
}
