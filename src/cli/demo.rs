//! `storywatch demo`: the whole product in a few seconds, offline.
//!
//! A local HTTP server on 127.0.0.1 serves a small (fictional, self-written)
//! news feed in successive versions: a developing story appears, is edited
//! three times, while other stories change in ways that must stay silent (a
//! date bump, a story nobody watches). The real pipeline (fetch → parse →
//! track → match → outbox → stdout notifier) polls it after each version,
//! so the output is exactly what a user would receive.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::delivery;
use crate::poll::{self, PollOutcome};

/// One story as it stands in one version of the feed.
struct Item {
    guid: &'static str,
    link: &'static str,
    title: &'static str,
    description: &'static str,
    pub_date: &'static str,
}

const CYCLE: Item = Item {
    guid: "urn:demo:cycle-lanes",
    link: "https://news.example/local/cycle-lanes-approved-40211",
    title: "Council approves new cycle lanes on Bridge Street",
    description: "The town council voted 9-2 to build protected cycle lanes on Bridge Street, with work due to start in the spring.",
    pub_date: "Mon, 09 Nov 2026 08:00:00 GMT",
};

const BAKERY: Item = Item {
    guid: "urn:demo:bakery-award",
    link: "https://news.example/local/bakery-award-40198",
    title: "Kelby bakery wins regional sourdough award",
    description:
        "A family bakery in Kelby has won the regional sourdough prize for the third year running.",
    pub_date: "Sun, 08 Nov 2026 17:30:00 GMT",
};

const DAM_GUID: &str = "urn:demo:harrow-dam";
const DAM_LINK: &str = "https://news.example/uk/harrow-reservoir-dam-40230?utm_source=rss";

/// The developing story, version by version (title, description).
const DAM_VERSIONS: [(&str, &str); 4] = [
    (
        "Engineers monitor Harrow Reservoir dam after record rainfall",
        "Engineers are monitoring the Harrow Reservoir dam after two days of record rainfall. \
         About 2,000 residents downstream have been told to prepare for a possible evacuation. \
         This is a developing story and will be updated.",
    ),
    (
        "Evacuation ordered below Harrow Reservoir dam as water nears spillway",
        "Engineers are monitoring the Harrow Reservoir dam after two days of record rainfall. \
         About 6,000 residents downstream have been ordered to leave their homes. \
         Police have closed the A41 between Harrow and Kelby. \
         This is a developing story and will be updated.",
    ),
    (
        "Evacuation ordered below Harrow Reservoir dam as water nears spillway",
        "Engineers are monitoring the Harrow Reservoir dam after two days of record rainfall. \
         About 6,500 residents downstream have been ordered to leave their homes. \
         Police have closed the A41 between Harrow and Kelby. \
         The water authority said the spillway was working as designed and there was no sign of structural damage. \
         This is a developing story and will be updated.",
    ),
    (
        "Residents return home as Harrow Reservoir water level falls",
        "The evacuation order below the Harrow Reservoir dam has been lifted after the water level fell overnight. \
         About 6,500 residents who left their homes on Tuesday may return. \
         The A41 between Harrow and Kelby has reopened. \
         The water authority said the spillway had worked as designed and there was no sign of structural damage.",
    ),
];

/// What each step of the demo shows, and the feed it serves.
fn steps() -> Vec<(&'static str, String)> {
    let dam = |v: usize| Item {
        guid: DAM_GUID,
        link: DAM_LINK,
        title: DAM_VERSIONS[v].0,
        description: DAM_VERSIONS[v].1,
        pub_date: "Tue, 10 Nov 2026 06:10:00 GMT",
    };
    let bakery_bumped = Item {
        pub_date: "Tue, 10 Nov 2026 07:00:00 GMT",
        ..BAKERY
    };
    let cycle_edited = Item {
        description: "The town council voted 9-2 to build protected cycle lanes on Bridge Street, with work due to start in spring.",
        ..CYCLE
    };
    vec![
        ("the feed as it was when you subscribed (a baseline: no alerts)", rss(&[&CYCLE, &BAKERY])),
        ("the site publishes a story your watch matches, and bumps another story's date (silent)", rss(&[&dam(0), &CYCLE, &bakery_bumped])),
        ("the story is rewritten: new headline, a number changes, a sentence is added", rss(&[&dam(1), &CYCLE, &bakery_bumped])),
        ("a paragraph is added and a figure revised; an unwatched story is edited too (silent)", rss(&[&dam(2), &cycle_edited, &bakery_bumped])),
        ("the story is updated again with a new headline", rss(&[&dam(3), &cycle_edited, &bakery_bumped])),
        ("nothing changed (a 304 Not Modified: silent)", rss(&[&dam(3), &cycle_edited, &bakery_bumped])),
    ]
}

fn rss(items: &[&Item]) -> String {
    let esc = |s: &str| html_escape::encode_text(s).into_owned();
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>News Example: Local</title><link>https://news.example/</link>\
         <description>Demo feed for storywatch</description>\n",
    );
    for i in items {
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><link>{}</link><title>{}</title><description>{}</description><pubDate>{}</pubDate></item>\n",
            esc(i.guid),
            esc(i.link),
            esc(i.title),
            esc(i.description),
            i.pub_date
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

const DEMO_CONFIG: &str = r#"
[daemon]
state_dir = "STATE_DIR"
per_host_delay = "0s"
log_level = "warn"

[[feed]]
name = "news-example"
url = "FEED_URL"
interval = "1m"

[[watch]]
name = "harrow-dam"
query = '(dam OR reservoir) AND (evacuat* OR flood* OR spillway)'
on = ["new", "update", "mention"]

[[notifier]]
name = "console"
type = "stdout"
"#;

/// The demo's feed server: serves `steps()[current]` with an ETag.
struct FeedServer {
    versions: Vec<String>,
    current: AtomicUsize,
}

async fn serve_feed(State(s): State<Arc<FeedServer>>, headers: HeaderMap) -> Response {
    let i = s.current.load(Ordering::SeqCst).min(s.versions.len() - 1);
    let body = &s.versions[i];
    let etag = format!("\"v{}\"", crate::fingerprint::of_parts(&[body]));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "application/rss+xml; charset=utf-8".to_string(),
            ),
            (header::ETAG, etag),
        ],
        body.clone(),
    )
        .into_response()
}

/// Writes to stdout now (the alerts, printed by the console notifier, come
/// in between). A closed stdout (`storywatch demo | head`) is an error that
/// ends the demo; `main` exits quietly on it.
fn say(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Runs the demo, printing to stdout. With `state_dir` the database is kept
/// there; otherwise a temporary directory is used and removed.
pub async fn run(state_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let steps = steps();
    let server = Arc::new(FeedServer {
        versions: steps.iter().map(|(_, v)| v.clone()).collect(),
        current: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new()
        .route("/feed.xml", axum::routing::get(serve_feed))
        .with_state(server.clone());
    let server_task = tokio::spawn(async move { axum::serve(listener, router).await });

    let temp = tempfile::tempdir()?;
    let dir = state_dir.unwrap_or_else(|| temp.path().to_path_buf());
    let text = DEMO_CONFIG
        .replace(
            "STATE_DIR",
            &dir.display().to_string().replace('\\', "\\\\"),
        )
        .replace("FEED_URL", &format!("http://{addr}/feed.xml"));
    let config = Config::from_toml(std::path::Path::new("<demo>"), &text)?;
    let app = Arc::new(App::open(config, Arc::new(SystemClock))?);

    say(&format!(
        "storywatch demo: a local news feed at http://{addr}/feed.xml, watched with\n  query = '(dam OR reservoir) AND (evacuat* OR flood* OR spillway)'\n\n"
    ))?;
    for (i, (what, _)) in steps.iter().enumerate() {
        server.current.store(i, Ordering::SeqCst);
        say(&format!("── poll {}: {what} ──\n\n", i + 1))?;
        let report = poll::poll_feed(&app, "news-example").await?;
        if let PollOutcome::Failed { message, .. } = &report.outcome {
            anyhow::bail!("the demo feed failed to poll: {message}");
        }
        let pass = delivery::deliver_pass(&app, "console").await?;
        if pass.sent == 0 {
            let why = match &report.outcome {
                PollOutcome::NotModified => "server answered 304 Not Modified".to_string(),
                PollOutcome::Parsed { stats, .. } => format!(
                    "{} stories seen: {} new (baseline), {} edited but not watched or not material, {} date-only changes",
                    stats.entries, stats.new, stats.updated, stats.dates_only
                ),
                PollOutcome::Failed { .. } => String::new(),
            };
            say(&format!("(no alert: {why})\n\n"))?;
        }
    }
    say("That is storywatch: one alert when the story appeared, one per real edit with what changed,\nand silence for everything else. Try it on real feeds: see README.md.\n")?;
    app.store.flush().await?;
    drop(app);
    server_task.abort();
    Ok(())
}
