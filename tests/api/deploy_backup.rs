//! The online-backup recipe for the shipped Kubernetes manifests, run as
//! deploy/README.md writes it: the container's config (tokens from the mounted
//! secret file), the client started inside the "pod" with the operator token
//! on stdin, the backup written to the data volume, then restored and
//! verified. Only what Kubernetes adds is taken away: `kubectl exec` becomes a
//! local shell, and the pod's paths and admin port become this test's.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use textgate::api::pb::{self, ConsentLevel};

use crate::helpers::{grant, list_all, revoke, Token};
use crate::process::{run, textgate, Server};

/// The shell command of the README's `kubectl exec` recipe, continuation
/// lines joined, and the path its `kubectl cp` copies out.
fn readme_recipe() -> (String, String) {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().map(str::trim).collect();
    let start =
        lines.iter().position(|l| l.starts_with("kubectl exec -i textgate-0")).expect("the recipe in deploy/README.md");
    let mut exec = String::new();
    let mut at = start;
    loop {
        let line = lines[at];
        match line.strip_suffix('\\') {
            Some(cont) => exec.push_str(cont),
            None => {
                exec.push_str(line);
                break;
            }
        }
        at += 1;
    }
    let cp = lines[at + 1].strip_prefix("kubectl cp textgate-0:").expect("kubectl cp after the exec");
    let (source, _dest) = cp.split_once(" ./").expect("copied to the working directory");
    (exec, source.to_string())
}

fn pod_command(exec: &str, bin: &Path, admin: &str, data: &Path, tmp: &Path, token: &Path) -> String {
    let inside = exec.strip_prefix("kubectl exec -i textgate-0 -- ").expect("runs in the pod");
    let (inside, stdin) = inside.rsplit_once(" < ").expect("the token arrives on stdin");
    assert_eq!(stdin, "ops.token");
    // The pod's paths first become markers, so a test path under /tmp is not rewritten again.
    let marked = inside.replace("/data/", "@DATA@/").replace("/tmp/", "@TMP@/");
    format!("{marked} < '{}'", token.display())
        .replace("textgate backup", &format!("'{}' backup", bin.display()))
        .replace("127.0.0.1:9464", admin)
        .replace("@DATA@", &data.display().to_string())
        .replace("@TMP@", &tmp.display().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_backup_recipe_works_on_the_container_config() {
    let dir = tempfile::tempdir().unwrap();
    let (data, tmp) = (dir.path().join("data"), dir.path().join("tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    // The mounted secret: an operator token (for the backup) and a tenant's.
    let gen = || {
        let out = textgate().arg("gen-token").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        assert_eq!(lines.len(), 2, "token then its hash: {text}");
        (lines[0].clone(), lines[1].clone())
    };
    let ((ops, ops_hash), (tenant, tenant_hash)) = (gen(), gen());
    let secret = dir.path().join("tokens.toml");
    std::fs::write(&secret, format!("\"{ops_hash}\" = \"*\"\n\"{tenant_hash}\" = \"northside\"\n")).unwrap();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/textgate.container.toml")).unwrap();
    let config = dir.path().join("textgate.toml");
    let mounted = shipped.replace("/run/secrets/textgate/tokens.toml", secret.to_str().unwrap());
    assert_ne!(mounted, shipped, "the container config reads the mounted tokens file");
    std::fs::write(&config, mounted).unwrap();
    let server = Server::start_configured(&config, &data);

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr)).unwrap();
    let mut c = pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel.connect().await.unwrap(),
        Token(Some(tenant.clone())),
    );
    c.record_consent(grant("k8s-g", "+13125550141", ConsentLevel::Express)).await.unwrap();
    c.record_consent(revoke("k8s-r", "+13125550142")).await.unwrap();

    let (exec, copied) = readme_recipe();
    let token_file = dir.path().join("ops.token");
    std::fs::write(&token_file, format!("{ops}\n")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_textgate"));
    let cmd = pod_command(&exec, bin, &server.admin.to_string(), &data, &tmp, &token_file);
    let out = Command::new("sh").arg("-c").arg(&cmd).stdin(Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the README's recipe failed: {err}\n(ran: {cmd})");
    assert!(std::fs::read_dir(&tmp).unwrap().next().is_none(), "the token file is removed afterwards");
    let date = String::from_utf8(Command::new("date").arg("+%F").output().unwrap().stdout).unwrap();
    let backup = Path::new(&copied.replace("$(date +%F)", date.trim()).replacen("/data/", "", 1)).to_path_buf();
    let backup = data.join(backup);
    assert!(backup.is_file(), "kubectl cp copies {copied}, which the recipe wrote: {}", backup.display());

    // The copy restores and verifies, and holds both events.
    let restored = dir.path().join("restored");
    let restore = [
        OsStr::new("restore"),
        OsStr::new("--from"),
        backup.as_os_str(),
        OsStr::new("--data-dir"),
        restored.as_os_str(),
    ];
    let (code, _, err) = run(restore);
    assert_eq!(code, Some(1), "the shipped config sets no backup key, so the copy is not authenticated: {err}");
    assert!(err.contains("--unauthenticated"), "{err}");
    let (code, _, err) = run([&restore[..], &[OsStr::new("--unauthenticated")]].concat());
    assert_eq!(code, Some(0), "restore, as the README says for the shipped configs: {err}");
    let (code, out, err) = run([OsStr::new("verify"), OsStr::new("--data-dir"), restored.as_os_str()]);
    assert_eq!(code, Some(0), "verify: {out}{err}");
    drop(c);
    server.kill();
    let again = Server::start_configured(&config, &restored);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", again.addr)).unwrap();
    let mut c = pb::policy_service_client::PolicyServiceClient::with_interceptor(
        channel.connect().await.unwrap(),
        Token(Some(tenant)),
    );
    assert_eq!(list_all(&mut c, "+13125550141").await.len(), 1);
    assert_eq!(list_all(&mut c, "+13125550142").await.len(), 1);
}
