//! Prometheus metrics. One [`Metrics`] per server (its own registry, so tests
//! can run several servers in one process), rendered in the text format on
//! the admin port's `/metrics`.
//!
//! The names and labels are a contract with `deploy/` (dashboard, alert
//! rules, `tools/validate-deploy`): change them together. Labels never carry a
//! phone number or a message body; `tenant` is a configured tenant id.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::policy::{Outcome, ReasonCode};

/// RPC latency buckets, seconds: fine around the 1–5 ms the alerts watch.
const RPC_BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Group-commit batch sizes.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// fsync latency buckets, seconds.
const FLUSH_BUCKETS: &[f64] = &[0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The store's state, read at scrape time.
pub struct StoreGauges {
    /// sled's size on disk.
    pub bytes: u64,
    pub index_numbers: usize,
    pub index_serving: bool,
    /// Per tenant: numbers with a consent state, bytes of consent events
    /// (what its quotas count).
    pub tenants: Vec<(String, crate::consent::usage::Usage)>,
    /// Free bytes of the store's filesystem (None: unknown).
    pub disk_free: Option<u64>,
    /// Bytes of the decision log's segment files.
    pub decision_log_bytes: u64,
    /// False once a write failed to reach the disk (the ledger latched).
    pub writable: bool,
    /// Whether /readyz answers 200 (the instance takes traffic).
    pub ready: bool,
}

/// Every series textgate exports.
pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    rpc_duration: HistogramVec,
    rpc_errors: IntCounterVec,
    rpc_in_flight: IntGaugeVec,
    shed: IntCounterVec,
    ledger_events: IntCounterVec,
    ledger_size: IntGauge,
    index_numbers: IntGauge,
    index_serving: IntGauge,
    disk_free: IntGauge,
    decision_log_bytes: IntGauge,
    writable: IntGauge,
    ready: IntGauge,
    tenant_numbers: IntGaugeVec,
    tenant_ledger_bytes: IntGaugeVec,
    process: crate::process_stats::ProcessGauges,
    commit_batch: Histogram,
    flush_duration: Histogram,
    policy_info: IntGaugeVec,
    reloads: IntCounterVec,
    reload_failing: IntGauge,
    inbound: IntCounterVec,
    replays: IntCounterVec,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    // Long: one registration per series, in the order /metrics lists them;
    // splitting it would only scatter the list.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(opts(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(opts(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let rpc_duration = HistogramVec::new(
            HistogramOpts::new("textgate_rpc_duration_seconds", "Time from request to the end of the response.")
                .buckets(RPC_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        registry.register(Box::new(rpc_duration.clone())).expect("unique metric");
        let ledger_size =
            IntGauge::new("textgate_ledger_size_bytes", "Size of the sled store on disk.").expect("valid");
        registry.register(Box::new(ledger_size.clone())).expect("unique metric");
        let plain_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let m = Metrics {
            decisions: counter(
                "textgate_decisions_total",
                "CheckMessage decisions by outcome and first reason (none when there is no reason).",
                &["tenant", "outcome", "reason"],
            ),
            rpc_duration,
            rpc_errors: counter(
                "textgate_rpc_errors_total",
                "RPCs that ended with a non-OK gRPC status, by status code name.",
                &["method", "code"],
            ),
            rpc_in_flight: gauge("textgate_rpc_in_flight", "RPCs being served now.", &["method"]),
            shed: counter(
                "textgate_requests_shed_total",
                "Requests refused with RESOURCE_EXHAUSTED because the RPC was at its concurrency limit.",
                &["method"],
            ),
            ledger_events: counter(
                "textgate_ledger_events_total",
                "Consent events appended to the ledger (duplicates excluded).",
                &["tenant"],
            ),
            ledger_size,
            index_numbers: plain_gauge(
                "textgate_consent_index_numbers",
                "Numbers whose consent is held in memory.",
            ),
            index_serving: plain_gauge(
                "textgate_consent_index_serving",
                "1 when the in-memory consent index answers every read (loaded, within its limit); 0 while it loads or when it is off.",
            ),
            disk_free: plain_gauge(
                "textgate_store_disk_free_bytes",
                "Free bytes of the filesystem holding the data directory (sled and the decision log).",
            ),
            decision_log_bytes: plain_gauge(
                "textgate_decision_log_bytes",
                "Bytes of the decision log's segment files (textgate_ledger_size_bytes is sled's part).",
            ),
            writable: plain_gauge(
                "textgate_ledger_writable",
                "1 while consent writes are accepted; 0 once one failed to reach the disk (restart textgate).",
            ),
            ready: plain_gauge(
                "textgate_ready",
                "1 while /readyz answers 200 (the instance takes traffic); 0 while starting, catching up (cluster) or latched in a cluster.",
            ),
            process: crate::process_stats::ProcessGauges::register(&registry),
            tenant_numbers: gauge(
                "textgate_tenant_numbers",
                "Numbers with a consent state, per tenant (its quota: tenants.<id>.max_numbers).",
                &["tenant"],
            ),
            tenant_ledger_bytes: gauge(
                "textgate_tenant_ledger_bytes",
                "Bytes of consent events, per tenant (its quota: tenants.<id>.max_ledger_mib).",
                &["tenant"],
            ),
            commit_batch: histogram(
                "textgate_ledger_commit_batch_size",
                "Writes covered by one group commit (one fsync).",
                BATCH_BUCKETS,
            ),
            flush_duration: histogram(
                "textgate_ledger_flush_duration_seconds",
                "Time of one ledger fsync.",
                FLUSH_BUCKETS,
            ),
            policy_info: gauge("textgate_policy_info", "1 for the policy version in force.", &["version"]),
            reloads: counter("textgate_policy_reloads_total", "Policy reloads by result (ok, error).", &["result"]),
            reload_failing: plain_gauge(
                "textgate_policy_reload_failing",
                "1 while the config file on disk fails to load (the last reload failed; the previous policy serves); 0 after a good one.",
            ),
            inbound: counter("textgate_inbound_total", "Inbound messages by classified intent.", &["tenant", "intent"]),
            replays: counter(
                "textgate_idempotent_replays_total",
                "CheckMessage retries answered with the answer stored under their idempotency_key (not decided again).",
                &["tenant"],
            ),
            registry,
        };
        for result in ["ok", "error"] {
            m.reloads.with_label_values(&[result]);
        }
        m
    }

    /// Counts one decision.
    pub fn decision(&self, tenant: &str, outcome: Outcome, first_reason: Option<ReasonCode>) {
        let reason = first_reason.map_or("none", ReasonCode::label);
        self.decisions.with_label_values(&[tenant, outcome.label(), reason]).inc();
    }

    /// Counts one classified inbound message.
    pub fn inbound(&self, tenant: &str, intent: &str) {
        self.inbound.with_label_values(&[tenant, intent]).inc();
    }

    /// Counts one keyed CheckMessage answered from its stored answer.
    pub fn idempotent_replay(&self, tenant: &str) {
        self.replays.with_label_values(&[tenant]).inc();
    }

    /// Counts events newly appended to a tenant's ledger.
    pub fn ledger_event(&self, tenant: &str) {
        self.ledger_events.with_label_values(&[tenant]).inc();
    }

    /// Records one group commit: its size and its fsync time.
    pub fn commit(&self, batch: usize, flush: Duration) {
        self.commit_batch.observe(batch as f64);
        self.flush_duration.observe(flush.as_secs_f64());
    }

    /// Marks `version` as the policy in force.
    pub fn policy_installed(&self, version: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[version]).set(1);
    }

    /// Counts a reload attempt.
    pub fn reload(&self, ok: bool) {
        self.reloads.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
        self.reload_failing.set(i64::from(!ok));
    }

    /// Reload failures so far.
    pub fn reload_failures(&self) -> u64 {
        self.reloads.with_label_values(&["error"]).get()
    }

    /// Counts a request refused for overload.
    pub fn shed(&self, method: &str) {
        self.shed.with_label_values(&[method]).inc();
    }

    /// Handles for one RPC method, resolved once so the per-call cost is a few
    /// atomic operations.
    pub fn rpc(&self, method: &str) -> RpcMetrics {
        // Export the method's shed counter from the start (at 0), so rate() and
        // the alert see a series before the first shed.
        self.shed.with_label_values(&[method]);
        RpcMetrics {
            method: method.to_string(),
            duration: self.rpc_duration.with_label_values(&[method]),
            in_flight: self.rpc_in_flight.with_label_values(&[method]),
            errors: self.rpc_errors.clone(),
        }
    }

    /// The text exposition, with the store's gauges read now.
    /// For series defined next to what they measure (cluster mode's).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self, store: Option<StoreGauges>) -> String {
        if let Some(s) = store {
            self.ledger_size.set(i64::try_from(s.bytes).unwrap_or(i64::MAX));
            self.index_numbers.set(i64::try_from(s.index_numbers).unwrap_or(i64::MAX));
            self.index_serving.set(i64::from(s.index_serving));
            if let Some(free) = s.disk_free {
                self.disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
            }
            self.decision_log_bytes.set(i64::try_from(s.decision_log_bytes).unwrap_or(i64::MAX));
            self.writable.set(i64::from(s.writable));
            self.ready.set(i64::from(s.ready));
            for (tenant, u) in &s.tenants {
                self.tenant_numbers.with_label_values(&[tenant]).set(i64::try_from(u.numbers).unwrap_or(i64::MAX));
                let bytes = i64::try_from(u.event_bytes).unwrap_or(i64::MAX);
                self.tenant_ledger_bytes.with_label_values(&[tenant]).set(bytes);
            }
        }
        self.process.set(crate::process_stats::ProcessStats::read());
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl crate::consent::CommitObserver for Metrics {
    fn committed(&self, batch: usize, flush: Duration) {
        self.commit(batch, flush);
    }
    fn appended(&self, tenant: &str) {
        self.ledger_event(tenant);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The series of one RPC method.
#[derive(Clone)]
pub struct RpcMetrics {
    method: String,
    duration: Histogram,
    in_flight: IntGauge,
    errors: IntCounterVec,
}

impl RpcMetrics {
    /// Calls of this method being served now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Starts timing one call; the returned guard ends it.
    pub fn start(&self) -> RpcTimer {
        self.in_flight.inc();
        RpcTimer { rpc: self.clone(), started: Instant::now(), done: false }
    }
}

/// One call in flight. [`RpcTimer::finish`] records its status; dropping it
/// unfinished records the call as CANCELLED (the client went away).
pub struct RpcTimer {
    rpc: RpcMetrics,
    started: Instant,
    done: bool,
}

impl RpcTimer {
    /// Records the end of the call with its gRPC status code (0 = OK).
    pub fn finish(&mut self, code: tonic::Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.rpc.in_flight.dec();
        self.rpc.duration.observe(self.started.elapsed().as_secs_f64());
        if code != tonic::Code::Ok {
            self.rpc.errors.with_label_values(&[self.rpc.method.as_str(), code_name(code)]).inc();
        }
    }
}

impl Drop for RpcTimer {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

/// The canonical upper-case gRPC code name, as the alert rules expect.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
