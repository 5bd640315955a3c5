//! What the pipeline's tests share: the demo policy (casework: informational,
//! +13125550100/0102, links to northside.example.org, phones allowed;
//! fundraising: promotional, +13125550101, links to give.northside.example.org,
//! no phones), messages, consent histories and a step's verdict.

use std::sync::{Arc, OnceLock};

use jiff::Timestamp;

use super::{Message, Origin, Step, Stop};
use crate::config::Config;
use crate::domain::{Action, ConsentEvent, ContactConsent, Level, NewEvent, Scope, Source};
use crate::phone::PhoneNumber;
use crate::policy::{Outcome, Policy, Reason, RulePack, TenantPolicy};

pub const CASEWORK: &str = "+13125550100";
pub const FUNDRAISING: &str = "+13125550101";

pub fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::compile(&Config::demo(), Arc::new(RulePack::builtin().unwrap())).unwrap())
}

pub fn tenant() -> &'static TenantPolicy {
    &policy().tenants["northside"]
}

/// The demo tenant with step 5b's RND check out of the way: the fixtures'
/// grants date from 1970, so every table of other steps would carry its
/// warning (`reassigned_tests.rs` tests that step).
pub fn tenant_rnd_checked() -> &'static TenantPolicy {
    static T: OnceLock<TenantPolicy> = OnceLock::new();
    T.get_or_init(|| TenantPolicy { rnd_check_after: jiff::SignedDuration::MAX, ..tenant().clone() })
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn grant(level: Level, seq: u64) -> ContactConsent {
    consent_of(&[(seq, Action::Grant(level), "")])
}

/// One consent event: sequence, action, level, the scope's campaign.
pub type Event = (u64, Action, &'static str);

/// A number's consent after these events (sequence, action, level, scope's
/// campaign), each with the id `<action>-<sequence>`.
pub fn consent_of(events: &[Event]) -> ContactConsent {
    let mut c = ContactConsent::default();
    for &(seq, action, campaign) in events {
        let kind = match action {
            Action::Grant(_) => "grant",
            Action::Revoke | Action::WrongNumber => "revoke",
            Action::ReviewHold => "hold",
            Action::Rnd(_) => "rnd",
        };
        let id = format!("{kind}-{seq}");
        c.apply(&ConsentEvent {
            sequence: seq,
            recorded_at: Timestamp::UNIX_EPOCH,
            event: NewEvent {
                source: Source::Verbal,
                scope: Scope { campaign_id: campaign.into(), sender: String::new() },
                ..NewEvent::for_test("northside", &id, "+13125550199", action)
            },
        });
    }
    c
}

/// A message from `from` to `to` at `at`, sent by a person, nothing declared.
pub fn message<'a>(from: &'a str, to: &'a PhoneNumber, body: &'a str, at: &str) -> Message<'a> {
    Message {
        from,
        to,
        body,
        origin: Origin::Person,
        category: None,
        campaign_id: "",
        send_at: ts(at),
        recipient_state: None,
        recipient_zone: None,
    }
}

/// A step's result as the outcome it leads to and its reasons' rule ids
/// (ALLOW and none when the pipeline goes on).
pub fn verdict<T>(step: &Step<T>) -> (Outcome, Vec<&str>) {
    fn ids(reasons: &[Reason]) -> Vec<&str> {
        reasons.iter().map(|r| r.rule_id.as_str()).collect()
    }
    match step {
        Ok(_) => (Outcome::Allow, Vec::new()),
        Err(Stop::Deny(reasons)) => (Outcome::Deny, ids(reasons)),
        Err(Stop::Defer { reasons, .. }) => (Outcome::Defer, ids(reasons)),
    }
}
