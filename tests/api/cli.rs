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
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut addr, mut admin) = (None, None);
        for line in lines.by_ref().take(50).map_while(Result::ok) {
            admin = admin.or_else(|| logged(&line, "admin_addr"));
            addr = addr.or_else(|| logged(&line, "addr"));
            if addr.is_some() && admin.is_some() {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let admin: std::net::SocketAddr = admin.expect("server logs its admin address").parse().unwrap();
        (crate::helpers::Reap(child), addr.expect("server logs its gRPC address"), admin)
    };

    let (mut child, addr, admin) = start();
    assert_eq!(crate::helpers::http_get(admin, "/readyz").await.0, 200, "the binary serves the admin endpoint");
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let req = crate::helpers::grant("sigterm-1", "3125550199", pb::ConsentLevel::Express);
    c.record_consent(req).await.unwrap();
    drop(c);
    let kill = Command::new("kill").arg("-TERM").arg(child.0.id().to_string()).status().unwrap();
    assert!(kill.success());
    assert_eq!(child.0.wait().unwrap().code(), Some(0), "graceful shutdown exits 0");

    let (mut child, addr, _) = start();
    let mut c = PolicyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let view = c
        .get_consent(pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.scopes[0].event_id, "sigterm-1");
    drop(c);
    Command::new("kill").arg("-TERM").arg(child.0.id().to_string()).status().unwrap();
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

/// The value of ` key=value` in a log line (the key as a whole word).
fn logged(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!(" {key}="))?;
    let rest = &line[at + key.len() + 2..];
    Some(rest.split_whitespace().next().unwrap_or("").to_string())
}

/// `textgate hash-token` prints the form `[auth] tokens` accepts for the
/// token on stdin, and refuses a token too short to configure.
#[test]
fn hash_token_prints_the_configurable_digest() {
    use std::io::Write;
    let run = |input: &str| {
        let mut child = textgate()
            .arg("hash-token")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("northside-dev-token\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    // sha256("northside-dev-token"), computed with sha256sum.
    let want = "sha256:ff3e33713c654cfe5667ab8c641900006d994d7dfbce1b26bab295f1fd3f4352";
    assert_eq!(printed, format!("{want}\n"));
    let short = run("short\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(short.stdout.is_empty());
}
