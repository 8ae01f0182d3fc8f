//! The HTTP endpoint under a slowloris attack, against the real daemon:
//! thousands of connections that send a request line and headers but never
//! the blank line that ends them. Before the endpoint had timeouts and a
//! connection cap, 3,000 such connections stayed open forever and at
//! ~20,000 `/healthz` stopped answering, polls failed with "Too many open
//! files" and deliveries stopped (issue 14).
//!
//! Shown here, while the attack runs: `/healthz` answers on fresh
//! connections, a story published on the feed is polled and delivered to
//! the webhook as fast as before, and every attacking connection is closed
//! within the header timeout (most much earlier: at the cap, the longest
//! idle connection makes room for a new one). The figures are printed
//! (`--nocapture`) for the record.

use crate::common;
use crate::common::daemon::{config_text, free_port, quick_feed_name, Daemon, Feed};

use std::time::{Duration, Instant};

use common::{rss, FeedServer, WebhookReceiver};
use storywatch::connections::{HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_HEAD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_REQUESTS: u64 = 3000;

fn story(i: usize) -> (String, String, String) {
    (
        format!("storm-{i}"),
        format!("Storm warning number {i} for the coast"),
        "Winds of 120 km/h are expected tonight.".to_string(),
    )
}

/// Publishes stories `0..=upto` and returns when the one numbered `upto`
/// reached the webhook, with the time it took.
async fn publish_and_time_delivery(
    feeds: &FeedServer,
    hook: &WebhookReceiver,
    daemon: &Daemon,
    upto: usize,
) -> Duration {
    let stories: Vec<(String, String, String)> = (0..=upto).map(story).collect();
    let items: Vec<(&str, &str, &str)> = stories
        .iter()
        .map(|(g, t, d)| (g.as_str(), t.as_str(), d.as_str()))
        .collect();
    let title = stories[upto].1.clone();
    let start = Instant::now();
    feeds.set("application/rss+xml", rss(&items));
    daemon
        .wait_for(
            &format!("delivery of {title:?}"),
            Duration::from_secs(30),
            || hook.received().iter().any(|r| r.text().contains(&title)),
        )
        .await;
    start.elapsed()
}

/// Times `/healthz` over fresh connections (no pooling: each request goes
/// through accept, as a health checker's does).
async fn health_latencies(base: &str, count: usize) -> Vec<Duration> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut out = Vec::new();
    for _ in 0..count {
        let start = Instant::now();
        let resp = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("/healthz answers during the attack");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "ok\n");
        out.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(ds: &[Duration]) -> String {
    let mut v: Vec<f64> = ds.iter().copied().map(ms).collect();
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.1} ms, max {:.1} ms over {}",
        v[v.len() / 2],
        v[v.len() - 1],
        v.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_polling_and_delivery_survive_thousands_of_idle_half_requests() {
    // the attacker (this process) needs the descriptors too
    let limit = storywatch::fdlimit::raise().unwrap_or(1024);
    let n = HALF_REQUESTS.min(limit.saturating_sub(300));
    assert!(
        n >= 1500,
        "the open-file limit ({limit}) leaves room for only {n} connections; raise `ulimit -n`"
    );
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    feeds.set("application/rss+xml", rss(&[]));
    let listen = free_port();
    let base = format!("http://{listen}");
    let config = dir.path().join("config.toml");
    let name = quick_feed_name("news");
    let mut text = config_text(
        &dir.path().join("state"),
        &[Feed {
            name: &name,
            url: feeds.url(),
        }],
        &format!("listen = \"{listen}\"\nbaseline = false"),
        &format!(
            "\n[[watch]]\nname = \"storms\"\nany = [\"storm\"]\n\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            hook.url()
        ),
    );
    text = text.replace("interval = \"10s\"", "interval = \"1s\"");
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config, &[]);
    daemon
        .wait_for("the endpoint", Duration::from_secs(20), || {
            std::net::TcpStream::connect(listen).is_ok()
        })
        .await;

    // before: health and poll → delivery latency
    let health_before = health_latencies(&base, 20).await;
    let delivery_before = publish_and_time_delivery(&feeds, &hook, &daemon, 0).await;

    // the attack: half requests that never end, while a health checker
    // keeps asking
    let checker = tokio::spawn({
        let base = base.clone();
        async move { health_latencies(&base, 40).await }
    });
    let attack_start = Instant::now();
    let mut closers = tokio::task::JoinSet::new();
    let mut opened = 0u64;
    for i in 0..n {
        let Ok(mut sock) = TcpStream::connect(listen).await else {
            continue;
        };
        let head = format!("GET /healthz HTTP/1.1\r\nHost: {listen}\r\nX-Slow: {i}\r\n");
        if sock.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        opened += 1;
        let opened_at = Instant::now();
        closers.spawn(async move {
            // the server closes it: read returns 0 (or a reset)
            let mut buf = [0u8; 256];
            let deadline = HEADER_TIMEOUT + Duration::from_secs(20);
            loop {
                match tokio::time::timeout(deadline, sock.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(opened_at.elapsed()),
                    Ok(Ok(_)) => continue,
                    Err(_) => return None,
                }
            }
        });
    }
    let opening = attack_start.elapsed();
    let health_while_opening = checker.await.unwrap();

    // during: health, and a new story polled and delivered
    let health_during = health_latencies(&base, 20).await;
    let delivery_during = publish_and_time_delivery(&feeds, &hook, &daemon, 1).await;
    let polls_during_start = feeds.requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls_in_3s = feeds.requests() - polls_during_start;

    // every attacking connection is closed by the server, within the timeout
    let mut closed = Vec::new();
    let mut never = 0;
    while let Some(r) = closers.join_next().await {
        match r.unwrap() {
            Some(d) => closed.push(d),
            None => never += 1,
        }
    }
    let limit_close = HEADER_TIMEOUT.max(IDLE_TIMEOUT) + Duration::from_secs(2);
    let early = closed.iter().filter(|d| **d < HEADER_TIMEOUT / 2).count();
    let late = closed.iter().filter(|d| **d > limit_close).count();
    let slowest = closed.iter().max().copied().unwrap_or_default();

    eprintln!(
        "slowloris: {opened} half requests opened in {:.1} s (open-file limit {limit})",
        opening.as_secs_f64()
    );
    eprintln!("slowloris: closed by the server: {} ({early} within {} s: room made at the cap; the rest by the timeout), slowest after {:.1} s; never closed: {never}", closed.len(), (HEADER_TIMEOUT / 2).as_secs(), slowest.as_secs_f64());
    eprintln!("slowloris: /healthz before: {}", summary(&health_before));
    eprintln!(
        "slowloris: /healthz while the connections were opened: {}",
        summary(&health_while_opening)
    );
    eprintln!(
        "slowloris: /healthz with all of them open: {}",
        summary(&health_during)
    );
    eprintln!(
        "slowloris: story published → webhook received: before {:.0} ms, during {:.0} ms",
        ms(delivery_before),
        ms(delivery_during)
    );
    eprintln!("slowloris: feed polls in 3 s during the attack: {polls_in_3s} (interval 1 s)");

    assert!(opened >= n * 9 / 10, "opened {opened} of {n}");
    assert_eq!(never, 0, "connections left open past {limit_close:?}");
    assert_eq!(
        late, 0,
        "closed later than {limit_close:?}: slowest {slowest:?}"
    );
    for during in [&health_while_opening, &health_during] {
        assert!(
            during.iter().all(|d| *d < Duration::from_secs(2)),
            "/healthz slowed down: {}",
            summary(during)
        );
    }
    assert!(
        delivery_during < Duration::from_secs(10),
        "poll and delivery slowed down: {delivery_during:?}"
    );
    assert!(polls_in_3s >= 1, "polling continued");
    let log = daemon.stderr();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(
        log.contains("closing the longest idle ones"),
        "the cap was reached and said so: {log}"
    );
}

/// A request head larger than the limit gets 431, a request with a body
/// gets 413 (the API reads none), and neither is read to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_request_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("application/rss+xml", rss(&[]));
    let listen = free_port();
    let config = dir.path().join("config.toml");
    let name = quick_feed_name("news");
    std::fs::write(
        &config,
        config_text(
            &dir.path().join("state"),
            &[Feed {
                name: &name,
                url: feeds.url(),
            }],
            &format!("listen = \"{listen}\""),
            "",
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config, &[]);
    daemon
        .wait_for("the endpoint", Duration::from_secs(20), || {
            std::net::TcpStream::connect(listen).is_ok()
        })
        .await;
    let status_of = |request: Vec<u8>| async move {
        let mut sock = TcpStream::connect(listen).await.unwrap();
        let _ = sock.write_all(&request).await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(MAX_HEAD * 2)
    );
    assert_eq!(status_of(big.into_bytes()).await, "431");
    let with_body =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc".to_vec();
    assert_eq!(status_of(with_body).await, "413");
    let fine = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec();
    assert_eq!(status_of(fine).await, "200");
}
