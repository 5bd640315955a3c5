//! Consent events: what a person agreed to or withdrew, with its evidence.
//!
//! Free of storage and wire formats: `consent::records` maps these to the
//! bytes sled keeps, `api::convert` to the proto messages.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::tenant::TenantId;
use crate::phone::PhoneNumber;

/// Grant (at a level), revoke, or one of the inbound findings that are not
/// plain consent. A revocation carries no level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Grant(Level),
    Revoke,
    /// A revocation that also reports a possible reassignment ("wrong
    /// number", compliance-rules §2.9 and §7.3): every grant collected
    /// before it belonged to someone else and is void for good.
    WrongNumber,
    /// The person wrote something that may mean "stop" but not clearly
    /// (compliance-rules §2.9 class B): automated and promotional sends wait
    /// until an agent records a grant or revocation, or the tenant's
    /// `review_hold` passes. Changes no consent.
    ReviewHold,
    /// A Reassigned Numbers Database answer (compliance-rules §7.3), queried
    /// at the event's `occurred_at`. A YES voids every grant collected before
    /// the disconnect date (kept in `Evidence::extra` under
    /// [`RND_DISCONNECTED_EXTRA_KEY`]; without one, before the query). NO and
    /// NO DATA change no consent: they mark the number as checked.
    Rnd(RndAnswer),
}

/// What the Reassigned Numbers Database answered for a number and date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RndAnswer {
    /// Permanently disconnected since the date given: it may have been reassigned.
    Yes,
    No,
    NoData,
}

impl Action {
    /// Whether this is a revocation (a wrong-number report is one).
    pub fn is_revoke(self) -> bool {
        matches!(self, Action::Revoke | Action::WrongNumber)
    }
}

/// The `Evidence::extra` key under which an RND YES keeps the disconnect date
/// the database gave (RFC 3339), when it gave one.
pub const RND_DISCONNECTED_EXTRA_KEY: &str = "rnd_disconnected_at";

impl NewEvent {
    /// For an RND YES: the instant before which grants are void (the
    /// disconnect date when given, else the query's time). None otherwise.
    pub fn rnd_void_before(&self) -> Option<Timestamp> {
        if self.action != Action::Rnd(RndAnswer::Yes) {
            return None;
        }
        let given = self.evidence.extra.get(RND_DISCONNECTED_EXTRA_KEY).and_then(|t| t.parse::<Timestamp>().ok());
        // A disconnect reported after the query cannot be: the query's time bounds it.
        Some(given.map_or(self.occurred_at, |t| t.min(self.occurred_at)))
    }
}

/// The `Evidence::extra` key under which an inbound event keeps the
/// normalized keyword or phrase that decided its intent (a review hold
/// shows it in the consent view).
pub const MATCHED_EXTRA_KEY: &str = "matched";

/// The `Evidence::extra` key under which an inbound event keeps the BCP 47
/// tag of the language its reply was chosen in.
pub const REPLY_LANGUAGE_EXTRA_KEY: &str = "reply_language";

/// Strength of consent; ordered so that `a >= b` means "a satisfies b".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Implied,
    Express,
    ExpressWritten,
}

/// What kind of message a consent covers or a decision applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Conversational,
    Informational,
    Promotional,
}

impl Category {
    /// The weakest consent level carriers accept for this category.
    pub fn required_level(self) -> Level {
        match self {
            Category::Conversational => Level::Implied,
            Category::Informational => Level::Express,
            Category::Promotional => Level::ExpressWritten,
        }
    }
}

/// How the consent was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Unspecified,
    Keyword,
    WebForm,
    PaperForm,
    Verbal,
    Api,
    Import,
    AgentAttestation,
}

/// Which campaigns and sending numbers an event covers; empty = all.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub campaign_id: String,
    pub sender: String,
}

impl Scope {
    /// Whether a send on `campaign_id` from `sender` falls under this scope.
    pub fn covers_send(&self, campaign_id: &str, sender: &str) -> bool {
        (self.campaign_id.is_empty() || self.campaign_id == campaign_id)
            && (self.sender.is_empty() || self.sender == sender)
    }

    /// Whether every send `other` covers is also covered by `self`.
    pub fn contains(&self, other: &Scope) -> bool {
        (self.campaign_id.is_empty() || self.campaign_id == other.campaign_id)
            && (self.sender.is_empty() || self.sender == other.sender)
    }
}

/// Proof of how consent was obtained, kept verbatim for audits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    pub collected_by: String,
    pub method_detail: String,
    pub disclosure_text: String,
    pub ip_address: String,
    pub user_agent: String,
    pub document_ref: String,
    pub extra: BTreeMap<String, String>,
}

/// An event as a caller submits it, before the ledger assigns its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub tenant_id: TenantId,
    pub event_id: String,
    pub phone: PhoneNumber,
    pub action: Action,
    pub scope: Scope,
    pub source: Source,
    pub occurred_at: Timestamp,
    pub evidence: Evidence,
    pub categories: Vec<Category>,
    pub inbound_text: String,
}

/// An event as stored: the submitted event plus its ledger position and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentEvent {
    pub sequence: u64,
    pub recorded_at: Timestamp,
    pub event: NewEvent,
}

#[cfg(test)]
impl NewEvent {
    /// A minimal event for tests: an express grant or a plain revoke, no evidence.
    pub(crate) fn for_test(tenant: &str, id: &str, phone: &str, action: Action) -> NewEvent {
        NewEvent {
            tenant_id: TenantId::new(tenant),
            event_id: id.into(),
            phone: PhoneNumber::parse(phone).expect("a test phone number"),
            action,
            scope: Scope::default(),
            source: Source::Api,
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            evidence: Evidence::default(),
            categories: vec![],
            inbound_text: String::new(),
        }
    }
}
