//! The real `textgate` binary as a child process on 127.0.0.1:0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::Reap;

/// `serve` on ephemeral loopback ports (gRPC, admin, console), the data
/// directory to follow.
pub const SERVE_ON_LOOPBACK: [&str; 8] = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--admin-listen",
    "127.0.0.1:0",
    "--console-listen",
    "127.0.0.1:0",
    "--data-dir",
];

/// The longest a server may take to log its addresses.
const STARTUP: Duration = Duration::from_secs(30);

/// `textgate`, the binary under test.
pub fn textgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textgate"))
}

/// A running `textgate serve`, killed when dropped.
pub struct Server {
    pub child: Reap,
    /// gRPC.
    pub addr: SocketAddr,
    /// Admin HTTP endpoint.
    pub admin: SocketAddr,
    /// Every line it logged so far.
    log: Arc<Mutex<Vec<String>>>,
    /// The compliance console (HTTP).
    #[allow(dead_code)]
    pub console: SocketAddr,
}

impl Server {
    /// `textgate serve` on the demo config over `dir`.
    pub fn start(dir: &Path) -> Server {
        Self::start_with(textgate(), dir)
    }

    /// `cmd` (which runs textgate, possibly through a wrapper) with the serve
    /// arguments appended. Returns once the server logged that it serves:
    /// the listener is bound and the store open, so calls are accepted.
    pub fn start_with(mut cmd: Command, dir: &Path) -> Server {
        cmd.args(SERVE_ON_LOOPBACK).arg(dir);
        Self::spawn(cmd)
    }

    /// `textgate serve --config FILE` over `dir` (the cluster tests' way in).
    #[allow(dead_code)]
    pub fn start_configured(config: &Path, dir: &Path) -> Server {
        let mut cmd = textgate();
        cmd.args(["serve", "--config"]).arg(config);
        cmd.args(&SERVE_ON_LOOPBACK[1..]).arg(dir);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.env("RUST_LOG", "info").stderr(Stdio::piped()).spawn().expect("spawn textgate");
        let stderr = child.stderr.take().expect("piped stderr");
        let child = Reap(child);
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                // The receiver goes away once the addresses are known; keep
                // draining so the server never blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + STARTUP;
        let (mut addr, mut admin, mut console, mut seen) = (None, None, None, Vec::new());
        while addr.is_none() || admin.is_none() || console.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    admin = admin.or_else(|| logged(&line, "admin_addr"));
                    console = console.or_else(|| logged(&line, "console_addr"));
                    addr = addr.or_else(|| logged(&line, "addr"));
                    seen.push(line);
                }
                Err(e) => panic!("textgate did not start ({e:?}); its log:\n{}", seen.join("\n")),
            }
        }
        let parse = |a: Option<String>| a.and_then(|a| a.parse().ok()).expect("a socket address");
        Server { child, addr: parse(addr), admin: parse(admin), console: parse(console), log }
    }

    /// The lines it logged so far that contain `needle`.
    #[allow(dead_code)]
    pub fn logged_lines(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// SIGKILL: no shutdown, no final flush.
    pub fn kill(mut self) {
        self.child.0.kill().expect("SIGKILL");
        self.child.0.wait().expect("reap");
    }

    /// SIGTERM, then its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let sent = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("kill -TERM");
        assert!(sent.success());
        self.child.0.wait().expect("wait").code()
    }
}

/// The value of ` key=value` in a log line (the key as a whole word).
pub fn logged(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!(" {key}="))?;
    let rest = &line[at + key.len() + 2..];
    Some(rest.split_whitespace().next().unwrap_or("").to_string())
}

/// Runs a textgate command to completion: (exit code, stdout, stderr).
pub fn run<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> (Option<i32>, String, String) {
    let out = textgate().args(args).output().expect("run textgate");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// `textgate import --format csv --server http://SERVER FILE`.
#[allow(dead_code)]
pub fn import_csv(server: SocketAddr, file: &Path) -> (Option<i32>, String, String) {
    let server = format!("http://{server}");
    run([
        std::ffi::OsStr::new("import"),
        "--format".as_ref(),
        "csv".as_ref(),
        "--server".as_ref(),
        server.as_ref(),
        file.as_os_str(),
    ])
}
