//! A tower layer around the gRPC router that meters every PolicyService call:
//! calls in flight, latency to the end of the response (streams included) and
//! the final gRPC status, read from the trailers (or from the headers of a
//! trailers-only error response).
//!
//! It sits below tonic's codec, so it sees what the client sees: an error
//! produced by the auth interceptor or a decode failure counts too (an
//! oversized request's decode failure is turned into RESOURCE_EXHAUSTED here).
//!
//! It also sheds load: a call arriving while `max_in_flight` calls of the
//! same method are being served (waiting for a recipient lock or the ledger's
//! group commit counts as being served) is answered RESOURCE_EXHAUSTED at
//! once, without touching the service, so memory and latency stay bounded
//! under a flood and other methods (and health checks) keep being served.
//! Within those places each caller gets a fair share, and a request body
//! must arrive in time ([`crate::share`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame};
use tower::{Layer, Service};

use crate::api::limits::decode_limit;
use crate::error::ApiError;
use crate::metrics::{Metrics, RpcMetrics, RpcTimer};
use crate::share::{Deadline, Share, Shares};

/// The gRPC path prefix of the metered service.
const SERVICE_PREFIX: &str = "/textgate.v1.PolicyService/";
/// The service's methods (the `method` label values).
pub const METHODS: &[&str] = &[
    "CheckMessage",
    "CheckMessages",
    "RecordConsent",
    "ProcessInbound",
    "GetConsent",
    "ListConsentEvents",
    "GetDecision",
    "ImportConsent",
];

/// Meters the calls of [`METHODS`]; other paths (health, reflection) pass through.
#[derive(Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

struct Shared {
    methods: HashMap<&'static str, RpcMetrics>,
    metrics: Arc<Metrics>,
    max_in_flight: i64,
    shares: Arc<Shares>,
    body_timeout: std::time::Duration,
}

/// How many calls the server takes on, and from whom.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// Calls of one method in flight (`server.max_in_flight`).
    pub max_in_flight: u32,
    /// Calls of one caller in flight (`server.max_in_flight_per_client`).
    pub per_client: u32,
    /// `server.request_body_timeout`.
    pub body_timeout: std::time::Duration,
}

impl ObserveLayer {
    /// Meters every method and sheds calls beyond `max_in_flight` per method
    /// or beyond a caller's share.
    pub fn new(metrics: &Arc<Metrics>, admission: Admission) -> Self {
        let methods = METHODS.iter().map(|m| (*m, metrics.rpc(m))).collect();
        let shared = Shared {
            methods,
            metrics: Arc::clone(metrics),
            max_in_flight: i64::from(admission.max_in_flight),
            shares: Arc::new(Shares::new(admission.per_client)),
            body_timeout: admission.body_timeout,
        };
        ObserveLayer { shared: Arc::new(shared) }
    }
}

impl Shared {
    /// A place for a call of `name` from the caller `headers` name, or the
    /// RESOURCE_EXHAUSTED answer when the method or the caller has none left.
    fn admit<B: Default>(
        &self,
        name: &str,
        rpc: &RpcMetrics,
        headers: &http::HeaderMap,
    ) -> Result<Share, http::Response<B>> {
        let refused = if rpc.in_flight() >= self.max_in_flight {
            ApiError::overloaded(name, self.max_in_flight)
        } else {
            match self.shares.enter(headers.get("authorization").map(|v| v.as_bytes())) {
                Some(share) => return Ok(share),
                None => ApiError::over_share(self.shares.per_client()),
            }
        };
        self.metrics.shed(name);
        rpc.start().finish(tonic::Code::ResourceExhausted);
        Err(tonic::Status::from(refused).into_http())
    }
}

/// Requests that are streams of messages: no deadline on their bodies.
fn streamed_request(path: &str) -> bool {
    path == "/textgate.v1.PolicyService/CheckMessages"
        || path == "/textgate.v1.PolicyService/ImportConsent"
        || path.starts_with("/grpc.reflection.")
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, shared: Arc::clone(&self.shared) }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// The bare method name of a PolicyService path.
fn method_of(path: &str) -> Option<&str> {
    path.strip_prefix(SERVICE_PREFIX)
}

/// The grpc-status in a header map, if any.
fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers.get("grpc-status").map(|v| {
        let n = v.to_str().ok().and_then(|s| s.parse::<i32>().ok()).unwrap_or(2);
        tonic::Code::from_i32(n)
    })
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Observe<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>,
    ReqBody: Body<Data = bytes::Bytes> + Send + 'static,
    ReqBody::Error: Into<tonic::codegen::StdError>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        let method = method_of(path).and_then(|m| self.shared.methods.get_key_value(m));
        let share = match method.map(|(name, rpc)| self.shared.admit(name, rpc, req.headers())) {
            Some(Err(refused)) => {
                let resp = refused.map(|body| ObservedBody { inner: body, timer: None, share: None });
                return Box::pin(async move { Ok(resp) });
            }
            Some(Ok(share)) => Some(share),
            None => None,
        };
        let timer = method.map(|(_, rpc)| rpc.start());
        let limit = decode_limit(path);
        let req = if streamed_request(path) {
            req.map(tonic::body::Body::new)
        } else {
            let within = self.shared.body_timeout;
            req.map(|body| tonic::body::Body::new(Deadline::new(body, within)))
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut timer = timer;
            match fut.await {
                Ok(mut resp) => {
                    refused_to_caller_status(resp.headers_mut(), limit);
                    if let (Some(t), Some(code)) = (timer.as_mut(), status_in(resp.headers())) {
                        t.finish(code);
                    }
                    Ok(resp.map(|body| ObservedBody { inner: body, timer, share }))
                }
                Err(e) => {
                    if let Some(t) = timer.as_mut() {
                        t.finish(tonic::Code::Unknown);
                    }
                    Err(e)
                }
            }
        })
    }
}

/// tonic answers a unary request over its service's decoding limit
/// ([`crate::api::limits::decode_limit`]) with a trailers-only OUT_OF_RANGE naming no field; clients get
/// RESOURCE_EXHAUSTED naming the request instead (see
/// [`crate::error::oversized_request`]); one it cannot decode, INVALID_ARGUMENT
/// naming the field instead of INTERNAL ([`crate::error::undecodable_request`]). Streamed requests are mapped where
/// their items are read.
fn refused_to_caller_status(headers: &mut http::HeaderMap, limit: usize) {
    let mapped = tonic::Status::from_header_map(headers).and_then(|s| crate::error::refused_request(&s, limit));
    if let Some(status) = mapped {
        headers.remove("grpc-status-details-bin");
        // Only fails for a message that is not a valid header value; ours is ASCII.
        let _ = status.add_header(headers);
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its call's timer at the trailers.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        timer: Option<RpcTimer>,
        // The caller's place, held to the end of the answer.
        share: Option<Share>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Some(timer) = this.timer.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(code) = frame.trailers_ref().and_then(status_in) {
                        timer.finish(code);
                    }
                }
                Poll::Ready(Some(Err(_))) => timer.finish(tonic::Code::Internal),
                // A gRPC response that ends without a status is malformed.
                Poll::Ready(None) => timer.finish(tonic::Code::Unknown),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_policy_service_paths_are_metered() {
        assert_eq!(method_of("/textgate.v1.PolicyService/CheckMessage"), Some("CheckMessage"));
        assert_eq!(method_of("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn status_header_parses_to_a_code() {
        let mut h = http::HeaderMap::new();
        assert_eq!(status_in(&h), None);
        h.insert("grpc-status", "8".parse().unwrap());
        assert_eq!(status_in(&h), Some(tonic::Code::ResourceExhausted));
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(status_in(&h), Some(tonic::Code::Unknown));
    }
}
