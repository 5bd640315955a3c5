use super::*;

#[test]
fn renders_every_documented_family() {
    let m = Metrics::new();
    m.decision("t", Outcome::Deny, Some(ReasonCode::OptedOut));
    m.inbound("t", "opt_out");
    m.ledger_event("t");
    m.commit(3, Duration::from_micros(150));
    m.policy_installed("abc123");
    m.reload(false);
    m.shed("CheckMessage");
    let rpc = m.rpc("CheckMessage");
    rpc.start().finish(tonic::Code::InvalidArgument);
    let usage = vec![("t".to_string(), crate::consent::usage::Usage { numbers: 2, event_bytes: 900 })];
    let store = StoreGauges {
        bytes: 4096,
        index_numbers: 3,
        index_serving: true,
        tenants: usage,
        disk_free: Some(5 << 30),
        decision_log_bytes: 700,
        writable: false,
        ready: true,
    };
    let text = m.render(Some(store));
    for needle in [
        r#"textgate_decisions_total{outcome="deny",reason="opted_out",tenant="t"} 1"#,
        r#"textgate_inbound_total{intent="opt_out",tenant="t"} 1"#,
        r#"textgate_ledger_events_total{tenant="t"} 1"#,
        r#"textgate_tenant_numbers{tenant="t"} 2"#,
        "textgate_store_disk_free_bytes 5368709120",
        "textgate_decision_log_bytes 700",
        "textgate_ledger_writable 0",
        "textgate_ready 1",
        "textgate_consent_index_numbers 3",
        "textgate_consent_index_serving 1",
        r#"textgate_tenant_ledger_bytes{tenant="t"} 900"#,
        "textgate_ledger_commit_batch_size_count 1",
        "textgate_ledger_flush_duration_seconds_count 1",
        r#"textgate_policy_info{version="abc123"} 1"#,
        r#"textgate_policy_reloads_total{result="error"} 1"#,
        "textgate_policy_reload_failing 1",
        r#"textgate_build_info{version=""#,
        "process_resident_memory_bytes ",
        "process_open_fds ",
        r#"textgate_requests_shed_total{method="CheckMessage"} 1"#,
        r#"textgate_rpc_errors_total{code="INVALID_ARGUMENT",method="CheckMessage"} 1"#,
        r#"textgate_rpc_in_flight{method="CheckMessage"} 0"#,
        r#"textgate_rpc_duration_seconds_count{method="CheckMessage"} 1"#,
        "textgate_ledger_size_bytes 4096",
        "textgate_consent_index_numbers 3",
        "textgate_consent_index_serving 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert_eq!(m.reload_failures(), 1);
}

#[test]
fn a_dropped_call_counts_as_cancelled_once() {
    let m = Metrics::new();
    let rpc = m.rpc("RecordConsent");
    drop(rpc.start());
    let mut t = rpc.start();
    t.finish(tonic::Code::Ok);
    drop(t);
    let text = m.render(None);
    assert!(text.contains(r#"textgate_rpc_errors_total{code="CANCELLED",method="RecordConsent"} 1"#), "{text}");
    assert!(text.contains(r#"textgate_rpc_duration_seconds_count{method="RecordConsent"} 2"#), "{text}");
    assert_eq!(rpc.in_flight(), 0);
}

#[test]
fn only_the_installed_policy_version_is_1() {
    let m = Metrics::new();
    m.policy_installed("v1");
    m.policy_installed("v2");
    let text = m.render(None);
    assert!(text.contains(r#"textgate_policy_info{version="v2"} 1"#) && !text.contains("\"v1\""), "{text}");
}
