//! What each rule id means, for people: `rules/catalogue.toml`, one entry
//! per rule or rule family (`consent.required.*`). The compliance console's
//! rule pages are generated from it and from the rule pack.

use serde::Deserialize;

const CATALOGUE_TOML: &str = include_str!("rules/catalogue.toml");

/// One documented rule (or family of rules).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// The rule id; a family ends in `.*`.
    pub id: String,
    /// Its step in the decision pipeline (1 = first).
    pub step: u8,
    pub outcome: String,
    /// The ReasonCode it answers with (without `REASON_`).
    pub reason: String,
    pub what: String,
    /// The section of the compliance reference it rests on.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    rules: Vec<RuleDoc>,
}

/// Every documented rule, in pipeline order.
pub fn catalogue() -> Vec<RuleDoc> {
    let mut c: Catalogue = toml::from_str(CATALOGUE_TOML).expect("rules/catalogue.toml is checked by its test");
    c.rules.sort_by_key(|r| r.step);
    c.rules
}

/// The entry documenting `rule_id`: itself, else the family it belongs to.
pub fn lookup(rule_id: &str) -> Option<RuleDoc> {
    let all = catalogue();
    let exact = all.iter().find(|r| r.id == rule_id).cloned();
    exact.or_else(|| {
        all.into_iter().find(|r| {
            r.id.strip_suffix('*').is_some_and(|family| rule_id.starts_with(family) && rule_id.len() > family.len())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_the_engine_cites_is_documented_once() {
        let all = catalogue();
        let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "an id is documented twice");
        // Rule ids as the decide pipeline and its tests cite them.
        for id in [
            "region.unsupported",
            "sender.registered",
            "consent.opted_out",
            "inbound.wrong_number",
            "inbound.review_hold",
            "category.campaign",
            "category.promotional_content",
            "consent.conversation_window",
            "consent.required.informational",
            "consent.level.promotional",
            "content.shortener",
            "content.link.domain",
            "content.link.undeclared",
            "content.phone",
            "content.category.tobacco",
            "quiet_hours.tenant",
            "quiet_hours.state.FL",
            "quiet_hours.no_window",
            "frequency_cap.state.FL",
            "disclosure.brand",
            "disclosure.opt_out_notice",
        ] {
            let doc = lookup(id).unwrap_or_else(|| panic!("{id} is not in rules/catalogue.toml"));
            assert!(!doc.what.is_empty() && doc.source.starts_with('§'), "{id}");
        }
        for id in ["nope", "consent.required.", "quiet_hours"] {
            assert!(lookup(id).is_none(), "{id}");
        }
    }
}
