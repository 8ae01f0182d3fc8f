//! Where in the document a problem is, for error messages a publisher can act
//! on ("line 212, column 9").
//!
//! feed-rs reports XML syntax errors without a position, so on that (rare)
//! path the document is scanned once more with a plain quick-xml reader,
//! which stops at the same first error and knows its offset. Offsets are
//! mapped back to the decoded document the server sent (its prolog was cut
//! off before parsing); where `&` repairs changed lengths the result is
//! approximate, hence "near".

use quick_xml::events::Event;

/// How the text given to feed-rs relates to the decoded document.
pub(crate) struct Locator<'a> {
    /// The decoded document as the server sent it.
    pub original: &'a str,
    /// Offset of the root start tag in `original`.
    pub root_offset: usize,
    /// Length of the root start tag in `original`.
    pub root_tag_len: usize,
    /// Length of the (possibly patched) root start tag given to feed-rs.
    pub parsed_root_len: usize,
}

impl Locator<'_> {
    /// "near line L, column C" for an offset in the text given to feed-rs.
    pub(crate) fn describe(&self, parsed_offset: usize) -> String {
        let offset = if parsed_offset < self.parsed_root_len {
            self.root_offset + parsed_offset.min(self.root_tag_len)
        } else {
            self.root_offset + self.root_tag_len + (parsed_offset - self.parsed_root_len)
        };
        let (line, column) = line_and_column(self.original, offset);
        format!("near line {line}, column {column}")
    }
}

/// Byte offset of the first XML syntax error in `text`, if quick-xml finds one
/// (feed-rs also fails on documents that end with elements still open, which
/// a plain reader accepts: then `None`).
pub(crate) fn first_syntax_error(text: &str) -> Option<usize> {
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Err(_) => return usize::try_from(reader.error_position()).ok(),
            Ok(Event::Eof) => return None,
            Ok(_) => {}
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_error() {
        let text = "<rss>\n<channel>\n  <title>x</titel>\n</channel></rss>";
        let at = first_syntax_error(text);
        assert!(at.is_some_and(|at| (24..=34).contains(&at)), "{at:?}");
        assert_eq!(first_syntax_error("<rss><channel/></rss>"), None);
    }

    #[test]
    fn lines_and_columns() {
        assert_eq!(line_and_column("ab\ncd\u{e9}f", 7), (2, 4));
        assert_eq!(line_and_column("abc", 0), (1, 1));
        assert_eq!(line_and_column("abc", 99), (1, 4));
        // Inside a multi-byte character: rounds down.
        assert_eq!(line_and_column("\u{e9}", 1), (1, 1));
    }

    #[test]
    fn offsets_map_back_past_the_prolog() {
        let original = "<?xml version=\"1.0\"?>\n<rss>\n<channel>";
        let locator = Locator {
            original,
            root_offset: 22,
            root_tag_len: 5,
            parsed_root_len: 19,
        };
        // Offset 20 in `<rss version="2.0">\n<channel>` is `<channel>`'s `<`.
        assert_eq!(locator.describe(20), "near line 3, column 1");
    }
}
