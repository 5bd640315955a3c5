//! The ordered decision pipeline (DESIGN.md; compliance-rules §9). Pure: the
//! same inputs always give the same decision. The first hard stop wins.
//!
//! [`decide`] reads as the README's "How a decision is made" table: each
//! numbered step is one small function (steps 1-6 in `steps`, 7-8 in
//! `timing`, 9 in `disclosure`) that either lets the message go on or stops
//! it with a `Stop`, which `?` carries to the end.

mod disclosure;
mod reassigned;
mod steps;
mod timing;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::decision::{Decision, Outcome, Reason, Recipient};
use super::{Policy, TenantPolicy};
use crate::domain::ContactHistory;
use crate::domain::{Category, ContactConsent};
use crate::phone::{PhoneNumber, UsState};
use steps::{Conversation, Place};
use timing::Timing;

/// Who started the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    Unspecified,
    Person,
    Automated,
}

/// One outbound message to decide, already parsed and validated.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// Sending number, E.164.
    pub from: &'a str,
    pub to: &'a PhoneNumber,
    pub body: &'a str,
    pub origin: Origin,
    /// Declared category; None = derive it.
    pub category: Option<Category>,
    /// Declared campaign; empty = the sender's campaign.
    pub campaign_id: &'a str,
    /// The instant every time rule is evaluated at.
    pub send_at: Timestamp,
    /// State of residence, when the caller knows it.
    pub recipient_state: Option<UsState>,
    /// IANA zone the caller knows the recipient is in.
    pub recipient_zone: Option<(&'a str, &'a TimeZone)>,
}

/// A hard stop: the step that found it ends the pipeline with this outcome.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Deny(Vec<Reason>),
    Defer { until: Timestamp, reasons: Vec<Reason> },
}

/// What one step gives the next, or the stop that ends the pipeline.
type Step<T = ()> = Result<T, Stop>;

impl Stop {
    /// `d` (as far as the pipeline got) with this stop's outcome and reasons.
    fn apply(self, d: Decision) -> Decision {
        match self {
            Stop::Deny(reasons) => Decision { outcome: Outcome::Deny, reasons, ..d },
            Stop::Defer { until, reasons } => {
                Decision { outcome: Outcome::Defer, defer_until: Some(until), reasons, ..d }
            }
        }
    }
}

/// Everything one decision reads.
struct Inputs<'a> {
    policy: &'a Policy,
    tenant: &'a TenantPolicy,
    msg: &'a Message<'a>,
    consent: &'a ContactConsent,
    history: &'a ContactHistory,
    place: Place<'a>,
}

/// Decides one message for `tenant`, given the recipient's consent and history.
pub fn decide(
    policy: &Policy,
    tenant: &TenantPolicy,
    msg: &Message,
    consent: &ContactConsent,
    history: &ContactHistory,
) -> Decision {
    let place = steps::locate(&policy.pack, msg);
    let mut d = undecided(msg, &place);
    let inputs = Inputs { policy, tenant, msg, consent, history, place };
    match pipeline(&inputs, &mut d) {
        Ok(()) => d,
        Err(stop) => stop.apply(d),
    }
}

/// The steps in order. Each records what it learnt in `d` before the next runs,
/// so a stop carries the campaign and category found so far.
fn pipeline(i: &Inputs, d: &mut Decision) -> Step {
    let (pack, tenant, msg) = (&i.policy.pack, i.tenant, i.msg);
    steps::region(pack, &i.place)?; // 1
    let sender = steps::sender(tenant, msg)?; // 2
    d.campaign_id = sender.campaign.id.clone();
    steps::opt_out(i.consent, &sender)?; // 3
    let conversation = Conversation::at(i.history.last_inbound_at, tenant.conversation_window, msg.send_at);
    let category = steps::category_for(msg, sender.campaign, conversation);
    d.category = Some(category);
    let words = pack.content.words(msg.body);
    steps::category_allowed(&pack.content, sender.campaign, category, &words)?; // 4b
    steps::review_hold(i.consent, msg, category, tenant.review_hold)?; // 4c
    steps::consent(i.consent, &sender, category, conversation, tenant.conversation_window)?; // 5
    let rnd_due = reassigned::check_due(
        i.consent,
        (&sender.campaign.id, sender.number),
        category,
        tenant,
        pack.rnd_cycle_day,
        msg.send_at,
    )?; // 5b
    d.reasons.extend(rnd_due);
    steps::content(&pack.content, tenant, sender.campaign, msg.body, &words)?; // 6
    let states = timing::state_rules(pack, tenant, &i.place.states, category);
    let timing = Timing {
        windows: timing::quiet_hours(tenant, sender.campaign, category, &states), // 7
        caps: timing::frequency_caps(&states),                                    // 8
        sends: timing::counted_sends(i.history, sender.campaign, category),
    };
    timing::on_time(msg.send_at, &i.place.time_zones(), &timing, pack.defer_horizon)?; // 7-8
    d.discloses = pack.inbound.carries_opt_out_instruction(msg.body);
    if !d.discloses {
        if let Some(why) = disclosure::due(tenant, category, i.history.last_disclosure_at, msg.send_at) {
            disclosure::add(d, tenant, &why); // 9
        }
    }
    Ok(()) // 10
}

/// The decision before any step ran: ALLOW of the body as given.
fn undecided(msg: &Message, place: &Place) -> Decision {
    Decision {
        outcome: Outcome::Allow,
        body: msg.body.to_string(),
        changes: Vec::new(),
        reasons: Vec::new(),
        defer_until: None,
        category: None,
        campaign_id: String::new(),
        recipient: Recipient {
            e164: msg.to.as_str().to_string(),
            region: place.region.clone(),
            time_zones: place.zones.iter().map(|(n, _)| n.to_string()).collect(),
            states: place.states.clone(),
        },
        discloses: false,
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
