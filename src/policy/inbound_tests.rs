//! Tests of the inbound classifier, including the labelled corpus.

use super::*;
use proptest::prelude::*;

// Paths are relative to THIS file: in the project (src/policy/inbound.rs) use
// "../../tests/data/inbound_corpus.tsv" and the project's rulepack.
const CORPUS_TSV: &str = include_str!("../../tests/data/inbound_corpus.tsv");
const RULEPACK_TOML: &str = include_str!("rules/inbound.toml");

fn rules() -> InboundRules {
    let table: toml::Table = toml::from_str(RULEPACK_TOML).expect("rulepack parses");
    table["inbound"].clone().try_into().expect("[inbound] deserializes")
}
fn clf() -> Classifier {
    Classifier::new(&rules()).expect("rules compile")
}
const INTENTS: [Intent; 4] = [Intent::OptOut, Intent::OptIn, Intent::Help, Intent::Message];
fn label(s: &str) -> Intent {
    match s {
        "OPT_OUT" => Intent::OptOut,
        "OPT_IN" => Intent::OptIn,
        "HELP" => Intent::Help,
        "MESSAGE" => Intent::Message,
        other => panic!("bad label {other:?}"),
    }
}

#[test]
fn corpus_confusion_matrix() {
    let c = clf();
    let mut m = [[0usize; 4]; 4]; // m[expected][got]
    let (mut fcc, mut fcc_hit, mut false_out) = (0, 0, Vec::new());
    let idx = |x: Intent| INTENTS.iter().position(|&y| y == x).unwrap_or(3);
    for line in CORPUS_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(cols.len(), 4, "bad corpus row {line:?}");
        assert!(matches!(cols[1], "0" | "1"), "bad opted_out in {line:?}");
        let (want, got) = (label(cols[0]), c.classify(cols[3], cols[1] == "1"));
        m[idx(want)][idx(got.intent)] += 1;
        if cols[2].split(',').any(|t| t == "fcc") {
            fcc += 1;
            fcc_hit += usize::from(got.intent == Intent::OptOut);
        }
        if want != Intent::OptOut && got.intent == Intent::OptOut {
            false_out.push(line);
        }
        if want != got.intent {
            println!("MISS want {:?} got {:?} ({:?} {:?}): {line}", want, got.intent, got.how, got.matched);
        }
    }
    println!("expected \\ got  {:>8} {:>8} {:>8} {:>8}", "OptOut", "OptIn", "Help", "Message");
    for (i, row) in m.iter().enumerate() {
        println!("{:<15} {:>8} {:>8} {:>8} {:>8}", format!("{:?}", INTENTS[i]), row[0], row[1], row[2], row[3]);
    }
    let total: usize = m.iter().flatten().sum();
    let correct: usize = (0..4).map(|i| m[i][i]).sum();
    for (i, it) in INTENTS.iter().enumerate() {
        let got: usize = (0..4).map(|r| m[r][i]).sum();
        let want: usize = m[i].iter().sum();
        let pct = |a: usize, b: usize| {
            if b == 0 {
                100.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        println!("{it:?}: precision {:.1}% recall {:.1}%", pct(m[i][i], got), pct(m[i][i], want));
    }
    let acc = 100.0 * correct as f64 / total as f64;
    println!("accuracy {correct}/{total} = {acc:.1}%; fcc recall {fcc_hit}/{fcc}");
    assert!(total >= 170, "corpus too small: {total}");
    assert_eq!(fcc_hit, fcc, "every FCC per-se word must opt out");
    assert!(false_out.is_empty(), "false opt-outs: {false_out:#?}");
    assert!(acc >= 97.0, "accuracy {acc:.1}% < 97%");
}

/// Classifies every case and reports every mismatch at once.
fn check(c: &Classifier, cases: &[(&str, bool, Intent, MatchKind, &str)]) {
    let mut wrong = Vec::new();
    for &(text, opted_out, intent, how, matched) in cases {
        let got = c.classify(text, opted_out);
        if (got.intent, got.how, got.matched.as_str()) != (intent, how, matched) {
            wrong.push(format!("{text:?}: want {intent:?} {how:?} {matched:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn keyword_family() {
    use {Intent::*, MatchKind::Keyword as K};
    check(
        &clf(),
        &[
            ("STOP please", false, OptOut, K, "STOP"),
            ("stop all", false, OptOut, K, "STOP ALL"),
            ("Opt-Out", false, OptOut, K, "OPT OUT"),
            ("S T O P", false, OptOut, K, "STOP"),
            ("START STOP", false, OptOut, K, "STOP"),
            ("yes stop", false, OptOut, K, "STOP"),
            ("no más", false, OptOut, K, "NO MAS"),
            ("unstop", false, OptIn, K, "UNSTOP"),
            ("YES!", true, OptIn, K, "YES"),
            ("YES", false, Message, MatchKind::None, ""),
            ("help?", false, Help, K, "HELP"),
            ("please", false, Message, MatchKind::None, ""),
        ],
    );
}

#[test]
fn phrase_families() {
    use {Intent::*, MatchKind::Phrase as P};
    let none = MatchKind::None;
    check(
        &clf(),
        &[
            ("please stop texting me", false, OptOut, P, "STOP TEXTING"),
            ("stop sending me these messages", false, OptOut, P, "STOP SENDING"),
            ("quit calling me", false, OptOut, P, "QUIT CALLING"),
            ("I don't want to receive texts", false, OptOut, P, "DONT WANT TO RECEIVE TEXTS"),
            ("please remove my number", false, OptOut, P, "REMOVE MY NUMBER"),
            ("take me off the list", false, OptOut, P, "TAKE ME OFF"),
            ("leave me alone", false, OptOut, P, "LEAVE ME ALONE"),
            ("wrong number", false, OptOut, P, "WRONG NUMBER"),
            ("no me envíes más mensajes", false, OptOut, P, "NO ME ENVIES"),
            ("revoke my consent", false, OptOut, P, "REVOKE MY CONSENT"),
            ("please don't stop sending reminders", false, Message, none, ""),
            ("don't unsubscribe me", false, Message, none, ""),
            ("don't call before noon", false, Message, none, ""),
            ("stop by, text me", false, Message, none, ""),
            ("I never got the text", false, Message, none, ""),
            ("I can't stop smiling, stop texting me", false, OptOut, P, "STOP TEXTING"),
        ],
    );
}

#[test]
fn instruction_family() {
    let c = clf();
    for body in [
        "Reply STOP to opt out",
        "Text STOP to unsubscribe",
        "reply stop to cancel",
        "Txt STOP to end",
        "STOP to opt-out",
        "Msg&data rates may apply. Reply HELP for help, STOP2END",
        "To opt out, reply with the word STOP.",
        "Responde BAJA para cancelar",
    ] {
        assert!(c.carries_opt_out_instruction(body), "{body:?}");
    }
    for body in [
        "stop by the office",
        "Please reply with the end date of your lease",
        "Text us when you stop by",
        "Your appointment ends at 5. Don't stop your meds.",
        "",
    ] {
        assert!(!c.carries_opt_out_instruction(body), "{body:?}");
    }
}

#[test]
fn bad_rules_name_the_key() {
    let mut r = rules();
    r.opt_out_keywords.clear();
    assert!(Classifier::new(&r).err().unwrap_or_default().contains("inbound.opt_out_keywords"));
    let mut r = rules();
    r.help_keywords.push("STOP".into());
    assert!(Classifier::new(&r).err().unwrap_or_default().contains("inbound.help_keywords[3]"));
    let mut r = rules();
    r.opt_out_rules[3].max_gap = 99;
    assert!(Classifier::new(&r).err().unwrap_or_default().contains("opt_out_rules[3] (\"remove_me\").max_gap"));
    let mut r = rules();
    r.negation_rules[0].gap_words.push("two words".into());
    assert!(Classifier::new(&r)
        .err()
        .unwrap_or_default()
        .contains("negation_rules[0] (\"dont_stop\").gap_words: entries must be single words"));
    let extra = format!("{RULEPACK_TOML}\n[inbound.typo]\nx = 1\n");
    let table: toml::Table = toml::from_str(&extra).expect("toml");
    assert!(table["inbound"].clone().try_into::<InboundRules>().is_err(), "deny_unknown_fields");
}

#[test]
fn never_panics_on_weird_input() {
    let c = clf();
    let long_word = "a".repeat(10_000);
    let letters = "S ".repeat(5_000);
    let emoji = "🛑🙅\u{200D}♀\u{FE0F}👍🏽".repeat(1_000);
    let stops = "STOP ".repeat(2_000);
    let weird = [
        "",
        " ",
        "\0",
        "\u{7}\u{1b}[31mSTOP\u{1b}[0m",
        "\u{202E}POTS\u{202C}",
        "توقف من فضلك",
        "עצור",
        "STOP\u{0301}\u{0301}\u{0301}",
        "\u{0301}\u{0308}",
        "ＳＴＯＰ　ＮＯＷ",
        "\u{FEFF}",
        "ǰ̌ΐ",
        "\u{FFFD}\u{10FFFF}",
        "-_-'''\"\"",
        "S",
        "S T",
        "don't",
        "no",
        "'",
        "\r\n\t",
        &long_word,
        &letters,
        &emoji,
        &stops,
    ];
    for s in weird {
        for opted_out in [false, true] {
            let got = c.classify(s, opted_out);
            assert_eq!(got.matched.is_empty(), got.intent == Intent::Message, "{s:?}");
        }
        let _ = c.carries_opt_out_instruction(s);
        let n = normalize(s);
        assert_eq!(normalize(&n), n, "normalize is idempotent on {s:?}");
    }
    assert_eq!(c.classify(&letters, false).intent, Intent::Message);
    assert_eq!(c.classify(&stops, false).intent, Intent::OptOut);
    // The escape sequences are removed whole, so the colour codes are no
    // words around the keyword.
    assert_eq!(c.classify("\u{7}\u{1b}[31mSTOP\u{1b}[0m", false).intent, Intent::OptOut);
}

/// Opt-outs as gateways and phones deliver them: each is recognized.
#[test]
fn gateway_artifacts_around_opt_outs() {
    use {Intent::*, MatchKind::Keyword as K, MatchKind::Phrase as P};
    check(
        &clf(),
        &[
            ("STOP\u{0}", false, OptOut, K, "STOP"),
            ("STOP\u{0}\u{0}\u{0}\u{0}", false, OptOut, K, "STOP"),
            ("S\u{0}T\u{0}O\u{0}P\u{0}", false, OptOut, K, "STOP"),
            ("\u{200B}STOP", false, OptOut, K, "STOP"),
            ("\u{FEFF}stop", false, OptOut, K, "STOP"),
            ("ＳＴＯＰ", false, OptOut, K, "STOP"),
            ("ｓｔｏｐ\u{3000}ｐｌｅａｓｅ", false, OptOut, K, "STOP"),
            ("S\u{0301}TOP", false, OptOut, K, "STOP"),
            ("S\u{0336}T\u{0336}O\u{0336}P\u{0336}", false, OptOut, K, "STOP"),
            ("\u{1b}[0mstop", false, OptOut, K, "STOP"),
            ("\u{1b}[1;31mSTOP\u{1b}[0m\u{1b}(B", false, OptOut, K, "STOP"),
            ("Stop 👍🏽", false, OptOut, K, "STOP"),
            ("🙅🏾\u{200D}♀\u{FE0F} stop", false, OptOut, K, "STOP"),
            ("\u{202E}stop", false, OptOut, K, "STOP"),
            ("\u{2067}stop\u{2069}", false, OptOut, K, "STOP"),
            ("stop\r\n", false, OptOut, K, "STOP"),
            ("stop\u{0B}\u{0C}", false, OptOut, K, "STOP"),
            ("\u{0093}STOP\u{0094}", false, OptOut, K, "STOP"),
            ("STOP\u{0097}thanks", false, OptOut, K, "STOP"),
            ("un\u{00AD}sub\u{00AD}scribe", false, OptOut, K, "UNSUBSCRIBE"),
            ("opt\u{0096}out", false, OptOut, K, "OPT OUT"),
            ("ＣＡＮＣＥＬ\u{0}", false, OptOut, K, "CANCEL"),
            ("Q\u{200D}U\u{200D}I\u{200D}T", false, OptOut, K, "QUIT"),
            ("end\u{7F}", false, OptOut, K, "END"),
            ("ARRE\u{0302}T", false, OptOut, K, "ARRET"),
            ("please don\u{0092}t text me", false, OptOut, P, "PLEASE DONT TEXT"),
            ("I don\u{0092}t want these texts anymore", false, OptOut, P, "DONT WANT THESE TEXTS"),
            ("\u{0091}stop texting me\u{0092}", false, OptOut, P, "STOP TEXTING"),
            ("take me off your list\u{0}", false, OptOut, P, "TAKE ME OFF"),
            ("stop\u{200B} texting\u{200C} me", false, OptOut, P, "STOP TEXTING"),
            ("ｗｒｏｎｇ ｎｕｍｂｅｒ", false, OptOut, P, "WRONG NUMBER"),
            ("START\u{0}", true, OptIn, K, "START"),
            ("\u{1b}[0mHELP", false, Help, K, "HELP"),
            ("don\u{0092}t stop", false, Message, MatchKind::None, ""),
        ],
    );
}

/// One classifier for every property case (compiling the rules per case would
/// dominate the run).
static CLASSIFIER: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(clf);

/// Words and fragments the classifier reacts to, to build texts near its rules.
const FRAGMENTS: &[&str] = &[
    "STOP",
    "stop",
    "S",
    "T",
    "O",
    "P",
    "please",
    "don't",
    "dont",
    "not",
    "texting",
    "me",
    "START",
    "YES",
    "HELP",
    "unsubscribe",
    "opt",
    "out",
    "ＳＴＯＰ",
    "🛑",
    "!!",
    "\u{200B}",
    "\u{0301}",
    " ",
    "  ",
    "\n",
    "-",
    "'",
    "ß",
    "İ",
];

/// Characters that render as nothing and separate nothing: gateways and
/// phones sprinkle them anywhere in a text.
const INVISIBLE: &[char] = &[
    '\u{0}',
    '\u{1}',
    '\u{7}',
    '\u{1b}',
    '\u{7F}',
    '\u{81}',
    '\u{8D}',
    '\u{9D}',
    '\u{AD}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{202A}',
    '\u{202C}',
    '\u{202E}',
    '\u{2060}',
    '\u{2066}',
    '\u{2069}',
    '\u{FE0F}',
    '\u{FEFF}',
    '\u{E0041}',
];

/// The corpus rows: (label, opted out, text).
fn corpus_rows() -> Vec<(Intent, bool, &'static str)> {
    let rows = CORPUS_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    rows.map(|l| l.splitn(4, '\t').collect::<Vec<_>>()).map(|c| (label(c[0]), c[1] == "1", c[3])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Invisible characters and controls put anywhere in any corpus text
    /// change nothing about how it is classified.
    #[test]
    fn invisible_characters_anywhere_change_no_corpus_intent(
        row in proptest::sample::select(corpus_rows()),
        inserts in proptest::collection::vec((any::<proptest::sample::Index>(), proptest::sample::select(INVISIBLE)), 1..8),
    ) {
        let (_, opted_out, text) = row;
        let mut chars: Vec<char> = text.chars().collect();
        for (at, c) in inserts {
            chars.insert(at.index(chars.len() + 1), c);
        }
        let noisy: String = chars.into_iter().collect();
        let (want, got) = (CLASSIFIER.classify(text, opted_out), CLASSIFIER.classify(&noisy, opted_out));
        prop_assert_eq!((want.intent, want.matched), (got.intent, got.matched), "{:?}", noisy);
    }

    /// Arbitrary unicode: never panics; a match names what matched; normalize
    /// is idempotent; blanks around the text change nothing.
    #[test]
    fn classify_never_panics_on_arbitrary_text(s in any::<String>(), opted_out in any::<bool>()) {
        let c = &*CLASSIFIER;
        let got = c.classify(&s, opted_out);
        prop_assert_eq!(got.matched.is_empty(), got.intent == Intent::Message, "{:?}", s);
        let padded = c.classify(&format!("  {s}\n"), opted_out);
        prop_assert_eq!(padded.intent, got.intent, "{:?}", s);
        let n = normalize(&s);
        prop_assert_eq!(c.carries_opt_out_instruction(&s), c.instruction_in(&n), "the prefilter changed {:?}", s);
        prop_assert_eq!(normalize(&n), n);
    }

    /// Long texts (past every length threshold) built from the words the
    /// rules look at.
    #[test]
    fn classify_never_panics_on_long_keyword_soup(
        words in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..600),
        sep in "[ .,_\\-]{0,2}",
        opted_out in any::<bool>(),
    ) {
        let text = words.join(&sep);
        let got = CLASSIFIER.classify(&text, opted_out);
        prop_assert_eq!(got.matched.is_empty(), got.intent == Intent::Message, "{:?}", text);
        let got = CLASSIFIER.carries_opt_out_instruction(&text);
        prop_assert_eq!(got, CLASSIFIER.instruction_in(&normalize(&text)), "the prefilter changed {:?}", text);
    }
}
