//! The bytes the store keeps, as record types of their own.
//!
//! The domain structs (`crate::domain`) change as the engine needs; these do
//! not. Each record type is the exact layout of one schema version
//! (`meta/schema_version`), encoded with bincode 1 (fields in declaration
//! order, enums as their variant index, timestamps as RFC 3339 strings), so
//! a field added to a domain struct can never silently change what is on
//! disk or make an old store unreadable. A new layout is a new set of `V2`
//! types, a bumped schema version, and a conversion from the old records.
//!
//! One exception: `contact` values (activity, not consent) have a second
//! layout beside the first, told apart by its leading byte, with no schema
//! bump; a first-layout value is rewritten in the second on its next write
//! (`record_contact.rs`).
//!
//! `tests/data/store-v1` holds a store written by the layout before these
//! types existed; `tests/api/store_layout.rs` serves from it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ConsentError;
use crate::domain::{
    Action, ConsentEvent, ContactConsent, Evidence, Marker, NewEvent, RndAnswer, RndCheck, Scope, ScopeState, Status,
    TenantId,
};
use crate::phone::PhoneNumber;
use enums::{category, category_v1, level, level_v1, rnd_answer, rnd_answer_v1, source, source_v1};

#[path = "record_contact.rs"]
mod contact;
#[path = "record_enums.rs"]
mod enums;
pub use contact::{decode_contact, encode_contact};

/// The schema version whose records this module reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// `WrongNumber` and `ReviewHold` were appended to the first layout, then the
/// three RND answers: a store written before them never holds their indices,
/// so it stays readable. A binary older than a variant cannot read a store
/// holding it (it reports the record as corrupt): downgrade only to a store
/// restored from a backup taken before the first such event.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum ActionV1 {
    Grant,
    Revoke,
    WrongNumber,
    ReviewHold,
    RndYes,
    RndNo,
    RndNoData,
}

/// `Unspecified` stands for "no level" (a revocation, or a revoked scope
/// that revoked no grant).
#[derive(Clone, Copy, Serialize, Deserialize)]
enum LevelV1 {
    Unspecified,
    Implied,
    Express,
    ExpressWritten,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
enum CategoryV1 {
    Conversational,
    Informational,
    Promotional,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
enum SourceV1 {
    Unspecified,
    Keyword,
    WebForm,
    PaperForm,
    Verbal,
    Api,
    Import,
    AgentAttestation,
}

/// `Reassigned` and `ReviewHold` were appended to the first layout, then
/// `RndVoid` and `RndChecked`. They mark a row of `ConsentV1::scopes` that is
/// no scope's consent but the number's wrong-number report
/// (`ContactConsent::reassigned`), review hold (with its matched phrase), RND
/// YES (`rnd_void`, `since` = the disconnect date) or latest RND answer
/// (`rnd_checked`, `since` = the query time); such a row's scope is the whole
/// tenant, its level unspecified and its categories empty. Older stores have
/// no such rows (older binaries cannot read the RND rows).
#[derive(Serialize, Deserialize)]
enum StatusV1 {
    Granted,
    Revoked,
    Reassigned,
    ReviewHold(String),
    RndVoid,
    RndChecked(RndAnswerV1),
}

#[derive(Clone, Copy, Serialize, Deserialize)]
enum RndAnswerV1 {
    Yes,
    No,
    NoData,
}

#[derive(Serialize, Deserialize)]
struct ScopeV1 {
    campaign_id: String,
    sender: String,
}

#[derive(Serialize, Deserialize)]
struct EvidenceV1 {
    collected_by: String,
    method_detail: String,
    disclosure_text: String,
    ip_address: String,
    user_agent: String,
    document_ref: String,
    extra: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct NewEventV1 {
    tenant_id: String,
    event_id: String,
    phone: String,
    action: ActionV1,
    level: LevelV1,
    scope: ScopeV1,
    source: SourceV1,
    occurred_at: Timestamp,
    evidence: EvidenceV1,
    categories: Vec<CategoryV1>,
    inbound_text: String,
}

/// `events` tree value.
#[derive(Serialize, Deserialize)]
struct EventV1 {
    sequence: u64,
    recorded_at: Timestamp,
    event: NewEventV1,
}

#[derive(Serialize, Deserialize)]
struct ScopeStateV1 {
    scope: ScopeV1,
    status: StatusV1,
    level: LevelV1,
    categories: Vec<CategoryV1>,
    event_id: String,
    sequence: u64,
    since: Timestamp,
    keyword_revoke: bool,
}

/// `consent` tree value (and the consent index's bytes).
#[derive(Serialize, Deserialize)]
struct ConsentV1 {
    scopes: Vec<ScopeStateV1>,
}

/// An `events` value.
pub fn encode_event(e: &ConsentEvent) -> Vec<u8> {
    encode(&EventV1 { sequence: e.sequence, recorded_at: e.recorded_at, event: new_event_v1(&e.event) })
}

/// Decodes an `events` value.
pub fn decode_event(bytes: &[u8]) -> Result<ConsentEvent, ConsentError> {
    let r: EventV1 = decode(bytes, "consent event")?;
    Ok(ConsentEvent { sequence: r.sequence, recorded_at: r.recorded_at, event: new_event(r.event)? })
}

/// A `consent` value.
pub fn encode_consent(c: &ContactConsent) -> Vec<u8> {
    let mut scopes: Vec<ScopeStateV1> = c.scopes.iter().map(scope_state_v1).collect();
    let marker = |m: &Marker, status| ScopeStateV1 {
        scope: scope_v1(&Scope::default()),
        status,
        level: LevelV1::Unspecified,
        categories: Vec::new(),
        event_id: m.event_id.clone(),
        sequence: m.sequence,
        since: m.since,
        keyword_revoke: false,
    };
    scopes.extend(c.reassigned.as_ref().map(|m| marker(m, StatusV1::Reassigned)));
    scopes.extend(c.review_hold.as_ref().map(|m| marker(m, StatusV1::ReviewHold(m.matched.clone()))));
    scopes.extend(c.rnd_void.as_ref().map(|m| marker(m, StatusV1::RndVoid)));
    scopes.extend(c.rnd_checked.as_ref().map(|r| {
        let m =
            Marker { event_id: r.event_id.clone(), sequence: r.sequence, since: r.queried_at, matched: String::new() };
        marker(&m, StatusV1::RndChecked(rnd_answer_v1(r.answer)))
    }));
    encode(&ConsentV1 { scopes })
}

/// Decodes a `consent` value.
pub fn decode_consent(bytes: &[u8]) -> Result<ContactConsent, ConsentError> {
    let r: ConsentV1 = decode(bytes, "consent state")?;
    let mut c = ContactConsent::default();
    for row in r.scopes {
        let marker =
            |matched| Marker { event_id: row.event_id.clone(), sequence: row.sequence, since: row.since, matched };
        match &row.status {
            StatusV1::Reassigned => c.reassigned = Some(marker(String::new())),
            StatusV1::ReviewHold(matched) => c.review_hold = Some(marker(matched.clone())),
            StatusV1::RndVoid => c.rnd_void = Some(marker(String::new())),
            &StatusV1::RndChecked(answer) => {
                c.rnd_checked = Some(RndCheck {
                    event_id: row.event_id.clone(),
                    sequence: row.sequence,
                    queried_at: row.since,
                    answer: rnd_answer(answer),
                })
            }
            StatusV1::Granted | StatusV1::Revoked => c.scopes.push(scope_state(row)),
        }
    }
    Ok(c)
}

fn encode(record: &impl Serialize) -> Vec<u8> {
    // Plain structs, strings and sequences of known length: bincode cannot fail on them.
    bincode::serialize(record).expect("record types always encode")
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &'static str) -> Result<T, ConsentError> {
    bincode::deserialize(bytes).map_err(|e| ConsentError::Corrupt { what: what.into(), source: Some(e) })
}

fn new_event_v1(e: &NewEvent) -> NewEventV1 {
    let (action, level) = match e.action {
        Action::Grant(level) => (ActionV1::Grant, level_v1(Some(level))),
        Action::Revoke => (ActionV1::Revoke, LevelV1::Unspecified),
        Action::WrongNumber => (ActionV1::WrongNumber, LevelV1::Unspecified),
        Action::ReviewHold => (ActionV1::ReviewHold, LevelV1::Unspecified),
        Action::Rnd(RndAnswer::Yes) => (ActionV1::RndYes, LevelV1::Unspecified),
        Action::Rnd(RndAnswer::No) => (ActionV1::RndNo, LevelV1::Unspecified),
        Action::Rnd(RndAnswer::NoData) => (ActionV1::RndNoData, LevelV1::Unspecified),
    };
    NewEventV1 {
        tenant_id: e.tenant_id.as_str().to_string(),
        event_id: e.event_id.clone(),
        phone: e.phone.as_str().to_string(),
        action,
        level,
        scope: scope_v1(&e.scope),
        source: source_v1(e.source),
        occurred_at: e.occurred_at,
        evidence: EvidenceV1 {
            collected_by: e.evidence.collected_by.clone(),
            method_detail: e.evidence.method_detail.clone(),
            disclosure_text: e.evidence.disclosure_text.clone(),
            ip_address: e.evidence.ip_address.clone(),
            user_agent: e.evidence.user_agent.clone(),
            document_ref: e.evidence.document_ref.clone(),
            extra: e.evidence.extra.clone(),
        },
        categories: e.categories.iter().copied().map(category_v1).collect(),
        inbound_text: e.inbound_text.clone(),
    }
}

fn new_event(r: NewEventV1) -> Result<NewEvent, ConsentError> {
    let action = match (r.action, level(r.level)) {
        (ActionV1::Grant, Some(level)) => Action::Grant(level),
        (ActionV1::Grant, None) => {
            return Err(ConsentError::Corrupt { what: format!("grant {:?} without a level", r.event_id), source: None })
        }
        (ActionV1::Revoke, _) => Action::Revoke,
        (ActionV1::WrongNumber, _) => Action::WrongNumber,
        (ActionV1::ReviewHold, _) => Action::ReviewHold,
        (ActionV1::RndYes, _) => Action::Rnd(RndAnswer::Yes),
        (ActionV1::RndNo, _) => Action::Rnd(RndAnswer::No),
        (ActionV1::RndNoData, _) => Action::Rnd(RndAnswer::NoData),
    };
    let phone = PhoneNumber::parse_e164(&r.phone)
        .map_err(|_| ConsentError::corrupt(format!("event {:?} holds a phone number not in E.164 form", r.event_id)))?;
    let ev = r.evidence;
    Ok(NewEvent {
        tenant_id: TenantId::new(r.tenant_id),
        event_id: r.event_id,
        phone,
        action,
        scope: Scope { campaign_id: r.scope.campaign_id, sender: r.scope.sender },
        source: source(r.source),
        occurred_at: r.occurred_at,
        evidence: Evidence {
            collected_by: ev.collected_by,
            method_detail: ev.method_detail,
            disclosure_text: ev.disclosure_text,
            ip_address: ev.ip_address,
            user_agent: ev.user_agent,
            document_ref: ev.document_ref,
            extra: ev.extra,
        },
        categories: r.categories.into_iter().map(category).collect(),
        inbound_text: r.inbound_text,
    })
}

fn scope_state_v1(s: &ScopeState) -> ScopeStateV1 {
    ScopeStateV1 {
        scope: scope_v1(&s.scope),
        status: match s.status {
            Status::Granted => StatusV1::Granted,
            Status::Revoked => StatusV1::Revoked,
        },
        level: level_v1(s.level),
        categories: s.categories.iter().copied().map(category_v1).collect(),
        event_id: s.event_id.clone(),
        sequence: s.sequence,
        since: s.since,
        keyword_revoke: s.keyword_revoke,
    }
}

fn scope_state(r: ScopeStateV1) -> ScopeState {
    ScopeState {
        scope: Scope { campaign_id: r.scope.campaign_id, sender: r.scope.sender },
        status: match r.status {
            StatusV1::Granted => Status::Granted,
            // Marker rows never reach here (`decode_consent` takes them out).
            _ => Status::Revoked,
        },
        level: level(r.level),
        categories: r.categories.into_iter().map(category).collect(),
        event_id: r.event_id,
        sequence: r.sequence,
        since: r.since,
        keyword_revoke: r.keyword_revoke,
    }
}

fn scope_v1(s: &Scope) -> ScopeV1 {
    ScopeV1 { campaign_id: s.campaign_id.clone(), sender: s.sender.clone() }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
