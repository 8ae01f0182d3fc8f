//! Loading config.toml: every problem at once, each with its line, key,
//! what was expected and an example; ranges; warnings; secrets left unread.

use super::*;
use crate::secret::SecretError;

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
    assert_eq!(
        p,
        "config.toml:8: feed \"a\": unknown key `intervall`; did you mean `interval`?"
    );
}

#[test]
fn bad_duration_says_what_is_expected() {
    let p = problem(&GOOD.replace("interval = \"90s\"", "interval = \"ten minutes\""));
    assert_eq!(
        p,
        "config.toml:4: [daemon]: interval = \"ten minutes\": \"ten minutes\" is not a valid duration; \
         expected a duration with a unit (\"90s\", \"10m\", \"1h\", \"2d\") from 1s to 30d (a poll takes a \
         second or more, and a feed polled less than monthly is not being watched; feeds on public hosts \
         at least 1m apart), e.g. interval = \"10m\""
    );
}

#[test]
fn bad_url_and_non_http_schemes_are_refused() {
    let p = problem(&GOOD.replace("https://example.com/feed.xml", "not a url"));
    assert!(p.starts_with("config.toml:8:"), "{p}");
    assert!(p.contains("e.g. url = \"https://"), "{p}");
    let p = problem(&GOOD.replace("https://example.com/feed.xml", "file:///etc/passwd"));
    assert!(p.contains("only http:// and https://"), "{p}");
}

#[test]
fn watch_with_missing_notifier_names_watch_and_line() {
    let p = problem(&GOOD.replace("notify = [\"hook\"]", "notify = [\"ops\"]"));
    assert_eq!(
        p,
        "config.toml:13: watch \"nk\": notifier \"ops\" is not defined (define it in a [[notifier]] table)"
    );
    let p = problem(&GOOD.replace("notify = [\"hook\"]", "notify = [\"hoook\"]"));
    assert!(
        p.ends_with("notifier \"hoook\" is not defined; did you mean \"hook\"?"),
        "{p}"
    );
}

#[test]
fn duplicate_names_are_refused() {
    let text = GOOD.replace(
        "[[watch]]",
        "[[feed]]\nname = \"a\"\nurl = \"https://example.org/rss\"\n\n[[watch]]",
    );
    let p = problem(&text);
    assert!(p.starts_with("config.toml:11:"), "{p}");
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
        p.starts_with("config.toml:12: watch \"nk\": query col"),
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
fn every_bad_key_of_a_table_is_reported_on_its_line() {
    // a table is read in one go when it can be, key by key when it cannot:
    // each bad key still gets its own line, the good ones are still read
    let text = "[daemon]\nconcurrency = 0\ninterval = \"soon\"\nper_host_delay = \"2s\"\n\
                [[feed]]\nname = \"a\"\nurl = \"ftp://e.com/f\"\ntags = [\"x\"]\nmax_body = \"0\"\n";
    let err = load(text).unwrap_err();
    let all = err.to_string();
    assert_eq!(err.problems.len(), 4, "{all}");
    for (line, key) in [
        (2, "concurrency = 0"),
        (3, "interval = \"soon\""),
        (7, "url"),
        (9, "max_body = \"0\""),
    ] {
        assert!(
            err.problems
                .iter()
                .any(|p| p.starts_with(&format!("config.toml:{line}:")) && p.contains(key)),
            "line {line} ({key}) missing: {all}"
        );
    }
    let good = "[daemon]\nconcurrency = 3\nper_host_delay = \"2s\"\n[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\ntags = [\"x\"]\n";
    let config = load(good).unwrap();
    assert_eq!(config.daemon.concurrency, 3);
    assert_eq!(config.feeds[0].tags, ["x"]);
    assert_eq!(config.feeds[0].url.as_str(), "https://e.com/f");
}

#[test]
fn secrets_are_not_read_at_load_and_never_show_in_debug() {
    std::env::set_var("STORYWATCH_TEST_HOOK_SECRET", "s3cr3t-value");
    let text = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"STORYWATCH_TEST_HOOK_SECRET\"",
    );
    let c = load(&text).unwrap();
    let secrets = c.resolve_secrets().unwrap();
    assert_eq!(secrets.notifier("hook").unwrap().expose(), "s3cr3t-value");
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
    assert!(!format!("{secrets:?}").contains("s3cr3t-value"));
    // unset: loading (check, status, feeds…) works; sending is refused
    let missing = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"STORYWATCH_TEST_UNSET_VAR\"",
    );
    let c = load(&missing).expect("loads without the secret");
    let err = c.resolve_secrets().unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.problems[0].starts_with("config.toml:15: notifier \"hook\" secret: secret_env names the environment variable STORYWATCH_TEST_UNSET_VAR"),
        "{err}"
    );
    // a systemd credential outside systemd: loads too
    let credential = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_credential = \"webhook-secret\"",
    );
    assert!(load(&credential).is_ok());
    // but two sources at once, or a credential name leaving its directory, are config errors
    let both = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"A\"\nsecret_file = \"/x\"",
    );
    assert!(
        problem(&both).contains("set only one of secret_env, secret_file and secret_credential")
    );
    let escape = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nsecret_credential = \"../../etc/shadow\"",
    );
    assert!(problem(&escape).contains("is not a credential name"));
    assert!(matches!(
        c.notifiers[0].kind,
        NotifierKind::Webhook(ref w) if matches!(w.secret.resolve("secret"), Err(SecretError::EnvUnset { .. }))
    ));
}

#[test]
fn smtp_urls() {
    use super::notifiers::parse_smtp_url;
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
fn public_url_must_be_an_http_url_without_query() {
    let with = |url: &str| {
        GOOD.replace(
            "interval = \"90s\"",
            &format!("interval = \"90s\"\npublic_url = \"{url}\""),
        )
    };
    let c = load(&with("https://news.example.org/sw/")).unwrap();
    assert_eq!(
        c.daemon.public_url.as_deref(),
        Some("https://news.example.org/sw/")
    );
    for (bad, why) in [
        ("news.example.org", "is not a URL"),
        ("ftp://news.example.org", "not an http or https URL"),
        ("https://news.example.org/?a=1", "query or fragment"),
    ] {
        let p = problem(&with(bad));
        assert!(p.contains(why) && p.contains("public_url"), "{bad}: {p}");
    }
}

#[test]
fn fast_polling_only_for_local_feeds() {
    let fast = GOOD.replace(
        "url = \"https://example.com/feed.xml\"",
        "url = \"https://example.com/feed.xml\"\ninterval = \"5s\"",
    );
    let p = problem(&fast);
    assert!(
        p.starts_with("config.toml:9: feed \"a\": interval = 5s is too fast for a feed on a public host (example.com)"),
        "{p}"
    );
    let local = GOOD.replace(
        "url = \"https://example.com/feed.xml\"",
        "url = \"http://127.0.0.1:8080/feed.xml\"\ninterval = \"1s\"",
    );
    assert!(load(&local).is_ok());
    let too_fast = local.replace("interval = \"1s\"", "interval = \"100ms\"");
    let p = problem(&too_fast);
    assert!(
        p.contains("interval = \"100ms\": less than 1s; expected"),
        "{p}"
    );
}

/// Values that passed `check` and then flooded a server, spun a retry loop
/// or panicked the daemon (issue 14): each is refused with its key, the
/// range and why.
#[test]
fn values_that_flood_or_panic_are_refused_with_the_range() {
    let public = GOOD.replace("interval = \"90s\"\n", "");
    let local = public.replace("https://example.com/feed.xml", "http://127.0.0.1:9/feed");
    let cases: &[(&str, &str, &str)] = &[
        (&public, "[daemon]\ninterval = \"0s\"", "[daemon]: interval = \"0s\": less than 1s"),
        (&public, "[daemon]\nmin_interval = \"0s\"", "[daemon]: min_interval = \"0s\": less than 1s"),
        (&public, "[daemon]\ninterval = \"30s\"", "[daemon]: interval = 30s is too fast for feeds on public hosts"),
        (&public, "[daemon]\nmin_interval = \"10s\"", "[daemon]: min_interval = 10s is too fast for feeds on public hosts"),
        (&public, "[daemon]\nper_host_delay = \"0s\"", "[daemon]: per_host_delay = 0s is below 100ms, the least allowed while a feed is on a public host"),
        (&public, "[daemon]\ninterval = \"18446744073709551615s\"", "interval = \"18446744073709551615s\": more than 30d"),
        (&public, "[daemon]\nconcurrency = 18446744073709551615", "concurrency = 18446744073709551615: out of range 1 to 1024"),
        (&public, "[daemon]\nconcurrency = 0", "concurrency = 0: out of range 1 to 1024"),
        (&public, "[daemon]\ncache_size = \"0\"", "cache_size = \"0\": less than 1MiB"),
        (&public, "[daemon]\ntimeout = \"0s\"", "timeout = \"0s\": less than 1s"),
        (&public, "[daemon]\nmax_body = \"0\"", "max_body = \"0\": less than 1KiB"),
        (&public, "[daemon]\nmax_body = 0", "max_body = 0: less than 1KiB"),
        (&public, "[daemon]\nlog_level = \"bogus\"", "log_level = \"bogus\": \"bogus\" is not a level"),
        (&public, "[daemon]\nlog_level = \"infoo\"", "\"infoo\" is not a level; did you mean \"info\"?"),
        (&public, "[delivery]\nretry_initial = \"0s\"", "[delivery]: retry_initial = \"0s\": less than 1s"),
        (&public, "[delivery]\nretry_initial = \"10m\"\nretry_max = \"1m\"", "[delivery]: retry_initial = 10m is longer than retry_max = 1m; expected retry_initial ≤ retry_max"),
        (&public, "[retention]\nmax_versions = 0", "max_versions = 0: out of range 2 to 100000"),
    ];
    for (base, extra, expected) in cases {
        let text = if extra.starts_with("[daemon]") {
            base.replace("[daemon]", extra)
        } else {
            base.replace("[daemon]", &format!("{extra}\n[daemon]"))
        };
        let p = problem(&text);
        assert!(
            p.contains(expected),
            "{extra}: expected {expected:?} in:\n{p}"
        );
        assert!(p.contains("e.g. "), "{extra}: an example in:\n{p}");
    }
    // the same values that need a public host are fine on this machine
    for extra in [
        "interval = \"1s\"",
        "min_interval = \"1s\"",
        "per_host_delay = \"0s\"",
    ] {
        let text = local.replace("[daemon]", &format!("[daemon]\n{extra}"));
        assert!(load(&text).is_ok(), "{extra}: {:?}", load(&text).err());
    }
}

#[test]
fn reserved_and_invalid_webhook_headers_are_refused() {
    for (header, expected) in [
        (
            "Content-Length",
            "\"Content-Length\" may not be set: the HTTP client sets it",
        ),
        ("host", "\"host\" may not be set"),
        ("Transfer-Encoding", "\"Transfer-Encoding\" may not be set"),
        ("Idempotency-Key", "every alert look like the same one"),
        (
            "X-Storywatch-Signature",
            "set secret_env, secret_file or secret_credential",
        ),
        (
            "X-Storywatch-Timestamp",
            "\"X-Storywatch-Timestamp\" may not be set",
        ),
        ("Bad Name", "\"Bad Name\" is not a valid header name"),
    ] {
        let text = GOOD.replace(
            "url = \"http://127.0.0.1:9/x\"",
            &format!("url = \"http://127.0.0.1:9/x\"\nheaders = {{ \"{header}\" = \"1\" }}"),
        );
        let p = problem(&text);
        assert!(
            p.starts_with("config.toml:19: notifier \"hook\": headers:"),
            "{p}"
        );
        assert!(p.contains(expected), "{header}: {p}");
    }
    let ok = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\nheaders = { \"Authorization\" = \"Bearer x\", \"Content-Type\" = \"text/plain\" }",
    );
    assert!(load(&ok).is_ok());
}

#[test]
fn syntax_errors_do_not_hide_the_other_problems() {
    let text = "[daemon]\ninterval = \"10m\nconcurrency = 0\n[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\ncolour = 1\n";
    let err = load(text).unwrap_err();
    let all = err.to_string();
    assert!(all.contains("config.toml:2: TOML syntax:"), "{all}");
    assert!(
        all.contains("config.toml:3: [daemon]: concurrency = 0"),
        "{all}"
    );
    assert!(
        all.contains("config.toml:7: feed \"a\": unknown key `colour`"),
        "{all}"
    );
    // an unclosed list is one problem, not one per line it swallowed
    let text = "[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\ntags = [\"x\",\n\n[[watch]]\nname = \"w\"\nquery = 'x'\n";
    let err = load(text).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.problems[0].starts_with("config.toml:4: TOML syntax: unclosed"),
        "{err}"
    );
}

#[test]
fn keys_in_the_wrong_place_say_where_they_belong() {
    let p = problem(&format!("interval = \"5m\"\n{GOOD}"));
    assert!(
        p.starts_with("config.toml:1: `interval` is outside any section: it belongs in [daemon]"),
        "{p}"
    );
    let p = problem(&GOOD.replace("[daemon]", "[deamon]"));
    assert_eq!(
        p,
        "config.toml:2: unknown section `deamon`; did you mean `daemon`?"
    );
    let p = problem(&GOOD.replace("[[feed]]", "[feed]"));
    assert!(
        p.contains("[feed] must be written [[feed]] (double brackets)"),
        "{p}"
    );
    let p = problem(&GOOD.replace("type = \"webhook\"", "type = \"webhok\""));
    assert!(
        p.contains("type = \"webhok\": unknown value \"webhok\"; did you mean \"webhook\"?"),
        "{p}"
    );
}

#[test]
fn check_warns_about_configs_that_do_nothing() {
    let none = "[[feed]]\nname = \"a\"\nurl = \"https://example.com/f\"\n";
    let c = load(none).unwrap();
    let all = c.warnings.join("\n");
    assert!(
        all.contains("no [[watch]]: stories are tracked but nothing ever alerts"),
        "{all}"
    );
    assert!(
        all.contains("no [[notifier]]: alerts are kept in the outbox but sent nowhere"),
        "{all}"
    );
    let unreceived = format!("{none}[[watch]]\nname = \"w\"\nquery = 'x'\n");
    let c = load(&unreceived).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("config.toml:4: watch \"w\": no notifier receives its alerts")),
        "{:?}",
        c.warnings
    );
    let user_only = GOOD.replace(
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"http://127.0.0.1:9/x\"\n[[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp://me@mail.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
    );
    let c = load(&user_only).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("notifier \"mail\": an SMTP username without a password")),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("notifier \"mail\": no watch sends to it")),
        "{:?}",
        c.warnings
    );
    assert!(
        load(GOOD).unwrap().warnings.is_empty(),
        "{:?}",
        load(GOOD).unwrap().warnings
    );
}

/// The schema lists exactly the keys the types read: a key added to one
/// and not the other would be refused as unknown, or read without a range.
#[test]
fn the_schema_lists_every_key_the_types_read() {
    fn fields<T: serde::de::DeserializeOwned>() -> Vec<String> {
        let err = toml::from_str::<T>("zz_not_a_key = 1").err().unwrap();
        let msg = err.message().to_string();
        let list = msg
            .split("expected one of")
            .nth(1)
            .unwrap_or_else(|| panic!("{msg}"));
        let mut out: Vec<String> = list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect();
        out.sort();
        out
    }
    fn keys(s: &schema::Section) -> Vec<String> {
        let mut out: Vec<String> = s.keys.iter().map(|k| k.name.to_string()).collect();
        out.sort();
        out
    }
    assert_eq!(fields::<DaemonConfig>(), keys(&schema::DAEMON));
    assert_eq!(fields::<RetentionConfig>(), keys(&schema::RETENTION));
    assert_eq!(fields::<DeliveryConfig>(), keys(&schema::DELIVERY));
    assert_eq!(fields::<WatchConfig>(), keys(&schema::WATCH));
    assert_eq!(fields::<RawNotifier>(), keys(&schema::NOTIFIER));
    assert_eq!(fields::<super::validate::RawFeed>(), keys(&schema::FEED));
}

/// README documents every range as the loader enforces it.
#[test]
fn the_readme_lists_every_range() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = schema::ranges_table();
    assert!(
        readme.contains(&table),
        "README.md's table of ranges is out of date; it should read:\n{table}"
    );
}
