//! `[server]`: where textgate listens and keeps its store, and the bounds
//! that keep any one client from exhausting it (README "Errors and limits").

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{HumanDuration, TlsConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// HTTP admin endpoint (/metrics, /healthz, /readyz).
    pub admin_listen: Option<SocketAddr>,
    /// The compliance console (read-only HTML; `console`). Absent: off.
    /// Plain HTTP: beyond loopback only with `allow_plaintext` (a proxy in
    /// front terminates TLS), and its session cookies are then `Secure`.
    pub console_listen: Option<SocketAddr>,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// How long a shutdown waits for in-flight calls before closing connections.
    #[serde(default = "default_grace")]
    pub shutdown_grace: HumanDuration,
    /// `[server.tls]`: serve gRPC over TLS (mTLS with `client_ca_file`).
    pub tls: Option<TlsConfig>,
    /// Listen beyond loopback without `[server.tls]`, because a proxy or
    /// service mesh in front terminates TLS (see `config::exposure`).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Calls of one RPC method served at once; more are refused with
    /// RESOURCE_EXHAUSTED (load shedding).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Calls one caller (one credential) may have in flight, all methods
    /// together; more are refused with RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_in_flight_per_client")]
    pub max_in_flight_per_client: u32,
    /// How long a stream's answer waits for its client to take it before
    /// the stream ends (ListConsentEvents, CheckMessages).
    #[serde(default = "default_stream_send_timeout")]
    pub stream_send_timeout: HumanDuration,
    /// How long a unary request's body may take to arrive whole.
    #[serde(default = "default_request_body_timeout")]
    pub request_body_timeout: HumanDuration,
    /// Open gRPC connections; more are closed as they arrive. Keep it well
    /// under the process's open-file limit (README "Limits").
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Open admin-endpoint connections; more are closed as they arrive.
    #[serde(default = "default_admin_max_connections")]
    pub admin_max_connections: u32,
    /// An admin connection with no byte read or written for this long is
    /// closed (a half-sent request, an idle keep-alive).
    #[serde(default = "default_admin_idle_timeout")]
    pub admin_idle_timeout: HumanDuration,
    /// HTTP/2 streams (calls) one connection may hold open at once.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// HTTP/2 PING sent on a connection this long silent; one left
    /// unanswered for `keepalive_timeout` closes the connection.
    #[serde(default = "default_keepalive_interval")]
    pub keepalive_interval: HumanDuration,
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            admin_listen: None,
            console_listen: None,
            data_dir: default_data_dir(),
            shutdown_grace: default_grace(),
            tls: None,
            allow_plaintext: false,
            max_in_flight: default_max_in_flight(),
            max_in_flight_per_client: default_max_in_flight_per_client(),
            request_body_timeout: default_request_body_timeout(),
            stream_send_timeout: default_stream_send_timeout(),
            max_connections: default_max_connections(),
            admin_max_connections: default_admin_max_connections(),
            admin_idle_timeout: default_admin_idle_timeout(),
            max_concurrent_streams: default_max_concurrent_streams(),
            keepalive_interval: default_keepalive_interval(),
            keepalive_timeout: default_keepalive_timeout(),
        }
    }
}

fn default_max_in_flight() -> u32 {
    1024
}

fn default_max_in_flight_per_client() -> u32 {
    256
}

fn default_stream_send_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_request_body_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_max_connections() -> u32 {
    512
}

fn default_admin_max_connections() -> u32 {
    32
}

fn default_admin_idle_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_max_concurrent_streams() -> u32 {
    128
}

fn default_keepalive_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_keepalive_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

fn default_grace() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
