use super::*;

const GOOD: &str = r#"
[daemon]
state_dir = "/tmp/sw"
interval = "90s"

[[feed]]
name = "a"
url = "https://example.com/feed.xml"

[[watch]]
name = "nk"
query = '"north korea" AND troops'
notify = ["hook"]

[[notifier]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/x"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(Path::new("config.toml"), text)
}

/// The single problem reported for `text`.
fn problem(text: &str) -> String {
    let err = load(text).expect_err("config should be rejected");
    assert_eq!(err.problems.len(), 1, "{err}");
    err.problems[0].clone()
}

#[test]
fn good_config_loads_with_defaults() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.daemon.interval, Duration::from_secs(90));
    assert_eq!(c.daemon.concurrency, 32);
    assert_eq!(c.feeds[0].url.as_str(), "https://example.com/feed.xml");
    assert!(c.watches[0].query.is_some());
    assert_eq!(
        c.watches[0].on,
        vec![Trigger::New, Trigger::Update, Trigger::Mention]
    );
    assert!(matches!(c.notifiers[0].kind, NotifierKind::Webhook(_)));
}

#[test]
fn the_repository_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.feeds.len() >= 2 && c.watches.len() >= 2 && c.notifiers.len() >= 3);
}

#[test]
fn syntax_error_names_the_line() {
    let p = problem(&GOOD.replace("interval = \"90s\"", "interval = \"90s"));
    assert!(p.starts_with("config.toml:4:"), "{p}");
}

#[test]
fn unknown_key_is_an_error_with_its_line() {
    let p = problem(&GOOD.replace("name = \"a\"", "name = \"a\"\nintervall = \"5m\""));
    assert!(p.starts_with("config.toml:8:"), "{p}");
    assert!(p.contains("intervall"), "{p}");
}

#[test]
fn bad_duration_says_what_is_expected() {
    let p = problem(&GOOD.replace("interval = \"90s\"", "interval = \"ten minutes\""));
    assert!(p.starts_with("config.toml:4:"), "{p}");
    assert!(p.contains("\"10m\""), "{p}");
}

#[test]
fn bad_url_and_non_http_schemes_are_refused() {
    let p = problem(&GOOD.replace("https://example.com/feed.xml", "not a url"));
    assert!(p.starts_with("config.toml:8:"), "{p}");
    assert!(p.contains("http(s) URL"), "{p}");
    let p = problem(&GOOD.replace("https://example.com/feed.xml", "file:///etc/passwd"));
    assert!(p.contains("only http:// and https://"), "{p}");
}

#[test]
fn watch_with_missing_notifier_names_watch_and_line() {
    let p = problem(&GOOD.replace("notify = [\"hook\"]", "notify = [\"ops\"]"));
    assert_eq!(
        p,
        "config.toml:10: watch \"nk\": notifier \"ops\" is not defined"
    );
}

#[test]
fn duplicate_names_are_refused() {
    let text = GOOD.replace(
        "[[watch]]",
        "[[feed]]\nname = \"a\"\nurl = \"https://example.org/rss\"\n\n[[watch]]",
    );
    let p = problem(&text);
    assert!(p.starts_with("config.toml:10:"), "{p}");
    assert!(p.contains("feed \"a\": duplicate name"), "{p}");
}

#[test]
fn empty_feed_list_is_refused() {
    let text = "[[notifier]]\nname = \"c\"\ntype = \"stdout\"\n";
    let p = problem(text);
    assert!(p.contains("no feeds"), "{p}");
}

#[test]
fn query_errors_point_at_the_column() {
    let p = problem(&GOOD.replace("'\"north korea\" AND troops'", "'(troops AND Russia'"));
    assert!(
        p.starts_with("config.toml:10: watch \"nk\": query col"),
        "{p}"
    );
}

#[test]
fn keys_of_another_notifier_type_are_refused() {
    let text = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nto = [\"a@b.c\"]",
    );
    let p = problem(&text);
    assert!(
        p.contains("key `to` does not apply to type = \"webhook\""),
        "{p}"
    );
}

#[test]
fn several_problems_are_reported_together() {
    let text = GOOD.replace(
        "notify = [\"hook\"]",
        "notify = [\"nope\"]\nfeeds = [\"zzz\"]",
    );
    let err = load(&text).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn secrets_come_from_env_and_never_show_in_debug() {
    std::env::set_var("STORYWATCH_TEST_HOOK_SECRET", "s3cr3t-value");
    let text = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"STORYWATCH_TEST_HOOK_SECRET\"",
    );
    let c = load(&text).unwrap();
    let NotifierKind::Webhook(w) = &c.notifiers[0].kind else {
        panic!()
    };
    assert_eq!(w.secret.as_ref().unwrap().expose(), "s3cr3t-value");
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
    let missing = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"STORYWATCH_TEST_UNSET_VAR\"",
    );
    let p = problem(&missing);
    assert!(p.contains("STORYWATCH_TEST_UNSET_VAR"), "{p}");
}

#[test]
fn smtp_urls() {
    let u = parse_smtp_url("smtp://me%40x.org@mail.x.org").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.security, u.username.as_deref()),
        ("mail.x.org", 587, SmtpSecurity::Starttls, Some("me@x.org"))
    );
    let u = parse_smtp_url("smtps://mail.x.org").unwrap();
    assert_eq!((u.port, u.security), (465, SmtpSecurity::Tls));
    assert!(parse_smtp_url("smtp://u:pw@mail.x.org")
        .unwrap_err()
        .to_string()
        .contains("password"));
    assert!(parse_smtp_url("imap://mail.x.org").is_err());
}

#[test]
fn non_loopback_listen_needs_a_token() {
    let text = GOOD.replace(
        "interval = \"90s\"",
        "interval = \"90s\"\nlisten = \"0.0.0.0:8787\"",
    );
    assert!(problem(&text).contains("needs a token"));
}

#[test]
fn fast_polling_only_for_local_feeds() {
    let fast = GOOD.replace(
        "url = \"https://example.com/feed.xml\"",
        "url = \"https://example.com/feed.xml\"\ninterval = \"5s\"",
    );
    assert!(problem(&fast).contains("only allowed for feeds on this machine"));
    let local = GOOD.replace(
        "url = \"https://example.com/feed.xml\"",
        "url = \"http://127.0.0.1:8080/feed.xml\"\ninterval = \"1s\"",
    );
    assert!(load(&local).is_ok());
    let too_fast = local.replace("interval = \"1s\"", "interval = \"100ms\"");
    assert!(problem(&too_fast).contains("at least 1s"));
}
