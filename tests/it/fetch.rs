//! The fetcher and the poll pipeline against hostile and broken servers.
//!
//! Every case runs the real pipeline (`poll::poll_feed`, or the daemon
//! itself) against a real local server scripted per case (tests/it/common's
//! `RawServer` writes exactly the bytes a case needs), and checks three
//! things: the poll comes back (no hang, no panic), nothing unbounded was
//! buffered, and the right status is recorded in the feed's `FeedState`.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    big_rss, http_head, http_response, reply, rss, RawRequest, RawServer, Step, WebhookReceiver,
};
use storywatch::app::App;
use storywatch::clock::{Clock, ManualClock};
use storywatch::config::Config;
use storywatch::outbox::{AlertBody, OpsKind, OpsNotice};
use storywatch::poll::{self, PollOutcome, PollReport};
use storywatch::records::FeedState;

const T0: i64 = 1_790_000_000_000;
const RSS: &str = "application/rss+xml";

fn feed_toml(name: &str, url: &str, extra: &str) -> String {
    format!("[[feed]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n")
}

/// A config with an `ops` webhook notifier that receives operator alerts.
fn config(dir: &Path, daemon_extra: &str, feeds: &str, hook: &str) -> Config {
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
ops_notify = ["ops"]
{daemon_extra}

{feeds}

[[notifier]]
name = "ops"
type = "webhook"
url = "{hook}"
"#,
        dir.display()
    );
    Config::from_toml(Path::new("test.toml"), &text).unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    app: Arc<App>,
    clock: Arc<ManualClock>,
    _hook: WebhookReceiver,
}

impl Harness {
    /// One feed named `f` at `url`.
    async fn new(url: &str, daemon_extra: &str, feed_extra: &str) -> Harness {
        Harness::with_feeds(&feed_toml("f", url, feed_extra), daemon_extra).await
    }

    async fn with_feeds(feeds: &str, daemon_extra: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let hook = WebhookReceiver::start().await;
        let clock = Arc::new(ManualClock::new(T0));
        let cfg = config(dir.path(), daemon_extra, feeds, &hook.url());
        let app = Arc::new(App::open(cfg, clock.clone()).unwrap());
        Harness {
            _dir: dir,
            app,
            clock,
            _hook: hook,
        }
    }

    async fn poll(&self) -> PollReport {
        self.poll_feed("f").await
    }

    async fn poll_feed(&self, name: &str) -> PollReport {
        poll::poll_feed(&self.app, name).await.unwrap()
    }

    fn state(&self) -> FeedState {
        self.app.store.feed_state("f").unwrap().unwrap()
    }

    /// Operator notices written to the outbox, oldest first.
    fn ops(&self) -> Vec<OpsNotice> {
        let mut out: Vec<(u64, OpsNotice)> = self
            .app
            .store
            .deliveries()
            .map(Result::unwrap)
            .filter_map(|d| self.app.store.alert(d.alert).unwrap())
            .filter_map(|a| match a.body {
                AlertBody::Ops(o) => Some((a.id, o)),
                AlertBody::Story(_) => None,
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out.into_iter().map(|(_, o)| o).collect()
    }
}

fn script(f: impl Fn(&RawRequest) -> Vec<Step> + Send + Sync + 'static) -> common::Script {
    Arc::new(f)
}

/// Serves `body` as RSS at every path.
fn serve_rss(body: String) -> common::Script {
    script(move |_| reply(200, &[("Content-Type", RSS)], body.as_bytes()))
}

fn failed(report: &PollReport) -> (&'static str, String) {
    match &report.outcome {
        PollOutcome::Failed { kind, message } => (kind, message.clone()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn parsed_new(report: &PollReport) -> u32 {
    match &report.outcome {
        PollOutcome::Parsed { stats, .. } => stats.new,
        other => panic!("expected a parsed feed, got {other:?}"),
    }
}

/// Waits until the server has finished writing every request's reply.
async fn settle(server: &RawServer) -> Vec<RawRequest> {
    for _ in 0..100 {
        let r = server.requests();
        if r.iter().all(|r| r.finished.is_some()) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.requests()
}

// ---- conditional GET ----

#[tokio::test]
async fn etag_and_last_modified_are_sent_back_and_304_costs_no_parse() {
    let body = rss(&[("a", "Alpha", "first")]);
    let server = RawServer::start(script(move |r| {
        let fresh = r.header("if-none-match") == Some("\"v1\"")
            && r.header("if-modified-since") == Some("Wed, 21 Oct 2026 07:28:00 GMT");
        if fresh {
            reply(304, &[("ETag", "\"v1\"")], b"")
        } else {
            reply(
                200,
                &[
                    ("Content-Type", RSS),
                    ("ETag", "\"v1\""),
                    ("Last-Modified", "Wed, 21 Oct 2026 07:28:00 GMT"),
                ],
                body.as_bytes(),
            )
        }
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    assert_eq!(parsed_new(&h.poll().await), 1);
    let st = h.state();
    assert_eq!(st.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        st.last_modified.as_deref(),
        Some("Wed, 21 Oct 2026 07:28:00 GMT")
    );

    h.clock.advance(600_000);
    let r = h.poll().await;
    assert_eq!(r.outcome, PollOutcome::NotModified);
    let reqs = server.requests();
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
    let st = h.state();
    assert_eq!((st.polls, st.not_modified, st.failures), (2, 1, 0));
    assert_eq!(
        st.etag.as_deref(),
        Some("\"v1\""),
        "a 304 keeps the validators"
    );
    assert_eq!(st.last_success, Some(T0 + 600_000));
}

#[tokio::test]
async fn identical_body_without_validators_is_not_parsed_again() {
    let server = RawServer::start(serve_rss(rss(&[("a", "Alpha", "first")]))).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    assert_eq!(parsed_new(&h.poll().await), 1);
    h.clock.advance(600_000);
    assert_eq!(h.poll().await.outcome, PollOutcome::NotModified);
    assert_eq!(h.state().not_modified, 1);
    // a changed body is parsed
    server.set_script(serve_rss(rss(&[
        ("a", "Alpha", "first"),
        ("b", "Beta", "x"),
    ])));
    h.clock.advance(600_000);
    assert_eq!(parsed_new(&h.poll().await), 1);
}

// ---- compression and size limits ----

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

#[tokio::test]
async fn gzip_deflate_and_brotli_bodies_are_decoded() {
    let body = big_rss(20, 1000, 1);
    let encodings: [(&str, Vec<u8>); 3] = [
        ("gzip", gzip(body.as_bytes())),
        ("deflate", zlib(body.as_bytes())),
        ("br", brotli(body.as_bytes())),
    ];
    for (name, compressed) in encodings {
        assert!(compressed.len() < body.len() / 3);
        let server = RawServer::start(script(move |_| {
            reply(
                200,
                &[("Content-Type", RSS), ("Content-Encoding", name)],
                &compressed,
            )
        }))
        .await;
        let h = Harness::new(&server.url("/feed"), "", "").await;
        assert_eq!(parsed_new(&h.poll().await), 20, "{name}");
        let accept = server.requests()[0]
            .header("accept-encoding")
            .unwrap()
            .to_string();
        assert!(accept.contains(name), "{name} not offered: {accept}");
        assert_eq!(h.state().items, 20);
    }
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_body_cap() {
    // 200 MiB of zeros in ~200 KB: the cap applies to decompressed bytes
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let server = RawServer::start(script(move |_| {
        reply(
            200,
            &[("Content-Type", RSS), ("Content-Encoding", "gzip")],
            &bomb,
        )
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "max_body = \"2MiB\"").await;
    let started = Instant::now();
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "too_large");
    assert!(message.contains("2097152 bytes"), "{message}");
    assert!(message.contains("max_body"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let st = h.state();
    assert_eq!(st.failures, 1);
    assert!(st.last_error.unwrap().contains("after decompression"));
}

#[tokio::test]
async fn a_50_mib_body_is_refused_without_buffering_it() {
    const MIB: usize = 1 << 20;
    let chunk = b"<!-- padding padding padding padding padding padding padding -->\n".repeat(1024);
    let times = 50 * MIB / chunk.len();
    // no Content-Length: the body ends when the server closes
    let endless = {
        let chunk = chunk.clone();
        script(move |_| {
            vec![
                Step::Write(http_head(200, &[("Content-Type", RSS)], None)),
                Step::Repeat {
                    chunk: chunk.clone(),
                    times,
                },
            ]
        })
    };
    let server = RawServer::start(endless).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "too_large", "{message}");
    assert!(message.contains("10485760 bytes"), "default cap is 10 MiB");
    let sent = settle(&server).await[0].bytes_sent;
    assert!(
        sent < 30 * MIB as u64,
        "the client kept reading after the cap: {sent} bytes"
    );

    // an honest Content-Length over the cap is refused before reading
    server.set_script(script(move |_| {
        vec![
            Step::Write(http_head(200, &[("Content-Type", RSS)], Some(50 * MIB))),
            Step::Repeat {
                chunk: chunk.clone(),
                times,
            },
        ]
    }));
    h.clock.advance(600_000);
    let started = Instant::now();
    let (kind, _) = failed(&h.poll().await);
    assert_eq!(kind, "too_large");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.state().failures, 2);
}

#[tokio::test]
async fn per_feed_max_body_overrides_the_default() {
    let body = big_rss(50, 2000, 1); // ~110 KB
    let server = RawServer::start(serve_rss(body)).await;
    let feeds = feed_toml("small", &server.url("/feed"), "max_body = \"64KiB\"")
        + &feed_toml("big", &server.url("/feed"), "");
    let h = Harness::with_feeds(&feeds, "").await;
    assert_eq!(failed(&h.poll_feed("small").await).0, "too_large");
    assert_eq!(parsed_new(&h.poll_feed("big").await), 50);
}

// ---- timeouts ----

#[tokio::test]
async fn slow_drip_servers_time_out() {
    let body = rss(&[("a", "Alpha", "first")]);
    let drip_body = {
        let body = body.clone();
        script(move |_| {
            vec![
                Step::Write(http_head(200, &[("Content-Type", RSS)], Some(body.len()))),
                Step::Drip {
                    bytes: body.as_bytes().to_vec(),
                    every: Duration::from_millis(50),
                },
            ]
        })
    };
    let server = RawServer::start(drip_body).await;
    let h = Harness::new(&server.url("/feed"), "timeout = \"1s\"", "").await;
    let started = Instant::now();
    let (kind, message) = failed(&h.poll().await);
    assert!(started.elapsed() < Duration::from_secs(4), "no hang");
    assert_eq!(kind, "timeout");
    assert!(message.contains("timed out after 1s"), "{message}");

    // headers dripped one byte at a time: the same total timeout
    server.set_script(script(move |_| {
        vec![Step::Drip {
            bytes: http_response(200, &[("Content-Type", RSS)], body.as_bytes()),
            every: Duration::from_millis(50),
        }]
    }));
    h.clock.advance(600_000);
    let started = Instant::now();
    assert_eq!(failed(&h.poll().await).0, "timeout");
    assert!(started.elapsed() < Duration::from_secs(4));
    let st = h.state();
    assert_eq!(st.failures, 2);
    assert!(st.next_poll > T0 + 600_000, "retried later");
}

// ---- redirects ----

fn redirect(status: u16, to: &str) -> Vec<Step> {
    reply(status, &[("Location", to)], b"")
}

#[tokio::test]
async fn a_redirect_chain_is_followed_without_moving_the_feed() {
    let server = RawServer::start(script(|_| vec![])).await;
    // /b redirects to an absolute URL, the others to paths
    let (addr, body2) = (server.addr, rss(&[("a", "Alpha", "first")]));
    server.set_script(script(move |r| match r.path.as_str() {
        "/a" => redirect(302, "/b"),
        "/b" => redirect(307, &format!("http://{addr}/c")),
        "/c" => redirect(301, "/feed"),
        _ => reply(200, &[("Content-Type", RSS)], body2.as_bytes()),
    }));
    let h = Harness::new(&server.url("/a"), "", "").await;
    assert_eq!(parsed_new(&h.poll().await), 1);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a", "/b", "/c", "/feed"]);
    let st = h.state();
    assert_eq!(
        st.url,
        server.url("/a"),
        "a chain with temporary hops is not a move"
    );
    assert!(h.ops().is_empty());
}

#[tokio::test]
async fn a_redirect_loop_is_an_error_not_a_hang() {
    let server = RawServer::start(script(|r| match r.path.as_str() {
        "/a" => redirect(302, "/b"),
        "/b" => redirect(301, "/c"),
        _ => redirect(302, "/a"),
    }))
    .await;
    let h = Harness::new(&server.url("/a"), "", "").await;
    let started = Instant::now();
    let (kind, message) = failed(&h.poll().await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(kind, "redirect");
    assert!(message.contains("redirect loop"), "{message}");
    assert_eq!(server.requests().len(), 3);
    assert!(h.state().last_error.unwrap().contains("redirect loop"));

    // an endless chain of distinct URLs stops at the limit
    server.set_script(script(|r| {
        let n: u32 = r.path.trim_start_matches("/r").parse().unwrap_or(0);
        redirect(302, &format!("/r{}", n + 1))
    }));
    h.clock.advance(600_000);
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "redirect");
    assert!(message.contains("more than 10 redirects"), "{message}");

    // a redirect to a non-http scheme is refused
    server.set_script(script(|_| redirect(301, "file:///etc/passwd")));
    h.clock.advance(600_000);
    let (_, message) = failed(&h.poll().await);
    assert!(message.contains("not an http(s) URL"), "{message}");
}

#[tokio::test]
async fn a_permanent_redirect_moves_the_feed_and_keeps_story_history() {
    let v1 = rss(&[("s1", "Storm hits coast", "Winds of 100 km/h were measured.")]);
    let server = RawServer::start(serve_rss(v1)).await;
    let h = Harness::new(&server.url("/old"), "", "").await;
    assert_eq!(parsed_new(&h.poll().await), 1);

    let v2 = rss(&[(
        "s1",
        "Storm hits coast",
        "Winds of 160 km/h were measured. Thousands lost power.",
    )]);
    server.set_script(script(move |r| match r.path.as_str() {
        "/old" => redirect(301, "/new"),
        _ => reply(200, &[("Content-Type", RSS)], v2.as_bytes()),
    }));
    h.clock.advance(600_000);
    match h.poll().await.outcome {
        PollOutcome::Parsed { stats, .. } => assert_eq!(stats.updated, 1),
        other => panic!("{other:?}"),
    }
    let st = h.state();
    assert_eq!(st.url, server.url("/new"));
    assert_eq!(st.config_url, server.url("/old"), "config is not rewritten");
    let ops = h.ops();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, OpsKind::Moved);
    assert!(ops[0].message.contains("/new"), "{}", ops[0].message);
    // the story kept its history across the move
    let story = h.app.store.find_story("s1").unwrap().unwrap();
    assert_eq!(story.revision, 2);
    let versions = h.app.store.versions(&story.id).unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].snapshot.summary.contains("100 km/h"));

    // from now on the new URL is polled directly
    h.clock.advance(600_000);
    h.poll().await;
    assert_eq!(server.requests().last().unwrap().path, "/new");
    assert_eq!(h.ops().len(), 1, "the move is reported once");
}

// ---- errors, backoff, operator alerts ----

#[tokio::test]
async fn retry_after_is_honoured_for_429_and_503() {
    let server = RawServer::start(script(|_| {
        reply(429, &[("Retry-After", "7200")], b"slow down")
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let r = h.poll().await;
    let (kind, message) = failed(&r);
    assert_eq!(kind, "http_status");
    assert!(message.contains("429 Too Many Requests"), "{message}");
    assert!(message.contains("7200s"), "{message}");
    assert!(r.next_poll >= T0 + 7_200_000, "{}", r.next_poll - T0);

    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3 * 3600));
    server.set_script(script(move |_| reply(503, &[("Retry-After", &at)], b"")));
    h.clock.advance(7_200_000);
    let r = h.poll().await;
    let wait = r.next_poll - (T0 + 7_200_000);
    assert!(
        (3 * 3_600_000 - 5_000..=3 * 3_600_000 + 5_000).contains(&wait),
        "an HTTP-date Retry-After: waited {wait} ms"
    );
}

#[tokio::test]
async fn failures_back_off_to_the_cap_alert_once_and_recover() {
    let server = RawServer::start(script(|_| reply(500, &[], b"oops"))).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let mut gaps = Vec::new();
    let mut last = T0;
    // keep polling whenever due, for 40 simulated hours
    while h.clock.now() < T0 + 40 * 3_600_000 {
        let r = h.poll().await;
        assert_eq!(failed(&r).0, "http_status");
        assert!(r.next_poll > h.clock.now(), "never disabled");
        gaps.push(r.next_poll - h.clock.now());
        last = h.clock.now();
        h.clock.set(r.next_poll);
    }
    // exponential: each gap at least ~double the previous until the cap
    assert!((135_000..=165_000).contains(&gaps[0]), "{gaps:?}");
    assert!(gaps[1] > gaps[0] * 3 / 2, "{gaps:?}");
    let cap = 6 * 3_600_000;
    assert!(gaps.iter().all(|g| *g <= cap * 11 / 10), "{gaps:?}");
    assert!(gaps.last().unwrap() >= &(cap * 9 / 10), "{gaps:?}");
    let st = h.state();
    assert_eq!(st.failures as usize, gaps.len());
    assert_eq!(st.failing_since, Some(T0));
    assert!(st.failing_alerted);
    let ops = h.ops();
    assert_eq!(ops.len(), 1, "one alert for the whole outage: {ops:?}");
    assert_eq!(ops[0].kind, OpsKind::Failing);
    assert_eq!(ops[0].since, T0);
    assert!(ops[0].message.contains("HTTP 500"), "{}", ops[0].message);
    assert!(last - T0 >= 24 * 3_600_000);

    // the publisher fixes it: one recovery notice, state cleared
    server.set_script(serve_rss(rss(&[("a", "Alpha", "first")])));
    parsed_new(&h.poll().await);
    let st = h.state();
    assert_eq!((st.failures, st.failing_since), (0, None));
    assert_eq!(st.last_error, None);
    let ops = h.ops();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1].kind, OpsKind::Recovered);
    // a short outage after that raises nothing
    server.set_script(script(|_| reply(502, &[], b"")));
    h.clock.advance(600_000);
    h.poll().await;
    assert_eq!(h.ops().len(), 2);
}

#[tokio::test]
async fn gone_marks_the_feed_and_tells_the_operator_once() {
    let server = RawServer::start(script(|_| reply(410, &[], b"gone"))).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let r = h.poll().await;
    let (kind, message) = failed(&r);
    assert_eq!(kind, "gone");
    assert!(message.contains("410 Gone"), "{message}");
    assert_eq!(r.next_poll, T0 + 6 * 3_600_000, "still tried, rarely");
    let st = h.state();
    assert!(st.gone);
    let ops = h.ops();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, OpsKind::Gone);
    h.clock.set(r.next_poll);
    h.poll().await;
    assert_eq!(h.ops().len(), 1, "told once");
    // it came back after all
    server.set_script(serve_rss(rss(&[("a", "Alpha", "first")])));
    h.clock.advance(6 * 3_600_000);
    parsed_new(&h.poll().await);
    assert!(!h.state().gone);
    assert_eq!(h.ops().last().unwrap().kind, OpsKind::Recovered);
}

#[tokio::test]
async fn html_instead_of_a_feed_names_the_content_type() {
    let server = RawServer::start(script(|_| {
        reply(
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>...</form></body></html>",
        )
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "parse");
    assert!(message.contains("text/html"), "{message}");
    assert!(message.contains("not a feed"), "{message}");
}

#[tokio::test]
async fn truncated_and_lying_bodies_are_that_feeds_error() {
    let body = big_rss(10, 500, 1);
    let half = body.as_bytes()[..body.len() / 2].to_vec();
    // an honest length for a body that was cut: not well-formed XML
    let cut = half.clone();
    let server =
        RawServer::start(script(move |_| reply(200, &[("Content-Type", RSS)], &cut))).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "parse");
    assert!(message.contains("could not be read"), "{message}");

    // Content-Length promises more than arrives before the close
    server.set_script(script(move |_| {
        vec![
            Step::Write(http_head(
                200,
                &[("Content-Type", RSS)],
                Some(half.len() + 5000),
            )),
            Step::Write(half.clone()),
        ]
    }));
    h.clock.advance(600_000);
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "other");
    assert!(message.contains("body"), "{message}");

    // Content-Length promises less than is sent: only that much is read
    let full = body.clone();
    server.set_script(script(move |_| {
        vec![
            Step::Write(http_head(
                200,
                &[("Content-Type", RSS)],
                Some(full.len() / 3),
            )),
            Step::Write(full.as_bytes().to_vec()),
        ]
    }));
    h.clock.advance(600_000);
    assert_eq!(failed(&h.poll().await).0, "parse");
    assert_eq!(h.state().failures, 3);
}

#[tokio::test]
async fn empty_200_is_an_error_that_says_so() {
    let server = RawServer::start(script(|_| reply(200, &[("Content-Type", RSS)], b""))).await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "parse");
    assert!(message.contains("empty document"), "{message}");
    assert_eq!(h.state().items, 0);
}

#[tokio::test]
async fn enormous_headers_are_refused() {
    let junk = "x".repeat(2 << 20);
    let server = RawServer::start(script(move |_| {
        reply(200, &[("Content-Type", RSS), ("X-Junk", &junk)], b"<rss/>")
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let started = Instant::now();
    let (kind, _) = failed(&h.poll().await);
    assert_eq!(kind, "other");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.state().failures, 1);
}

// ---- charsets arriving in a real HTTP header ----

/// windows-1252 bytes for “quoted” and £.
const CP1252_TITLE: &[u8] = b"\x93Storm\x94 costs \xa3100";

fn cp1252_feed(declared: &str) -> Vec<u8> {
    let mut b = format!("<?xml version=\"1.0\" encoding=\"{declared}\"?><rss version=\"2.0\"><channel><title>t</title><link>http://example.com/</link><description>d</description><item><guid>c1</guid><title>").into_bytes();
    b.extend_from_slice(CP1252_TITLE);
    b.extend_from_slice(b"</title><description>x</description></item></channel></rss>");
    b
}

async fn title_served_as(content_type: &'static str, body: Vec<u8>) -> String {
    let server = RawServer::start(script(move |_| {
        reply(200, &[("Content-Type", content_type)], &body)
    }))
    .await;
    let h = Harness::new(&server.url("/feed"), "", "").await;
    let r = h.poll().await;
    assert!(
        matches!(r.outcome, PollOutcome::Parsed { .. }),
        "{content_type}: {:?}",
        r.outcome
    );
    h.app.store.find_story("c1").unwrap().unwrap().latest.title
}

#[tokio::test]
async fn the_http_charset_wins_over_the_xml_declaration() {
    // declared utf-8, served as windows-1252: the header is right
    // (stored titles are normalised: typographic quotes become plain ones;
    // a wrong decode would leave U+FFFD or mojibake such as "â€œ")
    let t = title_served_as("text/xml; charset=windows-1252", cp1252_feed("utf-8")).await;
    assert_eq!(t, "\"Storm\" costs £100");
    // the everyday mislabel: "ISO-8859-1" over windows-1252 bytes
    let t = title_served_as(
        "application/rss+xml; charset=ISO-8859-1",
        cp1252_feed("iso-8859-1"),
    )
    .await;
    assert_eq!(t, "\"Storm\" costs £100");
    // UTF-16 with a BOM, header claiming utf-8: the BOM wins
    let raw = cp1252_feed("utf-16");
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&raw);
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let t = title_served_as("application/rss+xml; charset=utf-8", utf16).await;
    assert_eq!(t, "\"Storm\" costs £100");
}

/// Every feedparser encoding fixture that simulates a Content-Type header is
/// served with that header for real: the pipeline must read the same
/// entries as the parser given the header directly (the parser's own tests
/// check the decoded text), so the header survives the HTTP path intact.
#[tokio::test]
async fn feedparser_encoding_fixtures_served_with_their_headers() {
    let root = Path::new("/work/shared/corpus/parser-fixtures/feedparser");
    let Ok(index) = std::fs::read_to_string(root.join("INDEX.tsv")) else {
        eprintln!("corpus not present: skipped");
        return;
    };
    let mut cases = Vec::new();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 4 || !cols[0].starts_with("encoding/") {
            continue;
        }
        let mut header = cols[3].to_string();
        if header.starts_with('"') && header.ends_with('"') && header.len() >= 2 {
            header = header[1..header.len() - 1].replace("\"\"", "\"");
        }
        let Some(ct) = header.strip_prefix("Content-type:") else {
            continue;
        };
        let Ok(body) = std::fs::read(root.join(cols[0])) else {
            continue;
        };
        if cases
            .iter()
            .any(|(p, _, _): &(String, String, Vec<u8>)| p == cols[0])
        {
            continue; // INDEX.tsv repeats a few rows
        }
        cases.push((cols[0].to_string(), ct.to_string(), body));
    }
    assert!(cases.len() >= 40, "found {} cases", cases.len());
    let served = Arc::new(cases.clone());
    let server = RawServer::start(script(move |r| {
        let i: usize = r.path.trim_start_matches('/').parse().unwrap();
        let (_, ct, body) = &served[i];
        reply(200, &[("Content-Type", ct)], body)
    }))
    .await;
    let feeds: String = (0..cases.len())
        .map(|i| feed_toml(&format!("f{i}"), &server.url(&format!("/{i}")), ""))
        .collect();
    let h = Harness::with_feeds(&feeds, "").await;
    let mut ok = 0;
    for (i, (path, ct, body)) in cases.iter().enumerate() {
        let r = h.poll_feed(&format!("f{i}")).await;
        let direct = storywatch::parse::parse_feed(body, Some(ct), None);
        match (&direct, &r.outcome) {
            (Ok(feed), PollOutcome::Parsed { stats, .. }) => {
                assert_eq!(stats.entries as usize, feed.entries.len(), "{path} ({ct})");
                ok += 1;
            }
            (Err(_), PollOutcome::Failed { kind, .. }) => assert_eq!(*kind, "parse", "{path}"),
            (d, o) => panic!("{path} ({ct}): direct {d:?}, via HTTP {o:?}"),
        }
        if let Ok(feed) = direct {
            for e in feed.entries.iter().filter(|e| e.guid.is_some()) {
                let story = h.app.store.find_story(e.guid.as_deref().unwrap()).unwrap();
                if let Some(s) = story {
                    assert_eq!(
                        s.latest.title,
                        storywatch::tracker::snapshot(e, &[]).title,
                        "{path}: the title decoded via HTTP differs"
                    );
                }
            }
        }
    }
    assert!(ok >= 25, "{ok} of {} parsed", cases.len());
    // the windows-1252 fixture reads as feedparser does (normalised quotes)
    let i = cases
        .iter()
        .position(|(p, _, _)| p.ends_with("http_text_xml_charset_2.xml"))
        .unwrap();
    let present = h.app.store.present(&format!("f{i}")).unwrap().unwrap();
    let story = h.app.store.story(&present[0].id).unwrap().unwrap();
    assert!(
        story.latest.summary.contains("This is a £\"test.\""),
        "{}",
        story.latest.summary
    );
}

// ---- the daemon stays up ----

#[tokio::test]
async fn hostile_feeds_do_not_stop_the_daemon() {
    let good = rss(&[("g", "Good story", "fine")]);
    let server = RawServer::start(script(move |r| match r.path.as_str() {
        "/loop" => redirect(302, "/loop2"),
        "/loop2" => redirect(302, "/loop"),
        "/drip" => vec![Step::Drip {
            bytes: b"HTTP/1.1 200 OK\r\n".to_vec(),
            every: Duration::from_millis(300),
        }],
        "/huge" => vec![
            Step::Write(http_head(200, &[("Content-Type", RSS)], None)),
            Step::Repeat {
                chunk: vec![b' '; 1 << 16],
                times: 400,
            },
        ],
        "/html" => reply(
            200,
            &[("Content-Type", "text/html")],
            b"<html><body>hi</body></html>",
        ),
        "/reset" => vec![],
        "/500" => reply(500, &[], b""),
        _ => reply(200, &[("Content-Type", RSS)], good.as_bytes()),
    }))
    .await;
    let names = ["loop", "drip", "huge", "html", "reset", "500", "good"];
    let feeds: String = names
        .iter()
        .map(|n| feed_toml(n, &server.url(&format!("/{n}")), ""))
        .collect();
    let h = Harness::with_feeds(&feeds, "timeout = \"2s\"\nmax_body = \"1MiB\"").await;
    // due one millisecond from now, so the daemon's timetable (which sleeps
    // in real time towards due times on the manual clock) wakes at once
    for n in names {
        let state = FeedState {
            url: server.url(&format!("/{n}")),
            config_url: server.url(&format!("/{n}")),
            next_poll: T0 + 1,
            ..Default::default()
        };
        h.app.store.put_feed_state(n, &state).unwrap();
    }
    let (stop_tx, shutdown) = tokio::sync::watch::channel(false);
    let (_reload_tx, reload) = tokio::sync::mpsc::channel(1);
    let app = h.app.clone();
    let daemon = tokio::spawn(storywatch::daemon::run(
        app,
        "test.toml".into(),
        storywatch::daemon::Control { reload, shutdown },
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // every feed becomes due at once
    h.clock.advance(3_600_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let polled = names
            .iter()
            .filter(|n| {
                h.app
                    .store
                    .feed_state(n)
                    .unwrap()
                    .is_some_and(|s| s.polls > 0)
            })
            .count();
        if polled == names.len() {
            break;
        }
        assert!(!daemon.is_finished(), "the daemon stopped");
        assert!(Instant::now() < deadline, "only {polled} feeds polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!daemon.is_finished());
    stop_tx.send(true).unwrap();
    daemon.await.unwrap().unwrap();
    for n in names {
        let st = h.app.store.feed_state(n).unwrap().unwrap();
        if n == "good" {
            assert_eq!(st.last_error, None);
            assert_eq!(st.items, 1);
        } else {
            assert!(st.last_error.is_some(), "{n}");
            assert!(st.next_poll > T0 + 3_600_000, "{n} is retried later");
        }
    }
}

// ---- TLS ----

/// A one-feed HTTPS server (Python's `http.server` behind `ssl`) with a
/// self-signed certificate, which no system store trusts.
struct HttpsServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl HttpsServer {
    fn start(body: &str) -> HttpsServer {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let cert = common::smtp::TestCert::generate(dir.path());
        let feed = dir.path().join("feed.xml");
        std::fs::write(&feed, body).unwrap();
        let script = r#"
import http.server, ssl, sys
body = open(sys.argv[3], "rb").read()
class Feed(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Feed)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&cert.cert)
            .arg(&cert.key)
            .arg(&feed)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the test's HTTPS server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("the HTTPS server prints its port");
        HttpsServer {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The system's roots are read at the first https server, not when the
/// client is built (`src/tls.rs`), and they still decide: a certificate
/// they do not vouch for fails the poll and stores nothing.
#[tokio::test]
async fn an_https_feed_with_an_untrusted_certificate_is_refused() {
    let server = HttpsServer::start(&rss(&[("a", "A story", "Body.")]));
    let h = Harness::new(&format!("https://127.0.0.1:{}/feed", server.port), "", "").await;
    let (kind, message) = failed(&h.poll().await);
    assert_eq!(kind, "connect", "{message}");
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error names the certificate: {message}"
    );
    assert_eq!(h.app.store.story_count(), 0);
}
