//! Steps 7 and 8: quiet hours and frequency caps, checked together because a
//! deferral must land on an instant that satisfies both.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Step, Stop};
use crate::domain::Category;
use crate::domain::ContactHistory;
use crate::phone::UsState;
use crate::policy::decision::{Reason, ReasonCode};
use crate::policy::quiet_hours::NamedWindow;
use crate::policy::rulepack::{Cap, StateRule};
use crate::policy::{schedule, Campaign, RulePack, TenantPolicy};

/// The rule-pack rules of the recipient's states that cover `category`
/// (none when the tenant turned state rules off).
pub(super) fn state_rules<'p>(
    pack: &'p RulePack,
    tenant: &TenantPolicy,
    states: &[UsState],
    category: Category,
) -> Vec<&'p StateRule> {
    if !tenant.state_rules {
        return Vec::new();
    }
    states.iter().filter_map(|st| pack.states.get(st)).filter(|rule| rule.categories.contains(&category)).collect()
}

/// Step 7: the quiet-hours windows that apply: the tenant's, then each state's;
/// none for time-critical campaigns and (unless the tenant says otherwise)
/// conversational replies.
pub(super) fn quiet_hours(
    tenant: &TenantPolicy,
    campaign: &Campaign,
    category: Category,
    states: &[&StateRule],
) -> Vec<NamedWindow> {
    let exempt = campaign.time_critical || (category == Category::Conversational && !tenant.quiet_hours_conversational);
    if exempt {
        return Vec::new();
    }
    let state_windows = states.iter().filter_map(|rule| rule.window.clone());
    std::iter::once(tenant.quiet_hours.clone()).chain(state_windows).collect()
}

/// Step 8: the states' frequency caps.
pub(super) fn frequency_caps<'p>(states: &[&'p StateRule]) -> Vec<&'p Cap> {
    states.iter().filter_map(|rule| rule.cap.as_ref()).collect()
}

/// The sends a cap counts, earlier and booked ahead: same campaign, same
/// category; in time order, as the history keeps them.
pub(super) fn counted_sends(history: &ContactHistory, campaign: &Campaign, category: Category) -> Vec<Timestamp> {
    history.sends.iter().filter(|s| s.campaign_id == campaign.id && s.category == category).map(|s| s.at).collect()
}

/// The time rules of steps 7 and 8. They are checked together: a deferral
/// must land on an instant that satisfies both.
pub(super) struct Timing<'p> {
    pub windows: Vec<NamedWindow>,
    pub caps: Vec<&'p Cap>,
    pub sends: Vec<Timestamp>,
}

/// Step 7-8: DEFER to the earliest instant that satisfies every window in every
/// zone and every cap; DENY when there is none within `horizon`.
pub(super) fn on_time(at: Timestamp, zones: &[TimeZone], timing: &Timing, horizon: SignedDuration) -> Step {
    let Err(def) = schedule::check(at, zones, &timing.windows, &timing.caps, &timing.sends, horizon) else {
        return Ok(());
    };
    let mut reasons = def.reasons;
    match def.until {
        Some(until) => Err(Stop::Defer { until, reasons }),
        None => {
            reasons.push(Reason::new(
                ReasonCode::QuietHours,
                "quiet_hours.no_window",
                "no instant within the defer horizon satisfies every candidate time zone and rule",
            ));
            Err(Stop::Deny(reasons))
        }
    }
}

#[cfg(test)]
#[path = "timing_tests.rs"]
mod tests;
