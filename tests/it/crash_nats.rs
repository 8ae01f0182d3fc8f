//! The crash suite with a NATS JetStream notifier: the real `storywatch
//! run` against the feed stream of `crash.rs` (stories published and edited
//! every 120 ms), killed with SIGKILL at random moments and restarted, while
//! alerts go to a real `nats-server -js`. The stream's duplicate window is
//! an hour, and storywatch sets `Nats-Msg-Id` to each alert's idempotency
//! key, so a publish whose ack was not recorded before the kill is dropped
//! by JetStream when it is sent again: at the end the stream must hold every
//! story's latest version (0 lost) and no alert twice (0 duplicates).
//!
//! `#[ignore]`d because it takes a while; `.ci/run` runs it with
//! `cargo test --test it crash_nats:: -- --ignored` (50 kills,
//! `CRASH_KILLS=N` for another number).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::common::nats::NatsServer;
use crate::crash::{
    config_text, kill_repeatedly, missing_versions, serve_stream, start, unsafe_sigterm, Stream,
};

const STREAM: &str = "ALERTS";

/// Story number → the latest version the stream holds for it (from the
/// alert JSON: "Storm report N", "Storm update number V …").
fn latest(messages: &[(String, String, serde_json::Value)]) -> HashMap<usize, usize> {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (_, _, j) in messages {
        let story: usize = j["story"]["title"]
            .as_str()
            .and_then(|t| t.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let version: usize = j["story"]["summary"]
            .as_str()
            .and_then(|s| s.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let e = seen.entry(story).or_insert(0);
        *e = (*e).max(version);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: SIGKILLs the daemon 50 times; run by .ci/run"]
async fn sigkills_lose_no_alert_and_the_stream_holds_none_twice() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start(dir.path());
    nats.create_stream(STREAM, "storywatch.alerts.>", Duration::from_secs(3600))
        .await;
    let (stream, events, feed_addr) = serve_stream(kills).await;
    let config = dir.path().join("config.toml");
    let text = config_text(&dir.path().join("state"), feed_addr, &nats.notifier_table());
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("daemon.log");
    let started = Instant::now();
    kill_repeatedly(&config, &log, kills);

    let final_versions: BTreeMap<usize, usize> = Stream::versions(events);
    let mut d = start(&config, &log);
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let seen = latest(&nats.messages(STREAM).await);
        let complete = stream.lock().unwrap().published() == events
            && final_versions.iter().all(|(s, v)| seen.get(s) == Some(v));
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    unsafe_sigterm(&d.0);
    let status = d.0.wait().unwrap();
    assert!(status.success(), "SIGTERM must exit 0: {status}");

    let messages = nats.messages(STREAM).await;
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (_, id, _) in &messages {
        *per_id.entry(id.as_str()).or_insert(0) += 1;
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    let seen = latest(&messages);
    let missing = missing_versions(&final_versions, &seen);
    eprintln!(
        "crash harness (NATS): {kills} SIGKILLs in {:.1}s, {events} story events ({} stories); stream: {} messages, {} distinct Nats-Msg-Id, {duplicates} duplicates, {} stories missing their latest version",
        started.elapsed().as_secs_f64(),
        final_versions.len(),
        messages.len(),
        per_id.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "lost alerts (story, expected version, last seen): {missing:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        per_id.keys().all(|id| !id.is_empty()),
        "every message has a Nats-Msg-Id"
    );
    assert_eq!(
        duplicates, 0,
        "JetStream's duplicate window must drop every re-send"
    );
}
