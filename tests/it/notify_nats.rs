//! The NATS JetStream notifier against a real `nats-server -js` (Debian's
//! package), started by the test: an alert lands in the stream once, as the
//! `storywatch.alert.v1` JSON with `Nats-Msg-Id` = its idempotency key; an
//! alert published while the server is down arrives once it is back; a
//! subject no stream captures keeps the alert pending with what to do.
//! The crash suite with a NATS notifier is `crash_nats.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::daemon::{storm_config, storywatch, write, Daemon};
use crate::common::nats::NatsServer;
use crate::common::{rss, FeedServer};

const STREAM: &str = "ALERTS";

/// A NATS server with a stream capturing `captures`, a feed with a storm
/// story (alerted from the first poll), and a config with a "storms" watch
/// and a NATS notifier publishing to `storywatch.alerts.{watch}`.
async fn setup(dir: &Path, captures: &str) -> (NatsServer, FeedServer, PathBuf) {
    let nats = NatsServer::start(dir);
    nats.create_stream(STREAM, captures, Duration::from_secs(3600))
        .await;
    let feeds = FeedServer::start().await;
    feeds.set(
        "application/rss+xml",
        rss(&[("s1", "Storm hits the coast", "A storm made landfall.")]),
    );
    let path = dir.join("config.toml");
    let tables = format!(
        "\n[delivery]\nretry_initial = \"1s\"\nretry_max = \"1s\"\n{}",
        nats.notifier_table()
    );
    write(&path, &storm_config(&dir.join("state"), &feeds, &tables));
    (nats, feeds, path)
}

async fn once(config: &Path) -> (i32, String, String) {
    let config = config.display().to_string();
    tokio::task::spawn_blocking(move || storywatch(&["once", "--config", &config], &[]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_lands_in_the_stream_once_with_its_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, _feeds, path) = setup(dir.path(), "storywatch.alerts.>").await;

    let (code, out, err) = once(&path).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let messages = nats.messages(STREAM).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (subject, id, body) = &messages[0];
    assert_eq!(subject, "storywatch.alerts.storms");
    assert_eq!(body["schema"], "storywatch.alert.v1");
    assert_eq!(body["story"]["title"], "Storm hits the coast");
    assert_eq!(body["watch"], "storms");
    assert!(!id.is_empty(), "Nats-Msg-Id is set");
    assert_eq!(
        body["id"].as_str(),
        Some(id.as_str()),
        "Nats-Msg-Id = the alert's idempotency key"
    );

    // nothing new: nothing published again
    let (code, _, err) = once(&path).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(nats.messages(STREAM).await.len(), 1);

    // `check` shows where alerts go, not any secret
    let p = path.display().to_string();
    let (code, out, err) = storywatch(&["check", "--config", &p], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "nats to {} subject storywatch.alerts.{{watch}}",
            nats.url()
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_waits_while_the_server_is_down_and_arrives_once_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nats, _feeds, path) = setup(dir.path(), "storywatch.alerts.>").await;
    nats.stop(); // the stream is kept in its store

    let daemon = Daemon::start(&path, &[]);
    daemon
        .wait_for(
            "a failed attempt to reach NATS",
            Duration::from_secs(20),
            || daemon.stderr().contains("cannot connect"),
        )
        .await;
    nats.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let messages = loop {
        let m = nats.messages(STREAM).await;
        if !m.is_empty() || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        messages.len(),
        1,
        "delivered once after the server came back: {messages:?}\n{}",
        daemon.stderr()
    );
    assert_eq!(messages[0].2["story"]["title"], "Storm hits the coast");
    daemon.signal(libc::SIGTERM);
    let (status, _) = daemon.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}\n{}", daemon.stderr());
    assert_eq!(nats.messages(STREAM).await.len(), 1, "and not again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_no_stream_captures_keeps_the_alert_pending_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, _feeds, path) = setup(dir.path(), "other.>").await;
    let (_, _, once_err) = once(&path).await;
    assert!(nats.messages(STREAM).await.is_empty());
    assert!(
        once_err.contains("no JetStream stream captures \"storywatch.alerts.storms\": create one"),
        "the log says what to do:\n{once_err}"
    );
    let p = path.display().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || storywatch(&["outbox", "--config", &p], &[]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("no JetStream stream captures"),
        "the outbox keeps the alert, with why:\n{out}"
    );
}

#[test]
fn bad_nats_settings_are_refused_with_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    write(
        &path,
        r#"
[[feed]]
name = "f"
url = "http://127.0.0.1:9/feed"

[[notifier]]
name = "stream"
type = "nats"
server = "http://nats.example.com:4222"
subject = "alerts.{story}.>"
auth = "nkey"
preset = "slack"
"#,
    );
    let p = path.display().to_string();
    let (code, _, err) = storywatch(&["check", "--config", &p], &[]);
    assert_eq!(code, 2, "{err}");
    for expected in [
        "the scheme must be nats or tls",
        "unknown placeholder {story}",
        "auth = \"nkey\" needs the secret",
        "key `preset` does not apply to type = \"nats\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}
