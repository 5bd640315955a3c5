//! Load shedding: past `server.max_in_flight` calls of one method, the server
//! answers RESOURCE_EXHAUSTED at once, keeps answering health checks, and
//! loses no acknowledged write.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use textgate::api::pb::ConsentLevel;
use tonic::Code;

use crate::helpers::{grant, http_get, list_all, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_is_shed_quickly_and_loses_no_acknowledged_write() {
    // Four RecordConsent calls at a time, each with its own fsync: easy to flood.
    let toml = textgate::config::DEMO_TOML.replace("[server]", "[server]\nmax_in_flight = 4")
        + "\n[ledger]\ndurability = \"per_write\"\n";
    let app = TestApp::spawn_toml(&toml).await;
    let client = app.client().await;

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut waves = 0;
    let (mut acked, mut shed, mut shed_slowest) = (BTreeSet::new(), 0u64, Duration::ZERO);
    while Instant::now() < deadline && waves < 20 {
        waves += 1;
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let mut c = client.clone();
                let id = format!("flood-{waves}-{i}");
                tokio::spawn(async move {
                    let started = Instant::now();
                    let r = c.record_consent(grant(&id, &format!("+1312555{:04}", i), ConsentLevel::Express)).await;
                    // A shed call says when to retry (google.rpc.RetryInfo).
                    let r = r.map(|_| ()).map_err(|s| {
                        use tonic_types::StatusExt;
                        let retry = s.get_details_retry_info().and_then(|r| r.retry_delay);
                        assert!(s.code() != Code::ResourceExhausted || retry.is_some(), "no RetryInfo: {s:?}");
                        s.code()
                    });
                    (id, r, started.elapsed())
                })
            })
            .collect();
        // Health checks keep being answered while the wave is in flight.
        let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
        let h = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await;
        assert!(h.is_ok(), "health check during the flood: {h:?}");
        for call in calls {
            match call.await.expect("call task") {
                (id, Ok(()), _) => {
                    acked.insert(id);
                }
                (_, Err(Code::ResourceExhausted), took) => {
                    shed += 1;
                    shed_slowest = shed_slowest.max(took);
                }
                (id, Err(code), _) => panic!("{id}: unexpected {code:?}"),
            }
        }
    }
    assert!(shed > 0, "64 concurrent writes against a limit of 4 must shed some");
    assert!(!acked.is_empty(), "and serve the rest");
    assert!(shed_slowest < Duration::from_secs(1), "shedding answers at once, slowest took {shed_slowest:?}");

    let mut c = app.client().await;
    let stored: Vec<String> = list_all(&mut c, "").await.into_iter().map(|e| e.event_id).collect();
    let unique: BTreeSet<_> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    assert!(acked.is_subset(&unique), "every acknowledged write is stored");

    let (_, metrics) = http_get(app.admin, "/metrics").await;
    let line = format!("textgate_requests_shed_total{{method=\"RecordConsent\"}} {shed}");
    assert!(metrics.contains(&line), "the shed counter says {shed}:\n{metrics}");
}
