//! Whether a configuration is safe where it listens.
//!
//! On loopback only processes of this machine can call, so the demo's
//! tokenless access, its public tokens and plaintext are tolerated (weak
//! tokens get a warning). Beyond loopback the same settings would hand
//! every tenant's consent ledger to whoever reaches the port, so `serve`
//! refuses to start on them, `check-config` reports them, and a reload that
//! brings them in is refused:
//!
//! - `auth.require_token = false` (calls without a token act for a tenant);
//! - a token of the built-in demo configuration, plain or hashed;
//! - a plain token shorter than [`MIN_TOKEN_CHARS`] or with fewer than
//!   [`MIN_DISTINCT_CHARS`] different characters (`textgate gen-token`
//!   makes good ones; a `sha256:` token cannot be judged and is trusted);
//! - no `[server.tls]`, unless `server.allow_plaintext = true` says a proxy
//!   or service mesh in front terminates TLS.
//!
//! Wherever it listens, quotas that add up to more numbers than the consent
//! index holds get a warning: one tenant filling its quota could then turn
//! the index off for every tenant.

use std::net::SocketAddr;

use super::token::token_digest;
use super::{Config, DEMO_TOML};

/// Characters a plain token needs beyond loopback.
pub const MIN_TOKEN_CHARS: usize = 32;
/// Different characters a plain token needs beyond loopback, so that
/// "aaaa…" or a repeated word does not pass on length alone.
pub const MIN_DISTINCT_CHARS: usize = 10;

/// What a configuration risks at its listen address.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Reasons not to serve at all (only beyond loopback).
    pub refusals: Vec<String>,
    /// Worth fixing, not fatal (weak or demo tokens on loopback).
    pub warnings: Vec<String>,
}

/// Whether `addr` is reachable from other machines: anything but a loopback
/// address, the unspecified 0.0.0.0 and :: included.
pub fn beyond_loopback(addr: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_loopback()
}

/// Memory the consent index spends on one number (measured: 1,000,000
/// numbers in about 177 MiB; `consent::index`).
const INDEX_BYTES_PER_NUMBER: u64 = 186;

/// Judges `c` as it would serve on `c.server.listen`.
pub fn assess(c: &Config) -> Exposure {
    let addr = c.server.listen;
    let mut risks = token_risks(c);
    let capacity = index_capacity(c).into_iter().collect();
    let console = console_risk(c);
    if !beyond_loopback(addr) {
        risks.extend(capacity);
        return Exposure { refusals: console.into_iter().collect(), warnings: risks };
    }
    risks.extend(console);
    if !c.auth.require_token {
        let tenant = c.auth.default_tenant.as_deref().unwrap_or_default();
        risks.push(format!(
            "`auth.require_token` is false: anyone who reaches {addr} acts for tenant {tenant:?} without a token"
        ));
    }
    if c.server.tls.is_none() && !c.server.allow_plaintext {
        risks.push(format!(
            "`server.tls` is not set: tokens and phone numbers would cross the network to {addr} in plaintext \
             (set [server.tls], or `server.allow_plaintext = true` when a proxy or service mesh in front \
             terminates TLS)"
        ));
    }
    Exposure { refusals: risks, warnings: capacity }
}

/// The console speaks plain HTTP: beyond loopback only behind a proxy that
/// terminates TLS (`server.allow_plaintext`), or its session cookies and the
/// tokens typed into its sign-in form would cross the network in clear.
fn console_risk(c: &Config) -> Option<String> {
    let addr = c.server.console_listen.filter(|a| beyond_loopback(*a))?;
    (!c.server.allow_plaintext).then(|| {
        format!(
            "`server.console_listen` ({addr}) is beyond loopback and the console serves plain HTTP: put a proxy that \
             terminates TLS in front and set `server.allow_plaintext = true`, or bind it to loopback"
        )
    })
}

/// Whether the tenants' number quotas fit in the consent index together.
fn index_capacity(c: &Config) -> Option<String> {
    let index_mib = c.ledger.consent_index_mib;
    let quotas = c.tenants.values().fold(0u64, |sum, t| sum.saturating_add(t.max_numbers));
    let holds = (index_mib << 20) / INDEX_BYTES_PER_NUMBER;
    (index_mib > 0 && quotas > holds).then(|| {
        format!(
            "`tenants.*.max_numbers` add up to {quotas} numbers, more than `ledger.consent_index_mib` ({index_mib} \
             MiB) holds (about {holds}): one tenant filling its quota could turn the index off for every tenant; \
             raise the index or lower the quotas"
        )
    })
}

/// Demo and weak tokens, one line each, naming the tenant (never the token).
fn token_risks(c: &Config) -> Vec<String> {
    let demo: Vec<[u8; 32]> = demo_tokens().iter().map(|t| token_digest(t)).collect();
    let mut out = Vec::new();
    for (token, tenant) in &c.auth.tokens {
        let who = if tenant == "*" { String::from("every tenant (\"*\")") } else { format!("tenant {tenant:?}") };
        if demo.contains(&token_digest(token)) {
            out.push(format!(
                "`auth.tokens`: the token for {who} is a public demo token; make one with `textgate gen-token`"
            ));
        } else if !token.starts_with(super::token::HASH_PREFIX) && !strong(token) {
            out.push(format!(
                "`auth.tokens`: the token for {who} is guessable; use at least {MIN_TOKEN_CHARS} random characters \
                 with at least {MIN_DISTINCT_CHARS} different ones (`textgate gen-token`)"
            ));
        }
    }
    out
}

/// The tokens of the built-in demo configuration (which is public).
fn demo_tokens() -> Vec<String> {
    let parsed: toml::Table = toml::from_str(DEMO_TOML).expect("the built-in demo config is TOML");
    let tokens = parsed.get("auth").and_then(|a| a.get("tokens")).and_then(|t| t.as_table());
    tokens.map(|t| t.keys().cloned().collect()).unwrap_or_default()
}

/// Long enough and varied enough to be random rather than chosen.
fn strong(token: &str) -> bool {
    let distinct: std::collections::BTreeSet<char> = token.chars().collect();
    token.chars().count() >= MIN_TOKEN_CHARS && distinct.len() >= MIN_DISTINCT_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "q8Zr2VkP0mWx7LcT4nYb9HsJ3dFg6AeU1oRi";
    const HASHED: &str = "sha256:0b7f9c2e8d1a6b5c4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a0f9e8";

    /// The demo with each `(from, to)` replaced once.
    fn demo_with(edits: &[(&str, &str)]) -> Config {
        let mut text = DEMO_TOML.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "the demo no longer contains {from:?}");
            text = text.replacen(from, to, 1);
        }
        Config::parse(&text, "t.toml").unwrap()
    }

    /// The demo made fit to listen on every interface: tokens required, a
    /// strong and a hashed token, TLS left to a proxy; then `edit` applied.
    fn exposed(edit: (&str, &str)) -> Config {
        let strong = format!("\"{STRONG}\"");
        let hashed = format!("\"{HASHED}\"");
        demo_with(&[
            ("\"127.0.0.1:50051\"", "\"0.0.0.0:50051\"\nallow_plaintext = true"),
            ("require_token = false", "require_token = true"),
            ("\"northside-dev-token\"", &strong),
            ("\"ops-dev-token\"", &hashed),
            edit,
        ])
    }

    #[test]
    fn the_console_beyond_loopback_needs_a_tls_proxy_in_front() {
        let console = ("\"127.0.0.1:8089\"", "\"0.0.0.0:8089\"");
        // gRPC on loopback, the console exposed in plain HTTP: refused.
        let refused = assess(&demo_with(&[console]));
        assert_eq!(refused.refusals.len(), 1, "{refused:?}");
        assert!(refused.refusals[0].contains("`server.console_listen`"), "{refused:?}");
        // Behind a proxy that terminates TLS (allow_plaintext): served.
        let proxied = assess(&exposed(console));
        assert!(proxied.refusals.is_empty(), "{proxied:?}");
        assert!(assess(&Config::demo()).refusals.is_empty(), "the demo's console is on loopback");
    }

    #[test]
    fn loopback_and_unspecified_addresses() {
        for (addr, beyond) in [
            ("127.0.0.1:1", false),
            ("[::1]:1", false),
            ("[::ffff:127.0.0.1]:1", false),
            ("0.0.0.0:1", true),
            ("[::]:1", true),
            ("10.0.0.5:1", true),
            ("[::ffff:10.0.0.5]:1", true),
        ] {
            assert_eq!(beyond_loopback(addr.parse().unwrap()), beyond, "{addr}");
        }
    }

    #[test]
    fn the_demo_serves_on_loopback_with_a_warning_and_is_refused_beyond_it() {
        let on_loopback = assess(&Config::demo());
        assert!(on_loopback.refusals.is_empty(), "{on_loopback:?}");
        assert_eq!(on_loopback.warnings.len(), 2, "both demo tokens: {on_loopback:?}");
        assert!(on_loopback.warnings.iter().all(|w| w.contains("public demo token")), "{on_loopback:?}");

        let mut c = Config::demo();
        c.server.listen = "0.0.0.0:50051".parse().unwrap();
        let exposed = assess(&c);
        let all = exposed.refusals.join("\n");
        for needle in ["public demo token", "`auth.require_token` is false", "`server.tls` is not set"] {
            assert!(all.contains(needle), "{needle:?} missing from {all}");
        }
        assert!(!all.contains("northside-dev-token") && !all.contains("ops-dev-token"), "never print a token: {all}");
    }

    #[test]
    fn each_risk_beyond_loopback_is_named_and_its_fix_clears_it() {
        let cases = [
            (("", ""), None),
            (("require_token = true", "require_token = false"), Some("`auth.require_token` is false")),
            ((STRONG, "short-but-8chars"), Some("tenant \"northside\" is guessable")),
            ((STRONG, "abababababababababababababababababab"), Some("guessable")),
            (("allow_plaintext = true", "allow_plaintext = false"), Some("`server.tls` is not set")),
        ];
        for (edit, expected) in cases {
            let refusals = assess(&exposed(edit)).refusals;
            match expected {
                None => assert!(refusals.is_empty(), "{edit:?}: {refusals:?}"),
                Some(why) => {
                    assert_eq!(refusals.len(), 1, "{edit:?}: {refusals:?}");
                    assert!(refusals[0].contains(why), "{edit:?}: {refusals:?}");
                }
            }
        }
    }

    #[test]
    fn quotas_beyond_the_consent_index_are_warned_about_wherever_it_listens() {
        let fits = assess(&Config::demo());
        assert!(!fits.warnings.iter().any(|w| w.contains("max_numbers")), "{fits:?}");
        let mut c = exposed(("", ""));
        c.ledger.consent_index_mib = 100;
        let verdict = assess(&c);
        assert!(verdict.refusals.is_empty(), "a warning, not a refusal: {verdict:?}");
        assert_eq!(verdict.warnings.len(), 1, "{verdict:?}");
        assert!(verdict.warnings[0].contains("add up to 1000000 numbers"), "{verdict:?}");
        c.ledger.consent_index_mib = 0;
        assert!(assess(&c).warnings.is_empty(), "no index, nothing to fill");
    }

    #[test]
    fn a_hashed_demo_token_is_still_the_demo_token() {
        let hashed = format!("\"{}\"", super::super::token::hash_token("northside-dev-token"));
        let w = assess(&demo_with(&[("\"northside-dev-token\"", &hashed)])).warnings;
        assert!(w.iter().any(|w| w.contains("tenant \"northside\" is a public demo token")), "{w:?}");
    }
}
