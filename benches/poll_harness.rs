//! Load harness for the polling pipeline (fetch → parse → track → store):
//! not a test, a program that prints figures for BENCHMARKS.md.
//!
//! `cargo bench --bench poll_harness [-- N...]` (default N = 1000 10000).
//!
//! For each N, a fresh worker process runs storywatch's real pipeline
//! (`daemon::once`: gates, reqwest, parser, tracker, matcher, sled) against
//! N feeds served by a separate server process on 127.0.0.1 (so the server's
//! CPU is not counted). Each feed is a realistic RSS 2.0 document of 50
//! items of ~1.5 KB; it answers conditional GETs with 304. Cycles:
//!
//! 0. baseline: every feed is new (50 new stories each);
//! 1. nothing changed: every feed answers 304;
//! 2. and 3. 10 % of feeds changed (one new item, one edited item, one
//!    dropped), the rest 304: the steady state.
//!
//! `cargo bench --bench poll_harness -- --retention N CYCLES` instead runs
//! CYCLES warm cycles one simulated hour apart (a manual clock) with
//! `[retention] max_age = keep_alerts = "24h"`, a watch matching every
//! story and a webhook the server answers 200, and prints the database
//! size every few cycles: it grows for a day of cycles, then stays level
//! (what retention is for; the real-time peers bench cannot wait a day).
//!
//! Like real hosts, a few feeds are slow and a few fail: feed `i` with
//! `i % 1000 < 2` (0.2 %) answers after `HARNESS_SLOW_MS` (default 1000 ms),
//! and `i % 100 == 7` (1 %) answers 503 every time. Failing feeds back off
//! after their first failure, so later cycles poll fewer of them.
//!
//! Per cycle: wall time and CPU (getrusage, user + system) of the worker;
//! the changed-poll cost is derived from cycles 2–3 minus the 304 cost of
//! cycle 1. Peak RSS is the worker's VmHWM; the sled size is measured after
//! a flush.

#[path = "common/measure.rs"]
mod measure;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path as AxPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// Items per feed: 50, or `HARNESS_ITEMS` (small feeds make a run with
/// 100,000 feeds, for memory per idle feed, take minutes instead of hours).
fn items() -> u64 {
    static ITEMS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ITEMS.get_or_init(|| {
        std::env::var("HARNESS_ITEMS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50)
    })
}
const WORDS: &[&str] = &[
    "council",
    "river",
    "minister",
    "budget",
    "election",
    "storm",
    "police",
    "report",
    "court",
    "school",
    "hospital",
    "market",
    "prices",
    "energy",
    "workers",
    "strike",
    "union",
    "talks",
    "border",
    "troops",
    "ceasefire",
    "village",
    "flood",
    "rescue",
    "teams",
    "officials",
    "said",
    "on",
    "Tuesday",
    "the",
    "a",
    "of",
    "in",
    "and",
    "to",
    "after",
    "before",
    "during",
    "new",
    "plan",
    "would",
    "could",
    "expected",
    "weeks",
    "months",
    "residents",
    "city",
    "regional",
    "government",
    "spokesperson",
    "confirmed",
    "denied",
    "investigation",
    "launched",
    "figures",
    "rose",
    "fell",
    "percent",
    "million",
    "thousand",
    "local",
    "national",
    "international",
    "agency",
    "statement",
    "late",
    "early",
    "morning",
    "evening",
    "night",
    "road",
    "bridge",
    "closed",
    "opened",
    "vote",
    "parliament",
    "opposition",
    "leader",
    "party",
    "campaign",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => serve(),
        Some("--worker") => {
            let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let port = args.get(2).cloned().unwrap_or_default();
            worker(n, &port);
        }
        Some("--retention-worker") => {
            let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let cycles = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
            let port = args.get(3).cloned().unwrap_or_default();
            retention_worker(n, cycles, &port);
        }
        Some("--retention") => {
            let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let cycles = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100u64);
            with_server(|exe, port| {
                Command::new(exe)
                    .args([
                        "--retention-worker",
                        &n.to_string(),
                        &cycles.to_string(),
                        port,
                    ])
                    .status()
            });
        }
        _ => {
            let ns: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
            let ns = if ns.is_empty() {
                vec![1000, 10_000]
            } else {
                ns
            };
            orchestrate(&ns);
        }
    }
}

/// Starts the server process, then one worker process per N.
fn orchestrate(ns: &[u64]) {
    with_server(|exe, port| {
        for n in ns {
            let status = Command::new(exe)
                .args(["--worker", &n.to_string(), port])
                .status()?;
            if !status.success() {
                eprintln!("worker for N={n} failed: {status}");
            }
        }
        Ok(std::process::ExitStatus::default())
    });
}

/// Runs `work` (given this program's path and the server's port) while the
/// feed server runs in its own process.
fn with_server(work: impl FnOnce(&Path, &str) -> std::io::Result<std::process::ExitStatus>) {
    let exe = std::env::current_exe().expect("own path");
    let mut server = Command::new(&exe)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the feed server");
    let mut line = String::new();
    {
        use std::io::BufRead;
        let out = server.stdout.as_mut().expect("server stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("server port");
    }
    let port = line.trim().to_string();
    println!("feed server on 127.0.0.1:{port} (separate process)");
    match work(&exe, &port) {
        Ok(status) if !status.success() => eprintln!("worker failed: {status}"),
        Err(e) => eprintln!("worker did not run: {e}"),
        Ok(_) => {}
    }
    let _ = server.kill();
    let _ = server.wait();
}

// ---------------------------------------------------------------------------
// The feed server (its own process)

struct Site {
    cycle: AtomicU64,
}

/// How many times feed `i` has changed by `cycle` (it changes on the cycles
/// where `cycle % 10 == i % 10`, from cycle 2 on; cycle 1 changes nothing).
fn version(i: u64, cycle: u64) -> u64 {
    (2..=cycle).filter(|c| c % 10 == i % 10).count() as u64
}

/// Deterministic news-like text: common words mixed with a few thousand
/// rarer ones (a tiny vocabulary would make unrelated stories look alike),
/// in capitalised sentences of 12–20 words.
fn rng_text(seed: u64, words: usize) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mer", "tin", "sa", "ve", "dor", "ri", "pol", "an", "gre", "mu", "tas", "el",
        "no", "vik", "ber", "ca", "lin", "ost", "ru", "fen", "da", "ler", "mo", "qua", "sen", "ti",
        "bra", "hul",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::with_capacity(words * 8);
    let mut sentence_left = 0;
    for _ in 0..words {
        let r = next();
        let mut word = if r % 2 == 0 {
            WORDS[(r / 2 % WORDS.len() as u64) as usize].to_string()
        } else {
            let n = r / 2 % 4000;
            let s = SYLLABLES.len() as u64;
            format!(
                "{}{}{}",
                SYLLABLES[(n % s) as usize],
                SYLLABLES[(n / s % s) as usize],
                if n % 3 == 0 {
                    SYLLABLES[(n / 7 % s) as usize]
                } else {
                    ""
                }
            )
        };
        if sentence_left == 0 {
            sentence_left = 12 + next() % 9;
            if let Some(first) = word.get(..1) {
                word = first.to_uppercase() + &word[1..];
            }
        }
        out.push_str(&word);
        sentence_left -= 1;
        out.push_str(if sentence_left == 0 { ". " } else { " " });
    }
    out.trim_end().to_string()
}

/// Feed `i` at version `v`: items v..v+50, newest first; the item in the
/// middle of the window gets an added sentence (an edit) from then on.
fn feed_body(i: u64, v: u64) -> String {
    let mut s = String::with_capacity(80_000);
    s.push_str(&format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>Feed {i}</title><link>http://news{i}.example/</link><description>Harness feed {i}</description>\n"));
    for j in (v..v + items()).rev() {
        let mut desc = rng_text(i * 1_000_003 + j, 220);
        if v + items() / 2 >= j {
            desc.push_str(&format!(
                ". Update: officials confirmed {} casualties late on Tuesday.",
                j % 97
            ));
        }
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">feed{i}-item{j}</guid><link>http://news{i}.example/story/{j}?utm_source=rss</link><title>{}</title><pubDate>Tue, 10 Nov 2026 {:02}:{:02}:00 GMT</pubDate><description>&lt;p&gt;{desc}&lt;/p&gt;</description></item>\n",
            rng_text(j * 7 + i, 9).trim(),
            j % 24,
            j % 60
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// Feeds that answer 503 every time (1 %).
fn failing(i: u64) -> bool {
    i % 100 == 7
}

/// Feeds on a slow host (0.2 %): their answer takes `HARNESS_SLOW_MS`.
fn slow(i: u64) -> bool {
    i % 1000 < 2
}

async fn feed_handler(
    State(site): State<Arc<Site>>,
    AxPath(i): AxPath<u64>,
    headers: HeaderMap,
) -> Response {
    if slow(i) {
        let ms = std::env::var("HARNESS_SLOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if failing(i) {
        return (StatusCode::SERVICE_UNAVAILABLE, "harness: failing host").into_response();
    }
    let v = version(i, site.cycle.load(Ordering::SeqCst));
    let etag = format!("\"{v}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml".to_string()),
            (header::ETAG, etag),
        ],
        feed_body(i, v),
    )
        .into_response()
}

async fn set_cycle(State(site): State<Arc<Site>>, AxPath(c): AxPath<u64>) -> StatusCode {
    site.cycle.store(c, Ordering::SeqCst);
    StatusCode::OK
}

fn serve() {
    // two threads: at 300,000 feeds one thread of server is the bottleneck
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let site = Arc::new(Site {
            cycle: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/feed/{i}", get(feed_handler))
            .route("/hook", post(|| async { StatusCode::OK }))
            .route("/cycle/{c}", post(set_cycle))
            .with_state(site);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        axum::serve(listener, app).await.expect("serve");
    });
}

// ---------------------------------------------------------------------------
// The worker: storywatch's pipeline, measured

fn vm_hwm_mib() -> f64 {
    proc_status_mib("VmHWM:")
}

fn vm_rss_mib() -> f64 {
    proc_status_mib("VmRSS:")
}

/// A `kB` line of /proc/self/status, in MiB.
fn proc_status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn worker(n: u64, port: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    // the daemon's default global concurrency (32); all feeds share one
    // host, so the per-host limit is raised above it and the delay is off
    let concurrency: usize = std::env::var("HARNESS_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32);
    let mut text = format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\nper_host_concurrency = 64\nconcurrency = {concurrency}\ntimeout = \"60s\"\nlog_level = \"error\"\n{}\n\n",
        dir.path().display(),
        // extra [daemon] keys for experiments, e.g. cache_size = "4MiB"
        std::env::var("HARNESS_DAEMON").unwrap_or_default()
    );
    for (name, query) in [
        ("floods", "flood OR storm"),
        ("strikes", "strike AND union"),
        ("casualties", "\"confirmed 42 casualties\""),
    ] {
        text.push_str(&format!(
            "[[watch]]\nname = \"{name}\"\nquery = '{query}'\n\n"
        ));
    }
    let config = with_feeds(text, n, port);
    let rt = runtime();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let app = Arc::new(
            storywatch::app::App::open(config, Arc::new(storywatch::clock::SystemClock))
                .expect("open app"),
        );
        println!("\nN = {n} feeds, {} items each", items());
        println!(
            "{:<34} {:>8} {:>8} {:>10} {:>14}",
            "cycle", "wall s", "CPU s", "polls", "CPU ms/poll"
        );
        let mut per_304 = 0.0;
        let mut mixed = Vec::new();
        let mut mixed_wall = Vec::new();
        let mut mixed_polled = Vec::new();
        let failing_feeds = (0..n).filter(|i| failing(*i)).count();
        for cycle in 0..4u64 {
            // profiling: run the worker under `valgrind --tool=callgrind
            // --instr-atstart=no` with HARNESS_CALLGRIND=1 (cycles 1-3) or
            // =304 (cycle 1, the all-304 cycle, only)
            let profile = std::env::var("HARNESS_CALLGRIND").unwrap_or_default();
            let switch = match (profile.as_str(), cycle) {
                ("1" | "304", 1) => Some("on"),
                ("304", 2) => Some("off"),
                _ => None,
            };
            if let Some(state) = switch {
                let _ = Command::new("callgrind_control")
                    .args(["-i", state, &std::process::id().to_string()])
                    .status();
            }
            client
                .post(format!("http://127.0.0.1:{port}/cycle/{cycle}"))
                .send()
                .await
                .expect("set cycle");
            let (cpu0, t0) = (measure::process_cpu_seconds(), Instant::now());
            let s = storywatch::daemon::once(&app).await.expect("cycle");
            let (cpu, wall) = (measure::process_cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
            assert!(
                s.failed <= failing_feeds,
                "only the failing hosts may fail: {} of {failing_feeds}",
                s.failed
            );
            let label = match cycle {
                0 => "0 baseline (all new)",
                1 => "1 unchanged (all 304)",
                _ => "2/3 steady (10% changed, 90% 304)",
            };
            println!(
                "{label:<34} {wall:>8.2} {cpu:>8.2} {:>10} {:>14.3}   ({} failed; VmRSS {:.0} MiB, VmHWM {:.0} MiB)",
                s.polled,
                cpu * 1000.0 / s.polled as f64,
                s.failed,
                vm_rss_mib(),
                vm_hwm_mib()
            );
            match cycle {
                1 => {
                    per_304 = cpu / s.polled.max(1) as f64;
                    // `once` returned freed heap to the OS: this is what
                    // N idle feeds keep resident
                    println!(
                        "{:<34} {:.0} bytes per feed (VmRSS / N)",
                        "  resident after the idle cycle",
                        vm_rss_mib() * (1u64 << 20) as f64 / n as f64
                    );
                }
                2 | 3 => {
                    mixed_polled.push(s.polled as f64);
                    mixed.push(cpu);
                    mixed_wall.push(wall);
                }
                _ => {}
            }
        }
        // the changed feeds that do not fail
        let changed = (0..n).filter(|i| !failing(*i)).count() as f64 / 10.0;
        let polled = mixed_polled.iter().sum::<f64>() / mixed_polled.len() as f64;
        let avg_mixed = mixed.iter().sum::<f64>() / mixed.len() as f64;
        let per_changed = (avg_mixed - per_304 * (polled - changed)) / changed;
        app.store.flush().await.expect("flush");
        println!(
            "304 poll:     {:.3} ms CPU per poll ({:.2} s per 1,000)",
            per_304 * 1e3,
            per_304 * 1e3
        );
        println!(
            "changed poll: {:.2} ms CPU per poll ({:.2} s per 1,000) [derived]",
            per_changed * 1e3,
            per_changed * 1e3
        );
        println!("peak RSS (VmHWM): {:.1} MiB", vm_hwm_mib());
        // the shortest interval this machine holds for N feeds: a steady
        // cycle must fit in it with the 2 cores at most half busy (room
        // for bursts, deliveries, the dashboard), and its wall time too
        let avg_wall = mixed_wall.iter().sum::<f64>() / mixed_wall.len() as f64;
        let cores = std::thread::available_parallelism().map_or(2, |c| c.get()) as f64;
        println!(
            "steady cycle: {avg_mixed:.2} s CPU, {avg_wall:.2} s wall; shortest interval at {cores} cores and 50 % CPU: {:.0} s",
            (avg_mixed / (cores * 0.5)).max(avg_wall)
        );
        println!(
            "sled size on disk: {:.1} MiB",
            app.store.size_on_disk() as f64 / (1 << 20) as f64
        );
    });
}

/// The harness config: `text` (daemon, watches, notifiers) and feeds
/// `feed0`… `feed{n-1}` on the feed server.
fn with_feeds(mut text: String, n: u64, port: &str) -> storywatch::config::Config {
    for i in 0..n {
        text.push_str(&format!(
            "[[feed]]\nname = \"feed{i}\"\nurl = \"http://127.0.0.1:{port}/feed/{i}\"\n\n"
        ));
    }
    storywatch::config::Config::from_toml(Path::new("harness.toml"), &text).expect("harness config")
}

/// Two worker threads, as the 2-core machine the figures are for.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Warm cycles one simulated hour apart under a one-day retention: the
/// database grows while what it holds is younger than a day, then levels.
fn retention_worker(n: u64, cycles: u64, port: &str) {
    const HOUR: i64 = 3600 * 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\nper_host_concurrency = 64\nconcurrency = 32\ntimeout = \"60s\"\nlog_level = \"error\"\nmax_interval = \"1h\"\n\n[retention]\nmax_age = \"24h\"\nkeep_alerts = \"24h\"\n\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\n[[watch]]\nname = \"everything\"\nany = [\"the\"]\nnotify = [\"hook\"]\n\n",
        dir.path().display(),
    );
    let config = with_feeds(text, n, port);
    let rt = runtime();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let clock = Arc::new(storywatch::clock::ManualClock::new(1_796_000_000_000));
        let app = Arc::new(storywatch::app::App::open(config, clock.clone()).expect("open app"));
        println!(
            "\nN = {n} feeds, {} items each; one cycle per simulated hour; retention 24 h",
            items()
        );
        println!("| cycle | stories kept | alerts kept | live MB (keys + values) | sled size MB | du MB | cycle CPU s |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for cycle in 0..=cycles {
            client
                .post(format!("http://127.0.0.1:{port}/cycle/{cycle}"))
                .send()
                .await
                .expect("set cycle");
            let cpu0 = measure::process_cpu_seconds();
            storywatch::daemon::once(&app).await.expect("cycle");
            let cpu = measure::process_cpu_seconds() - cpu0;
            clock.advance(HOUR);
            if cycle % 10 == 0 || cycle == cycles {
                app.store.flush().await.expect("flush");
                let live_mb = app.store.live_bytes().expect("live bytes") as f64 / 1e6;
                let stories = app.store.stories_by_recency(None).count();
                let alerts = app.store.alerts_newest_first(None).count();
                println!(
                    "| {cycle} | {stories} | {alerts} | {live_mb:.1} | {:.1} | {:.1} | {cpu:.2} |",
                    app.store.size_on_disk() as f64 / 1e6,
                    measure::du(dir.path()) as f64 / 1e6,
                );
            }
        }
    });
}
