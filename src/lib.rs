//! textgate: a gRPC policy decision service for business text messaging, and
//! the consent ledger its decisions rest on.
//!
//! # Layout
//!
//! Bottom-up: a module imports only modules listed before it, except that
//! `app` takes the token table from `api::auth`. `docs/architecture.md` draws
//! the layers and the request, write and error paths through them;
//! `tests/layering.rs` enforces the layering. Modules without a link are
//! private to the crate.
//!
//! - [`phone`]: E.164 / NANP parsing, area code -> zones and states.
//!   [`clock`]: the source of "now" (tests pin it).
//! - [`domain`]: the types the engine reasons about (consent events and
//!   state, contact history, `TenantId`); imports nothing of the crate but
//!   [`phone`].
//! - [`consent`]: the sled ledger: group commit, versioned on-disk records,
//!   the in-memory consent index, the write latch, contact history, the
//!   decision log, CheckMessage idempotency keys, verify, rebuild, backup and restore.
//! - [`config`]: the TOML model and its validation (tokens, TLS, telemetry,
//!   `[cluster]`).
//! - [`policy`]: the pure decision engine: the `decide` pipeline, quiet hours
//!   and caps, content rules, the inbound classifier, the rule pack.
//! - [`cluster`]: cluster mode's transport, the replicated log on NATS
//!   JetStream (`Log`, `Replay`, versioned replicated records).
//! - `replication`: cluster mode: publishes consent writes to the log and
//!   applies the consent stream to the ledger in order.
//! - `metrics`: Prometheus series (`process_stats`: the process's own); [`telemetry`]: logs, spans per call and
//!   stage, OTLP trace export; `snapshot`: online backups.
//! - `error`: the one mapping from crate errors to gRPC statuses.
//! - `locks`: per-recipient locks (handlers and the cluster's fact applier)
//!   and per-idempotency-key locks (CheckMessage).
//! - `app`: what every handler shares (policy, ledger, auth table, locks).
//! - [`api`]: the tonic services, wire <-> domain conversion, auth;
//!   `observe`: the layer that meters every RPC and sheds load; `reload`:
//!   policy hot reload; `admin`: the admin HTTP endpoint (`/metrics`,
//!   `/healthz`, `/readyz`, `POST /backup`).
//! - `server`: wiring: `build_services` then `run`; [`serve`] is the two in a
//!   row.
//! - [`cli`]: the `textgate` command line; `ops`: its ledger commands
//!   (verify, rebuild, backup, restore); `import`: the client side of
//!   `textgate import` (CSV / JSON Lines rows streamed to ImportConsent); `rnd_load`: `rnd-load`, a
//!   client of a running server.
//! - `testkit` (hidden): test support (finding external tools); not part of
//!   the service.

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
pub mod clock;
mod connections;
mod console;
mod error;
mod import;
mod locks;
mod metrics;
mod observe;
mod ops;
mod process_stats;
mod reload;
mod rnd_load;
mod server;
mod share;
mod snapshot;

pub use server::{serve, ServeOptions};
