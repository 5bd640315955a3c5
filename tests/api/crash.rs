//! Crash safety: the real binary is SIGKILLed again and again under
//! concurrent RecordConsent (new ids and retries) and inbound STOP traffic,
//! and restarted on the same data directory. Afterwards every acknowledged
//! event is in the ledger exactly once, sequences run 1..n, nothing appears
//! that was never sent, and `verify` finds the indexes and every consent
//! state equal to a replay of the ledger.
//!
//! The schedule comes from a fixed seed (change `SEED` to explore another);
//! thread timing still varies from run to run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use textgate::api::pb::{self, ConsentAction, ConsentLevel};
use tokio::sync::{watch, Notify};
use tonic::transport::Channel;

use crate::helpers::{grant, list_all, revoke, Client, Token};
use crate::process::{textgate, Server};

const SEED: u64 = 0x7e47_6a7e_c0de;
/// SIGKILLs of a serving server.
const KILLS: usize = 40;
/// Extra SIGKILLs while a server is still starting (opening and recovering).
const EARLY_KILL_EVERY: usize = 4;
const WORKERS: u64 = 6;
const PHONES: u64 = 24;
/// A demo tenant sender, the `to` of inbound texts.
const SENDER: &str = "+13125550100";

/// The server of the moment: (generation, address), or None while down.
type Current = Option<(u64, SocketAddr)>;

/// One event id a worker sent, with the request to resend on retry.
struct Attempt {
    phone: String,
    action: ConsentAction,
    /// The sequence the server acknowledged, once it did.
    acked: Option<u64>,
}

#[derive(Default)]
struct Shared {
    attempts: Mutex<HashMap<String, Attempt>>,
    /// Acknowledged responses (first writes and duplicates).
    acks: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    /// A retry acknowledged with another sequence than the first answer.
    conflicts: Mutex<Vec<String>>,
    progress: Notify,
    stop: AtomicBool,
}

#[derive(Clone)]
enum Op {
    Record(Box<pb::RecordConsentRequest>),
    Stop(pb::ProcessInboundRequest),
}

impl Op {
    fn event_id(&self) -> String {
        match self {
            Op::Record(r) => r.event_id.clone(),
            Op::Stop(r) => format!("inbound:{}", r.message_id),
        }
    }
}

fn phone(i: u64) -> String {
    format!("+1312555{:04}", 100 + i)
}

async fn connect(addr: SocketAddr) -> Option<Client> {
    let endpoint = Channel::from_shared(format!("http://{addr}")).ok()?.connect_timeout(Duration::from_secs(2));
    let channel = endpoint.connect().await.ok()?;
    Some(pb::policy_service_client::PolicyServiceClient::with_interceptor(channel, Token(None)))
}

/// Sends one operation; the acknowledged sequence, or None when the outcome
/// is unknown (the server died, refused, or timed out).
async fn send(c: &mut Client, op: &Op) -> Option<u64> {
    let call = async {
        match op {
            Op::Record(r) => c.record_consent(*r.clone()).await.ok()?.into_inner().event.map(|e| e.sequence),
            Op::Stop(r) => c.process_inbound(r.clone()).await.ok()?.into_inner().event.map(|e| e.sequence),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), call).await.ok().flatten()
}

async fn worker(w: u64, shared: Arc<Shared>, mut current: watch::Receiver<Current>) {
    let mut rng = StdRng::seed_from_u64(SEED ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let (mut sent, mut unknown, mut acked): (HashMap<String, Op>, Vec<String>, Vec<String>) = Default::default();
    let mut client: Option<(u64, Client)> = None;
    let mut n = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let now = *current.borrow_and_update();
        let Some((generation, addr)) = now else {
            let _ = tokio::time::timeout(Duration::from_secs(5), current.changed()).await;
            continue;
        };
        if client.as_ref().map(|c| c.0) != Some(generation) {
            client = connect(addr).await.map(|c| (generation, c));
            if client.is_none() {
                let _ = tokio::time::timeout(Duration::from_secs(5), current.changed()).await;
                continue;
            }
        }
        let retry = if !unknown.is_empty() && rng.random_bool(0.5) {
            Some(unknown.swap_remove(rng.random_range(0..unknown.len())))
        } else if !acked.is_empty() && rng.random_range(0..100) < 10 {
            Some(acked[rng.random_range(0..acked.len())].clone())
        } else {
            None
        };
        let op = if let Some(id) = retry {
            shared.retries.fetch_add(1, Ordering::SeqCst);
            sent[&id].clone()
        } else {
            n += 1;
            let p = phone(rng.random_range(0..PHONES));
            let op = match rng.random_range(0..100) {
                0..35 => Op::Record(Box::new(grant(&format!("w{w}-{n}"), &p, ConsentLevel::Express))),
                35..55 => Op::Record(Box::new(revoke(&format!("w{w}-{n}"), &p))),
                _ => Op::Stop(pb::ProcessInboundRequest {
                    from: p.clone(),
                    to: SENDER.into(),
                    body: "STOP".into(),
                    message_id: format!("m{w}-{n}"),
                    ..Default::default()
                }),
            };
            let action = if matches!(&op, Op::Record(r) if r.action == ConsentAction::Grant as i32) {
                ConsentAction::Grant
            } else {
                ConsentAction::Revoke
            };
            shared.attempts.lock().unwrap().insert(op.event_id(), Attempt { phone: p, action, acked: None });
            sent.insert(op.event_id(), op.clone());
            op
        };
        let id = op.event_id();
        match send(&mut client.as_mut().expect("connected").1, &op).await {
            Some(seq) => {
                let first = {
                    let mut attempts = shared.attempts.lock().unwrap();
                    *attempts.get_mut(&id).expect("attempted").acked.get_or_insert(seq)
                };
                if first != seq {
                    shared.conflicts.lock().unwrap().push(format!("{id}: acknowledged as {first}, then as {seq}"));
                }
                if !acked.contains(&id) {
                    acked.push(id);
                }
                shared.acks.fetch_add(1, Ordering::SeqCst);
                shared.progress.notify_waiters();
            }
            None => {
                shared.failures.fetch_add(1, Ordering::SeqCst);
                // A third of the unanswered are abandoned, as a caller that
                // gives up would: they must end up wholly present or absent.
                if shared.attempts.lock().unwrap()[&id].acked.is_none() && !rng.random_bool(1.0 / 3.0) {
                    unknown.push(id);
                }
                client = None;
            }
        }
    }
}

/// Waits until `more` further acknowledgements arrive (bounded).
async fn acknowledged(shared: &Shared, more: u64) {
    let target = shared.acks.load(Ordering::SeqCst) + more;
    let wait = async {
        loop {
            let notified = shared.progress.notified();
            if shared.acks.load(Ordering::SeqCst) >= target {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the restarted server acknowledges writes");
}

/// Starts a server and SIGKILLs it `after` later, ready or not.
fn kill_while_starting(dir: &Path, after: Duration) {
    let mut child = textgate()
        .args(crate::process::SERVE_ON_LOOPBACK)
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn textgate");
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_consent_survives_repeated_sigkill() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rng = StdRng::seed_from_u64(SEED);
    let shared = Arc::new(Shared::default());
    let (current, watched) = watch::channel::<Current>(None);
    let workers: Vec<_> = (0..WORKERS).map(|w| tokio::spawn(worker(w, Arc::clone(&shared), watched.clone()))).collect();

    let mut early_kills = 0;
    for round in 0..=KILLS {
        if round > 0 && round % EARLY_KILL_EVERY == 0 {
            let after = Duration::from_millis(rng.random_range(0..40));
            tokio::task::block_in_place(|| kill_while_starting(&data, after));
            early_kills += 1;
        }
        let server = tokio::task::block_in_place(|| Server::start(&data));
        current.send_replace(Some((round as u64, server.addr)));
        if round == KILLS {
            // The last start: show it serves, then check what it holds.
            acknowledged(&shared, 20).await;
            shared.stop.store(true, Ordering::SeqCst);
            for w in workers {
                tokio::time::timeout(Duration::from_secs(30), w).await.expect("workers stop").unwrap();
            }
            check(&shared, server, &data, early_kills, started).await;
            return;
        }
        acknowledged(&shared, rng.random_range(5..60)).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
        current.send_replace(None);
        tokio::task::block_in_place(|| server.kill());
    }
}

async fn check(shared: &Shared, server: Server, data: &Path, early_kills: usize, started: Instant) {
    let mut c = connect(server.addr).await.expect("connect to the last server");
    let events = list_all(&mut c, "").await;
    let attempts = shared.attempts.lock().unwrap();
    let mut by_id: HashMap<&str, Vec<&pb::ConsentEvent>> = HashMap::new();
    for e in &events {
        by_id.entry(e.event_id.as_str()).or_default().push(e);
    }
    let duplicates: usize = by_id.values().map(|v| v.len() - 1).sum();
    let gaps: Vec<_> = events.iter().enumerate().filter(|(i, e)| e.sequence != *i as u64 + 1).map(|(i, _)| i).collect();
    let (mut lost, mut moved) = (Vec::new(), Vec::new());
    for (id, a) in attempts.iter() {
        match (a.acked, by_id.get(id.as_str())) {
            (Some(_), None) => lost.push(id.clone()),
            (Some(seq), Some(found)) if found[0].sequence != seq => {
                moved.push(format!("{id}: {seq} -> {}", found[0].sequence))
            }
            _ => {}
        }
    }
    let (mut present_unacked, mut strange) = (0, Vec::new());
    for (id, found) in &by_id {
        match attempts.get(*id) {
            None => strange.push(format!("{id}: in the ledger but never sent")),
            Some(a) if (found[0].phone.as_str(), found[0].action) != (a.phone.as_str(), a.action as i32) => {
                strange.push(format!("{id}: stored otherwise than sent"))
            }
            Some(a) => present_unacked += usize::from(a.acked.is_none()),
        }
    }
    let acked = attempts.values().filter(|a| a.acked.is_some()).count();
    let inbound = attempts.iter().filter(|(id, a)| id.starts_with("inbound:") && a.acked.is_some()).count();
    eprintln!(
        "crash test: seed={SEED:#x} kills={} (of which while starting: {early_kills}) writes_sent={} \
         acknowledged={acked} (inbound STOP {inbound}) ack_responses={} retries={} failed_or_unknown={} \
         unacknowledged_but_present={present_unacked} events={} lost={} moved={} duplicates={duplicates} \
         gaps={} conflicts={} elapsed={:.1}s",
        KILLS + early_kills,
        attempts.len(),
        shared.acks.load(Ordering::SeqCst),
        shared.retries.load(Ordering::SeqCst),
        shared.failures.load(Ordering::SeqCst),
        events.len(),
        lost.len(),
        moved.len(),
        gaps.len(),
        shared.conflicts.lock().unwrap().len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(moved.is_empty(), "acknowledged at one sequence, stored at another: {moved:?}");
    assert!(strange.is_empty(), "{strange:?}");
    assert_eq!(duplicates, 0, "an event id stored more than once");
    assert!(gaps.is_empty(), "sequences are not 1..n: first bad index {:?}", gaps.first());
    assert!(shared.conflicts.lock().unwrap().is_empty(), "{:?}", shared.conflicts.lock().unwrap());
    assert!(acked > 200, "enough traffic to mean something: {acked}");
    drop((c, attempts));

    assert_eq!(tokio::task::block_in_place(|| server.terminate()), Some(0), "the last server stops cleanly");
    let report = textgate::consent::verify::verify_dir(data).expect("verify runs");
    assert!(report.is_clean(), "{report}: {:#?}", report.problems);
    eprintln!("crash test: verify {report}");
}
