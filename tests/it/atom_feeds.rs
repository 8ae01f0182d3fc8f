//! The Atom feeds over real HTTP against the real endpoint, with a
//! database filled by real polls: valid Atom as three parsers read it
//! (storywatch's own, feed-rs, and Python's feedparser with no `bozo`),
//! stable entry ids (the alert's idempotency key), the diff as escaped
//! HTML content, paging links, and conditional GET.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{rss, FeedServer, T0};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;

const MIN: i64 = 60_000;

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

/// Python's feedparser on `body`: `Some((bozo, entries))`, or `None` when no
/// interpreter here has it (said loudly: `.ci/run` installs it).
fn feedparser(body: &str) -> Option<(bool, usize, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.atom");
    std::fs::write(&file, body).unwrap();
    let script = "import sys, feedparser\nd = feedparser.parse(sys.argv[1])\nprint(int(bool(d.bozo)), len(d.entries), repr(d.get('bozo_exception', '')))";
    for python in ["python3", "/usr/bin/python3"] {
        let Ok(out) = std::process::Command::new(python)
            .args(["-c", script])
            .arg(&file)
            .output()
        else {
            continue;
        };
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let mut parts = text.trim().splitn(3, ' ');
            let bozo = parts.next() == Some("1");
            let n = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            return Some((bozo, n, parts.next().unwrap_or("").to_string()));
        }
    }
    eprintln!(
        "\n*** SKIPPED the Python feedparser check: no python3 here imports feedparser \
         (pip install feedparser, or apt-get install python3-feedparser; .ci/run does) ***\n"
    );
    None
}

/// The three parsers agree the document is a valid feed of `n` entries.
fn valid(body: &str, n: usize) -> feed_rs::model::Feed {
    let ours = storywatch::parse::parse_feed(body.as_bytes(), Some("application/atom+xml"), None)
        .unwrap_or_else(|e| panic!("storywatch's parser: {e}\n{body}"));
    assert_eq!(ours.entries.len(), n);
    assert!(ours.warnings.is_empty(), "{:?}", ours.warnings);
    let theirs =
        feed_rs::parser::parse(body.as_bytes()).unwrap_or_else(|e| panic!("feed-rs: {e}\n{body}"));
    assert_eq!(theirs.entries.len(), n);
    if let Some((bozo, entries, why)) = feedparser(body) {
        assert!(!bozo, "feedparser: bozo ({why})\n{body}");
        assert_eq!(entries, n);
    }
    theirs
}

fn link(feed: &feed_rs::model::Feed, rel: &str) -> Option<String> {
    feed.links
        .iter()
        .find(|l| l.rel.as_deref() == Some(rel))
        .map(|l| l.href.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_feeds_are_valid_paged_and_conditional() {
    let dir = tempfile::tempdir().unwrap();
    let news = FeedServer::start().await;
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
baseline = false

[[feed]]
name = "news"
url = "{}"

[[watch]]
name = "all"
query = "report"

[[watch]]
name = "fires"
query = "wildfire"
"#,
        dir.path().join("state").display(),
        news.url()
    );
    let config = Config::from_toml(Path::new("atom.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    // 55 reports (more than a page) and one wildfire story
    let guids: Vec<String> = (0..55).map(|i| format!("r{i}")).collect();
    let titles: Vec<String> = (0..55)
        .map(|i| format!("Daily report number {i}"))
        .collect();
    let mut items: Vec<(&str, &str, &str)> = guids
        .iter()
        .zip(&titles)
        .map(|(g, t)| {
            (
                g.as_str(),
                t.as_str(),
                "Nothing happened &amp;lt;b&amp;gt;today&amp;lt;/b&amp;gt;.",
            )
        })
        .collect();
    items.push((
        "fire",
        "Wildfire near Ridgeville",
        "About 2,000 residents were told to leave.",
    ));
    news.set("application/rss+xml", rss(&items));
    storywatch::poll::poll_feed(&app, "news").await.unwrap();
    clock.advance(MIN);

    let (base, server) = common::endpoint(&app).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // every alert, newest first, 50 a page
    let first = get(&client, &format!("{base}/feeds/updates.atom"), &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.headers["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = valid(&first.body, 50);
    let alerts: Vec<_> = app
        .store
        .alerts_newest_first(None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(alerts.len(), 56);
    assert_eq!(
        feed.entries[0].id,
        format!("urn:storywatch:alert:{}", alerts[0].key),
        "the entry id is the alert's idempotency key"
    );
    assert_eq!(
        link(&feed, "self").unwrap(),
        format!("{base}/feeds/updates.atom")
    );
    let next = link(&feed, "next").expect("a next page");
    let second = get(&client, &next, &[]).await;
    let feed2 = valid(&second.body, 6);
    assert!(link(&feed2, "next").is_none(), "the last page");
    let mut ids: Vec<String> = feed
        .entries
        .iter()
        .chain(&feed2.entries)
        .map(|e| e.id.clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 56, "the pages neither repeat nor skip");
    // feed text is escaped content, never markup
    let report = feed
        .entries
        .iter()
        .find(|e| e.title.as_ref().unwrap().content.contains("report"))
        .unwrap();
    let html = report.content.as_ref().unwrap().body.clone().unwrap();
    assert!(!html.contains("<b>"), "{html}");
    let story_link = report
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("related"))
        .unwrap();
    assert!(story_link.href.starts_with(&format!("{base}/stories/")));
    assert!(report
        .links
        .iter()
        .any(|l| l.href.starts_with("http://example.com/r")));

    // conditional GET
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    let modified = first.headers["last-modified"].to_str().unwrap().to_string();
    let again = get(
        &client,
        &format!("{base}/feeds/updates.atom"),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    let again = get(
        &client,
        &format!("{base}/feeds/updates.atom"),
        &[("if-modified-since", &modified)],
    )
    .await;
    assert_eq!(again.status, 304);

    // an edit: a new entry, a new ETag, and the diff in the story's feed
    items.pop();
    items.push((
        "fire",
        "Wildfire near Ridgeville",
        "About 5,000 residents were told to leave.",
    ));
    news.set("application/rss+xml", rss(&items));
    storywatch::poll::poll_feed(&app, "news").await.unwrap();
    let changed = get(
        &client,
        &format!("{base}/feeds/updates.atom"),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(changed.status, 200);
    let feed = valid(&changed.body, 50);
    let top = &feed.entries[0];
    let content = top.content.as_ref().unwrap().body.clone().unwrap();
    assert!(
        content.contains("<del>2,000</del><ins>5,000</ins>"),
        "{content}"
    );
    assert_eq!(top.updated.unwrap().timestamp_millis(), T0 + MIN);

    // one watch's alerts
    let fires = get(&client, &format!("{base}/feeds/watch/fires.atom"), &[]).await;
    let fires = valid(&fires.body, 2);
    assert!(fires.entries.iter().all(|e| e
        .title
        .as_ref()
        .unwrap()
        .content
        .contains("watch fires")));
    let missing = get(&client, &format!("{base}/feeds/watch/nope.atom"), &[]).await;
    assert_eq!(missing.status, 404);

    // one story's versions
    let story = story_link_of(top);
    let id = story.rsplit('/').next().unwrap();
    let versions = get(&client, &format!("{base}/feeds/story/{id}.atom"), &[]).await;
    let versions = valid(&versions.body, 2);
    assert!(versions.entries[0]
        .title
        .as_ref()
        .unwrap()
        .content
        .starts_with("revision 2"));
    let missing = get(&client, &format!("{base}/feeds/story/nope.atom"), &[]).await;
    assert_eq!(missing.status, 404);
    server.abort();
}

fn story_link_of(e: &feed_rs::model::Entry) -> String {
    e.links
        .iter()
        .find(|l| l.rel.as_deref() == Some("related"))
        .map(|l| l.href.clone())
        .unwrap()
}
