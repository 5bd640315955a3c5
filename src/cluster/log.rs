//! `Log`: one instance's handle on the shared, replicated log: connecting,
//! making sure the streams exist as configured, publishing with
//! deduplication, and reading positions.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use bytes::Bytes;
use tokio::sync::watch;

use super::error::{api_error, ClusterError, Result};
use super::{Connection, Family};
use crate::config::ClusterConfig;

/// Longest wait for a stream's info or an update of its configuration.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an acknowledged message sits in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Its stream sequence: for a duplicate, the sequence of the original.
    pub sequence: u64,
    /// The stream had already stored a message with this id within the
    /// duplicate window; nothing new was stored.
    pub duplicate: bool,
}

/// A connected client on the shared log. Cheap to clone; clones share one
/// connection, which reconnects by itself for as long as the process runs.
#[derive(Clone)]
pub struct Log {
    js: jetstream::Context,
    prefix: String,
    replicas: usize,
    duplicate_window: Duration,
    send_retention: Duration,
    publish_timeout: Duration,
    connection: watch::Receiver<Connection>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("prefix", &self.prefix).field("connection", &*self.connection.borrow()).finish()
    }
}

impl Log {
    /// Connects to the first reachable of `nats_urls` (the client learns
    /// the other servers from it) as `instance_id`. Fails when none answers
    /// within `publish_timeout`, so a misconfigured instance says so at start;
    /// once connected it reconnects forever, and callers see `Unavailable`
    /// while it is away.
    pub async fn connect(config: &ClusterConfig) -> Result<Log> {
        let (state_tx, state_rx) = watch::channel(Connection::Disconnected);
        let mut options = match &config.credentials_file {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| ClusterError::Credentials { path: path.clone(), source })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(ca) = &config.tls_ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        let publish_timeout = config.publish_timeout.0;
        let initial = state_tx.clone();
        let options = options
            .name(&config.instance_id.0)
            .connection_timeout(publish_timeout)
            .max_reconnects(None)
            .event_callback(move |event| {
                let state_tx = state_tx.clone();
                async move { note_event(&state_tx, event) }
            });
        let client = options.connect(config.nats_urls.0.clone()).await.map_err(|e| {
            use async_nats::ConnectErrorKind as K;
            match e.kind() {
                K::Authentication | K::AuthorizationViolation | K::Tls | K::ServerParse => {
                    ClusterError::rejected("connect", e)
                }
                _ => ClusterError::unavailable("connect", e),
            }
        })?;
        // Whether the callback reported the first connection or not, start
        // from the client's own view.
        if client.connection_state() == async_nats::connection::State::Connected {
            initial.send_replace(Connection::Connected);
        }
        let js = jetstream::ContextBuilder::new().timeout(publish_timeout).build(client);
        Ok(Log {
            js,
            prefix: config.stream.0.clone(),
            replicas: usize::from(config.replicas.0),
            duplicate_window: config.duplicate_window.0,
            send_retention: config.send_retention.0,
            publish_timeout,
            connection: state_rx,
        })
    }

    /// Connected or not, now and as it changes (for a metric or /readyz).
    pub fn connection(&self) -> watch::Receiver<Connection> {
        self.connection.clone()
    }

    /// The JetStream stream that holds `family`.
    pub fn stream_name(&self, family: Family) -> String {
        format!("{}_{}", self.prefix, family.stream_suffix())
    }

    /// The subject a tenant's messages of `family` are published on.
    pub fn subject(&self, family: Family, tenant: &str) -> Result<String> {
        let bad = |b: u8| b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'.' | b'*' | b'>');
        if tenant.is_empty() || tenant.bytes().any(bad) {
            return Err(ClusterError::InvalidToken(tenant.to_string()));
        }
        Ok(format!("{}.{}.{tenant}", self.prefix, family.subject_token()))
    }

    /// The stream configuration this instance needs for `family`.
    fn stream_config(&self, family: Family) -> stream::Config {
        stream::Config {
            name: self.stream_name(family),
            subjects: vec![format!("{}.{}.>", self.prefix, family.subject_token())],
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            // Consent is the system of record: no limits, nothing expires.
            // Send facts matter only for as long as a cap or window looks back.
            max_age: match family {
                Family::Consent => Duration::ZERO,
                Family::Send => self.send_retention,
            },
            allow_rollup: false,
            // Nobody deletes from the system of record, not even by accident.
            deny_delete: family == Family::Consent,
            deny_purge: family == Family::Consent,
            description: Some(family.description().into()),
            ..Default::default()
        }
    }

    /// Creates each stream, or updates it to this configuration (replicas,
    /// duplicate window and retention may change; JetStream refuses to change
    /// storage or subjects, which comes back as `Rejected`).
    pub async fn ensure_streams(&self) -> Result<()> {
        for family in Family::ALL {
            let config = self.stream_config(family);
            let result = tokio::time::timeout(ADMIN_TIMEOUT, self.js.create_or_update_stream(config))
                .await
                .map_err(|e| ClusterError::unavailable("ensure_streams", e))?;
            result.map_err(|e| {
                let api = match e.kind() {
                    jetstream::context::CreateStreamErrorKind::JetStream(api) => Some(api),
                    _ => None,
                };
                ClusterError::from_api("ensure_streams", e, api.as_ref())
            })?;
        }
        Ok(())
    }

    /// The stream's configuration as JetStream reports it, and its state.
    pub async fn stream_info(&self, family: Family) -> Result<stream::Info> {
        let name = self.stream_name(family);
        let info = async {
            let stream = self.js.get_stream_no_info(&name).await?;
            Ok::<_, async_nats::Error>(stream.get_info().await?)
        };
        match tokio::time::timeout(ADMIN_TIMEOUT, info).await {
            Err(elapsed) => Err(ClusterError::unavailable("stream_info", elapsed)),
            Ok(Err(e)) => {
                let api = api_error(&*e).cloned();
                Err(ClusterError::from_api("stream_info", e, api.as_ref()))
            }
            Ok(Ok(info)) => Ok(info),
        }
    }

    /// The sequence of the newest message in `family`'s stream (0 when
    /// empty): how far an instance must apply before it is caught up.
    pub async fn last_sequence(&self, family: Family) -> Result<u64> {
        Ok(self.stream_info(family).await?.state.last_sequence)
    }

    /// Publishes `payload` for `tenant` with `msg_id` as `Nats-Msg-Id`, and
    /// returns once a quorum of the stream stored it (or had stored it: a
    /// duplicate). `Unavailable` after `publish_timeout` without an
    /// acknowledgement; never `Ok` without one.
    pub async fn publish(&self, family: Family, tenant: &str, msg_id: &str, payload: Bytes) -> Result<Published> {
        self.send(family, tenant, msg_id, payload).await?.await
    }

    /// Sends a publish and returns once it is on the connection, with the
    /// future of its acknowledgement (as [`Log::publish`] answers). Messages
    /// sent one after the other reach the stream in that order, so a bulk
    /// writer keeps its order while many acknowledgements are awaited at once.
    pub async fn send(
        &self,
        family: Family,
        tenant: &str,
        msg_id: &str,
        payload: Bytes,
    ) -> Result<impl std::future::Future<Output = Result<Published>> + Send + 'static> {
        let subject = self.subject(family, tenant)?;
        let message = PublishMessage::build().payload(payload).message_id(msg_id);
        let timeout = self.publish_timeout;
        let expected = self.stream_name(family);
        let pending = match tokio::time::timeout(timeout, self.js.send_publish(subject, message)).await {
            Err(elapsed) => return Err(ClusterError::unavailable("publish", elapsed)),
            Ok(Err(e)) => return Err(publish_error(e)),
            Ok(Ok(pending)) => pending,
        };
        Ok(async move {
            let ack = match tokio::time::timeout(timeout, pending).await {
                Err(elapsed) => return Err(ClusterError::unavailable("publish", elapsed)),
                Ok(Err(e)) => return Err(publish_error(e)),
                Ok(Ok(ack)) => ack,
            };
            if ack.stream != expected {
                return Err(ClusterError::WrongStream { expected, actual: ack.stream });
            }
            Ok(Published { sequence: ack.sequence, duplicate: ack.duplicate })
        })
    }

    /// The subject instances answer decision look-ups on.
    fn decision_subject(&self) -> String {
        format!("{}.decision.get", self.prefix)
    }

    /// Answers decision look-ups from other instances: `answer` gets each
    /// request's payload and returns the reply, or None to stay silent (an
    /// instance that does not hold the decision does not answer). Runs until
    /// the connection closes.
    pub async fn serve_decisions<F>(&self, answer: F) -> Result<()>
    where
        F: Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    {
        let client = self.js.client();
        let mut requests = client
            .subscribe(self.decision_subject())
            .await
            .map_err(|e| ClusterError::unavailable("subscribing to decision look-ups", e))?;
        while let Some(request) = tokio_stream::StreamExt::next(&mut requests).await {
            if let (Some(reply), Some(found)) = (request.reply, answer(&request.payload)) {
                let _ = client.publish(reply, found.into()).await;
            }
        }
        Ok(())
    }

    /// Asks the other instances for a decision; None when no instance
    /// answers within `within`.
    pub async fn ask_decision(&self, payload: Vec<u8>, within: Duration) -> Option<Bytes> {
        let client = self.js.client();
        let ask = client.request(self.decision_subject(), payload.into());
        match tokio::time::timeout(within, ask).await {
            Ok(Ok(message)) => Some(message.payload),
            _ => None,
        }
    }

    pub(crate) fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }
}

/// "No responders" (reported as StreamNotFound) also happens while the
/// stream's servers restart, so it counts as unavailable: `ensure_streams`
/// already proved the stream exists.
fn publish_error(e: jetstream::context::PublishError) -> ClusterError {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence => ClusterError::rejected("publish", e),
        PublishErrorKind::Other => {
            let api = api_error(&e).cloned();
            ClusterError::from_api("publish", e, api.as_ref())
        }
        _ => ClusterError::unavailable("publish", e),
    }
}

fn note_event(state: &watch::Sender<Connection>, event: async_nats::Event) {
    let now = match event {
        async_nats::Event::Connected => Connection::Connected,
        async_nats::Event::Disconnected | async_nats::Event::Closed => Connection::Disconnected,
        other => {
            tracing::debug!(event = %other, "nats client event");
            return;
        }
    };
    tracing::info!(state = ?now, "nats connection");
    state.send_replace(now);
}
