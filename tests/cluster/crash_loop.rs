//! A crash loop: SIGKILLs of textgate instances and of NATS nodes, 20 in
//! all, while two writers record consent through both instances. Afterwards
//! nothing acknowledged is missing, nothing is stored twice, both instances
//! hold the same ledger, and each one's stored consent equals the replay of
//! its events and the consent stream's (`textgate verify --config`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use textgate::api::pb::{self, policy_service_client::PolicyServiceClient, ConsentLevel};

use crate::helpers::{grant, list_all, revoke, Token};
use crate::instances::setup;
use crate::process::run;

const PHONES: [&str; 4] = ["+13125550161", "+13125550162", "+13125550163", "+13125550164"];
const KILLS: usize = 20;
/// Writes per writer; each is retried (same id) until acknowledged.
const WRITES: usize = 60;
/// The longest one write may take to be acknowledged, retries included.
const WRITE_WITHIN: Duration = Duration::from_secs(60);

/// Where the instances listen now (a restarted instance gets new ports).
type Addrs = Arc<Mutex<[SocketAddr; 2]>>;

async fn record_once(addr: SocketAddr, req: pb::RecordConsentRequest) -> Result<pb::RecordConsentResponse, String> {
    let endpoint = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap();
    let channel = tokio::time::timeout(Duration::from_secs(2), endpoint.connect())
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let mut c = PolicyServiceClient::with_interceptor(channel, Token(None));
    let call = tokio::time::timeout(Duration::from_secs(10), c.record_consent(req)).await;
    match call {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(status)) => Err(format!("{:?}", status.code())),
        Err(_) => Err("call timed out".into()),
    }
}

/// Writes `WRITES` events, alternating instances, each retried unchanged
/// until acknowledged; returns the acknowledged event ids.
async fn writer(k: usize, addrs: Addrs) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0..WRITES {
        let id = format!("w{k}-{i}");
        let phone = PHONES[(i + k) % PHONES.len()];
        let req = if i % 3 == 2 { revoke(&id, phone) } else { grant(&id, phone, ConsentLevel::Express) };
        let deadline = Instant::now() + WRITE_WITHIN;
        let mut attempt = i + k;
        loop {
            let addr = addrs.lock().unwrap()[attempt % 2];
            match record_once(addr, req.clone()).await {
                Ok(r) => {
                    assert_eq!(r.event.as_ref().unwrap().event_id, id);
                    acked.push(id);
                    break;
                }
                Err(why) => {
                    assert!(Instant::now() < deadline, "{id} not acknowledged within {WRITE_WITHIN:?}: {why}");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_kills_lose_no_acknowledged_event_and_store_none_twice() {
    let Some((_root, mut nats, a, b)) = setup().await else { return };
    let addrs: Addrs = Arc::new(Mutex::new([a.server().addr, b.server().addr]));
    let mut instances = [a, b];
    let writers: Vec<_> = (0..2).map(|k| tokio::spawn(writer(k, Arc::clone(&addrs)))).collect();

    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(700)).await;
        if kill % 2 == 0 {
            let node = (kill / 2) % 3;
            nats.kill(node);
            tokio::time::sleep(Duration::from_millis(500)).await;
            nats.restart(&[node]).await;
        } else {
            let i = (kill / 2) % 2;
            instances[i].kill_and_restart();
            addrs.lock().unwrap()[i] = instances[i].server().addr;
        }
    }
    let mut acked = BTreeSet::new();
    for w in writers {
        for id in w.await.expect("writer") {
            assert!(acked.insert(id.clone()), "{id} acknowledged twice");
        }
    }
    assert_eq!(acked.len(), 2 * WRITES);

    // Both instances caught up: the same ledger, every acknowledged event
    // once, nothing else.
    let mut ledgers = Vec::new();
    for instance in &instances {
        instance.ready().await;
        let mut c = instance.client().await;
        let mut by_phone = BTreeMap::new();
        for p in PHONES {
            by_phone.insert(p, list_all(&mut c, p).await);
        }
        ledgers.push(by_phone);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while ledgers[0] != ledgers[1] {
        // The second may still apply the last writes: read it again.
        assert!(Instant::now() < deadline, "the instances hold different ledgers");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut c = instances[1].client().await;
        for p in PHONES {
            ledgers[1].insert(p, list_all(&mut c, p).await);
        }
    }
    let stored: Vec<String> = ledgers[0].values().flatten().map(|e| e.event_id.clone()).collect();
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "an event stored twice");
    assert_eq!(unique, acked, "stored events differ from the acknowledged ones");

    // Each store's consent is the replay of its events, and its events are
    // the consent stream's, message by message.
    for instance in &mut instances {
        assert_eq!(instance.stop(), Some(0));
        let (code, out, err) = run([
            OsStr::new("verify"),
            OsStr::new("--data-dir"),
            instance.data().as_os_str(),
            OsStr::new("--config"),
            instance.config().as_os_str(),
        ]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains(&format!("events={}", 2 * WRITES)) && out.contains("problems=0"), "{out}");
        let stream = out.lines().find(|l| l.starts_with("stream: ")).unwrap_or_else(|| panic!("{out}"));
        assert!(
            stream.contains(&format!("compared={}", 2 * WRITES)) && stream.ends_with("behind=0 problems=0"),
            "{out}"
        );
    }
}
