//! `contact` tree values: a recipient's contact history.
//!
//! Two layouts live side by side in the tree. The first (`ContactV1`)
//! stores timestamps as RFC 3339 strings. Formatting and parsing them took
//! about a fifth of the server's CPU on recipients with full send histories
//! (encoding and decoding the history took over a third). The second
//! (`ContactV2`) stores each timestamp as seconds and nanoseconds, behind a
//! leading [`V2`] byte. A first-layout value never starts with that byte:
//! its first byte is an option tag, 0 or 1.
//!
//! Writes use the second layout. A first-layout value is read as it is and
//! rewritten on its next write. Contact history is activity, not consent,
//! so this needs no schema bump. A binary older than the second layout
//! reports such a value as corrupt, so downgrade only to a backup taken
//! before it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::enums::{category, category_v1};
use super::{decode, encode, CategoryV1};
use crate::consent::ConsentError;
use crate::domain::{ContactHistory, SentMessage};

/// The first byte of a second-layout value.
const V2: u8 = 0x02;

#[derive(Serialize, Deserialize)]
struct SentV1 {
    campaign_id: String,
    category: CategoryV1,
    at: Timestamp,
}

/// The first layout: timestamps as RFC 3339 strings.
#[derive(Serialize, Deserialize)]
struct ContactV1 {
    last_inbound_at: Option<Timestamp>,
    last_disclosure_at: Option<Timestamp>,
    sends: Vec<SentV1>,
}

/// An instant as whole seconds and nanoseconds since the Unix epoch (both
/// of one sign, as [`Timestamp::new`] takes them): exact, and no text.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Instant(i64, i32);

impl Instant {
    fn of(t: Timestamp) -> Instant {
        Instant(t.as_second(), t.subsec_nanosecond())
    }

    fn timestamp(self) -> Result<Timestamp, ConsentError> {
        Timestamp::new(self.0, self.1).map_err(|_| ConsentError::corrupt("a contact-history instant out of range"))
    }
}

#[derive(Serialize, Deserialize)]
struct SentV2 {
    campaign_id: String,
    category: CategoryV1,
    at: Instant,
}

/// The second layout: timestamps as [`Instant`]s.
#[derive(Serialize, Deserialize)]
struct ContactV2 {
    last_inbound_at: Option<Instant>,
    last_disclosure_at: Option<Instant>,
    sends: Vec<SentV2>,
}

/// A `contact` value, in the second layout.
pub fn encode_contact(h: &ContactHistory) -> Vec<u8> {
    let record = ContactV2 {
        last_inbound_at: h.last_inbound_at.map(Instant::of),
        last_disclosure_at: h.last_disclosure_at.map(Instant::of),
        sends: h
            .sends
            .iter()
            .map(|s| SentV2 {
                campaign_id: s.campaign_id.clone(),
                category: category_v1(s.category),
                at: Instant::of(s.at),
            })
            .collect(),
    };
    let mut out = vec![V2];
    out.extend_from_slice(&encode(&record));
    out
}

/// Decodes a `contact` value of either layout.
pub fn decode_contact(bytes: &[u8]) -> Result<ContactHistory, ConsentError> {
    if let Some((&V2, rest)) = bytes.split_first() {
        let r: ContactV2 = decode(rest, "contact history")?;
        let at = |i: Option<Instant>| i.map(Instant::timestamp).transpose();
        return Ok(ContactHistory {
            last_inbound_at: at(r.last_inbound_at)?,
            last_disclosure_at: at(r.last_disclosure_at)?,
            sends: r
                .sends
                .into_iter()
                .map(|s| {
                    Ok(SentMessage {
                        campaign_id: s.campaign_id,
                        category: category(s.category),
                        at: s.at.timestamp()?,
                    })
                })
                .collect::<Result<_, ConsentError>>()?,
        });
    }
    let r: ContactV1 = decode(bytes, "contact history")?;
    Ok(ContactHistory {
        last_inbound_at: r.last_inbound_at,
        last_disclosure_at: r.last_disclosure_at,
        sends: r
            .sends
            .into_iter()
            .map(|s| SentMessage { campaign_id: s.campaign_id, category: category(s.category), at: s.at })
            .collect(),
    })
}

/// Encodes `h` in the first layout (tests: a store written before the second).
#[cfg(test)]
pub(super) fn encode_contact_v1(h: &ContactHistory) -> Vec<u8> {
    encode(&ContactV1 {
        last_inbound_at: h.last_inbound_at,
        last_disclosure_at: h.last_disclosure_at,
        sends: h
            .sends
            .iter()
            .map(|s| SentV1 { campaign_id: s.campaign_id.clone(), category: category_v1(s.category), at: s.at })
            .collect(),
    })
}
