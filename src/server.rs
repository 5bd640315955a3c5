//! Wiring: [`build_services`] opens the ledger and builds the gRPC services;
//! [`run`] serves them on a listener the caller bound (tests bind
//! 127.0.0.1:0) until shutdown. [`serve`] is the two in a row.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::Router;
use tonic::transport::{Certificate, Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tower_layer::{Identity, Stack};

use crate::admin::Admin;
use crate::api::auth::Authenticator;
use crate::api::pb::policy_service_server::PolicyServiceServer;
use crate::api::{limits, PolicyApi, FILE_DESCRIPTOR_SET};
use crate::app::App;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, Durability};
use crate::connections::{AdminListener, Bounds, Incoming};
use crate::consent::backup_key::BackupKey;
use crate::consent::{CommitObserver, ConsentError, Ledger, LedgerOptions};
use crate::metrics::Metrics;
use crate::observe::{Admission, ObserveLayer};
use crate::policy::RulePack;
use crate::replication::{ClusterMetrics, Parts, Replication};
use crate::telemetry::rpc::RpcTraceLayer;

/// HTTP/2 receive windows (bytes): per connection, and per stream.
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
const STREAM_WINDOW: u32 = 1024 * 1024;

/// Everything `serve` needs besides the listener.
pub struct ServeOptions {
    pub config: Config,
    /// The file the config came from; watched for changes (and SIGHUP) to reload.
    pub config_path: Option<std::path::PathBuf>,
    pub clock: SharedClock,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (bound by the caller,
    /// usually from `server.admin_listen`); None = no admin endpoint.
    pub admin_listener: Option<TcpListener>,
    /// Where to serve the compliance console (usually from
    /// `server.console_listen`); None = no console.
    pub console_listener: Option<TcpListener>,
}

impl ServeOptions {
    pub fn new(config: Config) -> Self {
        ServeOptions {
            config,
            config_path: None,
            clock: Arc::new(SystemClock),
            admin_listener: None,
            console_listener: None,
        }
    }
}

/// Why the server could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error(transparent)]
    Ledger(#[from] ConsentError),
    #[error("policy: {0}")]
    Policy(String),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("{0}")]
    Tls(String),
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
}

/// tonic's TLS settings from `[server.tls]`: the files are read (again) now.
fn server_tls(config: &crate::config::TlsConfig) -> Result<ServerTlsConfig, ServeError> {
    let files = config.read().map_err(ServeError::Tls)?;
    tracing::info!(client_auth = files.client_ca.is_some(), "gRPC over TLS");
    let tls = ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(&files.cert, &files.key))
        .timeout(std::time::Duration::from_secs(10));
    Ok(match files.client_ca {
        Some(ca) => tls.client_ca_root(Certificate::from_pem(ca)),
        None => tls,
    })
}

/// The ledger options a configuration asks for.
pub fn ledger_options(config: &Config) -> LedgerOptions {
    let max_batch = match config.ledger.durability {
        Durability::Group => config.ledger.max_batch,
        Durability::PerWrite => 1,
    };
    LedgerOptions {
        max_batch,
        cache_bytes: config.ledger.cache_mib * 1024 * 1024,
        decision_log_retention: config.ledger.decision_log_retention.map(|r| r.0),
        consent_index_bytes: usize::try_from(config.ledger.consent_index_mib.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        reserved_disk_bytes: config.ledger.reserved_disk_mib.saturating_mul(1024 * 1024),
        ..LedgerOptions::default()
    }
}

/// Server reflection, v1 and v1alpha: the policy service, health, and the
/// google.rpc types (ErrorInfo, BadRequest, RetryInfo), so a client like
/// grpcurl can decode the error details.
fn reflection_services() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = builder().build_v1()?.max_decoding_message_size(limits::MAX_REFLECTION_BYTES);
    let v1alpha = builder().build_v1alpha()?.max_decoding_message_size(limits::MAX_REFLECTION_BYTES);
    Ok((v1, v1alpha))
}

/// gRPC health mirrors `/healthz`: once the ledger latched (a write failed
/// to reach the disk; only a restart clears it) the server's overall status
/// (service "") turns NOT_SERVING, so a gRPC liveness probe restarts it too.
/// The policy service keeps its status: decisions go on until then.
async fn watch_latch(health: HealthReporter, ledger: Arc<Ledger>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if !ledger.writable() {
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            return;
        }
    }
}

/// Starts the admin endpoint, if a listener was given; it runs until `stop` fires.
fn spawn_admin(
    listener: Option<TcpListener>,
    bounds: Bounds,
    admin: &Arc<Admin>,
    stop: oneshot::Receiver<()>,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = listener?;
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let max = usize::try_from(bounds.max).unwrap_or(usize::MAX);
    let listener = AdminListener::new(listener, max, bounds.first_bytes_within);
    tracing::info!(admin_addr = %addr, "admin endpoint serving /metrics /healthz /readyz");
    let admin = Arc::clone(admin);
    Some(tokio::spawn(async move {
        if let Err(e) = crate::admin::serve(listener, admin, async move { stop.await.unwrap_or(()) }).await {
            tracing::error!(error = %e, "admin endpoint failed");
        }
    }))
}

/// Starts the compliance console, if a listener was given; it runs until
/// `stop` fires. Its connections are bounded like the admin endpoint's.
fn spawn_console(
    listener: Option<TcpListener>,
    bounds: Bounds,
    app: &Arc<App>,
    stop: oneshot::Receiver<()>,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = listener?;
    let addr = listener.local_addr().ok()?;
    let max = usize::try_from(bounds.max).unwrap_or(usize::MAX);
    let listener = AdminListener::new(listener, max, bounds.first_bytes_within);
    tracing::info!(console_addr = %addr, "compliance console serving");
    let console = crate::console::Console::new(Arc::clone(app), addr);
    Some(tokio::spawn(async move {
        if let Err(e) = crate::console::serve(listener, console, async move { stop.await.unwrap_or(()) }).await {
            tracing::error!(error = %e, "compliance console failed");
        }
    }))
}

/// The tower layers every gRPC call passes through, outermost last.
type Layers = Stack<ObserveLayer, Stack<RpcTraceLayer, Identity>>;

/// The gRPC services and what they run on, built and not yet serving.
pub struct Services {
    router: Router<Layers>,
    health: HealthReporter,
    app: Arc<App>,
    ledger: Arc<Ledger>,
    admin: Arc<Admin>,
    admin_listener: Option<TcpListener>,
    console_listener: Option<TcpListener>,
    config_path: Option<std::path::PathBuf>,
    /// How long in-flight calls may take once shutdown starts.
    grace: std::time::Duration,
    /// Open gRPC connections at most, and how soon each must speak.
    connections: Bounds,
    /// Open admin connections at most, and how long each may stay silent.
    admin_bounds: Bounds,
}

/// Serves until `shutdown` resolves, then finishes in-flight calls, drains the
/// ledger's queue and flushes it before returning.
pub async fn serve(
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    run(build_services(opts).await?, listener, shutdown).await
}

/// Opens the ledger and builds the services `opts` describes: the policy API
/// behind authentication, health and reflection. Nothing listens yet.
pub async fn build_services(opts: ServeOptions) -> Result<Services, ServeError> {
    let dir = opts.config.server.data_dir.clone();
    // HTTP/2 flow-control windows. Besides throughput, the connection window
    // sets h2's budget for buffered small DATA frames: at the 64 KiB default,
    // a few dozen CheckMessages streams that each send their messages ahead
    // of the answers exhaust it, and h2 closes the whole connection with
    // GOAWAY ENHANCE_YOUR_CALM ("too_many_data_frames").
    let bounds = &opts.config.server;
    let mut builder = Server::builder()
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW)
        .max_concurrent_streams(bounds.max_concurrent_streams)
        .http2_keepalive_interval(Some(bounds.keepalive_interval.0))
        .http2_keepalive_timeout(Some(bounds.keepalive_timeout.0));
    if let Some(tls) = &opts.config.server.tls {
        builder = builder.tls_config(server_tls(tls)?).map_err(|e| ServeError::Tls(format!("`server.tls`: {e}")))?;
    }
    let grace = opts.config.server.shutdown_grace.0;
    let admission = Admission {
        max_in_flight: bounds.max_in_flight,
        per_client: bounds.max_in_flight_per_client,
        body_timeout: bounds.request_body_timeout.0,
    };
    let connections = Bounds { max: bounds.max_connections, first_bytes_within: bounds.keepalive_timeout.0 };
    let admin_bounds = Bounds { max: bounds.admin_max_connections, first_bytes_within: bounds.admin_idle_timeout.0 };
    std::fs::create_dir_all(&dir).map_err(|source| ServeError::DataDir { dir: dir.display().to_string(), source })?;
    let metrics = Arc::new(Metrics::new());
    let observer: Arc<dyn CommitObserver> = Arc::clone(&metrics) as _;
    let backup_key = opts.config.ledger.backup_key_file.as_deref().map(BackupKey::from_file).transpose()?;
    let ledger_opts = LedgerOptions { observer: Some(observer), backup_key, ..ledger_options(&opts.config) };
    let ledger = Arc::new(Ledger::open(&dir, &ledger_opts)?);
    let pack = Arc::new(RulePack::builtin().map_err(ServeError::Policy)?);
    let cluster = opts.config.cluster.clone();
    let mut app = App::new(opts.config, pack, Arc::clone(&ledger), opts.clock, Arc::clone(&metrics))
        .map_err(ServeError::Policy)?;
    let mut admin = Admin::new(Arc::clone(&metrics), Arc::clone(&ledger), Arc::clone(&app.auth));
    if let Some(cluster) = &cluster {
        let parts = Parts {
            ledger: Arc::clone(&ledger),
            locks: Arc::clone(&app.locks),
            retention: app.pack.retention,
            metrics: ClusterMetrics::register(metrics.registry()),
        };
        let replication = Replication::start(cluster, parts).await?;
        app = app.with_replication(Arc::clone(&replication));
        admin = admin.with_replication(replication);
    }
    let (app, admin) = (Arc::new(app), Arc::new(admin));

    // Health and reflection answer without a token: they decode only what
    // their small requests need, so nobody can make them buffer megabytes.
    let (health, health_service) = tonic_health::server::health_reporter();
    let health_service = health_service.max_decoding_message_size(limits::MAX_HEALTH_BYTES);
    health.set_serving::<PolicyServiceServer<PolicyApi>>().await;
    let (reflection, reflection_alpha) = reflection_services()?;
    let api =
        PolicyServiceServer::new(PolicyApi::new(Arc::clone(&app))).max_decoding_message_size(limits::MAX_MESSAGE_BYTES);
    let api = tonic::service::interceptor::InterceptedService::new(api, Authenticator { table: Arc::clone(&app.auth) });
    let router = builder
        .layer(RpcTraceLayer)
        .layer(ObserveLayer::new(&metrics, admission))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(api);
    Ok(Services {
        router,
        health,
        app,
        ledger,
        admin,
        admin_listener: opts.admin_listener,
        console_listener: opts.console_listener,
        config_path: opts.config_path,
        grace,
        connections,
        admin_bounds,
    })
}

/// Serves `services` on `listener` (and the admin endpoint, and the config
/// watcher) until `shutdown` resolves; then stops accepting, lets in-flight
/// calls finish for up to the grace period, and drains and flushes the ledger.
pub async fn run(
    services: Services,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Services {
        router,
        health,
        app,
        ledger,
        admin,
        admin_listener,
        console_listener,
        config_path,
        grace,
        connections,
        admin_bounds,
    } = services;
    let (stop_admin, admin_stopped) = oneshot::channel();
    let admin_task = spawn_admin(admin_listener, admin_bounds, &admin, admin_stopped);
    let (stop_console, console_stopped) = oneshot::channel();
    let console_task = spawn_console(console_listener, admin_bounds, &app, console_stopped);
    let reloader =
        config_path.map(|path| tokio::spawn(crate::reload::watch(Arc::clone(&app), path, crate::reload::hangup())));
    let latch = tokio::spawn(watch_latch(health.clone(), Arc::clone(&ledger)));
    let pruner = tokio::spawn(crate::api::idempotency::prune(Arc::clone(&app)));

    // The listener is bound, so calls queue until the server below accepts them.
    admin.set_ready(true);
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "textgate serving");
    // Stop accepting on `shutdown`, let in-flight calls finish, but do not wait
    // more than the grace period for clients that keep connections open.
    let fired = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let fired = Arc::clone(&fired);
        let admin = Arc::clone(&admin);
        async move {
            shutdown.await;
            admin.set_ready(false);
            fired.notify_one();
        }
    };
    let incoming = Incoming::new(listener, connections, app.metrics.registry());
    let server = router.serve_with_incoming_shutdown(incoming, signal);
    let served = tokio::select! {
        r = server => r,
        _ = async { fired.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_s = grace.as_secs_f64(), "grace period over; closing remaining connections");
            Ok(())
        }
    };
    health.set_not_serving::<PolicyServiceServer<PolicyApi>>().await;
    if let Some(r) = reloader {
        r.abort();
    }
    latch.abort();
    pruner.abort();
    let closed = ledger.shutdown().await;
    let _ = stop_admin.send(());
    let _ = stop_console.send(());
    for task in [admin_task, console_task].into_iter().flatten() {
        let _ = task.await;
    }
    tracing::info!("textgate stopped; ledger flushed");
    served?;
    Ok(closed?)
}
