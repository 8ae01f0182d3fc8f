//! Scheduling and politeness: pure policy (spread, hints, adaptation) and
//! limits measured where they matter, at the server (request timestamps).

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{big_rss, max_in_flight, reply, rss, RawRequest, RawServer, Step};
use rand::rngs::StdRng;
use rand::SeedableRng;
use storywatch::app::App;
use storywatch::clock::{Clock, ManualClock};
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::model::UnixMs;
use storywatch::poll::{self, PollOutcome};
use storywatch::scheduler::{self, Intervals, PollSignal};

const T0: i64 = 1_790_000_000_000;
const RSS: &str = "application/rss+xml";

fn open(dir: &Path, daemon_extra: &str, feeds: &str) -> (Arc<App>, Arc<ManualClock>) {
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\n{daemon_extra}\n\n{feeds}",
        dir.display()
    );
    let cfg = Config::from_toml(Path::new("test.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    (Arc::new(App::open(cfg, clock.clone()).unwrap()), clock)
}

fn feed(name: &str, url: &str) -> String {
    format!("[[feed]]\nname = \"{name}\"\nurl = \"{url}\"\n")
}

// ---- spreading 10,000 feeds ----

/// The busiest second of a list of due times.
fn busiest_second(dues: &[UnixMs]) -> usize {
    let mut per_sec = std::collections::HashMap::new();
    for d in dues {
        *per_sec.entry(d / 1000).or_insert(0usize) += 1;
    }
    per_sec.values().copied().max().unwrap_or(0)
}

#[test]
fn ten_thousand_feeds_with_one_interval_do_not_fire_together() {
    let n = 10_000;
    let interval = Duration::from_secs(600);
    let spread = scheduler::start_spread(n, interval);
    assert_eq!(spread, Duration::from_secs(500), "20 first polls a second");
    let mut dues: Vec<UnixMs> = (0..n)
        .map(|i| scheduler::initial_due(T0, &format!("feed-{i}"), spread))
        .collect();
    // 20/s on average; a fair spread keeps the busiest second well below
    // "all at once" (10,000) and near the mean
    let busiest = busiest_second(&dues);
    assert!(busiest <= 50, "first cycle: {busiest} feeds in one second");
    assert!(dues.iter().all(|d| (T0..T0 + 500_000).contains(d)));

    // ten cycles on: each feed keeps its phase plus ±10 % jitter, so they
    // stay spread (no re-alignment)
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..10 {
        for d in dues.iter_mut() {
            *d += scheduler::jittered(600_000, &mut rng) as UnixMs;
        }
    }
    let busiest = busiest_second(&dues);
    assert!(busiest <= 50, "after ten cycles: {busiest} in one second");

    // a few feeds start quickly, and nothing waits longer than its interval
    assert_eq!(
        scheduler::start_spread(5, interval),
        scheduler::MIN_START_SPREAD
    );
    assert_eq!(
        scheduler::start_spread(1_000_000, interval),
        interval,
        "never longer than the interval"
    );
}

// ---- the adaptive interval ----

fn intervals() -> Intervals {
    Intervals {
        base: Duration::from_secs(600),
        min: Duration::from_secs(120),
        max: Duration::from_secs(6 * 3600),
        respect_hints: true,
    }
}

#[test]
fn developing_stories_speed_polling_down_to_the_minimum() {
    let iv = intervals();
    let developing = PollSignal {
        changed: true,
        developing: true,
        hint: None,
    };
    let mut cur = 0;
    let mut seen = Vec::new();
    for _ in 0..5 {
        cur = scheduler::adapt_interval(&iv, cur, &developing);
        seen.push(cur);
    }
    assert_eq!(seen, [300_000, 150_000, 120_000, 120_000, 120_000]);
    // a publisher hint still wins over "developing"
    let hinted = PollSignal {
        hint: Some(Duration::from_secs(900)),
        ..developing
    };
    assert_eq!(scheduler::adapt_interval(&iv, 120_000, &hinted), 900_000);
}

#[test]
fn quiet_feeds_slow_down_to_the_maximum_and_come_back_on_change() {
    let iv = intervals();
    let mut cur = 600_000;
    let mut steps = 0;
    while cur < 6 * 3600 * 1000 {
        let next = scheduler::adapt_interval(&iv, cur, &PollSignal::default());
        assert!(next > cur, "grows while quiet");
        cur = next;
        steps += 1;
    }
    assert!(steps < 20, "{steps} quiet polls to reach the maximum");
    let changed = PollSignal {
        changed: true,
        ..Default::default()
    };
    assert_eq!(scheduler::adapt_interval(&iv, cur, &changed), 600_000);
}

// ---- the same, end to end through polls ----

#[tokio::test]
async fn a_developing_story_is_polled_more_often_a_quiet_feed_less() {
    let server = RawServer::start(Arc::new(|_: &RawRequest| vec![])).await;
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = open(
        dir.path(),
        "per_host_delay = \"0s\"",
        &feed("f", &server.url("/feed")),
    );
    let mut version = 0;
    let serve = |text: String| {
        let body = rss(&[(
            "live",
            "Live: flooding in the valley",
            &format!("This is a developing story. {text}"),
        )]);
        server.set_script(Arc::new(move |_: &RawRequest| {
            reply(200, &[("Content-Type", RSS)], body.as_bytes())
        }));
    };
    let mut intervals = Vec::new();
    for update in [
        "Rain continues.",
        "Two roads closed.",
        "Evacuations begin in the lower town.",
        "The river peaked at 4.2 metres overnight.",
        "Water levels are falling.",
    ] {
        version += 1;
        serve(format!("{update} (update {version})"));
        let r = poll::poll_feed(&app, "f").await.unwrap();
        assert!(matches!(r.outcome, PollOutcome::Parsed { .. }));
        let st = app.store.feed_state("f").unwrap().unwrap();
        intervals.push(st.interval_ms);
        clock.set(r.next_poll);
    }
    assert_eq!(intervals[0], 300_000, "{intervals:?}");
    assert_eq!(*intervals.last().unwrap(), 120_000, "down to min_interval");
    // then the story goes quiet: the same body again and again
    let mut last = 0;
    for _ in 0..30 {
        let r = poll::poll_feed(&app, "f").await.unwrap();
        assert_eq!(r.outcome, PollOutcome::NotModified);
        last = app.store.feed_state("f").unwrap().unwrap().interval_ms;
        clock.set(r.next_poll);
    }
    assert_eq!(last, 6 * 3600 * 1000, "quiet feed slows to max_interval");
}

#[tokio::test]
async fn publisher_hints_are_lower_bounds() {
    // (response headers, body, expected interval in ms)
    type Case = (Vec<(&'static str, String)>, String, u64);
    let cases: Vec<Case> = vec![
        (
            vec![("Cache-Control", "public, max-age=3600".into())],
            rss(&[("a", "A", "a")]),
            3_600_000,
        ),
        (
            // Expires is relative to the server's Date (when it sends one)
            vec![
                ("Date", httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(1_790_000_000))),
                ("Expires", httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(1_790_001_800))),
            ],
            rss(&[("a", "A", "a")]),
            1_800_000,
        ),
        (
            vec![],
            rss(&[("a", "A", "a")]).replace("<description>t</description>", "<description>t</description><ttl>90</ttl>"),
            5_400_000,
        ),
        (
            vec![],
            rss(&[("a", "A", "a")])
                .replace("<rss version=\"2.0\">", "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\">")
                .replace("<description>t</description>", "<description>t</description><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>8</sy:updateFrequency>"),
            3 * 3_600_000,
        ),
        (
            // a week is capped at max_interval: a hint never stops polling
            vec![("Cache-Control", "max-age=604800".into())],
            rss(&[("a", "A", "a")]),
            6 * 3_600_000,
        ),
        (
            // shorter than the interval: the interval stands
            vec![("Cache-Control", "max-age=60".into())],
            rss(&[("a", "A", "a")]),
            600_000,
        ),
    ];
    for (respect, (headers, body, expected)) in [true, false]
        .into_iter()
        .flat_map(|r| cases.iter().map(move |c| (r, c)))
    {
        let (headers, body) = (headers.clone(), body.clone());
        let server = RawServer::start(Arc::new(move |_: &RawRequest| {
            let mut h: Vec<(&str, &str)> = vec![("Content-Type", RSS)];
            h.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            reply(200, &h, body.as_bytes())
        }))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (app, clock) = open(
            dir.path(),
            &format!("per_host_delay = \"0s\"\nrespect_feed_hints = {respect}"),
            &feed("f", &server.url("/feed")),
        );
        let r = poll::poll_feed(&app, "f").await.unwrap();
        let st = app.store.feed_state("f").unwrap().unwrap();
        let want = if respect { *expected } else { 600_000 };
        assert_eq!(st.interval_ms, want, "respect={respect}");
        let wait = (r.next_poll - clock.now()) as u64;
        assert!(
            (want * 9 / 10 - 1_000..=want * 11 / 10).contains(&wait),
            "{wait}"
        );
    }
}

// ---- politeness measured at the server ----

/// A server that takes `ms` to answer each request.
async fn slow_server(bind: &str, ms: u64) -> RawServer {
    let body = big_rss(3, 200, 1);
    RawServer::start_on(
        bind,
        Arc::new(move |_: &RawRequest| {
            let mut steps = vec![Step::Sleep(Duration::from_millis(ms))];
            steps.extend(reply(200, &[("Content-Type", RSS)], body.as_bytes()));
            steps
        }),
    )
    .await
}

#[tokio::test]
async fn per_host_concurrency_and_delay_are_enforced() {
    let server = slow_server("127.0.0.1:0", 300).await;
    let feeds: String = (0..6)
        .map(|i| feed(&format!("f{i}"), &server.url(&format!("/{i}"))))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(
        dir.path(),
        "per_host_concurrency = 2\nper_host_delay = \"200ms\"\nconcurrency = 10",
        &feeds,
    );
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.polled, s.failed), (6, 0));
    let mut reqs = server.requests();
    reqs.sort_by_key(|r| r.started);
    assert_eq!(reqs.len(), 6);
    assert_eq!(max_in_flight(&reqs), 2, "per-host limit");
    for pair in reqs.windows(2) {
        let gap = pair[1].started - pair[0].started;
        // the client sends at ≥200 ms gaps; allow a little scheduling noise
        assert!(gap >= Duration::from_millis(190), "gap {gap:?}");
    }
}

#[tokio::test]
async fn the_global_limit_holds_across_hosts() {
    // three hosts on loopback addresses, two feeds each
    let servers = [
        slow_server("127.0.0.1:0", 400).await,
        slow_server("127.0.0.2:0", 400).await,
        slow_server("127.0.0.3:0", 400).await,
    ];
    let feeds: String = servers
        .iter()
        .enumerate()
        .flat_map(|(h, s)| {
            (0..2).map(move |i| feed(&format!("h{h}f{i}"), &s.url(&format!("/{i}"))))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(
        dir.path(),
        "per_host_concurrency = 2\nper_host_delay = \"0s\"\nconcurrency = 2",
        &feeds,
    );
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.polled, s.failed), (6, 0));
    let all: Vec<RawRequest> = servers.iter().flat_map(|s| s.requests()).collect();
    assert_eq!(all.len(), 6);
    assert_eq!(max_in_flight(&all), 2, "global limit over all hosts");
}
