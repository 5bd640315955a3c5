//! The console's reports in a real headless Chromium, against the real
//! binary, over consent seeded through the gRPC API: the opt-outs of a range
//! of days (a STOP through ProcessInbound with the confirmation it returned,
//! a RecordConsent revocation, one outside the range) and the grants by
//! source and collector, each checked against ListConsentEvents, with their
//! CSV downloads; bad dates refused naming the field; another tenant sees
//! none of it. Accessibility (axe-core in the page, labels, headings,
//! keyboard reach) and phone width are checked, and
//! screenshots land in target/tmp/console-screenshots. Skips without
//! Chromium unless TEXTGATE_REQUIRE_EXTERNAL=1.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use fantoccini::{Client as Browser, Locator};
use textgate::api::pb::{self, ConsentLevel};

use crate::browser::{accessible, csv_link, fits_phone, http, http_session, shot, sign_in, sign_out, table_rows};
use crate::helpers::{grant, list_all, revoke, text_stop, Client, Token};
use crate::process::Server;

const STOPPED: &str = "+13125550123";
const REVOKED: &str = "+13125550124";
const SENDER: &str = "+13125550100";

/// 2020-01-15 12:00 UTC: long before the days the reports cover.
fn long_ago() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: 1_579_089_600, nanos: 0 })
}

/// A grant from `source`, collected by `collector`.
fn grant_from(id: &str, phone: &str, source: pb::ConsentSource, collector: &str) -> pb::RecordConsentRequest {
    let mut req = grant(id, phone, ConsentLevel::Express);
    req.source = source as i32;
    req.evidence.as_mut().unwrap().collected_by = collector.into();
    req
}

async fn client(server: &Server, token: &str) -> Client {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel.connect().await.unwrap(),
        Token(Some(token.into())),
    )
}

/// Northside's consent: grants from a caseworker (two now, one long ago) and
/// a web form, a STOP by text, a revocation through the API (and one long
/// ago). Southside: one grant at its front desk. Returns northside's ledger
/// and the confirmation ProcessInbound returned for the STOP.
async fn seed(server: &Server) -> (Vec<pb::ConsentEvent>, String) {
    let mut c = client(server, "northside-token").await;
    let web = pb::ConsentSource::WebForm;
    c.record_consent(grant("form-1", STOPPED, ConsentLevel::Express)).await.unwrap();
    c.record_consent(grant("form-2", REVOKED, ConsentLevel::Express)).await.unwrap();
    c.record_consent(grant_from("web-1", "+13125550125", web, "signup-page")).await.unwrap();
    let mut old = grant("form-old", "+13125550126", ConsentLevel::Express);
    old.occurred_at = long_ago();
    c.record_consent(old).await.unwrap();
    let mut old = revoke("revoke-old", "+13125550126");
    old.occurred_at = long_ago();
    c.record_consent(old).await.unwrap();
    let answered = text_stop(&mut c, STOPPED, SENDER, "m-stop").await;
    assert!(!answered.reply_body.is_empty(), "{answered:?}");
    c.record_consent(revoke("api-revoke", REVOKED)).await.unwrap();
    let mut south = client(server, "southside-token").await;
    south.record_consent(grant_from("desk-1", "+17735550123", web, "front-desk")).await.unwrap();
    (list_all(&mut c, "").await, answered.reply_body)
}

fn day(t: &prost_types::Timestamp) -> jiff::civil::Date {
    jiff::Timestamp::new(t.seconds, t.nanos).unwrap().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// As the console shows a time.
fn shown(t: Option<&prost_types::Timestamp>) -> String {
    let t = t.unwrap();
    jiff::Timestamp::new(t.seconds, t.nanos).unwrap().strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The events `action` of the days `from..=to`, as ListConsentEvents lists them.
fn listed<'a>(events: &'a [pb::ConsentEvent], action: pb::ConsentAction, range: &str) -> Vec<&'a pb::ConsentEvent> {
    let (from, to) = range.split_once(',').unwrap();
    let (from, to): (jiff::civil::Date, jiff::civil::Date) = (from.parse().unwrap(), to.parse().unwrap());
    let occurred = |e: &pb::ConsentEvent| day(e.occurred_at.as_ref().unwrap());
    events.iter().filter(|e| e.action() == action && occurred(e) >= from && occurred(e) <= to).collect()
}

/// The opt-outs page and its CSV against ListConsentEvents.
async fn opt_outs(b: &Browser, console: SocketAddr, events: &[pb::ConsentEvent], reply: &str, range: &str) {
    let (from, to) = range.split_once(',').unwrap();
    b.goto(&format!("http://{console}/reports/opt-outs?from={from}&to={to}")).await.unwrap();
    let want = listed(events, pb::ConsentAction::Revoke, range);
    let ids: Vec<&str> = want.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["inbound:m-stop", "api-revoke"], "the range holds the two opt-outs, not the old one");
    let rows = table_rows(b, "#opt-outs").await;
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for (row, e) in rows.iter().zip(&want) {
        assert_eq!(row[0], shown(e.recorded_at.as_ref()), "when recorded");
        assert_eq!((row[2].as_str(), row[6].as_str()), (e.phone.as_str(), e.event_id.as_str()));
        assert_eq!(row[3], "every campaign, every sender");
    }
    assert_eq!(rows[0][5], reply, "the STOP's one confirmation, as ProcessInbound returned it");
    assert_eq!(rows[1][4], "api");
    assert!(rows[1][5].starts_with("None from textgate"), "{:?}", rows[1]);
    assert!(b.source().await.unwrap().contains(&format!("2 opt-outs occurred between {from} and {to}")));
    accessible(b, "opt-outs").await;
    shot(b, "opt-outs").await;
    fits_phone(b, "opt-outs").await;

    let csv = csv_link(b).await;
    let mut lines = csv.lines();
    let columns = "recorded_at,occurred_at,phone,campaign_id,sender,source,wrong_number,event_id,confirmation_status,confirmation";
    assert_eq!(lines.next(), Some(columns), "{csv}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), want.len(), "{csv}");
    for (row, e) in rows.iter().zip(&want) {
        let t = e.recorded_at.as_ref().unwrap();
        let recorded = jiff::Timestamp::new(t.seconds, t.nanos).unwrap().to_string();
        assert!(row.starts_with(&format!("{recorded},")), "{row} vs {e:?}");
        assert!(row.contains(&format!(",{},", e.phone)) && row.contains(&format!(",{},", e.event_id)), "{row}");
    }
    assert!(rows[0].ends_with(&format!(",keyword,false,inbound:m-stop,sent,{reply}")), "{}", rows[0]);
    assert!(rows[1].ends_with(",api,false,api-revoke,by_caller,"), "{}", rows[1]);
}

/// The grants page, one group's listing and both CSVs against ListConsentEvents.
async fn grants(b: &Browser, console: SocketAddr, events: &[pb::ConsentEvent], range: &str) {
    let (from, to) = range.split_once(',').unwrap();
    b.goto(&format!("http://{console}/reports/grants?from={from}&to={to}")).await.unwrap();
    let want = listed(events, pb::ConsentAction::Grant, range);
    let mut counted: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &want {
        let source = e.source().as_str_name().trim_start_matches("CONSENT_SOURCE_").to_lowercase().replace('_', " ");
        *counted.entry((source, e.evidence.clone().unwrap().collected_by)).or_default() += 1;
    }
    let rows = table_rows(b, "#grant-groups").await;
    let groups: BTreeMap<(String, String), usize> =
        rows.iter().map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().unwrap())).collect();
    assert_eq!(groups, counted, "{rows:?}");
    let expected = [(("verbal".into(), "caseworker-17".into()), 2), (("web form".into(), "signup-page".into()), 1)];
    assert_eq!(groups, BTreeMap::from(expected), "the old grant and southside's are not counted");
    accessible(b, "grants").await;
    shot(b, "grants").await;
    fits_phone(b, "grants").await;
    let csv = csv_link(b).await;
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(ids, want.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), "{csv}");

    let web = Locator::XPath("//tr[td[.='signup-page']]//a");
    b.find(web).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Id("grants")).await.expect("the group's grants");
    let rows = table_rows(b, "#grants").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0][2].as_str(), rows[0][6].as_str()), ("+13125550125", "web-1"));
    assert!(b.source().await.unwrap().contains("<p id=\"summary\">1 grant.</p>"));
    accessible(b, "grants-list").await;
    shot(b, "grants-list").await;
    fits_phone(b, "grants-list").await;
    let csv = csv_link(b).await;
    assert_eq!(csv.lines().count(), 2, "the header and web-1: {csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with(&format!("{},web-1,", want[2].sequence)), "{csv}");
}

/// Bad input is refused naming the field; no session, no report.
async fn refusals(console: SocketAddr, range: &str) {
    let (from, to) = range.split_once(',').unwrap();
    let cookie = http_session(console, "northside-token").await;
    let asks = [
        (format!("/reports/opt-outs?from=2030-02-30&to={to}"), "from: "),
        (format!("/reports/opt-outs?from={from}&to=tomorrow"), "to: "),
        (format!("/reports/grants?from={to}&to=2020-01-01"), "to: must not be before from"),
        (format!("/reports/grants?from={from}&to={to}&format=xml"), "format: "),
        (format!("/reports/grants/list?from={from}&to={to}&source=FAX"), "source: "),
    ];
    for (path, field) in asks {
        let (status, _, body) = http(console, "GET", &path, &cookie, "").await;
        assert_eq!(status, 400, "{path}");
        assert!(body.contains(field), "{path}: {body}");
    }
    let (status, _, _) = http(console, "GET", &format!("/reports/opt-outs?from={from}&to={to}"), "", "").await;
    assert_eq!(status, 303, "no session: to the sign-in form");
}

// Long: one browser session, as a compliance officer would read the reports.
#[tokio::test(flavor = "multi_thread")]
async fn reports_list_the_opt_outs_and_grants_of_a_range_for_the_signed_in_tenant_only() {
    let Some((_driver, b)) = crate::browser::open().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = crate::browser::two_tenant_server(dir.path());
    let console = server.console;
    let (events, reply) = seed(&server).await;
    let stop = events.iter().find(|e| e.event_id == "inbound:m-stop").unwrap();
    let today = day(stop.occurred_at.as_ref().unwrap());
    // A day either side: a run that crosses midnight still finds every event.
    let range = format!("{},{}", today.yesterday().unwrap(), today.tomorrow().unwrap());

    sign_in(&b, console, "northside-token").await;
    b.find(Locator::LinkText("Reports")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::XPath("//h1[.='Reports']")).await.expect("the reports page");
    accessible(&b, "reports").await;
    shot(&b, "reports").await;
    fits_phone(&b, "reports").await;
    // The form, without script: the last 30 days by default hold today's opt-outs.
    b.find(Locator::Css("form[action='/reports/opt-outs'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Id("opt-outs")).await.expect("the opt-outs page");
    assert_eq!(table_rows(&b, "#opt-outs").await.len(), 2);
    opt_outs(&b, console, &events, &reply, &range).await;
    grants(&b, console, &events, &range).await;
    refusals(console, &range).await;
    sign_out(&b, console).await;

    // Another tenant sees none of it, and only its own grant.
    sign_in(&b, console, "southside-token").await;
    let (from, to) = range.split_once(',').unwrap();
    b.goto(&format!("http://{console}/reports/opt-outs?from={from}&to={to}")).await.unwrap();
    assert!(table_rows(&b, "#opt-outs").await.is_empty());
    assert!(b.source().await.unwrap().contains("No opt-out occurred"));
    assert_eq!(csv_link(&b).await.lines().count(), 1, "only the header");
    b.goto(&format!("http://{console}/reports/grants?from={from}&to={to}")).await.unwrap();
    let rows = table_rows(&b, "#grant-groups").await;
    assert_eq!(rows, [["web form", "front-desk", "1", "List these grants"]], "southside's own grant only");
    let csv = csv_link(&b).await;
    assert!(csv.lines().count() == 2 && csv.contains(",desk-1,") && !csv.contains("+1312"), "{csv}");
    b.close().await.unwrap();
}

/// How many rows a report page shows.
fn shown_rows(page: &str) -> usize {
    page.matches("<tr><td data-label=").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_page_shows_at_most_1000_rows_and_says_so_while_its_csv_has_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::browser::two_tenant_server(dir.path());
    let c = client(&server, "northside-token").await;
    // 1,001 numbers, each granted by a collector of its own and then revoked, from 16 writers.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16u32 {
        let mut c = c.clone();
        writers.spawn(async move {
            for i in (w..1001).step_by(16) {
                let phone = format!("+1312555{:04}", 1000 + i);
                let from = grant_from(&format!("g-{i}"), &phone, pb::ConsentSource::PaperForm, &format!("clerk-{i}"));
                c.record_consent(from).await.unwrap();
                c.record_consent(revoke(&format!("r-{i}"), &phone)).await.unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let events = list_all(&mut c.clone(), "").await;
    assert_eq!(events.len(), 2002);
    let today = day(events[0].occurred_at.as_ref().unwrap());
    let range = format!("from={}&to={}", today.yesterday().unwrap(), today.tomorrow().unwrap());
    let cookie = http_session(server.console, "northside-token").await;

    let (status, _, page) = http(server.console, "GET", &format!("/reports/opt-outs?{range}"), &cookie, "").await;
    assert_eq!(status, 200);
    assert_eq!(shown_rows(&page), 1000);
    assert!(page.contains("The range holds more than 1000 opt-outs"), "the page says it is cut short");
    let (_, head, csv) =
        http(server.console, "GET", &format!("/reports/opt-outs?{range}&format=csv"), &cookie, "").await;
    assert!(head.contains("text/csv") && head.contains("no-store"), "{head}");
    assert_eq!(csv.lines().count(), 1 + 1001, "the header and every opt-out");

    let (_, _, page) = http(server.console, "GET", &format!("/reports/grants?{range}"), &cookie, "").await;
    assert_eq!(shown_rows(&page), 1000, "at most 1,000 groups");
    assert!(page.contains("the first 1000 met are counted; grants from the others (1) are not"), "{page}");
    let (_, _, csv) = http(server.console, "GET", &format!("/reports/grants?{range}&format=csv"), &cookie, "").await;
    assert_eq!(csv.lines().count(), 1 + 1001, "the header and every grant");
}
