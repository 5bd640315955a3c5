//! ProcessInbound through the real server.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use textgate::api::pb::{self, InboundIntent};
use tonic::Code;

use crate::decisions::inbound;
use crate::helpers::{list_all, TestApp};

const AT: i64 = 1_780_412_400;

#[tokio::test]
async fn fcc_words_in_any_form_revoke_and_ordinary_texts_do_not() {
    // Including revocation wording about something else (calls while asking
    // for texts, a third party, advice, someone else's words).
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
        ("call me, do not text", InboundIntent::OptOut),
        ("text me instead, don't call", InboundIntent::Message),
        ("tell him not to message me", InboundIntent::Message),
        ("never text while driving", InboundIntent::Message),
        ("she said 'stop texting me' lol", InboundIntent::Message),
    ];
    for (i, (body, want)) in table.iter().enumerate() {
        let from = format!("+1312555{:04}", 200 + i);
        let r = c.process_inbound(inbound(&format!("k{i}"), &from, body, AT)).await.unwrap().into_inner();
        assert_eq!(r.intent, *want as i32, "{body:?}");
        assert_eq!(r.event.is_some(), *want == InboundIntent::OptOut, "{body:?}");
        assert!(r.consent.unwrap().conversation_open_until.is_some(), "every inbound opens the window");
    }
    let events = list_all(&mut c, "").await;
    assert_eq!(events.len(), 8);
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

/// A text over the size limit is the one body refused, and the refusal says
/// how to have it read: the text must not be lost.
#[tokio::test]
async fn an_oversized_text_is_refused_with_what_to_send_instead() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let long = format!("STOP{}", " ok".repeat(600));
    let err = c.process_inbound(inbound("x1", "3125550199", &long, AT)).await.expect_err("1804 bytes");
    assert_eq!(err.code(), Code::InvalidArgument);
    let m = err.message();
    assert!(m.starts_with("body: 1804 bytes, over the limit of 1600 bytes"), "{m}");
    assert!(m.contains("send the text again cut to its first 1600 bytes"), "{m}");
    let cut = &long[..1600];
    let r = c.process_inbound(inbound("x1", "3125550199", cut, AT)).await.expect("the cut text").into_inner();
    assert_eq!(r.intent, InboundIntent::OptOut as i32);
}

/// Characters gateways deliver, weighted towards the troublesome ones.
fn gateway_char() -> impl Strategy<Value = char> {
    prop_oneof![
        2 => any::<char>(),
        2 => proptest::char::range('\0', '\u{9F}'),
        1 => proptest::sample::select(vec!['\u{1b}', '[', '0', 'm', '\u{200B}', '\u{202E}', '\u{FEFF}', '\u{1F3FD}']),
        3 => proptest::char::range('a', 'z'),
    ]
}

/// Texts as gateways deliver them are repaired, classified and answered, never
/// refused for their characters: the artifacts around real opt-outs, then
/// generated texts of up to the 1600-byte limit.
#[tokio::test]
async fn texts_are_repaired_and_classified_never_refused_for_their_characters() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let table = [
        ("STOP\u{0}", InboundIntent::OptOut),
        ("\u{200B}STOP", InboundIntent::OptOut),
        ("ＳＴＯＰ", InboundIntent::OptOut),
        ("S\u{0301}TOP", InboundIntent::OptOut),
        ("\u{1b}[0mstop", InboundIntent::OptOut),
        ("Stop 👍🏽", InboundIntent::OptOut),
        ("\u{202E}stop", InboundIntent::OptOut),
        ("stop\r\n", InboundIntent::OptOut),
        ("S\u{0}T\u{0}O\u{0}P\u{0}", InboundIntent::OptOut),
        ("please don\u{0092}t text me", InboundIntent::OptOut),
        ("see you at 5\u{0096}6\u{7}\u{7F}", InboundIntent::Message),
    ];
    for (i, (body, want)) in table.iter().enumerate() {
        let from = format!("+1312555{:04}", 300 + i);
        let r = c.process_inbound(inbound(&format!("a{i}"), &from, body, AT)).await;
        let r = r.unwrap_or_else(|e| panic!("{body:?}: {e:?}")).into_inner();
        assert_eq!(r.intent, *want as i32, "{body:?}");
    }
    // The ledger keeps the text as it was meant, with no control left in it.
    let events = list_all(&mut c, "+13125550309").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].inbound_text, "please don\u{2019}t text me");

    let text = proptest::collection::vec(gateway_char(), 0..700).prop_map(|cs| {
        let mut s = String::new();
        for ch in cs {
            if s.len() + ch.len_utf8() > 1600 {
                break;
            }
            s.push(ch);
        }
        s
    });
    let mut runner = TestRunner::deterministic();
    for i in 0..64 {
        let body = text.new_tree(&mut runner).expect("a text").current();
        let r = c.process_inbound(inbound(&format!("g{i}"), "3125550188", &body, AT)).await;
        let r = r.unwrap_or_else(|e| panic!("{body:?}: {e:?}")).into_inner();
        assert_ne!(r.intent, InboundIntent::Unspecified as i32, "{body:?}");
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
