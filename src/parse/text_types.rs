//! Second-chance repair of `type` attributes that make feed-rs refuse a whole
//! feed.
//!
//! feed-rs accepts only `text`, `html`, `xhtml` (and `text/html`) on Atom text
//! constructs and only `plain`/`html` on MediaRSS texts; anything else —
//! Atom 0.3's MIME types (`text/plain`, `application/xhtml+xml`), a typo, a
//! `type="html"` next to `src` — fails the *whole* document with "unsupported
//! content type", although one field is at stake. feedparser reads such
//! feeds, so we do too: after feed-rs fails that way, the `type` attributes of
//! text elements are rewritten to what feed-rs understands and the document
//! is parsed again. Unknown types become plain text (escaped, so nothing
//! is lost or injected).
//!
//! This runs only after such a failure, so a healthy feed never pays for the
//! regex scan.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::tags::find_attribute;

/// Start tags of the elements whose `type` attribute feed-rs checks.
static TEXT_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<(?:([A-Za-z_][\w.-]*):)?(title|subtitle|summary|content|rights|tagline|copyright|info|description|text)\b[^<>]*>")
        .expect("the pattern is a valid regex")
});

/// Rewrites unsupported `type` values; returns the text (borrowed when
/// nothing changed) and how many attributes were rewritten.
pub(crate) fn normalise_text_types(text: &str) -> (Cow<'_, str>, usize) {
    let mut out: Option<String> = None;
    let mut copied_upto = 0;
    let mut rewritten = 0;
    for caps in TEXT_ELEMENT.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let prefix = caps.get(1).map(|m| m.as_str());
        let local = caps.get(2).map_or("", |m| m.as_str());
        if let Some(new_tag) = rewrite_tag(whole.as_str(), prefix, local) {
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
            buffer.push_str(&text[copied_upto..whole.start()]);
            buffer.push_str(&new_tag);
            copied_upto = whole.end();
            rewritten += 1;
        }
    }
    let out = match out {
        None => Cow::Borrowed(text),
        Some(mut buffer) => {
            buffer.push_str(&text[copied_upto..]);
            Cow::Owned(buffer)
        }
    };
    (out, rewritten)
}

/// The tag with its `type` value replaced, or `None` when it is fine.
fn rewrite_tag(tag: &str, prefix: Option<&str>, local: &str) -> Option<String> {
    let attr = find_attribute(tag, "type")?;
    let value = attr.value(tag);
    let wanted = if prefix == Some("media") {
        media_type_value(value)
    } else if local == "content" && find_attribute(tag, "src").is_some() {
        out_of_line_type_value(value)
    } else if local == "content" {
        content_type_value(value)
    } else {
        text_construct_value(value)
    };
    (wanted != value).then(|| {
        format!(
            "{}{wanted}{}",
            &tag[..attr.value_start],
            &tag[attr.value_end..]
        )
    })
}

/// `text`, `html` or `xhtml` for a known spelling, else `None`.
fn known(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" | "text/plain" | "plain" => Some("text"),
        "html" | "text/html" => Some("html"),
        "xhtml" | "application/xhtml+xml" => Some("xhtml"),
        _ => None,
    }
}

/// Atom text constructs (`title`, `summary`, …): unknown → `text`.
fn text_construct_value(value: &str) -> &str {
    if matches!(value, "text" | "html" | "xhtml" | "text/html") {
        return value;
    }
    known(value).unwrap_or("text")
}

/// Inline Atom `content`: any MIME type is allowed, but XML types and
/// non-MIME values make feed-rs fail.
fn content_type_value(value: &str) -> &str {
    if let Some(known) = known(value) {
        return if value == known || value == "text/html" {
            value
        } else {
            known
        };
    }
    let lower = value.trim().to_ascii_lowercase();
    let is_mime = lower
        .split_once('/')
        .is_some_and(|(ty, sub)| !ty.is_empty() && !sub.is_empty());
    if !is_mime || lower.ends_with("/xml") || lower.ends_with("+xml") {
        "text"
    } else {
        value
    }
}

/// Out-of-line content (`src=…`) needs a MIME type.
fn out_of_line_type_value(value: &str) -> &str {
    match known(value) {
        Some("text") => "text/plain",
        Some("html") => "text/html",
        Some(_) => "application/xhtml+xml",
        None if value.contains('/') => value,
        None => "text/plain",
    }
}

/// MediaRSS texts take `plain` or `html`.
fn media_type_value(value: &str) -> &str {
    match known(value) {
        Some("html") | Some("xhtml") => "html",
        _ => "plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalise(text: &str) -> String {
        normalise_text_types(text).0.into_owned()
    }

    #[test]
    fn atom_03_mime_types_become_atom_10_values() {
        assert_eq!(
            normalise("<title type=\"text/plain\" mode=\"escaped\">a</title><summary type='application/xhtml+xml'>"),
            "<title type=\"text\" mode=\"escaped\">a</title><summary type='xhtml'>"
        );
        assert_eq!(
            normalise("<atom:subtitle type=\"image/jpeg\">"),
            "<atom:subtitle type=\"text\">"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            normalise("<content type=\"application/xhtml+xml\">"),
            "<content type=\"xhtml\">"
        );
        assert_eq!(
            normalise("<content type=\"text/xml\">"),
            "<content type=\"text\">"
        );
        assert_eq!(
            normalise("<content type=\"invalid\">"),
            "<content type=\"text\">"
        );
        assert_eq!(
            normalise("<content type=\"image/png\">"),
            "<content type=\"image/png\">"
        );
        assert_eq!(
            normalise("<content type=\"html\" src=\"/a\"/>"),
            "<content type=\"text/html\" src=\"/a\"/>"
        );
    }

    #[test]
    fn media_texts() {
        assert_eq!(
            normalise("<media:title type=\"text/html\">"),
            "<media:title type=\"html\">"
        );
        assert_eq!(
            normalise("<media:description type=\"text\">"),
            "<media:description type=\"plain\">"
        );
    }

    #[test]
    fn valid_documents_are_borrowed() {
        let text = "<feed><title type=\"html\">x</title><content type=\"xhtml\"><div/></content><link type=\"text/html\"/></feed>";
        let (out, count) = normalise_text_types(text);
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(count, 0);
    }
}
