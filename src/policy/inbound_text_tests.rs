//! Tests of inbound text repair and normalization.

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
        ("STOP\0", "STOP"),
        ("S\0T\0O\0P\0", "STOP"),
        ("don\u{0092}t", "DONT"),
        ("\u{0093}stop\u{0094}", "STOP"),
        ("\u{1b}[0mstop", "STOP"),
        ("stop\u{0B}now", "STOP NOW"),
        ("Stop 👍🏽", "STOP"),
        ("ＳＴＯＰ\u{3000}ＮＯＷ", "STOP NOW"),
        ("S\u{FE0F}T\u{E0041}O\u{034F}P\u{3164}", "STOP"),
        ("\u{FEFF}\u{2066}stop\u{2069}", "STOP"),
    ] {
        assert_eq!(normalize(input), want, "normalize({input:?})");
    }
}

#[test]
fn repair_table() {
    for (input, want) in [
        // Windows-1252 bytes a gateway decoded as Latin-1 (C1 controls).
        ("please don\u{0092}t text me", "please don\u{2019}t text me"),
        ("\u{0093}STOP\u{0094}", "\u{201C}STOP\u{201D}"),
        ("5pm\u{0096}6pm \u{0080}20\u{0085}", "5pm\u{2013}6pm \u{20AC}20\u{2026}"),
        ("a\u{0081}b\u{008D}c\u{008F}d\u{0090}e\u{009D}f", "abcdef"),
        // NULs (C strings, UTF-16 read as bytes) and other controls.
        ("STOP\0\0\0", "STOP"),
        ("S\0T\0O\0P\0", "STOP"),
        ("\u{7}stop\u{7F}", "stop"),
        ("stop\u{0B}now\u{0C}", "stop now "),
        // Terminal escape sequences, whole; a lone ESC alone.
        ("\u{1b}[0mstop", "stop"),
        ("\u{1b}[1;31mSTOP\u{1b}[0m", "STOP"),
        ("\u{1b}]0;title\u{7}stop", "stop"),
        ("\u{1b}]8;;http://x\u{1b}\\stop", "stop"),
        ("\u{1b}(Bstop", "stop"),
        ("\u{1b})0stop", "stop"),
        ("opt\u{1b}-out", "opt-out"),
        ("s\u{1b}.t.o.p", "s.t.o.p"),
        ("\u{1b}(smile)", "(smile)"),
        ("\u{1b}stop", "stop"),
        ("stop\u{1b}", "stop"),
        ("\u{1b}[stop", "top"),
        ("\u{1b}[12", "[12"),
        ("\u{1b}\u{1b}[0m", ""),
        // Kept as they are: what was never a control.
        ("stop\r\n", "stop\r\n"),
        ("a\tb\nc", "a\tb\nc"),
        ("\u{200B}\u{202E}stop\u{FEFF} 👍🏽 ＳＴＯＰ S\u{0301}", "\u{200B}\u{202E}stop\u{FEFF} 👍🏽 ＳＴＯＰ S\u{0301}"),
        ("", ""),
    ] {
        assert_eq!(repair(input), want, "repair({input:?})");
    }
    assert!(matches!(repair("stop\r\n👍🏽"), Cow::Borrowed(_)), "nothing to repair, nothing copied");
}

/// Characters gateways deliver, weighted towards the troublesome ones.
fn gateway_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => proptest::char::range('\0', '\u{1F}'),
        2 => proptest::char::range('\u{7F}', '\u{9F}'),
        1 => Just('\u{1b}'),
        1 => proptest::sample::select(vec!['[', ']', '(', '0', ';', 'm', '\\', '\u{7}']),
        1 => proptest::sample::select(vec!['\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{FE0F}']),
        1 => proptest::char::range('\u{1F3FB}', '\u{1F3FF}'),
        1 => proptest::char::range('\u{FF01}', '\u{FF5E}'),
        1 => proptest::char::range('\u{0300}', '\u{036F}'),
        4 => proptest::char::range('a', 'z'),
    ]
}

/// Up to 1600 bytes (the API's body limit) of [`gateway_char`]s.
fn gateway_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(gateway_char(), 0..800).prop_map(|cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() > 1600 {
                break;
            }
            s.push(c);
        }
        s
    })
}

proptest! {
    // Long texts of weighted chars are slow to generate in a debug build.
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any text is repaired into one with no control left but tab, newline and
    /// carriage return; repairing again changes nothing; a text with nothing
    /// to repair is returned as it came; matching sees the repaired text.
    #[test]
    fn repair_leaves_no_control_and_is_idempotent(s in gateway_text()) {
        let r = repair(&s);
        prop_assert!(!r.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')), "{:?} -> {:?}", s, r);
        prop_assert_eq!(repair(&r), r.clone());
        prop_assert!(r.len() <= s.len() * 3 / 2, "{:?}", s);
        let untouched = !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
        prop_assert_eq!(matches!(r, Cow::Borrowed(_)), untouched);
        prop_assert_eq!(normalize(&s), normalize(&r));
        let n = normalize(&s);
        prop_assert_eq!(normalize(&n), n);
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
