//! ProcessInbound: a recipient's text in; opt-out / opt-in / help handling,
//! the conversation window, and the one reply to send.

use prost::Message as _;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::convert::phone;
use super::{convert, limits, pb};
use crate::app::{tenant_of, App};
use crate::domain::{Action, Evidence, Level, NewEvent, Scope, Source};
use crate::error::ApiError;
use crate::policy::inbound::Intent;

/// Handles one inbound text in an `inbound` span (tenant, sender's hash,
/// intent; never the text).
pub async fn process(
    app: &App,
    tenant: String,
    req: pb::ProcessInboundRequest,
) -> Result<pb::ProcessInboundResponse, ApiError> {
    let span = tracing::debug_span!("inbound", tenant = %tenant, phone_hash = Empty, intent = Empty, duplicate = Empty);
    process_in(app, tenant, req, &span).instrument(span.clone()).await
}

async fn process_in(
    app: &App,
    tenant: String,
    req: pb::ProcessInboundRequest,
    span: &Span,
) -> Result<pb::ProcessInboundResponse, ApiError> {
    let (policy, tenant) = app.policy_for(&tenant)?;
    let tp = tenant_of(&policy, &tenant)?;
    let from = phone("from", &req.from)?;
    let to = phone("to", &req.to)?;
    let Some(campaign) = tp.campaign_for(to.as_str(), "") else {
        return Err(ApiError::invalid("to", "not a sender number of this tenant"));
    };
    limits::id("message_id", &req.message_id)?;
    limits::text("body", &req.body, limits::MAX_BODY)?;
    let now = app.clock.now();
    let received_at = convert::instant(req.received_at.as_ref(), "received_at")?.unwrap_or(now);
    // It becomes the recorded event's `occurred_at`: the same bound applies.
    if received_at > now + super::consent::MAX_FUTURE_SKEW {
        return Err(ApiError::invalid("received_at", "is more than 24h in the future"));
    }

    app.phone_hash.record(span, from.as_str());
    let _lock = app.lock_recipient(&tenant, from.as_str()).await;
    if let Some(stored) = app.ledger.inbound_answer(&tenant, &req.message_id)? {
        let mut resp = pb::ProcessInboundResponse::decode(stored.as_slice())
            .map_err(|e| ApiError::Internal(format!("inbound record: {e}")))?;
        resp.duplicate = true;
        span.record("duplicate", true);
        return Ok(resp);
    }
    let consent = app.ledger.consent(&tenant, from.as_str())?.unwrap_or_default();
    let opted_out = consent.opt_out_for_send(&campaign.id, to.as_str()).is_some();
    let class = policy.pack.inbound.classify(&req.body, opted_out);
    span.record("intent", tracing::field::debug(&class.intent));

    let event = |action| NewEvent {
        tenant_id: tenant.clone(),
        event_id: format!("{}{}", super::consent::INBOUND_PREFIX, req.message_id),
        phone: from.as_str().to_string(),
        action,
        scope: Scope::default(),
        source: Source::Keyword,
        occurred_at: received_at,
        evidence: Evidence {
            collected_by: "textgate:inbound".into(),
            method_detail: format!("inbound SMS {} to {}; matched {:?}", req.message_id, to.as_str(), class.matched),
            ..Evidence::default()
        },
        categories: vec![],
        inbound_text: req.body.clone(),
    };
    let (intent, new_event, reply) = match class.intent {
        // One confirmation only: a repeated STOP while fully opted out is
        // recorded as evidence but not confirmed again.
        Intent::OptOut if consent.fully_revoked() => {
            (pb::InboundIntent::OptOut, Some(event(Action::Revoke)), String::new())
        }
        Intent::OptOut => (pb::InboundIntent::OptOut, Some(event(Action::Revoke)), tp.opt_out_reply.clone()),
        Intent::OptIn if opted_out || consent.scopes.is_empty() => {
            (pb::InboundIntent::OptIn, Some(event(Action::Grant(Level::Express))), tp.opt_in_reply.clone())
        }
        Intent::OptIn => (pb::InboundIntent::OptIn, None, tp.opt_in_reply.clone()),
        Intent::Help => (pb::InboundIntent::Help, None, tp.help_reply.clone()),
        Intent::Message => (pb::InboundIntent::Message, None, String::new()),
    };
    app.metrics.inbound(&tenant, intent_label(intent));
    let mut reply = reply;
    let (event, token, consent) = match new_event {
        Some(e) => {
            let rec = app.ledger.record(e).await?;
            // The event exists but its answer was never stored (a crash between
            // the two): the caller never got the confirmation, so send it now.
            if rec.duplicate {
                reply = match intent {
                    pb::InboundIntent::OptOut => tp.opt_out_reply.clone(),
                    pb::InboundIntent::OptIn => tp.opt_in_reply.clone(),
                    _ => reply,
                };
            }
            (Some(convert::event_to_pb(&rec.event)), rec.event.sequence.to_string(), rec.consent)
        }
        None => (None, String::new(), consent),
    };
    let mut history = app.ledger.contact(&tenant, from.as_str())?;
    history.note_inbound(received_at);
    app.ledger.put_contact(&tenant, from.as_str(), &history)?;
    let resp = pb::ProcessInboundResponse {
        intent: intent as i32,
        matched: class.matched,
        reply_body: reply,
        event,
        consistency_token: token,
        consent: Some(convert::view_to_pb(from.as_str(), &consent, history.conversation(tp.conversation_window))),
        duplicate: false,
    };
    app.ledger.remember_inbound(&tenant, &req.message_id, resp.encode_to_vec())?;
    Ok(resp)
}

/// The `intent` label of `textgate_inbound_total`.
fn intent_label(intent: pb::InboundIntent) -> &'static str {
    match intent {
        pb::InboundIntent::OptOut => "opt_out",
        pb::InboundIntent::OptIn => "opt_in",
        pb::InboundIntent::Help => "help",
        pb::InboundIntent::Message => "message",
        pb::InboundIntent::Unspecified => "unspecified",
    }
}
