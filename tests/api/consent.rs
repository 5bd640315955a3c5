//! The consent ledger through the real server.

use textgate::api::pb::{self, ConsentLevel, ConsentStatus};
use tonic::Code;

use crate::helpers::{grant, list_all, revoke, TestApp, TWO_TENANTS};

#[tokio::test]
async fn record_then_get_then_list() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;

    let resp = c.record_consent(grant("ev-1", "(312) 555-0199", ConsentLevel::Express)).await.unwrap().into_inner();
    assert!(!resp.duplicate);
    let ev = resp.event.unwrap();
    assert_eq!((ev.sequence, ev.phone.as_str(), ev.tenant_id.as_str()), (1, "+13125550199", "northside"));
    assert_eq!(ev.evidence.unwrap().collected_by, "caseworker-17");
    assert_eq!(resp.consistency_token, "1");

    let view = c
        .get_consent(pb::GetConsentRequest { phone: "312-555-0199".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.phone, "+13125550199");
    assert_eq!(view.scopes.len(), 1);
    assert_eq!(view.scopes[0].status, ConsentStatus::Granted as i32);
    assert_eq!(view.scopes[0].level, ConsentLevel::Express as i32);
    assert_eq!(view.scopes[0].event_id, "ev-1");

    c.record_consent(grant("ev-2", "+13125550142", ConsentLevel::ExpressWritten)).await.unwrap();
    let all = list_all(&mut c, "").await;
    assert_eq!(all.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["ev-1", "ev-2"]);
    let one = list_all(&mut c, "13125550142").await;
    assert_eq!(one.iter().map(|e| e.sequence).collect::<Vec<_>>(), [2]);

    let after = c
        .list_consent_events(pb::ListConsentEventsRequest { after_sequence: 1, limit: 5, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.event_id, "ev-2");
}

#[tokio::test]
async fn retry_with_the_same_event_id_is_a_duplicate_with_the_original() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let first = c.record_consent(grant("same", "3125550199", ConsentLevel::Express)).await.unwrap().into_inner();
    // A retry that differs (another level) still gets the first write back.
    let again = c.record_consent(grant("same", "3125550199", ConsentLevel::ExpressWritten)).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.event, first.event);
    assert_eq!(list_all(&mut c, "").await.len(), 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_event_store_it_once() {
    let app = TestApp::spawn().await;
    let c = app.client().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.record_consent(grant("burst", "3125550199", ConsentLevel::Express)).await.unwrap().into_inner()
        }));
    }
    let mut dups = 0;
    for t in tasks {
        dups += t.await.unwrap().duplicate as usize;
    }
    assert_eq!(dups, 15);
    assert_eq!(list_all(&mut c.clone(), "").await.len(), 1);
}

#[tokio::test]
async fn revoke_after_grant_shows_revoked() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    c.record_consent(grant("g", "3125550199", ConsentLevel::Express)).await.unwrap();
    let r = c.record_consent(revoke("r", "3125550199")).await.unwrap().into_inner();
    let view = r.consent.unwrap();
    assert!(view.scopes.iter().all(|s| s.status == ConsentStatus::Revoked as i32), "{view:?}");
    assert!(view.scopes.iter().all(|s| s.event_id == "r"));
}

#[tokio::test]
async fn tenants_are_sealed_off() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut north = app.client_with(Some("northside-token")).await;
    let mut south = app.client_with(Some("southside-token")).await;
    let mut ops = app.client_with(Some("ops-token-all")).await;

    north.record_consent(grant("n1", "3125550199", ConsentLevel::Express)).await.unwrap();
    // Same number, other tenant: separate ledgers and sequences.
    let s = south.record_consent(grant("n1", "3125550199", ConsentLevel::Express)).await.unwrap().into_inner();
    assert_eq!((s.event.unwrap().sequence, s.duplicate), (1, false));

    let mut foreign = grant("x", "3125550199", ConsentLevel::Express);
    foreign.tenant_id = "southside".into();
    assert_eq!(north.record_consent(foreign).await.unwrap_err().code(), Code::PermissionDenied);
    let peek =
        pb::GetConsentRequest { tenant_id: "southside".into(), phone: "3125550199".into(), ..Default::default() };
    assert_eq!(north.get_consent(peek.clone()).await.unwrap_err().code(), Code::PermissionDenied);
    let list = pb::ListConsentEventsRequest { tenant_id: "southside".into(), ..Default::default() };
    assert_eq!(north.list_consent_events(list.clone()).await.unwrap_err().code(), Code::PermissionDenied);

    // The "*" token must name a tenant, and sees exactly that tenant.
    let err = ops.get_consent(pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() }).await;
    assert!(err.unwrap_err().message().contains("tenant_id"));
    let events = ops.list_consent_events(list).await.unwrap().into_inner();
    let mut events = events;
    let first = events.message().await.unwrap().unwrap();
    assert_eq!(first.tenant_id, "southside");
    assert!(events.message().await.unwrap().is_none());
    let ghost = pb::GetConsentRequest { tenant_id: "ghost".into(), phone: "3125550199".into(), ..Default::default() };
    assert_eq!(ops.get_consent(ghost).await.unwrap_err().code(), Code::NotFound);

    // No token, or a wrong one.
    let mut anon = app.client_with(None).await;
    assert_eq!(anon.get_consent(peek.clone()).await.unwrap_err().code(), Code::Unauthenticated);
    let mut bad = app.client_with(Some("northside-tokeN")).await;
    assert_eq!(bad.get_consent(peek).await.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test]
async fn every_invalid_field_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let ok = || grant("bad-1", "3125550199", ConsentLevel::Express);
    let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    type Case = (&'static str, Box<dyn Fn(&mut pb::RecordConsentRequest)>);
    let cases: Vec<Case> = vec![
        ("event_id", Box::new(|r| r.event_id.clear())),
        ("event_id", Box::new(|r| r.event_id = "x".repeat(129))),
        ("event_id", Box::new(|r| r.event_id = "has space".into())),
        ("phone", Box::new(|r| r.phone.clear())),
        ("phone", Box::new(|r| r.phone = "12345".into())),
        ("phone", Box::new(|r| r.phone = "(911) 555-0199".into())),
        ("phone", Box::new(|r| r.phone = "312-555-0199 x7".into())),
        ("action", Box::new(|r| r.action = 0)),
        ("action", Box::new(|r| r.action = 42)),
        ("level", Box::new(|r| r.level = 0)),
        ("level", Box::new(|r| r.level = -3)),
        ("source", Box::new(|r| r.source = 99)),
        (
            "scope.campaign_id",
            Box::new(|r| r.scope = Some(pb::ConsentScope { campaign_id: "nope".into(), sender: String::new() })),
        ),
        (
            "scope.sender",
            Box::new(|r| {
                r.scope = Some(pb::ConsentScope { campaign_id: String::new(), sender: "+13125550999".into() })
            }),
        ),
        (
            "scope.sender",
            Box::new(|r| r.scope = Some(pb::ConsentScope { campaign_id: String::new(), sender: "junk".into() })),
        ),
        ("occurred_at", Box::new(move |r| r.occurred_at = ts(-1))),
        ("occurred_at", Box::new(move |r| r.occurred_at = ts(32_503_680_000))),
        ("occurred_at", Box::new(|r| r.occurred_at = Some(prost_types::Timestamp { seconds: 1, nanos: -5 }))),
        ("categories[0]", Box::new(|r| r.categories = vec![0])),
        ("categories[1]", Box::new(|r| r.categories = vec![1, 77])),
        ("categories", Box::new(|r| r.categories = vec![1; 4])),
        ("evidence.ip_address", Box::new(|r| r.evidence.as_mut().unwrap().ip_address = "999.1.1.1".into())),
        ("evidence.collected_by", Box::new(|r| r.evidence.as_mut().unwrap().collected_by = "a".repeat(513))),
        ("evidence.disclosure_text", Box::new(|r| r.evidence.as_mut().unwrap().disclosure_text = "a\u{0}b".into())),
        (
            "evidence.extra",
            Box::new(|r| r.evidence.as_mut().unwrap().extra = (0..33).map(|i| (format!("k{i}"), "v".into())).collect()),
        ),
    ];
    for (field, mutate) in &cases {
        let mut req = ok();
        mutate(&mut req);
        let err = c.record_consent(req).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().starts_with(field), "{field}: message {:?}", err.message());
    }
    let mut revoke_with_categories = revoke("bad-2", "3125550199");
    revoke_with_categories.categories = vec![2];
    assert!(c.record_consent(revoke_with_categories).await.unwrap_err().message().starts_with("categories"));
    assert!(list_all(&mut c, "").await.is_empty(), "a rejected request wrote something");
    // The valid request still works afterwards.
    c.record_consent(ok()).await.unwrap();
}

#[tokio::test]
async fn acknowledged_events_survive_a_restart() {
    let app = TestApp::spawn().await;
    let c = app.client().await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            let phone = format!("+1312555{:04}", 100 + i);
            let req = if i % 3 == 0 {
                super::helpers::revoke(&format!("e{i}"), &phone)
            } else {
                grant(&format!("e{i}"), &phone, ConsentLevel::Express)
            };
            c.record_consent(req).await.unwrap().into_inner().event.unwrap()
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    drop(c);
    let dir = app.stop().await;

    let app = TestApp::spawn_with(textgate::config::Config::demo(), dir).await;
    let mut c = app.client().await;
    let stored = list_all(&mut c, "").await;
    assert_eq!(stored.iter().map(|e| e.sequence).collect::<Vec<_>>(), (1..=64).collect::<Vec<u64>>());
    for ev in &acked {
        assert!(stored.contains(ev), "acknowledged event {} lost", ev.event_id);
    }
    // New writes continue the sequence.
    let next = c.record_consent(grant("after-restart", "3125550199", ConsentLevel::Express)).await.unwrap();
    assert_eq!(next.into_inner().event.unwrap().sequence, 65);
    assert!(super::helpers::TestApp::data_dir(&app).exists());
}
