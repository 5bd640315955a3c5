//! What the engine decides, in domain terms (api/ converts it to the wire).

use jiff::Timestamp;

use crate::domain::Category;
use crate::phone::UsState;

/// The four outcomes, from plain yes to no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    AllowWithChanges,
    Defer,
    Deny,
}

/// Why a decision is not a plain ALLOW (mirrors the proto's ReasonCode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    OptedOut,
    ConsentRequired,
    ConsentInsufficient,
    QuietHours,
    FrequencyCap,
    ProhibitedContent,
    PublicUrlShortener,
    UndeclaredLink,
    UndeclaredPhone,
    SenderNotRegistered,
    UnsupportedRegion,
    CategoryNotAllowed,
    DisclosureAdded,
    ReviewHold,
    ReassignedNumber,
    RndCheckDue,
}

impl Outcome {
    /// Lower-case name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::AllowWithChanges => "allow_with_changes",
            Outcome::Defer => "defer",
            Outcome::Deny => "deny",
        }
    }
}

impl ReasonCode {
    /// Lower-case name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ReasonCode::OptedOut => "opted_out",
            ReasonCode::ConsentRequired => "consent_required",
            ReasonCode::ConsentInsufficient => "consent_insufficient",
            ReasonCode::QuietHours => "quiet_hours",
            ReasonCode::FrequencyCap => "frequency_cap",
            ReasonCode::ProhibitedContent => "prohibited_content",
            ReasonCode::PublicUrlShortener => "public_url_shortener",
            ReasonCode::UndeclaredLink => "undeclared_link",
            ReasonCode::UndeclaredPhone => "undeclared_phone",
            ReasonCode::SenderNotRegistered => "sender_not_registered",
            ReasonCode::UnsupportedRegion => "unsupported_region",
            ReasonCode::CategoryNotAllowed => "category_not_allowed",
            ReasonCode::DisclosureAdded => "disclosure_added",
            ReasonCode::ReviewHold => "review_hold",
            ReasonCode::ReassignedNumber => "reassigned_number",
            ReasonCode::RndCheckDue => "rnd_check_due",
        }
    }
}

/// One reason, citing the rule and (when there is one) the consent event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub rule_id: String,
    pub message: String,
    pub consent_event_id: String,
}

impl Reason {
    pub fn new(code: ReasonCode, rule_id: impl Into<String>, message: impl Into<String>) -> Reason {
        Reason { code, rule_id: rule_id.into(), message: message.into(), consent_event_id: String::new() }
    }

    pub fn citing(mut self, event_id: &str) -> Reason {
        self.consent_event_id = event_id.to_string();
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    BrandPrefix,
    OptOutNotice,
}

/// A modification the sender must apply (the response carries the new body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub rule_id: String,
    pub text: String,
}

/// Where the recipient may be, as far as the rules are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipient {
    pub e164: String,
    pub region: String,
    pub time_zones: Vec<String>,
    pub states: Vec<UsState>,
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The body to send (the request's, or with changes applied).
    pub body: String,
    pub changes: Vec<Change>,
    pub reasons: Vec<Reason>,
    pub defer_until: Option<Timestamp>,
    /// The category the decision applied (None when denied before it was known).
    pub category: Option<Category>,
    pub campaign_id: String,
    pub recipient: Recipient,
    /// The sent body carries an opt-out instruction (added or already there):
    /// the disclosure clock restarts when it is sent.
    pub discloses: bool,
}
