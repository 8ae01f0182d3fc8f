//! End-to-end tests of [`super::parse_feed`] on small self-written documents,
//! one or more per rule of the parser's contract.

use super::feedrs::{run_feed_rs, xml_error, FeedRsFailure};
use super::*;
use crate::model::{Entry, FeedFormat};

fn parse(text: &str) -> ParsedFeed {
    match parse_feed(text.as_bytes(), None, None) {
        Ok(feed) => feed,
        Err(error) => panic!("expected a feed, got: {error}"),
    }
}

fn parse_err(body: &[u8], content_type: Option<&str>) -> ParseError {
    match parse_feed(body, content_type, None) {
        Ok(feed) => panic!("expected an error, got {feed:?}"),
        Err(error) => error,
    }
}

fn only_entry(feed: &ParsedFeed) -> &Entry {
    assert_eq!(feed.entries.len(), 1, "{feed:?}");
    &feed.entries[0]
}

fn rss_item(item: &str) -> String {
    format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><link>https://example.com/</link>{item}</channel></rss>")
}

const RSS2: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel>
  <title>Example News</title>
  <link>https://news.example.com/</link>
  <ttl>15</ttl>
  <sy:updatePeriod>hourly</sy:updatePeriod>
  <sy:updateFrequency>4</sy:updateFrequency>
  <item>
    <title>Storm hits coast</title>
    <link>https://news.example.com/storm</link>
    <guid isPermaLink="false"> story-1 </guid>
    <description>&lt;p&gt;Winds of &lt;b&gt;100 km/h&lt;/b&gt;&lt;/p&gt;</description>
    <content:encoded><![CDATA[<p>Full text & more</p>]]></content:encoded>
    <dc:creator>Jane Doe</dc:creator>
    <category>Weather</category>
    <enclosure url="https://cdn.example.com/storm.mp3" length="1000" type="audio/mpeg"/>
    <pubDate>Tue, 03 Jun 2025 09:39:21 GMT</pubDate>
  </item>
</channel>
</rss>"#;

#[test]
fn rss2_maps_every_field() {
    let feed = parse(RSS2);
    assert_eq!(feed.format, FeedFormat::Rss2);
    assert_eq!(feed.title.as_deref(), Some("Example News"));
    assert_eq!(feed.link.as_deref(), Some("https://news.example.com/"));
    assert_eq!(feed.ttl_minutes, Some(15));
    assert_eq!(feed.update_period_secs, Some(900));
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);
    let entry = only_entry(&feed);
    assert_eq!(entry.guid.as_deref(), Some("story-1"));
    assert_eq!(
        entry.link.as_deref(),
        Some("https://news.example.com/storm")
    );
    assert_eq!(entry.title, "Storm hits coast");
    assert_eq!(entry.summary, "<p>Winds of <b>100 km/h</b></p>");
    assert_eq!(entry.content, "<p>Full text & more</p>");
    assert_eq!(entry.authors, ["Jane Doe"]);
    assert_eq!(entry.categories, ["Weather"]);
    assert_eq!(entry.enclosures, ["https://cdn.example.com/storm.mp3"]);
    assert_eq!(entry.published, Some(1_748_943_561_000));
    // An RSS pubDate alone is not an update date.
    assert_eq!(entry.updated, None);
}

#[test]
fn rss1_is_read() {
    let feed = parse(
        r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://example.org/"><title>RDF site</title><link>https://example.org/</link></channel>
  <item rdf:about="https://example.org/a">
    <title>First</title><link>https://example.org/a</link>
    <description>Plain &amp; simple</description>
    <dc:creator>Ann</dc:creator><dc:date>2024-01-02T03:04:05Z</dc:date>
  </item>
</rdf:RDF>"#,
    );
    assert_eq!(feed.format, FeedFormat::Rss1);
    let entry = only_entry(&feed);
    assert_eq!(entry.link.as_deref(), Some("https://example.org/a"));
    assert_eq!(entry.summary, "Plain &amp; simple");
    assert_eq!(entry.authors, ["Ann"]);
    assert_eq!(entry.published, Some(1_704_164_645_000));
}

#[test]
fn rss091_is_read() {
    let feed = parse(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old &amp; gold</title><link>http://old.example.com/</link>
<item><title>Hello&nbsp;world</title><link>http://old.example.com/1</link></item></channel></rss>"#,
    );
    assert_eq!(feed.format, FeedFormat::Rss0);
    assert_eq!(feed.title.as_deref(), Some("Old &amp; gold"));
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "Hello\u{a0}world");
    assert_eq!(entry.guid, None);
}

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">Atom &lt;Site&gt;</title>
  <link rel="self" href="https://atom.example.com/feed.xml"/>
  <link href="https://atom.example.com/"/>
  <id>urn:uuid:feed</id>
  <updated>2024-05-01T10:00:00Z</updated>
  <entry>
    <id>tag:atom.example.com,2024:1</id>
    <title type="html">Rates &lt;em&gt;up&lt;/em&gt;</title>
    <link rel="replies" href="https://atom.example.com/1#comments"/>
    <link rel="alternate" type="text/html" href="/2024/rates"/>
    <link rel="enclosure" href="https://atom.example.com/chart.png" type="image/png"/>
    <published>2024-05-01T08:00:00Z</published>
    <updated>2024-05-01T09:30:00Z</updated>
    <author><email>desk@example.com</email></author>
    <author><name>Bob</name></author>
    <category term="economy" label="Economy"/>
    <category term="rates"/>
    <summary>Short &amp; plain</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Rates went <em>up</em>.</p></div></content>
  </entry>
  <entry>
    <id>tag:atom.example.com,2024:2</id>
    <title>Same dates</title>
    <published>2024-05-01T08:00:00Z</published>
    <updated>2024-05-01T08:00:00Z</updated>
  </entry>
</feed>"#;

#[test]
fn atom_maps_every_field() {
    let feed = parse_feed(
        ATOM.as_bytes(),
        Some("application/atom+xml"),
        Some("https://atom.example.com/feed.xml"),
    )
    .expect("valid Atom");
    assert_eq!(feed.format, FeedFormat::Atom);
    assert_eq!(feed.title.as_deref(), Some("Atom &lt;Site&gt;"));
    assert_eq!(feed.link.as_deref(), Some("https://atom.example.com/"));
    let entry = &feed.entries[0];
    assert_eq!(entry.guid.as_deref(), Some("tag:atom.example.com,2024:1"));
    assert_eq!(
        entry.link.as_deref(),
        Some("https://atom.example.com/2024/rates")
    );
    assert_eq!(entry.title, "Rates <em>up</em>");
    assert_eq!(entry.summary, "Short &amp; plain");
    assert_eq!(entry.content, "<p>Rates went <em>up</em>.</p>");
    assert_eq!(entry.authors, ["desk@example.com", "Bob"]);
    assert_eq!(entry.categories, ["Economy", "rates"]);
    assert_eq!(entry.enclosures, ["https://atom.example.com/chart.png"]);
    assert_eq!(entry.published, Some(1_714_550_400_000));
    assert_eq!(entry.updated, Some(1_714_555_800_000));
    // An <updated> equal to <published> says nothing new.
    assert_eq!(feed.entries[1].updated, None);
    assert_eq!(feed.entries[1].link, None);
}

#[test]
fn json_feed_maps_every_field() {
    let feed = parse_feed(
        br#"{"version": "https://jsonfeed.org/version/1.1", "title": "JSON site",
            "home_page_url": "https://json.example.com/",
            "items": [
              {"id": "1", "url": "/posts/1", "title": "Fish & chips",
               "content_text": "Plain <text>", "summary": "Sum & more",
               "date_published": "2024-02-03T04:05:06Z", "date_modified": "2024-02-04T00:00:00Z",
               "tags": ["food"], "authors": [{"name": "Cook"}],
               "attachments": [{"url": "https://json.example.com/a.mp3", "mime_type": "audio/mpeg"}]},
              {"id": "2", "content_html": "<p>Hi</p>"}
            ]}"#,
        Some("application/feed+json"),
        Some("https://json.example.com/feed.json"),
    )
    .expect("valid JSON Feed");
    assert_eq!(feed.format, FeedFormat::Json);
    assert_eq!(feed.link.as_deref(), Some("https://json.example.com/"));
    let first = &feed.entries[0];
    assert_eq!(first.guid.as_deref(), Some("1"));
    assert_eq!(
        first.link.as_deref(),
        Some("https://json.example.com/posts/1")
    );
    assert_eq!(first.title, "Fish &amp; chips");
    assert_eq!(first.content, "Plain &lt;text&gt;");
    assert_eq!(first.summary, "Sum &amp; more");
    assert_eq!(first.categories, ["food"]);
    assert_eq!(first.authors, ["Cook"]);
    assert_eq!(first.enclosures, ["https://json.example.com/a.mp3"]);
    assert_eq!(first.published, Some(1_706_933_106_000));
    assert_eq!(first.updated, Some(1_707_004_800_000));
    assert_eq!(feed.entries[1].content, "<p>Hi</p>");
    assert_eq!(feed.entries[1].link, None);
}

#[test]
fn sloppy_json_feeds_are_repaired() {
    let feed = parse(
        r#"{"version": "http:\/\/jsonfeed.org\/version\/1", "title": "Sloppy",
            "items": [{"id": 7, "title": "Seven", "tags": "a,b", "url": "https://s.example.com/7"}]}"#,
    );
    let entry = only_entry(&feed);
    assert_eq!(entry.guid.as_deref(), Some("7"));
    assert_eq!(entry.categories, ["a", "b"]);
    assert!(
        feed.warnings.iter().any(|w| w.contains("JSON Feed fields")),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn json_that_is_not_a_json_feed() {
    let error = parse_err(
        br#"{"status": "ok", "data": [1, 2]}"#,
        Some("application/json"),
    );
    assert!(matches!(error, ParseError::NotAFeed { .. }), "{error}");
    let error = parse_err(br#"{"version": "2.0", "title": "x", "items": []}"#, None);
    assert!(error.to_string().contains("not a JSON Feed"), "{error}");
    let error = parse_err(
        br#"{"version": "https://jsonfeed.org/version/1.1", "title": "x", "items": [{"id": "#,
        None,
    );
    assert!(matches!(error, ParseError::Malformed { .. }), "{error}");
    assert!(error.to_string().contains("cut off"), "{error}");
}

#[test]
fn missing_guid_is_none_and_stable() {
    let text = rss_item("<item><title>No id</title><description>x</description></item><item><title>Linked</title><link>https://example.com/l</link></item>");
    let first = parse(&text);
    let second = parse(&text);
    assert_eq!(first.entries[0].guid, None);
    assert_eq!(first.entries[1].guid, None);
    assert_eq!(first, second);
    let atom =
        parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>x</title></entry></feed>");
    assert_eq!(only_entry(&atom).guid, None);
    let empty = parse(&rss_item(
        "<item><guid>  </guid><title>blank</title></item>",
    ));
    assert_eq!(only_entry(&empty).guid, None);
}

#[test]
fn plain_text_is_escaped_and_html_kept() {
    let feed = parse(&rss_item(
        "<item><title>AT&amp;T &lt;3 fans</title><description>&lt;b&gt;bold&lt;/b&gt; &amp;amp;</description></item>",
    ));
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "AT&amp;T &lt;3 fans");
    assert_eq!(entry.summary, "<b>bold</b> &amp;");
    // a "plain" title carrying HTML tags is taken as HTML (like feedparser)
    let feed = parse(&rss_item(
        "<item><title>&lt;b&gt;Breaking&lt;/b&gt; news</title></item>",
    ));
    assert_eq!(only_entry(&feed).title, "<b>Breaking</b> news");
}

#[test]
fn undeclared_html_entities_are_recovered() {
    let feed = parse(&rss_item(
        "<item><title>Caf&eacute;&nbsp;&mdash; &hellip;</title><description>&lt;p&gt;&copy; 2024&lt;/p&gt; &rsquo;</description></item>",
    ));
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "Caf\u{e9}\u{a0}\u{2014} \u{2026}");
    assert_eq!(entry.summary, "<p>\u{a9} 2024</p> \u{2019}");
    assert!(
        feed.warnings.iter().any(|w| w.contains("HTML entities")),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn bare_ampersands_are_recovered() {
    let feed = parse(&rss_item(
        "<item><title>Q&A: salt & pepper</title><link>https://example.com/?a=1&b=2</link></item>",
    ));
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "Q&amp;A: salt &amp; pepper");
    assert_eq!(entry.link.as_deref(), Some("https://example.com/?a=1&b=2"));
}

#[test]
fn billion_laughs_is_never_expanded() {
    let mut doctype = String::from("<!DOCTYPE rss [<!ENTITY lol \"lol\">");
    for level in 1..=9 {
        let previous = if level == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", level - 1)
        };
        doctype.push_str(&format!(
            "<!ENTITY lol{level} \"{}\">",
            format!("&{previous};").repeat(10)
        ));
    }
    doctype.push_str("]>");
    let text = format!(
        "<?xml version=\"1.0\"?>{doctype}{}",
        rss_item("<item><title>a &lol9; b</title></item>")
    );
    let feed = parse(&text);
    assert_eq!(only_entry(&feed).title, "a &amp;lol9; b");
}

#[test]
fn external_entities_are_never_read() {
    let text = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        rss_item("<item><title>x&xxe;y</title><description>&xxe;</description></item>")
    );
    let feed = parse(&text);
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "x&amp;xxe;y");
    assert!(!entry.summary.contains("root:"));
}

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let units = bom
        .then_some(0xFEFF_u16)
        .into_iter()
        .chain(text.encode_utf16());
    units
        .flat_map(|unit| {
            if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            }
        })
        .collect()
}

#[test]
fn utf16_feeds_parse_with_and_without_bom() {
    let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel><title>\u{65e5}\u{672c}</title>\
                <item><title>Gr\u{fc}\u{df}e \u{1F30D}</title></item></channel></rss>";
    for big_endian in [true, false] {
        for bom in [true, false] {
            let feed = parse_feed(&utf16(text, big_endian, bom), None, None).expect("UTF-16 feed");
            assert_eq!(feed.title.as_deref(), Some("\u{65e5}\u{672c}"));
            assert_eq!(only_entry(&feed).title, "Gr\u{fc}\u{df}e \u{1F30D}");
        }
    }
}

#[test]
fn header_charset_wins_over_declaration() {
    let body =
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>T</title>\
                 <item><title>Z\xfcrich</title></item></channel></rss>";
    let feed =
        parse_feed(body, Some("application/rss+xml; charset=ISO-8859-1"), None).expect("feed");
    assert_eq!(only_entry(&feed).title, "Z\u{fc}rich");
}

#[test]
fn windows_1252_bytes_labelled_iso_8859_1() {
    let body = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss version=\"2.0\"><channel><title>T</title>\
                 <item><title>\x93Quoted\x94 \x96 caf\xe9 \x80</title></item></channel></rss>";
    let feed = parse_feed(body, Some("text/xml"), None).expect("feed");
    assert_eq!(
        only_entry(&feed).title,
        "\u{201c}Quoted\u{201d} \u{2013} caf\u{e9} \u{20ac}"
    );
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let mut body = rss_item("<item><title>caf\u{e9} BAD</title></item>").into_bytes();
    let at = body.windows(3).position(|w| w == b"BAD").unwrap_or(0);
    body.splice(at..at + 3, [0xC3, 0x28]);
    let feed = parse_feed(&body, None, None).expect("feed");
    assert_eq!(only_entry(&feed).title, "caf\u{e9} \u{fffd}(");
    assert!(
        feed.warnings.iter().any(|w| w.contains("U+FFFD")),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn html_page_is_not_a_feed() {
    let error = parse_err(
        b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body></body></html>",
        Some("text/html; charset=utf-8"),
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the server returned an HTML page (Content-Type: text/html; charset=utf-8), not a feed: {}",
            prolog::ADVICE_HTML
        )
    );
}

#[test]
fn opml_is_not_a_feed() {
    let error = parse_err(
        b"<?xml version=\"1.0\"?><opml version=\"2.0\"><head/><body><outline xmlUrl=\"https://x/feed\"/></body></opml>",
        Some("text/x-opml"),
    );
    assert!(
        matches!(&error, ParseError::NotAFeed { found, .. } if found == "an OPML subscription list")
    );
    assert!(error.to_string().contains("xmlUrl"));
}

#[test]
fn empty_bodies() {
    assert_eq!(parse_err(b"", None), ParseError::Empty);
    assert_eq!(parse_err(b" \r\n\t ", None), ParseError::Empty);
    assert_eq!(parse_err(&[0xFE, 0xFF], None), ParseError::Empty);
    assert!(ParseError::Empty.to_string().contains("retry"));
}

#[test]
fn truncated_documents_are_rejected_never_partial() {
    let text = rss_item("<item><title>One</title><guid>1</guid></item><item><title>Two</title><guid>2</guid></item>");
    let complete = parse(&text);
    let channel_end = text.find("</channel>").unwrap_or(text.len());
    for cut in 1..text.len() {
        match parse_feed(&text.as_bytes()[..cut], None, None) {
            Err(ParseError::Malformed { .. } | ParseError::NotAFeed { .. }) => {}
            Err(other) => panic!("cut at {cut}: unexpected {other:?}"),
            Ok(feed) => {
                assert!(cut >= channel_end, "cut at {cut} parsed: {feed:?}");
                assert_eq!(feed.entries, complete.entries, "cut at {cut}");
            }
        }
    }
    let error = parse_err(&text.as_bytes()[..text.len() - 40], None);
    assert!(error.to_string().contains("cut off"), "{error}");
}

#[test]
fn control_characters_are_stripped() {
    let feed = parse(&rss_item(
        "<item><title>a\u{1}b&#2;c&#x1F;d\u{b}e</title><description>x\u{0}y</description></item>",
    ));
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "abcde");
    assert_eq!(entry.summary, "xy");
    assert!(
        feed.warnings
            .iter()
            .any(|w| w.contains("control characters")),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn relative_links_are_made_absolute() {
    let item = "<item><title>a</title><link>/news/a</link></item>";
    let with_base = parse_feed(
        rss_item(item).as_bytes(),
        None,
        Some("https://feeds.example.net/rss"),
    )
    .expect("feed");
    assert_eq!(
        only_entry(&with_base).link.as_deref(),
        Some("https://feeds.example.net/news/a")
    );
    // Without the feed's URL, the channel's link is the base.
    let without = parse(&rss_item(item));
    assert_eq!(
        only_entry(&without).link.as_deref(),
        Some("https://example.com/news/a")
    );
    // A base that is not a URL is ignored rather than failing the feed.
    let bad_base = parse_feed(rss_item(item).as_bytes(), None, Some("not a url")).expect("feed");
    assert_eq!(
        only_entry(&bad_base).link.as_deref(),
        Some("https://example.com/news/a")
    );
}

#[test]
fn lenient_root_repairs() {
    let no_version =
        parse("<rss><channel><title>T</title><item><title>x</title></item></channel></rss>");
    assert_eq!(no_version.format, FeedFormat::Rss2);
    assert!(no_version.warnings.iter().any(|w| w.contains("no version")));

    let unclosed = parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>1</id><title>x</title></entry></feed\n");
    assert_eq!(only_entry(&unclosed).guid.as_deref(), Some("1"));

    let stray_declaration = parse(&rss_item(
        "<item><title>x</title></item><?xml version=\"1.0\" encoding=\"utf-16\"?>",
    ));
    assert_eq!(stray_declaration.entries.len(), 1);
}

#[test]
fn atom_03_text_types_are_recovered() {
    let feed = parse(
        r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#">
  <title type="text/plain" mode="escaped">Old &amp; plain</title>
  <entry><id>tag:x,2004:1</id><title type="text/plain">A &lt;tag&gt;</title>
  <content type="application/xhtml+xml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml"><b>hi</b></div></content></entry>
</feed>"#,
    );
    let entry = only_entry(&feed);
    assert_eq!(entry.title, "A &lt;tag&gt;");
    assert_eq!(entry.content, "<b>hi</b>");
    assert!(
        feed.warnings.iter().any(|w| w.contains("type attributes")),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn emails_next_to_non_ascii_do_not_crash_feed_rs() {
    let feed = parse(&rss_item(
        "<item xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><title>x</title>\
         <author>Jos\u{e9}.garcia@example.com</author><dc:creator>desk@example.com&nbsp;(Desk)</dc:creator></item>",
    ));
    assert_eq!(only_entry(&feed).authors.len(), 2);
    let json = parse(
        r#"{"version": "https://jsonfeed.org/version/1.1", "title": "J",
            "items": [{"id": "1", "authors": [{"name": "\u00b0x@y.org"}]}]}"#,
    );
    assert_eq!(only_entry(&json).authors.len(), 1);
}

#[test]
fn syndication_hints_and_ttl() {
    let feed = parse(
        "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>T</title>\
         <ttl>60</ttl><sy:updatePeriod>daily</sy:updatePeriod></channel></rss>",
    );
    assert_eq!(feed.ttl_minutes, Some(60));
    assert_eq!(feed.update_period_secs, Some(86_400));
}

#[test]
fn malformed_xml_is_a_typed_error() {
    let error = parse_err(rss_item("<item><title>x</titel></item>").as_bytes(), None);
    assert!(
        matches!(&error, ParseError::Malformed { message } if message.contains("not well-formed XML")),
        "{error}"
    );
    assert!(error.to_string().contains("publisher"));
    let no_channel = parse_err(b"<rss version=\"2.0\"><item/></rss>", None);
    assert!(
        no_channel.to_string().contains("no <channel>"),
        "{no_channel}"
    );
}

#[test]
fn a_panicking_parser_is_caught() {
    struct Exploding;
    impl Read for Exploding {
        fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
            panic!("boom from a test reader")
        }
    }
    match run_feed_rs(Exploding, None) {
        Err(FeedRsFailure::Panic(message)) => assert_eq!(message, "boom from a test reader"),
        _ => panic!("the panic was not caught"),
    }
    let locator = position::Locator {
        original: "",
        root_offset: 0,
        root_tag_len: 0,
        parsed_root_len: 0,
    };
    let error = xml_error(FeedRsFailure::Panic("boom".into()), "rss", "", &locator);
    assert_eq!(error.kind(), "panicked");
    assert!(error.to_string().contains("please report it"));
}

#[test]
fn one_huge_item_parses() {
    let body = "<p>lorem ipsum &amp; dolor &nbsp; sit amet</p>\n".repeat(10 * 1024 * 1024 / 47 + 1);
    let text = rss_item(&format!(
        "<item><title>Big</title><description><![CDATA[{body}]]></description></item>"
    ));
    assert!(text.len() >= 10 * 1024 * 1024);
    let feed = parse(&text);
    assert_eq!(only_entry(&feed).summary.len(), body.trim().len());
}

#[test]
fn deep_nesting_is_bounded() {
    let depth = 65_000;
    let nested = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let feed = parse(&rss_item(&format!(
        "<item><title>x</title><x>{nested}</x></item>"
    )));
    assert_eq!(only_entry(&feed).title, "x");
    let too_deep = format!("{}{}", "<a>".repeat(70_000), "</a>".repeat(70_000));
    let error = parse_err(
        rss_item(&format!("<item>{too_deep}</item>")).as_bytes(),
        None,
    );
    assert_eq!(error.kind(), "malformed");
}

#[test]
fn many_at_signs_stay_linear() {
    let text = "mail \u{e9}@x.org or @someone ".repeat(100_000);
    let feed = parse(&rss_item(&format!(
        "<item><author>a@b.org\u{e9}</author><description><![CDATA[{text}]]></description></item>"
    )));
    assert_eq!(only_entry(&feed).summary.len(), text.trim().len());
}

#[test]
fn a_hundred_thousand_items_parse() {
    let mut items = String::with_capacity(100_000 * 80);
    for i in 0..100_000 {
        items.push_str(&format!(
            "<item><title>Story {i}</title><guid>id-{i}</guid></item>\n"
        ));
    }
    let feed = parse(&rss_item(&items));
    assert_eq!(feed.entries.len(), 100_000);
    assert_eq!(feed.entries[99_999].guid.as_deref(), Some("id-99999"));
}
