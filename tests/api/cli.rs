//! The `textgate` binary's command line.

use crate::process::textgate;

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, textgate::config::DEMO_TOML).unwrap();
    let out = textgate().arg("check-config").arg(&good).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: `ledger.backup_key_file` is not set"), "backups without a key are warned of: {err}");
    let verdict = String::from_utf8_lossy(&out.stdout);
    assert!(verdict.contains("good.toml: ok (1 tenants)"), "the verdict goes to stdout: {verdict:?}");
    // A usage error is clap's exit 2, distinct from a bad config's 3.
    assert_eq!(textgate().arg("check-config").output().unwrap().status.code(), Some(2));

    // A backup key file: read at load, too short a key is an error.
    let key = dir.path().join("backup.key");
    let keyed = dir.path().join("keyed.toml");
    std::fs::write(&keyed, format!("{}\n[ledger]\nbackup_key_file = {:?}\n", textgate::config::DEMO_TOML, key))
        .unwrap();
    // The verdict: "ok" on stdout, problems on stderr; exit 3 for a bad config.
    for (contents, code, want) in [("short", 3, "fewer than 32 bytes"), ("k".repeat(32).as_str(), 0, "ok")] {
        std::fs::write(&key, contents).unwrap();
        let out = textgate().arg("check-config").arg(&keyed).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(want) && !err.contains("warning: `ledger.backup_key_file`"), "{err}");
    }

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        textgate::config::DEMO_TOML.replace("disclosure_interval = \"30d\"", "disclosure_intervl = \"30d\""),
    )
    .unwrap();
    let out = textgate().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:") && err.contains("disclosure_intervl"), "{err}");
}

/// `textgate serve` on a random port: SIGTERM finishes cleanly (exit 0) and
/// what was acknowledged before is there after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn serve_stops_cleanly_on_sigterm_and_keeps_data() {
    use crate::process::Server;
    use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    assert_eq!(crate::helpers::http_get(server.admin, "/readyz").await.0, 200, "the binary serves the admin endpoint");
    let mut c = PolicyServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();
    let req = crate::helpers::grant("sigterm-1", "3125550199", pb::ConsentLevel::Express);
    c.record_consent(req).await.unwrap();
    drop(c);
    assert_eq!(server.terminate(), Some(0), "graceful shutdown exits 0");

    let server = Server::start(dir.path());
    let mut c = PolicyServiceClient::connect(format!("http://{}", server.addr)).await.unwrap();
    let view = c
        .get_consent(pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.scopes[0].event_id, "sigterm-1");
    drop(c);
    assert_eq!(server.terminate(), Some(0));
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

/// `serve` takes its config path and addresses from the environment too
/// (TEXTGATE_CONFIG, TEXTGATE_LISTEN, TEXTGATE_DATA_DIR, TEXTGATE_ADMIN_LISTEN).
#[test]
fn serve_reads_its_settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let out = textgate().arg("serve").env("TEXTGATE_CONFIG", &missing).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("absent.toml") && err.contains("cannot read"), "{err}");

    // An address beyond loopback (one this machine does not have): the demo is refused there.
    let data = dir.path().join("data");
    let out = textgate()
        .arg("serve")
        .env("TEXTGATE_LISTEN", "192.0.2.1:50051")
        .env("TEXTGATE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve on 192.0.2.1:50051"), "{err}");
}

/// A reload warns that listen/data_dir/tls wait for a restart only when the
/// file changed them, not on every reload of a server whose command line
/// overrides them (as every server here runs with --listen and --data-dir).
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_warns_of_restart_only_settings_once_the_file_changes_them() {
    use crate::process::Server;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("textgate.toml");
    std::fs::write(&config, textgate::config::DEMO_TOML).unwrap();
    let server = Server::start_configured(&config, &dir.path().join("data"));
    const WARNING: &str = "take effect only after a restart";
    for round in 1..=3 {
        if round == 3 {
            let moved = textgate::config::DEMO_TOML.replace("127.0.0.1:50051", "127.0.0.1:50052");
            assert_ne!(moved, textgate::config::DEMO_TOML, "the demo config names its listen address");
            std::fs::write(&config, moved).unwrap();
        }
        let hup = std::process::Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
        assert!(hup.success());
        let mut seen = 0;
        for _ in 0..400 {
            seen = server.logged_lines("policy reloaded").len();
            if seen >= round {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(seen, round, "reload {round} logged");
        let warned = server.logged_lines(WARNING).len();
        assert_eq!(warned, usize::from(round == 3), "after reload {round}: {:?}", server.logged_lines(WARNING));
    }
}

/// A console exposed in plain HTTP is refused with its own address, not the
/// (loopback) gRPC one.
#[test]
fn check_config_refuses_an_exposed_console_naming_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("console.toml");
    let exposed = textgate::config::DEMO_TOML.replace("127.0.0.1:8089", "0.0.0.0:8089");
    assert_ne!(exposed, textgate::config::DEMO_TOML, "the demo serves its console on 127.0.0.1:8089");
    std::fs::write(&config, exposed).unwrap();
    let out = textgate().arg("check-config").arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("`server.console_listen` (0.0.0.0:8089)"), "{err}");
    assert!(!err.contains("127.0.0.1:50051"), "the gRPC address is not the problem: {err}");
}
