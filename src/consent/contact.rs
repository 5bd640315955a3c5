//! Per-recipient facts besides consent: inbound activity, disclosures, and
//! recent sends (for frequency caps). Kept in the `contact` tree.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::model::Category;

/// One allowed, non-dry-run send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub campaign_id: String,
    pub category: Category,
    pub at: Timestamp,
}

/// What the engine needs to know about past traffic with one recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactHistory {
    /// Latest inbound text from the recipient.
    pub last_inbound_at: Option<Timestamp>,
    /// Latest sent message that carried the opt-out instruction.
    pub last_disclosure_at: Option<Timestamp>,
    /// Recent sends, oldest first, pruned to the longest cap period.
    pub sends: Vec<SentMessage>,
}

impl ContactHistory {
    /// Records an inbound at `at` (out-of-order deliveries keep the latest).
    pub fn note_inbound(&mut self, at: Timestamp) {
        self.last_inbound_at = Some(self.last_inbound_at.map_or(at, |l| l.max(at)));
    }

    /// Records a send; keeps only sends within `keep` of the newest one.
    pub fn note_send(&mut self, sent: SentMessage, disclosed: bool, keep: SignedDuration) {
        if disclosed {
            self.last_disclosure_at = Some(self.last_disclosure_at.map_or(sent.at, |l| l.max(sent.at)));
        }
        let pos = self.sends.partition_point(|s| s.at <= sent.at);
        self.sends.insert(pos, sent);
        if let Some(newest) = self.sends.last().map(|s| s.at) {
            self.sends.retain(|s| newest.duration_since(s.at) < keep);
        }
    }
}
