//! Plain data shared by every stage of the pipeline.
//!
//! The parser produces [`Entry`] values (never feed-rs types), the tracker
//! turns them into normalised [`Snapshot`]s, says which [`Field`]s changed
//! and how much the change matters ([`ChangeClass`], which a feed's and a
//! watch's `min_materiality` in the config name too), and emits events the
//! matcher wraps into alerts. Keeping these types here, free of I/O, lets
//! each stage be tested as a plain function over plain data.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Every stored time uses this unit so
/// that arithmetic on them never mixes units.
pub type UnixMs = i64;

/// The wire format a document was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    Rss0,
    Rss1,
    Rss2,
    Atom,
    Json,
}

/// One item of a feed as the publisher wrote it (text may still contain HTML).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `<guid>` / `<id>` / JSON `id` exactly as the feed gave it (trimmed);
    /// `None` when the feed gave none. Never a generated value.
    pub guid: Option<String>,
    /// The entry's main (alternate) link, resolved against the feed's base URL.
    pub link: Option<String>,
    /// Title as published; may contain HTML markup or entities.
    pub title: String,
    /// Summary / description as published; may contain HTML.
    pub summary: String,
    /// Full content (`content:encoded`, Atom `content`); may contain HTML.
    pub content: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    /// Enclosure / media URLs.
    pub enclosures: Vec<String>,
    pub published: Option<UnixMs>,
    pub updated: Option<UnixMs>,
}

/// A feed document turned into our own types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedFeed {
    pub format: FeedFormat,
    pub title: Option<String>,
    pub link: Option<String>,
    /// RSS `<ttl>` in minutes.
    pub ttl_minutes: Option<u32>,
    /// `sy:updatePeriod` / `sy:updateFrequency` as a period in seconds.
    pub update_period_secs: Option<u64>,
    pub entries: Vec<Entry>,
    /// Recoveries applied to accept a document that was not well formed
    /// (e.g. "replaced 3 undeclared HTML entities"), for logs.
    pub warnings: Vec<String>,
}

/// The normalised, comparable form of one version of a story: HTML turned
/// into text, whitespace and typography normalised, ignore patterns removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub title: String,
    pub summary: String,
    pub content: String,
    /// Canonical link (tracking parameters removed).
    pub link: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub enclosures: Vec<String>,
    pub published: Option<UnixMs>,
    pub updated: Option<UnixMs>,
}

impl Snapshot {
    /// The longest body text the story has: content when present, else summary.
    pub fn body(&self) -> &str {
        if self.content.len() >= self.summary.len() {
            &self.content
        } else {
            &self.summary
        }
    }
}

/// The publisher's text of a version, where it differs from the
/// comparison form only in typography (curly quotes, dashes, `…`, odd
/// spaces): alerts show this, the tracker compares the other. `None` where
/// the two are the same (most text), so nothing is stored twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Of [`Snapshot::body`]'s field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Display {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.body.is_none()
    }

    /// The title to show, given the comparison form.
    pub fn title<'a>(&'a self, normal: &'a str) -> &'a str {
        self.title.as_deref().unwrap_or(normal)
    }

    /// The body to show, given the comparison form.
    pub fn body<'a>(&'a self, normal: &'a str) -> &'a str {
        self.body.as_deref().unwrap_or(normal)
    }
}

/// A field of a story that can change between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Summary,
    Content,
    Link,
    Author,
    Category,
    Enclosure,
    Published,
    Updated,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
            Field::Link => "link",
            Field::Author => "author",
            Field::Category => "category",
            Field::Enclosure => "enclosure",
            Field::Published => "published",
            Field::Updated => "updated",
        }
    }

    /// Dates change for many reasons (a republish, a `lastBuildDate` bump):
    /// on their own they are never an update worth telling anyone about.
    pub fn is_date(self) -> bool {
        matches!(self, Field::Published | Field::Updated)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a change matters, least first: `typo` is cosmetic (a few
/// characters, punctuation, or metadata only: link, byline, categories,
/// images), `minor` a small rewording, `major` what a follower wants to know
/// (a rewritten headline, a sentence added or removed, any number changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeClass {
    Typo,
    Minor,
    Major,
}

impl ChangeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::Typo => "typo",
            ChangeClass::Minor => "minor",
            ChangeClass::Major => "major",
        }
    }
}

impl std::fmt::Display for ChangeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not "typo", "minor" or "major".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseChangeClassError(pub String);

impl std::fmt::Display for ParseChangeClassError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown change class {:?}: expected \"typo\", \"minor\" or \"major\"",
            self.0
        )
    }
}

impl std::error::Error for ParseChangeClassError {}

impl std::str::FromStr for ChangeClass {
    type Err = ParseChangeClassError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "typo" => Ok(ChangeClass::Typo),
            "minor" => Ok(ChangeClass::Minor),
            "major" => Ok(ChangeClass::Major),
            _ => Err(ParseChangeClassError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_parses_and_prints() {
        for class in [ChangeClass::Typo, ChangeClass::Minor, ChangeClass::Major] {
            assert_eq!(class.to_string().parse::<ChangeClass>(), Ok(class));
        }
        assert_eq!(" Major ".parse::<ChangeClass>(), Ok(ChangeClass::Major));
        assert!("huge".parse::<ChangeClass>().is_err());
        assert!(ChangeClass::Typo < ChangeClass::Minor && ChangeClass::Minor < ChangeClass::Major);
        assert_eq!(
            serde_json::to_string(&ChangeClass::Minor).unwrap_or_default(),
            "\"minor\""
        );
    }
}
