//! Parser: the bytes a server sent → our own [`ParsedFeed`], never a panic.
//!
//! feed-rs does the format work (RSS 0.9x/1.0/2.0, Atom, JSON Feed); this
//! module stands between it and the network so that what users see matches
//! what feed readers do, and so that a hostile or broken body is one feed's
//! error, never the daemon's:
//!
//! 1. [`encoding`] decodes the body to UTF-8 (BOM, HTTP charset, XML
//!    declaration, UTF-16/32) — feed-rs would panic on UTF-16BE;
//! 2. [`prolog`] recognises what the body is (HTML page, OPML, JSON, feed),
//!    drops the XML prolog (declaration, DOCTYPE and its entity definitions)
//!    and repairs the root tag;
//! 3. [`entities`] rewrites HTML entities and bare `&` into XML feed-rs reads,
//!    and [`persons`] keeps author emails away from a feed-rs panic;
//! 4. [`feedrs`] runs feed-rs behind `catch_unwind`; when it refuses a text
//!    `type` ([`text_types`]), crashes on a stray declaration, or rejects a
//!    JSON Feed field's type ([`json_repair`]), the document is repaired and
//!    parsed once more — only failing documents pay for that;
//! 5. [`convert`] maps its model to ours and enforces the entry contract.
//!
//! Errors say what the server sent and what to do, with a line and column
//! ([`position`]) for XML that is not well-formed.
//!
//! The hot path (valid UTF-8, nothing to repair) copies the body only inside
//! feed-rs's own buffered reader: decoding borrows, the prolog is sliced off,
//! the repairs borrow when there is nothing to repair.

mod convert;
mod encoding;
mod entities;
mod feedrs;
mod json_repair;
mod persons;
mod position;
mod prolog;
mod syndication;
mod tags;
mod text_types;

use std::borrow::Cow;
use std::io::Read;

use url::Url;

use crate::model::{FeedFormat, ParsedFeed};
use convert::Converter;
pub use encoding::{decode_to_utf8, Decoded};
use feedrs::{run_feed_rs, FeedRsFailure};
use prolog::{Rejection, Sniffed, XmlFeed};

/// Why a body could not be turned into a feed. Every message says what is
/// wrong and what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body was empty or only whitespace.
    #[error(
        "the server returned an empty document instead of a feed: this is usually temporary \
         (storywatch will retry); if it persists, check the feed URL in a browser"
    )]
    Empty,

    /// The body is something else (an HTML page, an OPML list, other JSON).
    #[error("the server returned {found}, not a feed: {advice}")]
    NotAFeed { found: String, advice: &'static str },

    /// The body is a feed but broken: not well-formed XML or JSON (often
    /// truncated), or missing what its format requires.
    #[error(
        "the feed could not be read: {message}. The publisher has to fix the feed; if it \
         persists, tell them (https://validator.w3.org/feed/ shows the problem)"
    )]
    Malformed { message: String },

    /// feed-rs panicked on this body; the panic was caught.
    #[error(
        "the feed parser crashed on this document ({message}): this is a bug in storywatch or \
         feed-rs, please report it with the feed URL"
    )]
    Panicked { message: String },
}

impl ParseError {
    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::NotAFeed { .. } => "not_a_feed",
            ParseError::Malformed { .. } => "malformed",
            ParseError::Panicked { .. } => "panicked",
        }
    }
}

impl From<Rejection> for ParseError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Empty => ParseError::Empty,
            Rejection::NotAFeed { found, advice } => ParseError::NotAFeed { found, advice },
            Rejection::Malformed(message) => ParseError::Malformed { message },
        }
    }
}

/// Parses a feed body.
///
/// - `content_type`: the HTTP `Content-Type` header, for its charset and for
///   messages (the body itself decides what the document is);
/// - `base_url`: the feed's URL, to make relative links absolute (ignored
///   when it is not an absolute URL).
///
/// Recoveries (charset guesses, repaired entities, …) are listed in
/// [`ParsedFeed::warnings`]. Never panics.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base_url: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let decoded = encoding::decode(body, content_type);
    let mut warnings = decoded.warnings;
    let base = base_url.and_then(|url| Url::parse(url.trim()).ok());
    match prolog::sniff(&decoded.text, content_type)? {
        Sniffed::Json => parse_json(&decoded.text, base, warnings),
        Sniffed::Xml(mut xml) => {
            warnings.append(&mut xml.warnings);
            parse_xml(&decoded.text, xml, base, warnings)
        }
    }
}

fn parse_xml(
    original: &str,
    xml: XmlFeed<'_>,
    base: Option<Url>,
    mut warnings: Vec<String>,
) -> Result<ParsedFeed, ParseError> {
    let mut repairs = entities::Repairs::default();
    let root_tag = entities::repair_references(&xml.root_tag, &mut repairs);
    let rest = entities::repair_references(xml.rest, &mut repairs);
    warnings.extend(repairs.warnings());
    let rest = match persons::guard_person_emails(&rest) {
        (Cow::Borrowed(_), _) => rest,
        (Cow::Owned(guarded), count) => {
            warnings.push(format!(
                "separated {count} author emails from non-ASCII neighbours (feed-rs would crash on them)"
            ));
            Cow::Owned(guarded)
        }
    };
    let tail = missing_root_close(&rest, xml.root_name, &mut warnings);
    let update_period_secs = syndication::update_period_secs(&rest);

    let mut body = rest;
    let mut second_chances = SecondChances::default();
    let feed = loop {
        let failure = match parse_pieces(&root_tag, &body, tail, base.as_ref()) {
            Ok(feed) => break Ok(feed),
            Err(failure) => failure,
        };
        match second_chances.repair(&failure, &body) {
            Some((repaired, warning)) => {
                warnings.push(warning);
                body = Cow::Owned(repaired);
            }
            None => break Err(failure),
        }
    }
    .map_err(|failure| {
        let locator = position::Locator {
            original,
            root_offset: xml.root_offset,
            root_tag_len: xml.root_tag_len,
            parsed_root_len: root_tag.len(),
        };
        let parsed = format!("{root_tag}{body}{tail}");
        feedrs::xml_error(failure, xml.root_name, &parsed, &locator)
    })?;
    let format = convert::format_from(&feed);
    Ok(Converter::new(base, format).feed(feed, update_period_secs, warnings))
}

/// A document that ends in `</rss` (only the last `>` missing) is complete:
/// every entry is closed, so finishing the tag loses and invents nothing.
fn missing_root_close(rest: &str, root_name: &str, warnings: &mut Vec<String>) -> &'static str {
    let end = rest.trim_end();
    let last = end
        .len()
        .checked_sub(root_name.len() + 2)
        .and_then(|cut| end.get(cut..));
    let unclosed = last.and_then(|last| last.strip_prefix("</")) == Some(root_name);
    if !unclosed {
        return "";
    }
    warnings.push(format!(
        "the document ends with </{root_name} without '>': added it"
    ));
    ">"
}

/// feed-rs over the pieces of a prepared document, without copying them
/// into one buffer.
fn parse_pieces(
    root_tag: &str,
    rest: &str,
    tail: &str,
    base: Option<&Url>,
) -> Result<feed_rs::model::Feed, FeedRsFailure> {
    let input = root_tag
        .as_bytes()
        .chain(rest.as_bytes())
        .chain(tail.as_bytes());
    run_feed_rs(input, base)
}

/// Repairs tried, each at most once, after feed-rs failed in a way a repair
/// can fix. A healthy feed is parsed once; the worst case is three parses.
#[derive(Default)]
struct SecondChances {
    text_types_tried: bool,
    declarations_tried: bool,
}

impl SecondChances {
    /// The repaired body and a warning saying what was done, or `None` when
    /// no untried repair applies (the failure stands).
    fn repair(&mut self, failure: &FeedRsFailure, body: &str) -> Option<(String, String)> {
        if !self.text_types_tried && feedrs::refused_a_text_type(failure) {
            self.text_types_tried = true;
            let (repaired, count) = text_types::normalise_text_types(body);
            return (count > 0).then(|| {
                let warning = format!(
                    "rewrote {count} unsupported type attributes of text elements (e.g. Atom 0.3's text/plain)"
                );
                (repaired.into_owned(), warning)
            });
        }
        if !self.declarations_tried && failure.is_panic() {
            self.declarations_tried = true;
            let (repaired, count) = entities::remove_all_declarations(body);
            return (count > 0).then(|| {
                let warning = format!(
                    "removed {count} XML declarations inside the document after feed-rs crashed"
                );
                (repaired.into_owned(), warning)
            });
        }
        None
    }
}

fn parse_json(
    text: &str,
    base: Option<Url>,
    mut warnings: Vec<String>,
) -> Result<ParsedFeed, ParseError> {
    let feed = match run_feed_rs(text.as_bytes(), None) {
        Err(failure)
            if feedrs::is_json_feed_with_bad_fields(&failure, text) || failure.is_panic() =>
        {
            match json_repair::repair_json_feed(text) {
                Some(repaired) => {
                    warnings.push(JSON_REPAIRED.to_string());
                    run_feed_rs(repaired.as_slice(), None).map_err(|_| failure)
                }
                None => Err(failure),
            }
        }
        outcome => outcome,
    }
    .map_err(|failure| feedrs::json_error(failure, text))?;
    Ok(Converter::new(base, FeedFormat::Json).feed(feed, None, warnings))
}

const JSON_REPAIRED: &str =
    "coerced JSON Feed fields of the wrong type (e.g. a string \"tags\", a numeric \"id\", an http:// version)";

#[cfg(test)]
mod tests;
