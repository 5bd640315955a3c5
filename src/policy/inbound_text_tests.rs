//! Tests of inbound text normalization.

use super::*;
use proptest::prelude::*;

#[test]
fn normalize_table() {
    for (input, want) in [
        ("stop", "STOP"),
        ("  STOP!!! 🛑 ", "STOP"),
        ("ＳＴＯＰ", "STOP"),
        ("opt-out", "OPT OUT"),
        ("OPT_OUT", "OPT OUT"),
        ("don't  stop", "DONT STOP"),
        ("don’t", "DONT"),
        ("'stop'", "STOP"),
        ("ARRÊT", "ARRET"),
        ("no más", "NO MAS"),
        ("S\u{0301}T\u{0308}O\u{0323}P", "STOP"),
        ("ST\u{200B}OP", "STOP"),
        ("\u{202E}stop\u{202C}", "STOP"),
        ("stop\n\tnow\r\n", "STOP NOW"),
        ("🙅\u{200D}♀\u{FE0F}", ""),
        ("", ""),
        ("straße", "STRASSE"),
        ("ﬁne 5pm", "FINE 5PM"),
    ] {
        assert_eq!(normalize(input), want, "normalize({input:?})");
    }
}

#[test]
fn spaced_letters_table() {
    for (input, want) in [
        ("S T O P", Some("STOP")),
        ("E N D", Some("END")),
        ("O K", None),
        ("STOP", None),
        ("", None),
        ("I A M S T O P", Some("IAMSTOP")),
        ("please S T O P now", Some("PLEASE STOP NOW")),
    ] {
        assert_eq!(join_spaced_letters(&normalize(input), 3).as_deref(), want, "{input:?}");
    }
}

proptest! {
    #[test]
    fn the_ascii_fast_path_normalizes_like_the_unicode_path(text in "[ -~\t\n]{0,80}") {
        prop_assert_eq!(normalize_ascii(&text), normalize_unicode(&text));
    }
}
