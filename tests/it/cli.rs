//! The command line as a user meets it: exit codes and messages.

use std::process::Command;

fn storywatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(args)
        .env_remove("STORYWATCH_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run storywatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

#[test]
fn check_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let (code, out, err) = storywatch(&["check", "--config", example]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("feeds (3)"), "{out}");
    assert!(
        !out.contains("XXXX"),
        "webhook URL tokens are not printed: {out}"
    );
    assert!(out.contains("(slack)") || out.contains("(json)"), "{out}");
    crate::common::assert_no_debug("check", &out);
}

#[test]
fn check_rejects_bad_configs_with_exit_2_and_the_line() {
    let cases = [
        ("[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\n[[watch]]\nname = \"nk\"\nquery = 'x'\nnotify = [\"ops\"]\n", "config.toml:7: watch \"nk\": notifier \"ops\" is not defined"),
        ("[daemon]\ninterval = \"often\"\n[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\n", "config.toml:2:"),
        ("[[feed]]\nname = \"a\"\nurl = \"ftp://e.com/f\"\n", "only http:// and https://"),
        ("[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\ncolour = \"red\"\n", "config.toml:4: feed \"a\": unknown key `colour`"),
        ("[[feed]\nname = \"a\"\n", "config.toml:1:"),
        ("[daemon]\n", "no feeds"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = write_config(text);
        let (code, _, err) = storywatch(&["check", "--config", &path]);
        assert_eq!(code, 2, "{text}\n{err}");
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    }
}

#[test]
fn missing_config_file_is_a_config_error() {
    let (code, _, err) = storywatch(&["check", "--config", "/nonexistent/storywatch.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read config"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = storywatch(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn demo_shows_a_new_story_and_updates_with_diffs() {
    let (code, out, err) = storywatch(&["demo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("\nNew: ").count(), 1, "{out}");
    assert!(out.matches("\nUpdated: ").count() >= 2, "{out}");
    assert!(
        out.contains("{+") && out.contains("[-"),
        "diffs shown: {out}"
    );
    assert!(out.contains("304 Not Modified"), "{out}");
}

#[test]
fn test_watch_exit_codes_and_highlights() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(
        &feed,
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>North-Korean troops reach Kursk</title><description>Officials in Kyïv said so.</description></item></channel></rss>",
    )
    .unwrap();
    let feed = feed.display().to_string();
    let (code, out, err) =
        storywatch(&["test-watch", "--query", "\"north korean\" AND kyiv", &feed]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("«North-Korean»") && out.contains("«Kyïv»"),
        "{out}"
    );
    assert!(out.contains("1 match"), "{out}");
    let (code, out, _) = storywatch(&["test-watch", "--query", "software", &feed]);
    assert_eq!(code, 1, "{out}");
    let (code, _, err) = storywatch(&["test-watch", "--query", "(troops AND Russia", &feed]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--query \"(troops AND Russia\": query col"),
        "{err}"
    );
    assert!(
        !err.contains("invalid configuration"),
        "a bad argument is not the config's fault: {err}"
    );
}

/// issue 16's done-when: one run of `check` on a config with eight
/// different mistakes lists all eight, each with its line, key, what was
/// expected and an example, in file order, and exits 2.
#[test]
fn check_lists_eight_different_mistakes_at_once() {
    let text = r#"[daemon]
listen = "127.0.0.1:99999"
per_host_delay = "0s"
intervall = "5m"

[[feed]]
name = "world"
url = "https://feeds.example.com/world.xml"
interval = "ten minutes"

[[watch]]
name = "nk"
query = '"north korea" AND troops'
notify = ["ops"]

[[notifier]]
name = "mail"
type = "email"
smtp = "smtp://alerts@mail.example.com"
security = "startls"
from = "alerts@example.com"
to = "a@b"

[[notifier]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/x"
headers = { "Content-Length" = "1" }
timeout = "30s
"#;
    let (_dir, path) = write_config(text);
    let (code, out, err) = storywatch(&["check", "--config", &path]);
    eprintln!("{err}");
    assert_eq!(code, 2, "{out}{err}");
    let expected = [
        ":2: [daemon]: listen = \"127.0.0.1:99999\": port 99999 is out of range (1-65535); expected an IP address and a port, e.g. listen = \"127.0.0.1:8787\"",
        ":3: [daemon]: per_host_delay = 0s is below 100ms, the least allowed while a feed is on a public host (\"world\" at feeds.example.com)",
        ":4: [daemon]: unknown key `intervall`; did you mean `interval`?",
        ":9: feed \"world\": interval = \"ten minutes\": \"ten minutes\" is not a valid duration; expected a duration with a unit",
        ":14: watch \"nk\": notifier \"ops\" is not defined (define it in a [[notifier]] table)",
        ":20: notifier \"mail\": security = \"startls\": unknown value \"startls\"; did you mean \"starttls\"?",
        ":22: notifier \"mail\": to = \"a@b\": this is a string; expected a list of email addresses, e.g. to = [\"you@example.com\"]",
        ":28: notifier \"hook\": headers: \"Content-Length\" may not be set",
        ":29: TOML syntax:",
    ];
    let problems: Vec<&str> = err.lines().skip(1).collect();
    assert_eq!(problems.len(), expected.len(), "{err}");
    for (line, e) in problems.iter().zip(expected) {
        assert!(line.starts_with(&path), "{line}");
        assert!(line.contains(e), "expected {e:?} in {line:?}");
    }
}

/// Commands that send nothing never read secrets: `check` says where each
/// would come from and whether it is available here (a systemd credential
/// outside systemd is a warning), and `export-opml` works; `once`, which
/// sends, refuses with what to do.
#[test]
fn only_commands_that_send_need_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[daemon]
state_dir = "{}"
api_token_credential = "api-token"

[[feed]]
name = "a"
url = "http://127.0.0.1:9/feed"

[[watch]]
name = "w"
query = 'storm'

[[notifier]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "STORYWATCH_TEST_CLI_UNSET_SECRET"

[[notifier]]
name = "mail"
type = "email"
smtp = "smtp://alerts@127.0.0.1:9"
password_credential = "smtp-password"
from = "alerts@example.com"
to = ["me@example.com"]
"#,
        dir.path().join("state").display()
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_storywatch"))
            .args(args)
            .args(["--config", &path])
            .env_remove("STORYWATCH_CONFIG")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("STORYWATCH_TEST_CLI_UNSET_SECRET")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    for (owner, state) in [
        ("[daemon] api_token", "from systemd credential \"api-token\" ($CREDENTIALS_DIRECTORY/api-token, from LoadCredential=): only under systemd (not here)"),
        ("notifier \"hook\" secret", "from environment variable STORYWATCH_TEST_CLI_UNSET_SECRET: NOT available here"),
        ("notifier \"mail\" password", "from systemd credential \"smtp-password\""),
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(owner) && l.contains(state)),
            "expected {owner} {state:?} in:\n{out}"
        );
    }
    assert!(
        out.contains(":13: notifier \"hook\" secret: not available here"),
        "{out}"
    );
    assert!(out.contains("warnings (3):"), "{out}");
    let (code, out, err) = run(&["export-opml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("http://127.0.0.1:9/feed"), "{out}");
    let (code, _, err) = run(&["once"]);
    assert_eq!(code, 2, "{err}");
    for needle in [
        "[daemon] api_token: api_token_credential = \"api-token\" needs $CREDENTIALS_DIRECTORY",
        ":13: notifier \"hook\" secret: secret_env names the environment variable STORYWATCH_TEST_CLI_UNSET_SECRET",
        ":19: notifier \"mail\" password: password_credential = \"smtp-password\" needs $CREDENTIALS_DIRECTORY",
    ] {
        assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    }
}

/// Runs a command whose stdout is a pipe nobody reads any more (`| head`
/// that already exited): exit code (or signal) and stderr.
fn with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(args)
        .env_remove("STORYWATCH_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run storywatch");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `storywatch demo | head -1` and every other command writing into a
/// closed pipe stop quietly: exit 0 (or SIGPIPE's 141 in a shell), never a
/// panic (101).
#[test]
fn commands_writing_into_a_closed_pipe_exit_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n[[watch]]\nname = \"w\"\nquery = \"storm\"\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, "A storm is coming.").unwrap();
    let c = config.display().to_string();
    let f = feed.display().to_string();
    let commands: &[&[&str]] = &[
        &["demo"],
        &["check", "--config", &c],
        &["export-opml", "--config", &c],
        &["feeds", "--config", &c],
        &["outbox", "list", "--all", "--config", &c],
        &["status", "--config", &c],
        &["test-watch", "--query", "storm", &f],
        &["--help"],
    ];
    for args in commands {
        let (status, err) = with_closed_stdout(args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let quiet = matches!(status.code(), Some(0) | Some(1)) || status.signal() == Some(13);
        assert!(quiet, "{args:?}: {status}\n{err}");
        assert!(
            !err.contains("Broken pipe") && !err.contains("os error 32"),
            "{args:?}: {err}"
        );
    }
}

/// `storywatch once` from cron honours what the server said, like the
/// daemon: after a 429 with Retry-After, a 503 (backoff) or a 410 (gone)
/// the next runs skip the feed until its time, and say so; `--force`
/// polls it anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_honours_retry_after_backoff_and_gone_unless_forced() {
    use crate::common::{FeedResponse, FeedServer};
    let feeds = FeedServer::start().await;
    let answer = |status: u16, headers: &[(&str, &str)]| FeedResponse {
        status,
        content_type: "text/plain".into(),
        body: b"no".to_vec(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (_keep, config) = write_config(&format!(
        "[daemon]\nstate_dir = \"{}\"\n[[feed]]\nname = \"news\"\nurl = \"{}\"\n",
        dir.path().display(),
        feeds.url()
    ));
    let once = |extra: &[&str]| {
        let mut args = vec!["once", "--config", &config];
        args.extend(extra);
        storywatch(&args)
    };
    for (status, headers, why) in [
        (429, vec![("Retry-After", "3600")], "429 Too Many Requests"),
        (503, vec![], "503 Service Unavailable"),
        (410, vec![], "gone"),
    ] {
        feeds.set_response(answer(status, &headers));
        let before = feeds.requests();
        let (code, _, err) = once(&["--force"]);
        assert_eq!(code, 1, "the only feed failed: {err}");
        assert_eq!(feeds.requests(), before + 1);
        let (code, _, err) = once(&[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(feeds.requests(), before + 1, "{status}: not polled again");
        assert!(
            err.contains("polled 0 feeds") && err.contains("skipped 1 feed that must wait"),
            "{err}"
        );
        assert!(err.contains("news until") && err.contains(why), "{err}");
        assert!(err.contains("--force"), "{err}");
    }
    // the server is back: --force polls, and the next run polls as usual
    feeds.set(
        "application/rss+xml",
        crate::common::rss(&[("a", "Storm", "Wind")]),
    );
    let (code, _, err) = once(&["--force"]);
    assert_eq!(code, 0, "{err}");
    let before = feeds.requests();
    let (code, _, err) = once(&[]);
    assert_eq!((code, feeds.requests()), (0, before + 1), "{err}");
    assert!(!err.contains("skipped"), "{err}");
}
