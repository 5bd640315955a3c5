//! Wrong-number reports and review holds are consent events: written through
//! one instance, they bind the other (with the consistency token), and a
//! wiped instance rebuilds them from the stream.

use textgate::api::pb::{self, ConsentLevel};

use crate::helpers::{grant, list_all, Client};
use crate::instances::setup;

const CASEWORK: &str = "+13125550100";
const PHONE: &str = "+13125550177";
/// Tuesday 2026-06-02 10:00 CDT: inside every window.
const MIDDAY: i64 = 1_780_412_400;

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn inbound(id: &str, body: &str, at: i64) -> pb::ProcessInboundRequest {
    pb::ProcessInboundRequest {
        from: PHONE.into(),
        to: CASEWORK.into(),
        body: body.into(),
        message_id: id.into(),
        received_at: ts(at),
        ..Default::default()
    }
}

/// An automated informational send, dry run, after `token`'s write.
async fn automated(c: &mut Client, token: &str) -> pb::CheckMessageResponse {
    let req = pb::CheckMessageRequest {
        from: CASEWORK.into(),
        to: PHONE.into(),
        body: "Your appointment is tomorrow at 10.".into(),
        origin: pb::Origin::Automated as i32,
        send_at: ts(MIDDAY + 600),
        consistency_token: token.into(),
        dry_run: true,
        ..Default::default()
    };
    c.check_message(req).await.expect("check").into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_and_a_wrong_number_through_one_instance_bind_the_other() {
    let Some((_root, _nats, a, mut b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let g = pb::RecordConsentRequest { occurred_at: ts(MIDDAY - 86_400), ..grant("g-1", PHONE, ConsentLevel::Express) };
    ca.record_consent(g).await.unwrap();

    let held = cb.process_inbound(inbound("m1", "not interested", MIDDAY)).await.unwrap().into_inner();
    assert_eq!(held.intent(), pb::InboundIntent::Review);
    let d = automated(&mut ca, &held.consistency_token).await;
    assert_eq!(d.reasons.first().map(|r| r.code()), Some(pb::ReasonCode::ReasonReviewHold), "{d:?}");
    assert_eq!(d.reasons[0].consent_event_id, held.event.as_ref().unwrap().event_id);

    let wrong = cb.process_inbound(inbound("m2", "wrong number", MIDDAY + 60)).await.unwrap().into_inner();
    let d = automated(&mut ca, &wrong.consistency_token).await;
    assert_eq!(d.reasons.first().map(|r| r.rule_id.as_str()), Some("inbound.wrong_number"), "{d:?}");
    let view = d.consent.expect("view");
    assert!(view.review_hold.is_none(), "the report, a revocation, resolves the hold");
    assert_eq!(view.reassignment.map(|m| m.event_id), wrong.event.map(|e| e.event_id));

    // B, wiped, rebuilds the same state from the stream.
    let before = list_all(&mut cb, PHONE).await;
    b.kill_and_wipe();
    b.ready().await;
    let mut cb = b.client().await;
    assert_eq!(list_all(&mut cb, PHONE).await, before);
    let d = automated(&mut cb, "").await;
    assert_eq!(d.reasons.first().map(|r| r.rule_id.as_str()), Some("inbound.wrong_number"), "{d:?}");
}
