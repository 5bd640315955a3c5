//! CheckMessage end to end: the founding case, the decision log, streams,
//! dry runs and hot reload.

use textgate::api::pb::{self, ConsentLevel, Decision, ReasonCode};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::{grant, Client, TestApp};

const CASEWORK: &str = "+13125550100";
/// Tuesday 2026-06-02 10:00 CDT: inside every window.
const MIDDAY: i64 = 1_780_412_400;

pub fn msg(to: &str, body: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: CASEWORK.into(),
        to: to.into(),
        body: body.into(),
        origin: pb::Origin::Person as i32,
        send_at: Some(prost_types::Timestamp { seconds: MIDDAY, nanos: 0 }),
        ..Default::default()
    }
}

pub fn inbound(id: &str, from: &str, body: &str, at: i64) -> pb::ProcessInboundRequest {
    pb::ProcessInboundRequest {
        from: from.into(),
        to: CASEWORK.into(),
        body: body.into(),
        message_id: id.into(),
        received_at: Some(prost_types::Timestamp { seconds: at, nanos: 0 }),
        ..Default::default()
    }
}

async fn decide(c: &mut Client, req: pb::CheckMessageRequest) -> pb::CheckMessageResponse {
    c.check_message(req).await.expect("check").into_inner()
}

#[tokio::test]
async fn founding_case_end_to_end() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;

    // A customer texts first: the employee's reply needs no consent record.
    let r = c
        .process_inbound(inbound("m1", "3125550142", "Hi, is my appointment still on?", MIDDAY - 600))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.intent, r.reply_body.as_str()), (pb::InboundIntent::Message as i32, ""));
    let reply = decide(&mut c, msg("3125550142", "Yes, Tuesday at 10.")).await;
    assert_eq!(reply.decision, Decision::Allow as i32, "{reply:?}");
    assert_eq!(reply.category, pb::MessageCategory::CategoryConversational as i32);

    // An employee starts a conversation with no consent on record.
    let cold = decide(&mut c, msg("3125550199", "Your case file is ready.")).await;
    assert_eq!(cold.decision, Decision::Deny as i32);
    assert_eq!(cold.reasons[0].code, ReasonCode::ReasonConsentRequired as i32);

    // Verbal consent, recorded with who collected it.
    c.record_consent(grant("verbal-1", "3125550199", ConsentLevel::Express)).await.unwrap();
    let first = decide(&mut c, msg("3125550199", "Your case file is ready.")).await;
    assert_eq!(first.decision, Decision::AllowWithChanges as i32, "{first:?}");
    assert!(first.body.ends_with("Reply STOP to opt out."), "{}", first.body);
    assert!(first.body.starts_with("Northside Family Services: "));
    let second = decide(&mut c, msg("3125550199", "Please bring your ID.")).await;
    assert_eq!((second.decision, second.body.as_str()), (Decision::Allow as i32, "Please bring your ID."));

    // "please stop texting me": one confirmation, then every send is denied.
    let stop = c
        .process_inbound(inbound("m2", "3125550199", "please stop texting me", MIDDAY + 60))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stop.intent, pb::InboundIntent::OptOut as i32);
    assert!(stop.reply_body.contains("no more texts"), "{}", stop.reply_body);
    let revoke_id = stop.event.unwrap().event_id;
    let again = c.process_inbound(inbound("m3", "3125550199", "STOP", MIDDAY + 120)).await.unwrap().into_inner();
    assert_eq!(
        (again.intent, again.reply_body.as_str()),
        (pb::InboundIntent::OptOut as i32, ""),
        "no second confirmation"
    );
    let retry = c
        .process_inbound(inbound("m2", "3125550199", "please stop texting me", MIDDAY + 60))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.duplicate);
    let denied = decide(&mut c, msg("3125550199", "Reminder: bring your ID.")).await;
    assert_eq!(denied.decision, Decision::Deny as i32);
    assert_eq!(denied.reasons[0].code, ReasonCode::ReasonOptedOut as i32);
    assert_eq!(denied.reasons[0].consent_event_id, revoke_id);

    // START restores the grant that the opt-out revoked.
    let start = c.process_inbound(inbound("m4", "3125550199", "START", MIDDAY + 180)).await.unwrap().into_inner();
    assert_eq!(start.intent, pb::InboundIntent::OptIn as i32);
    assert!(!start.reply_body.is_empty());
    let back = decide(&mut c, msg("3125550199", "Welcome back.")).await;
    assert!(back.decision == Decision::Allow as i32 || back.decision == Decision::AllowWithChanges as i32, "{back:?}");

    // HELP answers with the tenant's help text and changes nothing.
    let help = c.process_inbound(inbound("m5", "3125550199", "HELP", MIDDAY + 240)).await.unwrap().into_inner();
    assert!(help.reply_body.contains("312-555-0100") && help.event.is_none());
}

#[tokio::test]
async fn decisions_are_logged_and_dry_runs_are_not() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(grant("g", "3125550199", ConsentLevel::Express)).await.unwrap();
    let dry = decide(
        &mut c,
        pb::CheckMessageRequest { dry_run: true, client_ref: "x1".into(), ..msg("3125550199", "Hello") },
    )
    .await;
    assert_eq!((dry.decision, dry.client_ref.as_str(), dry.dry_run), (Decision::AllowWithChanges as i32, "x1", true));
    // The dry run counted nothing: the notice is still due.
    let real = decide(&mut c, msg("3125550199", "Hello")).await;
    assert_eq!(real.decision, Decision::AllowWithChanges as i32);
    assert!(!real.policy_version.is_empty());
    let get = |id: &str| pb::GetDecisionRequest { decision_id: id.into(), ..Default::default() };
    let rec = c.get_decision(get(&real.decision_id)).await.unwrap().into_inner();
    let req = rec.request.unwrap();
    let keyed = |d: &str| d.strip_prefix("hmac-sha256:").is_some_and(|h| h.len() == 64);
    assert!(keyed(&req.body), "the body is stored as its keyed digest only: {}", req.body);
    use sha2::Digest as _;
    let plain = hex::encode(sha2::Sha256::digest(b"Hello"));
    assert!(!req.body.contains(&plain), "not the plain SHA-256, which hashing every short body reverses");
    let logged = rec.response.unwrap();
    assert_eq!(logged.reasons, real.reasons);
    // An auditor holding the store's key checks candidate bodies.
    let data = app.data_dir();
    assert_eq!(req.body, body_digest(&data, "northside", "Hello"), "the request's body");
    assert_ne!(req.body, body_digest(&data, "northside", "Hello!"), "another body");
    assert_eq!(logged.body, body_digest(&data, "northside", &real.body), "the answer's body");
    assert!(real.body.ends_with("Reply STOP to opt out."), "the caller gets the body itself: {}", real.body);
    assert_eq!(c.get_decision(get(&dry.decision_id)).await.unwrap_err().code(), Code::NotFound);
}

/// `textgate body-digest` of `body` for `tenant`, from the store's key.
fn body_digest(data_dir: &std::path::Path, tenant: &str, body: &str) -> String {
    use std::io::Write as _;
    let mut child = crate::process::textgate()
        .args(["body-digest", "--tenant", tenant, "--data-dir"])
        .arg(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "body-digest exits 0");
    String::from_utf8(out.stdout).unwrap().trim_end().to_string()
}

/// An id says when, never where: the part after the instant of consecutive
/// decisions is not the log's growing offset, so no caller can count the
/// decisions logged between its own (any tenant's) or see a restart.
#[tokio::test]
async fn decision_ids_do_not_show_the_logs_offsets() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            decide(&mut c, pb::CheckMessageRequest { client_ref: format!("o{i}"), ..msg("3125550197", "Hi") })
                .await
                .decision_id,
        );
    }
    assert!(ids.iter().all(|id| id.starts_with("d1-") && id.len() == 35), "{ids:?}");
    let tails: Vec<u128> = ids.iter().map(|id| u128::from_str_radix(&id[17..], 16).unwrap()).collect();
    let rising = tails.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(rising < tails.len() - 1, "the locator parts rise one by one, like offsets: {ids:?}");
    let gaps: std::collections::HashSet<u128> = tails.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(gaps.len() > 10, "equal records, equal gaps: offsets in the clear: {ids:?}");
    let mut tampered = ids[3].clone();
    let flip = if tampered.as_bytes()[25] == b'a' { "b" } else { "a" };
    tampered.replace_range(25..26, flip);
    let get = pb::GetDecisionRequest { decision_id: tampered, ..Default::default() };
    assert_eq!(c.get_decision(get).await.unwrap_err().code(), Code::NotFound, "a tampered id");
}

#[tokio::test]
async fn logged_decisions_are_read_back_after_a_restart() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(grant("g", "3125550198", ConsentLevel::Express)).await.unwrap();
    let mut made = Vec::new();
    for i in 0..200 {
        let r =
            decide(&mut c, pb::CheckMessageRequest { client_ref: format!("r{i}"), ..msg("3125550198", "Hello") }).await;
        made.push(r);
    }
    let ids: std::collections::HashSet<_> = made.iter().map(|r| r.decision_id.clone()).collect();
    assert_eq!(ids.len(), made.len(), "every decision has its own id");
    assert!(made.windows(2).all(|w| w[0].decision_id < w[1].decision_id), "ids sort by decision time");
    let dir = app.stop().await;
    let app = TestApp::spawn_with(textgate::config::Config::demo(), dir).await;
    let mut c = app.client().await;
    for r in made.iter().step_by(7) {
        let get = pb::GetDecisionRequest { decision_id: r.decision_id.clone(), ..Default::default() };
        let rec = c.get_decision(get).await.expect("logged before the restart").into_inner();
        assert_eq!(rec.decision_id, r.decision_id);
        let resp = rec.response.expect("response");
        assert_eq!(
            (resp.decision_id.as_str(), resp.client_ref.as_str()),
            (r.decision_id.as_str(), r.client_ref.as_str())
        );
        assert_eq!(rec.request.expect("request").client_ref, r.client_ref);
    }
    let after = decide(&mut c, msg("3125550198", "Hello")).await;
    assert!(after.decision_id > made.last().unwrap().decision_id, "ids keep sorting after a restart");
    let mut forged = made[0].decision_id.clone();
    forged.replace_range(forged.len() - 1.., if forged.ends_with('0') { "1" } else { "0" });
    let get = pb::GetDecisionRequest { decision_id: forged, ..Default::default() };
    assert_eq!(c.get_decision(get).await.unwrap_err().code(), Code::NotFound, "an id it did not hand out");
}

#[tokio::test]
async fn bad_check_requests_name_the_field() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let cases: Vec<(&str, pb::CheckMessageRequest)> = vec![
        ("to", msg("12345", "hi")),
        ("from", pb::CheckMessageRequest { from: "nope".into(), ..msg("3125550199", "hi") }),
        ("body", msg("3125550199", "")),
        ("body", msg("3125550199", &"x".repeat(1601))),
        ("origin", pb::CheckMessageRequest { origin: 9, ..msg("3125550199", "hi") }),
        ("category", pb::CheckMessageRequest { category: 9, ..msg("3125550199", "hi") }),
        ("recipient_state", pb::CheckMessageRequest { recipient_state: "Florida".into(), ..msg("3125550199", "hi") }),
        (
            "recipient_time_zone",
            pb::CheckMessageRequest { recipient_time_zone: "Mars/Base".into(), ..msg("3125550199", "hi") },
        ),
        (
            "send_at",
            pb::CheckMessageRequest {
                send_at: Some(prost_types::Timestamp { seconds: -5, nanos: 0 }),
                ..msg("3125550199", "hi")
            },
        ),
        ("consistency_token", pb::CheckMessageRequest { consistency_token: "abc".into(), ..msg("3125550199", "hi") }),
    ];
    for (field, req) in cases {
        let err = c.check_message(req).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(err.message().starts_with(field), "{field}: {}", err.message());
    }
    // A campaign the sender is not registered to is a decision, not bad input.
    let other =
        decide(&mut c, pb::CheckMessageRequest { campaign_id: "fundraising".into(), ..msg("3125550199", "hi") }).await;
    assert_eq!(
        (other.decision, other.reasons[0].code),
        (Decision::Deny as i32, ReasonCode::ReasonSenderNotRegistered as i32)
    );
}

#[tokio::test]
async fn stream_of_decisions_echoes_client_refs() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(grant("g", "3125550199", ConsentLevel::Express)).await.unwrap();
    let reqs: Vec<_> = (0..50)
        .map(|i| pb::CheckMessageRequest {
            client_ref: format!("r{i}"),
            ..msg(if i % 2 == 0 { "3125550199" } else { "3125550142" }, "Update on your case")
        })
        .collect();
    let mut out = c.check_messages(tokio_stream::iter(reqs)).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(r) = out.next().await {
        let r = r.unwrap();
        let want =
            if r.client_ref.trim_start_matches('r').parse::<u32>().unwrap() % 2 == 0 { "allowed" } else { "denied" };
        let got = if r.decision == Decision::Deny as i32 { "denied" } else { "allowed" };
        assert_eq!(got, want, "{r:?}");
        seen.push(r.client_ref);
    }
    assert_eq!(seen.len(), 50);

    let bad =
        vec![msg("3125550199", "ok"), pb::CheckMessageRequest { client_ref: "bad-one".into(), ..msg("123", "x") }];
    let mut out = c.check_messages(tokio_stream::iter(bad)).await.unwrap().into_inner();
    assert!(out.next().await.unwrap().is_ok());
    let err = out.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("bad-one") && err.message().contains("to"), "{}", err.message());
}

#[tokio::test]
async fn policy_reloads_when_the_file_changes_and_a_bad_file_keeps_the_old_one() {
    use textgate::config::DEMO_TOML;
    let (app, path) = TestApp::spawn_watching(DEMO_TOML).await;
    let mut c = app.client().await;
    c.record_consent(grant("g", "3125550199", ConsentLevel::Express)).await.unwrap();
    let dry = || pb::CheckMessageRequest { dry_run: true, ..msg("3125550199", "Hello") };
    let before = c.check_message(dry()).await.unwrap().into_inner();
    assert!(before.body.ends_with("Reply STOP to opt out."));

    let poll = |want: &'static str| {
        let mut c = c.clone();
        async move {
            for _ in 0..100 {
                let r = c.check_message(dry()).await.unwrap().into_inner();
                if r.body.ends_with(want) {
                    return r;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("policy never reloaded to {want:?}");
        }
    };
    std::fs::write(
        &path,
        DEMO_TOML.replace("opt_out_notice = \"Reply STOP to opt out.\"", "opt_out_notice = \"Text STOP to opt out.\""),
    )
    .unwrap();
    let after = poll("Text STOP to opt out.").await;
    assert_ne!(after.policy_version, before.policy_version);

    // Wait for the failed reload itself (its counter), not for a fixed time:
    // a check after a sleep would pass as well if the reload never ran.
    std::fs::write(&path, "this is not toml = = =").unwrap();
    let failed = r#"textgate_policy_reloads_total{result="error"} 1"#;
    let mut seen = false;
    for _ in 0..100 {
        if crate::helpers::http_get(app.admin, "/metrics").await.1.lines().any(|l| l == failed) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the bad file was never read");
    let kept = c.check_message(dry()).await.unwrap().into_inner();
    assert_eq!(kept.policy_version, after.policy_version, "a bad file keeps the old policy");
    drop(c);
    app.stop().await;
}

/// Many streams on one connection, each sending all its messages before
/// reading an answer: the server must buffer them, not close the connection
/// (h2 counts buffered small DATA frames against a budget tied to the
/// connection window).
#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_streams_on_one_connection_all_complete() {
    let app = TestApp::spawn().await;
    let c = app.client().await;
    let streams: Vec<_> = (0..64)
        .map(|s| {
            let mut c = c.clone();
            tokio::spawn(async move {
                let reqs: Vec<_> = (0..100)
                    .map(|i| pb::CheckMessageRequest {
                        client_ref: format!("s{s}-{i}"),
                        dry_run: true,
                        ..msg("3125550199", "Update on your case")
                    })
                    .collect();
                // One DATA frame per message, as grpc-go clients send them.
                let paced = tokio_stream::iter(reqs).then(|r| async {
                    tokio::task::yield_now().await;
                    r
                });
                let mut out = c.check_messages(paced).await?.into_inner();
                let mut n = 0;
                while let Some(r) = out.next().await {
                    r?;
                    n += 1;
                }
                Ok::<_, tonic::Status>(n)
            })
        })
        .collect();
    for (s, task) in streams.into_iter().enumerate() {
        assert_eq!(task.await.expect("stream task").map_err(|e| e.to_string()), Ok(100), "stream {s}");
    }
}
