//! `storywatch feeds`: the status of every configured feed, one line each,
//! read from the stored feed states (by the running daemon, or here when
//! none runs: see [`crate::cli::dispatch`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::control::{Command, Ctx, Problem};
use crate::model::UnixMs;
use crate::records::FeedState;
use crate::store::{Store, StoreError};

/// `storywatch feeds` as a command the daemon answers: the configured
/// feeds (of the config the daemon runs on) with their stored states.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Feeds {}

/// One configured feed and what is stored about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRow {
    pub name: String,
    pub url: String,
    pub state: Option<FeedState>,
}

impl Command for Feeds {
    const NAME: &'static str = "feeds";
    type Answer = Vec<FeedRow>;
    fn handle(self, ctx: &Ctx) -> Result<Vec<FeedRow>, Problem> {
        Ok(rows(ctx.config, ctx.store)?)
    }
}

/// Every configured feed with its stored state.
pub fn rows(config: &Config, store: &Store) -> Result<Vec<FeedRow>, StoreError> {
    config
        .feeds
        .iter()
        .map(|feed| {
            Ok(FeedRow {
                name: feed.name.clone(),
                url: feed.url.to_string(),
                state: store.feed_state(&feed.name)?,
            })
        })
        .collect()
}

/// One line per configured feed: status, items, last success, next poll,
/// how often a conditional GET saved the download, and the last error.
pub fn report(feeds: &[FeedRow], now: UnixMs) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "STATUS".into(),
        "ITEMS".into(),
        "LAST SUCCESS".into(),
        "NEXT POLL".into(),
        "304 RATE".into(),
        "LAST ERROR".into(),
    ]];
    for feed in feeds {
        rows.push(row(&feed.name, feed.state.as_ref(), &feed.url, now));
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
    out
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
        let config = Config::from_toml(std::path::Path::new("c.toml"), &text).unwrap();
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
        let out = report(&rows(&config, &store).unwrap(), now);
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
}
