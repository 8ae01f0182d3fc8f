//! config.toml: schema, defaults and validation.
//!
//! Loading never half-succeeds: either every feed, watch and notifier is
//! valid, or the user gets every problem at once, each as
//! `FILE:LINE: what is wrong and what was expected`. Unknown keys are errors
//! because a misspelt key silently ignored is a watch that never fires.

pub mod units;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use crate::model::ChangeClass;
use crate::secret::{Secret, SecretSource};
use crate::watch::query::{self, OnRevert, Query, Trigger};
use units::{QuietHours, Rate};

/// Where `storywatch` looks when neither `--config` nor `STORYWATCH_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/storywatch/config.toml";

/// A config that failed to load: one line per problem, each with file and line.
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
    pub feeds: Vec<FeedConfig>,
    pub watches: Vec<WatchConfig>,
    pub notifiers: Vec<NotifierConfig>,
    /// Feed name → position in `feeds`.
    pub feed_index: std::collections::HashMap<String, usize>,
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
    pub listen: Option<SocketAddr>,
    /// Bearer token required by the HTTP endpoint (mandatory off loopback).
    pub api_token_env: Option<String>,
    pub api_token_file: Option<PathBuf>,
    pub api_token_credential: Option<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long a stop may take before in-flight work is abandoned (it stays
    /// in the outbox and is retried on the next start).
    #[serde(deserialize_with = "units::de::duration")]
    pub shutdown_timeout: Duration,
    /// sled page cache; small keeps the daemon's memory small.
    #[serde(deserialize_with = "units::de::size")]
    pub cache_size: u64,
    #[serde(skip)]
    pub api_token: Option<Secret>,
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
            api_token_file: None,
            api_token_credential: None,
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            shutdown_timeout: Duration::from_secs(10),
            cache_size: 16 << 20,
            api_token: None,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    #[serde(deserialize_with = "de_http_url")]
    pub url: Url,
    #[serde(default, deserialize_with = "units::de::opt_duration")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "units::de::opt_duration")]
    pub min_interval: Option<Duration>,
    #[serde(default, deserialize_with = "units::de::opt_duration")]
    pub max_interval: Option<Duration>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Regexes removed from every text before comparing (boilerplate such as
    /// "Updated 5 minutes ago" that would otherwise look like an edit).
    #[serde(default, deserialize_with = "de_regexes")]
    pub ignore: Vec<Regex>,
    #[serde(default)]
    pub baseline: Option<bool>,
    #[serde(default)]
    pub full_text: bool,
    #[serde(default, deserialize_with = "units::de::opt_size")]
    pub max_body: Option<u64>,
    /// Minimum change class for this feed's updates to count at all.
    #[serde(default)]
    pub min_materiality: Option<ChangeClass>,
}

fn de_http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let s = String::deserialize(d)?;
    parse_http_url(&s).map_err(serde::de::Error::custom)
}

fn de_opt_http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    de_http_url(d).map(Some)
}

/// Ignore patterns are matched case-insensitively and size-limited, so a
/// pattern cannot make every poll slow.
fn de_regexes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Regex>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    patterns
        .iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "ignore pattern {p:?} is not a valid regex: {e}"
                    ))
                })
        })
        .collect()
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
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub name: String,
    /// The query language (see README); or the list form below.
    #[serde(default, rename = "query")]
    pub query_text: Option<String>,
    #[serde(default)]
    pub any: Vec<String>,
    #[serde(default)]
    pub all: Vec<String>,
    #[serde(default)]
    pub none: Vec<String>,
    #[serde(default = "default_triggers")]
    pub on: Vec<Trigger>,
    #[serde(default = "default_min_materiality")]
    pub min_materiality: ChangeClass,
    /// Updates that only revert a field to an earlier value: alert (the
    /// default, labelled as a revert) or ignore.
    #[serde(default)]
    pub on_revert: OnRevert,
    /// Only stories from these feeds (by name); empty = all feeds.
    #[serde(default)]
    pub feeds: Vec<String>,
    /// Only stories from feeds carrying one of these tags; empty = all.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Notifier names; empty = every notifier.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The compiled query; always `Some` once the config is validated.
    #[serde(skip)]
    pub query: Option<Query>,
}

fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::New, Trigger::Update, Trigger::Mention]
}

fn default_min_materiality() -> ChangeClass {
    ChangeClass::Minor
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierType {
    Stdout,
    Webhook,
    Email,
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
        }
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
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<NotifierType>,
    // common
    #[serde(default, deserialize_with = "units::de::opt_duration")]
    pub digest: Option<Duration>,
    #[serde(default, deserialize_with = "units::de::opt_quiet_hours")]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default, deserialize_with = "units::de::opt_rate")]
    pub max_per_story: Option<Rate>,
    // webhook
    #[serde(default, deserialize_with = "de_opt_http_url")]
    pub url: Option<Url>,
    pub preset: Option<WebhookPreset>,
    pub headers: Option<BTreeMap<String, String>>,
    pub template: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub secret_credential: Option<String>,
    #[serde(default, deserialize_with = "units::de::opt_duration")]
    pub timeout: Option<Duration>,
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
}

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub name: String,
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
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Url,
    pub preset: WebhookPreset,
    pub headers: BTreeMap<String, String>,
    pub template: Option<String>,
    pub secret: Option<Secret>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub subject_prefix: String,
    /// Extra CA certificate (PEM) to trust, for a relay with a private CA.
    pub tls_ca_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    retention: RetentionConfig,
    #[serde(default)]
    delivery: DeliveryConfig,
    #[serde(default)]
    feed: Vec<Spanned<FeedConfig>>,
    #[serde(default)]
    watch: Vec<Spanned<WatchConfig>>,
    #[serde(default)]
    notifier: Vec<Spanned<RawNotifier>>,
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
        let ctx = Ctx {
            file: path.display().to_string(),
            text,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![ctx.at(e.span(), e.message().trim_end())],
        })?;
        let mut problems = Vec::new();
        let config = validate(&ctx, path, raw, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
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

/// Turns byte offsets into `file:line:` prefixes.
struct Ctx<'a> {
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn at(&self, span: Option<Range<usize>>, message: &str) -> String {
        match span {
            Some(s) => format!("{}:{}: {message}", self.file, self.line(s.start)),
            None => format!("{}: {message}", self.file),
        }
    }
}

fn validate(ctx: &Ctx, path: &Path, raw: RawConfig, problems: &mut Vec<String>) -> Config {
    let mut daemon = raw.daemon;
    let token_source = SecretSource {
        env: daemon.api_token_env.clone(),
        file: daemon.api_token_file.clone(),
        credential: daemon.api_token_credential.clone(),
    };
    match token_source.resolve("api_token") {
        Ok(t) => daemon.api_token = t,
        Err(e) => problems.push(ctx.at(None, &format!("[daemon]: {e}"))),
    }
    if let Some(addr) = daemon.listen {
        if !addr.ip().is_loopback() && daemon.api_token.is_none() {
            problems.push(ctx.at(
                None,
                &format!("[daemon]: listen = \"{addr}\" is not a loopback address, so the HTTP endpoint needs a token: set api_token_env, api_token_file or api_token_credential"),
            ));
        }
    }
    if daemon.concurrency == 0 || daemon.per_host_concurrency == 0 {
        problems.push(ctx.at(
            None,
            "[daemon]: concurrency and per_host_concurrency must be at least 1",
        ));
    }
    if daemon.min_interval > daemon.max_interval {
        problems.push(ctx.at(
            None,
            "[daemon]: min_interval must not be longer than max_interval",
        ));
    }

    let notifiers = validate_notifiers(ctx, raw.notifier, problems);
    let notifier_names: HashSet<&str> = notifiers.iter().map(|n| n.name.as_str()).collect();
    for name in &daemon.ops_notify {
        if !notifier_names.contains(name.as_str()) {
            problems.push(ctx.at(
                None,
                &format!("[daemon]: ops_notify: notifier {name:?} is not defined (define it in a [[notifier]] table)"),
            ));
        }
    }

    if raw.feed.is_empty() {
        problems.push(ctx.at(
            None,
            "no feeds: add at least one [[feed]] table with name and url",
        ));
    }
    let feeds = validate_feeds(ctx, raw.feed, problems);
    let watches = validate_watches(ctx, raw.watch, &feeds, &notifier_names, problems);

    Config {
        path: path.to_path_buf(),
        daemon,
        retention: raw.retention,
        delivery: raw.delivery,
        feed_index: feeds
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect(),
        feeds,
        watches,
        notifiers,
    }
}

/// Checks that `name` is usable and not taken; `kind` is "feed", "watch"...
fn check_name(
    ctx: &Ctx,
    span: &Range<usize>,
    kind: &str,
    name: &str,
    seen: &mut HashSet<String>,
    problems: &mut Vec<String>,
) {
    if name.trim().is_empty() {
        problems.push(ctx.at(
            Some(span.clone()),
            &format!("{kind}: name must not be empty"),
        ));
    } else if !seen.insert(name.to_string()) {
        problems.push(ctx.at(
            Some(span.clone()),
            &format!("{kind} {name:?}: duplicate name (each {kind} needs its own name)"),
        ));
    }
}

/// A URL in the config that cannot be used, and what would do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("invalid URL {text:?} ({source}): expected an http(s) URL like \"https://example.com/feed.xml\"")]
    Invalid {
        text: String,
        #[source]
        source: url::ParseError,
    },
    #[error("URL {0:?} has no host")]
    NoHost(String),
    #[error("URL {text:?} uses the {scheme}: scheme; only http:// and https:// URLs are allowed")]
    Scheme { text: String, scheme: String },
    #[error(
        "smtp = {text:?} is not a URL ({source}): expected smtp://user@host:587 or smtps://host"
    )]
    SmtpInvalid {
        text: String,
        #[source]
        source: url::ParseError,
    },
    #[error("smtp = {text:?}: scheme {scheme}: is not one of smtp:, smtps:, smtp+plain:")]
    SmtpScheme { text: String, scheme: String },
    #[error("smtp URL contains a password: remove it and use password_env, password_file or password_credential")]
    SmtpPassword,
    #[error("smtp = {0:?} has no host")]
    SmtpNoHost(String),
}

/// Only http and https: a config must never make the daemon read local files
/// (`file://`) or speak other protocols on a user's behalf.
pub fn parse_http_url(text: &str) -> Result<Url, UrlError> {
    let url = Url::parse(text.trim()).map_err(|source| UrlError::Invalid {
        text: text.to_string(),
        source,
    })?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" | "https" => Err(UrlError::NoHost(text.to_string())),
        other => Err(UrlError::Scheme {
            text: text.to_string(),
            scheme: other.to_string(),
        }),
    }
}

fn validate_feeds(
    ctx: &Ctx,
    raw: Vec<Spanned<FeedConfig>>,
    problems: &mut Vec<String>,
) -> Vec<FeedConfig> {
    let mut seen = HashSet::new();
    let mut feeds = Vec::with_capacity(raw.len());
    for spanned in raw {
        let span = spanned.span();
        let feed = spanned.into_inner();
        check_name(ctx, &span, "feed", &feed.name, &mut seen, problems);
        let fastest = feed.interval.into_iter().chain(feed.min_interval).min();
        if fastest.is_some_and(|i| i < Duration::from_secs(60)) && !is_local(&feed.url) {
            problems.push(ctx.at(
                Some(span.clone()),
                &format!(
                    "feed {:?}: intervals under 1m are only allowed for feeds on this machine or a private network; poll public feeds at most once a minute",
                    feed.name
                ),
            ));
        }
        if fastest.is_some_and(|i| i < Duration::from_secs(1)) {
            problems.push(ctx.at(
                Some(span.clone()),
                &format!("feed {:?}: interval must be at least 1s", feed.name),
            ));
        }
        feeds.push(feed);
    }
    feeds
}

/// A feed on loopback or a private network (tests, an intranet), where
/// fast polling hurts nobody.
fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".local")
                || d.ends_with(".internal")
        }
        None => false,
    }
}

fn validate_watches(
    ctx: &Ctx,
    raw: Vec<Spanned<WatchConfig>>,
    feeds: &[FeedConfig],
    notifiers: &HashSet<&str>,
    problems: &mut Vec<String>,
) -> Vec<WatchConfig> {
    let feed_names: HashSet<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
    let mut seen = HashSet::new();
    let mut watches = Vec::with_capacity(raw.len());
    for spanned in raw {
        let span = spanned.span();
        let mut w = spanned.into_inner();
        check_name(ctx, &span, "watch", &w.name, &mut seen, problems);
        let mut bad = |msg: String| {
            problems.push(ctx.at(Some(span.clone()), &format!("watch {:?}: {msg}", w.name)))
        };
        let has_lists = !(w.any.is_empty() && w.all.is_empty() && w.none.is_empty());
        let parsed = match (&w.query_text, has_lists) {
            (Some(_), true) => Err("use either query or any/all/none, not both".to_string()),
            (Some(q), false) => query::parse(q).map_err(|e| e.to_string()),
            (None, true) => query::from_lists(&w.any, &w.all, &w.none).map_err(|e| e.message),
            (None, false) => Err(
                "needs a query (query = '\"north korea\" AND troops') or any/all/none lists"
                    .to_string(),
            ),
        };
        match parsed {
            Ok(q) => w.query = Some(q),
            Err(e) => bad(e),
        }
        if w.on.is_empty() {
            bad(
                "on = [] never fires: use some of \"new\", \"update\", \"mention\", \"removed\""
                    .into(),
            );
        }
        for f in &w.feeds {
            if !feed_names.contains(f.as_str()) {
                bad(format!("feed {f:?} is not defined"));
            }
        }
        for n in &w.notify {
            if !notifiers.contains(n.as_str()) {
                bad(format!("notifier {n:?} is not defined"));
            }
        }
        watches.push(w);
    }
    watches
}

fn validate_notifiers(
    ctx: &Ctx,
    raw: Vec<Spanned<RawNotifier>>,
    problems: &mut Vec<String>,
) -> Vec<NotifierConfig> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for spanned in raw {
        let span = spanned.span();
        let n = spanned.into_inner();
        check_name(ctx, &span, "notifier", &n.name, &mut seen, problems);
        let mut errs = Vec::new();
        let kind = match n.kind {
            None => {
                errs.push("needs type = \"stdout\", \"webhook\" or \"email\"".to_string());
                None
            }
            Some(t) => notifier_kind(t, &n, &mut errs),
        };
        for e in errs {
            problems.push(ctx.at(Some(span.clone()), &format!("notifier {:?}: {e}", n.name)));
        }
        if let Some(kind) = kind {
            out.push(NotifierConfig {
                name: n.name,
                digest: n.digest,
                quiet_hours: n.quiet_hours,
                max_per_story: n.max_per_story,
                kind,
            });
        }
    }
    out
}

/// Keys that only make sense for one notifier type.
fn foreign_keys(n: &RawNotifier, t: NotifierType) -> Vec<&'static str> {
    let webhook = [
        ("url", n.url.is_some()),
        ("preset", n.preset.is_some()),
        ("headers", n.headers.is_some()),
        ("template", n.template.is_some()),
        ("secret_env", n.secret_env.is_some()),
        ("secret_file", n.secret_file.is_some()),
        ("secret_credential", n.secret_credential.is_some()),
        ("timeout", n.timeout.is_some()),
    ];
    let email = [
        ("smtp", n.smtp.is_some()),
        ("host", n.host.is_some()),
        ("port", n.port.is_some()),
        ("security", n.security.is_some()),
        ("username", n.username.is_some()),
        ("password_env", n.password_env.is_some()),
        ("password_file", n.password_file.is_some()),
        ("password_credential", n.password_credential.is_some()),
        ("from", n.from.is_some()),
        ("to", n.to.is_some()),
        ("subject_prefix", n.subject_prefix.is_some()),
        ("tls_ca_file", n.tls_ca_file.is_some()),
    ];
    let mut foreign = Vec::new();
    if t != NotifierType::Webhook {
        foreign.extend(webhook.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    }
    if t != NotifierType::Email {
        foreign.extend(email.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    }
    foreign
}

fn notifier_kind(t: NotifierType, n: &RawNotifier, errs: &mut Vec<String>) -> Option<NotifierKind> {
    let type_name = match t {
        NotifierType::Stdout => "stdout",
        NotifierType::Webhook => "webhook",
        NotifierType::Email => "email",
    };
    for key in foreign_keys(n, t) {
        errs.push(format!(
            "key `{key}` does not apply to type = \"{type_name}\""
        ));
    }
    match t {
        NotifierType::Stdout => Some(NotifierKind::Stdout),
        NotifierType::Webhook => webhook_config(n, errs).map(NotifierKind::Webhook),
        NotifierType::Email => email_config(n, errs).map(NotifierKind::Email),
    }
}

fn webhook_config(n: &RawNotifier, errs: &mut Vec<String>) -> Option<WebhookConfig> {
    let url = n.url.clone().or_else(|| {
        errs.push("a webhook needs url = \"https://…\"".into());
        None
    });
    let secret = SecretSource {
        env: n.secret_env.clone(),
        file: n.secret_file.clone(),
        credential: n.secret_credential.clone(),
    }
    .resolve("secret")
    .map_err(|e| errs.push(e.to_string()))
    .ok()
    .flatten();
    if let Some(t) = &n.template {
        if let Err(e) = crate::notify::template::compile(t) {
            errs.push(format!("template does not compile: {e}"));
        }
    }
    Some(WebhookConfig {
        url: url?,
        preset: n.preset.unwrap_or_default(),
        headers: n.headers.clone().unwrap_or_default(),
        template: n.template.clone(),
        secret,
        timeout: n.timeout.unwrap_or(Duration::from_secs(15)),
    })
}

fn email_config(n: &RawNotifier, errs: &mut Vec<String>) -> Option<EmailConfig> {
    let mut host = n.host.clone();
    let mut port = n.port;
    let mut security = n.security;
    let mut username = n.username.clone();
    if let Some(smtp) = &n.smtp {
        match parse_smtp_url(smtp) {
            Ok(u) => {
                host = host.or(Some(u.host));
                port = port.or(Some(u.port));
                security = security.or(Some(u.security));
                username = username.or(u.username);
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    let security = security.unwrap_or(SmtpSecurity::Starttls);
    let port = port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::None => 25,
    });
    let host = host.or_else(|| {
        errs.push(
            "an email notifier needs smtp = \"smtp://user@mail.example.com:587\" or host = \"…\""
                .into(),
        );
        None
    });
    let password = SecretSource {
        env: n.password_env.clone(),
        file: n.password_file.clone(),
        credential: n.password_credential.clone(),
    }
    .resolve("password")
    .map_err(|e| errs.push(e.to_string()))
    .ok()
    .flatten();
    if password.is_some() && username.is_none() {
        errs.push(
            "a password is set but no username (username = \"…\" or smtp://user@host)".into(),
        );
    }
    let from = match n
        .from
        .as_deref()
        .map(str::parse::<lettre::message::Mailbox>)
    {
        None => {
            errs.push("an email notifier needs from = \"storywatch <alerts@example.com>\"".into());
            None
        }
        Some(Err(e)) => {
            errs.push(format!(
                "from = {:?} is not an email address: {e}",
                n.from.as_deref().unwrap_or("")
            ));
            None
        }
        Some(Ok(m)) => Some(m),
    };
    let mut to = Vec::new();
    for addr in n.to.iter().flatten() {
        match addr.parse::<lettre::message::Mailbox>() {
            Ok(m) => to.push(m),
            Err(e) => errs.push(format!("to: {addr:?} is not an email address: {e}")),
        }
    }
    if n.to.as_ref().is_none_or(|t| t.is_empty()) {
        errs.push("an email notifier needs to = [\"you@example.com\"]".into());
    }
    Some(EmailConfig {
        host: host?,
        port,
        security,
        username,
        password,
        from: from?,
        to,
        subject_prefix: n.subject_prefix.clone().unwrap_or_default(),
        tls_ca_file: n.tls_ca_file.clone(),
    })
}

#[derive(Debug)]
struct SmtpUrl {
    host: String,
    port: u16,
    security: SmtpSecurity,
    username: Option<String>,
}

/// `smtp://user@host:587` (STARTTLS), `smtps://host` (implicit TLS),
/// `smtp+plain://host:25` (no TLS). A password in the URL is refused: it
/// would sit in a config file that is often world-readable.
fn parse_smtp_url(text: &str) -> Result<SmtpUrl, UrlError> {
    let url = Url::parse(text).map_err(|source| UrlError::SmtpInvalid {
        text: text.to_string(),
        source,
    })?;
    let security = match url.scheme() {
        "smtp" => SmtpSecurity::Starttls,
        "smtps" => SmtpSecurity::Tls,
        "smtp+plain" => SmtpSecurity::None,
        s => {
            return Err(UrlError::SmtpScheme {
                text: text.to_string(),
                scheme: s.to_string(),
            })
        }
    };
    if url.password().is_some() {
        return Err(UrlError::SmtpPassword);
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlError::SmtpNoHost(text.to_string()))?;
    let port = url.port().unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::None => 25,
    });
    let username = (!url.username().is_empty()).then(|| {
        percent_encoding::percent_decode_str(url.username())
            .decode_utf8_lossy()
            .into_owned()
    });
    Ok(SmtpUrl {
        host: host.trim_matches(['[', ']']).to_string(),
        port,
        security,
        username,
    })
}

#[cfg(test)]
mod tests;
