//! Step 9 against tables: when the notice is due, and what adding it changes
//! (demo tenant: brand "Northside Family Services", interval 30 days).

use super::super::fixtures::{tenant, ts};
use super::*;

#[test]
fn step_9_the_notice_is_due_first_and_then_every_interval() {
    use Category::*;
    let at = "2026-06-02T15:00:00Z";
    // (category, last notice, expected reason; "" = not due)
    let rows = [
        (Informational, None, "first business-started message to this recipient"),
        (Promotional, None, "first business-started message to this recipient"),
        (Conversational, None, ""),
        (Informational, Some("2026-05-04T15:00:01Z"), ""),
        (Informational, Some("2026-05-03T15:00:00Z"), "the last opt-out notice went out on 2026-05-03"),
        (Conversational, Some("2026-01-01T00:00:00Z"), ""),
        // Recorded for a later (scheduled) send: it does not count now.
        (Promotional, Some("2026-06-03T15:00:00Z"), "the last opt-out notice went out on 2026-06-03"),
    ];
    for (category, last, why) in rows {
        let due = due(tenant(), category, last.map(ts), ts(at));
        assert_eq!(due.as_deref().unwrap_or(""), why, "{category:?} {last:?}");
    }
}

#[test]
fn step_9_adds_the_brand_when_missing_and_always_the_notice() {
    // (body, expected body, expected changes)
    let rows: &[(&str, &str, &[ChangeKind])] = &[
        (
            "Your file is ready.",
            "Northside Family Services: Your file is ready. Reply STOP to opt out.",
            &[ChangeKind::BrandPrefix, ChangeKind::OptOutNotice],
        ),
        (
            "northside family services: your file is ready ",
            "northside family services: your file is ready Reply STOP to opt out.",
            &[ChangeKind::OptOutNotice],
        ),
    ];
    for (body, expected, kinds) in rows {
        let mut d = Decision {
            outcome: Outcome::Allow,
            body: body.to_string(),
            changes: vec![],
            reasons: vec![],
            defer_until: None,
            category: Some(Category::Informational),
            campaign_id: "casework".into(),
            recipient: Default::default(),
            discloses: false,
        };
        add(&mut d, tenant(), "why");
        assert_eq!(d.body, *expected);
        assert_eq!(d.changes.iter().map(|c| c.kind).collect::<Vec<_>>(), *kinds, "{body:?}");
        assert_eq!((d.outcome, d.discloses), (Outcome::AllowWithChanges, true));
        let r = d.reasons.last().unwrap();
        assert_eq!(
            (r.code, r.rule_id.as_str(), r.message.as_str()),
            (ReasonCode::DisclosureAdded, "disclosure.opt_out_notice", "opt-out notice added: why")
        );
    }
}
