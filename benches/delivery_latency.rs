//! Event → receiver latency through the real path: a local feed server
//! publishes a new matching story, `daemon::once` polls it (HTTP GET,
//! parse, track, match, outbox commit) and delivers it to a local webhook
//! receiver and to a real SMTP server (aiosmtpd, STARTTLS). Prints p50, p95
//! and max per receiver. Run with `cargo bench --bench delivery_latency`
//! (needs python3-aiosmtpd, like the email tests).
//!
//! Latency is measured from just before the poll starts to the moment each
//! receiver has the message (the webhook receiver stamps arrival; the SMTP
//! handler stamps the time it saved the mail).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::smtp::{Options, SmtpServer, TestCert, Tls};
use common::{rss, FeedServer, WebhookReceiver};
use storywatch::app::App;
use storywatch::clock::SystemClock;
use storywatch::config::Config;
use storywatch::daemon;

const WARMUP: usize = 3;
const RUNS: usize = 60;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = TestCert::generate(dir.path());
    let smtp = SmtpServer::start(
        &dir.path().join("mail"),
        &Options {
            tls: Tls::Starttls,
            ..Options::default()
        },
        Some(&cert),
    );
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let text = format!(
        r#"
[daemon]
state_dir = "{state}"
per_host_delay = "0s"
log_level = "warn"

[[feed]]
name = "news"
url = "{feed}"

[[watch]]
name = "nk"
query = '("north korea" OR "north korean") AND (troops OR soldiers)'

[[notifier]]
name = "hook"
type = "webhook"
url = "{hook}"

[[notifier]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{port}"
tls_ca_file = "{ca}"
from = "storywatch <alerts@example.com>"
to = ["reader@example.org"]
"#,
        state = dir.path().join("state").display(),
        feed = feeds.url(),
        hook = hook.url(),
        port = smtp.port,
        ca = cert.cert.display(),
    );
    let config = Config::from_toml(Path::new("bench.toml"), &text).expect("bench config");
    let app = Arc::new(App::open(config, Arc::new(SystemClock)).expect("open app"));

    let mut items: Vec<(String, String, String)> = vec![(
        "base".into(),
        "Council approves cycle lanes".into(),
        "The vote was 9-2.".into(),
    )];
    let publish = |items: &[(String, String, String)]| {
        let refs: Vec<(&str, &str, &str)> = items
            .iter()
            .rev()
            .take(20)
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        feeds.set("application/rss+xml", rss(&refs));
    };
    publish(&items);
    daemon::once(&app).await.expect("baseline poll");

    let (mut web, mut mail, mut cycle) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + RUNS {
        items.push((
            format!("story-{i}"),
            format!("North Korean troops sighted, report {i}"),
            format!(
                "About {} North Korean troops were seen near the front.",
                1000 + i
            ),
        ));
        publish(&items);
        let wall0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        let t0 = Instant::now();
        let s = daemon::once(&app).await.expect("poll and deliver");
        let done = t0.elapsed();
        assert_eq!((s.alerts, s.delivered), (1, 2), "run {i}: {s:?}");
        let got = hook.received();
        let hook_at = got.last().expect("webhook received").at;
        let mails = smtp.wait_for(i + 1, Duration::from_secs(10)).await;
        let mail_at = mails.last().expect("mail received").received_at();
        if i >= WARMUP {
            web.push(hook_at.duration_since(t0));
            mail.push(Duration::from_secs_f64((mail_at - wall0).max(0.0)));
            cycle.push(done);
        }
    }
    println!("delivery latency, {RUNS} runs (new story published → receiver has it):");
    report("webhook (JSON, loopback HTTP)", &mut web);
    report("email (SMTP STARTTLS, aiosmtpd)", &mut mail);
    report(
        "whole `once` cycle (poll + both deliveries + fsync)",
        &mut cycle,
    );
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {what:<52} p50 {:>7.1} ms   p95 {:>7.1} ms   max {:>7.1} ms",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(samples[samples.len() - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
