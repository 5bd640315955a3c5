//! Time rules together: quiet-hours windows and rolling frequency caps. Finds
//! the earliest instant at or after `at` that satisfies all of them.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::decision::{Reason, ReasonCode};
use super::quiet_hours::{self, NamedWindow};
use super::rulepack::Cap;

/// Why `at` is not allowed, and the earliest instant that is (None: none
/// within the horizon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    pub reasons: Vec<Reason>,
    pub until: Option<Timestamp>,
}

/// Iteration bound: each round moves forward past one window or one counted
/// send, so a handful suffices; the bound keeps a bad policy from looping.
const MAX_ROUNDS: usize = 64;

/// The instant a cap lets the next send through: sends at `s` count during
/// `[s, s + per)`; with `max` or more counted at `t`, wait until enough expire.
pub fn cap_release(t: Timestamp, sends: &[Timestamp], cap: &Cap) -> Option<Timestamp> {
    let counted: Vec<Timestamp> = sends
        .iter()
        .copied()
        .filter(|s| *s <= t && t < s.saturating_add(cap.per).ok().unwrap_or(Timestamp::MAX))
        .collect();
    let max = cap.max as usize;
    if counted.len() < max {
        return None;
    }
    let oldest_to_expire = counted[counted.len() - max];
    oldest_to_expire.checked_add(cap.per).ok()
}

/// `Ok` when `at` satisfies every window (in every zone) and every cap.
pub fn check(
    at: Timestamp,
    zones: &[TimeZone],
    windows: &[NamedWindow],
    caps: &[&Cap],
    sends: &[Timestamp],
    horizon: SignedDuration,
) -> Result<(), Deferral> {
    let limit = at.checked_add(horizon).unwrap_or(Timestamp::MAX);
    let mut reasons = Vec::new();
    let mut t = at;
    for round in 0..MAX_ROUNDS {
        let mut moved = false;
        for cap in caps {
            if let Some(release) = cap_release(t, sends, cap) {
                if round == 0 {
                    reasons.push(Reason::new(
                        ReasonCode::FrequencyCap,
                        &cap.rule_id,
                        format!(
                            "{} sends on this campaign within {} already (limit {})",
                            cap.max,
                            fmt_span(cap.per),
                            cap.max
                        ),
                    ));
                }
                if release > t {
                    t = release;
                    moved = true;
                }
            }
        }
        if let Err(blocked) = quiet_hours::allowed(t, zones, windows) {
            if round == 0 {
                reasons.push(Reason::new(
                    ReasonCode::QuietHours,
                    &blocked.rule_id,
                    format!(
                        "outside the allowed sending hours in {} (local time {})",
                        blocked.zone,
                        blocked.local.strftime("%a %H:%M")
                    ),
                ));
            }
            let remaining = limit.duration_since(t);
            match quiet_hours::earliest_allowed(t, zones, windows, remaining) {
                Some(next) if next > t => {
                    t = next;
                    moved = true;
                }
                _ => return Err(Deferral { reasons, until: None }),
            }
        }
        if t > limit {
            return Err(Deferral { reasons, until: None });
        }
        if !moved {
            return if t == at { Ok(()) } else { Err(Deferral { reasons, until: Some(t) }) };
        }
    }
    Err(Deferral { reasons, until: None })
}

fn fmt_span(d: SignedDuration) -> String {
    let h = d.as_hours();
    if h % 24 == 0 && h >= 24 {
        format!("{}d", h / 24)
    } else {
        format!("{h}h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::quiet_hours::{LocalWindow, WeeklyWindow};
    use jiff::civil::time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cap(max: u32) -> Cap {
        Cap { rule_id: "frequency_cap.state.FL".into(), max, per: SignedDuration::from_hours(24) }
    }

    #[test]
    fn cap_counts_sends_during_their_period() {
        let sends = [ts("2026-06-01T14:00Z"), ts("2026-06-01T15:00Z"), ts("2026-06-01T16:00Z")];
        let table = [
            ("2026-06-01T17:00Z", 3, Some("2026-06-02T14:00Z")),
            ("2026-06-01T17:00Z", 4, None),
            ("2026-06-02T14:00Z", 3, None), // the first send has expired exactly now
            ("2026-06-02T13:59:59Z", 3, Some("2026-06-02T14:00Z")),
            ("2026-06-01T15:30Z", 2, Some("2026-06-02T14:00Z")),
            ("2026-06-01T13:00Z", 1, None), // sends after t do not count at t
        ];
        for (at, max, want) in table {
            assert_eq!(cap_release(ts(at), &sends, &cap(max)), want.map(ts), "{at} max {max}");
        }
    }

    #[test]
    fn cap_release_that_lands_in_quiet_hours_waits_for_the_window() {
        let ny = jiff::tz::TimeZoneDatabase::bundled().get("America/New_York").unwrap();
        let w = NamedWindow {
            rule_id: "quiet_hours.state.FL".into(),
            window: WeeklyWindow::every_day(LocalWindow { start: time(8, 0, 0, 0), end: time(20, 0, 0, 0) }),
        };
        // Three sends between 19:00 and 19:30 EDT; the cap releases at 19:00 EDT the
        // next day, inside the window. At 19:45 the window is open but the cap is not.
        let sends = [ts("2026-06-01T23:00Z"), ts("2026-06-01T23:15Z"), ts("2026-06-01T23:30Z")];
        let r = check(
            ts("2026-06-01T23:45Z"),
            std::slice::from_ref(&ny),
            std::slice::from_ref(&w),
            &[&cap(3)],
            &sends,
            SignedDuration::from_hours(24 * 14),
        );
        let d = r.unwrap_err();
        assert_eq!(d.until, Some(ts("2026-06-02T23:00Z")));
        assert_eq!(d.reasons[0].code, ReasonCode::FrequencyCap);
        // Sends late in the day: release at 20:10 EDT falls after the window; next 08:00.
        let late = [ts("2026-06-02T00:05Z"), ts("2026-06-02T00:10Z"), ts("2026-06-02T00:15Z")];
        let d = check(ts("2026-06-02T00:20Z"), &[ny], &[w], &[&cap(3)], &late, SignedDuration::from_hours(24 * 14))
            .unwrap_err();
        assert_eq!(d.until, Some(ts("2026-06-03T12:00Z")), "08:00 EDT after the cap releases at 20:05 EDT");
        assert_eq!(d.reasons.len(), 2, "{:?}", d.reasons);
    }
}
