//! Idempotent checks, black box: a CheckMessage retried with its
//! `idempotency_key` gets the first answer back (same decision_id, same
//! body) and its send counts once toward the Florida cap (3 promotional
//! texts a day, a state rule of the demo policy) and toward disclosure
//! timing; concurrent calls with one key decide once; a stored DEFER is
//! replayed until its defer_until; a key past `ledger.idempotency_window`
//! is decided anew; the same key with another request is ALREADY_EXISTS;
//! CheckMessages keys each message; and a retry after SIGKILL and restart
//! finds the answer and the counted send.

use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use tempfile::TempDir;
use textgate::api::pb::{self, ConsentLevel, Decision};
use textgate::config::Config;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{grant, http_get, Client, TestApp, TestClock};
use crate::metrics::parse_exposition;
use crate::process::Server;

/// A Florida number: the state caps promotional texts at 3 a day.
const FLORIDA: &str = "+13055550199";
/// Tuesday 2026-06-02 18:00 UTC, 14:00 in Florida.
const START: &str = "2026-06-02T18:00:00Z";

/// A fundraising (promotional) text to FLORIDA under `key`.
fn promo(key: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: "+13125550101".into(),
        to: FLORIDA.into(),
        body: "Our gala is Friday.".into(),
        origin: pb::Origin::Automated as i32,
        idempotency_key: key.into(),
        ..Default::default()
    }
}

async fn clocked() -> (TestApp, std::sync::Arc<TestClock>, Client) {
    let clock = TestClock::at(START.parse().unwrap());
    let app = TestApp::spawn_clocked(Config::demo(), TempDir::new().unwrap(), clock.clone()).await;
    let mut c = app.client().await;
    c.record_consent(grant("g1", FLORIDA, ConsentLevel::ExpressWritten)).await.unwrap();
    (app, clock, c)
}

async fn check(c: &mut Client, req: pb::CheckMessageRequest) -> pb::CheckMessageResponse {
    c.check_message(req).await.unwrap().into_inner()
}

async fn replays(app: &TestApp) -> f64 {
    let (_, text) = http_get(app.admin, "/metrics").await;
    let samples = parse_exposition(&text);
    samples.iter().filter(|s| s.name == "textgate_idempotent_replays_total").map(|s| s.value).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_gets_the_first_answer_and_its_send_counts_once() {
    let (app, clock, mut c) = clocked().await;
    let first = check(&mut c, promo("order-1")).await;
    assert_eq!(first.decision(), Decision::AllowWithChanges, "first business text carries the notice: {first:?}");
    let retry = check(&mut c, pb::CheckMessageRequest { client_ref: "again".into(), ..promo("order-1") }).await;
    assert_eq!(retry.decision_id, first.decision_id, "same decision");
    assert_eq!((retry.decision(), &retry.body, &retry.changes), (first.decision(), &first.body, &first.changes));
    assert_eq!(retry.client_ref, "again", "the retry's client_ref is echoed");
    assert_eq!(replays(&app).await, 1.0);

    // Counted once: the notice went out once, and two more sends fit under
    // the cap of 3 before the fourth is deferred.
    for key in ["order-2", "order-3"] {
        let r = check(&mut c, promo(key)).await;
        assert_eq!(r.decision(), Decision::Allow, "{key}: no second notice, under the cap: {r:?}");
    }
    let deferred = check(&mut c, promo("order-4")).await;
    assert_eq!(deferred.decision(), Decision::Defer, "{deferred:?}");
    assert_eq!(deferred.reasons[0].code(), pb::ReasonCode::ReasonFrequencyCap);

    // A DEFER is replayed until its defer_until, then decided anew.
    clock.0.fetch_add(3600, Ordering::SeqCst);
    assert_eq!(check(&mut c, promo("order-4")).await.decision_id, deferred.decision_id);
    let until = deferred.defer_until.as_ref().unwrap().seconds;
    clock.0.store(until, Ordering::SeqCst);
    let anew = check(&mut c, promo("order-4")).await;
    assert_ne!(anew.decision_id, deferred.decision_id, "decided anew at defer_until");
    assert_eq!(anew.decision(), Decision::Allow, "{anew:?}");
    assert_eq!(check(&mut c, promo("order-4")).await.decision_id, anew.decision_id, "and that answer is kept");

    // Past the window (24h by default) the key is decided anew.
    clock.0.store(START.parse::<Timestamp>().unwrap().as_second() + 24 * 3600, Ordering::SeqCst);
    let later = check(&mut c, promo("order-1")).await;
    assert_ne!(later.decision_id, first.decision_id, "a key past the window is decided anew");
    assert_eq!(replays(&app).await, 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_used_for_another_request_is_refused() {
    let (_app, _clock, mut c) = clocked().await;
    let first = check(&mut c, promo("order-1")).await;
    let changed = [
        pb::CheckMessageRequest { body: "Our gala is Saturday.".into(), ..promo("order-1") },
        pb::CheckMessageRequest { to: "+13055550198".into(), ..promo("order-1") },
        pb::CheckMessageRequest {
            send_at: Some(prost_types::Timestamp { seconds: 1_780_430_400, nanos: 0 }),
            ..promo("order-1")
        },
    ];
    for req in changed {
        let e = c.check_message(req).await.expect_err("another request");
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        assert_eq!(e.message(), "idempotency_key: already used for a different request");
        assert_eq!(e.get_details_error_info().map(|i| i.reason), Some("KEY_REUSED".to_string()));
    }
    // The number in another form is the same request.
    let national = check(&mut c, pb::CheckMessageRequest { to: "(305) 555-0199".into(), ..promo("order-1") }).await;
    assert_eq!(national.decision_id, first.decision_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_with_one_key_decide_once() {
    let (_app, _clock, c) = clocked().await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut c = c.clone();
        calls.spawn(async move { check(&mut c, promo("burst")).await.decision_id });
    }
    let ids: Vec<String> = calls.join_all().await;
    assert!(ids.iter().all(|id| id == &ids[0]), "one decision: {ids:?}");
    let mut c = c;
    for key in ["after-1", "after-2"] {
        assert_eq!(check(&mut c, promo(key)).await.decision(), Decision::Allow, "{key}: one send counted");
    }
    assert_eq!(check(&mut c, promo("after-3")).await.decision(), Decision::Defer);
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_messages_carry_keys_of_their_own() {
    let (_app, _clock, mut c) = clocked().await;
    let items = vec![promo("s-1"), promo("s-1"), promo("s-2"), promo("")];
    let mut answers = c.check_messages(tokio_stream::iter(items)).await.unwrap().into_inner();
    let mut ids = Vec::new();
    while let Some(a) = answers.message().await.unwrap() {
        ids.push(a.decision_id);
    }
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], ids[1], "a retried key in the stream");
    assert_ne!(ids[0], ids[2]);
    assert_eq!(check(&mut c, promo("s-2")).await.decision_id, ids[2], "and across calls");
    // s-1, s-2 and the unkeyed message: the cap of 3 is reached.
    assert_eq!(check(&mut c, promo("s-3")).await.decision(), Decision::Defer);
}

/// Tuesday 2027-06-01 18:00 UTC: ahead of the real clock, so the sends stay
/// in the contact history (it drops sends a cap period older than now).
const AHEAD: i64 = 1_811_872_800;

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_crash_and_restart_gets_the_first_answer() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path());
    let mut c = connect(&server).await;
    c.record_consent(grant("g1", FLORIDA, ConsentLevel::ExpressWritten)).await.unwrap();
    let at = |key: &str| pb::CheckMessageRequest {
        send_at: Some(prost_types::Timestamp { seconds: AHEAD, nanos: 0 }),
        ..promo(key)
    };
    let first = check(&mut c, at("order-1")).await;
    assert_eq!(first.decision(), Decision::AllowWithChanges, "{first:?}");
    // The key and the send reach the disk on sled's periodic flush (every
    // 500 ms), like contact history: wait that out, then SIGKILL.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();

    let server = Server::start(dir.path());
    let mut c = connect(&server).await;
    let retry = check(&mut c, at("order-1")).await;
    assert_eq!(retry.decision_id, first.decision_id, "the stored answer survives the crash");
    assert_eq!((retry.decision(), &retry.body), (first.decision(), &first.body));
    // The send was kept with the key: no second notice, and two more sends
    // reach the cap.
    assert_eq!(check(&mut c, at("order-2")).await.decision(), Decision::Allow);
    assert_eq!(check(&mut c, at("order-3")).await.decision(), Decision::Allow);
    assert_eq!(check(&mut c, at("order-4")).await.decision(), Decision::Defer);
}

async fn connect(server: &Server) -> Client {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel.connect().await.unwrap(),
        crate::helpers::Token(None),
    )
}
