//! What an inbound text changes, once it is classified: the consent event to
//! record (if any) and the one reply to send. Pure: the gRPC handler parses,
//! asks the ledger for the number's consent, calls [`outcome`] and records.

use jiff::Timestamp;

use super::inbound::Intent;
use super::Replies;
use crate::domain::{Action, ContactConsent, Level, Source};

/// Where the number stands with this sender before the text arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No consent on record at all.
    Unknown,
    /// Consent on record; the latest word for this sender is not a revocation.
    OnRecord,
    /// The latest word for this sender is a revocation.
    OptedOut,
    /// Nothing granted and the whole tenant revoked: a further opt-out
    /// changes nothing and gets no second confirmation.
    FullyOptedOut,
}

impl Standing {
    /// The number's standing for a send on `campaign_id` from `sender`.
    pub fn of(consent: &ContactConsent, campaign_id: &str, sender: &str) -> Standing {
        if consent.fully_revoked() {
            Standing::FullyOptedOut
        } else if consent.opt_out_for_send(campaign_id, sender).is_some() {
            Standing::OptedOut
        } else if consent.scopes.is_empty() {
            Standing::Unknown
        } else {
            Standing::OnRecord
        }
    }

    /// Whether a send from this sender would be refused as opted out.
    pub fn opted_out(self) -> bool {
        matches!(self, Standing::OptedOut | Standing::FullyOptedOut)
    }
}

/// The consent event an inbound keyword records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentChange {
    pub action: Action,
    pub source: Source,
    /// When the person said it: the text's receipt.
    pub occurred_at: Timestamp,
}

/// What to do about one inbound text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundOutcome<'t> {
    /// The event to record; None when the text changes no consent.
    pub record: Option<ConsentChange>,
    /// The reply to send; "" = none.
    pub reply: &'t str,
    /// The reply to send instead when the ledger already held this text's
    /// event (recorded, but the answer was never stored): the confirmation
    /// the person never got.
    pub reply_if_recorded_before: &'t str,
}

/// The intent -> event / reply table. One confirmation only: a repeated STOP
/// while fully opted out is recorded as evidence but not confirmed again; a
/// START records a grant only when there is something to restore or nothing
/// on record. A wrong-number report is always recorded (it voids grants an
/// opt-in keyword could otherwise restore) and confirmed like an opt-out; an
/// ambiguous text records a review hold and no reply (an agent answers),
/// unless nothing could be sent to the number anyway.
pub fn outcome(intent: Intent, standing: Standing, replies: &Replies, received_at: Timestamp) -> InboundOutcome<'_> {
    let change = |action| Some(ConsentChange { action, source: Source::Keyword, occurred_at: received_at });
    let revoke = change(Action::Revoke);
    let grant = change(Action::Grant(Level::Express));
    let (wrong_number, hold) = (change(Action::WrongNumber), change(Action::ReviewHold));
    let (opt_out, opt_in, help) = (&*replies.opt_out, &*replies.opt_in, &*replies.help);
    let (record, reply, reply_if_recorded_before) = match (intent, standing) {
        (Intent::OptOut, Standing::FullyOptedOut) => (revoke, "", opt_out),
        (Intent::OptOut, _) => (revoke, opt_out, opt_out),
        (Intent::OptIn, Standing::OnRecord) => (None, opt_in, opt_in),
        (Intent::OptIn, _) => (grant, opt_in, opt_in),
        (Intent::Help, _) => (None, help, help),
        (Intent::WrongNumber, Standing::FullyOptedOut) => (wrong_number, "", opt_out),
        (Intent::WrongNumber, _) => (wrong_number, opt_out, opt_out),
        (Intent::Review, Standing::FullyOptedOut) => (None, "", ""),
        (Intent::Review, _) => (hold, "", ""),
        (Intent::Message, _) => (None, "", ""),
    };
    InboundOutcome { record, reply, reply_if_recorded_before }
}

#[cfg(test)]
#[path = "inbound_outcome_tests.rs"]
mod tests;
