//! Black-box tests: the real server on 127.0.0.1:0, the generated client.
//! Silent unless TEST_LOG is set.

mod bad_input;
mod browser;
mod cli;
mod consent;
mod console;
mod console_reports;
mod crash;
mod damaged_store;
mod decisions;
mod deploy_backup;
mod disk;
mod exhaustion;
mod exposure;
mod ghz;
mod helpers;
mod history;
mod idempotency;
mod import;
mod inbound;
mod inbound_holds;
mod jaeger;
mod ledger_ops;
mod metrics;
mod overload;
mod privacy;
mod process;
mod prometheus;
mod quotas;
mod rnd;
mod scheduled;
mod service;
mod store_layout;
mod tenants;
mod tls;
mod tracing_export;
