//! The compliance console in a real headless Chromium, driven through
//! WebDriver (chromedriver), against the real binary: sign in, look up a
//! number that opted out through ProcessInbound, see the revocation and the
//! decision it blocked, export CSV and check it against ListConsentEvents,
//! open a decision and follow its rule link, sign out; another tenant's
//! token sees none of it. Accessibility is checked in each page (axe-core's
//! serious and critical rules; labels, one h1, language, keyboard reach:
//! `browser::accessible`), and screenshots of the main
//! pages (wide and at phone width) land in target/tmp/console-screenshots.
//! One browser session covers the flow. Skips without Chromium unless
//! TEXTGATE_REQUIRE_EXTERNAL=1.

use std::net::SocketAddr;

use fantoccini::{Client as Browser, Locator};
use textgate::api::pb::{self, ConsentLevel};

use crate::browser::{accessible, fits_phone, form_token, http, shot, sign_in, sign_out};
use crate::helpers::{grant, list_all, text_stop, Token};
use crate::process::Server;

const PHONE: &str = "+13125550123";
const SENDER: &str = "+13125550100";

/// 2030-06-03 17:00 UTC, midday in Chicago: inside every quiet-hours window.
fn midday() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: 1_906_736_400, nanos: 0 })
}

fn check() -> pb::CheckMessageRequest {
    pb::CheckMessageRequest {
        from: SENDER.into(),
        to: PHONE.into(),
        body: "Your appointment is on Tuesday.".into(),
        campaign_id: "casework".into(),
        origin: pb::Origin::Person as i32,
        category: pb::MessageCategory::CategoryInformational as i32,
        send_at: midday(),
        ..Default::default()
    }
}

async fn look_up(b: &Browser, console: SocketAddr, phone: &str) -> String {
    b.goto(&format!("http://{console}/")).await.unwrap();
    b.find(Locator::Id("phone")).await.unwrap().send_keys(phone).await.unwrap();
    b.find(Locator::Css("form[action='/number'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Id("timeline")).await.expect("the timeline");
    b.source().await.unwrap()
}

/// The export form posted from the page, as the browser sends it.
async fn export_csv(b: &Browser, console: SocketAddr) -> String {
    b.goto(&format!("http://{console}/")).await.unwrap();
    let text = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            const f = document.getElementById('export-form');
            fetch(f.action, { method: 'POST', body: new URLSearchParams(new FormData(f)) })
              .then(r => r.text()).then(done, e => done('error: ' + e));"#,
            vec![],
        )
        .await
        .expect("export");
    text.as_str().expect("text").to_string()
}

/// What northside's client does: a grant, an allowed send, STOP, a blocked send.
async fn northside_history(server: &Server) -> (Vec<pb::ConsentEvent>, String) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    let channel = channel.connect().await.unwrap();
    let mut c = pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel,
        Token(Some("northside-token".into())),
    );
    c.record_consent(grant("form-1", PHONE, ConsentLevel::Express)).await.unwrap();
    let allowed = c.check_message(check()).await.unwrap().into_inner();
    assert_ne!(allowed.decision(), pb::Decision::Deny, "{allowed:?}");
    text_stop(&mut c, PHONE, SENDER, "m-stop").await;
    let denied = c.check_message(check()).await.unwrap().into_inner();
    assert_eq!(denied.decision(), pb::Decision::Deny);
    (list_all(&mut c, "").await, denied.decision_id)
}

// Long: one browser session walks the whole flow, in the order a compliance officer would.
#[tokio::test(flavor = "multi_thread")]
async fn a_compliance_officer_proves_consent_and_the_stop_in_a_browser() {
    let Some((_driver, b)) = crate::browser::open().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = crate::browser::two_tenant_server(dir.path());
    let console = server.console;
    let (events, denied_id) = northside_history(&server).await;

    // Signed out: the form; a wrong token is refused without echoing it.
    b.goto(&format!("http://{console}/sign-in")).await.unwrap();
    accessible(&b, "sign-in").await;
    shot(&b, "sign-in").await;
    b.find(Locator::Id("token")).await.unwrap().send_keys("not-a-token").await.unwrap();
    b.find(Locator::Css("form[action='/sign-in'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Css(".notice.error")).await.expect("refused");
    let refused = b.source().await.unwrap();
    assert!(refused.contains("not accepted") && !refused.contains("not-a-token"));

    sign_in(&b, console, "northside-token").await;
    accessible(&b, "home").await;
    let page = look_up(&b, console, "(312) 555-0123").await;
    for want in ["Consent for +13125550123", "revoke", "inbound:m-stop", "STOP", "form-1", "consent.opted_out", "deny"]
    {
        assert!(page.contains(want), "the timeline shows {want:?}");
    }
    assert!(!page.contains("Your appointment"), "bodies are never shown");
    assert!(!page.contains("northside-token"), "the token is in no page");
    accessible(&b, "number").await;
    b.set_window_size(1200, 1500).await.unwrap();
    shot(&b, "number").await;
    fits_phone(&b, "number").await;

    // The printable record, and the policy it was decided under.
    b.find(Locator::Css("form[action='/number/record'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::XPath("//h1[starts-with(., 'Consent record')]")).await.expect("the record");
    let record = b.source().await.unwrap();
    assert!(record.contains("Policy version in force") && record.contains("inbound:m-stop"));
    b.goto(&format!("http://{console}/policy")).await.unwrap();
    let policy = b.source().await.unwrap();
    assert!(policy.contains("casework") && policy.contains("every day 08:00–21:00"), "the policy page");
    accessible(&b, "policy").await;

    // The export holds exactly what ListConsentEvents lists.
    let csv = export_csv(&b, console).await;
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(csv.starts_with("sequence,event_id,"), "{csv}");
    assert_eq!(rows.len(), events.len(), "{csv}");
    for (row, e) in rows.iter().zip(&events) {
        assert!(row.starts_with(&format!("{},{},", e.sequence, e.event_id)), "{row} vs {e:?}");
        assert!(row.contains(&e.phone), "{row}");
    }

    // The blocked decision, its reason and the rule behind it.
    b.goto(&format!("http://{console}/decision?id={denied_id}")).await.unwrap();
    let decision = b.source().await.unwrap();
    assert!(decision.contains("inbound:m-stop") && decision.contains("opted out"), "the cited revocation");
    accessible(&b, "decision").await;
    shot(&b, "decision").await;
    b.find(Locator::Css("a.rule")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::XPath("//h1[starts-with(., 'Rule ')]")).await.expect("the rule page");
    let rule = b.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(rule, "Rule consent.opted_out");
    assert!(b.source().await.unwrap().contains("§3.2"), "the rule's source in the reference");
    sign_out(&b, console).await;

    // Another tenant sees none of it.
    sign_in(&b, console, "southside-token").await;
    let page = look_up(&b, console, PHONE).await;
    assert!(page.contains("No consent on record") && !page.contains("inbound:m-stop") && !page.contains("form-1"));
    assert!(page.contains("No logged decision"), "northside's decisions stay northside's");
    b.goto(&format!("http://{console}/decision?id={denied_id}")).await.unwrap();
    assert!(b.source().await.unwrap().contains("no such decision"));
    assert_eq!(export_csv(&b, console).await.lines().count(), 1, "only the header");
    sign_out(&b, console).await;

    // A "*" token picks the tenant first.
    sign_in(&b, console, "ops-token-all").await;
    let url = b.current_url().await.unwrap();
    assert!(url.path().ends_with("/tenant"), "{url}: {}", b.source().await.unwrap());
    b.find(Locator::Css("form[action='/tenant'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Css(".tenant strong")).await.expect("a tenant picked");
    let tenant = b.find(Locator::Css(".tenant strong")).await.unwrap().text().await.unwrap();
    assert!(["northside", "southside"].contains(&tenant.as_str()), "{tenant}");
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_stream_the_whole_range_and_forms_refuse_other_sites() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::browser::two_tenant_server(dir.path());
    let console = server.console;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    let c = pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel.connect().await.unwrap(),
        Token(Some("northside-token".into())),
    );
    // 1,200 events over 600 numbers, from 16 writers.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16u32 {
        let mut c = c.clone();
        writers.spawn(async move {
            for i in (w..1200).step_by(16) {
                let phone = format!("+1312555{:04}", 1000 + i % 600);
                c.record_consent(grant(&format!("bulk-{i}"), &phone, ConsentLevel::Express)).await.unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let listed = list_all(&mut c.clone(), "").await;
    assert_eq!(listed.len(), 1200);

    let (status, head, _) = http(console, "POST", "/sign-in", "", "token=northside-token").await;
    assert_eq!(status, 303, "{head}");
    let set = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Max-Age=28800"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("northside-token") && !set.contains("Secure"), "loopback: not Secure; no token: {set}");
    let cookie = set.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string();
    let (_, _, home) = http(console, "GET", "/", &cookie, "").await;
    let csrf = form_token(&home);

    let (status, head, jsonl) =
        http(console, "POST", "/export", &cookie, &format!("csrf={csrf}&from=2000-01-01&to=2099-12-31&format=jsonl"))
            .await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("application/x-ndjson") && head.contains("no-store"), "{head}");
    let exported: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported.len(), listed.len());
    for (row, e) in exported.iter().zip(&listed) {
        assert_eq!((row["sequence"].as_u64(), row["event_id"].as_str()), (Some(e.sequence), Some(e.event_id.as_str())));
        assert_eq!(row["evidence"]["collected_by"], "caseworker-17");
    }
    let (_, _, none) =
        http(console, "POST", "/export", &cookie, &format!("csrf={csrf}&from=2000-01-01&to=2000-01-02")).await;
    assert_eq!(none.lines().count(), 1, "a range before every event: the header only");

    // Without the form token, or posted from another site: refused.
    let (status, _, _) = http(console, "POST", "/export", &cookie, "from=2000-01-01&to=2099-12-31").await;
    assert_eq!(status, 403);
    let (status, _, _) = http(console, "POST", "/number", "", &format!("csrf={csrf}&phone=%2B13125551000")).await;
    assert_eq!(status, 303, "no session: to the sign-in form");
    let mut s = tokio::net::TcpStream::connect(console).await.unwrap();
    let body = format!("csrf={csrf}");
    let forged = format!(
        "POST /sign-out HTTP/1.0\r\nHost: {console}\r\nOrigin: http://evil.example\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut s, forged.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut s, &mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 403") || answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (status, _, _) = http(console, "GET", "/", &cookie, "").await;
    assert_eq!(status, 200, "the forged sign-out did not end the session");
}
