//! The gRPC listener's accept loop, bounded: at most `server.max_connections`
//! connections are open at once, and one more is closed as it arrives (and
//! counted), so no client can take the process's file descriptors; the admin
//! endpoint, the store and NATS keep theirs. An accept error (the descriptor
//! table full after all, a connection reset before it was accepted) pauses
//! the loop instead of ending it: tonic stops serving on the first accept
//! error it does not know. A connection that sends nothing within
//! `first_bytes_within` of its arrival (no HTTP/2 preface, no TLS hello) is
//! closed, so silent sockets cannot hold the places either; after that,
//! HTTP/2 keepalive pings find dead peers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long the loop waits after an accept error before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connection series on the server's registry.
#[derive(Clone)]
struct ConnectionMetrics {
    open: IntGauge,
    refused: IntCounter,
}

impl ConnectionMetrics {
    fn register(registry: &Registry) -> ConnectionMetrics {
        let open = IntGauge::new("textgate_connections_open", "gRPC connections open now.").expect("valid metric");
        let refused = IntCounter::new(
            "textgate_connections_refused_total",
            "gRPC connections closed on arrival because server.max_connections were open.",
        )
        .expect("valid metric");
        registry.register(Box::new(open.clone())).expect("unique metric");
        registry.register(Box::new(refused.clone())).expect("unique metric");
        ConnectionMetrics { open, refused }
    }
}

/// `server.max_connections`, and `server.keepalive_timeout` as the time a
/// new connection has to send its first bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub max: u32,
    pub first_bytes_within: Duration,
}

/// The accepted connections, for `serve_with_incoming`; dropping it stops
/// accepting (the listener closes with the loop).
pub struct Incoming {
    rx: mpsc::Receiver<Limited>,
    accept: JoinHandle<()>,
}

impl Incoming {
    pub fn new(listener: TcpListener, bounds: Bounds, registry: &Registry) -> Incoming {
        let gate = Gate {
            permits: Arc::new(Semaphore::new(usize::try_from(bounds.max).unwrap_or(usize::MAX))),
            quiet: Quiet::FirstBytes(bounds.first_bytes_within),
            metrics: Some(ConnectionMetrics::register(registry)),
            what: "gRPC",
        };
        let (tx, rx) = mpsc::channel(16);
        let accept = tokio::spawn(accept_loop(listener, gate, tx));
        Incoming { rx, accept }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Stream for Incoming {
    type Item = io::Result<Limited>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// Accepts connections within a number of places, each watched for silence.
struct Gate {
    permits: Arc<Semaphore>,
    quiet: Quiet,
    metrics: Option<ConnectionMetrics>,
    what: &'static str,
}

/// When a connection's silence ends it.
#[derive(Clone, Copy, Debug)]
enum Quiet {
    /// Nothing read within this long of arriving (afterwards the protocol's
    /// own keepalive watches it).
    FirstBytes(Duration),
    /// Nothing read or written for this long, at any time.
    Idle(Duration),
}

impl Gate {
    /// The next connection that gets a place; one arriving while every
    /// place is taken is closed (and counted).
    async fn admit(&self, listener: &TcpListener) -> (Limited, SocketAddr) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, listener = self.what, "accepting a connection failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
                if let Some(m) = &self.metrics {
                    m.refused.inc();
                }
                drop(stream);
                continue;
            };
            // Without TCP_NODELAY, Nagle holds each response's tail until the
            // client's delayed ACK (~40 ms per unary call).
            let _ = stream.set_nodelay(true);
            let open = self.metrics.as_ref().map(|m| m.open.clone());
            if let Some(open) = &open {
                open.inc();
            }
            let (within, idle) = match self.quiet {
                Quiet::FirstBytes(d) => (d, false),
                Quiet::Idle(d) => (d, true),
            };
            let watch = Some(Box::pin(tokio::time::sleep(within)));
            let conn = Limited { inner: stream, watch, within, idle, _slot: Slot { _permit: permit, open } };
            return (conn, peer);
        }
    }
}

async fn accept_loop(listener: TcpListener, gate: Gate, tx: mpsc::Sender<Limited>) {
    loop {
        let (conn, _) = gate.admit(&listener).await;
        if tx.send(conn).await.is_err() {
            return;
        }
    }
}

/// The admin endpoint's listener: at most `max` connections, each closed
/// after `idle` without a byte read or written (a half-sent request, an
/// idle keep-alive), so neither can pile up; a backup being streamed is
/// never idle.
pub struct AdminListener {
    listener: TcpListener,
    gate: Gate,
}

impl AdminListener {
    pub fn new(listener: TcpListener, max: usize, idle: Duration) -> AdminListener {
        let gate =
            Gate { permits: Arc::new(Semaphore::new(max)), quiet: Quiet::Idle(idle), metrics: None, what: "admin" };
        AdminListener { listener, gate }
    }
}

impl axum::serve::Listener for AdminListener {
    type Io = Limited;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Limited, SocketAddr) {
        self.gate.admit(&self.listener).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Holds one place while its connection is open.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Option<IntGauge>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(open) = &self.open {
            open.dec();
        }
    }
}

pin_project! {
    /// An accepted connection holding its place.
    pub struct Limited {
        #[pin]
        inner: TcpStream,
        // When its silence ends it; None once the first bytes came (FirstBytes).
        watch: Option<Pin<Box<tokio::time::Sleep>>>,
        within: Duration,
        // Idle: any byte read or written moves the deadline.
        idle: bool,
        _slot: Slot,
    }
}

impl Limited {
    /// Bytes moved: an idle watch starts again, a first-bytes watch ends.
    fn moved(watch: &mut Option<Pin<Box<tokio::time::Sleep>>>, within: Duration, idle: bool) {
        match watch {
            Some(sleep) if idle => sleep.as_mut().reset(tokio::time::Instant::now() + within),
            _ => *watch = None,
        }
    }

    fn silent_too_long(watch: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> bool {
        watch.as_mut().is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Limited {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        match this.inner.poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                Limited::moved(this.watch, *this.within, *this.idle);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if Limited::silent_too_long(this.watch, cx) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer was silent too long")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        if *this.idle && matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            Limited::moved(this.watch, *this.within, true);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        if *this.idle && matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            Limited::moved(this.watch, *this.within, true);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
