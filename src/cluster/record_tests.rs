use super::*;

/// Bytes of the V1 layout, written once by this code and checked in: they
/// must decode to `fixture_event()` for as long as V1 exists.
const CONSENT_V1_HEX: &str = include_str!("../../tests/data/replicated_consent_v1.hex");

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// An event that sets every field, so a field dropped or moved shows.
fn fixture_event() -> NewEvent {
    NewEvent {
        tenant_id: TenantId::new("northside"),
        event_id: "evt-0001".into(),
        phone: PhoneNumber::parse("+13125550123").unwrap(),
        action: Action::Grant(Level::ExpressWritten),
        scope: Scope { campaign_id: "fundraising".into(), sender: "+13125550101".into() },
        source: Source::WebForm,
        occurred_at: ts("2026-03-01T14:05:06.123456789Z"),
        evidence: Evidence {
            collected_by: "caseworker-7".into(),
            method_detail: "signup form".into(),
            disclosure_text: "Reply STOP to opt out.".into(),
            ip_address: "192.0.2.10".into(),
            user_agent: "Mozilla/5.0".into(),
            document_ref: "doc-42".into(),
            extra: [("campaign".to_string(), "spring".to_string())].into_iter().collect(),
        },
        categories: vec![Category::Informational, Category::Promotional],
        inbound_text: "YES".into(),
    }
}

fn fixture_record() -> ReplicatedRecord {
    ReplicatedRecord::ConsentV1(Box::new(ConsentV1::new(&fixture_event(), ts("2026-03-01T14:05:07Z"), "textgate-0")))
}

#[test]
fn a_consent_event_round_trips() {
    let record = fixture_record();
    let decoded = ReplicatedRecord::decode(&record.encode()).unwrap();
    assert_eq!(decoded, record);
    let ReplicatedRecord::ConsentV1(c) = decoded else { panic!("not a consent record") };
    let (event, recorded_at) = c.to_event().unwrap();
    assert_eq!(event, fixture_event());
    assert_eq!(recorded_at, ts("2026-03-01T14:05:07Z"));
    assert_eq!(c.origin, "textgate-0");
    assert_eq!(record.msg_id(), "northside/evt-0001");
}

#[test]
fn v1_bytes_written_before_still_decode_to_the_same_event() {
    let bytes = hex::decode(CONSENT_V1_HEX.trim()).expect("the fixture is hex");
    let record = ReplicatedRecord::decode(&bytes).unwrap_or_else(|e| {
        panic!("V1 bytes no longer decode ({e}); this build writes {}", hex::encode(fixture_record().encode()))
    });
    assert_eq!(record, fixture_record());
    // And this build writes V1 exactly as before.
    assert_eq!(hex::encode(fixture_record().encode()), CONSENT_V1_HEX.trim());
}

#[test]
fn sends_and_inbounds_round_trip() {
    let send = ReplicatedRecord::SendV1(SendV1 {
        tenant_id: "northside".into(),
        phone: "+13125550123".into(),
        campaign_id: "fundraising".into(),
        sender: "+13125550101".into(),
        category: Category::Promotional.into(),
        at_ns: ts("2026-03-01T15:00:00Z").as_nanosecond(),
        disclosed: true,
        decision_id: "dec-9".into(),
        origin: "textgate-1".into(),
    });
    let inbound = ReplicatedRecord::InboundV1(InboundV1 {
        tenant_id: "northside".into(),
        phone: "+13125550123".into(),
        message_id: "SM123".into(),
        received_at_ns: 1,
        origin: "textgate-2".into(),
    });
    for record in [&send, &inbound] {
        assert_eq!(&ReplicatedRecord::decode(&record.encode()).unwrap(), record);
    }
    let ReplicatedRecord::SendV1(s) = send else { unreachable!() };
    let sent = s.to_sent().unwrap();
    assert_eq!((sent.category, sent.at), (Category::Promotional, ts("2026-03-01T15:00:00Z")));
    assert_eq!(inbound.msg_id(), "northside/SM123");
}

#[test]
fn garbage_and_unknown_kinds_are_errors_not_panics() {
    let mut unknown = fixture_record().encode();
    unknown[0] = 99; // a record kind from some future version
    let mut trailing = fixture_record().encode();
    trailing.push(0);
    for bytes in [&[][..], &[0xff; 7][..], &unknown[..], &trailing[..]] {
        assert!(ReplicatedRecord::decode(bytes).is_err(), "{bytes:?}");
    }
    let mut far = ConsentV1::new(&fixture_event(), Timestamp::UNIX_EPOCH, "x");
    far.occurred_at_ns = i128::MAX;
    assert!(matches!(far.to_event(), Err(RecordError::Time { field: "occurred_at_ns", .. })));
}

#[test]
fn debug_output_hides_the_number_and_the_text() {
    let shown = format!("{:?}", fixture_record());
    assert!(shown.contains("northside/evt-0001"), "{shown}");
    for secret in ["3125550123", "YES", "Reply STOP"] {
        assert!(!shown.contains(secret), "{shown} shows {secret}");
    }
}

#[test]
fn wrong_number_and_review_hold_events_round_trip_as_appended_actions() {
    let rnd = [crate::domain::RndAnswer::Yes, crate::domain::RndAnswer::No, crate::domain::RndAnswer::NoData];
    for action in [Action::WrongNumber, Action::ReviewHold].into_iter().chain(rnd.map(Action::Rnd)) {
        let event = NewEvent { action, categories: vec![], ..fixture_event() };
        let record = ReplicatedRecord::ConsentV1(Box::new(ConsentV1::new(&event, ts("2026-03-01T14:05:07Z"), "i")));
        let ReplicatedRecord::ConsentV1(c) = ReplicatedRecord::decode(&record.encode()).unwrap() else {
            panic!("not a consent record")
        };
        assert_eq!(c.to_event().unwrap().0, event);
    }
    // The first two actions keep their wire indices (the V1 fixture above
    // pins Grant); the new ones come after them.
    let index = |a: ActionV1| options().serialize(&a).unwrap();
    assert_eq!([index(ActionV1::Revoke), index(ActionV1::WrongNumber), index(ActionV1::ReviewHold)], [[1], [2], [3]]);
    assert_eq!([index(ActionV1::RndYes), index(ActionV1::RndNo), index(ActionV1::RndNoData)], [[4], [5], [6]]);
}
