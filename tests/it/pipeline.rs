//! The whole pipeline against real local servers: a feed server on
//! 127.0.0.1 serving successive versions (RSS 2.0, Atom, JSON Feed), a real
//! webhook receiver, and the real store on disk.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{
    atom, json_feed, nk_config, rss, FeedServer, WebhookReceiver, NK_V1, NK_V2, T0, UNRELATED,
};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::outbox::DeliveryState;

fn config(dir: &Path, feed: &str, hook: &str) -> Config {
    let hook = format!("[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"");
    nk_config(dir, feed, &hook)
}

fn open(
    dir: &Path,
    feeds: &FeedServer,
    hook: &WebhookReceiver,
    clock: Arc<ManualClock>,
) -> Arc<App> {
    Arc::new(App::open(config(dir, &feeds.url(), &hook.url()), clock).unwrap())
}

type Render = fn(&[(&str, &str, &str)]) -> String;

const OTHER: (&str, &str, &str) = ("s2", "Bakery wins award", "For the third year.");

async fn full_story(content_type: &str, render: Render) {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(dir.path(), &feeds, &hook, clock.clone());

    // 1. first poll: a baseline, even though nothing matches yet
    feeds.set(content_type, render(&[UNRELATED, OTHER]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.polled, s.failed, s.alerts), (1, 0, 0));
    assert!(hook.received().is_empty());

    // 2. a new matching story: exactly one alert
    clock.advance(600_000);
    feeds.set(content_type, render(&[NK_V1, UNRELATED, OTHER]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 1);
    let got = hook.received();
    assert_eq!(got.len(), 1);
    let j = got[0].json();
    assert_eq!(j["schema"], "storywatch.alert.v1");
    assert_eq!(j["kind"], "new");
    assert_eq!(j["trigger"], "new");
    assert_eq!(j["watch"], "nk");
    assert_eq!(j["story"]["title"], "North Korean troops seen near front");
    assert_eq!(
        got[0].header("idempotency-key").as_deref(),
        j["id"].as_str()
    );

    // 3. the story is edited: one update alert carrying the changed words
    clock.advance(600_000);
    feeds.set(content_type, render(&[NK_V2, UNRELATED, OTHER]));
    daemon::once(&app).await.unwrap();
    let got = hook.received();
    assert_eq!(got.len(), 2, "one update alert");
    let j = got[1].json();
    assert_eq!(j["kind"], "updated");
    assert_eq!(j["trigger"], "update");
    assert_eq!(j["story"]["revision"], 2);
    assert_eq!(j["change"]["class"], "major");
    let body_diff = j["change"]["diff"]["body"]["text"].as_str().unwrap();
    assert!(body_diff.contains("[-3,000-]{+5,000+}"), "{body_diff}");
    assert!(
        body_diff.contains("{+Officials expect them in combat within weeks.+}"),
        "{body_diff}"
    );
    assert_eq!(j["change"]["numbers"][0]["old"], "3,000");
    assert_ne!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );

    // 4. unchanged: nothing (and the server saw a conditional request)
    clock.advance(600_000);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.received().len(), 2);
    assert_eq!(feeds.not_modified_answers(), 1);

    // 5. restart on the same database: no duplicates, no re-baseline
    drop(app);
    let app = open(dir.path(), &feeds, &hook, clock.clone());
    clock.advance(600_000);
    feeds.set(
        content_type,
        render(&[NK_V2, UNRELATED, OTHER, ("s3", "Another story", "x")]),
    );
    daemon::once(&app).await.unwrap();
    assert_eq!(
        hook.received().len(),
        2,
        "nothing sent twice after a restart"
    );
}

#[tokio::test]
async fn rss2_story_lifecycle() {
    full_story("application/rss+xml", rss).await;
}

#[tokio::test]
async fn atom_story_lifecycle() {
    full_story("application/atom+xml", atom).await;
}

#[tokio::test]
async fn json_feed_story_lifecycle() {
    full_story("application/feed+json", json_feed).await;
}

#[tokio::test]
async fn undeliverable_webhook_keeps_the_alert_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(dir.path(), &feeds, &hook, clock.clone());
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();

    hook.script(&[500, 503]);
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered, s.undelivered), (1, 0, 1));
    assert!(hook.received().is_empty());
    let pending: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, DeliveryState::Failed);
    assert!(pending[0].last_error.as_deref().unwrap().contains("500"));

    // still failing, and not retried before its backoff is over
    clock.advance(10_000);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), 1, "no retry before the backoff delay");

    // it survives a restart, then goes out once the receiver is back
    drop(app);
    let app = open(dir.path(), &feeds, &hook, clock.clone());
    clock.advance(2 * 60_000);
    daemon::once(&app).await.unwrap(); // answered 503
    assert!(hook.received().is_empty());
    clock.advance(10 * 60_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(hook.received().len(), 1);
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!(d[0].state, DeliveryState::Delivered);
    assert_eq!(d[0].attempts, 3);
}

/// A 4xx that rejects the message (400) kills that alert at once; a 4xx
/// that refuses us (401, 404…) keeps it waiting (see delivery.rs).
#[tokio::test]
async fn a_4xx_answer_is_dead_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(dir.path(), &feeds, &hook, clock.clone());
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    hook.script(&[400]);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    daemon::once(&app).await.unwrap();
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!(d[0].state, DeliveryState::Dead);
    clock.advance(3_600_000);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), 1, "dead alerts are not retried");
}

#[tokio::test]
async fn baseline_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let mut cfg = config(dir.path(), &feeds.url(), &hook.url());
    cfg.daemon.baseline = false;
    let app = Arc::new(App::open(cfg, Arc::new(ManualClock::new(T0))).unwrap());
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 1);
    assert_eq!(hook.received().len(), 1);
}

#[tokio::test]
async fn a_broken_feed_is_that_feeds_error() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let app = open(dir.path(), &feeds, &hook, Arc::new(ManualClock::new(T0)));
    feeds.set(
        "text/html; charset=utf-8",
        "<!DOCTYPE html><html><body>Please log in</body></html>",
    );
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.polled, s.failed), (1, 1));
    let st = app.store.feed_state("news").unwrap().unwrap();
    let err = st.last_error.unwrap();
    assert!(err.contains("text/html"), "{err}");
    assert_eq!(st.failures, 1);
    assert!(
        st.next_poll > T0,
        "a failed feed is retried later, never dropped"
    );
}
