//! The store's secret: 32 random bytes in `server.key` in the data
//! directory, created (mode 0600) the first time a store is opened and read
//! on every later open, so what it keys survives restarts.
//!
//! Two keys are derived from it, each for one purpose:
//! - a per-tenant key for the digest of message bodies in the decision log
//!   ([`ServerKey::body_digest`]): HMAC-SHA256, so a short body (a six-digit
//!   code) cannot be found by hashing every candidate, yet an auditor holding
//!   the key (`textgate body-digest`) can check a candidate body;
//! - the key that makes decision ids opaque (see `decision_log::opaque`).
//!
//! Backups do not carry it (a backup holding the key would let whoever holds
//! the backup test candidate bodies); keep `server.key` with the backups, and
//! copy it into a restored data directory so old ids and digests still work.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ConsentError;

/// The key file inside a store's directory.
pub const KEY_FILE: &str = "server.key";
/// Marks a body digest made with the tenant's key; a digest without it (64
/// bare hex digits) is the plain SHA-256 of decisions logged before.
pub const BODY_DIGEST_PREFIX: &str = "hmac-sha256:";

/// The store's secret. Its `Debug` shows no key.
#[derive(Clone)]
pub struct ServerKey {
    secret: [u8; 32],
    /// HMAC states already keyed with a derived key, by purpose and tenant:
    /// a digest clones one instead of deriving its key (two HMACs) and
    /// keying a new state on every call.
    keyed: Arc<RwLock<KeyedStates>>,
}

/// Keyed HMAC states by (purpose, tenant).
type KeyedStates = HashMap<(&'static str, String), Hmac<Sha256>>;

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<hidden>)")
    }
}

fn key_err(path: &Path, what: &str) -> ConsentError {
    ConsentError::Unavailable(format!("{}: {what}", path.display()))
}

impl ServerKey {
    /// A key for a throwaway store.
    pub fn random() -> ServerKey {
        ServerKey::new(rand::random())
    }

    fn new(secret: [u8; 32]) -> ServerKey {
        ServerKey { secret, keyed: Arc::default() }
    }

    /// The key of the store in `dir`, created when the store has none yet.
    pub fn load_or_create(dir: &Path) -> Result<ServerKey, ConsentError> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return Self::load(dir);
        }
        // Written aside and renamed, so a crash never leaves a partial key.
        let key = Self::random();
        let partial = dir.join(format!("{KEY_FILE}.partial"));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .and_then(|mut f| {
                f.write_all(format!("{}\n", hex::encode(key.secret)).as_bytes()).and_then(|()| f.sync_all())
            })
            .and_then(|()| std::fs::rename(&partial, &path))
            .and_then(|()| std::fs::File::open(dir)?.sync_all());
        written.map_err(|e| ConsentError::io(format!("creating {}", path.display()), e))?;
        Ok(key)
    }

    /// The key of the store in `dir`; an error when it has none.
    pub fn load(dir: &Path) -> Result<ServerKey, ConsentError> {
        let path = dir.join(KEY_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| ConsentError::io(format!("reading {}", path.display()), e))?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key)
            .map_err(|_| key_err(&path, "not a textgate key (64 hex digits); restore it from where it is kept"))?;
        Ok(ServerKey::new(key))
    }

    /// A key for one purpose (and tenant), derived from this one.
    pub(super) fn derive(&self, purpose: &str, tenant: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(tenant.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// An HMAC-SHA256 state keyed with [`ServerKey::derive`]`(purpose, tenant)`.
    fn keyed(&self, purpose: &'static str, tenant: &str) -> Hmac<Sha256> {
        let cached = self.keyed.read().unwrap_or_else(|e| e.into_inner()).get(&(purpose, tenant.to_string())).cloned();
        cached.unwrap_or_else(|| {
            let mac =
                Hmac::<Sha256>::new_from_slice(&self.derive(purpose, tenant)).expect("HMAC takes keys of any length");
            let mut all = self.keyed.write().unwrap_or_else(|e| e.into_inner());
            all.insert((purpose, tenant.to_string()), mac.clone());
            mac
        })
    }

    /// `hmac-sha256:` and 64 hex digits: HMAC-SHA256 of `body` under the
    /// tenant's body key.
    pub fn body_digest(&self, tenant: &str, body: &str) -> String {
        let mut mac = self.keyed("textgate body digest v1", tenant);
        mac.update(body.as_bytes());
        format!("{BODY_DIGEST_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl ServerKey {
    /// HMAC-SHA256 of `parts`, each length-prefixed, under the tenant's key
    /// for CheckMessage request digests: what an idempotency key's stored
    /// answer is compared against, so the store holds no plain hash of the
    /// numbers and body it was asked about.
    pub(super) fn request_digest(&self, tenant: &str, parts: &[&str]) -> [u8; 32] {
        let mut mac = self.keyed("textgate check request v1", tenant);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// 16 bytes naming `phone` in the tenant's decision index: HMAC-SHA256
    /// under a key of its own, so the index holds no number and one tenant's
    /// tags say nothing about another's.
    pub(super) fn number_tag(&self, tenant: &str, phone: &str) -> [u8; 16] {
        let mut mac = self.keyed("textgate decision index v1", tenant);
        mac.update(phone.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        full[..16].try_into().expect("16 of 32 bytes")
    }

    /// The key the compliance console signs its session cookies with.
    pub fn console_key(&self) -> [u8; 32] {
        self.derive("textgate console session v1", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ServerKey::load(dir.path()).is_err(), "no key before the first open");
        let made = ServerKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(made.body_digest("t", "123456"), again.body_digest("t", "123456"), "the same key after a reopen");
        std::fs::write(dir.path().join(KEY_FILE), "not hex").unwrap();
        let err = ServerKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a textgate key"), "{err}");
    }

    #[test]
    fn body_digests_are_keyed_per_tenant_and_not_the_plain_sha256() {
        use sha2::Digest as _;
        let key = ServerKey::new([7; 32]);
        let d = key.body_digest("northside", "123456");
        assert!(d.starts_with(BODY_DIGEST_PREFIX) && d.len() == BODY_DIGEST_PREFIX.len() + 64, "{d}");
        assert!(!d.contains(&hex::encode(Sha256::digest(b"123456"))), "not the unkeyed digest");
        assert_ne!(d, key.body_digest("southside", "123456"), "each tenant has its own key");
        assert_ne!(d, ServerKey::new([8; 32]).body_digest("northside", "123456"), "each store has its own key");
        assert_ne!(d, key.body_digest("northside", "123457"));
        assert!(!format!("{key:?}").contains("07"), "Debug hides the key");
    }

    #[test]
    fn digests_are_those_of_the_derived_keys_whether_their_state_is_cached_or_not() {
        // HMAC-SHA256 under HMAC-SHA256(secret, purpose 0x00 tenant), computed apart.
        let body = "hmac-sha256:4fd6097f86973f9fd75f85d37f11df6bc09ff4d0372a5c67dc30f7d0659aebd0";
        let tag = "abe9721d46eb39a3ebef063006bdfe58";
        let key = ServerKey::new([7; 32]);
        for _ in 0..2 {
            assert_eq!(key.body_digest("northside", "123456"), body);
            assert_eq!(hex::encode(key.number_tag("northside", "+13125550123")), tag);
            assert_ne!(key.body_digest("southside", "123456"), body);
        }
        let derived = key.derive("textgate check request v1", "northside");
        let mut mac = Hmac::<Sha256>::new_from_slice(&derived).unwrap();
        mac.update(&2u64.to_be_bytes());
        mac.update(b"ab");
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(key.request_digest("northside", &["ab"]), want);
        assert_eq!(key.clone().request_digest("northside", &["ab"]), want, "a clone shares the states");
    }
}
