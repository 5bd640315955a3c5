//! `[server.tls]`: gRPC over TLS, and mutual TLS when a client CA is given.
//!
//! The files are read and their PEM checked when the configuration is loaded
//! (`Config::load`, so `textgate check-config` reports them too), with errors
//! that name the key and the path; the server reads them again when it starts.
//! Changing them needs a restart.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// Where the server's certificate and key are, and which CA signs clients.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server's certificate, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM: CA certificate(s); when set, every client must present a
    /// certificate they signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
}

/// The PEM text of each file, checked.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("TlsFiles").field("client_ca", &self.client_ca.is_some()).finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the files and checks that each holds what its key says; the
    /// error names the key (`server.tls.key_file`) and the path.
    pub fn read(&self) -> Result<TlsFiles, String> {
        let cert = read("server.tls.cert_file", &self.cert_file)?;
        certificates("server.tls.cert_file", &self.cert_file, &cert)?;
        let key = read("server.tls.key_file", &self.key_file)?;
        PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
            format!("`server.tls.key_file`: {} holds no usable PEM private key ({e})", self.key_file.display())
        })?;
        let client_ca = match &self.client_ca_file {
            Some(path) => {
                let ca = read("server.tls.client_ca_file", path)?;
                certificates("server.tls.client_ca_file", path, &ca)?;
                Some(ca)
            }
            None => None,
        };
        Ok(TlsFiles { cert, key, client_ca })
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("`{key}`: cannot read {}: {e}", path.display()))
}

/// At least one certificate, and nothing unreadable.
fn certificates(key: &str, path: &Path, pem: &[u8]) -> Result<(), String> {
    let certs: Result<Vec<CertificateDer<'_>>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(()),
        Ok(_) => Err(format!("`{key}`: {} holds no PEM certificate", path.display())),
        Err(e) => Err(format!("`{key}`: {} is not valid PEM ({e})", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";

    fn files(cert: &str, key: &str, ca: Option<&str>) -> (tempfile::TempDir, TlsConfig) {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let config = TlsConfig {
            cert_file: write("cert.pem", cert),
            key_file: write("key.pem", key),
            client_ca_file: ca.map(|c| write("ca.pem", c)),
        };
        (dir, config)
    }

    #[test]
    fn reads_pem_files() {
        let (_dir, c) = files(CERT, KEY, Some(CERT));
        let f = c.read().unwrap();
        assert_eq!((f.cert.len(), f.client_ca.is_some()), (CERT.len(), true));
        assert!(!format!("{f:?}").contains("PRIVATE"), "Debug never shows the key");
    }

    #[test]
    fn errors_name_the_key_and_the_path() {
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("", KEY, None, "server.tls.cert_file"),
            ("not pem", KEY, None, "server.tls.cert_file"),
            (KEY, KEY, None, "server.tls.cert_file"),
            (CERT, "", None, "server.tls.key_file"),
            (CERT, CERT, None, "server.tls.key_file"),
            (CERT, KEY, Some("junk"), "server.tls.client_ca_file"),
        ];
        for (cert, key, ca, want) in cases {
            let (_dir, c) = files(cert, key, *ca);
            let err = c.read().unwrap_err();
            assert!(err.starts_with(&format!("`{want}`: ")) && err.contains(".pem"), "{want}: {err}");
        }
        let (_dir, mut c) = files(CERT, KEY, None);
        c.key_file = PathBuf::from("/nonexistent/key.pem");
        let err = c.read().unwrap_err();
        assert!(err.starts_with("`server.tls.key_file`: cannot read /nonexistent/key.pem"), "{err}");
    }
}
