//! The one place where crate errors become gRPC statuses.
//!
//! A small fixed set of codes; messages name the offending field; internal
//! causes are logged with their chain and never sent to the client.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::consent::ConsentError;
use crate::replication::ReplicationError;

/// An error a handler returns. `From<ApiError> for Status` is the only mapping.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// An idempotency key sent again with a request that differs from the
    /// one it was first used with: `field` names the key's field.
    #[error("{field}: already used for a different request")]
    KeyReused { field: &'static str },
    /// Refused for load (a method's or a caller's places all taken): a
    /// retry after a pause can succeed.
    #[error("{0}")]
    Overloaded(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A rejected field: `field` is the request's field path, e.g. `scope.campaign_id`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidArgument { field: field.into(), reason: reason.into() }
    }
}

impl ApiError {
    /// Load shedding: `limit` calls of `method` are in flight already.
    /// One caller holds its whole share of the server.
    pub fn over_share(limit: u32) -> Self {
        ApiError::Overloaded(format!(
            "server overloaded for this caller: {limit} of its calls in flight (server.max_in_flight_per_client); retry with backoff"
        ))
    }

    pub fn overloaded(method: &str, limit: i64) -> Self {
        ApiError::Overloaded(format!("server overloaded: {limit} {method} calls in flight; retry with backoff"))
    }
}

impl From<ReplicationError> for ApiError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::Store(e) => e.into(),
            ReplicationError::LogUnavailable(_) => {
                tracing::warn!(error = &e as &dyn std::error::Error, "consent write not acknowledged by the log");
                ApiError::Unavailable(
                    "the consent log is unreachable; the write was not acknowledged: retry it unchanged".into(),
                )
            }
            ReplicationError::NotApplied(_) => {
                tracing::warn!(error = &e as &dyn std::error::Error, "consent write not yet applied here");
                ApiError::Unavailable(
                    "the write is in the consent log but this instance has not applied it yet: retry it unchanged \
                     (a retry records nothing twice)"
                        .into(),
                )
            }
        }
    }
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        // The whole chain goes to the log; the client hears what to do. A
        // write refused to keep the disk's reserve is no store fault.
        if !matches!(e, ConsentError::DiskReserve { .. }) {
            tracing::error!(error = &e as &dyn std::error::Error, "consent store error");
        }
        match e {
            // Retrying on this instance cannot succeed; /readyz already takes
            // it out of rotation, so a retry through the load balancer can.
            ConsentError::Latched => ApiError::Unavailable(
                "this instance accepts no consent write until it restarts (a write failed to reach its disk); \
                 the write was not acknowledged: send it to another instance, or retry after the restart"
                    .into(),
            ),
            ConsentError::DiskReserve { free_bytes } => ApiError::ResourceExhausted(format!(
                "ledger.reserved_disk_mib: the store's disk is down to {} MiB free, the space kept for opt-outs; \
                 only revocations are recorded until space is freed",
                free_bytes >> 20
            )),
            ConsentError::Corrupt { what, .. } => ApiError::Internal(format!("corrupt record: {what}")),
            ConsentError::Store(_) | ConsentError::Io { .. } | ConsentError::Unavailable(_) => ApiError::Unavailable(
                "consent store unavailable; the write was not acknowledged: retry it unchanged".into(),
            ),
        }
    }
}

/// What tonic's codec says when a request message is over the decoding limit.
const DECODE_LIMIT_MESSAGE: &str = "Error, decoded message length too large";

/// tonic rejects a request message over the decoding limit (`limit_bytes`)
/// with OUT_OF_RANGE and a message that names no field. gRPC's status-code
/// table asks for RESOURCE_EXHAUSTED there; this gives it, with a message
/// that names the request. `None` for every other status.
pub fn oversized_request(status: &Status, limit_bytes: usize) -> Option<Status> {
    (status.code() == Code::OutOfRange && status.message().starts_with(DECODE_LIMIT_MESSAGE)).then(|| {
        Status::from(ApiError::ResourceExhausted(format!(
            "request: the message is larger than the {} KiB limit",
            limit_bytes / 1024
        )))
    })
}

/// How prost's decode errors begin (tonic passes them on as INTERNAL).
const DECODE_ERROR_PREFIX: &str = "failed to decode Protobuf message: ";

/// tonic answers a request it cannot decode (a string that is not UTF-8, a
/// message nested too deep, broken wire format) with INTERNAL, as if the
/// server had failed. It is the caller's input: INVALID_ARGUMENT, naming the
/// field prost names (`body`, `evidence.collected_by`), else `request`.
pub fn undecodable_request(status: &Status) -> Option<Status> {
    if status.code() != Code::Internal {
        return None;
    }
    let mut rest = status.message().strip_prefix(DECODE_ERROR_PREFIX)?;
    // prost writes `Message.field: ` for each level, innermost first.
    let mut fields = Vec::new();
    while let Some((level, tail)) = rest.split_once(": ") {
        let Some((message, field)) = level.split_once('.') else { break };
        let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(ident(message) && ident(field)) {
            break;
        }
        fields.push(field);
        rest = tail;
    }
    fields.reverse();
    let field = if fields.is_empty() { "request".to_string() } else { fields.join(".") };
    Some(ApiError::invalid(field, format!("cannot be decoded: {rest}")).into())
}

/// A request tonic refused before any handler saw it, as the caller should
/// hear about it (oversized or undecodable); `None` for any other status.
pub fn refused_request(status: &Status, limit_bytes: usize) -> Option<Status> {
    oversized_request(status, limit_bytes).or_else(|| undecodable_request(status))
}

/// The `domain` of every `google.rpc.ErrorInfo` textgate sends.
pub const ERROR_DOMAIN: &str = "textgate";

/// How long a client should wait before retrying an UNAVAILABLE or an
/// overloaded call (`google.rpc.RetryInfo`).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<ApiError> for Status {
    /// The code and message, plus the richer-error details: `ErrorInfo`
    /// (a stable reason and the domain) on every status, `BadRequest` naming
    /// the field on INVALID_ARGUMENT, `RetryInfo` where a retry can succeed.
    fn from(e: ApiError) -> Status {
        let info = |reason: &str| ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
        let (code, message, mut details) = match e {
            ApiError::InvalidArgument { field, reason } => {
                let mut d = ErrorDetails::with_bad_request_violation(field.clone(), reason.clone());
                d.set_error_info("INVALID_FIELD", ERROR_DOMAIN, [("field".to_string(), field.clone())]);
                (Code::InvalidArgument, format!("{field}: {reason}"), d)
            }
            ApiError::Unauthenticated(m) => (Code::Unauthenticated, m.to_string(), info("CREDENTIAL_REFUSED")),
            ApiError::PermissionDenied(m) => (Code::PermissionDenied, m, info("TENANT_FORBIDDEN")),
            ApiError::NotFound(m) => (Code::NotFound, m, info("NOT_FOUND")),
            ApiError::Unavailable(m) => (Code::Unavailable, m, info("STORE_UNAVAILABLE")),
            ApiError::ResourceExhausted(m) => (Code::ResourceExhausted, m, info("LIMIT_REACHED")),
            ApiError::KeyReused { field } => {
                (Code::AlreadyExists, format!("{field}: already used for a different request"), info("KEY_REUSED"))
            }
            ApiError::Overloaded(m) => (Code::ResourceExhausted, m, info("OVERLOADED")),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (Code::Internal, String::from("internal error"), info("INTERNAL"))
            }
        };
        if matches!(code, Code::Unavailable) || details.error_info().is_some_and(|i| i.reason == "OVERLOADED") {
            details.set_retry_info(Some(RETRY_AFTER));
        }
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_requests_name_the_field_prost_names() {
        let cases = [
            (
                "failed to decode Protobuf message: CheckMessageRequest.body: invalid string value: data is not UTF-8 encoded",
                Some("body: cannot be decoded: invalid string value: data is not UTF-8 encoded"),
            ),
            (
                "failed to decode Protobuf message: Evidence.collected_by: RecordConsentRequest.evidence: invalid string value: data is not UTF-8 encoded",
                Some("evidence.collected_by: cannot be decoded: invalid string value: data is not UTF-8 encoded"),
            ),
            ("failed to decode Protobuf message: recursion limit reached", Some("request: cannot be decoded: recursion limit reached")),
            ("failed to decode Protobuf message: invalid wire type value: 7", Some("request: cannot be decoded: invalid wire type value: 7")),
            ("internal error", None),
        ];
        for (message, want) in cases {
            let got = undecodable_request(&Status::internal(message));
            assert_eq!(got.as_ref().map(|s| s.message()), want, "{message}");
            if let Some(s) = got {
                assert_eq!(s.code(), Code::InvalidArgument);
            }
        }
        let not_internal = Status::unavailable("failed to decode Protobuf message: x");
        assert!(undecodable_request(&not_internal).is_none());
    }
}
