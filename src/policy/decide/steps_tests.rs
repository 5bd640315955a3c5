//! Steps 1 to 6 one at a time, each against a table. The policy is the demo
//! tenant's (see decide_tests.rs).

use jiff::SignedDuration;

use super::super::fixtures::{consent_of, message, policy, tenant, ts, verdict, Event, CASEWORK, FUNDRAISING};
use super::*;
use crate::domain::Action;
use crate::phone::PhoneNumber;
use crate::policy::decision::Outcome;

const AT: &str = "2026-06-02T15:00Z";

fn campaign(id: &str) -> &'static Campaign {
    tenant().campaigns.iter().find(|c| c.id == id).unwrap()
}

/// The rule pack's fallback zones: every one of the 50 states'.
const FALLBACK: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
];

#[test]
fn locate_finds_region_states_and_candidate_zones() {
    let pack = &policy().pack;
    let chicago = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    // (to, caller's state, caller's zone, region, states, zones)
    type Row =
        (&'static str, Option<&'static str>, bool, &'static str, &'static [&'static str], &'static [&'static str]);
    let rows: &[Row] = &[
        ("3125550199", None, false, "US", &["IL"], &["America/Chicago"]),
        ("3125550199", Some("TX"), false, "US", &["IL", "TX"], &["America/Chicago"]),
        ("3125550199", Some("IL"), false, "US", &["IL"], &["America/Chicago"]),
        ("8505550199", None, false, "US", &["FL"], &["America/Chicago", "America/New_York"]),
        ("8505550199", None, true, "US", &["FL"], &["America/Chicago"]),
        ("+14165550199", None, false, "CA", &[], &["America/Toronto"]),
        ("8005550199", None, false, "US", &[], FALLBACK),
        ("+442079460958", None, false, "", &[], FALLBACK),
    ];
    for &(to, state, zone, region, states, zones) in rows {
        let to_number = PhoneNumber::parse(to).unwrap();
        let msg = Message {
            recipient_state: state.map(|s| s.parse().unwrap()),
            recipient_zone: zone.then_some(("America/Chicago", &chicago)),
            ..message(CASEWORK, &to_number, "hi", AT)
        };
        let place = locate(pack, &msg);
        assert_eq!(place.region, region, "{to} {state:?}");
        let found: Vec<&str> = place.states.iter().map(|s| s.as_str()).collect();
        assert_eq!(found, states, "{to} {state:?}");
        assert_eq!(place.zones.iter().map(|(n, _)| *n).collect::<Vec<_>>(), zones, "{to} {state:?} {zone}");
        assert_eq!(place.time_zones().len(), zones.len());
    }
}

#[test]
fn step_1_region_needs_a_rule_pack() {
    // (to, expected message of the stop; "" = go on)
    let rows = [
        ("3125550199", ""),
        ("8005550199", ""),
        ("+14165550199", "no rule pack for the recipient's region (CA)"),
        ("+442079460958", "no rule pack for the recipient's region (unknown)"),
    ];
    for (to, why) in rows {
        let to_number = PhoneNumber::parse(to).unwrap();
        let place = locate(&policy().pack, &message(CASEWORK, &to_number, "hi", AT));
        match region(&policy().pack, &place) {
            Ok(()) => assert_eq!(why, "", "{to}"),
            Err(Stop::Deny(r)) => {
                assert_eq!((r[0].rule_id.as_str(), r[0].message.as_str()), ("region.unsupported", why), "{to}")
            }
            Err(other) => panic!("{to}: {other:?}"),
        }
    }
}

#[test]
fn step_2_sender_must_be_registered_to_the_campaign() {
    let to = PhoneNumber::parse("3125550199").unwrap();
    // (from, declared campaign, campaign found or the stop's message)
    let rows = [
        (CASEWORK, "", "casework"),
        ("+13125550102", "", "casework"),
        (FUNDRAISING, "", "fundraising"),
        (CASEWORK, "casework", "casework"),
        (CASEWORK, "fundraising", "+13125550100 is not registered to campaign \"fundraising\""),
        ("+13125550999", "", "+13125550999 is not a sender number of any campaign of this tenant"),
    ];
    for (from, named, expected) in rows {
        let msg = Message { campaign_id: named, ..message(from, &to, "hi", AT) };
        match sender(tenant(), &msg) {
            Ok(s) => assert_eq!((s.number, s.campaign.id.as_str()), (from, expected), "{from} {named}"),
            Err(Stop::Deny(r)) => {
                assert_eq!((r[0].rule_id.as_str(), r[0].message.as_str()), ("sender.registered", expected))
            }
            Err(other) => panic!("{from}: {other:?}"),
        }
    }
}

#[test]
fn step_3_the_latest_revocation_for_the_campaign_stops_and_is_cited() {
    use Action::{Grant, Revoke};
    let casework = Sender { number: CASEWORK, campaign: campaign("casework") };
    // (events, cited revocation; "" = go on)
    let rows: &[(&[Event], &str)] = &[
        (&[], ""),
        (&[(1, Grant(Level::Express), "")], ""),
        (&[(1, Grant(Level::Express), ""), (2, Revoke, "")], "revoke-2"),
        (&[(1, Revoke, ""), (2, Grant(Level::Express), "")], ""),
        (&[(1, Revoke, "casework")], "revoke-1"),
        (&[(1, Revoke, "fundraising")], ""),
        (&[(1, Grant(Level::Express), ""), (2, Action::ReviewHold, "")], ""),
    ];
    for (events, cited) in rows {
        let result = opt_out(&consent_of(events), &casework);
        let got = match &result {
            Err(Stop::Deny(r)) => (r[0].rule_id.as_str(), r[0].consent_event_id.as_str()),
            _ => ("", ""),
        };
        let expected = if cited.is_empty() { ("", "") } else { ("consent.opted_out", *cited) };
        assert_eq!(got, expected, "{events:?}");
    }
}

#[test]
fn step_3_a_wrong_number_report_stops_and_says_so() {
    use Action::{Grant, WrongNumber};
    let casework = Sender { number: CASEWORK, campaign: campaign("casework") };
    // All at one instant: a grant as old as the report is the previous owner's.
    let rows: &[&[Event]] = &[
        &[(1, Grant(Level::ExpressWritten), ""), (2, WrongNumber, "")],
        &[(1, WrongNumber, ""), (2, Grant(Level::Express), "casework")],
    ];
    for events in rows {
        let c = consent_of(events);
        let Err(Stop::Deny(r)) = opt_out(&c, &casework) else { panic!("{events:?}: not denied") };
        let cited = c.reassigned.as_ref().map(|m| m.event_id.as_str());
        assert_eq!((r[0].rule_id.as_str(), Some(r[0].consent_event_id.as_str())), ("inbound.wrong_number", cited));
        assert!(
            r[0].message.contains("wrong number on 1970-01-01 00:00 UTC (possible reassignment)"),
            "{}",
            r[0].message
        );
    }
}

#[test]
fn step_4c_a_review_hold_stops_all_but_a_persons_reply_until_it_expires() {
    let to = PhoneNumber::parse("+13125550199").unwrap();
    let hold = crate::domain::Marker {
        event_id: "inbound:m1".into(),
        sequence: 3,
        since: ts("2026-06-02T15:00:00Z"),
        matched: "NOT INTERESTED".into(),
    };
    let held = ContactConsent { review_hold: Some(hold), ..ContactConsent::default() };
    let day = SignedDuration::from_hours(24);
    use Category::{Conversational as Conv, Informational as Info, Promotional as Promo};
    // (origin, category, send_at, held)
    let rows = [
        (Origin::Person, Conv, "2026-06-02T15:10:00Z", false),
        (Origin::Person, Info, "2026-06-02T15:10:00Z", true),
        (Origin::Person, Promo, "2026-06-02T15:10:00Z", true),
        (Origin::Automated, Info, "2026-06-02T15:10:00Z", true),
        (Origin::Unspecified, Info, "2026-06-02T15:10:00Z", true),
        (Origin::Automated, Info, "2026-06-02T14:59:59Z", false),
        (Origin::Automated, Info, "2026-06-03T14:59:59Z", true),
        (Origin::Automated, Info, "2026-06-03T15:00:00Z", false),
    ];
    for (origin, category, at, expected) in rows {
        let msg = Message { origin, ..message(CASEWORK, &to, "hi", at) };
        let got = review_hold(&held, &msg, category, day);
        let ids = match &got {
            Err(Stop::Deny(r)) => vec![(r[0].code, r[0].rule_id.as_str(), r[0].consent_event_id.as_str())],
            _ => vec![],
        };
        let want = if expected { vec![(ReasonCode::ReviewHold, "inbound.review_hold", "inbound:m1")] } else { vec![] };
        assert_eq!(ids, want, "{origin:?} {category:?} {at}");
    }
    assert!(review_hold(&ContactConsent::default(), &message(CASEWORK, &to, "hi", "2026-06-02T15:10:00Z"), Info, day)
        .is_ok());
}

#[test]
fn conversation_is_open_from_the_inbound_text_for_the_window() {
    let day = SignedDuration::from_hours(24);
    // (last inbound, at, expected)
    let rows = [
        (None, AT, Conversation::Closed),
        (Some("2026-06-02T15:00Z"), AT, Conversation::Open),
        (Some("2026-06-01T15:00:01Z"), AT, Conversation::Open),
        (Some("2026-06-01T15:00Z"), AT, Conversation::Closed),
        (Some("2026-06-02T15:00:01Z"), AT, Conversation::Closed),
    ];
    for (last, at, expected) in rows {
        assert_eq!(Conversation::at(last.map(ts), day, ts(at)), expected, "{last:?} {at}");
    }
}

#[test]
fn step_4_category_is_declared_else_a_reply_else_the_campaigns() {
    use Category::*;
    let to = PhoneNumber::parse("3125550199").unwrap();
    // (declared, origin, conversation, campaign, expected)
    let rows = [
        (Some(Promotional), Origin::Person, Conversation::Open, "casework", Promotional),
        (None, Origin::Person, Conversation::Open, "casework", Conversational),
        (None, Origin::Unspecified, Conversation::Open, "fundraising", Conversational),
        (None, Origin::Automated, Conversation::Open, "casework", Informational),
        (None, Origin::Person, Conversation::Closed, "casework", Informational),
        (None, Origin::Person, Conversation::Closed, "fundraising", Promotional),
    ];
    for (declared, origin, conversation, id, expected) in rows {
        let msg = Message { category: declared, origin, ..message(CASEWORK, &to, "hi", AT) };
        assert_eq!(
            category_for(&msg, campaign(id), conversation),
            expected,
            "{declared:?} {origin:?} {conversation:?}"
        );
    }
}

#[test]
fn step_4_only_a_promotional_campaign_sends_promotional_messages() {
    use Category::*;
    let rules = &policy().pack.content;
    // (campaign, category, body, expected rule id; "" = go on)
    let rows = [
        ("casework", Informational, "Your appointment is Tuesday", ""),
        ("casework", Promotional, "Your appointment is Tuesday", "category.campaign"),
        ("casework", Informational, "Flash sale: 20% off today", "category.promotional_content"),
        ("casework", Conversational, "Flash sale: 20% off today", "category.promotional_content"),
        ("fundraising", Promotional, "Flash sale: 20% off today", ""),
        ("fundraising", Informational, "Flash sale: 20% off today", ""),
    ];
    for (id, category, body, rule) in rows {
        let result = category_allowed(rules, campaign(id), category, &rules.words(body));
        let expected = if rule.is_empty() { (Outcome::Allow, vec![]) } else { (Outcome::Deny, vec![rule]) };
        assert_eq!(verdict(&result), expected, "{id} {category:?} {body:?}");
    }
}

#[test]
fn step_5_consent_covers_the_category_at_its_level() {
    use Category::*;
    use Conversation::{Closed, Open};
    let day = SignedDuration::from_hours(24);
    let express: &[Event] = &[(3, Action::Grant(Level::Express), "")];
    let written: &[Event] = &[(4, Action::Grant(Level::ExpressWritten), "")];
    let other_campaign: &[Event] = &[(5, Action::Grant(Level::ExpressWritten), "casework")];
    // (events, campaign, category, conversation, expected rule id, cited event)
    type Row<'a> = (&'a [Event], &'a str, Category, Conversation, &'a str, &'a str);
    let rows: &[Row] = &[
        (&[], "casework", Conversational, Open, "", ""),
        (&[], "casework", Conversational, Closed, "consent.conversation_window", ""),
        (written, "casework", Conversational, Closed, "consent.conversation_window", ""),
        (&[], "casework", Informational, Open, "consent.required.informational", ""),
        (express, "casework", Informational, Closed, "", ""),
        (express, "fundraising", Promotional, Closed, "consent.level.promotional", "grant-3"),
        (written, "fundraising", Promotional, Closed, "", ""),
        (other_campaign, "fundraising", Promotional, Closed, "consent.required.promotional", ""),
        (other_campaign, "casework", Informational, Closed, "", ""),
    ];
    for (events, id, category, conversation, rule, cited) in rows {
        let c = campaign(id);
        let sender = Sender { number: &c.senders[0], campaign: c };
        let result = consent(&consent_of(events), &sender, *category, *conversation, day);
        let got = match &result {
            Ok(()) => ("", ""),
            Err(Stop::Deny(r)) => (r[0].rule_id.as_str(), r[0].consent_event_id.as_str()),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(got, (*rule, *cited), "{events:?} {id} {category:?} {conversation:?}");
    }
}

#[test]
fn step_5_messages_say_what_is_missing() {
    let c = campaign("fundraising");
    let sender = Sender { number: FUNDRAISING, campaign: c };
    let day = SignedDuration::from_hours(24);
    let message =
        |events: &[Event], category| match consent(&consent_of(events), &sender, category, Conversation::Closed, day) {
            Err(Stop::Deny(r)) => r[0].message.clone(),
            other => panic!("{other:?}"),
        };
    assert_eq!(
        message(&[], Category::Conversational),
        "the recipient has not texted within the conversation window (24h); a business-started message needs express consent"
    );
    assert_eq!(
        message(&[], Category::Promotional),
        "no consent on record for promotional messages on campaign fundraising; record express written consent first"
    );
    assert_eq!(
        message(&[(1, Action::Grant(Level::Express), "")], Category::Promotional),
        "the consent on record (Express) does not cover promotional messages, which need express written consent"
    );
}

#[test]
fn step_6_content_reports_every_undeclared_finding() {
    let rules = &policy().pack.content;
    // (campaign, body, expected rule ids)
    let rows: &[(&str, &str, &[&str])] = &[
        ("casework", "Forms at https://northside.example.org/f", &[]),
        ("casework", "Your case worker can call 312-555-0142", &[]),
        ("casework", "Details at https://bit.ly/x", &["content.shortener", "content.link.domain"]),
        ("casework", "Forms at https://evil.example.com/f", &["content.link.domain"]),
        ("fundraising", "Give at give.northside.example.org or call 312-555-0142", &["content.phone"]),
        ("fundraising", "Give at give.northside.example.org, questions 312-555-0100", &[]),
        ("fundraising", "Vape pens half price, donate now", &["content.category.tobacco"]),
        (
            "fundraising",
            "See https://bit.ly/x or call 312-555-0142",
            &["content.shortener", "content.link.domain", "content.phone"],
        ),
    ];
    for (id, body, ids) in rows {
        let result = content(rules, tenant(), campaign(id), body, &rules.words(body));
        let expected = if ids.is_empty() { Outcome::Allow } else { Outcome::Deny };
        assert_eq!(verdict(&result), (expected, ids.to_vec()), "{id} {body:?}");
    }
}

#[test]
fn step_6_a_phone_number_in_a_reason_shows_its_last_four_digits_only() {
    let rules = &policy().pack.content;
    let body = "call 312-555-0142";
    let Err(Stop::Deny(r)) = content(rules, tenant(), campaign("fundraising"), body, &rules.words(body)) else {
        panic!("the fundraising campaign declares no phone numbers");
    };
    assert!(r[0].message.contains("…0142") && !r[0].message.contains("555"), "{}", r[0].message);
}
