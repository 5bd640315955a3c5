//! The in-memory consent index: what it answers before and after loading,
//! the loader never overwriting the committer, and its limit.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::domain::{Action, ConsentEvent, Level, NewEvent, TenantId};
use crate::phone::PhoneNumber;

fn state(event_id: &str) -> ContactConsent {
    let event = NewEvent::for_test("north", event_id, "+13125550199", Action::Grant(Level::Express));
    let mut s = ContactConsent::default();
    s.apply(&ConsentEvent { sequence: 1, recorded_at: jiff::Timestamp::UNIX_EPOCH, event });
    s
}

/// A `consent` tree holding `numbers` of tenant "north", each granted by "stored".
fn tree(numbers: &[&str]) -> sled::Tree {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let t = db.open_tree("consent").unwrap();
    for n in numbers {
        t.insert(keys::phone("north", n), records::encode_consent(&state("stored"))).unwrap();
    }
    t
}

/// `set` of one number of "north".
fn set(index: &ConsentIndex, phone: &str, state: &ContactConsent) {
    index.set([("north", phone, records::encode_consent(state))].into_iter());
}

fn found(index: &ConsentIndex, tenant: &str, phone: &str) -> Option<String> {
    match index.get(tenant, phone).unwrap() {
        Lookup::Found(c) => Some(c.scopes[0].event_id.clone()),
        Lookup::Absent => Some("absent".into()),
        Lookup::Unknown => None,
    }
}

#[test]
fn e164_numbers_map_to_distinct_integers_and_nothing_else_does() {
    for (phone, want) in [
        ("+13125550199", Some(13_125_550_199)),
        ("+442079460958", Some(442_079_460_958)),
        ("+999999999999999", Some(999_999_999_999_999)),
        ("+1", Some(1)),
        ("13125550199", None),
        ("+", None),
        ("+0312555", None),
        ("+1312555019x", None),
        ("+1234567890123456", None),
    ] {
        assert_eq!(digits(phone), want, "{phone}");
    }
}

#[test]
fn before_loading_a_miss_asks_sled_and_after_it_means_nothing_on_record() {
    let index = ConsentIndex::new(1 << 20);
    assert_eq!(found(&index, "north", "+13125550199"), None, "not loaded: ask sled");
    index.load(&tree(&["+13125550199", "+13125550100"]));
    assert_eq!(found(&index, "north", "+13125550199").as_deref(), Some("stored"));
    assert_eq!(found(&index, "north", "+13125550111").as_deref(), Some("absent"));
    assert_eq!(found(&index, "south", "+13125550199").as_deref(), Some("absent"), "tenants are apart");
    assert_eq!(found(&index, "north", "not-e164"), None, "a key it cannot hold goes to sled");
    assert_eq!(index.stats(), (2, true));
}

#[test]
fn the_loader_never_overwrites_what_the_committer_set() {
    let index = ConsentIndex::new(1 << 20);
    let newer = state("newer");
    set(&index, "+13125550199", &newer);
    index.load(&tree(&["+13125550199"]));
    assert_eq!(found(&index, "north", "+13125550199").as_deref(), Some("newer"));
    let newest = state("newest");
    set(&index, "+13125550199", &newest);
    assert_eq!(found(&index, "north", "+13125550199").as_deref(), Some("newest"), "the committer overwrites");
    assert_eq!(index.stats(), (1, true));
}

/// What one number with a `state(..)` costs the index.
fn cost() -> usize {
    records::encode_consent(&state("stored")).len() + ENTRY_OVERHEAD
}

#[test]
fn past_its_limit_the_index_empties_and_every_read_goes_to_sled() {
    let index = ConsentIndex::new(2 * cost());
    index.load(&tree(&["+13125550101", "+13125550102", "+13125550103"]));
    assert_eq!(found(&index, "north", "+13125550101"), None);
    assert_eq!(found(&index, "north", "+13125550999"), None, "no longer answers absent");
    assert_eq!(index.stats(), (0, false));

    let off = ConsentIndex::new(0);
    off.load(&tree(&["+13125550101"]));
    set(&off, "+13125550101", &state("x"));
    assert_eq!(found(&off, "north", "+13125550101"), None, "limit 0: off");

    let grows = ConsentIndex::new(cost());
    grows.load(&tree(&[]));
    set(&grows, "+13125550101", &state("a"));
    assert_eq!(found(&grows, "north", "+13125550101").as_deref(), Some("a"));
    set(&grows, "+13125550102", &state("b"));
    assert_eq!(found(&grows, "north", "+13125550101"), None, "the committer's writes count too");
    set(&grows, "+13125550103", &state("c"));
    assert_eq!(grows.stats(), (0, false), "nothing comes back once it is off");
}

/// A reader racing the index as it turns itself off gets the number's state
/// or "ask sled", never "nothing on record".
#[test]
fn a_read_racing_the_index_turning_off_never_answers_absent() {
    let stored: Vec<String> = (0..500).map(|i| format!("+1312555{i:04}")).collect();
    let refs: Vec<&str> = stored.iter().map(String::as_str).collect();
    let t = tree(&refs);
    for round in 0..40 {
        let index = ConsentIndex::new(500 * cost() + cost() / 2);
        index.load(&t);
        assert!(index.stats().1, "round {round}: loaded");
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let phone = refs[i % refs.len()];
                        assert_ne!(found(&index, "north", phone).as_deref(), Some("absent"), "{phone}");
                        i += 7;
                    }
                });
            }
            // A new number pushes it past its limit.
            std::thread::sleep(std::time::Duration::from_micros(200));
            set(&index, "+13125559999", &state("over"));
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(index.stats(), (0, false));
    }
}

#[test]
fn a_stopped_loader_leaves_the_index_asking_sled() {
    let index = ConsentIndex::new(1 << 20);
    index.stop();
    index.load(&tree(&["+13125550101"]));
    assert_eq!(found(&index, "north", "+13125550101"), None);
    assert_eq!(index.stats(), (0, false));
}

/// Through the ledger: a write is readable once acknowledged, with the
/// index on or off, and a reopened store answers the same from its index.
#[tokio::test]
async fn the_ledger_reads_the_same_consent_with_or_without_its_index() {
    use crate::consent::{Ledger, LedgerOptions};
    let dir = tempfile::tempdir().unwrap();
    let phones = ["+13125550101", "+13125550102"];
    for limit in [0, 1 << 20] {
        let opts = LedgerOptions { consent_index_bytes: limit, ..LedgerOptions::default() };
        let ledger = Ledger::open(dir.path(), &opts).unwrap();
        let id = format!("grant-{limit}");
        ledger.record(NewEvent::for_test("north", &id, phones[0], Action::Grant(Level::Express))).await.unwrap();
        let read = ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(phones[0]).unwrap()).unwrap().unwrap();
        assert_eq!(read.scopes[0].event_id, id, "limit {limit}: visible once acknowledged");
        assert_eq!(ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(phones[1]).unwrap()).unwrap(), None);
        ledger.shutdown().await.unwrap();
    }
    let ledger = Ledger::open(dir.path(), &LedgerOptions::default()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ledger.consent_index().1 {
        assert!(std::time::Instant::now() < deadline, "the index never finished loading");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(ledger.consent_index(), (1, true));
    assert_eq!(
        ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(phones[0]).unwrap()).unwrap().unwrap().scopes[0]
            .event_id,
        "grant-1048576"
    );
    assert_eq!(ledger.consent(&TenantId::new("north"), &PhoneNumber::parse(phones[1]).unwrap()).unwrap(), None);
    ledger.shutdown().await.unwrap();
}
