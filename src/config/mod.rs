//! config.toml: the schema's types, defaults, and loading.
//!
//! Loading never half-succeeds: either every feed, watch and notifier is
//! valid, or the user gets every problem at once, each as
//! `FILE:LINE: where: key = value: what is wrong; expected …, e.g. …`.
//! Unknown keys are errors because a misspelt key silently ignored is a
//! watch that never fires. Secrets are not read here: only the commands
//! that send ([`Config::resolve_secrets`]) need them, so `check`, `status`
//! or `feeds` work where the secrets are not available.
//!
//! - [`schema`]: every key, what it takes, an example, its range;
//! - `document`: the TOML read key by key, problems collected;
//! - `validate` and `notifiers`: the meaning (names, references,
//!   politeness floors, notifier settings) and the warnings;
//! - [`units`]: durations, sizes, rates, quiet hours, addresses;
//! - [`secrets`]: where each secret comes from, resolved on demand.

mod document;
pub mod feed_access;
mod notifiers;
pub mod schema;
pub mod secrets;
pub mod units;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use url::Url;

use crate::model::ChangeClass;
use crate::secret::SecretSource;
use crate::shard::Shard;
use crate::watch::query::{OnRevert, Query, Trigger};
use units::{QuietHours, Rate};

pub use feed_access::{AuthKind, FeedAuth};
pub use notifiers::{reserved_header, RESERVED_HEADERS};
pub use validate::{is_local, parse_http_url, UrlError};

/// The environment variable that overrides `[daemon] shard` (a StatefulSet
/// sets it from the pod's ordinal, a systemd template unit from `%i`).
pub const SHARD_ENV: &str = "STORYWATCH_SHARD";

/// Where `storywatch` looks when neither `--config` nor `STORYWATCH_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/storywatch/config.toml";

/// A config that failed to load: one line per problem, each with file and
/// line, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub daemon: DaemonConfig,
    pub retention: RetentionConfig,
    pub delivery: DeliveryConfig,
    /// The feeds this instance polls: all of them, or with `[daemon] shard`
    /// those of its shard.
    pub feeds: Vec<FeedConfig>,
    /// The feeds of the file that other shards poll (empty unsharded):
    /// kept so that `export-opml` and `import-opml` see the whole list.
    pub other_shards: Vec<FeedConfig>,
    pub watches: Vec<WatchConfig>,
    pub notifiers: Vec<NotifierConfig>,
    /// Feed name → position in `feeds`.
    pub feed_index: std::collections::HashMap<String, usize>,
    /// Things that are allowed but probably not meant (no watches, a
    /// watch nobody receives…), as `FILE:LINE: …` lines for `check`.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald under systemd (when `JOURNAL_STREAM` is set), text otherwise.
    Auto,
    Text,
    Json,
    Journald,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The sled database and nothing else lives here.
    pub state_dir: PathBuf,
    #[serde(deserialize_with = "units::de::duration")]
    pub interval: Duration,
    /// Adaptive scheduling never polls a feed more often than this...
    #[serde(deserialize_with = "units::de::duration")]
    pub min_interval: Duration,
    /// ...nor less often than this, and failure backoff stops growing here.
    #[serde(deserialize_with = "units::de::duration")]
    pub max_interval: Duration,
    /// Feeds fetched at the same time, over all hosts.
    pub concurrency: usize,
    /// Feeds fetched at the same time from one host.
    pub per_host_concurrency: usize,
    /// Pause between two requests to the same host.
    #[serde(deserialize_with = "units::de::duration")]
    pub per_host_delay: Duration,
    pub user_agent: String,
    #[serde(deserialize_with = "units::de::duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "units::de::duration")]
    pub connect_timeout: Duration,
    /// Largest feed body accepted (after decompression).
    #[serde(deserialize_with = "units::de::size")]
    pub max_body: u64,
    /// Honour `Cache-Control`, `Expires`, `<ttl>` and `sy:updatePeriod` as
    /// lower bounds on the poll interval.
    pub respect_feed_hints: bool,
    /// First poll of a feed records what is there without alerting.
    pub baseline: bool,
    /// A feed failing for this long raises one operator alert.
    #[serde(deserialize_with = "units::de::duration")]
    pub alert_after: Duration,
    /// Notifiers that receive operator alerts (feed failing, gone, recovered).
    pub ops_notify: Vec<String>,
    /// Optional HTTP endpoint (health, metrics, read-only API).
    #[serde(deserialize_with = "units::de::opt_listen")]
    pub listen: Option<SocketAddr>,
    /// Bearer token required by the HTTP endpoint (mandatory off loopback).
    pub api_token_env: Option<String>,
    pub api_token_file: Option<PathBuf>,
    pub api_token_credential: Option<String>,
    /// Where readers reach the dashboard (`https://news.example.org/sw`):
    /// alerts link to `{public_url}/stories/{id}` ("see all versions").
    pub public_url: Option<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long a stop may take before in-flight work is abandoned (it stays
    /// in the outbox and is retried on the next start).
    #[serde(deserialize_with = "units::de::duration")]
    pub shutdown_timeout: Duration,
    /// sled page cache; small keeps the daemon's memory small. 8 MiB: a
    /// first poll of 1,000 feeds peaks 9 MB lower than with 16 MiB, and
    /// 10,000 feeds poll as fast (BENCHMARKS.md, issue 18).
    #[serde(deserialize_with = "units::de::size")]
    pub cache_size: u64,
    /// `"k/N"`: this instance polls only shard k of N (see [`crate::shard`]);
    /// `STORYWATCH_SHARD` overrides it.
    #[serde(deserialize_with = "units::de::opt_shard")]
    pub shard: Option<Shard>,
    /// Where the API token comes from (`api_token_env`/`_file`/`_credential`);
    /// read only by the daemon ([`Config::resolve_secrets`]).
    #[serde(skip)]
    pub api_token: SecretSource,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: default_state_dir(),
            interval: Duration::from_secs(600),
            min_interval: Duration::from_secs(120),
            max_interval: Duration::from_secs(6 * 3600),
            concurrency: 32,
            per_host_concurrency: 2,
            per_host_delay: Duration::from_millis(250),
            user_agent: concat!(
                "storywatch/",
                env!("CARGO_PKG_VERSION"),
                " (+https://github.com/storywatch/storywatch)"
            )
            .to_string(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body: 10 << 20,
            respect_feed_hints: true,
            baseline: true,
            alert_after: Duration::from_secs(24 * 3600),
            ops_notify: Vec::new(),
            listen: None,
            api_token_env: None,
            public_url: None,
            api_token_file: None,
            api_token_credential: None,
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            shutdown_timeout: Duration::from_secs(10),
            cache_size: 8 << 20,
            shard: None,
            api_token: SecretSource::default(),
        }
    }
}

/// `$STATE_DIRECTORY` is what systemd's `StateDirectory=` sets.
fn default_state_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/storywatch"))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Versions kept per story (the oldest are pruned; the first is kept).
    pub max_versions: u32,
    /// Stories not seen in any feed for this long are forgotten.
    #[serde(deserialize_with = "units::de::duration")]
    pub max_age: Duration,
    /// Delivered and dead alerts are kept this long for `storywatch outbox`.
    #[serde(deserialize_with = "units::de::duration")]
    pub keep_alerts: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_versions: 100,
            max_age: Duration::from_secs(90 * 24 * 3600),
            keep_alerts: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Retry policy for alert delivery.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    #[serde(deserialize_with = "units::de::duration")]
    pub retry_initial: Duration,
    #[serde(deserialize_with = "units::de::duration")]
    pub retry_max: Duration,
    /// After this long without success an alert is dead (kept, not retried).
    #[serde(deserialize_with = "units::de::duration")]
    pub give_up_after: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_initial: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub url: Url,
    pub interval: Option<Duration>,
    pub min_interval: Option<Duration>,
    pub max_interval: Option<Duration>,
    pub tags: Vec<String>,
    /// Regexes removed from every text before comparing (boilerplate such as
    /// "Updated 5 minutes ago" that would otherwise look like an edit).
    pub ignore: Vec<Regex>,
    pub baseline: Option<bool>,
    pub full_text: bool,
    pub max_body: Option<u64>,
    /// Minimum change class for this feed's updates to count at all.
    pub min_materiality: Option<ChangeClass>,
    /// Extra request headers (not secret: they are in config.toml).
    pub headers: BTreeMap<String, String>,
    /// The credential of a private or paywalled feed.
    pub auth: Option<FeedAuth>,
}

impl FeedConfig {
    pub fn interval(&self, d: &DaemonConfig) -> Duration {
        self.interval.unwrap_or(d.interval)
    }
    pub fn min_interval(&self, d: &DaemonConfig) -> Duration {
        self.min_interval
            .unwrap_or(d.min_interval)
            .min(self.interval(d))
    }
    pub fn max_interval(&self, d: &DaemonConfig) -> Duration {
        self.max_interval
            .unwrap_or(d.max_interval)
            .max(self.interval(d))
    }
    pub fn baseline(&self, d: &DaemonConfig) -> bool {
        self.baseline.unwrap_or(d.baseline)
    }
    pub fn max_body(&self, d: &DaemonConfig) -> u64 {
        self.max_body.unwrap_or(d.max_body)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    pub name: String,
    /// The query language (see README); or the list form below.
    #[serde(rename = "query")]
    pub query_text: Option<String>,
    pub any: Vec<String>,
    pub all: Vec<String>,
    pub none: Vec<String>,
    pub on: Vec<Trigger>,
    pub min_materiality: ChangeClass,
    /// Updates that only revert a field to an earlier value: alert (the
    /// default, labelled as a revert) or ignore.
    pub on_revert: OnRevert,
    /// Only stories from these feeds (by name); empty = all feeds.
    pub feeds: Vec<String>,
    /// Only stories from feeds carrying one of these tags; empty = all.
    pub tags: Vec<String>,
    /// Notifier names; empty = every notifier.
    pub notify: Vec<String>,
    /// The compiled query; always `Some` once the config is validated.
    #[serde(skip)]
    pub query: Option<Query>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            name: String::new(),
            query_text: None,
            any: Vec::new(),
            all: Vec::new(),
            none: Vec::new(),
            on: vec![Trigger::New, Trigger::Update, Trigger::Mention],
            min_materiality: ChangeClass::Minor,
            on_revert: OnRevert::default(),
            feeds: Vec::new(),
            tags: Vec::new(),
            notify: Vec::new(),
            query: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierType {
    Stdout,
    Webhook,
    Email,
    Nats,
}

/// What a NATS notifier's secret (`secret_env`/`_file`/`_credential`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NatsAuth {
    /// No secret: an open server (or one that trusts the TLS client).
    #[default]
    None,
    /// A token (`authorization { token: … }` on the server).
    Token,
    /// An NKEY seed (`SU…`).
    Nkey,
    /// A `.creds` file's content: a user JWT and its NKEY seed.
    Creds,
}

impl NatsAuth {
    /// The name as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            NatsAuth::None => "none",
            NatsAuth::Token => "token",
            NatsAuth::Nkey => "nkey",
            NatsAuth::Creds => "creds",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookPreset {
    /// storywatch's own versioned JSON (see README).
    #[default]
    Json,
    Slack,
    Discord,
    Ntfy,
    Mattermost,
    Teams,
    /// Telegram bot API `sendMessage`, HTML parse mode.
    Telegram,
    /// Matrix client-server API: an `m.room.message` with a formatted body.
    Matrix,
    /// Pushover `/1/messages.json`.
    Pushover,
    /// Gotify `/message`.
    Gotify,
    /// A Google Chat space's incoming webhook.
    Googlechat,
}

impl WebhookPreset {
    /// The name as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookPreset::Json => "json",
            WebhookPreset::Slack => "slack",
            WebhookPreset::Discord => "discord",
            WebhookPreset::Ntfy => "ntfy",
            WebhookPreset::Mattermost => "mattermost",
            WebhookPreset::Teams => "teams",
            WebhookPreset::Telegram => "telegram",
            WebhookPreset::Matrix => "matrix",
            WebhookPreset::Pushover => "pushover",
            WebhookPreset::Gotify => "gotify",
            WebhookPreset::Googlechat => "googlechat",
        }
    }

    /// The service's public API, for presets whose `url` may be left out.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            WebhookPreset::Telegram => Some("https://api.telegram.org"),
            WebhookPreset::Pushover => Some("https://api.pushover.net"),
            _ => None,
        }
    }

    /// Whether the preset authenticates with `token_*` (a bot token, an
    /// access token, an application token).
    pub fn needs_token(self) -> bool {
        matches!(
            self,
            WebhookPreset::Telegram
                | WebhookPreset::Matrix
                | WebhookPreset::Pushover
                | WebhookPreset::Gotify
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Upgrade a plain connection with STARTTLS (port 587); refuses to send
    /// if the server does not offer it.
    Starttls,
    /// Implicit TLS from the first byte (port 465, `smtps://`).
    Tls,
    /// No encryption at all: only for a relay on localhost, and only when
    /// explicitly asked for.
    None,
}

impl SmtpSecurity {
    /// The name as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }
}

/// One notifier as written in config.toml. It is a single flat table so that
/// a key that belongs to another type gets a precise error.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotifier {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<NotifierType>,
    // common
    #[serde(deserialize_with = "units::de::opt_duration")]
    pub digest: Option<Duration>,
    #[serde(deserialize_with = "units::de::opt_quiet_hours")]
    pub quiet_hours: Option<QuietHours>,
    #[serde(deserialize_with = "units::de::opt_rate")]
    pub max_per_story: Option<Rate>,
    // webhook
    #[serde(deserialize_with = "validate::de_opt_http_url")]
    pub url: Option<Url>,
    pub preset: Option<WebhookPreset>,
    pub headers: Option<BTreeMap<String, String>>,
    pub template: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub secret_credential: Option<String>,
    #[serde(deserialize_with = "units::de::opt_duration")]
    pub timeout: Option<Duration>,
    // chat presets
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_credential: Option<String>,
    pub chat_id: Option<String>,
    pub room: Option<String>,
    pub user: Option<String>,
    pub priority: Option<i64>,
    // email
    pub smtp: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<SmtpSecurity>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_credential: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub subject_prefix: Option<String>,
    pub tls_ca_file: Option<PathBuf>,
    pub subject_template: Option<String>,
    pub text_template: Option<String>,
    pub html_template: Option<String>,
    // nats
    pub server: Option<String>,
    pub subject: Option<String>,
    pub auth: Option<NatsAuth>,
}

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub name: String,
    /// The line of its `[[notifier]]` table, for messages.
    pub line: usize,
    pub digest: Option<Duration>,
    pub quiet_hours: Option<QuietHours>,
    pub max_per_story: Option<Rate>,
    pub kind: NotifierKind,
}

#[derive(Debug, Clone)]
pub enum NotifierKind {
    Stdout,
    Webhook(WebhookConfig),
    Email(EmailConfig),
    Nats(NatsConfig),
}

/// A NATS JetStream notifier: each alert is published with
/// `Nats-Msg-Id` = its idempotency key and counts as delivered once the
/// stream acknowledged it.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `nats://host:4222` or `tls://…`, several separated by commas.
    pub server: String,
    /// The subject template (see `notify::subject`).
    pub subject: String,
    pub auth: NatsAuth,
    /// The token, NKEY seed or creds per `auth`; resolved only by commands
    /// that send.
    pub secret: SecretSource,
    /// Extra CA certificate (PEM) to trust; setting it requires TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// Connecting and each publish acknowledgement must finish within it.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Url,
    pub preset: WebhookPreset,
    pub headers: BTreeMap<String, String>,
    pub template: Option<String>,
    /// Signing key; resolved only by commands that send.
    pub secret: SecretSource,
    pub timeout: Duration,
    /// The chat preset's token (Telegram bot token, Matrix access token,
    /// Pushover or Gotify application token); resolved only by commands
    /// that send.
    pub token: SecretSource,
    /// Telegram: the chat to post to.
    pub chat_id: Option<String>,
    /// Matrix: the room id (`!abc:example.org`).
    pub room: Option<String>,
    /// Pushover: the user or group key.
    pub user: Option<String>,
    /// Gotify: the message priority (0 to 10).
    pub priority: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// Resolved only by commands that send.
    pub password: SecretSource,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub subject_prefix: String,
    /// Extra CA certificate (PEM) to trust, for a relay with a private CA.
    pub tls_ca_file: Option<PathBuf>,
    /// minijinja templates replacing the subject, text part and HTML part.
    pub subject_template: Option<String>,
    pub text_template: Option<String>,
    pub html_template: Option<String>,
}

impl EmailConfig {
    /// The templates given, by part name (see `notify::template`).
    pub fn templates(&self) -> Vec<(&'static str, &str)> {
        [
            ("subject", &self.subject_template),
            ("text", &self.text_template),
            ("html", &self.html_template),
        ]
        .into_iter()
        .filter_map(|(part, t)| t.as_deref().map(|t| (part, t)))
        .collect()
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!(
                "{}: cannot read config: {e} (pass --config PATH or set STORYWATCH_CONFIG)",
                path.display()
            )],
        })?;
        Config::from_toml(path, &text)
    }

    /// Validates config text; `path` is only used in messages.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let source = document::Source::new(path.display().to_string(), text);
        let mut problems = document::Problems::default();
        let mut warnings = document::Problems::default();
        let mut config = validate::config(&source, path, &mut problems, &mut warnings);
        if problems.is_empty() {
            config.warnings = warnings.render(&source.file);
            Ok(config)
        } else {
            Err(ConfigError {
                problems: problems.render(&source.file),
            })
        }
    }

    /// With `[daemon] shard`: "shard 1/3 polls 34 of the 100 feeds in
    /// config.toml; the other shards poll the rest" (for `check` and `feeds`).
    pub fn shard_summary(&self) -> Option<String> {
        self.daemon.shard.map(|shard| {
            format!(
                "shard {shard} polls {} of the {} feeds in {}; the other shards poll the rest",
                self.feeds.len(),
                self.feeds.len() + self.other_shards.len(),
                self.path.display()
            )
        })
    }

    /// Every feed of the file, this shard's first (all of them when the
    /// config is not sharded).
    pub fn all_feeds(&self) -> impl Iterator<Item = &FeedConfig> {
        self.feeds.iter().chain(&self.other_shards)
    }

    /// The names of the feeds this instance polls (this shard's).
    pub fn feed_names(&self) -> std::collections::HashSet<&str> {
        self.feeds.iter().map(|f| f.name.as_str()).collect()
    }

    /// The feed called `name`. Every poll asks, so with 10,000 feeds this
    /// is an index lookup (the linear scan is the fallback for a config
    /// whose feed list was edited in code after validation).
    pub fn feed(&self, name: &str) -> Option<&FeedConfig> {
        self.feed_index
            .get(name)
            .and_then(|i| self.feeds.get(*i))
            .filter(|f| f.name == name)
            .or_else(|| self.feeds.iter().find(|f| f.name == name))
    }
}

#[cfg(test)]
mod tests;
