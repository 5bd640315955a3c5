//! `textgate verify --config`: a stopped instance's store compared, event by
//! event, with the consent stream it applied.

use std::ffi::OsStr;
use std::path::Path;

use textgate::api::pb::ConsentLevel;

use crate::helpers::{grant, revoke, TestApp};
use crate::instances::setup;
use crate::process::run;

const PHONE: &str = "+13125550171";

/// `textgate verify --data-dir DIR --config FILE`: exit code and stdout.
fn verify(data: &Path, config: &Path) -> (Option<i32>, String) {
    let args =
        [OsStr::new("verify"), OsStr::new("--data-dir"), data.as_os_str(), OsStr::new("--config"), config.as_os_str()];
    let (code, out, err) = run(args);
    (code, format!("{out}{err}"))
}

fn stream_line(out: &str) -> &str {
    out.lines().find(|l| l.starts_with("stream: ")).unwrap_or_else(|| panic!("no stream line: {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_compares_a_store_with_the_consent_stream() {
    let Some((_root, _nats, a, mut b)) = setup().await else { return };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    ca.record_consent(grant("v-1", PHONE, ConsentLevel::Express)).await.unwrap();
    ca.record_consent(grant("v-2", "+13125550172", ConsentLevel::Express)).await.unwrap();
    let last = cb.record_consent(revoke("v-3", PHONE)).await.unwrap().into_inner();
    assert!(cb.record_consent(revoke("v-3", PHONE)).await.unwrap().into_inner().duplicate);
    // B has applied everything (its own write waited for its apply).
    assert_eq!(last.consistency_token, "3");

    // Every event of B's store is the stream's, at the stream's position.
    assert_eq!(b.stop(), Some(0));
    let (code, out) = verify(b.data(), b.config());
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(stream_line(&out), "stream: applied=3 stream_last=3 compared=3 duplicates=0 behind=0 problems=0");

    // A write B has not applied yet: behind, which is not a problem.
    ca.record_consent(grant("v-4", PHONE, ConsentLevel::Express)).await.unwrap();
    let (code, out) = verify(b.data(), b.config());
    assert_eq!(code, Some(0), "{out}");
    assert!(stream_line(&out).ends_with("behind=1 problems=0"), "{out}");

    // A single-node store holds events the stream never carried.
    let single = TestApp::spawn().await;
    single.client().await.record_consent(grant("local-1", PHONE, ConsentLevel::Express)).await.unwrap();
    let data = single.data_dir();
    let _dir = single.stop().await;
    let (code, out) = verify(&data, a.config());
    assert_eq!(code, Some(1), "{out}");
    assert!(stream_line(&out).ends_with("problems=1"), "{out}");
    assert!(out.contains("events 1..=1 are not on the stream"), "{out}");
    assert!(!out.contains(PHONE) && !out.contains("5550171"), "a phone number in the report: {out}");
}
