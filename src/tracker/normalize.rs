//! Turning the HTML fragments feeds publish into text that can be compared
//! from one poll to the next.
//!
//! Publishers re-render an unchanged story with different markup, entity
//! spellings and typography between polls (`&rsquo;`, `’` and `'`; a `<b>`
//! moved; a zero-width space slipped in by a CMS). None of that is an edit a
//! reader would notice, so every text field the tracker stores goes through
//! [`clean`], and an update is only reported when the *cleaned* text differs.
//!
//! Everything here is a single forward pass over the input with no element
//! stack, so a broken or hostile fragment (100,000 nested `<div>`s, an
//! unclosed comment, an attribute quote that never ends) costs time linear in
//! its size. The common case, a title with no markup and plain ASCII, is
//! detected up front and costs one scan and one copy.

use std::borrow::Cow;

use regex::Regex;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

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

/// Page furniture that changes with the clock, not with the story: relative
/// times ("5 hours ago", "Published2 days ago" as some extractors glue it)
/// and "Published"/"Updated" labels with the date or time that follows them
/// ("Updated 21 July 2025, 10:32 BST"). A story re-fetched an hour later
/// reads "6 hours ago": that is not an edit. ASCII-only and case-insensitive,
/// so the regex stays on its fast engines.
static TIMESTAMPS: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    const UNIT: &str = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)";
    const MONTH: &str = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?";
    const LABEL: &str =
        r"(?:\b(?:published|updated|posted|last\ updated|modified)\s*:?\s*(?:on\s+)?)";
    let time = r"(?:,?\s*(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[a-z]{2,4}\b)?)?";
    let pattern = format!(
        r"(?xi)
        {LABEL}? (?:\d+|\ban?|\bone) \s* {UNIT} \s+ ago\b
      | {LABEL} (?:
            \d{{1,2}}\s+{MONTH}(?:\s+\d{{4}})?{time}
          | {MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?{time}
          | \d{{4}}-\d{{2}}-\d{{2}}(?:[t\s]\d{{2}}:\d{{2}}(?::\d{{2}})?)?
          | \d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s+[a-z]{{2,4}}\b)?
        )"
    );
    regex::RegexBuilder::new(&pattern)
        .unicode(false)
        .build()
        .ok()
});

/// Two or more list separators in a row, with nothing between them.
static SEPARATOR_RUNS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    Regex::new(r"(?:[-|•·] *){2,}").unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// The form every feed text field is stored and compared in.
///
/// [`html_to_text`], then [`normalize_text`], then clock-driven page
/// furniture ([`TIMESTAMPS`]: relative times, "Published 21 July") and every
/// match of the feed's `ignore` patterns (other boilerplate) removed,
/// then whitespace normalised again because a removal can leave doubled or
/// dangling spaces. Patterns see normalised text, so they can be written
/// with ASCII quotes and dashes and single spaces.
pub fn clean(html: &str, ignore: &[Regex]) -> String {
    let text = html_to_text_cow(html);
    let normal = normalize_text_cow(&text);
    let timestamps = TIMESTAMPS.as_ref().filter(|re| re.is_match(&normal));
    if ignore.is_empty() && timestamps.is_none() {
        return normal.into_owned();
    }
    let mut current = normal.into_owned();
    let mut removed_any = false;
    if let Some(re) = timestamps {
        // "Related topics - Published 2 hours ago - Published 1 day ago"
        // leaves a run of list dashes whose length is page layout
        let bare = re.replace_all(&current, "");
        current = SEPARATOR_RUNS.replace_all(&bare, "- ").into_owned();
        removed_any = true;
    }
    for pattern in ignore {
        if let Cow::Owned(replaced) = pattern.replace_all(&current, "") {
            current = replaced;
            removed_any = true;
        }
    }
    if removed_any {
        collapse_whitespace(&current)
    } else {
        current
    }
}

// ---------------------------------------------------------------------------
// Whitespace collapsing shared by both stages
// ---------------------------------------------------------------------------

/// The separator owed before the next visible character. A line break wins
/// over a space, so `"a \n b"` becomes `"a\nb"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Break,
}

/// An output buffer that collapses whitespace as it goes: separators are
/// only written when a visible character follows, which trims both ends and
/// merges runs without a second pass.
struct Collapser {
    out: String,
    gap: Gap,
}

impl Collapser {
    fn with_capacity(capacity: usize) -> Self {
        Collapser {
            out: String::with_capacity(capacity),
            gap: Gap::None,
        }
    }

    fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
    }

    fn flush_gap(&mut self) {
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
    fn push(&mut self, c: char) {
        self.flush_gap();
        self.out.push(c);
    }

    /// A run of visible characters.
    fn push_visible(&mut self, s: &str) {
        if !s.is_empty() {
            self.flush_gap();
            self.out.push_str(s);
        }
    }

    /// Text whose ASCII whitespace is insignificant (HTML source): each run
    /// of it becomes at most one space. Other characters are copied as they
    /// are; [`normalize_text`] deals with them later.
    fn push_html_text(&mut self, s: &str) {
        for (i, piece) in s.split(is_html_space).enumerate() {
            if i > 0 {
                self.gap(Gap::Space);
            }
            self.push_visible(piece);
        }
    }

    fn finish(self) -> String {
        self.out
    }
}

/// HTML's "ASCII whitespace": the only characters the HTML layout collapses.
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{000C}')
}

/// Characters that end a line or paragraph in plain text.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{000B}' | '\u{000C}' | '\u{0085}' | '\u{2028}' | '\u{2029}'
    )
}

/// Collapses whitespace of text that is otherwise already normal (used
/// after ignore patterns removed pieces of it).
fn collapse_whitespace(text: &str) -> String {
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

// ---------------------------------------------------------------------------
// HTML → text
// ---------------------------------------------------------------------------

/// [`html_to_text`] without a copy when the input needs no work: no markup,
/// no entity and whitespace that is already collapsed.
fn html_to_text_cow(html: &str) -> Cow<'_, str> {
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

// ---------------------------------------------------------------------------
// Character references
// ---------------------------------------------------------------------------

/// A decoded character reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoded {
    Char(char),
    Str(&'static str),
}

/// The longest HTML5 entity name ("CounterClockwiseContourIntegral") has 31
/// characters; a longer run of letters cannot be a reference.
const MAX_ENTITY_NAME: usize = 32;

/// Entity names a browser also recognises without the trailing `;`
/// (the HTML5 "legacy" set), sorted so the longest match can be found.
const LEGACY_ENTITIES: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

/// Decodes the character reference at the start of `s` (which starts with
/// `&`). Returns the decoded text and the bytes consumed, or `None` when the
/// `&` is literal text (as in `AT&T`).
fn decode_reference(s: &str) -> Option<(Decoded, usize)> {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        return decode_numeric(bytes);
    }
    let name_len = bytes[1..]
        .iter()
        .take(MAX_ENTITY_NAME + 1)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &bytes[1..1 + name_len];
    if bytes.get(1 + name_len) == Some(&b';') {
        if let Some(value) = named_entity(name) {
            return Some((Decoded::Str(value), name_len + 2));
        }
    }
    let legacy = LEGACY_ENTITIES
        .iter()
        .filter(|legacy| name.starts_with(legacy.as_bytes()))
        .max_by_key(|legacy| legacy.len())?;
    let value = named_entity(legacy.as_bytes())?;
    Some((Decoded::Str(value), legacy.len() + 1))
}

/// Looks a name (without `&` and `;`) up in the HTML5 table that
/// html-escape ships (sorted by name, 2,125 entries).
fn named_entity(name: &[u8]) -> Option<&'static str> {
    let table = &html_escape::NAMED_ENTITIES;
    table
        .binary_search_by(|(candidate, _)| (*candidate).cmp(name))
        .ok()
        .map(|index| table[index].1)
}

/// `&#123;`, `&#x7B;`, with or without the `;` (browsers accept both).
fn decode_numeric(bytes: &[u8]) -> Option<(Decoded, usize)> {
    let (radix, digits_start) = match bytes.get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = bytes[digits_start.min(bytes.len())..]
        .iter()
        .take_while(|b| {
            if radix == 16 {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        return None;
    }
    let mut value: u32 = 0;
    for &b in &bytes[digits_start..digits_start + digits] {
        let digit = char::from(b).to_digit(radix).unwrap_or(0);
        value = value.saturating_mul(radix).saturating_add(digit);
    }
    let mut consumed = digits_start + digits;
    if bytes.get(consumed) == Some(&b';') {
        consumed += 1;
    }
    Some((Decoded::Char(numeric_char(value)), consumed))
}

/// The character a numeric reference stands for, following the HTML5 rules:
/// NUL, surrogates and out-of-range values become U+FFFD, and 0x80–0x9F take
/// their windows-1252 meaning (`&#146;` is an apostrophe on many old sites).
fn numeric_char(value: u32) -> char {
    if let Some(c) = windows_1252_c1(value) {
        return c;
    }
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        v => char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

fn windows_1252_c1(value: u32) -> Option<char> {
    let c = match value {
        0x80 => '\u{20AC}',
        0x82 => '\u{201A}',
        0x83 => '\u{0192}',
        0x84 => '\u{201E}',
        0x85 => '\u{2026}',
        0x86 => '\u{2020}',
        0x87 => '\u{2021}',
        0x88 => '\u{02C6}',
        0x89 => '\u{2030}',
        0x8A => '\u{0160}',
        0x8B => '\u{2039}',
        0x8C => '\u{0152}',
        0x8E => '\u{017D}',
        0x91 => '\u{2018}',
        0x92 => '\u{2019}',
        0x93 => '\u{201C}',
        0x94 => '\u{201D}',
        0x95 => '\u{2022}',
        0x96 => '\u{2013}',
        0x97 => '\u{2014}',
        0x98 => '\u{02DC}',
        0x99 => '\u{2122}',
        0x9A => '\u{0161}',
        0x9B => '\u{203A}',
        0x9C => '\u{0153}',
        0x9E => '\u{017E}',
        0x9F => '\u{0178}',
        _ => return None,
    };
    Some(c)
}

// ---------------------------------------------------------------------------
// Text normalisation
// ---------------------------------------------------------------------------

/// [`normalize_text`] without a copy when the text is already normal.
fn normalize_text_cow(text: &str) -> Cow<'_, str> {
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
    fn plain_text_passes_through() {
        assert_eq!(html_to_text("Storm hits coast"), "Storm hits coast");
        assert_eq!(clean("Storm hits coast", &[]), "Storm hits coast");
        assert!(matches!(
            html_to_text_cow("Storm hits coast"),
            Cow::Borrowed(_)
        ));
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

    #[test]
    fn clock_driven_timestamps_are_not_text() {
        assert_eq!(
            clean(
                "Related topics - Published5 hours ago - Published1 day ago",
                &[]
            ),
            "Related topics -"
        );
        assert_eq!(
            clean("Updated 21 July 2025, 10:32 BST: more to follow", &[]),
            ": more to follow"
        );
        assert_eq!(clean("Posted an hour ago", &[]), "");
        assert_eq!(
            clean("Last updated: Sept 3, 2025 at 4:05 p.m. EDT", &[]),
            ""
        );
        // the same page an hour later reads the same
        assert_eq!(
            clean("Troops advanced. Published 6 hours ago", &[]),
            clean("Troops advanced. Published 7 hours ago", &[])
        );
        // numbers and dates that are part of the story stay
        assert_eq!(clean("5 hours of talks", &[]), "5 hours of talks");
        assert_eq!(
            clean("The vote is on 21 July.", &[]),
            "The vote is on 21 July."
        );
        assert_eq!(clean("Ages ago, at 10:30", &[]), "Ages ago, at 10:30");
        // the dashes a removed timestamp leaves behind are layout
        assert_eq!(
            clean(
                "More - Published 1 hour ago - Published 2 hours ago - - end",
                &[]
            ),
            clean("More - Published 3 hours ago - end", &[])
        );
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
    fn clean_applies_ignore_patterns_then_whitespace() {
        let ignore = [
            Regex::new(r"(?i)updated \d+ (?:minutes?|hours?) ago")
                .unwrap_or_else(|e| panic!("{e}")),
            Regex::new(r"Follow our live blog\.").unwrap_or_else(|e| panic!("{e}")),
        ];
        let html = "<p>Fire spreads \u{2014} Updated 5 minutes ago</p><p>Follow our live blog.</p>";
        assert_eq!(clean(html, &ignore), "Fire spreads -");
        assert_eq!(
            clean("Updated 1 hour ago and <b>more</b>", &ignore),
            "and more"
        );
    }

    #[test]
    fn clean_decodes_and_normalises() {
        assert_eq!(
            clean("Couple celebrate their &lsquo;not wedding day&rsquo;", &[]),
            clean("Couple celebrate their 'not wedding day'", &[])
        );
        assert_eq!(clean("\n    Q&amp;A&nbsp;session\n  ", &[]), "Q&A session");
    }

    proptest! {
        #[test]
        fn html_to_text_never_panics(s in "\\PC{0,200}") {
            let _ = html_to_text(&s);
        }

        #[test]
        fn html_to_text_never_panics_on_markup_soup(s in "[<>&;#x!/a-z0-9\"'= \n\u{e9}\u{20ac}\u{2029}-]{0,200}") {
            let _ = clean(&s, &[]);
        }

        #[test]
        fn normalize_is_idempotent(s in "\\PC{0,120}|[ \\n\\t\u{AD}\u{200B}e\u{301}\u{2019}\u{2014}]{0,40}") {
            let once = normalize_text(&s);
            prop_assert_eq!(normalize_text(&once), once.clone());
            prop_assert!(!once.starts_with([' ', '\n']) && !once.ends_with([' ', '\n']));
            prop_assert!(!once.contains("  "));
        }

        #[test]
        fn clean_is_stable(s in "\\PC{0,120}") {
            let once = clean(&s, &[]);
            prop_assert_eq!(normalize_text(&once), once.clone());
        }
    }
}
