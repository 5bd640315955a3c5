//! The bad-input table: one row per malformed request, with the exact status
//! code and the field its message must start with.

use prost_types::Timestamp;
use textgate::api::pb::{self, ConsentLevel};
use tonic::Code;

use crate::helpers::grant;

/// The tenant's casework sender (TWO_TENANTS).
pub const SENDER: &str = "+13125550100";
/// Southside's sender: a real number, of the other tenant.
pub const FOREIGN_SENDER: &str = "+17735550100";
/// The recipients every row uses in their valid form.
pub const PHONES: &[&str] = &["+13125550199", "+13125550142"];
/// Tuesday 2026-06-02 10:00 CDT.
pub const MIDDAY: i64 = 1_780_412_400;
/// 9999-12-30T22:00:00Z, the last second a timestamp may name (jiff's range).
pub const LAST_SECOND: i64 = 253_402_207_200;
/// Bigger than the 64 KiB request limit, by far.
pub const TEN_MB: usize = 10 * 1024 * 1024;

/// One RPC with its request.
#[derive(Clone)]
pub enum Call {
    Check(pb::CheckMessageRequest),
    /// CheckMessages with these items on one stream.
    Checks(Vec<pb::CheckMessageRequest>),
    Record(pb::RecordConsentRequest),
    Inbound(pb::ProcessInboundRequest),
    Get(pb::GetConsentRequest),
    List(pb::ListConsentEventsRequest),
    Decision(pb::GetDecisionRequest),
}

/// A malformed request and what it must get back.
pub struct Row {
    pub name: String,
    /// Bearer token; TWO_TENANTS requires one.
    pub token: Option<&'static str>,
    pub call: Call,
    pub code: Code,
    /// The message starts with this (the field's name).
    pub field: String,
}

pub const NORTH: Option<&str> = Some("northside-token");
pub const OPS: Option<&str> = Some("ops-token-all");

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

pub fn check_ok() -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: SENDER.into(),
        to: PHONES[0].into(),
        body: "Your case file is ready.".into(),
        origin: pb::Origin::Person as i32,
        send_at: ts(MIDDAY, 0),
        ..Default::default()
    }
}

fn record_ok() -> pb::RecordConsentRequest {
    grant("bad-input-1", PHONES[0], ConsentLevel::Express)
}

fn inbound_ok() -> pb::ProcessInboundRequest {
    pb::ProcessInboundRequest {
        from: PHONES[1].into(),
        to: SENDER.into(),
        body: "STOP".into(),
        message_id: "carrier-1".into(),
        received_at: ts(MIDDAY, 0),
        ..Default::default()
    }
}

/// Values no phone field accepts, each with a name for the row.
fn bad_phones() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("blank", "   ".into()),
        ("letters", "call-me-maybe".into()),
        ("vanity letters", "1-800-FLOWERS".into()),
        ("too short", "312555019".into()),
        ("too long", "+1234567890123456".into()),
        ("over 64 bytes", "1".repeat(65)),
        ("N11 area code", "(911) 555-0199".into()),
        ("N11 exchange", "312-411-0199".into()),
        ("short code", "72345".into()),
        ("extension", "312-555-0199 x12".into()),
        ("control char", "312\u{0}5550199".into()),
        ("full-width digits", "３１２５５５０１９９".into()),
        ("leading-zero E.164", "+0441234567".into()),
    ]
}

fn row(name: impl Into<String>, token: Option<&'static str>, call: Call, code: Code, field: &str) -> Row {
    Row { name: name.into(), token, call, code, field: field.into() }
}

fn invalid(name: impl Into<String>, call: Call, field: &str) -> Row {
    row(name, NORTH, call, Code::InvalidArgument, field)
}

/// CheckMessage and CheckMessages.
pub fn check_rows() -> Vec<Row> {
    let with = |f: &dyn Fn(&mut pb::CheckMessageRequest)| {
        let mut r = check_ok();
        f(&mut r);
        Call::Check(r)
    };
    let mut rows = Vec::new();
    for (what, p) in bad_phones() {
        rows.push(invalid(format!("CheckMessage to {what}"), with(&|r| r.to = p.clone()), "to"));
    }
    rows.push(invalid("CheckMessage from empty", with(&|r| r.from.clear()), "from"));
    rows.push(invalid("CheckMessage from letters", with(&|r| r.from = "sender".into()), "from"));
    rows.push(invalid("CheckMessage body empty", with(&|r| r.body.clear()), "body"));
    rows.push(invalid("CheckMessage body 1601 bytes", with(&|r| r.body = "a".repeat(1601)), "body"));
    rows.push(invalid("CheckMessage body control char", with(&|r| r.body = "bell\u{7}".into()), "body"));
    rows.push(invalid("CheckMessage origin 99", with(&|r| r.origin = 99), "origin"));
    rows.push(invalid("CheckMessage category 99", with(&|r| r.category = 99), "category"));
    rows.push(invalid("CheckMessage category -1", with(&|r| r.category = -1), "category"));
    rows.push(invalid("CheckMessage campaign_id 129 bytes", with(&|r| r.campaign_id = "c".repeat(129)), "campaign_id"));
    rows.push(invalid("CheckMessage campaign_id control", with(&|r| r.campaign_id = "a\u{1b}b".into()), "campaign_id"));
    rows.push(invalid("CheckMessage send_at nanos -1", with(&|r| r.send_at = ts(MIDDAY, -1)), "send_at"));
    rows.push(invalid("CheckMessage send_at nanos 1e9", with(&|r| r.send_at = ts(MIDDAY, 1_000_000_000)), "send_at"));
    rows.push(invalid("CheckMessage send_at 1969", with(&|r| r.send_at = ts(-86_400, 0)), "send_at"));
    rows.push(invalid(
        "CheckMessage send_at past jiff's range",
        with(&|r| r.send_at = ts(LAST_SECOND + 1, 0)),
        "send_at",
    ));
    rows.push(invalid("CheckMessage send_at i64::MAX", with(&|r| r.send_at = ts(i64::MAX, 0)), "send_at"));
    rows.push(invalid("CheckMessage client_ref 129 bytes", with(&|r| r.client_ref = "r".repeat(129)), "client_ref"));
    rows.push(invalid(
        "CheckMessage consistency_token",
        with(&|r| r.consistency_token = "abc".into()),
        "consistency_token",
    ));
    rows.push(invalid("CheckMessage recipient_state", with(&|r| r.recipient_state = "ZZ".into()), "recipient_state"));
    let zone = "recipient_time_zone";
    rows.push(invalid("CheckMessage unknown zone", with(&|r| r.recipient_time_zone = "Mars/Olympus".into()), zone));
    rows.push(invalid("CheckMessage zone 65 bytes", with(&|r| r.recipient_time_zone = "Z".repeat(65)), zone));
    let key = "idempotency_key";
    rows.push(invalid("CheckMessage key 129 bytes", with(&|r| r.idempotency_key = "k".repeat(129)), key));
    rows.push(invalid("CheckMessage key with a space", with(&|r| r.idempotency_key = "order 1".into()), key));
    rows.push(invalid("CheckMessage key with a control", with(&|r| r.idempotency_key = "order\u{7}".into()), key));
    let keyed_dry_run = with(&|r| {
        r.idempotency_key = "order-1".into();
        r.dry_run = true;
    });
    rows.push(invalid("CheckMessage key on a dry run", keyed_dry_run, key));
    rows.push(row(
        "CheckMessage 10 MB body",
        NORTH,
        with(&|r| r.body = "a".repeat(TEN_MB)),
        Code::ResourceExhausted,
        "request",
    ));
    rows.push(row(
        "CheckMessage names southside",
        NORTH,
        with(&|r| r.tenant_id = "southside".into()),
        Code::PermissionDenied,
        "tenant_id",
    ));
    rows.push(row(
        "CheckMessage names a ghost",
        NORTH,
        with(&|r| r.tenant_id = "ghost".into()),
        Code::PermissionDenied,
        "tenant_id",
    ));
    rows.push(row(
        "CheckMessage '*' token, ghost",
        OPS,
        with(&|r| r.tenant_id = "ghost".into()),
        Code::NotFound,
        "tenant_id",
    ));
    rows.push(row("CheckMessage '*' token, no tenant", OPS, with(&|_| {}), Code::InvalidArgument, "tenant_id"));
    rows.push(row("CheckMessage no token", None, with(&|_| {}), Code::Unauthenticated, "authorization"));
    rows.push(row(
        "CheckMessage wrong token",
        Some("northside-tokeN"),
        with(&|_| {}),
        Code::Unauthenticated,
        "authorization",
    ));

    let item = |client_ref: &str, f: &dyn Fn(&mut pb::CheckMessageRequest)| {
        let mut r = check_ok();
        r.client_ref = client_ref.into();
        f(&mut r);
        r
    };
    let stream = |items| Call::Checks(items);
    rows.push(invalid(
        "CheckMessages bad to",
        stream(vec![item("r1", &|r| r.to = "12".into())]),
        "client_ref=\"r1\" to",
    ));
    rows.push(invalid(
        "CheckMessages bad origin",
        stream(vec![item("r2", &|r| r.origin = 7)]),
        "client_ref=\"r2\" origin",
    ));
    // A valid dry run first: the stream answers it, then ends on the bad one.
    let dry = item("ok", &|r| r.dry_run = true);
    rows.push(invalid(
        "CheckMessages good then bad",
        stream(vec![dry, item("r3", &|r| r.body.clear())]),
        "client_ref=\"r3\" body",
    ));
    rows.push(invalid(
        "CheckMessages key on a dry run",
        stream(vec![item("r6", &|r| {
            r.idempotency_key = "order-1".into();
            r.dry_run = true;
        })]),
        "client_ref=\"r6\" idempotency_key",
    ));
    let foreign = stream(vec![item("r4", &|r| r.tenant_id = "southside".into())]);
    rows.push(row("CheckMessages names southside", NORTH, foreign, Code::PermissionDenied, "tenant_id"));
    let huge = stream(vec![item("r5", &|r| r.body = "a".repeat(TEN_MB))]);
    rows.push(row("CheckMessages 10 MB item", NORTH, huge, Code::ResourceExhausted, "request"));
    // Many items within the size limit, all invalid: the first ends the stream.
    let many = stream((0..2000).map(|i| item(&format!("m{i}"), &|r| r.send_at = ts(-1, 0))).collect());
    rows.push(invalid("CheckMessages 2000 bad items", many, "client_ref=\"m0\" send_at"));
    rows
}

/// RecordConsent.
pub fn record_rows() -> Vec<Row> {
    let with = |f: &dyn Fn(&mut pb::RecordConsentRequest)| {
        let mut r = record_ok();
        f(&mut r);
        Call::Record(r)
    };
    let ev = |f: &dyn Fn(&mut pb::Evidence)| with(&|r| f(r.evidence.get_or_insert_with(Default::default)));
    let scope = |campaign_id: &str, sender: &str| {
        let s = pb::ConsentScope { campaign_id: campaign_id.into(), sender: sender.into() };
        with(&|r| r.scope = Some(s.clone()))
    };
    let mut rows = Vec::new();
    for (what, p) in bad_phones() {
        rows.push(invalid(format!("RecordConsent phone {what}"), with(&|r| r.phone = p.clone()), "phone"));
    }
    rows.push(invalid("RecordConsent event_id missing", with(&|r| r.event_id.clear()), "event_id"));
    rows.push(invalid("RecordConsent event_id 129 bytes", with(&|r| r.event_id = "e".repeat(129)), "event_id"));
    rows.push(invalid("RecordConsent event_id space", with(&|r| r.event_id = "a b".into()), "event_id"));
    rows.push(invalid("RecordConsent event_id control", with(&|r| r.event_id = "a\u{1}b".into()), "event_id"));
    rows.push(invalid("RecordConsent event_id reserved", with(&|r| r.event_id = "inbound:x".into()), "event_id"));
    rows.push(invalid("RecordConsent action 99", with(&|r| r.action = 99), "action"));
    rows.push(invalid("RecordConsent action unset", with(&|r| r.action = 0), "action"));
    rows.push(invalid("RecordConsent grant without level", with(&|r| r.level = 0), "level"));
    rows.push(invalid("RecordConsent level 99", with(&|r| r.level = 99), "level"));
    rows.push(invalid("RecordConsent source 99", with(&|r| r.source = 99), "source"));
    rows.push(invalid("RecordConsent unknown campaign", scope("no-such-campaign", ""), "scope.campaign_id"));
    rows.push(invalid("RecordConsent southside's sender", scope("", FOREIGN_SENDER), "scope.sender"));
    rows.push(invalid("RecordConsent sender junk", scope("", "junk"), "scope.sender"));
    rows.push(invalid("RecordConsent occurred_at 1969", with(&|r| r.occurred_at = ts(-1, 0)), "occurred_at"));
    rows.push(invalid(
        "RecordConsent occurred_at year 3000",
        with(&|r| r.occurred_at = ts(32_503_680_000, 0)),
        "occurred_at",
    ));
    rows.push(invalid(
        "RecordConsent occurred_at year 9999",
        with(&|r| r.occurred_at = ts(LAST_SECOND, 0)),
        "occurred_at",
    ));
    rows.push(invalid(
        "RecordConsent occurred_at nanos",
        with(&|r| r.occurred_at = ts(1, 1_000_000_000)),
        "occurred_at",
    ));
    rows.push(invalid("RecordConsent category 99", with(&|r| r.categories = vec![99]), "categories[0]"));
    rows.push(invalid("RecordConsent category unset", with(&|r| r.categories = vec![0]), "categories[0]"));
    rows.push(invalid("RecordConsent 10k categories", with(&|r| r.categories = vec![1; 10_000]), "categories"));
    let mut revoke = crate::helpers::revoke("bad-input-2", PHONES[0]);
    revoke.categories = vec![2];
    rows.push(invalid("RecordConsent revoke with categories", Call::Record(revoke), "categories"));
    let extra = |n: usize, key: &dyn Fn(usize) -> String, value: &str| {
        let map: std::collections::HashMap<String, String> = (0..n).map(|i| (key(i), value.to_string())).collect();
        ev(&|e| e.extra = map.clone())
    };
    let k = |i: usize| format!("k{i}");
    rows.push(invalid("RecordConsent extra 33 entries", extra(33, &k, "v"), "evidence.extra"));
    rows.push(invalid("RecordConsent extra 5000 entries", extra(5000, &k, ""), "evidence.extra"));
    let big =
        row("RecordConsent extra 100k entries", NORTH, extra(100_000, &k, "v"), Code::ResourceExhausted, "request");
    rows.push(big);
    rows.push(invalid("RecordConsent extra key 129 bytes", extra(1, &|_| "k".repeat(129), "v"), "evidence.extra"));
    rows.push(invalid("RecordConsent extra key 20 KB", extra(1, &|_| "k".repeat(20_000), "v"), "evidence.extra"));
    rows.push(invalid("RecordConsent extra key space", extra(1, &|_| "a key".into(), "v"), "evidence.extra"));
    rows.push(invalid("RecordConsent extra key empty", extra(1, &|_| String::new(), "v"), "evidence.extra"));
    rows.push(invalid("RecordConsent extra value 513 bytes", extra(1, &k, &"v".repeat(513)), "evidence.extra"));
    rows.push(invalid("RecordConsent extra value 60 KB", extra(1, &k, &"v".repeat(60_000)), "evidence.extra"));
    rows.push(invalid("RecordConsent extra value control", extra(1, &k, "a\u{0}b"), "evidence.extra"));
    let field = |name: &'static str, f: fn(&mut pb::Evidence, String), value: String| {
        invalid(format!("RecordConsent {name}"), ev(&|e| f(e, value.clone())), name)
    };
    rows.push(field("evidence.collected_by", |e, v| e.collected_by = v, "c".repeat(513)));
    rows.push(field("evidence.method_detail", |e, v| e.method_detail = v, "m".repeat(4097)));
    rows.push(field("evidence.disclosure_text", |e, v| e.disclosure_text = v, "a\u{0}b".into()));
    rows.push(field("evidence.user_agent", |e, v| e.user_agent = v, "u".repeat(4097)));
    rows.push(field("evidence.document_ref", |e, v| e.document_ref = v, "d".repeat(513)));
    rows.push(field("evidence.ip_address", |e, v| e.ip_address = v, "999.1.1.1".into()));
    let huge = ev(&|e| e.disclosure_text = "a".repeat(TEN_MB));
    rows.push(row("RecordConsent 10 MB evidence", NORTH, huge, Code::ResourceExhausted, "request"));
    rows.push(row(
        "RecordConsent names southside",
        NORTH,
        with(&|r| r.tenant_id = "southside".into()),
        Code::PermissionDenied,
        "tenant_id",
    ));
    rows.push(row(
        "RecordConsent names a ghost",
        NORTH,
        with(&|r| r.tenant_id = "ghost".into()),
        Code::PermissionDenied,
        "tenant_id",
    ));
    rows.push(row(
        "RecordConsent '*' token, ghost",
        OPS,
        with(&|r| r.tenant_id = "ghost".into()),
        Code::NotFound,
        "tenant_id",
    ));
    rows
}

/// ProcessInbound, GetConsent, ListConsentEvents and GetDecision.
pub fn other_rows() -> Vec<Row> {
    let inbound = |f: &dyn Fn(&mut pb::ProcessInboundRequest)| {
        let mut r = inbound_ok();
        f(&mut r);
        Call::Inbound(r)
    };
    let get = |phone: &str| Call::Get(pb::GetConsentRequest { phone: phone.into(), ..Default::default() });
    let list = |phone: &str| Call::List(pb::ListConsentEventsRequest { phone: phone.into(), ..Default::default() });
    let decision = |id: String| Call::Decision(pb::GetDecisionRequest { decision_id: id, ..Default::default() });
    let mut rows = Vec::new();
    for (what, p) in bad_phones() {
        rows.push(invalid(format!("ProcessInbound from {what}"), inbound(&|r| r.from = p.clone()), "from"));
        rows.push(invalid(format!("GetConsent phone {what}"), get(&p), "phone"));
        if !p.is_empty() {
            rows.push(invalid(format!("ListConsentEvents phone {what}"), list(&p), "phone"));
        }
    }
    rows.push(invalid("ProcessInbound to empty", inbound(&|r| r.to.clear()), "to"));
    rows.push(invalid("ProcessInbound to not ours", inbound(&|r| r.to = PHONES[0].into()), "to"));
    rows.push(invalid("ProcessInbound to southside's", inbound(&|r| r.to = FOREIGN_SENDER.into()), "to"));
    rows.push(invalid("ProcessInbound message_id missing", inbound(&|r| r.message_id.clear()), "message_id"));
    rows.push(invalid("ProcessInbound message_id 129", inbound(&|r| r.message_id = "m".repeat(129)), "message_id"));
    rows.push(invalid("ProcessInbound message_id space", inbound(&|r| r.message_id = "m 1".into()), "message_id"));
    rows.push(invalid("ProcessInbound body 1601 bytes", inbound(&|r| r.body = "STOP ".repeat(321)), "body"));
    rows.push(invalid("ProcessInbound received_at nanos", inbound(&|r| r.received_at = ts(MIDDAY, -7)), "received_at"));
    rows.push(invalid("ProcessInbound received_at 1969", inbound(&|r| r.received_at = ts(-5, 0)), "received_at"));
    let future = |s| inbound(&move |r| r.received_at = ts(s, 0));
    rows.push(invalid("ProcessInbound received_at year 3000", future(32_503_680_000), "received_at"));
    rows.push(invalid("ProcessInbound received_at past range", future(LAST_SECOND + 1), "received_at"));
    let huge = inbound(&|r| r.body = "a".repeat(TEN_MB));
    rows.push(row("ProcessInbound 10 MB body", NORTH, huge, Code::ResourceExhausted, "request"));
    let foreign = inbound(&|r| r.tenant_id = "southside".into());
    rows.push(row("ProcessInbound names southside", NORTH, foreign, Code::PermissionDenied, "tenant_id"));

    rows.push(invalid(
        "GetConsent consistency_token",
        Call::Get(pb::GetConsentRequest {
            phone: PHONES[0].into(),
            consistency_token: "not-a-token".into(),
            ..Default::default()
        }),
        "consistency_token",
    ));
    let peek = pb::GetConsentRequest { tenant_id: "southside".into(), phone: PHONES[0].into(), ..Default::default() };
    rows.push(row("GetConsent names southside", NORTH, Call::Get(peek), Code::PermissionDenied, "tenant_id"));
    let peek = pb::ListConsentEventsRequest { tenant_id: "southside".into(), ..Default::default() };
    rows.push(row("ListConsentEvents names southside", NORTH, Call::List(peek), Code::PermissionDenied, "tenant_id"));
    let peek = pb::ListConsentEventsRequest { tenant_id: "ghost".into(), ..Default::default() };
    rows.push(row("ListConsentEvents '*' token, ghost", OPS, Call::List(peek), Code::NotFound, "tenant_id"));

    rows.push(invalid("GetDecision id missing", decision(String::new()), "decision_id"));
    rows.push(invalid("GetDecision id 129 bytes", decision("d".repeat(129)), "decision_id"));
    rows.push(invalid("GetDecision id space", decision("d 1".into()), "decision_id"));
    rows.push(row(
        "GetDecision unknown id",
        NORTH,
        decision("d-0000000000000000000000".into()),
        Code::NotFound,
        "decision_id",
    ));
    let foreign = pb::GetDecisionRequest { tenant_id: "southside".into(), decision_id: "d-1".into() };
    rows.push(row("GetDecision names southside", NORTH, Call::Decision(foreign), Code::PermissionDenied, "tenant_id"));
    rows
}
