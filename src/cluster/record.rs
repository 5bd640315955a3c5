//! What is replicated, as bytes on the wire: a versioned record of its own,
//! not the domain structs, so a change to `NewEvent` cannot silently change
//! what other instances (or a stream written last year) read.
//!
//! The encoding is bincode 1.3 with varint integers (compact: small numbers
//! take one byte) and a size limit. The enum's variant index is the record
//! kind and version: variants are only ever appended, never reordered or
//! changed; a new layout is a new variant (`ConsentV2`), and old ones stay
//! decodable. The mirrored enums (`ActionV1`...) pin each domain enum's wire
//! index the same way. `tests/data/replicated_consent_v1.hex` holds bytes of
//! this V1 layout that must keep decoding.
//!
//! Phone numbers and message bodies travel in these records but never appear
//! in their `Debug` output, so logging a record leaks neither.

use std::collections::BTreeMap;

use bincode::Options;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{Action, Category, Evidence, Level, NewEvent, RndAnswer, Scope, SentMessage, Source, TenantId};
use crate::phone::PhoneNumber;

/// Largest record accepted when decoding (a stream message is at most
/// 1 MiB by default).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// One replicated fact. Append variants only; see the module doc.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicatedRecord {
    /// A consent event as the accepting instance recorded it.
    ConsentV1(Box<ConsentV1>),
    /// An allowed, non-dry-run send (caps, disclosure timing).
    SendV1(SendV1),
    /// An inbound text from a recipient (conversation windows).
    InboundV1(InboundV1),
}

/// `NewEvent`'s fields, the time the accepting instance recorded it, and
/// which instance that was.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentV1 {
    pub tenant_id: String,
    pub event_id: String,
    pub phone: String,
    pub action: ActionV1,
    pub level: LevelV1,
    pub scope_campaign_id: String,
    pub scope_sender: String,
    pub source: SourceV1,
    /// Nanoseconds since the Unix epoch.
    pub occurred_at_ns: i128,
    pub evidence: EvidenceV1,
    pub categories: Vec<CategoryV1>,
    pub inbound_text: String,
    pub recorded_at_ns: i128,
    /// `instance_id` of the instance that accepted the write.
    pub origin: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceV1 {
    pub collected_by: String,
    pub method_detail: String,
    pub disclosure_text: String,
    pub ip_address: String,
    pub user_agent: String,
    pub document_ref: String,
    pub extra: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendV1 {
    pub tenant_id: String,
    pub phone: String,
    pub campaign_id: String,
    pub sender: String,
    pub category: CategoryV1,
    pub at_ns: i128,
    /// The message carried the opt-out notice.
    pub disclosed: bool,
    pub decision_id: String,
    pub origin: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundV1 {
    pub tenant_id: String,
    pub phone: String,
    pub message_id: String,
    pub received_at_ns: i128,
    pub origin: String,
}

/// Decoding failed: corrupt bytes, a record kind this build does not know
/// (written by a newer version), or a time out of range.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a replicated record this version can read")]
    Decode(#[source] bincode::Error),
    #[error("a grant without a level")]
    GrantWithoutLevel,
    /// Never names the number.
    #[error("a phone number that is not E.164")]
    Phone,
    #[error("`{field}` is out of the range of a timestamp")]
    Time {
        field: &'static str,
        #[source]
        source: jiff::Error,
    },
}

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_varint_encoding().with_limit(MAX_RECORD_BYTES).reject_trailing_bytes()
}

fn time(field: &'static str, ns: i128) -> Result<Timestamp, RecordError> {
    Timestamp::from_nanosecond(ns).map_err(|source| RecordError::Time { field, source })
}

impl ReplicatedRecord {
    pub fn encode(&self) -> Vec<u8> {
        options().serialize(self).expect("a record always fits the limit it is decoded with")
    }

    pub fn decode(bytes: &[u8]) -> Result<ReplicatedRecord, RecordError> {
        options().deserialize(bytes).map_err(RecordError::Decode)
    }

    /// The `Nats-Msg-Id` it is published with: the id a retry of the same
    /// write carries through any instance, so the stream stores it once.
    pub fn msg_id(&self) -> String {
        match self {
            ReplicatedRecord::ConsentV1(c) => format!("{}/{}", c.tenant_id, c.event_id),
            ReplicatedRecord::SendV1(s) => format!("{}/{}", s.tenant_id, s.decision_id),
            ReplicatedRecord::InboundV1(i) => format!("{}/{}", i.tenant_id, i.message_id),
        }
    }

    pub fn tenant_id(&self) -> &str {
        match self {
            ReplicatedRecord::ConsentV1(c) => &c.tenant_id,
            ReplicatedRecord::SendV1(s) => &s.tenant_id,
            ReplicatedRecord::InboundV1(i) => &i.tenant_id,
        }
    }
}

impl ConsentV1 {
    /// Destructures `event`, so a new domain field does not compile until
    /// it has a place on the wire (in a new variant).
    pub fn new(event: &NewEvent, recorded_at: Timestamp, origin: &str) -> ConsentV1 {
        let NewEvent {
            tenant_id,
            event_id,
            phone,
            action,
            scope,
            source,
            occurred_at,
            evidence,
            categories,
            inbound_text,
        } = event.clone();
        ConsentV1 {
            tenant_id: tenant_id.to_string(),
            event_id,
            phone: phone.as_str().to_string(),
            action: action.into(),
            level: match action {
                Action::Grant(level) => level.into(),
                Action::Revoke | Action::WrongNumber | Action::ReviewHold | Action::Rnd(_) => LevelV1::Unspecified,
            },
            scope_campaign_id: scope.campaign_id,
            scope_sender: scope.sender,
            source: source.into(),
            occurred_at_ns: occurred_at.as_nanosecond(),
            evidence: evidence.into(),
            categories: categories.into_iter().map(CategoryV1::from).collect(),
            inbound_text,
            recorded_at_ns: recorded_at.as_nanosecond(),
            origin: origin.to_string(),
        }
    }

    /// The domain event and when the accepting instance recorded it.
    pub fn to_event(&self) -> Result<(NewEvent, Timestamp), RecordError> {
        let event = NewEvent {
            tenant_id: TenantId::new(self.tenant_id.as_str()),
            event_id: self.event_id.clone(),
            phone: PhoneNumber::parse_e164(&self.phone).map_err(|_| RecordError::Phone)?,
            action: match (self.action, self.level) {
                (ActionV1::Revoke, _) => Action::Revoke,
                (ActionV1::WrongNumber, _) => Action::WrongNumber,
                (ActionV1::ReviewHold, _) => Action::ReviewHold,
                (ActionV1::RndYes, _) => Action::Rnd(RndAnswer::Yes),
                (ActionV1::RndNo, _) => Action::Rnd(RndAnswer::No),
                (ActionV1::RndNoData, _) => Action::Rnd(RndAnswer::NoData),
                (ActionV1::Grant, LevelV1::Unspecified) => return Err(RecordError::GrantWithoutLevel),
                (ActionV1::Grant, level) => Action::Grant(level.into_level()),
            },
            scope: Scope { campaign_id: self.scope_campaign_id.clone(), sender: self.scope_sender.clone() },
            source: self.source.into(),
            occurred_at: time("occurred_at_ns", self.occurred_at_ns)?,
            evidence: self.evidence.clone().into(),
            categories: self.categories.iter().map(|&c| c.into()).collect(),
            inbound_text: self.inbound_text.clone(),
        };
        Ok((event, time("recorded_at_ns", self.recorded_at_ns)?))
    }
}

impl SendV1 {
    /// The send as the contact history keeps it.
    pub fn to_sent(&self) -> Result<SentMessage, RecordError> {
        Ok(SentMessage {
            campaign_id: self.campaign_id.clone(),
            category: self.category.into(),
            at: time("at_ns", self.at_ns)?,
        })
    }
}

// Destructured, not copied field by field, so a new evidence field in the
// domain does not compile until it has a place on the wire.
impl From<Evidence> for EvidenceV1 {
    fn from(e: Evidence) -> EvidenceV1 {
        let Evidence { collected_by, method_detail, disclosure_text, ip_address, user_agent, document_ref, extra } = e;
        EvidenceV1 { collected_by, method_detail, disclosure_text, ip_address, user_agent, document_ref, extra }
    }
}

impl From<EvidenceV1> for Evidence {
    fn from(e: EvidenceV1) -> Evidence {
        let EvidenceV1 { collected_by, method_detail, disclosure_text, ip_address, user_agent, document_ref, extra } =
            e;
        Evidence { collected_by, method_detail, disclosure_text, ip_address, user_agent, document_ref, extra }
    }
}

impl std::fmt::Debug for ReplicatedRecord {
    /// Kind, tenant and id only: never the phone number or a message body.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            ReplicatedRecord::ConsentV1(_) => "ConsentV1",
            ReplicatedRecord::SendV1(_) => "SendV1",
            ReplicatedRecord::InboundV1(_) => "InboundV1",
        };
        f.debug_struct(kind).field("msg_id", &self.msg_id()).finish_non_exhaustive()
    }
}

/// Declares a wire mirror of a domain enum: the variants in wire order
/// (append only) and conversions both ways, exhaustive so that a new domain
/// variant does not compile until it has a wire index.
macro_rules! wire_enum {
    ($wire:ident <=> $domain:ident { $($v:ident),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $wire { $($v),+ }
        impl From<$domain> for $wire {
            fn from(d: $domain) -> $wire { match d { $($domain::$v => $wire::$v),+ } }
        }
        impl From<$wire> for $domain {
            fn from(w: $wire) -> $domain { match w { $($wire::$v => $domain::$v),+ } }
        }
    };
}

/// Grant, revoke, wrong number, review hold or an RND answer; a grant's
/// level travels in its own field, an RND YES's disconnect date in the
/// evidence (`RND_DISCONNECTED_EXTRA_KEY`). `WrongNumber`, `ReviewHold` and
/// the `Rnd*` answers were appended: records written before them keep their
/// indices and decode as before. An instance older than a variant cannot read
/// a record holding it: it stops applying and leaves `/readyz` (upgrade every
/// instance before recording RND answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionV1 {
    Grant,
    Revoke,
    WrongNumber,
    ReviewHold,
    RndYes,
    RndNo,
    RndNoData,
}

impl From<Action> for ActionV1 {
    fn from(a: Action) -> ActionV1 {
        match a {
            Action::Grant(_) => ActionV1::Grant,
            Action::Revoke => ActionV1::Revoke,
            Action::WrongNumber => ActionV1::WrongNumber,
            Action::ReviewHold => ActionV1::ReviewHold,
            Action::Rnd(RndAnswer::Yes) => ActionV1::RndYes,
            Action::Rnd(RndAnswer::No) => ActionV1::RndNo,
            Action::Rnd(RndAnswer::NoData) => ActionV1::RndNoData,
        }
    }
}

/// A consent level; `Unspecified` is a revocation's (no level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LevelV1 {
    Unspecified,
    Implied,
    Express,
    ExpressWritten,
}

impl From<Level> for LevelV1 {
    fn from(l: Level) -> LevelV1 {
        match l {
            Level::Implied => LevelV1::Implied,
            Level::Express => LevelV1::Express,
            Level::ExpressWritten => LevelV1::ExpressWritten,
        }
    }
}

impl LevelV1 {
    /// The level of a grant (`Unspecified` is refused before this).
    fn into_level(self) -> Level {
        match self {
            LevelV1::Implied => Level::Implied,
            LevelV1::Unspecified | LevelV1::Express => Level::Express,
            LevelV1::ExpressWritten => Level::ExpressWritten,
        }
    }
}
wire_enum!(CategoryV1 <=> Category { Conversational, Informational, Promotional });
wire_enum!(SourceV1 <=> Source { Unspecified, Keyword, WebForm, PaperForm, Verbal, Api, Import, AgentAttestation });

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
