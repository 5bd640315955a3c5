//! The matching machinery under the inbound classifier: token spans over a
//! normalized text, phrase lexicons and compiled [`ProximityRule`]s.

use serde::Deserialize;

use super::content::{FxMap, FxSet};
use super::inbound_text::normalize;

/// A trigger phrase followed, after at most `max_gap` tokens, by an object phrase.
/// When `gap_words` is non-empty every gap token must be one of them; when
/// `whole_message` is set, only filler words may surround the match; when one
/// of the `unless` phrases is anywhere in the message, the rule does not match.
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
    /// Phrases that void the rule wherever they stand: the text asks for what
    /// the rule would revoke ("text me instead, don't call" for a rule about
    /// calls). Opt-out rules only.
    #[serde(default)]
    pub unless: Vec<String>,
    /// The object is any one word, e.g. a name ("this isn't Maria");
    /// `objects` must then be empty.
    #[serde(default)]
    pub any_word_object: bool,
}

/// Largest `max_gap` accepted; longer gaps stop meaning "the same request".
const MAX_GAP_LIMIT: usize = 8;

/// Token spans over a normalized string; a run of tokens is a zero-copy sub-slice.
pub(super) struct Toks<'a> {
    text: &'a str,
    spans: Vec<(usize, usize)>,
}

impl<'a> Toks<'a> {
    pub(super) fn new(text: &'a str) -> Self {
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
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }
    /// Tokens `i..i+n` as one space-joined `&str`.
    pub(super) fn slice(&self, i: usize, n: usize) -> Option<&'a str> {
        let (first, last) = (self.spans.get(i)?, self.spans.get((i + n).checked_sub(1)?)?);
        self.text.get(first.0..last.1).filter(|_| n > 0)
    }
}

/// Normalized phrases (1..=max_len tokens) mapped to a value.
pub(super) struct Lexicon<V> {
    map: FxMap<String, V>,
    /// The first token of every entry: a position whose token is not here
    /// starts no entry, so no longer slice need be hashed there.
    pub(super) firsts: FxSet<String>,
    max_len: usize,
}

impl<V: Copy + PartialEq> Lexicon<V> {
    pub(super) fn new() -> Self {
        let map = FxMap::default();
        Lexicon { map, firsts: FxSet::default(), max_len: 0 }
    }
    /// Adds `entries` (named `key` in errors); rejects an empty list when `required`,
    /// entries that normalize to nothing, and one phrase listed with two meanings.
    pub(super) fn add(&mut self, key: &str, entries: &[String], v: V, required: bool) -> Result<(), String> {
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
    pub(super) fn at(&self, t: &Toks, i: usize) -> Option<(usize, V)> {
        if !self.starts_at(t, i) {
            return None;
        }
        (1..=self.max_len).rev().find_map(|n| self.map.get(t.slice(i, n)?).map(|v| (n, *v)))
    }
}

/// A compiled [`ProximityRule`]; a fixed phrase list is one with no objects.
pub(super) struct Pattern {
    pub(super) triggers: Lexicon<()>,
    objects: Option<Lexicon<()>>,
    gap_words: Lexicon<()>,
    max_gap: usize,
    pub(super) whole: bool,
    unless: Lexicon<()>,
    any_object: bool,
}

impl Pattern {
    pub(super) fn phrases(key: &str, entries: &[String]) -> Result<Self, String> {
        let triggers = Lexicon::build(key, entries, (), false)?;
        let (objects, gap_words) = (None, Lexicon::new());
        let unless = Lexicon::new();
        Ok(Pattern { triggers, objects, gap_words, max_gap: 0, whole: false, unless, any_object: false })
    }
    /// A fixed phrase list that matches only as the whole message (filler allowed).
    pub(super) fn whole_phrases(key: &str, entries: &[String]) -> Result<Self, String> {
        Ok(Pattern { whole: true, ..Pattern::phrases(key, entries)? })
    }
    pub(super) fn rule(key: &str, r: &ProximityRule) -> Result<Self, String> {
        let key = format!("{key} ({:?})", r.name);
        let gap_words = Lexicon::build(&format!("{key}.gap_words"), &r.gap_words, (), false)?;
        if gap_words.max_len > 1 {
            return Err(format!("{key}.gap_words: entries must be single words"));
        }
        if r.max_gap > MAX_GAP_LIMIT {
            return Err(format!("{key}.max_gap: {} exceeds {MAX_GAP_LIMIT}", r.max_gap));
        }
        let triggers = Lexicon::build(&format!("{key}.triggers"), &r.triggers, (), true)?;
        if r.any_word_object && !r.objects.is_empty() {
            return Err(format!("{key}.objects: must be empty with any_word_object"));
        }
        let objects = Some(Lexicon::build(&format!("{key}.objects"), &r.objects, (), !r.any_word_object)?);
        let unless = Lexicon::build(&format!("{key}.unless"), &r.unless, (), false)?;
        let (max_gap, whole) = (r.max_gap, r.whole_message);
        Ok(Pattern { triggers, objects, gap_words, max_gap, whole, unless, any_object: r.any_word_object })
    }
    /// Whether one of the rule's `unless` phrases is in the text.
    pub(super) fn voided(&self, t: &Toks) -> bool {
        (0..t.len()).any(|i| self.unless.at(t, i).is_some())
    }
    /// First match `[start, end)` (token indices) for which `accept` holds;
    /// an `accept` that always refuses sees every match.
    pub(super) fn find(&self, t: &Toks, mut accept: impl FnMut(usize, usize) -> bool) -> Option<(usize, usize)> {
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
            if self.any_object && j < t.len() {
                return Some(j + 1);
            }
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
