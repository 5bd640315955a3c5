//! One span per gRPC call, joined to the caller's trace.
//!
//! [`RpcTraceLayer`] wraps tonic's router (`Server::builder().layer(..)`), so
//! it sees every call, before auth and before any handler. It opens the `rpc`
//! span from the HTTP/2 request (OpenTelemetry's RPC conventions:
//! `rpc.system`, `rpc.service`, `rpc.method`, span name `Service/Method`),
//! takes W3C `traceparent`/`tracestate` from the request metadata as the
//! span's parent, runs the handler inside it (so handler spans nest under it)
//! and records the gRPC status code when the response head is ready.
//!
//! The span is DEBUG, like every per-request span (see `crate::telemetry`):
//! exported when export is on, logged only when `RUST_LOG` asks for debug.
//! Health and reflection calls get TRACE spans, which are not exported:
//! probes are frequent and say nothing about decisions.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Adds [`RpcTrace`] around a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcTraceLayer;

impl<S> tower_layer::Layer<S> for RpcTraceLayer {
    type Service = RpcTrace<S>;

    fn layer(&self, inner: S) -> RpcTrace<S> {
        RpcTrace { inner }
    }
}

/// A service that runs every call inside its `rpc` span.
#[derive(Clone, Debug)]
pub struct RpcTrace<S> {
    inner: S,
}

impl<S, B, RB> tower_service::Service<http::Request<B>> for RpcTrace<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let span = rpc_span(req.uri().path(), req.headers());
        let inner = span.in_scope(|| self.inner.call(req));
        RpcFuture { inner, span }
    }
}

pin_project_lite::pin_project! {
    /// The handler's future, polled inside the `rpc` span.
    pub struct RpcFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F, RB, E> Future for RpcFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let out = ready!(this.inner.poll(cx));
        if !this.span.is_disabled() {
            // A failed call answers "trailers only": grpc-status in the head.
            // A head without it is a call that started well; for unary calls
            // its trailers say OK.
            let code = match &out {
                Ok(res) => grpc_status(res.headers()).unwrap_or(0),
                Err(_) => 2, // UNKNOWN: the transport failed the call.
            };
            this.span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                this.span.record("otel.status_code", "error");
            }
        }
        Poll::Ready(out)
    }
}

/// Opens the span for a call to `path` (`/package.Service/Method`).
pub fn rpc_span(path: &str, headers: &http::HeaderMap) -> Span {
    let name = path.trim_start_matches('/');
    let (service, method) = name.rsplit_once('/').unwrap_or((name, ""));
    macro_rules! span_at {
        ($level:expr) => {
            tracing::span!(
                $level,
                "rpc",
                otel.name = name,
                otel.kind = "server",
                otel.status_code = Empty,
                rpc.system = "grpc",
                rpc.service = service,
                rpc.method = method,
                rpc.grpc.status_code = Empty,
            )
        };
    }
    let span =
        if service.starts_with("grpc.") { span_at!(tracing::Level::TRACE) } else { span_at!(tracing::Level::DEBUG) };
    if !span.is_disabled() && headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        // Fails only when no OpenTelemetry layer is installed: nothing to join.
        let _ = span.set_parent(parent);
    }
    span
}

/// The numeric `grpc-status` in a header map, if any.
fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// Codes that mean the server failed, per OpenTelemetry's gRPC conventions:
/// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
/// Client mistakes (INVALID_ARGUMENT, NOT_FOUND, ...) leave the status unset.
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// Reads W3C trace context from request headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases: &[(Option<&str>, Option<i32>, bool)] = &[
            (None, None, false),
            (Some("0"), Some(0), false),
            (Some("3"), Some(3), false),
            (Some("13"), Some(13), true),
            (Some("14"), Some(14), true),
            (Some("x"), None, false),
        ];
        for (header, want, server_error) in cases {
            let mut h = http::HeaderMap::new();
            if let Some(v) = header {
                h.insert("grpc-status", v.parse().unwrap());
            }
            assert_eq!(grpc_status(&h), *want, "{header:?}");
            assert_eq!(is_server_error(want.unwrap_or(0)), *server_error, "{header:?}");
        }
    }

    #[test]
    fn extractor_reads_traceparent() {
        use opentelemetry::trace::TraceContextExt;
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        h.insert("tracestate", "vendor=abc".parse().unwrap());
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(&h));
        let sc = cx.span().span_context().clone();
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("abc"));
    }
}
