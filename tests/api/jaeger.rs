//! A real Jaeger v2 (all-in-one, in-memory) on 127.0.0.1 for trace tests,
//! configured by `deploy/jaeger/test-config.yaml`, and a reader for its query
//! API. `tools/install-test-deps` builds the binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Jaeger may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The jaeger binary: `TEXTGATE_JAEGER`, else where `tools/install-test-deps`
/// puts it, else `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TEXTGATE_JAEGER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(p) = cache.map(|c| c.join("textgate/bin/jaeger")).filter(|p| p.is_file()) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("jaeger")).find(|p| p.is_file())
}

/// A running Jaeger; killed on drop.
pub struct Jaeger {
    child: Child,
    /// Jaeger's stderr (a pipe nobody reads would kill it with SIGPIPE).
    log: tempfile::NamedTempFile,
    /// OTLP/gRPC receiver.
    pub otlp: SocketAddr,
    /// Query API (HTTP).
    pub query: SocketAddr,
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (Jaeger needs numbers in its config).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0")
}

impl Jaeger {
    /// Starts Jaeger and waits until both ports answer. Retries with other
    /// ports when one was taken between choosing and binding it.
    pub fn start(bin: &Path) -> Jaeger {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/jaeger/test-config.yaml");
        let mut last = String::new();
        for _attempt in 0..3 {
            let (otlp, query, query_grpc) = (free_port(), free_port(), free_port());
            let log = tempfile::NamedTempFile::new().expect("log file");
            let child = Command::new(bin)
                .arg("--config")
                .arg(&config)
                .env("JAEGER_OTLP_GRPC", otlp.to_string())
                .env("JAEGER_QUERY_HTTP", query.to_string())
                .env("JAEGER_QUERY_GRPC", query_grpc.to_string())
                .stdout(Stdio::null())
                .stderr(log.reopen().expect("reopen log"))
                .spawn()
                .expect("spawn jaeger");
            let mut j = Jaeger { child, log, otlp, query };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = j.child.try_wait() {
                    last = format!("jaeger exited with {status}: {}", j.log_text());
                    break;
                }
                let otlp_up = TcpStream::connect_timeout(&otlp, Duration::from_millis(200)).is_ok();
                if otlp_up && matches!(j.get("/api/services"), Some((200, _))) {
                    return j;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if last.is_empty() {
                last = format!("jaeger did not listen within {START_TIMEOUT:?}");
            }
        }
        panic!("could not start jaeger: {last}");
    }

    /// What Jaeger wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// GET on the query API: (status, body), or None when it does not answer.
    /// HTTP/1.0, so the body is neither chunked nor kept alive.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.query, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\n\r\n", self.query).ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    /// Polls `path` until `done` accepts the JSON body, for at most `limit`.
    pub fn poll(&self, path: &str, limit: Duration, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((200, body)) = self.get(path) {
                let v: serde_json::Value = serde_json::from_str(&body).expect("jaeger answers JSON");
                if done(&v) {
                    return v;
                }
                last = Some(body);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{path}: no acceptable answer within {limit:?}; last: {last:?}");
    }
}

/// One span of a trace as the query API shows it.
#[derive(Debug)]
pub struct SpanView {
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub service: String,
    tags: serde_json::Map<String, serde_json::Value>,
}

impl SpanView {
    /// A tag's value as text (numbers and booleans rendered).
    pub fn tag(&self, key: &str) -> Option<String> {
        self.tags.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    }
}

/// The spans of one trace (`data[i]` of `/api/traces...`).
pub fn spans(trace: &serde_json::Value) -> Vec<SpanView> {
    let processes = &trace["processes"];
    let list = trace["spans"].as_array().expect("spans");
    list.iter()
        .map(|s| {
            let parent = s["references"].as_array().and_then(|refs| {
                refs.iter().find(|r| r["refType"] == "CHILD_OF").and_then(|r| r["spanID"].as_str()).map(str::to_string)
            });
            let tags = s["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t["key"].as_str()?.to_string(), t["value"].clone())))
                .collect();
            let pid = s["processID"].as_str().unwrap_or_default();
            SpanView {
                span_id: s["spanID"].as_str().unwrap_or_default().to_string(),
                parent,
                name: s["operationName"].as_str().unwrap_or_default().to_string(),
                service: processes[pid]["serviceName"].as_str().unwrap_or_default().to_string(),
                tags,
            }
        })
        .collect()
}

/// Whether `span` is `ancestor` or lies below it.
pub fn descends(spans: &[SpanView], span: &SpanView, ancestor: &str) -> bool {
    let mut at = Some(span);
    for _ in 0..=spans.len() {
        match at {
            Some(s) if s.span_id == ancestor => return true,
            Some(s) => at = s.parent.as_deref().and_then(|p| spans.iter().find(|x| x.span_id == p)),
            None => return false,
        }
    }
    false
}
