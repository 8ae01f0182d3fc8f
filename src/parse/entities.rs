//! Lenient repairs of `&` references before the strict XML parse.
//!
//! Real feeds are full of HTML-isms that XML forbids: `&nbsp;` and `&eacute;`
//! used without a DTD, a bare `&` in a URL or a headline ("AT&T"), `&#X41;`,
//! `&#0;`. A strict parser rejects the whole feed for one of them, Python's
//! feedparser (what users compare us with) reads it. So every reference is
//! rewritten here into one quick-xml accepts with the meaning a browser would
//! give it:
//! - the five XML entities and well-formed numeric references stay as they are;
//! - an HTML named entity becomes numeric references (`&eacute;` → `&#233;`);
//! - an unknown name (`&lol9;`, `&xxe;`) or an `&` that starts no reference
//!   becomes `&amp;…`, i.e. literal text. Entities declared in a DOCTYPE are
//!   never expanded (the prolog code removes the DOCTYPE), so "billion laughs"
//!   and external entities (`SYSTEM "file:///etc/passwd"`) cannot happen;
//! - numeric references to C1 code points (`&#150;`) mean windows-1252 there,
//!   as in HTML5; references to characters XML forbids are dropped (control
//!   characters) or replaced with U+FFFD (surrogates, out of range);
//! - a stray XML declaration inside the document (`<?xml … encoding=…?>`,
//!   typically from concatenated documents) is removed: quick-xml would try to
//!   switch encodings mid-stream and panic.
//!
//! The entity and windows-1252 tables live in [`crate::text::entities`], shared
//! with HTML → text.
//!
//! CDATA sections, comments and processing instructions are skipped: an `&`
//! there is not a reference. The scan is linear, and when nothing needs a
//! repair the input is returned borrowed, without a copy.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::text::entities::{named_entity, windows_1252_c1, MAX_ENTITY_NAME};

/// Counts of repairs, turned into warnings by the caller.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Repairs {
    /// HTML named entities turned into numeric references.
    pub html_entities: usize,
    /// The first such entity name, as an example for the warning.
    pub html_example: Option<String>,
    /// `&` that started no valid reference, escaped as `&amp;`.
    pub bare_ampersands: usize,
    /// Unknown entity names (including DTD-declared ones), kept as text.
    pub unknown_entities: usize,
    /// Numeric references rewritten (C1 → windows-1252, `&#X` → `&#x`,
    /// invalid code points → U+FFFD).
    pub char_refs_rewritten: usize,
    /// References to control characters XML forbids, removed.
    pub control_refs_removed: usize,
    /// Misplaced XML declarations removed.
    pub stray_declarations: usize,
}

impl Repairs {
    /// Human-readable warnings, one per kind of repair that happened.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.html_entities > 0 {
            let example = self.html_example.as_deref().unwrap_or("nbsp");
            out.push(format!(
                "replaced {} undeclared HTML entities (e.g. &{example};) with character references",
                self.html_entities
            ));
        }
        if self.bare_ampersands > 0 {
            out.push(format!(
                "escaped {} bare '&' characters as &amp;",
                self.bare_ampersands
            ));
        }
        if self.unknown_entities > 0 {
            out.push(format!(
                "kept {} references to unknown or DTD-declared entities as literal text (never expanded)",
                self.unknown_entities
            ));
        }
        if self.char_refs_rewritten > 0 {
            out.push(format!(
                "rewrote {} numeric character references (windows-1252 code points, uppercase &#X, invalid code points)",
                self.char_refs_rewritten
            ));
        }
        if self.control_refs_removed > 0 {
            out.push(format!(
                "removed {} references to control characters XML forbids",
                self.control_refs_removed
            ));
        }
        if self.stray_declarations > 0 {
            out.push(format!(
                "removed {} XML declarations found inside the document",
                self.stray_declarations
            ));
        }
        out
    }
}

/// Longest digit string of a numeric reference worth parsing (`&#x10FFFF;`
/// with leading zeros is still short; anything longer is garbage).
const MAX_DIGITS: usize = 12;

/// Rewrites references in `text` (see the module docs), borrowing it when no
/// repair is needed.
///
/// One forward scan: the next `&`, `!` or `?` is found with a SIMD byte
/// search (the regex crate's prefilter; `<` itself is on every tag and would
/// stop the search far too often), an `&` is examined as a reference, and a
/// `<!`/`<?` region (CDATA, comment, PI) is jumped over to its end.
pub(crate) fn repair_references<'a>(text: &'a str, repairs: &mut Repairs) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut fixer = Fixer {
        text,
        out: None,
        copied_upto: 0,
    };
    let mut pos = 0;
    while let Some(found) = MARKERS.find_at(text, pos) {
        let at = found.start();
        if bytes[at] == b'&' {
            pos = fixer.reference_at(at, repairs);
        } else if at > 0 && bytes[at - 1] == b'<' {
            // An unterminated region: leave the rest alone, the XML parser
            // reports it.
            let Some(end) = region_end(text, at - 1) else {
                break;
            };
            remove_if_stray_declaration(text, at - 1, end, &mut fixer, repairs);
            pos = end;
        } else {
            pos = at + 1;
        }
    }
    fixer.into_cow()
}

/// The bytes that start everything [`repair_references`] looks at: `&`, and
/// the second byte of `<!` and `<?`.
static MARKERS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[&!?]").expect("a valid regex"));
/// Region terminators, as literal regexes for their SIMD substring search.
static CDATA_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\]\]>").expect("a valid regex"));
static COMMENT_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-->").expect("a valid regex"));
static PI_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\?>").expect("a valid regex"));

/// Accumulates the repaired text; stays `None` (borrowed) until a repair.
struct Fixer<'a> {
    text: &'a str,
    out: Option<String>,
    copied_upto: usize,
}

impl<'a> Fixer<'a> {
    /// Replaces `text[start..end]` with `replacement`.
    fn replace(&mut self, start: usize, end: usize, replacement: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len() + 64));
        out.push_str(&self.text[self.copied_upto..start]);
        out.push_str(replacement);
        self.copied_upto = end;
    }

    fn into_cow(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(&self.text[self.copied_upto..]);
                Cow::Owned(out)
            }
        }
    }

    /// Handles the `&` at `amp`; returns where scanning resumes.
    fn reference_at(&mut self, amp: usize, repairs: &mut Repairs) -> usize {
        let after = &self.text[amp + 1..];
        match classify(after) {
            Reference::Keep(len) => amp + 1 + len,
            Reference::Named { name, len } => {
                self.named(amp, name, len, repairs);
                amp + 1 + len
            }
            Reference::Numeric {
                code,
                len,
                canonical,
            } => {
                self.numeric(amp, code, len, canonical, repairs);
                amp + 1 + len
            }
            Reference::Bare => {
                repairs.bare_ampersands += 1;
                self.replace(amp, amp + 1, "&amp;");
                amp + 1
            }
        }
    }

    fn named(&mut self, amp: usize, name: &str, len: usize, repairs: &mut Repairs) {
        match named_entity(name.as_bytes()) {
            Some(value) => {
                repairs.html_entities += 1;
                if repairs.html_example.is_none() {
                    repairs.html_example = Some(name.to_string());
                }
                let mut replacement = String::with_capacity(16);
                for ch in value.chars() {
                    push_char_ref(&mut replacement, ch as u32);
                }
                self.replace(amp, amp + 1 + len, &replacement);
            }
            None => {
                repairs.unknown_entities += 1;
                self.replace(amp, amp + 1, "&amp;");
            }
        }
    }

    fn numeric(
        &mut self,
        amp: usize,
        code: u32,
        len: usize,
        canonical: bool,
        repairs: &mut Repairs,
    ) {
        let end = amp + 1 + len;
        match numeric_target(code) {
            NumericTarget::Allowed(ch) if canonical && ch == code => {}
            NumericTarget::Allowed(ch) => {
                repairs.char_refs_rewritten += 1;
                let mut replacement = String::with_capacity(12);
                push_char_ref(&mut replacement, ch);
                self.replace(amp, end, &replacement);
            }
            NumericTarget::Control => {
                repairs.control_refs_removed += 1;
                self.replace(amp, end, "");
            }
            NumericTarget::Invalid => {
                repairs.char_refs_rewritten += 1;
                self.replace(amp, end, "&#xFFFD;");
            }
        }
    }
}

fn push_char_ref(out: &mut String, code: u32) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "&#{code};");
}

/// What an `&` starts, from the text right after it.
#[derive(Debug, PartialEq, Eq)]
enum Reference<'a> {
    /// A reference XML already understands (`&amp;`, `&#233;`); its length
    /// after the `&`.
    Keep(usize),
    /// `&name;` not predefined by XML.
    Named { name: &'a str, len: usize },
    /// `&#…;` that needs checking; `canonical` is false for `&#X…;`.
    Numeric {
        code: u32,
        len: usize,
        canonical: bool,
    },
    /// Not a reference at all.
    Bare,
}

fn classify(after: &str) -> Reference<'_> {
    let bytes = after.as_bytes();
    match bytes.first() {
        Some(b'#') => classify_numeric(bytes),
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => classify_named(after),
        _ => Reference::Bare,
    }
}

fn classify_named(after: &str) -> Reference<'_> {
    let bytes = after.as_bytes();
    let name_len = bytes
        .iter()
        .take(MAX_ENTITY_NAME + 1)
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        .unwrap_or(bytes.len().min(MAX_ENTITY_NAME + 1));
    if name_len > MAX_ENTITY_NAME || bytes.get(name_len) != Some(&b';') {
        return Reference::Bare;
    }
    let name = &after[..name_len];
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        Reference::Keep(name_len + 1)
    } else {
        Reference::Named {
            name,
            len: name_len + 1,
        }
    }
}

fn classify_numeric(bytes: &[u8]) -> Reference<'static> {
    let (radix, digits_start, canonical) = match bytes.get(1) {
        Some(b'x') => (16, 2, true),
        Some(b'X') => (16, 2, false),
        _ => (10, 1, true),
    };
    let digits = &bytes[digits_start.min(bytes.len())..];
    let count = digits
        .iter()
        .take(MAX_DIGITS + 1)
        .position(|b| !(b.is_ascii_digit() || (radix == 16 && b.is_ascii_hexdigit())))
        .unwrap_or(digits.len().min(MAX_DIGITS + 1));
    if count == 0 || count > MAX_DIGITS || digits.get(count) != Some(&b';') {
        return Reference::Bare;
    }
    let code = digits[..count]
        .iter()
        .try_fold(0u32, |acc, &b| {
            let digit = (b as char).to_digit(radix)?;
            acc.checked_mul(radix)?.checked_add(digit)
        })
        .unwrap_or(u32::MAX);
    Reference::Numeric {
        code,
        len: digits_start + count + 1,
        canonical,
    }
}

/// What a numeric reference should become.
enum NumericTarget {
    /// A character XML allows (possibly remapped from windows-1252).
    Allowed(u32),
    /// A control character XML forbids: drop it.
    Control,
    /// Not a Unicode scalar value: U+FFFD.
    Invalid,
}

fn numeric_target(code: u32) -> NumericTarget {
    match code {
        0x9 | 0xA | 0xD => NumericTarget::Allowed(code),
        0..=0x1F => NumericTarget::Control,
        0x80..=0x9F => NumericTarget::Allowed(windows_1252_c1(code)),
        0xD800..=0xDFFF | 0xFFFE | 0xFFFF => NumericTarget::Invalid,
        0x11_0000.. => NumericTarget::Invalid,
        _ => NumericTarget::Allowed(code),
    }
}

/// End (exclusive) of the CDATA section, comment, PI or other `<!…>` that
/// starts at `start`; `None` when it never ends.
fn region_end(text: &str, start: usize) -> Option<usize> {
    let rest = &text[start..];
    let (terminator, skip): (&Regex, usize) = if rest.starts_with("<![CDATA[") {
        (&CDATA_END, 9)
    } else if rest.starts_with("<!--") {
        (&COMMENT_END, 4)
    } else if rest.starts_with("<?") {
        (&PI_END, 2)
    } else {
        return text
            .get(start + 2..)?
            .find('>')
            .map(|at| start + 2 + at + 1);
    };
    terminator
        .find_at(text, start + skip)
        .map(|found| found.end())
}

/// Removes `<?xml …?>` found after the document start.
fn remove_if_stray_declaration(
    text: &str,
    start: usize,
    end: usize,
    fixer: &mut Fixer,
    repairs: &mut Repairs,
) {
    let region = text.as_bytes().get(start..end).unwrap_or_default();
    let is_declaration = region.len() > 6
        && region[..5].eq_ignore_ascii_case(b"<?xml")
        && region[5].is_ascii_whitespace();
    if is_declaration {
        repairs.stray_declarations += 1;
        fixer.replace(start, end, "");
    }
}

/// Removes every `<?xml …?>` declaration, even where [`repair_references`]
/// saw a CDATA section or comment. Only for the retry after quick-xml
/// panicked on a declaration it found where our scan did not expect one (a
/// tag such as `<<!--x>` is a comment to us and an element to quick-xml).
pub(crate) fn remove_all_declarations(text: &str) -> (Cow<'_, str>, usize) {
    let mut fixer = Fixer {
        text,
        out: None,
        copied_upto: 0,
    };
    let mut repairs = Repairs::default();
    let mut from = 0;
    while let Some(start) = find_from(text, from, "<?") {
        let Some(end) = PI_END.find_at(text, start).map(|found| found.end()) else {
            break;
        };
        remove_if_stray_declaration(text, start, end, &mut fixer, &mut repairs);
        from = end;
    }
    (fixer.into_cow(), repairs.stray_declarations)
}

fn find_from(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.get(from..)?.find(needle).map(|at| at + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repair(text: &str) -> (String, Repairs) {
        let mut repairs = Repairs::default();
        let out = repair_references(text, &mut repairs).into_owned();
        (out, repairs)
    }

    #[test]
    fn clean_text_is_borrowed() {
        let text =
            "<t>a &amp; b &lt; &#233; &#x2014; <![CDATA[&nbsp; & x]]></t><!-- & --><?pi & ?>";
        let mut repairs = Repairs::default();
        assert!(matches!(
            repair_references(text, &mut repairs),
            Cow::Borrowed(_)
        ));
        assert_eq!(repairs, Repairs::default());
    }

    #[test]
    fn html_entities_become_numeric() {
        let (out, repairs) = repair("<t>caf&eacute;&nbsp;&mdash; &hellip;</t>");
        assert_eq!(out, "<t>caf&#233;&#160;&#8212; &#8230;</t>");
        assert_eq!(repairs.html_entities, 4);
        assert_eq!(repairs.html_example.as_deref(), Some("eacute"));
    }

    #[test]
    fn multi_character_entity() {
        // &NotEqualTilde; is U+2242 U+0338 in the WHATWG table.
        let (out, _) = repair("&NotEqualTilde;");
        assert_eq!(out, "&#8770;&#824;");
    }

    #[test]
    fn bare_ampersands_are_escaped() {
        let (out, repairs) = repair("<t>AT&T &  x?a=1&b=2 &#; &#xZZ; &copy 2020 &</t>");
        assert_eq!(
            out,
            "<t>AT&amp;T &amp;  x?a=1&amp;b=2 &amp;#; &amp;#xZZ; &amp;copy 2020 &amp;</t>"
        );
        assert_eq!(repairs.bare_ampersands, 7);
    }

    #[test]
    fn unknown_entities_become_text() {
        let (out, repairs) = repair("<t>&lol9; &xxe;</t>");
        assert_eq!(out, "<t>&amp;lol9; &amp;xxe;</t>");
        assert_eq!(repairs.unknown_entities, 2);
    }

    #[test]
    fn numeric_references_are_normalised() {
        let (out, repairs) =
            repair("&#X41;&#150;&#0;&#1;&#x1F;&#xD800;&#1114112;&#9;&#99999999999999;");
        assert_eq!(out, "&#65;&#8211;&#xFFFD;&#xFFFD;&#9;&amp;#99999999999999;");
        assert_eq!(repairs.control_refs_removed, 3);
        assert_eq!(repairs.char_refs_rewritten, 4);
        assert_eq!(repairs.bare_ampersands, 1);
    }

    #[test]
    fn cdata_comments_and_pis_are_skipped() {
        let (out, _) =
            repair("<a>&nbsp;</a><![CDATA[&nbsp; &]]><!-- &x --><b>&</b><?php echo 1 & 2 ?>&");
        assert_eq!(
            out,
            "<a>&#160;</a><![CDATA[&nbsp; &]]><!-- &x --><b>&amp;</b><?php echo 1 & 2 ?>&amp;"
        );
    }

    #[test]
    fn unterminated_cdata_leaves_the_rest_alone() {
        let (out, _) = repair("&nbsp;<![CDATA[ & never closed");
        assert_eq!(out, "&#160;<![CDATA[ & never closed");
    }

    #[test]
    fn stray_declarations_are_removed() {
        let (out, repairs) =
            repair("<rss><t>a</t><?xml version=\"1.0\" encoding=\"utf-16\"?><u/></rss>");
        assert_eq!(out, "<rss><t>a</t><u/></rss>");
        assert_eq!(repairs.stray_declarations, 1);
        // A stylesheet PI is not a declaration.
        let (out, _) = repair("<a/><?xml-stylesheet href='x'?>");
        assert_eq!(out, "<a/><?xml-stylesheet href='x'?>");
    }

    #[test]
    fn all_declarations_can_be_removed() {
        let text = "<a><<!--b><?xml version='1.0' encoding='utf-16'?><![CDATA[<?xml version=\"1.0\"?>]]></a>";
        let (out, count) = remove_all_declarations(text);
        assert_eq!(out, "<a><<!--b><![CDATA[]]></a>");
        assert_eq!(count, 2);
    }

    #[test]
    fn warnings_describe_repairs() {
        let (_, repairs) = repair("&nbsp; & &zz;");
        let warnings = repairs.warnings();
        assert_eq!(warnings.len(), 3);
        assert!(warnings[0].contains("&nbsp;"));
    }
}
