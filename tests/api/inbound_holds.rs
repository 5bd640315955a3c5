//! Wrong-number reports and review holds through the real server
//! (compliance-rules §2.9, §7.3): what ProcessInbound records, what
//! CheckMessage then decides, and what GetConsent shows.

use textgate::api::pb::{self, ConsentAction, ConsentLevel, Decision, InboundIntent, ReasonCode};
use textgate::config::Config;
use tonic::Code;

use crate::decisions::{inbound, msg};
use crate::helpers::{grant, list_all, revoke, Client, TestApp};

/// Tuesday 2026-06-02 10:00 CDT: inside every window.
const AT: i64 = 1_780_412_400;
const DAY: i64 = 86_400;
const PHONE: &str = "3125550177";
const FUNDRAISING: &str = "+13125550101";

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// A tenant-wide EXPRESS_WRITTEN web-form grant collected at `at`.
fn written_grant(id: &str, at: i64, source: pb::ConsentSource) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        occurred_at: ts(at),
        source: source as i32,
        ..grant(id, PHONE, ConsentLevel::ExpressWritten)
    }
}

fn automated(at: i64) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        origin: pb::Origin::Automated as i32,
        send_at: ts(at),
        ..msg(PHONE, "Your file is ready")
    }
}

fn promotional(at: i64) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: FUNDRAISING.into(),
        category: pb::MessageCategory::CategoryPromotional as i32,
        send_at: ts(at),
        ..msg(PHONE, "Northside: our spring appeal is on")
    }
}

async fn decide(c: &mut Client, req: pb::CheckMessageRequest) -> pb::CheckMessageResponse {
    c.check_message(pb::CheckMessageRequest { dry_run: true, ..req }).await.expect("check").into_inner()
}

#[tokio::test]
async fn a_wrong_number_voids_earlier_consent_for_good() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(written_grant("form-1", AT - 30 * DAY, pb::ConsentSource::WebForm)).await.unwrap();
    assert_ne!(decide(&mut c, promotional(AT + 60)).await.decision, Decision::Deny as i32);

    let r = c.process_inbound(inbound("w1", PHONE, "sorry, this isn't Maria", AT)).await.unwrap().into_inner();
    assert_eq!(r.intent, InboundIntent::WrongNumber as i32);
    let event = r.event.expect("a revocation is recorded");
    assert_eq!((event.action, event.possible_reassignment), (ConsentAction::Revoke as i32, true));
    assert!(!r.reply_body.is_empty(), "confirmed once, like an opt-out");
    assert_eq!(r.consent.and_then(|v| v.reassignment).map(|m| m.event_id), Some(event.event_id.clone()));

    // The old form, imported after the report, changes nothing.
    c.record_consent(written_grant("import-1", AT - 60 * DAY, pb::ConsentSource::Import)).await.unwrap();
    for req in [automated(AT + 60), promotional(AT + 60)] {
        let d = decide(&mut c, req).await;
        assert_eq!(d.decision, Decision::Deny as i32, "{d:?}");
        let reason = &d.reasons[0];
        assert_eq!((reason.code, reason.rule_id.as_str()), (ReasonCode::ReasonOptedOut as i32, "inbound.wrong_number"));
        assert_eq!(reason.consent_event_id, event.event_id);
        assert!(reason.message.contains("wrong number"), "{}", reason.message);
    }

    // START from the number's new owner is their own consent: it does not
    // bring back the previous owner's written consent.
    let start = c.process_inbound(inbound("w2", PHONE, "START", AT + 120)).await.unwrap().into_inner();
    assert_eq!(start.intent, InboundIntent::OptIn as i32);
    assert_ne!(decide(&mut c, automated(AT + 180)).await.decision, Decision::Deny as i32);
    let promo = decide(&mut c, promotional(AT + 180)).await;
    assert_eq!(promo.decision, Decision::Deny as i32, "{promo:?}");
    assert_eq!(promo.reasons[0].code, ReasonCode::ReasonConsentInsufficient as i32, "{promo:?}");
}

#[tokio::test]
async fn an_agent_records_a_possible_reassignment_for_the_whole_number_only() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(written_grant("form-1", AT - 30 * DAY, pb::ConsentSource::WebForm)).await.unwrap();
    let report =
        pb::RecordConsentRequest { possible_reassignment: true, occurred_at: ts(AT), ..revoke("rnd-1", PHONE) };
    let scoped = pb::RecordConsentRequest {
        scope: Some(pb::ConsentScope { campaign_id: "casework".into(), sender: String::new() }),
        ..report.clone()
    };
    let err = c.record_consent(scoped).await.expect_err("a scoped reassignment");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("scope"), "{}", err.message());
    let granted = pb::RecordConsentRequest { possible_reassignment: true, ..grant("g", PHONE, ConsentLevel::Express) };
    assert_eq!(c.record_consent(granted).await.expect_err("a grant").code(), Code::InvalidArgument);

    let r = c.record_consent(report).await.unwrap().into_inner();
    assert!(r.event.expect("event").possible_reassignment);
    let listed = list_all(&mut c, PHONE).await;
    assert_eq!(listed.iter().map(|e| e.possible_reassignment).collect::<Vec<_>>(), [false, true]);
    // A START does not restore the grant the report voided.
    c.process_inbound(inbound("s1", PHONE, "START", AT + 60)).await.unwrap();
    let promo = decide(&mut c, promotional(AT + 120)).await;
    assert_eq!(promo.reasons[0].code, ReasonCode::ReasonConsentInsufficient as i32, "{promo:?}");
}

#[tokio::test]
async fn an_ambiguous_text_holds_automated_and_promotional_sends_until_resolved_or_expired() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(written_grant("form-1", AT - DAY, pb::ConsentSource::WebForm)).await.unwrap();

    let plain = c.process_inbound(inbound("m0", PHONE, "I'll stop by at 3", AT - 600)).await.unwrap().into_inner();
    assert_eq!((plain.intent, plain.event.is_some()), (InboundIntent::Message as i32, false));

    let r = c.process_inbound(inbound("m1", PHONE, "Not interested.", AT)).await.unwrap().into_inner();
    assert_eq!(r.intent, InboundIntent::Review as i32);
    assert!(r.reply_body.is_empty(), "an agent answers, not the system");
    let hold = r.event.expect("the hold is a ledger event");
    assert_eq!(hold.action, ConsentAction::ReviewHold as i32);

    let view = c.get_consent(pb::GetConsentRequest { phone: PHONE.into(), ..Default::default() }).await;
    let shown = view.unwrap().into_inner().review_hold.expect("GetConsent shows the hold");
    assert_eq!((shown.event_id.as_str(), shown.matched.as_str()), (hold.event_id.as_str(), "NOT INTERESTED"));
    assert_eq!((shown.since, shown.until), (ts(AT), ts(AT + DAY)));

    for req in [automated(AT + 600), promotional(AT + 600)] {
        let d = decide(&mut c, req).await;
        assert_eq!(d.decision, Decision::Deny as i32, "{d:?}");
        let reason = &d.reasons[0];
        assert_eq!(
            (reason.code, reason.rule_id.as_str()),
            (ReasonCode::ReasonReviewHold as i32, "inbound.review_hold")
        );
        assert_eq!(reason.consent_event_id, hold.event_id);
    }
    // The agent may still answer inside the conversation.
    let reply = pb::CheckMessageRequest { send_at: ts(AT + 600), ..msg(PHONE, "Sorry to bother you, shall we stop?") };
    let d = decide(&mut c, reply).await;
    assert_ne!(d.decision, Decision::Deny as i32, "{d:?}");
    // Unresolved, the hold ends after the tenant's review_hold (24h).
    assert_ne!(decide(&mut c, automated(AT + DAY + 60)).await.decision, Decision::Deny as i32);

    // It is durable: after a restart it still holds.
    let dir = app.stop().await;
    let app = TestApp::spawn_with(Config::demo(), dir).await;
    let mut c = app.client().await;
    let d = decide(&mut c, automated(AT + 900)).await;
    assert_eq!(d.reasons.first().map(|r| r.code), Some(ReasonCode::ReasonReviewHold as i32), "{d:?}");

    // An agent's grant resolves it.
    let confirm = pb::RecordConsentRequest {
        occurred_at: ts(AT + 1_200),
        source: pb::ConsentSource::AgentAttestation as i32,
        ..grant("agent-1", PHONE, ConsentLevel::ExpressWritten)
    };
    let after = c.record_consent(confirm).await.unwrap().into_inner();
    assert!(after.consent.expect("view").review_hold.is_none());
    assert_ne!(decide(&mut c, automated(AT + 1_500)).await.decision, Decision::Deny as i32);
    let actions: Vec<i32> = list_all(&mut c, PHONE).await.iter().map(|e| e.action).collect();
    let want = [ConsentAction::Grant, ConsentAction::ReviewHold, ConsentAction::Grant].map(|a| a as i32);
    assert_eq!(actions, want);
}

#[tokio::test]
async fn an_agent_revocation_resolves_a_hold_and_agents_cannot_record_one() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let req = pb::RecordConsentRequest { action: ConsentAction::ReviewHold as i32, ..revoke("h1", PHONE) };
    let err = c.record_consent(req).await.expect_err("REVIEW_HOLD from an agent");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("action"), "{}", err.message());

    c.record_consent(written_grant("form-1", AT - DAY, pb::ConsentSource::WebForm)).await.unwrap();
    c.process_inbound(inbound("m1", PHONE, "how did u get my number??", AT)).await.unwrap();
    let stop = pb::RecordConsentRequest { occurred_at: ts(AT + 60), ..revoke("agent-stop", PHONE) };
    let after = c.record_consent(stop).await.unwrap().into_inner();
    assert!(after.consent.expect("view").review_hold.is_none());
    let d = decide(&mut c, automated(AT + 600)).await;
    assert_eq!(d.reasons[0].code, ReasonCode::ReasonOptedOut as i32, "{d:?}");
}

/// Replies in the person's language (Spanish configured in the demo tenant),
/// the default elsewhere; the response and the event name the language.
#[tokio::test]
async fn replies_are_in_the_language_of_the_text_when_the_tenant_has_it() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    // (text, intent, language, reply starts with)
    let table = [
        ("ALTO por favor", InboundIntent::OptOut, "es", "Northside Family Services: no recibirá"),
        ("número equivocado", InboundIntent::WrongNumber, "es", "Northside Family Services: no recibirá"),
        ("ayuda", InboundIntent::Help, "es", "Northside Family Services: para ayuda"),
        ("STOP", InboundIntent::OptOut, "en", "Northside Family Services: you will receive"),
        ("ARRET", InboundIntent::OptOut, "en", "Northside Family Services: you will receive"),
    ];
    for (i, (body, intent, language, reply)) in table.into_iter().enumerate() {
        let from = format!("+1312555{:04}", 400 + i);
        let r = c.process_inbound(inbound(&format!("l{i}"), &from, body, AT)).await.unwrap().into_inner();
        assert_eq!((r.intent, r.language.as_str()), (intent as i32, language), "{body:?}");
        assert!(r.reply_body.starts_with(reply), "{body:?}: {}", r.reply_body);
        if let Some(e) = r.event {
            let extra = e.evidence.unwrap_or_default().extra;
            assert_eq!(extra.get("reply_language").map(String::as_str), Some(language), "{body:?}");
        }
    }
    // A tenant with no Spanish replies answers in its default language.
    let app = TestApp::spawn_toml(crate::helpers::TWO_TENANTS).await;
    let mut c = app.client_with(Some("southside-token")).await;
    let req = pb::ProcessInboundRequest { to: "+17735550100".into(), ..inbound("b1", PHONE, "BAJA", AT) };
    let r = c.process_inbound(req).await.unwrap().into_inner();
    assert_eq!((r.language.as_str(), r.reply_body.as_str()), ("en", "Southside: unsubscribed."));
}
