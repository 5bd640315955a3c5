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

/// Whether a send at `t` would put more than `cap.max` sends into some period
/// of length `cap.per` that holds `t`: sends at `s` count during
/// `[s, s + per)`, and sends recorded for instants after `t` (a scheduler
/// booking ahead) count as well as those before it. `sends` is sorted.
///
/// The periods holding `t` start in `(t - per, t]`; the fullest of them takes
/// the latest `i` sends at or before `t` and then every later send less than
/// `per` after the earliest of those.
fn saturated(t: Timestamp, sends: &[Timestamp], cap: &Cap) -> bool {
    let from = sends.partition_point(|s| t.duration_since(*s) >= cap.per);
    let split = sends.partition_point(|s| *s <= t);
    let (before, after) = (&sends[from..split], &sends[split..]);
    let max = cap.max as usize;
    (0..=before.len()).any(|i| {
        let first = if i == 0 { t } else { before[before.len() - i] };
        let later = after.partition_point(|s| s.duration_since(first) < cap.per);
        i + later >= max
    })
}

/// The earliest instant at or after `t` at which a cap lets one more send
/// through, or None when `t` itself is fine. A period stops being full only
/// when a send leaves it, so the candidates are `t` and each `s + per`.
/// `sends` is sorted.
pub fn cap_release(t: Timestamp, sends: &[Timestamp], cap: &Cap) -> Option<Timestamp> {
    if !saturated(t, sends, cap) {
        return None;
    }
    sends
        .iter()
        .filter_map(|s| s.checked_add(cap.per).ok())
        .filter(|release| *release > t)
        .find(|release| !saturated(*release, sends, cap))
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
                            "a {} period holding this send already has {} sends on this campaign, \
                             scheduled ones included (limit {})",
                            fmt_span(cap.per),
                            cap.max,
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
            ("2026-06-01T15:30Z", 2, Some("2026-06-02T15:00Z")), // with 15:00 or with 16:00
            // Sends booked after t count too: a period from 13:00 holds all three.
            ("2026-06-01T13:00Z", 1, Some("2026-06-02T16:00Z")),
            ("2026-06-01T13:00Z", 3, Some("2026-06-02T14:00Z")),
            ("2026-06-01T13:00Z", 4, None),
            ("2026-05-31T16:00Z", 3, None), // the 16:00 send is a whole period later
            ("2026-05-31T16:00:01Z", 3, Some("2026-06-02T14:00Z")),
        ];
        for (at, max, want) in table {
            assert_eq!(cap_release(ts(at), &sends, &cap(max)), want.map(ts), "{at} max {max}");
        }
    }

    /// The cap by its definition, on a one-minute grid (sends, `t` and `per`
    /// whole minutes, so every period's count is constant between grid
    /// points): `t` is fine when every period of length `per` that holds it
    /// holds at most `max` sends with it; the answer is the first fine minute.
    fn release_by_definition(t: i64, sends: &[i64], max: usize, per: i64) -> Option<i64> {
        // The send at `t` plus the others in each period: at most `max`.
        let fine = |t: i64| (t - per + 1..=t).all(|a| sends.iter().filter(|s| (a..a + per).contains(*s)).count() < max);
        if fine(t) {
            return None;
        }
        (t + 1..).find(|c| fine(*c))
    }

    proptest::proptest! {
        #[test]
        fn cap_release_is_the_first_instant_every_period_allows(
            mut sends in proptest::collection::vec(0i64..600, 0..9),
            t in 0i64..700,
            max in 1u32..5,
            per in 1i64..240,
        ) {
            sends.sort_unstable();
            let minute = |m: i64| ts("2026-06-01T00:00Z") + SignedDuration::from_mins(m);
            let at: Vec<Timestamp> = sends.iter().map(|m| minute(*m)).collect();
            let cap = Cap { rule_id: "frequency_cap.state.FL".into(), max, per: SignedDuration::from_mins(per) };
            let want = release_by_definition(t, &sends, max as usize, per).map(minute);
            proptest::prop_assert_eq!(cap_release(minute(t), &at, &cap), want);
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
