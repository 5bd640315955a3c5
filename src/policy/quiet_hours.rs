//! Quiet hours: may a business SMS be sent at a given instant, and if not, when?
//!
//! The recipient's location is uncertain, so the caller passes every *candidate*
//! time zone; an instant is allowed only if it falls inside every weekly window in
//! every candidate zone (the conservative reading of state "quiet hours" laws).
//! All thresholds are policy data ([`NamedWindow`]), never constants in code.
//!
//! Zones are passed pre-resolved ([`TimeZone`]) so [`allowed`] does no lookups and
//! no allocation unless it has to report a [`Blocked`].

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::fmt;

/// Half-open local time-of-day window `[start, end)`: 08:00:00 is inside an
/// 08:00–21:00 window, 21:00:00 is not.
///
/// Deserializes from `{ start = "08:00", end = "21:00" }`. `end = "24:00"` means
/// "until midnight" and is stored as [`Time::MAX`], which is treated as an
/// inclusive end so the day is covered to its last nanosecond. `start >= end` is
/// rejected when deserializing and, if built by hand, never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawLocal")]
pub struct LocalWindow {
    pub start: Time,
    pub end: Time,
}

impl LocalWindow {
    /// Whether the local time of day `t` is inside the window.
    pub fn contains(&self, t: Time) -> bool {
        self.start < self.end && self.start <= t && (t < self.end || self.end == Time::MAX)
    }
}

/// A week of allowed windows (index 0 = Monday … 6 = Sunday; `None` = no sending
/// that day) plus holiday dates with no sending at all. Dates are local to each
/// candidate zone.
///
/// TOML shape: `start`/`end` give the window for every day; `monday` … `sunday`
/// override single days; `closed` lists days with no sending; `excluded_dates`
/// lists holidays (quoted or native TOML dates). All keys are optional, unknown
/// keys are rejected, `start`/`end` come together, a `closed` day may not also be
/// overridden, and without `start`/`end` only the days given explicitly are open.
/// ```toml
/// # Mon-Sat 09:00-21:00, Sunday 12:00-21:00
/// window = { start = "09:00", end = "21:00", sunday = { start = "12:00", end = "21:00" } }
/// # 08:00-20:00, never on Sundays or on the listed holidays
/// window = { start = "08:00", end = "20:00", closed = ["sunday"], excluded_dates = [2026-12-25] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawWeekly")]
pub struct WeeklyWindow {
    pub days: [Option<LocalWindow>; 7],
    pub excluded_dates: Vec<Date>,
}

impl WeeklyWindow {
    /// The same window on every day of the week, no holidays.
    pub fn every_day(window: LocalWindow) -> Self {
        Self { days: [Some(window); 7], excluded_dates: Vec::new() }
    }

    /// Whether the local civil datetime is inside this weekly window.
    pub fn contains(&self, local: DateTime) -> bool {
        self.window_on(local.date()).is_some_and(|w| w.contains(local.time()))
    }

    /// The non-empty window open on `day`, if any (weekday rule minus holidays).
    fn window_on(&self, day: Date) -> Option<LocalWindow> {
        let idx = usize::try_from(day.weekday().to_monday_zero_offset()).ok()?;
        let w = (*self.days.get(idx)?).filter(|w| w.start < w.end)?;
        (!self.excluded_dates.contains(&day)).then_some(w)
    }
}

/// A weekly window tagged with the policy rule it implements, so a deferral
/// can cite the rule (e.g. `"TX"`, `"federal-tcpa"`) that blocked it.
///
/// TOML: `{ rule_id = "FL", window = { start = "08:00", end = "20:00" } }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedWindow {
    pub rule_id: String,
    pub window: WeeklyWindow,
}

/// Why an instant is not allowed: the first violated (zone, rule) pair, in zone
/// order then rule order, with the recipient-local time that violated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub rule_id: String,
    /// IANA name, or the UTC offset (e.g. `-05`, `+05:30`) for zones without one.
    pub zone: String,
    pub local: DateTime,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quiet hours rule {} blocks sending at {} in {}", self.rule_id, self.local, self.zone)
    }
}

impl std::error::Error for Blocked {}

/// `Ok` if `at` lies inside every window in every zone. Empty `zones` or empty
/// `windows` mean nothing can be violated, so the answer is `Ok`.
pub fn allowed(at: Timestamp, zones: &[TimeZone], windows: &[NamedWindow]) -> Result<(), Blocked> {
    match first_violation(at, zones, windows) {
        None => Ok(()),
        Some((tz, rule, local)) => Err(Blocked {
            rule_id: rule.rule_id.clone(),
            zone: tz.iana_name().map_or_else(|| tz.to_offset(at).to_string(), str::to_owned),
            local,
        }),
    }
}

/// The smallest `t >= at` (to the precision of the window bounds) with
/// `allowed(t, ..)` `Ok`, or `None` if there is none by `at + horizon` (e.g. the
/// zones' windows never overlap). A negative horizon is treated as zero.
///
/// Each step takes a violated (zone, window) and jumps to the earliest instant
/// it could become satisfied: the next window start reached by that zone's
/// clock, or that zone's next UTC-offset transition if it comes first. Hence a
/// start inside a DST gap resolves to the first instant after the gap, a start
/// inside a fold to its earlier occurrence (or the later one if the earlier has
/// passed), and no jump ever skips an allowed instant. Every returned value has
/// been checked with the same predicate as [`allowed`]; steps are bounded.
pub fn earliest_allowed(
    at: Timestamp,
    zones: &[TimeZone],
    windows: &[NamedWindow],
    horizon: SignedDuration,
) -> Option<Timestamp> {
    let horizon = horizon.max(SignedDuration::ZERO);
    let limit = at.checked_add(horizon).unwrap_or(Timestamp::MAX);
    let days = usize::try_from(horizon.as_secs() / 86_400).unwrap_or(usize::MAX);
    // Each step lands on a distinct window start (at most 2 instants per civil
    // start, because of folds) or an offset transition of one zone.
    let max_steps = windows
        .len()
        .saturating_mul(2)
        .saturating_add(1)
        .saturating_mul(zones.len())
        .saturating_mul(days.saturating_add(2))
        .saturating_add(64);
    let mut t = at;
    for _ in 0..max_steps {
        let Some((tz, rule, local)) = first_violation(t, zones, windows) else {
            return Some(t);
        };
        let next = next_candidate(tz, &rule.window, t, local)?;
        if next <= t || next > limit {
            return None;
        }
        t = next;
    }
    None
}

fn first_violation<'a>(
    at: Timestamp,
    zones: &'a [TimeZone],
    windows: &'a [NamedWindow],
) -> Option<(&'a TimeZone, &'a NamedWindow, DateTime)> {
    zones.iter().find_map(|tz| {
        let local = tz.to_datetime(at);
        windows.iter().find(|w| !w.window.contains(local)).map(|w| (tz, w, local))
    })
}

/// Earliest instant after `t` at which `window` in `tz` can next hold. Until the
/// zone's next transition the offset is fixed, so the next civil start maps to
/// an instant by plain offset arithmetic; a transition is itself a candidate
/// because it may jump the local clock into (or past the start of) the window.
fn next_candidate(tz: &TimeZone, window: &WeeklyWindow, t: Timestamp, local: DateTime) -> Option<Timestamp> {
    let by_clock = next_start(window, local).and_then(|s| tz.to_offset(t).to_timestamp(s).ok());
    let transition = tz.following(t).map(|tr| tr.timestamp()).find(|&x| x > t);
    match (by_clock, transition) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The first window start strictly after `local`. Every weekday is seen within
/// 8 days and each holiday can close at most one more, so the scan is finite.
fn next_start(window: &WeeklyWindow, local: DateTime) -> Option<DateTime> {
    let mut day = local.date();
    for _ in 0..window.excluded_dates.len().saturating_add(9) {
        if let Some(w) = window.window_on(day) {
            let start = day.to_datetime(w.start);
            if start > local {
                return Some(start);
            }
        }
        day = day.tomorrow().ok()?;
    }
    None
}

// ---- serde helpers -------------------------------------------------------

fn parse_time(s: &str) -> Result<Time, String> {
    if s == "24:00" || s == "24:00:00" {
        return Ok(Time::MAX);
    }
    s.parse().map_err(|e| format!("invalid time {s:?}: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    start: String,
    end: String,
}

impl TryFrom<RawLocal> for LocalWindow {
    type Error = String;
    fn try_from(raw: RawLocal) -> Result<Self, String> {
        let (start, end) = (parse_time(&raw.start)?, parse_time(&raw.end)?);
        if start >= end {
            return Err(format!("window start {} must be before end {}", raw.start, raw.end));
        }
        Ok(Self { start, end })
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeekly {
    start: Option<String>,
    end: Option<String>,
    monday: Option<LocalWindow>,
    tuesday: Option<LocalWindow>,
    wednesday: Option<LocalWindow>,
    thursday: Option<LocalWindow>,
    friday: Option<LocalWindow>,
    saturday: Option<LocalWindow>,
    sunday: Option<LocalWindow>,
    #[serde(default)]
    closed: Vec<Day>,
    #[serde(default)]
    excluded_dates: Vec<DateValue>,
}

impl TryFrom<RawWeekly> for WeeklyWindow {
    type Error = String;
    fn try_from(r: RawWeekly) -> Result<Self, String> {
        let base = match (r.start, r.end) {
            (Some(start), Some(end)) => Some(LocalWindow::try_from(RawLocal { start, end })?),
            (None, None) => None,
            _ => return Err("`start` and `end` must be given together".into()),
        };
        let overrides = [r.monday, r.tuesday, r.wednesday, r.thursday, r.friday, r.saturday, r.sunday];
        let mut days = [base; 7];
        for (slot, o) in days.iter_mut().zip(overrides) {
            *slot = o.or(*slot);
        }
        for day in r.closed {
            let idx = day as usize;
            if overrides.get(idx).copied().flatten().is_some() {
                return Err("a day cannot be both `closed` and given a window".into());
            }
            if let Some(slot) = days.get_mut(idx) {
                *slot = None;
            }
        }
        let mut excluded_dates: Vec<Date> = r.excluded_dates.into_iter().map(|d| d.0).collect();
        excluded_dates.sort_unstable();
        excluded_dates.dedup();
        Ok(Self { days, excluded_dates })
    }
}

/// A date given as a string (`"2026-12-25"`) or a native TOML date (`2026-12-25`,
/// which the `toml` crate hands to serde as a one-entry map).
struct DateValue(Date);

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DateValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date such as \"2026-12-25\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateValue, E> {
                s.parse().map(DateValue).map_err(|e| E::custom(format!("invalid date {s:?}: {e}")))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<DateValue, A::Error> {
                let entry: Option<(String, String)> = m.next_entry()?;
                let (_, s) = entry.ok_or_else(|| serde::de::Error::custom("empty date"))?;
                self.visit_str(&s)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[path = "quiet_hours_tests.rs"]
mod tests;
