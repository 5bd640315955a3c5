//! A store sled cannot open (its files lost writes sled had made, as when a
//! disk drops acknowledged writes): `serve`, `verify` and `rebuild` say what
//! is wrong and how to recover, and exit non-zero, instead of panicking
//! inside sled.

use std::ffi::OsStr;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use textgate::consent::{Ledger, LedgerOptions};
use textgate::domain::{Action, Evidence, Level, NewEvent, Scope, Source, TenantId};
use textgate::phone::PhoneNumber;

use crate::process::run;

/// Recipients written: enough for sled to spread the store over several of
/// its 512 KiB log segments, so losing the first one loses pages the later
/// ones still point at (with one segment, sled opens an empty store instead;
/// with 2,000 recipients some runs' layouts open, losing data silently).
const RECIPIENTS: u32 = 6000;

/// Recipient `i`, spread over ten area codes: keys land all over the key
/// space, so sled rewrites pages in every segment.
fn phone(i: u32) -> PhoneNumber {
    const NPAS: [&str; 10] = ["312", "212", "415", "305", "206", "617", "713", "404", "602", "303"];
    PhoneNumber::parse_e164(&format!("+1{}{}{:04}", NPAS[(i % 10) as usize], 200 + (i / 10) % 10, i / 100)).unwrap()
}

fn event(i: u32, n: u32, action: Action) -> NewEvent {
    NewEvent {
        tenant_id: TenantId::new("northside"),
        event_id: format!("e{i}-{n}"),
        phone: phone(i),
        action,
        scope: Scope::default(),
        source: Source::Import,
        occurred_at: jiff::Timestamp::from_second(1_767_225_600 + i64::from(i) * 10 + i64::from(n)).unwrap(),
        evidence: Evidence { collected_by: "damaged-store-test".into(), ..Evidence::default() },
        categories: vec![],
        inbound_text: String::new(),
    }
}

/// Writes every recipient's consent at once, as an import would; every tenth
/// recipient opts out after granting.
async fn populate(dir: &Path) {
    let opts = LedgerOptions { max_batch: 2048, queue: 65_536, ..LedgerOptions::default() };
    let ledger = std::sync::Arc::new(Ledger::open(dir, &opts).unwrap());
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..RECIPIENTS {
        let ledger = std::sync::Arc::clone(&ledger);
        writes.spawn(async move {
            ledger.record(event(i, 0, Action::Grant(Level::Express))).await.unwrap();
            if i % 10 == 3 {
                ledger.record(event(i, 1, Action::Revoke)).await.unwrap();
            }
        });
    }
    while let Some(w) = writes.join_next().await {
        w.unwrap();
    }
    ledger.shutdown().await.unwrap();
}

/// Bytes in one of sled's log segments.
const SEGMENT: usize = 512 * 1024;

fn copy_dir(from: &Path, to: &Path) {
    let copied = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(copied.success(), "cp -a {} {}", from.display(), to.display());
}

/// A copy of the store at `from` whose segment `n` is zeroed: the writes a
/// failing disk dropped.
fn lose_segment(from: &Path, to: &Path, n: usize) {
    copy_dir(from, to);
    let mut db = std::fs::OpenOptions::new().write(true).open(to.join("db")).unwrap();
    db.seek(SeekFrom::Start((n * SEGMENT) as u64)).unwrap();
    db.write_all(&vec![0u8; SEGMENT]).unwrap();
    db.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_sled_cannot_open_is_reported_with_the_way_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data).await;
    let verify = |d: &Path| run([OsStr::new("verify"), OsStr::new("--data-dir"), d.as_os_str()]);
    // Verified on a copy: opening a store rewrites some of its pages, so the
    // damage goes to the store as the writer left it.
    let healthy = dir.path().join("healthy");
    copy_dir(&data, &healthy);
    let (code, out, err) = verify(&healthy);
    assert_eq!(code, Some(0), "the healthy store verifies: {out}{err}");
    let segments = std::fs::metadata(data.join("db")).unwrap().len() as usize / SEGMENT;
    assert!(segments >= 3, "the store spans several segments");

    // Which lost segment sled cannot open past depends on where it put the
    // pages (mostly the later ones); at least one of them, and never a panic.
    let mut damaged = None;
    for n in (segments / 3..segments).chain(0..segments / 3) {
        let copy = dir.path().join(format!("lost-{n}"));
        lose_segment(&data, &copy, n);
        let (code, out, err) = verify(&copy);
        assert!(!err.contains("panicked"), "segment {n} lost: verify panics: {err}");
        if err.contains("the store is damaged") {
            assert_eq!(code, Some(1), "{out}{err}");
            damaged = Some(copy);
            break;
        }
    }
    let damaged = damaged.expect("some lost segment leaves a store sled cannot open");

    let dir_arg = damaged.as_os_str();
    let serve = crate::process::SERVE_ON_LOOPBACK;
    let commands: [Vec<&OsStr>; 3] = [
        vec![OsStr::new("verify"), OsStr::new("--data-dir"), dir_arg],
        vec![OsStr::new("rebuild"), OsStr::new("--data-dir"), dir_arg],
        serve.iter().map(OsStr::new).chain([dir_arg]).collect(),
    ];
    for args in commands {
        let (code, out, err) = run(&args);
        let name = args[0].to_string_lossy();
        assert_eq!(code, Some(1), "{name}: exits 1: {out}{err}");
        assert!(!err.contains("panicked"), "{name}: no panic: {err}");
        assert!(err.contains("the store is damaged and cannot be opened"), "{name}: says what is wrong: {err}");
        assert!(err.contains("textgate restore --from BACKUP"), "{name}: says how to recover: {err}");
        assert!(err.contains("cluster mode"), "{name}: and how in cluster mode: {err}");
    }
}
