//! RecordConsent, GetConsent and ListConsentEvents.

use std::net::IpAddr;
use std::sync::Arc;

use tonic::Status;
use tracing::field::Empty;
use tracing::Instrument;

use super::convert::{self, enum_field, phone, EventStreamOf};
use super::{limits, pb};
use crate::app::App;
use crate::config::Config;
use crate::consent::Recorded;
use crate::domain::{Action, Evidence, NewEvent, Scope, Source, TenantId};
use crate::error::ApiError;

/// Event ids ProcessInbound gives the events it records (`inbound:<message_id>`).
pub const INBOUND_PREFIX: &str = "inbound:";

/// How far in the future `occurred_at` may lie (clock skew between callers).
pub const MAX_FUTURE_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// Validates and records one consent event, in a `record_consent` span.
pub async fn record(
    app: &App,
    tenant: TenantId,
    req: pb::RecordConsentRequest,
) -> Result<pb::RecordConsentResponse, ApiError> {
    let span =
        tracing::debug_span!("record_consent", tenant = %tenant, phone_hash = Empty, action = Empty, duplicate = Empty);
    async {
        let config = app.config_for(&tenant)?;
        let review_hold = crate::app::tenant_of(&*app.policy_for(&tenant)?, &tenant)?.review_hold;
        let event = new_event(&config, tenant, req, app.clock.now(), Source::Api)?;
        app.phone_hash.record(&span, event.phone.as_str());
        span.record("action", tracing::field::debug(event.action));
        let (recorded, token) = app.record(event).await?;
        span.record("duplicate", recorded.duplicate);
        Ok::<_, ApiError>(response(recorded, token, review_hold))
    }
    .instrument(span.clone())
    .await
}

fn response(
    recorded: Recorded,
    consistency_token: String,
    review_hold: jiff::SignedDuration,
) -> pb::RecordConsentResponse {
    let view = convert::view_to_pb(&recorded.event.event.phone, &recorded.consent, None, review_hold);
    pb::RecordConsentResponse {
        consistency_token,
        event: Some(convert::event_to_pb(&recorded.event)),
        duplicate: recorded.duplicate,
        consent: Some(view),
    }
}

/// Validates a RecordConsent request into a ledger event; a source left
/// unspecified becomes `default_source` (API for RecordConsent, IMPORT for
/// ImportConsent).
pub(super) fn new_event(
    config: &Config,
    tenant: TenantId,
    req: pb::RecordConsentRequest,
    now: jiff::Timestamp,
    default_source: Source,
) -> Result<NewEvent, ApiError> {
    limits::id("event_id", &req.event_id)?;
    if req.event_id.starts_with(INBOUND_PREFIX) {
        return Err(ApiError::invalid(
            "event_id",
            format!("the {INBOUND_PREFIX:?} prefix is reserved for ProcessInbound"),
        ));
    }
    let phone = phone("phone", &req.phone)?;
    let action = enum_field::<pb::ConsentAction>(req.action, "action")?;
    let level = convert::level_from_pb(enum_field(req.level, "level")?);
    let action = match action {
        pb::ConsentAction::Unspecified => return Err(ApiError::invalid("action", "required: GRANT or REVOKE")),
        pb::ConsentAction::ReviewHold => {
            return Err(ApiError::invalid("action", "REVIEW_HOLD is recorded by ProcessInbound only"))
        }
        pb::ConsentAction::RndCheck => {
            return Err(ApiError::invalid("action", "RND_CHECK is recorded by RecordReassignedCheck only"))
        }
        pb::ConsentAction::Grant if req.possible_reassignment => {
            return Err(ApiError::invalid("possible_reassignment", "only a REVOKE reports a reassignment"))
        }
        pb::ConsentAction::Grant => {
            Action::Grant(level.ok_or_else(|| ApiError::invalid("level", "required for GRANT"))?)
        }
        // A level sent with a revocation says nothing: it is dropped.
        pb::ConsentAction::Revoke if req.possible_reassignment => Action::WrongNumber,
        pb::ConsentAction::Revoke => Action::Revoke,
    };
    let source = match convert::source_from_pb(enum_field(req.source, "source")?) {
        Source::Unspecified => default_source,
        s => s,
    };
    let scope = scope(config, &tenant, req.scope.unwrap_or_default())?;
    if action == Action::WrongNumber && scope != Scope::default() {
        return Err(ApiError::invalid("scope", "a possible reassignment covers the whole number: leave it empty"));
    }
    let occurred_at = convert::instant(req.occurred_at.as_ref(), "occurred_at")?.unwrap_or(now);
    if occurred_at > now + MAX_FUTURE_SKEW {
        return Err(ApiError::invalid("occurred_at", "is more than 24h in the future"));
    }
    if req.categories.len() > limits::MAX_CATEGORIES {
        return Err(ApiError::invalid("categories", "lists more categories than exist"));
    }
    let mut categories = Vec::with_capacity(req.categories.len());
    for (i, c) in req.categories.iter().enumerate() {
        let field = format!("categories[{i}]");
        let cat = convert::category_from_pb(enum_field(*c, &field)?)
            .ok_or_else(|| ApiError::invalid(&field, "UNSPECIFIED is not a category"))?;
        if !categories.contains(&cat) {
            categories.push(cat);
        }
    }
    if action.is_revoke() && !categories.is_empty() {
        return Err(ApiError::invalid("categories", "a revocation covers every category; leave it empty"));
    }
    categories.sort();
    Ok(NewEvent {
        tenant_id: tenant,
        event_id: req.event_id,
        phone,
        action,
        scope,
        source,
        occurred_at,
        evidence: evidence(req.evidence.unwrap_or_default())?,
        categories,
        inbound_text: String::new(),
    })
}

/// Checks a scope against the tenant's campaigns and senders.
pub fn scope(config: &Config, tenant: &TenantId, s: pb::ConsentScope) -> Result<Scope, ApiError> {
    let t = &config.tenants[tenant.as_str()];
    if !s.campaign_id.is_empty() && !t.campaigns.iter().any(|c| c.id == s.campaign_id) {
        return Err(ApiError::invalid("scope.campaign_id", "no such campaign for this tenant"));
    }
    let sender = if s.sender.is_empty() {
        String::new()
    } else {
        let p = phone("scope.sender", &s.sender)?;
        if !t.campaigns.iter().flat_map(|c| &c.senders).any(|n| n.0 == p) {
            return Err(ApiError::invalid("scope.sender", "not a sender number of this tenant"));
        }
        p.as_str().to_string()
    };
    Ok(Scope { campaign_id: s.campaign_id, sender })
}

fn evidence(e: pb::Evidence) -> Result<Evidence, ApiError> {
    limits::text("evidence.collected_by", &e.collected_by, limits::MAX_SHORT)?;
    limits::text("evidence.method_detail", &e.method_detail, limits::MAX_LONG)?;
    limits::text("evidence.disclosure_text", &e.disclosure_text, limits::MAX_LONG)?;
    limits::text("evidence.user_agent", &e.user_agent, limits::MAX_LONG)?;
    limits::text("evidence.document_ref", &e.document_ref, limits::MAX_SHORT)?;
    if !e.ip_address.is_empty() && e.ip_address.parse::<IpAddr>().is_err() {
        return Err(ApiError::invalid("evidence.ip_address", "not an IPv4 or IPv6 address"));
    }
    if e.extra.len() > limits::MAX_EXTRA_ENTRIES {
        return Err(ApiError::invalid("evidence.extra", format!("more than {} entries", limits::MAX_EXTRA_ENTRIES)));
    }
    for (k, v) in &e.extra {
        limits::id("evidence.extra key", k)?;
        limits::text(&format!("evidence.extra[{k}]"), v, limits::MAX_SHORT)?;
    }
    Ok(Evidence {
        collected_by: e.collected_by,
        method_detail: e.method_detail,
        disclosure_text: e.disclosure_text,
        ip_address: e.ip_address,
        user_agent: e.user_agent,
        document_ref: e.document_ref,
        extra: e.extra.into_iter().collect(),
    })
}

pub async fn get(app: &App, tenant: TenantId, req: pb::GetConsentRequest) -> Result<pb::ConsentView, ApiError> {
    let policy = app.policy_for(&tenant)?;
    let tp = crate::app::tenant_of(&policy, &tenant)?;
    let phone = phone("phone", &req.phone)?;
    app.read_after(&tenant, &req.consistency_token).await?;
    let consent = app.ledger.consent(&tenant, &phone)?.unwrap_or_default();
    let history = app.ledger.contact(&tenant, &phone)?;
    Ok(convert::view_to_pb(&phone, &consent, history.conversation(tp.conversation_window), tp.review_hold))
}

/// Events a listing reads from the store at a time, between sends.
const LIST_PAGE: usize = 32;

/// Streams events oldest first, a page at a time, on the async runtime (no
/// thread waits for a slow reader). A bounded channel gives back-pressure; a
/// client that takes no event for `server.stream_send_timeout` loses the
/// stream, so an unread stream holds nothing for long.
pub fn list(
    app: &App,
    tenant: TenantId,
    req: pb::ListConsentEventsRequest,
) -> Result<EventStreamOf<pb::ConsentEvent>, ApiError> {
    let send_within = app.config_for(&tenant)?.server.stream_send_timeout.0;
    let phone = match req.phone.as_str() {
        "" => None,
        p => Some(phone("phone", p)?),
    };
    let mut left = if req.limit == 0 { usize::MAX } else { req.limit as usize };
    let ledger = Arc::clone(&app.ledger);
    let (outbox, stream) = super::outbox::Outbox::new(LIST_PAGE, send_within);
    tokio::spawn(async move {
        let mut after = req.after_sequence;
        while left > 0 {
            let want = LIST_PAGE.min(left);
            let page: Vec<_> = ledger.events(&tenant, phone.as_ref(), after).take(want).collect();
            let last_page = page.len() < want;
            for item in page {
                left -= 1;
                let failed = item.is_err();
                let item = item
                    .map(|e| {
                        after = e.sequence;
                        convert::event_to_pb(&e)
                    })
                    .map_err(|e| Status::from(ApiError::from(e)));
                if !outbox.send(item).await || failed {
                    return;
                }
            }
            if last_page {
                return;
            }
        }
    });
    Ok(stream)
}
