//! Cluster mode's series, registered on the server's registry.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntGauge, Registry};

/// Publish latency buckets, seconds: JetStream with fsync on every node.
const PUBLISH_BUCKETS: &[f64] = &[0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// What an operator watches of the shared ledger.
#[derive(Clone)]
pub struct ClusterMetrics {
    applied: IntGauge,
    lag: IntGauge,
    facts: IntGauge,
    connected: IntGauge,
    publish: Histogram,
}

impl ClusterMetrics {
    pub fn register(registry: &Registry) -> ClusterMetrics {
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let publish = Histogram::with_opts(
            HistogramOpts::new("textgate_cluster_publish_seconds", "Consent writes: publish to JetStream's ack.")
                .buckets(PUBLISH_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        registry.register(Box::new(publish.clone())).expect("unique metric");
        ClusterMetrics {
            applied: gauge("textgate_cluster_applied_sequence", "Last consent-stream position applied here."),
            lag: gauge("textgate_cluster_apply_lag", "Consent-stream messages not yet applied here."),
            facts: gauge(
                "textgate_cluster_fact_sequence",
                "Last send-stream position (sends, inbound texts) applied here.",
            ),
            connected: gauge("textgate_cluster_connected", "1 while connected to a NATS server."),
            publish,
        }
    }

    pub fn published(&self, took: Duration) {
        self.publish.observe(took.as_secs_f64());
    }

    pub fn connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }

    pub fn fact_applied(&self, position: u64) {
        self.facts.set(i64::try_from(position).unwrap_or(i64::MAX));
    }

    pub fn positions(&self, applied: u64, lag: u64) {
        self.applied.set(i64::try_from(applied).unwrap_or(i64::MAX));
        self.lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
}
