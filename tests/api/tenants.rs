//! Tenants are sealed off, RPC by RPC: a token bound to northside never reads,
//! lists or writes southside's data. Naming southside is PERMISSION_DENIED;
//! naming nobody acts as northside and sees none of southside's data. The
//! southside token is configured as a SHA-256 hash, so hashed tokens are
//! exercised end to end too.

use textgate::api::pb::{self, ConsentLevel, Decision, InboundIntent, ReasonCode};
use tonic::Code;

use crate::helpers::{grant, list_all, Client, TestApp, TWO_TENANTS};

/// Southside's sender and the people it texts.
const SOUTH_SENDER: &str = "+17735550100";
const PERSON: &str = "+13125550199";
const TEXTER: &str = "+13125550142";
/// Tuesday 2026-06-02 10:00 CDT.
const MIDDAY: i64 = 1_780_412_400;

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn check(from: &str, to: &str, tenant: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        tenant_id: tenant.into(),
        from: from.into(),
        to: to.into(),
        body: "Your appointment is on Tuesday.".into(),
        origin: pb::Origin::Person as i32,
        send_at: at(MIDDAY),
        ..Default::default()
    }
}

fn inbound(tenant: &str, to: &str, message_id: &str, body: &str) -> pb::ProcessInboundRequest {
    pb::ProcessInboundRequest {
        tenant_id: tenant.into(),
        from: TEXTER.into(),
        to: to.into(),
        body: body.into(),
        received_at: at(MIDDAY - 60),
        message_id: message_id.into(),
    }
}

fn consent_of(tenant: &str, phone: &str) -> pb::GetConsentRequest {
    pb::GetConsentRequest { tenant_id: tenant.into(), phone: phone.into(), ..Default::default() }
}

/// Southside's state as southside sees it: its ledger, the two numbers'
/// consent, one logged decision.
async fn snapshot(
    south: &mut Client,
    decision_id: &str,
) -> (Vec<pb::ConsentEvent>, Vec<pb::ConsentView>, pb::DecisionRecord) {
    let events = list_all(south, "").await;
    let mut views = Vec::new();
    for phone in [PERSON, TEXTER] {
        views.push(south.get_consent(consent_of("", phone)).await.expect("southside reads its own").into_inner());
    }
    let req = pb::GetDecisionRequest { decision_id: decision_id.into(), ..Default::default() };
    (events, views, south.get_decision(req).await.expect("its own decision").into_inner())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_bound_token_never_reaches_another_tenants_data() {
    let hashed = textgate::api::auth::hash_token("southside-token");
    let config =
        TWO_TENANTS.replacen("\"southside-token\" = \"southside\"", &format!("\"{hashed}\" = \"southside\""), 1);
    assert_ne!(config, TWO_TENANTS, "TWO_TENANTS no longer has the southside token");
    assert!(!config.contains("southside-token"), "the file holds only the hash");
    let app = TestApp::spawn_toml(&config).await;
    let mut south = app.client_with(Some("southside-token")).await;
    let mut north = app.client_with(Some("northside-token")).await;

    // Arrange: southside's data — a grant, an inbound STOP, a logged decision.
    south.record_consent(grant("south-1", PERSON, ConsentLevel::Express)).await.expect("southside writes");
    let stop = south.process_inbound(inbound("", SOUTH_SENDER, "m-1", "STOP")).await.expect("inbound").into_inner();
    assert_eq!(stop.intent, InboundIntent::OptOut as i32);
    let made = south.check_message(check(SOUTH_SENDER, PERSON, "")).await.expect("southside decides").into_inner();
    let before = snapshot(&mut south, &made.decision_id).await;
    assert_eq!(before.0.len(), 2);

    // Naming southside: PERMISSION_DENIED on every RPC, naming tenant_id.
    let denied = |r: Result<(), tonic::Status>, rpc: &str| {
        let e = r.expect_err(rpc);
        assert_eq!(e.code(), Code::PermissionDenied, "{rpc}: {e:?}");
        assert!(e.message().starts_with("tenant_id:"), "{rpc}: {e:?}");
    };
    let mut foreign_grant = grant("north-x", PERSON, ConsentLevel::ExpressWritten);
    foreign_grant.tenant_id = "southside".into();
    denied(north.record_consent(foreign_grant).await.map(drop), "RecordConsent");
    denied(north.check_message(check(SOUTH_SENDER, PERSON, "southside")).await.map(drop), "CheckMessage");
    denied(north.process_inbound(inbound("southside", SOUTH_SENDER, "m-2", "START")).await.map(drop), "ProcessInbound");
    denied(north.get_consent(consent_of("southside", PERSON)).await.map(drop), "GetConsent");
    let list = pb::ListConsentEventsRequest { tenant_id: "southside".into(), ..Default::default() };
    denied(north.list_consent_events(list).await.map(drop), "ListConsentEvents");
    let get = pb::GetDecisionRequest { tenant_id: "southside".into(), decision_id: made.decision_id.clone() };
    denied(north.get_decision(get).await.map(drop), "GetDecision");
    let items = vec![check("+13125550100", PERSON, "northside"), check(SOUTH_SENDER, PERSON, "southside")];
    let mut stream = north.check_messages(tokio_stream::iter(items)).await.expect("stream").into_inner();
    let first = stream.message().await.expect("own item answered").expect("an answer");
    assert!(first.consent.as_ref().is_some_and(|v| v.scopes.is_empty()), "{first:?}");
    denied(stream.message().await.map(drop), "CheckMessages item");

    // Naming nobody: acts as northside and sees none of southside's data.
    let own = north.check_message(check("+13125550100", PERSON, "")).await.expect("check").into_inner();
    assert_eq!((own.decision, own.reasons[0].code), (Decision::Deny as i32, ReasonCode::ReasonConsentRequired as i32));
    assert!(own.consent.unwrap().scopes.is_empty(), "northside sees southside's grant");
    let theirs = north.check_message(check(SOUTH_SENDER, PERSON, "")).await.expect("check").into_inner();
    assert_eq!(theirs.reasons[0].code, ReasonCode::ReasonSenderNotRegistered as i32, "{theirs:?}");
    let items = vec![check("+13125550100", TEXTER, ""), check("+13125550100", PERSON, "")];
    let mut stream = north.check_messages(tokio_stream::iter(items)).await.expect("stream").into_inner();
    while let Some(r) = stream.message().await.expect("answers") {
        let view = r.consent.expect("view");
        assert!(view.scopes.is_empty() && view.last_inbound_at.is_none(), "{view:?}");
    }
    for phone in [PERSON, TEXTER] {
        let view = north.get_consent(consent_of("", phone)).await.expect("get").into_inner();
        assert!(view.scopes.is_empty() && view.last_inbound_at.is_none(), "{phone}: {view:?}");
    }
    let missing = pb::GetDecisionRequest { decision_id: made.decision_id.clone(), ..Default::default() };
    assert_eq!(north.get_decision(missing).await.unwrap_err().code(), Code::NotFound);
    let err = north.process_inbound(inbound("", SOUTH_SENDER, "m-3", "START")).await.unwrap_err();
    assert_eq!((err.code(), err.message().starts_with("to:")), (Code::InvalidArgument, true), "{err:?}");
    // Same ids as southside's: separate namespaces, never southside's answers.
    let same_id = north.record_consent(grant("south-1", PERSON, ConsentLevel::Express)).await.expect("write");
    let same_id = same_id.into_inner();
    assert!(!same_id.duplicate && same_id.event.unwrap().tenant_id == "northside");
    let same_msg = north.process_inbound(inbound("", "+13125550100", "m-1", "hello")).await.expect("inbound");
    let same_msg = same_msg.into_inner();
    assert_eq!((same_msg.duplicate, same_msg.intent), (false, InboundIntent::Message as i32));
    let listed = list_all(&mut north, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed.iter().all(|e| e.tenant_id == "northside"));

    // Southside's data is exactly as it was.
    assert_eq!(snapshot(&mut south, &made.decision_id).await, before);
}

/// A reload that removes a token also stops the streams opened with it:
/// the stream's next message ends it UNAUTHENTICATED, as a new call would be.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_revokes_a_token_ends_the_streams_it_opened() {
    use tokio_stream::wrappers::ReceiverStream;
    let (app, path) = TestApp::spawn_watching(TWO_TENANTS).await;
    let mut c = app.client_with(Some("northside-token")).await;
    let dry = || pb::CheckMessageRequest { dry_run: true, ..check("+13125550100", PERSON, "") };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut answers = c.check_messages(ReceiverStream::new(rx)).await.unwrap().into_inner();
    tx.send(dry()).await.unwrap();
    answers.message().await.unwrap().expect("answered while the token is valid");

    std::fs::write(&path, TWO_TENANTS.replace("\"northside-token\" = \"northside\", ", "")).unwrap();
    let mut revoked = false;
    for _ in 0..100 {
        if c.check_message(dry()).await.is_err_and(|e| e.code() == Code::Unauthenticated) {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(revoked, "the reload never revoked the token");
    tx.send(dry()).await.unwrap();
    let e = answers.message().await.expect_err("the open stream ends too");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    drop((c, tx, answers));
    app.stop().await;
}

/// Two `authorization` headers on one call: neither acts; the call is refused
/// before it reads or writes anything, whichever order they come in.
#[tokio::test]
async fn a_call_with_two_credentials_is_refused() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut client = pb::policy_service_client::PolicyServiceClient::new(app.channel().await);
    for pair in [["Bearer northside-token", "Bearer southside-token"], ["Bearer ops-token-all", "Bearer bogus"]] {
        let mut req = tonic::Request::new(consent_of("", PERSON));
        for value in pair {
            req.metadata_mut().append("authorization", value.parse().unwrap());
        }
        let err = client.get_consent(req).await.expect_err("two credentials");
        assert_eq!(err.code(), Code::Unauthenticated, "{pair:?}");
        assert_eq!(err.message(), "authorization: sent more than once");
    }
    // One of them alone still works.
    let mut req = tonic::Request::new(consent_of("", PERSON));
    req.metadata_mut().insert("authorization", "Bearer northside-token".parse().unwrap());
    client.get_consent(req).await.expect("one credential");
}
