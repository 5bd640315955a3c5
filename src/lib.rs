//! textgate: a gRPC policy decision service for business text messaging, and
//! the consent ledger its decisions rest on.
//!
//! # Layout
//!
//! - [`server`]: wiring; `serve` runs the gRPC services on a given listener.
//! - [`api`]: the tonic services, wire <-> domain conversion, auth.
//! - [`admin`]: the admin HTTP endpoint (`/metrics`, `/healthz`, `/readyz`).
//! - [`metrics`], [`observe`]: Prometheus series and the layer that meters every RPC.
//! - [`error`]: the one mapping from crate errors to gRPC statuses.
//! - [`consent`]: the sled ledger (group commit), consent state, idempotency.
//! - [`phone`]: E.164 / NANP parsing.
//! - [`config`]: the TOML model and its validation.
//! - [`cli`]: the `textgate` command line; [`ops`]: its ledger commands
//!   (verify, rebuild, backup, restore); [`snapshot`]: online backups.
//! - [`telemetry`]: logs, spans per call and stage, OTLP trace export.
//! - [`cluster`]: cluster mode's transport, the replicated log on NATS
//!   JetStream (groundwork; not wired into the server yet).

#![forbid(unsafe_code)]

// The public surface: what the binary, the black-box tests and the
// benchmarks use. Everything else is wiring inside the crate.
pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod consent;
pub mod domain;
pub mod phone;
pub mod policy;
mod replication;
pub mod telemetry;
#[doc(hidden)]
pub mod testkit;

mod admin;
mod app;
mod clock;
mod error;
mod locks;
mod metrics;
mod observe;
mod ops;
mod reload;
mod server;
mod snapshot;

pub use server::{serve, ServeOptions};
