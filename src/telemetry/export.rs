//! The OTLP trace pipeline: spans leave through a batch processor on its own
//! thread, so a slow or absent collector never blocks or fails a request; the
//! SDK logs export errors (target `opentelemetry_sdk`) and drops spans when
//! its queue is full.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::config::TelemetryConfig;

/// How long one export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why trace export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("telemetry.otlp_endpoint {endpoint:?}: {source}")]
pub struct ExportError {
    endpoint: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Builds the tracer provider for `otlp_endpoint` (OTLP over gRPC). Must run
/// inside the Tokio runtime: the exporter's channel lives on it.
pub fn provider(config: &TelemetryConfig, endpoint: &str) -> Result<SdkTracerProvider, ExportError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|source| ExportError { endpoint: endpoint.to_string(), source })?;
    let resource = Resource::builder()
        .with_service_name(config.service_name().to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio)));
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_sampler(sampler).with_resource(resource).build())
}

/// The tracer textgate's spans are exported through.
pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer("textgate")
}

/// Exports what is queued and stops the exporter. Blocks up to the export
/// timeout, so it runs off the async worker threads.
pub async fn shutdown(provider: SdkTracerProvider) {
    let done = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(EXPORT_TIMEOUT * 2)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "trace export did not shut down cleanly; recent spans may be lost"),
        Err(e) => tracing::warn!(error = %e, "trace exporter shutdown task failed"),
    }
}
