//! Bearer tokens as the config file holds them: plain, or as
//! `sha256:<64 hex digits>` so the file need not hold the secret. Config
//! validation checks the form; `api::auth` compares presented tokens with
//! the digests.

use sha2::{Digest, Sha256};

/// The prefix of a token given as its SHA-256 digest in `[auth] tokens`.
pub const HASH_PREFIX: &str = "sha256:";

/// The digest a configured token stands for: the hex after [`HASH_PREFIX`],
/// or the SHA-256 of a plain token. Configuration validation has checked the
/// hex form ([`is_hashed_token`]); a malformed one matches nothing.
pub fn token_digest(configured: &str) -> [u8; 32] {
    match configured.strip_prefix(HASH_PREFIX) {
        Some(hex_digits) => {
            let mut out = [0u8; 32];
            // An all-zero digest: no token hashes to it.
            let _ = hex::decode_to_slice(hex_digits, &mut out);
            out
        }
        None => Sha256::digest(configured.as_bytes()).into(),
    }
}

/// Whether a configured token is a well-formed `sha256:<64 hex digits>`.
pub fn is_hashed_token(configured: &str) -> bool {
    configured.strip_prefix(HASH_PREFIX).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `sha256:<hex>` form of a token, for `[auth] tokens`.
pub fn hash_token(token: &str) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(Sha256::digest(token.as_bytes())))
}
