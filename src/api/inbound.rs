//! ProcessInbound: a recipient's text in; opt-out / opt-in / help handling,
//! the conversation window, and the one reply to send. What a text records
//! and replies is decided by `policy::inbound_outcome`; this records it.

use prost::Message as _;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::convert::phone;
use super::{convert, limits, pb};
use crate::app::{tenant_of, App};
use crate::consent::ConsentError;
use crate::domain::{Evidence, NewEvent, Scope, TenantId, MATCHED_EXTRA_KEY, REPLY_LANGUAGE_EXTRA_KEY};
use crate::error::ApiError;
use crate::phone::PhoneNumber;
use crate::policy::inbound::{repair, Intent};
use crate::policy::inbound_outcome::{outcome, ConsentChange, Standing};

/// Handles one inbound text in an `inbound` span (tenant, sender's hash,
/// intent; never the text).
pub async fn process(
    app: &App,
    tenant: TenantId,
    req: pb::ProcessInboundRequest,
) -> Result<pb::ProcessInboundResponse, ApiError> {
    let span = tracing::debug_span!("inbound", tenant = %tenant, phone_hash = Empty, intent = Empty, duplicate = Empty);
    process_in(app, tenant, req, &span).instrument(span.clone()).await
}

async fn process_in(
    app: &App,
    tenant: TenantId,
    req: pb::ProcessInboundRequest,
    span: &Span,
) -> Result<pb::ProcessInboundResponse, ApiError> {
    let policy = app.policy_for(&tenant)?;
    let tp = tenant_of(&policy, &tenant)?;
    let from = phone("from", &req.from)?;
    let to = phone("to", &req.to)?;
    let Some(campaign) = tp.campaign_for(to.as_str(), "") else {
        return Err(ApiError::invalid("to", "not a sender number of this tenant"));
    };
    limits::id("message_id", &req.message_id)?;
    // The body's size is checked, never its characters: they are repaired.
    limits::inbound_body(&req.body)?;
    let now = app.clock.now();
    let received_at = convert::instant(req.received_at.as_ref(), "received_at")?.unwrap_or(now);
    // It becomes the recorded event's `occurred_at`: the same bound applies.
    if received_at > now + super::consent::MAX_FUTURE_SKEW {
        return Err(ApiError::invalid("received_at", "is more than 24h in the future"));
    }

    app.phone_hash.record(span, from.as_str());
    let _lock = app.lock_recipient(&tenant, &from).await;
    if let Some(stored) = app.ledger.inbound_answer(&tenant, &req.message_id)? {
        let mut resp = pb::ProcessInboundResponse::decode(stored.as_slice())
            .map_err(|e| ApiError::Internal(format!("inbound record: {e}")))?;
        resp.duplicate = true;
        span.record("duplicate", true);
        return Ok(resp);
    }
    let consent = app.ledger.consent(&tenant, &from)?.unwrap_or_default();
    let standing = Standing::of(&consent, &campaign.id, to.as_str());
    let body = repair(&req.body);
    let class = policy.pack.inbound.classify(&body, standing.opted_out());
    span.record("intent", tracing::field::debug(&class.intent));
    let intent = intent_to_pb(class.intent);
    app.metrics.inbound(tenant.as_str(), intent_label(intent));

    let replies = tp.replies(class.language.as_deref());
    let todo = outcome(class.intent, standing, &replies, received_at);
    let (reply, event, token, consent) = match todo.record {
        Some(change) => {
            let detail = format!("inbound SMS {} to {}; matched {:?}", req.message_id, to.as_str(), class.matched);
            let mut event = new_event(&tenant, &from, &req.message_id, &body, change, detail);
            event.evidence.extra.insert(MATCHED_EXTRA_KEY.into(), class.matched.clone());
            event.evidence.extra.insert(REPLY_LANGUAGE_EXTRA_KEY.into(), replies.language.clone());
            let (rec, token) = app.record(event).await?;
            // The event exists but its answer was never stored (a crash between
            // the two): the caller never got the confirmation, so send it now.
            let reply = if rec.duplicate { todo.reply_if_recorded_before } else { todo.reply };
            (reply, Some(convert::event_to_pb(&rec.event)), token, rec.consent)
        }
        None => (todo.reply, None, String::new(), consent),
    };
    let history = note_inbound(app, &tenant, &from, &req.message_id, received_at)?;
    let resp = pb::ProcessInboundResponse {
        intent: intent as i32,
        matched: class.matched,
        reply_body: reply.to_string(),
        event,
        consistency_token: token,
        consent: Some(convert::view_to_pb(
            &from,
            &consent,
            history.conversation(tp.conversation_window),
            tp.review_hold,
        )),
        duplicate: false,
        language: replies.language.clone(),
    };
    app.ledger.remember_inbound(&tenant, &req.message_id, resp.encode_to_vec())?;
    Ok(resp)
}

/// Opens or extends the conversation window, here and (cluster mode) on
/// every instance; returns the number's history with the text noted.
fn note_inbound(
    app: &App,
    tenant: &TenantId,
    from: &PhoneNumber,
    message_id: &str,
    received_at: jiff::Timestamp,
) -> Result<crate::domain::ContactHistory, ApiError> {
    let mut history = app.ledger.contact(tenant, from)?;
    history.note_inbound(received_at);
    match app.ledger.put_contact(tenant, from, &history) {
        // Down to the disk's reserve the window stays closed (never more
        // permissive); the opt-out is recorded and confirmed.
        Ok(()) | Err(ConsentError::DiskReserve { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(replication) = &app.replication {
        // The conversation window opens on every instance.
        replication.share_inbound(tenant, from, message_id, received_at);
    }
    Ok(history)
}

/// The ledger event for an inbound keyword, keyed by the text's message id so
/// a retried text records it once; it keeps the text as repaired and classified.
fn new_event(
    tenant: &TenantId,
    from: &PhoneNumber,
    message_id: &str,
    text: &str,
    change: ConsentChange,
    method_detail: String,
) -> NewEvent {
    NewEvent {
        tenant_id: tenant.clone(),
        event_id: format!("{}{message_id}", super::consent::INBOUND_PREFIX),
        phone: from.clone(),
        action: change.action,
        scope: Scope::default(),
        source: change.source,
        occurred_at: change.occurred_at,
        evidence: Evidence { collected_by: "textgate:inbound".into(), method_detail, ..Evidence::default() },
        categories: vec![],
        inbound_text: text.to_string(),
    }
}

fn intent_to_pb(intent: Intent) -> pb::InboundIntent {
    match intent {
        Intent::OptOut => pb::InboundIntent::OptOut,
        Intent::OptIn => pb::InboundIntent::OptIn,
        Intent::Help => pb::InboundIntent::Help,
        Intent::Message => pb::InboundIntent::Message,
        Intent::WrongNumber => pb::InboundIntent::WrongNumber,
        Intent::Review => pb::InboundIntent::Review,
    }
}

/// The `intent` label of `textgate_inbound_total`.
fn intent_label(intent: pb::InboundIntent) -> &'static str {
    match intent {
        pb::InboundIntent::OptOut => "opt_out",
        pb::InboundIntent::OptIn => "opt_in",
        pb::InboundIntent::Help => "help",
        pb::InboundIntent::Message => "message",
        pb::InboundIntent::WrongNumber => "wrong_number",
        pb::InboundIntent::Review => "review",
        pb::InboundIntent::Unspecified => "unspecified",
    }
}
