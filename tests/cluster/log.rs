//! `Log` on a real cluster: stream setup, publish and replay, deduplication,
//! and what a caller sees when nodes die.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use textgate::cluster::{ClusterError, Connection, Family, Log, Published, Replay, StreamMessage};
use tokio_stream::StreamExt;

use crate::nats::NatsCluster;

/// Starts a cluster and a connected `Log` with its streams, or skips.
async fn setup(extra: &str) -> Option<(NatsCluster, Log)> {
    let cluster = NatsCluster::start(3).await?;
    let log = Log::connect(&cluster.config("textgate-test-0", extra)).await.expect("connect");
    log.ensure_streams().await.expect("ensure streams");
    Some((cluster, log))
}

fn payload(i: u32) -> Bytes {
    Bytes::from(format!("record {i}").into_bytes())
}

/// Publishes until acknowledged, retrying `Unavailable` (as a caller
/// would, with the same id) for at most `within`.
async fn publish_acked(log: &Log, id: &str, body: Bytes, within: Duration) -> Published {
    let deadline = Instant::now() + within;
    loop {
        match log.publish(Family::Consent, "northside", id, body.clone()).await {
            Ok(p) => return p,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("publish {id}: {e} ({:?})", std::error::Error::source(&e)),
        }
    }
}

/// A replay from `start`, retried while the cluster is electing a leader
/// (creating the consumer answers Unavailable until it has one).
async fn replay_retrying(log: &Log, start: u64, within: Duration) -> Replay {
    let deadline = Instant::now() + within;
    loop {
        match log.replay_from(Family::Consent, start).await {
            Ok(r) => return r,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("replay_from {start}: {e} ({:?})", std::error::Error::source(&e)),
        }
    }
}

/// The next `n` messages of a replay, each within `within`.
async fn take(replay: &mut Replay, n: usize, within: Duration) -> Vec<StreamMessage> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(within, replay.next()).await {
            Ok(Some(Ok(m))) => out.push(m),
            Ok(Some(Err(e))) => panic!("replay failed after {} messages: {e}", out.len()),
            Ok(None) => panic!("replay ended after {} messages", out.len()),
            Err(_) => panic!("no message {} within {within:?}", out.len() + 1),
        }
    }
    out
}

#[tokio::test]
async fn streams_are_file_backed_with_three_replicas_and_consent_never_expires() {
    let Some((_cluster, log)) = setup("send_retention = \"2d\"").await else { return };
    log.ensure_streams().await.expect("ensuring again changes nothing");
    let consent = log.stream_info(Family::Consent).await.unwrap();
    assert_eq!(consent.config.name, "TEXTGATE_CONSENT");
    assert_eq!(consent.config.subjects, ["TEXTGATE.consent.>"]);
    assert_eq!(consent.config.num_replicas, 3);
    assert_eq!(consent.config.storage, async_nats::jetstream::stream::StorageType::File);
    assert_eq!(consent.config.max_age, Duration::ZERO);
    assert_eq!((consent.config.max_messages, consent.config.max_bytes), (-1, -1));
    assert_eq!(consent.config.duplicate_window, Duration::from_secs(120));
    assert!(consent.config.deny_delete && consent.config.deny_purge && !consent.config.allow_rollup);
    let replicas = consent.cluster.expect("cluster info").replicas;
    assert_eq!(replicas.len(), 2, "a leader and two followers: {replicas:?}");
    let send = log.stream_info(Family::Send).await.unwrap();
    assert_eq!(send.config.subjects, ["TEXTGATE.send.>"]);
    assert_eq!(send.config.max_age, Duration::from_secs(2 * 86_400));
    assert_eq!(log.last_sequence(Family::Consent).await.unwrap(), 0);
}

#[tokio::test]
async fn replay_returns_what_was_published_in_order() {
    let Some((_cluster, log)) = setup("").await else { return };
    let mut acked = Vec::new();
    for i in 1..=20 {
        let p = log.publish(Family::Consent, "northside", &format!("northside/e{i}"), payload(i)).await.unwrap();
        assert!(!p.duplicate);
        acked.push(p.sequence);
    }
    assert_eq!(acked, (1..=20).collect::<Vec<u64>>(), "sequences are dense and ascending");
    assert_eq!(log.last_sequence(Family::Consent).await.unwrap(), 20);
    assert_eq!(log.last_sequence(Family::Send).await.unwrap(), 0, "families do not mix");

    let started = Instant::now();
    let all = take(&mut log.replay_from(Family::Consent, 0).await.unwrap(), 20, Duration::from_secs(5)).await;
    eprintln!("replayed 20 messages in {:?}", started.elapsed());
    for (i, m) in (1..=20).zip(&all) {
        assert_eq!((m.sequence, &m.payload), (u64::from(i), &payload(i)));
        assert_eq!(m.subject, "TEXTGATE.consent.northside");
        assert_eq!(m.msg_id.as_deref(), Some(format!("northside/e{i}").as_str()));
    }
    let tail = take(&mut log.replay_from(Family::Consent, 15).await.unwrap(), 6, Duration::from_secs(5)).await;
    assert_eq!(tail.iter().map(|m| m.sequence).collect::<Vec<_>>(), [15, 16, 17, 18, 19, 20]);
}

#[tokio::test]
async fn a_republished_id_is_a_duplicate_with_the_original_sequence() {
    let Some((_cluster, log)) = setup("").await else { return };
    let first = log.publish(Family::Consent, "northside", "northside/e1", payload(1)).await.unwrap();
    log.publish(Family::Consent, "northside", "northside/e2", payload(2)).await.unwrap();
    // A retry through another instance: its own connection, same id.
    let other = Log::connect(&_cluster.config("textgate-test-1", "")).await.unwrap();
    let again = other.publish(Family::Consent, "northside", "northside/e1", payload(1)).await.unwrap();
    assert_eq!(again, Published { sequence: first.sequence, duplicate: true });
    assert_eq!(log.last_sequence(Family::Consent).await.unwrap(), 2, "nothing new stored");
    assert!(matches!(
        log.publish(Family::Consent, "north.side", "x", payload(0)).await,
        Err(ClusterError::InvalidToken(_))
    ));
}

#[tokio::test]
async fn killing_the_stream_leader_loses_no_acknowledged_write() {
    let Some((mut cluster, log)) = setup("").await else { return };
    // A reader that is tailing the stream when the leader dies.
    let tailing = log.replay_from(Family::Consent, 1).await.unwrap();
    let leader = log.stream_info(Family::Consent).await.unwrap().cluster.unwrap().leader.unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut latencies = Vec::new();
    for i in 0..300u32 {
        if i == 100 {
            cluster.kill(NatsCluster::index_of(&leader));
        }
        let id = format!("northside/k{i}");
        let started = Instant::now();
        let p = publish_acked(&log, &id, payload(i), Duration::from_secs(20)).await;
        latencies.push(started.elapsed());
        assert!(acked.insert(p.sequence, id).is_none(), "two ids acknowledged at one sequence");
    }
    latencies.sort();
    eprintln!(
        "300 publishes around a leader kill: p50 {:?}, p99 {:?}, max {:?}",
        latencies[150], latencies[297], latencies[299]
    );
    let last = log.last_sequence(Family::Consent).await.unwrap();
    assert_eq!(last, 300, "each id stored once (retries deduplicated)");
    // Every acknowledged write, once, in order, both for the reader that
    // lived through the kill and for one that starts afterwards.
    let fresh = replay_retrying(&log, 1, Duration::from_secs(20)).await;
    for (name, mut replay) in [("tailing", tailing), ("fresh", fresh)] {
        let got = take(&mut replay, 300, Duration::from_secs(20)).await;
        let seqs: Vec<u64> = got.iter().map(|m| m.sequence).collect();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>(), "{name}: gaps or repeats");
        for m in &got {
            assert_eq!(m.msg_id.as_ref(), acked.get(&m.sequence), "{name}: seq {}", m.sequence);
        }
    }
    cluster.restart(&[NatsCluster::index_of(&leader)]).await;
}

#[tokio::test]
async fn without_any_node_publish_is_unavailable_never_ok_and_recovers() {
    let Some((mut cluster, log)) = setup("publish_timeout = \"1s\"").await else { return };
    for i in 0..5 {
        log.publish(Family::Consent, "northside", &format!("northside/a{i}"), payload(i)).await.unwrap();
    }
    let mut connection = log.connection();
    for i in 0..3 {
        cluster.kill(i);
    }
    let started = Instant::now();
    let outcome = log.publish(Family::Consent, "northside", "northside/during", payload(99)).await;
    let waited = started.elapsed();
    assert!(matches!(outcome, Err(ClusterError::Unavailable { .. })), "{outcome:?}");
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    tokio::time::timeout(Duration::from_secs(5), connection.wait_for(|c| *c == Connection::Disconnected))
        .await
        .expect("the connection state says disconnected")
        .unwrap();
    assert!(log.last_sequence(Family::Consent).await.unwrap_err().is_unavailable());

    cluster.restart(&[0, 1, 2]).await;
    let back = connection.wait_for(|c| *c == Connection::Connected);
    tokio::time::timeout(Duration::from_secs(10), back).await.expect("reconnected by itself").unwrap();
    // The write answered Unavailable may or may not have landed; a retry
    // with its id is stored once either way.
    publish_acked(&log, "northside/during", payload(99), Duration::from_secs(20)).await;
    let after = publish_acked(&log, "northside/after", payload(100), Duration::from_secs(20)).await;
    assert_eq!(after.sequence, 7, "the five before, the retried one, this one");
    let got = take(&mut log.replay_from(Family::Consent, 1).await.unwrap(), 7, Duration::from_secs(10)).await;
    let ids: Vec<_> = got.iter().map(|m| m.msg_id.clone().unwrap()).collect();
    assert_eq!(&ids[..5], ["northside/a0", "northside/a1", "northside/a2", "northside/a3", "northside/a4"]);
    assert_eq!(&ids[5..], ["northside/during", "northside/after"]);
}
