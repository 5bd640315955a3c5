//! The ghz load-test configs in deploy/ghz/: each one runs with the real `ghz`
//! binary against the real server (demo config, 127.0.0.1 only), overriding
//! only the target address and the length of the run. Every call must succeed
//! (DENY and DEFER are answers, not errors), and the writes must really have
//! happened. A new deploy/ghz/*.json is picked up without touching this file.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use textgate::api::pb;
use textgate::config::Config;

use crate::helpers::{Client, TestApp};

const INSTALL: &str = "install with: go install github.com/bojand/ghz/cmd/ghz@v0.93.0";
/// How long each config runs here (its own default is longer).
const RUN_FOR: &str = "2s";
const CONCURRENCY: &str = "8";
/// ghz is killed, and the test fails, when one run takes longer than this.
const HARD_LIMIT: Duration = Duration::from_secs(60);

const RECORD_CONSENT: &str = "textgate.v1.PolicyService/RecordConsent";
const PROCESS_INBOUND: &str = "textgate.v1.PolicyService/ProcessInbound";
const CHECK_MESSAGE: &str = "textgate.v1.PolicyService/CheckMessage";
const CHECK_MESSAGES: &str = "textgate.v1.PolicyService/CheckMessages";

/// One config file of deploy/ghz/.
struct GhzConfig {
    path: PathBuf,
    name: String,
    call: String,
    json: Value,
}

impl GhzConfig {
    /// Decisions one call makes: 1, or the messages of one stream.
    fn messages_per_call(&self) -> u64 {
        if self.call != CHECK_MESSAGES {
            return 1;
        }
        match self.json.get("stream-call-count").and_then(Value::as_u64) {
            Some(n) if n > 0 => n,
            _ => self.json["data"].as_array().map_or(1, |a| a.len() as u64),
        }
    }

    /// Whether some requests ask for a dry run (which logs no decision).
    fn has_dry_runs(&self) -> bool {
        self.json["data"].to_string().contains("\"dry_run\":true")
    }
}

/// Every deploy/ghz/*.json, writers first (RecordConsent, then ProcessInbound)
/// so that the decision runs meet a realistic mix of consent states.
fn configs() -> Vec<GhzConfig> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join("ghz");
    let mut out: Vec<GhzConfig> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read config");
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let call =
                json["call"].as_str().unwrap_or_else(|| panic!("{} has no \"call\"", path.display())).to_string();
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            GhzConfig { path, name, call, json }
        })
        .collect();
    assert!(!out.is_empty(), "no ghz configs (*.json) in {}", dir.display());
    let rank = |c: &GhzConfig| match c.call.as_str() {
        RECORD_CONSENT => 0,
        PROCESS_INBOUND => 1,
        _ => 2,
    };
    out.sort_by(|a, b| (rank(a), &a.name).cmp(&(rank(b), &b.name)));
    out
}

/// Runs ghz with `config` against `addr` for [`RUN_FOR`]; returns its JSON report.
/// Blocking: call it from `spawn_blocking`.
fn run_ghz(ghz: &Path, config: &Path, addr: SocketAddr) -> Value {
    let mut child = Command::new(ghz)
        // Configs may name proto files relative to the repository root.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--config")
        .arg(config)
        .args(["--duration", RUN_FOR, "--duration-stop", "wait", "--concurrency", CONCURRENCY])
        .args(["--connections", "1", "--format", "json"])
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ghz");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + HARD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ghz") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ghz {} ran longer than {HARD_LIMIT:?}; killed", config.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().expect("stdout reader"), stderr.join().expect("stderr reader"));
    assert!(status.success(), "ghz {} failed ({status}): {}", config.display(), stderr.trim());
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("ghz {} printed no JSON report: {e}", config.display()))
}

/// Calls made; panics unless every one of them answered OK.
fn assert_clean(name: &str, report: &Value) -> u64 {
    let count = report["count"].as_u64().expect("report.count");
    let map = |key: &str| -> BTreeMap<String, u64> {
        match &report[key] {
            Value::Null => BTreeMap::new(),
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX))).collect(),
            other => panic!("{name}: report.{key} is not an object: {other}"),
        }
    };
    let (statuses, errors) = (map("statusCodeDistribution"), map("errorDistribution"));
    assert!(count > 0, "{name}: ghz made no calls");
    assert!(errors.is_empty(), "{name}: ghz saw errors: {errors:?} (statuses {statuses:?})");
    assert_eq!(statuses, BTreeMap::from([("OK".to_string(), count)]), "{name}: every call must answer OK");
    count
}

/// Consent events with sequence > `after`, oldest first.
async fn events_after(c: &mut Client, after: u64) -> Vec<pb::ConsentEvent> {
    let req = pb::ListConsentEventsRequest { after_sequence: after, ..Default::default() };
    let mut stream = c.list_consent_events(req).await.expect("list events").into_inner();
    let mut out = Vec::new();
    while let Some(e) = stream.message().await.expect("event") {
        out.push(e);
    }
    out
}

async fn consent_of(c: &mut Client, phone: &str) -> pb::ConsentView {
    let req = pb::GetConsentRequest { phone: phone.into(), ..Default::default() };
    c.get_consent(req).await.expect("get consent").into_inner()
}

/// Decisions in the decision log. The API can fetch a decision only by its id,
/// which ghz does not show, so this reads the stopped server's store.
async fn logged_decisions(data_dir: PathBuf) -> u64 {
    tokio::task::spawn_blocking(move || textgate::consent::logged_decisions(&data_dir).expect("read the decision log"))
        .await
        .expect("count decisions")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ghz_config_runs_clean_against_the_demo_server() {
    let configs = configs();
    let Some(ghz) = textgate::testkit::require_tool("ghz", INSTALL) else { return };
    let mut dir = TempDir::new().expect("tempdir");
    let (mut last_seq, mut decisions) = (0u64, 0u64);
    for cfg in &configs {
        // One store for all runs, a fresh server for each: the counts below
        // are this run's alone, and the store survives restarts under load.
        let app = TestApp::spawn_with(Config::demo(), dir).await;
        let addr = app.addr;
        let (bin, path) = (ghz.clone(), cfg.path.clone());
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || run_ghz(&bin, &path, addr)).await.expect("ghz task");
        let calls = assert_clean(&cfg.name, &report);
        eprintln!(
            "ghz {}: {calls} calls in {:.1}s, {:.0} calls/s",
            cfg.name,
            started.elapsed().as_secs_f64(),
            report["rps"].as_f64().unwrap_or(0.0)
        );

        let mut c = app.client().await;
        let new = events_after(&mut c, last_seq).await;
        last_seq = new.last().map_or(last_seq, |e| e.sequence);
        let keyword = pb::ConsentSource::Keyword as i32;
        match cfg.call.as_str() {
            RECORD_CONSENT => {
                // Unique event ids: every call appended exactly one event.
                assert!(new.iter().all(|e| e.source != keyword), "{}: RecordConsent wrote keyword events", cfg.name);
                assert_eq!(new.len() as u64, calls, "{}: one ledger event per RecordConsent call", cfg.name);
                let ids: HashSet<&str> = new.iter().map(|e| e.event_id.as_str()).collect();
                assert_eq!(ids.len(), new.len(), "{}: event ids repeat; retries are not load", cfg.name);
                let phones: HashSet<&str> = new.iter().map(|e| e.phone.as_str()).collect();
                assert!(phones.len() * 2 >= new.len().min(1000), "{}: too few distinct recipients", cfg.name);
                for phone in phones.iter().take(25) {
                    let view = consent_of(&mut c, phone).await;
                    assert!(!view.scopes.is_empty(), "{}: a recorded number shows no consent", cfg.name);
                }
            }
            PROCESS_INBOUND => {
                assert!(new.iter().all(|e| e.source == keyword), "{}: inbound wrote non-keyword events", cfg.name);
                assert!(new.len() as u64 <= calls, "{}: more events than inbound messages", cfg.name);
                // Numbers whose latest word in this run was an opt-out keyword.
                let mut latest: BTreeMap<&str, &pb::ConsentEvent> = BTreeMap::new();
                for e in &new {
                    latest.insert(e.phone.as_str(), e);
                }
                let revoke = pb::ConsentAction::Revoke as i32;
                let opted_out: Vec<&str> =
                    latest.values().filter(|e| e.action == revoke).map(|e| e.phone.as_str()).collect();
                assert!(!opted_out.is_empty(), "{}: no recipient opted out", cfg.name);
                for phone in opted_out.iter().take(25) {
                    let view = consent_of(&mut c, phone).await;
                    let revoked = pb::ConsentStatus::Revoked as i32;
                    assert!(view.scopes.iter().any(|s| s.status == revoked), "{}: opt-out not in effect", cfg.name);
                    assert!(view.last_inbound_at.is_some(), "{}: inbound did not open the window", cfg.name);
                }
            }
            other => {
                assert!(new.is_empty(), "{}: {other} wrote {} consent events", cfg.name, new.len());
            }
        }
        drop(c);
        dir = app.stop().await;

        if cfg.call == CHECK_MESSAGE || cfg.call == CHECK_MESSAGES {
            let now = logged_decisions(dir.path().join("data")).await;
            let logged = now - decisions;
            decisions = now;
            let expected = calls * cfg.messages_per_call();
            if cfg.has_dry_runs() {
                assert!(logged > 0 && logged <= expected, "{}: {logged} decisions logged for {expected}", cfg.name);
            } else {
                assert_eq!(logged, expected, "{}: every decision is logged (no dry runs in the config)", cfg.name);
            }
        }
    }
}
