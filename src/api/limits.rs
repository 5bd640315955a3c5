//! Size limits on request fields, so every stored record stays bounded. The
//! README's "Limits" section lists them.

use crate::error::ApiError;

/// Idempotency keys, message ids, client references.
pub const MAX_ID: usize = 128;
/// Short evidence fields (collected_by, ip_address, document_ref, ...).
pub const MAX_SHORT: usize = 512;
/// Long evidence text (disclosure_text, user_agent, method_detail).
pub const MAX_LONG: usize = 4096;
/// Message bodies (CheckMessage, ProcessInbound): 10 concatenated segments.
pub const MAX_BODY: usize = 1600;
/// Entries in `evidence.extra`.
pub const MAX_EXTRA_ENTRIES: usize = 32;
/// Categories listed in one grant.
pub const MAX_CATEGORIES: usize = 3;
/// Largest request message the server decodes, bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Checks a free-text field: at most `max` bytes and no control characters
/// other than newline and tab.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(field, format!("longer than {max} bytes")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(ApiError::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Checks an identifier: required, at most `MAX_ID` bytes, printable, no spaces.
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "required"));
    }
    if value.len() > MAX_ID {
        return Err(ApiError::invalid(field, format!("longer than {MAX_ID} bytes")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::invalid(field, "must not contain spaces or control characters"));
    }
    Ok(())
}

/// A tower layer that turns tonic's answer to a request over
/// [`MAX_MESSAGE_BYTES`] (OUT_OF_RANGE, naming no field) into
/// RESOURCE_EXHAUSTED naming the request: see [`crate::error::oversized_request`].
/// tonic answers a unary request it cannot decode with a trailers-only
/// response, so the status is in the response headers; streamed requests are
/// mapped where their items are read.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLimitLayer;

impl<S> tower_layer::Layer<S> for RequestLimitLayer {
    type Service = RequestLimit<S>;
    fn layer(&self, inner: S) -> RequestLimit<S> {
        RequestLimit { inner }
    }
}

/// The service [`RequestLimitLayer`] builds.
#[derive(Clone, Debug)]
pub struct RequestLimit<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for RequestLimit<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            let mapped =
                tonic::Status::from_header_map(resp.headers()).and_then(|s| crate::error::oversized_request(&s));
            if let Some(status) = mapped {
                let headers = resp.headers_mut();
                headers.remove("grpc-status-details-bin");
                // Only fails for a message that is not a valid header value; ours is ASCII.
                let _ = status.add_header(headers);
            }
            Ok(resp)
        })
    }
}
