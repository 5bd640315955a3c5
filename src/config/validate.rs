//! Cross-field checks that serde cannot express. Each error names the key.

use std::collections::BTreeMap;

use super::{Config, TenantConfig};

/// TCR use cases the registry accepts (compliance-rules §4.1), plus common
/// CSP spellings.
const USE_CASES: &[&str] = &[
    "2FA",
    "ACCOUNT_NOTIFICATION",
    "CUSTOMER_CARE",
    "DELIVERY_NOTIFICATION",
    "FRAUD_ALERT",
    "HIGHER_EDUCATION",
    "LOW_VOLUME",
    "LOW_VOLUME_MIXED",
    "M2M",
    "MARKETING",
    "MIXED",
    "POLLING_VOTING",
    "PUBLIC_SERVICE_ANNOUNCEMENT",
    "SECURITY_ALERT",
    "AGENTS_FRANCHISES",
    "CARRIER_EXEMPT",
    "CHARITY",
    "CONVERSATIONAL",
    "EMERGENCY",
    "K12_EDUCATION",
    "PLATFORM_FREE_TRIAL",
    "TRIAL",
    "POLITICAL",
    "POLITICAL_SECTION_527",
    "PROXY",
    "PUBLIC_SAFETY_RESTRICTED",
    "SOCIAL",
    "SOLE_PROPRIETOR",
    "SWEEPSTAKE",
    "UCAAS_LOW",
    "UCAAS_LOW_VOLUME",
    "UCAAS_HIGH",
];

/// Tenant and campaign ids: 1-64 of `[a-z0-9_-]`, so keys never collide.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Every problem of the file, one per line (`key`: why); Ok when none.
pub fn check(c: &Config) -> Result<(), String> {
    let mut problems = Vec::new();
    check_into(c, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Collects rather than stops, so an operator fixes a file in one round.
fn check_into(c: &Config, out: &mut Vec<String>) {
    if c.tenants.is_empty() {
        out.push(String::from("`tenants`: at least one tenant is required"));
    }
    if c.server.max_in_flight == 0 {
        out.push(String::from("`server.max_in_flight`: must be at least 1"));
    }
    check_connections(&c.server, out);
    let mut senders: BTreeMap<&str, String> = BTreeMap::new();
    for (tid, t) in &c.tenants {
        check_tenant(tid, t, &mut senders, out);
    }
    check_auth(c, out);
    if c.ledger.max_batch == 0 || c.ledger.max_batch > 4096 {
        out.push(String::from("`ledger.max_batch`: must be 1 to 4096"));
    }
    if c.ledger.decision_log_retention.is_some_and(|r| r.0 < std::time::Duration::from_secs(3600)) {
        out.push(String::from("`ledger.decision_log_retention`: must be at least 1h"));
    }
    if let Err(telemetry) = c.telemetry.check() {
        out.extend(telemetry.lines().map(String::from));
    }
    if let Some(cluster) = &c.cluster {
        let longest = c.tenants.values().flat_map(|t| [t.policy.conversation_window.0, t.policy.disclosure_interval.0]);
        if let Err(e) = cluster.check(longest.max().unwrap_or_default()) {
            out.extend(e.lines().map(String::from));
        }
    }
}

/// One tenant's keys; `senders` remembers every sender seen so far, so a
/// number registered twice (in any tenant) is named with its first place.
fn check_tenant<'c>(tid: &str, t: &'c TenantConfig, senders: &mut BTreeMap<&'c str, String>, out: &mut Vec<String>) {
    let at = format!("tenants.{tid}");
    if !valid_id(tid) {
        out.push(format!("`{at}`: tenant id must be 1-64 of a-z, 0-9, '_' or '-'"));
    }
    for (key, text) in [("brand", &t.brand), ("help_reply", &t.help_reply), ("opt_out_reply", &t.opt_out_reply)] {
        if text.trim().is_empty() {
            out.push(format!("`{at}.{key}`: must not be empty"));
        }
    }
    if !language_tag(&t.reply_language) {
        out.push(format!(
            "`{at}.reply_language`: {:?} is not a BCP 47 language tag (e.g. \"en\", \"es-US\")",
            t.reply_language
        ));
    }
    for (lang, r) in &t.replies {
        if !language_tag(lang) {
            out.push(format!("`{at}.replies.{lang}`: not a BCP 47 language tag (e.g. \"es\", \"es-US\")"));
        }
        for (key, text) in
            [("help_reply", &r.help_reply), ("opt_out_reply", &r.opt_out_reply), ("opt_in_reply", &r.opt_in_reply)]
        {
            if text.as_ref().is_some_and(|s| s.trim().is_empty()) {
                out.push(format!("`{at}.replies.{lang}.{key}`: must not be empty (leave it out to send the default)"));
            }
        }
    }
    let p = &t.policy;
    if p.quiet_hours.start >= p.quiet_hours.end {
        out.push(format!("`{at}.policy.quiet_hours`: start must be before end"));
    }
    let mut ids = Vec::new();
    for (i, camp) in t.campaigns.iter().enumerate() {
        let ck = format!("{at}.campaigns[{i}]");
        if !valid_id(&camp.id) {
            out.push(format!("`{ck}.id`: campaign id must be 1-64 of a-z, 0-9, '_' or '-'"));
        }
        if ids.contains(&camp.id.as_str()) {
            out.push(format!("`{ck}.id`: campaign {:?} is defined twice", camp.id));
        }
        ids.push(&camp.id);
        if !USE_CASES.contains(&camp.use_case.as_str()) {
            out.push(format!("`{ck}.use_case`: unknown TCR use case {:?}", camp.use_case));
        }
        if camp.senders.is_empty() {
            out.push(format!("`{ck}.senders`: a campaign needs at least one sender number"));
        }
        for (j, s) in camp.senders.iter().enumerate() {
            let key = format!("{ck}.senders[{j}]");
            if let Some(first) = senders.insert(s.0.as_str(), key.clone()) {
                out.push(format!("`{key}`: sender {} is already registered at `{first}`", s.0));
            }
        }
        for (j, d) in camp.link_domains.iter().enumerate() {
            let ok = d.contains('.') && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                out.push(format!("`{ck}.link_domains[{j}]`: {d:?} is not a domain name"));
            }
        }
    }
}

fn check_auth(c: &Config, out: &mut Vec<String>) {
    let a = &c.auth;
    if let Some(d) = &a.default_tenant {
        if !c.tenants.contains_key(d) {
            out.push(format!("`auth.default_tenant`: no tenant {d:?} is configured"));
        }
    } else if !a.require_token {
        out.push(String::from("`auth.default_tenant`: required when require_token = false"));
    }
    for (token, tenant) in &a.tokens {
        if token.starts_with(super::token::HASH_PREFIX) {
            if !super::token::is_hashed_token(token) {
                out.push(String::from("`auth.tokens`: a \"sha256:\" token must be followed by 64 hex digits"));
            }
        } else if token.len() < 8 {
            out.push(String::from("`auth.tokens`: every token must be at least 8 characters"));
        }
        if tenant != "*" && !c.tenants.contains_key(tenant) {
            out.push(format!("`auth.tokens`: a token maps to unknown tenant {tenant:?}"));
        }
    }
}

fn check_connections(s: &super::ServerConfig, out: &mut Vec<String>) {
    if s.max_in_flight_per_client == 0 {
        out.push(String::from("`server.max_in_flight_per_client`: must be at least 1"));
    }
    if s.stream_send_timeout.0 < std::time::Duration::from_millis(100) {
        out.push(String::from("`server.stream_send_timeout`: must be at least 100ms"));
    }
    if s.request_body_timeout.0 < std::time::Duration::from_millis(100) {
        out.push(String::from("`server.request_body_timeout`: must be at least 100ms"));
    }
    if s.max_connections == 0 {
        out.push(String::from("`server.max_connections`: must be at least 1"));
    }
    if s.admin_max_connections == 0 {
        out.push(String::from("`server.admin_max_connections`: must be at least 1"));
    }
    if s.admin_idle_timeout.0 < std::time::Duration::from_secs(1) {
        out.push(String::from("`server.admin_idle_timeout`: must be at least 1s"));
    }
    if s.max_concurrent_streams == 0 {
        out.push(String::from("`server.max_concurrent_streams`: must be at least 1"));
    }
    let second = std::time::Duration::from_secs(1);
    if s.keepalive_interval.0 < second {
        out.push(String::from("`server.keepalive_interval`: must be at least 1s"));
    }
    if s.keepalive_timeout.0 < second {
        out.push(String::from("`server.keepalive_timeout`: must be at least 1s"));
    }
}

/// A BCP 47 tag as replies use it: a 2-3 letter language, then subtags of
/// 1-8 letters or digits ("en", "es-US", "zh-Hant-TW").
fn language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or_default();
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}
