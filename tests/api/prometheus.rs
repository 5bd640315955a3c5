//! The real Prometheus (Debian's build, unpacked by tools/install-test-deps)
//! scrapes the admin port on 127.0.0.1, and its query API returns textgate's
//! series; promtool lints the exposition.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use textgate::testkit::{free_port, require_tool};

use crate::helpers::{http_get, try_http_get, Reap, TestApp};
use crate::metrics::drive_traffic;

#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_the_exposition() {
    let Some(promtool) = require_tool("promtool", "bash tools/install-test-deps") else { return };
    let app = TestApp::spawn().await;
    drive_traffic(&app).await;
    let (_, text) = http_get(app.admin, "/metrics").await;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check metrics: {said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_and_queries_textgate_series() {
    let Some(prometheus) = require_tool("prometheus", "bash tools/install-test-deps") else { return };
    let app = TestApp::spawn().await;
    drive_traffic(&app).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: textgate\n    \
             static_configs:\n      - targets: ['{}']\n",
            app.admin
        ),
    )
    .unwrap();
    let port = free_port();
    let web: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _prom = Reap(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    // Bounded: Prometheus starts, scrapes within a second or two, and the
    // series becomes queryable.
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = "/api/v1/query?query=textgate_decisions_total%7Boutcome%3D%22deny%22%7D";
    let mut last = String::new();
    let found = loop {
        if let Ok((200, body)) = try_http_get(web, query).await {
            let v: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
            let results = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if let Some(r) = results.first() {
                break r.clone();
            }
            last = body;
        }
        assert!(Instant::now() < deadline, "Prometheus never returned the series; last answer: {last}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(found["metric"]["tenant"], "northside", "{found}");
    assert_eq!(found["metric"]["reason"], "opted_out", "{found}");
    assert_eq!(found["metric"]["job"], "textgate", "{found}");
    assert_eq!(found["value"][1], "1", "one DENY was decided: {found}");

    let (status, body) = http_get(web, "/api/v1/query?query=up%7Bjob%3D%22textgate%22%7D").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((status, &v["data"]["result"][0]["value"][1]), (200, &serde_json::json!("1")), "{body}");
}
