//! The daemon's Prometheus metrics, each declared once with its help text,
//! served at `/metrics` in the Prometheus text format (0.0.4).
//!
//! Counters and the fetch latency histogram live in memory
//! (`prometheus-client`). Their label values are `&'static str`s or, for
//! notifier names, `Arc<str>`s made once per name, so counting allocates
//! nothing once a series exists. Gauges that describe stored state (outbox
//! depth, failing feeds) are computed from the database when scraped
//! ([`Scrape`]) instead of being kept in sync by hand.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the fetch latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Poll results (`ok`, `not_modified`, `error`); reload results (`ok`, `error`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Error kinds, event kinds.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabel {
    notifier: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    notifier: Arc<str>,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    notifier: String,
    state: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    polls: Family<ResultLabel, Counter>,
    poll_errors: Family<KindLabel, Counter>,
    parse_errors: Counter,
    events: Family<KindLabel, Counter>,
    alerts_created: Family<NotifierLabel, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    reloads: Family<ResultLabel, Counter>,
    article_errors: Family<KindLabel, Counter>,
    fetch_duration: Histogram,
    /// Notifier names as label values, made once per name.
    names: Mutex<HashMap<String, Arc<str>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            polls: Family::default(),
            poll_errors: Family::default(),
            parse_errors: Counter::default(),
            events: Family::default(),
            alerts_created: Family::default(),
            deliveries: Family::default(),
            reloads: Family::default(),
            article_errors: Family::default(),
            fetch_duration: Histogram::new(LATENCY_BUCKETS),
            names: Mutex::default(),
        };
        // Series that exist from the start (at 0), so a dashboard or an
        // alert rule sees them before the first event and `rate()` counts
        // the first one.
        for result in ["ok", "not_modified", "error"] {
            let _ = m.polls.get_or_create(&ResultLabel { result });
        }
        for result in ["ok", "error"] {
            let _ = m.reloads.get_or_create(&ResultLabel { result });
        }
        let mut r = m.registry;
        // (the registry adds the final period, and `_total` to counters)
        r.register(
            "storywatch_polls",
            "Feed polls by result (ok; not_modified: a 304 or a body identical to the last; error)",
            m.polls.clone(),
        );
        r.register(
            "storywatch_poll_errors",
            "Failed polls by error kind",
            m.poll_errors.clone(),
        );
        r.register(
            "storywatch_parse_errors",
            "Feed documents that could not be parsed",
            m.parse_errors.clone(),
        );
        r.register(
            "storywatch_events",
            "Tracker events by kind (new, updated, removed, oscillating)",
            m.events.clone(),
        );
        r.register(
            "storywatch_alerts_created",
            "Alerts written to the outbox, by notifier",
            m.alerts_created.clone(),
        );
        r.register(
            "storywatch_deliveries",
            "Delivery attempts by notifier and result (delivered, failed, dead)",
            m.deliveries.clone(),
        );
        r.register(
            "storywatch_reloads",
            "Config reloads by result",
            m.reloads.clone(),
        );
        r.register(
            "storywatch_article_errors",
            "Failed article page fetches of full-text feeds, by error kind",
            m.article_errors.clone(),
        );
        r.register(
            "storywatch_fetch_duration_seconds",
            "Time to fetch a feed (request to last byte)",
            m.fetch_duration.clone(),
        );
        Metrics { registry: r, ..m }
    }
}

impl Metrics {
    /// A poll ended: `ok`, `not_modified` or `error`.
    pub fn poll(&self, result: &'static str) {
        self.polls.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn poll_error(&self, kind: &'static str) {
        self.poll_errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn parse_error(&self) {
        self.parse_errors.inc();
    }

    pub fn event(&self, kind: &'static str) {
        self.events.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn alert_created(&self, notifier: &str) {
        let notifier = self.name(notifier);
        self.alerts_created
            .get_or_create(&NotifierLabel { notifier })
            .inc();
    }

    /// A delivery attempt ended: `delivered`, `failed` or `dead`.
    pub fn delivery(&self, notifier: &str, result: &'static str) {
        let notifier = self.name(notifier);
        self.deliveries
            .get_or_create(&DeliveryLabels { notifier, result })
            .inc();
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn article_error(&self, kind: &'static str) {
        self.article_errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn observe_fetch(&self, seconds: f64) {
        self.fetch_duration.observe(seconds);
    }

    /// Polls counted so far with `result`.
    pub fn polls(&self, result: &'static str) -> u64 {
        self.polls
            .get(&ResultLabel { result })
            .map_or(0, |c| c.get())
    }

    fn name(&self, name: &str) -> Arc<str> {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = name.into();
        names.insert(name.to_string(), n.clone());
        n
    }

    /// Renders the counters, the histogram and the gauges of `scrape`.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut gauges = Registry::default();
        let mut gauge = |name: &str, help: &str, value: f64| {
            let g = FloatGauge::default();
            g.set(value);
            gauges.register(name, help, g);
        };
        gauge(
            "storywatch_ready",
            "1 when the database answers and the scheduler runs",
            if scrape.ready { 1.0 } else { 0.0 },
        );
        gauge(
            "storywatch_uptime_seconds",
            "Seconds since the daemon started",
            scrape.uptime_secs,
        );
        gauge("storywatch_feeds", "Feeds configured", scrape.feeds as f64);
        if let Some(failing) = scrape.feeds_failing {
            gauge(
                "storywatch_feeds_failing",
                "Feeds whose last poll failed",
                failing as f64,
            );
        }
        let polls: u64 = ["ok", "not_modified", "error"]
            .into_iter()
            .map(|r| self.polls(r))
            .sum();
        let not_modified = self.polls("not_modified");
        gauge(
            "storywatch_poll_not_modified_ratio",
            "Share of polls since start answered 304 or with an unchanged body",
            if polls == 0 {
                0.0
            } else {
                not_modified as f64 / polls as f64
            },
        );
        if let Some(outbox) = &scrape.outbox {
            let depth = Family::<OutboxLabels, FloatGauge>::default();
            for (notifier, state, count) in &outbox.depth {
                depth
                    .get_or_create(&OutboxLabels {
                        notifier: notifier.clone(),
                        state,
                    })
                    .set(*count as f64);
            }
            gauges.register(
                "storywatch_outbox_depth",
                "Deliveries still owed, by notifier and state",
                depth,
            );
            gauges.register(
                "storywatch_outbox_oldest_pending_age_seconds",
                "Age of the oldest delivery still owed (0 when none)",
                {
                    let g = FloatGauge::default();
                    g.set(outbox.oldest_pending_age_secs);
                    g
                },
            );
        }
        let mut out = String::new();
        // writing to a String cannot fail
        let _ = prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_text::encode(&mut out, &gauges);
        out
    }
}

/// The gauges `/metrics` computes when scraped. `None`: the database could
/// not be read, and the series is left out rather than shown stale.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub ready: bool,
    pub uptime_secs: f64,
    pub feeds: usize,
    pub feeds_failing: Option<usize>,
    pub outbox: Option<OutboxGauges>,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxGauges {
    /// (notifier, state, open deliveries), zeros included so series never
    /// vanish.
    pub depth: Vec<(String, &'static str, u64)>,
    pub oldest_pending_age_secs: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.poll("ok");
        m.poll("ok");
        m.poll("not_modified");
        m.delivery("mail", "delivered");
        m.observe_fetch(0.03);
        let text = m.render(&Scrape {
            ready: true,
            outbox: Some(OutboxGauges {
                depth: vec![("a\"b".into(), "pending", 3)],
                oldest_pending_age_secs: 0.0,
            }),
            ..Default::default()
        });
        assert!(
            text.contains("storywatch_polls_total{result=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("storywatch_polls_total{result=\"error\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE storywatch_polls_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP storywatch_reloads_total Config reloads by result.\n"));
        assert!(text.contains("storywatch_parse_errors_total 0\n"), "{text}");
        assert!(text
            .contains("storywatch_deliveries_total{notifier=\"mail\",result=\"delivered\"} 1\n"));
        assert!(text.contains("storywatch_fetch_duration_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("storywatch_fetch_duration_seconds_bucket{le=\"0.025\"} 0\n"));
        assert!(text.contains("storywatch_fetch_duration_seconds_count 1\n"));
        assert!(text.contains("storywatch_outbox_depth{notifier=\"a\\\"b\",state=\"pending\"} 3"));
        assert!(text.contains("storywatch_ready 1"), "{text}");
        assert!(
            !text.contains("storywatch_feeds_failing"),
            "left out when unknown"
        );
        assert_eq!(m.polls("ok"), 2);
        // every metric has help text
        for line in text.lines().filter(|l| l.starts_with("# HELP")) {
            assert!(line.split_whitespace().count() > 3, "{line}");
        }
    }
}
