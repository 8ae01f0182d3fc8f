//! Hostile feed content through the whole pipeline (fetch → parse → track →
//! store → webhook): bounded time and memory, and nothing dangerous reaching
//! the JSON a receiver gets.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::{FeedServer, WebhookReceiver};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::daemon;

struct Rig {
    _dir: tempfile::TempDir,
    feeds: FeedServer,
    hook: WebhookReceiver,
    app: Arc<App>,
}

async fn rig(max_body: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nbaseline = false\nper_host_delay = \"0s\"\nmax_body = \"{max_body}\"\n\
         [[feed]]\nname = \"evil\"\nurl = \"{}\"\n\
         [[watch]]\nname = \"storm\"\nquery = 'storm'\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        dir.path().display(),
        feeds.url(),
        hook.url()
    );
    let config = Config::from_toml(Path::new("t.toml"), &text).unwrap();
    let app = Arc::new(App::open(config, Arc::new(ManualClock::new(1_790_000_000_000))).unwrap());
    Rig {
        _dir: dir,
        feeds,
        hook,
        app,
    }
}

fn rss_items(items: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title><link>http://e.com/</link><description>d</description>{items}</channel></rss>")
}

#[tokio::test]
async fn dangerous_text_and_links_never_reach_the_json() {
    let r = rig("10MiB").await;
    let title = "Storm\u{202E}gnp.exe\u{200B} warning<script>alert(1)</script>\u{0007}";
    let items = format!(
        "<item><guid>1</guid><link>javascript:alert(document.cookie)</link><title>{}</title><description>&lt;img src=\"http://t.example/pixel.gif\" onerror=\"steal()\"&gt;Storm &lt;b&gt;hits&lt;/b&gt; &lt;a href=\"javascript:x()\"&gt;coast&lt;/a&gt;</description></item>",
        html_escape::encode_text(title)
    );
    r.feeds.set("application/rss+xml", rss_items(&items));
    let s = daemon::once(&r.app).await.unwrap();
    assert_eq!(s.delivered, 1);
    let j = r.hook.received()[0].json();
    let t = j["story"]["title"].as_str().unwrap();
    assert!(
        !t.contains('\u{202E}') && !t.contains('\u{200B}') && !t.contains('\u{0007}'),
        "{t:?}"
    );
    assert!(!t.contains("<script>"), "markup is text, not HTML: {t:?}");
    assert_eq!(j["story"]["link"], "", "javascript: links are dropped");
    let summary = j["story"]["summary"].as_str().unwrap();
    assert_eq!(summary, "Storm hits coast");
    let raw = String::from_utf8_lossy(&r.hook.received()[0].body).to_string();
    for bad in ["javascript:", "onerror", "pixel.gif", "<script"] {
        assert!(!raw.contains(bad), "{bad} reached the webhook: {raw}");
    }
}

#[tokio::test]
async fn entity_expansion_and_external_entities_are_inert() {
    let r = rig("10MiB").await;
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>Storm &lol9;</title><description>&xxe;</description></item></channel></rss>"#;
    r.feeds.set("application/rss+xml", laughs);
    let started = Instant::now();
    daemon::once(&r.app).await.unwrap();
    assert!(started.elapsed().as_secs() < 10);
    for got in r.hook.received() {
        let raw = String::from_utf8_lossy(&got.body).to_string();
        assert!(!raw.contains("lollollol"), "entities must not expand");
        assert!(
            !raw.contains("root:"),
            "external entities must never be read"
        );
    }
}

#[tokio::test]
async fn huge_feeds_and_items_are_bounded() {
    let r = rig("20MiB").await;
    // 20,000 items
    let mut items = String::with_capacity(2 << 20);
    for i in 0..20_000 {
        items.push_str(&format!(
            "<item><guid>g{i}</guid><title>Item {i}</title></item>"
        ));
    }
    r.feeds.set("application/rss+xml", rss_items(&items));
    let started = Instant::now();
    let s = daemon::once(&r.app).await.unwrap();
    assert_eq!(s.failed, 0);
    assert!(started.elapsed().as_secs() < 120, "{:?}", started.elapsed());
    let stories = r.app.store.story_count();
    assert!(
        stories <= storywatch::tracker::MAX_ENTRIES_PER_POLL,
        "{stories} stories: the per-poll cap applies"
    );
    assert!(stories >= 1000);

    // one 10 MB item with deeply nested markup
    let mut body = String::with_capacity(10 << 20);
    body.push_str("Storm ");
    while body.len() < 5 << 20 {
        body.push_str("&lt;div&gt;");
    }
    while body.len() < 10 << 20 {
        body.push_str("words of a very long article ");
    }
    r.feeds.set("application/rss+xml", rss_items(&format!("<item><guid>big</guid><title>Storm giant</title><description>{body}</description></item>")));
    let started = Instant::now();
    let s = daemon::once(&r.app).await.unwrap();
    assert_eq!(s.failed, 0);
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert_eq!(r.hook.received().len(), 1, "the big story alerted once");
    assert!(
        r.hook.received()[0].body.len() < 64 << 10,
        "the alert carries an excerpt, not 10 MB"
    );
}

#[tokio::test]
async fn invalid_utf8_and_control_characters() {
    let r = rig("10MiB").await;
    let mut body = rss_items("<item><guid>1</guid><title>Storm \u{1}\u{8} over \u{FEFF}Kent</title><description>caf\u{e9}</description></item>").into_bytes();
    // an invalid byte sequence inside the description
    let pos = body.windows(4).position(|w| w == b"caf\xc3").unwrap();
    body[pos + 3] = 0xff;
    r.feeds.set("application/rss+xml", body);
    let s = daemon::once(&r.app).await.unwrap();
    assert_eq!(s.failed, 0);
    let j = r.hook.received()[0].json();
    assert_eq!(j["story"]["title"], "Storm over Kent");
}
