//! Inbound SMS reply classification: opt-out / opt-in / help / wrong number /
//! needs review / ordinary message.
//!
//! US A2P compliance (CTIA keywords, FCC 24-24 "any reasonable means" revocation)
//! requires honouring opt-outs sent as hard keywords *and* as plain language, while
//! not treating "stop by the office" as a revocation. Every keyword list and free-text
//! pattern is policy data from the rulepack's `[inbound]` section ([`InboundRules`]);
//! nothing here hard-codes a keyword. Rules are compiled once by [`Classifier::new`];
//! [`Classifier::classify`] normalizes the text once and then only does hash look-ups
//! over token spans, so it is cheap enough for every inbound message. It takes any
//! text: what gateways do to characters is undone by [`repair`] (part of [`normalize`]),
//! so no text is refused or misread for its characters.

use serde::Deserialize;

use super::content::FxSet;
pub use super::inbound_pattern::ProximityRule;
use super::inbound_pattern::{Lexicon, Pattern, Toks};
use super::inbound_text::keyword_variant;
pub use super::inbound_text::{normalize, repair};

/// What the consumer meant by an inbound text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Intent {
    /// Revoke consent: must be honoured (and confirmed) before any further sends.
    OptOut,
    /// Re-subscribe / resume sending.
    OptIn,
    /// Asks for program info (CTIA requires a HELP response).
    Help,
    /// "Wrong number": a revocation that also reports a possible reassignment.
    WrongNumber,
    /// May mean "stop" but not clearly ("not interested", "how did you get my
    /// number"): an agent should look; automated sends wait (review hold).
    Review,
    /// Ordinary conversation: route to a human or the application.
    Message,
}

/// How the intent was decided, so audits can tell a hard keyword from an inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// The whole message is keyword(s), optionally with filler words.
    Keyword,
    /// A free-text revocation pattern matched inside a longer message.
    Phrase,
    /// Nothing matched (intent is [`Intent::Message`]).
    None,
}

/// Result of [`Classifier::classify`]; `matched` is the normalized keyword or phrase
/// that decided it (empty for [`Intent::Message`]) and is meant for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub intent: Intent,
    pub matched: String,
    pub how: MatchKind,
    /// The language the text is most likely in (a BCP 47 tag from the rule
    /// pack's `language_words`); None when no listed word is in it.
    pub language: Option<String>,
}

/// The rulepack's `[inbound]` section. Entries are normalized with [`normalize`] at load,
/// so they may be written naturally ("opt-out", "ARRÊT", "no más").
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct InboundRules {
    /// Whole-message opt-out keywords (CTIA + FCC per-se words); must not be empty.
    pub opt_out_keywords: Vec<String>,
    /// Whole-message opt-in keywords; must not be empty.
    pub opt_in_keywords: Vec<String>,
    /// Opt-in only while the sender is opted out (YES); otherwise a filler word.
    pub opt_in_when_opted_out_keywords: Vec<String>,
    /// Whole-message help keywords; must not be empty.
    pub help_keywords: Vec<String>,
    /// Politeness words allowed around keywords ("STOP please") without changing them.
    pub filler_words: Vec<String>,
    /// Minimum run of single-letter tokens joined into one word ("S T O P"); ≥ 2.
    pub spaced_letters_min_run: usize,
    /// Minimum run of one repeated letter squeezed to one ("STOPPP"); ≥ 2.
    pub repeated_letters_min_run: usize,
    /// Phrases that revoke consent wherever they occur ("leave me alone").
    pub opt_out_phrases: Vec<String>,
    /// Outbound wording that already is an opt-out instruction ("STOP2END").
    pub instruction_phrases: Vec<String>,
    /// Free-text revocation patterns ("stop ... texting").
    pub opt_out_rules: Vec<ProximityRule>,
    /// Patterns that cancel an overlapping free-text opt-out ("don't stop").
    pub negation_rules: Vec<ProximityRule>,
    /// Outbound opt-out instruction patterns ("Reply STOP", "STOP to opt out").
    pub instruction_rules: Vec<ProximityRule>,
    /// Phrases that report a wrong number wherever they occur ("wrong number").
    pub wrong_number_phrases: Vec<String>,
    /// Wrong-number patterns ("this isn't <name>", as the whole message).
    pub wrong_number_rules: Vec<ProximityRule>,
    /// Phrases that put the number on review wherever they occur ("not interested").
    pub review_phrases: Vec<String>,
    /// Phrases that put the number on review only as the whole message ("enough").
    pub review_messages: Vec<String>,
    /// Review patterns.
    pub review_rules: Vec<ProximityRule>,
    /// Words that mark a text as written in a language, by BCP 47 tag, so the
    /// reply can be in it; the language with the most words in the text wins.
    #[serde(default)]
    pub language_words: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kw {
    Out,
    In,
    InIfOptedOut,
    Help,
    Filler,
}

/// The compiled `[inbound]` rules; build once at rulepack load and share.
pub struct Classifier {
    keywords: Lexicon<Kw>,
    spaced_min: usize,
    repeat_min: usize,
    /// Free-text classes in the order they are tried: wrong number, opt-out, review.
    free_text: [(Intent, Vec<Pattern>); 3],
    negations: Vec<Pattern>,
    instructions: Vec<Pattern>,
    /// Every word an instruction pattern can start with.
    instruction_firsts: FxSet<String>,
    languages: Vec<(String, FxSet<String>)>,
}

fn patterns(key: &str, phrases: Option<(&str, &[String])>, rules: &[ProximityRule]) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::with_capacity(rules.len() + 1);
    if let Some((pkey, list)) = phrases {
        out.push(Pattern::phrases(pkey, list)?);
    }
    for (i, r) in rules.iter().enumerate() {
        out.push(Pattern::rule(&format!("{key}[{i}]"), r)?);
    }
    Ok(out)
}

impl Classifier {
    /// Validates and compiles the rules; the error names the offending key
    /// (e.g. `inbound.opt_out_rules[3] ("remove_me").max_gap: ...`).
    pub fn new(rules: &InboundRules) -> Result<Classifier, String> {
        let r = rules;
        let mut keywords = Lexicon::new();
        for (key, list, kw, required) in [
            ("opt_out_keywords", &r.opt_out_keywords, Kw::Out, true),
            ("opt_in_keywords", &r.opt_in_keywords, Kw::In, true),
            ("opt_in_when_opted_out_keywords", &r.opt_in_when_opted_out_keywords, Kw::InIfOptedOut, false),
            ("help_keywords", &r.help_keywords, Kw::Help, true),
            ("filler_words", &r.filler_words, Kw::Filler, false),
        ] {
            keywords.add(&format!("inbound.{key}"), list, kw, required)?;
        }
        for (key, run) in [("spaced", r.spaced_letters_min_run), ("repeated", r.repeated_letters_min_run)] {
            if run < 2 {
                return Err(format!("inbound.{key}_letters_min_run: must be at least 2"));
            }
        }
        for (key, rules) in [("negation_rules", &r.negation_rules), ("instruction_rules", &r.instruction_rules)] {
            if let Some((i, rule)) = rules.iter().enumerate().find(|(_, x)| !x.unless.is_empty()) {
                return Err(format!("inbound.{key}[{i}] ({:?}).unless: only opt_out_rules take it", rule.name));
            }
        }
        let out_phrases = ("inbound.opt_out_phrases", r.opt_out_phrases.as_slice());
        let wrong_phrases = ("inbound.wrong_number_phrases", r.wrong_number_phrases.as_slice());
        let review_phrases = ("inbound.review_phrases", r.review_phrases.as_slice());
        let mut review = patterns("inbound.review_rules", Some(review_phrases), &r.review_rules)?;
        review.push(Pattern::whole_phrases("inbound.review_messages", &r.review_messages)?);
        let instr_phrases = ("inbound.instruction_phrases", r.instruction_phrases.as_slice());
        let instructions = patterns("inbound.instruction_rules", Some(instr_phrases), &r.instruction_rules)?;
        let instruction_firsts = instructions.iter().flat_map(|p| p.triggers.firsts.iter().cloned()).collect();
        let mut languages = Vec::new();
        for (tag, words) in &r.language_words {
            let mut set = FxSet::default();
            for (i, w) in words.iter().enumerate() {
                let n = normalize(w);
                if n.is_empty() || n.contains(' ') {
                    return Err(format!("inbound.language_words.{tag}[{i}]: {w:?} must be one word"));
                }
                set.insert(n);
            }
            languages.push((tag.clone(), set));
        }
        Ok(Classifier {
            keywords,
            spaced_min: r.spaced_letters_min_run,
            repeat_min: r.repeated_letters_min_run,
            free_text: [
                (
                    Intent::WrongNumber,
                    patterns("inbound.wrong_number_rules", Some(wrong_phrases), &r.wrong_number_rules)?,
                ),
                (Intent::OptOut, patterns("inbound.opt_out_rules", Some(out_phrases), &r.opt_out_rules)?),
                (Intent::Review, review),
            ],
            negations: patterns("inbound.negation_rules", None, &r.negation_rules)?,
            instructions,
            instruction_firsts,
            languages,
        })
    }

    /// Classifies one inbound text. `currently_opted_out` is the sender's state; it only
    /// matters for conditional opt-in words (YES re-subscribes only an opted-out sender).
    pub fn classify(&self, text: &str, currently_opted_out: bool) -> Classification {
        let norm = normalize(text);
        let mut c = self.intent_of(&norm, currently_opted_out);
        c.language = self.language_of(&norm);
        c
    }

    /// The language with the most of its marker words in `norm` (the first
    /// listed on a tie); None when there is none.
    fn language_of(&self, norm: &str) -> Option<String> {
        let count = |set: &FxSet<String>| norm.split(' ').filter(|w| set.contains(*w)).count();
        let best = self.languages.iter().map(|(tag, set)| (count(set), tag)).filter(|(n, _)| *n > 0);
        best.fold(None, |acc: Option<(usize, &String)>, x| if acc.is_some_and(|a| a.0 >= x.0) { acc } else { Some(x) })
            .map(|(_, tag)| tag.clone())
    }

    fn intent_of(&self, norm: &str, currently_opted_out: bool) -> Classification {
        let toks = Toks::new(norm);
        let keyword = self.keyword(&toks, currently_opted_out).or_else(|| {
            let variant = keyword_variant(norm, self.spaced_min, self.repeat_min)?;
            self.keyword(&Toks::new(&variant), currently_opted_out)
        });
        if let Some((intent, matched)) = keyword {
            return Classification { intent, matched, how: MatchKind::Keyword, language: None };
        }
        // Every negation match, not only each rule's first: in "my mom keeps
        // texting me lol tell her to stop texting me" the second one negates.
        let mut negated = Vec::new();
        for p in &self.negations {
            p.find(&toks, |s, e| {
                negated.push((s, e));
                false
            });
        }
        let free = |s: usize, e: usize| negated.iter().all(|&(ns, ne)| e <= ns || ne <= s);
        for (intent, patterns) in &self.free_text {
            for p in patterns.iter().filter(|p| !p.voided(&toks)) {
                let whole =
                    |s, e| !p.whole || (self.only_filler(&toks, 0, s) && self.only_filler(&toks, e, toks.len()));
                if let Some((s, e)) = p.find(&toks, |s, e| free(s, e) && whole(s, e)) {
                    let matched = toks.slice(s, e - s).unwrap_or_default().to_string();
                    return Classification { intent: *intent, matched, how: MatchKind::Phrase, language: None };
                }
            }
        }
        let (intent, matched, how) = (Intent::Message, String::new(), MatchKind::None);
        Classification { intent, matched, how, language: None }
    }

    /// Whole-message keyword parse: only keywords and filler words allowed. Opt-out wins
    /// over opt-in over help, so "STOP START" is honoured as an opt-out.
    fn keyword(&self, t: &Toks, opted_out: bool) -> Option<(Intent, String)> {
        let (mut i, mut best): (usize, Option<(Intent, &str)>) = (0, None);
        let rank = |x: Intent| [Intent::OptOut, Intent::OptIn, Intent::Help].iter().position(|&y| y == x);
        while i < t.len() {
            let (n, kw) = self.keywords.at(t, i)?;
            let intent = match kw {
                Kw::Out => Some(Intent::OptOut),
                Kw::In => Some(Intent::OptIn),
                Kw::InIfOptedOut if opted_out => Some(Intent::OptIn),
                Kw::Help => Some(Intent::Help),
                Kw::InIfOptedOut | Kw::Filler => None,
            };
            let better = |&(x, _): &(Intent, &str)| best.is_none_or(|(b, _)| rank(x) < rank(b));
            if let Some(hit) = intent.zip(t.slice(i, n)).filter(better) {
                best = Some(hit);
            }
            i += n;
        }
        best.map(|(x, s)| (x, s.to_string()))
    }

    /// Tokens `from..to` are all filler words.
    fn only_filler(&self, t: &Toks, mut from: usize, to: usize) -> bool {
        while from < to {
            match self.keywords.at(t, from) {
                Some((n, Kw::Filler)) if from + n <= to => from += n,
                _ => return false,
            }
        }
        true
    }

    /// True when an OUTBOUND body already tells the recipient how to opt out
    /// ("Reply STOP to opt out", "STOP to opt-out"); the bare word ("stop by") is not.
    pub fn carries_opt_out_instruction(&self, body: &str) -> bool {
        let norm = normalize(body);
        // Most bodies hold no word an instruction starts with: one hash a word.
        if !norm.split(' ').any(|w| self.instruction_firsts.contains(w)) {
            return false;
        }
        self.instruction_in(&norm)
    }

    /// Whether an instruction pattern matches the normalized `norm`.
    fn instruction_in(&self, norm: &str) -> bool {
        let toks = Toks::new(norm);
        self.instructions.iter().any(|p| p.find(&toks, |_, _| true).is_some())
    }
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "inbound_corpus_tests.rs"]
mod corpus_tests;
