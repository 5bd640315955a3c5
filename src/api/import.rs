//! ImportConsent: a stream of RecordConsent requests (a tenant's consent
//! records, revocations and do-not-contact list), each validated and recorded
//! as RecordConsent would, in stream order, with many writes awaiting their
//! fsync (or, in cluster mode, the log's acknowledgement) at once: the group
//! committer then covers many events with one fsync.
//!
//! A message refused for itself (invalid, a grant over a quota or the disk
//! reserve, another tenant) is counted and listed by its position, and the
//! import goes on. A failure of the store or the log ends the call with its
//! status and no summary: what was written before stays, and sending the
//! same stream again records nothing twice (idempotent by event_id).

use std::collections::VecDeque;
use std::sync::Arc;

use tonic::{Status, Streaming};
use tracing::field::Empty;
use tracing::Instrument;

use super::auth::{Access, AuthTable, Credential};
use super::{consent, limits, pb};
use crate::app::{App, PendingWrite};
use crate::domain::Source;
use crate::error::ApiError;

/// Writes of one import awaiting durability at once: enough for the group
/// committer to fill its batches while the stream keeps arriving, few enough
/// that an import holds a bounded amount of memory whatever its size.
const IN_FLIGHT: usize = 2048;

/// Rejections a summary lists (it counts them all).
pub const LISTED_REJECTIONS: usize = 100;

/// Records every message of `requests`; the summary once all are durable.
pub async fn import(
    app: Arc<App>,
    credential: Credential,
    requests: Streaming<pb::RecordConsentRequest>,
) -> Result<pb::ImportSummary, Status> {
    let span = tracing::info_span!("import_consent", messages = Empty, accepted = Empty, rejected = Empty);
    let run = Import { app, credential, granted: None, summary: pb::ImportSummary::default(), token: None };
    let summary = run.run(requests).instrument(span.clone()).await?;
    span.record("messages", summary.accepted + summary.duplicates + summary.rejected);
    span.record("accepted", summary.accepted);
    span.record("rejected", summary.rejected);
    Ok(summary)
}

struct Import {
    app: Arc<App>,
    credential: Credential,
    /// What the credential grants, and the auth table that granted it: a
    /// reload that replaces the table has the credential checked again.
    granted: Option<(Arc<AuthTable>, Access)>,
    summary: pb::ImportSummary,
    /// The highest consistency token of the events counted.
    token: Option<u64>,
}

impl Import {
    async fn run(mut self, mut requests: Streaming<pb::RecordConsentRequest>) -> Result<pb::ImportSummary, Status> {
        let mut pending: VecDeque<(u64, PendingWrite)> = VecDeque::with_capacity(IN_FLIGHT);
        let mut position = 0u64;
        loop {
            let item = requests.message().await;
            let req = match item {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(status) => {
                    return Err(crate::error::refused_request(&status, limits::MAX_MESSAGE_BYTES).unwrap_or(status))
                }
            };
            position += 1;
            match self.submit(req).await {
                Ok(write) => pending.push_back((position, write)),
                Err(e) => self.reject(position, e)?,
            }
            while pending.len() >= IN_FLIGHT {
                let (at, write) = pending.pop_front().expect("a full window");
                self.settle(at, write.await)?;
            }
        }
        for (at, write) in pending {
            self.settle(at, write.await)?;
        }
        self.summary.consistency_token = self.token.map(|t| t.to_string()).unwrap_or_default();
        Ok(self.summary)
    }

    /// Validates one message and hands it to the ledger (or the log).
    async fn submit(&mut self, req: pb::RecordConsentRequest) -> Result<PendingWrite, ApiError> {
        self.check_access()?;
        let (table, access) = self.granted.as_ref().expect("set by check_access");
        let tenant = access.tenant(&req.tenant_id, table)?;
        let config = self.app.config_for(&tenant)?;
        let event = consent::new_event(&config, tenant, req, self.app.clock.now(), Source::Import)?;
        self.app.submit(event).await
    }

    /// Checks the credential again when the auth table changed.
    fn check_access(&mut self) -> Result<(), ApiError> {
        let table = self.app.auth.load_full();
        if !self.granted.as_ref().is_some_and(|(by, _)| Arc::ptr_eq(by, &table)) {
            let access = table.access(&self.credential).map_err(|_| {
                ApiError::Unauthenticated(
                    "authorization: the credential is no longer accepted (configuration reloaded)",
                )
            })?;
            self.granted = Some((table, access));
        }
        Ok(())
    }

    /// Counts a durable write, or ends the import on a store or log failure.
    fn settle(
        &mut self,
        position: u64,
        outcome: Result<(crate::consent::Recorded, String), ApiError>,
    ) -> Result<(), Status> {
        let (recorded, token) = match outcome {
            Ok(done) => done,
            Err(e) => return self.reject(position, e),
        };
        if recorded.duplicate {
            self.summary.duplicates += 1;
        } else {
            self.summary.accepted += 1;
        }
        if let Ok(t) = token.parse::<u64>() {
            self.token = Some(self.token.map_or(t, |have| have.max(t)));
        }
        Ok(())
    }

    /// Counts (and lists, among the first) a message refused for itself;
    /// any other failure ends the import with its status.
    fn reject(&mut self, position: u64, e: ApiError) -> Result<(), Status> {
        let (field, reason, code) = match e {
            ApiError::InvalidArgument { field, reason } => (field, reason, tonic::Code::InvalidArgument),
            e @ (ApiError::ResourceExhausted(_) | ApiError::NotFound(_) | ApiError::PermissionDenied(_)) => {
                let status = Status::from(e);
                // Tenant look-ups name their field first ("tenant_id: ...").
                let (field, reason) = match status.message().split_once(": ") {
                    Some(("tenant_id", reason)) => ("tenant_id".to_string(), reason.to_string()),
                    _ => (String::new(), status.message().to_string()),
                };
                (field, reason, status.code())
            }
            other => return Err(Status::from(other)),
        };
        self.summary.rejected += 1;
        if self.summary.rejections.len() < LISTED_REJECTIONS {
            self.summary.rejections.push(pb::ImportRejection { position, field, reason, code: code as i32 });
        }
        Ok(())
    }
}
