//! Feed management commands: `storywatch feeds` (status of every feed),
//! `import-opml FILE` and `export-opml`. The logic lives here so main.rs
//! stays a thin argument parser and tests can call it directly.

use std::path::Path;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::model::UnixMs;
use crate::opml::{self, ImportReport};
use crate::records::FeedState;
use crate::store::{Store, StoreError};

/// One line per configured feed: status, items, last success, next poll,
/// how often a conditional GET saved the download, and the last error.
pub fn feeds_report(config: &Config, store: &Store, now: UnixMs) -> Result<String, StoreError> {
    let mut rows = vec![[
        "NAME".to_string(),
        "STATUS".into(),
        "ITEMS".into(),
        "LAST SUCCESS".into(),
        "NEXT POLL".into(),
        "304 RATE".into(),
        "LAST ERROR".into(),
    ]];
    for feed in &config.feeds {
        let state = store.feed_state(&feed.name)?;
        rows.push(row(&feed.name, state.as_ref(), feed.url.as_str(), now));
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[c], w = *w));
        }
        out.push_str(&r[6]);
        out.push('\n');
    }
    Ok(out)
}

fn row(name: &str, state: Option<&FeedState>, config_url: &str, now: UnixMs) -> [String; 7] {
    let Some(s) = state else {
        return [
            name.into(),
            "new".into(),
            "-".into(),
            "never".into(),
            "soon".into(),
            "-".into(),
            String::new(),
        ];
    };
    let status = if s.gone {
        "gone".to_string()
    } else if s.failures > 0 {
        format!("failing ({}x)", s.failures)
    } else if s.last_success.is_none() {
        "new".into()
    } else {
        "ok".into()
    };
    let moved = if s.url != config_url && !s.url.is_empty() {
        format!("moved to {}; ", s.url)
    } else {
        String::new()
    };
    let rate = (s.not_modified * 100)
        .checked_div(s.polls)
        .map_or("-".to_string(), |r| format!("{r}%"));
    [
        name.into(),
        status,
        s.items.to_string(),
        s.last_success
            .map_or("never".into(), |t| format!("{} ago", human(now - t))),
        if s.next_poll <= now {
            "due".into()
        } else {
            format!("in {}", human(s.next_poll - now))
        },
        rate,
        format!("{moved}{}", s.last_error.as_deref().unwrap_or("")),
    ]
}

/// "3m", "2h 5m": to the minute past an hour, to the second below.
fn human(ms: i64) -> String {
    let secs = (ms.max(0) / 1000) as u64;
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {source}")]
    Opml {
        path: String,
        source: opml::OpmlError,
    },
    #[error("the config with the imported feeds does not validate, so nothing was written:\n{0}")]
    Invalid(ConfigError),
}

/// Appends the OPML file's feeds to the config file (see
/// [`opml::append_feeds`]), validates the result, and only then replaces
/// the file (written beside it and renamed, so a crash leaves either the
/// old or the new file, never half of one).
pub fn import_opml(config_path: &Path, opml_path: &Path) -> Result<ImportReport, ImportError> {
    let io = |path: &Path, e: std::io::Error| ImportError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let text = std::fs::read_to_string(config_path).map_err(|e| io(config_path, e))?;
    let config = Config::from_toml(config_path, &text)?;
    let opml_text = std::fs::read_to_string(opml_path).map_err(|e| io(opml_path, e))?;
    let feeds = opml::parse(&opml_text).map_err(|source| ImportError::Opml {
        path: opml_path.display().to_string(),
        source,
    })?;
    let report = opml::append_feeds(&text, &config, &feeds);
    if report.added.is_empty() {
        return Ok(report);
    }
    Config::from_toml(config_path, &report.text).map_err(ImportError::Invalid)?;
    let tmp = config_path.with_extension("toml.importing");
    std::fs::write(&tmp, &report.text).map_err(|e| io(&tmp, e))?;
    if let Ok(meta) = std::fs::metadata(config_path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, config_path).map_err(|e| io(config_path, e))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_shows_status_rate_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"good\"\nurl = \"https://a.example/feed\"\n[[feed]]\nname = \"bad\"\nurl = \"https://b.example/feed\"\n[[feed]]\nname = \"fresh\"\nurl = \"https://c.example/feed\"\n",
            dir.path().display()
        );
        let config = Config::from_toml(Path::new("c.toml"), &text).unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let now = 1_800_000_000_000;
        store
            .put_feed_state(
                "good",
                &FeedState {
                    url: "https://a.example/feed".into(),
                    last_success: Some(now - 300_000),
                    next_poll: now + 120_000,
                    polls: 10,
                    not_modified: 7,
                    items: 42,
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .put_feed_state(
                "bad",
                &FeedState {
                    url: "https://b.example/new".into(),
                    failures: 3,
                    last_error: Some("HTTP 500 Internal Server Error".into()),
                    next_poll: now - 1,
                    polls: 3,
                    ..Default::default()
                },
            )
            .unwrap();
        let out = feeds_report(&config, &store, now).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{out}");
        assert!(lines[1].contains("ok") && lines[1].contains("42"), "{out}");
        assert!(
            lines[1].contains("5m ago") && lines[1].contains("in 2m"),
            "{out}"
        );
        assert!(lines[1].contains("70%"), "{out}");
        assert!(
            lines[2].contains("failing (3x)") && lines[2].contains("due"),
            "{out}"
        );
        assert!(
            lines[2].contains("moved to https://b.example/new; HTTP 500"),
            "{out}"
        );
        assert!(
            lines[3].contains("new") && lines[3].contains("never"),
            "{out}"
        );
    }

    #[test]
    fn import_writes_only_a_valid_config() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        let original = "# comment kept\n[[feed]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n";
        std::fs::write(&config_path, original).unwrap();
        let opml_path = dir.path().join("subs.opml");
        std::fs::write(
            &opml_path,
            "<opml version=\"1.0\"><body><outline text=\"B\" xmlUrl=\"https://b.example/rss\"/></body></opml>",
        )
        .unwrap();
        let report = import_opml(&config_path, &opml_path).unwrap();
        assert_eq!(
            report.added,
            [("b".to_string(), "https://b.example/rss".to_string())]
        );
        let written = std::fs::read_to_string(&config_path).unwrap();
        assert!(written.starts_with(original));
        assert_eq!(Config::load(&config_path).unwrap().feeds.len(), 2);
        // not OPML: a clear error, the config untouched
        std::fs::write(&opml_path, "<html></html>").unwrap();
        let err = import_opml(&config_path, &opml_path).unwrap_err();
        assert!(err.to_string().contains("not an OPML file"), "{err}");
        assert_eq!(std::fs::read_to_string(&config_path).unwrap(), written);
    }
}
