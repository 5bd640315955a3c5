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
        let metrics = ConnectionMetrics::register(registry);
        let places = Places {
            permits: Arc::new(Semaphore::new(usize::try_from(bounds.max).unwrap_or(usize::MAX))),
            first_bytes_within: bounds.first_bytes_within,
            metrics,
        };
        let (tx, rx) = mpsc::channel(16);
        let accept = tokio::spawn(accept_loop(listener, places, tx));
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

/// What the accept loop hands out.
struct Places {
    permits: Arc<Semaphore>,
    first_bytes_within: Duration,
    metrics: ConnectionMetrics,
}

async fn accept_loop(listener: TcpListener, places: Places, tx: mpsc::Sender<Limited>) {
    let Places { permits, first_bytes_within, metrics } = places;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a gRPC connection failed; pausing");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.refused.inc();
            drop(stream);
            continue;
        };
        // Without TCP_NODELAY, Nagle holds each response's tail until the
        // client's delayed ACK (~40 ms per unary call).
        let _ = stream.set_nodelay(true);
        metrics.open.inc();
        let conn = Limited {
            inner: stream,
            first_bytes: Some(Box::pin(tokio::time::sleep(first_bytes_within))),
            _slot: Slot { _permit: permit, open: metrics.open.clone() },
        };
        if tx.send(conn).await.is_err() {
            return;
        }
    }
}

/// Holds one of the `max_connections` places while its connection is open.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

pin_project! {
    /// An accepted connection holding its place.
    pub struct Limited {
        #[pin]
        inner: TcpStream,
        // Until the peer's first bytes arrive: when it must have sent them.
        first_bytes: Option<Pin<Box<tokio::time::Sleep>>>,
        _slot: Slot,
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
        let Some(deadline) = this.first_bytes.as_mut() else { return this.inner.poll_read(cx, buf) };
        let before = buf.filled().len();
        match this.inner.poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                *this.first_bytes = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer sent nothing after connecting")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
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
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
