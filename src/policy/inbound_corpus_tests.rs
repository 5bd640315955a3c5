//! The labelled corpus and the properties: what the classifier answers over many texts.

use super::tests::{clf, label, CORPUS_TSV};
use super::*;
use proptest::prelude::*;

const INTENTS: [Intent; 6] =
    [Intent::OptOut, Intent::WrongNumber, Intent::Review, Intent::OptIn, Intent::Help, Intent::Message];

/// Floors per class, in the order of `INTENTS`: (precision %, recall %). The
/// rules were improved after a first blind run over the real-traffic rows
/// (recall then: opt-out 94.9%, wrong number 92.3%, review 96.6%, opt-in
/// 96.4%, help 96.9%), so what this corpus measures now (opt-out 100/99.2,
/// wrong number 100/97.1, review 98.3/100, opt-in and help 100/100, message
/// 99.1/100) flatters the rules on unseen texts; the floors sit a little
/// below it so a rule change that loses rows fails here.
const FLOORS: [(f64, f64); 6] = [(99.0, 98.5), (98.0, 95.0), (96.0, 98.0), (98.0, 98.0), (98.0, 96.0), (98.0, 99.5)];

/// Whether an intent records a revocation.
fn revokes(i: Intent) -> bool {
    matches!(i, Intent::OptOut | Intent::WrongNumber)
}

#[test]
fn corpus_confusion_matrix() {
    let c = clf();
    let n = INTENTS.len();
    let mut m = vec![vec![0usize; n]; n]; // m[expected][got]
    let (mut fcc, mut fcc_hit, mut typed) = (0, 0, 0);
    let (mut false_out, mut missed_out) = (Vec::new(), Vec::new());
    let idx = |x: Intent| INTENTS.iter().position(|&y| y == x).expect("every intent has a column");
    for line in CORPUS_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(cols.len(), 4, "bad corpus row {line:?}");
        assert!(matches!(cols[1], "0" | "1"), "bad opted_out in {line:?}");
        let tags: Vec<&str> = cols[2].split(',').collect();
        let (want, got) = (label(cols[0]), c.classify(cols[3], cols[1] == "1"));
        m[idx(want)][idx(got.intent)] += 1;
        typed += usize::from(tags.contains(&"typed"));
        // The FCC per-se words and the CTIA keyword sets.
        if tags.iter().any(|t| matches!(*t, "fcc" | "ctia")) {
            fcc += 1;
            fcc_hit += usize::from(got.intent == Intent::OptOut);
        }
        if !revokes(want) && revokes(got.intent) {
            false_out.push(line);
        }
        if want == Intent::OptOut && got.intent != Intent::OptOut && !tags.contains(&"hard") {
            missed_out.push(line);
        }
        if want != got.intent {
            println!("MISS want {:?} got {:?} ({:?} {:?}): {line}", want, got.intent, got.how, got.matched);
        }
    }
    let pct = |a: usize, b: usize| if b == 0 { 100.0 } else { 100.0 * a as f64 / b as f64 };
    print!("{:<14}", "want \\ got");
    INTENTS.iter().for_each(|i| print!(" {:>11}", format!("{i:?}")));
    println!();
    for (i, row) in m.iter().enumerate() {
        print!("{:<14}", format!("{:?}", INTENTS[i]));
        row.iter().for_each(|x| print!(" {x:>11}"));
        println!();
    }
    let total: usize = m.iter().flatten().sum();
    let mut low = Vec::new();
    for (i, it) in INTENTS.iter().enumerate() {
        let got: usize = (0..n).map(|r| m[r][i]).sum();
        let want: usize = m[i].iter().sum();
        let (p, r) = (pct(m[i][i], got), pct(m[i][i], want));
        println!("{it:?}: {want} rows, precision {p:.1}% recall {r:.1}%");
        if p < FLOORS[i].0 || r < FLOORS[i].1 {
            low.push(format!("{it:?}: precision {p:.1}% recall {r:.1}%, floors {:?}", FLOORS[i]));
        }
    }
    let correct: usize = (0..n).map(|i| m[i][i]).sum();
    let acc = pct(correct, total);
    println!("accuracy {correct}/{total} = {acc:.1}%; keyword recall {fcc_hit}/{fcc}; typed {typed}");
    assert!(total >= 1000, "corpus too small: {total}");
    assert!(typed * 3 > total, "fewer than a third of the rows are written as people text: {typed}/{total}");
    assert_eq!(fcc_hit, fcc, "every FCC per-se word and CTIA keyword must opt out");
    assert!(false_out.is_empty(), "revocations of texts that are none: {false_out:#?}");
    assert!(missed_out.is_empty(), "opt-outs missed (only rows tagged hard may be): {missed_out:#?}");
    assert!(low.is_empty(), "classes below their floors: {low:#?}");
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
