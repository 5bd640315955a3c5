//! Reassigned Numbers Database answers end to end: RecordReassignedCheck,
//! `rnd-load`, and what CheckMessage makes of them (`consent.reassigned`,
//! `consent.rnd_check_due`).

use textgate::api::pb::{self, ConsentLevel, Decision, ReasonCode, RndAnswer};
use textgate::config::Config;
use tonic::Code;

use crate::helpers::{grant, list_all, Client, TestApp};

const CASEWORK: &str = "+13125550100";

fn at(rfc3339: &str) -> Option<prost_types::Timestamp> {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    Some(prost_types::Timestamp { seconds: t.as_second(), nanos: 0 })
}

/// Tuesday 2026-12-01 10:00 in Chicago: inside every window, in the RND
/// cycle that started on 2026-11-16.
const SEND: &str = "2026-12-01T16:00:00Z";

fn check(to: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: CASEWORK.into(),
        to: to.into(),
        body: "Your appointment is Tuesday at 10am.".into(),
        origin: pb::Origin::Automated as i32,
        send_at: at(SEND),
        ..Default::default()
    }
}

fn answer(id: &str, phone: &str, a: RndAnswer, disconnected: Option<&str>) -> pb::ReassignedCheck {
    pb::ReassignedCheck {
        event_id: id.into(),
        phone: phone.into(),
        queried_at: at("2026-11-20T09:00:00Z"),
        answer: a as i32,
        disconnected_at: disconnected.and_then(at),
        reference: format!("rnd-query-{id}"),
    }
}

async fn old_grant(c: &mut Client, id: &str, phone: &str, when: &str) {
    let req = pb::RecordConsentRequest { occurred_at: at(when), ..grant(id, phone, ConsentLevel::Express) };
    c.record_consent(req).await.expect("grant");
}

fn codes(r: &pb::CheckMessageResponse) -> Vec<(ReasonCode, &str, &str)> {
    r.reasons.iter().map(|r| (r.code(), r.rule_id.as_str(), r.consent_event_id.as_str())).collect()
}

async fn decide(c: &mut Client, req: pb::CheckMessageRequest) -> pb::CheckMessageResponse {
    c.check_message(req).await.expect("check").into_inner()
}

// Long: one scenario over a restart: each answer, the batch's idempotency, refusals, the audit trail.
#[tokio::test]
async fn yes_voids_earlier_consent_no_and_no_data_count_as_checked() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let (yes, no, no_data, unchecked) = ("3125550191", "3125550192", "3125550193", "3125550194");
    for (i, p) in [yes, no, no_data, unchecked].into_iter().enumerate() {
        old_grant(&mut c, &format!("g{i}"), p, "2026-01-05T15:00:00Z").await;
    }
    let batch = pb::RecordReassignedCheckRequest {
        results: vec![
            answer("rnd-yes", yes, RndAnswer::Yes, Some("2026-06-01T00:00:00Z")),
            answer("rnd-no", no, RndAnswer::No, None),
            answer("rnd-nodata", no_data, RndAnswer::NoData, None),
        ],
        ..Default::default()
    };
    let first = c.record_reassigned_check(batch.clone()).await.expect("record").into_inner();
    assert_eq!(first.results.len(), 3);
    assert!(first.results.iter().all(|r| !r.duplicate) && !first.consistency_token.is_empty());

    // YES: the grant of January was the previous owner's.
    let d = decide(&mut c, check(yes)).await;
    assert_eq!(d.decision(), Decision::Deny, "{d:?}");
    assert_eq!(codes(&d), [(ReasonCode::ReasonReassignedNumber, "consent.reassigned", "rnd-yes")]);
    // NO and NO DATA: allowed, and no check is due this cycle.
    for p in [no, no_data] {
        let d = decide(&mut c, check(p)).await;
        assert!(matches!(d.decision(), Decision::Allow | Decision::AllowWithChanges), "{p}: {d:?}");
        assert!(!codes(&d).iter().any(|r| r.0 == ReasonCode::ReasonRndCheckDue), "{p}: {d:?}");
    }
    // Never checked: allowed with the warning, citing the grant relied on.
    let d = decide(&mut c, check(unchecked)).await;
    assert!(matches!(d.decision(), Decision::Allow | Decision::AllowWithChanges), "{d:?}");
    assert!(codes(&d).contains(&(ReasonCode::ReasonRndCheckDue, "consent.rnd_check_due", "g3")), "{d:?}");
    // A conversational reply (the person texted first) is not business-initiated.
    let inbound = pb::ProcessInboundRequest {
        from: unchecked.into(),
        to: CASEWORK.into(),
        body: "is my appointment still on?".into(),
        message_id: "in-1".into(),
        received_at: at("2026-12-01T15:30:00Z"),
        ..Default::default()
    };
    c.process_inbound(inbound).await.expect("inbound");
    let reply = decide(&mut c, pb::CheckMessageRequest { origin: pb::Origin::Person as i32, ..check(unchecked) }).await;
    assert_eq!(reply.category(), pb::MessageCategory::CategoryConversational);
    assert!(codes(&reply).is_empty(), "{reply:?}");

    // The same batch again: every answer once.
    let again = c.record_reassigned_check(batch).await.expect("retry").into_inner();
    assert!(again.results.iter().all(|r| r.duplicate));
    let seqs = |r: &pb::RecordReassignedCheckResponse| {
        r.results.iter().map(|x| x.event.as_ref().unwrap().sequence).collect::<Vec<_>>()
    };
    assert_eq!(seqs(&again), seqs(&first));

    // One bad answer refuses the call, naming it; nothing of it is recorded.
    let bad = pb::RecordReassignedCheckRequest {
        results: vec![
            answer("rnd-ok", no, RndAnswer::No, None),
            answer("rnd-bad", no, RndAnswer::No, Some("2026-06-01T00:00:00Z")),
        ],
        ..Default::default()
    };
    let err = c.record_reassigned_check(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("results[1].disconnected_at"), "{}", err.message());
    let err = c.record_reassigned_check(pb::RecordReassignedCheckRequest::default()).await.unwrap_err();
    assert!(err.message().starts_with("results:"), "{}", err.message());
    assert!(!list_all(&mut c, "").await.iter().any(|e| e.event_id == "rnd-ok"));
    // RecordConsent does not take RND answers.
    let as_consent = pb::RecordConsentRequest {
        action: pb::ConsentAction::RndCheck as i32,
        ..grant("rnd-via-consent", yes, ConsentLevel::Express)
    };
    assert_eq!(c.record_consent(as_consent).await.unwrap_err().code(), Code::InvalidArgument);

    // After a restart: the ledger shows the answer, the consent view both markers,
    // and the present owner's new consent counts.
    drop(c);
    let dir = app.stop().await;
    // The stopped store verifies: RND events re-derive the states they left.
    let out = crate::process::textgate().arg("verify").arg("--data-dir").arg(dir.path().join("data")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let app = TestApp::spawn_with(Config::demo(), dir).await;
    let mut c = app.client().await;
    let events = list_all(&mut c, yes).await;
    let e = events.iter().find(|e| e.event_id == "rnd-yes").expect("the RND event is in the ledger");
    assert_eq!(e.action(), pb::ConsentAction::RndCheck);
    let rnd = e.rnd_check.as_ref().expect("rnd_check");
    assert_eq!(
        (rnd.answer(), rnd.disconnected_at, rnd.reference.as_str()),
        (RndAnswer::Yes, at("2026-06-01T00:00:00Z"), "rnd-query-rnd-yes")
    );
    assert_eq!(e.occurred_at, at("2026-11-20T09:00:00Z"));
    let view =
        c.get_consent(pb::GetConsentRequest { phone: yes.into(), ..Default::default() }).await.unwrap().into_inner();
    assert!(view.scopes.is_empty(), "the voided grant is gone: {view:?}");
    assert_eq!(
        view.rnd_disconnected.as_ref().map(|m| (m.event_id.as_str(), m.since)),
        Some(("rnd-yes", at("2026-06-01T00:00:00Z")))
    );
    assert_eq!(view.rnd_checked.as_ref().map(|r| r.answer()), Some(RndAnswer::Yes));
    old_grant(&mut c, "new-owner", yes, "2026-11-25T15:00:00Z").await;
    let d = decide(&mut c, check(yes)).await;
    assert!(matches!(d.decision(), Decision::Allow | Decision::AllowWithChanges), "{d:?}");
}

#[tokio::test]
async fn a_strict_tenant_denies_until_the_number_is_checked_this_cycle() {
    let mut config = Config::demo();
    config.tenants.get_mut("northside").unwrap().policy.rnd_check_required = true;
    let app = TestApp::spawn_with(config, tempfile::TempDir::new().unwrap()).await;
    let mut c = app.client().await;
    let p = "3125550195";
    old_grant(&mut c, "g", p, "2026-01-05T15:00:00Z").await;
    let d = decide(&mut c, check(p)).await;
    assert_eq!(d.decision(), Decision::Deny, "{d:?}");
    assert_eq!(codes(&d), [(ReasonCode::ReasonRndCheckDue, "consent.rnd_check_due", "g")]);
    // An answer from the cycle before does not do.
    let mut last_cycle = answer("rnd-oct", p, RndAnswer::No, None);
    last_cycle.queried_at = at("2026-11-15T09:00:00Z");
    let req = pb::RecordReassignedCheckRequest { results: vec![last_cycle], ..Default::default() };
    c.record_reassigned_check(req).await.unwrap();
    assert_eq!(decide(&mut c, check(p)).await.decision(), Decision::Deny);
    let req = pb::RecordReassignedCheckRequest {
        results: vec![answer("rnd-nov", p, RndAnswer::No, None)],
        ..Default::default()
    };
    c.record_reassigned_check(req).await.unwrap();
    let d = decide(&mut c, check(p)).await;
    assert!(matches!(d.decision(), Decision::Allow | Decision::AllowWithChanges), "{d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rnd_load_reads_a_csv_reports_bad_rows_by_line_and_loads_once() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rnd.csv");
    std::fs::write(
        &file,
        "event_id,phone,queried_at,answer,disconnected_at\n\
         l1,3125550181,2026-11-20,yes,2026-06-01\n\
         l2,3125550182,2026-11-20T09:00:00Z,no,\n\
         l3,not-a-number,2026-11-20,no,\n\
         l4,3125550184,2026-11-20,perhaps,\n\
         l5,3125550185,2026-11-20,no data,\n",
    )
    .unwrap();
    let server = format!("http://{}", app.addr);
    let run = || {
        crate::process::textgate()
            .args(["rnd-load", "--server", &server, "--format", "csv"])
            .arg(&file)
            .output()
            .unwrap()
    };
    // Blocking is fine: the server runs on the runtime's other worker.
    let out = run();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "a refused row exits 1: {stdout} {stderr}");
    assert!(stderr.contains("rnd.csv:4: results[") && stderr.contains(".phone"), "{stderr}");
    assert!(stderr.contains("rnd.csv:5: answer"), "{stderr}");
    assert!(stdout.contains("3 answers recorded (0 already on record), 2 rows refused"), "{stdout}");
    let out = run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 answers recorded (3 already on record)"));
    // Answers of one call share fsyncs and reach the ledger in any order.
    let mut ids: Vec<String> = list_all(&mut c, "").await.into_iter().map(|e| e.event_id).collect();
    ids.sort();
    assert_eq!(ids, ["l1", "l2", "l5"]);
}
