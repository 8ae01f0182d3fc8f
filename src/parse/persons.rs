//! Keeps feed-rs's author parser from panicking.
//!
//! feed-rs splits RSS `<author>`, `<managingEditor>`, `<webMaster>`,
//! `dc:creator` and `itunes:author` text into a name and an email with a
//! regex, then slices one *byte* before or after the email. When the
//! character next to the email is not ASCII (`José.garcia@example.com`,
//! `desk@example.com&#160;(Desk)`) that slice lands inside a character and
//! feed-rs panics. The panic is caught, but the whole feed would be lost on
//! every poll, and each poll would print a panic message.
//!
//! So before parsing, an ASCII space is put between an email-like token and a
//! neighbour that is (or, as a character reference, will become) non-ASCII —
//! only inside those elements, never in story text. Finding them costs a
//! search for `@`; documents without an `@` in such an element are not copied.

use std::borrow::Cow;

/// How far before an `@` the person element's start tag may be.
const MAX_LOOK_BACK: usize = 512;

/// Elements whose text feed-rs runs through its name/email splitter.
const PERSON_ELEMENTS: &[&str] = &["author", "managingEditor", "webMaster", "creator", "name"];

/// Inserts the spaces; returns the text (borrowed when unchanged) and how
/// many spaces were inserted.
pub(crate) fn guard_person_emails(text: &str) -> (Cow<'_, str>, usize) {
    space_out_emails(text, in_person_element, risky)
}

/// The same for a bare name (a JSON Feed author's `name`): every email in it,
/// and only non-ASCII neighbours count.
pub(crate) fn guard_plain_name(name: &str) -> Cow<'_, str> {
    let non_ascii =
        |text: &str, index: usize| text.as_bytes().get(index).is_some_and(|b| !b.is_ascii());
    space_out_emails(name, |_, _| true, non_ascii).0
}

fn space_out_emails(
    text: &str,
    in_scope: impl Fn(&str, usize) -> bool,
    risky: impl Fn(&str, usize) -> bool,
) -> (Cow<'_, str>, usize) {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied_upto = 0;
    let mut inserted = 0;
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|rest| rest.find('@')) {
        let at = from + found;
        from = at + 1;
        if !in_scope(text, at) {
            continue;
        }
        let (start, end) = token_bounds(bytes, at);
        for position in [start, end] {
            let needs_space = match position {
                p if p == start => p > 0 && risky(text, p - 1),
                p => p < bytes.len() && risky(text, p),
            };
            if needs_space && position >= copied_upto {
                let buffer = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                buffer.push_str(&text[copied_upto..position]);
                buffer.push(' ');
                copied_upto = position;
                inserted += 1;
            }
        }
        from = from.max(end);
    }
    let text = match out {
        None => Cow::Borrowed(text),
        Some(mut buffer) => {
            buffer.push_str(&text[copied_upto..]);
            Cow::Owned(buffer)
        }
    };
    (text, inserted)
}

/// True when the `@` at `at` is in the text of a person element: the nearest
/// tag before it (skipping a CDATA opener) is `<author>`, `<dc:creator>`, ….
fn in_person_element(text: &str, at: usize) -> bool {
    // Author fields are short; looking further back would make a long text
    // full of `@` (a feed of social posts) quadratic.
    let mut window_start = at.saturating_sub(MAX_LOOK_BACK);
    while !text.is_char_boundary(window_start) {
        window_start -= 1;
    }
    let mut before = &text[window_start..at];
    loop {
        let Some(lt) = before.rfind('<') else {
            return false;
        };
        let tag = &before[lt..];
        if tag.starts_with("<![CDATA[") {
            before = &before[..lt];
            continue;
        }
        if tag.starts_with("</") || !tag.contains('>') {
            return false;
        }
        let name = tag[1..]
            .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or(name);
        return PERSON_ELEMENTS.contains(&local);
    }
}

/// The email-like token around `@`, including the `mailto:` and bracket
/// characters feed-rs's regex may take in: [start, end).
fn token_bounds(bytes: &[u8], at: usize) -> (usize, usize) {
    let left = |b: u8| b.is_ascii_alphanumeric() || b"._%+-:<[(".contains(&b);
    let right = |b: u8| b.is_ascii_alphanumeric() || b".->])".contains(&b);
    let start = bytes[..at]
        .iter()
        .rposition(|&b| !left(b))
        .map_or(0, |p| p + 1);
    let end = bytes[at + 1..]
        .iter()
        .position(|&b| !right(b))
        .map_or(bytes.len(), |p| at + 1 + p);
    (start, end)
}

/// A neighbour that is, or becomes after XML decoding, non-ASCII: a
/// non-ASCII byte, or a character reference (ending at `;` on the left,
/// starting at `&` on the right) to a non-ASCII character. The entity
/// repairs ran before, so references are XML's five or numeric.
fn risky(text: &str, index: usize) -> bool {
    let Some(&byte) = text.as_bytes().get(index) else {
        return false;
    };
    let reference = match byte {
        b if !b.is_ascii() => return true,
        b';' => text[..index].rfind('&').map(|amp| &text[amp + 1..index]),
        b'&' => text[index + 1..]
            .find(';')
            .map(|semi| &text[index + 1..index + 1 + semi]),
        _ => return false,
    };
    reference.is_some_and(|name| !is_ascii_reference(name))
}

/// Whether the reference `&name;` stands for an ASCII character.
fn is_ascii_reference(name: &str) -> bool {
    if matches!(name, "lt" | "gt" | "amp" | "quot" | "apos") {
        return true;
    }
    let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => name
            .strip_prefix('#')
            .and_then(|decimal| decimal.parse::<u32>().ok()),
    };
    code.is_some_and(|code| code < 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(text: &str) -> String {
        guard_person_emails(text).0.into_owned()
    }

    #[test]
    fn spaces_separate_emails_from_non_ascii_neighbours() {
        assert_eq!(
            guard("<author>Jos\u{e9}.garcia@example.com</author>"),
            "<author>Jos\u{e9} .garcia@example.com</author>"
        );
        assert_eq!(
            guard("<dc:creator>desk@example.com&#160;(Desk)</dc:creator>"),
            "<dc:creator>desk@example.com &#160;(Desk)</dc:creator>"
        );
        assert_eq!(
            guard("<managingEditor><![CDATA[\u{b0}mailto:x@y.org\u{a0}]]></managingEditor>"),
            "<managingEditor><![CDATA[\u{b0} mailto:x@y.org \u{a0}]]></managingEditor>"
        );
    }

    #[test]
    fn plain_names() {
        assert_eq!(guard_plain_name("\u{b0}x@y.org"), "\u{b0} x@y.org");
        assert!(matches!(
            guard_plain_name("Ann (ann@example.com)"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn other_text_is_untouched() {
        for text in [
            "<description>write to jos\u{e9}@example.com\u{a0}now</description>",
            "<author>Ann &lt;ann@example.com&gt;</author>",
            "<author>Ann&#32;ann@example.com&#x20;</author>",
            "<author>ann@example.com (Ann)</author>",
            "no at sign",
        ] {
            let (out, count) = guard_person_emails(text);
            assert!(matches!(out, Cow::Borrowed(_)), "{text}");
            assert_eq!(count, 0);
        }
    }
}
