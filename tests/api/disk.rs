//! Disk trouble on the real binary: its log file may not grow (as on a full
//! disk) while it serves. Writes fail with UNAVAILABLE and are never
//! acknowledged; CheckMessage keeps deciding from the durable consent (not
//! from a failed write) and the instance stays ready, while /healthz, gRPC
//! health and `textgate_ledger_writable` ask for the restart that clears the
//! latch; after a restart on a healthy disk everything acknowledged is there.
//!
//! The fault is the file-size limit (RLIMIT_FSIZE, set on the running server
//! with `prlimit`, no privileges needed): a write that would grow the file
//! fails with EFBIG, the error sled sees on a full disk. The server runs
//! through `sh` with SIGXFSZ ignored, so the write fails instead of the
//! signal killing the process.

use std::collections::HashSet;
use std::process::Command;

use textgate::api::pb::{self, ConsentLevel, Decision};
use tonic::Code;

use crate::helpers::{grant, http_get, list_all, revoke, Client, Token};
use crate::process::{textgate, Server};

const GRANTED: &str = "+13125550131";
const OPTED_OUT: &str = "+13125550132";
const NEWLY: &str = "+13125550133";

fn limit_file_size(prlimit: &std::path::Path, pid: u32, soft: &str) {
    let set = Command::new(prlimit).arg("--pid").arg(pid.to_string()).arg(format!("--fsize={soft}:")).status();
    assert!(set.expect("run prlimit").success(), "prlimit --fsize={soft}:");
}

async fn client(server: &Server) -> Client {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    pb::policy_service_client::PolicyServiceClient::with_interceptor(channel.connect().await.unwrap(), Token(None))
}

fn check(to: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: "+13125550100".into(),
        to: to.into(),
        body: "Your caseworker can see you Tuesday at 10am.".into(),
        campaign_id: "casework".into(),
        send_at: Some(next_chicago_noon()),
        ..Default::default()
    }
}

/// The next 12:00 in Chicago: inside every sending window, whatever the
/// wall clock says when the test runs (the grants are stamped with it).
fn next_chicago_noon() -> prost_types::Timestamp {
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("America/Chicago").unwrap());
    let mut noon = now.with().hour(12).minute(0).second(0).subsec_nanosecond(0).build().unwrap();
    if noon <= now {
        noon = noon.tomorrow().unwrap();
    }
    prost_types::Timestamp { seconds: noon.timestamp().as_second(), nanos: 0 }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_writes_unavailable_and_loses_nothing_acknowledged() {
    let Some(prlimit) = textgate::testkit::require_tool("prlimit", "util-linux") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut wrapped = Command::new("sh");
    wrapped.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""]).arg(textgate().get_program());
    let server = Server::start_with(wrapped, &data);
    let mut c = client(&server).await;
    let mut acked = HashSet::new();
    for (id, req) in [("g1", grant("g1", GRANTED, ConsentLevel::Express)), ("r1", revoke("r1", OPTED_OUT))] {
        c.record_consent(req).await.unwrap();
        acked.insert(id.to_string());
    }

    assert_eq!(http_get(server.admin, "/readyz").await.0, 200);
    let size = std::fs::metadata(data.join("db")).unwrap().len();
    limit_file_size(&prlimit, server.pid(), &size.to_string());
    // The first write to fail: a grant, which may linger in sled's memory.
    let e = c.record_consent(grant("full-grant", NEWLY, ConsentLevel::Express)).await.expect_err("not acknowledged");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(!e.message().contains("EFBIG") && !e.message().contains("File too large"), "no internals: {e:?}");
    // The only instance keeps deciding (ready), asks to be restarted
    // (/healthz, gRPC health ""), and says so in a gauge.
    let (status, body) = http_get(server.admin, "/readyz").await;
    assert_eq!(status, 200, "decisions keep flowing: {body}");
    assert!(body.contains("writes refused"), "{body}");
    let (status, body) = http_get(server.admin, "/healthz").await;
    assert_eq!(status, 503, "a restart clears the latch: {body}");
    assert!(body.contains("restart textgate"), "{body}");
    let metrics = http_get(server.admin, "/metrics").await.1;
    assert!(metrics.lines().any(|l| l == "textgate_ledger_writable 0"));
    assert!(metrics.lines().any(|l| l == "textgate_ready 1"), "the only instance stays in rotation");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.connect().await.unwrap());
    let status_of = |service: &str| tonic_health::pb::HealthCheckRequest { service: service.into() };
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    let mut overall = 0;
    for _ in 0..100 {
        overall = health.check(status_of("")).await.unwrap().into_inner().status;
        if overall == not_serving {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(overall, not_serving, "gRPC liveness follows /healthz");
    let policy = health.check(status_of("textgate.v1.PolicyService")).await.unwrap().into_inner().status;
    assert_eq!(policy, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "still deciding");
    for i in 0..2 {
        let e = c.record_consent(revoke(&format!("full-{i}"), GRANTED)).await.expect_err("never acknowledged");
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    }
    let stop = pb::ProcessInboundRequest {
        from: GRANTED.into(),
        to: "+13125550100".into(),
        body: "STOP".into(),
        message_id: "full-stop".into(),
        ..Default::default()
    };
    assert_eq!(c.process_inbound(stop).await.expect_err("not acknowledged").code(), Code::Unavailable);
    // Decisions keep coming from the durable consent, sends included; the
    // grant that was never acknowledged is not acted on.
    let unacked = c.check_message(check(NEWLY)).await.unwrap().into_inner();
    assert_eq!(unacked.decision, Decision::Deny as i32, "{unacked:?}");
    for dry_run in [true, false] {
        let ok = c.check_message(pb::CheckMessageRequest { dry_run, ..check(GRANTED) }).await.unwrap().into_inner();
        assert_eq!(ok.decision, Decision::AllowWithChanges as i32, "dry_run={dry_run}: {ok:?}");
        let denied = c.check_message(pb::CheckMessageRequest { dry_run, ..check(OPTED_OUT) }).await.unwrap();
        assert_eq!(denied.into_inner().decision, Decision::Deny as i32, "the opt-out holds");
    }

    // The disk has room again. sled 0.34 keeps refusing writes after an I/O
    // error until the process restarts; whatever it does acknowledge now
    // must survive that restart too.
    limit_file_size(&prlimit, server.pid(), "unlimited");
    if c.record_consent(revoke("after-fault", GRANTED)).await.is_ok() {
        acked.insert("after-fault".into());
    }
    drop(c);
    server.kill();

    let server = Server::start(&data);
    let mut c = client(&server).await;
    let ids: Vec<String> = list_all(&mut c, "").await.into_iter().map(|e| e.event_id).collect();
    let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged before the fault, lost: {missing:?} (ledger: {ids:?})");
    assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len(), "each event once: {ids:?}");
    c.record_consent(revoke("after-restart", GRANTED)).await.expect("writes work again after a restart");
    drop(c);
    assert_eq!(server.terminate(), Some(0));
    let report = textgate::consent::verify::verify_dir(&data).unwrap();
    assert!(report.is_clean(), "{report}: {:?}", report.problems);
}

/// A disk down to `ledger.reserved_disk_mib` takes revocations only: a
/// grant is refused naming the key, STOP and RecordConsent REVOKE are
/// recorded, and decisions are still answered (their history and record
/// are what is left out). The reserve here is larger than any disk, so the
/// disk is "down to it" without filling one.
#[tokio::test(flavor = "multi_thread")]
async fn a_disk_down_to_its_reserve_still_records_opt_outs() {
    let reserve_all = format!("{}\n[ledger]\nreserved_disk_mib = 1000000000000\n", textgate::config::DEMO_TOML);
    let app = crate::helpers::TestApp::spawn_toml(&reserve_all).await;
    let mut c = app.client().await;

    let refused = c.record_consent(grant("reserve-grant", GRANTED, ConsentLevel::Express)).await.expect_err("a grant");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().starts_with("ledger.reserved_disk_mib:"), "{}", refused.message());

    c.record_consent(revoke("reserve-revoke", OPTED_OUT)).await.expect("a revocation is recorded");
    let stop = pb::ProcessInboundRequest {
        from: NEWLY.into(),
        to: "+13125550100".into(),
        body: "STOP".into(),
        message_id: "reserve-stop".into(),
        ..Default::default()
    };
    let answer = c.process_inbound(stop).await.expect("STOP is recorded").into_inner();
    assert_eq!(answer.intent, pb::InboundIntent::OptOut as i32);
    assert!(answer.event.is_some(), "{answer:?}");

    let decided = c.check_message(check(OPTED_OUT)).await.expect("decisions are answered").into_inner();
    assert_eq!(decided.decision, Decision::Deny as i32, "{decided:?}");
    let ids: Vec<String> = list_all(&mut c, "").await.into_iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 2, "the two revocations, no grant: {ids:?}");
    assert!(ids.contains(&"reserve-revoke".to_string()), "{ids:?}");
    drop(c);
    app.stop().await;
}
