//! The boundary with feed-rs: running it so that a panic becomes an error
//! value, and turning its errors into ours, with a position and advice.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use url::Url;

use super::convert::GENERATED_ID;
use super::{position, prolog, ParseError};

/// What went wrong inside feed-rs.
pub(crate) enum FeedRsFailure {
    Error(ParseFeedError),
    Panic(String),
}

impl FeedRsFailure {
    pub(crate) fn is_panic(&self) -> bool {
        matches!(self, FeedRsFailure::Panic(_))
    }
}

/// Runs feed-rs on UTF-8 input behind `catch_unwind`.
///
/// A parser is built per call: it carries per-document state in a `RefCell`
/// (MediaRSS), which a caught panic could leave half-updated.
pub(crate) fn run_feed_rs<R: Read>(
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
pub(crate) fn xml_error(
    failure: FeedRsFailure,
    root_name: &str,
    parsed: &str,
    locator: &position::Locator,
) -> ParseError {
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
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot)
            if root_name.eq_ignore_ascii_case("rss") =>
        {
            format!(
                "the <{root_name}> element has no <channel> element, so there is nothing to read"
            )
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

pub(crate) fn json_error(failure: FeedRsFailure, text: &str) -> ParseError {
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

/// feed-rs refused an Atom or MediaRSS `type` attribute (a retry with
/// [`super::text_types`] can fix that).
pub(crate) fn refused_a_text_type(failure: &FeedRsFailure) -> bool {
    matches!(
        failure,
        FeedRsFailure::Error(ParseFeedError::ParseError(
            ParseErrorKind::UnknownMimeType { .. } | ParseErrorKind::MissingContent { .. }
        ))
    )
}

/// A document that names jsonfeed.org and failed only on field types or the
/// version string is worth [`super::json_repair`]; syntax errors and
/// truncation are not.
pub(crate) fn is_json_feed_with_bad_fields(failure: &FeedRsFailure, text: &str) -> bool {
    let fixable = match failure {
        FeedRsFailure::Error(ParseFeedError::JsonSerde(error)) => error.is_data(),
        FeedRsFailure::Error(ParseFeedError::JsonUnsupportedVersion(_)) => true,
        _ => false,
    };
    fixable && text.contains("jsonfeed.org")
}
