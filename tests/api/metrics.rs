//! The admin endpoint: /metrics after real traffic, /healthz, /readyz, and
//! the contract with deploy/ (every series the dashboard and the alert rules
//! query is exported).

use std::collections::{BTreeMap, BTreeSet};

use textgate::api::pb::{self, ConsentLevel};
use tonic::Code;

use crate::decisions::{inbound, msg};
use crate::helpers::{grant, http_get, TestApp};

/// One sample of the Prometheus text format.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A strict reader of the text exposition format (version 0.0.4): every line
/// is a `# HELP`/`# TYPE` comment or `name{label="value",...} number`, and
/// every sample belongs to a family declared by `# TYPE`. Panics on anything
/// else, naming the line.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut typed = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(kind == "HELP" || kind == "TYPE", "unknown comment: {line}");
            assert!(valid_name(name), "bad family name: {line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or("");
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "bad type: {line}");
                typed.insert(name.to_string());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = BTreeMap::new();
                for pair in split_labels(body) {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(valid_name(k), "bad label name: {line}");
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                    labels.insert(k.to_string(), v.unwrap_or_else(|| panic!("unquoted label: {line}")).to_string());
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "bad sample name: {line}");
        assert!(typed.contains(family_of(name)), "sample before its # TYPE: {line}");
        samples.push(Sample { name: name.to_string(), labels, value });
    }
    samples
}

/// Splits `a="x",b="y,z"` at commas outside quotes.
fn split_labels(body: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        out.push(&body[start..]);
    }
    out
}

/// The family a sample belongs to (histogram parts fold into their family).
pub fn family_of(name: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name)
}

/// The value of the one sample named `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && want.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

/// Drives every kind of traffic that feeds a series: allowed and denied
/// decisions, an invalid request, a consent write and an inbound STOP.
pub async fn drive_traffic(app: &TestApp) {
    let mut c = app.client().await;
    c.record_consent(grant("metrics-1", "3125550111", ConsentLevel::Express)).await.unwrap();
    let allowed = c.check_message(msg("3125550111", "Your case file is ready.")).await.unwrap().into_inner();
    assert_eq!(allowed.decision, pb::Decision::AllowWithChanges as i32, "{allowed:?}");
    c.process_inbound(inbound("metrics-in-1", "3125550111", "STOP", 1_780_412_500)).await.unwrap();
    let keyed =
        pb::CheckMessageRequest { idempotency_key: "metrics-k1".into(), ..msg("3125550111", "One more thing.") };
    let denied = c.check_message(keyed.clone()).await.unwrap().into_inner();
    assert_eq!(denied.decision, pb::Decision::Deny as i32);
    // A retry: answered from its key, so counted as a replay, not a decision.
    let replayed = c.check_message(keyed).await.unwrap().into_inner();
    assert_eq!(replayed.decision_id, denied.decision_id);
    let bad = c.check_message(msg("not-a-phone", "x")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_real_traffic_in_the_text_format() {
    let app = TestApp::spawn().await;
    drive_traffic(&app).await;

    // The consent index loads in the background after start-up; on a busy
    // machine that can take a moment even for an empty store (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (text, s) = loop {
        let (status, text) = http_get(app.admin, "/metrics").await;
        assert_eq!(status, 200);
        let s = parse_exposition(&text);
        if value(&s, "textgate_consent_index_serving", &[]) == Some(1.0) || std::time::Instant::now() > deadline {
            break (text, s);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let tenant = ("tenant", "northside");
    type Expect<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);
    let checks: &[Expect] = &[
        ("textgate_decisions_total", &[tenant, ("outcome", "allow_with_changes"), ("reason", "disclosure_added")], 1.0),
        ("textgate_decisions_total", &[tenant, ("outcome", "deny"), ("reason", "opted_out")], 1.0),
        ("textgate_rpc_errors_total", &[("method", "CheckMessage"), ("code", "INVALID_ARGUMENT")], 1.0),
        ("textgate_rpc_duration_seconds_count", &[("method", "CheckMessage")], 4.0),
        ("textgate_idempotent_replays_total", &[tenant], 1.0),
        ("textgate_rpc_duration_seconds_count", &[("method", "RecordConsent")], 1.0),
        ("textgate_rpc_in_flight", &[("method", "CheckMessage")], 0.0),
        ("textgate_requests_shed_total", &[("method", "CheckMessage")], 0.0),
        // The grant and the STOP.
        ("textgate_ledger_events_total", &[tenant], 2.0),
        ("textgate_inbound_total", &[tenant, ("intent", "opt_out")], 1.0),
        ("textgate_policy_reloads_total", &[("result", "error")], 0.0),
        ("textgate_ledger_commit_batch_size_count", &[], 2.0),
        ("textgate_ledger_flush_duration_seconds_count", &[], 2.0),
    ];
    for (name, labels, want) in checks {
        assert_eq!(value(&s, name, labels), Some(*want), "{name}{labels:?} in\n{text}");
    }
    let version = s.iter().find(|x| x.name == "textgate_policy_info").expect("policy info");
    assert_eq!((version.labels["version"].len(), version.value), (12, 1.0), "{version:?}");
    assert!(value(&s, "textgate_ledger_size_bytes", &[]).unwrap_or(0.0) > 0.0);
    // One number has consent on record (granted, then STOP), read from memory.
    assert_eq!(value(&s, "textgate_consent_index_numbers", &[]), Some(1.0));
    assert_eq!(value(&s, "textgate_consent_index_serving", &[]), Some(1.0));
    assert!(!text.contains("3125550111") && !text.contains("case file"), "no phone or body in metrics");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz_follow_the_lifecycle() {
    let mut app = TestApp::spawn().await;
    assert_eq!(http_get(app.admin, "/healthz").await.0, 200);
    // The server task marks itself ready once it runs; spawn may return first.
    let mut ready = 0;
    for _ in 0..200 {
        ready = http_get(app.admin, "/readyz").await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 200, "ready once serving");
    let metrics = http_get(app.admin, "/metrics").await.1;
    assert!(metrics.lines().any(|l| l == "textgate_ready 1"), "the gauge follows /readyz");

    // Hold a stream open so the server stays in its shutdown grace period.
    let mut c = app.client().await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut responses = c.check_messages(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    tx.send(msg("3125550112", "Hello")).await.unwrap();
    responses.message().await.unwrap().expect("one answer");
    app.begin_stop();
    let mut not_ready = false;
    for _ in 0..100 {
        if http_get(app.admin, "/readyz").await.0 == 503 {
            not_ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(not_ready, "/readyz must turn 503 once shutdown starts");
    let metrics = http_get(app.admin, "/metrics").await.1;
    assert!(metrics.lines().any(|l| l == "textgate_ready 0"), "out of rotation while draining");
    assert_eq!(http_get(app.admin, "/healthz").await.0, 200, "alive while draining");
    drop(tx);
    app.stop().await;
}

/// Every `textgate_*` name in the dashboard's queries and in the alert rules.
fn deploy_metric_names() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("grafana/dashboards/textgate.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has its queries: {exprs:?}");
    let rules = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    exprs.push(rules.clone());
    let mut names = BTreeSet::new();
    for e in &exprs {
        let tokens = e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        for name in tokens.filter(|t| t.contains("textgate_")) {
            // `level:metric:operation` names are recording rules: they must be
            // recorded by the rules file rather than exported.
            if name.contains(':') {
                assert!(rules.contains(&format!("record: {name}")), "{name} is queried but never recorded");
                continue;
            }
            names.insert(family_of(name).to_string());
        }
    }
    names
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_series_the_dashboard_and_alerts_query_is_exported() {
    let app = TestApp::spawn().await;
    drive_traffic(&app).await;
    let (_, text) = http_get(app.admin, "/metrics").await;
    let exported: BTreeSet<String> = parse_exposition(&text).iter().map(|s| family_of(&s.name).to_string()).collect();
    // Cluster mode's series exist only in cluster mode: tests/cluster checks
    // those (`a_wiped_instance_catches_up_before_it_is_ready`).
    let wanted: BTreeSet<String> =
        deploy_metric_names().into_iter().filter(|n| !n.starts_with("textgate_cluster_")).collect();
    assert!(wanted.len() >= 10, "{wanted:?}");
    let missing: Vec<_> = wanted.difference(&exported).collect();
    assert!(missing.is_empty(), "queried by deploy/ but not exported: {missing:?}\nexported: {exported:?}");
}
