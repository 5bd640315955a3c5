//! The consent fold, event by event.

use super::*;
use crate::domain::{Evidence, NewEvent, TenantId};

fn ev(seq: u64, action: Action, campaign: &str, source: Source) -> ConsentEvent {
    ConsentEvent {
        sequence: seq,
        recorded_at: Timestamp::UNIX_EPOCH,
        event: NewEvent {
            tenant_id: TenantId::new("t"),
            event_id: format!("e{seq}"),
            phone: crate::phone::PhoneNumber::parse("+13125550199").unwrap(),
            action,
            scope: Scope { campaign_id: campaign.into(), sender: String::new() },
            source,
            occurred_at: Timestamp::UNIX_EPOCH,
            evidence: Evidence::default(),
            categories: vec![],
            inbound_text: String::new(),
        },
    }
}

fn fold(events: &[ConsentEvent]) -> ContactConsent {
    let mut c = ContactConsent::default();
    events.iter().for_each(|e| c.apply(e));
    c
}

#[test]
fn revoke_covers_narrower_grants_and_latest_wins() {
    let c = fold(&[
        ev(1, Action::Grant(Level::Express), "casework", Source::Verbal),
        ev(2, Action::Revoke, "", Source::Keyword),
    ]);
    let s = c.latest_for_send("casework", "+13125550100").unwrap();
    assert_eq!((s.status, s.event_id.as_str()), (Status::Revoked, "e2"));
    assert!(c.fully_revoked());

    // A fresh explicit grant for one campaign lifts the opt-out for it only.
    let mut c = c;
    c.apply(&ev(3, Action::Grant(Level::Express), "casework", Source::WebForm));
    assert!(c.latest_for_send("casework", "x").unwrap().permits(Category::Informational));
    assert_eq!(c.latest_for_send("fundraising", "x").unwrap().status, Status::Revoked);
}

#[test]
fn opt_in_keyword_restores_revoked_grants_at_their_level() {
    let c = fold(&[
        ev(1, Action::Grant(Level::ExpressWritten), "fundraising", Source::WebForm),
        ev(2, Action::Revoke, "", Source::Keyword),
        ev(3, Action::Grant(Level::Express), "", Source::Keyword),
    ]);
    assert_eq!(c.scopes.len(), 1, "{c:?}");
    let s = c.latest_for_send("fundraising", "x").unwrap();
    assert_eq!((s.status, s.level, s.event_id.as_str()), (Status::Granted, Some(Level::ExpressWritten), "e3"));
    assert!(c.latest_for_send("casework", "x").is_none());
}

#[test]
fn opt_in_keyword_with_nothing_to_restore_grants_express() {
    let c =
        fold(&[ev(1, Action::Revoke, "", Source::Keyword), ev(2, Action::Grant(Level::Express), "", Source::Keyword)]);
    let s = c.latest_for_send("casework", "x").unwrap();
    assert_eq!((s.status, s.level), (Status::Granted, Some(Level::Express)));
    assert!(!s.permits(Category::Promotional));
}

#[test]
fn categories_limit_a_grant() {
    let mut e = ev(1, Action::Grant(Level::ExpressWritten), "", Source::WebForm);
    e.event.categories = vec![Category::Informational];
    let c = fold(&[e]);
    let s = c.latest_for_send("any", "x").unwrap();
    assert!(s.permits(Category::Informational));
    assert!(!s.permits(Category::Promotional));
}

#[test]
fn opt_in_keyword_does_not_lift_revocations_made_elsewhere() {
    let mut r = ev(2, Action::Revoke, "fundraising", Source::Api);
    r.event.event_id = "agent".into();
    let c = fold(&[
        ev(1, Action::Grant(Level::ExpressWritten), "", Source::WebForm),
        r,
        ev(3, Action::Revoke, "", Source::Keyword),
        ev(4, Action::Grant(Level::Express), "", Source::Keyword),
    ]);
    assert!(c.opt_out_for_send("casework", "x").is_none(), "{c:?}");
    assert!(c.opt_out_for_send("fundraising", "x").is_some(), "the agent's revoke stays: {c:?}");
}

#[test]
fn a_backdated_grant_does_not_undo_a_later_opt_out() {
    let mut revoke = ev(1, Action::Revoke, "", Source::Keyword);
    revoke.event.occurred_at = Timestamp::from_second(1_000).unwrap();
    let mut old = ev(2, Action::Grant(Level::Express), "", Source::Import);
    old.event.occurred_at = Timestamp::from_second(10).unwrap();
    let c = fold(&[revoke, old]);
    assert!(c.opt_out_for_send("casework", "x").is_some());
}

#[test]
fn a_revoke_on_another_dimension_is_not_lifted_by_a_campaign_grant() {
    let mut r = ev(1, Action::Revoke, "", Source::Api);
    r.event.scope.sender = "+13125550100".into();
    let c = fold(&[r, ev(2, Action::Grant(Level::Express), "casework", Source::WebForm)]);
    assert!(c.opt_out_for_send("casework", "+13125550100").is_some());
    assert!(c.opt_out_for_send("casework", "+13125550102").is_none());
}

fn at(mut e: ConsentEvent, second: i64) -> ConsentEvent {
    e.event.occurred_at = Timestamp::from_second(second).unwrap();
    e
}

#[test]
fn a_wrong_number_voids_every_earlier_grant_for_good() {
    let c = fold(&[
        at(ev(1, Action::Grant(Level::ExpressWritten), "fundraising", Source::WebForm), 10),
        at(ev(2, Action::Revoke, "", Source::Keyword), 20),
        at(ev(3, Action::Grant(Level::Express), "", Source::Keyword), 30),
        at(ev(4, Action::WrongNumber, "", Source::Keyword), 40),
        // An old paper form imported after the report, and a START from the new owner.
        at(ev(5, Action::Grant(Level::ExpressWritten), "fundraising", Source::Import), 5),
        at(ev(6, Action::Grant(Level::Express), "", Source::Keyword), 50),
    ]);
    assert_eq!(c.reassigned.as_ref().map(|r| r.event_id.as_str()), Some("e4"));
    let s = c.latest_for_send("fundraising", "x").unwrap();
    assert_eq!((s.status, s.level, s.event_id.as_str()), (Status::Granted, Some(Level::Express), "e6"), "{c:?}");
    assert!(!s.permits(Category::Promotional), "the old written consent stays void: {c:?}");
    assert_eq!(c.scopes.len(), 1, "{c:?}");
}

#[test]
fn a_wrong_number_suppresses_and_cites_itself_until_a_new_grant() {
    let c = fold(&[
        at(ev(1, Action::Grant(Level::ExpressWritten), "fundraising", Source::WebForm), 10),
        at(ev(2, Action::WrongNumber, "", Source::Keyword), 40),
    ]);
    assert_eq!(c.opt_out_for_send("fundraising", "x").map(|s| s.event_id.as_str()), Some("e2"));
    assert!(c.fully_revoked());
    let mut c = c;
    c.apply(&at(ev(3, Action::Grant(Level::Express), "fundraising", Source::WebForm), 41));
    assert!(c.opt_out_for_send("fundraising", "x").is_none(), "{c:?}");
    // A grant dated at the report itself is the old owner's.
    c.apply(&at(ev(4, Action::Grant(Level::ExpressWritten), "casework", Source::Import), 40));
    assert!(c.opt_out_for_send("casework", "x").is_some(), "{c:?}");
}

#[test]
fn a_review_hold_ends_with_a_later_grant_or_revoke_only() {
    let mut hold = at(ev(2, Action::ReviewHold, "", Source::Keyword), 100);
    hold.event.evidence.extra.insert(MATCHED_EXTRA_KEY.into(), "NOT INTERESTED".into());
    let base = [at(ev(1, Action::Grant(Level::Express), "", Source::WebForm), 10), hold];
    let c = fold(&base);
    let h = c.review_hold.as_ref().expect("held");
    assert_eq!((h.event_id.as_str(), h.matched.as_str()), ("e2", "NOT INTERESTED"));
    assert!(c.latest_for_send("x", "y").unwrap().permits(Category::Informational), "a hold changes no consent");

    for (late, resolves) in [
        (at(ev(3, Action::Grant(Level::Express), "", Source::AgentAttestation), 200), true),
        (at(ev(3, Action::Revoke, "", Source::Api), 200), true),
        (at(ev(3, Action::Grant(Level::Express), "", Source::Import), 50), false),
    ] {
        let mut c = c.clone();
        c.apply(&late);
        assert_eq!(c.review_hold.is_none(), resolves, "{late:?}");
    }
}

#[test]
fn an_rnd_yes_drops_the_previous_owners_grants_and_keeps_its_revocations_without_a_level() {
    let at =
        |e: ConsentEvent, t: &str| ConsentEvent { event: NewEvent { occurred_at: t.parse().unwrap(), ..e.event }, ..e };
    let mut yes = at(ev(3, Action::Rnd(RndAnswer::Yes), "", Source::Api), "2026-06-01T00:00Z");
    yes.event.evidence.extra.insert(crate::domain::RND_DISCONNECTED_EXTRA_KEY.into(), "2026-03-01T00:00Z".into());
    let c = fold(&[
        at(ev(1, Action::Grant(Level::ExpressWritten), "fundraising", Source::WebForm), "2026-01-01T00:00Z"),
        at(ev(2, Action::Revoke, "", Source::Keyword), "2026-02-01T00:00Z"),
        yes,
        // START from the present owner: nothing of the previous owner's comes back.
        at(ev(4, Action::Grant(Level::Express), "", Source::Keyword), "2026-06-02T00:00Z"),
    ]);
    let s = c.latest_for_send("fundraising", "x").unwrap();
    assert_eq!((s.status, s.level, s.event_id.as_str()), (Status::Granted, Some(Level::Express), "e4"));
    assert!(!s.permits(Category::Promotional));
    assert_eq!(
        c.rnd_void.as_ref().map(|v| (v.event_id.as_str(), v.since)),
        Some(("e3", "2026-03-01T00:00Z".parse().unwrap()))
    );
    let checked = c.rnd_checked.as_ref().unwrap();
    assert_eq!((checked.event_id.as_str(), checked.answer), ("e3", RndAnswer::Yes));

    // A later NO is the latest check; the YES's voiding stays.
    let mut c = c;
    c.apply(&at(ev(5, Action::Rnd(RndAnswer::No), "", Source::Api), "2026-07-01T00:00Z"));
    assert_eq!(c.rnd_checked.as_ref().map(|r| r.answer), Some(RndAnswer::No));
    assert_eq!(c.rnd_void.as_ref().map(|v| v.event_id.as_str()), Some("e3"));
    // An answer queried earlier, recorded later, is not the latest.
    c.apply(&at(ev(6, Action::Rnd(RndAnswer::NoData), "", Source::Api), "2026-06-15T00:00Z"));
    assert_eq!(c.rnd_checked.as_ref().map(|r| r.event_id.as_str()), Some("e5"));
}
