//! US states, DC and the inhabited territories, by their USPS code: what the
//! area-code table lists, what `recipient_state` accepts and what the rule
//! pack's state rules are keyed by.

use std::fmt;
use std::str::FromStr;

/// Declares [`UsState`] and its code table from one list, so the variants and
/// their codes cannot drift apart.
macro_rules! us_states {
    ($($code:ident),+ $(,)?) => {
        /// A US state, DC or an inhabited territory (PR, VI, GU, AS, MP).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum UsState {
            $($code),+
        }

        impl UsState {
            /// Every code, in the order of the USPS list this module keeps.
            pub const ALL: &'static [UsState] = &[$(UsState::$code),+];

            /// The two-letter USPS code ("FL").
            pub fn as_str(self) -> &'static str {
                match self {
                    $(UsState::$code => stringify!($code)),+
                }
            }
        }
    };
}

us_states!(
    AL, AK, AZ, AR, CA, CO, CT, DE, DC, FL, GA, HI, ID, IL, IN, IA, KS, KY, LA, ME, MD, MA, MI, MN, MS, MO, MT, NE, NV,
    NH, NJ, NM, NY, NC, ND, OH, OK, OR, PA, RI, SC, SD, TN, TX, UT, VT, VA, WA, WV, WI, WY, PR, VI, GU, AS, MP,
);

/// Not one of the USPS codes [`UsState`] knows (codes are upper case).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a two-letter US state code such as \"FL\"")]
pub struct UnknownState;

impl FromStr for UsState {
    type Err = UnknownState;

    /// Parses an upper-case USPS code exactly: "FL", never "fl" or "Florida".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UsState::ALL.iter().copied().find(|st| st.as_str() == s).ok_or(UnknownState)
    }
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_back_to_themselves() {
        assert_eq!(UsState::ALL.len(), 56, "50 states, DC and five territories");
        for &st in UsState::ALL {
            assert_eq!(st.as_str().parse(), Ok(st));
            assert_eq!(st.to_string(), st.as_str());
        }
    }

    #[test]
    fn only_exact_upper_case_codes_parse() {
        for bad in ["", "fl", "Fl", "FLA", "Florida", " FL", "ZZ", "UM"] {
            assert_eq!(bad.parse::<UsState>(), Err(UnknownState), "{bad:?}");
        }
    }
}
