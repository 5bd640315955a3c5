//! CheckMessages: CheckMessage over one bidirectional stream.

use tokio_stream::StreamExt;
use tonic::{Status, Streaming};
use tracing::Instrument;

use super::check::check;
use super::convert::EventStreamOf;
use super::{limits, pb};
use crate::app::App;
use crate::error::ApiError;

/// Many decisions over one stream. Requests are decided in arrival order; a
/// bounded channel applies back-pressure, and a client that reads no answer
/// for `server.stream_send_timeout` loses the stream. An invalid request ends the stream
/// with INVALID_ARGUMENT naming its client_ref and field.
pub fn check_stream(
    app: std::sync::Arc<App>,
    credential: super::auth::Credential,
    mut requests: Streaming<pb::CheckMessageRequest>,
) -> EventStreamOf<pb::CheckMessageResponse> {
    let send_within = app.config.load().server.stream_send_timeout.0;
    let (outbox, stream) = super::outbox::Outbox::new(16, send_within);
    // What the credential grants, and the auth table that granted it: when a
    // reload replaces the table the credential is checked again, so a token
    // removed from the configuration also stops the streams it opened.
    let mut granted: Option<(std::sync::Arc<super::auth::AuthTable>, super::auth::Access)> = None;
    // In the stream's `rpc` span, so each message's `check` span nests under it.
    let worker = async move {
        while let Some(item) = requests.next().await {
            let table = app.auth.load_full();
            if !granted.as_ref().is_some_and(|(by, _)| std::sync::Arc::ptr_eq(by, &table)) {
                match table.access(&credential) {
                    Ok(access) => granted = Some((std::sync::Arc::clone(&table), access)),
                    Err(status) => {
                        outbox.send(Err(status)).await;
                        break;
                    }
                }
            }
            let access = &granted.as_ref().expect("set above").1;
            let out = match item {
                Err(status) => Err(crate::error::refused_request(&status, limits::MAX_MESSAGE_BYTES).unwrap_or(status)),
                Ok(req) => {
                    let client_ref = req.client_ref.clone();
                    let tenant = access.tenant(&req.tenant_id, &table);
                    let result = match tenant {
                        Ok(t) => check(&app, t, req).await,
                        Err(e) => Err(e),
                    };
                    result.map_err(|e| match e {
                        ApiError::InvalidArgument { field, reason } => {
                            Status::from(ApiError::invalid(format!("client_ref={client_ref:?} {field}"), reason))
                        }
                        other => Status::from(other),
                    })
                }
            };
            // A client that takes no answer for `stream_send_timeout` loses
            // the stream: an unread stream holds nothing for long.
            let stop = out.is_err();
            if !outbox.send(out).await || stop {
                break;
            }
        }
    };
    tokio::spawn(worker.in_current_span());
    stream
}
