//! Cluster mode against a real three-node NATS JetStream cluster on
//! 127.0.0.1 (started per test): the transport (`log`), real textgate
//! binaries sharing one ledger (`instances`), a crash loop of SIGKILLs
//! (`crash_loop`), a bulk import through one instance (`import`), review
//! holds and wrong-number reports across instances (`inbound_holds`), and
//! `textgate verify` against the stream (`verify`).
//! Each test skips with a notice when nats-server is missing, unless
//! TEXTGATE_REQUIRE_EXTERNAL=1.

mod crash_loop;
mod import;
mod inbound_holds;
mod instances;
mod log;
mod nats;
mod verify;

// The black-box helpers of tests/api, shared rather than copied; each test
// binary uses a part of them.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/process.rs"]
mod process;
