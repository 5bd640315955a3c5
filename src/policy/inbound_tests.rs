//! Table-driven tests of the inbound classifier: one table per family of texts.
//! The labelled corpus and the properties are in `inbound_corpus_tests.rs`.

use super::*;

// Paths are relative to THIS file: in the project (src/policy/inbound.rs) use
// "../../tests/data/inbound_corpus.tsv" and the project's rulepack.
pub(super) const CORPUS_TSV: &str = include_str!("../../tests/data/inbound_corpus.tsv");
const RULEPACK_TOML: &str = include_str!("rules/inbound.toml");

fn rules() -> InboundRules {
    let table: toml::Table = toml::from_str(RULEPACK_TOML).expect("rulepack parses");
    table["inbound"].clone().try_into().expect("[inbound] deserializes")
}
pub(super) fn clf() -> Classifier {
    Classifier::new(&rules()).expect("rules compile")
}
pub(super) fn label(s: &str) -> Intent {
    match s {
        "OPT_OUT" => Intent::OptOut,
        "OPT_IN" => Intent::OptIn,
        "HELP" => Intent::Help,
        "MESSAGE" => Intent::Message,
        "WRONG_NUMBER" => Intent::WrongNumber,
        "REVIEW" => Intent::Review,
        other => panic!("bad label {other:?}"),
    }
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

/// Wrong-number reports (a revocation that voids earlier grants) and texts
/// that only might mean "stop" (review), next to ordinary texts with the
/// same words.
#[test]
fn wrong_number_and_review_families() {
    use {Intent::*, MatchKind::Phrase as P};
    let none = MatchKind::None;
    check(
        &clf(),
        &[
            ("wrong number", false, WrongNumber, P, "WRONG NUMBER"),
            ("You have the wrong person", false, WrongNumber, P, "YOU HAVE THE WRONG"),
            ("this isn't Maria", false, WrongNumber, P, "THIS ISNT MARIA"),
            ("sorry, this is not Tom", false, WrongNumber, P, "THIS IS NOT TOM"),
            ("new number, who is this?", false, WrongNumber, P, "NEW NUMBER WHO"),
            ("número equivocado", false, WrongNumber, P, "NUMERO EQUIVOCADO"),
            ("wrong number stop texting me", false, WrongNumber, P, "WRONG NUMBER"),
            ("wrong person", false, WrongNumber, P, "WRONG PERSON"),
            ("this isn't right", false, Message, none, ""),
            ("this is not working", false, Message, none, ""),
            ("I paid the wrong person, can you help", false, Message, none, ""),
            ("what's wrong with my order", false, Message, none, ""),
            ("not interested", false, Review, P, "NOT INTERESTED"),
            ("Enough!!", false, Review, P, "ENOUGH"),
            ("how did you get my number?", false, Review, P, "HOW DID YOU GET MY NUMBER"),
            ("this is spam", false, Review, P, "THIS IS SPAM"),
            ("who is this, I never signed up", false, Review, P, "I NEVER SIGNED UP"),
            ("who is this and why are you texting me", false, Review, P, "WHY ARE YOU TEXTING ME"),
            ("not interested, stop texting me", false, OptOut, P, "STOP TEXTING"),
            ("that's enough food for the week, thanks", false, Message, none, ""),
            ("I'll stop by at 3", false, Message, none, ""),
            ("can I cancel my appointment", false, Message, none, ""),
            ("what time does it end", false, Message, none, ""),
            ("your email went to my spam folder", false, Message, none, ""),
            ("who is this?", false, Message, none, ""),
        ],
    );
}

/// The language a text is written in, for the reply: the rule pack's marker
/// words decide, the most of them wins, and none means the default.
#[test]
fn the_language_of_a_text_is_the_one_with_most_marker_words() {
    let c = clf();
    for (text, want) in [
        ("ALTO", Some("es")),
        ("STOP por favor", Some("es")),
        ("número equivocado", Some("es")),
        ("no me manden mensajes please", Some("es")),
        ("ayuda", Some("es")),
        ("ARRÊT merci", Some("fr")),
        ("STOP", None),
        ("please stop texting me", None),
        ("no", None),
        ("", None),
    ] {
        assert_eq!(c.classify(text, false).language.as_deref(), want, "{text:?}");
    }
}

/// Revocation wording aimed at something else is no opt-out; the opt-outs
/// that look like it still are. None of these texts is in the corpus.
#[test]
fn revocations_about_something_else() {
    use {Intent::*, MatchKind::Phrase as P};
    let none = MatchKind::None;
    check(
        &clf(),
        &[
            // Calls, while asking for texts.
            ("dont call me, just txt", false, Message, none, ""),
            ("stop calling!!! text me", false, Message, none, ""),
            ("dont call me at work text me", false, Message, none, ""),
            ("pls stop calling i rather text", false, Message, none, ""),
            ("call me, dont text", false, OptOut, P, "DONT TEXT"),
            ("please dont text, call instead", false, OptOut, P, "PLEASE DONT TEXT"),
            ("stop calling me and stop texting me", false, OptOut, P, "STOP TEXTING"),
            ("dont call or text me ever again", false, OptOut, P, "DONT CALL OR TEXT"),
            ("stop calling me", false, OptOut, P, "STOP CALLING"),
            ("stop calling me!! dont even text me", false, OptOut, P, "DONT EVEN TEXT"),
            // Third parties.
            ("tell him to quit texting me", false, Message, none, ""),
            ("can you ask her not to text me anymore", false, Message, none, ""),
            ("my sister wont stop texting me", false, Message, none, ""),
            ("my bf keeps saying stop texting me lol", false, Message, none, ""),
            ("my mom keeps texting me lol tell her to stop texting me", false, Message, none, ""),
            ("tell ur boss to stop texting me", false, OptOut, P, "STOP TEXTING"),
            ("my husband says stop texting him", false, OptOut, P, "STOP TEXTING"),
            // Advice and idioms.
            ("never text and drive kids", false, Message, none, ""),
            ("dont text while driving pls", false, Message, none, ""),
            ("dont text me while im driving", false, OptOut, P, "DONT TEXT"),
            // Reported speech.
            ("he was like dont ever text me again lol", false, Message, none, ""),
            ("she said stop lol", false, Message, none, ""),
            ("i told u stop", false, OptOut, MatchKind::Phrase, "I TOLD U STOP"),
            ("i said stop by at 3", false, Message, none, ""),
            ("he said stop texting him", false, OptOut, P, "STOP TEXTING"),
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
    let at = r.help_keywords.len();
    r.help_keywords.push("STOP".into());
    assert!(Classifier::new(&r).err().unwrap_or_default().contains(&format!("inbound.help_keywords[{at}]")));
    let mut r = rules();
    r.wrong_number_rules[0].objects.push("MARIA".into());
    let err = Classifier::new(&r).err().unwrap_or_default();
    assert!(err.contains("wrong_number_rules[0] (\"not_this_name\").objects: must be empty"), "{err}");
    let mut r = rules();
    r.opt_out_rules[3].max_gap = 99;
    assert!(Classifier::new(&r).err().unwrap_or_default().contains("opt_out_rules[3] (\"remove_me\").max_gap"));
    let mut r = rules();
    r.negation_rules[0].gap_words.push("two words".into());
    assert!(Classifier::new(&r)
        .err()
        .unwrap_or_default()
        .contains("negation_rules[0] (\"dont_stop\").gap_words: entries must be single words"));
    let mut r = rules();
    r.negation_rules[1].unless.push("TEXT ME".into());
    assert!(Classifier::new(&r)
        .err()
        .unwrap_or_default()
        .contains("inbound.negation_rules[1] (\"third_party\").unless: only opt_out_rules take it"));
    let mut r = rules();
    let calls = r.opt_out_rules.iter_mut().find(|x| x.name == "stop_calling").expect("the calls rule");
    calls.unless.push("!!".into());
    assert!(Classifier::new(&r).err().unwrap_or_default().contains("(\"stop_calling\").unless[25]: \"!!\" normalizes"));
    let extra = format!("{RULEPACK_TOML}\n[inbound.typo]\nx = 1\n");
    let table: toml::Table = toml::from_str(&extra).expect("toml");
    assert!(table["inbound"].clone().try_into::<InboundRules>().is_err(), "deny_unknown_fields");
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
            ("ｗｒｏｎｇ ｎｕｍｂｅｒ", false, WrongNumber, P, "WRONG NUMBER"),
            ("START\u{0}", true, OptIn, K, "START"),
            ("\u{1b}[0mHELP", false, Help, K, "HELP"),
            ("don\u{0092}t stop", false, Message, MatchKind::None, ""),
        ],
    );
}
