//! Plain text → comparable text: one Unicode form (NFC), ASCII
//! typography, no invisible characters, collapsed whitespace.
//!
//! Publishers switch between `’` and `'`, `—` and `-`, and CMSs and
//! copy-paste sprinkle zero-width spaces, soft hyphens and bidi controls
//! into text; none of that is an edit a reader would notice. The tracker
//! compares stories in this form, and article pages are stored in it.
//! Text that is already normal (most of it) is returned without a copy.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use super::whitespace::{is_line_break, Collapser, Gap};

/// Plain text → comparable text.
///
/// Applies Unicode NFC; maps typographic quotes, apostrophes, primes, dashes,
/// the minus sign and the ellipsis to their ASCII forms; removes soft hyphens,
/// zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM) and bidi
/// controls (LRM, RLM, U+202A–U+202E, U+2066–U+2069), as well as every other
/// control character; turns runs of whitespace into one space, or into one
/// `"\n"` when the run holds a line or paragraph break; trims both ends.
pub fn normalize_text(text: &str) -> String {
    normalize_text_cow(text).into_owned()
}

/// [`normalize_text`] without a copy when the text is already normal.
pub fn normalize_text_cow(text: &str) -> Cow<'_, str> {
    if is_normal(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(normalize_slow(text))
    }
}

/// True when [`normalize_text`] would return `text` unchanged. Cheap for
/// ASCII; for other text it also asks the NFC quick check.
fn is_normal(text: &str) -> bool {
    // Starting "after a space" rejects leading whitespace.
    let mut after_space = true;
    let mut ascii = true;
    for c in text.chars() {
        if c == ' ' || c == '\n' {
            if after_space {
                return false;
            }
            after_space = true;
            continue;
        }
        after_space = false;
        if c.is_ascii() {
            if c.is_ascii_control() {
                return false;
            }
            continue;
        }
        ascii = false;
        if needs_rewrite(c) {
            return false;
        }
    }
    if after_space && !text.is_empty() {
        return false;
    }
    ascii || is_nfc_quick(text.chars()) == IsNormalized::Yes
}

fn normalize_slow(text: &str) -> String {
    let mut out = Collapser::with_capacity(text.len());
    // Invisible and control characters go first, so that NFC sees the
    // characters that will actually sit next to each other (a ZWSP between a
    // letter and a combining accent must not prevent their composition).
    let visible = || text.chars().filter(|c| !is_removed(*c));
    // Composing is the slow part; most text that gets here (curly quotes,
    // doubled spaces) is already NFC, which the quick check confirms.
    if is_nfc_quick(visible()) == IsNormalized::Yes {
        normalize_composed(text, &mut out);
    } else {
        visible().nfc().for_each(|c| push_normalized(&mut out, c));
    }
    out.finish()
}

/// The NFC case, copying runs of ordinary characters in one go.
fn normalize_composed(text: &str, out: &mut Collapser) {
    let mut run_start = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii_graphic() || !(c.is_ascii() || needs_rewrite(c)) {
            continue;
        }
        out.push_visible(&text[run_start..i]);
        if !is_removed(c) {
            push_normalized(out, c);
        }
        run_start = i + c.len_utf8();
    }
    out.push_visible(&text[run_start..]);
}

/// Characters [`normalize_text`] drops.
fn is_removed(c: char) -> bool {
    (c.is_control() && !c.is_whitespace()) || is_invisible(c)
}

/// Characters [`normalize_text`] drops or replaces.
fn needs_rewrite(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_invisible(c) || typographic_ascii(c).is_some()
}

fn push_normalized(out: &mut Collapser, c: char) {
    if let Some(ascii) = typographic_ascii(c) {
        out.push_visible(ascii);
    } else if is_line_break(c) {
        out.gap(Gap::Break);
    } else if c.is_whitespace() {
        out.gap(Gap::Space);
    } else {
        out.push(c);
    }
}

/// `text` without invisible characters (zero-width, bidi controls, soft
/// hyphens) and control characters other than line breaks and tabs, its
/// typography kept: the publisher's text as it is safe to show.
///
/// Text with nothing to strip (nearly all of it) comes back borrowed.
pub fn strip_invisible(text: &str) -> Cow<'_, str> {
    // Every invisible character is outside ASCII, so the run of printable
    // ASCII, line breaks and tabs at the start (most of feed text) needs no
    // decoding: the first byte outside it starts a character.
    let plain = text
        .bytes()
        .position(|b| !matches!(b, b' '..=b'~' | b'\n' | b'\t'))
        .unwrap_or(text.len());
    let shown = |c: char| !is_invisible(c) && (!c.is_control() || c == '\n' || c == '\t');
    match text[plain..].char_indices().find(|&(_, c)| !shown(c)) {
        None => Cow::Borrowed(text),
        Some((at, _)) => {
            let first = plain + at;
            let mut out = String::with_capacity(text.len());
            out.push_str(&text[..first]);
            out.extend(text[first..].chars().filter(|&c| shown(c)));
            Cow::Owned(out)
        }
    }
}

/// Characters with no visible form that CMSs and copy-paste sprinkle into
/// text: they would make identical-looking text compare different.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'              // soft hyphen
            | '\u{034F}'        // combining grapheme joiner
            | '\u{061C}'        // Arabic letter mark
            | '\u{180E}'        // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // ZWSP, ZWNJ, ZWJ, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // BOM / zero-width no-break space
    )
}

/// The ASCII form of typographic punctuation, so that a publisher switching
/// between "smart" and straight quotes (or em dash and hyphen) is not an
/// edit.
fn typographic_ascii(c: char) -> Option<&'static str> {
    let ascii = match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{2039}'
        | '\u{203A}' | '\u{FF07}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{FF02}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => "-",
        '\u{2026}' => "...",
        _ => return None,
    };
    Some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normal_text_is_borrowed() {
        assert!(matches!(
            normalize_text_cow("Storm hits coast"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            normalize_text_cow("Café au lait"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn typography_becomes_ascii() {
        assert_eq!(
            normalize_text("\u{201C}It\u{2019}s\u{201D} \u{2018}ok\u{2019} \u{2013} a\u{2014}b \u{2212}3\u{2026}"),
            "\"It's\" 'ok' - a-b -3..."
        );
        assert_eq!(normalize_text("\u{00AB}Non\u{00BB}"), "\"Non\"");
    }

    #[test]
    fn nfc_composes() {
        assert_eq!(normalize_text("Cafe\u{301}"), "Caf\u{e9}");
        assert_eq!(normalize_text("Caf\u{e9}"), "Caf\u{e9}");
    }

    #[test]
    fn invisible_characters_are_removed() {
        assert_eq!(normalize_text("Zel\u{AD}ensky"), "Zelensky");
        assert_eq!(
            normalize_text("a\u{200B}b\u{200C}c\u{200D}d\u{FEFF}e\u{2060}f"),
            "abcdef"
        );
        assert_eq!(
            normalize_text("\u{202E}evil\u{202C} \u{2066}x\u{2069}\u{200E}"),
            "evil x"
        );
        assert_eq!(normalize_text("bell\u{7}\u{0}\u{9F}"), "bell");
        // removal happens before NFC, so the accent still composes
        assert_eq!(normalize_text("e\u{200B}\u{301}"), "\u{e9}");
    }

    #[test]
    fn whitespace_runs_and_paragraphs() {
        assert_eq!(normalize_text("  a \t b\u{A0}\u{2003}c  "), "a b c");
        assert_eq!(
            normalize_text("para one. \n\n  para two.\r\n"),
            "para one.\npara two."
        );
        assert_eq!(normalize_text("a\u{2029}b\u{85}c"), "a\nb\nc");
        assert_eq!(normalize_text(" \n "), "");
    }

    #[test]
    fn strip_invisible_borrows_clean_text_and_strips_the_rest() {
        assert!(matches!(
            strip_invisible("Storm \u{2019}hits\u{2019}\tcoast\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            strip_invisible("Sto\u{AD}rm\u{200B} hits\u{7} coast\u{FEFF}"),
            "Storm hits coast"
        );
        assert_eq!(strip_invisible("\u{202E}"), "");
    }

    proptest! {
        #[test]
        fn strip_invisible_keeps_exactly_what_is_shown(s in "[a~ \n\t\r\u{0}\u{7}\u{7F}\u{AD}\u{200B}\u{202A}\u{FEFF}\u{E9}]{0,40}") {
            let expected: String = s
                .chars()
                .filter(|&c| !is_invisible(c) && (!c.is_control() || c == '\n' || c == '\t'))
                .collect();
            prop_assert_eq!(strip_invisible(&s).into_owned(), expected);
        }

        #[test]
        fn normalize_is_idempotent(s in "\\PC{0,120}|[ \\n\\t\u{AD}\u{200B}e\u{301}\u{2019}\u{2014}]{0,40}") {
            let once = normalize_text(&s);
            prop_assert_eq!(normalize_text(&once), once.clone());
            prop_assert!(!once.starts_with([' ', '\n']) && !once.ends_with([' ', '\n']));
            prop_assert!(!once.contains("  "));
        }
    }
}
