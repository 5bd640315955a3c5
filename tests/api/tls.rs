//! gRPC over TLS and mutual TLS, with certificates made by the test (rcgen):
//! a CA, a server certificate for "localhost" and client certificates. The
//! server listens on 127.0.0.1; clients dial it by IP and check the name
//! "localhost".

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use textgate::api::pb::{self, policy_service_client::PolicyServiceClient};
use textgate::config::{Config, TlsConfig};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::helpers::TestApp;

/// A CA and what it signed, as PEM.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA") }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn sign(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// The demo config served over TLS with `server`'s certificate, requiring
/// client certificates signed by `client_ca` when given.
async fn spawn_tls(server: &Leaf, client_ca: Option<&Ca>) -> (TestApp, tempfile::TempDir) {
    let files = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let tls = TlsConfig {
        cert_file: write("server.pem", &server.cert),
        key_file: write("server.key", &server.key),
        client_ca_file: client_ca.map(|ca| write("client-ca.pem", &ca.pem())),
    };
    tls.read().expect("the files check out");
    let mut config = Config::demo();
    config.server.tls = Some(tls);
    (TestApp::spawn_with(config, tempfile::tempdir().expect("tempdir")).await, files)
}

/// Connects and makes one call; the error as text, if any. Bounded: a failed
/// handshake must fail, not hang.
async fn call(app: &TestApp, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let attempt = async {
        let mut endpoint = Channel::from_shared(format!("{scheme}://{}", app.addr)).map_err(|e| e.to_string())?;
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
        }
        let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
        let req = pb::GetConsentRequest { phone: "3125550199".into(), ..Default::default() };
        PolicyServiceClient::new(channel).get_consent(req).await.map(drop).map_err(|e| format!("call: {e:?}"))
    };
    tokio::time::timeout(Duration::from_secs(20), attempt).await.unwrap_or_else(|_| Err("timed out".into()))
}

fn client(ca: &Ca) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())).domain_name("localhost")
}

fn with_identity(tls: ClientTlsConfig, leaf: &Leaf) -> ClientTlsConfig {
    tls.identity(Identity::from_pem(&leaf.cert, &leaf.key))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_clients_that_trust_the_ca_and_refuses_plaintext() {
    let ca = Ca::new("textgate test CA");
    let server = ca.sign(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let (app, _files) = spawn_tls(&server, None).await;

    call(&app, Some(client(&ca))).await.expect("a client that trusts the CA is served");
    let plain = call(&app, None).await;
    assert!(plain.is_err(), "a plaintext client must not be served");
    let stranger = Ca::new("another CA");
    let untrusted = call(&app, Some(client(&stranger))).await;
    assert!(untrusted.is_err(), "a client that does not trust the server's CA must fail");
    let wrong_name =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())).domain_name("textgate.example");
    assert!(call(&app, Some(wrong_name)).await.is_err(), "the certificate is for localhost only");
    // Still serving after the failed handshakes.
    call(&app, Some(client(&ca))).await.expect("served again");
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_requires_a_client_certificate_signed_by_the_client_ca() {
    let ca = Ca::new("textgate test CA");
    let clients = Ca::new("textgate client CA");
    let server = ca.sign(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let (app, _files) = spawn_tls(&server, Some(&clients)).await;

    let signed = clients.sign(&["send-pipeline"], ExtendedKeyUsagePurpose::ClientAuth);
    call(&app, Some(with_identity(client(&ca), &signed))).await.expect("a client with a CA-signed certificate");

    let none = call(&app, Some(client(&ca))).await;
    assert!(none.is_err(), "a client without a certificate must be refused");
    let rogue = Ca::new("rogue CA").sign(&["send-pipeline"], ExtendedKeyUsagePurpose::ClientAuth);
    let err = call(&app, Some(with_identity(client(&ca), &rogue))).await;
    assert!(err.is_err(), "a certificate from another CA must be refused");
    assert!(call(&app, None).await.is_err(), "plaintext must be refused");
    call(&app, Some(with_identity(client(&ca), &signed))).await.expect("still served");
}

#[test]
fn check_config_names_the_tls_key_of_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.toml");
    let missing = dir.path().join("nope.pem");
    let text = textgate::config::DEMO_TOML.replacen(
        "[auth]",
        &format!("[server.tls]\ncert_file = {missing:?}\nkey_file = {missing:?}\n\n[auth]"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_textgate")).arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("tls.toml") && err.contains("`server.tls.cert_file`") && err.contains("nope.pem"), "{err}");
}
