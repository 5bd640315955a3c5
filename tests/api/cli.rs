//! The `textgate` binary's command line.

use std::process::Command;

fn textgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textgate"))
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, textgate::config::DEMO_TOML).unwrap();
    let out = textgate().arg("check-config").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        textgate::config::DEMO_TOML.replace("disclosure_interval = \"30d\"", "disclosure_intervl = \"30d\""),
    )
    .unwrap();
    let out = textgate().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:") && err.contains("disclosure_intervl"), "{err}");
}

/// `textgate serve` on a random port: SIGTERM finishes cleanly (exit 0) and
/// what was acknowledged before is there after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn serve_stops_cleanly_on_sigterm_and_keeps_data() {
    use std::io::{BufRead, BufReader};
    use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};

    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = textgate()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = lines
            .by_ref()
            .take(50)
            .map_while(Result::ok)
            .find_map(|l| l.split("addr=").nth(1).map(|a| a.split_whitespace().next().unwrap_or("").to_string()))
            .expect("server logs its address");
        std::thread::spawn(move || lines.for_each(drop));
        (child, addr)
    };

    let (mut child, addr) = start();
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let req = crate::helpers::grant("sigterm-1", "3125550199", pb::ConsentLevel::Express);
    c.record_consent(req).await.unwrap();
    drop(c);
    let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "graceful shutdown exits 0");

    let (mut child, addr) = start();
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let view = c
        .get_consent(pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.scopes[0].event_id, "sigterm-1");
    drop(c);
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
