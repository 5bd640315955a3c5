//! Safe defaults: what textgate refuses to serve beyond loopback, tokens
//! from a mounted secret file, `gen-token`, and the operator token that
//! `POST /backup` asks for.
//!
//! No test listens beyond loopback: the refused addresses are TEST-NET ones
//! (192.0.2.0/24) this machine does not have, so even a server that failed
//! to refuse could not bind them; the reload test claims such an address in
//! its config while the server is bound to 127.0.0.1.

use std::path::Path;
use std::time::Duration;

use textgate::config::DEMO_TOML;
use tonic::Code;

use crate::helpers::{http_get, TestApp};
use crate::process::run;

/// Somewhere beyond loopback that this machine cannot bind.
const EXPOSED: &str = "192.0.2.1:50051";

/// A fresh token and its `sha256:` form, from `textgate gen-token`.
fn gen_token() -> (String, String) {
    let (code, out, err) = run(["gen-token"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "the token, then its hashed form: {out}");
    (lines[0].to_string(), lines[1].to_string())
}

/// The demo fit to listen on `EXPOSED`: tokens required and read from
/// `tokens_file`, TLS left to a proxy in front.
fn exposed_config(tokens_file: &Path) -> String {
    DEMO_TOML
        .replacen("\"127.0.0.1:50051\"", &format!("\"{EXPOSED}\"\nallow_plaintext = true"), 1)
        .replacen("require_token = false", "require_token = true", 1)
        .replacen(
            "tokens = { \"northside-dev-token\" = \"northside\", \"ops-dev-token\" = \"*\" }",
            &format!("tokens_file = {:?}", tokens_file.display().to_string()),
            1,
        )
}

#[test]
fn gen_token_makes_long_random_tokens_with_their_hashed_form() {
    let (a, a_hashed) = gen_token();
    let (b, _) = gen_token();
    assert_ne!(a, b, "two runs, two tokens");
    assert_eq!(a.len(), 43, "{a}");
    assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
    assert_eq!(a_hashed, textgate::api::auth::hash_token(&a));
}

#[test]
fn serve_refuses_the_demo_beyond_loopback_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let (code, _, err) = run(["serve", "--listen", EXPOSED, "--data-dir", &data_arg]);
    assert_eq!(code, Some(3), "{err}");
    for why in
        ["refusing to serve on 192.0.2.1:50051", "public demo token", "`auth.require_token` is false", "`server.tls`"]
    {
        assert!(err.contains(why), "{why:?} missing from: {err}");
    }
    assert!(!err.contains("northside-dev-token") && !err.contains("ops-dev-token"), "never print a token: {err}");
    assert!(!data.exists(), "refused before the store was opened");
}

#[test]
fn check_config_judges_the_file_where_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let (token, hashed) = gen_token();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, format!("{token:?} = \"northside\"\n{hashed:?} = \"*\"\n")).unwrap();
    let good = dir.path().join("exposed.toml");
    std::fs::write(&good, exposed_config(&tokens)).unwrap();
    let (code, _, err) = run(["check-config".as_ref(), good.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("token") && !err.contains("beyond loopback"), "nothing about tokens or exposure: {err}");

    // The same file with a short token in the secret: refused, naming the tenant.
    std::fs::write(&tokens, "\"northside-staff-1\" = \"northside\"\n").unwrap();
    let (code, _, err) = run(["check-config".as_ref(), good.as_os_str()]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("tenant \"northside\" is guessable") && !err.contains("northside-staff-1"), "{err}");

    // A tokens file that is not `token = tenant` is named, its lines never shown.
    std::fs::write(&tokens, "this line is a secret\n").unwrap();
    let (code, _, err) = run(["check-config".as_ref(), good.as_os_str()]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("tokens.toml:1") && !err.contains("secret"), "{err}");

    // The demo itself, on loopback: fine, with a warning about its tokens.
    let demo = dir.path().join("demo.toml");
    std::fs::write(&demo, DEMO_TOML).unwrap();
    let (code, _, err) = run(["check-config".as_ref(), demo.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning:") && err.contains("public demo token"), "{err}");
}

/// Polls `f` every 50 ms for up to 10 s until it returns true.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// Tokens come from a mounted secret file; rotating the file rotates the
/// tokens without a restart; a reload that would make an exposed server
/// tokenless is refused and the old tokens stay.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_come_from_a_secret_file_and_rotate_with_it() {
    let secrets = tempfile::tempdir().unwrap();
    let tokens = secrets.path().join("tokens.toml");
    let (old, _) = gen_token();
    std::fs::write(&tokens, format!("{old:?} = \"northside\"\n")).unwrap();
    let (app, config) = TestApp::spawn_watching(&exposed_config(&tokens)).await;
    let consent = |token: Option<String>| {
        let app = &app;
        async move {
            let mut c = app.client_with(token.as_deref()).await;
            c.get_consent(textgate::api::pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() })
                .await
                .map(drop)
                .map_err(|s| s.code())
        }
    };
    assert_eq!(consent(Some(old.clone())).await, Ok(()));
    assert_eq!(consent(None).await, Err(Code::Unauthenticated));

    let (new, _) = gen_token();
    std::fs::write(&tokens, format!("{new:?} = \"northside\"\n")).unwrap();
    eventually("the rotated token is accepted", async || consent(Some(new.clone())).await.is_ok()).await;
    assert_eq!(consent(Some(old)).await, Err(Code::Unauthenticated), "the old token is gone");

    std::fs::write(&config, exposed_config(&tokens).replacen("require_token = true", "require_token = false", 1))
        .unwrap();
    let failed = r#"textgate_policy_reloads_total{result="error"} 1"#;
    eventually("the reload is refused", async || http_get(app.admin, "/metrics").await.1.lines().any(|l| l == failed))
        .await;
    assert_eq!(consent(None).await, Err(Code::Unauthenticated), "still no tokenless access");
    assert_eq!(consent(Some(new)).await, Ok(()));
    app.stop().await;
}

/// `POST /backup` serves operators only: a token that may act for every
/// tenant, presented once.
#[tokio::test(flavor = "multi_thread")]
async fn online_backups_need_an_operator_token() {
    let app = TestApp::spawn().await;
    let post = |headers: &'static str| {
        let admin = app.admin;
        async move {
            let request = format!("POST /backup HTTP/1.0\r\nHost: {admin}\r\n{headers}Content-Length: 0\r\n\r\n");
            crate::helpers::http_exchange(admin, &request).await.expect("an answer").0
        }
    };
    assert_eq!(post("").await, 401, "no token");
    assert_eq!(post("Authorization: Bearer northside-dev-token\r\n").await, 401, "a tenant's token");
    assert_eq!(post("Authorization: Bearer wrong-token-wrong\r\n").await, 401, "an unknown token");
    let twice = "Authorization: Bearer ops-dev-token\r\nAuthorization: Bearer northside-dev-token\r\n";
    assert_eq!(post(twice).await, 401, "two tokens");
    assert_eq!(post("Authorization: Bearer ops-dev-token\r\n").await, 200, "the operator's token");

    // The command line sends it from a file.
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("b.tgb");
    let args = crate::helpers::online_backup_args(app.admin, &to);
    let (code, _, err) = tokio::task::spawn_blocking(move || run(args)).await.unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(to.exists());
    // The endpoint may be named as localhost too.
    let by_name = dir.path().join("by-name.tgb");
    let mut args = crate::helpers::online_backup_args(app.admin, &by_name);
    args[2] = format!("localhost:{}", app.admin.port()).into();
    let (code, _, err) = tokio::task::spawn_blocking(move || run(args)).await.unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(by_name.exists());
    app.stop().await;
}
