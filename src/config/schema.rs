//! Every key of config.toml in one place: what it takes, an example, and
//! for numbers, sizes and durations the range accepted and why.
//!
//! The loader reads these to tell a user what was expected (with an
//! example they can paste), to suggest the key they meant when one is
//! misspelt, and to refuse a value outside its range before it can flood a
//! server, spin a retry loop or panic the daemon. The README's and
//! config.toml's documented ranges come from here, and the generative test
//! (`tests/it/config_gen.rs`) draws its configs from it, so a key cannot be
//! added without a range and an example.

use std::time::Duration;

const SEC: u64 = 1;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Polling a feed on a public host more often than this is refused.
pub const PUBLIC_MIN_INTERVAL: Duration = Duration::from_secs(MIN);
/// Requests to one public host start at least this far apart.
pub const PUBLIC_MIN_HOST_DELAY: Duration = Duration::from_millis(100);
/// Why the two floors above exist (quoted in their error messages).
pub const POLITENESS: &str =
    "a server sees faster requests from one client as abuse and may block it";

/// What a key accepts beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Any value of the key's type.
    None,
    /// A duration from `min` to `max` inclusive.
    Duration {
        min: Duration,
        max: Duration,
        why: &'static str,
    },
    /// A whole number from `min` to `max` inclusive.
    Number {
        min: u64,
        max: u64,
        why: &'static str,
    },
    /// A size in bytes from `min` to `max` inclusive.
    Size {
        min: u64,
        max: u64,
        why: &'static str,
    },
}

impl Limit {
    /// "1s to 30d", "1 to 1024", "1KiB to 1GiB".
    pub fn range_text(&self) -> Option<String> {
        match *self {
            Limit::None => None,
            Limit::Duration { min, max, .. } => {
                Some(format!("{} to {}", duration_text(min), duration_text(max)))
            }
            Limit::Number { min, max, .. } => Some(format!("{min} to {max}")),
            Limit::Size { min, max, .. } => {
                Some(format!("{} to {}", size_text(min), size_text(max)))
            }
        }
    }

    pub fn why(&self) -> Option<&'static str> {
        match *self {
            Limit::None => None,
            Limit::Duration { why, .. } | Limit::Number { why, .. } | Limit::Size { why, .. } => {
                Some(why)
            }
        }
    }
}

/// One key: its name, what it takes and an example value as written in TOML.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub expects: &'static str,
    pub example: &'static str,
    pub limit: Limit,
}

/// A table of config.toml and its keys.
#[derive(Debug)]
pub struct Section {
    /// As the user writes it: `[daemon]`, `[[feed]]`.
    pub header: &'static str,
    /// The top-level key: `daemon`, `feed`.
    pub name: &'static str,
    /// `[[…]]`: an array of tables.
    pub many: bool,
    pub keys: &'static [Key],
}

impl Section {
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

const DURATION: &str = "a duration with a unit (\"90s\", \"10m\", \"1h\", \"2d\")";
const SIZE: &str = "a size (\"512KiB\", \"10MiB\") or a number of bytes";
const BOOL: &str = "true or false";
const TEXT: &str = "a string";
const NAMES: &str = "a list of names";
const PATH: &str = "a file path";
const ENV: &str = "the name of an environment variable";
const CREDENTIAL: &str = "the name of a systemd credential (LoadCredential=NAME:…)";
const MATERIALITY: &str = "one of \"typo\", \"minor\", \"major\"";

const fn key(name: &'static str, expects: &'static str, example: &'static str) -> Key {
    Key {
        name,
        expects,
        example,
        limit: Limit::None,
    }
}

const fn dur(
    name: &'static str,
    example: &'static str,
    min: u64,
    max: u64,
    why: &'static str,
) -> Key {
    Key {
        name,
        expects: DURATION,
        example,
        limit: Limit::Duration {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
            why,
        },
    }
}

const fn dur_ms(
    name: &'static str,
    example: &'static str,
    min_ms: u64,
    max: u64,
    why: &'static str,
) -> Key {
    Key {
        name,
        expects: DURATION,
        example,
        limit: Limit::Duration {
            min: Duration::from_millis(min_ms),
            max: Duration::from_secs(max),
            why,
        },
    }
}

const fn num(
    name: &'static str,
    example: &'static str,
    min: u64,
    max: u64,
    why: &'static str,
) -> Key {
    Key {
        name,
        expects: "a whole number",
        example,
        limit: Limit::Number { min, max, why },
    }
}

const fn size(
    name: &'static str,
    example: &'static str,
    min: u64,
    max: u64,
    why: &'static str,
) -> Key {
    Key {
        name,
        expects: SIZE,
        example,
        limit: Limit::Size { min, max, why },
    }
}

const INTERVAL_WHY: &str = "a poll takes a second or more, and a feed polled less than monthly is not being watched; feeds on public hosts at least 1m apart";
const MAX_BODY_WHY: &str =
    "below 1KiB no feed fits, so every poll would fail; above 1GiB one feed could exhaust memory";

pub const DAEMON: Section = Section {
    header: "[daemon]",
    name: "daemon",
    many: false,
    keys: &[
        key("state_dir", PATH, "\"/var/lib/storywatch\""),
        dur("interval", "\"10m\"", SEC, 30 * DAY, INTERVAL_WHY),
        dur("min_interval", "\"2m\"", SEC, 30 * DAY, INTERVAL_WHY),
        dur("max_interval", "\"6h\"", SEC, 30 * DAY, INTERVAL_WHY),
        key("respect_feed_hints", BOOL, "true"),
        num(
            "concurrency",
            "32",
            1,
            1024,
            "each poll in flight holds a connection, a file descriptor and its body in memory",
        ),
        num(
            "per_host_concurrency",
            "2",
            1,
            64,
            "requests to one host at the same time; more only looks like an attack",
        ),
        dur_ms(
            "per_host_delay",
            "\"250ms\"",
            0,
            MIN,
            "the pause between two requests to one host; at least 100ms when a feed is on a public host",
        ),
        key("user_agent", "a string of visible ASCII characters", "\"storywatch/0.1 (+https://example.com/contact)\""),
        dur(
            "timeout",
            "\"30s\"",
            SEC,
            10 * MIN,
            "a whole feed request must finish within it: under a second every poll would fail",
        ),
        dur(
            "connect_timeout",
            "\"10s\"",
            SEC,
            5 * MIN,
            "under a second a connection across the internet often cannot be made",
        ),
        size("max_body", "\"10MiB\"", KIB, GIB, MAX_BODY_WHY),
        key("baseline", BOOL, "true"),
        dur(
            "alert_after",
            "\"24h\"",
            MIN,
            365 * DAY,
            "a feed failing this long raises an operator alert; under a minute every hiccup would",
        ),
        key("ops_notify", NAMES, "[\"ops\"]"),
        key(
            "listen",
            "an IP address and a port",
            "\"127.0.0.1:8787\"",
        ),
        key("api_token_env", ENV, "\"STORYWATCH_API_TOKEN\""),
        key("api_token_file", PATH, "\"/etc/storywatch/api-token\""),
        key("api_token_credential", CREDENTIAL, "\"api-token\""),
        key(
            "public_url",
            "an http(s) URL where the dashboard is reached",
            "\"https://news.example.org/storywatch\"",
        ),
        key(
            "log_level",
            "a level (error, warn, info, debug, trace, off) or directives such as \"info,storywatch=debug\"",
            "\"info\"",
        ),
        key(
            "log_format",
            "one of \"auto\", \"text\", \"json\", \"journald\"",
            "\"auto\"",
        ),
        dur(
            "shutdown_timeout",
            "\"10s\"",
            0,
            10 * MIN,
            "how long a stop waits for polls and deliveries under way (systemd's TimeoutStopSec= must be longer)",
        ),
        size(
            "cache_size",
            "\"8MiB\"",
            MIB,
            16 * GIB,
            "the database's page cache: sled needs some, and more than the machine has is swapped",
        ),
        key(
            "shard",
            "k/N: this instance's shard (from 0) and the number of shards",
            "\"0/3\"",
        ),
    ],
};

pub const RETENTION: Section = Section {
    header: "[retention]",
    name: "retention",
    many: false,
    keys: &[
        num(
            "max_versions",
            "100",
            2,
            100_000,
            "versions kept per story: the first and the latest at least",
        ),
        dur(
            "max_age",
            "\"90d\"",
            HOUR,
            3650 * DAY,
            "stories out of their feed this long are forgotten (listed ones never are); under an hour a story would be forgotten between polls",
        ),
        dur(
            "keep_alerts",
            "\"14d\"",
            HOUR,
            3650 * DAY,
            "delivered and dead alerts stay listed this long",
        ),
    ],
};

pub const DELIVERY: Section = Section {
    header: "[delivery]",
    name: "delivery",
    many: false,
    keys: &[
        dur(
            "retry_initial",
            "\"1m\"",
            SEC,
            HOUR,
            "the first wait after a failed delivery; shorter only hammers a receiver that is down",
        ),
        dur(
            "retry_max",
            "\"1h\"",
            SEC,
            DAY,
            "the longest wait between two attempts (at least retry_initial)",
        ),
        dur(
            "give_up_after",
            "\"24h\"",
            MIN,
            30 * DAY,
            "an alert not delivered within this is dead (kept for `storywatch outbox`)",
        ),
    ],
};

pub const FEED: Section = Section {
    header: "[[feed]]",
    name: "feed",
    many: true,
    keys: &[
        key("name", "a unique name", "\"bbc-world\""),
        key(
            "url",
            "an http(s) URL",
            "\"https://feeds.bbci.co.uk/news/world/rss.xml\"",
        ),
        dur("interval", "\"5m\"", SEC, 30 * DAY, INTERVAL_WHY),
        dur("min_interval", "\"2m\"", SEC, 30 * DAY, INTERVAL_WHY),
        dur("max_interval", "\"6h\"", SEC, 30 * DAY, INTERVAL_WHY),
        key("tags", NAMES, "[\"world\", \"news\"]"),
        key(
            "ignore",
            "a list of regular expressions",
            "['Updated \\d+ minutes ago']",
        ),
        key("baseline", BOOL, "true"),
        key("full_text", BOOL, "false"),
        size("max_body", "\"10MiB\"", KIB, GIB, MAX_BODY_WHY),
        key("min_materiality", MATERIALITY, "\"minor\""),
        key(
            "headers",
            "a table of header names and values",
            "{ \"X-Client\" = \"storywatch\" }",
        ),
        key(
            "auth",
            "one of \"basic\", \"bearer\", \"cookie\", \"query\"",
            "\"bearer\"",
        ),
        key("username", TEXT, "\"reader@example.com\""),
        key("auth_param", TEXT, "\"token\""),
        key("secret_env", ENV, "\"STORYWATCH_FEED_TOKEN\""),
        key("secret_file", PATH, "\"/etc/storywatch/feed-token\""),
        key("secret_credential", CREDENTIAL, "\"feed-token\""),
    ],
};

pub const WATCH: Section = Section {
    header: "[[watch]]",
    name: "watch",
    many: true,
    keys: &[
        key("name", "a unique name", "\"nk-troops\""),
        key(
            "query",
            "a query (see README, \"Watch queries\")",
            "'\"north korea\" AND troops'",
        ),
        key(
            "any",
            "a list of words or phrases",
            "[\"red warning\", \"evacuation\"]",
        ),
        key(
            "all",
            "a list of words or phrases",
            "[\"kyiv\", \"drones\"]",
        ),
        key("none", "a list of words or phrases", "[\"sport\"]"),
        key(
            "on",
            "a list of \"new\", \"update\", \"mention\", \"removed\"",
            "[\"new\", \"update\"]",
        ),
        key("min_materiality", MATERIALITY, "\"minor\""),
        key("on_revert", "one of \"alert\", \"ignore\"", "\"alert\""),
        key("feeds", "a list of feed names", "[\"bbc-world\"]"),
        key("tags", "a list of feed tags", "[\"news\"]"),
        key("notify", "a list of notifier names", "[\"mail\"]"),
    ],
};

pub const NOTIFIER: Section = Section {
    header: "[[notifier]]",
    name: "notifier",
    many: true,
    keys: &[
        key("name", "a unique name", "\"mail\""),
        key(
            "type",
            "one of \"stdout\", \"webhook\", \"email\", \"nats\"",
            "\"webhook\"",
        ),
        dur(
            "digest",
            "\"30m\"",
            MIN,
            7 * DAY,
            "alerts wait this long to go out as one message",
        ),
        key(
            "quiet_hours",
            "a local time window HH:MM-HH:MM",
            "\"22:00-07:00\"",
        ),
        key(
            "max_per_story",
            "COUNT/DURATION, from 1 to 1000 per 1s to 7d",
            "\"1/15m\"",
        ),
        key(
            "url",
            "an http(s) URL",
            "\"https://hooks.example.com/storywatch\"",
        ),
        key(
            "preset",
            "one of \"json\", \"slack\", \"discord\", \"ntfy\", \"mattermost\", \"teams\", \"telegram\", \"matrix\", \"pushover\", \"gotify\", \"googlechat\"",
            "\"json\"",
        ),
        key(
            "headers",
            "a table of header names and values",
            "{ \"X-Source\" = \"storywatch\" }",
        ),
        key(
            "template",
            "a minijinja template",
            "'{\"msg\": {{ subject | tojson }}}'",
        ),
        key("secret_env", ENV, "\"STORYWATCH_WEBHOOK_SECRET\""),
        key("secret_file", PATH, "\"/etc/storywatch/webhook-secret\""),
        key("secret_credential", CREDENTIAL, "\"webhook-secret\""),
        dur_ms(
            "timeout",
            "\"15s\"",
            100,
            10 * MIN,
            "the receiver must answer within it",
        ),
        key("token_env", ENV, "\"STORYWATCH_TELEGRAM_TOKEN\""),
        key("token_file", PATH, "\"/etc/storywatch/telegram-token\""),
        key("token_credential", CREDENTIAL, "\"telegram-token\""),
        key("chat_id", TEXT, "\"-1001234567890\""),
        key("room", "a Matrix room id", "\"!news:example.org\""),
        key("user", "a Pushover user or group key", "\"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\""),
        num("priority", "5", 0, 10, "Gotify's priorities run from 0 to 10"),
        key(
            "smtp",
            "an smtp://, smtps:// or smtp+plain:// URL",
            "\"smtp://alerts%40example.com@mail.example.com:587\"",
        ),
        key("host", "a host name", "\"mail.example.com\""),
        num("port", "587", 1, 65535, "a TCP port"),
        key(
            "security",
            "one of \"starttls\", \"tls\", \"none\"",
            "\"starttls\"",
        ),
        key("username", TEXT, "\"alerts@example.com\""),
        key("password_env", ENV, "\"STORYWATCH_SMTP_PASSWORD\""),
        key("password_file", PATH, "\"/etc/storywatch/smtp-password\""),
        key("password_credential", CREDENTIAL, "\"smtp-password\""),
        key(
            "from",
            "an email address",
            "\"storywatch <alerts@example.com>\"",
        ),
        key("to", "a list of email addresses", "[\"you@example.com\"]"),
        key("subject_prefix", TEXT, "\"[news] \""),
        key("tls_ca_file", PATH, "\"/etc/storywatch/relay-ca.pem\""),
        key(
            "subject_template",
            "a minijinja template",
            "'{{ subject }} [{{ alert.watches | join(\", \") }}]'",
        ),
        key("text_template", "a minijinja template", "'{{ text }}'"),
        key(
            "html_template",
            "a minijinja template",
            "'<p>{{ alert.story.title }}</p>'",
        ),
        key(
            "server",
            "a nats:// or tls:// URL (several separated by commas)",
            "\"nats://nats.example.com:4222\"",
        ),
        key(
            "subject",
            "a NATS subject; {watch}, {feed}, {kind}, {trigger} are filled in",
            "\"storywatch.alerts.{watch}\"",
        ),
        key(
            "auth",
            "one of \"none\", \"token\", \"nkey\", \"creds\"",
            "\"creds\"",
        ),
    ],
};

/// Every section, in the order the README lists them.
pub const SECTIONS: &[&Section] = &[&DAEMON, &RETENTION, &DELIVERY, &FEED, &WATCH, &NOTIFIER];

/// The section whose top-level key is `name`.
pub fn section(name: &str) -> Option<&'static Section> {
    SECTIONS.iter().copied().find(|s| s.name == name)
}

/// A rate (`max_per_story`) within these bounds; a longer window would
/// overflow the arithmetic of send times, and more than this many per
/// window is no limit at all.
pub const RATE_MAX_COUNT: u32 = 1000;
pub const RATE_MIN_PER: Duration = Duration::from_secs(SEC);
pub const RATE_MAX_PER: Duration = Duration::from_secs(7 * DAY);

/// The README's table of ranges (a test keeps README in step): one row per
/// key with a range.
pub fn ranges_table() -> String {
    let mut out = String::from("| key | accepted | why |\n|---|---|---|\n");
    for s in SECTIONS {
        for k in s.keys {
            if let (Some(range), Some(why)) = (k.limit.range_text(), k.limit.why()) {
                out.push_str(&format!(
                    "| `{} {}` | {range} | {why} |\n",
                    s.header, k.name
                ));
            }
        }
    }
    out
}

/// "1m", "250ms", "30d": the way a user writes it.
pub fn duration_text(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let ms = d.as_millis();
    for (unit, size) in [("d", DAY), ("h", HOUR), ("m", MIN), ("s", SEC)] {
        let unit_ms = u128::from(size) * 1000;
        if ms % unit_ms == 0 {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

/// "1KiB", "16GiB", "1000": the way a user writes it.
pub fn size_text(n: u64) -> String {
    for (unit, size) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if n >= size && n % size == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

/// The known name closest to `given` if it is close enough to be a typo
/// (or differs only in case, `-` for `_`, or a plural `s`).
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let g = norm(given);
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let n = norm(k);
        let d = if n == g || n.trim_end_matches('s') == g.trim_end_matches('s') {
            0
        } else {
            strsim::osa_distance(&g, &n)
        };
        // one edit in four characters, at most three
        let allowed = (n.len().max(g.len()) / 4).clamp(1, 3);
        if d <= allowed && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_like_config_values() {
        assert_eq!(duration_text(Duration::from_secs(60)), "1m");
        assert_eq!(duration_text(Duration::from_millis(250)), "250ms");
        assert_eq!(duration_text(Duration::from_secs(30 * DAY)), "30d");
        assert_eq!(duration_text(Duration::ZERO), "0s");
        assert_eq!(size_text(KIB), "1KiB");
        assert_eq!(size_text(16 * GIB), "16GiB");
        assert_eq!(size_text(1000), "1000");
    }

    #[test]
    fn suggestions_catch_typos_not_strangers() {
        let keys = FEED.keys.iter().map(|k| k.name);
        assert_eq!(did_you_mean("intervall", keys.clone()), Some("interval"));
        assert_eq!(did_you_mean("tag", keys.clone()), Some("tags"));
        assert_eq!(did_you_mean("full-text", keys.clone()), Some("full_text"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(
            did_you_mean("startls", ["starttls", "tls", "none"]),
            Some("starttls")
        );
    }

    #[test]
    fn every_limit_contains_its_example() {
        for s in SECTIONS {
            for k in s.keys {
                let ok = match k.limit {
                    Limit::None => true,
                    Limit::Duration { min, max, .. } => {
                        let d = crate::config::units::parse_duration(k.example.trim_matches('"'))
                            .unwrap_or_else(|e| panic!("{}.{}: {e}", s.name, k.name));
                        (min..=max).contains(&d)
                    }
                    Limit::Number { min, max, .. } => {
                        let n: u64 = k.example.parse().unwrap();
                        (min..=max).contains(&n)
                    }
                    Limit::Size { min, max, .. } => {
                        let n =
                            crate::config::units::parse_size(k.example.trim_matches('"')).unwrap();
                        (min..=max).contains(&n)
                    }
                };
                assert!(
                    ok,
                    "{} {}: example {} out of range",
                    s.header, k.name, k.example
                );
            }
        }
    }
}
