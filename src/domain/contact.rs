//! Per-recipient facts besides consent: inbound activity, disclosures, and
//! recent sends (for frequency caps). Kept in the `contact` tree.
//!
//! Bounded: a busy recipient's history holds what the rules can still read
//! and no more (see [`Retention`]), so a decision costs the same after ten
//! sends as after ten thousand.

use jiff::{SignedDuration, Timestamp};

use super::event::Category;

/// One allowed, non-dry-run send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub campaign_id: String,
    pub category: Category,
    pub at: Timestamp,
}

/// How much send history a recipient keeps: derived from the policy in force
/// (the rule pack's caps), never fixed here.
///
/// A cap counts one campaign's sends of one category during a rolling
/// period, and a decision at `t` only needs the latest `max` of those at or
/// before `t` (whether there are `max` of them inside the period, and when
/// the oldest of them leaves it). So of the sends at or before the clock,
/// each campaign and category keeps its latest `sends`, and none older than
/// `window`; sends scheduled ahead of the clock are all kept until they pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Sends this long before the clock are dropped: the longest cap period.
    pub window: SignedDuration,
    /// Latest sends at or before the clock kept per campaign and category: at
    /// least the largest cap's `max`.
    pub sends: usize,
}

/// What the engine needs to know about past traffic with one recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactHistory {
    /// Latest inbound text from the recipient.
    pub last_inbound_at: Option<Timestamp>,
    /// Latest sent message that carried the opt-out instruction.
    pub last_disclosure_at: Option<Timestamp>,
    /// Recent sends, oldest first, pruned as [`Retention`] says.
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

    /// Records a send, then prunes to `keep` as of `now` (the wall clock, so a
    /// send scheduled far ahead never erases today's from a cap).
    pub fn note_send(&mut self, sent: SentMessage, disclosed: bool, keep: &Retention, now: Timestamp) {
        if disclosed {
            self.last_disclosure_at = Some(self.last_disclosure_at.map_or(sent.at, |l| l.max(sent.at)));
        }
        let pos = self.sends.partition_point(|s| s.at <= sent.at);
        self.sends.insert(pos, sent);
        self.prune(keep, now);
    }

    /// Drops the sends no cap can count any more: those `keep.window` or
    /// more before `now`, and, of each campaign and category's sends at or
    /// before `now`, all but the latest `keep.sends`.
    pub fn prune(&mut self, keep: &Retention, now: Timestamp) {
        self.sends.retain(|s| s.at >= now || now.duration_since(s.at) < keep.window);
        let past = self.sends.partition_point(|s| s.at <= now);
        let mut kept: Vec<(&str, Category, usize)> = Vec::new();
        let mut gone = vec![false; past];
        for (i, s) in self.sends[..past].iter().enumerate().rev() {
            let n = match kept.iter_mut().find(|(c, k, _)| *c == s.campaign_id && *k == s.category) {
                Some((_, _, n)) => n,
                None => {
                    kept.push((&s.campaign_id, s.category, 0));
                    &mut kept.last_mut().expect("just pushed").2
                }
            };
            *n += 1;
            gone[i] = *n > keep.sends;
        }
        if gone.contains(&true) {
            let mut i = 0;
            self.sends.retain(|_| {
                i += 1;
                !gone.get(i - 1).copied().unwrap_or(false)
            });
        }
    }
}

#[cfg(test)]
#[path = "contact_tests.rs"]
mod tests;
