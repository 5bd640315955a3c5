//! What an inbound text becomes before it is matched: one canonical form
//! ([`normalize`]) and the keyword-only retry form ([`keyword_variant`]).

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

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
pub(super) fn keyword_variant(norm: &str, spaced_min: usize, repeat_min: usize) -> Option<String> {
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

#[cfg(test)]
#[path = "inbound_text_tests.rs"]
mod tests;
