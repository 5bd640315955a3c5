//! Inbound SMS reply classification: opt-out / opt-in / help / ordinary message.
//!
//! US A2P compliance (CTIA keywords, FCC 24-24 "any reasonable means" revocation)
//! requires honouring opt-outs sent as hard keywords *and* as plain language, while
//! not treating "stop by the office" as a revocation. Every keyword list and free-text
//! pattern is policy data from the rulepack's `[inbound]` section ([`InboundRules`]);
//! nothing here hard-codes a keyword. Rules are compiled once by [`Classifier::new`];
//! [`Classifier::classify`] normalizes the text once and then only does hash look-ups
//! over token spans, so it is cheap enough for every inbound message.

use serde::Deserialize;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// What the consumer meant by an inbound text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Intent {
    /// Revoke consent: must be honoured (and confirmed) before any further sends.
    OptOut,
    /// Re-subscribe / resume sending.
    OptIn,
    /// Asks for program info (CTIA requires a HELP response).
    Help,
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
}

/// A trigger phrase followed, after at most `max_gap` tokens, by an object phrase.
/// When `gap_words` is non-empty every gap token must be one of them; when
/// `whole_message` is set, only filler words may surround the match.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProximityRule {
    pub name: String,
    pub triggers: Vec<String>,
    pub objects: Vec<String>,
    pub max_gap: usize,
    #[serde(default)]
    pub gap_words: Vec<String>,
    #[serde(default)]
    pub whole_message: bool,
}

/// Largest `max_gap` accepted; longer gaps stop meaning "the same request".
const MAX_GAP_LIMIT: usize = 8;
/// Longest normalized text retried as spaced/stretched letters ("S T O P P L E A S E").
const VARIANT_MAX_BYTES: usize = 120;

/// Canonical form used for all matching: NFKD compatibility fold (full-width letters,
/// ligatures), combining marks dropped (ARRÊT → ARRET, más → MAS, zalgo text),
/// invisible format chars and apostrophes deleted (don't → DONT, "ST<U+200B>OP" → STOP),
/// uppercased, every other non-alphanumeric char (punctuation, '-', '_', emoji,
/// controls) turned into a single space, trimmed.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        return normalize_ascii(text);
    }
    normalize_unicode(text)
}

/// [`normalize`] for any text.
fn normalize_unicode(text: &str) -> String {
    words_upper(text.nfkd().filter(|c| !is_combining_mark(*c)), text.len(), |c, out| {
        out.extend(c.to_uppercase().filter(|u| !is_combining_mark(*u)))
    })
}

/// [`normalize`] for ASCII text, where NFKD and mark stripping change
/// nothing: the common case, without the Unicode tables.
fn normalize_ascii(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut space = false;
    for &b in text.as_bytes() {
        match b {
            b'\'' | b'`' => {}
            b if b.is_ascii_alphanumeric() => {
                if space && !out.is_empty() {
                    out.push(b' ');
                }
                space = false;
                out.push(b.to_ascii_uppercase());
            }
            _ => space = true,
        }
    }
    String::from_utf8(out).expect("ASCII in, ASCII out")
}

/// Deletes [`is_deleted`] chars, keeps alphanumerics (through `upper`) and
/// turns every run of other chars into one space between words.
fn words_upper(chars: impl Iterator<Item = char>, cap: usize, upper: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(cap);
    let mut space = false;
    for c in chars.filter(|c| !is_deleted(*c)) {
        if !c.is_alphanumeric() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        upper(c, &mut out);
    }
    out
}

/// Chars removed without leaving a word break: apostrophes and invisible format chars.
fn is_deleted(c: char) -> bool {
    matches!(c, '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{00AD}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The keyword-only retry form: spaced letters joined, then letter runs squeezed
/// ("S T O P", "STOPPP" → "STOP"); `None` when nothing changed.
/// Skipped for texts longer than `VARIANT_MAX_BYTES`: keyword-only replies are short.
fn keyword_variant(norm: &str, spaced_min: usize, repeat_min: usize) -> Option<String> {
    if norm.len() > VARIANT_MAX_BYTES {
        return None;
    }
    let joined = join_spaced_letters(norm, spaced_min);
    let base = joined.as_deref().unwrap_or(norm);
    let mut out = String::with_capacity(base.len());
    let mut chars = base.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        let squeeze = c.is_alphabetic() && run >= repeat_min;
        out.extend(std::iter::repeat_n(c, if squeeze { 1 } else { run }));
    }
    (out != norm).then_some(out)
}

/// Joins runs of at least `min_run` single-letter tokens ("S T O P" → "STOP");
/// `None` when nothing changed.
fn join_spaced_letters(norm: &str, min_run: usize) -> Option<String> {
    let toks: Vec<&str> = norm.split(' ').collect();
    let single = |t: &str| {
        let mut cs = t.chars();
        matches!((cs.next(), cs.next()), (Some(c), None) if c.is_alphabetic())
    };
    let (mut out, mut i, mut changed) = (String::with_capacity(norm.len()), 0, false);
    while i < toks.len() {
        let run = toks[i..].iter().take_while(|t| single(t)).count();
        if !out.is_empty() {
            out.push(' ');
        }
        if run >= min_run {
            toks[i..i + run].iter().for_each(|t| out.push_str(t));
            (changed, i) = (true, i + run);
        } else {
            out.push_str(toks[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// Token spans over a normalized string; a run of tokens is a zero-copy sub-slice.
struct Toks<'a> {
    text: &'a str,
    spans: Vec<(usize, usize)>,
}

impl<'a> Toks<'a> {
    fn new(text: &'a str) -> Self {
        let mut spans = Vec::new();
        let mut start = None;
        for (i, b) in text.bytes().enumerate() {
            if b != b' ' {
                start = start.or(Some(i));
            } else if let Some(s) = start.take() {
                spans.push((s, i));
            }
        }
        if let Some(s) = start {
            spans.push((s, text.len()));
        }
        Toks { text, spans }
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
    /// Tokens `i..i+n` as one space-joined `&str`.
    fn slice(&self, i: usize, n: usize) -> Option<&'a str> {
        let (first, last) = (self.spans.get(i)?, self.spans.get((i + n).checked_sub(1)?)?);
        self.text.get(first.0..last.1).filter(|_| n > 0)
    }
}

/// Normalized phrases (1..=max_len tokens) mapped to a value.
struct Lexicon<V> {
    map: crate::policy::content::FxMap<String, V>,
    /// The first token of every entry: a position whose token is not here
    /// starts no entry, so no longer slice need be hashed there.
    firsts: crate::policy::content::FxSet<String>,
    max_len: usize,
}

impl<V: Copy + PartialEq> Lexicon<V> {
    fn new() -> Self {
        let map = crate::policy::content::FxMap::default();
        Lexicon { map, firsts: crate::policy::content::FxSet::default(), max_len: 0 }
    }
    /// Adds `entries` (named `key` in errors); rejects an empty list when `required`,
    /// entries that normalize to nothing, and one phrase listed with two meanings.
    fn add(&mut self, key: &str, entries: &[String], v: V, required: bool) -> Result<(), String> {
        if required && entries.is_empty() {
            return Err(format!("{key}: must not be empty"));
        }
        for (i, e) in entries.iter().enumerate() {
            let n = normalize(e);
            let words = n.split(' ').count();
            if n.is_empty() {
                return Err(format!("{key}[{i}]: {e:?} normalizes to nothing"));
            }
            self.firsts.insert(n.split(' ').next().unwrap_or_default().to_string());
            if self.map.insert(n, v).is_some_and(|old| old != v) {
                return Err(format!("{key}[{i}]: {e:?} is listed with two meanings"));
            }
            self.max_len = self.max_len.max(words);
        }
        Ok(())
    }
    /// Whether some entry may start at token `i`.
    fn starts_at(&self, t: &Toks, i: usize) -> bool {
        t.slice(i, 1).is_some_and(|w| self.firsts.contains(w))
    }
    fn build(key: &str, entries: &[String], v: V, required: bool) -> Result<Self, String> {
        let mut l = Lexicon::new();
        l.add(key, entries, v, required).map(|_| l)
    }
    /// Longest entry starting at token `i`: (token count, value).
    fn at(&self, t: &Toks, i: usize) -> Option<(usize, V)> {
        if !self.starts_at(t, i) {
            return None;
        }
        (1..=self.max_len).rev().find_map(|n| self.map.get(t.slice(i, n)?).map(|v| (n, *v)))
    }
}

/// A compiled [`ProximityRule`]; a fixed phrase list is one with no objects.
struct Pattern {
    triggers: Lexicon<()>,
    objects: Option<Lexicon<()>>,
    gap_words: Lexicon<()>,
    max_gap: usize,
    whole: bool,
}

impl Pattern {
    fn phrases(key: &str, entries: &[String]) -> Result<Self, String> {
        let triggers = Lexicon::build(key, entries, (), false)?;
        let (objects, gap_words) = (None, Lexicon::new());
        Ok(Pattern { triggers, objects, gap_words, max_gap: 0, whole: false })
    }
    fn rule(key: &str, r: &ProximityRule) -> Result<Self, String> {
        let key = format!("{key} ({:?})", r.name);
        let gap_words = Lexicon::build(&format!("{key}.gap_words"), &r.gap_words, (), false)?;
        if gap_words.max_len > 1 {
            return Err(format!("{key}.gap_words: entries must be single words"));
        }
        if r.max_gap > MAX_GAP_LIMIT {
            return Err(format!("{key}.max_gap: {} exceeds {MAX_GAP_LIMIT}", r.max_gap));
        }
        let triggers = Lexicon::build(&format!("{key}.triggers"), &r.triggers, (), true)?;
        let objects = Some(Lexicon::build(&format!("{key}.objects"), &r.objects, (), true)?);
        let (max_gap, whole) = (r.max_gap, r.whole_message);
        Ok(Pattern { triggers, objects, gap_words, max_gap, whole })
    }
    /// First match `[start, end)` (token indices) for which `accept` holds.
    fn find(&self, t: &Toks, accept: impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
        for i in (0..t.len()).filter(|&i| self.triggers.starts_at(t, i)) {
            for n in 1..=self.triggers.max_len {
                let hit = t.slice(i, n).is_some_and(|s| self.triggers.map.contains_key(s));
                if !hit {
                    continue;
                }
                let end = match &self.objects {
                    None => Some(i + n),
                    Some(objects) => self.object_end(objects, t, i + n),
                };
                if let Some(end) = end.filter(|&e| accept(i, e)) {
                    return Some((i, end));
                }
            }
        }
        None
    }
    fn object_end(&self, objects: &Lexicon<()>, t: &Toks, mut j: usize) -> Option<usize> {
        for _ in 0..=self.max_gap {
            if let Some((m, ())) = objects.at(t, j) {
                return Some(j + m);
            }
            let gap_ok = self.gap_words.map.is_empty() || self.gap_words.at(t, j).is_some();
            if j >= t.len() || !gap_ok {
                return None;
            }
            j += 1;
        }
        None
    }
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
    opt_out: Vec<Pattern>,
    negations: Vec<Pattern>,
    instructions: Vec<Pattern>,
    /// Every word an instruction pattern can start with.
    instruction_firsts: crate::policy::content::FxSet<String>,
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
        let out_phrases = ("inbound.opt_out_phrases", r.opt_out_phrases.as_slice());
        let instr_phrases = ("inbound.instruction_phrases", r.instruction_phrases.as_slice());
        let instructions = patterns("inbound.instruction_rules", Some(instr_phrases), &r.instruction_rules)?;
        let instruction_firsts = instructions.iter().flat_map(|p| p.triggers.firsts.iter().cloned()).collect();
        Ok(Classifier {
            keywords,
            spaced_min: r.spaced_letters_min_run,
            repeat_min: r.repeated_letters_min_run,
            opt_out: patterns("inbound.opt_out_rules", Some(out_phrases), &r.opt_out_rules)?,
            negations: patterns("inbound.negation_rules", None, &r.negation_rules)?,
            instructions,
            instruction_firsts,
        })
    }

    /// Classifies one inbound text. `currently_opted_out` is the sender's state; it only
    /// matters for conditional opt-in words (YES re-subscribes only an opted-out sender).
    pub fn classify(&self, text: &str, currently_opted_out: bool) -> Classification {
        let norm = normalize(text);
        let toks = Toks::new(&norm);
        let keyword = self.keyword(&toks, currently_opted_out).or_else(|| {
            let variant = keyword_variant(&norm, self.spaced_min, self.repeat_min)?;
            self.keyword(&Toks::new(&variant), currently_opted_out)
        });
        if let Some((intent, matched)) = keyword {
            return Classification { intent, matched, how: MatchKind::Keyword };
        }
        let negated: Vec<(usize, usize)> = self.negations.iter().filter_map(|p| p.find(&toks, |_, _| true)).collect();
        let free = |s: usize, e: usize| negated.iter().all(|&(ns, ne)| e <= ns || ne <= s);
        for p in &self.opt_out {
            let whole = |s, e| !p.whole || (self.only_filler(&toks, 0, s) && self.only_filler(&toks, e, toks.len()));
            if let Some((s, e)) = p.find(&toks, |s, e| free(s, e) && whole(s, e)) {
                let matched = toks.slice(s, e - s).unwrap_or_default().to_string();
                return Classification { intent: Intent::OptOut, matched, how: MatchKind::Phrase };
            }
        }
        let (intent, matched, how) = (Intent::Message, String::new(), MatchKind::None);
        Classification { intent, matched, how }
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
