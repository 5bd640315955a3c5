//! Domain types of the consent ledger, independent of the wire format.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Grant or revoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Grant,
    Revoke,
}

/// Strength of consent; ordered so that `a >= b` means "a satisfies b".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Unspecified,
    Implied,
    Express,
    ExpressWritten,
}

/// What kind of message a consent covers or a decision applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub tenant_id: String,
    pub event_id: String,
    pub phone: String,
    pub action: Action,
    pub level: Level,
    pub scope: Scope,
    pub source: Source,
    pub occurred_at: Timestamp,
    pub evidence: Evidence,
    pub categories: Vec<Category>,
    pub inbound_text: String,
}

/// An event as stored: the submitted event plus its ledger position and time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
            tenant_id: tenant.into(),
            event_id: id.into(),
            phone: phone.into(),
            action,
            level: if action == Action::Grant { Level::Express } else { Level::Unspecified },
            scope: Scope::default(),
            source: Source::Api,
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            evidence: Evidence::default(),
            categories: vec![],
            inbound_text: String::new(),
        }
    }
}
