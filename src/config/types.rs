//! Value types of the configuration that validate while they parse.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::Category;

/// A duration written for people: "24h", "30d", "90s", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?} ({e}); write e.g. \"24h\" or \"30d\"")))
    }
}

/// A duration, or "off" for none: `#[serde(deserialize_with = "off_or_duration")]`.
pub fn off_or_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<HumanDuration>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    HumanDuration::deserialize(serde::de::value::StringDeserializer::new(s)).map(Some)
}

/// A duration of at least a day (`MIN_IDEMPOTENCY_WINDOW`), checked while
/// parsing so the error names the line: `deserialize_with = "at_least_a_day"`.
pub fn at_least_a_day<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let h = HumanDuration::deserialize(d)?;
    if h.0 < super::MIN_IDEMPOTENCY_WINDOW {
        return Err(serde::de::Error::custom("must be at least 24h (a retry is answered for at least a day)"));
    }
    Ok(h)
}

/// A wall-clock time "HH:MM" (00:00 to 24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay {
    /// Minutes after midnight, 0..=1440.
    pub minutes: u16,
}

impl TimeOfDay {
    pub fn parse(s: &str) -> Option<TimeOfDay> {
        let (h, m) = s.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(TimeOfDay { minutes: h * 60 + m })
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeOfDay::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad time {s:?}; write \"HH:MM\"")))
    }
}

/// A message category as the config file writes it: `"conversational"`,
/// `"informational"` or `"promotional"`. The file's spelling lives here, so
/// the domain type carries no serialization format.
impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "conversational" => Ok(Category::Conversational),
            "informational" => Ok(Category::Informational),
            "promotional" => Ok(Category::Promotional),
            _ => Err(serde::de::Error::custom(format!(
                "unknown category {s:?}; expected \"conversational\", \"informational\" or \"promotional\""
            ))),
        }
    }
}
