//! Fills a data directory with `N` recipients' consent through the real
//! ledger code (group commit, the same transactions the server runs), for
//! the benchmarks in bench/run.
//!
//!   cargo run --release --example bench-populate -- DATA_DIR N
//!
//! Recipient `i` (0-based) is `+1 NPA EXC LINE` with NPA = NPAS[i % 10],
//! EXC = 200 + (i / 10) % 100 (300 for 211, an N11 code) and LINE = (i / 1000) as 4 digits, so the first
//! N recipients are exactly the numbers bench/run's ghz templates draw from.
//! Every 10th recipient (i % 10 == 3) opted out after granting; i % 10 == 7
//! gave express written consent (promotional texts allowed); the rest gave
//! express consent (informational texts allowed).

use std::time::Instant;

use textgate::consent::{Ledger, LedgerOptions};
use textgate::domain::{Action, Evidence, Level, NewEvent, Scope, Source, TenantId};
use textgate::phone::PhoneNumber;

/// Area codes spread over the US time zones (all inside the demo's quiet hours at midday).
pub const NPAS: [&str; 10] = ["312", "212", "415", "305", "206", "617", "713", "404", "602", "303"];

fn phone(i: u64) -> String {
    let npa = NPAS[(i % 10) as usize];
    // 211 is an N11 code, which the parser rightly rejects: those take 300 (ghz draws 212-299).
    let exc = match 200 + (i / 10) % 100 {
        211 => 300,
        e => e,
    };
    let line = i / 1000;
    format!("+1{npa}{exc}{line:04}")
}

fn event(i: u64, n: u32, action: Action) -> NewEvent {
    NewEvent {
        tenant_id: TenantId::new("northside"),
        event_id: format!("bench-{i}-{n}"),
        phone: PhoneNumber::parse_e164(&phone(i)).expect("a valid number"),
        action,
        scope: Scope::default(),
        source: Source::Import,
        occurred_at: jiff::Timestamp::from_second(1_767_225_600 + (i as i64) * 10 + i64::from(n)).expect("time"),
        evidence: Evidence { collected_by: "bench-populate".into(), ..Evidence::default() },
        categories: vec![],
        inbound_text: String::new(),
    }
}

fn events_of(i: u64) -> Vec<NewEvent> {
    match i % 10 {
        3 => vec![event(i, 0, Action::Grant(Level::Express)), event(i, 1, Action::Revoke)],
        7 => vec![event(i, 0, Action::Grant(Level::ExpressWritten))],
        _ => vec![event(i, 0, Action::Grant(Level::Express))],
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: bench-populate DATA_DIR RECIPIENTS");
        std::process::exit(2);
    };
    let opts = LedgerOptions { max_batch: 2048, queue: 65_536, ..LedgerOptions::default() };
    let ledger = std::sync::Arc::new(Ledger::open(std::path::Path::new(&dir), &opts).expect("open the store"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut written = 0u64;
    for i in 0..n {
        // Events of one recipient in order; recipients in parallel.
        let ledger = std::sync::Arc::clone(&ledger);
        tasks.spawn(async move {
            for e in events_of(i) {
                ledger.record(e).await.expect("record");
            }
        });
        while tasks.len() >= 8192 {
            tasks.join_next().await.expect("task").expect("task ok");
            written += 1;
        }
        if i > 0 && i % 100_000 == 0 {
            eprintln!("{i} recipients, {:.1}s", started.elapsed().as_secs_f64());
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task ok");
        written += 1;
    }
    ledger.shutdown().await.expect("flush");
    let size = ledger.size_on_disk().unwrap_or(0);
    println!("{{\"recipients\":{written},\"seconds\":{:.1},\"bytes\":{size}}}", started.elapsed().as_secs_f64());
}
