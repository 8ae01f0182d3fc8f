//! OPML, the subscription-list format every feed reader exports and imports.
//!
//! - [`parse`] reads the `<outline xmlUrl=…>` entries of an OPML 1.0/2.0
//!   document (nested outlines are folders: their titles become tags);
//! - [`render`] writes the configured feeds as OPML 2.0;
//! - [`append_feeds`] adds imported feeds to config.toml by *appending*
//!   `[[feed]]` tables to its text, so the user's comments and layout stay
//!   exactly as they were (reserialising the TOML would drop them).

use std::collections::HashSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use url::Url;

use crate::config::{parse_http_url, Config};

/// One subscription found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    pub title: Option<String>,
    pub xml_url: String,
    pub html_url: Option<String>,
    /// Titles of the enclosing folder outlines, outermost first.
    pub folders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpmlError {
    #[error("not an OPML file: {0} (expected <opml><body><outline xmlUrl=\"…\"/>…)")]
    Invalid(String),
}

/// The subscriptions of an OPML document, in document order.
pub fn parse(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    let mut reader = Reader::from_str(text);
    let mut feeds = Vec::new();
    // one entry per open <outline>: its title if it is a folder
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut saw_opml = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            OpmlError::Invalid(format!(
                "XML error at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(e) | Event::Empty(e)
                if e.local_name().as_ref().eq_ignore_ascii_case("opml") =>
            {
                saw_opml = true;
            }
            Event::Start(e) if e.local_name().as_ref() == "outline" => {
                let outline = read_outline(&e);
                let folder = match outline {
                    Some(o) => {
                        feeds.push(with_folders(o, &stack));
                        None
                    }
                    None => attr(&e, "title").or_else(|| attr(&e, "text")),
                };
                stack.push(folder);
            }
            Event::Empty(e) if e.local_name().as_ref() == "outline" => {
                if let Some(o) = read_outline(&e) {
                    feeds.push(with_folders(o, &stack));
                }
            }
            Event::End(e) if e.local_name().as_ref() == "outline" => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_opml {
        return Err(OpmlError::Invalid("no <opml> element".into()));
    }
    Ok(feeds)
}

fn with_folders(mut feed: OpmlFeed, stack: &[Option<String>]) -> OpmlFeed {
    feed.folders = stack.iter().flatten().cloned().collect();
    feed
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref().eq_ignore_ascii_case(name))
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

fn read_outline(e: &BytesStart) -> Option<OpmlFeed> {
    let xml_url = attr(e, "xmlUrl")?;
    Some(OpmlFeed {
        title: attr(e, "title").or_else(|| attr(e, "text")),
        xml_url,
        html_url: attr(e, "htmlUrl"),
        folders: Vec::new(),
    })
}

/// The configured feeds as an OPML 2.0 document (titles are feed names;
/// the first tag becomes the folder).
pub fn render(config: &Config, title: &str) -> String {
    let esc = |s: &str| html_escape::encode_double_quoted_attribute(s).into_owned();
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        html_escape::encode_text(title),
        chrono::Utc::now().to_rfc2822()
    ));
    for f in config.all_feeds() {
        let category = f
            .tags
            .first()
            .map(|t| format!(" category=\"{}\"", esc(t)))
            .unwrap_or_default();
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{n}\" title=\"{n}\" xmlUrl=\"{u}\"{category}/>\n",
            n = esc(&f.name),
            u = esc(f.url.as_str()),
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// (name, url) of each feed added.
    pub added: Vec<(String, String)>,
    /// (url, why) of each feed skipped.
    pub skipped: Vec<(String, String)>,
    /// The config text with the new tables appended.
    pub text: String,
}

/// Appends `[[feed]]` tables for the OPML's feeds to `config_text` (the
/// current file's text, already loaded as `config`). Feeds whose URL is
/// already configured, or that appear twice, or whose URL is not http(s),
/// are skipped with a reason. Names come from titles, made unique.
pub fn append_feeds(config_text: &str, config: &Config, feeds: &[OpmlFeed]) -> ImportReport {
    let mut names: HashSet<String> = config.all_feeds().map(|f| f.name.clone()).collect();
    let mut urls: HashSet<String> = config.all_feeds().map(|f| url_key(&f.url)).collect();
    let mut report = ImportReport {
        text: config_text.to_string(),
        ..Default::default()
    };
    let mut block = String::new();
    for feed in feeds {
        let url = match parse_http_url(&feed.xml_url) {
            Ok(u) => u,
            Err(e) => {
                report.skipped.push((feed.xml_url.clone(), e.to_string()));
                continue;
            }
        };
        if !urls.insert(url_key(&url)) {
            report
                .skipped
                .push((feed.xml_url.clone(), "already configured".into()));
            continue;
        }
        let name = unique_name(&base_name(feed, &url), &mut names);
        block.push_str(&format!(
            "\n[[feed]]\nname = {}\nurl = {}\n",
            toml_string(&name),
            toml_string(url.as_str())
        ));
        if !feed.folders.is_empty() {
            let tags: Vec<String> = feed.folders.iter().map(|t| toml_string(t)).collect();
            block.push_str(&format!("tags = [{}]\n", tags.join(", ")));
        }
        report.added.push((name, url.to_string()));
    }
    if !report.added.is_empty() {
        if !report.text.is_empty() && !report.text.ends_with('\n') {
            report.text.push('\n');
        }
        report.text.push_str(&format!(
            "\n# Imported from OPML on {} ({} feeds)\n",
            chrono::Utc::now().format("%Y-%m-%d"),
            report.added.len()
        ));
        report.text.push_str(block.trim_start_matches('\n'));
    }
    report
}

/// URLs compare without a trailing slash and with a lowercase host.
fn url_key(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// A TOML basic string (quoted and escaped).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A config name from the title ("BBC News – World" → "bbc-news-world"),
/// else from the host.
fn base_name(feed: &OpmlFeed, url: &Url) -> String {
    let slug = |s: &str| {
        let mut out = String::new();
        for c in s.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let out = out.trim_end_matches('-');
        out.chars()
            .take(40)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string()
    };
    let from_title = feed.title.as_deref().map(slug).unwrap_or_default();
    if !from_title.is_empty() {
        return from_title;
    }
    let from_host = slug(url.host_str().unwrap_or(""));
    if from_host.is_empty() {
        "feed".into()
    } else {
        from_host
    }
}

fn unique_name(base: &str, taken: &mut HashSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const OPML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My feeds</title></head><body>
  <outline text="News" title="News">
    <outline type="rss" text="BBC News – World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://www.bbc.co.uk/news"/>
    <outline type="rss" text="Already &amp; here" xmlUrl="https://example.com/feed/"/>
    <outline type="rss" text="BBC News – World" xmlUrl="https://feeds.bbci.co.uk/news/uk/rss.xml"/>
  </outline>
  <outline type="rss" xmlUrl="https://blog.example.org/atom.xml"/>
  <outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>
  <outline type="rss" text="Twice" xmlUrl="https://blog.example.org/atom.xml"/>
</body></opml>"#;

    const CONFIG: &str = "# my storywatch config\n[daemon]\nstate_dir = \"/tmp/x\" # keep\n\n[[feed]]\nname = \"example\"\nurl = \"https://example.com/feed\"\n";

    #[test]
    fn parses_outlines_with_folders() {
        let feeds = parse(OPML).unwrap();
        assert_eq!(feeds.len(), 6);
        assert_eq!(feeds[0].title.as_deref(), Some("BBC News – World"));
        assert_eq!(feeds[0].folders, ["News"]);
        assert_eq!(feeds[1].title.as_deref(), Some("Already & here"));
        assert!(feeds[3].folders.is_empty());
        assert!(parse("<html><body>no</body></html>").is_err());
        assert!(parse("<opml><body><outline").is_err());
    }

    #[test]
    fn import_appends_unique_feeds_and_keeps_the_text() {
        let config = Config::from_toml(Path::new("c.toml"), CONFIG).unwrap();
        let report = append_feeds(CONFIG, &config, &parse(OPML).unwrap());
        let names: Vec<&str> = report.added.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["bbc-news-world", "bbc-news-world-2", "blog-example-org"]
        );
        assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
        assert!(report.text.starts_with(CONFIG), "original text untouched");
        assert!(report.text.contains("tags = [\"News\"]"));
        let again = Config::from_toml(Path::new("c.toml"), &report.text).unwrap();
        assert_eq!(again.feeds.len(), 4);
        // importing the same file again adds nothing
        let twice = append_feeds(&report.text, &again, &parse(OPML).unwrap());
        assert!(twice.added.is_empty());
        assert_eq!(twice.text, report.text);
    }

    #[test]
    fn export_round_trips() {
        let config = Config::from_toml(Path::new("c.toml"), CONFIG).unwrap();
        let text = render(&config, "storywatch <feeds>");
        assert!(text.contains("<opml version=\"2.0\">"));
        assert!(text.contains("&lt;feeds&gt;"));
        let feeds = parse(&text).unwrap();
        assert_eq!(feeds.len(), 1);
        assert_eq!(feeds[0].xml_url, "https://example.com/feed");
        assert_eq!(feeds[0].title.as_deref(), Some("example"));
    }
}
