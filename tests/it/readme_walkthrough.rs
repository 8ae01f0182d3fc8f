//! README's "Running as a service" section, walked through: every command
//! its shell blocks show. The `storywatch` ones run against a running
//! daemon (the real binary, with this test's config in place of
//! /etc/storywatch/config.toml, and its alert id in place of the README's
//! example); the system ones (install, systemctl, journalctl) cannot run
//! here and are listed below, word for word, so a command added to the
//! section, or one changed, fails this test until it is run or listed.

use crate::common;

use std::time::Duration;

use common::daemon::{config_text, quick_feed_name, storywatch, write, Daemon, Feed, NotifySocket};
use common::{FeedServer, WebhookReceiver};

/// Lines of the section that are not `storywatch` commands, as written.
const SYSTEM_COMMANDS: &[&str] = &[
    "cargo install --path . --root /usr/local",
    "sudo install -Dm644 systemd/storywatch.service /etc/systemd/system/storywatch.service",
    "sudo install -Dm644 config.toml /etc/storywatch/config.toml",
    "sudo systemctl daemon-reload",
    "sudo systemctl enable --now storywatch",
    "systemctl status storywatch",
    "journalctl -u storywatch -f",
];

/// The config the README's commands name.
const README_CONFIG: &str = "/etc/storywatch/config.toml";
/// The alert id the README's example uses.
const README_ALERT: &str = "42";

/// The commands of README's service section: each line of its `sh` blocks,
/// without its comment.
fn service_section_commands() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("\n## Running as a service")
        .expect("README has a \"Running as a service\" section");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match (in_sh, line.trim()) {
            (false, "```sh") => in_sh = true,
            (true, "```") => in_sh = false,
            (true, l) if !l.is_empty() => {
                let command = l.split("  #").next().unwrap_or(l).trim();
                commands.push(command.to_string());
            }
            _ => {}
        }
    }
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_service_section_works_against_a_running_daemon() {
    let commands = service_section_commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let (ours, system): (Vec<&String>, Vec<&String>) = commands
        .iter()
        .partition(|c| c.starts_with("storywatch ") || c.starts_with("sudo storywatch "));
    for c in &system {
        assert!(
            SYSTEM_COMMANDS.contains(&c.as_str()),
            "README's service section shows {c:?}: run it here, or list it in SYSTEM_COMMANDS"
        );
    }
    for listed in SYSTEM_COMMANDS {
        assert!(
            system.iter().any(|c| c == listed),
            "{listed:?} is no longer in README's service section: remove it from SYSTEM_COMMANDS"
        );
    }

    // a daemon with the README's story (by its link), its watch, and an
    // alert whose delivery failed (so there is something to retry)
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    hook.script(&[500]);
    let link = "https://www.bbc.co.uk/news/world-asia-58616135";
    let item = |body: &str| {
        format!(
            "<rss version=\"2.0\"><channel><title>BBC</title><item><guid>{link}</guid><link>{link}</link><title>North Korean troops sent to Russia</title><description>{body}</description></item></channel></rss>"
        )
    };
    feeds.set(
        "application/rss+xml",
        item("About 8,000 troops, officials say."),
    );
    let config = dir.path().join("config.toml");
    let name = quick_feed_name("bbc");
    // polls every 2 s, so the edit is stored soon
    write(
        &config,
        &config_text(
            &dir.path().join("state"),
            &[Feed {
                name: &name,
                url: feeds.url(),
            }],
            "baseline = false",
            &format!(
                "\n[[watch]]\nname = \"nk-troops\"\nquery = '\"north korean\" AND troops'\n\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
                hook.url()
            ),
        )
        .replace("interval = \"10s\"", "interval = \"2s\""),
    );
    let notify = NotifySocket::bind(dir.path());
    let daemon = Daemon::start_ready(&config, &notify).await;
    daemon
        .wait_for(
            "the first delivery attempt",
            Duration::from_secs(20),
            || hook.attempts() >= 1,
        )
        .await;
    feeds.set(
        "application/rss+xml",
        item("About 10,000 troops, officials say."),
    );
    let cfg = config.display().to_string();
    daemon
        .wait_for("the edit to be stored", Duration::from_secs(30), || {
            storywatch(&["history", link, "--config", &cfg], &[])
                .1
                .contains("  r2 ")
        })
        .await;
    for command in ours {
        let mut args: Vec<&str> = command
            .split_whitespace()
            .skip_while(|w| *w == "sudo")
            .skip(1)
            .map(|w| match w {
                README_CONFIG => cfg.as_str(),
                README_ALERT => "1",
                w => w,
            })
            .collect();
        if !args.contains(&"--config") {
            args.extend(["--config", &cfg]);
        }
        let (code, out, err) = storywatch(&args, &[]);
        assert_eq!(code, 0, "{command}:\n{out}{err}");
        assert!(!out.trim().is_empty(), "{command}: printed nothing");
        common::assert_no_debug(command, &out);
    }
    assert!(daemon.exited().is_none(), "the daemon ran throughout");
}
