//! `storywatch test-watch`: try a query before trusting it with alerts.
//!
//! The input is a feed document (every entry is checked, after the same
//! normalisation the daemon applies), plain text (one document), or the
//! stories already stored (`--stored`: which would have fired, with their
//! latest version). Matches are printed with the matched terms marked.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::cli::{emit, load, locate, Failure};
use crate::config::{Config, FeedConfig};
use crate::control::{Command, Ctx, Problem, ProblemCode};
use crate::model::Snapshot;
use crate::store::Store;
use crate::tracker;
use crate::watch::index::{Highlight, WatchSet};
use crate::watch::matcher::doc;
use crate::watch::query::{DocField, Query};

/// Runs `test-watch`: prints the matches and exits 0 when something
/// matched, 1 when nothing did.
pub fn run(
    config_path: &Path,
    query: Option<String>,
    watch: Option<String>,
    stored: bool,
    feed: Option<String>,
    input: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let needs_config = watch.is_some() || stored || feed.is_some();
    let config = if needs_config {
        Some(load(config_path)?)
    } else {
        None
    };
    let parsed = match (&query, &watch, &config) {
        (Some(text), _, _) => crate::watch::query::parse(text)
            .map_err(|e| Failure::Usage(format!("--query {text:?}: {e}")))?,
        (None, Some(name), Some(c)) => watch_query(c, name)
            .map_err(|e| Failure::Usage(format!("--watch: {e} in {}", config_path.display())))?,
        _ => unreachable!("clap requires --query or --watch"),
    };
    let feed_config = feed_rules(config.as_ref(), feed.as_deref())
        .map_err(|e| Failure::Usage(format!("--feed: {e} in {}", config_path.display())))?;
    let hits = if stored {
        let Some(c) = &config else {
            unreachable!("--stored loads the config")
        };
        // the query is checked above; the stories are read where the
        // database is (the daemon resolves --watch and --feed in its config)
        locate::run(
            c,
            StoredMatches {
                query: if watch.is_some() { None } else { query },
                watch,
                feed,
            },
        )?
    } else {
        let bytes = match input.as_deref() {
            Some(p) if p == Path::new("-") => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .map_err(|e| Failure::Runtime(e.into()))?;
                buf
            }
            Some(p) => std::fs::read(p).map_err(|e| {
                Failure::Runtime(anyhow::anyhow!("cannot read {}: {e}", p.display()))
            })?,
            None => unreachable!("clap requires an input without --stored"),
        };
        matches(parsed, Input::Bytes(&bytes), &feed_config)?
    };
    let bold = std::io::IsTerminal::is_terminal(&std::io::stdout());
    emit(&report(&hits, bold))?;
    emit(&format!(
        "{} match{}\n",
        hits.len(),
        if hits.len() == 1 { "" } else { "es" }
    ))?;
    Ok(if hits.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The query of the configured watch `name`.
fn watch_query(config: &Config, name: &str) -> Result<Query, String> {
    config
        .watches
        .iter()
        .find(|w| w.name == name)
        .and_then(|w| w.query.clone())
        .ok_or_else(|| format!("watch {name:?} is not defined"))
}

/// The rules of the configured feed `name`, or neutral ones (no name, no
/// tags, no ignore patterns).
fn feed_rules(config: Option<&Config>, name: Option<&str>) -> Result<FeedConfig, String> {
    match (name, config) {
        (Some(name), Some(c)) => c
            .feed(name)
            .cloned()
            .ok_or_else(|| format!("feed {name:?} is not defined")),
        _ => {
            let mut f = Config::from_toml(
                Path::new("<test-watch>"),
                "[[feed]]\nname = \"any\"\nurl = \"http://test.invalid/\"\n",
            )
            .map_err(|e| e.to_string())?
            .feeds
            .remove(0);
            f.name = String::new();
            Ok(f)
        }
    }
}

/// `test-watch --stored` as a command the daemon answers: the stored
/// stories (latest versions) a query or a configured watch matches.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredMatches {
    pub query: Option<String>,
    pub watch: Option<String>,
    pub feed: Option<String>,
}

impl Command for StoredMatches {
    const NAME: &'static str = "test_watch_stored";
    type Answer = Vec<DryHit>;
    fn handle(self, ctx: &Ctx) -> Result<Vec<DryHit>, Problem> {
        let usage = |m: String| Problem::new(ProblemCode::Usage, m);
        // the command checked --watch and --feed in its config; the
        // daemon's may be older
        let undefined = |e: String| {
            usage(if ctx.in_daemon() {
                format!("{e} in the config the running daemon uses: reload it after editing (`systemctl reload storywatch`)")
            } else {
                e
            })
        };
        let query = match (&self.query, &self.watch) {
            (Some(text), _) => {
                crate::watch::query::parse(text).map_err(|e| usage(format!("--query: {e}")))?
            }
            (None, Some(name)) => watch_query(ctx.config, name).map_err(undefined)?,
            (None, None) => return Err(usage("give --query or --watch".into())),
        };
        let feed = feed_rules(Some(ctx.config), self.feed.as_deref()).map_err(undefined)?;
        matches(query, Input::Stored(ctx.store), &feed)
            .map_err(|e| Problem::new(ProblemCode::Failed, e.to_string()))
    }
}

/// One document that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryHit {
    pub label: String,
    /// The version that matched (highlights point into it).
    pub snapshot: Snapshot,
    pub highlights: Vec<Highlight>,
}

/// What the query is run against.
pub enum Input<'a> {
    /// Bytes of a feed document, or plain text if they are not a feed.
    Bytes(&'a [u8]),
    /// Latest versions of stored stories.
    Stored(&'a Store),
}

/// Runs `query` over the input as if for `feed` (whose name and tags the
/// `feed:`/`tag:` scopes see, and whose ignore patterns apply).
pub fn matches(query: Query, input: Input, feed: &FeedConfig) -> anyhow::Result<Vec<DryHit>> {
    let set = WatchSet::new(vec![query]);
    let mut hits = Vec::new();
    let mut check = |label: String, s: &Snapshot| {
        let prepared = set.prepare(&doc(feed, s));
        if let Some(hit) = set.check(0, &prepared) {
            hits.push(DryHit {
                label,
                snapshot: s.clone(),
                highlights: hit.highlights,
            });
        }
    };
    match input {
        Input::Bytes(bytes) => match crate::parse::parse_feed(bytes, None, None) {
            Ok(parsed) => {
                for (i, e) in parsed.entries.iter().enumerate() {
                    check(
                        format!("entry {}", i + 1),
                        &tracker::snapshot(e, &feed.ignore),
                    );
                }
            }
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                let s = Snapshot {
                    content: tracker::normalize::clean(
                        &html_escape::encode_text(&text),
                        &feed.ignore,
                    ),
                    ..Default::default()
                };
                check("text".into(), &s);
            }
        },
        Input::Stored(store) => {
            for story in store.stories() {
                let story = story?;
                if feed.name.is_empty() || story.feed == feed.name {
                    check(
                        format!("story {} ({})", story.id, story.feed),
                        &story.latest,
                    );
                }
            }
        }
    }
    Ok(hits)
}

/// Marks `[start, end)` ranges in `text` with `mark(open)`/`mark(close)`,
/// showing `context` bytes around the first match when the text is long.
fn marked(text: &str, ranges: &[(usize, usize)], bold: bool) -> String {
    let (open, close) = if bold {
        ("\x1b[1;4m", "\x1b[0m")
    } else {
        ("«", "»")
    };
    let mut ranges: Vec<(usize, usize)> = ranges
        .iter()
        .copied()
        .filter(|(s, e)| {
            s < e && *e <= text.len() && text.is_char_boundary(*s) && text.is_char_boundary(*e)
        })
        .collect();
    ranges.sort();
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in ranges {
        if s < at {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(open);
        out.push_str(&text[s..e]);
        out.push_str(close);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// Human-readable report of the hits.
pub fn report(hits: &[DryHit], bold: bool) -> String {
    let mut out = String::new();
    for h in hits {
        let _ = writeln!(out, "✔ {}: {}", h.label, h.snapshot.title);
        let snap = Some(&h.snapshot);
        for field in [
            DocField::Title,
            DocField::Summary,
            DocField::Content,
            DocField::Author,
            DocField::Category,
            DocField::Feed,
            DocField::Tag,
        ] {
            let in_field: Vec<&Highlight> =
                h.highlights.iter().filter(|x| x.field == field).collect();
            if in_field.is_empty() {
                continue;
            }
            let text = snap.as_ref().and_then(|s| match field {
                DocField::Title => Some(s.title.clone()),
                DocField::Summary => Some(s.summary.clone()),
                DocField::Content => Some(s.content.clone()),
                _ => None,
            });
            match text {
                Some(t) => {
                    let ranges: Vec<(usize, usize)> =
                        in_field.iter().map(|x| (x.start, x.end)).collect();
                    let _ = writeln!(
                        out,
                        "    {}: {}",
                        field.as_str(),
                        excerpt(&marked(&t, &ranges, bold), 300)
                    );
                }
                None => {
                    let terms: Vec<&str> = in_field.iter().map(|x| x.text.as_str()).collect();
                    let _ = writeln!(out, "    {}: {}", field.as_str(), terms.join(", "));
                }
            }
        }
    }
    out
}

/// Long text cut around its first mark.
fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let first = text.find(['«', '\x1b']).unwrap_or(0);
    let start = text[..first]
        .char_indices()
        .rev()
        .nth(max / 3)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let body: String = text[start..].chars().take(max).collect();
    format!("{}{body}…", if start > 0 { "…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::query::parse;

    fn feed() -> FeedConfig {
        let c = crate::config::Config::from_toml(
            std::path::Path::new("t.toml"),
            "[[feed]]\nname = \"f\"\nurl = \"https://e.com/f\"\ntags = [\"world\"]\n",
        )
        .unwrap();
        c.feeds[0].clone()
    }

    #[test]
    fn feed_documents_are_checked_entry_by_entry() {
        let rss = b"<rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>North Korean troops in Kursk</title></item><item><guid>2</guid><title>Weather</title></item></channel></rss>";
        let hits = matches(
            parse("\"north korean\" troops").unwrap(),
            Input::Bytes(rss),
            &feed(),
        )
        .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].label, "entry 1");
        assert!(hits[0].highlights.iter().any(|h| h.text == "North Korean"));
    }

    #[test]
    fn plain_text_is_one_document_and_tags_are_visible() {
        let hits = matches(
            parse("tag:world AND drones").unwrap(),
            Input::Bytes(b"Drones were seen overhead."),
            &feed(),
        )
        .unwrap();
        assert_eq!(hits.len(), 1);
        let none = matches(
            parse("tag:sport AND drones").unwrap(),
            Input::Bytes(b"Drones were seen overhead."),
            &feed(),
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn marks_are_placed_on_the_original_text() {
        assert_eq!(
            marked("Kyiv and KYIV", &[(0, 4), (9, 13)], false),
            "«Kyiv» and «KYIV»"
        );
        assert_eq!(
            marked("é", &[(0, 1)], false),
            "é",
            "not a char boundary: ignored"
        );
    }
}
