//! The TOML configuration: listen addresses, data dir, auth tokens, tenants,
//! their campaigns and policy. Parsing is a pure function of the text, so tests
//! never touch the process environment.
//!
//! Values are checked while parsing (durations, times, E.164 senders, enums),
//! so the TOML error names the line and key; cross-field checks (duplicates,
//! references) run after and name the key path.

mod cluster;
pub mod exposure;
mod server;
mod telemetry;
mod tls;
pub mod token;
mod types;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use cluster::{ClusterConfig, InstanceId, NatsUrls, Replicas, StreamName};
pub use server::ServerConfig;
pub use telemetry::{LogFormat, OtelEnv, TelemetryConfig};
pub use tls::{TlsConfig, TlsFiles};
pub use types::{HumanDuration, TimeOfDay};

use crate::phone::PhoneNumber;

/// The example configuration, which is also the built-in demo used when the
/// server starts without a file.
pub const DEMO_TOML: &str = include_str!("../../deploy/textgate.example.toml");

/// A configuration error, formatted for an operator: where, which key, why.
/// A file with several problems lists each on a line of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File name (or `<built-in demo>`), with `:line:column` when known.
    pub origin: String,
    /// One problem per line.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.message.lines().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {line}", self.origin)?;
        }
        Ok(())
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Trace export, log format, phone-number hashing.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[cluster]`: share the consent ledger with other instances through
    /// NATS JetStream. Absent: a single node.
    pub cluster: Option<ClusterConfig>,
    /// First 12 hex digits of the SHA-256 of the file's text: the policy version.
    #[serde(skip)]
    pub version: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// When false, calls without a token act as `default_tenant`.
    #[serde(default = "yes")]
    pub require_token: bool,
    pub default_tenant: Option<String>,
    /// Bearer token -> tenant id, or "*" for every tenant.
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// A file of more `token = tenant` lines (TOML, the form of `tokens`),
    /// read at load and on every reload: a mounted secret, so the config
    /// file itself holds no credential.
    pub tokens_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { require_token: true, default_tenant: None, tokens: BTreeMap::new(), tokens_file: None }
    }
}

fn yes() -> bool {
    true
}

/// How consent writes reach the disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// "group": concurrent writes share one fsync; "per_write": one fsync each.
    #[serde(default)]
    pub durability: Durability,
    /// Most writes one fsync covers in group mode.
    #[serde(default = "default_batch")]
    pub max_batch: usize,
    /// sled page cache in MiB.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Closed decision-log segments whose file was last written longer ago
    /// than this are deleted (default five years, compliance-rules §7.2);
    /// "off" (None): every decision is kept.
    #[serde(default = "default_decision_log_retention", deserialize_with = "types::off_or_duration")]
    pub decision_log_retention: Option<HumanDuration>,
    /// Memory (MiB) for every number's consent; past it, reads go to sled.
    #[serde(default = "default_index_mib")]
    pub consent_index_mib: u64,
    /// Free disk (MiB) kept for revocations: when the store's filesystem is
    /// down to it, only opt-outs are written (0: no reserve).
    #[serde(default = "default_reserved_disk_mib")]
    pub reserved_disk_mib: u64,
    /// File holding the key (at least 32 bytes) that authenticates backups
    /// (HMAC-SHA256). Absent: backups carry a plain checksum, which anyone
    /// who can edit them can fix, and `restore` wants `--unauthenticated`.
    #[serde(default)]
    pub backup_key_file: Option<std::path::PathBuf>,
    /// How long a CheckMessage idempotency_key is kept: a retry within it
    /// gets the first answer back. At least (and by default) 24h.
    #[serde(default = "default_idempotency_window", deserialize_with = "types::at_least_a_day")]
    pub idempotency_window: HumanDuration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            durability: Durability::Group,
            max_batch: default_batch(),
            cache_mib: default_cache_mib(),
            decision_log_retention: default_decision_log_retention(),
            consent_index_mib: default_index_mib(),
            reserved_disk_mib: default_reserved_disk_mib(),
            backup_key_file: None,
            idempotency_window: default_idempotency_window(),
        }
    }
}

/// Five years and a leap day: the message-log retention compliance-rules
/// §7.2 recommends, beyond the TCPA's four-year limitation period.
fn default_decision_log_retention() -> Option<HumanDuration> {
    Some(HumanDuration(std::time::Duration::from_secs(1827 * 86_400)))
}

/// About 500,000 revocations, and room for sled's own rewrites.
fn default_reserved_disk_mib() -> u64 {
    256
}

/// The shortest (and default) time a CheckMessage idempotency key is kept.
pub const MIN_IDEMPOTENCY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn default_idempotency_window() -> HumanDuration {
    HumanDuration(MIN_IDEMPOTENCY_WINDOW)
}

fn default_batch() -> usize {
    64
}

fn default_index_mib() -> u64 {
    crate::consent::DEFAULT_CONSENT_INDEX_MIB
}

fn default_cache_mib() -> u64 {
    256
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    #[default]
    Group,
    PerWrite,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub brand: String,
    pub help_reply: String,
    pub opt_out_reply: String,
    pub opt_in_reply: String,
    /// BCP 47 tag of the replies above (default "en").
    #[serde(default = "default_reply_language")]
    pub reply_language: String,
    /// Replies in other languages, by BCP 47 tag (`[tenants.<id>.replies.es]`);
    /// a text missing from one falls back to the default reply.
    #[serde(default)]
    pub replies: BTreeMap<String, LanguageReplies>,
    pub policy: PolicyConfig,
    #[serde(default)]
    pub campaigns: Vec<CampaignConfig>,
    /// Numbers with a consent state this tenant may hold; past it, grants
    /// for new numbers are refused (revocations never are).
    #[serde(default = "default_max_numbers")]
    pub max_numbers: u64,
    /// MiB of consent events this tenant may hold; past it, grants are
    /// refused (revocations never are).
    #[serde(default = "default_max_ledger_mib")]
    pub max_ledger_mib: u64,
}

fn default_max_numbers() -> u64 {
    1_000_000
}

fn default_max_ledger_mib() -> u64 {
    1024
}

fn default_reply_language() -> String {
    "en".into()
}

/// One language's replies; each may be left out (the default reply is sent).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageReplies {
    pub help_reply: Option<String>,
    pub opt_out_reply: Option<String>,
    pub opt_in_reply: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub conversation_window: HumanDuration,
    pub disclosure_interval: HumanDuration,
    pub opt_out_notice: String,
    pub quiet_hours: QuietHours,
    /// Apply the rule pack's state windows and caps (FL, OK, MD, CT, TX, VA, WA).
    #[serde(default = "yes")]
    pub state_rules: bool,
    /// Quiet hours also hold for replies inside an open conversation.
    #[serde(default)]
    pub quiet_hours_conversational: bool,
    /// How long an ambiguous inbound text ("not interested", "how did you get
    /// my number") holds automated and promotional sends when no agent
    /// resolves it (compliance-rules §2.9 class B: about 24 hours).
    #[serde(default = "default_review_hold")]
    pub review_hold: HumanDuration,
    /// A business-initiated message resting on consent older than this needs
    /// a Reassigned Numbers Database answer in the current monthly cycle
    /// (compliance-rules §7.3: "older than about 30 days").
    #[serde(default = "default_rnd_check_after")]
    pub rnd_check_after: HumanDuration,
    /// Without that answer: DENY (`RND_CHECK_DUE`) instead of a warning.
    #[serde(default)]
    pub rnd_check_required: bool,
}

fn default_review_hold() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(24 * 3600))
}

fn default_rnd_check_after() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30 * 86400))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Start of the allowed sending window, recipient local time.
    pub start: TimeOfDay,
    /// End of the allowed sending window (exclusive).
    pub end: TimeOfDay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    pub id: String,
    /// TCR use case, e.g. "UCAAS_LOW", "CHARITY", "MARKETING".
    pub use_case: String,
    pub category: crate::domain::Category,
    pub senders: Vec<E164>,
    #[serde(default)]
    pub embedded_links: bool,
    #[serde(default)]
    pub link_domains: Vec<String>,
    #[serde(default)]
    pub embedded_phone: bool,
    /// Restricted content categories this campaign is registered (and age-gated)
    /// for, e.g. ["alcohol"]; ids from the content rule pack.
    #[serde(default)]
    pub allowed_content: Vec<String>,
}

/// A sender number that must be written in strict E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E164(pub PhoneNumber);

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::parse_e164(&s).map(E164).map_err(|e| serde::de::Error::custom(format!("sender {s:?} {e}")))
    }
}

impl Config {
    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let origin = match inner.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{origin}:{line}:{col}")
                }
                None => origin.to_string(),
            };
            // The TOML parser gives no message for some errors, such as a
            // control character in a comment.
            let why = match inner.message() {
                "" => "not valid TOML here (a control or stray character?)",
                m => m,
            };
            let message = if key.is_empty() || key == "." { why.to_string() } else { format!("`{key}`: {why}") };
            ConfigError { origin, message }
        })?;
        let mut config = config;
        config.version = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..6]);
        validate::check(&config).map_err(|message| ConfigError { origin: origin.to_string(), message })?;
        Ok(config)
    }

    /// Reads and parses a file, adds the tokens of `auth.tokens_file`, and
    /// checks the files it names (`[server.tls]`, `[cluster]`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError { origin: origin.clone(), message: format!("cannot read: {e}") })?;
        let mut config = Config::parse(&text, &origin)?;
        if let Some(file) = config.auth.tokens_file.clone() {
            let from_file = token::read_tokens_file(&file)?;
            token::merge(&mut config.auth.tokens, from_file, &file)?;
            validate::check(&config).map_err(|message| ConfigError { origin: origin.clone(), message })?;
        }
        if let Some(tls) = &config.server.tls {
            tls.read().map_err(|message| ConfigError { origin: origin.clone(), message })?;
        }
        if let Some(cluster) = &config.cluster {
            cluster.check_files().map_err(|message| ConfigError { origin: origin.clone(), message })?;
        }
        if let Some(path) = &config.ledger.backup_key_file {
            check_backup_key(path).map_err(|message| ConfigError { origin, message })?;
        }
        Ok(config)
    }

    /// What is allowed but unwise in this configuration, one line each
    /// (`check-config` prints them).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.ledger.backup_key_file.is_none() {
            out.push(
                "`ledger.backup_key_file` is not set: backups carry a plain checksum that anyone who can edit them \
                 can fix, and restore accepts them only with --unauthenticated"
                    .to_string(),
            );
        }
        out
    }

    /// The built-in demo configuration (the example file).
    pub fn demo() -> Config {
        Config::parse(DEMO_TOML, "<built-in demo>").expect("the built-in demo config is valid")
    }
}

/// The backup key file can be read and holds a long enough key.
fn check_backup_key(path: &Path) -> Result<(), String> {
    let key =
        std::fs::read(path).map_err(|e| format!("`ledger.backup_key_file`: cannot read {}: {e}", path.display()))?;
    if key.trim_ascii().len() < 32 {
        return Err(format!("`ledger.backup_key_file`: {} holds fewer than 32 bytes of key", path.display()));
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
