//! Logging and tracing setup.
//!
//! Two sinks share one `tracing` subscriber, each with its own filter:
//! - log lines on stderr, pretty or JSON, filtered by `RUST_LOG` (default
//!   `info`); events show the fields of the spans they happen in, and JSON
//!   lines the `trace_id` and `span_id` of the trace they belong to
//!   ([`json_log`]);
//! - when `telemetry.otlp_endpoint` is set, OpenTelemetry export of every
//!   textgate span and event at DEBUG and above, whatever `RUST_LOG` says.
//!
//! Spans are cheap when nobody wants them. Every per-request span (`rpc`,
//! `check`, `record_consent`, `inbound` and the pipeline stages) is DEBUG:
//! with no exporter and `RUST_LOG` at info, each costs one cached callsite
//! check, and a CheckMessage pays ~30 ns for all of them. Enabled for the log
//! sink they would cost ~3 µs per call (pretty) or ~9 µs (JSON, which
//! re-encodes a span's fields on every record), measured on this machine
//! kind; that is why they are not INFO. So log lines carry span fields when
//! `RUST_LOG` enables textgate's debug level (e.g. `info,textgate=debug`).
//! Values that take work (the phone hash, reason lists) are computed only
//! for enabled spans. Health and reflection calls get TRACE spans, which are
//! never exported.
//!
//! Phone numbers appear only as [`PhoneHasher`] hashes (`phone_hash`), message
//! bodies never. Span fields are snake_case, OpenTelemetry's own
//! (`rpc.method`, `otel.name`) keep their dotted names.

pub mod export;
pub mod json_log;
pub mod phone_hash;
pub mod rpc;

use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Span;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use export::ExportError;
pub use phone_hash::PhoneHasher;

use crate::config::{LogFormat, TelemetryConfig};
use crate::policy::Decision;

/// Logs only, no export (tests, `check-config`). Later calls do nothing.
pub fn init(json: bool, filter: Option<&str>) {
    install_subscriber(json, filter, None);
}

/// What `install` set up; call [`Telemetry::shutdown`] before exiting so the
/// last spans are exported.
#[must_use = "shut it down to export the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(p) = self.provider {
            export::shutdown(p).await;
        }
    }
}

/// Logs and, when `config.otlp_endpoint` is set, trace export. `force_json`
/// is `--log-json`; `filter` is `RUST_LOG`. Runs inside the Tokio runtime.
pub fn install(config: &TelemetryConfig, force_json: bool, filter: Option<&str>) -> Result<Telemetry, ExportError> {
    let json = force_json || config.log_format == LogFormat::Json;
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => Some(export::provider(config, endpoint)?),
        None => None,
    };
    let installed = install_subscriber(json, filter, provider.as_ref().map(export::tracer));
    if let (Some(endpoint), true) = (&config.otlp_endpoint, installed) {
        tracing::info!(
            otlp_endpoint = %endpoint,
            service_name = config.service_name(),
            sampling_ratio = config.sampling_ratio,
            "exporting traces"
        );
    }
    Ok(Telemetry { provider })
}

/// Installs the global subscriber; false when one was already there.
fn install_subscriber(json: bool, filter: Option<&str>, tracer: Option<SdkTracer>) -> bool {
    let filter = EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> =
        if json { fmt.json().event_format(json_log::JsonWithTrace::default()).boxed() } else { fmt.boxed() };
    let otel = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target("textgate", tracing::Level::DEBUG))
    });
    // Only JSON lines print trace ids, and only exported spans have them.
    let ids = (json && otel.is_some()).then_some(json_log::TraceIds);
    tracing_subscriber::registry().with(fmt.with_filter(filter)).with(otel).with(ids).try_init().is_ok()
}

/// Records `outcome`, `reason_codes` and `rule_ids` (comma-separated) on
/// `span`, for the fields it declares; nothing is formatted for a disabled
/// span.
pub fn record_decision(span: &Span, d: &Decision) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", d.outcome.label());
    if !d.reasons.is_empty() {
        let codes: Vec<&str> = d.reasons.iter().map(|r| r.code.label()).collect();
        span.record("reason_codes", codes.join(",").as_str());
        let rules: Vec<&str> = d.reasons.iter().map(|r| r.rule_id.as_str()).collect();
        span.record("rule_ids", rules.join(",").as_str());
    }
}
