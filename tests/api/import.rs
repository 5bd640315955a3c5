//! `textgate import` against the real binary serving the demo tenant:
//! rejections by line with the rest imported, the same file twice recorded
//! once, and an import cut by a SIGKILL of the server then run again.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};

use crate::helpers::{list_all, Client, Token};
use crate::process::{run, textgate, Server};

/// Rows of the interrupted import. 1,000,000 in a debug build takes about
/// five minutes (about 3,500 rows/s), so the test imports fewer; bench/run
/// does the million on a release build (`BENCH_ONLY=import`).
const KILLED_ROWS: u64 = 20_000;

async fn client(addr: SocketAddr) -> Client {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    PolicyServiceClient::with_interceptor(channel, Token(None))
}

/// A valid row; the numbers are fictitious 555-01XX ones spread over area codes.
fn row(id: &str, i: u64) -> String {
    let npa = [312, 212, 415, 305, 206, 617, 713, 404, 602, 303][(i % 10) as usize];
    format!("{id},+1{npa}555{:04},grant,express,web_form,2024-05-01T14:30:00Z,signup-form\n", 100 + (i / 10) % 100)
}

const HEADER: &str = "event_id,phone,action,level,source,occurred_at,collected_by\n";

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_reported_by_line_and_the_same_file_twice_records_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let file = dir.path().join("mixed.csv");
    let mut text = HEADER.to_string();
    text += &row("m-1", 1); // line 2
    text += "m-2,not-a-phone,grant,express,,,\n"; // line 3: the server refuses it
    text += "\n"; // line 4: skipped
    text += "m-3,+13125550113,grant,sometimes,,,\n"; // line 5: this side refuses it
    text += "m-4,+13125550114,revoke,,,,\n"; // line 6: a do-not-contact entry
    text += "\"m-5\",+13125550115,grant,,,,\n"; // line 7: a grant needs a level
    text += &row("m-1", 1); // line 8: a duplicate within the file
    text += "m-6,+13125550116,grant,express,,,\"a quoted,\nfield over two lines\"\n"; // lines 9-10
    text += &row("m-7", 7); // line 11
    std::fs::write(&file, &text).unwrap();

    let (code, out, err) = crate::process::import_csv(server.addr, &file);
    assert_eq!(code, Some(4), "done with rejected rows: {out}{err}");
    assert!(out.contains("8 rows: 4 accepted, 1 duplicates, 3 rejected"), "{out}");
    for want in ["line 3: phone:", "line 5: level: \"sometimes\"", "line 7: level: required for GRANT"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let mut c = client(server.addr).await;
    let events = list_all(&mut c, "").await;
    let ids: Vec<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["m-1", "m-4", "m-6", "m-7"], "in file order");
    assert_eq!(events[1].source, pb::ConsentSource::Import as i32, "a source left empty is IMPORT");
    assert_eq!(events[0].source, pb::ConsentSource::WebForm as i32);
    assert_eq!(events[2].evidence.as_ref().unwrap().collected_by, "a quoted,\nfield over two lines");

    let (code, out, _) = crate::process::import_csv(server.addr, &file);
    assert_eq!(code, Some(4));
    assert!(out.contains("8 rows: 0 accepted, 5 duplicates, 3 rejected"), "{out}");
    assert_eq!(list_all(&mut c, "").await.len(), 4, "nothing recorded twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_cut_by_a_server_kill_then_run_again_records_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("big.csv");
    let mut text = HEADER.to_string();
    (0..KILLED_ROWS).for_each(|i| text += &row(&format!("k-{i}"), i));
    std::fs::write(&file, &text).unwrap();

    let server = Server::start(&data);
    let started = Instant::now();
    let server_url = format!("http://{}", server.addr);
    let mut cli = textgate()
        .args(["import", "--format", "csv", "--server", &server_url])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill once part of the file is durable.
    let mut c = client(server.addr).await;
    let part = pb::ListConsentEventsRequest { after_sequence: KILLED_ROWS / 4, limit: 1, ..Default::default() };
    loop {
        let mut s = c.list_consent_events(part.clone()).await.unwrap().into_inner();
        if s.message().await.unwrap().is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the import makes no progress");
        assert!(cli.try_wait().unwrap().is_none(), "the import ended before the kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let out = cli.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "an import cut short fails: {err}");
    assert!(err.contains("run the same import again"), "{err}");

    let server = Server::start(&data);
    let before = list_all(&mut client(server.addr).await, "").await.len() as u64;
    // Listed events may run ahead of the last flush (an event is readable
    // once applied and acknowledged once its batch is fsynced), so the kill
    // can take back a batch or two of what was listed, never an acknowledged one.
    assert!((KILLED_ROWS / 8..KILLED_ROWS).contains(&before), "killed mid-way: {before} recorded");
    let (code, out, err) = crate::process::import_csv(server.addr, &file);
    assert_eq!(code, Some(0), "{out}{err}");
    let want = format!("{KILLED_ROWS} rows: {} accepted, {before} duplicates, 0 rejected", KILLED_ROWS - before);
    assert!(out.contains(&want), "{want}: {out}");
    let events = list_all(&mut client(server.addr).await, "").await;
    let ids: HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!((events.len() as u64, ids.len() as u64), (KILLED_ROWS, KILLED_ROWS), "every row exactly once");
    assert!(events.iter().map(|e| e.sequence).eq(1..=KILLED_ROWS), "sequences run 1..n in file order");
    assert!(events.iter().enumerate().all(|(i, e)| e.event_id == format!("k-{i}")), "in file order");
    assert_eq!(server.terminate(), Some(0));
    let (code, out, err) = run([std::ffi::OsStr::new("verify"), "--data-dir".as_ref(), data.as_os_str()]);
    assert_eq!(code, Some(0), "verify: {out}{err}");
}

/// The RPC itself: positions, fields and codes of rejections, another
/// tenant's row refused on its own, and a token that sees the whole import.
#[tokio::test]
async fn import_consent_lists_rejections_by_position_and_its_token_reads_the_import() {
    let app = crate::helpers::TestApp::spawn_toml(crate::helpers::TWO_TENANTS).await;
    let mut north = app.client_with(Some("northside-token")).await;
    let mut bad_phone = crate::helpers::grant("r-2", "12", pb::ConsentLevel::Express);
    bad_phone.source = 0;
    let mut foreign = crate::helpers::grant("r-3", "+13125550113", pb::ConsentLevel::Express);
    foreign.tenant_id = "southside".into();
    let messages = vec![
        crate::helpers::grant("r-1", "+13125550111", pb::ConsentLevel::Express),
        bad_phone,
        foreign,
        crate::helpers::revoke("r-4", "+13125550111"),
    ];
    let summary = north.import_consent(tokio_stream::iter(messages)).await.unwrap().into_inner();
    assert_eq!((summary.accepted, summary.duplicates, summary.rejected), (2, 0, 2));
    let got: Vec<_> = summary.rejections.iter().map(|r| (r.position, r.field.as_str(), r.code)).collect();
    assert_eq!(
        got,
        [(2, "phone", tonic::Code::InvalidArgument as i32), (3, "tenant_id", tonic::Code::PermissionDenied as i32)]
    );
    let view = north
        .get_consent(pb::GetConsentRequest {
            phone: "+13125550111".into(),
            consistency_token: summary.consistency_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.scopes[0].event_id, "r-4", "the revocation, later in the stream, decides");
    assert_eq!(view.scopes[0].status, pb::ConsentStatus::Revoked as i32);
    let mut nobody = app.client_with(Some("not-a-token")).await;
    let refused = nobody.import_consent(tokio_stream::iter(Vec::<pb::RecordConsentRequest>::new())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
