//! A store written before the store's record types existed (the first
//! layout: bincode of the domain structs of that time) still verifies,
//! serves and takes writes. `tests/data/store-v1` holds it: five events
//! for two numbers of the demo tenant and one number's contact history.

use std::ffi::OsStr;
use std::path::Path;

use textgate::api::pb::{self, policy_service_client::PolicyServiceClient, ConsentLevel};

use crate::helpers::{grant, list_all, Token};
use crate::process::{run, Server};

const A: &str = "+13125550101";
const B: &str = "+13125550102";

fn copy_store(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/store-v1");
    std::fs::create_dir_all(to).unwrap();
    for file in ["conf", "db"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_of_the_first_layout_verifies_serves_and_takes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_store(&data);
    let (code, out, err) = run([OsStr::new("verify"), OsStr::new("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("tenants=1 events=5 phones=2 problems=0"), "{out}");

    let server = Server::start(&data);
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await.unwrap();
    let mut c = PolicyServiceClient::with_interceptor(channel, Token(None));
    let view = |phone: &str| pb::GetConsentRequest { phone: phone.into(), ..Default::default() };

    // A: granted in writing, opted out by STOP, restored by START at the
    // written level; its contact history still opens the conversation.
    let a = c.get_consent(view(A)).await.unwrap().into_inner();
    assert_eq!(a.scopes.len(), 1, "{a:?}");
    assert_eq!(a.scopes[0].status(), pb::ConsentStatus::Granted);
    assert_eq!((a.scopes[0].level(), a.scopes[0].event_id.as_str()), (ConsentLevel::ExpressWritten, "g3"));
    assert_eq!(
        a.last_inbound_at.map(|t| t.seconds),
        Some("2026-11-21T10:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second())
    );

    // B: a campaign grant, and a revocation for one sender only.
    let b = c.get_consent(view(B)).await.unwrap().into_inner();
    let revoked: Vec<_> = b.scopes.iter().filter(|s| s.status() == pb::ConsentStatus::Revoked).collect();
    assert_eq!(revoked.len(), 1, "{b:?}");
    assert_eq!(
        (revoked[0].level(), revoked[0].scope.as_ref().unwrap().sender.as_str()),
        (ConsentLevel::Unspecified, "+13125550000")
    );

    let events = list_all(&mut c, A).await;
    let summary: Vec<_> = events.iter().map(|e| (e.sequence, e.event_id.as_str(), e.action(), e.level())).collect();
    assert_eq!(
        summary,
        [
            (1, "g1", pb::ConsentAction::Grant, ConsentLevel::ExpressWritten),
            (3, "r1", pb::ConsentAction::Revoke, ConsentLevel::Unspecified),
            (5, "g3", pb::ConsentAction::Grant, ConsentLevel::Express),
        ]
    );
    assert_eq!(events[0].evidence.as_ref().unwrap().extra["form"], "intake-7");
    assert_eq!(events[1].inbound_text, "STOP");

    // The old store takes new writes after its last sequence, and a retry
    // of an old event id is still a duplicate.
    let next = c.record_consent(grant("g4", B, ConsentLevel::Express)).await.unwrap().into_inner();
    assert_eq!(next.event.unwrap().sequence, 6);
    let again = c.record_consent(grant("g1", A, ConsentLevel::ExpressWritten)).await.unwrap().into_inner();
    assert!(again.duplicate && again.event.unwrap().sequence == 1);
    assert_eq!(server.terminate(), Some(0));
    let (code, out, err) = run([OsStr::new("verify"), OsStr::new("--data-dir"), data.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
}
