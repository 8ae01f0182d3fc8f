//! The dashboard in a real browser: headless Chromium (Debian's
//! `chromium` + `chromium-driver`) driven over WebDriver against the real
//! endpoint, over a database filled by real polls of a local feed server.
//! It logs in with the API token, follows a story through three edits,
//! checks each diff's insertions and deletions, toggles side by side,
//! compares two revisions, mutes the story, retries an outbox delivery,
//! and on every page checks that the console stayed clean and that
//! nothing was loaded from anywhere but 127.0.0.1. Screenshots (light,
//! dark, phone width) go to `target/test-output/dashboard/`; with
//! `STORYWATCH_UPDATE_SCREENSHOTS=1` the README's two are refreshed in
//! `docs/screenshots/`.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::webdriver::Browser;
use common::{rss, FeedServer, WebhookReceiver, T0};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::outbox::DeliveryState;

const MIN: i64 = 60_000;
const TOKEN: &str = "s3cret-dashboard-token";

const V1: (&str, &str, &str) = (
    "fire",
    "Wildfire forces 2,000 to evacuate",
    "This is a developing story. Crews are fighting a wildfire near Ridgeville. About 2,000 residents were told to leave.",
);
const V2: (&str, &str, &str) = (
    "fire",
    "Wildfire forces 2,000 to evacuate",
    "This is a developing story. Crews are fighting a wildfire near Ridgeville. About 5,000 residents were told to leave.",
);
const V3: (&str, &str, &str) = (
    "fire",
    "Wildfire forces 2,000 to evacuate",
    "This is a developing story. Crews are fighting a wildfire near Ridgeville. About 5,000 residents were told to leave. A state of emergency was declared on Tuesday.",
);
const V4: (&str, &str, &str) = (
    "fire",
    "Wildfire forces 5,000 to evacuate Ridgeville",
    "This is a developing story. About 5,000 residents were told to leave. A state of emergency was declared on Tuesday.",
);
const OTHER: (&str, &str, &str) = (
    "bakery",
    "Bakery &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; wins award",
    "For the third year running.",
);

/// Ordinary stories around it, for a home page that looks like one.
const COUNCIL: (&str, &str, &str) = (
    "council",
    "Council approves new cycle lanes on High Street",
    "The vote was 9-2 after a two-hour debate.",
);
const MARKET: (&str, &str, &str) = (
    "market",
    "Farmers market returns to the square on Saturdays",
    "Thirty stalls are expected from April.",
);

fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/dashboard")
}

/// The page has no console errors and loaded nothing from elsewhere.
async fn clean(b: &Browser, base: &str, page: &str) {
    let errors: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{page}: console errors: {errors:?}");
    for url in b.loaded_urls().await {
        assert!(
            url.starts_with(base),
            "{page} loaded {url}, not from {base}"
        );
    }
}

async fn shots(b: &Browser, name: &str) {
    let dir = output_dir();
    b.screenshot(&dir.join(format!("{name}-light.png"))).await;
    b.dark(true).await;
    b.screenshot(&dir.join(format!("{name}-dark.png"))).await;
    b.dark(false).await;
    b.phone(true).await;
    b.screenshot(&dir.join(format!("{name}-phone.png"))).await;
    b.phone(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let feed = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
baseline = false
api_token_file = "{}"
public_url = "https://news.example.org/sw/"

[[feed]]
name = "regional"
url = "{}"
tags = ["local"]

[[watch]]
name = "fires"
query = "wildfire"
notify = ["hook"]

[[notifier]]
name = "hook"
type = "webhook"
url = "{}"
"#,
        dir.path().join("state").display(),
        token_file.display(),
        feed.url(),
        hook.url()
    );
    let config = Config::from_toml(Path::new("dashboard.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    // the story through three edits, a minute apart
    for v in [V1, V2, V3, V4] {
        feed.set("application/rss+xml", rss(&[v, OTHER, COUNCIL, MARKET]));
        storywatch::poll::poll_feed(&app, "regional").await.unwrap();
        clock.advance(MIN);
    }
    // the receiver fails: the alert waits in the outbox
    hook.script(&[500; 20]);
    storywatch::delivery::deliver_pass(&app, "hook")
        .await
        .unwrap();
    let failed: Vec<_> = app
        .store
        .deliveries()
        .map(Result::unwrap)
        .filter(|d| d.state == DeliveryState::Failed)
        .collect();
    let all: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert!(
        !failed.is_empty(),
        "a delivery failed: {all:?} {}",
        hook.attempts()
    );
    let attempts_before = hook.attempts();

    let (base, server) = common::endpoint(&app).await;

    let b = Browser::start().await;
    // the token is needed: the browser trades it for a cookie
    b.goto(&format!("{base}/")).await;
    assert_eq!(b.title().await, "Log in · storywatch");
    b.fill("#token", "wrong").await;
    b.click("form button").await;
    let refusal = b.text(".error").await;
    assert!(refusal.contains("not the one configured"), "{refusal}");
    b.fill("#token", TOKEN).await;
    b.click("form button").await;
    assert_eq!(b.title().await, "Stories · storywatch");
    // the two refusals above are the console's only complaints
    let refusals = b.console().await;
    assert!(
        refusals
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .all(|e| e["message"].as_str().unwrap_or("").contains("401")),
        "{refusals:?}"
    );
    b.goto(&format!("{base}/")).await;
    clean(&b, &base, "home").await;

    // home: the developing story first, feed text escaped
    let developing = b.text("#dev-h + ol .story h3").await;
    assert_eq!(developing, V4.1);
    // the bakery headline as stored, markup characters and all, shown as
    // text: no element came from feed text
    let bakery = app
        .store
        .stories()
        .map(Result::unwrap)
        .find(|s| s.latest.title.starts_with("Bakery"))
        .unwrap()
        .latest
        .title;
    assert!(bakery.contains("&lt;script"), "{bakery}");
    let recent = b.texts("#recent-h ~ ol .story h3").await;
    assert!(
        recent.contains(&bakery),
        "escaped, shown as text: {recent:?}"
    );
    assert!(recent.contains(&COUNCIL.1.to_string()), "{recent:?}");
    assert!(b.find_all("main script").await.is_empty());
    assert!(b
        .text(".story.developing .meta")
        .await
        .contains("4 revisions"));
    shots(&b, "home").await;

    // filters: search in the watch language, a tag, a feed
    b.fill("#q", "bakery").await;
    b.click(".filters button").await;
    assert_eq!(b.text(".story h3").await, bakery);
    assert!(b.url().await.contains("q=bakery"));
    b.goto(&format!("{base}/?q=%28broken")).await;
    assert!(b.text("main p").await.contains("not a query"));
    // that 400 is the console's one complaint here
    assert_eq!(b.console().await.len(), 1);
    b.goto(&format!("{base}/?tag=local&developing=yes&within=1h"))
        .await;
    assert_eq!(b.texts(".story h3").await, [V4.1]);
    b.goto(&format!("{base}/?within=1h&feed=regional&watch=fires"))
        .await;
    assert_eq!(b.texts(".story h3").await, [V4.1]);

    // the story page: every revision's diff
    b.goto(&format!("{base}/")).await;
    b.click("#dev-h + ol .story h3 a").await;
    assert_eq!(b.title().await, format!("{} · storywatch", V4.1));
    clean(&b, &base, "story").await;
    let revisions = b.texts(".version h3").await;
    assert_eq!(revisions.len(), 4, "{revisions:?}");
    assert!(
        revisions[0].starts_with("Revision 4"),
        "newest first: {revisions:?}"
    );
    assert_eq!(b.text("#r2 .inline del").await, "2,000");
    assert_eq!(b.text("#r2 .inline ins").await, "5,000");
    assert!(b.text("#r2 .numbers").await.contains("2,000 → 5,000"));
    assert!(b
        .text("#r3 .inline ins")
        .await
        .contains("A state of emergency was declared on Tuesday."));
    assert!(
        b.find_all("#r3 .inline del").await.is_empty(),
        "revision 3 only adds"
    );
    let r4_del = b.texts("#r4 .inline del").await.join(" ");
    let r4_ins = b.texts("#r4 .inline ins").await.join(" ");
    assert!(
        r4_del.contains("Crews are fighting a wildfire near Ridgeville."),
        "{r4_del}"
    );
    assert!(
        r4_del.contains("2,000") && r4_ins.contains("5,000") && r4_ins.contains("Ridgeville"),
        "{r4_del} / {r4_ins}"
    );
    assert!(
        b.text(".facts").await.contains("fires"),
        "the watch that follows it"
    );
    let alerts = b.text("#alerts-h + table").await;
    assert!(alerts.contains("hook: failed"), "{alerts}");
    shots(&b, "story").await;

    // side by side: deletions on the left, insertions on the right
    b.click("#view-toggle").await;
    assert!(b.url().await.ends_with("?view=side"));
    assert_eq!(b.text("#r2 .side .old del").await, "2,000");
    assert_eq!(b.text("#r2 .side .new ins").await, "5,000");
    assert!(b.find_all("#r2 .side .old ins").await.is_empty());
    assert!(b.find_all("#r2 .inline").await.is_empty());
    clean(&b, &base, "story side by side").await;
    b.screenshot(&output_dir().join("story-side-light.png"))
        .await;
    b.phone(true).await;
    b.screenshot(&output_dir().join("story-side-phone.png"))
        .await;
    b.phone(false).await;

    // compare any two revisions
    b.click(".compare button").await;
    assert!(b.title().await.starts_with("Compare revisions 1 and 4"));
    assert!(b.text(".inline").await.contains("Crews are fighting"));
    clean(&b, &base, "compare").await;

    // mute, then unmute
    b.goto(&format!("{base}/")).await;
    b.click("#dev-h + ol .story h3 a").await;
    let story_url = b.url().await;
    let story_id = story_url.rsplit('/').next().unwrap().to_string();
    b.click("#mute").await;
    assert!(b.text(".facts").await.contains("muted"));
    assert_eq!(app.store.muted_until(&story_id).unwrap(), Some(None));
    b.click("#mute").await;
    assert_eq!(app.store.muted_until(&story_id).unwrap(), None);

    // watches and feeds
    b.goto(&format!("{base}/watches")).await;
    clean(&b, &base, "watches").await;
    assert!(b.text("main").await.contains("wildfire"));
    assert!(b.text("main ul").await.contains(V4.1));
    shots(&b, "watches").await;
    b.goto(&format!("{base}/feeds")).await;
    clean(&b, &base, "feeds").await;
    let feeds = b.text("main").await;
    assert!(
        feeds.contains("regional") && feeds.contains("Polls"),
        "{feeds}"
    );
    shots(&b, "feeds").await;

    // the outbox: retry the failed delivery
    b.goto(&format!("{base}/outbox")).await;
    clean(&b, &base, "outbox").await;
    assert!(b.text("main table").await.contains("failed"));
    shots(&b, "outbox").await;
    let alert = failed[0].alert;
    b.click(&format!("form[action='/outbox/{alert}/retry'] button"))
        .await;
    assert!(b
        .text(".notice")
        .await
        .contains(&format!("Alert {alert} is due again")));
    let d = app.store.delivery("hook", alert).unwrap().unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0), "{d:?}");
    // and the workers send it now (the clock has not moved: only the retry made it due)
    hook.clear_script();
    storywatch::delivery::deliver_pass(&app, "hook")
        .await
        .unwrap();
    assert!(hook.attempts() > attempts_before);
    let d = app.store.delivery("hook", alert).unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Delivered);
    // with public_url set, alerts link to the story page
    let sent = hook.received().last().unwrap().text();
    let page = format!("https://news.example.org/sw/stories/{story_id}");
    assert!(sent.contains(&format!("\"page\":\"{page}\"")), "{sent}");
    assert!(
        sent.contains(&format!("see all versions: {page}")),
        "{sent}"
    );

    // a form from elsewhere (no CSRF token) changes nothing
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/stories/{story_id}/mute"))
        .bearer_auth(TOKEN)
        .body("csrf=forged")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'self'")
    );
    assert_eq!(app.store.muted_until(&story_id).unwrap(), None);

    if std::env::var_os("STORYWATCH_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in ["home", "story"] {
            std::fs::copy(
                output_dir().join(format!("{name}-light.png")),
                docs.join(format!("{name}.png")),
            )
            .unwrap();
        }
    }
    b.quit().await;
    server.abort();
}
