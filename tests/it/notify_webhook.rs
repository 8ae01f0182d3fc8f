//! Webhook alerts against a real HTTP receiver on 127.0.0.1: the generic
//! JSON schema, signatures, idempotency keys, every preset's native shape,
//! templates, status classification, Retry-After and timeouts.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{nk_config, rss, Answer, FeedServer, WebhookReceiver, NK_V1, NK_V2, T0, UNRELATED};
use storywatch::app::App;
use storywatch::cli::test_notify::test_alert;
use storywatch::clock::{Clock, ManualClock};
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::notify::webhook::{verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use storywatch::notify::Notifier;
use storywatch::outbox::DeliveryState;

const SECRET: &str = "whsec-test-0123456789";

/// A config with one feed, the NK watch and one webhook notifier "hook"
/// whose extra keys are `notifier`.
fn config(dir: &Path, feed: &str, url: &str, notifier: &str) -> Config {
    let hook =
        format!("[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{url}\"\n{notifier}");
    nk_config(&dir.join("state"), feed, &hook)
}

fn now_secs() -> i64 {
    storywatch::clock::SystemClock.now() / 1000
}

fn signature_ok(r: &common::Received) -> bool {
    verify(
        SECRET.as_bytes(),
        &r.header(TIMESTAMP_HEADER).expect("timestamp header"),
        &r.body,
        &r.header(SIGNATURE_HEADER).expect("signature header"),
        now_secs(),
        Duration::from_secs(300),
    )
}

#[tokio::test]
async fn json_alerts_are_signed_keyed_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let extra = format!(
        "secret_file = \"{}\"\nheaders = {{ \"X-Team\" = \"newsroom\", \"Authorization\" = \"Bearer abc\" }}",
        secret_file.display()
    );
    let clock = Arc::new(ManualClock::new(T0));
    let app = Arc::new(
        App::open(
            config(dir.path(), &feeds.url(), &hook.url(), &extra),
            clock.clone(),
        )
        .unwrap(),
    );
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();

    // a new story; the first attempt fails, the retry carries the same key
    hook.script(&[500]);
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(5 * 60_000);
    daemon::once(&app).await.unwrap();
    let tries = hook.requests();
    assert_eq!(tries.len(), 2);
    let key = tries[0].header("idempotency-key").unwrap();
    assert_eq!(
        tries[1].header("idempotency-key").as_deref(),
        Some(key.as_str())
    );
    assert_eq!(
        tries[0].body, tries[1].body,
        "a retry sends the same payload"
    );

    let new = &hook.received()[0];
    assert!(signature_ok(new), "signature verifies");
    let mut tampered = new.clone();
    tampered.body = new.text().replace("3,000", "9,000").into_bytes().into();
    assert!(
        !signature_ok(&tampered),
        "a changed body fails verification"
    );
    assert_eq!(new.header("x-team").as_deref(), Some("newsroom"));
    assert_eq!(new.header("authorization").as_deref(), Some("Bearer abc"));
    assert_eq!(
        new.header("content-type").as_deref(),
        Some("application/json")
    );
    let j = new.json();
    assert_eq!(j["schema"], "storywatch.alert.v1");
    assert_eq!(j["id"], key.as_str());
    assert_eq!(j["kind"], "new");
    assert_eq!(j["trigger"], "new");
    assert_eq!(j["watch"], "nk");
    assert_eq!(j["terms"], serde_json::json!(["north korean", "troops"]));
    assert_eq!(j["story"]["revision"], 1);
    assert_eq!(j["story"]["link"], "http://example.com/nk");
    assert!(j["change"].is_null());

    // the update: fields changed, diff as text and as chunks, numbers
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V2, UNRELATED]));
    daemon::once(&app).await.unwrap();
    let got = hook.received();
    assert_eq!(got.len(), 2);
    let upd = &got[1];
    assert!(signature_ok(upd));
    assert_ne!(upd.header("idempotency-key").as_deref(), Some(key.as_str()));
    let j = upd.json();
    assert_eq!(j["kind"], "updated");
    assert_eq!(j["trigger"], "update");
    assert_eq!(j["story"]["revision"], 2);
    assert_eq!(j["change"]["fields"], serde_json::json!(["summary"]));
    assert!(j["change"]["diff"]["body"]["text"]
        .as_str()
        .unwrap()
        .contains("[-3,000-]{+5,000+}"));
    let chunks = j["change"]["diff"]["body"]["chunks"].as_array().unwrap();
    assert!(chunks
        .iter()
        .any(|c| c["op"] == "replaced" && c["old"] == "3,000" && c["new"] == "5,000"));
    assert!(j["change"]["added_sentences"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(
            "Officials expect them in combat within weeks."
        )));
    assert_eq!(j["change"]["numbers"][0]["new"], "5,000");
    println!(
        "---- JSON payload ----\n{}\n----",
        serde_json::to_string_pretty(&j).unwrap()
    );
}

/// Sends the test alert through a notifier built from `extra` keys and
/// returns what the receiver got.
async fn send_one(extra: &str) -> common::Received {
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http://127.0.0.1:9/feed", &hook.url(), extra);
    let n = Notifier::build(&cfg.notifiers[0], "storywatch-test").unwrap();
    n.send(&[test_alert("hook", T0)]).await.unwrap();
    let got = hook.received();
    assert_eq!(got.len(), 1);
    got[0].clone()
}

#[tokio::test]
async fn slack_preset_sends_text_and_blocks() {
    let r = send_one("preset = \"slack\"").await;
    let j = r.json();
    assert!(j["text"]
        .as_str()
        .unwrap()
        .starts_with("Updated: Storm makes landfall"));
    let block = &j["blocks"][0];
    assert_eq!(block["type"], "section");
    assert_eq!(block["text"]["type"], "mrkdwn");
    let t = block["text"]["text"].as_str().unwrap();
    assert!(
        t.starts_with("*<https://example.com/news/storywatch-test|Updated: Storm makes landfall"),
        "{t}"
    );
    assert!(t.contains("[-3,000-]{+12,000+}"), "{t}");
    assert_eq!(j["unfurl_links"], false);
}

#[tokio::test]
async fn discord_preset_sends_content_without_mentions() {
    let j = send_one("preset = \"discord\"").await.json();
    let content = j["content"].as_str().unwrap();
    assert!(
        content.starts_with("Updated: Storm makes landfall"),
        "{content}"
    );
    assert!(content.chars().count() <= 2000);
    assert_eq!(j["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[tokio::test]
async fn ntfy_preset_sends_plain_body_and_headers() {
    let r = send_one("preset = \"ntfy\"").await;
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r
        .header("title")
        .unwrap()
        .starts_with("Updated: Storm makes landfall; 12,000 told to leave"));
    assert_eq!(
        r.header("click").as_deref(),
        Some("https://example.com/news/storywatch-test")
    );
    assert_eq!(r.header("tags").as_deref(), Some("newspaper"));
    assert!(r.text().contains("[-3,000-]{+12,000+}"), "{}", r.text());
    assert!(r.header("idempotency-key").unwrap().starts_with("test."));
}

#[tokio::test]
async fn mattermost_preset_sends_text() {
    let j = send_one("preset = \"mattermost\"").await.json();
    assert!(j["text"]
        .as_str()
        .unwrap()
        .starts_with("Updated: Storm makes landfall"));
    assert_eq!(j.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn teams_preset_sends_an_adaptive_card() {
    let j = send_one("preset = \"teams\"").await.json();
    assert_eq!(j["type"], "message");
    let att = &j["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    let body = att["content"]["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    assert!(body[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Updated: Storm makes landfall"));
    assert!(body[1]["text"].as_str().unwrap().contains("{+12,000+}"));
}

#[tokio::test]
async fn templates_render_json_or_text() {
    let json_tpl = r#"template = '{"msg": {{ subject|tojson }}, "story": {{ alert.story.id|tojson }}, "rev": {{ alert.story.revision }}, "diff": {{ alert.change.diff.body.text|tojson }}, "n": {{ alerts|length }}}'"#;
    let r = send_one(json_tpl).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let j = r.json();
    assert!(j["msg"].as_str().unwrap().starts_with("Updated: Storm"));
    assert_eq!(j["story"], "storywatch-test");
    assert_eq!(j["rev"], 2);
    assert!(j["diff"].as_str().unwrap().contains("[-3,000-]{+12,000+}"));
    assert_eq!(j["n"], 1);

    let r = send_one("template = 'ALERT {{ alert.kind }}: {{ alert.story.title }}'").await;
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(
        r.text(),
        "ALERT updated: Storm makes landfall; 12,000 told to leave"
    );
}

#[tokio::test]
async fn template_errors_are_caught_at_load_or_are_permanent() {
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // a syntax error is a config error, with the notifier named
    let text = format!(
        "[[feed]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/feed\"\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\ntemplate = '{{{{ alert.kind '\n",
        hook.url()
    );
    let err = Config::from_toml(Path::new("t.toml"), &text).unwrap_err();
    assert!(
        err.to_string()
            .contains("notifier \"hook\": template does not compile"),
        "{err}"
    );
    // a template that runs away is stopped, and retrying cannot help
    let cfg = config(
        dir.path(),
        "http://127.0.0.1:9/feed",
        &hook.url(),
        "template = '{% for i in range(100000000) %}x{% endfor %}'",
    );
    let n = Notifier::build(&cfg.notifiers[0], "t").unwrap();
    let e = n.send(&[test_alert("hook", T0)]).await.unwrap_err();
    assert!(e.permanent, "{e}");
    assert!(e.message.contains("template"), "{e}");
    assert_eq!(hook.attempts(), 0, "nothing sent");
}

#[tokio::test]
async fn status_codes_are_classified() {
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http://127.0.0.1:9/feed", &hook.url(), "");
    let n = Notifier::build(&cfg.notifiers[0], "t").unwrap();
    // (status, this message is rejected, the receiver refuses us)
    for (status, permanent, refused) in [
        (400, true, false),
        (413, true, false),
        (422, true, false),
        (401, false, true),
        (403, false, true),
        (404, false, true),
        (405, false, true),
        (410, false, true),
        (408, false, false),
        (429, false, false),
        (500, false, false),
        (502, false, false),
        (503, false, false),
    ] {
        hook.script(&[status]);
        let e = n.send(&[test_alert("hook", T0)]).await.unwrap_err();
        assert_eq!(e.permanent, permanent, "HTTP {status}: {e}");
        assert_eq!(e.refused, refused, "HTTP {status}: {e}");
        assert!(e.message.contains(&status.to_string()), "{e}");
    }
    hook.script(&[204]);
    n.send(&[test_alert("hook", T0)]).await.unwrap();
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(T0));
    let app = Arc::new(
        App::open(
            config(dir.path(), &feeds.url(), &hook.url(), ""),
            clock.clone(),
        )
        .unwrap(),
    );
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    hook.script_answers(&[Answer::status(429).header("Retry-After", "1800")]);
    clock.advance(60_000);
    let asked_at = clock.now();
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    daemon::once(&app).await.unwrap();
    let d = app.store.deliveries().next().unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(
        d.next_attempt >= asked_at + 1_800_000,
        "next attempt {} is before Retry-After",
        d.next_attempt - asked_at
    );
    // backoff alone (1 min) would have retried long before
    clock.advance(20 * 60_000);
    daemon::once(&app).await.unwrap();
    assert_eq!(hook.attempts(), 1, "no retry inside Retry-After");
    clock.advance(11 * 60_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(hook.attempts(), 2);
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried() {
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "http://127.0.0.1:9/feed",
        &format!("{}?token=XXXXSECRET", hook.url()),
        "timeout = \"300ms\"",
    );
    hook.script_answers(&[Answer::status(200).delay(Duration::from_secs(5))]);
    let n = Notifier::build(&cfg.notifiers[0], "t").unwrap();
    let started = std::time::Instant::now();
    let e = n.send(&[test_alert("hook", T0)]).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "timeout applied"
    );
    assert!(!e.permanent, "{e}");
    assert!(e.message.contains("unreachable"), "{e}");
    assert!(e.message.contains("raise `timeout`"), "{e}");
    assert!(!e.message.contains("XXXXSECRET"), "no token in errors: {e}");
}

/// `storywatch test-notify` through a webhook: success, then a refusal.
/// (Multi-threaded: the receiver must answer while this thread waits for
/// the child process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_notify_cli_reports_success_and_failure() {
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/feed\"\n[[notifier]]\nname = \"chat\"\ntype = \"webhook\"\npreset = \"slack\"\nurl = \"{}?token=XXXXSECRET\"\n",
            dir.path().join("state").display(),
            hook.url()
        ),
    )
    .unwrap();
    let run = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_storywatch"))
            .args(["test-notify", name, "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let ok = run("chat");
    let out = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("sent a test alert through \"chat\""), "{out}");
    assert!(
        !out.contains("XXXXSECRET"),
        "URL tokens are not printed: {out}"
    );
    assert_eq!(hook.received().len(), 1);
    assert!(hook.received()[0].json()["blocks"].is_array());

    hook.script(&[403]);
    let refused = run("chat");
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(!err.contains("XXXXSECRET"), "{err}");

    let unknown = run("nope");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("defined: chat"));
}
