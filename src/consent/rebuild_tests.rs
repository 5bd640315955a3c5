//! verify and rebuild on a real on-disk store.

use std::path::Path;

use super::*;
use crate::consent::verify::verify_dir;
use crate::consent::{Ledger, LedgerOptions};
use crate::domain::{Action, Evidence, Level, NewEvent, Scope, Source, TenantId};
use crate::phone::PhoneNumber;

fn event(id: &str, phone: &str, action: Action) -> NewEvent {
    NewEvent {
        tenant_id: TenantId::new("north"),
        event_id: id.into(),
        phone: PhoneNumber::parse(phone).unwrap(),
        action,
        scope: Scope::default(),
        source: Source::Verbal,
        occurred_at: jiff::Timestamp::UNIX_EPOCH,
        evidence: Evidence::default(),
        categories: vec![],
        inbound_text: String::new(),
    }
}

const PHONES: [&str; 3] = ["+13125550101", "+13125550102", "+13125550103"];

/// A store with 9 events over 3 numbers (the last word on each alternates),
/// plus one event of a second tenant; returns every number's consent.
async fn populated(dir: &Path) -> Vec<Option<ContactConsent>> {
    let ledger = Ledger::open(dir, &LedgerOptions::default()).unwrap();
    for i in 0..9 {
        let action = if i % 2 == 0 { Action::Grant(Level::Express) } else { Action::Revoke };
        ledger.record(event(&format!("e{i}"), PHONES[i % 3], action)).await.unwrap();
    }
    ledger
        .record(NewEvent { tenant_id: TenantId::new("south"), ..event("s1", PHONES[0], Action::Grant(Level::Express)) })
        .await
        .unwrap();
    let states = PHONES
        .iter()
        .map(|p| ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(p).unwrap()).unwrap())
        .collect();
    ledger.shutdown().await.unwrap();
    states
}

fn states(dir: &Path) -> Vec<Option<ContactConsent>> {
    let db = offline::open_existing(dir).unwrap();
    let t = offline::trees(&db).unwrap();
    PHONES
        .iter()
        .map(|p| t.consent.get(keys::phone("north", p)).unwrap().map(|v| records::decode_consent(&v).unwrap()))
        .collect()
}

fn with_trees(dir: &Path, f: impl FnOnce(&Trees)) {
    let db = offline::open_existing(dir).unwrap();
    f(&offline::trees(&db).unwrap());
    db.flush().unwrap();
}

#[tokio::test]
async fn a_clean_store_verifies() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path()).await;
    let r = verify_dir(dir.path()).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.tenants, r.events, r.phones), (2, 10, 4));
}

#[tokio::test]
async fn rebuild_repairs_corrupted_derived_trees_and_keeps_consent() {
    let dir = tempfile::tempdir().unwrap();
    let before = populated(dir.path()).await;
    with_trees(dir.path(), |t| {
        t.idempotency.remove(keys::idempotency("north", "e4")).unwrap();
        t.idempotency.insert(keys::idempotency("north", "ghost"), &7u64.to_be_bytes()).unwrap();
        t.by_phone.remove(keys::by_phone("north", PHONES[0], 1)).unwrap();
        t.by_phone.insert(keys::by_phone("north", PHONES[1], 1), &[]).unwrap();
        // A stale state: the number's state before its latest event.
        let wrong = t.consent.get(keys::phone("north", PHONES[2])).unwrap().unwrap();
        t.consent.insert(keys::phone("north", PHONES[0]), wrong).unwrap();
        t.consent.remove(keys::phone("north", PHONES[1])).unwrap();
    });
    let r = verify_dir(dir.path()).unwrap();
    let trees: Vec<_> = r.problems.iter().map(|p| p.tree).collect();
    // The removed state also leaves north's kept number count off by one.
    assert_eq!(r.problem_count, 7, "{:#?}", r.problems);
    for tree in ["idempotency", "by_phone", "consent", "usage"] {
        assert!(trees.contains(&tree), "{tree} problem expected: {:#?}", r.problems);
    }
    assert!(r.problems.iter().all(|p| !p.to_string().contains("555")), "no whole number in reports");

    let (rebuilt, after) = rebuild_dir(dir.path()).unwrap();
    assert_eq!(rebuilt, RebuildReport { events: 10, phones: 4 });
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(states(dir.path()), before);
}

#[tokio::test]
async fn a_crash_mid_rebuild_blocks_serving_until_a_second_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let before = populated(dir.path()).await;
    {
        let db = offline::open_existing(dir.path()).unwrap();
        rebuild(&db, &offline::trees(&db).unwrap(), Operation::Rebuild, Some(4)).unwrap();
    }
    let e = Ledger::open(dir.path(), &LedgerOptions::default()).err().expect("refuses a half-rebuilt store");
    assert!(e.to_string().contains("textgate rebuild"), "{e}");
    assert!(!verify_dir(dir.path()).unwrap().is_clean());
    let (_, after) = rebuild_dir(dir.path()).unwrap();
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(states(dir.path()), before);
    Ledger::open(dir.path(), &LedgerOptions::default()).unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn verify_reports_gaps_duplicates_and_mismatched_keys_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path()).await;
    with_trees(dir.path(), |t| {
        t.events.remove(keys::event("north", 3)).unwrap();
        let e5 = t.events.get(keys::event("north", 5)).unwrap().unwrap();
        t.events.insert(keys::event("north", 10), e5.clone()).unwrap();
        let mut dup = records::decode_event(&e5).unwrap();
        dup.sequence = 11;
        t.events.insert(keys::event("north", 11), records::encode_event(&dup)).unwrap();
    });
    let r = verify_dir(dir.path()).unwrap();
    let text: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
    let has = |s: &str| text.iter().any(|t| t.contains(s));
    assert!(has("sequences 3..3 are missing"), "{text:#?}");
    assert!(has("key 10 holds event 5"), "{text:#?}");
    assert!(has("stored twice"), "{text:#?}");
    // Derived trees cannot fix a damaged ledger: rebuild keeps reporting it.
    let (_, after) = rebuild_dir(dir.path()).unwrap();
    assert!(after.problems.iter().all(|p| p.tree == "events"), "{:#?}", after.problems);
    assert!(!after.is_clean());
}

#[tokio::test]
async fn offline_commands_refuse_a_store_a_server_holds() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), &LedgerOptions::default()).unwrap();
    let e = verify_dir(dir.path()).expect_err("locked");
    assert!(e.to_string().contains("in use"), "{e}");
    assert!(rebuild_dir(dir.path()).is_err());
    ledger.shutdown().await.unwrap();
    drop(ledger);
    assert!(verify_dir(dir.path()).unwrap().is_clean());
    let empty = tempfile::tempdir().unwrap();
    assert!(verify_dir(&empty.path().join("none")).err().unwrap().to_string().contains("no textgate store"));
}

#[tokio::test]
async fn wrong_number_and_review_hold_markers_verify_and_rebuild_from_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap();
    let ledger = Ledger::open(dir.path(), &LedgerOptions::default()).unwrap();
    let phone = PHONES[0];
    for e in [
        NewEvent { occurred_at: at(10), ..event("g", phone, Action::Grant(Level::ExpressWritten)) },
        NewEvent { occurred_at: at(20), ..event("w", phone, Action::WrongNumber) },
        NewEvent { occurred_at: at(30), ..event("h", phone, Action::ReviewHold) },
    ] {
        ledger.record(e).await.unwrap();
    }
    ledger.shutdown().await.unwrap();
    drop(ledger);
    let before = states(dir.path());
    let state = before[0].clone().unwrap();
    assert_eq!(state.reassigned.as_ref().map(|m| m.event_id.as_str()), Some("w"));
    assert_eq!(state.review_hold.as_ref().map(|m| m.event_id.as_str()), Some("h"));
    assert!(verify_dir(dir.path()).unwrap().is_clean());

    // A state that lost its markers is found and rebuilt from the events.
    with_trees(dir.path(), |t| {
        let plain = ContactConsent { reassigned: None, review_hold: None, ..state.clone() };
        t.consent.insert(keys::phone("north", phone), records::encode_consent(&plain)).unwrap();
    });
    let r = verify_dir(dir.path()).unwrap();
    let text: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("Reassigned@2") && t.contains("ReviewHold@3")), "{text:#?}");
    let (_, after) = rebuild_dir(dir.path()).unwrap();
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(states(dir.path()), before);
}
