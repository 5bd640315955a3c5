//! What the committer acknowledges when a flush fails.

use crate::consent::verify::verify_dir;
use crate::consent::{ConsentError, Ledger, LedgerOptions};
use crate::domain::{Action, Level, NewEvent, TenantId};
use crate::phone::PhoneNumber;

const PHONE: &str = "+13125550199";

fn event(id: &str, action: Action) -> NewEvent {
    NewEvent::for_test("north", id, PHONE, action)
}

const OTHER: &str = "+13125550188";

fn event_for(id: &str, phone: &str, action: Action) -> NewEvent {
    NewEvent { phone: PhoneNumber::parse(phone).unwrap(), ..event(id, action) }
}

/// A batch whose flush fails is answered StoreUnavailable (never Ok) and
/// latches the ledger: later writes are refused until restart. Readers do
/// not act on the failed grant, nor list it; after a restart the store
/// verifies, the refused write is absent and writes work again.
#[tokio::test]
async fn a_failed_flush_is_never_acknowledged_and_refuses_writes_until_restart() {
    for index in [false, true] {
        failed_flush(index).await;
    }
}

/// The options with the consent index on (and loaded before use) or off.
fn opts(index: bool) -> LedgerOptions {
    LedgerOptions { consent_index_bytes: if index { 1 << 20 } else { 0 }, ..LedgerOptions::default() }
}

fn wait_loaded(ledger: &Ledger, index: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while index && !ledger.consent_index().1 {
        assert!(std::time::Instant::now() < deadline, "the consent index never loaded");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

async fn failed_flush(index: bool) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), &opts(index)).unwrap();
    wait_loaded(&ledger, index);
    ledger.record(event("ok-1", Action::Grant(Level::Express))).await.unwrap();
    ledger.inject_flush_faults(1);
    let e = ledger
        .record(event_for("failed-grant", OTHER, Action::Grant(Level::Express)))
        .await
        .expect_err("not acknowledged");
    assert!(matches!(e, ConsentError::Latched), "{e}");
    let e = ledger.record(event("refused", Action::Revoke)).await.expect_err("latched");
    assert!(e.to_string().contains("restart textgate"), "{e}");
    assert_eq!(
        ledger
            .consent(&TenantId::new("north"), &PhoneNumber::parse(OTHER).unwrap())
            .unwrap()
            .unwrap_or_default()
            .scopes,
        [],
        "the failed grant is not acted on"
    );
    assert_eq!(
        ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(PHONE).unwrap()).unwrap().unwrap().scopes[0]
            .event_id,
        "ok-1",
        "reads keep answering"
    );
    let listed: Vec<_> = ledger.events(&TenantId::new("north"), None, 0).map(|e| e.unwrap().event.event_id).collect();
    assert_eq!(listed, ["ok-1"]);
    ledger.shutdown().await.unwrap();
    drop(ledger);

    let ledger = Ledger::open(dir.path(), &opts(index)).unwrap();
    wait_loaded(&ledger, index);
    let ids: Vec<_> = ledger.events(&TenantId::new("north"), None, 0).map(|e| e.unwrap().event.event_id).collect();
    // sled may still have written the failed batch (here it did: the disk was
    // fine): present or absent, but whole, once, and never "refused".
    assert!(ids == ["ok-1"] || ids == ["ok-1", "failed-grant"], "{ids:?}");
    let next = ledger.record(event("after-restart", Action::Grant(Level::Express))).await.unwrap();
    assert_eq!(next.event.sequence, ids.len() as u64 + 1);
    ledger.shutdown().await.unwrap();
    drop(ledger);
    assert!(verify_dir(dir.path()).unwrap().is_clean());
}

/// An opt-out whose write failed is honoured until restart (the safe side);
/// the caller was told it was not recorded and retries it.
#[tokio::test]
async fn a_failed_opt_out_is_honoured_by_readers_until_restart() {
    for index in [false, true] {
        let ledger = Ledger::temporary(&opts(index)).unwrap();
        wait_loaded(&ledger, index);
        ledger.record(event("ok-1", Action::Grant(Level::Express))).await.unwrap();
        ledger.inject_flush_faults(1);
        ledger.record(event("failed-stop", Action::Revoke)).await.expect_err("not acknowledged");
        let seen = ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(PHONE).unwrap()).unwrap().unwrap();
        assert!(seen.opt_out_for_send("casework", "+13125550100").is_some(), "index {index}: {seen:?}");
        ledger.shutdown().await.unwrap();
    }
}

/// Many writes to two numbers at once, so batches hold several writes to
/// one number: each must see the ones before it in its batch (the batch
/// reads its own writes before the index or sled), and the stored states
/// must equal the replay of the events.
#[tokio::test(flavor = "multi_thread")]
async fn writes_to_one_number_in_one_batch_each_see_the_last() {
    for index in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = std::sync::Arc::new(Ledger::open(dir.path(), &opts(index)).unwrap());
        wait_loaded(&ledger, index);
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..120 {
            let (ledger, phone) = (std::sync::Arc::clone(&ledger), if i % 2 == 0 { PHONE } else { OTHER });
            // Grants to seven campaigns pile up as scopes; every fifth write
            // revokes one: a write that missed an earlier one of its batch
            // would lose a scope.
            let action = if i % 5 == 4 { Action::Revoke } else { Action::Grant(Level::Express) };
            let scope = crate::domain::Scope { campaign_id: format!("c{}", i % 7), sender: String::new() };
            let event = NewEvent { scope, ..event_for(&format!("w-{i}"), phone, action) };
            writes.spawn(async move { ledger.record(event).await });
        }
        while let Some(done) = writes.join_next().await {
            done.unwrap().unwrap();
        }
        for phone in [PHONE, OTHER] {
            let mut replay = crate::domain::ContactConsent::default();
            ledger
                .events(&TenantId::new("north"), Some(&PhoneNumber::parse(phone).unwrap()), 0)
                .for_each(|e| replay.apply(&e.unwrap()));
            assert_eq!(
                ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(phone).unwrap()).unwrap(),
                Some(replay),
                "index {index}: read = replay"
            );
        }
        ledger.shutdown().await.unwrap();
        drop(ledger);
        let report = verify_dir(dir.path()).unwrap();
        assert!(report.is_clean(), "index {index}: {report}: {:?}", report.problems);
    }
}
