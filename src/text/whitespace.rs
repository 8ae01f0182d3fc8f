//! Whitespace collapsing as text is written, shared by HTML → text
//! ([`super::html`]) and text normalisation ([`super::normalize`]): runs
//! become one space, or one line break when the run holds one, and both
//! ends are trimmed, all in the same single pass that produces the text.

use std::borrow::Cow;

/// The separator owed before the next visible character. A line break wins
/// over a space, so `"a \n b"` becomes `"a\nb"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Gap {
    None,
    Space,
    Break,
}

/// An output buffer that collapses whitespace as it goes: separators are
/// only written when a visible character follows, which trims both ends and
/// merges runs without a second pass.
pub(crate) struct Collapser {
    out: String,
    gap: Gap,
}

impl Collapser {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Collapser {
            out: String::with_capacity(capacity),
            gap: Gap::None,
        }
    }

    #[inline]
    pub(crate) fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
    }

    #[inline]
    pub(crate) fn flush_gap(&mut self) {
        if !self.out.is_empty() {
            match self.gap {
                Gap::None => {}
                Gap::Space => self.out.push(' '),
                Gap::Break => self.out.push('\n'),
            }
        }
        self.gap = Gap::None;
    }

    /// A visible character.
    #[inline]
    pub(crate) fn push(&mut self, c: char) {
        self.flush_gap();
        self.out.push(c);
    }

    /// A run of visible characters.
    #[inline]
    pub(crate) fn push_visible(&mut self, s: &str) {
        if !s.is_empty() {
            self.flush_gap();
            self.out.push_str(s);
        }
    }

    /// Text whose ASCII whitespace is insignificant (HTML source): each run
    /// of it becomes at most one space. Other characters are copied as they
    /// are; [`normalize_text`](super::normalize::normalize_text) deals
    /// with them later.
    #[inline]
    pub(crate) fn push_html_text(&mut self, s: &str) {
        for (i, piece) in s.split(is_html_space).enumerate() {
            if i > 0 {
                self.gap(Gap::Space);
            }
            self.push_visible(piece);
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// HTML's "ASCII whitespace": the only characters the HTML layout collapses.
#[inline]
pub fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{000C}')
}

/// Characters that end a line or paragraph in plain text.
#[inline]
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{000B}' | '\u{000C}' | '\u{0085}' | '\u{2028}' | '\u{2029}'
    )
}

/// Collapses whitespace of text that is otherwise already normal (the
/// tracker uses it after ignore patterns removed pieces of it). Text that
/// is already collapsed comes back borrowed.
pub fn collapse_whitespace(text: &str) -> Cow<'_, str> {
    if is_collapsed(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(collapse(text))
    }
}

/// True when [`collapse_whitespace`] would return `text` unchanged: no
/// whitespace at either end, and between visible characters only single
/// spaces and single `\n`.
fn is_collapsed(text: &str) -> bool {
    // starting "after a space" rejects leading whitespace
    let mut after_space = true;
    let mut at = 0;
    // byte by byte, decoding only characters outside ASCII (most text has
    // few): the whitespace among them is never a plain space or `\n`
    while let Some(&b) = text.as_bytes().get(at) {
        match b {
            b' ' | b'\n' if after_space => return false,
            b' ' | b'\n' => after_space = true,
            b'\t' | b'\r' | 0x0B | 0x0C => return false,
            0..=0x7F => after_space = false,
            _ => match text.get(at..).and_then(|rest| rest.chars().next()) {
                Some(c) if !c.is_whitespace() => {
                    after_space = false;
                    at += c.len_utf8() - 1;
                }
                _ => return false,
            },
        }
        at += 1;
    }
    text.is_empty() || !after_space
}

fn collapse(text: &str) -> String {
    let mut out = Collapser::with_capacity(text.len());
    for c in text.chars() {
        if is_line_break(c) {
            out.gap(Gap::Break);
        } else if c.is_whitespace() {
            out.gap(Gap::Space);
        } else {
            out.push(c);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn collapsed_text_is_borrowed() {
        for text in ["", "a", "Storm hits coast", "para one.\npara two."] {
            assert!(
                matches!(collapse_whitespace(text), Cow::Borrowed(_)),
                "{text:?}"
            );
        }
        for (text, collapsed) in [
            (" a", "a"),
            ("a ", "a"),
            ("a  b", "a b"),
            ("a \n b", "a\nb"),
            ("a\n\nb", "a\nb"),
            ("a\tb", "a b"),
            ("a\u{2028}b", "a\nb"),
            ("a\u{A0}b", "a b"),
            (" ", ""),
        ] {
            assert_eq!(collapse_whitespace(text), collapsed, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn the_borrowed_path_agrees_with_collapsing(s in "[ab\u{E9}\u{1F600} \n\t\r\u{B}\u{C}\u{A0}\u{85}\u{2028}\u{3000}]{0,30}") {
            prop_assert_eq!(collapse_whitespace(&s).into_owned(), collapse(&s));
        }
    }
}
