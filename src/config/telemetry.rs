//! The `[telemetry]` section: where traces go, how they are sampled, how logs
//! look, and the key that hides phone numbers in both.
//!
//! The standard `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME`
//! variables fill the keys the file leaves unset. The command line reads them
//! (the edge) and hands them to [`TelemetryConfig::with_env`], so this code
//! never touches the process environment.

use serde::Deserialize;

/// Tracing export and log format. Every key is optional; without
/// `otlp_endpoint` nothing is exported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. "http://127.0.0.1:4317". Absent: export off.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported spans. Absent: `OTEL_SERVICE_NAME`, else "textgate".
    pub service_name: Option<String>,
    /// Share of new traces kept (0.0 to 1.0). Calls that carry a sampled
    /// `traceparent` follow their caller's decision (parent-based).
    #[serde(default = "one")]
    pub sampling_ratio: f64,
    /// Log line format on stderr; `--log-json` forces json.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Key of the phone-number hash in spans and logs (at least 16
    /// characters). Absent: a random key per process, so hashes match only
    /// within one run. A secret, like the auth tokens.
    pub phone_hash_key: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: None,
            sampling_ratio: one(),
            log_format: LogFormat::default(),
            phone_hash_key: None,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// The standard OpenTelemetry variables, as read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtelEnv {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`
    pub service_name: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: only `grpc` is spoken; anything else
    /// is refused rather than silently sent over gRPC.
    pub otlp_protocol: Option<String>,
}

/// The service name when neither the file nor the environment gives one.
pub const DEFAULT_SERVICE_NAME: &str = "textgate";

/// Shortest `phone_hash_key` accepted.
pub const MIN_HASH_KEY_LEN: usize = 16;

impl TelemetryConfig {
    /// Fills keys the file left unset from the environment (empty values
    /// count as unset, as the OpenTelemetry spec says), then validates.
    pub fn with_env(mut self, env: &OtelEnv) -> Result<TelemetryConfig, String> {
        let set = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
        if self.otlp_endpoint.is_none() {
            self.otlp_endpoint = set(&env.otlp_endpoint);
        }
        if self.service_name.is_none() {
            self.service_name = set(&env.service_name);
        }
        if let Some(protocol) = set(&env.otlp_protocol).filter(|p| p.trim() != "grpc") {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={protocol:?}: textgate exports OTLP over gRPC only; unset it or set it \
                 to \"grpc\" (and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's gRPC port, usually 4317)"
            ));
        }
        self.check().map_err(|e| format!("{e} (after applying OTEL_* environment variables)"))?;
        Ok(self)
    }

    /// The service name spans are exported under.
    pub fn service_name(&self) -> &str {
        self.service_name.as_deref().unwrap_or(DEFAULT_SERVICE_NAME)
    }

    /// Checks every key; errors name the key path.
    /// Every problem of the section, one per line.
    pub fn check(&self) -> Result<(), String> {
        let mut out = Vec::new();
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            out.push("`telemetry.sampling_ratio`: must be between 0 and 1".to_string());
        }
        if let Some(e) = &self.otlp_endpoint {
            if let Err(why) = check_endpoint(e) {
                out.push(format!("`telemetry.otlp_endpoint`: {why}"));
            }
        }
        if let Some(name) = &self.service_name {
            if name.trim().is_empty() || name.len() > 128 {
                out.push("`telemetry.service_name`: must be 1 to 128 characters".to_string());
            }
        }
        if let Some(key) = &self.phone_hash_key {
            if key.len() < MIN_HASH_KEY_LEN {
                out.push(format!("`telemetry.phone_hash_key`: must be at least {MIN_HASH_KEY_LEN} characters"));
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(out.join("\n"))
        }
    }
}

/// An OTLP/gRPC endpoint: `http://` or `https://`, a host, optionally a port.
fn check_endpoint(e: &str) -> Result<(), String> {
    let uri: http::Uri = e.parse().map_err(|_| format!("{e:?} is not a URL such as \"http://127.0.0.1:4317\""))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{e:?} must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{e:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<TelemetryConfig, String> {
        toml::from_str::<TelemetryConfig>(toml_text).map_err(|e| e.to_string()).and_then(|c| c.check().map(|()| c))
    }

    #[test]
    fn defaults_export_nothing() {
        let c = parse("").unwrap();
        assert_eq!(c, TelemetryConfig::default());
        assert_eq!(c.otlp_endpoint, None);
        assert_eq!(c.sampling_ratio, 1.0);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.service_name(), "textgate");
    }

    #[test]
    fn accepts_and_rejects() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("otlp_endpoint = \"http://127.0.0.1:4317\"", Ok(())),
            ("otlp_endpoint = \"https://collector.example.org\"", Ok(())),
            ("otlp_endpoint = \"127.0.0.1:4317\"", Err("telemetry.otlp_endpoint")),
            ("otlp_endpoint = \"grpc://127.0.0.1:4317\"", Err("http:// or https://")),
            ("otlp_endpoint = \"not a url\"", Err("telemetry.otlp_endpoint")),
            ("sampling_ratio = 0.0", Ok(())),
            ("sampling_ratio = 0.25", Ok(())),
            ("sampling_ratio = 1.0", Ok(())),
            ("sampling_ratio = 1.5", Err("`telemetry.sampling_ratio`: must be between 0 and 1")),
            ("sampling_ratio = -0.1", Err("`telemetry.sampling_ratio`: must be between 0 and 1")),
            ("sampling_ratio = nan", Err("telemetry.sampling_ratio")),
            ("log_format = \"json\"", Ok(())),
            ("log_format = \"pretty\"", Ok(())),
            ("log_format = \"xml\"", Err("xml")),
            ("service_name = \"textgate-eu\"", Ok(())),
            ("service_name = \" \"", Err("telemetry.service_name")),
            ("phone_hash_key = \"0123456789abcdef\"", Ok(())),
            ("phone_hash_key = \"short\"", Err("`telemetry.phone_hash_key`: must be at least 16")),
            ("otlp_endpont = \"http://127.0.0.1:4317\"", Err("otlp_endpont")),
        ];
        for (text, want) in cases {
            match (parse(text), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e:?} lacks {part:?}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn environment_fills_only_what_the_file_leaves_unset() {
        let env = OtelEnv {
            otlp_endpoint: Some("http://jaeger:4317".into()),
            service_name: Some("textgate-env".into()),
            otlp_protocol: None,
        };
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("", Some("http://jaeger:4317"), "textgate-env"),
            ("otlp_endpoint = \"http://127.0.0.1:4317\"", Some("http://127.0.0.1:4317"), "textgate-env"),
            ("service_name = \"from-file\"", Some("http://jaeger:4317"), "from-file"),
        ];
        for (text, endpoint, name) in cases {
            let c = parse(text).unwrap().with_env(&env).unwrap();
            assert_eq!(c.otlp_endpoint.as_deref(), *endpoint, "{text}");
            assert_eq!(c.service_name(), *name, "{text}");
        }
        let blank = OtelEnv { otlp_endpoint: Some(" ".into()), service_name: Some(String::new()), otlp_protocol: None };
        let c = TelemetryConfig::default().with_env(&blank).unwrap();
        assert_eq!((c.otlp_endpoint.as_deref(), c.service_name()), (None, "textgate"));
        let bad = OtelEnv { otlp_endpoint: Some("jaeger:4317".into()), ..OtelEnv::default() };
        let err = TelemetryConfig::default().with_env(&bad).unwrap_err();
        assert!(err.contains("telemetry.otlp_endpoint") && err.contains("OTEL_"), "{err}");
        for (protocol, ok) in [("grpc", true), ("", true), ("http/protobuf", false), ("http/json", false)] {
            let env = OtelEnv { otlp_protocol: Some(protocol.into()), ..OtelEnv::default() };
            let got = TelemetryConfig::default().with_env(&env);
            assert_eq!(got.is_ok(), ok, "{protocol}: {got:?}");
            if let Err(e) = got {
                assert!(e.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && e.contains("gRPC only"), "{e}");
            }
        }
    }
}
