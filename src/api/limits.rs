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
/// Largest grpc.health.v1 request (a service name), bytes.
pub const MAX_HEALTH_BYTES: usize = 1024;
/// Largest reflection request (a file or symbol name), bytes.
pub const MAX_REFLECTION_BYTES: usize = 8 * 1024;

/// The decoding limit of the service a request path names.
pub fn decode_limit(path: &str) -> usize {
    if path.starts_with("/grpc.health.v1.") {
        MAX_HEALTH_BYTES
    } else if path.starts_with("/grpc.reflection.") {
        MAX_REFLECTION_BYTES
    } else {
        MAX_MESSAGE_BYTES
    }
}

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

/// Checks an inbound text's size, the one thing about it that is refused: its
/// characters are repaired, never refused (`policy::inbound::repair`). The
/// message tells the caller how to have the text read all the same, since a
/// refused opt-out would otherwise be lost.
pub fn inbound_body(body: &str) -> Result<(), ApiError> {
    if body.len() > MAX_BODY {
        let reason = format!(
            "{} bytes, over the limit of {MAX_BODY} bytes; nothing was recorded: send the text again cut to its \
             first {MAX_BODY} bytes (at a character boundary) so an opt-out in it is still read",
            body.len()
        );
        return Err(ApiError::invalid("body", reason));
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
