//! Golden bytes: records as the store wrote them before the record types
//! existed (bincode of the domain structs of that time). Decoding them and
//! encoding the result must give the same bytes, so the layout is pinned.

use super::*;
use crate::domain::{Category, Level, Source};

/// Event 1: an EXPRESS_WRITTEN web-form grant, tenant-wide, for promotional
/// and informational messages, with every evidence field.
const EVENT_GRANT: &str = "01000000000000001e00000000000000323032362d31322d30335431393a33303a33332e3130363030363237395a09000000000000006e6f72746873696465020000000000000067310c000000000000002b3133313235353530313031000000000300000000000000000000000000000000000000020000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a0d0000000000000063617365776f726b65722d31370a0000000000000070686f6e652063616c6c10000000000000004d6179207765207465787420796f753f09000000000000003139322e302e322e37020000000000000075610500000000000000646f632d3101000000000000000400000000000000666f726d0800000000000000696e74616b652d37020000000000000002000000010000000000000000000000";
/// Event 2: an EXPRESS verbal grant for campaign `appointments`.
const EVENT_CAMPAIGN_GRANT: &str = "02000000000000001e00000000000000323032362d31322d30335431393a33303a33332e3131393134343837355a09000000000000006e6f72746873696465020000000000000067320c000000000000002b313331323535353031303200000000020000000c000000000000006170706f696e746d656e74730000000000000000040000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a0d0000000000000063617365776f726b65722d31370a0000000000000070686f6e652063616c6c10000000000000004d6179207765207465787420796f753f09000000000000003139322e302e322e37020000000000000075610500000000000000646f632d3101000000000000000400000000000000666f726d0800000000000000696e74616b652d3700000000000000000000000000000000";
/// Event 3: a STOP keyword revocation, tenant-wide.
const EVENT_KEYWORD_REVOKE: &str = "03000000000000001e00000000000000323032362d31322d30335431393a33303a33332e3132353638333435325a09000000000000006e6f72746873696465020000000000000072310c000000000000002b3133313235353530313031010000000000000000000000000000000000000000000000010000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a0d0000000000000063617365776f726b65722d31370a0000000000000070686f6e652063616c6c10000000000000004d6179207765207465787420796f753f09000000000000003139322e302e322e37020000000000000075610500000000000000646f632d3101000000000000000400000000000000666f726d0800000000000000696e74616b652d370000000000000000040000000000000053544f50";
/// Number a's state after grant, STOP and START.
const CONSENT_A: &str = "0100000000000000000000000000000000000000000000000000000003000000020000000000000002000000010000000200000000000000673305000000000000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a00";
/// Number b's state: a campaign grant and a revocation for one sender.
const CONSENT_B: &str = "020000000000000000000000000000000c000000000000002b3133313235353530303030010000000000000000000000000000000200000000000000723204000000000000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a000c000000000000006170706f696e746d656e74730000000000000000000000000200000000000000000000000200000000000000673202000000000000001b00000000000000323032362d31312d32305431353a30343a30352e3132333435365a00";
/// Number a's contact history in the second layout (the same history).
const CONTACT_A_V2: &str = "0201a06b016b000000000000000001b079016b000000000000000001000000000000000c000000000000006170706f696e746d656e747301000000b079016b0000000000000000";
const CONTACT_A: &str = "011400000000000000323032362d31312d32315431303a30303a30305a011400000000000000323032362d31312d32315431313a30303a30305a01000000000000000c000000000000006170706f696e746d656e7473010000001400000000000000323032362d31312d32315431313a30303a30305a";

fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap()
}

#[test]
fn events_of_the_first_layout_decode_and_encode_to_the_same_bytes() {
    let grant = decode_event(&bytes(EVENT_GRANT)).unwrap();
    assert_eq!(grant.sequence, 1);
    assert_eq!(grant.event.action, Action::Grant(Level::ExpressWritten));
    assert_eq!(grant.event.source, Source::WebForm);
    assert_eq!(grant.event.categories, [Category::Promotional, Category::Informational]);
    assert_eq!(grant.event.evidence.collected_by, "caseworker-17");
    assert_eq!(grant.event.evidence.extra["form"], "intake-7");
    assert_eq!(grant.event.occurred_at, "2026-11-20T15:04:05.123456Z".parse::<Timestamp>().unwrap());

    let campaign = decode_event(&bytes(EVENT_CAMPAIGN_GRANT)).unwrap();
    assert_eq!(campaign.event.action, Action::Grant(Level::Express));
    assert_eq!(campaign.event.scope.campaign_id, "appointments");

    let revoke = decode_event(&bytes(EVENT_KEYWORD_REVOKE)).unwrap();
    assert_eq!((revoke.sequence, revoke.event.action), (3, Action::Revoke));
    assert_eq!((revoke.event.source, revoke.event.inbound_text.as_str()), (Source::Keyword, "STOP"));

    for h in [EVENT_GRANT, EVENT_CAMPAIGN_GRANT, EVENT_KEYWORD_REVOKE] {
        assert_eq!(hex::encode(encode_event(&decode_event(&bytes(h)).unwrap())), h);
    }
}

#[test]
fn consent_states_of_the_first_layout_decode_and_encode_to_the_same_bytes() {
    let a = decode_consent(&bytes(CONSENT_A)).unwrap();
    assert_eq!(a.scopes.len(), 1);
    let s = &a.scopes[0];
    assert_eq!((s.status, s.level, s.event_id.as_str()), (Status::Granted, Some(Level::ExpressWritten), "g3"));
    assert!(s.permits(Category::Promotional));

    let b = decode_consent(&bytes(CONSENT_B)).unwrap();
    let revoked = b.scopes.iter().find(|s| s.status == Status::Revoked).unwrap();
    assert_eq!((revoked.level, revoked.scope.sender.as_str()), (None, "+13125550000"));
    assert!(b.opt_out_for_send("appointments", "+13125550000").is_some());
    assert!(b.opt_out_for_send("appointments", "+13125550001").is_none());

    for h in [CONSENT_A, CONSENT_B] {
        assert_eq!(hex::encode(encode_consent(&decode_consent(&bytes(h)).unwrap())), h);
    }
}

#[test]
fn contact_history_of_the_first_layout_still_decodes_and_is_rewritten_in_the_second() {
    let h = decode_contact(&bytes(CONTACT_A)).unwrap();
    assert_eq!(h.last_inbound_at, Some("2026-11-21T10:00:00Z".parse().unwrap()));
    assert_eq!(h.sends.len(), 1);
    assert_eq!((h.sends[0].campaign_id.as_str(), h.sends[0].category), ("appointments", Category::Informational));
    assert_eq!(hex::encode(contact::encode_contact_v1(&h)), CONTACT_A);
    let second = encode_contact(&h);
    assert_eq!(hex::encode(&second), CONTACT_A_V2);
    assert_eq!(decode_contact(&second).unwrap(), h);
}

#[test]
fn contact_history_round_trips_exactly_in_the_second_layout() {
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    let send = |campaign: &str, category, t: &str| crate::domain::SentMessage {
        campaign_id: campaign.into(),
        category,
        at: at(t),
    };
    let cases = [
        crate::domain::ContactHistory::default(),
        crate::domain::ContactHistory {
            last_inbound_at: Some(at("2026-12-05T10:00:00.123456789Z")),
            last_disclosure_at: None,
            sends: vec![
                send("", Category::Informational, "1969-12-31T23:59:59.5Z"),
                send("spring", Category::Promotional, "2026-12-05T10:00:00.000000001Z"),
                send("spring", Category::Conversational, "9999-12-30T00:00:00.999999999Z"),
            ],
        },
    ];
    for h in cases {
        let b = encode_contact(&h);
        assert_eq!(b[0], 0x02, "{b:?}");
        assert_eq!(decode_contact(&b).unwrap(), h);
    }
}

#[test]
fn a_second_layout_value_with_an_impossible_instant_or_cut_short_is_corrupt() {
    let mut b = encode_contact(&crate::domain::ContactHistory {
        last_inbound_at: Some("2026-12-05T10:00:00Z".parse().unwrap()),
        ..Default::default()
    });
    assert!(matches!(decode_contact(&b[..b.len() - 1]), Err(ConsentError::Corrupt { .. })));
    // Seconds past jiff's range (byte 2 on: the option tag, then i64 seconds).
    b[2..10].copy_from_slice(&i64::MAX.to_le_bytes());
    assert!(matches!(decode_contact(&b), Err(ConsentError::Corrupt { .. })));
}

#[test]
fn a_grant_without_a_level_is_corrupt_not_a_grant() {
    let mut r: EventV1 = bincode::deserialize(&bytes(EVENT_CAMPAIGN_GRANT)).unwrap();
    r.event.level = LevelV1::Unspecified;
    let err = decode_event(&bincode::serialize(&r).unwrap()).unwrap_err();
    assert!(matches!(err, ConsentError::Corrupt { source: None, .. }), "{err:?}");
}

#[test]
fn truncated_bytes_are_corrupt_with_the_decoder_as_their_source() {
    let e = bytes(EVENT_GRANT);
    let err = decode_event(&e[..e.len() / 2]).unwrap_err();
    assert!(matches!(err, ConsentError::Corrupt { source: Some(_), .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_stored_phone_that_is_not_e164_is_corrupt_and_not_echoed() {
    let mut r: EventV1 = bincode::deserialize(&bytes(EVENT_GRANT)).unwrap();
    r.event.phone = "312-555-0101".into();
    let err = decode_event(&encode(&r)).unwrap_err();
    assert!(matches!(err, ConsentError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("E.164") && !err.to_string().contains("555"), "{err}");
}

#[test]
fn wrong_number_and_review_hold_markers_round_trip_next_to_first_layout_rows() {
    let mut c = decode_consent(&bytes(CONSENT_B)).unwrap();
    let marker = |id: &str, matched: &str| crate::domain::Marker {
        event_id: id.into(),
        sequence: 9,
        since: "2026-11-22T10:00:00Z".parse().unwrap(),
        matched: matched.into(),
    };
    c.reassigned = Some(marker("inbound:w", ""));
    c.review_hold = Some(marker("inbound:h", "NOT INTERESTED"));
    let encoded = encode_consent(&c);
    assert_eq!(decode_consent(&encoded).unwrap(), c);
    // The scope rows come first, unchanged: the first layout's bytes are a prefix
    // once the row count is set aside.
    assert_eq!(encoded[8..bytes(CONSENT_B).len()], bytes(CONSENT_B)[8..]);

    let mut e = decode_event(&bytes(EVENT_KEYWORD_REVOKE)).unwrap();
    for action in [Action::WrongNumber, Action::ReviewHold] {
        e.event.action = action;
        assert_eq!(decode_event(&encode_event(&e)).unwrap(), e);
    }
}

#[test]
fn rnd_rows_and_events_round_trip_and_keep_their_appended_indices() {
    let mut c = decode_consent(&bytes(CONSENT_B)).unwrap();
    let since = "2026-11-22T10:00:00Z".parse().unwrap();
    c.rnd_void = Some(crate::domain::Marker { event_id: "rnd-1".into(), sequence: 10, since, matched: String::new() });
    c.rnd_checked =
        Some(RndCheck { event_id: "rnd-2".into(), sequence: 11, queried_at: since, answer: RndAnswer::NoData });
    let encoded = encode_consent(&c);
    assert_eq!(decode_consent(&encoded).unwrap(), c);
    assert_eq!(encoded[8..bytes(CONSENT_B).len()], bytes(CONSENT_B)[8..]);

    let mut e = decode_event(&bytes(EVENT_KEYWORD_REVOKE)).unwrap();
    // Appended after Grant, Revoke, WrongNumber, ReviewHold: indices 4, 5, 6.
    for (answer, index) in [(RndAnswer::Yes, 4u32), (RndAnswer::No, 5), (RndAnswer::NoData, 6)] {
        e.event.action = Action::Rnd(answer);
        let encoded = encode_event(&e);
        assert_eq!(decode_event(&encoded).unwrap(), e);
        let r: EventV1 = bincode::deserialize(&encoded).unwrap();
        assert_eq!(bincode::serialize(&r.event.action).unwrap(), index.to_le_bytes());
    }
}
