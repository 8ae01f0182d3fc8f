//! Alerts people read, against real receivers: one message per change per
//! notifier however many watches matched (fan-in), mail threads rooted at
//! the first alert, and the chat presets (Telegram, Matrix, Pushover,
//! Gotify, Google Chat), each checked against the request shape its
//! service documents, on a local HTTP receiver standing in for the API.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Router;
use common::smtp::{Options, SmtpServer};
use common::{nk_config, rss, FeedServer, NK_V1, NK_V2, T0, UNRELATED};
use serde_json::Value;
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::daemon;

const WAIT: Duration = Duration::from_secs(10);

/// A third version of the NK story: the death toll enters the text.
const NK_V3: (&str, &str, &str) = ("nk", "North Korean troops seen near front", "About 5,000 North Korean troops have been sent to the front lines. Officials expect them in combat within weeks. Two were reported killed.");

/// One request as an API receiver saw it.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// Records every request on any path and answers 200 with a JSON body
/// like the services do (`{"ok":true}`, an event id).
pub struct ApiReceiver {
    pub base: String,
    seen: Arc<Mutex<Vec<ApiRequest>>>,
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<ApiRequest>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    seen.lock().unwrap().push(ApiRequest {
        method,
        uri,
        headers,
        body,
    });
    axum::Json(serde_json::json!({ "ok": true, "event_id": "$1", "status": 1 }))
}

impl ApiReceiver {
    pub async fn start() -> ApiReceiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(record).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        ApiReceiver {
            base: format!("http://{addr}"),
            seen,
        }
    }

    pub fn requests(&self) -> Vec<ApiRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// An app over the NK test config with these `[[notifier]]` tables, on a
/// manual clock at `T0`, its state under `dir`.
fn nk_app(dir: &Path, feeds: &FeedServer, notifiers: &str) -> (Arc<ManualClock>, Arc<App>) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = nk_config(&dir.join("state"), &feeds.url(), notifiers);
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    (clock, app)
}

fn token_file(dir: &Path, name: &str, value: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    p.display().to_string()
}

/// A second watch that matches the NK story too.
const TROOPS_WATCH: &str = "[[watch]]\nname = \"troops\"\nquery = 'troops OR soldiers'\n";

#[tokio::test]
async fn two_watches_one_message_per_notifier_threaded_mail_and_chat_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let feeds = FeedServer::start().await;
    let api = ApiReceiver::start().await;
    let notifiers = format!(
        r#"{TROOPS_WATCH}
[[notifier]]
name = "mail"
type = "email"
smtp = "smtp+plain://127.0.0.1:{port}"
from = "storywatch <alerts@example.com>"
to = ["reader@example.org"]

[[notifier]]
name = "tg"
type = "webhook"
preset = "telegram"
url = "{base}/telegram"
token_file = "{tg}"
chat_id = "-1001234"

[[notifier]]
name = "mx"
type = "webhook"
preset = "matrix"
url = "{base}/matrix"
token_file = "{mx}"
room = "!news:example.org"
"#,
        port = smtp.port,
        base = api.base,
        tg = token_file(dir.path(), "tg-token", "123456:ABC-bot"),
        mx = token_file(dir.path(), "mx-token", "syt_matrix_token"),
    );
    let (clock, app) = nk_app(dir.path(), &feeds, &notifiers);
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    for version in [NK_V1, NK_V2, NK_V3] {
        clock.advance(600_000);
        feeds.set("application/rss+xml", rss(&[version, UNRELATED]));
        let s = daemon::once(&app).await.unwrap();
        assert_eq!(s.alerts, 1, "two watches, one alert per event: {s:?}");
        assert_eq!(s.delivered, 3, "one message per notifier: {s:?}");
    }

    // mail: three messages, not six; one thread rooted at the first
    let mails = smtp.wait_for(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smtp.wait_for(3, WAIT).await.len(),
        3,
        "no second mail per watch"
    );
    let story = mails[0].header("x-storywatch-story").unwrap();
    let root = format!("<story.{story}@example.com>");
    let (new, upd, upd2) = (&mails[0], &mails[1], &mails[2]);
    assert_eq!(new.header("message-id").as_deref(), Some(root.as_str()));
    assert_eq!(
        new.header("in-reply-to"),
        None,
        "the root replies to nothing"
    );
    assert_eq!(new.header("references"), None);
    let upd_id = upd.header("message-id").unwrap();
    assert_eq!(
        upd_id,
        format!(
            "<{}@example.com>",
            upd.header("x-storywatch-alert").unwrap()
        )
    );
    assert_eq!(upd.header("in-reply-to").as_deref(), Some(root.as_str()));
    assert_eq!(upd.header("references").as_deref(), Some(root.as_str()));
    assert_eq!(upd2.header("in-reply-to").as_deref(), Some(upd_id.as_str()));
    assert_eq!(
        upd2.header("references").unwrap(),
        format!("{root} {upd_id}"),
        "the root, then the previous alert"
    );
    for m in [new, upd, upd2] {
        assert_eq!(
            m.header("x-storywatch-watch").as_deref(),
            Some("nk, troops")
        );
        assert!(m.text().contains("watches: nk ("), "{}", m.text());
        assert!(m.text().contains("troops ("), "{}", m.text());
    }

    // Telegram: POST /bot<token>/sendMessage, HTML parse mode, once per event
    let reqs = api.requests();
    let tg: Vec<_> = reqs
        .iter()
        .filter(|r| r.uri.path().starts_with("/telegram"))
        .collect();
    assert_eq!(tg.len(), 3, "one Telegram message per event");
    for r in &tg {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.uri.path(), "/telegram/bot123456:ABC-bot/sendMessage");
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let j = r.json();
        assert_eq!(j["chat_id"], "-1001234");
        assert_eq!(j["parse_mode"], "HTML");
        let text = j["text"].as_str().unwrap();
        assert!(!text.contains("<br"), "Telegram refuses <br>: {text}");
        assert!(text.contains("watches: nk ("), "{text}");
    }
    let tg_update = tg[1].json();
    let text = tg_update["text"].as_str().unwrap();
    assert!(text.contains("<del>3,000</del><ins>5,000</ins>"), "{text}");
    assert!(
        text.contains("<a href=\"http://example.com/nk\">"),
        "{text}"
    );

    // Matrix: PUT …/rooms/{room}/send/m.room.message/{txnId}, bearer token
    let mx: Vec<_> = reqs
        .iter()
        .filter(|r| r.uri.path().starts_with("/matrix"))
        .collect();
    assert_eq!(mx.len(), 3, "one Matrix message per event");
    let mut txns = Vec::new();
    for r in &mx {
        assert_eq!(r.method, Method::PUT);
        let path = r.uri.path();
        let prefix = "/matrix/_matrix/client/v3/rooms/%21news%3Aexample.org/send/m.room.message/";
        assert!(path.starts_with(prefix), "{path}");
        let txn = &path[prefix.len()..];
        assert_eq!(
            Some(txn.to_string()),
            r.header("idempotency-key"),
            "txnId = idempotency key"
        );
        txns.push(txn.to_string());
        assert_eq!(
            r.header("authorization").as_deref(),
            Some("Bearer syt_matrix_token")
        );
        let j = r.json();
        assert_eq!(j["msgtype"], "m.text");
        assert_eq!(j["format"], "org.matrix.custom.html");
        assert!(j["body"].as_str().unwrap().contains("watches: nk ("));
        assert!(!j["formatted_body"].as_str().unwrap().contains("<ins>"));
    }
    txns.dedup();
    assert_eq!(txns.len(), 3, "a distinct transaction per event");
    let mx_update = mx[1].json();
    assert!(mx_update["formatted_body"]
        .as_str()
        .unwrap()
        .contains("<del>3,000</del><u>5,000</u>"));

    println!(
        "---- update mail ----\nMessage-ID: {}\nIn-Reply-To: {}\nReferences: {}\nSubject: {}\nX-Storywatch-Watch: {}\n\n{}\n---- next update mail ----\nMessage-ID: {}\nIn-Reply-To: {}\nReferences: {}\n",
        upd.header("message-id").unwrap(),
        upd.header("in-reply-to").unwrap(),
        upd.header("references").unwrap(),
        upd.subject(),
        upd.header("x-storywatch-watch").unwrap(),
        upd.text(),
        upd2.header("message-id").unwrap(),
        upd2.header("in-reply-to").unwrap(),
        upd2.header("references").unwrap(),
    );
    println!(
        "---- telegram ----\n{} {}\n{}\n---- matrix ----\n{} {}\n{}",
        tg[1].method,
        tg[1].uri.path().replace("123456:ABC-bot", "<token>"),
        serde_json::to_string_pretty(&tg_update).unwrap(),
        mx[1].method,
        mx[1].uri.path(),
        serde_json::to_string_pretty(&mx_update).unwrap()
    );
}

/// Runs the NK story's new version through one notifier `extra` (a
/// `[[notifier]]` table named "chat") and returns what the API received.
async fn one_alert_through(extra: impl Fn(&str, &Path) -> String) -> Vec<ApiRequest> {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let api = ApiReceiver::start().await;
    let notifier = extra(&api.base, dir.path());
    let (clock, app) = nk_app(dir.path(), &feeds, &notifier);
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[NK_V1, UNRELATED]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered), (1, 1), "{s:?}");
    api.requests()
}

#[tokio::test]
async fn pushover_posts_the_documented_form() {
    let reqs = one_alert_through(|base, dir| {
        format!(
            "[[notifier]]\nname = \"chat\"\ntype = \"webhook\"\npreset = \"pushover\"\nurl = \"{base}\"\ntoken_file = \"{}\"\nuser = \"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"\n",
            token_file(dir, "po", "azGDORePK8gMaC0QOYAMyEEuzJnyUi")
        )
    })
    .await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri.path(), "/1/messages.json");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form = r.form();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("form field {k} missing: {form:?}"))
    };
    assert_eq!(get("token"), "azGDORePK8gMaC0QOYAMyEEuzJnyUi");
    assert_eq!(get("user"), "uQiRzpo4DXghDmr9QzzfQu27cmVRsG");
    assert_eq!(get("html"), "1");
    assert_eq!(get("title"), "New: North Korean troops seen near front");
    assert_eq!(get("url"), "http://example.com/nk");
    assert!(get("message").contains("About 3,000 North Korean troops"));
    assert!(get("message").chars().count() <= 1024);
}

#[tokio::test]
async fn gotify_posts_json_with_its_key_header() {
    let reqs = one_alert_through(|base, dir| {
        format!(
            "[[notifier]]\nname = \"chat\"\ntype = \"webhook\"\npreset = \"gotify\"\nurl = \"{base}/gotify/\"\ntoken_file = \"{}\"\npriority = 8\n",
            token_file(dir, "gt", "AbCdEf.gotify")
        )
    })
    .await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri.path(), "/gotify/message");
    assert_eq!(r.header("x-gotify-key").as_deref(), Some("AbCdEf.gotify"));
    let j = r.json();
    assert_eq!(j["title"], "New: North Korean troops seen near front");
    assert_eq!(j["priority"], 8);
    assert!(j["message"].as_str().unwrap().contains("watch: nk (new)"));
    assert_eq!(
        j["extras"]["client::notification"]["click"]["url"],
        "http://example.com/nk"
    );
    assert_eq!(j["extras"]["client::display"]["contentType"], "text/plain");
}

#[tokio::test]
async fn google_chat_posts_text_threaded_by_story() {
    let reqs = one_alert_through(|base, _| {
        format!(
            "[[notifier]]\nname = \"chat\"\ntype = \"webhook\"\npreset = \"googlechat\"\nurl = \"{base}/v1/spaces/AAA/messages?key=k&token=t\"\n"
        )
    })
    .await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri.path(), "/v1/spaces/AAA/messages");
    let query = r.uri.query().unwrap();
    assert!(query.contains("key=k&token=t"), "{query}");
    assert!(
        query.contains("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
        "{query}"
    );
    let j = r.json();
    assert!(j["text"]
        .as_str()
        .unwrap()
        .starts_with("New: North Korean troops seen near front"));
    assert!(j["thread"]["threadKey"]
        .as_str()
        .unwrap()
        .starts_with("storywatch-"));
}

#[test]
fn presets_say_what_they_miss() {
    let check = |notifier: &str| {
        let text = format!(
            "[[feed]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/f\"\n[[watch]]\nname = \"w\"\nany = [\"x\"]\n[[notifier]]\nname = \"chat\"\ntype = \"webhook\"\n{notifier}"
        );
        match storywatch::config::Config::from_toml(Path::new("c.toml"), &text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let e = check("preset = \"telegram\"\nchat_id = \"1\"");
    assert!(e.contains("needs the bot token"), "{e}");
    let e = check("preset = \"telegram\"\ntoken_env = \"TG\"");
    assert!(e.contains("needs chat_id = "), "{e}");
    assert_eq!(
        check("preset = \"telegram\"\ntoken_env = \"TG\"\nchat_id = \"1\""),
        "",
        "the public API is the default url"
    );
    let e = check("preset = \"matrix\"\ntoken_env = \"MX\"\nroom = \"!r:e.org\"");
    assert!(e.contains("needs the homeserver"), "{e}");
    let e = check("preset = \"slack\"\nurl = \"http://127.0.0.1:9/x\"\nroom = \"!r:e.org\"");
    assert!(e.contains("applies only to preset = \"matrix\""), "{e}");
}

/// `mute`, `mutes` and `unmute` with the real binary: opening the database
/// when no daemon runs, through the running daemon's control socket when
/// one does. A muted story stays tracked (its versions are kept) but its
/// changes alert nobody; unmuted, it alerts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_and_unmute_with_and_without_the_daemon() {
    use common::daemon::{storm_hook_config, storywatch, write, Daemon, NotifySocket};
    const STORM: (&str, &str, &str) = (
        "storm",
        "Storm warning for the coast",
        "Winds of 120 km/h are expected tonight.",
    );
    let version = |n: u32| {
        (
            "storm",
            "Storm warning for the coast",
            format!(
                "Winds of {} km/h are expected tonight. Schools will close for {n} days.",
                120 + 30 * n
            ),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = common::WebhookReceiver::start().await;
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    write(
        &config,
        &storm_hook_config(&state, &feeds, hook.addr, "")
            .replace("interval = \"10s\"", "interval = \"1h\""),
    );
    let cfg = config.display().to_string();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", &cfg]);
        storywatch(&all, &[])
    };
    let publish = |n: u32| {
        let v = version(n);
        feeds.set("application/rss+xml", rss(&[(v.0, v.1, v.2.as_str())]));
    };
    feeds.set("application/rss+xml", rss(&[STORM]));
    assert_eq!(run(&["once"]).0, 0);
    assert_eq!(hook.requests().len(), 1, "the new story alerts");

    let (code, out, err) = run(&["mute", "storm", "--for", "2d"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("muted story "), "{out}");
    assert!(
        out.contains("Storm warning for the coast") && out.contains("until 20"),
        "{out}"
    );
    let (_, listed, _) = run(&["mutes"]);
    assert!(listed.contains("Storm warning"), "{listed}");
    publish(1);
    let (code, _, err) = run(&["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(hook.requests().len(), 1, "a muted story alerts nobody");
    let (_, history, _) = run(&["history", "storm"]);
    assert!(history.contains("revision 2"), "still tracked: {history}");

    let (code, _, err) = run(&["mute", "no-such-story"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no stored story matches \"no-such-story\""),
        "{err}"
    );
    let (code, _, err) = run(&["mute", "storm", "--for", "soon"]);
    assert_eq!(code, 2, "a bad duration is a usage error");
    assert!(
        err.contains("--for") && err.contains("e.g. --for 2d"),
        "{err}"
    );

    // the daemon holds the database: the commands go through its socket
    let notify = NotifySocket::bind(dir.path());
    let daemon = Daemon::start_ready(&config, &notify).await;
    assert!(
        storywatch::store::Store::is_locked(&state),
        "the daemon holds the database"
    );
    let (code, out, err) = run(&["unmute", "storm"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("alerts again"), "{out}");
    let (_, listed, _) = run(&["mutes"]);
    assert_eq!(listed, "no story is muted\n");
    let (code, out, _) = run(&["mute", "storm"]);
    assert_eq!(code, 0);
    assert!(out.contains("until `storywatch unmute`"), "{out}");
    let (code, out, _) = run(&["unmute", "storm"]);
    assert_eq!(code, 0);
    assert!(out.contains("alerts again"), "{out}");
    drop(daemon);

    // unmuted, the next change alerts again
    publish(2);
    let (code, _, err) = run(&["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        hook.requests().len(),
        2,
        "unmuted, the story alerts again: {err} {:?}",
        run(&["outbox", "list", "--all"])
    );
}

/// Email templates: subject, text and HTML replaced by the user's
/// minijinja, the HTML escaped and sanitised like storywatch's own; and
/// `check` renders them, so a misspelt variable fails there.
#[tokio::test]
async fn email_templates_render_sanitised_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let feeds = FeedServer::start().await;
    let templates = r#"subject_template = '[{{ alert.watches | join(", ") }}] {{ alert.story.title }}'
text_template = '''{{ alert.story.title }}
{{ alert.story.link }}
watches: {{ alert.watches | join(", ") }}'''
html_template = '<h2>{{ alert.story.title }}</h2><script>alert(1)</script><p>{{ alert.story.summary }}</p>'
"#;
    let notifier = format!(
        "{TROOPS_WATCH}\n[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp+plain://127.0.0.1:{}\"\nfrom = \"storywatch <alerts@example.com>\"\nto = [\"reader@example.org\"]\n{templates}",
        smtp.port
    );
    let (clock, app) = nk_app(dir.path(), &feeds, &notifier);
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    let hostile = (
        "nk",
        "North Korean troops &lt;b&gt;seen&lt;/b&gt; near front",
        "About 3,000 North Korean troops may have been sent, odds 3 &amp;lt; 5.",
    );
    feeds.set("application/rss+xml", rss(&[hostile]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!((s.alerts, s.delivered), (1, 1), "{s:?}");
    let mails = smtp.wait_for(1, WAIT).await;
    let m = &mails[0];
    assert_eq!(
        m.subject(),
        "[nk, troops] North Korean troops seen near front"
    );
    assert_eq!(
        m.text().replace("\r\n", "\n").trim_end(),
        "North Korean troops seen near front\nhttp://example.com/nk\nwatches: nk, troops"
    );
    let html = m.html();
    assert!(
        html.contains("<h2>North Korean troops seen near front</h2>"),
        "{html}"
    );
    assert!(!html.contains("<script"), "sanitised: {html}");
    assert!(html.contains("odds 3 &lt; 5."), "feed text escaped: {html}");

    // `check` renders the templates: a misspelt variable is a problem
    let cfg = dir.path().join("config.toml");
    let text = |t: &str| {
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/f\"\n[[watch]]\nname = \"w\"\nany = [\"x\"]\n[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp+plain://127.0.0.1:25\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n{t}\n",
            dir.path().join("s2").display()
        )
    };
    let check = |t: &str| {
        std::fs::write(&cfg, text(t)).unwrap();
        common::daemon::storywatch(&["check", "--config", &cfg.display().to_string()], &[])
    };
    let (code, _, err) = check("subject_template = '{{ alert.story.titel }}'");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("notifier \"mail\"") && err.contains("subject_template"),
        "{err}"
    );
    let (code, _, err) = check("html_template = '{% if %}'");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("html_template does not compile"), "{err}");
    let (code, out, err) = check("subject_template = 'News: {{ alert.story.title }}'");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok"), "{out}");
}

/// Alerts show the publisher's typography (em dash, curly quotes, `…`)
/// in the subject, both mail parts, webhook `text` and chat presets, and
/// the diff is drawn on that text; the comparison still ignores it, so a
/// version that only changes typography alerts nobody.
#[tokio::test]
async fn alerts_show_the_publisher_s_text() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(&dir.path().join("mail"), &Options::default(), None);
    let feeds = FeedServer::start().await;
    let api = ApiReceiver::start().await;
    let notifiers = format!(
        r#"[[watch]]
name = "cafe"
any = ["café"]

[[notifier]]
name = "mail"
type = "email"
smtp = "smtp+plain://127.0.0.1:{port}"
from = "storywatch <alerts@example.com>"
to = ["reader@example.org"]

[[notifier]]
name = "tg"
type = "webhook"
preset = "telegram"
url = "{base}"
token_file = "{tg}"
chat_id = "1"

[[notifier]]
name = "hook"
type = "webhook"
url = "{base}/hook"
"#,
        port = smtp.port,
        base = api.base,
        tg = token_file(dir.path(), "tg", "1:T"),
    );
    let (clock, app) = nk_app(dir.path(), &feeds, &notifiers);
    let title = "Café opens downtown — queues form";
    let v1 = (
        "cafe",
        title,
        "“It’s busy,” said the owner… About 200 people waited.",
    );
    let v1_straight = (
        "cafe",
        "Café opens downtown - queues form",
        "\"It's busy,\" said the owner... About 200 people waited.",
    );
    let v2 = (
        "cafe",
        title,
        "“It’s busy,” said the owner… About 300 people waited.",
    );
    feeds.set("application/rss+xml", rss(&[UNRELATED]));
    daemon::once(&app).await.unwrap();
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[v1]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 1, "{s:?}");
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[v1_straight]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 0, "typography alone is no update: {s:?}");
    clock.advance(600_000);
    feeds.set("application/rss+xml", rss(&[v2]));
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.alerts, 1, "{s:?}");

    let mails = smtp.wait_for(2, WAIT).await;
    let upd = &mails[1];
    assert_eq!(
        upd.subject(),
        "Updated: Café opens downtown — queues form (a number changed: 200 → 300)"
    );
    let text = upd.text();
    assert!(
        text.contains("“It’s busy,” said the owner… About [-200-]{+300+} people waited."),
        "{text}"
    );
    let html = upd.html();
    assert!(
        html.contains("<mark>Café</mark> opens downtown — queues form"),
        "{html}"
    );
    assert!(html.contains("“It’s busy,”"), "{html}");
    let reqs = api.requests();
    let hook: Vec<_> = reqs.iter().filter(|r| r.uri.path() == "/hook").collect();
    let j = hook[1].json();
    assert_eq!(j["story"]["title"], title);
    assert!(
        j["text"]
            .as_str()
            .unwrap()
            .contains("owner… About [-200-]{+300+}"),
        "{j}"
    );
    let tg: Vec<_> = reqs
        .iter()
        .filter(|r| r.uri.path().ends_with("/sendMessage"))
        .collect();
    let t = tg[1].json()["text"].as_str().unwrap().to_string();
    assert!(t.contains("Café opens downtown — queues form"), "{t}");
    assert!(
        t.contains("“It’s busy,” said the owner… About <del>200</del><ins>300</ins>"),
        "{t}"
    );
}
