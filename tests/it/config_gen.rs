//! Any config that `check` accepts starts, polls a local server, reloads
//! and stops without a panic (issue 14).
//!
//! Configs are generated from the schema itself
//! (`storywatch::config::schema`): every key of every section may appear,
//! with its example, its range's ends, a value inside it, just outside it,
//! an absurd one (`18446744073709551615s`, 2^64-1) or a value of the wrong
//! type, plus key-specific oddities (log levels, rates, headers, templates).
//! Names, URLs and the state directory point at local servers and a
//! temporary directory. Refused configs are fine (that is `check` doing its
//! job); each accepted one is run in-process like `storywatch run`: the
//! database opened, the daemon loop started with the endpoint if `listen`
//! was drawn, the feed server polled at least once, a reload, a stop. A
//! panic anywhere (the test thread, or a task on the daemon's runtime)
//! fails the case, and proptest shrinks it to the smallest config that
//! still fails.
//!
//! `PROPTEST_CASES=500 cargo test --test it config_gen:: -- --nocapture`
//! tries more (the default is 40); the counts are printed.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use common::{rss, FeedServer, WebhookReceiver};
use proptest::prelude::*;
use storywatch::app::App;
use storywatch::clock::SystemClock;
use storywatch::config::schema::{self, Key, Limit, Section};
use storywatch::config::Config;
use storywatch::daemon::{self, Control};

/// Panics on the daemon's runtime threads (named below), counted by a hook.
static PANICS: AtomicUsize = AtomicUsize::new(0);
const THREAD: &str = "config-gen";

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(THREAD))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// How a value is drawn for a key.
#[derive(Debug, Clone, Copy)]
enum Draw {
    Example,
    Min,
    Max,
    Inside(u64),
    BelowMin,
    AboveMax,
    Absurd,
    WrongType,
    /// One of the key's oddities (index).
    Odd(usize),
}

/// Draws that stay valid (most cases), so that many configs are accepted
/// and run.
fn valid_draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        6 => Just(Draw::Example),
        2 => Just(Draw::Min),
        2 => Just(Draw::Max),
        4 => any::<u64>().prop_map(Draw::Inside),
        3 => (0usize..4).prop_map(|i| Draw::Odd(i * 2)),
    ]
}

/// Draws that may be anything, for the cases that probe the refusals.
fn any_draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        4 => valid_draw(),
        1 => Just(Draw::BelowMin),
        1 => Just(Draw::AboveMax),
        1 => Just(Draw::Absurd),
        1 => Just(Draw::WrongType),
        1 => (0usize..8).prop_map(Draw::Odd),
    ]
}

/// Values worth trying beyond the range, per key, as TOML: those `check`
/// accepts, and those it should refuse.
fn oddities(key: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match key {
        "log_level" => (
            &["\"warn,storywatch=debug\"", "\"off\"", "\"trace\""],
            &["\"bogus\"", "\"\""],
        ),
        "log_format" => (&["\"json\"", "\"text\"", "\"journald\""], &["\"xml\""]),
        "on" => (
            &[
                "[\"removed\"]",
                "[\"new\", \"update\", \"mention\", \"removed\"]",
            ],
            &["[]", "[\"sometimes\"]"],
        ),
        "min_materiality" => (&["\"typo\"", "\"major\""], &["\"huge\""]),
        "on_revert" => (&["\"ignore\"", "\"alert\""], &[]),
        "preset" => (
            &[
                "\"slack\"",
                "\"discord\"",
                "\"ntfy\"",
                "\"mattermost\"",
                "\"teams\"",
                "\"json\"",
            ],
            &["\"irc\""],
        ),
        "max_per_story" => (
            &["\"1/1s\"", "\"1000/7d\"", "\"2/1h\""],
            &["\"0/1m\"", "\"1/99999d\""],
        ),
        "quiet_hours" => (
            &["\"00:00-23:59\"", "\"23:59-00:00\""],
            &["\"25:00-01:00\""],
        ),
        "headers" => (
            &[
                "{ \"X-Source\" = \"storywatch\" }",
                "{ \"Content-Type\" = \"text/plain\" }",
            ],
            &[
                "{ \"Content-Length\" = \"1\" }",
                "{ \"Bad Name\" = \"x\" }",
                "{ \"X-Line\" = \"a\\nb\" }",
            ],
        ),
        "template" => (
            &["'{\"msg\": {{ subject | tojson }}}'", "'{{ alert.id }}'"],
            &["'{% for'"],
        ),
        "ignore" => (&["['\\d+ minutes ago']"], &["['(']"]),
        "tags" => (&["[\"news\"]", "[]"], &[]),
        "user_agent" => (&["\"x\""], &["\"\"", "\"tab\\there\""]),
        "query" => (
            &["'storm OR flood'", "'\"a b\" NEAR/3 c'", "'/st.rm/'"],
            &["'(storm'"],
        ),
        "any" => (&["[\"storm\"]"], &["[]"]),
        "none" => (&["[\"sport\"]"], &[]),
        "all" => (&["[\"storm\", \"coast\"]"], &[]),
        "ops_notify" => (&["[\"hook\"]", "[]"], &["[\"nobody\"]"]),
        "notify" => (&["[\"hook\"]", "[]"], &["[\"nobody\"]"]),
        "feeds" => (&["[\"f0\"]"], &["[\"nowhere\"]"]),
        // the one feed f0 must be this shard's, or nothing is polled
        "shard" => (&["\"0/1\""], &["\"3/3\"", "\"one\""]),
        _ => (&[], &[]),
    }
}

/// Keys that name things: their examples name things this config does
/// not have, so they get names that exist.
fn example(key: &Key) -> String {
    match key.name {
        "ops_notify" | "notify" => "[\"hook\"]".into(),
        "feeds" => "[\"f0\"]".into(),
        "shard" => "\"0/1\"".into(),
        _ => key.example.to_string(),
    }
}

/// A key's value for `d`, as TOML.
fn value(key: &Key, d: Draw) -> String {
    let quoted = |s: String| format!("\"{s}\"");
    match (key.limit, d) {
        (_, Draw::Example) => example(key),
        (_, Draw::WrongType) => "[1, 2]".to_string(),
        (_, Draw::Odd(i)) => {
            // even draws accepted oddities, odd ones refused ones (if any)
            let (good, bad) = oddities(key.name);
            match (i % 2, good, bad) {
                (1, _, bad) if !bad.is_empty() => bad[i / 2 % bad.len()].to_string(),
                (_, good, _) if !good.is_empty() => good[i / 2 % good.len()].to_string(),
                _ => example(key),
            }
        }
        (Limit::Duration { min, max, .. }, d) => {
            let ms = |d: Duration| d.as_millis() as u64;
            match d {
                Draw::Min => quoted(format!("{}ms", ms(min))),
                Draw::Max => quoted(format!("{}ms", ms(max))),
                Draw::Inside(r) => quoted(format!("{}ms", ms(min) + r % (ms(max) - ms(min) + 1))),
                Draw::BelowMin => quoted(format!("{}ms", ms(min).saturating_sub(1))),
                Draw::AboveMax => quoted(format!("{}ms", ms(max) + 1)),
                _ => quoted("18446744073709551615s".into()),
            }
        }
        (Limit::Number { min, max, .. }, d) => match d {
            Draw::Min => min.to_string(),
            Draw::Max => max.to_string(),
            Draw::Inside(r) => (min + r % (max - min + 1)).to_string(),
            Draw::BelowMin => min.saturating_sub(1).to_string(),
            Draw::AboveMax => (max + 1).to_string(),
            _ => u64::MAX.to_string(),
        },
        (Limit::Size { min, max, .. }, d) => match d {
            Draw::Min => min.to_string(),
            Draw::Max => max.to_string(),
            Draw::Inside(r) => (min + r % (max - min + 1)).to_string(),
            Draw::BelowMin => quoted(min.saturating_sub(1).to_string()),
            Draw::AboveMax => (max + 1).to_string(),
            _ => quoted("99999999999999GiB".into()),
        },
        (Limit::None, _) => example(key),
    }
}

/// Keys the generator leaves alone: they name things on this machine
/// (paths, credentials, the feed and receiver) that the test sets itself.
fn fixed(section: &str, key: &str) -> bool {
    matches!(
        (section, key),
        (
            "daemon",
            "state_dir" | "listen" | "api_token_file" | "api_token_credential"
        ) | (
            "feed",
            "name"
                | "url"
                | "auth"
                | "username"
                | "auth_param"
                | "secret_env"
                | "secret_file"
                | "secret_credential"
        ) | ("watch", "name")
            | (
                "notifier",
                "name"
                    | "type"
                    | "url"
                    | "secret_file"
                    | "secret_credential"
                    | "tls_ca_file"
                    | "smtp"
                    | "host"
                    | "password_file"
                    | "password_credential"
            )
    )
}

/// One section's drawn keys: (index into the section's keys, how).
type Drawn = Vec<(usize, Draw)>;

fn drawn(section: &'static Section, valid: bool) -> BoxedStrategy<Drawn> {
    if valid {
        prop::collection::vec((0..section.keys.len(), valid_draw()), 0..6).boxed()
    } else {
        prop::collection::vec((0..section.keys.len(), any_draw()), 0..6).boxed()
    }
}

/// Keys of a notifier table that apply to its type (the others are refused
/// as foreign, which the unit tests cover).
fn applies(kind: &str, key: &str) -> bool {
    const COMMON: &[&str] = &["digest", "quiet_hours", "max_per_story"];
    const WEBHOOK: &[&str] = &["preset", "headers", "template", "secret_env", "timeout"];
    const EMAIL: &[&str] = &[
        "port",
        "security",
        "username",
        "password_env",
        "subject_prefix",
    ];
    COMMON.contains(&key)
        || (kind == "webhook" && WEBHOOK.contains(&key))
        || (kind == "email" && EMAIL.contains(&key))
}

fn render(section: &Section, kind: &str, keys: &Drawn, out: &mut String) {
    let mut seen = std::collections::HashSet::new();
    for (i, d) in keys {
        let key = &section.keys[*i];
        if fixed(section.name, key.name)
            || !seen.insert(key.name)
            || (section.name == "notifier" && !applies(kind, key.name))
        {
            continue;
        }
        let v = match key.name {
            "api_token_env" => "\"STORYWATCH_GEN_TOKEN\"".to_string(),
            "secret_env" => "\"STORYWATCH_GEN_SECRET\"".to_string(),
            "password_env" => "\"STORYWATCH_GEN_SECRET\"".to_string(),
            _ => value(key, *d),
        };
        out.push_str(&format!("{} = {v}\n", key.name));
    }
}

#[derive(Debug, Clone)]
struct Spec {
    daemon: Drawn,
    listen: bool,
    retention: Drawn,
    delivery: Drawn,
    feeds: Vec<Drawn>,
    watch: Drawn,
    hook: Drawn,
    email: Option<Drawn>,
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![3 => spec_with(true), 1 => spec_with(false)]
}

fn spec_with(valid: bool) -> impl Strategy<Value = Spec> {
    (
        drawn(&schema::DAEMON, valid),
        any::<bool>(),
        drawn(&schema::RETENTION, valid),
        drawn(&schema::DELIVERY, valid),
        prop::collection::vec(drawn(&schema::FEED, valid), 1..3),
        drawn(&schema::WATCH, valid),
        drawn(&schema::NOTIFIER, valid),
        prop::option::of(drawn(&schema::NOTIFIER, valid)),
    )
        .prop_map(
            |(daemon, listen, retention, delivery, feeds, watch, hook, email)| Spec {
                daemon,
                listen,
                retention,
                delivery,
                feeds,
                watch,
                hook,
                email,
            },
        )
}

/// The config text; feed names are `f0`, `f1`… (renamed before running).
fn text(spec: &Spec, state: &std::path::Path, feed: &str, hook: &str, listen: &str) -> String {
    let mut t = format!("[daemon]\nstate_dir = \"{}\"\n", state.display());
    if spec.listen {
        t.push_str(&format!("listen = \"{listen}\"\n"));
    }
    render(&schema::DAEMON, "", &spec.daemon, &mut t);
    t.push_str("\n[retention]\n");
    render(&schema::RETENTION, "", &spec.retention, &mut t);
    t.push_str("\n[delivery]\n");
    render(&schema::DELIVERY, "", &spec.delivery, &mut t);
    for (i, f) in spec.feeds.iter().enumerate() {
        t.push_str(&format!("\n[[feed]]\nname = \"f{i}\"\nurl = \"{feed}\"\n"));
        render(&schema::FEED, "", f, &mut t);
    }
    t.push_str("\n[[watch]]\nname = \"w\"\n");
    let mut w = String::new();
    render(&schema::WATCH, "", &spec.watch, &mut w);
    if !w.contains("query =") && !w.contains("any =") && !w.contains("all =") {
        t.push_str("any = [\"storm\"]\n");
    }
    t.push_str(&w);
    t.push_str(&format!(
        "\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n"
    ));
    render(&schema::NOTIFIER, "webhook", &spec.hook, &mut t);
    if let Some(e) = &spec.email {
        // a relay that is not there: every send fails, transiently
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        t.push_str(&format!(
            "\n[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp+plain://{closed}\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n"
        ));
        render(&schema::NOTIFIER, "email", e, &mut t);
    }
    t
}

/// Renames feeds so that each is first polled within half a second (first
/// polls are spread over up to 20 s by a hash of the name).
fn quick_names(text: &str, config: &Config) -> String {
    let mut out = text.to_string();
    let count = config.feeds.len();
    for (i, f) in config.feeds.iter().enumerate() {
        let spread = storywatch::scheduler::start_spread(count, f.interval(&config.daemon));
        let quick = (0..100_000)
            .map(|n| format!("f{i}q{n}"))
            .find(|n| storywatch::scheduler::initial_due(0, n, spread) < 500)
            .unwrap_or_else(|| format!("f{i}"));
        out = out.replace(&format!("name = \"f{i}\""), &format!("name = \"{quick}\""));
        out = out.replace(&format!("\"f{i}\"]"), &format!("\"{quick}\"]"));
    }
    out
}

#[derive(Default)]
struct Tally {
    tried: usize,
    accepted: usize,
    ran: usize,
}

/// Runs an accepted config like `storywatch run`: start, a poll, a reload,
/// a stop. Returns why it failed.
fn run_accepted(text: &str, dir: &std::path::Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREAD)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let before = PANICS.load(Ordering::SeqCst);
    let result = rt.block_on(async {
        let feeds = FeedServer::start().await;
        feeds.set(
            "application/rss+xml",
            rss(&[("s1", "Storm warning for the coast", "Winds of 120 km/h.")]),
        );
        let hook = WebhookReceiver::start().await;
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let text = text
            .replace("http://FEED", &feeds.url())
            .replace("http://HOOK", &hook.url())
            .replace("127.0.0.1:LISTEN", &listen.to_string());
        let path = dir.join("config.toml");
        let config =
            Config::from_toml(&path, &text).map_err(|e| format!("refused after renaming:\n{e}"))?;
        let text = quick_names(&text, &config);
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        let config = Config::load(&path).map_err(|e| format!("refused after renaming:\n{e}"))?;
        let stop_within = config.daemon.shutdown_timeout + Duration::from_secs(10);
        let app = Arc::new(
            App::open(config, Arc::new(SystemClock))
                .map_err(|e| format!("an accepted config did not open: {e}"))?,
        );
        let (reload_tx, reload) = tokio::sync::mpsc::channel(1);
        let (stop_tx, shutdown) = tokio::sync::watch::channel(false);
        let run = tokio::spawn(daemon::run(app, path.clone(), Control { reload, shutdown }));
        let start = Instant::now();
        while feeds.requests() == 0 {
            if start.elapsed() > Duration::from_secs(10) || run.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let polled = feeds.requests() > 0;
        let _ = reload_tx.send(()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop_tx.send(true);
        let stopped = tokio::time::timeout(stop_within, run).await;
        match stopped {
            Err(_) => Err(format!("did not stop within {stop_within:?}")),
            Ok(Err(e)) => Err(format!("the daemon task panicked: {e}")),
            Ok(Ok(Err(e))) => Err(format!("the daemon failed: {e}")),
            Ok(Ok(Ok(()))) if !polled => Err("the feed was never polled".to_string()),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let panics = PANICS.load(Ordering::SeqCst) - before;
    if panics > 0 {
        return Err(format!("{panics} panic(s) on the daemon's threads"));
    }
    result
}

#[test]
fn any_config_check_accepts_starts_polls_and_stops_without_a_panic() {
    count_panics();
    std::env::set_var("STORYWATCH_GEN_TOKEN", "gen-token");
    std::env::set_var("STORYWATCH_GEN_SECRET", "gen-secret");
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(40);
    let tally = std::sync::Mutex::new(Tally::default());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        // a run takes up to a second: shrinking a failure may take many
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let result = runner.run(&spec(), |spec| {
        let dir = tempfile::tempdir().unwrap();
        let text = text(
            &spec,
            &dir.path().join("state"),
            "http://FEED",
            "http://HOOK",
            "127.0.0.1:LISTEN",
        );
        let mut t = tally.lock().unwrap();
        t.tried += 1;
        // what `check` does: load and validate (placeholders are valid
        // local URLs and addresses)
        let check_text = text
            .replace("http://FEED", "http://127.0.0.1:9/feed")
            .replace("http://HOOK", "http://127.0.0.1:9/hook")
            .replace("127.0.0.1:LISTEN", "127.0.0.1:9");
        if let Err(e) = Config::from_toml(&dir.path().join("config.toml"), &check_text) {
            if std::env::var_os("CONFIG_GEN_VERBOSE").is_some() {
                eprintln!("refused:\n{e}\n");
            }
            return Ok(());
        }
        t.accepted += 1;
        drop(t);
        run_accepted(&text, dir.path())
            .map_err(|e| TestCaseError::fail(format!("{e}\nconfig:\n{text}")))?;
        tally.lock().unwrap().ran += 1;
        Ok(())
    });
    let t = tally.lock().unwrap();
    eprintln!(
        "config_gen: {} configs generated, {} accepted by check, {} of those started, polled, reloaded and stopped cleanly",
        t.tried, t.accepted, t.ran
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        t.accepted * 4 >= t.tried,
        "too few configs accepted ({} of {}) for the test to mean much",
        t.accepted,
        t.tried
    );
}
