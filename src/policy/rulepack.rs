//! The built-in US rule pack: keyword lists, content lists, regions, state
//! windows and caps, all as TOML data embedded in the binary and compiled once
//! at load into lookup structures.

use std::collections::HashMap;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::SignedDuration;
use serde::Deserialize;

use super::content::{ContentData, ContentRules};
use super::inbound::{Classifier, InboundRules};
use super::quiet_hours::{NamedWindow, WeeklyWindow};
use crate::config::HumanDuration;
use crate::domain::{Category, Retention};
use crate::phone::area_codes::AreaCodes;
use crate::phone::UsState;

const US_TOML: &str = include_str!("rules/us.toml");
const INBOUND_TOML: &str = include_str!("rules/inbound.toml");
const CONTENT_TOML: &str = include_str!("rules/content.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsData {
    supported_regions: Vec<String>,
    fallback_zones: Vec<String>,
    time_critical_use_cases: Vec<String>,
    defer_horizon: HumanDuration,
    rnd_cycle_day: i8,
    states: Vec<StateData>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateData {
    state: String,
    categories: Vec<Category>,
    window: Option<WeeklyWindow>,
    cap: Option<CapData>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct CapData {
    max: u32,
    per: HumanDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundFile {
    inbound: InboundRules,
}

/// A rolling-period cap on sends per recipient and campaign.
#[derive(Clone, Debug)]
pub struct Cap {
    pub rule_id: String,
    pub max: u32,
    pub per: SignedDuration,
}

/// One state's rules, compiled.
#[derive(Clone, Debug)]
pub struct StateRule {
    pub categories: Vec<Category>,
    pub window: Option<NamedWindow>,
    pub cap: Option<Cap>,
}

/// Everything in the rule pack, ready for `decide` and the inbound classifier.
pub struct RulePack {
    pub supported_regions: Vec<String>,
    pub fallback_zones: Vec<(String, TimeZone)>,
    pub time_critical_use_cases: Vec<String>,
    pub defer_horizon: SignedDuration,
    /// The day of the month (UTC) a new monthly RND cycle starts.
    pub rnd_cycle_day: i8,
    pub states: HashMap<UsState, StateRule>,
    /// How much send history a contact keeps: the longest cap period, and
    /// per campaign and category the largest cap's count (at least
    /// [`SENDS_KEPT_FLOOR`]).
    pub retention: Retention,
    pub inbound: Classifier,
    pub content: ContentRules,
    pub area_codes: AreaCodes,
}

/// Fewest sends per campaign and category a contact history keeps, whatever
/// the caps. Not a cap: headroom, so that a rule pack raising a cap up to
/// this count counts every send at once (above it, sends before the upgrade
/// are undercounted for at most one cap period), and a `send_at` behind the
/// latest recorded sends still sees `floor - max` of them.
pub const SENDS_KEPT_FLOOR: usize = 16;

fn duration(d: HumanDuration) -> SignedDuration {
    SignedDuration::try_from(d.0).unwrap_or(SignedDuration::MAX)
}

impl RulePack {
    /// Compiles the embedded rule pack; an error names the file and key.
    pub fn builtin() -> Result<RulePack, String> {
        let us: UsData = toml::from_str(US_TOML).map_err(|e| format!("rules/us.toml: {e}"))?;
        let inbound: InboundFile = toml::from_str(INBOUND_TOML).map_err(|e| format!("rules/inbound.toml: {e}"))?;
        let content: ContentData = toml::from_str(CONTENT_TOML).map_err(|e| format!("rules/content.toml: {e}"))?;
        let db = TimeZoneDatabase::bundled();
        let fallback_zones = us
            .fallback_zones
            .iter()
            .map(|z| db.get(z).map(|tz| (z.clone(), tz)).map_err(|e| format!("rules/us.toml fallback_zones: {z}: {e}")))
            .collect::<Result<_, _>>()?;
        let mut states = HashMap::new();
        let mut history_window = SignedDuration::ZERO;
        let mut largest_cap = 0usize;
        for s in us.states {
            let cap = s.cap.map(|c| Cap {
                rule_id: format!("frequency_cap.state.{}", s.state),
                max: c.max,
                per: duration(c.per),
            });
            if let Some(c) = &cap {
                if c.max == 0 {
                    return Err(format!("rules/us.toml: state {} cap.max must be at least 1", s.state));
                }
                history_window = history_window.max(c.per);
                largest_cap = largest_cap.max(c.max as usize);
            }
            let window = s.window.map(|w| NamedWindow { rule_id: format!("quiet_hours.state.{}", s.state), window: w });
            let rule = StateRule { categories: s.categories, window, cap };
            let state: UsState = s.state.parse().map_err(|e| format!("rules/us.toml: state {:?} is {e}", s.state))?;
            if states.insert(state, rule).is_some() {
                return Err(format!("rules/us.toml: state {} is listed twice", s.state));
            }
        }
        if !(1..=28).contains(&us.rnd_cycle_day) {
            return Err(format!("rules/us.toml: rnd_cycle_day {} is not 1 to 28", us.rnd_cycle_day));
        }
        Ok(RulePack {
            rnd_cycle_day: us.rnd_cycle_day,
            supported_regions: us.supported_regions,
            fallback_zones,
            time_critical_use_cases: us.time_critical_use_cases,
            defer_horizon: duration(us.defer_horizon),
            states,
            retention: Retention { window: history_window, sends: largest_cap.max(SENDS_KEPT_FLOOR) },
            inbound: Classifier::new(&inbound.inbound).map_err(|e| format!("rules/inbound.toml: {e}"))?,
            content: ContentRules::new(&content).map_err(|e| format!("rules/content.toml: {e}"))?,
            area_codes: AreaCodes::builtin()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rule_pack_compiles_with_the_state_rules() {
        let p = RulePack::builtin().unwrap();
        for st in [UsState::FL, UsState::OK, UsState::MD, UsState::CT, UsState::TX, UsState::VA, UsState::WA] {
            assert!(p.states[&st].window.is_some(), "{st}");
        }
        assert_eq!(p.states[&UsState::FL].cap.as_ref().unwrap().max, 3);
        let keep = p.retention;
        assert_eq!((keep.window, keep.sends), (SignedDuration::from_hours(24), SENDS_KEPT_FLOOR));
        assert_eq!(p.states[&UsState::TX].window.as_ref().unwrap().rule_id, "quiet_hours.state.TX");
    }
}
