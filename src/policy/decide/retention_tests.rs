//! The bounded contact history against the unbounded one it replaced: on
//! randomized traffic (sends before and after the clock, several campaigns
//! and categories, disclosures, inbound texts), every decision at or after
//! the latest send already in the past is the same: outcome, reasons, body
//! and DEFER instant.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::fixtures::{grant, policy, tenant, ts, CASEWORK, FUNDRAISING};
use super::{decide, Message, Origin};
use crate::domain::{Category, ContactHistory, Level, Retention, SentMessage};
use crate::phone::{PhoneNumber, UsState};

/// The history as it was before the bound (the oracle): every send kept
/// until it is `window` older than the clock.
fn note_send_unbounded(
    h: &mut ContactHistory,
    sent: SentMessage,
    disclosed: bool,
    window: SignedDuration,
    now: Timestamp,
) {
    if disclosed {
        h.last_disclosure_at = Some(h.last_disclosure_at.map_or(sent.at, |l| l.max(sent.at)));
    }
    let pos = h.sends.partition_point(|s| s.at <= sent.at);
    h.sends.insert(pos, sent);
    h.sends.retain(|s| s.at >= now || now.duration_since(s.at) < window);
}

/// (campaign, category) of the sends the traffic records.
const KINDS: [(&str, Category); 3] = [
    ("fundraising", Category::Promotional),
    ("casework", Category::Informational),
    ("casework", Category::Conversational),
];
/// Florida (capped), Illinois, Texas.
const NUMBERS: [&str; 3] = ["+13055550199", "+13125550199", "+15125550199"];
const STATES: [Option<UsState>; 4] = [None, Some(UsState::FL), Some(UsState::OK), Some(UsState::MD)];

/// One recorded fact: the clock moves on by `advance` seconds, then a send at
/// `offset` seconds from it (or an inbound text), then one decision at
/// `query` seconds after the clock and one between the latest past send and
/// the clock (`back` in thousandths of that span).
#[derive(Clone, Debug)]
struct Step {
    advance: i64,
    offset: i64,
    kind: usize,
    disclosed: bool,
    inbound: bool,
    query: i64,
    back: i64,
    number: usize,
    state: usize,
    promotional: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        (0i64..4 * 3600, -30 * 3600i64..30 * 3600, 0..KINDS.len(), any::<bool>(), prop::bool::weighted(0.1)),
        (0i64..3 * 86_400, 0i64..=1000, 0..NUMBERS.len(), 0..STATES.len(), any::<bool>()),
    )
        .prop_map(|((advance, offset, kind, disclosed, inbound), (query, back, number, state, promotional))| {
            Step { advance, offset, kind, disclosed, inbound, query, back, number, state, promotional }
        })
}

fn at(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn bounded_history_decides_as_the_unbounded_one(steps in prop::collection::vec(step(), 1..48), sends in 3usize..6) {
        let keep = Retention { sends, ..policy().pack.retention };
        let consent = grant(Level::ExpressWritten, 1);
        let (mut oracle, mut bounded) = (ContactHistory::default(), ContactHistory::default());
        let mut now = ts("2026-06-01T00:00:00Z");
        for s in steps {
            now = at(now, s.advance);
            if s.inbound {
                oracle.note_inbound(at(now, s.offset.min(0)));
                bounded.note_inbound(at(now, s.offset.min(0)));
            } else {
                let (campaign, category) = KINDS[s.kind];
                let sent = SentMessage { campaign_id: campaign.into(), category, at: at(now, s.offset) };
                note_send_unbounded(&mut oracle, sent.clone(), s.disclosed, keep.window, now);
                bounded.note_send(sent, s.disclosed, &keep, now);
            }
            let latest_past = bounded.sends.iter().map(|s| s.at).filter(|t| *t <= now).max().unwrap_or(now);
            let behind = now.duration_since(latest_past).as_millis() as i64 * s.back / 1000;
            let to = PhoneNumber::parse(NUMBERS[s.number]).unwrap();
            for send_at in [at(now, s.query), latest_past + SignedDuration::from_millis(behind)] {
                let msg = Message {
                    from: if s.promotional { FUNDRAISING } else { CASEWORK },
                    to: &to,
                    body: if s.promotional { "Our gala is Friday" } else { "Your appointment is confirmed" },
                    origin: Origin::Person,
                    category: None,
                    campaign_id: "",
                    send_at,
                    recipient_state: STATES[s.state],
                    recipient_zone: None,
                };
                let want = decide(policy(), tenant(), &msg, &consent, &oracle);
                let got = decide(policy(), tenant(), &msg, &consent, &bounded);
                prop_assert_eq!(got, want, "at {} with the clock at {}", send_at, now);
            }
            // Pruned as of the last send (an inbound text prunes nothing).
            for (campaign, category) in KINDS.iter().copied().filter(|_| !s.inbound) {
                let past = bounded.sends.iter().filter(|s| s.campaign_id == campaign && s.category == category && s.at <= now);
                prop_assert!(past.count() <= sends, "more than {} past sends kept", sends);
            }
        }
    }
}
