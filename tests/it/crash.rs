//! Crash recovery: the real `storywatch run` against a feed server that keeps
//! publishing and editing stories, killed with SIGKILL at random moments and
//! restarted, again and again. At the end every story's latest version must
//! have reached both the webhook receiver and the SMTP server (aiosmtpd) at
//! least once, and duplicates (same Idempotency-Key / Message-ID) are
//! counted and reported.
//!
//! The stream, the daemon and its start are shared with `crash_nats.rs`,
//! the same suite with a NATS JetStream notifier.
//!
//! `#[ignore]`d because it takes a while; `.ci/run` runs it with
//! `cargo test --test it crash:: -- --ignored` (50 kills). `CRASH_KILLS=500` for a
//! longer run.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::smtp::{Options, SmtpServer};
use common::WebhookReceiver;
use rand::Rng;

/// One story event every this long.
pub(crate) const EVENT_EVERY: Duration = Duration::from_millis(120);
/// Stories shown in the feed at once (newest first).
const WINDOW: usize = 40;

/// The feed as a function of time: event k publishes story k/3 (k % 3 == 0)
/// or edits it (k % 3 == 1, 2), so every story gets a new and two updates.
pub(crate) struct Stream {
    pub(crate) start: Instant,
    pub(crate) events: usize,
}

impl Stream {
    pub(crate) fn published(&self) -> usize {
        ((self.start.elapsed().as_millis() / EVENT_EVERY.as_millis()) as usize + 1).min(self.events)
    }

    /// story id → version (1..=3) after `n` events.
    pub(crate) fn versions(n: usize) -> BTreeMap<usize, usize> {
        let mut v = BTreeMap::new();
        for k in 0..n {
            *v.entry(k / 3).or_insert(0) += 1;
        }
        v
    }

    fn rss(&self) -> String {
        let versions = Self::versions(self.published());
        let mut items = String::new();
        for (story, version) in versions.iter().rev().take(WINDOW) {
            items.push_str(&format!(
                "<item><guid>story-{story}</guid><link>http://127.0.0.1/story-{story}</link><title>Storm report {story}</title>\
                 <description>Storm update number {version} for area {story}: {} homes without power.</description></item>",
                version * 1000 + story
            ));
        }
        format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>stream</title>{items}</channel></rss>")
    }
}

pub(crate) async fn feed(State(s): State<Arc<Mutex<Stream>>>) -> impl IntoResponse {
    let body = s.lock().unwrap().rss();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/rss+xml")],
        body,
    )
}

/// The daemon child process; killed when dropped.
pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start(config: &std::path::Path, log: &std::path::Path) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(["run", "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("CRASH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start storywatch");
    Daemon(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: SIGKILLs the daemon 50 times; run by .ci/run"]
async fn survives_random_sigkills_without_losing_alerts() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start().await;
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let (stream, events, feed_addr) = serve_stream(kills).await;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        config_text(
            &dir.path().join("state"),
            feed_addr,
            &format!(
                r#"
[[notifier]]
name = "hook"
type = "webhook"
url = "{}"

[[notifier]]
name = "mail"
type = "email"
smtp = "smtp+plain://127.0.0.1:{}"
from = "storywatch <sw@example.com>"
to = ["reader@example.com"]
"#,
                hook.url(),
                smtp.port
            ),
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let started = Instant::now();
    kill_repeatedly(&config, &log, kills);

    // let it run undisturbed until the stream is over and everything is delivered
    let final_versions = Stream::versions(events);
    let mut d = start(&config, &log);
    // let it start properly: this run must end with a clean SIGTERM
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(90);
    let latest_seen = |received: &[common::Received]| -> HashMap<usize, usize> {
        let mut seen: HashMap<usize, usize> = HashMap::new();
        for r in received {
            let j = r.json();
            let title = j["story"]["title"].as_str().unwrap_or("");
            let story: usize = title
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            let summary = j["story"]["summary"].as_str().unwrap_or("");
            let version: usize = summary
                .split_whitespace()
                .nth(3)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let e = seen.entry(story).or_insert(0);
            *e = (*e).max(version);
        }
        seen
    };
    let mail_seen = |mails: &[common::smtp::Mail]| -> HashMap<usize, usize> {
        let mut seen: HashMap<usize, usize> = HashMap::new();
        for m in mails {
            // "Storm report N" in the subject, "Storm update number V" in the body
            let story: usize = m
                .subject()
                .split("Storm report ")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            // a new story shows the text, an update its diff: `[-2-]{+3+}`
            let version: usize = m
                .text()
                .split("Storm update number ")
                .last()
                .and_then(|t| t.split_whitespace().next())
                .map(|t| t.rsplit("{+").next().unwrap_or(t).trim_end_matches("+}"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let e = seen.entry(story).or_insert(0);
            *e = (*e).max(version);
        }
        seen
    };
    loop {
        let seen = latest_seen(&hook.received());
        let mailed = mail_seen(&smtp.messages());
        let complete = stream.lock().unwrap().published() == events
            && final_versions
                .iter()
                .all(|(s, v)| seen.get(s) == Some(v) && mailed.get(s) == Some(v));
        if complete || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    unsafe_sigterm(&d.0);
    let status = d.0.wait().unwrap();
    assert!(status.success(), "SIGTERM must exit 0: {status}");

    if let Some(keep) = std::env::var_os("CRASH_LOG_COPY") {
        let _ = std::fs::copy(&log, keep);
    }
    let received = hook.received();
    let seen = latest_seen(&received);
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &received {
        *per_key
            .entry(r.header("idempotency-key").unwrap_or_default())
            .or_insert(0) += 1;
    }
    let duplicates: usize = per_key.values().map(|n| n - 1).sum();
    let mails = smtp.messages();
    let mailed = mail_seen(&mails);
    let mut per_message_id: HashMap<String, usize> = HashMap::new();
    for m in &mails {
        *per_message_id
            .entry(m.header("Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    let mail_duplicates: usize = per_message_id.values().map(|n| n - 1).sum();
    for (id, n) in per_message_id.iter().filter(|(_, n)| **n > 1) {
        let times: Vec<f64> = mails
            .iter()
            .filter(|m| m.header("Message-ID").as_deref() == Some(id.as_str()))
            .map(|m| m.received_at())
            .collect();
        eprintln!("duplicate mail {id} x{n} at {times:?}");
    }
    let mail_missing = missing_versions(&final_versions, &mailed);
    let missing = missing_versions(&final_versions, &seen);
    eprintln!(
        "crash harness: {kills} SIGKILLs in {:.1}s, {events} story events ({} stories); webhook: {} alerts received, {} distinct, {duplicates} duplicates, {} stories missing their latest version; email: {} mails, {} distinct, {mail_duplicates} duplicates, {} missing",
        started.elapsed().as_secs_f64(),
        final_versions.len(),
        received.len(),
        per_key.len(),
        missing.len(),
        mails.len(),
        per_message_id.len(),
        mail_missing.len()
    );
    assert!(
        mail_missing.is_empty(),
        "lost mails (story, expected version, last seen): {mail_missing:?}"
    );
    assert!(
        mail_duplicates <= kills,
        "{mail_duplicates} duplicate mails for {kills} kills"
    );
    assert!(
        missing.is_empty(),
        "lost alerts (story, expected version, last seen): {missing:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // A duplicate can only come from a send whose success was not recorded
    // before the kill: at most one per kill.
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates for {kills} kills"
    );
}

/// The stream's feed on a local server, with enough events for `kills`
/// kills plus time to settle: (the stream, its event count, the address).
pub(crate) async fn serve_stream(
    kills: usize,
) -> (Arc<Mutex<Stream>>, usize, std::net::SocketAddr) {
    let events = ((kills as u64 * 700) / EVENT_EVERY.as_millis() as u64).max(60) as usize;
    let stream = Arc::new(Mutex::new(Stream {
        start: Instant::now(),
        events,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/feed", get(feed))
        .with_state(stream.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (stream, events, feed_addr)
}

/// The daemon's config: the stream polled every second, a "storm" watch,
/// fast retries, and `notifiers` (TOML tables).
pub(crate) fn config_text(
    state: &std::path::Path,
    feed_addr: std::net::SocketAddr,
    notifiers: &str,
) -> String {
    format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
baseline = false
shutdown_timeout = "5s"
log_format = "text"

[delivery]
retry_initial = "1s"
retry_max = "2s"

[[feed]]
name = "stream"
url = "http://{feed_addr}/feed"
interval = "1s"

[[watch]]
name = "storm"
query = 'storm'
{notifiers}"#,
        state.display()
    )
}

/// Starts the daemon and SIGKILLs it after a random 80–1200 ms, `kills`
/// times; fails if it ever exits by itself.
pub(crate) fn kill_repeatedly(config: &std::path::Path, log: &std::path::Path, kills: usize) {
    let mut rng = rand::rng();
    for i in 0..kills {
        let mut d = start(config, log);
        let alive = Duration::from_millis(rng.random_range(80..1200));
        std::thread::sleep(alive);
        if let Ok(Some(status)) = d.0.try_wait() {
            panic!(
                "storywatch exited by itself ({status}) after kill {i}: the database may be unopenable.\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        drop(d); // SIGKILL
    }
}

/// The stories whose latest version was not seen: (story, expected
/// version, the last version seen).
pub(crate) fn missing_versions(
    expected: &BTreeMap<usize, usize>,
    seen: &HashMap<usize, usize>,
) -> Vec<(usize, usize, Option<usize>)> {
    expected
        .iter()
        .filter(|(s, v)| seen.get(s) != Some(v))
        .map(|(s, v)| (*s, *v, seen.get(s).copied()))
        .collect()
}

/// SIGTERM via the `kill` command (no libc dependency in tests).
pub(crate) fn unsafe_sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}
