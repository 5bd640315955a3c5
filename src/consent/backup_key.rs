//! How a backup file proves it is whole and unaltered.
//!
//! A plain SHA-256 at its end catches a torn or damaged file, but anyone who
//! can edit the file can also recompute it. With a backup key configured
//! (`ledger.backup_key_file`, or `--key-file` on the command line), the end is
//! HMAC-SHA256 under that key instead, and `restore` refuses a file whose
//! HMAC does not match: only a holder of the key could have written it.
//! A file without one (written with no key, or by an older version) is
//! restored only when the operator says so (`--unauthenticated`).

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::ConsentError;

/// Shortest key accepted (bytes of the key file, surrounding blanks ignored).
pub const MIN_BACKUP_KEY_LEN: usize = 32;

/// A backup key. Its `Debug` shows no key.
#[derive(Clone)]
pub struct BackupKey(Vec<u8>);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<hidden>)")
    }
}

impl BackupKey {
    /// The key held in `path` (surrounding blanks ignored).
    pub fn from_file(path: &Path) -> Result<BackupKey, ConsentError> {
        let text = std::fs::read(path).map_err(|e| ConsentError::io(format!("reading {}", path.display()), e))?;
        Self::new(text.trim_ascii()).map_err(|why| ConsentError::Unavailable(format!("{}: {why}", path.display())))
    }

    /// A key of at least [`MIN_BACKUP_KEY_LEN`] bytes.
    pub fn new(key: &[u8]) -> Result<BackupKey, String> {
        if key.len() < MIN_BACKUP_KEY_LEN {
            return Err(format!("a backup key needs at least {MIN_BACKUP_KEY_LEN} bytes"));
        }
        Ok(BackupKey(key.to_vec()))
    }
}

/// How a file's end is made: the byte after the magic line says which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Seal {
    /// HMAC-SHA256 under a backup key.
    Keyed,
    /// Plain SHA-256: integrity only (no key configured, or a version 1 file).
    #[default]
    Unkeyed,
}

impl Seal {
    pub(super) fn byte(self) -> u8 {
        match self {
            Seal::Keyed => b'K',
            Seal::Unkeyed => b'U',
        }
    }

    pub(super) fn from_byte(b: u8) -> Option<Seal> {
        match b {
            b'K' => Some(Seal::Keyed),
            b'U' => Some(Seal::Unkeyed),
            _ => None,
        }
    }

    /// As the summary line shows it.
    pub fn name(self) -> &'static str {
        match self {
            Seal::Keyed => "hmac-sha256",
            Seal::Unkeyed => "unauthenticated",
        }
    }
}

/// What a reader of a backup trusts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trust<'a> {
    /// Checks a keyed file's HMAC.
    pub key: Option<&'a BackupKey>,
    /// Accepts a file with only a plain checksum.
    pub unauthenticated: bool,
    /// Checks only the structure and counts of a keyed file when there is
    /// no key (the client of an online backup may not hold it).
    pub structure_only: bool,
}

/// The running digest of a file being written or read.
pub(super) enum Hasher {
    Keyed(Hmac<Sha256>),
    Unkeyed(Sha256),
}

impl Hasher {
    pub(super) fn new(key: Option<&BackupKey>) -> Hasher {
        match key {
            Some(k) => Hasher::Keyed(Hmac::new_from_slice(&k.0).expect("HMAC takes keys of any length")),
            None => Hasher::Unkeyed(Sha256::new()),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Keyed(m) => m.update(bytes),
            Hasher::Unkeyed(h) => h.update(bytes),
        }
    }

    pub(super) fn finalize(self) -> [u8; 32] {
        match self {
            Hasher::Keyed(m) => m.finalize().into_bytes().into(),
            Hasher::Unkeyed(h) => h.finalize().into(),
        }
    }

    /// Whether `stored` is this digest (in constant time for a key).
    pub(super) fn matches(self, stored: &[u8; 32]) -> bool {
        match self {
            Hasher::Keyed(m) => m.verify_slice(stored).is_ok(),
            Hasher::Unkeyed(h) => h.finalize()[..] == stored[..],
        }
    }
}
