//! What config.toml means, checked as a whole: the sections, names and
//! the references between them (a watch's feeds and notifiers,
//! `ops_notify`), the politeness floors that depend on where a feed lives,
//! the settings that must agree with each other, and the warnings for
//! configs that are valid but probably not what was meant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::de::DeValue;
use url::Url;

use super::document::{self, KeyLines, Problems, Read, Source};
use super::feed_access::{self, AuthKind};
use super::schema::{self, Section};
use super::{
    notifiers, units, Config, DaemonConfig, DeliveryConfig, FeedConfig, NotifierConfig,
    RetentionConfig, WatchConfig,
};
// ChangeClass through the parent's one sanctioned import (see tests/it/layers.rs)
use super::ChangeClass;
use crate::secret::SecretSource;
use crate::watch::query;

/// A `[[feed]]` as written; every key optional so that each missing one
/// gets its own message.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFeed {
    name: Option<String>,
    #[serde(deserialize_with = "de_opt_http_url")]
    url: Option<Url>,
    #[serde(deserialize_with = "units::de::opt_duration")]
    interval: Option<Duration>,
    #[serde(deserialize_with = "units::de::opt_duration")]
    min_interval: Option<Duration>,
    #[serde(deserialize_with = "units::de::opt_duration")]
    max_interval: Option<Duration>,
    tags: Vec<String>,
    #[serde(deserialize_with = "de_regexes")]
    ignore: Vec<Regex>,
    baseline: Option<bool>,
    full_text: bool,
    #[serde(deserialize_with = "units::de::opt_size")]
    max_body: Option<u64>,
    min_materiality: Option<ChangeClass>,
    headers: BTreeMap<String, String>,
    auth: Option<AuthKind>,
    username: Option<String>,
    auth_param: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<std::path::PathBuf>,
    secret_credential: Option<String>,
}

pub(super) fn de_opt_http_url<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Url>, D::Error> {
    let s = String::deserialize(d)?;
    parse_http_url(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
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
                .map_err(|e| serde::de::Error::custom(format!("{p:?} is not a valid regex: {e}")))
        })
        .collect()
}

/// One table of a section as found in the document: with its span and a
/// label for messages.
type TableRef<'d, 'a> = (&'d toml::de::DeTable<'a>, std::ops::Range<usize>, String);

/// The tables of one section.
struct Tables<'d, 'a> {
    items: Vec<TableRef<'d, 'a>>,
}

/// Reads, checks and assembles the whole config. Problems and warnings
/// are collected; the returned config is only meaningful when there are no
/// problems.
pub(super) fn config(
    source: &Source,
    path: &Path,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Config {
    let doc = document::parse(source, problems);
    let mut found: HashMap<&'static str, Tables> = HashMap::new();
    for (k, v) in doc.root.iter() {
        let name = k.get_ref().as_ref();
        let line = source.line(k.span().start);
        let Some(section) = schema::section(name) else {
            problems.at(line, stray_key(name));
            continue;
        };
        let tables = found
            .entry(section.name)
            .or_insert(Tables { items: Vec::new() });
        match (v.get_ref(), section.many) {
            (DeValue::Table(t), false) => tables.items.push((t, v.span(), section.header.into())),
            (DeValue::Array(a), true) => {
                for (i, item) in a.iter().enumerate() {
                    match item.get_ref() {
                        DeValue::Table(t) => {
                            let label = match t.get("name").and_then(|n| n.get_ref().as_str()) {
                                Some(n) => format!("{} {n:?}", section.name),
                                None => format!("{} #{}", section.name, i + 1),
                            };
                            tables.items.push((t, item.span(), label));
                        }
                        _ => problems.at(
                            source.line(item.span().start),
                            format!("{}: each entry must be a table: write {} on its own line, then its keys", section.name, section.header),
                        ),
                    }
                }
            }
            (DeValue::Table(_), true) => problems.at(
                line,
                format!(
                    "[{name}] must be written {} (double brackets): there can be several",
                    section.header
                ),
            ),
            (DeValue::Array(_), false) => problems.at(
                line,
                format!(
                    "{} must be written once, with single brackets",
                    section.header
                ),
            ),
            _ => problems.at(
                line,
                format!(
                    "`{name}` must be a table: write {} on its own line, then its keys",
                    section.header
                ),
            ),
        }
    }
    let mut read_one = |section: &'static Section| found.remove(section.name).map(|t| t.items);
    let daemon_tables = read_one(&schema::DAEMON).unwrap_or_default();
    let retention_tables = read_one(&schema::RETENTION).unwrap_or_default();
    let delivery_tables = read_one(&schema::DELIVERY).unwrap_or_default();
    let feed_tables = read_one(&schema::FEED).unwrap_or_default();
    let watch_tables = read_one(&schema::WATCH).unwrap_or_default();
    let notifier_tables = read_one(&schema::NOTIFIER).unwrap_or_default();

    fn read<T: serde::de::DeserializeOwned + Default>(
        source: &Source,
        doc: &document::Document,
        tables: &[TableRef],
        section: &Section,
        problems: &mut Problems,
    ) -> Option<Read<T>> {
        tables.first().map(|(t, span, label)| {
            document::read_table(source, doc, t, span, section, label, problems)
        })
    }
    let daemon: Read<DaemonConfig> = read(source, &doc, &daemon_tables, &schema::DAEMON, problems)
        .unwrap_or_else(|| Read {
            value: DaemonConfig::default(),
            at: KeyLines::default(),
        });
    let retention: Option<Read<RetentionConfig>> = read(
        source,
        &doc,
        &retention_tables,
        &schema::RETENTION,
        problems,
    );
    let delivery: Read<DeliveryConfig> =
        read(source, &doc, &delivery_tables, &schema::DELIVERY, problems).unwrap_or_else(|| Read {
            value: DeliveryConfig::default(),
            at: KeyLines::default(),
        });

    let feeds: Vec<(FeedConfig, KeyLines)> = feed_tables
        .iter()
        .filter_map(|(t, span, label)| {
            let r: Read<RawFeed> =
                document::read_table(source, &doc, t, span, &schema::FEED, label, problems);
            feed(r, label, problems)
        })
        .collect();
    let notifiers: Vec<NotifierConfig> = notifier_tables
        .iter()
        .filter_map(|(t, span, label)| {
            let r = document::read_table(source, &doc, t, span, &schema::NOTIFIER, label, problems);
            notifiers::notifier(r, label, problems, warnings)
        })
        .collect();
    let watches: Vec<(WatchConfig, KeyLines)> = watch_tables
        .iter()
        .map(|(t, span, label)| {
            let r: Read<WatchConfig> =
                document::read_table(source, &doc, t, span, &schema::WATCH, label, problems);
            (watch(r.value, &r.at, label, problems), r.at)
        })
        .collect();

    let mut daemon_config = daemon.value;
    daemon_config.api_token = SecretSource {
        env: daemon_config.api_token_env.clone(),
        file: daemon_config.api_token_file.clone(),
        credential: daemon_config.api_token_credential.clone(),
    };
    // names as written, valid or not: a notifier with a bad setting is
    // reported once, not again by every watch that names it
    let declared = |tables: &[TableRef]| -> HashSet<String> {
        tables
            .iter()
            .filter_map(|(t, _, _)| t.get("name").and_then(|n| n.get_ref().as_str()))
            .map(String::from)
            .collect()
    };
    let refs = References {
        check_defined: !doc.swallowed,
        feeds: declared(&feed_tables),
        notifiers: declared(&notifier_tables),
    };
    if let Ok(text) = std::env::var(super::SHARD_ENV) {
        match crate::shard::Shard::parse(&text) {
            Ok(s) => daemon_config.shard = Some(s),
            Err(e) => problems.file(format!(
                "environment variable {}: {e}; it overrides [daemon] shard",
                super::SHARD_ENV
            )),
        }
    }
    check_daemon(&daemon_config, &daemon.at, problems, warnings);
    check_delivery(&delivery.value, &delivery.at, problems);
    unique_names(
        "feed",
        feeds
            .iter()
            .map(|(f, at)| (f.name.as_str(), at.line_of("name"))),
        problems,
    );
    unique_names(
        "notifier",
        notifiers.iter().map(|n| (n.name.as_str(), n.line)),
        problems,
    );
    unique_names(
        "watch",
        watches
            .iter()
            .map(|(w, at)| (w.name.as_str(), at.line_of("name"))),
        problems,
    );
    politeness(&daemon_config, &daemon.at, &feeds, problems);
    refs.check(
        &daemon_config,
        &daemon.at,
        &feeds,
        &watches,
        &notifiers,
        problems,
        warnings,
    );
    if feed_tables.is_empty() && !doc.root.iter().any(|(k, _)| k.get_ref() == "feed") {
        problems.file("no feeds: add at least one [[feed]] table with name and url");
    }

    let feeds: Vec<FeedConfig> = feeds.into_iter().map(|(f, _)| f).collect();
    let (feeds, other_shards) = match daemon_config.shard {
        Some(shard) => {
            let (mine, others): (Vec<FeedConfig>, Vec<FeedConfig>) =
                feeds.into_iter().partition(|f| shard.owns(&f.name));
            if mine.is_empty() && !others.is_empty() {
                warnings.at(
                    daemon.at.line_of("shard"),
                    format!(
                        "[daemon]: shard {shard} owns none of the {} feeds, so it polls nothing: use fewer shards",
                        others.len()
                    ),
                );
            }
            (mine, others)
        }
        None => (feeds, Vec::new()),
    };
    Config {
        path: path.to_path_buf(),
        daemon: daemon_config,
        retention: retention.map(|r| r.value).unwrap_or_default(),
        delivery: delivery.value,
        feed_index: feeds
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect(),
        feeds,
        other_shards,
        watches: watches.into_iter().map(|(w, _)| w).collect(),
        notifiers,
        warnings: Vec::new(),
    }
}

/// A top-level key that is not a section: probably a key written before
/// any `[section]` line, or a misspelt section.
fn stray_key(name: &str) -> String {
    let sections = schema::SECTIONS.iter().map(|s| s.name);
    if let Some(s) = schema::SECTIONS.iter().find(|s| s.key(name).is_some()) {
        return format!(
            "`{name}` is outside any section: it belongs in {} (keys before the first [section] line are top-level)",
            s.header
        );
    }
    match schema::did_you_mean(name, sections.clone()) {
        Some(s) => format!("unknown section `{name}`; did you mean `{s}`?"),
        None => format!(
            "unknown section `{name}`; the sections are {}",
            schema::SECTIONS
                .iter()
                .map(|s| s.header)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn check_daemon(d: &DaemonConfig, at: &KeyLines, problems: &mut Problems, warnings: &mut Problems) {
    if let Err(e) = d.api_token.check_shape("api_token") {
        problems.at(at.line_of("api_token_env"), format!("[daemon]: {e}"));
    }
    if let Some(addr) = d.listen {
        if !addr.ip().is_loopback() && !d.api_token.is_set() {
            problems.at(
                at.line_of("listen"),
                format!("[daemon]: listen = \"{addr}\" is not a loopback address, so the HTTP endpoint needs a token: set api_token_env, api_token_file or api_token_credential"),
            );
        }
    }
    if let Some(u) = &d.public_url {
        if let Err(why) = public_url_problem(u) {
            problems.at(
                at.line_of("public_url"),
                format!("[daemon]: public_url = {u:?} {why}; give the address readers open the dashboard at, such as \"https://news.example.org/storywatch\""),
            );
        }
    }
    let mut order = Ordered {
        label: "[daemon]",
        section: &schema::DAEMON,
        at,
        problems: &mut *problems,
    };
    order.check(
        ("min_interval", d.min_interval),
        ("max_interval", d.max_interval),
        "",
    );
    if let Err(e) = log_level(&d.log_level) {
        let key = schema::DAEMON
            .key("log_level")
            .unwrap_or(&schema::DAEMON.keys[0]);
        problems.at(
            at.line_of("log_level"),
            document::key_problem("[daemon]", key, &format!("{:?}", d.log_level), &e),
        );
    }
    if d.user_agent.is_empty() || !d.user_agent.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let key = schema::DAEMON
            .key("user_agent")
            .unwrap_or(&schema::DAEMON.keys[0]);
        problems.at(
            at.line_of("user_agent"),
            document::key_problem(
                "[daemon]",
                key,
                &format!("{:?}", d.user_agent),
                "empty, or not visible ASCII (it goes into an HTTP header)",
            ),
        );
    }
    if d.shutdown_timeout > Duration::from_secs(25) {
        warnings.at(
            at.line_of("shutdown_timeout"),
            format!(
                "[daemon]: shutdown_timeout = {} is longer than the shipped systemd unit allows a stop (TimeoutStopSec=30): raise TimeoutStopSec= too, or systemd kills storywatch first",
                schema::duration_text(d.shutdown_timeout)
            ),
        );
    }
}

/// `info`, `warn,storywatch=debug`, `off`: levels and `target=level`
/// directives only. (tracing would take `bogus` as a target name and log
/// nothing, silently.)
fn log_level(text: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    if text.trim().is_empty() {
        return Err("empty".into());
    }
    for part in text.split(',').map(str::trim) {
        let level = match part.split_once('=') {
            Some((target, level)) => {
                let ok = !target.is_empty()
                    && target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                if !ok {
                    return Err(format!("{target:?} is not a module path"));
                }
                level
            }
            None => part,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(match schema::did_you_mean(level, LEVELS) {
                Some(l) => format!("{level:?} is not a level; did you mean {l:?}?"),
                None => format!("{level:?} is not a level"),
            });
        }
    }
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_delivery(d: &DeliveryConfig, at: &KeyLines, problems: &mut Problems) {
    let mut order = Ordered {
        label: "[delivery]",
        section: &schema::DELIVERY,
        at,
        problems,
    };
    order.check(
        ("retry_initial", d.retry_initial),
        ("retry_max", d.retry_max),
        "",
    );
    order.check(
        ("retry_initial", d.retry_initial),
        ("give_up_after", d.give_up_after),
        ": no alert would ever be retried",
    );
}

/// Two durations of one table that must come in order.
struct Ordered<'a> {
    label: &'a str,
    section: &'a Section,
    at: &'a KeyLines,
    problems: &'a mut Problems,
}

impl Ordered<'_> {
    /// Reports `short` longer than `long` (at `long`'s line when written),
    /// with `why` after the values.
    fn check(&mut self, short: (&str, Duration), long: (&str, Duration), why: &str) {
        if short.1 <= long.1 {
            return;
        }
        let line_key = if self.at.written(long.0) {
            long.0
        } else {
            short.0
        };
        self.problems.at(
            self.at.line_of(line_key),
            format!(
                "{}: {} = {} is longer than {} = {}{why}; expected {} ≤ {}, e.g. {} = {}",
                self.label,
                short.0,
                schema::duration_text(short.1),
                long.0,
                schema::duration_text(long.1),
                short.0,
                long.0,
                long.0,
                self.section.key(long.0).map_or("", |k| k.example)
            ),
        );
    }
}

fn feed(r: Read<RawFeed>, label: &str, problems: &mut Problems) -> Option<(FeedConfig, KeyLines)> {
    let f = r.value;
    let name = match f.name {
        Some(n) if !n.trim().is_empty() => Some(n),
        Some(_) => {
            problems.at(
                r.at.line_of("name"),
                format!("{label}: name must not be empty, e.g. name = \"bbc-world\""),
            );
            None
        }
        None if r.at.written("name") => None,
        None => {
            problems.at(
                r.at.line,
                format!("{label}: needs a name, e.g. name = \"bbc-world\""),
            );
            None
        }
    };
    let url = match f.url {
        Some(u) => Some(u),
        None if !r.at.written("url") => {
            problems.at(
                r.at.line,
                format!("{label}: needs url = \"https://example.com/feed.xml\""),
            );
            None
        }
        None => None,
    };
    if let (Some(min), Some(max)) = (f.min_interval, f.max_interval) {
        Ordered {
            label,
            section: &schema::FEED,
            at: &r.at,
            problems,
        }
        .check(("min_interval", min), ("max_interval", max), "");
    }
    for p in feed_access::header_problems(&f.headers) {
        problems.at(r.at.line_of("headers"), format!("{label}: {p}"));
    }
    let auth = feed_access::auth(
        feed_access::AuthKeys {
            kind: f.auth,
            username: &f.username,
            param: &f.auth_param,
            secret: SecretSource {
                env: f.secret_env.clone(),
                file: f.secret_file.clone(),
                credential: f.secret_credential.clone(),
            },
        },
        label,
        |k| r.at.line_of(k),
        problems,
    );
    Some((
        FeedConfig {
            name: name?,
            url: url?,
            interval: f.interval,
            min_interval: f.min_interval,
            max_interval: f.max_interval,
            tags: f.tags,
            ignore: f.ignore,
            baseline: f.baseline,
            full_text: f.full_text,
            max_body: f.max_body,
            min_materiality: f.min_materiality,
            headers: f.headers,
            auth,
        },
        r.at,
    ))
}

fn watch(mut w: WatchConfig, at: &KeyLines, label: &str, problems: &mut Problems) -> WatchConfig {
    if w.name.trim().is_empty() && !at.failed("name") {
        let msg = if at.has("name") {
            format!("{label}: name must not be empty, e.g. name = \"nk-troops\"")
        } else {
            format!("{label}: needs a name, e.g. name = \"nk-troops\"")
        };
        problems.at(at.line_of("name"), msg);
    }
    let has_lists = !(w.any.is_empty() && w.all.is_empty() && w.none.is_empty());
    let parsed = match (&w.query_text, has_lists) {
        (Some(_), true) => Err("use either query or any/all/none, not both".to_string()),
        (Some(q), false) => query::parse(q).map_err(|e| e.to_string()),
        (None, true) => query::from_lists(&w.any, &w.all, &w.none).map_err(|e| e.message),
        (None, false) if ["query", "any", "all", "none"].iter().any(|k| at.failed(k)) => {
            // written but not readable: already reported
            Err(String::new())
        }
        (None, false) => Err(
            "needs a query (query = '\"north korea\" AND troops') or any/all/none lists"
                .to_string(),
        ),
    };
    match parsed {
        Ok(q) => w.query = Some(q),
        Err(e) if e.is_empty() => {}
        Err(e) => {
            let key = ["query", "any", "all", "none"]
                .into_iter()
                .find(|k| at.has(k))
                .unwrap_or("name");
            problems.at(at.line_of(key), format!("{label}: {e}"));
        }
    }
    if w.on.is_empty() && at.has("on") {
        problems.at(
            at.line_of("on"),
            format!("{label}: on = [] never fires: use some of \"new\", \"update\", \"mention\", \"removed\""),
        );
    }
    w
}

fn unique_names<'a>(
    kind: &str,
    names: impl Iterator<Item = (&'a str, usize)>,
    problems: &mut Problems,
) {
    let mut seen = HashSet::new();
    for (name, line) in names {
        if !name.is_empty() && !seen.insert(name) {
            problems.at(
                line,
                format!("{kind} {name:?}: duplicate name (each {kind} needs its own name)"),
            );
        }
    }
}

/// Floors that protect servers: a public host is polled at most once a
/// minute per feed, and two requests to it start at least 100 ms apart.
/// Feeds on this machine or a private network (tests, an intranet) may go
/// faster, down to the schema's own minimum.
fn politeness(
    d: &DaemonConfig,
    daemon_at: &KeyLines,
    feeds: &[(FeedConfig, KeyLines)],
    problems: &mut Problems,
) {
    let floor = schema::PUBLIC_MIN_INTERVAL;
    let public = |f: &FeedConfig| !is_local(&f.url);
    for (f, at) in feeds.iter().filter(|(f, _)| public(f)) {
        for (key, value) in [("interval", f.interval), ("min_interval", f.min_interval)] {
            if let Some(v) = value.filter(|v| *v < floor) {
                problems.at(
                    at.line_of(key),
                    format!(
                        "feed {:?}: {key} = {} is too fast for a feed on a public host ({}): poll it at most once a minute, {}; faster is allowed only on this machine or a private network, e.g. {key} = \"5m\"",
                        f.name,
                        schema::duration_text(v),
                        f.url.host_str().unwrap_or(""),
                        schema::POLITENESS
                    ),
                );
            }
        }
    }
    // the daemon's defaults, for the public feeds that rely on them
    for (key, value, uses) in [
        (
            "interval",
            d.interval,
            (|f: &FeedConfig| f.interval.is_none()) as fn(&FeedConfig) -> bool,
        ),
        ("min_interval", d.min_interval, |f: &FeedConfig| {
            f.min_interval.is_none()
        }),
    ] {
        if value >= floor {
            continue;
        }
        let relying: Vec<&FeedConfig> = feeds
            .iter()
            .map(|(f, _)| f)
            .filter(|f| public(f) && uses(f))
            .collect();
        if let Some(first) = relying.first() {
            problems.at(
                daemon_at.line_of(key),
                format!(
                    "[daemon]: {key} = {} is too fast for feeds on public hosts ({} of them, e.g. {:?} at {}): at least 1m, {}; faster is allowed only when every feed is on this machine or a private network, e.g. {key} = \"10m\"",
                    schema::duration_text(value),
                    relying.len(),
                    first.name,
                    first.url.host_str().unwrap_or(""),
                    schema::POLITENESS
                ),
            );
        }
    }
    if d.per_host_delay < schema::PUBLIC_MIN_HOST_DELAY {
        if let Some((first, _)) = feeds.iter().find(|(f, _)| public(f)) {
            problems.at(
                daemon_at.line_of("per_host_delay"),
                format!(
                    "[daemon]: per_host_delay = {} is below 100ms, the least allowed while a feed is on a public host ({:?} at {}): {}; 0s is allowed only when every feed is on this machine or a private network, e.g. per_host_delay = \"250ms\"",
                    schema::duration_text(d.per_host_delay),
                    first.name,
                    first.url.host_str().unwrap_or(""),
                    schema::POLITENESS
                ),
            );
        }
    }
}

/// Cross-references between sections, and the warnings about what they
/// leave unconnected.
struct References {
    /// False when a syntax error swallowed part of the file: a name
    /// defined there would be reported as undefined.
    check_defined: bool,
    /// Every feed and notifier name written, including those of tables
    /// with problems.
    feeds: HashSet<String>,
    notifiers: HashSet<String>,
}

impl References {
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        d: &DaemonConfig,
        daemon_at: &KeyLines,
        feeds: &[(FeedConfig, KeyLines)],
        watches: &[(WatchConfig, KeyLines)],
        notifiers: &[NotifierConfig],
        problems: &mut Problems,
        warnings: &mut Problems,
    ) {
        let notifier_names: HashSet<&str> = self.notifiers.iter().map(String::as_str).collect();
        let feed_names: HashSet<&str> = self.feeds.iter().map(String::as_str).collect();
        let feed_tags: HashSet<&str> = feeds
            .iter()
            .flat_map(|(f, _)| f.tags.iter().map(String::as_str))
            .collect();
        let undefined = |kind: &str, name: &str, names: &HashSet<&str>| {
            let hint = schema::did_you_mean(name, names.iter().copied())
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_else(|| format!(" (define it in a [[{kind}]] table)"));
            format!("{kind} {name:?} is not defined{hint}")
        };
        if self.check_defined {
            for name in &d.ops_notify {
                if !notifier_names.contains(name.as_str()) {
                    problems.at(
                        daemon_at.line_of("ops_notify"),
                        format!(
                            "[daemon]: ops_notify: {}",
                            undefined("notifier", name, &notifier_names)
                        ),
                    );
                }
            }
        }
        for (w, at) in watches {
            if self.check_defined {
                for f in &w.feeds {
                    if !feed_names.contains(f.as_str()) {
                        problems.at(
                            at.line_of("feeds"),
                            format!("watch {:?}: {}", w.name, undefined("feed", f, &feed_names)),
                        );
                    }
                }
                for n in &w.notify {
                    if !notifier_names.contains(n.as_str()) {
                        problems.at(
                            at.line_of("notify"),
                            format!(
                                "watch {:?}: {}",
                                w.name,
                                undefined("notifier", n, &notifier_names)
                            ),
                        );
                    }
                }
            }
            if notifiers.is_empty() {
                warnings.at(
                    at.line,
                    format!("watch {:?}: no notifier receives its alerts (there is no [[notifier]]): they wait in the outbox; add a [[notifier]]", w.name),
                );
            }
            let tagged = w.tags.is_empty() || w.tags.iter().any(|t| feed_tags.contains(t.as_str()));
            if !tagged {
                warnings.at(
                    at.line_of("tags"),
                    format!(
                        "watch {:?}: no feed has any of the tags {:?}, so it never fires",
                        w.name, w.tags
                    ),
                );
            }
        }
        if watches.is_empty() {
            warnings.file("no [[watch]]: stories are tracked but nothing ever alerts; add a [[watch]] with a query");
        }
        if notifiers.is_empty() {
            warnings.file("no [[notifier]]: alerts are kept in the outbox but sent nowhere; add a [[notifier]] (type = \"stdout\", \"webhook\" or \"email\")");
        }
        for n in notifiers {
            let used = d.ops_notify.contains(&n.name)
                || watches
                    .iter()
                    .any(|(w, _)| w.notify.is_empty() || w.notify.contains(&n.name));
            if !used && !watches.is_empty() {
                warnings.at(
                    n.line,
                    format!("notifier {:?}: no watch sends to it and it is not in [daemon] ops_notify, so it never receives anything", n.name),
                );
            }
        }
    }
}

/// A URL in the config that cannot be used, and what would do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL ({source})")]
    Invalid {
        text: String,
        #[source]
        source: url::ParseError,
    },
    #[error("URL {0:?} has no host")]
    NoHost(String),
    #[error("the {scheme}: scheme is not allowed; only http:// and https:// URLs are")]
    Scheme { text: String, scheme: String },
    #[error("not a URL ({source})")]
    SmtpInvalid {
        text: String,
        #[source]
        source: url::ParseError,
    },
    #[error("the {scheme}: scheme is not one of smtp:, smtps:, smtp+plain:")]
    SmtpScheme { text: String, scheme: String },
    #[error("the URL contains a password: remove it and use password_env, password_file or password_credential")]
    SmtpPassword,
    #[error("the URL has no host")]
    SmtpNoHost(String),
    #[error("port 0 is not a port (leave it out for the usual one: 587, or 465 for smtps)")]
    SmtpPort,
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

/// A feed on loopback or a private network (tests, an intranet), where
/// fast polling hurts nobody.
pub fn is_local(url: &Url) -> bool {
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

/// Why `public_url` cannot be the base of story links, if it cannot.
fn public_url_problem(u: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(u).map_err(|_| "is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("is not an http or https URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or fragment");
    }
    Ok(())
}
