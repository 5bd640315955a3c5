//! Tests of quiet-hours windows: boundaries, DST, multi-zone, state rules.

use super::*;
use jiff::tz::TimeZoneDatabase;
use proptest::prelude::*;
use std::sync::LazyLock;

// The embedded tzdb, not /usr/share/zoneinfo: `tz::db()` prefers the system copy.
static DB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);
const H14: SignedDuration = SignedDuration::from_hours(14 * 24);
const NY: &str = "America/New_York";
const CHI: &str = "America/Chicago";

fn zones(names: &[&str]) -> Vec<TimeZone> {
    names.iter().map(|n| DB.get(n).unwrap()).collect()
}
fn lw(start: &str, end: &str) -> LocalWindow {
    LocalWindow::try_from(RawLocal { start: start.into(), end: end.into() }).unwrap()
}
fn rule(id: &str, start: &str, end: &str) -> NamedWindow {
    NamedWindow { rule_id: id.into(), window: WeeklyWindow::every_day(lw(start, end)) }
}
fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// (zones, rules, at, earliest allowed within 14 days, rule cited by `allowed(at)`)
type Case<'a> = (&'a [&'a str], &'a [NamedWindow], &'a str, Option<&'a str>, Option<&'a str>);

/// `want`: earliest allowed instant within 14 days; `blocker`: rule cited by `allowed(at)`.
fn check(zs: &[&str], rules: &[NamedWindow], at: &str, want: Option<&str>, blocker: Option<&str>) {
    let (zs, at) = (zones(zs), ts(at));
    let got = earliest_allowed(at, &zs, rules, H14);
    assert_eq!(got, want.map(ts), "earliest_allowed({at})");
    let cited = allowed(at, &zs, rules).err().map(|b| b.rule_id);
    assert_eq!(cited.as_deref(), blocker, "allowed({at})");
    if let Some(t) = got {
        assert_eq!(allowed(t, &zs, rules), Ok(()));
    }
}

#[test]
fn single_zone_and_dst() {
    let fed = [rule("federal", "08:00", "21:00")];
    let early_fold = [rule("early", "01:30", "21:00")];
    let in_gap = [rule("gap", "02:30", "21:00")];
    #[rustfmt::skip]
    let cases: [(&[NamedWindow], &str, &str, Option<&str>); 12] = [
        (&fed, CHI, "2026-06-10T07:59:59-05:00", Some("2026-06-10T08:00:00-05:00")),
        (&fed, CHI, "2026-06-10T08:00:00-05:00", None),
        (&fed, CHI, "2026-06-10T20:59:59-05:00", None),
        (&fed, CHI, "2026-06-10T21:00:00-05:00", Some("2026-06-11T08:00:00-05:00")),
        (&fed, CHI, "2026-06-10T23:30:00-05:00", Some("2026-06-11T08:00:00-05:00")),
        // spring forward: 22:00 EST -> 08:00 EDT = 12:00Z
        (&fed, NY, "2026-03-07T22:00:00-05:00", Some("2026-03-08T12:00:00Z")),
        // 02:30 does not exist on 2026-03-08: first instant after the gap (03:00 EDT)
        (&in_gap, NY, "2026-03-08T00:00:00-05:00", Some("2026-03-08T07:00:00Z")),
        (&in_gap, NY, "2026-03-08T01:59:59-05:00", Some("2026-03-08T07:00:00Z")),
        // fall back: 22:00 EDT -> 08:00 EST = 13:00Z
        (&fed, NY, "2026-10-31T22:00:00-04:00", Some("2026-11-01T13:00:00Z")),
        // 01:30 occurs twice: the earlier (EDT) one ...
        (&early_fold, NY, "2026-11-01T00:00:00-04:00", Some("2026-11-01T05:30:00Z")),
        // ... or, once the clock falls back to 01:00 EST, the later one
        (&early_fold, NY, "2026-11-01T01:15:00-05:00", Some("2026-11-01T06:30:00Z")),
        (&early_fold, NY, "2026-11-01T01:45:00-04:00", None),
    ];
    for (rules, zone, at, want) in cases {
        let blocker = want.map(|_| rules[0].rule_id.as_str());
        check(&[zone], rules, at, Some(want.unwrap_or(at)), blocker);
    }
}

#[test]
fn multi_zone() {
    let fed = [rule("federal", "08:00", "21:00")];
    let mut sunday_only = rule("sun", "08:00", "21:00");
    sunday_only.window.days[..6].fill(None);
    let (guam, pago) = ("Pacific/Guam", "Pacific/Pago_Pago");
    let (den, phx) = ("America/Denver", "America/Phoenix");
    #[rustfmt::skip]
    let cases: [Case; 9] = [
        (&[NY, CHI], &fed, "2026-06-10T08:30:00-04:00", Some("2026-06-10T09:00:00-04:00"), Some("federal")),
        (&[NY, CHI], &fed, "2026-06-10T21:30:00-04:00", Some("2026-06-11T09:00:00-04:00"), Some("federal")),
        // July: Denver is UTC-6, Phoenix UTC-7 => Phoenix opens an hour later
        (&[den, phx], &fed, "2026-07-15T08:00:00-06:00", Some("2026-07-15T09:00:00-06:00"), Some("federal")),
        (&[den, phx], &fed, "2026-07-15T21:00:00-06:00", Some("2026-07-16T09:00:00-06:00"), Some("federal")),
        // January: both UTC-7, identical local clocks
        (&[den, phx], &fed, "2026-01-15T08:00:00-07:00", Some("2026-01-15T08:00:00-07:00"), None),
        (&[den, phx], &fed, "2026-01-15T20:59:59-07:00", Some("2026-01-15T20:59:59-07:00"), None),
        // Guam (+10) and Pago Pago (-11) clocks differ by only 3h mod 24, so
        // 13-hour daily windows DO overlap (22:00Z-08:00Z) ...
        (&[guam, pago], &fed, "2026-06-10T12:00:00Z", Some("2026-06-10T22:00:00Z"), Some("federal")),
        // ... but they are on different dates: a Sunday-only window never overlaps
        (&[guam, pago], std::slice::from_ref(&sunday_only), "2026-06-10T12:00:00Z", None, Some("sun")),
        // 8-hour windows 14-15h apart never overlap
        (&[guam, NY], &[rule("biz", "09:00", "17:00")], "2026-06-10T12:00:00Z", None, Some("biz")),
    ];
    for (zs, rules, at, want, blocker) in cases {
        check(zs, rules, at, want, blocker);
    }
}

const POLICY: &str = r#"
    [[quiet_hours]]
    rule_id = "federal"
    window = { start = "08:00", end = "21:00" }
    [[quiet_hours]]
    rule_id = "FL"
    window = { start = "08:00", end = "20:00" }
    [[quiet_hours]]
    rule_id = "OK"
    window = { start = "08:00", end = "20:00" }
    [[quiet_hours]]
    rule_id = "MD"
    window = { start = "08:00", end = "20:00" }
    [[quiet_hours]]
    rule_id = "CT"
    window = { start = "09:00", end = "20:00" }
    [[quiet_hours]]
    rule_id = "VA"
    window = { start = "08:00", end = "21:00" }
    [[quiet_hours]]
    rule_id = "WA"
    window = { start = "08:00", end = "20:00" }
    [[quiet_hours]]
    rule_id = "TX"
    window = { start = "09:00", end = "21:00", sunday = { start = "12:00", end = "21:00" } }
    [[quiet_hours]]
    rule_id = "AL"
    window = { start = "08:00", end = "20:00", closed = ["sunday"], excluded_dates = [2026-07-13, "2026-01-01"] }
    [[quiet_hours]]
    rule_id = "night"
    window = { start = "22:00", end = "24:00" }
"#;

#[derive(Deserialize)]
struct Policy {
    quiet_hours: Vec<NamedWindow>,
}

#[test]
fn state_rules_from_toml() {
    let rules = toml::from_str::<Policy>(POLICY).unwrap().quiet_hours;
    let r = |id: &str| rules.iter().find(|r| r.rule_id == id).unwrap().clone();
    for (id, start, end) in [
        ("FL", "08:00", "20:00"),
        ("OK", "08:00", "20:00"),
        ("MD", "08:00", "20:00"),
        ("CT", "09:00", "20:00"),
        ("VA", "08:00", "21:00"),
        ("WA", "08:00", "20:00"),
    ] {
        assert_eq!(r(id).window, WeeklyWindow::every_day(lw(start, end)), "{id}");
    }
    assert_eq!(r("TX").window.days[5], Some(lw("09:00", "21:00")));
    assert_eq!(r("TX").window.days[6], Some(lw("12:00", "21:00")));
    assert_eq!(r("AL").window.days[6], None);
    assert_eq!(r("AL").window.excluded_dates, ["2026-01-01".parse().unwrap(), "2026-07-13".parse().unwrap()]);
    assert_eq!(r("night").window.days[0].unwrap().end, Time::MAX);
    let fed_fl = [r("federal"), r("FL")];
    #[rustfmt::skip]
    let cases: [(&[NamedWindow], &str, &str, &str, &str); 9] = [
        (&[r("TX")], CHI, "2026-06-14T10:00:00-05:00", "2026-06-14T12:00:00-05:00", "TX"), // Sunday
        (&[r("TX")], CHI, "2026-06-13T21:00:00-05:00", "2026-06-14T12:00:00-05:00", "TX"), // Saturday
        (&[r("FL")], NY, "2026-06-10T20:00:00-04:00", "2026-06-11T08:00:00-04:00", "FL"),
        (&[r("CT")], NY, "2026-06-10T08:30:00-04:00", "2026-06-10T09:00:00-04:00", "CT"),
        (&[r("CT")], NY, "2026-06-10T20:00:00-04:00", "2026-06-11T09:00:00-04:00", "CT"),
        (&fed_fl, NY, "2026-06-10T20:30:00-04:00", "2026-06-11T08:00:00-04:00", "FL"),
        (&fed_fl, NY, "2026-06-10T07:00:00-04:00", "2026-06-10T08:00:00-04:00", "federal"),
        // Saturday evening -> Sunday closed -> Monday excluded -> Tuesday 08:00
        (&[r("AL")], CHI, "2026-07-11T20:30:00-05:00", "2026-07-14T08:00:00-05:00", "AL"),
        (&[r("night")], CHI, "2026-06-10T21:00:00-05:00", "2026-06-10T22:00:00-05:00", "night"),
    ];
    for (rules, zone, at, want, blocker) in cases {
        check(&[zone], rules, at, Some(want), Some(blocker));
    }
    check(
        &[CHI],
        &[r("night")],
        "2026-06-10T23:59:59.999999999-05:00",
        Some("2026-06-10T23:59:59.999999999-05:00"),
        None,
    );
}

#[test]
fn rejects_bad_policy_data() {
    for bad in [
        r#"start = "08:00""#,
        r#"start = "21:00"
           end = "08:00""#,
        r#"start = "8am"
           end = "20:00""#,
        r#"sundy = { start = "08:00", end = "20:00" }"#,
        r#"closed = ["funday"]"#,
        r#"closed = ["sunday"]
           sunday = { start = "12:00", end = "20:00" }"#,
        r#"excluded_dates = ["2026-02-30"]"#,
    ] {
        assert!(toml::from_str::<WeeklyWindow>(bad).is_err(), "{bad}");
    }
}

#[test]
fn degenerate_inputs() {
    let at = ts("2026-06-10T03:00:00Z");
    let fed = [rule("federal", "08:00", "21:00")];
    assert_eq!(allowed(at, &[], &fed), Ok(()));
    assert_eq!(earliest_allowed(at, &zones(&[NY]), &[], H14), Some(at));
    let blocked = allowed(at, &[TimeZone::fixed(jiff::tz::offset(-5))], &fed).unwrap_err();
    assert_eq!((blocked.zone.as_str(), blocked.local.hour()), ("-05", 22));
    let mut never = rule("x", "08:00", "21:00");
    never.window.days = [None; 7];
    let z = zones(&[NY]);
    assert_eq!(earliest_allowed(at, &z, std::slice::from_ref(&never), H14), None);
    assert_eq!(earliest_allowed(at, &z, &fed, SignedDuration::from_hours(-5)), None);
    for at in [Timestamp::MIN, Timestamp::MAX] {
        if let Some(t) = earliest_allowed(at, &z, &fed, SignedDuration::MAX) {
            assert!(t >= at && allowed(t, &z, &fed).is_ok());
        }
    }
}

#[rustfmt::skip]
const US_ZONES: [&str; 12] = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "America/Adak", "Pacific/Honolulu",
    "America/Puerto_Rico", "America/Boise", "America/Indiana/Knox", "America/Detroit",
];

fn secs_to_time(s: i64) -> Time {
    let t = Time::MIN.checked_add(SignedDuration::from_secs(s));
    if s >= 86_400 {
        Time::MAX
    } else {
        t.unwrap()
    }
}

proptest! {
    #[test]
    fn earliest_is_allowed_and_minimal(
        secs in 31_536_000i64..4_102_444_800, // 1971..2100
        mask in 1u16..4096,
        raw in prop::collection::vec((
            prop::collection::vec(prop::option::weighted(0.8,
                (0i64..86_400).prop_flat_map(|s| (Just(s), s + 1..=86_400))), 7),
            prop::collection::vec(0i32..20, 0..3)), 1..4),
    ) {
        let at = Timestamp::from_second(secs).unwrap();
        let zs: Vec<TimeZone> = US_ZONES.iter().enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1).map(|(_, n)| DB.get(n).unwrap()).collect();
        let day0 = TimeZone::UTC.to_datetime(at).date();
        let windows: Vec<NamedWindow> = raw.iter().enumerate().map(|(i, (days, excl))| NamedWindow {
            rule_id: i.to_string(),
            window: WeeklyWindow {
                days: std::array::from_fn(|d| days[d].map(|(s, e)| LocalWindow { start: secs_to_time(s), end: secs_to_time(e) })),
                excluded_dates: excl.iter().map(|&n| day0.checked_add(jiff::Span::new().days(n)).unwrap()).collect(),
            },
        }).collect();
        let horizon = SignedDuration::from_hours(30 * 24);
        let got = earliest_allowed(at, &zs, &windows, horizon);
        if allowed(at, &zs, &windows).is_ok() {
            prop_assert_eq!(got, Some(at));
        }
        let limit = at.checked_add(horizon).unwrap();
        let end = got.unwrap_or(limit);
        if let Some(t) = got {
            prop_assert!(t >= at && t <= limit);
            prop_assert_eq!(allowed(t, &zs, &windows), Ok(()));
            if t > at {
                let before = t.checked_sub(SignedDuration::from_secs(1)).unwrap();
                prop_assert!(allowed(before, &zs, &windows).is_err());
            }
        }
        // nothing earlier is allowed (sampled every 37 minutes)
        let mut u = at;
        while u < end {
            prop_assert!(allowed(u, &zs, &windows).is_err(), "{} allowed before {:?}", u, got);
            u = u.checked_add(SignedDuration::from_mins(37)).unwrap();
        }
    }
}
