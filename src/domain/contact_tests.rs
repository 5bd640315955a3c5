//! Pruning, table-driven: what a history keeps after a send at each clock.

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn send(campaign: &str, category: Category, at: &str) -> SentMessage {
    SentMessage { campaign_id: campaign.into(), category, at: ts(at) }
}

fn promo(at: &str) -> SentMessage {
    send("fundraising", Category::Promotional, at)
}

const DAY: Retention = Retention { window: SignedDuration::from_hours(24), sends: 2 };

#[test]
fn a_future_send_does_not_prune_todays_sends() {
    let now = ts("2026-06-02T15:00Z");
    let keep = Retention { sends: 10, ..DAY };
    let mut h = ContactHistory::default();
    h.note_send(promo("2026-05-31T15:00Z"), false, &keep, now);
    h.note_send(promo("2026-06-02T14:00Z"), false, &keep, now);
    h.note_send(promo("2026-06-05T14:00Z"), false, &keep, now);
    let kept: Vec<_> = h.sends.iter().map(|s| s.at).collect();
    assert_eq!(kept, [ts("2026-06-02T14:00Z"), ts("2026-06-05T14:00Z")]);
}

#[test]
fn each_campaign_and_category_keeps_its_latest_sends_up_to_the_clock() {
    use Category::{Informational as Info, Promotional as Promo};
    // (sends noted in order, clock, sends kept oldest first)
    type Row = (&'static [(&'static str, Category, &'static str)], &'static str, &'static [&'static str]);
    let rows: &[Row] = &[
        // Three promotional sends before the clock: the oldest goes.
        (
            &[("f", Promo, "2026-06-02T10:00Z"), ("f", Promo, "2026-06-02T11:00Z"), ("f", Promo, "2026-06-02T12:00Z")],
            "2026-06-02T15:00Z",
            &["2026-06-02T11:00Z", "2026-06-02T12:00Z"],
        ),
        // Another campaign, another category: counted apart.
        (
            &[("f", Promo, "2026-06-02T10:00Z"), ("c", Promo, "2026-06-02T11:00Z"), ("f", Info, "2026-06-02T12:00Z")],
            "2026-06-02T15:00Z",
            &["2026-06-02T10:00Z", "2026-06-02T11:00Z", "2026-06-02T12:00Z"],
        ),
        // Sends ahead of the clock are all kept; a send exactly at the clock is past.
        (
            &[
                ("f", Promo, "2026-06-02T15:00Z"),
                ("f", Promo, "2026-06-02T16:00Z"),
                ("f", Promo, "2026-06-02T17:00Z"),
                ("f", Promo, "2026-06-02T18:00Z"),
                ("f", Promo, "2026-06-02T09:00Z"),
                ("f", Promo, "2026-06-02T14:00Z"),
            ],
            "2026-06-02T15:00Z",
            &["2026-06-02T14:00Z", "2026-06-02T15:00Z", "2026-06-02T16:00Z", "2026-06-02T17:00Z", "2026-06-02T18:00Z"],
        ),
        // Out of the window before the count: one old send and one recent.
        (
            &[("f", Promo, "2026-06-01T14:00Z"), ("f", Promo, "2026-06-02T14:00Z")],
            "2026-06-02T15:00Z",
            &["2026-06-02T14:00Z"],
        ),
        // Two sends at the same instant are two sends.
        (
            &[("f", Promo, "2026-06-02T10:00Z"), ("f", Promo, "2026-06-02T12:00Z"), ("f", Promo, "2026-06-02T12:00Z")],
            "2026-06-02T15:00Z",
            &["2026-06-02T12:00Z", "2026-06-02T12:00Z"],
        ),
    ];
    for (sends, now, want) in rows {
        let mut h = ContactHistory::default();
        for (campaign, category, at) in *sends {
            h.note_send(send(campaign, *category, at), false, &DAY, ts(now));
        }
        let kept: Vec<_> = h.sends.iter().map(|s| s.at).collect();
        let want: Vec<_> = want.iter().map(|t| ts(t)).collect();
        assert_eq!(kept, want, "{sends:?} at {now}");
    }
}

#[test]
fn a_long_history_from_before_the_bound_shrinks_at_its_next_send() {
    let now = ts("2026-06-02T15:00Z");
    let mut h = ContactHistory::default();
    for i in 0..10_000 {
        h.sends.push(SentMessage { at: now - SignedDuration::from_secs(i), ..promo("2026-06-02T15:00Z") });
    }
    h.sends.reverse();
    h.note_send(promo("2026-06-02T15:00Z"), true, &DAY, now);
    assert_eq!(h.sends.iter().map(|s| s.at).collect::<Vec<_>>(), [now, now]);
    assert_eq!(h.last_disclosure_at, Some(now));
}
