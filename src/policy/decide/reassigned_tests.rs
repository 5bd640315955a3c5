//! `consent.reassigned` and `consent.rnd_check_due`, each against a table.

use jiff::Timestamp;

use super::super::fixtures::{policy, tenant, ts, verdict, CASEWORK};
use super::super::steps::Sender;
use super::*;
use crate::domain::{
    Action, ConsentEvent, Evidence, Level, NewEvent, RndAnswer, Scope, Source, TenantId, RND_DISCONNECTED_EXTRA_KEY,
};
use crate::phone::PhoneNumber;
use crate::policy::decision::Outcome;

/// (sequence, action, occurred_at, disconnect date given with a YES)
type Ev = (u64, Action, &'static str, Option<&'static str>);

fn consent(events: &[Ev]) -> ContactConsent {
    let mut c = ContactConsent::default();
    for &(seq, action, at, disconnected) in events {
        let mut evidence = Evidence::default();
        if let Some(d) = disconnected {
            evidence.extra.insert(RND_DISCONNECTED_EXTRA_KEY.into(), d.into());
        }
        c.apply(&ConsentEvent {
            sequence: seq,
            recorded_at: Timestamp::UNIX_EPOCH,
            event: NewEvent {
                tenant_id: TenantId::new("northside"),
                event_id: format!("e{seq}"),
                phone: PhoneNumber::parse("+13125550199").unwrap(),
                action,
                scope: Scope::default(),
                source: Source::Verbal,
                occurred_at: ts(at),
                evidence,
                categories: vec![],
                inbound_text: String::new(),
            },
        });
    }
    c
}

fn sender() -> Sender<'static> {
    Sender { number: CASEWORK, campaign: tenant().campaigns.iter().find(|c| c.id == "casework").unwrap() }
}

const GRANT: Action = Action::Grant(Level::Express);
const YES: Action = Action::Rnd(RndAnswer::Yes);
const NO: Action = Action::Rnd(RndAnswer::No);
const NO_DATA: Action = Action::Rnd(RndAnswer::NoData);

#[test]
fn a_yes_voids_grants_collected_before_the_disconnect_date() {
    // (events, consent step's outcome, rule ids, cited event)
    type Row = (&'static [Ev], Outcome, &'static [&'static str], &'static str);
    let rows: &[Row] = &[
        // Before the disconnect date: the previous owner's.
        (
            &[(1, GRANT, "2026-01-05T00:00Z", None), (2, YES, "2026-06-01T00:00Z", Some("2026-03-01T00:00Z"))],
            Outcome::Deny,
            &["consent.reassigned"],
            "e2",
        ),
        // Imported after the answer, still collected before the date: void.
        (
            &[(1, YES, "2026-06-01T00:00Z", Some("2026-03-01T00:00Z")), (2, GRANT, "2026-02-01T00:00Z", None)],
            Outcome::Deny,
            &["consent.reassigned"],
            "e1",
        ),
        // Collected on or after the date: the present owner's.
        (
            &[(1, YES, "2026-06-01T00:00Z", Some("2026-03-01T00:00Z")), (2, GRANT, "2026-03-01T00:00Z", None)],
            Outcome::Allow,
            &[],
            "",
        ),
        // A YES without a date voids everything collected before the query.
        (
            &[(1, GRANT, "2026-05-31T00:00Z", None), (2, YES, "2026-06-01T00:00Z", None)],
            Outcome::Deny,
            &["consent.reassigned"],
            "e2",
        ),
        // NO and NO DATA void nothing.
        (&[(1, GRANT, "2026-01-05T00:00Z", None), (2, NO, "2026-06-01T00:00Z", None)], Outcome::Allow, &[], ""),
        (&[(1, GRANT, "2026-01-05T00:00Z", None), (2, NO_DATA, "2026-06-01T00:00Z", None)], Outcome::Allow, &[], ""),
        // Nothing on record and no YES: plain consent required.
        (&[(1, NO, "2026-06-01T00:00Z", None)], Outcome::Deny, &["consent.required.informational"], ""),
    ];
    let s = sender();
    for (i, &(events, outcome, ids, cited)) in rows.iter().enumerate() {
        let c = consent(events);
        let step = super::super::steps::consent(
            &c,
            &s,
            Category::Informational,
            super::super::steps::Conversation::Closed,
            tenant().conversation_window,
        );
        assert_eq!(verdict(&step), (outcome, ids.to_vec()), "row {i}");
        if let Err(Stop::Deny(r)) = &step {
            assert_eq!(r[0].consent_event_id, cited, "row {i}");
        }
    }
}

#[test]
fn cycle_starts_on_the_rule_packs_day() {
    let day = policy().pack.rnd_cycle_day;
    assert_eq!(day, 16);
    let rows = [
        ("2026-06-16T00:00Z", "2026-06-16T00:00Z"),
        ("2026-06-30T12:00Z", "2026-06-16T00:00Z"),
        ("2026-06-15T23:59Z", "2026-05-16T00:00Z"),
        ("2026-01-03T00:00Z", "2025-12-16T00:00Z"),
    ];
    for (at, start) in rows {
        assert_eq!(cycle_start(ts(at), day), ts(start), "{at}");
    }
}

#[test]
fn old_consent_without_an_answer_this_cycle_is_flagged() {
    let mut strict = tenant().clone();
    strict.rnd_check_required = true;
    // (events, category, send_at, strict, outcome, warned)
    type Row = (&'static [Ev], Category, &'static str, bool, Outcome, bool);
    let old: &[Ev] = &[(1, GRANT, "2026-01-05T00:00Z", None)];
    let rows: &[Row] = &[
        // Younger than 30 days: nothing to check.
        (
            &[(1, GRANT, "2026-06-01T00:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            false,
            Outcome::Allow,
            false,
        ),
        (
            &[(1, GRANT, "2026-06-01T00:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            true,
            Outcome::Allow,
            false,
        ),
        // Older, never checked: a warning, or DENY for a strict tenant.
        (old, Category::Informational, "2026-06-20T15:00Z", false, Outcome::Allow, true),
        (old, Category::Informational, "2026-06-20T15:00Z", true, Outcome::Deny, true),
        // Checked this cycle (NO or NO DATA): nothing.
        (
            &[(1, GRANT, "2026-01-05T00:00Z", None), (2, NO, "2026-06-16T08:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            true,
            Outcome::Allow,
            false,
        ),
        (
            &[(1, GRANT, "2026-01-05T00:00Z", None), (2, NO_DATA, "2026-06-17T08:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            true,
            Outcome::Allow,
            false,
        ),
        // Checked in the cycle before: due again.
        (
            &[(1, GRANT, "2026-01-05T00:00Z", None), (2, NO, "2026-06-15T08:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            false,
            Outcome::Allow,
            true,
        ),
        // A fresher grant is the one relied on.
        (
            &[(1, GRANT, "2026-01-05T00:00Z", None), (2, GRANT, "2026-06-10T00:00Z", None)],
            Category::Informational,
            "2026-06-20T15:00Z",
            true,
            Outcome::Allow,
            false,
        ),
        // A conversational reply is the person's own conversation.
        (old, Category::Conversational, "2026-06-20T15:00Z", true, Outcome::Allow, false),
    ];
    let s = sender();
    for (i, &(events, category, at, is_strict, outcome, warned)) in rows.iter().enumerate() {
        let t = if is_strict { &strict } else { tenant() };
        let c = consent(events);
        let step = check_due(&c, (&s.campaign.id, s.number), category, t, policy().pack.rnd_cycle_day, ts(at));
        let (got, ids) = verdict(&step);
        assert_eq!(got, outcome, "row {i}");
        let reasons = match &step {
            Ok(Some(r)) => vec![r.clone()],
            Err(Stop::Deny(r)) => r.clone(),
            _ => vec![],
        };
        assert_eq!(!reasons.is_empty(), warned, "row {i} {ids:?}");
        for r in reasons {
            assert_eq!(
                (r.code, r.rule_id.as_str(), r.consent_event_id.as_str()),
                (ReasonCode::RndCheckDue, "consent.rnd_check_due", "e1"),
                "row {i}"
            );
        }
    }
}
