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
//! 3. [`entities`] rewrites HTML entities and bare `&` into XML feed-rs reads;
//! 4. feed-rs parses, behind `catch_unwind` (and, if it refused a text
//!    element's `type`, once more after [`text_types`] repaired them);
//! 5. [`convert`] maps its model to ours and enforces the entry contract.
//!
//! The hot path (valid UTF-8, nothing to repair) copies the body only inside
//! feed-rs's own buffered reader: decoding borrows, the prolog is sliced off,
//! the repairs borrow when there is nothing to repair.

mod convert;
mod encoding;
mod entities;
mod json_repair;
mod persons;
mod position;
mod prolog;
mod syndication;
mod tags;
mod text_types;

use std::borrow::Cow;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use url::Url;

use crate::model::{FeedFormat, ParsedFeed};
use convert::{Converter, GENERATED_ID};
pub use encoding::{decode_to_utf8, Decoded};
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
         feed-rs, please report it with the feed URL; the feed is skipped until it changes"
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
        Sniffed::Xml(xml) => {
            warnings.extend(xml.warnings.iter().cloned());
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
        xml_error(failure, xml.root_name, &parsed, &locator)
    })?;
    let format = convert::format_from(&feed);
    Ok(Converter::new(base, format).feed(feed, update_period_secs, warnings))
}

/// A document that ends in `</rss` (only the last `>` missing) is complete:
/// every entry is closed, so finishing the tag loses and invents nothing.
fn missing_root_close(rest: &str, root_name: &str, warnings: &mut Vec<String>) -> &'static str {
    let end = rest.trim_end();
    let cut = end.len().checked_sub(root_name.len() + 2);
    let unclosed = cut.and_then(|cut| end.get(cut..)).is_some_and(|last| {
        last.strip_prefix("</")
            .is_some_and(|name| name == root_name)
    });
    if unclosed {
        warnings.push(format!(
            "the document ends with </{root_name} without '>': added it"
        ));
        ">"
    } else {
        ""
    }
}

fn refused_a_text_type(failure: &FeedRsFailure) -> bool {
    matches!(
        failure,
        FeedRsFailure::Error(ParseFeedError::ParseError(
            ParseErrorKind::UnknownMimeType { .. } | ParseErrorKind::MissingContent { .. }
        ))
    )
}

/// feed-rs over the pieces of a prepared document, without copying them
/// into one buffer.
fn parse_pieces(
    root_tag: &str,
    rest: &str,
    tail: &str,
    base: Option<&Url>,
) -> Result<feed_rs::model::Feed, FeedRsFailure> {
    let input = root_tag.as_bytes().chain(rest.as_bytes()).chain(tail.as_bytes());
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
        if !self.text_types_tried && refused_a_text_type(failure) {
            self.text_types_tried = true;
            let (repaired, count) = text_types::normalise_text_types(body);
            return (count > 0).then(|| {
                let warning = format!(
                    "rewrote {count} unsupported type attributes of text elements (e.g. Atom 0.3's text/plain)"
                );
                (repaired.into_owned(), warning)
            });
        }
        if !self.declarations_tried && matches!(failure, FeedRsFailure::Panic(_)) {
            self.declarations_tried = true;
            let (repaired, count) = entities::remove_all_declarations(body);
            return (count > 0).then(|| {
                let warning = format!("removed {count} XML declarations inside the document after feed-rs crashed");
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
        Err(failure) if is_json_feed_with_bad_fields(&failure, text) || matches!(failure, FeedRsFailure::Panic(_)) => {
            match json_repair::repair_json_feed(text) {
                Some(repaired) => {
                    warnings.push(
                        "coerced JSON Feed fields of the wrong type (e.g. a string \"tags\", a numeric \"id\", \
                         an http:// version URL)"
                            .to_string(),
                    );
                    run_feed_rs(repaired.as_slice(), None).map_err(|_| failure)
                }
                None => Err(failure),
            }
        }
        outcome => outcome,
    }
    .map_err(|failure| json_error(failure, text))?;
    Ok(Converter::new(base, FeedFormat::Json).feed(feed, None, warnings))
}

/// A document that names jsonfeed.org and failed only on field types or the
/// version string is worth a repair; syntax errors and truncation are not.
fn is_json_feed_with_bad_fields(failure: &FeedRsFailure, text: &str) -> bool {
    let fixable = match failure {
        FeedRsFailure::Error(ParseFeedError::JsonSerde(error)) => error.is_data(),
        FeedRsFailure::Error(ParseFeedError::JsonUnsupportedVersion(_)) => true,
        _ => false,
    };
    fixable && text.contains("jsonfeed.org")
}

/// What went wrong inside feed-rs.
enum FeedRsFailure {
    Error(ParseFeedError),
    Panic(String),
}

/// Runs feed-rs on UTF-8 input behind `catch_unwind`.
///
/// A parser is built per call: it carries per-document state in a `RefCell`
/// (MediaRSS), which a caught panic could leave half-updated.
fn run_feed_rs<R: Read>(
    input: R,
    base: Option<&Url>,
) -> Result<feed_rs::model::Feed, FeedRsFailure> {
    let outcome = catch_unwind(AssertUnwindSafe(move || {
        feed_rs::parser::Builder::new()
            .base_uri(base.map(Url::as_str))
            .sanitize_content(false)
            .id_generator(|_links, _title, _base| GENERATED_ID.to_string())
            .build()
            .parse(input)
    }));
    match outcome {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(error)) => Err(FeedRsFailure::Error(error)),
        Err(payload) => Err(FeedRsFailure::Panic(panic_message(payload.as_ref()))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Turns a feed-rs failure on XML into our error, with the position of the
/// problem in the document when it can be found.
fn xml_error(failure: FeedRsFailure, root_name: &str, parsed: &str, locator: &position::Locator) -> ParseError {
    let error = match failure {
        FeedRsFailure::Panic(message) => return ParseError::Panicked { message },
        FeedRsFailure::Error(error) => error,
    };
    let message = match &error {
        ParseFeedError::XmlReader(xml) => {
            let detail = xml.to_string();
            let detail = detail.strip_prefix("Parser error: ").unwrap_or(&detail);
            match position::first_syntax_error(parsed) {
                _ if detail.contains("end of input") => format!(
                    "it is not well-formed XML ({detail}): the document ends before its elements are \
                     closed, so it was probably cut off in transit or by the server"
                ),
                Some(offset) => format!("it is not well-formed XML {} ({detail})", locator.describe(offset)),
                None => format!("it is not well-formed XML ({detail})"),
            }
        }
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) if root_name.eq_ignore_ascii_case("rss") => {
            format!("the <{root_name}> element has no <channel> element, so there is nothing to read")
        }
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            format!("the root element <{root_name}> is not one of RSS's (<rss>, <rdf:RDF>) or Atom's (<feed>)")
        }
        ParseFeedError::ParseError(kind) => match feed_rs_position(kind) {
            Some(offset) => format!("{} ({kind})", locator.describe(offset)),
            None => kind.to_string(),
        },
        other => other.to_string(),
    };
    ParseError::Malformed { message }
}

/// The byte position feed-rs attaches to some of its errors.
fn feed_rs_position(kind: &ParseErrorKind) -> Option<usize> {
    match kind {
        ParseErrorKind::UnknownMimeType { position, .. }
        | ParseErrorKind::MissingContent { position, .. }
        | ParseErrorKind::UnknownEnumVariant { position, .. }
        | ParseErrorKind::IllegalState { position, .. } => usize::try_from(*position).ok(),
        ParseErrorKind::NoFeedRoot => None,
    }
}

fn json_error(failure: FeedRsFailure, text: &str) -> ParseError {
    let error = match failure {
        FeedRsFailure::Panic(message) => return ParseError::Panicked { message },
        FeedRsFailure::Error(error) => error,
    };
    let looks_like_json_feed = text.contains("jsonfeed.org");
    match error {
        ParseFeedError::JsonUnsupportedVersion(version) => ParseError::NotAFeed {
            found: format!("a JSON document that is not a JSON Feed (version \"{version}\")"),
            advice: prolog::ADVICE_JSON,
        },
        ParseFeedError::JsonSerde(error) if error.is_eof() => ParseError::Malformed {
            message: format!("the JSON ends early ({error}): it was probably cut off in transit or by the server"),
        },
        ParseFeedError::JsonSerde(error) if error.is_data() && !looks_like_json_feed => ParseError::NotAFeed {
            found: format!("a JSON document that is not a JSON Feed ({error})"),
            advice: prolog::ADVICE_JSON,
        },
        ParseFeedError::JsonSerde(error) if error.is_data() => ParseError::Malformed {
            message: format!("the JSON Feed lacks a required field or has one of the wrong type ({error})"),
        },
        ParseFeedError::JsonSerde(error) => ParseError::Malformed {
            message: format!("it is not valid JSON ({error})"),
        },
        other => ParseError::Malformed {
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
