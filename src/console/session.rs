//! The console's session cookie and form tokens.
//!
//! A session is stateless: the cookie carries who signed in and until when,
//! signed with HMAC-SHA256 under a key derived from the store's `server.key`
//! (so sessions survive a restart and no other store can forge one). It holds
//! no token: only a 16-byte tag of the token's digest, checked against the
//! token table in force on every request, so removing a token from the
//! configuration ends its sessions at the next reload. Sign-out adds the
//! session's nonce to a bounded deny list until the cookie would expire.
//!
//! Cookie value: `v1.<hex tenant>.<any: 0|1>.<expires, unix s>.<nonce>.<tag>.<mac>`.
//! Every POST form carries `csrf`, an HMAC of the nonce under a second key,
//! which a page of another origin cannot read (and SameSite=Strict keeps the
//! cookie off cross-site requests anyway).

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::api::auth::{Access, AuthTable};
use crate::domain::TenantId;

/// The cookie's name.
pub const COOKIE: &str = "textgate_console";

/// Signed-out sessions remembered at most (older entries go first).
const MAX_SIGNED_OUT: usize = 10_000;

/// Who a session acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The tenant every page is confined to; None until a "*" token picks one.
    pub tenant: Option<TenantId>,
    /// Signed in with a token that may act for every tenant.
    pub any: bool,
    pub expires: i64,
    nonce: [u8; 16],
    tag: [u8; 16],
}

/// Why a cookie does not open a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    Expired,
    SignedOut,
    /// The token it was opened with is gone, or no longer grants the tenant.
    Revoked,
}

/// Signs and opens sessions.
pub struct Sessions {
    mac_key: [u8; 32],
    csrf_key: [u8; 32],
    signed_out: Mutex<HashMap<[u8; 16], i64>>,
}

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        m.update(p);
        m.update(&[0]);
    }
    m.finalize().into_bytes().into()
}

fn first16(b: [u8; 32]) -> [u8; 16] {
    b[..16].try_into().expect("16 of 32 bytes")
}

impl Sessions {
    /// `key`: the console key of the store (`Ledger::console_key`).
    pub fn new(key: [u8; 32]) -> Sessions {
        Sessions {
            mac_key: mac(&key, &[b"cookie"]),
            csrf_key: mac(&key, &[b"csrf"]),
            signed_out: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, digest: &[u8; 32]) -> [u8; 16] {
        first16(mac(&self.mac_key, &[b"credential", digest]))
    }

    /// A new session for the token with SHA-256 `digest`, granting `access`.
    pub fn issue(&self, digest: &[u8; 32], access: &Access, expires: i64) -> Session {
        let (tenant, any) = match access {
            Access::Tenant(t) => (Some(t.clone()), false),
            Access::Any => (None, true),
        };
        Session { tenant, any, expires, nonce: rand::random(), tag: self.tag(digest) }
    }

    /// The same session confined to `tenant` (a "*" session picking one).
    pub fn with_tenant(&self, s: &Session, tenant: TenantId) -> Session {
        Session { tenant: Some(tenant), nonce: rand::random(), ..s.clone() }
    }

    /// The cookie value of `s`.
    pub fn seal(&self, s: &Session) -> String {
        let tenant = hex::encode(s.tenant.as_ref().map(|t| t.as_str()).unwrap_or_default());
        let body =
            format!("v1.{tenant}.{}.{}.{}.{}", u8::from(s.any), s.expires, hex::encode(s.nonce), hex::encode(s.tag));
        let m = mac(&self.mac_key, &[body.as_bytes()]);
        format!("{body}.{}", hex::encode(m))
    }

    /// The session a cookie value holds, if it is genuine, unexpired, not
    /// signed out, and its token still grants what it says under `table`.
    pub fn open(&self, value: &str, now: i64, table: &AuthTable) -> Result<Session, Refused> {
        let (body, m) = value.rsplit_once('.').ok_or(Refused::Malformed)?;
        let mut given = [0u8; 32];
        hex::decode_to_slice(m, &mut given).map_err(|_| Refused::Malformed)?;
        if !bool::from(mac(&self.mac_key, &[body.as_bytes()]).ct_eq(&given)) {
            return Err(Refused::BadSignature);
        }
        let s = parse(body).ok_or(Refused::Malformed)?;
        if now >= s.expires {
            return Err(Refused::Expired);
        }
        if self.lock().contains_key(&s.nonce) {
            return Err(Refused::SignedOut);
        }
        let grants = |a: &Access| match (a, &s.tenant) {
            (Access::Any, Some(t)) => s.any && table.tenants().contains(t),
            (Access::Any, None) => s.any,
            (Access::Tenant(bound), Some(t)) => !s.any && bound == t,
            (Access::Tenant(_), None) => false,
        };
        let mut held = false;
        for (digest, access) in table.grants() {
            held |= bool::from(self.tag(digest).ct_eq(&s.tag)) && grants(access);
        }
        if held {
            Ok(s)
        } else {
            Err(Refused::Revoked)
        }
    }

    /// Ends `s` before it expires.
    pub fn sign_out(&self, s: &Session, now: i64) {
        let mut out = self.lock();
        out.retain(|_, expires| *expires > now);
        if out.len() >= MAX_SIGNED_OUT {
            if let Some(oldest) = out.iter().min_by_key(|(_, e)| **e).map(|(n, _)| *n) {
                out.remove(&oldest);
            }
        }
        out.insert(s.nonce, s.expires);
    }

    /// The form token of `s`.
    pub fn csrf(&self, s: &Session) -> String {
        hex::encode(first16(mac(&self.csrf_key, &[&s.nonce])))
    }

    /// Whether `given` is the form token of `s`.
    pub fn csrf_ok(&self, s: &Session, given: &str) -> bool {
        bool::from(self.csrf(s).as_bytes().ct_eq(given.as_bytes()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], i64>> {
        self.signed_out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse(body: &str) -> Option<Session> {
    let mut parts = body.split('.');
    if parts.next()? != "v1" {
        return None;
    }
    let tenant = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let any = match parts.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let expires = parts.next()?.parse().ok()?;
    let mut nonce = [0u8; 16];
    hex::decode_to_slice(parts.next()?, &mut nonce).ok()?;
    let mut tag = [0u8; 16];
    hex::decode_to_slice(parts.next()?, &mut tag).ok()?;
    if parts.next().is_some() {
        return None;
    }
    let tenant = (!tenant.is_empty()).then(|| TenantId::new(tenant));
    Some(Session { tenant, any, expires, nonce, tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::Credential;
    use crate::config::Config;

    const NOW: i64 = 1_800_000_000;

    fn table(tokens: &str) -> AuthTable {
        let line = r#"tokens = { "northside-dev-token" = "northside", "ops-dev-token" = "*" }"#;
        let text = crate::config::DEMO_TOML.replace(line, &format!("tokens = {tokens}"));
        AuthTable::from_config(&Config::parse(&text, "t.toml").unwrap())
    }

    fn signed_in(sessions: &Sessions, t: &AuthTable, token: &str) -> Session {
        let c = Credential::of_token(token);
        let access = t.access(&c).unwrap();
        sessions.issue(c.digest().unwrap(), &access, NOW + 3600)
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires_and_nothing_else_opens() {
        let sessions = Sessions::new([1; 32]);
        let t = table(r#"{ "northside-dev-token" = "northside" }"#);
        let s = signed_in(&sessions, &t, "northside-dev-token");
        let cookie = sessions.seal(&s);
        assert!(!cookie.contains("northside-dev-token"), "the cookie holds no token: {cookie}");
        assert_eq!(sessions.open(&cookie, NOW, &t).unwrap(), s);
        assert_eq!(s.tenant.as_ref().unwrap().as_str(), "northside");
        assert_eq!(sessions.open(&cookie, NOW + 3600, &t), Err(Refused::Expired));

        // Every edit of the value, and another store's key, is refused.
        let cases = [
            (cookie.replacen(&hex::encode("northside"), &hex::encode("southside"), 1), Refused::BadSignature),
            (cookie.replacen(&(NOW + 3600).to_string(), &(NOW + 99_999).to_string(), 1), Refused::BadSignature),
            (format!("{cookie}0"), Refused::Malformed),
            (String::from("v1.garbage"), Refused::Malformed),
            (String::new(), Refused::Malformed),
        ];
        for (value, why) in cases {
            assert_eq!(sessions.open(&value, NOW, &t), Err(why), "{value}");
        }
        assert_eq!(Sessions::new([2; 32]).open(&cookie, NOW, &t), Err(Refused::BadSignature));
    }

    #[test]
    fn sessions_end_with_sign_out_and_with_their_token() {
        let sessions = Sessions::new([1; 32]);
        let t = table(r#"{ "northside-dev-token" = "northside", "other-token-1" = "northside" }"#);
        let s = signed_in(&sessions, &t, "northside-dev-token");
        let other = signed_in(&sessions, &t, "other-token-1");
        let (cookie, other_cookie) = (sessions.seal(&s), sessions.seal(&other));
        sessions.sign_out(&s, NOW);
        assert_eq!(sessions.open(&cookie, NOW, &t), Err(Refused::SignedOut));
        assert!(sessions.open(&other_cookie, NOW, &t).is_ok(), "another session stays");

        // The token removed, or moved to another tenant: its sessions end.
        let without = table(r#"{ "northside-dev-token" = "northside" }"#);
        assert_eq!(sessions.open(&other_cookie, NOW, &without), Err(Refused::Revoked));
        let moved = table(r#"{ "other-token-1" = "*" }"#);
        assert_eq!(sessions.open(&other_cookie, NOW, &moved), Err(Refused::Revoked));
    }

    #[test]
    fn an_any_token_picks_a_configured_tenant_and_stays_confined_to_it() {
        let sessions = Sessions::new([1; 32]);
        let t = table(r#"{ "ops-dev-token" = "*", "northside-dev-token" = "northside" }"#);
        let s = signed_in(&sessions, &t, "ops-dev-token");
        assert_eq!((s.tenant.clone(), s.any), (None, true));
        let picked = sessions.with_tenant(&s, TenantId::new("northside"));
        let opened = sessions.open(&sessions.seal(&picked), NOW, &t).unwrap();
        assert_eq!(opened.tenant.unwrap().as_str(), "northside");
        let ghost = sessions.with_tenant(&s, TenantId::new("ghost"));
        assert_eq!(sessions.open(&sessions.seal(&ghost), NOW, &t), Err(Refused::Revoked));

        // A tenant-bound token's session cannot be re-sealed for "*" by an
        // edit: the signature covers it; and a bound tag never grants Any.
        let bound = signed_in(&sessions, &t, "northside-dev-token");
        let lifted = Session { any: true, ..bound.clone() };
        assert_eq!(sessions.open(&sessions.seal(&lifted), NOW, &t), Err(Refused::Revoked));
        let elsewhere = Session { tenant: Some(TenantId::new("southside")), ..bound };
        assert_eq!(sessions.open(&sessions.seal(&elsewhere), NOW, &t), Err(Refused::Revoked));
    }

    #[test]
    fn form_tokens_belong_to_one_session() {
        let sessions = Sessions::new([1; 32]);
        let t = table(r#"{ "northside-dev-token" = "northside" }"#);
        let (a, b) = (signed_in(&sessions, &t, "northside-dev-token"), signed_in(&sessions, &t, "northside-dev-token"));
        assert!(sessions.csrf_ok(&a, &sessions.csrf(&a)));
        assert!(!sessions.csrf_ok(&a, &sessions.csrf(&b)));
        assert!(!sessions.csrf_ok(&a, ""));
    }
}
