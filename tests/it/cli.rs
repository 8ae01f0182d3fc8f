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
        ("[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\n[[watch]]\nname = \"nk\"\nquery = 'x'\nnotify = [\"ops\"]\n", "config.toml:4: watch \"nk\": notifier \"ops\" is not defined"),
        ("[daemon]\ninterval = \"often\"\n[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\n", "config.toml:2:"),
        ("[[feed]]\nname = \"a\"\nurl = \"ftp://e.com/f\"\n", "only http:// and https://"),
        ("[[feed]]\nname = \"a\"\nurl = \"https://e.com/f\"\ncolour = \"red\"\n", "config.toml:4: unknown field `colour`"),
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
    assert!(err.contains("col"), "{err}");
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
