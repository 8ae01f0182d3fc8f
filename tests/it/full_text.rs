//! Full-text feeds against a real local server: the article page's main
//! text becomes the story's content, edits behind an unchanged headline are
//! seen, pages are cached by ETag, failed extractions are not edits, and
//! article fetching stays bounded.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{max_in_flight, reply, RawRequest, RawServer, Step};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::poll::{self, PollOutcome};

const T0: i64 = 1_790_000_000_000;

fn open(dir: &Path, daemon_extra: &str, url: &str) -> (Arc<App>, Arc<ManualClock>) {
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\n{daemon_extra}\n\n[[feed]]\nname = \"f\"\nurl = \"{url}\"\nfull_text = true\n",
        dir.display()
    );
    let cfg = Config::from_toml(Path::new("test.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    (Arc::new(App::open(cfg, clock.clone()).unwrap()), clock)
}

/// A headline-only RSS feed linking to `/article/<id>` on `base`.
fn feed(base: &str, ids: &[&str]) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title><link>http://example.com/</link><description>d</description>");
    for id in ids {
        s.push_str(&format!(
            "<item><guid>{id}</guid><title>Headline {id}</title><link>{base}/article/{id}</link></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn page(paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
    format!("<html><head><title>Story</title></head><body><nav><a href=\"/\">Home</a> | <a href=\"/news\">News</a></nav><article><h1>Story</h1>{body}</article><footer>Copyright Example News</footer></body></html>")
}

const P1: &str = "The river peaked at 4.2 metres overnight, the highest level recorded since 1987, officials said on Tuesday morning after a night of heavy rain.";
const P2: &str = "About 300 residents of the lower town were evacuated to the school gymnasium, where volunteers handed out blankets and hot food.";
const P3: &str = "Two roads into the town remain closed and the council has asked drivers to avoid the area until the water recedes.";
const P4: &str = "Late on Tuesday the army was called in to help reinforce the embankment along the northern bank.";

/// What the scripted site serves: the feed, and one page per article with
/// an ETag so conditional GETs get 304.
#[derive(Default)]
struct Site {
    feed: String,
    pages: Vec<(String, String)>,
}

fn site_script(site: Arc<Mutex<Site>>) -> common::Script {
    Arc::new(move |r: &RawRequest| {
        let site = site.lock().unwrap();
        if r.path == "/feed" {
            return reply(
                200,
                &[("Content-Type", "application/rss+xml")],
                site.feed.as_bytes(),
            );
        }
        let id = r.path.trim_start_matches("/article/");
        match site.pages.iter().find(|(p, _)| p == id) {
            Some((_, html)) => {
                let etag = format!("\"{}\"", html.len());
                if r.header("if-none-match") == Some(etag.as_str()) {
                    reply(304, &[("ETag", &etag)], b"")
                } else {
                    reply(
                        200,
                        &[
                            ("Content-Type", "text/html; charset=utf-8"),
                            ("ETag", &etag),
                        ],
                        html.as_bytes(),
                    )
                }
            }
            None => reply(404, &[], b"not found"),
        }
    })
}

fn article_requests(server: &RawServer, id: &str) -> Vec<RawRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/article/{id}"))
        .collect()
}

#[tokio::test]
async fn the_article_text_becomes_content_and_edits_behind_a_headline_are_seen() {
    let site = Arc::new(Mutex::new(Site::default()));
    let server = RawServer::start(site_script(site.clone())).await;
    let base = format!("http://{}", server.addr);
    {
        let mut s = site.lock().unwrap();
        s.feed = feed(&base, &["flood"]);
        s.pages = vec![("flood".into(), page(&[P1, P2, P3]))];
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = open(dir.path(), "", &server.url("/feed"));

    // 1. first poll: the story's content is the article's main text
    let r = poll::poll_feed(&app, "f").await.unwrap();
    assert!(
        matches!(r.outcome, PollOutcome::Parsed { .. }),
        "{:?}",
        r.outcome
    );
    let story = app.store.find_story("flood").unwrap().unwrap();
    assert!(
        story.latest.content.contains("peaked at 4.2 metres"),
        "{}",
        story.latest.content
    );
    assert!(
        story.latest.content.contains("Two roads"),
        "{}",
        story.latest.content
    );
    assert!(
        !story.latest.content.contains("Copyright"),
        "{}",
        story.latest.content
    );
    assert_eq!(article_requests(&server, "flood").len(), 1);

    // 2. the feed did not change: no parse, no article request
    clock.advance(600_000);
    let r = poll::poll_feed(&app, "f").await.unwrap();
    assert_eq!(r.outcome, PollOutcome::NotModified);
    assert_eq!(article_requests(&server, "flood").len(), 1);

    // 3. the article is edited (the headline is not) and another story
    //    appears: the recent story is re-checked and the edit is seen
    {
        let mut s = site.lock().unwrap();
        s.feed = feed(&base, &["rail", "flood"]);
        s.pages = vec![
            ("flood".into(), page(&[P1, P2, P3, P4])),
            ("rail".into(), page(&[P2, P3])),
        ];
    }
    clock.advance(600_000);
    let r = poll::poll_feed(&app, "f").await.unwrap();
    match &r.outcome {
        PollOutcome::Parsed { stats, .. } => assert_eq!((stats.new, stats.updated), (1, 1)),
        other => panic!("{other:?}"),
    }
    let reqs = article_requests(&server, "flood");
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].header("if-none-match").is_some(), "conditional GET");
    let story = app.store.find_story("flood").unwrap().unwrap();
    assert_eq!(story.revision, 2);
    assert!(story.latest.content.contains("army was called in"));
    let versions = app.store.versions(&story.id).unwrap();
    assert!(!versions[0].snapshot.content.contains("army"));

    // 4. the feed changes again but the page does not: a 304, no update
    site.lock().unwrap().feed = feed(&base, &["quake", "rail", "flood"]);
    site.lock()
        .unwrap()
        .pages
        .push(("quake".into(), page(&[P1, P3])));
    clock.advance(600_000);
    match poll::poll_feed(&app, "f").await.unwrap().outcome {
        PollOutcome::Parsed { stats, .. } => assert_eq!((stats.new, stats.updated), (1, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(article_requests(&server, "flood").len(), 3);
    assert_eq!(
        app.store.find_story("flood").unwrap().unwrap().revision,
        2,
        "a 304 article is no edit"
    );
}

#[tokio::test]
async fn a_page_that_lost_most_of_its_text_is_a_failed_extraction_not_an_edit() {
    let site = Arc::new(Mutex::new(Site::default()));
    let server = RawServer::start(site_script(site.clone())).await;
    let base = format!("http://{}", server.addr);
    {
        let mut s = site.lock().unwrap();
        s.feed = feed(&base, &["flood"]);
        s.pages = vec![("flood".into(), page(&[P1, P2, P3, P4]))];
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = open(dir.path(), "", &server.url("/feed"));
    poll::poll_feed(&app, "f").await.unwrap();
    let before = app.store.find_story("flood").unwrap().unwrap();

    // a paywall stub replaces the article; the headline changes too, so the
    // page is fetched for sure
    {
        let mut s = site.lock().unwrap();
        s.feed = feed(&base, &["flood"]).replace("Headline flood", "Headline flood (updated)");
        s.pages = vec![(
            "flood".into(),
            page(&["Subscribe to continue reading this article."]),
        )];
    }
    clock.advance(600_000);
    poll::poll_feed(&app, "f").await.unwrap();
    let after = app.store.find_story("flood").unwrap().unwrap();
    assert_eq!(
        after.latest.content, before.latest.content,
        "previous text kept"
    );
    assert_eq!(article_requests(&server, "flood").len(), 2);
}

#[tokio::test]
async fn article_fetching_is_bounded_and_only_follows_http_links() {
    let ids: Vec<String> = (0..30).map(|i| format!("a{i}")).collect();
    let server = RawServer::start(Arc::new(|_: &RawRequest| vec![])).await;
    let base = format!("http://{}", server.addr);
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // a slow page first (so it is within the per-poll budget), then the
    // thirty pages, then links that must never be fetched
    let body = feed(&base, &id_refs)
        .replace(
            "<description>d</description>",
            "<description>d</description><item><guid>slow</guid><title>Slow</title><link>BASE/slow</link></item>",
        )
        .replace(
            "</channel>",
            "<item><guid>evil1</guid><title>Local file</title><link>file:///etc/passwd</link></item><item><guid>evil2</guid><title>Script</title><link>javascript:alert(1)</link></item></channel>",
        )
        .replace("BASE", &base);
    let html = page(&[P1, P2, P3]);
    server.set_script(Arc::new(move |r: &RawRequest| match r.path.as_str() {
        "/feed" => reply(
            200,
            &[("Content-Type", "application/rss+xml")],
            body.as_bytes(),
        ),
        "/slow" => vec![Step::Drip {
            bytes: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            every: Duration::from_millis(500),
        }],
        _ => {
            let mut steps = vec![Step::Sleep(Duration::from_millis(100))];
            steps.extend(reply(
                200,
                &[("Content-Type", "text/html")],
                html.as_bytes(),
            ));
            steps
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(
        dir.path(),
        "per_host_concurrency = 10\ntimeout = \"1s\"",
        &server.url("/feed"),
    );
    let started = Instant::now();
    let r = poll::poll_feed(&app, "f").await.unwrap();
    assert!(
        matches!(r.outcome, PollOutcome::Parsed { .. }),
        "{:?}",
        r.outcome
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let articles: Vec<RawRequest> = server
        .requests()
        .into_iter()
        .filter(|q| q.path != "/feed")
        .collect();
    assert_eq!(articles.len(), storywatch::article::MAX_FETCHES_PER_POLL);
    assert!(max_in_flight(&articles) <= storywatch::article::ARTICLE_CONCURRENCY);
    assert!(articles.iter().any(|q| q.path == "/slow"));
    assert!(articles
        .iter()
        .all(|q| q.path.starts_with("/article/") || q.path == "/slow"));
    // entries with non-http links keep the feed's own (empty) content
    let evil = app.store.find_story("evil1").unwrap().unwrap();
    assert_eq!(evil.latest.content, "");
    // the stories are all there, alerts or not
    let st = app.store.feed_state("f").unwrap().unwrap();
    assert_eq!(st.items, 33);
}
