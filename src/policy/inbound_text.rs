//! What an inbound text becomes before it is matched: the text repaired from
//! what gateways do to it ([`repair`]), one canonical form ([`normalize`]) and
//! the keyword-only retry form ([`keyword_variant`]).
//!
//! Inbound texts are never refused for their characters: person-to-person
//! traffic arrives with Windows-1252 punctuation decoded as C1 controls, NULs,
//! stray terminal escapes, zero-width and bidi marks, emoji modifiers,
//! full-width and decomposed letters, and each of them is repaired or ignored.

use std::borrow::Cow;

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// Longest normalized text retried as spaced/stretched letters ("S T O P P L E A S E").
const VARIANT_MAX_BYTES: usize = 120;

/// Longest run of bytes taken as one terminal escape sequence; past it the
/// ESC is dropped alone and what follows is kept as text.
const ESCAPE_MAX_BYTES: usize = 64;

/// The characters Windows-1252 puts at bytes 0x80-0x9F, indexed by the C1
/// control a Latin-1 decoder made of each byte; `None` for the five bytes
/// Windows-1252 leaves undefined.
const CP1252_C1: [Option<char>; 32] = [
    Some('\u{20AC}'), // € 0x80
    None,
    Some('\u{201A}'), // ‚
    Some('\u{0192}'), // ƒ
    Some('\u{201E}'), // „
    Some('\u{2026}'), // …
    Some('\u{2020}'), // †
    Some('\u{2021}'), // ‡
    Some('\u{02C6}'), // ˆ
    Some('\u{2030}'), // ‰
    Some('\u{0160}'), // Š
    Some('\u{2039}'), // ‹
    Some('\u{0152}'), // Œ
    None,
    Some('\u{017D}'), // Ž
    None,
    None,             // 0x90
    Some('\u{2018}'), // ‘
    Some('\u{2019}'), // ’ (the apostrophe of "don’t")
    Some('\u{201C}'), // “
    Some('\u{201D}'), // ”
    Some('\u{2022}'), // •
    Some('\u{2013}'), // –
    Some('\u{2014}'), // —
    Some('\u{02DC}'), // ˜
    Some('\u{2122}'), // ™
    Some('\u{0161}'), // š
    Some('\u{203A}'), // ›
    Some('\u{0153}'), // œ
    None,
    Some('\u{017E}'), // ž
    Some('\u{0178}'), // Ÿ 0x9F
];

/// The text as it was meant, with no control character left but tab, newline
/// and carriage return: a C1 control (U+0080-U+009F) becomes the Windows-1252
/// character its byte stands for (U+0092 → ’), a terminal escape sequence
/// (`ESC [ 0 m`, `ESC ] … BEL`, `ESC ( B`) is removed whole, vertical tab and
/// form feed become a space, and every other control (NUL, BEL, DEL, a lone
/// ESC, the five undefined Windows-1252 bytes) is removed without a trace.
/// Everything else is kept, visible or not: [`normalize`] decides what counts
/// for matching. Idempotent; borrowed when there is nothing to repair.
pub fn repair(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Cow::Borrowed(text);
    }
    // A C1 control (2 bytes) can become a 3-byte character.
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        match c {
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0B}' | '\u{0C}' => out.push(' '),
            '\u{1B}' => len = escape_len(rest.as_bytes()),
            '\u{80}'..='\u{9F}' => out.extend(CP1252_C1[c as usize - 0x80]),
            c if c.is_control() => {}
            c => out.push(c),
        }
        rest = &rest[len..];
    }
    Cow::Owned(out)
}

/// Bytes taken by the escape sequence at the start of `s` (which starts with
/// ESC): a CSI (`ESC [`, parameters, intermediates, one final byte), an OSC
/// (`ESC ]` up to BEL or `ESC \`) or a character-set designation
/// (`ESC ( B`, `ESC ) 0`, `ESC ( A`); 1, the ESC alone, for anything else (a
/// stray ESC before "-o" in "opt-out" takes nothing with it) or a sequence
/// that does not end within [`ESCAPE_MAX_BYTES`]. Always a char boundary:
/// every byte that ends a sequence is ASCII.
fn escape_len(s: &[u8]) -> usize {
    let s = &s[..s.len().min(ESCAPE_MAX_BYTES)];
    let end = match s.get(1) {
        Some(b'[') => {
            let params = s[2..].iter().take_while(|b| (0x30..=0x3F).contains(*b)).count();
            let inter = s[2 + params..].iter().take_while(|b| (0x20..=0x2F).contains(*b)).count();
            let fin = 2 + params + inter;
            s.get(fin).filter(|b| (0x40..=0x7E).contains(*b)).map(|_| fin + 1)
        }
        Some(b']') => s.iter().enumerate().skip(2).find_map(|(i, &b)| match (b, s.get(i + 1)) {
            (0x07, _) => Some(i + 1),
            (0x1B, Some(b'\\')) => Some(i + 2),
            _ => None,
        }),
        // Only the designations terminals emit (`tput sgr0` ends in `ESC ( B`).
        Some(b'(' | b')') => s.get(2).filter(|b| matches!(b, b'A' | b'B' | b'0')).map(|_| 3),
        _ => None,
    };
    end.unwrap_or(1)
}

/// Canonical form used for all matching: the [`repair`]ed text, NFKD compatibility
/// fold (full-width letters, ligatures), combining marks dropped (ARRÊT → ARRET,
/// más → MAS, zalgo text), invisible chars and apostrophes deleted (don't → DONT,
/// "ST<U+200B>OP" → STOP), uppercased, every other non-alphanumeric char
/// (punctuation, '-', '_', emoji, newlines) turned into a single space, trimmed.
pub fn normalize(text: &str) -> String {
    let text = repair(text);
    if text.is_ascii() {
        return normalize_ascii(&text);
    }
    normalize_unicode(&text)
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

/// Chars removed without leaving a word break: apostrophes and Unicode's
/// default-ignorable code points (zero-width and bidi marks, soft hyphen,
/// variation selectors, Hangul fillers, tags), which render as nothing.
fn is_deleted(c: char) -> bool {
    matches!(c, '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{00AD}' | '\u{034F}' | '\u{061C}'
        | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
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
