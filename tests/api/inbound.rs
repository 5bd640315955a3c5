//! ProcessInbound through the real server.

use textgate::api::pb::{self, InboundIntent};
use tonic::Code;

use crate::decisions::inbound;
use crate::helpers::{list_all, TestApp};

const AT: i64 = 1_780_412_400;

#[tokio::test]
async fn fcc_words_in_any_form_revoke_and_ordinary_texts_do_not() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let table = [
        ("Stop.", InboundIntent::OptOut),
        ("ＳＴＯＰ", InboundIntent::OptOut),
        ("S T O P", InboundIntent::OptOut),
        ("unsubscribe", InboundIntent::OptOut),
        ("Revoke", InboundIntent::OptOut),
        ("opt-out", InboundIntent::OptOut),
        ("take me off your list", InboundIntent::OptOut),
        ("I'll stop by the office tomorrow", InboundIntent::Message),
        ("can I cancel my appointment", InboundIntent::Message),
        ("don't stop", InboundIntent::Message),
        ("help", InboundIntent::Help),
    ];
    for (i, (body, want)) in table.iter().enumerate() {
        let from = format!("+1312555{:04}", 200 + i);
        let r = c.process_inbound(inbound(&format!("k{i}"), &from, body, AT)).await.unwrap().into_inner();
        assert_eq!(r.intent, *want as i32, "{body:?}");
        assert_eq!(r.event.is_some(), *want == InboundIntent::OptOut, "{body:?}");
        assert!(r.consent.unwrap().conversation_open_until.is_some(), "every inbound opens the window");
    }
    let events = list_all(&mut c, "").await;
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e.source == pb::ConsentSource::Keyword as i32 && !e.inbound_text.is_empty()));
}

#[tokio::test]
async fn inbound_input_is_validated() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let ok = || inbound("x1", "3125550199", "hi", AT);
    let cases = [
        ("from", pb::ProcessInboundRequest { from: "bad".into(), ..ok() }),
        ("to", pb::ProcessInboundRequest { to: "+13125550999".into(), ..ok() }),
        ("message_id", pb::ProcessInboundRequest { message_id: String::new(), ..ok() }),
        ("body", pb::ProcessInboundRequest { body: "y".repeat(2000), ..ok() }),
        (
            "received_at",
            pb::ProcessInboundRequest { received_at: Some(prost_types::Timestamp { seconds: -1, nanos: 0 }), ..ok() },
        ),
    ];
    for (field, req) in cases {
        let err = c.process_inbound(req).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(field), "{field}: {}", err.message());
    }
}

/// A second STOP after a campaign was re-granted is honored and confirmed.
#[tokio::test]
async fn stop_after_a_campaign_regrant_is_honored() {
    use crate::decisions::msg;
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.process_inbound(inbound("s1", "3125550199", "STOP", AT - 3600)).await.unwrap();
    let mut g = crate::helpers::grant("web-1", "3125550199", pb::ConsentLevel::Express);
    g.scope = Some(pb::ConsentScope { campaign_id: "casework".into(), sender: String::new() });
    g.occurred_at = Some(prost_types::Timestamp { seconds: AT - 60, nanos: 0 });
    c.record_consent(g).await.unwrap();
    let allowed = c.check_message(msg("3125550199", "Your file is ready")).await.unwrap().into_inner();
    assert_ne!(allowed.decision, pb::Decision::Deny as i32, "{allowed:?}");
    let stop = c.process_inbound(inbound("s2", "3125550199", "stop", AT)).await.unwrap().into_inner();
    assert!(!stop.reply_body.is_empty(), "the new opt-out is confirmed");
    let denied = c.check_message(msg("3125550199", "Your file is ready")).await.unwrap().into_inner();
    assert_eq!(denied.decision, pb::Decision::Deny as i32);
    assert_eq!(denied.reasons[0].code, pb::ReasonCode::ReasonOptedOut as i32);
}
