//! Watch triggers end to end: `new`, `update` (followed stories), `mention`
//! (a term that only a later version brings in), thresholds, filters and
//! routing, through the real pipeline and a real webhook receiver.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{rss, FeedServer, WebhookReceiver};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::daemon;

struct Rig {
    _dir: tempfile::TempDir,
    feeds: FeedServer,
    a: WebhookReceiver,
    b: WebhookReceiver,
    clock: Arc<ManualClock>,
    app: Arc<App>,
}

async fn rig(watches: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let (a, b) = (
        WebhookReceiver::start().await,
        WebhookReceiver::start().await,
    );
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"

[[feed]]
name = "news"
url = "{}"
tags = ["world"]

{watches}

[[notifier]]
name = "a"
type = "webhook"
url = "{}"

[[notifier]]
name = "b"
type = "webhook"
url = "{}"
"#,
        dir.path().display(),
        feeds.url(),
        a.url(),
        b.url()
    );
    let config = Config::from_toml(Path::new("t.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    // baseline
    feeds.set(
        "application/rss+xml",
        rss(&[("x", "Unrelated story", "Nothing here.")]),
    );
    daemon::once(&app).await.unwrap();
    Rig {
        _dir: dir,
        feeds,
        a,
        b,
        clock,
        app,
    }
}

impl Rig {
    async fn publish(&self, items: &[(&str, &str, &str)]) {
        self.clock.advance(600_000);
        self.feeds.set("application/rss+xml", rss(items));
        daemon::once(&self.app).await.unwrap();
    }

    /// (watch, trigger) of everything receiver `a` got.
    fn got_a(&self) -> Vec<(String, String)> {
        self.a
            .received()
            .iter()
            .map(|r| {
                let j = r.json();
                (
                    j["watch"].as_str().unwrap().to_string(),
                    j["trigger"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

const WATCH_DRONES: &str = r#"
[[watch]]
name = "drones"
query = 'drone*'
notify = ["a"]
"#;

#[tokio::test]
async fn mention_then_update_of_a_followed_story() {
    let r = rig(WATCH_DRONES).await;
    // appears without the term: nothing
    r.publish(&[(
        "s",
        "Border town shelled overnight",
        "Artillery hit the town centre.",
    )])
    .await;
    assert!(r.got_a().is_empty());
    // an update adds the term: a `mention`
    r.publish(&[(
        "s",
        "Border town shelled overnight",
        "Artillery hit the town centre. Drones were also seen above the market.",
    )])
    .await;
    assert_eq!(r.got_a(), vec![("drones".into(), "mention".into())]);
    let j = r.a.received()[0].json();
    let matched: Vec<String> = j["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(matched, vec!["Drones".to_string()]);
    // the story is now followed: a later material update alerts although it
    // drops the term
    r.publish(&[(
        "s",
        "Border town shelled overnight, two injured",
        "Artillery hit the town centre. Two people were injured.",
    )])
    .await;
    assert_eq!(
        r.got_a().last().unwrap(),
        &("drones".to_string(), "update".to_string())
    );
    assert_eq!(r.got_a().len(), 2);
    // an unrelated story mentioning the term is a `new`
    r.publish(&[
        (
            "s",
            "Border town shelled overnight, two injured",
            "Artillery hit the town centre. Two people were injured.",
        ),
        ("t", "Drone sightings close airport", "Flights were halted."),
    ])
    .await;
    assert_eq!(
        r.got_a().last().unwrap(),
        &("drones".to_string(), "new".to_string())
    );
    assert!(r.b.received().is_empty(), "routing: notify = [\"a\"] only");
}

#[tokio::test]
async fn on_new_only_ignores_updates() {
    let r = rig("[[watch]]\nname = \"truce\"\nquery = 'ceasefire'\non = [\"new\"]\n").await;
    r.publish(&[("c", "Ceasefire talks begin", "Delegations met on Monday.")])
        .await;
    r.publish(&[(
        "c",
        "Ceasefire talks collapse",
        "Delegations walked out on Tuesday after 3 hours.",
    )])
    .await;
    assert_eq!(r.got_a(), vec![("truce".into(), "new".into())]);
    // no notify list: every notifier gets it
    assert_eq!(r.b.received().len(), 1);
}

#[tokio::test]
async fn min_materiality_filters_small_edits() {
    let r = rig("[[watch]]\nname = \"kursk\"\nquery = 'kursk'\nmin_materiality = \"major\"\nnotify = [\"a\"]\n").await;
    r.publish(&[(
        "k",
        "Zelensky visits troops near Kursk",
        "He met commanders.",
    )])
    .await;
    assert_eq!(r.got_a().len(), 1, "new");
    r.publish(&[(
        "k",
        "Zelenskyy visits troops near Kursk",
        "He met commanders.",
    )])
    .await;
    assert_eq!(r.got_a().len(), 1, "a typo fix is below major");
    r.publish(&[(
        "k",
        "Zelenskyy visits troops near Kursk",
        "He met 12 commanders.",
    )])
    .await;
    assert_eq!(r.got_a().len(), 2, "a number is always major");
    assert_eq!(r.got_a()[1].1, "update");
}

#[tokio::test]
async fn feed_and_tag_filters() {
    let watches = r#"
[[watch]]
name = "elsewhere"
query = 'flood*'
feeds = ["news"]
tags = ["sport"]
notify = ["a"]

[[watch]]
name = "tagged"
query = 'flood*'
tags = ["world"]
notify = ["a"]

[[watch]]
name = "scoped"
query = 'tag:world AND title:flood*'
notify = ["b"]
"#;
    let r = rig(watches).await;
    r.publish(&[("f", "Flooding closes roads", "Rivers burst their banks.")])
        .await;
    assert_eq!(
        r.got_a(),
        vec![("tagged".into(), "new".into())],
        "tags must intersect the feed's tags"
    );
    assert_eq!(r.b.received().len(), 1, "tag: scope sees the feed's tags");
}

#[tokio::test]
async fn baseline_stories_are_followed_without_alerting() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let a = WebhookReceiver::start().await;
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\n[[feed]]\nname = \"news\"\nurl = \"{}\"\n{WATCH_DRONES}\n[[notifier]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        dir.path().display(),
        feeds.url(),
        a.url()
    );
    let app = Arc::new(
        App::open(
            Config::from_toml(Path::new("t.toml"), &text).unwrap(),
            Arc::new(ManualClock::new(1_790_000_000_000)),
        )
        .unwrap(),
    );
    feeds.set(
        "application/rss+xml",
        rss(&[(
            "d",
            "Drone strike reported",
            "Officials confirmed one strike.",
        )]),
    );
    daemon::once(&app).await.unwrap();
    assert!(a.received().is_empty(), "baseline: no alert");
    feeds.set(
        "application/rss+xml",
        rss(&[(
            "d",
            "Drone strike reported",
            "Officials confirmed three strikes.",
        )]),
    );
    daemon::once(&app).await.unwrap();
    let got = a.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].json()["trigger"],
        "update",
        "followed since the baseline"
    );
}

/// A headline that goes back to an earlier wording while the body keeps its
/// edit: labelled as a revert for watches that want it, silent for those
/// with `on_revert = "ignore"`.
#[tokio::test]
async fn headline_reverts_are_labelled_or_ignored_per_watch() {
    let r = rig(
        "[[watch]]\nname = \"all\"\nquery = 'minister'\nnotify = [\"a\"]\n\n\
         [[watch]]\nname = \"quiet\"\nquery = 'minister'\non_revert = \"ignore\"\nnotify = [\"b\"]\n",
    )
    .await;
    let first = "Minister resigns over expenses row";
    r.publish(&[("m", first, "The minister resigned on Monday.")])
        .await;
    r.publish(&[(
        "m",
        "Expenses row: minister quits after pressure from MPs",
        "The minister resigned on Monday after pressure from MPs.",
    )])
    .await;
    assert_eq!(r.a.received().len(), 2);
    assert_eq!(r.b.received().len(), 2);
    // the headline goes back, the body keeps its edit
    r.publish(&[(
        "m",
        first,
        "The minister resigned on Monday after pressure from MPs.",
    )])
    .await;
    let got = r.a.received();
    assert_eq!(got.len(), 3, "on_revert defaults to alert");
    let j = got[2].json();
    assert_eq!(j["change"]["reverted"], serde_json::json!(["title"]));
    let summary = j["change"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("headline reverted to an earlier version"),
        "{summary}"
    );
    assert_eq!(
        r.b.received().len(),
        2,
        "on_revert = \"ignore\" stays silent"
    );
}
