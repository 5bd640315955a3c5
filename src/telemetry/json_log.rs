//! JSON log lines that carry the trace they belong to: `trace_id` and
//! `span_id` (lowercase hex, as W3C `traceparent` and every tracing backend
//! print them) on each line logged inside a span that trace export knows, so
//! a log search and a trace view lead to each other. A caller's `traceparent`
//! makes its trace id appear in textgate's log lines.
//!
//! The ids come from the OpenTelemetry layer: without `telemetry.otlp_endpoint`
//! there is no trace and the lines are tracing-subscriber's JSON unchanged.
//! The log sink's own filter hides textgate's DEBUG request spans from it, so
//! [`TraceIds`], a layer without a filter beside the OpenTelemetry one, keeps
//! the ids of the spans entered on each thread, and [`JsonWithTrace`] reads
//! the innermost: one thread-local push and pop per span entered, paid only
//! while traces are exported.

use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::{SpanId, TraceId};
use tracing::span::Id;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

thread_local! {
    /// The traced spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<(Id, TraceId, SpanId)>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the trace and span ids of the spans entered on each thread. Goes
/// after the OpenTelemetry layer, which gives a span its ids when it is
/// first entered.
pub struct TraceIds;

impl<S> Layer<S> for TraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ids = span.extensions().get::<OtelData>().and_then(|d| Some((d.trace_id()?, d.span_id()?)));
        if let Some((trace, span)) = ids {
            ENTERED.with(|e| e.borrow_mut().push((id.clone(), trace, span)));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(at) = e.iter().rposition(|(entered, ..)| entered == id) {
                e.remove(at);
            }
        });
    }
}

/// tracing-subscriber's JSON event format plus the current trace's ids.
pub struct JsonWithTrace {
    inner: Format<Json>,
}

impl Default for JsonWithTrace {
    fn default() -> Self {
        JsonWithTrace { inner: Format::default().json() }
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let current = ENTERED.with(|e| e.borrow().last().map(|(_, trace, span)| (*trace, *span)));
        match (current, line.rfind('}')) {
            (Some((trace, span)), Some(end)) => {
                writer.write_str(&line[..end])?;
                write!(writer, ",\"trace_id\":\"{trace}\",\"span_id\":\"{span}\"")?;
                writer.write_str(&line[end..])
            }
            _ => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(with_tracer: bool, log: impl FnOnce() -> Option<String>) -> (Vec<serde_json::Value>, Option<String>) {
        let out = Lines::default();
        let sink = out.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .event_format(JsonWithTrace::default())
            .with_writer(move || sink.clone())
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        let provider = SdkTracerProvider::builder().build();
        let otel = with_tracer.then(|| tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let ids = with_tracer.then_some(TraceIds);
        let subscriber = tracing_subscriber::registry().with(fmt).with(otel).with(ids);
        let expected = tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        (text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect(), expected)
    }

    #[test]
    fn a_line_inside_a_traced_span_carries_its_trace_and_span_ids() {
        let (lines, expected) = logged(true, || {
            // DEBUG, as textgate's request spans: hidden from the log sink's filter.
            let span = tracing::debug_span!("rpc", method = "RecordConsent");
            let _in = span.enter();
            tracing::warn!(code = 7, "consent store error");
            let cx = span.context();
            let sc = cx.span().span_context().clone();
            Some(format!("{} {}", sc.trace_id(), sc.span_id()))
        });
        let [line] = &lines[..] else { panic!("one line: {lines:?}") };
        let got = format!("{} {}", line["trace_id"].as_str().unwrap(), line["span_id"].as_str().unwrap());
        assert_eq!(Some(got), expected);
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
        assert_eq!(line["fields"]["message"], "consent store error", "the usual JSON fields stay: {line}");
    }

    #[test]
    fn lines_outside_a_span_or_without_trace_export_have_no_ids() {
        let (lines, _) = logged(true, || {
            tracing::info!("serving");
            None
        });
        let (untraced, _) = logged(false, || {
            let _in = tracing::info_span!("rpc").entered();
            tracing::info!("inside a span nobody exports");
            None
        });
        for line in lines.iter().chain(&untraced) {
            assert!(line.get("trace_id").is_none() && line.get("span_id").is_none(), "{line}");
            assert!(line["fields"]["message"].is_string(), "{line}");
        }
        assert_eq!((lines.len(), untraced.len()), (1, 1));
    }
}
