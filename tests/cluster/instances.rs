//! Several real `textgate` binaries in cluster mode on one real three-node
//! NATS JetStream cluster, all on 127.0.0.1: one consent ledger, whichever
//! instance a call reaches.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use textgate::api::pb::{self, policy_service_client::PolicyServiceClient, ConsentLevel};
use tonic::Code;

use crate::helpers::{grant, http_get, list_all, try_http_get, Client, Token};
use crate::nats::NatsCluster;
use crate::process::Server;

const CASEWORK: &str = "+13125550100";
const PHONE: &str = "+13125550142";
/// Tuesday 2026-06-02 10:00 CDT: inside every window.
const MIDDAY: i64 = 1_780_412_400;
/// How long an instance may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// One textgate instance: its data directory, config file and process.
pub struct Instance {
    config: PathBuf,
    data: PathBuf,
    server: Option<Server>,
}

impl Instance {
    /// Writes the demo config plus a `[cluster]` section naming `nats` and
    /// starts the binary on it.
    pub fn start(root: &Path, id: &str, nats: &NatsCluster) -> Instance {
        let config = root.join(format!("{id}.toml"));
        let cluster = format!(
            "\n[cluster]\nnats_urls = {:?}\ninstance_id = {id:?}\nreplicas = 3\npublish_timeout = \"2s\"\n",
            nats.urls()
        );
        std::fs::write(&config, format!("{}{cluster}", textgate::config::DEMO_TOML)).expect("write config");
        let data = root.join(id);
        let server = Some(Server::start_configured(&config, &data));
        Instance { config, data, server }
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    pub async fn client(&self) -> Client {
        let url = format!("http://{}", self.server().addr);
        let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.expect("connect");
        PolicyServiceClient::with_interceptor(channel, Token(None))
    }

    /// Waits (bounded) for /readyz to answer 200.
    pub async fn ready(&self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match try_http_get(self.server().admin, "/readyz").await {
                Ok((200, _)) => return,
                _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("not ready within {READY_WITHIN:?}: {other:?}"),
            }
        }
    }

    /// SIGKILL, wipe the data directory, start again on the same config.
    pub fn kill_and_wipe(&mut self) {
        self.server.take().expect("running").kill();
        std::fs::remove_dir_all(&self.data).expect("wipe");
        self.server = Some(Server::start_configured(&self.config, &self.data));
    }

    /// SIGKILL (no shutdown, no final flush), then start again on the same
    /// config and store.
    pub fn kill_and_restart(&mut self) {
        self.server.take().expect("running").kill();
        self.server = Some(Server::start_configured(&self.config, &self.data));
    }

    /// SIGTERM; the store is then free for offline commands.
    pub fn stop(&mut self) -> Option<i32> {
        self.server.take().expect("running").terminate()
    }

    pub fn data(&self) -> &Path {
        &self.data
    }

    pub fn config(&self) -> &Path {
        &self.config
    }
}

/// Three NATS nodes and two textgate instances, both ready.
pub async fn setup() -> Option<(TempDir, NatsCluster, Instance, Instance)> {
    let nats = NatsCluster::start(3).await?;
    let root = tempfile::tempdir().expect("temp dir");
    let a = Instance::start(root.path(), "textgate-a", &nats);
    let b = Instance::start(root.path(), "textgate-b", &nats);
    a.ready().await;
    b.ready().await;
    Some((root, nats, a, b))
}

fn check(to: &str, token: &str) -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: CASEWORK.into(),
        to: to.into(),
        body: "Your appointment is tomorrow at 10.".into(),
        origin: pb::Origin::Person as i32,
        send_at: Some(prost_types::Timestamp { seconds: MIDDAY, nanos: 0 }),
        consistency_token: token.into(),
        dry_run: true,
        ..Default::default()
    }
}

fn stop(id: &str, from: &str) -> pb::ProcessInboundRequest {
    pb::ProcessInboundRequest {
        from: from.into(),
        to: CASEWORK.into(),
        body: "STOP".into(),
        message_id: id.into(),
        ..Default::default()
    }
}

async fn consent_of(c: &mut Client, phone: &str, token: &str) -> pb::ConsentView {
    let req = pb::GetConsentRequest { phone: phone.into(), consistency_token: token.into(), ..Default::default() };
    c.get_consent(req).await.expect("get consent").into_inner()
}

fn granted(view: &pb::ConsentView) -> bool {
    view.scopes.iter().any(|s| s.status() == pb::ConsentStatus::Granted)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_either_instance_binds_both() {
    let Some((_root, _nats, a, b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);

    // Written on A, read with its token on B.
    let written = ca.record_consent(grant("g-1", PHONE, ConsentLevel::Express)).await.unwrap().into_inner();
    assert!(!written.duplicate);
    assert!(granted(&consent_of(&mut cb, PHONE, &written.consistency_token).await), "B sees A's write with its token");
    let allowed = cb.check_message(check(PHONE, &written.consistency_token)).await.unwrap().into_inner();
    assert_ne!(allowed.decision(), pb::Decision::Deny, "{allowed:?}");

    // A retry of the same event through B records nothing new.
    let retry = cb.record_consent(grant("g-1", PHONE, ConsentLevel::Express)).await.unwrap().into_inner();
    assert!(retry.duplicate, "{retry:?}");
    assert_eq!(retry.event.as_ref().unwrap().sequence, written.event.as_ref().unwrap().sequence);

    // STOP through B binds A at once with the token...
    let stopped = cb.process_inbound(stop("sms-1", PHONE)).await.unwrap().into_inner();
    assert_eq!(stopped.intent(), pb::InboundIntent::OptOut);
    let denied = ca.check_message(check(PHONE, &stopped.consistency_token)).await.unwrap().into_inner();
    assert_eq!(denied.decision(), pb::Decision::Deny, "{denied:?}");
    assert_eq!(denied.reasons[0].consent_event_id, stopped.event.as_ref().unwrap().event_id);

    // ...and within a second without one.
    let other = "+13125550143";
    ca.record_consent(grant("g-2", other, ConsentLevel::Express)).await.unwrap();
    let started = Instant::now();
    cb.process_inbound(stop("sms-2", other)).await.unwrap();
    while granted(&consent_of(&mut ca, other, "").await) {
        assert!(started.elapsed() < Duration::from_secs(1), "A still acts on consent revoked through B");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("a STOP through B bound A after {:?} without a token", started.elapsed());

    // A decision made on A is readable through B (and an unknown id is not).
    let logged = ca.check_message(pb::CheckMessageRequest { dry_run: false, ..check(other, "") }).await.unwrap();
    let id = logged.into_inner().decision_id;
    let get = |id: &str| pb::GetDecisionRequest { decision_id: id.into(), ..Default::default() };
    let record = cb.get_decision(get(&id)).await.expect("B finds A's decision").into_inner();
    assert_eq!(record.decision_id, id);
    assert_eq!(record.response.unwrap().decision(), pb::Decision::Deny, "the opted-out number's decision");
    let missing = cb.get_decision(get("d-00000000000000000000000000000000")).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // One ledger: both list the same events at the same sequences.
    for phone in [PHONE, other] {
        assert_eq!(list_all(&mut ca, phone).await, list_all(&mut cb, phone).await, "ledgers differ");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_nats_writes_are_unavailable_decisions_go_on_and_nothing_acknowledged_is_lost() {
    let Some((_root, mut nats, a, b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let before = ca.record_consent(grant("before", PHONE, ConsentLevel::Express)).await.unwrap().into_inner();
    consent_of(&mut cb, PHONE, &before.consistency_token).await;

    for i in 0..3 {
        nats.kill(i);
    }
    let started = Instant::now();
    let refused = ca.record_consent(grant("during", "+13125550144", ConsentLevel::Express)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "answered within the publish timeout");
    let decided = ca.check_message(check(PHONE, "")).await.expect("decisions go on from local state");
    assert_ne!(decided.into_inner().decision(), pb::Decision::Deny);

    nats.restart(&[0, 1, 2]).await;
    // Writes resume (a client retries UNAVAILABLE with the same id).
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        match cb.record_consent(grant("during", "+13125550144", ConsentLevel::Express)).await {
            Ok(r) => break r.into_inner(),
            Err(e) if e.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("writes did not resume: {e:?}"),
        }
    };
    // Everything acknowledged is on both instances, once.
    for c in [&mut ca, &mut cb] {
        assert!(granted(&consent_of(c, "+13125550144", &after.consistency_token).await));
        assert_eq!(list_all(c, PHONE).await.len(), 1);
        assert_eq!(list_all(c, "+13125550144").await.len(), 1, "the refused write is stored once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wiped_instance_catches_up_before_it_is_ready() {
    let Some((_root, _nats, a, mut b)) = setup().await else { return };
    let mut ca = a.client().await;
    let mut last = String::new();
    for i in 0..40 {
        let phone = format!("+131255502{i:02}");
        let r = ca.record_consent(grant(&format!("w-{i}"), &phone, ConsentLevel::Express)).await.unwrap();
        last = r.into_inner().consistency_token;
    }
    b.kill_and_wipe();
    b.ready().await;
    let (status, body) = http_get(b.server().admin, "/metrics").await;
    assert_eq!(status, 200);
    // Every cluster series the dashboard and alerts query (deploy/) is exported.
    for series in [
        "textgate_cluster_applied_sequence",
        "textgate_cluster_apply_lag",
        "textgate_cluster_connected",
        "textgate_cluster_fact_sequence",
        "textgate_cluster_publish_seconds_count",
    ] {
        assert!(body.lines().any(|l| l.starts_with(series)), "{series} not exported:\n{body}");
    }
    let applied = body.lines().find_map(|l| l.strip_prefix("textgate_cluster_applied_sequence ")).expect("the gauge");
    assert!(applied.parse::<u64>().unwrap() >= last.parse::<u64>().unwrap(), "ready before applying {last}: {applied}");
    // Ready means caught up: without a token, B answers as A does.
    let mut cb = b.client().await;
    for i in 0..40 {
        let phone = format!("+131255502{i:02}");
        assert_eq!(list_all(&mut cb, &phone).await, list_all(&mut ca, &phone).await, "{phone}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn frequency_caps_count_the_sends_of_every_instance() {
    let Some((_root, _nats, a, b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let florida = "+13055550199";
    let mut written = grant("gala-consent", florida, ConsentLevel::ExpressWritten);
    written.categories = vec![pb::MessageCategory::CategoryPromotional as i32];
    let token = ca.record_consent(written).await.unwrap().into_inner().consistency_token;
    // Tomorrow 19:00 UTC (14:00 or 15:00 in Florida) and the next minutes:
    // inside every window, and ahead of the clock, so no send is pruned as old.
    let tomorrow = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().tomorrow().unwrap();
    let start = tomorrow.at(19, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second();
    let promo = |minute: i64, token: &str| pb::CheckMessageRequest {
        from: "+13125550101".into(),
        to: florida.into(),
        body: "Northside Family Services: our gala is Friday. Reply STOP to opt out.".into(),
        campaign_id: "fundraising".into(),
        send_at: Some(prost_types::Timestamp { seconds: start + 60 * minute, nanos: 0 }),
        consistency_token: token.into(),
        ..Default::default()
    };
    let mut token = token;
    for minute in 0..3 {
        // A, B, A.
        let client = if minute == 1 { &mut cb } else { &mut ca };
        let r = client.check_message(promo(minute, &token)).await.unwrap().into_inner();
        assert!(matches!(r.decision(), pb::Decision::Allow | pb::Decision::AllowWithChanges), "send {minute}: {r:?}");
        assert!(!r.consistency_token.is_empty(), "an allowed send names itself");
        token = r.consistency_token;
    }
    let fourth = cb.check_message(promo(3, &token)).await.unwrap().into_inner();
    assert_eq!(fourth.decision(), pb::Decision::Defer, "{fourth:?}");
    assert_eq!(fourth.reasons[0].rule_id, "frequency_cap.state.FL");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_consent_stream_is_rebuilt_from_the_instances_ledgers() {
    let Some((_root, nats, a, mut b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let mut token = String::new();
    for i in 0..12 {
        let phone = format!("+131255503{i:02}");
        let c = if i % 2 == 0 { &mut ca } else { &mut cb };
        token = c
            .record_consent(grant(&format!("l-{i}"), &phone, ConsentLevel::Express))
            .await
            .unwrap()
            .into_inner()
            .consistency_token;
    }
    consent_of(&mut ca, "+13125550300", &token).await;
    consent_of(&mut cb, "+13125550300", &token).await;

    // The stream and everything in it is gone, as after losing a NATS quorum's disks.
    let client = async_nats::connect(nats.urls()[0].as_str()).await.expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    js.delete_stream("TEXTGATE_CONSENT").await.expect("delete the consent stream");

    // The instances notice and republish their ledgers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = match js.get_stream("TEXTGATE_CONSENT").await {
            Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        };
        if held == 12 {
            break;
        }
        assert!(held <= 12, "each event republished once: {held}");
        assert!(Instant::now() < deadline, "the stream was not rebuilt ({held} of 12 events)");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A wiped instance rebuilds from the rebuilt stream and holds the same ledger.
    b.kill_and_wipe();
    b.ready().await;
    let mut cb = b.client().await;
    for i in 0..12 {
        let phone = format!("+131255503{i:02}");
        assert_eq!(list_all(&mut cb, &phone).await, list_all(&mut ca, &phone).await, "{phone}");
    }
    // And writes go on.
    let next = cb.record_consent(grant("l-after", "+13125550399", ConsentLevel::Express)).await.unwrap().into_inner();
    assert!(granted(&consent_of(&mut ca, "+13125550399", &next.consistency_token).await));
}
