//! Phone numbers: parsing caller input into canonical E.164.
//!
//! Every consent record is keyed by the canonical E.164 string, so two spellings
//! of one number ("(312) 555-0199", "+13125550199") must land on the same key.
//! NANP national forms are accepted because US callers type them; anything we
//! cannot read unambiguously is rejected rather than guessed.

pub mod area_codes;
mod us_state;

pub use us_state::{UnknownState, UsState};

use std::fmt;

/// A phone number in canonical E.164 form (`+` and 8 to 15 digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why an input is not a phone number; the message is safe to show a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is too long")]
    TooLong,
    #[error("has characters a phone number cannot contain")]
    BadCharacter,
    #[error("has an extension, which SMS cannot reach")]
    Extension,
    #[error("has the wrong number of digits")]
    Length,
    #[error("is not a valid NANP number (area code or exchange)")]
    InvalidNanp,
    #[error("must be in E.164 form (+ and country code)")]
    NotE164,
}

/// Longest raw input we look at; longer strings are not phone numbers.
const MAX_INPUT: usize = 64;

impl PhoneNumber {
    /// Parses E.164 or a NANP national form ("312-555-0199", "(312) 555-0199",
    /// "13125550199", "011 44 20 7946 0958") into E.164.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if s.len() > MAX_INPUT {
            return Err(PhoneError::TooLong);
        }
        let s = strip_scheme(s);
        let lower = s.to_ascii_lowercase();
        if lower.contains('x') || lower.contains("ext") || lower.contains(';') || lower.contains(',') {
            return Err(PhoneError::Extension);
        }
        let mut plus = false;
        let mut digits = String::with_capacity(16);
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::BadCharacter),
            }
        }
        if !plus {
            if let Some(rest) = digits.strip_prefix("011") {
                digits = rest.to_string();
                plus = true;
            }
        }
        if plus {
            return Self::from_international(&digits);
        }
        match digits.len() {
            10 => Self::nanp(&digits),
            11 if digits.starts_with('1') => Self::nanp(&digits[1..]),
            _ => Err(PhoneError::Length),
        }
    }

    /// Parses strict E.164 only (configuration: sender numbers must be exact).
    pub fn parse_e164(input: &str) -> Result<Self, PhoneError> {
        let rest = input.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotE164);
        }
        Self::from_international(rest)
    }

    fn from_international(digits: &str) -> Result<Self, PhoneError> {
        if let Some(national) = digits.strip_prefix('1') {
            if national.len() != 10 {
                return Err(PhoneError::Length);
            }
            return Self::nanp(national);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::NotE164);
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneError::Length);
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    /// Validates a 10-digit NANP national number: NPA and NXX start 2-9 and
    /// are not N11 service codes. 555-01XX (fictitious) numbers are valid.
    fn nanp(national: &str) -> Result<Self, PhoneError> {
        let b = national.as_bytes();
        let code_ok = |c: &[u8]| c[0] >= b'2' && !(c[1] == b'1' && c[2] == b'1');
        if b.len() != 10 || !code_ok(&b[0..3]) || !code_ok(&b[3..6]) {
            return Err(PhoneError::InvalidNanp);
        }
        Ok(PhoneNumber(format!("+1{national}")))
    }

    /// The canonical E.164 string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The NANP area code (NPA), when the number is in country code 1.
    pub fn npa(&self) -> Option<u16> {
        let d = self.0.strip_prefix("+1")?;
        d.get(0..3)?.parse().ok()
    }
}

fn strip_scheme(s: &str) -> &str {
    for p in ["tel:", "sms:", "TEL:", "SMS:"] {
        if let Some(rest) = s.strip_prefix(p) {
            return rest.trim();
        }
    }
    s
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_common_forms() {
        let cases = [
            ("+13125550199", "+13125550199"),
            ("(312) 555-0199", "+13125550199"),
            ("312-555-0199", "+13125550199"),
            ("312.555.0199", "+13125550199"),
            ("3125550199", "+13125550199"),
            ("13125550199", "+13125550199"),
            ("1 (312) 555-0199", "+13125550199"),
            ("+1 312 555 0199", "+13125550199"),
            ("  tel:+13125550199 ", "+13125550199"),
            ("011 44 20 7946 0958", "+442079460958"),
            ("+442079460958", "+442079460958"),
        ];
        for (input, want) in cases {
            assert_eq!(PhoneNumber::parse(input).map(|p| p.0), Ok(want.to_string()), "{input}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        use PhoneError::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("312555019", Length),
            ("23125550199", Length),
            ("+1312555019", Length),
            ("(112) 555-0199", InvalidNanp),
            ("(911) 555-0199", InvalidNanp),
            ("(312) 155-0199", InvalidNanp),
            ("(312) 911-0199", InvalidNanp),
            ("312-555-0199 x12", Extension),
            ("312-555-0199 ext 4", Extension),
            ("call 312", BadCharacter),
            ("3125550199+", BadCharacter),
            ("+0441234567", NotE164),
            ("+1234567", Length),
            ("+1234567890123456", Length),
        ];
        for (input, want) in cases {
            assert_eq!(PhoneNumber::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(PhoneNumber::parse(&"1".repeat(65)), Err(TooLong));
    }

    #[test]
    fn strict_e164_for_configuration() {
        assert!(PhoneNumber::parse_e164("+13125550100").is_ok());
        assert_eq!(PhoneNumber::parse_e164("3125550100"), Err(PhoneError::NotE164));
        assert_eq!(PhoneNumber::parse_e164("+1 312 555 0100"), Err(PhoneError::NotE164));
    }

    #[test]
    fn npa_of_nanp_numbers_only() {
        assert_eq!(PhoneNumber::parse("312-555-0199").unwrap().npa(), Some(312));
        assert_eq!(PhoneNumber::parse("+442079460958").unwrap().npa(), None);
    }

    /// What every accepted number looks like: `+`, 8 to 15 digits, no leading
    /// zero, NANP numbers with valid area code and exchange; parsing it again
    /// gives it back.
    fn assert_canonical(p: &PhoneNumber) -> Result<(), TestCaseError> {
        let digits = p.as_str().strip_prefix('+').expect("starts with +");
        prop_assert!((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()), "{p}");
        prop_assert!(!digits.starts_with('0'), "{p}");
        if let Some(national) = digits.strip_prefix('1') {
            prop_assert_eq!(national.len(), 10);
            prop_assert!(p.npa().is_some_and(|npa| npa >= 200 && npa % 100 != 11), "{p}");
        }
        prop_assert_eq!(PhoneNumber::parse(p.as_str()), Ok(p.clone()));
        prop_assert_eq!(PhoneNumber::parse_e164(p.as_str()), Ok(p.clone()));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_never_panics_and_output_is_canonical(s in "\\PC{0,40}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                assert_canonical(&p)?;
            }
        }

        /// Any string at all: unicode, controls, combining marks, long.
        #[test]
        fn parse_never_panics_on_arbitrary_strings(s in any::<String>(), long in "(\\PC|\\pC){60,300}") {
            for input in [&s, &long] {
                if let Ok(p) = PhoneNumber::parse(input) {
                    assert_canonical(&p)?;
                }
                let _ = PhoneNumber::parse_e164(input);
            }
        }

        /// Strings of the characters phone numbers are written with, so most
        /// cases reach the digit rules rather than the character check.
        #[test]
        fn parse_phone_like_strings(s in "(tel:|sms:|\\+|011)?[0-9 ()+.xX,;-]{0,24}", pad in "[ \\t]{0,3}") {
            let padded = format!("{pad}{s}{pad}");
            let (a, b) = (PhoneNumber::parse(&s), PhoneNumber::parse(&padded));
            if let Ok(p) = &a {
                assert_canonical(p)?;
            }
            // Surrounding blanks never change the answer.
            prop_assert_eq!(a, b);
        }
    }
}
