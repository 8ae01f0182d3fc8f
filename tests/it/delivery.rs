//! The outbox and delivery loop end to end, with a manual clock (no
//! sleeping through backoff) and real local servers: exponential backoff
//! and giving up, no duplicates across a crash mid-send, one failing
//! notifier not holding up another, digests, quiet hours, per-story rate
//! limits with cumulative diffs (persisting across restarts), and the
//! `storywatch outbox` commands.

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use common::{nk_config, rss, Answer, FeedServer, WebhookReceiver, NK_V1, T0, UNRELATED};
use storywatch::app::App;
use storywatch::clock::{Clock, ManualClock};
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::delivery::deliver_pass;
use storywatch::outbox::{self, Delivery, DeliveryState, Hold};

const MIN: i64 = 60_000;

/// One feed, the NK watch, and `notifiers` (TOML `[[notifier]]` tables).
fn config(dir: &Path, feed: &str, notifiers: &str) -> Config {
    nk_config(&dir.join("state"), feed, notifiers)
}

fn hook_notifier(name: &str, url: &str, extra: &str) -> String {
    format!("[[notifier]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\n{extra}\n")
}

struct Rig {
    dir: tempfile::TempDir,
    feeds: FeedServer,
    clock: Arc<ManualClock>,
    notifiers: String,
}

impl Rig {
    async fn new(notifiers: impl Fn(&Path) -> String) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let n = notifiers(dir.path());
        Rig {
            feeds: FeedServer::start().await,
            clock: Arc::new(ManualClock::new(T0)),
            notifiers: n,
            dir,
        }
    }

    fn config(&self) -> Config {
        config(self.dir.path(), &self.feeds.url(), &self.notifiers)
    }

    fn open(&self) -> Arc<App> {
        Arc::new(App::open(self.config(), self.clock.clone()).unwrap())
    }

    /// Baseline with an unrelated story, so later stories alert.
    async fn baseline(&self, app: &Arc<App>) {
        self.feeds.set("application/rss+xml", rss(&[UNRELATED]));
        daemon::once(app).await.unwrap();
    }

    fn publish(&self, items: &[(&str, &str, &str)]) {
        self.feeds.set("application/rss+xml", rss(items));
    }
}

fn deliveries(app: &App) -> Vec<Delivery> {
    app.store.deliveries().map(Result::unwrap).collect()
}

#[tokio::test]
async fn backoff_doubles_with_jitter_then_gives_up_after_a_day() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    hook.script(&[500; 200]);
    rig.publish(&[NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    let created = rig.clock.now();
    let mut gaps = Vec::new();
    let mut last = created;
    loop {
        let d = deliveries(&app).remove(0);
        if d.state == DeliveryState::Dead {
            break;
        }
        assert_eq!(d.state, DeliveryState::Failed);
        // nothing happens before the next attempt is due
        rig.clock.set(d.next_attempt - 1);
        daemon::once(&app).await.unwrap();
        assert_eq!(deliveries(&app)[0].attempts, d.attempts, "retried early");
        rig.clock.set(d.next_attempt);
        gaps.push(d.next_attempt - last);
        last = d.next_attempt;
        daemon::once(&app).await.unwrap();
        assert!(gaps.len() < 100, "never gave up");
    }
    // 1 min, 2, 4, 8, 16, 32, then capped at 1 h; each ±20 %
    for (i, expect) in [1, 2, 4, 8, 16, 32, 60, 60].iter().enumerate() {
        let (lo, hi) = (expect * MIN * 8 / 10, expect * MIN * 12 / 10);
        assert!(
            (lo..=hi).contains(&gaps[i]),
            "gap {i} = {} min, expected about {expect}",
            gaps[i] / MIN
        );
    }
    let d = deliveries(&app).remove(0);
    assert_eq!(d.state, DeliveryState::Dead);
    let last_try = d.last_attempt.unwrap();
    assert!(
        last_try - created <= 24 * 60 * MIN,
        "gave up after the 24 h window"
    );
    assert!(
        last_try - created > 22 * 60 * MIN,
        "kept trying for most of a day"
    );
    assert_eq!(hook.attempts() as u32, d.attempts);
    assert!(d.last_error.unwrap().contains("500"));
    // and a dead alert stays dead
    rig.clock.advance(48 * 60 * MIN);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts() as u32, d.attempts);
}

/// A delivery that gives up says so as an ERROR, whether the receiver
/// refused it for good (404) or the retries ran out (500 until the give-up
/// window closed); one that will be retried is a WARN with its next attempt.
#[tokio::test]
async fn a_delivery_that_gives_up_is_logged_as_an_error() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| {
        hook_notifier("hook", &url, "")
            + "[delivery]\nretry_initial = \"1m\"\ngive_up_after = \"5m\"\n"
    })
    .await;
    let app = rig.open();
    rig.baseline(&app).await;
    let (logs, _guard) = common::Logs::capture();
    // 1 min, then 2 min (±20 %): the third attempt's retry would fall after
    // the 5 min window, so it is the last
    hook.script(&[500; 3]);
    rig.publish(&[NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    let mut d = deliveries(&app).remove(0);
    while d.state != DeliveryState::Dead {
        assert_eq!(d.state, DeliveryState::Failed);
        rig.clock.set(d.next_attempt);
        daemon::once(&app).await.unwrap();
        d = deliveries(&app).remove(0);
    }
    let text = logs.text();
    let error_lines: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(error_lines.len(), 1, "{text}");
    assert!(
        error_lines[0].contains(&format!("gave up after {} attempts", d.attempts))
            && error_lines[0].contains("dead")
            && error_lines[0].contains("retries exhausted"),
        "{text}"
    );
    let warns = text.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(
        warns as u32,
        d.attempts - 1,
        "one WARN per retry to come:\n{text}"
    );
    assert!(!text.contains("will retry") || warns > 0);
    common::assert_no_debug("the delivery log", &text);

    // rejected for good at the first attempt (a 400: this message is bad;
    // a 404 would be the receiver refusing everything, which waits)
    rig.clock.advance(24 * 60 * MIN);
    hook.script(&[400]);
    rig.publish(&[("b", "North Korean troops withdraw", "x"), NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    let text = logs.text();
    let last = text.lines().rfind(|l| l.contains("ERROR")).unwrap();
    assert!(
        last.contains("gave up after 1 attempt,") && last.contains("refused it for good"),
        "{text}"
    );
}

/// The process dies after the receiver got the request but before the
/// success was recorded: after a restart the alert is sent again, with the
/// same idempotency key, and then never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_send_repeats_it_once_with_the_same_key() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "timeout = \"60s\"")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    // the first send is received but never answered
    hook.script_answers(&[Answer::status(200).delay(Duration::from_secs(600))]);
    rig.publish(&[NK_V1, UNRELATED]);
    let poll = {
        let app = app.clone();
        tokio::spawn(async move { daemon::once(&app).await })
    };
    hook.wait_for_attempts(1, Duration::from_secs(10)).await;
    poll.abort(); // the "crash"
    assert!(poll.await.unwrap_err().is_cancelled());
    assert_eq!(deliveries(&app)[0].state, DeliveryState::InFlight);
    drop(app);

    let app = rig.open();
    rig.clock.advance(MIN);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    rig.clock.advance(60 * MIN);
    daemon::once(&app).await.unwrap();
    let got = hook.received();
    assert_eq!(got.len(), 2, "received twice: before the crash and after");
    let keys: HashSet<String> = got
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys.len(), 1, "one alert by idempotency key");
    let d = deliveries(&app).remove(0);
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 1));
}

/// A notifier whose receiver hangs does not delay another notifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_notifier_does_not_hold_up_another() {
    let slow = WebhookReceiver::start().await;
    let fast = WebhookReceiver::start().await;
    let (su, fu) = (slow.url(), fast.url());
    let rig = Rig::new(|_| {
        hook_notifier("slow", &su, "timeout = \"3s\"") + &hook_notifier("fast", &fu, "")
    })
    .await;
    let app = rig.open();
    rig.baseline(&app).await;
    slow.script_answers(&[Answer::status(200).delay(Duration::from_secs(30))]);
    rig.publish(&[NK_V1, UNRELATED]);
    let started = std::time::Instant::now();
    let run = {
        let app = app.clone();
        tokio::spawn(async move { daemon::once(&app).await })
    };
    fast.wait_for_attempts(1, Duration::from_secs(2)).await;
    assert!(!run.is_finished(), "the slow notifier is still hanging");
    let s = run.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!((s.delivered, s.undelivered), (1, 1), "{s:?}");
    let by_name = |n: &str| {
        deliveries(&app)
            .into_iter()
            .find(|d| d.notifier == n)
            .unwrap()
    };
    assert_eq!(by_name("fast").state, DeliveryState::Delivered);
    assert_eq!(by_name("slow").state, DeliveryState::Failed);
}

/// While a receiver is down, one probe per backoff step: the rest of the
/// pass waits instead of each alert hitting the dead receiver.
#[tokio::test]
async fn a_failure_postpones_the_rest_of_the_pass() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    hook.script(&[503]);
    let stories: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("s{i}"),
                format!("North Korean troops story number {i}"),
            )
        })
        .collect();
    let items: Vec<(&str, &str, &str)> = stories
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str(), "text"))
        .collect();
    rig.publish(&items);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 5);
    assert_eq!(hook.attempts(), 1, "one probe, not five");
    assert_eq!((s.delivered, s.undelivered), (0, 5), "{s:?}");
    let ds = deliveries(&app);
    let next_probe = app.store.circuit("hook").unwrap().open_until;
    assert!(next_probe > rig.clock.now(), "the circuit is open");
    for d in &ds {
        assert!(d.next_attempt >= next_probe, "{d:?}");
    }
    rig.clock
        .set(ds.iter().map(|d| d.next_attempt).max().unwrap());
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 5, "all go once the receiver is back");
    assert_eq!(hook.received().len(), 5);
}

#[tokio::test]
async fn a_digest_is_one_message_grouped_by_story() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "digest = \"30m\"")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    let a1 = (
        "a",
        "North Korean troops reach Kursk",
        "Troops arrived on Monday.",
    );
    let a2 = (
        "a",
        "North Korean troops reach Kursk",
        "Troops arrived on Monday. More followed on Tuesday.",
    );
    let b1 = (
        "b",
        "North Korean soldiers captured",
        "Two soldiers were captured.",
    );
    let c1 = ("c", "North Korean troops withdraw", "They left on Friday.");
    rig.clock.advance(MIN);
    rig.publish(&[a1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    rig.clock.advance(5 * MIN);
    rig.publish(&[b1, a1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    rig.clock.advance(5 * MIN);
    rig.publish(&[c1, b1, a2, UNRELATED]);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), 0, "held until the window is over");
    // the window counts from the oldest alert; the held deliveries say so
    let report = deliver_pass(&app, "hook").await.unwrap();
    assert_eq!(report.next_wake, Some(T0 + MIN + 30 * MIN));
    let held = deliveries(&app);
    assert_eq!(held.len(), 4);
    for d in &held {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.held, Some(Hold::Digest), "{d:?}");
        assert_eq!(d.next_attempt, T0 + MIN + 30 * MIN, "{d:?}");
    }
    rig.clock.set(T0 + 31 * MIN);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 4);
    let got = hook.received();
    assert_eq!(got.len(), 1, "one message");
    let j = got[0].json();
    assert_eq!(j["schema"], "storywatch.digest.v1");
    assert_eq!(j["count"], 4);
    let order: Vec<(String, String)> = j["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["story"]["title"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let t = |s: &str, k: &str| (s.to_string(), k.to_string());
    assert_eq!(
        order,
        vec![
            t("North Korean troops reach Kursk", "new"),
            t("North Korean troops reach Kursk", "updated"),
            t("North Korean soldiers captured", "new"),
            t("North Korean troops withdraw", "new"),
        ],
        "grouped by story, stories in order of their first alert"
    );
    assert!(got[0]
        .header("idempotency-key")
        .unwrap()
        .starts_with("digest."));
}

/// quiet_hours is local time; the test builds a window around the clock's
/// local time so it holds in any time zone.
#[tokio::test]
async fn quiet_hours_hold_alerts_until_the_window_ends() {
    let local = chrono::DateTime::from_timestamp_millis(T0)
        .unwrap()
        .with_timezone(&chrono::Local);
    let minute = (local.hour() * 60 + local.minute()) as i64;
    let hm = |m: i64| {
        let m = m.rem_euclid(24 * 60);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    let window = format!("{}-{}", hm(minute - 30), hm(minute + 60));
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig =
        Rig::new(|_| hook_notifier("hook", &url, &format!("quiet_hours = \"{window}\""))).await;
    let app = rig.open();
    rig.baseline(&app).await;
    rig.publish(&[NK_V1, UNRELATED]);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered, s.undelivered), (1, 0, 1));
    let end = T0 + 60 * MIN - i64::from(local.second()) * 1000;
    let report = deliver_pass(&app, "hook").await.unwrap();
    assert_eq!(report.next_wake, Some(end), "wakes when the window ends");
    // the delivery says what it waits for, and its real next attempt
    let d = deliveries(&app).remove(0);
    assert_eq!(
        (d.state, d.held),
        (DeliveryState::Pending, Some(Hold::QuietHours))
    );
    assert_eq!(d.next_attempt, end);
    use storywatch::cli::outbox::{format_rows, rows};
    let listing = format_rows(&rows(&app.store, false).unwrap());
    let line = listing.lines().nth(1).unwrap();
    assert!(
        line.contains(" held ") && line.contains("waiting for quiet hours to end"),
        "{listing}"
    );
    assert!(
        line.contains(&storywatch::clock::local(end)),
        "the next attempt is the end of the window:\n{listing}"
    );
    rig.clock.set(end - 1000);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), 0, "nothing inside quiet hours");
    rig.clock.set(end);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(hook.received().len(), 1);
}

/// A delivery held by quiet hours is not stuck with that decision: once
/// the quiet hours are gone from the config (a reload, or the next `once`),
/// it goes at once.
#[tokio::test]
async fn a_hold_is_decided_again_under_a_new_config() {
    let local = chrono::DateTime::from_timestamp_millis(T0)
        .unwrap()
        .with_timezone(&chrono::Local);
    let minute = (local.hour() * 60 + local.minute()) as i64;
    let hm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(60));
    let quiet = format!("quiet_hours = \"{}-{}\"", hm(minute - 30), hm(minute + 60));
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, &quiet)).await;
    let app = rig.open();
    rig.baseline(&app).await;
    rig.publish(&[NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    assert_eq!(deliveries(&app)[0].held, Some(Hold::QuietHours));
    drop(app);
    let plain = config(
        rig.dir.path(),
        &rig.feeds.url(),
        &hook_notifier("hook", &url, ""),
    );
    let app = Arc::new(App::open(plain, rig.clock.clone()).unwrap());
    rig.clock.advance(MIN);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    assert_eq!(hook.received().len(), 1);
}

/// Twenty edits of one story in 40 minutes with `max_per_story = "1/15m"`:
/// at most one message per 15 minutes, each carrying the cumulative diff
/// since the previous message, and the quota survives a restart.
#[tokio::test]
async fn max_per_story_sends_cumulative_diffs_and_survives_restart() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "max_per_story = \"1/15m\"")).await;
    let mut app = rig.open();
    let body =
        |n: u32| format!("Officials said {n} North Korean troops were seen near the border town.");
    let title = "North Korean troops near border";
    rig.publish(&[("nk", title, &body(100)), UNRELATED]);
    daemon::once(&app).await.unwrap(); // baseline: the watch follows the story
    let mut sent_at = Vec::new();
    for (i, n) in (101..=120).enumerate() {
        rig.clock.advance(2 * MIN);
        if i == 3 {
            // restart mid-storm: the quota must not reset
            drop(app);
            app = rig.open();
        }
        rig.publish(&[("nk", title, &body(n)), UNRELATED]);
        let before = hook.received().len();
        daemon::once(&app).await.unwrap();
        if hook.received().len() > before {
            sent_at.push(rig.clock.now());
        }
    }
    // after the storm: whatever is left goes once the window allows
    rig.clock.advance(20 * MIN);
    daemon::once(&app).await.unwrap();
    sent_at.push(rig.clock.now());
    let got = hook.received();
    assert_eq!(got.len(), sent_at.len());
    assert!(got.len() <= 5, "{} messages for 20 edits", got.len());
    for w in sent_at.windows(2) {
        assert!(w[1] - w[0] >= 15 * MIN, "two messages within 15 minutes");
    }
    assert_eq!(
        sent_at[1] - sent_at[0],
        16 * MIN,
        "the restart did not reset the quota"
    );
    // each message's diff runs from the last number the previous one showed
    let mut shown = 100;
    for r in &got {
        let j = r.json();
        assert_eq!(j["kind"], "updated");
        let diff = j["change"]["diff"]["body"]["text"].as_str().unwrap();
        let latest: u32 = j["change"]["numbers"][0]["new"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            diff.contains(&format!("[-{shown}-]{{+{latest}+}}")),
            "expected [-{shown}-]{{+{latest}+}} in {diff}"
        );
        shown = latest;
    }
    assert_eq!(shown, 120, "the last message carries the latest version");
    let ds = deliveries(&app);
    assert_eq!(ds.len(), 20);
    assert!(ds.iter().all(|d| d.state == DeliveryState::Delivered));
}

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_commands_list_retry_and_drop() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let path = rig.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"news\"\nurl = \"{}\"\n[[watch]]\nname = \"nk\"\nquery = 'troops'\n{}",
            rig.dir.path().join("state").display(),
            rig.feeds.url(),
            rig.notifiers
        ),
    )
    .unwrap();
    let app = rig.open();
    rig.baseline(&app).await;
    // alert 1 delivered, alert 2 dead (400: this message is rejected),
    // alert 3 failed (500)
    rig.publish(&[NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    hook.script(&[400]);
    rig.publish(&[("b", "North Korean troops withdraw", "x"), NK_V1, UNRELATED]);
    daemon::once(&app).await.unwrap();
    hook.script(&[500]);
    rig.publish(&[
        ("c", "North Korean troops return", "y"),
        ("b", "North Korean troops withdraw", "x"),
        NK_V1,
        UNRELATED,
    ]);
    daemon::once(&app).await.unwrap();
    let id_of = |state: DeliveryState| {
        deliveries(&app)
            .into_iter()
            .find(|d| d.state == state)
            .unwrap()
            .alert
    };
    let (delivered, dead, failed) = (
        id_of(DeliveryState::Delivered),
        id_of(DeliveryState::Dead),
        id_of(DeliveryState::Failed),
    );

    // a process that holds the database without a control socket (here:
    // the App; in life, a daemon from before the socket): said once, with
    // what to do
    let (code, _, err) = cli(&path, &["outbox"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not answer") && err.contains("restart it"),
        "{err}"
    );
    assert_eq!(err.matches("control.sock").count(), 1, "said once: {err}");
    drop(app);

    let (code, out, err) = cli(&path, &["outbox", "list"]);
    assert_eq!(code, 0, "{err}");
    let line = |id: u64| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
            .map(str::to_string)
    };
    assert!(out.starts_with("    ID  CREATED"), "{out}");
    assert!(
        line(delivered).is_none(),
        "delivered hidden without --all:\n{out}"
    );
    let dead_line = line(dead).unwrap();
    assert!(
        dead_line.contains(" dead ") && dead_line.contains("HTTP 400"),
        "{dead_line}"
    );
    assert!(
        dead_line.contains("North Korean troops withdraw"),
        "{dead_line}"
    );
    let failed_line = line(failed).unwrap();
    assert!(
        failed_line.contains(" failed ") && failed_line.contains("HTTP 500"),
        "{failed_line}"
    );
    let (_, all, _) = cli(&path, &["outbox", "list", "--all"]);
    assert!(all.contains(" delivered "), "{all}");

    let (code, out, err) = cli(&path, &["outbox", "retry", &dead.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("due now for hook"), "{out}");
    let (code, _, err) = cli(&path, &["outbox", "retry", &delivered.to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing to retry"), "{err}");
    let (code, _, err) = cli(&path, &["outbox", "retry", "999999"]);
    assert_eq!(code, 1);
    assert!(err.contains("no alert with id 999999"), "{err}");
    let (code, _, err) = cli(
        &path,
        &["outbox", "retry", &dead.to_string(), "--notifier", "nosuch"],
    );
    assert_eq!(code, 2, "an undefined notifier is a usage error: {err}");
    assert!(
        err.contains("no notifier named \"nosuch\" (configured: hook)"),
        "{err}"
    );
    assert!(!err.contains("delivered"), "{err}");
    let (code, _, err) = cli(&path, &["outbox", "drop", &failed.to_string()]);
    assert_eq!(code, 0, "{err}");
    let (_, all, _) = cli(&path, &["outbox", "list", "--all"]);
    assert!(
        !all.contains("North Korean troops return"),
        "dropped:\n{all}"
    );

    // the retried dead alert goes out on the next run; the dropped one never
    // (the CLI made it due at wall-clock time: move the test clock there)
    rig.clock
        .set(storywatch::clock::SystemClock.now().max(rig.clock.now()) + MIN);
    let app = rig.open();
    let before = hook.attempts();
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), before + 1);
    let last = hook.received().pop().unwrap().json();
    assert_eq!(last["alert_id"], dead);
    let d = deliveries(&app)
        .into_iter()
        .find(|d| d.alert == dead)
        .unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 1));
}

/// The daemon's worker: it sends as soon as a poll writes an alert (no
/// timer to wait for) and stops when told to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_wakes_on_new_alerts_and_stops_on_shutdown() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(storywatch::delivery::run_worker(
        app.clone(),
        "hook".into(),
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await; // the worker is idle now
    rig.publish(&[NK_V1, UNRELATED]);
    storywatch::poll::poll_feed(&app, "news").await.unwrap();
    hook.wait_for_attempts(1, Duration::from_secs(5)).await;
    assert_eq!(hook.received()[0].json()["kind"], "new");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
    assert_eq!(deliveries(&app)[0].state, DeliveryState::Delivered);
}

/// A backlog bigger than one delivery page (500) all goes in one `once`
/// run, not 500 per run (or per 30 s in the daemon).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_drains_a_backlog_larger_than_one_page() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    let stories: Vec<(String, String, String)> = (0..620)
        .map(|i| {
            (
                format!("nk-{i}"),
                format!("North Korean troops report {i}"),
                format!("Dispatch number {i} on troops near the front."),
            )
        })
        .collect();
    let items: Vec<(&str, &str, &str)> = stories
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    rig.publish(&items);
    let summary = daemon::once(&app).await.unwrap();
    assert_eq!(summary.alerts, 620);
    assert_eq!(summary.delivered, 620, "{summary:?}");
    assert_eq!(summary.undelivered, 0);
    let keys: HashSet<String> = hook
        .received()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys.len(), 620, "each alert sent once");
    assert!(deliveries(&app)
        .iter()
        .all(|d| d.state == DeliveryState::Delivered));
}

/// N stories published one poll at a time, each matching the "nk" watch.
fn nk_story(i: usize) -> (String, String) {
    (
        format!("s{i}"),
        format!("North Korean troops story number {i}"),
    )
}

fn publish_stories(rig: &Rig, stories: &[(String, String)]) {
    let mut items: Vec<(&str, &str, &str)> = stories
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str(), "text"))
        .collect();
    items.push(UNRELATED);
    rig.publish(&items);
}

/// Issue 14: with the receiver down, each new alert was tried at once and
/// started its own retry chain (37 attempts in 13 chains). Now an alert
/// that arrives while the circuit is open waits for the next probe, and a
/// probe is one request however many alerts wait.
#[tokio::test]
async fn new_alerts_wait_for_the_next_probe_while_a_receiver_is_down() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    hook.script(&[503; 100]);
    let mut stories = Vec::new();
    // a new alert every 10 s of (manual) time for 30 minutes
    let start = rig.clock.now();
    let mut probes_due = Vec::new();
    for i in 0..180 {
        stories.push(nk_story(i));
        publish_stories(&rig, &stories);
        daemon::once(&app).await.unwrap();
        let c = app.store.circuit("hook").unwrap();
        if probes_due.last() != Some(&c.open_until) {
            probes_due.push(c.open_until);
        }
        rig.clock.advance(10_000);
    }
    let elapsed_min = (rig.clock.now() - start) / MIN;
    let attempts = hook.attempts();
    // 1, 2, 4, 8, 16 min backoff steps fit in 30 min: about 5 probes
    assert!(
        (4..=6).contains(&attempts),
        "{attempts} requests in {elapsed_min} min for 180 alerts: expected one per backoff step"
    );
    assert_eq!(attempts, probes_due.len(), "one request per step");
    let ds = deliveries(&app);
    assert_eq!(ds.len(), 180);
    assert!(ds.iter().all(|d| d.state.is_open()), "none given up");
    let tried: u32 = ds.iter().map(|d| d.attempts).sum();
    assert_eq!(
        tried as usize, attempts,
        "each probe is one alert; the rest never tried"
    );
    // the receiver comes back: at the next step everything goes
    hook.clear_script();
    let next_probe = app.store.circuit("hook").unwrap().open_until;
    rig.clock.set(next_probe.max(rig.clock.now()));
    let s = daemon::once(&app).await.unwrap();
    let delivered = deliveries(&app)
        .iter()
        .filter(|d| d.state == DeliveryState::Delivered)
        .count();
    assert_eq!(delivered, 180, "{s:?}");
}

/// Issue 14: a receiver answering 401 (a revoked token) to everything got
/// one attempt per new alert, each alert dead at once, and nobody was told.
/// Now the alerts wait (probed once per backoff step), one operator notice
/// goes to the other ops notifier after an hour, and when the receiver
/// accepts again every waiting alert is delivered and a second notice says
/// so.
#[tokio::test]
async fn a_receiver_refusing_everything_keeps_its_alerts_and_tells_the_operator_once() {
    let hook = WebhookReceiver::start().await;
    let ops = WebhookReceiver::start().await;
    let feeds = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    // "ops" is told about "hook"; "hook", in ops_notify too, is not sent its
    // own notice
    let config = common::nk_config_with(
        &dir.path().join("state"),
        &feeds.url(),
        "ops_notify = [\"ops\", \"hook\"]",
        &(hook_notifier("hook", &hook.url(), "") + &hook_notifier("ops", &ops.url(), "")),
    );
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    hook.script(&[401; 1000]);
    let mut stories = Vec::new();
    // two hours, a new alert every minute
    for i in 0..120 {
        stories.push(nk_story(i));
        let mut items: Vec<(&str, &str, &str)> = stories
            .iter()
            .map(|(g, t)| (g.as_str(), t.as_str(), "text"))
            .collect();
        items.push(UNRELATED);
        feeds.set("application/rss+xml", rss(&items));
        daemon::once(&app).await.unwrap();
        clock.advance(MIN);
    }
    let hook_ds: Vec<Delivery> = deliveries(&app)
        .into_iter()
        .filter(|d| d.notifier == "hook")
        .collect();
    assert_eq!(hook_ds.len(), 120);
    assert!(
        hook_ds
            .iter()
            .all(|d| d.state == DeliveryState::Failed || d.state == DeliveryState::Pending),
        "no alert burnt on a refusing receiver: {:?}",
        hook_ds
            .iter()
            .filter(|d| d.state == DeliveryState::Dead)
            .count()
    );
    let probes = hook.attempts();
    assert!(
        probes <= 10,
        "{probes} requests in 2 h: one per backoff step"
    );
    let notices: Vec<serde_json::Value> = ops
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["kind"] == "ops")
        .collect();
    assert_eq!(notices.len(), 1, "one notice per episode: {notices:?}");
    let n = &notices[0]["ops"];
    assert_eq!(n["kind"], "notifier_refusing");
    assert_eq!(n["notifier"], "hook");
    assert!(n["message"].as_str().unwrap().contains("HTTP 401"), "{n}");
    assert!(
        hook.requests().iter().all(|r| r.json()["kind"] != "ops"),
        "the refusing notifier is not sent its own notice"
    );
    // the token is fixed: everything waiting goes, and the operator hears
    hook.clear_script();
    let c = app.store.circuit("hook").unwrap();
    clock.set(c.open_until.max(clock.now()));
    daemon::once(&app).await.unwrap();
    assert_eq!(
        hook.received().len(),
        120,
        "every alert that waited, at the first probe that passes (none waits out its own backoff)"
    );
    // the notice written during that pass goes out on the next one (the
    // daemon's ops worker is woken for it)
    daemon::once(&app).await.unwrap();
    let kinds: Vec<String> = ops
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["kind"] == "ops")
        .map(|j| j["ops"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["notifier_refusing", "notifier_recovered"]);
}

/// A receiver that rejects every message as bad (400: a broken template or
/// preset) burns two alerts; at the third rejection in a row it counts as
/// refusing everything, and that alert and the rest wait.
#[tokio::test]
async fn rejections_in_a_row_stop_burning_alerts() {
    let hook = WebhookReceiver::start().await;
    let url = hook.url();
    let rig = Rig::new(|_| hook_notifier("hook", &url, "")).await;
    let app = rig.open();
    rig.baseline(&app).await;
    hook.script(&[400; 100]);
    let stories: Vec<(String, String)> = (0..10).map(nk_story).collect();
    publish_stories(&rig, &stories);
    daemon::once(&app).await.unwrap();
    let ds = deliveries(&app);
    let dead = ds.iter().filter(|d| d.state == DeliveryState::Dead).count();
    assert_eq!(dead, outbox::REJECTIONS_MEAN_REFUSAL as usize - 1, "{ds:?}");
    assert_eq!(hook.attempts(), 3, "then the circuit opened");
    assert_eq!(
        ds.iter().filter(|d| d.state.is_open()).count(),
        10 - dead,
        "the rest wait"
    );
}

/// The case of issue 14, with email: SMTP down, an alert every 20 s for
/// ten minutes. Before, each new alert was tried at once and started its
/// own retry chain; now the relay gets one connection per backoff step.
#[tokio::test]
async fn with_smtp_down_new_alerts_wait_for_one_probe_per_step() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rig = Rig::new(|_| {
        format!("[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp+plain://{dead}\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n")
    })
    .await;
    let app = rig.open();
    rig.baseline(&app).await;
    let mut stories = Vec::new();
    for i in 0..30 {
        stories.push(nk_story(i));
        publish_stories(&rig, &stories);
        daemon::once(&app).await.unwrap();
        rig.clock.advance(20_000);
    }
    let ds = deliveries(&app);
    assert_eq!(ds.len(), 30);
    let attempts: u32 = ds.iter().map(|d| d.attempts).sum();
    // steps of about 1, 2 and 4 minutes fit in ten
    assert!(
        (2..=4).contains(&attempts),
        "{attempts} connections to a relay that is down, for 30 alerts in 10 minutes"
    );
    assert!(ds.iter().all(|d| d.state.is_open()));
}
