//! The admin HTTP endpoint (`server.admin_listen`): `/metrics` in the
//! Prometheus text format, `/healthz` (the process is alive; 503 once the
//! ledger latched, so the orchestrator restarts it) and `/readyz` (the store
//! is open, a policy is loaded and gRPC is serving; 503 while starting or
//! shutting down, and for a latched cluster instance), and `POST /backup` (a consistent backup file,
//! to loopback clients presenting an operator token, one whose `[auth]`
//! tenant is "*"; see [`crate::snapshot`]). The other paths need no token:
//! never expose the endpoint publicly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use arc_swap::ArcSwap;

use crate::api::auth::AuthTable;
use crate::connections::AdminListener;

use crate::consent::Ledger;
use crate::metrics::{Metrics, StoreGauges};
use crate::replication::Replication;

/// What the admin endpoint reads.
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub ledger: Arc<Ledger>,
    /// The gRPC tokens, as reloaded: `POST /backup` takes an operator's.
    auth: Arc<ArcSwap<AuthTable>>,
    /// Cluster mode: whether this instance keeps up with the shared ledger.
    replication: Option<Arc<Replication>>,
    ready: AtomicBool,
    /// One backup at a time.
    backups: Arc<tokio::sync::Semaphore>,
}

impl Admin {
    pub fn new(metrics: Arc<Metrics>, ledger: Arc<Ledger>, auth: Arc<ArcSwap<AuthTable>>) -> Admin {
        Admin {
            metrics,
            ledger,
            auth,
            replication: None,
            ready: AtomicBool::new(false),
            backups: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Cluster mode: /readyz also asks whether this instance has caught up.
    pub fn with_replication(mut self, replication: Arc<Replication>) -> Admin {
        self.replication = Some(replication);
        self
    }

    /// Marks the server ready (gRPC serving) or not (starting, shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// The address an admin request came from.
#[derive(Clone, Copy, Debug)]
struct Peer(SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, AdminListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, AdminListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// Serves the admin endpoint on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: AdminListener,
    admin: Arc<Admin>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/backup", post(backup))
        .with_state(admin);
    let app = app.into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    let (index_numbers, index_serving) = admin.ledger.consent_index();
    let tenants = admin.ledger.all_usage().map(|u| u.into_iter().collect()).unwrap_or_default();
    let (disk_free, decision_log_bytes) = admin.ledger.disk_usage();
    let writable = admin.ledger.writable();
    let ready = readiness(&admin).0 == StatusCode::OK;
    let store = admin.ledger.size_on_disk().ok().map(|bytes| StoreGauges {
        bytes,
        index_numbers,
        index_serving,
        tenants,
        disk_free,
        decision_log_bytes,
        writable,
        ready,
    });
    let body = admin.metrics.render(store);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

async fn backup(
    State(admin): State<Arc<Admin>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let mut presented = headers.get_all(header::AUTHORIZATION).iter();
    let token = presented.next().and_then(|h| h.to_str().ok());
    if presented.next().is_some() || !admin.auth.load().is_operator(token) {
        let refusal = "POST /backup needs `Authorization: Bearer <token>` with a token that may act for every \
                       tenant (\"*\" in [auth] tokens)\n";
        return (StatusCode::UNAUTHORIZED, refusal).into_response();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    crate::snapshot::backup(Arc::clone(&admin.ledger), peer, host, &admin.backups).await
}

/// Liveness. A latched ledger (a write failed to reach the disk) takes no
/// consent write until the process restarts, so it asks for that restart:
/// the orchestrator does it, and decisions flow until then.
async fn healthz(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    if admin.ledger.writable() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not live: a consent write failed to reach the disk; restart textgate\n")
    }
}

async fn readyz(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    readiness(&admin)
}

/// What /readyz answers (and `textgate_ready` shows).
fn readiness(admin: &Admin) -> (StatusCode, String) {
    if !admin.ready.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, String::from("not ready: starting or shutting down\n"))
    } else if !admin.ledger.writable() && admin.replication.is_some() {
        // It cannot record an opt-out, and other instances can: leave rotation.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: a consent write failed to reach the disk; restart textgate\n".into(),
        )
    } else if !admin.ledger.writable() {
        // The only instance: decisions keep flowing (from the durable
        // consent) until /healthz has it restarted; writes answer UNAVAILABLE.
        (StatusCode::OK, "ready: deciding; consent writes refused until a restart (see /healthz)\n".into())
    } else if let Some(why) = admin.replication.as_ref().and_then(|r| r.not_ready()) {
        // It may not know every opt-out recorded elsewhere yet.
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n"))
    } else {
        (StatusCode::OK, "ready\n".into())
    }
}
