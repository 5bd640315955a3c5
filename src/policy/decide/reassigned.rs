//! Step 5's Reassigned Numbers Database rules (compliance-rules §7.3, §9
//! step 4): a number the database reported disconnected has no consent from
//! before that date (`consent.reassigned`), and a business-initiated message
//! resting on old consent needs an answer from the current monthly cycle
//! (`consent.rnd_check_due`).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::{Step, Stop};
use crate::domain::{Category, ContactConsent, Status};
use crate::policy::decision::{Reason, ReasonCode};
use crate::policy::TenantPolicy;

/// Why no consent covers a send when the database voided what there was:
/// DENY `REASSIGNED_NUMBER` citing the RND event. None without an RND YES.
pub(super) fn void_reason(consent: &ContactConsent, category_name: &str) -> Option<Reason> {
    let v = consent.rnd_void.as_ref()?;
    Some(
        Reason::new(
            ReasonCode::ReassignedNumber,
            "consent.reassigned",
            format!(
                "the Reassigned Numbers Database reports the number disconnected on {}: consent collected before then \
                 belonged to its previous owner; record the present owner's consent for {category_name} messages first",
                v.since.strftime("%Y-%m-%d")
            ),
        )
        .citing(&v.event_id),
    )
}

/// The first instant of the monthly RND cycle `at` falls in: `day` of its
/// month (UTC) when `at` is on or after it, else `day` of the month before.
pub(super) fn cycle_start(at: Timestamp, day: i8) -> Timestamp {
    let date = at.to_zoned(TimeZone::UTC).date();
    let this = Date::new(date.year(), date.month(), day).unwrap_or(date);
    let start = if date >= this { this } else { this.checked_sub(1.month()).unwrap_or(this) };
    start.to_zoned(TimeZone::UTC).map_or(at, |z| z.timestamp())
}

/// Step 5b: a business-initiated message whose freshest covering grant is
/// older than the tenant's `rnd_check_after`, to a number without an RND
/// answer queried in the cycle of `send_at`: a warning (`Ok(Some)`), or DENY
/// when the tenant sets `rnd_check_required` (no instant makes it compliant
/// by itself, so no DEFER). Conversational replies are the person's own
/// conversation: never.
pub(super) fn check_due(
    consent: &ContactConsent,
    (campaign_id, sender): (&str, &str),
    category: Category,
    tenant: &TenantPolicy,
    cycle_day: i8,
    send_at: Timestamp,
) -> Step<Option<Reason>> {
    if category == Category::Conversational {
        return Ok(None);
    }
    let relied = consent
        .scopes
        .iter()
        .filter(|s| s.status == Status::Granted && s.scope.covers_send(campaign_id, sender))
        .filter(|s| s.permits(category))
        .max_by_key(|s| s.since);
    let Some(grant) = relied else { return Ok(None) };
    let old = grant.since.checked_add(tenant.rnd_check_after).is_ok_and(|due| due <= send_at);
    if !old {
        return Ok(None);
    }
    let start = cycle_start(send_at, cycle_day);
    let end = start.to_zoned(TimeZone::UTC).checked_add(1.month()).map_or(Timestamp::MAX, |z| z.timestamp());
    if consent.rnd_checked.as_ref().is_some_and(|c| start <= c.queried_at && c.queried_at < end) {
        return Ok(None);
    }
    let r = Reason::new(
        ReasonCode::RndCheckDue,
        "consent.rnd_check_due",
        format!(
            "the consent relied on dates from {} (older than {}h) and the number has no Reassigned Numbers Database \
             answer queried since {}: check it before sending",
            grant.since.strftime("%Y-%m-%d"),
            tenant.rnd_check_after.as_hours(),
            start.strftime("%Y-%m-%d"),
        ),
    )
    .citing(&grant.event_id);
    if tenant.rnd_check_required {
        return Err(Stop::Deny(vec![r]));
    }
    Ok(Some(r))
}

#[cfg(test)]
#[path = "reassigned_tests.rs"]
mod tests;
