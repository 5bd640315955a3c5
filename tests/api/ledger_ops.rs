//! `textgate verify`, `rebuild`, `backup` and `restore` on real stores.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use textgate::api::pb::{self, policy_service_client::PolicyServiceClient, ConsentLevel};
use textgate::consent::{Ledger, LedgerOptions};
use textgate::domain::TenantId;

use crate::helpers::{grant, list_all, revoke, TestApp};
use crate::process::{run, Server};

const PHONES: [&str; 3] = ["+13125550111", "+13125550112", "+13125550113"];

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Every number's consent as the server answers it.
async fn views(addr: std::net::SocketAddr) -> Vec<pb::ConsentView> {
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let mut out = Vec::new();
    for p in PHONES {
        out.push(
            c.get_consent(pb::GetConsentRequest { phone: p.into(), ..Default::default() }).await.unwrap().into_inner(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_damaged_indexes_and_rebuild_repairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mut c = PolicyServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();
    for (i, p) in PHONES.iter().enumerate() {
        c.record_consent(grant(&format!("g{i}"), p, ConsentLevel::Express)).await.unwrap();
    }
    c.record_consent(revoke("r1", PHONES[1])).await.unwrap();
    let before = views(server.addr).await;
    let (code, _, err) = run([os("verify"), os("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(1), "a store a server holds cannot be verified");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(server.terminate(), Some(0));

    {
        // Damage every derived tree: a lost index entry, a lost idempotency
        // entry, and one number carrying another number's consent.
        let db = sled::open(&data).unwrap();
        for tree in ["by_phone", "idempotency"] {
            let t = db.open_tree(tree).unwrap();
            t.remove(t.first().unwrap().unwrap().0).unwrap();
        }
        let consent = db.open_tree("consent").unwrap();
        let (first, last) = (consent.first().unwrap().unwrap(), consent.last().unwrap().unwrap());
        consent.insert(first.0, last.1).unwrap();
        db.flush().unwrap();
    }
    let (code, out, _) = run([os("verify"), os("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(1), "{out}");
    for tree in ["by_phone", "idempotency", "consent"] {
        assert!(out.contains(&format!("problem: {tree}: ")), "{tree} named: {out}");
    }
    assert!(out.contains("tenants=1 events=4 phones=3 problems=3"), "{out}");
    assert!(!out.contains("555"), "no phone number in the report: {out}");

    let (code, out, err) = run([os("rebuild"), os("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("rebuilt: events=4 phones=3") && out.contains("problems=0"), "{out}");
    let (code, out, _) = run([os("verify"), os("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(0), "{out}");

    let server = Server::start(&data);
    assert_eq!(views(server.addr).await, before, "consent is what it was before the damage");
    assert_eq!(server.terminate(), Some(0));
}

/// Writers keep recording while `textgate backup --admin` copies the ledger.
/// The copy restores clean, holds every event acknowledged before the backup
/// began, and is exactly a prefix of the live ledger (a consistent cut).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_backup_under_concurrent_writes_restores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("backup.key");
    std::fs::write(&key, "a backup key of at least thirty-two bytes\n").unwrap();
    let mut config = textgate::config::Config::demo();
    config.ledger.backup_key_file = Some(key.clone());
    let app = TestApp::spawn_with(config, dir).await;
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (mut c, acks, stop) = (app.client().await, acks.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("w{w}-{n}");
                let phone = PHONES[n % PHONES.len()];
                let req = if n % 5 == 4 { revoke(&id, phone) } else { grant(&id, phone, ConsentLevel::Express) };
                c.record_consent(req).await.expect("record");
                let _ = acks.send(id);
                n += 1;
            }
        }));
    }
    // Let the ledger grow so the copy takes a while, then back up mid-stream.
    let mut before = HashSet::new();
    let grown = async {
        while before.len() < 1500 {
            before.insert(acked.recv().await.expect("writers run"));
        }
    };
    tokio::time::timeout(Duration::from_secs(120), grown).await.expect("1500 writes within 2 minutes");
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("ledger.tgb");
    let mut args = crate::helpers::online_backup_args(app.admin, &file);
    args.extend(["--key-file".into(), key.clone().into()]);
    let (code, out, err) = tokio::task::spawn_blocking(move || run(args)).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    drop(acks);
    let mut during = 0;
    while acked.recv().await.is_some() {
        during += 1;
    }
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("seal=hmac-sha256") && !out.contains("not checked"), "authenticated and checked: {out}");
    eprintln!("{out}acknowledged before the backup: {}, while and after it ran: {during}", before.len());

    let restored = files.path().join("restored");
    let restore = [os("restore"), os("--from"), file.as_os_str(), os("--data-dir"), restored.as_os_str()];
    let (code, _, err) = run(restore);
    assert_eq!(code, Some(1), "not without the key");
    assert!(err.contains("--key-file"), "{err}");
    let with_key = [&restore[..], &[os("--key-file"), key.as_os_str()]].concat();
    let (code, out, err) = run(&with_key);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("problems=0"), "{out}");
    let (code, _, err) = run(&with_key);
    assert_eq!(code, Some(1));
    assert!(err.contains("--force"), "a non-empty target needs --force: {err}");

    let live = list_all(&mut app.client().await, "").await;
    app.stop().await;
    let ledger = Ledger::open(&restored, &LedgerOptions::default()).unwrap();
    let copy: Vec<_> = ledger.events(&TenantId::new("northside"), None, 0).map(Result::unwrap).collect();
    ledger.shutdown().await.unwrap();
    let ids: HashSet<&str> = copy.iter().map(|e| e.event.event_id.as_str()).collect();
    let missing: Vec<_> = before.iter().filter(|id| !ids.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged before the backup but not in it: {missing:?}");
    assert!(copy.len() <= live.len());
    for (c, l) in copy.iter().zip(&live) {
        assert_eq!(
            (c.sequence, c.event.event_id.as_str()),
            (l.sequence, l.event_id.as_str()),
            "a prefix of the ledger"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_backup_of_a_stopped_store_restores() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(grant("g1", PHONES[0], ConsentLevel::Express)).await.unwrap();
    c.record_consent(revoke("r1", PHONES[0])).await.unwrap();
    let data = app.data_dir();
    let dir = app.stop().await;
    let file = dir.path().join("offline.tgb");
    let (code, out, err) = run([os("backup"), os("--data-dir"), data.as_os_str(), os("--to"), file.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("tenants=1 events=2"), "{out}");
    // Phone numbers and evidence at rest are the owner's only.
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&file), 0o600, "the backup file");
    let (code, _, err) = run([os("backup"), os("--data-dir"), data.as_os_str(), os("--to"), file.as_os_str()]);
    assert_eq!(code, Some(1), "an existing backup file is never overwritten");
    assert!(err.contains("exists"), "{err}");
    let target = dir.path().join("restored");
    assert!(out.contains("seal=unauthenticated"), "no key: said in the summary: {out}");
    let restore = [os("restore"), os("--from"), file.as_os_str(), os("--data-dir"), target.as_os_str()];
    let (code, _, err) = run(restore);
    assert_eq!(code, Some(1), "a backup without a key is restored only when asked");
    assert!(err.contains("--unauthenticated"), "{err}");
    let (code, out, err) = run([&restore[..], &[os("--unauthenticated")]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(mode(&target), 0o700, "the restored store");
    let server = Server::start(&target);
    let view = &views(server.addr).await[0];
    assert_eq!(view.scopes[0].event_id, "r1", "the opt-out came back with the restore");
    assert_eq!(server.terminate(), Some(0));
}
