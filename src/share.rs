//! Fair shares of the server between its callers. A caller is a credential
//! (the `authorization` header as sent; calls without one share a single
//! share): it may hold at most `server.max_in_flight_per_client` calls at
//! once, so one tenant's flood or a pile of its stalled calls cannot take
//! the per-method places (`server.max_in_flight`) every tenant shares.
//!
//! And a unary request must arrive whole within `server.request_body_timeout`:
//! a call that sends its headers and never its body ends, and frees its
//! place, instead of holding it forever.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// Calls in flight per caller.
pub struct Shares {
    per_client: u32,
    /// Keyed per process, so no caller can aim at another's share.
    hasher: RandomState,
    held: Mutex<HashMap<u64, u32>>,
}

impl Shares {
    pub fn new(per_client: u32) -> Shares {
        Shares { per_client, hasher: RandomState::new(), held: Mutex::new(HashMap::new()) }
    }

    pub fn per_client(&self) -> u32 {
        self.per_client
    }

    /// A place for one more call of the caller presenting `credential`, or
    /// `None` when it already holds its share.
    pub fn enter(self: &Arc<Self>, credential: Option<&[u8]>) -> Option<Share> {
        let key = self.hasher.hash_one(credential);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(key).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(Share { shares: Arc::clone(self), key })
    }

    #[cfg(test)]
    fn callers(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

/// One call's place in its caller's share; dropping it frees the place.
pub struct Share {
    shares: Arc<Shares>,
    key: u64,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

pin_project! {
    /// A request body that must end within a time: past it, reading it fails
    /// with DEADLINE_EXCEEDED naming `server.request_body_timeout`.
    pub struct Deadline<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        within: Duration,
        ended: bool,
    }
}

impl<B> Deadline<B> {
    pub fn new(inner: B, within: Duration) -> Deadline<B> {
        Deadline { inner, sleep: tokio::time::sleep(within), within, ended: false }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = B::Data;
    type Error = tonic::codegen::StdError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        let this = self.project();
        if *this.ended {
            return this.inner.poll_frame(cx).map_err(Into::into);
        }
        match this.inner.poll_frame(cx) {
            Poll::Pending if this.sleep.poll(cx).is_ready() => {
                let status = tonic::Status::deadline_exceeded(format!(
                    "request: not received whole within {:?} (server.request_body_timeout)",
                    this.within
                ));
                Poll::Ready(Some(Err(Box::new(status))))
            }
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                *this.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_holds_at_most_its_share_and_gets_it_back() {
        let shares = Arc::new(Shares::new(2));
        let (a, b) = (Some(&b"Bearer a"[..]), Some(&b"Bearer b"[..]));
        let first = shares.enter(a).expect("1 of 2");
        let second = shares.enter(a).expect("2 of 2");
        assert!(shares.enter(a).is_none(), "a third call of the same caller");
        let other = shares.enter(b).expect("another caller is not affected");
        let anonymous = shares.enter(None).expect("callers without a credential share one share");
        drop(first);
        let again = shares.enter(a).expect("a freed place");
        drop((second, again, other, anonymous));
        assert_eq!(shares.callers(), 0, "no caller is remembered once idle");
    }
}
