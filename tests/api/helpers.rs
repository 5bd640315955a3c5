//! Starting a real server for a test and talking to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use tempfile::TempDir;
use textgate::api::pb::policy_service_client::PolicyServiceClient;
use textgate::api::pb::{self, ConsentAction, ConsentLevel};
use textgate::clock::{Clock, SharedClock, SystemClock};
use textgate::config::Config;
use textgate::{serve, ServeOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The demo config plus a second tenant and a required token, for isolation tests.
pub const TWO_TENANTS: &str = r#"
[auth]
require_token = true
tokens = { "northside-token" = "northside", "southside-token" = "southside", "ops-token-all" = "*" }

[tenants.northside]
brand = "Northside Family Services"
help_reply = "Northside: call 312-555-0100. Reply STOP to opt out."
opt_out_reply = "Northside: you will receive no more texts. Reply START to resume."
opt_in_reply = "Northside: texts resumed. Reply HELP for help, STOP to opt out."
[tenants.northside.policy]
conversation_window = "24h"
disclosure_interval = "30d"
opt_out_notice = "Reply STOP to opt out."
quiet_hours = { start = "08:00", end = "21:00" }
[[tenants.northside.campaigns]]
id = "casework"
use_case = "UCAAS_LOW"
category = "informational"
senders = ["+13125550100"]

[tenants.southside]
brand = "Southside Clinic"
help_reply = "Southside: call 773-555-0100."
opt_out_reply = "Southside: unsubscribed."
opt_in_reply = "Southside: resubscribed."
[tenants.southside.policy]
conversation_window = "24h"
disclosure_interval = "30d"
opt_out_notice = "Reply STOP to opt out."
quiet_hours = { start = "08:00", end = "21:00" }
[[tenants.southside.campaigns]]
id = "reminders"
use_case = "ACCOUNT_NOTIFICATION"
category = "informational"
senders = ["+17735550100"]
"#;

/// Adds `authorization: Bearer <token>` when a token is set.
#[derive(Clone)]
pub struct Token(pub Option<String>);

impl Interceptor for Token {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("authorization", format!("Bearer {t}").parse().expect("ascii token"));
        }
        Ok(req)
    }
}

pub type Client = PolicyServiceClient<InterceptedService<Channel, Token>>;

/// A running server with its own data directory.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The admin HTTP endpoint (/metrics, /healthz, /readyz).
    pub admin: SocketAddr,
    dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        textgate::telemetry::init(false, Some("debug"));
    }
}

impl TestApp {
    /// The built-in demo config (no token needed) on a fresh data dir.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Config::demo(), TempDir::new().expect("tempdir")).await
    }

    /// A config given as TOML text, on a fresh data dir.
    pub async fn spawn_toml(toml: &str) -> TestApp {
        Self::spawn_with(Config::parse(toml, "test.toml").expect("test config"), TempDir::new().expect("tempdir")).await
    }

    /// `toml` written to a file the server watches (hot reload), and that file.
    pub async fn spawn_watching(toml: &str) -> (TestApp, PathBuf) {
        let dir = TempDir::new().expect("tempdir");
        let path = dir.path().join("textgate.toml");
        std::fs::write(&path, toml).expect("write the config");
        let config = Config::load(&path).expect("test config");
        (Self::spawn_opts(config, dir, Some(path.clone())).await, path)
    }

    /// `config` served from `dir` (which may hold data from an earlier run).
    pub async fn spawn_with(config: Config, dir: TempDir) -> TestApp {
        Self::spawn_opts(config, dir, None).await
    }

    /// As `spawn_with`, with "now" taken from `clock`.
    pub async fn spawn_clocked(config: Config, dir: TempDir, clock: SharedClock) -> TestApp {
        Self::spawn_full(config, dir, None, clock).await
    }

    async fn spawn_opts(config: Config, dir: TempDir, config_path: Option<PathBuf>) -> TestApp {
        Self::spawn_full(config, dir, config_path, std::sync::Arc::new(SystemClock)).await
    }

    async fn spawn_full(mut config: Config, dir: TempDir, config_path: Option<PathBuf>, clock: SharedClock) -> TestApp {
        init_logs();
        config.server.data_dir = dir.path().join("data");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let admin = admin_listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let opts =
            ServeOptions { admin_listener: Some(admin_listener), config_path, clock, ..ServeOptions::new(config) };
        let task = tokio::spawn(async move {
            serve(listener, opts, async {
                let _ = stopped.await;
            })
            .await
            .expect("server stopped cleanly");
        });
        TestApp { addr, admin, dir: Some(dir), stop: Some(stop), task: Some(task) }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.as_ref().expect("dir until stop").path().join("data")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).expect("uri").connect().await.expect("connect")
    }

    pub async fn client(&self) -> Client {
        self.client_with(None).await
    }

    pub async fn client_with(&self, token: Option<&str>) -> Client {
        PolicyServiceClient::with_interceptor(self.channel().await, Token(token.map(str::to_string)))
    }

    /// Asks the server to shut down without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Graceful shutdown; returns the data dir for a restart.
    pub async fn stop(mut self) -> TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
        self.dir.take().expect("stopped once")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A GRANT request with verbal evidence, as an employee would record it.
pub fn grant(event_id: &str, phone: &str, level: ConsentLevel) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        event_id: event_id.into(),
        phone: phone.into(),
        action: ConsentAction::Grant as i32,
        level: level as i32,
        source: pb::ConsentSource::Verbal as i32,
        evidence: Some(pb::Evidence {
            collected_by: "caseworker-17".into(),
            method_detail: "phone call".into(),
            disclosure_text: "May we text you about your case? Msg & data rates may apply. Reply STOP to opt out."
                .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A tenant-wide REVOKE request.
pub fn revoke(event_id: &str, phone: &str) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        event_id: event_id.into(),
        phone: phone.into(),
        action: ConsentAction::Revoke as i32,
        source: pb::ConsentSource::Api as i32,
        ..Default::default()
    }
}

/// All events of the caller's tenant (optionally one phone).
pub async fn list_all(client: &mut Client, phone: &str) -> Vec<pb::ConsentEvent> {
    let mut stream = client
        .list_consent_events(pb::ListConsentEventsRequest { phone: phone.into(), ..Default::default() })
        .await
        .expect("list")
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = stream.message().await.expect("stream item") {
        out.push(e);
    }
    out
}

/// A plain HTTP/1.0 GET (the server then closes the connection after the
/// body, so no chunked decoding is needed): (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_http_get(addr, path).await.unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// [`http_get`] that reports connection failures instead of panicking.
pub async fn try_http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let (status, body) = http_exchange(addr, &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")).await?;
    let body = String::from_utf8(body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok((status, body))
}

/// Sends `request` (a whole HTTP/1.0 request) and reads the answer to the
/// end, within 10 s: (status, body bytes).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Error, ErrorKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, Error>(raw)
    };
    let raw = tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, "no answer within 10s"))??;
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no HTTP head"))?;
    let head = String::from_utf8_lossy(&raw[..at]);
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    let status = status.ok_or_else(|| Error::new(ErrorKind::InvalidData, "no status code"))?;
    Ok((status, raw[at + 4..].to_vec()))
}

/// A child process killed when the test ends, however it ends (a failing
/// test must not leave a server holding the test runner's output open).
pub struct Reap(pub std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `textgate backup --admin ADDR --token-file F --to FILE` arguments for a
/// server on the demo's tokens: the operator ("*") token is written to a
/// file in `to`'s directory.
pub fn online_backup_args(admin: SocketAddr, to: &std::path::Path) -> Vec<std::ffi::OsString> {
    let token_file = to.with_extension("token");
    std::fs::write(&token_file, "ops-dev-token\n").expect("write the operator token");
    let admin = admin.to_string();
    vec![
        "backup".into(),
        "--admin".into(),
        admin.into(),
        "--token-file".into(),
        token_file.into(),
        "--to".into(),
        to.into(),
    ]
}

/// A clock the test moves, in whole seconds.
pub struct TestClock(pub std::sync::atomic::AtomicI64);

impl TestClock {
    pub fn at(t: jiff::Timestamp) -> std::sync::Arc<TestClock> {
        std::sync::Arc::new(TestClock(std::sync::atomic::AtomicI64::new(t.as_second())))
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.0.load(std::sync::atomic::Ordering::SeqCst)).unwrap()
    }
}

/// The person at `from` texts STOP to `to` (message id `message_id`):
/// asserts it was taken as an opt-out and returns the answer.
pub async fn text_stop(c: &mut Client, from: &str, to: &str, message_id: &str) -> pb::ProcessInboundResponse {
    let stop = pb::ProcessInboundRequest {
        from: from.into(),
        to: to.into(),
        body: "STOP".into(),
        message_id: message_id.into(),
        ..Default::default()
    };
    let answered = c.process_inbound(stop).await.unwrap().into_inner();
    assert_eq!(answered.intent(), pb::InboundIntent::OptOut, "{answered:?}");
    answered
}
