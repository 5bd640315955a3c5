//! Steps 7 and 8 one at a time, each against a table (demo tenant: quiet
//! hours 08:00-21:00, state rules on).

use jiff::tz::TimeZone;

use super::super::fixtures::{policy, tenant, ts, verdict};
use super::*;
use crate::domain::SentMessage;
use crate::policy::decision::Outcome;

fn campaign(id: &str) -> &'static Campaign {
    tenant().campaigns.iter().find(|c| c.id == id).unwrap()
}

fn states(names: &[&str]) -> Vec<UsState> {
    names.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn state_rules_are_the_recipients_states_that_cover_the_category() {
    use Category::*;
    let off = TenantPolicy { state_rules: false, ..tenant().clone() };
    // (tenant, states, category, expected windows of the rules found)
    let rows: &[(&TenantPolicy, &[&str], Category, &[&str])] = &[
        (tenant(), &["IL"], Promotional, &[]),
        (tenant(), &["FL"], Promotional, &["quiet_hours.state.FL"]),
        (tenant(), &["FL", "IL", "TX"], Promotional, &["quiet_hours.state.FL", "quiet_hours.state.TX"]),
        (tenant(), &["FL", "TX"], Informational, &[]),
        (&off, &["FL", "TX"], Promotional, &[]),
    ];
    for (t, names, category, ids) in rows {
        let found = state_rules(&policy().pack, t, &states(names), *category);
        let windows: Vec<&str> = found.iter().filter_map(|r| r.window.as_ref()).map(|w| w.rule_id.as_str()).collect();
        assert_eq!(windows, *ids, "{names:?} {category:?} state_rules={}", t.state_rules);
    }
}

#[test]
fn step_7_quiet_hours_are_the_tenants_then_the_states_unless_exempt() {
    use Category::*;
    let urgent = Campaign { time_critical: true, ..campaign("casework").clone() };
    let strict = TenantPolicy { quiet_hours_conversational: true, ..tenant().clone() };
    // (tenant, campaign, category, states, expected window rule ids)
    type Row<'a> = (&'a TenantPolicy, &'a Campaign, Category, &'a [&'a str], &'a [&'a str]);
    let rows: &[Row] = &[
        (tenant(), campaign("casework"), Informational, &["FL"], &["quiet_hours.tenant"]),
        (tenant(), campaign("fundraising"), Promotional, &["IL"], &["quiet_hours.tenant"]),
        (
            tenant(),
            campaign("fundraising"),
            Promotional,
            &["FL", "CT"],
            &["quiet_hours.tenant", "quiet_hours.state.FL", "quiet_hours.state.CT"],
        ),
        (tenant(), campaign("casework"), Conversational, &["IL"], &[]),
        (&strict, campaign("casework"), Conversational, &["IL"], &["quiet_hours.tenant"]),
        (tenant(), &urgent, Informational, &["IL"], &[]),
        (tenant(), &urgent, Promotional, &["FL"], &[]),
    ];
    for (t, c, category, names, ids) in rows {
        let rules = state_rules(&policy().pack, t, &states(names), *category);
        let windows = quiet_hours(t, c, *category, &rules);
        let got: Vec<&str> = windows.iter().map(|w| w.rule_id.as_str()).collect();
        assert_eq!(got, *ids, "{} {category:?} {names:?}", c.id);
    }
}

#[test]
fn step_8_frequency_caps_come_from_the_states_and_count_the_campaigns_sends() {
    // (states, expected caps)
    let rows: &[(&[&str], &[&str])] = &[
        (&["IL"], &[]),
        (&["TX", "CT"], &[]),
        (&["FL"], &["frequency_cap.state.FL"]),
        (&["OK", "TX", "MD"], &["frequency_cap.state.OK", "frequency_cap.state.MD"]),
    ];
    for (names, ids) in rows {
        let rules = state_rules(&policy().pack, tenant(), &states(names), Category::Promotional);
        let caps: Vec<&str> = frequency_caps(&rules).iter().map(|c| c.rule_id.as_str()).collect();
        assert_eq!(caps, *ids, "{names:?}");
    }

    let send = |campaign: &str, category, at| SentMessage { campaign_id: campaign.into(), category, at: ts(at) };
    let history = ContactHistory {
        sends: vec![
            send("fundraising", Category::Promotional, "2026-06-02T13:00Z"),
            send("casework", Category::Promotional, "2026-06-02T14:00Z"),
            send("fundraising", Category::Informational, "2026-06-02T15:00Z"),
            send("fundraising", Category::Promotional, "2026-06-02T16:00Z"),
        ],
        ..ContactHistory::default()
    };
    let counted = counted_sends(&history, campaign("fundraising"), Category::Promotional);
    assert_eq!(counted, [ts("2026-06-02T13:00Z"), ts("2026-06-02T16:00Z")]);
}

#[test]
fn steps_7_and_8_defer_to_an_instant_that_satisfies_both_or_deny() {
    let chicago = [TimeZone::get("America/Chicago").unwrap()];
    let fl = state_rules(&policy().pack, tenant(), &states(&["FL"]), Category::Promotional);
    let three = ["2026-06-02T13:00Z", "2026-06-02T14:00Z", "2026-06-02T15:00Z"].map(ts).to_vec();
    let day = SignedDuration::from_hours(24);
    let minute = SignedDuration::from_mins(1);
    let timing = |sends: &[Timestamp]| Timing {
        windows: quiet_hours(tenant(), campaign("fundraising"), Category::Promotional, &fl),
        caps: frequency_caps(&fl),
        sends: sends.to_vec(),
    };
    // (at, sends, horizon, expected outcome, rule ids, defer until)
    type Row<'a> = (&'a str, &'a [Timestamp], SignedDuration, Outcome, &'a [&'a str], Option<&'a str>);
    let rows: &[Row] = &[
        ("2026-06-02T13:00:00Z", &[], day, Outcome::Allow, &[], None),
        ("2026-06-02T12:59:59Z", &[], day, Outcome::Defer, &["quiet_hours.tenant"], Some("2026-06-02T13:00Z")),
        ("2026-06-03T01:00:00Z", &[], day, Outcome::Defer, &["quiet_hours.state.FL"], Some("2026-06-03T13:00Z")),
        ("2026-06-02T18:00:00Z", &three[..2], day, Outcome::Allow, &[], None),
        ("2026-06-02T18:00:00Z", &three, day, Outcome::Defer, &["frequency_cap.state.FL"], Some("2026-06-03T13:00Z")),
        ("2026-06-03T02:00:00Z", &[], minute, Outcome::Deny, &["quiet_hours.tenant", "quiet_hours.no_window"], None),
    ];
    for (at, sends, horizon, outcome, ids, until) in rows {
        let result = on_time(ts(at), &chicago, &timing(sends), *horizon);
        assert_eq!(verdict(&result), (*outcome, ids.to_vec()), "{at} {} sends", sends.len());
        let deferred_to = match result {
            Err(Stop::Defer { until, .. }) => Some(until),
            _ => None,
        };
        assert_eq!(deferred_to, until.map(ts), "{at}");
    }
}
