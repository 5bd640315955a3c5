//! Bearer tokens as the config file holds them: plain, or as
//! `sha256:<64 hex digits>` so the file need not hold the secret. Config
//! validation checks the form; `api::auth` compares presented tokens with
//! the digests. `auth.tokens_file` adds tokens from a file of their own (a
//! mounted secret), and `textgate gen-token` makes new ones.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ConfigError;

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

/// The tokens of `auth.tokens_file`: TOML `"token" = "tenant"` lines, the
/// form `[auth] tokens` takes (a plain key of `[a-zA-Z0-9_-]` needs no quotes).
pub fn read_tokens_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError { origin: origin.clone(), message: format!("cannot read `auth.tokens_file`: {e}") })?;
    // Never echo the file: its lines are credentials. Name the line only.
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        ConfigError {
            origin: format!("{origin}:{line}"),
            message: String::from("`auth.tokens_file`: every line must be \"token\" = \"tenant id\""),
        }
    })
}

/// Adds `from_file` to the config file's own tokens; a token in both is an
/// error (which tenant would it act for?).
pub fn merge(
    tokens: &mut BTreeMap<String, String>,
    from_file: BTreeMap<String, String>,
    file: &Path,
) -> Result<(), ConfigError> {
    for (token, tenant) in from_file {
        if tokens.contains_key(&token) {
            let message = String::from("`auth.tokens_file`: a token is also in `auth.tokens`; keep it in one place");
            return Err(ConfigError { origin: file.display().to_string(), message });
        }
        tokens.insert(token, tenant);
    }
    Ok(())
}

/// Characters of a [`generate`]d token: 43 of 62 letters and digits carry
/// 256 bits.
pub const GENERATED_CHARS: usize = 43;

/// A new bearer token from the thread's cryptographic generator (seeded by
/// the operating system).
pub fn generate() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), GENERATED_CHARS)
}
