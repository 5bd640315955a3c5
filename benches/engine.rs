//! Criterion benches of the pure engine and the store's hot reads:
//!
//!   cargo bench --bench engine
//!
//! `decide/typical` is what bench/run compares with one baseline RPC;
//! `check/noted_after_*` set a busy recipient's decision beside a quiet one's;
//! `digest/body` is one keyed body digest of a logged decision.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jiff::{SignedDuration, Timestamp};
use textgate::config::Config;
use textgate::consent::{Ledger, LedgerOptions};
use textgate::domain::{
    Action, Category, ConsentEvent, ContactConsent, ContactHistory, Evidence, Level, NewEvent, Retention, Scope,
    SentMessage, Source, TenantId,
};
use textgate::phone::{PhoneNumber, UsState};
use textgate::policy::{decide, Message, Origin, Outcome, Policy, RulePack};

const MIDDAY: &str = "2026-06-02T15:00:00Z";

/// A caseworker's text from the demo tenant's first sender.
fn person_message<'a>(to: &'a PhoneNumber, body: &'a str, at: Timestamp) -> Message<'a> {
    Message {
        from: "+13125550100",
        to,
        body,
        origin: Origin::Person,
        category: None,
        campaign_id: "",
        send_at: at,
        recipient_state: None,
        recipient_zone: None,
    }
}

fn event(phone: &str, seq: u64, action: Action) -> NewEvent {
    NewEvent {
        tenant_id: TenantId::new("northside"),
        event_id: format!("e-{phone}-{seq}"),
        phone: PhoneNumber::parse(phone).expect("a valid number"),
        action,
        scope: Scope::default(),
        source: Source::Verbal,
        occurred_at: Timestamp::UNIX_EPOCH,
        evidence: Evidence::default(),
        categories: vec![],
        inbound_text: String::new(),
    }
}

fn consent(level: Level) -> ContactConsent {
    let mut c = ContactConsent::default();
    let e = event("+13125550199", 1, Action::Grant(level));
    c.apply(&ConsentEvent { sequence: 1, recorded_at: Timestamp::UNIX_EPOCH, event: e });
    c
}

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::compile(&Config::demo(), Arc::new(RulePack::builtin().expect("rule pack"))).expect("policy");
    let tenant = &policy.tenants["northside"];
    let at: Timestamp = MIDDAY.parse().unwrap();
    let to = PhoneNumber::parse("+13125550199").unwrap();
    let fl = PhoneNumber::parse("+13055550199").unwrap();
    let express = consent(Level::Express);
    let written = consent(Level::ExpressWritten);
    let empty = ContactHistory::default();

    let typical = person_message(&to, "Your case file is ready. Please bring your ID on Tuesday.", at);
    c.bench_function("decide/typical", |b| b.iter(|| black_box(decide(&policy, tenant, &typical, &express, &empty))));

    // Worst case: a promotional text at the body limit, full of links and
    // numbers, to a Florida number with a busy send history (caps, quiet hours).
    let long = "Give today at https://give.northside.example.org/spring or call 312-555-0100. ".repeat(25);
    let mut busy = ContactHistory::default();
    for i in 0..40 {
        let note = SentMessage {
            campaign_id: "fundraising".into(),
            category: Category::Promotional,
            at: at - SignedDuration::from_hours(i * 3),
        };
        busy.note_send(note, i % 5 == 0, &Retention { window: SignedDuration::from_hours(24 * 30), sends: 40 }, at);
    }
    let worst = Message {
        from: "+13125550101",
        to: &fl,
        body: &long[..1600],
        origin: Origin::Automated,
        category: Some(Category::Promotional),
        campaign_id: "fundraising",
        send_at: at,
        recipient_state: Some(UsState::FL),
        recipient_zone: None,
    };
    c.bench_function("decide/worst", |b| b.iter(|| black_box(decide(&policy, tenant, &worst, &written, &busy))));

    let inbound = &policy.pack.inbound;
    c.bench_function("classify/stop", |b| b.iter(|| black_box(inbound.classify(black_box("STOP"), false))));
    let text = "Hi, thanks for the reminder. Could we move Tuesday's appointment to Thursday afternoon? \
                I have to pick up my daughter from school at 3, so anytime after 4 works.";
    c.bench_function("classify/free_text", |b| b.iter(|| black_box(inbound.classify(black_box(text), false))));
    c.bench_function("classify/revocation", |b| {
        b.iter(|| black_box(inbound.classify(black_box("please stop texting me, I'm not interested"), false)))
    });
}

fn bench_ledger(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let phones: Vec<PhoneNumber> = (0..10_000)
        // Exchanges 222-298: no N11 code (211), which the parser rightly rejects.
        .map(|i| PhoneNumber::parse(&format!("+1312{:03}{:04}", 222 + i % 77, i)).expect("a valid number"))
        .collect();
    let filled = |opts: LedgerOptions| {
        let ledger = Ledger::temporary(&opts).expect("ledger");
        rt.block_on(async {
            for (i, p) in phones.iter().enumerate() {
                ledger.record(event(p.as_str(), i as u64, Action::Grant(Level::Express))).await.expect("record");
            }
        });
        ledger
    };
    let mut i = 0usize;
    let tenant = TenantId::new("northside");
    // The in-memory index, then sled alone (the index off).
    let sled_only = filled(LedgerOptions { consent_index_bytes: 0, ..LedgerOptions::default() });
    let ledger = filled(LedgerOptions::default());
    for (name, l) in [("ledger/consent_get", &ledger), ("ledger/consent_get_sled", &sled_only)] {
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % phones.len();
                black_box(l.consent(&tenant, &phones[i]).expect("read"))
            })
        });
    }
    rt.block_on(sled_only.shutdown()).expect("shutdown");
    let history = ContactHistory::default();
    c.bench_function("ledger/contact_put", |b| {
        b.iter(|| {
            i = (i + 7919) % phones.len();
            ledger.put_contact(&tenant, &phones[i], &history).expect("write")
        })
    });
    c.bench_function("ledger/contact_get", |b| {
        b.iter(|| {
            i = (i + 7919) % phones.len();
            black_box(ledger.contact(&tenant, &phones[i]).expect("read"))
        })
    });
    rt.block_on(ledger.shutdown()).expect("shutdown");
}

/// One non-dry-run CheckMessage's work on the store, as `api::check` does it
/// (read the contact history, decide, note the allowed send, write the
/// history back), for a recipient with 10 and with 10,000 recorded sends.
/// Before the history was bounded, the second cost grew with the sends.
fn bench_busy_recipient(c: &mut Criterion) {
    let policy = Policy::compile(&Config::demo(), Arc::new(RulePack::builtin().expect("rule pack"))).expect("policy");
    let tenant_policy = &policy.tenants["northside"];
    let ledger = Ledger::temporary(&LedgerOptions::default()).expect("ledger");
    let tenant = TenantId::new("northside");
    let express = consent(Level::Express);
    let start: Timestamp = MIDDAY.parse().unwrap();
    let decide_and_note = |to: &PhoneNumber, at: Timestamp| {
        let msg = person_message(to, "Your documents were received. No action is needed.", at);
        let mut history = ledger.contact(&tenant, to).expect("read");
        let d = decide(&policy, tenant_policy, &msg, &express, &history);
        let sent = SentMessage { campaign_id: d.campaign_id.clone(), category: d.category.expect("allowed"), at };
        history.note_send(sent, d.discloses, &policy.pack.retention, at);
        ledger.put_contact(&tenant, to, &history).expect("write");
        d.outcome
    };
    for (name, sends, phone) in [
        ("check/noted_after_10_sends", 10u32, "+13125550110"),
        ("check/noted_after_10000_sends", 10_000, "+13125550111"),
    ] {
        let to = PhoneNumber::parse(phone).expect("a valid number");
        // A millisecond apart, all inside the cap period and the quiet-hours window.
        let mut at = start;
        for _ in 0..sends {
            at += SignedDuration::from_millis(1);
            let outcome = decide_and_note(&to, at);
            assert!(matches!(outcome, Outcome::Allow | Outcome::AllowWithChanges), "{outcome:?}");
        }
        c.bench_function(name, |b| {
            b.iter(|| {
                at += SignedDuration::from_micros(1);
                black_box(decide_and_note(&to, at))
            })
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(ledger.shutdown()).expect("shutdown");
}

/// What a logged decision spends on keyed digests: its request's and answer's
/// bodies (`ServerKey::body_digest`).
fn bench_digest(c: &mut Criterion) {
    let key = textgate::consent::server_key::ServerKey::random();
    let body = "Your case file is ready. Please bring your ID on Tuesday.";
    c.bench_function("digest/body", |b| b.iter(|| key.body_digest(black_box("northside"), black_box(body))));
}

criterion_group!(benches, bench_decide, bench_ledger, bench_busy_recipient, bench_digest);
criterion_main!(benches);
