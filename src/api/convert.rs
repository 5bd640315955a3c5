//! Conversions between wire (prost) types and domain types. Nothing outside
//! `api/` sees a prost type.

use prost_types::Timestamp as PbTimestamp;

use super::pb;
use crate::domain::{
    Action, Category, ConsentEvent, ContactConsent, Evidence, Level, Marker, RndAnswer, Scope, Source, Status,
    RND_DISCONNECTED_EXTRA_KEY,
};
use crate::error::ApiError;
use crate::phone::PhoneNumber;

/// A stream of answers as tonic's streaming RPCs return it.
pub type EventStreamOf<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send>>;

/// Parses a phone field, naming it on failure.
pub fn phone(field: &str, value: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(value).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// A wire timestamp as an instant; `None` when absent. Rejects values outside
/// 1970-01-01 .. 9999-12-30T22:00:00Z (jiff's range) with the field's name.
pub fn instant(ts: Option<&PbTimestamp>, field: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
    let Some(ts) = ts else { return Ok(None) };
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(ApiError::invalid(field, "nanos must be 0 to 999,999,999"));
    }
    if ts.seconds < 0 {
        return Err(ApiError::invalid(field, "must not be before 1970-01-01"));
    }
    jiff::Timestamp::new(ts.seconds, ts.nanos)
        .map(Some)
        .map_err(|_| ApiError::invalid(field, "is not a valid timestamp"))
}

pub fn timestamp(t: jiff::Timestamp) -> PbTimestamp {
    PbTimestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }
}

/// Decodes a proto enum field, naming the field when the value is unknown.
pub fn enum_field<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E, ApiError> {
    E::try_from(value).map_err(|_| ApiError::invalid(field, format!("unknown enum value {value}")))
}

/// The wire's action and level fields of an event (a revocation: UNSPECIFIED
/// level; a wrong-number report is a REVOKE with `possible_reassignment`).
pub fn action_to_pb(a: Action) -> (pb::ConsentAction, pb::ConsentLevel) {
    match a {
        Action::Grant(level) => (pb::ConsentAction::Grant, level_to_pb(Some(level))),
        Action::Revoke | Action::WrongNumber => (pb::ConsentAction::Revoke, pb::ConsentLevel::Unspecified),
        Action::ReviewHold => (pb::ConsentAction::ReviewHold, pb::ConsentLevel::Unspecified),
        Action::Rnd(_) => (pb::ConsentAction::RndCheck, pb::ConsentLevel::Unspecified),
    }
}

/// A wire level; UNSPECIFIED is no level.
pub fn level_from_pb(l: pb::ConsentLevel) -> Option<Level> {
    match l {
        pb::ConsentLevel::Unspecified => None,
        pb::ConsentLevel::Implied => Some(Level::Implied),
        pb::ConsentLevel::Express => Some(Level::Express),
        pb::ConsentLevel::ExpressWritten => Some(Level::ExpressWritten),
    }
}

pub fn level_to_pb(l: Option<Level>) -> pb::ConsentLevel {
    match l {
        None => pb::ConsentLevel::Unspecified,
        Some(Level::Implied) => pb::ConsentLevel::Implied,
        Some(Level::Express) => pb::ConsentLevel::Express,
        Some(Level::ExpressWritten) => pb::ConsentLevel::ExpressWritten,
    }
}

pub fn source_from_pb(s: pb::ConsentSource) -> Source {
    use pb::ConsentSource as P;
    match s {
        P::Unspecified => Source::Unspecified,
        P::Keyword => Source::Keyword,
        P::WebForm => Source::WebForm,
        P::PaperForm => Source::PaperForm,
        P::Verbal => Source::Verbal,
        P::Api => Source::Api,
        P::Import => Source::Import,
        P::AgentAttestation => Source::AgentAttestation,
    }
}

pub fn source_to_pb(s: Source) -> pb::ConsentSource {
    use pb::ConsentSource as P;
    match s {
        Source::Unspecified => P::Unspecified,
        Source::Keyword => P::Keyword,
        Source::WebForm => P::WebForm,
        Source::PaperForm => P::PaperForm,
        Source::Verbal => P::Verbal,
        Source::Api => P::Api,
        Source::Import => P::Import,
        Source::AgentAttestation => P::AgentAttestation,
    }
}

/// A category field; UNSPECIFIED is `None` (derive it).
pub fn category_from_pb(c: pb::MessageCategory) -> Option<Category> {
    match c {
        pb::MessageCategory::CategoryUnspecified => None,
        pb::MessageCategory::CategoryConversational => Some(Category::Conversational),
        pb::MessageCategory::CategoryInformational => Some(Category::Informational),
        pb::MessageCategory::CategoryPromotional => Some(Category::Promotional),
    }
}

pub fn category_to_pb(c: Category) -> pb::MessageCategory {
    match c {
        Category::Conversational => pb::MessageCategory::CategoryConversational,
        Category::Informational => pb::MessageCategory::CategoryInformational,
        Category::Promotional => pb::MessageCategory::CategoryPromotional,
    }
}

pub fn scope_to_pb(s: &Scope) -> pb::ConsentScope {
    pb::ConsentScope { campaign_id: s.campaign_id.clone(), sender: s.sender.clone() }
}

pub fn evidence_to_pb(e: &Evidence) -> pb::Evidence {
    pb::Evidence {
        collected_by: e.collected_by.clone(),
        method_detail: e.method_detail.clone(),
        disclosure_text: e.disclosure_text.clone(),
        ip_address: e.ip_address.clone(),
        user_agent: e.user_agent.clone(),
        document_ref: e.document_ref.clone(),
        extra: e.extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

pub fn event_to_pb(ev: &ConsentEvent) -> pb::ConsentEvent {
    let e = &ev.event;
    let (action, level) = action_to_pb(e.action);
    pb::ConsentEvent {
        tenant_id: e.tenant_id.as_str().to_string(),
        event_id: e.event_id.clone(),
        sequence: ev.sequence,
        phone: e.phone.as_str().to_string(),
        action: action as i32,
        level: level as i32,
        scope: Some(scope_to_pb(&e.scope)),
        source: source_to_pb(e.source) as i32,
        occurred_at: Some(timestamp(e.occurred_at)),
        recorded_at: Some(timestamp(ev.recorded_at)),
        evidence: Some(evidence_to_pb(&e.evidence)),
        categories: e.categories.iter().map(|c| category_to_pb(*c) as i32).collect(),
        inbound_text: e.inbound_text.clone(),
        possible_reassignment: e.action == Action::WrongNumber,
        rnd_check: match e.action {
            Action::Rnd(answer) => Some(pb::ReassignedCheck {
                event_id: e.event_id.clone(),
                phone: e.phone.as_str().to_string(),
                queried_at: Some(timestamp(e.occurred_at)),
                answer: rnd_answer_to_pb(answer) as i32,
                disconnected_at: e
                    .evidence
                    .extra
                    .get(RND_DISCONNECTED_EXTRA_KEY)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map(timestamp),
                reference: e.evidence.document_ref.clone(),
            }),
            _ => None,
        },
    }
}

fn rnd_answer_to_pb(a: RndAnswer) -> pb::RndAnswer {
    match a {
        RndAnswer::Yes => pb::RndAnswer::Yes,
        RndAnswer::No => pb::RndAnswer::No,
        RndAnswer::NoData => pb::RndAnswer::NoData,
    }
}

fn marker_to_pb(m: &Marker, until: Option<jiff::Timestamp>) -> pb::NumberMarker {
    pb::NumberMarker {
        event_id: m.event_id.clone(),
        since: Some(timestamp(m.since)),
        until: until.map(timestamp),
        matched: m.matched.clone(),
    }
}

/// The consent view of one number. `conversation` is (last inbound, window
/// open until), when the number ever texted in; `review_hold` is the
/// tenant's hold duration.
pub fn view_to_pb(
    phone: &PhoneNumber,
    consent: &ContactConsent,
    conversation: Option<(jiff::Timestamp, jiff::Timestamp)>,
    review_hold: jiff::SignedDuration,
) -> pb::ConsentView {
    pb::ConsentView {
        phone: phone.as_str().to_string(),
        scopes: consent
            .scopes
            .iter()
            .map(|s| pb::ScopedConsent {
                scope: Some(scope_to_pb(&s.scope)),
                status: match s.status {
                    Status::Granted => pb::ConsentStatus::Granted,
                    Status::Revoked => pb::ConsentStatus::Revoked,
                } as i32,
                level: level_to_pb(s.level) as i32,
                categories: s.categories.iter().map(|c| category_to_pb(*c) as i32).collect(),
                event_id: s.event_id.clone(),
                since: Some(timestamp(s.since)),
            })
            .collect(),
        last_inbound_at: conversation.map(|(last, _)| timestamp(last)),
        conversation_open_until: conversation.map(|(_, until)| timestamp(until)),
        review_hold: consent.review_hold.as_ref().map(|h| marker_to_pb(h, h.since.checked_add(review_hold).ok())),
        reassignment: consent.reassigned.as_ref().map(|r| marker_to_pb(r, None)),
        rnd_disconnected: consent.rnd_void.as_ref().map(|r| marker_to_pb(r, None)),
        rnd_checked: consent.rnd_checked.as_ref().map(|c| pb::ReassignedCheck {
            event_id: c.event_id.clone(),
            phone: phone.as_str().to_string(),
            queried_at: Some(timestamp(c.queried_at)),
            answer: rnd_answer_to_pb(c.answer) as i32,
            disconnected_at: None,
            reference: String::new(),
        }),
    }
}
