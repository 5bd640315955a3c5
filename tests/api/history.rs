//! A store whose contact history was written before the history was bounded
//! (every send of the last cap period, in the same record layout) opens and
//! gives the decisions the unbounded history gives, DEFER instants included;
//! the first send it notes shrinks the record to the bound.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tempfile::TempDir;
use textgate::api::pb::{self, Decision};
use textgate::config::Config;
use textgate::consent::{Ledger, LedgerOptions};
use textgate::domain::{
    Action, Category, ContactConsent, ContactHistory, Evidence, Level, NewEvent, Scope, SentMessage, Source, TenantId,
};
use textgate::phone::PhoneNumber;
use textgate::policy::{decide, Message, Origin, Outcome, Policy, RulePack};

use crate::helpers::{TestApp, TestClock};

/// A Florida number: the state caps promotional texts at 3 a day.
const FLORIDA: &str = "+13055550199";
/// Tuesday 2026-06-02 18:00 UTC, 14:00 in Florida.
const START: &str = "2026-06-02T18:00:00Z";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// What the store held before the bound: 2,000 fundraising and 400 casework
/// sends over the last 23 hours, and two fundraising sends scheduled ahead.
fn legacy_history(now: Timestamp) -> ContactHistory {
    let send = |campaign: &str, category, at| SentMessage { campaign_id: campaign.into(), category, at };
    let mut sends = Vec::new();
    for i in 0..2_000 {
        let at = now - SignedDuration::from_hours(23) + SignedDuration::from_secs(40 * i);
        sends.push(send("fundraising", Category::Promotional, at));
        if i % 5 == 0 {
            sends.push(send("casework", Category::Informational, at));
        }
    }
    for h in [2, 3] {
        sends.push(send("fundraising", Category::Promotional, now + SignedDuration::from_hours(h)));
    }
    ContactHistory { last_inbound_at: None, last_disclosure_at: Some(now - SignedDuration::from_hours(24)), sends }
}

/// The unbounded history's rule, as it was: every send kept until it is a
/// cap period older than the clock.
fn note_unbounded(h: &mut ContactHistory, sent: SentMessage, disclosed: bool, window: SignedDuration, now: Timestamp) {
    if disclosed {
        h.last_disclosure_at = Some(h.last_disclosure_at.map_or(sent.at, |l| l.max(sent.at)));
    }
    let pos = h.sends.partition_point(|s| s.at <= sent.at);
    h.sends.insert(pos, sent);
    h.sends.retain(|s| s.at >= now || now.duration_since(s.at) < window);
}

/// Writes the legacy history and an express written grant; returns the grant's consent.
async fn legacy_store(dir: &TempDir, history: &ContactHistory) -> ContactConsent {
    let ledger = Ledger::open(&dir.path().join("data"), &LedgerOptions::default()).unwrap();
    let (tenant, phone) = (TenantId::new("northside"), PhoneNumber::parse(FLORIDA).unwrap());
    let grant = NewEvent {
        tenant_id: tenant.clone(),
        event_id: "g1".into(),
        phone: phone.clone(),
        action: Action::Grant(Level::ExpressWritten),
        scope: Scope::default(),
        source: Source::Verbal,
        occurred_at: ts("2026-05-01T00:00:00Z"),
        evidence: Evidence { collected_by: "caseworker-17".into(), ..Evidence::default() },
        categories: vec![Category::Promotional, Category::Informational],
        inbound_text: String::new(),
    };
    let consent = ledger.record(grant).await.unwrap().consent;
    ledger.put_contact(&tenant, &phone, history).unwrap();
    ledger.shutdown().await.unwrap();
    consent
}

fn request(promotional: bool) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: if promotional { "+13125550101" } else { "+13125550100" }.into(),
        to: FLORIDA.into(),
        body: if promotional { "Our gala is Friday." } else { "Your documents were received." }.into(),
        origin: pb::Origin::Automated as i32,
        ..Default::default()
    }
}

fn outcome(o: Outcome) -> Decision {
    match o {
        Outcome::Allow => Decision::Allow,
        Outcome::AllowWithChanges => Decision::AllowWithChanges,
        Outcome::Defer => Decision::Defer,
        Outcome::Deny => Decision::Deny,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_with_a_long_contact_history_decides_as_before_and_shrinks_it() {
    let start = ts(START);
    let dir = TempDir::new().unwrap();
    let mut oracle = legacy_history(start);
    let consent = legacy_store(&dir, &oracle).await;
    let clock = Arc::new(TestClock(AtomicI64::new(start.as_second())));
    let app = TestApp::spawn_clocked(Config::demo(), dir, clock.clone()).await;
    let mut c = app.client().await;
    let policy = Policy::compile(&Config::demo(), Arc::new(RulePack::builtin().unwrap())).unwrap();
    let (tenant, to) = (&policy.tenants["northside"], PhoneNumber::parse(FLORIDA).unwrap());
    let mut outcomes = Vec::new();

    // The clock moves through two days; each step asks for a fundraising
    // text and a casework text, and compares the answer with the decision
    // over the unbounded history.
    for hours in [0, 0, 1, 4, 19, 22, 23, 25, 26, 27, 28, 44, 47] {
        let now = start + SignedDuration::from_hours(hours);
        clock.0.store(now.as_second(), Ordering::SeqCst);
        for promotional in [true, false] {
            let req = request(promotional);
            let msg = Message {
                from: &req.from,
                to: &to,
                body: &req.body,
                origin: Origin::Automated,
                category: None,
                campaign_id: "",
                send_at: now,
                recipient_state: None,
                recipient_zone: None,
            };
            let want = decide(&policy, tenant, &msg, &consent, &oracle);
            let got = c.check_message(req).await.unwrap().into_inner();
            let step = format!("{} at +{hours}h", if promotional { "fundraising" } else { "casework" });
            assert_eq!(got.decision(), outcome(want.outcome), "{step}: {got:?}");
            assert_eq!(got.defer_until.map(|t| t.seconds), want.defer_until.map(|t| t.as_second()), "{step}");
            let rules: Vec<_> = got.reasons.iter().map(|r| r.rule_id.as_str()).collect();
            assert_eq!(rules, want.reasons.iter().map(|r| r.rule_id.as_str()).collect::<Vec<_>>(), "{step}");
            assert_eq!(got.body, want.body, "{step}");
            if matches!(want.outcome, Outcome::Allow | Outcome::AllowWithChanges) {
                let sent =
                    SentMessage { campaign_id: want.campaign_id.clone(), category: want.category.unwrap(), at: now };
                note_unbounded(&mut oracle, sent, want.discloses, policy.pack.retention.window, now);
            }
            outcomes.push(want.outcome);
        }
    }
    // The walk saw the cap hold and release, and sends noted.
    assert!(outcomes.contains(&Outcome::Defer) && outcomes.contains(&Outcome::Allow), "{outcomes:?}");

    // Stopped and opened again: the record holds the bound, not the 2,402 sends.
    let dir = app.stop().await;
    let ledger = Ledger::open(&dir.path().join("data"), &LedgerOptions::default()).unwrap();
    let kept = ledger.contact(&TenantId::new("northside"), &to).unwrap();
    let per_campaign = policy.pack.retention.sends;
    assert!(kept.sends.len() <= 2 * per_campaign, "{} sends kept", kept.sends.len());
    assert_eq!(kept.last_disclosure_at, oracle.last_disclosure_at);
    ledger.shutdown().await.unwrap();
}
