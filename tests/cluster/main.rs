//! Cluster mode's transport against a real three-node NATS JetStream
//! cluster on 127.0.0.1 (started per test). Each test skips with a notice
//! when nats-server is missing, unless TEXTGATE_REQUIRE_EXTERNAL=1.

mod log;
mod nats;
