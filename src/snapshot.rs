//! Online backups through the admin endpoint: the server side (`POST
//! /backup` streams a consistent backup file, see `consent::backup`) and the
//! client side (`textgate backup --admin ADDR --to FILE`).
//!
//! sled locks its directory, so a second process cannot read a live store;
//! the running server writes the copy itself. The route answers only
//! loopback peers: a backup holds every phone number and consent record, so
//! it must not be reachable from wherever `/metrics` is scraped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio::sync::Semaphore;

use crate::consent::backup::{check_file, BackupSummary};
use crate::consent::backup_key::{BackupKey, Trust};

/// How a file just written is checked: whole and well-formed, and its HMAC
/// too when the key is at hand (a client of the admin endpoint may not hold
/// it; the summary then says the HMAC was not checked).
fn written(key: Option<&BackupKey>) -> Trust<'_> {
    Trust { key, unauthenticated: true, structure_only: true }
}
use crate::consent::Ledger;

/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 * 1024;
/// The longest the client waits for the next bytes of a backup.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `POST /backup`: a consistent backup of the running ledger, streamed as an
/// `application/octet-stream` body. An error part-way ends the body early,
/// which the client's checksum check catches. Served to loopback peers that
/// address the server by IP address or `localhost` (a web page on a name
/// that resolves to 127.0.0.1 sends its own name), one backup at a time.
pub async fn backup(ledger: Arc<Ledger>, peer: SocketAddr, host: Option<&str>, running: &Arc<Semaphore>) -> Response {
    // A dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1.
    if !peer.ip().to_canonical().is_loopback() {
        return (StatusCode::FORBIDDEN, "backups are served to loopback clients only\n").into_response();
    }
    if !host.is_some_and(names_this_machine) {
        let refusal = "backups answer requests whose Host is an IP address or localhost only\n";
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    let Ok(one_at_a_time) = Arc::clone(running).try_acquire_owned() else {
        return (StatusCode::CONFLICT, "a backup is already running; retry when it ends\n").into_response();
    };
    let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(8);
    tokio::task::spawn_blocking(move || {
        let _one_at_a_time = one_at_a_time;
        let mut out = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        match ledger.write_backup(&mut out) {
            Ok(s) => tracing::info!(tenants = s.tenants, events = s.events, entries = s.entries, "backup sent"),
            Err(e) => {
                tracing::error!(error = %e, "backup failed; the client gets a truncated file");
                let _ = tx.blocking_send(Err(io::Error::other("backup failed")));
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// A Host header naming this machine by address or as `localhost`, with or
/// without a port.
fn names_this_machine(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(addr, _)| addr),
        None => host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// A `Write` that sends its bytes to the response body in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// Asks the server whose admin endpoint is `admin` for a backup, as the
/// operator whose bearer token is `token`, and stores it in `to` (which must
/// not exist), checking it under `key` when there is one. Blocking.
pub fn fetch(admin: SocketAddr, token: &str, to: &Path, key: Option<&BackupKey>) -> Result<BackupSummary, String> {
    write_checked(to, key, |file| {
        let mut conn = TcpStream::connect_timeout(&admin, Duration::from_secs(10))
            .map_err(|e| format!("cannot reach the admin endpoint {admin}: {e}"))?;
        conn.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
        // HTTP/1.0: the server ends the body by closing the connection.
        let auth = format!("Authorization: Bearer {token}");
        write!(conn, "POST /backup HTTP/1.0\r\nHost: {admin}\r\n{auth}\r\nContent-Length: 0\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut r = BufReader::new(conn);
        let mut status = String::new();
        r.read_line(&mut status).map_err(|e| format!("no answer from {admin}: {e}"))?;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line == "\r\n" {
                break;
            }
        }
        if status.split_whitespace().nth(1) != Some("200") {
            let mut body = String::new();
            let _ = r.take(4096).read_to_string(&mut body);
            return Err(format!("{admin} refused the backup: {} {}", status.trim(), body.trim()));
        }
        io::copy(&mut r, file).map(drop).map_err(|e| format!("reading the backup: {e}"))
    })
}

/// Writes a backup with `fill` into `to.partial`, syncs it, checks it end to
/// end and only then renames it to `to`: a file named `to` is always whole.
pub fn write_checked(
    to: &Path,
    key: Option<&BackupKey>,
    fill: impl FnOnce(&mut std::fs::File) -> Result<(), String>,
) -> Result<BackupSummary, String> {
    if to.exists() {
        return Err(format!("{} exists; choose a new file", to.display()));
    }
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    // A backup holds every phone number and consent record: owner only.
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    let result = fill(&mut file)
        .and_then(|()| file.sync_all().map_err(|e| e.to_string()))
        .and_then(|()| check_file(&partial, written(key)).map_err(|e| e.to_string()));
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).map_err(|e| format!("{}: {e}", to.display()))?;
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::LedgerOptions;

    async fn answer(ledger: &Arc<Ledger>, peer: &str) -> (StatusCode, Vec<u8>) {
        let running = Arc::new(Semaphore::new(1));
        let resp = backup(Arc::clone(ledger), peer.parse().unwrap(), Some("127.0.0.1:9464"), &running).await;
        let status = resp.status();
        (status, axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn backups_go_to_loopback_peers_only_and_check_out() {
        let ledger = Arc::new(Ledger::temporary(&LedgerOptions::default()).unwrap());
        let (status, body) = answer(&ledger, "192.0.2.7:40000").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&body));

        // A dual-stack listener sees an IPv4 client as an IPv4-mapped address.
        for foreign in ["[::ffff:192.0.2.7]:40000", "[2001:db8::1]:40000"] {
            assert_eq!(answer(&ledger, foreign).await.0, StatusCode::FORBIDDEN, "{foreign}");
        }
        for local in ["[::ffff:127.0.0.1]:40000", "[::1]:40000"] {
            assert_eq!(answer(&ledger, local).await.0, StatusCode::OK, "{local}");
        }
        let (status, body) = answer(&ledger, "127.0.0.1:40000").await;
        assert_eq!(status, StatusCode::OK);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.tgb");
        let summary = write_checked(&file, None, |f| f.write_all(&body).map_err(|e| e.to_string())).unwrap();
        assert_eq!(summary.events, 0);
        assert!(write_checked(&file, None, |_| Ok(())).unwrap_err().contains("exists"), "never overwrites");
        let broken = dir.path().join("broken.tgb");
        assert!(
            write_checked(&broken, None, |f| f.write_all(&body[..body.len() - 3]).map_err(|e| e.to_string())).is_err()
        );
        assert!(!broken.exists() && !dir.path().join("broken.tgb.partial").exists(), "a failed copy leaves nothing");
        ledger.shutdown().await.unwrap();
    }

    #[test]
    fn host_must_name_this_machine() {
        for (host, ok) in [
            ("127.0.0.1:9464", true),
            ("127.0.0.1", true),
            ("[::1]:9464", true),
            ("localhost:9464", true),
            ("LOCALHOST", true),
            ("10.0.0.7:9464", true),
            ("attacker.example:9464", false),
            ("attacker.example", false),
            ("127.0.0.1.nip.io", false),
            ("[::1", false),
            ("", false),
        ] {
            assert_eq!(names_this_machine(host), ok, "{host:?}");
        }
    }

    #[tokio::test]
    async fn one_backup_at_a_time_and_only_to_this_machines_names() {
        let ledger = Arc::new(Ledger::temporary(&LedgerOptions::default()).unwrap());
        let running = Arc::new(Semaphore::new(1));
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let rebound = backup(Arc::clone(&ledger), peer, Some("attacker.example:9464"), &running).await;
        assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
        assert_eq!(backup(Arc::clone(&ledger), peer, None, &running).await.status(), StatusCode::FORBIDDEN);
        let held = Arc::clone(&running).try_acquire_owned().unwrap();
        assert_eq!(backup(Arc::clone(&ledger), peer, Some("localhost"), &running).await.status(), StatusCode::CONFLICT);
        drop(held);
        assert_eq!(backup(Arc::clone(&ledger), peer, Some("localhost"), &running).await.status(), StatusCode::OK);
        ledger.shutdown().await.unwrap();
    }
}
