//! Scanners for `content.rs`: links, phone numbers, and phrase matching.
//!
//! Hand-written byte scanners rather than regexes: they run on every outbound
//! message, allocate only their results, and read the input through `get`
//! so no input can make them index out of bounds or split a UTF-8 character.

/// A map with a fast non-cryptographic hasher for the phrase tables: their
/// keys come from the rule pack, so body text can only look keys up, never
/// collide on insert, and SipHash's flood resistance would only cost time on
/// the hot path.
pub(crate) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;
/// The set counterpart of [`FxMap`].
pub(crate) type FxSet<K> = rustc_hash::FxHashSet<K>;
use std::ops::Range;

/// A link found in a body: see `content::Link` for the public meaning.
pub(super) struct RawLink {
    pub host: String,
    pub range: Range<usize>,
}

/// A NANP phone number found in a body: ten national digits and their span.
pub(super) struct RawPhone {
    pub digits: [u8; 10],
    pub range: Range<usize>,
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

fn char_before(s: &str, at: usize) -> Option<char> {
    s.get(..at).and_then(|p| p.chars().next_back())
}

fn char_at(s: &str, at: usize) -> Option<char> {
    s.get(at..).and_then(|p| p.chars().next())
}

/// A host may only start after a character that cannot be part of a word,
/// an e-mail address or an identifier.
fn link_boundary(prev: Option<char>) -> bool {
    !matches!(prev, Some(c) if c.is_alphanumeric() || c == '_' || c == '@')
}

/// Length of a case-insensitive `http://` / `https://` at `at`, if any.
fn scheme_len(b: &[u8], at: usize) -> Option<usize> {
    ["https://", "http://"].iter().find_map(|p| {
        let got = b.get(at..at + p.len())?;
        got.eq_ignore_ascii_case(p.as_bytes()).then_some(p.len())
    })
}

/// End of a URL that starts at `from`: up to whitespace or `<>"`, minus
/// trailing sentence punctuation ("see example.com/x." ends before the dot).
fn url_end(s: &str, from: usize) -> usize {
    let Some(rest) = s.get(from..) else {
        return from;
    };
    let stop = rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')).unwrap_or(rest.len());
    let url = rest.get(..stop).unwrap_or("");
    from + url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', ')', ']', '}']).len()
}

/// Scans `body` for links. `tld_known` and `is_shortener` take a lowercase
/// TLD / host. Links are returned in body order and never overlap.
pub(super) fn scan_links(
    body: &str,
    tld_known: impl Fn(&str) -> bool,
    is_shortener: impl Fn(&str) -> bool,
) -> Vec<RawLink> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b.get(i).is_some_and(|&c| is_host_byte(c)) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while b.get(end).is_some_and(|&c| is_host_byte(c)) {
            end += 1;
        }
        let dotted = b.get(start..end).is_some_and(|run| run.contains(&b'.'));
        if link_boundary(char_before(body, start)) {
            let found = match scheme_len(b, start) {
                Some(n) => scheme_link(body, start, start + n),
                None if !dotted || b.get(end) == Some(&b'@') => None, // word, e-mail
                None => bare_link(body, start, end, &tld_known, &is_shortener),
            };
            if let Some(link) = found {
                i = link.range.end.max(end);
                out.push(link);
                continue;
            }
        }
        i = end;
    }
    out
}

/// A link with an explicit scheme: the host is whatever the authority names
/// (after any `user@`, before any `:port`), whatever its TLD.
fn scheme_link(body: &str, start: usize, after: usize) -> Option<RawLink> {
    let end = url_end(body, after);
    let rest = body.get(after..end)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(RawLink { host: host.to_lowercase(), range: start..end })
}

/// A link without a scheme: `www.` + anything, or dotted labels of
/// `[a-z0-9-]` ending in a known alphabetic TLD (or a listed shortener).
/// A TLD in Title case ("tomorrow.In") reads as a sentence typed without a
/// space, so it counts only when a path follows or the host is a shortener.
fn bare_link(
    body: &str,
    start: usize,
    end: usize,
    tld_known: &impl Fn(&str) -> bool,
    is_shortener: &impl Fn(&str) -> bool,
) -> Option<RawLink> {
    if matches!(char_at(body, end), Some(c) if c.is_alphanumeric() || c == '_') {
        return None; // the run continues into a non-ASCII word
    }
    let run = body.get(start..end)?;
    let trimmed_front = run.trim_start_matches(['.', '-']);
    let host = trimmed_front.trim_end_matches(['.', '-']);
    let h_start = start + (run.len() - trimmed_front.len());
    let h_end = h_start + host.len();
    let mut labels = 0;
    for label in host.split('.') {
        let bad_edge = label.starts_with('-') || label.ends_with('-');
        if label.is_empty() || label.len() > 63 || bad_edge {
            return None;
        }
        labels += 1;
    }
    if labels < 2 {
        return None;
    }
    let lower = host.to_ascii_lowercase();
    let tld = host.rsplit('.').next().unwrap_or("");
    let has_path = h_end == end && matches!(body.as_bytes().get(end), Some(b'/' | b'?' | b'#'));
    let www = lower.starts_with("www.");
    let tld_ok = (2..=24).contains(&tld.len())
        && tld.bytes().all(|c| c.is_ascii_alphabetic())
        && tld_known(&tld.to_ascii_lowercase());
    let one_case = tld.bytes().all(|c| c.is_ascii_lowercase()) || tld.bytes().all(|c| c.is_ascii_uppercase());
    let shortener = is_shortener(&lower);
    if !(www || shortener || (tld_ok && (one_case || has_path))) {
        return None;
    }
    let link_end = if has_path { url_end(body, end) } else { h_end };
    Some(RawLink { host: lower, range: h_start..link_end })
}

fn is_phone_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.')
}

/// Scans `body` for NANP numbers in the usual written forms: `312-555-0199`,
/// `(312) 555-0199`, `312.555.0199`, `+1 312 555 0199`, `3125550199`,
/// `1-800-555-0100`. Digit runs that are part of an amount, date, time, zip,
/// case number or a longer number are skipped by the boundary checks.
pub(super) fn scan_phones(body: &str) -> Vec<RawPhone> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = matches!(b.get(i), Some(c) if c.is_ascii_digit() || *c == b'+' || *c == b'(');
        let boundary = !matches!(char_before(body, i), Some(c) if c.is_alphanumeric()
            || matches!(c, '$' | '#' | '/' | '.' | ',' | '-' | '_' | '+' | '@' | '&' | '=' | '%'));
        if starts && boundary {
            if let Some((end, digits)) = parse_nanp(b, i) {
                let after = char_at(body, end);
                let next_digit = b.get(end + 1).is_some_and(u8::is_ascii_digit);
                let glued = matches!(after, Some(c) if c.is_alphanumeric())
                    || (next_digit && matches!(after, Some('-' | '.' | '/' | ',' | ':')));
                if !glued {
                    out.push(RawPhone { digits, range: i..end });
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Parses `[+][1 sep] (area) sep exchange sep line` at `i`, returning the
/// end offset and the ten national digits. Area codes and exchanges start
/// with 2-9 (NANP), which also means a leading `1` is always a country code.
fn parse_nanp(b: &[u8], mut i: usize) -> Option<(usize, [u8; 10])> {
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    let plus = at(i) == b'+';
    if plus {
        i += 1;
    }
    if at(i) == b'1' {
        i += 1;
        if is_phone_sep(at(i)) && (at(i + 1).is_ascii_digit() || at(i + 1) == b'(') {
            i += 1;
        }
    } else if plus {
        return None;
    }
    let mut d = [0u8; 10];
    let mut read = |i: &mut usize, into: Range<usize>| -> Option<()> {
        for k in into {
            let c = at(*i);
            *d.get_mut(k)? = c.is_ascii_digit().then_some(c)?;
            *i += 1;
        }
        Some(())
    };
    if at(i) == b'(' {
        i += 1;
        read(&mut i, 0..3)?;
        if at(i) != b')' {
            return None;
        }
        i += 1;
        if at(i) == b' ' || at(i) == b'-' {
            i += 1;
        }
    } else {
        read(&mut i, 0..3)?;
        if is_phone_sep(at(i)) {
            i += 1;
        }
    }
    read(&mut i, 3..6)?;
    if is_phone_sep(at(i)) {
        i += 1;
    }
    read(&mut i, 6..10)?;
    (d[0] >= b'2' && d[3] >= b'2').then_some((i, d))
}

/// Group number marking an exception phrase in a [`PhraseSet`].
pub(super) const EXCEPTION: u16 = u16::MAX;
/// Longest word (bytes, lowercased) a phrase may contain; longer body words
/// simply match nothing.
pub(super) const MAX_WORD: usize = 32;

/// Phrases compiled into a word trie. Body words are looked up in `vocab`
/// (one hash per word, no allocation); matching is leftmost-longest, and an
/// exception phrase that wins consumes its words silently.
#[derive(Debug, Clone)]
pub(super) struct PhraseSet {
    vocab: FxMap<Box<[u8]>, u32>,
    edges: FxMap<(u32, u32), u32>,
    /// Per trie node: the group and rulepack text of the phrase ending there.
    terms: Vec<Option<(u16, String)>>,
}

impl Default for PhraseSet {
    fn default() -> Self {
        Self { vocab: FxMap::default(), edges: FxMap::default(), terms: vec![None] }
    }
}

impl PhraseSet {
    pub(super) fn insert(&mut self, phrase: &str, group: u16) -> Result<(), String> {
        let text = phrase.trim();
        let (mut node, mut pos, mut words) = (0u32, 0, 0);
        while let Some(w) = next_word(text, pos) {
            pos = w.end;
            words += 1;
            let word = w.bytes().ok_or_else(|| format!("{text:?}: word longer than {MAX_WORD} bytes"))?;
            let next_id = u32::try_from(self.vocab.len()).map_err(|_| "too many words")?;
            let id = *self.vocab.entry(word.into()).or_insert(next_id);
            let fresh = u32::try_from(self.terms.len()).map_err(|_| "too many phrases")?;
            node = *self.edges.entry((node, id)).or_insert(fresh);
            if node == fresh {
                self.terms.push(None);
            }
        }
        let slot = self.terms.get_mut(node as usize).filter(|_| words > 0);
        match slot {
            None => Err(format!("{text:?} has no words")),
            Some(Some((g, _))) if *g != group => Err(format!("{text:?} is listed twice with different meanings")),
            Some(slot) => {
                *slot = Some((group, text.to_owned()));
                Ok(())
            }
        }
    }

    /// Calls `f(group, phrase, start)` for each non-exception match in body
    /// order until `f` returns false; `words` are the body's ([`words`]).
    pub(super) fn find(&self, words: &Words, mut f: impl FnMut(u16, &str, usize) -> bool) {
        let w = &words.0;
        let mut i = 0;
        while i < w.len() {
            let (mut node, mut best) = (0u32, None);
            for (k, word) in w.iter().enumerate().skip(i) {
                let id = word.bytes().and_then(|t| self.vocab.get(t));
                let Some(&next) = id.and_then(|id| self.edges.get(&(node, *id))) else {
                    break;
                };
                node = next;
                if let Some(Some(term)) = self.terms.get(node as usize) {
                    best = Some((term, k));
                }
            }
            match best {
                Some(((group, phrase), last)) => {
                    if *group != EXCEPTION && !f(*group, phrase, w[i].start) {
                        return;
                    }
                    i = last + 1;
                }
                None => i += 1,
            }
        }
    }
}

/// A body's words, decoded once for every phrase set that reads it.
pub(crate) struct Words(Vec<Word>);

/// The words of `body`, in order.
pub(crate) fn words(body: &str) -> Words {
    let mut out = Vec::with_capacity(body.len() / 5 + 1);
    let mut pos = 0;
    while let Some(w) = next_word(body, pos) {
        pos = w.end;
        out.push(w);
    }
    Words(out)
}

/// One normalized word: lowercase letters/digits (apostrophes inside dropped,
/// fullwidth forms folded to ASCII), or a lone `%`; `start..end` is its span.
struct Word {
    start: usize,
    end: usize,
    buf: [u8; MAX_WORD],
    len: usize,
    overflow: bool,
}

impl Word {
    fn push(&mut self, c: char) {
        if let Ok(byte) = u8::try_from(c) {
            if byte.is_ascii() {
                return self.push_ascii(byte);
            }
        }
        // Fold fullwidth ASCII ("ＤＯＮＡＴＥ"), a cheap and common evasion.
        let c = match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        for lc in c.to_lowercase() {
            let mut tmp = [0u8; 4];
            let enc = lc.encode_utf8(&mut tmp).as_bytes();
            match self.buf.get_mut(self.len..self.len + enc.len()) {
                Some(dst) if !self.overflow => {
                    dst.copy_from_slice(enc);
                    self.len += enc.len();
                }
                _ => self.overflow = true,
            }
        }
    }

    fn push_ascii(&mut self, byte: u8) {
        match self.buf.get_mut(self.len) {
            Some(dst) if !self.overflow => {
                *dst = byte.to_ascii_lowercase();
                self.len += 1;
            }
            _ => self.overflow = true,
        }
    }

    /// The lowercased word, or `None` if it is longer than any phrase word.
    fn bytes(&self) -> Option<&[u8]> {
        if self.overflow {
            return None;
        }
        self.buf.get(..self.len)
    }
}

/// The next word starting at or after byte `from` (a char boundary). ASCII
/// bytes take a fast path; other characters are decoded one at a time.
fn next_word(s: &str, from: usize) -> Option<Word> {
    let b = s.as_bytes();
    let mut i = from;
    let first = loop {
        let byte = *b.get(i)?;
        if byte.is_ascii_alphanumeric() || byte == b'%' {
            break char::from(byte);
        } else if byte < 0x80 {
            i += 1;
            continue;
        }
        let c = char_at(s, i)?;
        if c.is_alphanumeric() || c == '\u{FF05}' {
            break c;
        }
        i += c.len_utf8();
    };
    let mut w = Word { start: i, end: i + first.len_utf8(), buf: [0; MAX_WORD], len: 0, overflow: false };
    w.push(first);
    if matches!(first, '%' | '\u{FF05}') {
        return Some(w);
    }
    while let Some(&byte) = b.get(w.end) {
        if byte.is_ascii_alphanumeric() {
            w.push_ascii(byte);
            w.end += 1;
            continue;
        } else if byte < 0x80 && byte != b'\'' {
            break;
        }
        let Some(c) = char_at(s, w.end) else { break };
        let apostrophe =
            matches!(c, '\'' | '\u{2019}') && char_at(s, w.end + c.len_utf8()).is_some_and(char::is_alphanumeric);
        if c.is_alphanumeric() {
            w.push(c);
        } else if !apostrophe {
            break;
        }
        w.end += c.len_utf8();
    }
    Some(w)
}
