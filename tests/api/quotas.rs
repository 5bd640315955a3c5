//! Per-tenant quotas: a tenant at `max_numbers` or `max_ledger_mib` has its
//! grants refused, naming the key, while its revocations are still recorded
//! and the other tenants write as before; what each tenant holds is counted
//! durably, so the quota holds across a restart.

use textgate::api::pb::{self, ConsentLevel};
use textgate::config::Config;
use tonic::Code;

use crate::helpers::{grant, revoke, TestApp, TWO_TENANTS};

/// TWO_TENANTS with `keys` added to northside's table.
fn northside_with(keys: &str) -> Config {
    let line = "opt_in_reply = \"Northside: texts resumed. Reply HELP for help, STOP to opt out.\"\n";
    assert!(TWO_TENANTS.contains(line));
    Config::parse(&TWO_TENANTS.replacen(line, &format!("{line}{keys}\n"), 1), "quotas.toml").unwrap()
}

fn as_tenant(mut req: pb::RecordConsentRequest, tenant: &str) -> pb::RecordConsentRequest {
    req.tenant_id = tenant.into();
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_at_its_number_quota_takes_revocations_only_even_after_a_restart() {
    let config = northside_with("max_numbers = 2");
    let app = TestApp::spawn_with(config.clone(), tempfile::TempDir::new().unwrap()).await;
    let mut ops = app.client_with(Some("ops-token-all")).await;
    let north = |req| as_tenant(req, "northside");
    for (id, phone) in [("q-1", "+13125550101"), ("q-2", "+13125550102")] {
        ops.record_consent(north(grant(id, phone, ConsentLevel::Express))).await.expect("within the quota");
    }
    let refused = ops.record_consent(north(grant("q-3", "+13125550103", ConsentLevel::Express))).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().starts_with("tenants.northside.max_numbers:"), "{}", refused.message());
    // A number already on record may be granted again; a new one may opt out.
    ops.record_consent(north(grant("q-1b", "+13125550101", ConsentLevel::ExpressWritten))).await.expect("known");
    ops.record_consent(north(revoke("q-4", "+13125550104"))).await.expect("a revocation is never refused");
    // Southside writes as before.
    for (id, phone) in [("s-1", "+13125550101"), ("s-2", "+13125550102"), ("s-3", "+13125550103")] {
        ops.record_consent(as_tenant(grant(id, phone, ConsentLevel::Express), "southside")).await.expect("southside");
    }
    drop(ops);

    let app = TestApp::spawn_with(config, app.stop().await).await;
    let mut ops = app.client_with(Some("ops-token-all")).await;
    let still = ops.record_consent(north(grant("q-5", "+13125550105", ConsentLevel::Express))).await.unwrap_err();
    assert_eq!(still.code(), Code::ResourceExhausted, "counted durably: {still:?}");
    assert!(still.message().contains("3 numbers"), "two grants and a revocation: {}", still.message());
    drop(ops);
    let dir = app.stop().await;
    let report = textgate::consent::verify::verify_dir(&dir.path().join("data")).unwrap();
    assert!(report.is_clean(), "the kept usage matches a recount: {report}: {:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_at_its_ledger_quota_takes_revocations_only() {
    let app = TestApp::spawn_with(northside_with("max_ledger_mib = 0"), tempfile::TempDir::new().unwrap()).await;
    let mut ops = app.client_with(Some("ops-token-all")).await;
    let refused = ops
        .record_consent(as_tenant(grant("l-1", "+13125550101", ConsentLevel::Express), "northside"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().starts_with("tenants.northside.max_ledger_mib:"), "{}", refused.message());
    ops.record_consent(as_tenant(revoke("l-2", "+13125550101"), "northside")).await.expect("revocations go on");
    ops.record_consent(as_tenant(grant("l-3", "+13125550101", ConsentLevel::Express), "southside")).await.unwrap();
    drop(ops);
    app.stop().await;
}
