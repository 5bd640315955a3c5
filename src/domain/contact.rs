//! Per-recipient facts besides consent: inbound activity, disclosures, and
//! recent sends (for frequency caps). Kept in the `contact` tree.

use jiff::{SignedDuration, Timestamp};

use super::event::Category;

/// One allowed, non-dry-run send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub campaign_id: String,
    pub category: Category,
    pub at: Timestamp,
}

/// What the engine needs to know about past traffic with one recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactHistory {
    /// Latest inbound text from the recipient.
    pub last_inbound_at: Option<Timestamp>,
    /// Latest sent message that carried the opt-out instruction.
    pub last_disclosure_at: Option<Timestamp>,
    /// Recent sends, oldest first, pruned to the longest cap period.
    pub sends: Vec<SentMessage>,
}

impl ContactHistory {
    /// The open conversation, as (last inbound, open until), when the
    /// recipient ever texted in; `window` is the tenant's conversation window.
    pub fn conversation(&self, window: SignedDuration) -> Option<(Timestamp, Timestamp)> {
        self.last_inbound_at.map(|t| (t, t.checked_add(window).unwrap_or(t)))
    }

    /// Records an inbound at `at` (out-of-order deliveries keep the latest).
    pub fn note_inbound(&mut self, at: Timestamp) {
        self.last_inbound_at = Some(self.last_inbound_at.map_or(at, |l| l.max(at)));
    }

    /// Records a send; drops sends more than `keep` before `now` (the wall
    /// clock), so a send scheduled far ahead never erases today's from a cap.
    pub fn note_send(&mut self, sent: SentMessage, disclosed: bool, keep: SignedDuration, now: Timestamp) {
        if disclosed {
            self.last_disclosure_at = Some(self.last_disclosure_at.map_or(sent.at, |l| l.max(sent.at)));
        }
        let pos = self.sends.partition_point(|s| s.at <= sent.at);
        self.sends.insert(pos, sent);
        self.sends.retain(|s| s.at >= now || now.duration_since(s.at) < keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_send_does_not_prune_todays_sends() {
        let ts = |s: &str| s.parse::<Timestamp>().unwrap();
        let send = |at| SentMessage { campaign_id: "c".into(), category: Category::Promotional, at: ts(at) };
        let now = ts("2026-06-02T15:00Z");
        let day = SignedDuration::from_hours(24);
        let mut h = ContactHistory::default();
        h.note_send(send("2026-05-31T15:00Z"), false, day, now);
        h.note_send(send("2026-06-02T14:00Z"), false, day, now);
        h.note_send(send("2026-06-05T14:00Z"), false, day, now);
        let kept: Vec<_> = h.sends.iter().map(|s| s.at).collect();
        assert_eq!(kept, [ts("2026-06-02T14:00Z"), ts("2026-06-05T14:00Z")]);
    }
}
