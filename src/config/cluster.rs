//! `[cluster]`: several instances sharing one consent ledger on NATS
//! JetStream (DESIGN.md, "Scale-out"). Absent: a single node, nothing changes.
//!
//! Every value is checked while it parses, so an error names the file, line
//! and key like the rest of the configuration; the few checks that relate two
//! keys run after (`ClusterConfig::check`) and name the key path.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::HumanDuration;

/// How this instance reaches the NATS cluster and which stream it shares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Seed servers, `nats://host:port` or `tls://host:port`; the client
    /// learns the rest of the cluster from them.
    pub nats_urls: NatsUrls,
    /// Unique per instance (a pod's name): the NATS connection name and the
    /// origin written into every replicated record.
    pub instance_id: InstanceId,
    /// The JetStream stream prefix; streams are `<stream>_CONSENT` and
    /// `<stream>_SEND`, subjects `<stream>.consent.<tenant>` and so on.
    #[serde(default)]
    pub stream: StreamName,
    /// Copies JetStream keeps of every message (R=3 survives one node loss).
    #[serde(default)]
    pub replicas: Replicas,
    /// A NATS `.creds` file (user JWT and NKey seed). Absent: no credentials.
    pub credentials_file: Option<PathBuf>,
    /// PEM CA certificate(s) the NATS servers' certificates are checked
    /// against. Absent: the system roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Longest a write waits for JetStream's acknowledgement before it
    /// answers UNAVAILABLE (the write may still land; a retry dedupes).
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout: HumanDuration,
    /// Stream messages this instance may be behind before /readyz says 503.
    #[serde(default = "default_max_apply_lag")]
    pub max_apply_lag: u64,
    /// How long JetStream remembers a message id, so a retried write through
    /// any instance is stored once.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window: HumanDuration,
    /// How long send and inbound facts stay in their stream (consent events
    /// stay forever): long enough for every cap window and disclosure
    /// interval, so a rebuilt instance knows the recent traffic.
    #[serde(default = "default_send_retention")]
    pub send_retention: HumanDuration,
}

fn default_publish_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

fn default_max_apply_lag() -> u64 {
    1000
}

fn default_duplicate_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

fn default_send_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(35 * 86_400))
}

impl ClusterConfig {
    /// Checks that relate keys to each other or to the tenants' windows
    /// (`longest_window`); errors name the key.
    pub fn check(&self, longest_window: Duration) -> Result<(), String> {
        let p = self.publish_timeout.0;
        if p < Duration::from_millis(100) || p > Duration::from_secs(60) {
            return Err("`cluster.publish_timeout`: must be 100ms to 60s".into());
        }
        let d = self.duplicate_window.0;
        if d < Duration::from_secs(1) {
            return Err("`cluster.duplicate_window`: must be at least 1s".into());
        }
        if d < p {
            return Err("`cluster.duplicate_window`: must be at least `cluster.publish_timeout`, or a retry after a timeout could be stored twice".into());
        }
        let r = self.send_retention.0;
        if r < Duration::from_secs(86_400) || r < longest_window || r < d {
            return Err(format!(
                "`cluster.send_retention`: must be at least 24h, `cluster.duplicate_window` and every tenant's conversation_window and disclosure_interval ({})",
                humantime::format_duration(longest_window)
            ));
        }
        if self.max_apply_lag == 0 {
            return Err("`cluster.max_apply_lag`: must be at least 1".into());
        }
        Ok(())
    }

    /// Checks that the files it names can be read (at load, like
    /// `[server.tls]`, so `check-config` reports them).
    pub fn check_files(&self) -> Result<(), String> {
        for (key, path) in [("credentials_file", &self.credentials_file), ("tls_ca_file", &self.tls_ca_file)] {
            if let Some(path) = path {
                std::fs::metadata(path).map_err(|e| format!("`cluster.{key}`: cannot read {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// A non-empty list of NATS server URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUrls(pub Vec<String>);

impl<'de> Deserialize<'de> for NatsUrls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let urls = Vec::<String>::deserialize(d)?;
        if urls.is_empty() {
            return Err(serde::de::Error::custom("at least one NATS server URL is required"));
        }
        for u in &urls {
            check_nats_url(u).map_err(serde::de::Error::custom)?;
        }
        Ok(NatsUrls(urls))
    }
}

/// `nats://host:port` or `tls://host:port` (user info allowed, no path).
fn check_nats_url(u: &str) -> Result<(), String> {
    let hint = "write e.g. \"nats://10.0.0.1:4222\" or \"tls://nats.example.org:4222\"";
    let uri: http::Uri = u.parse().map_err(|_| format!("{u:?} is not a URL; {hint}"))?;
    if !matches!(uri.scheme_str(), Some("nats" | "tls")) {
        return Err(format!("{u:?} must start with nats:// or tls://"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{u:?} has no host; {hint}"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{u:?} must not have a path or query; {hint}"));
    }
    Ok(())
}

/// Checks a string against a length limit and an allowed byte set, which
/// `chars` spells out for the error.
fn token<E: serde::de::Error>(s: &str, max: usize, allowed: fn(u8) -> bool, what: &str, chars: &str) -> Result<(), E> {
    if s.is_empty() || s.len() > max || !s.bytes().all(allowed) {
        return Err(E::custom(format!("{s:?}: {what} must be 1-{max} of {chars}")));
    }
    Ok(())
}

/// An instance id: 1-64 of `[A-Za-z0-9._-]` (pod names fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId(pub String);

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        token(
            &s,
            64,
            |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'),
            "an instance id",
            "A-Z, a-z, 0-9, '.', '_' or '-'",
        )?;
        Ok(InstanceId(s))
    }
}

/// A JetStream stream name prefix: 1-24 of `[A-Za-z0-9_-]`. No `.`, `*`,
/// `>` or spaces, which JetStream refuses in names and which would also split
/// the subject; short enough that `<stream>_CONSENT` stays a portable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName(pub String);

impl Default for StreamName {
    fn default() -> Self {
        StreamName("TEXTGATE".into())
    }
}

impl<'de> Deserialize<'de> for StreamName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        token(
            &s,
            24,
            |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'),
            "a stream name",
            "A-Z, a-z, 0-9, '_' or '-'",
        )?;
        Ok(StreamName(s))
    }
}

/// JetStream replicas, 1 to 5 (JetStream's own limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas(pub u8);

impl Default for Replicas {
    fn default() -> Self {
        Replicas(3)
    }
}

impl<'de> Deserialize<'de> for Replicas {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u8::try_from(n) {
            Ok(r @ 1..=5) => Ok(Replicas(r)),
            _ => Err(serde::de::Error::custom(format!("{n} replicas: must be 1 to 5"))),
        }
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
