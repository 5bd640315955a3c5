//! Bad input, black box: every malformed request of the table in `rows` gets
//! its exact status code and a message that starts with the field's name (an
//! INVALID_ARGUMENT also carries that field in a BadRequest detail); the server
//! stays up; and nothing is written: the ledgers stay empty, the one decision
//! made before is unchanged, no consent or conversation appears, and the
//! metrics count no ledger event, no inbound text and no further decision.

mod rows;
mod wire;

use std::collections::HashMap;

use textgate::api::pb;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

use crate::helpers::{http_get, list_all, Client, TestApp, TWO_TENANTS};
use crate::metrics::{parse_exposition, Sample};
use rows::{Call, Row};

/// Sends one call; the status it ended with (Ok when every item succeeded).
async fn send(c: &mut Client, call: Call) -> Result<(), Status> {
    match call {
        Call::Check(r) => c.check_message(r).await.map(drop),
        Call::Checks(items) => {
            let mut answers = c.check_messages(tokio_stream::iter(items)).await?.into_inner();
            while answers.message().await?.is_some() {}
            Ok(())
        }
        Call::Record(r) => c.record_consent(r).await.map(drop),
        Call::Inbound(r) => c.process_inbound(r).await.map(drop),
        Call::Get(r) => c.get_consent(r).await.map(drop),
        Call::List(r) => {
            let mut events = c.list_consent_events(r).await?.into_inner();
            while events.message().await?.is_some() {}
            Ok(())
        }
        Call::Decision(r) => c.get_decision(r).await.map(drop),
    }
}

/// The sum of every sample of one series (0 when absent).
fn total(samples: &[Sample], name: &str) -> f64 {
    samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

/// Checks one answer against its row; a description of what is wrong.
fn judge(row: &Row, got: Result<(), Status>) -> Option<String> {
    let err = match got {
        Ok(()) => return Some(format!("{}: accepted", row.name)),
        Err(e) => e,
    };
    if err.code() != row.code || !err.message().starts_with(&row.field) {
        return Some(format!(
            "{}: want {:?} starting {:?}, got {:?} {:?}",
            row.name,
            row.code,
            row.field,
            err.code(),
            err.message()
        ));
    }
    if row.code == Code::InvalidArgument {
        let violations = err.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
        if !violations.iter().any(|v| v.field.starts_with(&row.field)) {
            return Some(format!("{}: no BadRequest violation for {:?}: {violations:?}", row.name, row.field));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_a_precise_status_and_write_nothing() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut clients: HashMap<Option<&str>, Client> = HashMap::new();
    for token in [rows::NORTH, rows::OPS, Some("southside-token"), Some("northside-tokeN"), None] {
        clients.insert(token, app.client_with(token).await);
    }
    let north = || clients[&rows::NORTH].clone();

    // Arrange: one logged decision, to show later it is untouched.
    let made = north().check_message(rows::check_ok()).await.expect("a valid check").into_inner();
    let decision = pb::GetDecisionRequest { decision_id: made.decision_id.clone(), ..Default::default() };
    let before = north().get_decision(decision.clone()).await.expect("logged").into_inner();

    let table: Vec<Row> = [rows::check_rows(), rows::record_rows(), rows::other_rows()].into_iter().flatten().collect();
    assert!(table.len() >= 60, "{} rows", table.len());
    let mut failures = Vec::new();
    for row in &table {
        let mut client = clients[&row.token].clone();
        let got = tokio::time::timeout(std::time::Duration::from_secs(30), send(&mut client, row.call.clone())).await;
        let got = got.unwrap_or_else(|_| Err(Status::deadline_exceeded("test: no answer within 30 s")));
        failures.extend(judge(row, got));
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), table.len(), failures.join("\n"));

    // The server is up and answers.
    let mut health = HealthClient::new(app.channel().await);
    let status = health.check(HealthCheckRequest { service: "textgate.v1.PolicyService".into() }).await.unwrap();
    assert_eq!(status.into_inner().status, ServingStatus::Serving as i32);

    // Nothing was written.
    assert!(list_all(&mut north(), "").await.is_empty(), "northside's ledger is not empty");
    assert!(list_all(&mut clients[&Some("southside-token")].clone(), "").await.is_empty(), "southside's ledger");
    assert_eq!(north().get_decision(decision).await.expect("still there").into_inner(), before);
    for phone in rows::PHONES {
        let req = pb::GetConsentRequest { phone: phone.to_string(), ..Default::default() };
        let view = north().get_consent(req).await.expect("consent view").into_inner();
        assert!(view.scopes.is_empty() && view.last_inbound_at.is_none(), "{phone}: {view:?}");
    }
    let (_, text) = http_get(app.admin, "/metrics").await;
    let samples = parse_exposition(&text);
    assert_eq!(total(&samples, "textgate_ledger_events_total"), 0.0, "ledger events in\n{text}");
    assert_eq!(total(&samples, "textgate_inbound_total"), 0.0, "inbound texts in\n{text}");
    // The arranged decision; the one valid item inside a stream is a dry run,
    // which decisions_total leaves out.
    assert_eq!(total(&samples, "textgate_decisions_total"), 1.0, "decisions in\n{text}");
}

/// The edges of what is valid are decided, not crashed on: `send_at` is never
/// clamped, so the first and the last second a timestamp may name get a
/// decision (quiet hours, caps and the disclosure interval all compute from it).
#[tokio::test(flavor = "multi_thread")]
async fn the_first_and_last_valid_instants_get_a_decision() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut c = app.client_with(rows::NORTH).await;
    for seconds in [0, 1, rows::LAST_SECOND - 1, rows::LAST_SECOND] {
        for nanos in [0, 999_999_999] {
            for category in [pb::MessageCategory::CategoryUnspecified, pb::MessageCategory::CategoryPromotional] {
                let mut req = rows::check_ok();
                req.send_at = Some(prost_types::Timestamp { seconds, nanos });
                req.category = category as i32;
                req.recipient_state = "FL".into();
                let got = c.check_message(req.clone()).await;
                let resp = got.unwrap_or_else(|e| panic!("send_at {seconds}.{nanos} {category:?}: {e:?}"));
                assert_ne!(resp.into_inner().decision, pb::Decision::Unspecified as i32);
                req.dry_run = true;
                c.check_message(req).await.unwrap_or_else(|e| panic!("dry run at {seconds}: {e:?}"));
            }
        }
    }
}
