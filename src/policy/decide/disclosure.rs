//! Step 9: the brand and opt-out notice a business-started message carries.

use jiff::Timestamp;

use crate::domain::Category;
use crate::policy::decision::{Change, ChangeKind, Decision, Outcome, Reason, ReasonCode};
use crate::policy::TenantPolicy;

/// Step 9: why a business-started message must carry the brand and opt-out notice
/// (the first to this recipient, or `disclosure_interval` since the last), or
/// None when it need not.
pub(super) fn due(
    tenant: &TenantPolicy,
    category: Category,
    last_disclosure_at: Option<Timestamp>,
    at: Timestamp,
) -> Option<String> {
    if category == Category::Conversational {
        return None;
    }
    match last_disclosure_at {
        None => Some("first business-started message to this recipient".to_string()),
        // A notice recorded for a later instant (a scheduled send) does not count now.
        Some(t) if t > at || at.duration_since(t) >= tenant.disclosure_interval => {
            Some(format!("the last opt-out notice went out on {}", t.strftime("%Y-%m-%d")))
        }
        Some(_) => None,
    }
}

/// Step 9: adds the brand prefix (when the body lacks the brand) and the opt-out notice.
pub(super) fn add(d: &mut Decision, tenant: &TenantPolicy, why: &str) {
    let lower = d.body.to_lowercase();
    if !lower.contains(&tenant.brand.to_lowercase()) {
        let prefix = format!("{}: ", tenant.brand);
        d.body.insert_str(0, &prefix);
        d.changes.push(Change { kind: ChangeKind::BrandPrefix, rule_id: "disclosure.brand".into(), text: prefix });
    }
    let notice = tenant.opt_out_notice.trim();
    let sep = if d.body.ends_with(|c: char| c.is_whitespace()) { "" } else { " " };
    d.body.push_str(sep);
    d.body.push_str(notice);
    d.changes.push(Change {
        kind: ChangeKind::OptOutNotice,
        rule_id: "disclosure.opt_out_notice".into(),
        text: notice.to_string(),
    });
    d.reasons.push(Reason::new(
        ReasonCode::DisclosureAdded,
        "disclosure.opt_out_notice",
        format!("opt-out notice added: {why}"),
    ));
    d.outcome = Outcome::AllowWithChanges;
    d.discloses = true;
}

#[cfg(test)]
#[path = "disclosure_tests.rs"]
mod tests;
