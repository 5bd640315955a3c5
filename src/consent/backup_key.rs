//! How a backup file starts (magic line, seal byte) and proves it is whole
//! and unaltered, and the bounded reads of its items.
//!
//! A plain SHA-256 at its end catches a torn or damaged file, but anyone who
//! can edit the file can also recompute it. With a backup key configured
//! (`ledger.backup_key_file`, or `--key-file` on the command line), the end is
//! HMAC-SHA256 under that key instead, and `restore` refuses a file whose
//! HMAC does not match: only a holder of the key could have written it.
//! A file without one (written with no key, or by an older version) is
//! restored only when the operator says so (`--unauthenticated`).

use std::io::Read;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::ConsentError;

pub(super) const MAGIC: &[u8] = b"textgate-backup 2\n";
/// Files of the first format: no seal byte, SHA-256 at the end.
pub(super) const MAGIC_V1: &[u8] = b"textgate-backup 1\n";
/// Largest key or value a backup may hold (a corrupt length fails fast); the
/// largest records (decision frames) are at most 1 MiB.
const MAX_ITEM: u32 = 16 * 1024 * 1024;

pub(super) fn bad(what: impl Into<String>) -> ConsentError {
    ConsentError::corrupt(format!("not a complete textgate backup: {}", what.into()))
}

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

/// A backup being read: what it has left, and the digest so far.
pub(super) struct Input<R> {
    pub(super) r: R,
    left: u64,
    pub(super) hash: Hasher,
}

impl<R: Read> Input<R> {
    /// Reads exactly `n` bytes and hashes them; `n` is checked against what
    /// the file has left before anything is allocated.
    pub(super) fn take(&mut self, n: usize) -> Result<Vec<u8>, ConsentError> {
        if n as u64 > self.left {
            return Err(bad(format!("a length of {n} bytes where {} are left", self.left)));
        }
        let mut buf = vec![0; n];
        self.r.read_exact(&mut buf).map_err(|_| bad("it ends early"))?;
        self.left -= n as u64;
        self.hash.update(&buf);
        Ok(buf)
    }

    /// Reads a length-prefixed key or value.
    pub(super) fn item(&mut self) -> Result<Vec<u8>, ConsentError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        if len > MAX_ITEM {
            return Err(bad(format!("an item of {len} bytes")));
        }
        self.take(len as usize)
    }
}

/// Reads the magic line and seal byte of a file of `len` bytes: the input,
/// with the digest to check it with per `trust`, its seal, and whether the
/// HMAC goes unchecked (a keyed file read for its structure only).
pub(super) fn open_input<R: Read>(
    mut r: R,
    len: u64,
    trust: Trust<'_>,
) -> Result<(Input<R>, Seal, bool), ConsentError> {
    let mut magic = vec![0; MAGIC.len()];
    r.read_exact(&mut magic).map_err(|_| bad("it ends early"))?;
    let mut head = magic.clone();
    let seal = if magic == MAGIC {
        let mut b = [0u8; 1];
        r.read_exact(&mut b).map_err(|_| bad("it ends early"))?;
        head.push(b[0]);
        Seal::from_byte(b[0]).ok_or_else(|| bad("an unknown seal"))?
    } else if magic == MAGIC_V1 {
        Seal::Unkeyed
    } else {
        return Err(bad("wrong magic line"));
    };
    let key = match (seal, trust.key) {
        (Seal::Keyed, Some(key)) => Some(key),
        (Seal::Keyed, None) if trust.structure_only => None,
        (Seal::Keyed, None) => {
            return Err(ConsentError::Unavailable(
                "the backup is authenticated with a backup key: give it (`--key-file` or `ledger.backup_key_file`)"
                    .into(),
            ))
        }
        (Seal::Unkeyed, _) if trust.unauthenticated || trust.structure_only => None,
        (Seal::Unkeyed, _) => {
            return Err(ConsentError::Unavailable(
                "the backup is not authenticated (written without a backup key, or by an older version): anyone \
                 who could edit it could have fixed its checksum; pass --unauthenticated to restore it anyway"
                    .into(),
            ))
        }
    };
    let mut hash = Hasher::new(key);
    hash.update(&head);
    let left = len.saturating_sub(head.len() as u64);
    let unchecked = seal == Seal::Keyed && key.is_none();
    Ok((Input { r, left, hash }, seal, unchecked))
}
