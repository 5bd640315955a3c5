//! Backup files: round trip, damage detection, restore targets.

use std::sync::Arc;

use super::*;
use crate::consent::backup_key::BackupKey;
use crate::consent::rebuild::rebuild_dir;
use crate::consent::LedgerOptions;
use crate::domain::ContactHistory;
use crate::domain::{Action, Level, NewEvent, TenantId};
use crate::phone::PhoneNumber;

fn event(tenant: &str, id: &str, phone: &str, action: Action) -> NewEvent {
    NewEvent::for_test(tenant, id, phone, action)
}

fn key() -> BackupKey {
    BackupKey::new(b"0123456789abcdef0123456789abcdef-test").unwrap()
}

/// Restores and checks trusting the test key only.
fn keyed(k: &BackupKey) -> Trust<'_> {
    Trust { key: Some(k), ..Trust::default() }
}

/// The decision every backed-up ledger logs, and its id's instant.
const DECISION: &[u8] = b"a decision record";

/// A ledger in `dir` with events of two tenants, a contact history, an
/// inbound answer and a logged decision; returns the backup bytes.
async fn backed_up(dir: &Path) -> Vec<u8> {
    backed_up_with(dir, Some(key())).await
}

async fn backed_up_with(dir: &Path, backup_key: Option<BackupKey>) -> Vec<u8> {
    let ledger = Arc::new(Ledger::open(dir, &LedgerOptions { backup_key, ..LedgerOptions::default() }).unwrap());
    for i in 0..20 {
        let action = if i % 3 == 2 { Action::Revoke } else { Action::Grant(Level::Express) };
        ledger.record(event("north", &format!("n{i}"), &format!("+1312555010{}", i % 4), action)).await.unwrap();
    }
    ledger.record(event("south", "s0", "+13125550100", Action::Grant(Level::Express))).await.unwrap();
    let history = ContactHistory { last_inbound_at: Some(jiff::Timestamp::UNIX_EPOCH), ..Default::default() };
    ledger.put_contact(&TenantId::new("north"), &PhoneNumber::parse("+13125550100").unwrap(), &history).unwrap();
    ledger.remember_inbound(&TenantId::new("north"), "m-1", b"answer".to_vec()).unwrap();
    let id = ledger.log_decision(&TenantId::new("north"), jiff::Timestamp::UNIX_EPOCH, DECISION).unwrap();
    std::fs::write(dir.join("decision-id.txt"), &id).unwrap();
    let l = Arc::clone(&ledger);
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        l.write_backup(&mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    ledger.shutdown().await.unwrap();
    bytes
}

fn save(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join("backup.tgb");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn a_restored_backup_verifies_and_holds_the_same_ledger() {
    let (src, dst, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = save(files.path(), &backed_up(src.path()).await);
    let target = dst.path().join("restored");

    let (summary, report) = restore(&file, &target, false, keyed(&key())).unwrap();
    assert_eq!((summary.tenants, summary.events), (2, 21));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.events, report.phones), (21, 5));

    // The ids handed out are sealed under the store's key, which a backup
    // does not carry: it is kept beside the backups and copied back.
    let key = crate::consent::server_key::KEY_FILE;
    std::fs::copy(src.path().join(key), target.join(key)).unwrap();
    let (a, b) = (
        Ledger::open(src.path(), &LedgerOptions::default()).unwrap(),
        Ledger::open(&target, &LedgerOptions::default()).unwrap(),
    );
    let all = |l: &Ledger| l.events(&TenantId::new("north"), None, 0).map(Result::unwrap).collect::<Vec<_>>();
    assert_eq!(all(&a), all(&b));
    for p in ["+13125550100", "+13125550101", "+13125550103"] {
        assert_eq!(
            a.consent(&TenantId::new("north"), &PhoneNumber::parse(p).unwrap()).unwrap(),
            b.consent(&TenantId::new("north"), &PhoneNumber::parse(p).unwrap()).unwrap()
        );
    }
    assert_eq!(
        b.contact(&TenantId::new("north"), &PhoneNumber::parse("+13125550100").unwrap()).unwrap().last_inbound_at,
        Some(jiff::Timestamp::UNIX_EPOCH)
    );
    assert_eq!(b.inbound_answer(&TenantId::new("north"), "m-1").unwrap().as_deref(), Some(&b"answer"[..]));
    let id = std::fs::read_to_string(src.path().join("decision-id.txt")).unwrap();
    assert_eq!(
        b.decision(&TenantId::new("north"), &id).unwrap().as_deref(),
        Some(DECISION),
        "the decision log, under the same id"
    );
    assert_eq!(b.decision(&TenantId::new("south"), &id).unwrap(), None);
    let segments = std::fs::read_dir(target.join("decision-log")).unwrap().count();
    assert_eq!(segments, 1, "restored into the decision log's files, where the retention applies");
    // The restored ledger keeps counting where the original stopped.
    let next = b.record(event("north", "after", "+13125550100", Action::Grant(Level::Express))).await.unwrap();
    assert_eq!(next.event.sequence, 21);
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_damaged_or_truncated_backup_is_refused_before_anything_is_written() {
    let (src, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bytes = backed_up(src.path()).await;
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    for (name, damaged) in [("flipped", flipped), ("truncated", bytes[..bytes.len() - 1].to_vec())] {
        let file = save(files.path(), &damaged);
        let target = files.path().join(name);
        let e = restore(&file, &target, false, keyed(&key())).expect_err(name);
        assert!(e.to_string().contains("not a complete textgate backup"), "{name}: {e}");
        assert!(!target.exists(), "{name}: nothing written");
    }
    assert!(check_file(&save(files.path(), &bytes), keyed(&key())).is_ok());
}

#[tokio::test]
async fn restore_needs_force_to_replace_a_store_and_then_replaces_it() {
    let (src, other, files) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = save(files.path(), &backed_up(src.path()).await);
    let ledger = Ledger::open(other.path(), &LedgerOptions::default()).unwrap();
    ledger.record(event("north", "only-here", "+13125550199", Action::Grant(Level::Express))).await.unwrap();
    ledger.shutdown().await.unwrap();
    drop(ledger);

    let e = restore(&file, other.path(), false, keyed(&key())).expect_err("refused");
    assert!(e.to_string().contains("--force"), "{e}");
    let (_, report) = restore(&file, other.path(), true, keyed(&key())).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let l = Ledger::open(other.path(), &LedgerOptions::default()).unwrap();
    assert_eq!(
        l.consent(&TenantId::new("north"), &PhoneNumber::parse("+13125550199").unwrap()).unwrap(),
        None,
        "the old store's data is gone"
    );
    assert_eq!(l.events(&TenantId::new("north"), None, 0).count(), 20);
    l.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_interrupted_restore_must_be_run_again() {
    let (src, dst, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = save(files.path(), &backed_up(src.path()).await);
    {
        // A restore that got as far as its marker, then crashed.
        let db = offline::open_dir(dst.path(), 1 << 20).unwrap();
        offline::begin(&db, Operation::Restore).unwrap();
    }
    assert!(Ledger::open(dst.path(), &LedgerOptions::default())
        .err()
        .unwrap()
        .to_string()
        .contains("textgate restore"));
    let e = rebuild_dir(dst.path()).expect_err("rebuild cannot finish a restore");
    assert!(e.to_string().contains("restore"), "{e}");
    let (_, report) = restore(&file, dst.path(), true, keyed(&key())).unwrap();
    assert!(report.is_clean() && report.events == 21, "{report}");
    Ledger::open(dst.path(), &LedgerOptions::default()).unwrap().shutdown().await.unwrap();
}

#[path = "backup_trust_tests.rs"]
mod trust;
