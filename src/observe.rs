//! A tower layer around the gRPC router that meters every PolicyService call:
//! calls in flight, latency to the end of the response (streams included) and
//! the final gRPC status, read from the trailers (or from the headers of a
//! trailers-only error response).
//!
//! It sits below tonic's codec, so it sees what the client sees: an error
//! produced by the auth interceptor or a decode failure counts too.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame};
use tower::{Layer, Service};

use crate::metrics::{Metrics, RpcMetrics, RpcTimer};

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
];

/// Meters the calls of [`METHODS`]; other paths (health, reflection) pass through.
#[derive(Clone)]
pub struct ObserveLayer {
    methods: Arc<HashMap<&'static str, RpcMetrics>>,
}

impl ObserveLayer {
    pub fn new(metrics: &Metrics) -> Self {
        ObserveLayer { methods: Arc::new(METHODS.iter().map(|m| (*m, metrics.rpc(m))).collect()) }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, methods: Arc::clone(&self.methods) }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    methods: Arc<HashMap<&'static str, RpcMetrics>>,
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
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let timer = method_of(req.uri().path()).and_then(|m| self.methods.get(m)).map(RpcMetrics::start);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut timer = timer;
            match fut.await {
                Ok(resp) => {
                    if let (Some(t), Some(code)) = (timer.as_mut(), status_in(resp.headers())) {
                        t.finish(code);
                    }
                    Ok(resp.map(|body| ObservedBody { inner: body, timer }))
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

pin_project_lite::pin_project! {
    /// A response body that ends its call's timer at the trailers.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        timer: Option<RpcTimer>,
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
