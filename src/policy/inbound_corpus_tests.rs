//! The labelled corpus and the properties: what the classifier answers over many texts.

use super::tests::{clf, label, CORPUS_TSV};
use super::*;
use proptest::prelude::*;

const INTENTS: [Intent; 4] = [Intent::OptOut, Intent::OptIn, Intent::Help, Intent::Message];

#[test]
fn corpus_confusion_matrix() {
    let c = clf();
    let mut m = [[0usize; 4]; 4]; // m[expected][got]
    let (mut fcc, mut fcc_hit, mut false_out, mut missed_out) = (0, 0, Vec::new(), Vec::new());
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
        let known_miss = cols[2].split(',').any(|t| t == "hard");
        if want == Intent::OptOut && got.intent != Intent::OptOut && !known_miss {
            missed_out.push(line);
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
    assert!(missed_out.is_empty(), "opt-outs missed (only rows tagged hard may be): {missed_out:#?}");
    assert!(acc >= 97.0, "accuracy {acc:.1}% < 97%");
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
