//! RecordReassignedCheck: Reassigned Numbers Database answers (compliance-rules
//! §7.3) as ledger events, a batch per call.

use std::sync::Arc;

use tracing::Instrument;

use super::consent::{INBOUND_PREFIX, MAX_FUTURE_SKEW};
use super::convert::{self, enum_field, phone};
use super::{limits, pb};
use crate::app::App;
use crate::domain::{Action, Evidence, NewEvent, RndAnswer, Scope, Source, TenantId, RND_DISCONNECTED_EXTRA_KEY};
use crate::error::ApiError;

/// Answers one call records at most (its request also fits the 64 KiB limit
/// with ids of ordinary length).
pub const MAX_RND_BATCH: usize = 500;

/// What `evidence.method_detail` of an RND event says.
const METHOD: &str = "FCC Reassigned Numbers Database";

/// Validates every result, then records them all (concurrently, so they share
/// the group commit's fsyncs) and answers in request order.
pub async fn record(
    app: &Arc<App>,
    tenant: TenantId,
    req: pb::RecordReassignedCheckRequest,
) -> Result<pb::RecordReassignedCheckResponse, ApiError> {
    let span = tracing::debug_span!("record_reassigned_check", tenant = %tenant, results = req.results.len());
    async {
        if req.results.is_empty() || req.results.len() > MAX_RND_BATCH {
            return Err(ApiError::invalid("results", format!("1 to {MAX_RND_BATCH} answers per call")));
        }
        let _ = app.config_for(&tenant)?;
        let review_hold = crate::app::tenant_of(&*app.policy_for(&tenant)?, &tenant)?.review_hold;
        let now = app.clock.now();
        let events = req
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| new_event(&tenant, r, now, &format!("results[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let tasks: Vec<_> = events
            .into_iter()
            .map(|e| {
                let app = Arc::clone(app);
                tokio::spawn(async move { app.record(e).await })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        let mut latest: Option<(u64, String)> = None;
        for task in tasks {
            let (recorded, token) =
                task.await.map_err(|e| ApiError::Internal(format!("an RND write task failed: {e}")))??;
            let position = crate::replication::Token::parse(&token).map_or(0, |t| t.position);
            if latest.as_ref().is_none_or(|(p, _)| *p < position) {
                latest = Some((position, token.clone()));
            }
            let view = convert::view_to_pb(&recorded.event.event.phone, &recorded.consent, None, review_hold);
            results.push(pb::RecordConsentResponse {
                event: Some(convert::event_to_pb(&recorded.event)),
                duplicate: recorded.duplicate,
                consistency_token: token,
                consent: Some(view),
            });
        }
        Ok(pb::RecordReassignedCheckResponse { results, consistency_token: latest.map(|(_, t)| t).unwrap_or_default() })
    }
    .instrument(span)
    .await
}

/// One answer as a ledger event; errors name `at.<field>`.
fn new_event(tenant: &TenantId, r: pb::ReassignedCheck, now: jiff::Timestamp, at: &str) -> Result<NewEvent, ApiError> {
    let field = |f: &str| format!("{at}.{f}");
    limits::id(&field("event_id"), &r.event_id)?;
    if r.event_id.starts_with(INBOUND_PREFIX) {
        return Err(ApiError::invalid(
            field("event_id"),
            format!("the {INBOUND_PREFIX:?} prefix is reserved for ProcessInbound"),
        ));
    }
    let phone = phone(&field("phone"), &r.phone)?;
    let queried_at = convert::instant(r.queried_at.as_ref(), &field("queried_at"))?
        .ok_or_else(|| ApiError::invalid(field("queried_at"), "required: when the database was queried"))?;
    if queried_at > now + MAX_FUTURE_SKEW {
        return Err(ApiError::invalid(field("queried_at"), "is more than 24h in the future"));
    }
    let answer = match enum_field::<pb::RndAnswer>(r.answer, &field("answer"))? {
        pb::RndAnswer::Unspecified => return Err(ApiError::invalid(field("answer"), "required: YES, NO or NO_DATA")),
        pb::RndAnswer::Yes => RndAnswer::Yes,
        pb::RndAnswer::No => RndAnswer::No,
        pb::RndAnswer::NoData => RndAnswer::NoData,
    };
    let disconnected_at = convert::instant(r.disconnected_at.as_ref(), &field("disconnected_at"))?;
    let mut extra = std::collections::BTreeMap::new();
    if let Some(d) = disconnected_at {
        if answer != RndAnswer::Yes {
            return Err(ApiError::invalid(field("disconnected_at"), "only a YES answer has a disconnect date"));
        }
        if d > queried_at {
            return Err(ApiError::invalid(field("disconnected_at"), "is after queried_at"));
        }
        extra.insert(RND_DISCONNECTED_EXTRA_KEY.to_string(), d.to_string());
    }
    limits::text(&field("reference"), &r.reference, limits::MAX_SHORT)?;
    Ok(NewEvent {
        tenant_id: tenant.clone(),
        event_id: r.event_id,
        phone,
        action: Action::Rnd(answer),
        scope: Scope::default(),
        source: Source::Api,
        occurred_at: queried_at,
        evidence: Evidence { method_detail: METHOD.into(), document_ref: r.reference, extra, ..Evidence::default() },
        categories: Vec::new(),
        inbound_text: String::new(),
    })
}
