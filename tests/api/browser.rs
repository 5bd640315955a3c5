//! Driving the compliance console in a real headless Chromium through
//! WebDriver (chromedriver), and talking plain HTTP to it: what the console's
//! browser tests share (`console`, `console_reports`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};

use crate::helpers::{Reap, TWO_TENANTS};
use crate::process::Server;

/// chromedriver and a browser session on it, or `None` (the test skips)
/// when Chromium is missing and TEXTGATE_REQUIRE_EXTERNAL is not set. Keep
/// the `Reap` alive as long as the browser.
pub async fn open() -> Option<(Reap, Browser)> {
    let install = "apt-get install chromium chromium-driver (tools/install-test-deps)";
    let driver = textgate::testkit::require_tool("chromedriver", install)?;
    let chromium = textgate::testkit::require_tool("chromium", install)?;
    let (reap, port) = start_driver(&driver);
    Some((reap, connect(port, &chromium).await))
}

/// chromedriver on a free port, killed when dropped.
pub fn start_driver(driver: &Path) -> (Reap, u16) {
    let port = textgate::testkit::free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromedriver");
    (Reap(child), port)
}

pub async fn connect(port: u16, chromium: &Path) -> Browser {
    let mut caps = serde_json::Map::new();
    let args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"];
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver starts in well under a second; allow 20 s on a busy machine.
    for _ in 0..200 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(c) = ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not accept a session on {url}");
}

pub fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(b: &Browser, name: &str) {
    b.execute("document.activeElement && document.activeElement.blur()", vec![]).await.unwrap();
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// At phone width (390 px) the page needs no sideways scrolling; saved
/// as `<page>-phone-width`. The window is back at 1200x900 after.
pub async fn fits_phone(b: &Browser, page: &str) {
    b.set_window_size(390, 844).await.unwrap();
    shot(b, &format!("{page}-phone-width")).await;
    let overflow = b.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(overflow.as_u64().unwrap() <= 390, "{page}: no sideways scrolling at phone width: {overflow}");
    b.set_window_size(1200, 900).await.unwrap();
}

/// The cells' text of each body row of the table `css` selects.
pub async fn table_rows(b: &Browser, css: &str) -> Vec<Vec<String>> {
    let rows = b
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))
               .map(tr => Array.from(tr.cells).map(td => td.textContent.trim()));",
            vec![serde_json::json!(css)],
        )
        .await
        .expect("read the table");
    serde_json::from_value(rows).expect("rows of text")
}

/// What the page's `#csv` link downloads, fetched from the page.
pub async fn csv_link(b: &Browser) -> String {
    let text = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            fetch(document.getElementById('csv').href).then(r => r.text()).then(done, e => done('error: ' + e));"#,
            vec![],
        )
        .await
        .expect("download");
    text.as_str().expect("text").to_string()
}

/// The axe-core release tools/install-test-deps puts in the tool cache.
const AXE: &str = "axe-core-4.14.1.min.js";

/// axe-core's script, read once; `None` after a notice (or a failure under
/// TEXTGATE_REQUIRE_EXTERNAL=1) when it is not installed.
fn axe_script() -> Option<&'static str> {
    static SCRIPT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            let script = textgate::testkit::find_tool(AXE).and_then(|p| std::fs::read_to_string(p).ok());
            if script.is_none() {
                let how = format!("{AXE} is not in the tool cache (tools/install-test-deps packs it from npm)");
                textgate::testkit::skip_or_fail("axe-core", &how);
            }
            script
        })
        .as_deref()
}

/// axe-core run in the page finds no serious or critical violation (the
/// page's CSP allows no script; WebDriver's injection is not subject to it).
async fn axe(b: &Browser, page: &str) {
    let Some(script) = axe_script() else { return };
    b.execute(script, vec![]).await.expect("inject axe-core");
    let found = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] }).then(
              r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))),
              e => done(['axe-core did not run: ' + e]));"#,
            vec![],
        )
        .await
        .expect("run axe-core");
    assert_eq!(found, serde_json::json!([]), "{page}: serious or critical accessibility violations (axe-core)");
}

/// axe-core's serious and critical rules, then what a keyboard or
/// screen-reader user needs that it leaves to people: labels on every
/// visible form field, one h1, a language, and the first Tab stop is the
/// skip link.
pub async fn accessible(b: &Browser, page: &str) {
    axe(b, page).await;
    let problems = b
        .execute(
            r#"const p = [];
            for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
              if (!el.labels || el.labels.length === 0) p.push('unlabelled ' + (el.id || el.name));
            }
            if (document.querySelectorAll('h1').length !== 1) p.push('not exactly one h1');
            if (!document.documentElement.lang) p.push('no lang');
            for (const a of document.querySelectorAll('a')) { if (!a.textContent.trim()) p.push('empty link'); }
            return p;"#,
            vec![],
        )
        .await
        .expect("run the checks");
    assert_eq!(problems, serde_json::json!([]), "{page}");
    b.find(Locator::Css("body")).await.unwrap().send_keys("\u{E004}").await.unwrap();
    let focused = b.execute("return document.activeElement.className", vec![]).await.unwrap();
    assert_eq!(focused, "skip", "{page}: the first Tab stop is the skip link");
}

pub async fn sign_in(b: &Browser, console: SocketAddr, token: &str) {
    b.goto(&format!("http://{console}/")).await.unwrap();
    assert!(b.current_url().await.unwrap().path().ends_with("/sign-in"), "signed out: the sign-in form");
    b.find(Locator::Id("token")).await.unwrap().send_keys(token).await.unwrap();
    b.find(Locator::Css("form[action='/sign-in'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Css("form[action='/sign-out']")).await.expect("signed in");
}

pub async fn sign_out(b: &Browser, console: SocketAddr) {
    b.find(Locator::Css("form[action='/sign-out'] button")).await.unwrap().click().await.unwrap();
    b.wait().for_element(Locator::Id("token")).await.expect("the sign-in form");
    b.goto(&format!("http://{console}/")).await.unwrap();
    assert!(b.current_url().await.unwrap().path().ends_with("/sign-in"), "signed out");
}

/// One HTTP/1.0 exchange with the console: (status, head, body).
pub async fn http(console: SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(console).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {console}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut raw)).await.expect("answered").unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// The value of `name="csrf" value="..."` in a page.
pub fn form_token(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    page[at..at + 32].to_string()
}

/// A console session over plain HTTP: the cookie that carries it.
pub async fn http_session(console: SocketAddr, token: &str) -> String {
    let (status, head, _) = http(console, "POST", "/sign-in", "", &format!("token={token}")).await;
    assert_eq!(status, 303, "{head}");
    let set = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    set.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string()
}

/// A server in `dir` on the two tenants' configuration (northside and
/// southside), its console on port 0.
pub fn two_tenant_server(dir: &Path) -> Server {
    let config = dir.join("textgate.toml");
    std::fs::write(&config, TWO_TENANTS).unwrap();
    Server::start_configured(&config, &dir.join("data"))
}
