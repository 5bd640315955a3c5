//! Trace export end to end: the real `textgate` binary exports over OTLP to a
//! real Jaeger, and the test reads the traces back through Jaeger's query API.
//! Checks that a caller's `traceparent` is joined, that the pipeline stages
//! nest under the RPC span, that the fields operators search by are there,
//! and that no phone number or message body leaves the process, in traces or
//! in JSON logs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};
use tonic::transport::Channel;

use crate::jaeger::{self, descends, spans, Jaeger, SpanView};

const SERVICE: &str = "textgate-trace-test";
/// The recipient in national form, and the digits that must never appear.
const RECIPIENT: &str = "(312) 555-0199";
const RECIPIENT_DIGITS: &[&str] = &["3125550199", "5550199"];
const BODY_MARKER: &str = "zebra-quartz-417";

/// The demo config exporting to `otlp` (the example's commented line made
/// real), without the fixed admin port.
pub fn config(otlp: std::net::SocketAddr) -> String {
    let demo = textgate::config::DEMO_TOML;
    let commented = "# otlp_endpoint = \"http://127.0.0.1:4317\"";
    assert!(demo.contains(commented), "the example config no longer shows {commented:?}");
    demo.lines()
        .filter(|l| !l.trim_start().starts_with("admin_listen"))
        .map(|l| match l {
            _ if l.starts_with(commented) => format!("otlp_endpoint = \"http://{otlp}\""),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `textgate serve` with JSON logs filtered by `rust_log`; returns it,
/// its address and the thread that collects the rest of its log.
pub fn start_textgate(
    dir: &std::path::Path,
    config: &std::path::Path,
    rust_log: &str,
) -> (Child, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_textgate"))
        .args(["--log-json", "serve", "--listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", rust_log)
        // The file names the endpoint; the service name comes from the
        // standard variable, as in docker-compose.yml.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("OTEL_SERVICE_NAME", SERVICE)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn textgate");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let mut addr = None;
    for line in lines.by_ref().take(50).map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        addr = v["fields"]["addr"].as_str().map(str::to_string);
        seen.push(line);
        if addr.is_some() {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("textgate logs its address as JSON; got {seen:#?}"));
    let rest = std::thread::spawn(move || seen.into_iter().chain(lines.map_while(Result::ok)).collect());
    (child, addr, rest)
}

fn with_parent<T>(msg: T, traceparent: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(tp) = traceparent {
        req.metadata_mut().insert("traceparent", tp.parse().expect("ascii"));
        req.metadata_mut().insert("tracestate", "textgate-test=1".parse().expect("ascii"));
    }
    req
}

/// Random W3C ids: `N` bytes as lower-case hex.
fn id<const N: usize>() -> String {
    hex::encode(rand::random::<[u8; N]>())
}

/// The one trace with `trace_id`, once it holds a span named `last`.
fn trace(j: &Jaeger, trace_id: &str, last: &str) -> (serde_json::Value, Vec<SpanView>) {
    let v = j.poll(&format!("/api/traces/{trace_id}"), Duration::from_secs(15), |v| {
        v["data"][0]["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["operationName"] == last))
    });
    let t = v["data"][0].clone();
    assert_eq!(t["traceID"].as_str(), Some(trace_id), "the caller's trace id is kept");
    let s = spans(&t);
    (t, s)
}

fn find<'a>(spans: &'a [SpanView], name: &str) -> &'a SpanView {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} among {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()))
}

fn assert_private(what: &str, text: &str) {
    for secret in RECIPIENT_DIGITS.iter().chain([&BODY_MARKER]) {
        assert!(!text.contains(secret), "{what} contains {secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_reach_jaeger_joined_to_the_caller_without_phone_numbers() {
    let Some(bin) = jaeger::binary() else {
        textgate::testkit::skip_or_fail("jaeger", "not at $TEXTGATE_JAEGER, ~/.cache/textgate/bin/jaeger or on PATH");
        return;
    };
    let j = tokio::task::spawn_blocking(move || Jaeger::start(&bin)).await.expect("jaeger");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("textgate.toml");
    std::fs::write(&config_path, config(j.otlp)).unwrap();
    let (mut child, addr, log) = start_textgate(dir.path(), &config_path, "info,textgate=debug");

    // Act: consent (trace B), a decision (trace A), a bad request (trace C),
    // and a decision with no traceparent (a trace of its own).
    let (trace_a, parent_a, trace_b, trace_c) = (id::<16>(), id::<8>(), id::<16>(), id::<16>());
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("connect");
    let mut c = PolicyServiceClient::new(channel);
    let grant = crate::helpers::grant("trace-grant-1", RECIPIENT, pb::ConsentLevel::Express);
    c.record_consent(with_parent(grant, Some(&format!("00-{trace_b}-{}-01", id::<8>())))).await.expect("record");
    let msg = crate::decisions::msg(RECIPIENT, &format!("Your case file {BODY_MARKER} is ready."));
    let tp_a = format!("00-{trace_a}-{parent_a}-01");
    let resp = c.check_message(with_parent(msg.clone(), Some(&tp_a))).await.expect("check").into_inner();
    assert_eq!(resp.decision, pb::Decision::AllowWithChanges as i32, "{resp:?}");
    let bad = pb::CheckMessageRequest { to: "555".into(), ..msg.clone() };
    let err = c.check_message(with_parent(bad, Some(&format!("00-{trace_c}-{}-01", id::<8>())))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    c.check_message(with_parent(msg, None)).await.expect("check without traceparent");
    drop(c);

    // SIGTERM: the server flushes its exporter before it exits.
    let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "graceful shutdown exits 0");
    let log = log.join().expect("log reader");

    // Assert: trace A is the caller's, with the pipeline below the RPC span.
    let (raw_a, a) = trace(&j, &trace_a, "ledger.write");
    let rpc = find(&a, "textgate.v1.PolicyService/CheckMessage");
    assert_eq!(rpc.parent.as_deref(), Some(parent_a.as_str()), "the RPC span's parent is the caller's span");
    assert_eq!(rpc.service, SERVICE);
    assert_eq!(rpc.tag("rpc.system").as_deref(), Some("grpc"));
    assert_eq!(rpc.tag("rpc.method").as_deref(), Some("CheckMessage"));
    assert_eq!(rpc.tag("rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(rpc.tag("span.kind").as_deref(), Some("server"));
    for stage in ["check", "validate", "consent.lookup", "decide", "ledger.write"] {
        assert!(descends(&a, find(&a, stage), &rpc.span_id), "{stage} is not below the RPC span");
    }
    let check = find(&a, "check");
    assert_eq!(check.tag("tenant").as_deref(), Some("northside"));
    assert_eq!(check.tag("outcome").as_deref(), Some("allow_with_changes"));
    assert_eq!(check.tag("policy_version"), Some(resp.policy_version.clone()));
    let hash = check.tag("phone_hash").expect("phone_hash");
    assert!(hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    assert_eq!(find(&a, "decide").tag("outcome").as_deref(), Some("allow_with_changes"));
    assert_private("trace A", &raw_a.to_string());

    // Trace B: RecordConsent, with the group commit (another thread) inside.
    let (raw_b, b) = trace(&j, &trace_b, "ledger.commit");
    let rpc_b = find(&b, "textgate.v1.PolicyService/RecordConsent");
    let commit = find(&b, "ledger.commit");
    assert!(descends(&b, commit, &rpc_b.span_id), "the commit joins the writer's trace");
    assert!(commit.tag("flush_us").is_some(), "{commit:?}");
    assert_eq!(find(&b, "record_consent").tag("phone_hash"), Some(hash), "one number, one hash");
    assert_private("trace B", &raw_b.to_string());

    // Trace C: the rejected call records its status.
    let (_, cc) = trace(&j, &trace_c, "validate");
    let rpc_c = find(&cc, "textgate.v1.PolicyService/CheckMessage");
    assert_eq!(rpc_c.tag("rpc.grpc.status_code").as_deref(), Some("3"), "INVALID_ARGUMENT");

    // The call without traceparent started a trace of its own.
    let all = j.poll(&format!("/api/traces?service={SERVICE}&limit=100&lookback=1h"), Duration::from_secs(15), |v| {
        v["data"].as_array().is_some_and(|d| d.len() >= 4)
    });
    let roots: Vec<String> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| ![&trace_a, &trace_b, &trace_c].contains(&&t["traceID"].as_str().unwrap_or_default().to_string()))
        .flat_map(|t| spans(t).into_iter().filter(|s| s.parent.is_none()).map(|s| s.name))
        .collect();
    assert!(roots.iter().any(|n| n.ends_with("/CheckMessage")), "no root CheckMessage span: {roots:?}");
    assert_private("all traces", &all.to_string());

    // JSON logs carry the span fields, and no number or body either.
    let decided = log
        .iter()
        .find(|l| l.contains("\"decided\"") && l.contains("\"outcome\":\"allow_with_changes\""))
        .unwrap_or_else(|| panic!("no decision log line with its span fields:\n{}", log.join("\n")));
    assert!(decided.contains("\"phone_hash\"") && decided.contains("\"tenant\":\"northside\""), "{decided}");
    assert_private("the JSON log", &log.join("\n"));
    let errors: Vec<&String> = log.iter().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert!(errors.is_empty(), "export or serving errors: {errors:#?}");
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` is read, and checked like the file's key.
#[test]
fn serve_rejects_a_bad_endpoint_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_textgate"))
        .args(crate::process::SERVE_ON_LOOPBACK)
        .arg(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn textgate");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("textgate started despite a bad OTEL_EXPORTER_OTLP_ENDPOINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("`telemetry.otlp_endpoint`") && err.contains("OTEL_"), "{err}");
}
