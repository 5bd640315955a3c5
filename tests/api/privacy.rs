//! No phone number and no message body leaves the process in logs or spans.
//!
//! The real binary runs a full scenario with JSON logs at `RUST_LOG=debug`
//! (every crate, so the transport's own logging is covered too) and exports
//! every span to an OTLP collector played by this test; its whole log and
//! every exported span (attributes and events) are searched for each number
//! in every spelling and for each body.

use std::process::Command;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};
use tonic::Code;

use crate::decisions::{inbound, msg};
use crate::helpers::{grant, Reap};

/// The people texted in the scenario, and the valid-looking digits of the
/// numbers sent in invalid requests.
const NUMBERS: &[&str] = &["3125550187", "3125550176", "3125550165", "3125550154", "3125550143"];
const BODIES: &[&str] = &["zebra-quartz-417", "kiwi-marmalade-913", "opal-tangent-288"];

/// Every spelling of a 10-digit NANP number a log could carry.
fn spellings(n: &str) -> Vec<String> {
    let (a, x, s) = (&n[0..3], &n[3..6], &n[6..]);
    vec![
        format!("+1{n}"),
        n.to_string(),
        format!("({a}) {x}-{s}"),
        format!("{a}-{x}-{s}"),
        format!("{a}.{x}.{s}"),
        format!("{a} {x} {s}"),
        format!("{x}-{s}"),
        format!("{x}{s}"),
    ]
}

/// A collector that keeps every export request it gets.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().expect("collector lock").push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_spans_carry_no_phone_number_and_no_body() {
    // Arrange: the collector on 127.0.0.1:0, the binary exporting to it.
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let otlp = listener.local_addr().expect("addr");
    let serving = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let server = tokio::spawn(serving);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("textgate.toml");
    std::fs::write(&config_path, crate::tracing_export::config(otlp)).unwrap();
    let (child, addr, log) = crate::tracing_export::start_textgate(dir.path(), &config_path, "debug");
    let child = Reap(child);

    // Act: the scenario.
    let [granted, denied, stopper, chatter, invalid] = [0, 1, 2, 3, 4].map(|i| NUMBERS[i]);
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    c.record_consent(grant(
        "privacy-1",
        &format!("({}) {}-{}", &granted[..3], &granted[3..6], &granted[6..]),
        pb::ConsentLevel::Express,
    ))
    .await
    .expect("grant");
    let allowed = c.check_message(msg(granted, &format!("Your file {} is ready.", BODIES[0]))).await.expect("check");
    assert_eq!(allowed.into_inner().decision, pb::Decision::AllowWithChanges as i32);
    let refused = c.check_message(msg(&format!("+1{denied}"), &format!("Hello {}", BODIES[1]))).await.expect("check");
    assert_eq!(refused.into_inner().decision, pb::Decision::Deny as i32);
    let stop = c.process_inbound(inbound("privacy-in-1", stopper, "STOP", 1_780_412_500)).await.expect("STOP");
    assert_eq!(stop.into_inner().intent, pb::InboundIntent::OptOut as i32);
    let text = format!("please call me back about {}", BODIES[2]);
    let talk = c.process_inbound(inbound("privacy-in-2", chatter, &text, 1_780_412_500)).await.expect("text");
    assert_eq!(talk.into_inner().intent, pb::InboundIntent::Message as i32);
    c.get_consent(pb::GetConsentRequest { phone: granted.into(), ..Default::default() }).await.expect("get");
    let mut events = c.list_consent_events(pb::ListConsentEventsRequest::default()).await.expect("list").into_inner();
    let mut listed = 0;
    while events.message().await.expect("event").is_some() {
        listed += 1;
    }
    assert_eq!(listed, 2, "the grant and the STOP");
    for bad in [format!("{invalid} ext 9"), format!("({}) {}-{};x", &invalid[..3], &invalid[3..6], &invalid[6..])] {
        let err = c.check_message(msg(&bad, BODIES[0])).await.expect_err("invalid phone");
        assert_eq!((err.code(), err.message().starts_with("to:")), (Code::InvalidArgument, true), "{err:?}");
        assert!(!err.message().contains(invalid), "the status echoes the number: {err:?}");
        let err = c.record_consent(grant("privacy-bad", &bad, pb::ConsentLevel::Express)).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    // A status that does repeat caller input (the evidence.extra key it
    // names) must still stay out of the log.
    let mut keyed = grant("privacy-extra", granted, pb::ConsentLevel::Express);
    let evidence = keyed.evidence.get_or_insert_with(Default::default);
    evidence.extra.insert(format!("+1{invalid}"), "v".repeat(513));
    let err = c.record_consent(keyed).await.expect_err("value too long");
    assert_eq!((err.code(), err.message().starts_with("evidence.extra")), (Code::InvalidArgument, true), "{err:?}");
    drop(c);
    // SIGTERM: the server exports its last spans before it exits.
    let kill = Command::new("kill").arg("-TERM").arg(child.0.id().to_string()).status().expect("kill");
    assert!(kill.success());
    let mut child = child;
    assert_eq!(child.0.wait().expect("wait").code(), Some(0), "graceful shutdown exits 0");
    let log = log.join().expect("log reader").join("\n");
    server.abort();

    // Assert: what was captured is the scenario (not an empty capture)...
    let spans = format!("{:?}", collector.0.lock().expect("collector lock"));
    for name in ["\"check\"", "\"record_consent\"", "\"inbound\"", "\"ledger.commit\"", "\"validate\""] {
        assert!(spans.contains(name), "no {name} span was exported");
    }
    assert!(spans.contains("phone_hash") && log.contains("\"phone_hash\""), "numbers appear as hashes");
    assert!(log.contains("\"decided\"") && log.contains("\"DEBUG\""), "the log is at debug level");
    // ...and carries no number in any spelling, and no body.
    for (what, text) in [("the JSON log", &log), ("the exported spans", &spans)] {
        for n in NUMBERS {
            for spelled in spellings(n) {
                assert!(!text.contains(&spelled), "{what} contains the number {spelled:?}");
            }
        }
        for body in BODIES {
            assert!(!text.contains(body), "{what} contains the body text {body:?}");
        }
    }
}
