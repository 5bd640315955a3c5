//! Table-driven tests of the pipeline, one rule family at a time, with the
//! time injected. The demo tenant: casework (informational, +13125550100/0102,
//! links to northside.example.org, phones allowed) and fundraising
//! (promotional, +13125550101, links to give.northside.example.org, no phones).

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::fixtures::{grant, message, policy, tenant, tenant_rnd_checked, ts, CASEWORK, FUNDRAISING};
use super::*;
use crate::domain::{Action, ConsentEvent, Evidence, Level, NewEvent, Scope, Source, TenantId};
use crate::domain::{Retention, SentMessage};
use crate::policy::{ChangeKind, ReasonCode};

struct Case {
    from: &'static str,
    to: &'static str,
    body: &'static str,
    at: &'static str,
    category: Option<Category>,
    consent: ContactConsent,
    history: ContactHistory,
}

impl Case {
    fn new(from: &'static str, to: &'static str, body: &'static str, at: &'static str) -> Case {
        Case {
            from,
            to,
            body,
            at,
            category: None,
            consent: grant(Level::ExpressWritten, 1),
            history: ContactHistory::default(),
        }
    }

    fn decide(&self) -> Decision {
        let to = PhoneNumber::parse(self.to).unwrap();
        let msg = Message { category: self.category, ..message(self.from, &to, self.body, self.at) };
        decide(policy(), tenant_rnd_checked(), &msg, &self.consent, &self.history)
    }
}

fn disclosed(at: &str) -> ContactHistory {
    ContactHistory { last_disclosure_at: Some(ts(at)), ..Default::default() }
}

/// (from, to, body, at, expected outcome, expected first reason rule_id, defer_until)
type Row = (&'static str, &'static str, &'static str, &'static str, Outcome, &'static str, Option<&'static str>);

fn run(rows: &[Row], history: impl Fn() -> ContactHistory) {
    for (from, to, body, at, outcome, rule, until) in rows {
        let mut c = Case::new(from, to, body, at);
        c.history = history();
        let d = c.decide();
        assert_eq!(d.outcome, *outcome, "{to} {body:?} at {at}: {d:#?}");
        assert_eq!(d.reasons.first().map_or("", |r| r.rule_id.as_str()), *rule, "{to} {body:?} at {at}");
        assert_eq!(d.defer_until, until.map(ts), "{to} {body:?} at {at}");
    }
}

#[test]
fn region_sender_content_and_category_rules() {
    use Outcome::*;
    let rows: &[Row] = &[
        (CASEWORK, "+442079460958", "hi", "2026-06-02T15:00Z", Deny, "region.unsupported", None),
        (CASEWORK, "+14165550199", "hi", "2026-06-02T15:00Z", Deny, "region.unsupported", None),
        ("+13125550999", "3125550199", "hi", "2026-06-02T15:00Z", Deny, "sender.registered", None),
        (
            CASEWORK,
            "3125550199",
            "Flash sale: 20% off today",
            "2026-06-02T15:00Z",
            Deny,
            "category.promotional_content",
            None,
        ),
        (CASEWORK, "3125550199", "Details at https://bit.ly/x", "2026-06-02T15:00Z", Deny, "content.shortener", None),
        (
            CASEWORK,
            "3125550199",
            "Forms at https://evil.example.com/f",
            "2026-06-02T15:00Z",
            Deny,
            "content.link.domain",
            None,
        ),
        (CASEWORK, "3125550199", "Forms at https://northside.example.org/f", "2026-06-02T15:00Z", Allow, "", None),
        (
            FUNDRAISING,
            "3125550199",
            "Give at give.northside.example.org or call 312-555-0142",
            "2026-06-02T15:00Z",
            Deny,
            "content.phone",
            None,
        ),
        (
            FUNDRAISING,
            "3125550199",
            "Give at give.northside.example.org, questions 312-555-0100",
            "2026-06-02T15:00Z",
            Allow,
            "",
            None,
        ),
        (CASEWORK, "3125550199", "Your case worker can call 312-555-0142", "2026-06-02T15:00Z", Allow, "", None),
        (
            FUNDRAISING,
            "3125550199",
            "Vape pens half price, donate now",
            "2026-06-02T15:00Z",
            Deny,
            "content.category.tobacco",
            None,
        ),
    ];
    run(rows, || disclosed("2026-06-01T15:00Z"));
}

#[test]
fn quiet_hours_in_every_candidate_zone_and_state_windows() {
    use Outcome::*;
    let rows: &[Row] = &[
        // Chicago (312), tenant window 08:00-21:00 CDT: the exact boundaries.
        (
            CASEWORK,
            "3125550199",
            "Your appointment is confirmed",
            "2026-06-02T12:59:59Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-06-02T13:00:00Z"),
        ),
        (CASEWORK, "3125550199", "Your appointment is confirmed", "2026-06-02T13:00:00Z", Allow, "", None),
        (CASEWORK, "3125550199", "Your appointment is confirmed", "2026-06-03T01:59:59Z", Allow, "", None),
        (
            CASEWORK,
            "3125550199",
            "Your appointment is confirmed",
            "2026-06-03T02:00:00Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-06-03T13:00:00Z"),
        ),
        // 850 spans Central and Eastern: 08:30 EDT is 07:30 CDT -> 09:00 EDT.
        (
            CASEWORK,
            "8505550199",
            "Your appointment is confirmed",
            "2026-06-02T12:30:00Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-06-02T13:00:00Z"),
        ),
        // DST: 22:00 EST on the eve of spring-forward -> 08:00 EDT (12:00Z).
        (
            CASEWORK,
            "2125550199",
            "Your appointment is confirmed",
            "2026-03-08T03:00:00Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-03-08T12:00:00Z"),
        ),
        // ... and fall-back: 07:30 EST on 2026-11-01 -> 08:00 EST (13:00Z).
        (
            CASEWORK,
            "2125550199",
            "Your appointment is confirmed",
            "2026-11-01T12:30:00Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-11-01T13:00:00Z"),
        ),
        // Florida (305): informational keeps the tenant window (20:30 EDT allowed) ...
        (CASEWORK, "3055550199", "Your appointment is confirmed", "2026-06-03T00:30:00Z", Allow, "", None),
        // ... promotional follows FL 08:00-20:00: 20:00 exactly is out.
        (
            FUNDRAISING,
            "3055550199",
            "Our gala is Friday",
            "2026-06-03T00:00:00Z",
            Defer,
            "quiet_hours.state.FL",
            Some("2026-06-03T12:00:00Z"),
        ),
        (FUNDRAISING, "3055550199", "Our gala is Friday", "2026-06-02T23:59:59Z", Allow, "", None),
        // Texas (512) on Sunday 2026-06-07: promotional waits for noon CDT.
        (
            FUNDRAISING,
            "5125550199",
            "Our gala is Friday",
            "2026-06-07T15:00:00Z",
            Defer,
            "quiet_hours.state.TX",
            Some("2026-06-07T17:00:00Z"),
        ),
        (FUNDRAISING, "5125550199", "Our gala is Friday", "2026-06-06T15:00:00Z", Allow, "", None),
        // Connecticut (203): 09:00-20:00 for promotional.
        (
            FUNDRAISING,
            "2035550199",
            "Our gala is Friday",
            "2026-06-02T12:30:00Z",
            Defer,
            "quiet_hours.state.CT",
            Some("2026-06-02T13:00:00Z"),
        ),
        // Toll-free: unknown zone -> the 50-state fallback (Honolulu is 10h behind UTC).
        (
            CASEWORK,
            "8005550199",
            "Your appointment is confirmed",
            "2026-06-02T15:00:00Z",
            Defer,
            "quiet_hours.tenant",
            Some("2026-06-02T18:00:00Z"),
        ),
    ];
    run(rows, || disclosed("2026-06-01T15:00Z"));
}

#[test]
fn state_frequency_cap_defers_until_the_oldest_send_expires() {
    let mut c = Case::new(FUNDRAISING, "3055550199", "Our gala is Friday", "2026-06-02T18:00:00Z");
    let send = |at| SentMessage { campaign_id: "fundraising".into(), category: Category::Promotional, at: ts(at) };
    c.history = disclosed("2026-06-01T15:00Z");
    c.history.sends = vec![send("2026-06-02T13:00:00Z"), send("2026-06-02T14:00:00Z")];
    assert_eq!(c.decide().outcome, Outcome::Allow, "two sends are under the cap");
    c.history.sends.push(send("2026-06-02T15:00:00Z"));
    let d = c.decide();
    assert_eq!((d.outcome, d.reasons[0].rule_id.as_str()), (Outcome::Defer, "frequency_cap.state.FL"));
    assert_eq!(d.defer_until, Some(ts("2026-06-03T13:00:00Z")));
    // An Illinois number is not under the FL cap.
    c.to = "3125550199";
    assert_eq!(c.decide().outcome, Outcome::Allow);
}

#[test]
fn consent_levels_by_category() {
    let mut c = Case::new(FUNDRAISING, "3125550199", "Our gala is Friday", "2026-06-02T15:00:00Z");
    c.history = disclosed("2026-06-01T15:00Z");
    c.consent = grant(Level::Express, 7);
    let d = c.decide();
    assert_eq!((d.outcome, d.reasons[0].code), (Outcome::Deny, ReasonCode::ConsentInsufficient));
    assert_eq!(d.reasons[0].consent_event_id, "grant-7");
    c.consent = ContactConsent::default();
    let d = c.decide();
    assert_eq!(
        (d.reasons[0].code, d.reasons[0].rule_id.as_str()),
        (ReasonCode::ConsentRequired, "consent.required.promotional")
    );
    // A conversational reply needs the window, not a record.
    c.from = CASEWORK;
    c.body = "Thanks, see you at 3";
    assert_eq!(c.decide().reasons[0].rule_id, "consent.required.informational");
    c.history.last_inbound_at = Some(ts("2026-06-02T03:00:00Z"));
    let d = c.decide();
    assert_eq!((d.outcome, d.category), (Outcome::Allow, Some(Category::Conversational)));
    // The window closes after 24h; quiet hours do not apply to replies.
    c.at = "2026-06-03T03:00:00Z";
    assert_eq!(c.decide().reasons[0].rule_id, "consent.required.informational");
    c.at = "2026-06-03T02:59:59Z";
    assert_eq!(c.decide().outcome, Outcome::Allow, "a reply at 21:59 CDT is exempt from quiet hours");
}

#[test]
fn opt_out_notice_first_then_every_interval_never_twice() {
    let mut c = Case::new(CASEWORK, "3125550199", "Your appointment is Tuesday at 10.", "2026-06-02T15:00:00Z");
    c.consent = grant(Level::Express, 1);
    let d = c.decide();
    assert_eq!(d.outcome, Outcome::AllowWithChanges);
    assert_eq!(d.body, "Northside Family Services: Your appointment is Tuesday at 10. Reply STOP to opt out.");
    assert_eq!(
        d.changes.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [ChangeKind::BrandPrefix, ChangeKind::OptOutNotice]
    );
    assert!(d.discloses);

    c.history = disclosed("2026-05-04T15:00:01Z");
    assert_eq!(c.decide().outcome, Outcome::Allow, "29 days after the last notice");
    c.history = disclosed("2026-05-03T15:00:00Z");
    assert_eq!(c.decide().outcome, Outcome::AllowWithChanges, "30 days after the last notice");

    c.history = ContactHistory::default();
    c.body = "Northside Family Services: your file is ready. Reply STOP to opt out";
    let d = c.decide();
    assert_eq!((d.outcome, d.discloses), (Outcome::Allow, true), "already carries the wording");
    c.body = "northside family services: your file is ready";
    let d = c.decide();
    assert_eq!(d.changes.iter().map(|c| c.kind).collect::<Vec<_>>(), [ChangeKind::OptOutNotice], "brand already named");
}

#[test]
fn opted_out_recipient_is_denied_citing_the_revocation() {
    let mut c = Case::new(CASEWORK, "3125550199", "hello", "2026-06-02T15:00:00Z");
    c.consent.apply(&ConsentEvent {
        sequence: 2,
        recorded_at: Timestamp::UNIX_EPOCH,
        event: NewEvent {
            tenant_id: TenantId::new("northside"),
            event_id: "inbound:stop-1".into(),
            phone: PhoneNumber::parse("+13125550199").unwrap(),
            action: Action::Revoke,
            scope: Scope::default(),
            source: Source::Keyword,
            occurred_at: ts("2026-06-01T00:00:00Z"),
            evidence: Evidence::default(),
            categories: vec![],
            inbound_text: "STOP".into(),
        },
    });
    c.history.last_inbound_at = Some(ts("2026-06-02T14:00:00Z"));
    let d = c.decide();
    assert_eq!((d.outcome, d.reasons[0].code), (Outcome::Deny, ReasonCode::OptedOut));
    assert_eq!(d.reasons[0].consent_event_id, "inbound:stop-1");
}

const NPAS: &[&str] = &["312", "850", "305", "512", "203", "907", "928", "808", "800", "787", "416", "208"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// decide never panics, and a DEFER's instant is itself allowed (time-wise).
    #[test]
    fn defer_until_is_itself_allowed(
        secs in 0i64..4_102_444_800,
        npa in 0usize..NPAS.len(),
        promo in any::<bool>(),
        state in prop::option::of(prop::sample::select(vec![UsState::FL, UsState::TX, UsState::CT, UsState::WA, UsState::NY])),
        sends in prop::collection::vec(0i64..172_800, 0..6),
        body in "\\PC{0,80}",
    ) {
        let at = Timestamp::from_second(secs).unwrap();
        let to = PhoneNumber::parse(&format!("{}5550199", NPAS[npa])).unwrap();
        let from = if promo { FUNDRAISING } else { CASEWORK };
        let mut history = ContactHistory::default();
        for s in sends {
            let t = at.checked_sub(SignedDuration::from_secs(s)).unwrap_or(at);
            history.note_send(SentMessage { campaign_id: "fundraising".into(), category: Category::Promotional, at: t }, false, &Retention { window: SignedDuration::from_hours(48), sends: 16 }, at);
        }
        let consent = grant(Level::ExpressWritten, 1);
        let mut msg = Message { from, to: &to, body: "Our gala is Friday", origin: Origin::Person, category: None, campaign_id: "", send_at: at, recipient_state: state, recipient_zone: None };
        let _ = decide(policy(), tenant(), &Message { body: &body, ..msg.clone() }, &consent, &history);
        let d = decide(policy(), tenant(), &msg, &consent, &history);
        if d.outcome == Outcome::Defer {
            let until = d.defer_until.unwrap();
            prop_assert!(until > at);
            msg.send_at = until;
            let again = decide(policy(), tenant(), &msg, &consent, &history);
            prop_assert!(again.outcome != Outcome::Defer, "{:?} at {} -> {:?}", d.reasons, until, again.reasons);
        }
    }
}

#[test]
fn a_stop_keeps_what_the_pipeline_found_and_sets_outcome_and_reasons() {
    let to = PhoneNumber::parse("3125550199").unwrap();
    let place = steps::locate(&policy().pack, &message(CASEWORK, &to, "hi", "2026-06-02T15:00Z"));
    let found = Decision {
        campaign_id: "casework".into(),
        category: Some(Category::Informational),
        ..undecided(&message(CASEWORK, &to, "hi", "2026-06-02T15:00Z"), &place)
    };
    let r = Reason::new(ReasonCode::QuietHours, "quiet_hours.tenant", "late");
    let d = Stop::Defer { until: ts("2026-06-03T13:00Z"), reasons: vec![r.clone()] }.apply(found.clone());
    assert_eq!(
        (d.outcome, d.defer_until, &d.reasons),
        (Outcome::Defer, Some(ts("2026-06-03T13:00Z")), &vec![r.clone()])
    );
    assert_eq!(
        (d.campaign_id.as_str(), d.category, d.body.as_str()),
        ("casework", Some(Category::Informational), "hi")
    );
    let d = Stop::Deny(vec![r.clone()]).apply(found);
    assert_eq!((d.outcome, d.defer_until, d.reasons), (Outcome::Deny, None, vec![r]));
    assert_eq!((d.recipient.region.as_str(), d.recipient.states.as_slice()), ("US", [UsState::IL].as_slice()));
}
