//! Looking at the start of a decoded document: is it a feed at all, and what
//! must change before feed-rs sees it?
//!
//! Recognising non-feeds here gives users a message about what the server
//! really sent (an HTML login page, an OPML list, an API's JSON) instead of a
//! parser's "no root element". For XML the prolog (XML declaration, comments,
//! processing instructions, DOCTYPE) is dropped entirely: the declaration's
//! `encoding` would make quick-xml decode our UTF-8 a second time, and a
//! DOCTYPE's internal subset is where entity bombs and external entities
//! live. Nothing in a prolog carries feed data.
//!
//! The root start tag is also where a few harmless spec violations that
//! feed-rs would refuse are repaired (each with a warning):
//! - `<rss>` without a `version`, or with one feed-rs does not know (`2.01`,
//!   `0.94`): read as RSS 2.0 (0.9x as 0.92), like feedparser;
//! - a default namespace on `<rss>` (`xmlns="http://backend.userland.com/rss2"`):
//!   RSS 2.0 has none, and with one feed-rs would see no element at all;
//! - RSS 0.90's and Atom 0.3's namespaces are mapped to RSS 1.0's and Atom
//!   1.0's, whose elements feed-rs reads (the shared ones mean the same).

use std::borrow::Cow;

use super::tags::{element_name, find_attribute, start_tag_len};

/// What the document turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sniffed<'a> {
    /// Starts with `{`: JSON (maybe a JSON Feed).
    Json,
    /// An XML document with a feed root element.
    Xml(XmlFeed<'a>),
}

/// A feed's XML with the prolog removed, ready for the reference repairs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct XmlFeed<'a> {
    /// The root start tag, possibly rewritten.
    pub root_tag: Cow<'a, str>,
    /// Everything after the root start tag.
    pub rest: &'a str,
    /// The root element's qualified name (`rss`, `feed`, `rdf:RDF`).
    pub root_name: &'a str,
    /// Where the root start tag is in the decoded document, and its length
    /// there (for error positions).
    pub root_offset: usize,
    pub root_tag_len: usize,
    pub warnings: Vec<String>,
}

/// Why the document is not one we can read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    Empty,
    /// What was found instead, and what the user should do about it.
    NotAFeed {
        found: String,
        advice: &'static str,
    },
    Malformed(String),
}

pub(crate) const ADVICE_HTML: &str =
    "check the feed URL: the site may have moved the feed, need a login, or be \
     showing an error or consent page; open the URL in a browser and use the page's RSS/Atom link";
const ADVICE_OPML: &str =
    "an OPML file lists feeds rather than being one: add the feeds it lists (their xmlUrl) instead";
const ADVICE_XML: &str =
    "check the feed URL: storywatch reads RSS (<rss>, <rdf:RDF>), Atom (<feed>) and JSON Feed";
pub(crate) const ADVICE_JSON: &str =
    "check the feed URL: this looks like an API response, not a feed";
const ADVICE_TEXT: &str =
    "check the feed URL: the server sent an error message or a file that is not a feed";

/// Root element names of HTML pages (an HTML body need not start with `<html>`).
const HTML_ROOTS: &[&str] = &[
    "html", "head", "body", "meta", "title", "script", "style", "link", "div", "p", "table",
    "center", "h1", "h2", "br", "form", "iframe", "noscript", "pre",
];

/// Classifies `text` and strips its prolog. `content_type` only enriches
/// messages: what the body is decides, since servers label feeds `text/html`
/// or `text/plain` all the time.
pub(crate) fn sniff<'a>(
    text: &'a str,
    content_type: Option<&str>,
) -> Result<Sniffed<'a>, Rejection> {
    let mut warnings = Vec::new();
    let mut pos = 0;
    let mut saw_markup = false;
    loop {
        let rest = &text[pos..];
        let trimmed = rest.trim_start_matches(is_xml_space);
        pos = text.len() - trimmed.len();
        if trimmed.is_empty() {
            return Err(if saw_markup {
                Rejection::Malformed(
                    "the document has no element, only an XML declaration or comments: it is probably truncated"
                        .into(),
                )
            } else {
                Rejection::Empty
            });
        }
        if !saw_markup && trimmed.starts_with('{') {
            return Ok(Sniffed::Json);
        }
        if !saw_markup && trimmed.starts_with('[') {
            return Err(not_a_feed(
                "a JSON document that is not a JSON Feed (a JSON array)",
                ADVICE_JSON,
            ));
        }
        match next_prolog_item(trimmed)? {
            PrologItem::Skip(len) => pos += len,
            PrologItem::Root => return root(text, pos, content_type, warnings),
            PrologItem::Junk if trimmed.starts_with('<') => {
                return Err(Rejection::Malformed(
                    "the document starts with '<' but not with an element, declaration or comment"
                        .into(),
                ))
            }
            PrologItem::Junk => {
                // Never 0: the text does not start with '<'.
                let Some(lt) = trimmed.find('<') else {
                    return Err(not_a_feed("plain text", ADVICE_TEXT));
                };
                warnings.push(format!(
                    "ignored {lt} bytes of text before the first element"
                ));
                pos += lt;
            }
        }
        saw_markup = true;
    }
}

enum PrologItem {
    /// A declaration, comment, PI or DOCTYPE of this length: drop it.
    Skip(usize),
    /// The root element starts here.
    Root,
    /// Text that cannot be in a prolog.
    Junk,
}

fn next_prolog_item(text: &str) -> Result<PrologItem, Rejection> {
    if text.starts_with("<?") {
        let end = text.find("?>").ok_or_else(|| {
            Rejection::Malformed(
                "an XML declaration or processing instruction is never closed with ?>".into(),
            )
        })?;
        return Ok(PrologItem::Skip(end + 2));
    }
    if text.starts_with("<!--") {
        let end = text
            .find("-->")
            .ok_or_else(|| Rejection::Malformed("a comment is never closed with -->".into()))?;
        return Ok(PrologItem::Skip(end + 3));
    }
    if starts_with_ignore_case(text, "<!DOCTYPE") {
        // Even `<!DOCTYPE html …>` decides nothing: some feeds carry one by
        // mistake, and an HTML page is recognised by its root element.
        return doctype_len(text).map(PrologItem::Skip);
    }
    if text.starts_with('<') && text[1..].starts_with(is_name_start) {
        return Ok(PrologItem::Root);
    }
    Ok(PrologItem::Junk)
}

/// Length of a DOCTYPE declaration, internal subset included. The subset
/// may hold `>` inside quoted strings and comments, so those are skipped.
fn doctype_len(text: &str) -> Result<usize, Rejection> {
    let bytes = text.as_bytes();
    let mut i = "<!DOCTYPE".len();
    let mut in_subset = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'\'' => {
                let close = text[i + 1..].find(b as char).ok_or_else(unclosed_doctype)?;
                i += close + 2;
                continue;
            }
            b'<' if text[i..].starts_with("<!--") => {
                let close = text[i..].find("-->").ok_or_else(unclosed_doctype)?;
                i += close + 3;
                continue;
            }
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return Ok(i + 1),
            _ => {}
        }
        i += 1;
    }
    Err(unclosed_doctype())
}

fn unclosed_doctype() -> Rejection {
    Rejection::Malformed(
        "the DOCTYPE declaration is never closed: the document is probably truncated".into(),
    )
}

/// Classifies the root element at `text[pos..]` and prepares the XML.
fn root<'a>(
    text: &'a str,
    pos: usize,
    content_type: Option<&str>,
    mut warnings: Vec<String>,
) -> Result<Sniffed<'a>, Rejection> {
    let tag_text = &text[pos..];
    let tag_len = start_tag_len(tag_text).ok_or_else(|| {
        Rejection::Malformed("the root element's start tag is never closed with '>'".into())
    })?;
    let tag = &tag_text[..tag_len];
    let name = element_name(tag);
    let local = name.rsplit(':').next().unwrap_or(name);
    let root_tag = match local.to_ascii_lowercase().as_str() {
        "rss" => patch_rss(tag, name, &mut warnings),
        "rdf" => patch_namespace(tag, RSS090_NS, RSS10_NS, "RSS 0.90", &mut warnings),
        "feed" | "entry" => patch_namespace(tag, ATOM03_NS, ATOM10_NS, "Atom 0.3", &mut warnings),
        "opml" => return Err(not_a_feed("an OPML subscription list", ADVICE_OPML)),
        "channel" if name == "CHANNEL" => {
            return Err(not_a_feed(
                "a Microsoft CDF channel (a pre-RSS format storywatch does not read)",
                ADVICE_XML,
            ))
        }
        lower if HTML_ROOTS.contains(&lower) => return Err(html_page(content_type)),
        _ => {
            return Err(not_a_feed(
                &format!("an XML document whose root element is <{name}>"),
                ADVICE_XML,
            ))
        }
    };
    Ok(Sniffed::Xml(XmlFeed {
        root_tag,
        rest: &tag_text[tag_len..],
        root_name: name,
        root_offset: pos,
        root_tag_len: tag_len,
        warnings,
    }))
}

const RSS090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS10_NS: &str = "http://purl.org/rss/1.0/";
const ATOM03_NS: &str = "http://purl.org/atom/ns#";
const ATOM10_NS: &str = "http://www.w3.org/2005/Atom";

/// Gives `<rss>` a version feed-rs accepts and drops a default namespace.
fn patch_rss<'a>(tag: &'a str, name: &str, warnings: &mut Vec<String>) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(tag);
    if let Some(ns) = find_attribute(tag, "xmlns") {
        if !ns.value(tag).is_empty() {
            warnings.push(format!(
                "ignored the default namespace \"{}\" on <rss> (RSS 2.0 has none)",
                ns.value(tag)
            ));
            let before = tag[..ns.name_start].trim_end();
            out = Cow::Owned(format!("{before}{}", &tag[ns.value_end + 1..]));
        }
    }
    let current = out.clone();
    match find_attribute(&current, "version") {
        None => {
            warnings.push("the <rss> element has no version attribute: read it as RSS 2.0".into());
            let at = name.len() + 1;
            out = Cow::Owned(format!(
                "{} version=\"2.0\"{}",
                &current[..at],
                &current[at..]
            ));
        }
        Some(attr) => {
            let version = attr.value(&current).trim();
            let supported = match version {
                "2.0" | "0.91" | "0.92" | "" => version,
                v if v.starts_with("0.9") => "0.92",
                _ => "2.0",
            };
            if supported != attr.value(&current) {
                if supported != version {
                    warnings.push(format!(
                        "unknown RSS version \"{version}\": read it as RSS {supported}"
                    ));
                }
                out = Cow::Owned(format!(
                    "{}{supported}{}",
                    &current[..attr.value_start],
                    &current[attr.value_end..]
                ));
            }
        }
    }
    out
}

/// Replaces an obsolete default namespace that feed-rs does not know with its
/// successor's.
fn patch_namespace<'a>(
    tag: &'a str,
    old: &str,
    new: &str,
    what: &str,
    warnings: &mut Vec<String>,
) -> Cow<'a, str> {
    match find_attribute(tag, "xmlns") {
        Some(ns) if ns.value(tag).trim() == old => {
            warnings.push(format!(
                "read the {what} document with its successor's namespace"
            ));
            Cow::Owned(format!(
                "{}{new}{}",
                &tag[..ns.value_start],
                &tag[ns.value_end..]
            ))
        }
        _ => Cow::Borrowed(tag),
    }
}

fn html_page(content_type: Option<&str>) -> Rejection {
    let found = match content_type {
        Some(content_type) => format!("an HTML page (Content-Type: {content_type})"),
        None => "an HTML page".to_string(),
    };
    not_a_feed(&found, ADVICE_HTML)
}

fn not_a_feed(found: &str, advice: &'static str) -> Rejection {
    Rejection::NotAFeed {
        found: found.to_string(),
        advice,
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(text: &str) -> XmlFeed<'_> {
        match sniff(text, None) {
            Ok(Sniffed::Xml(feed)) => feed,
            other => panic!("expected XML, got {other:?}"),
        }
    }

    #[test]
    fn prolog_is_removed() {
        let text = "\n<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!-- c -->\n<?xml-stylesheet href=\"s.xsl\"?>\n\
                    <!DOCTYPE rss PUBLIC \"-//Netscape//DTD RSS 0.91//EN\" \"http://x/rss.dtd\">\n<rss version=\"2.0\"><channel/></rss>";
        let feed = xml(text);
        assert_eq!(feed.root_tag, "<rss version=\"2.0\">");
        assert_eq!(feed.rest, "<channel/></rss>");
        assert!(feed.warnings.is_empty());
    }

    #[test]
    fn internal_subset_is_removed() {
        let text = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">\
                    <!-- ] > --><!ENTITY x SYSTEM 'file:///etc/passwd'>]><rss version=\"2.0\">&lol2;&x;</rss>";
        let feed = xml(text);
        assert_eq!(feed.root_tag, "<rss version=\"2.0\">");
        assert_eq!(feed.rest, "&lol2;&x;</rss>");
    }

    #[test]
    fn rss_version_is_repaired() {
        assert_eq!(
            xml("<rss><channel/></rss>").root_tag,
            "<rss version=\"2.0\">"
        );
        assert_eq!(xml("<rss version='2.01'>").root_tag, "<rss version='2.0'>");
        assert_eq!(
            xml("<rss version=\"0.94\">").root_tag,
            "<rss version=\"0.92\">"
        );
        assert_eq!(
            xml("<rss version=\" 2.0 \">").root_tag,
            "<rss version=\"2.0\">"
        );
        assert_eq!(
            xml("<rss xmlns=\"http://backend.userland.com/rss2\" version=\"2.0\">").root_tag,
            "<rss version=\"2.0\">"
        );
        let unchanged = xml("<rss version=\"0.91\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">");
        assert!(matches!(unchanged.root_tag, Cow::Borrowed(_)));
    }

    #[test]
    fn obsolete_namespaces_are_mapped() {
        let rdf = xml("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">");
        assert!(rdf.root_tag.contains("xmlns=\"http://purl.org/rss/1.0/\""));
        let atom = xml("<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\">");
        assert!(atom
            .root_tag
            .contains("xmlns=\"http://www.w3.org/2005/Atom\""));
    }

    #[test]
    fn non_feeds_are_named() {
        let cases = [
            (
                "<!DOCTYPE html><html><body>login</body></html>",
                "an HTML page",
            ),
            (
                "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"x\">\n<html>",
                "an HTML page",
            ),
            ("<html lang=en>", "an HTML page"),
            ("  <HTML>", "an HTML page"),
            (
                "<?xml version='1.0'?><opml version='2.0'><body/></opml>",
                "an OPML subscription list",
            ),
            (
                "<Error><Code>AccessDenied</Code></Error>",
                "an XML document whose root element is <Error>",
            ),
            ("Service Unavailable", "plain text"),
            (
                "[1, 2]",
                "a JSON document that is not a JSON Feed (a JSON array)",
            ),
        ];
        for (text, expected) in cases {
            match sniff(text, None) {
                Err(Rejection::NotAFeed { found, .. }) => assert_eq!(found, expected, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_and_truncated_prologs() {
        assert_eq!(sniff(" \r\n\t", None), Err(Rejection::Empty));
        assert!(matches!(
            sniff("<?xml version='1.0'?>\n", None),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            sniff("<?xml version='1.0'", None),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            sniff("<!DOCTYPE rss [ <!ENTITY a 'b'>", None),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            sniff("<rss version=\"2.0\"", None),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(sniff("<", None), Err(Rejection::Malformed(_))));
        assert!(matches!(
            sniff("junk < rss>", None),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn html_doctype_before_a_feed_root_is_ignored() {
        let feed =
            xml("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"x\"><rss version=\"2.0\">");
        assert_eq!(feed.root_name, "rss");
    }

    #[test]
    fn json_and_leading_junk() {
        assert_eq!(sniff(" {\"version\":1}", None), Ok(Sniffed::Json));
        let feed = xml("Warning: something in feed.php\n<rss version=\"2.0\">");
        assert_eq!(feed.warnings.len(), 1);
    }
}
