//! A scheduler that books texts ahead: a state cap counts the sends recorded
//! for later instants as well as earlier ones, so booking out of order can
//! never put more than the cap into one period, and a DEFER names the
//! earliest instant that keeps every period within it.

use jiff::Timestamp;
use tempfile::TempDir;
use textgate::api::pb::{self, ConsentLevel, Decision, ReasonCode};
use textgate::config::Config;

use crate::helpers::{grant, Client, TestApp, TestClock};

/// A Florida number: 3 promotional texts per campaign per rolling 24 h, 8-20 local.
const FLORIDA: &str = "+13055550199";
/// The demo's fundraising sender (a promotional campaign).
const FUNDRAISING: &str = "+13125550101";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn fundraising(at: &str, dry_run: bool) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: FUNDRAISING.into(),
        to: FLORIDA.into(),
        body: "Our gala is Friday. Reply STOP to opt out.".into(),
        origin: pb::Origin::Automated as i32,
        send_at: Some(prost_types::Timestamp { seconds: ts(at).as_second(), nanos: 0 }),
        dry_run,
        ..Default::default()
    }
}

/// The decision and, for a DEFER, its instant.
async fn ask(c: &mut Client, at: &str, dry_run: bool) -> (Decision, Option<Timestamp>) {
    let r = c.check_message(fundraising(at, dry_run)).await.expect("check").into_inner();
    if r.decision() == Decision::Defer {
        assert_eq!(r.reasons[0].code(), ReasonCode::ReasonFrequencyCap, "{r:?}");
        assert_eq!(r.reasons[0].rule_id, "frequency_cap.state.FL");
    }
    (r.decision(), r.defer_until.map(|t| Timestamp::from_second(t.seconds).unwrap()))
}

#[tokio::test]
async fn sends_booked_ahead_count_toward_the_cap_both_ways() {
    // The clock reads Monday noon; the scheduler books Tuesday.
    let clock = TestClock::at(ts("2026-06-01T16:00:00Z"));
    let app = TestApp::spawn_clocked(Config::demo(), TempDir::new().unwrap(), clock).await;
    let mut c = app.client().await;
    c.record_consent(grant("g1", FLORIDA, ConsentLevel::ExpressWritten)).await.unwrap();

    // Three texts booked for Tuesday 10, 11 and 12 EDT: each is the campaign's first, second
    // and third in any day that holds it.
    for at in ["2026-06-02T14:00:00Z", "2026-06-02T15:00:00Z", "2026-06-02T16:00:00Z"] {
        let (decision, _) = ask(&mut c, at, false).await;
        assert!(matches!(decision, Decision::Allow | Decision::AllowWithChanges), "{at}: {decision:?}");
    }

    // Tuesday 09:00 EDT comes before all three, and the day from then holds them all: a
    // fourth there would make four. The first instant every day allows is Wednesday 10:00
    // EDT, when the 10:00 send has left the period (the 11:00 and 12:00 ones make three).
    let wednesday = ts("2026-06-03T14:00:00Z");
    let table = [
        // (send_at, DEFER until; None: allowed)
        ("2026-06-02T13:00:00Z", Some(wednesday)),
        ("2026-06-01T18:00:00Z", Some(wednesday)), // Monday 14:00: the day from it holds all three
        ("2026-06-01T16:00:00Z", None),            // the day from Monday 12:00 ends as the 12:00 send starts
        ("2026-06-02T20:00:00Z", Some(wednesday)),
        ("2026-06-03T13:59:59Z", Some(wednesday)),
        ("2026-06-03T14:00:00Z", None),
    ];
    for (at, want) in table {
        let (decision, until) = ask(&mut c, at, true).await;
        assert_eq!(decision == Decision::Defer, want.is_some(), "dry run at {at}: {decision:?}");
        assert_eq!(until, want, "dry run at {at}");
    }

    // Booking the DEFER instant itself succeeds, and then that day is full in turn.
    let (decision, _) = ask(&mut c, "2026-06-03T14:00:00Z", false).await;
    assert_ne!(decision, Decision::Defer);
    let (decision, until) = ask(&mut c, "2026-06-02T13:00:00Z", true).await;
    assert_eq!(
        (decision, until),
        (Decision::Defer, Some(ts("2026-06-03T15:00:00Z"))),
        "Tuesday 11:00, 12:00 and Wednesday 10:00 fill the day from Tuesday 11:00 EDT"
    );
}
