//! Turning the HTML fragments feeds publish into plain text.
//!
//! Publishers re-render an unchanged story with different markup and
//! entity spellings between polls (a `<b>` moved, `&rsquo;` for `’`), and
//! article pages wrap their text in layout. [`html_to_text`] keeps what a
//! reader sees: the text, one line per block, entities decoded (see
//! [`super::entities`]).
//!
//! Everything here is a single forward pass over the input with no element
//! stack, so a broken or hostile fragment (100,000 nested `<div>`s, an
//! unclosed comment, an attribute quote that never ends) costs time linear in
//! its size. The common case, a title with no markup and plain ASCII, is
//! detected up front and costs one scan and one copy.

use std::borrow::Cow;

use super::entities::{decode_reference, Decoded};
use super::whitespace::{is_html_space, Collapser, Gap};

/// HTML fragment → plain text.
///
/// Tags are removed; entities are decoded (the full HTML5 named set, legacy
/// names without `;` such as `&copy`, decimal and hex references, with the
/// windows-1252 meaning browsers give to `&#146;` and friends); block elements
/// (`<p>`, `<div>`, `<br>`, `<li>`, headings, table rows, …) become line
/// breaks; the contents of `<script>`, `<style>`, `<noscript>`, `<template>`
/// and `<iframe>` are dropped; comments are dropped and CDATA sections kept as
/// text. Source whitespace is collapsed the way a browser collapses it, so the
/// result has single spaces, single `"\n"` between blocks and no leading or
/// trailing whitespace.
///
/// Broken markup never fails: a `<` that cannot start a tag is text, and an
/// attribute quote that is never closed ends at the next `>` (more forgiving
/// than a browser, which would swallow the rest of the fragment).
pub fn html_to_text(html: &str) -> String {
    html_to_text_cow(html).into_owned()
}

/// [`html_to_text`] without a copy when the input needs no work: no markup,
/// no entity and whitespace that is already collapsed.
pub fn html_to_text_cow(html: &str) -> Cow<'_, str> {
    if is_plain_collapsed(html) {
        Cow::Borrowed(html)
    } else {
        Cow::Owned(convert_html(html))
    }
}

/// True when `html` contains neither `<` nor `&` and its whitespace is single
/// interior spaces only.
fn is_plain_collapsed(html: &str) -> bool {
    let bytes = html.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    let mut previous_space = false;
    for &b in bytes {
        match b {
            b'<' | b'&' | b'\t' | b'\n' | b'\r' | 0x0C => return false,
            b' ' if previous_space => return false,
            _ => {}
        }
        previous_space = b == b' ';
    }
    true
}

/// What a piece of markup contributes to the text.
enum Effect {
    /// Nothing (inline tags, comments, unknown tags).
    Nothing,
    /// A word separator (table cells, images).
    Space,
    /// A line break (block elements).
    Break,
    /// Literal text (a CDATA section).
    Text(std::ops::Range<usize>),
}

/// A recognised piece of markup starting at a `<`.
struct Markup {
    /// Byte offset just past the markup (and past any dropped contents).
    end: usize,
    effect: Effect,
}

/// The conversion proper: text runs are copied, markup is replaced by its
/// effect, entities are decoded.
fn convert_html(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = Collapser::with_capacity(html.len());
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                if let Some(markup) = markup_at(html, i) {
                    out.push_html_text(&html[text_start..i]);
                    apply_effect(&mut out, html, markup.effect);
                    i = markup.end;
                    text_start = i;
                } else {
                    i += 1;
                }
            }
            b'&' => {
                if let Some((decoded, len)) = decode_reference(&html[i..]) {
                    out.push_html_text(&html[text_start..i]);
                    match decoded {
                        Decoded::Char(c) if is_html_space(c) => out.gap(Gap::Space),
                        Decoded::Char(c) => out.push(c),
                        Decoded::Str(s) => out.push_html_text(s),
                    }
                    i += len;
                    text_start = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_html_text(&html[text_start..]);
    out.finish()
}

fn apply_effect(out: &mut Collapser, html: &str, effect: Effect) {
    match effect {
        Effect::Nothing => {}
        Effect::Space => out.gap(Gap::Space),
        Effect::Break => out.gap(Gap::Break),
        Effect::Text(range) => out.push_html_text(&html[range]),
    }
}

/// Recognises the markup starting at `html[at] == '<'`, or `None` when this
/// `<` is just text (as in `a < b` or `<3`).
fn markup_at(html: &str, at: usize) -> Option<Markup> {
    let rest = &html.as_bytes()[at..];
    if rest.starts_with(b"<!--") {
        // "<!-->" is a complete (empty) comment in HTML5, hence the search
        // starting right after "<!".
        let end = find_from(html, at + 2, "-->").map_or(html.len(), |p| p + 3);
        return Some(Markup {
            end,
            effect: Effect::Nothing,
        });
    }
    if rest.starts_with(b"<![CDATA[") {
        let start = at + 9;
        let (text_end, end) =
            find_from(html, start, "]]>").map_or((html.len(), html.len()), |p| (p, p + 3));
        return Some(Markup {
            end,
            effect: Effect::Text(start..text_end),
        });
    }
    match rest.get(1) {
        Some(b'!') | Some(b'?') => Some(Markup {
            // doctype, processing instruction or bogus comment
            end: find_byte(html.as_bytes(), at + 2, b'>').map_or(html.len(), |p| p + 1),
            effect: Effect::Nothing,
        }),
        Some(b'/') if rest.get(2).is_some_and(u8::is_ascii_alphabetic) => {
            Some(end_tag(html, at + 2))
        }
        Some(c) if c.is_ascii_alphabetic() => Some(start_tag(html, at + 1)),
        _ => None,
    }
}

/// `</name …>` with `name_start` pointing at the name.
fn end_tag(html: &str, name_start: usize) -> Markup {
    let name_end = tag_name_end(html.as_bytes(), name_start);
    let kind = classify_tag(&html.as_bytes()[name_start..name_end]);
    let end = tag_end(html.as_bytes(), name_end).map_or(html.len(), |p| p + 1);
    let effect = match kind {
        TagKind::Block => Effect::Break,
        TagKind::Cell => Effect::Space,
        TagKind::Inline | TagKind::Hidden => Effect::Nothing,
    };
    Markup { end, effect }
}

/// `<name …>` with `name_start` pointing at the name. For elements whose
/// contents are not text (scripts, styles) the contents and the end tag are
/// consumed too.
fn start_tag(html: &str, name_start: usize) -> Markup {
    let bytes = html.as_bytes();
    let name_end = tag_name_end(bytes, name_start);
    let name = &bytes[name_start..name_end];
    let kind = classify_tag(name);
    let Some(close) = tag_end(bytes, name_end) else {
        // A tag cut off by the end of the fragment: drop it, as browsers do.
        return Markup {
            end: html.len(),
            effect: Effect::Nothing,
        };
    };
    match kind {
        TagKind::Hidden => Markup {
            end: skip_hidden_contents(html, close + 1, name),
            effect: Effect::Nothing,
        },
        TagKind::Block => Markup {
            end: close + 1,
            effect: Effect::Break,
        },
        TagKind::Cell => Markup {
            end: close + 1,
            effect: Effect::Space,
        },
        TagKind::Inline => Markup {
            end: close + 1,
            effect: Effect::Nothing,
        },
    }
}

/// Skips to just past `</name…>`; an element never closed hides the rest of
/// the fragment (that is what a browser shows too).
fn skip_hidden_contents(html: &str, from: usize, name: &[u8]) -> usize {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(p) = find_byte(bytes, at, b'<') {
        let after = p + 2 + name.len();
        let is_close = bytes.get(p + 1) == Some(&b'/')
            && bytes
                .get(p + 2..after)
                .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name))
            && !bytes.get(after).is_some_and(|b| is_tag_name_byte(*b));
        if is_close {
            return find_byte(bytes, after, b'>').map_or(html.len(), |q| q + 1);
        }
        at = p + 1;
    }
    html.len()
}

fn is_tag_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b':' || b == b'_'
}

fn tag_name_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| !is_tag_name_byte(*b))
        .map_or(bytes.len(), |p| from + p)
}

/// Finds the `>` closing a tag whose attributes start at `from`, skipping
/// quoted attribute values (which may contain `>`). Returns `None` when the
/// fragment ends inside the tag.
///
/// Linear overall: a successful search consumes what it scanned, and a
/// failed search for a closing quote proves no such quote follows, so it can
/// happen at most once per quote character.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut after_equals = false;
    let mut j = from;
    while j < bytes.len() {
        match bytes[j] {
            b'>' => return Some(j),
            quote @ (b'"' | b'\'') if after_equals => match find_byte(bytes, j + 1, quote) {
                Some(close) => {
                    j = close + 1;
                    after_equals = false;
                    continue;
                }
                // Unterminated value: forgive it and end the tag at the next '>'.
                None => return find_byte(bytes, j + 1, b'>'),
            },
            b'=' => after_equals = true,
            b if b.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        j += 1;
    }
    None
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|b| *b == needle)
        .map(|p| from + p)
}

fn find_from(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    haystack.get(from..)?.find(needle).map(|p| from + p)
}

/// How an element affects the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    /// Starts and ends a line (paragraphs, list items, headings, …).
    Block,
    /// Separates words but not lines (table cells, images, media).
    Cell,
    /// Its contents are not text and are dropped.
    Hidden,
    /// Everything else, including unknown tags: no separator at all, so
    /// `said<strong>.</strong>` stays `said.`.
    Inline,
}

const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "legend",
    "li",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "plaintext",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
    "xmp",
];
const CELL_TAGS: &[&str] = &[
    "audio", "button", "embed", "img", "input", "object", "picture", "select", "td", "th", "video",
];
const HIDDEN_TAGS: &[&str] = &["iframe", "noscript", "script", "style", "template"];

fn classify_tag(name: &[u8]) -> TagKind {
    let is_in = |set: &[&str]| set.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(name));
    if is_in(BLOCK_TAGS) {
        TagKind::Block
    } else if is_in(HIDDEN_TAGS) {
        TagKind::Hidden
    } else if is_in(CELL_TAGS) {
        TagKind::Cell
    } else {
        TagKind::Inline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(html_to_text("Storm hits coast"), "Storm hits coast");
        assert!(matches!(
            html_to_text_cow("Storm hits coast"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn tags_are_removed_and_inline_tags_add_no_space() {
        assert_eq!(
            html_to_text("Police <a href=\"https://x.test/?a=1&b=2\">said</a> it was <b>over</b><strong>.</strong>"),
            "Police said it was over."
        );
    }

    #[test]
    fn block_tags_become_single_line_breaks() {
        let html = "<p>First paragraph.</p>\n  <p>Second<br>line</p><ul><li>one</li><li>two</li></ul><h2>Head</h2>";
        assert_eq!(
            html_to_text(html),
            "First paragraph.\nSecond\nline\none\ntwo\nHead"
        );
    }

    #[test]
    fn source_whitespace_collapses() {
        assert_eq!(
            html_to_text("\n    Minister   says\tmore \n  "),
            "Minister says more"
        );
        assert_eq!(html_to_text("<p>  a </p> <p> b  </p>"), "a\nb");
    }

    #[test]
    fn table_cells_and_images_separate_words() {
        assert_eq!(html_to_text("<td>a</td><td>b</td>"), "a b");
        assert_eq!(
            html_to_text("word<img src='x.jpg' alt='Caption'>word"),
            "word word"
        );
    }

    #[test]
    fn script_style_noscript_contents_are_dropped() {
        let html = "a<script>var x = '<p>no</p>'; if (a < b) {}</script>b\
                    <style>p { color: red }</style>c<noscript>enable JS</noscript>d\
                    <SCRIPT type=text/javascript>x()</SCRIPT >e";
        assert_eq!(html_to_text(html), "abcde");
    }

    #[test]
    fn unclosed_script_hides_the_rest() {
        assert_eq!(html_to_text("keep<script>lost forever"), "keep");
    }

    #[test]
    fn script_close_requires_the_exact_name() {
        assert_eq!(html_to_text("<script>a</scripty>b</script>c"), "c");
    }

    #[test]
    fn comments_and_cdata() {
        assert_eq!(html_to_text("a<!-- <p>hidden</p> -->b"), "ab");
        assert_eq!(html_to_text("a<!-->b"), "ab");
        assert_eq!(html_to_text("a<!-- never closed"), "a");
        assert_eq!(html_to_text("a<![CDATA[<b>&amp;</b>]]>c"), "a<b>&amp;</b>c");
        assert_eq!(html_to_text("<!DOCTYPE html><?xml version='1.0'?>x"), "x");
    }

    #[test]
    fn entities_named_numeric_and_legacy() {
        assert_eq!(html_to_text("Tom &amp; Jerry &lt;3"), "Tom & Jerry <3");
        assert_eq!(
            html_to_text("caf&eacute; &#233; &#xE9; &#XE9"),
            "café é é é"
        );
        assert_eq!(
            html_to_text("&copy 2024 &notit; &NotNestedGreaterGreater;"),
            "© 2024 ¬it; \u{2AA2}\u{0338}"
        );
        assert_eq!(
            html_to_text("it&#146;s &#151; &#0; &#x110000;"),
            "it\u{2019}s \u{2014} \u{FFFD} \u{FFFD}"
        );
        assert_eq!(
            html_to_text("AT&T &unknown; & &#; &#x;"),
            "AT&T &unknown; & &#; &#x;"
        );
        assert_eq!(html_to_text("a&nbsp;b&#32;c"), "a\u{A0}b c");
        assert_eq!(html_to_text("&#99999999999999999999;"), "\u{FFFD}");
    }

    #[test]
    fn attributes_may_contain_angle_brackets() {
        assert_eq!(
            html_to_text("<a title=\"a > b\" href='x>y'>link</a> text"),
            "link text"
        );
    }

    #[test]
    fn broken_html_is_recovered() {
        assert_eq!(html_to_text("a < b and c<d"), "a < b and c");
        assert_eq!(
            html_to_text("<p>unclosed <b>bold <i>both"),
            "unclosed bold both"
        );
        assert_eq!(html_to_text("x <a href=\"oops>link</a> y"), "x link y");
        assert_eq!(html_to_text("</p>stray end<br/>"), "stray end");
        assert_eq!(html_to_text("cut <a href="), "cut");
        assert_eq!(html_to_text("<3 and </ 3"), "<3 and </ 3");
    }

    #[test]
    fn deeply_nested_html_is_linear() {
        let depth = 100_000;
        let mut html = String::with_capacity(depth * 12);
        for _ in 0..depth {
            html.push_str("<div><span>");
        }
        html.push_str("deep");
        for _ in 0..depth {
            html.push_str("</span></div>");
        }
        assert_eq!(html_to_text(&html), "deep");
    }

    #[test]
    fn unterminated_markup_is_linear() {
        let html = format!("<a title=\"x>{}", "y <a b='1' c=2> ".repeat(50_000));
        assert!(html_to_text(&html).starts_with("y y y"));
        let html = "<a <b ".repeat(50_000);
        assert_eq!(html_to_text(&html), "");
        let html = "x<!-".repeat(50_000);
        assert_eq!(html_to_text(&html), "x");
    }

    proptest! {
        #[test]
        fn html_to_text_never_panics(s in "\\PC{0,200}") {
            let _ = html_to_text(&s);
        }
    }
}
