//! Counters and a latency histogram, rendered in the Prometheus text format.
//!
//! Small and dependency-free on purpose: a handful of labelled counters
//! behind one mutex costs nothing next to an HTTP request, and gauges that
//! describe stored state (outbox depth, failing feeds) are computed from the
//! database when scraped instead of being kept in sync by hand.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

type Labels = Vec<(&'static str, String)>;

/// A value computed at scrape time (outbox depth, failing feeds...).
pub struct Gauge<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub labels: Vec<(&'a str, String)>,
    pub value: f64,
}

/// Upper bounds (seconds) of the fetch latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    fetch_latency: Mutex<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            counters: Mutex::new(BTreeMap::new()),
            fetch_latency: Mutex::new(Histogram::default()),
        };
        for (name, labels) in INITIAL {
            m.add(name, labels, 0);
        }
        m
    }
}

/// Descriptions of every counter, so `/metrics` is self-documenting.
const HELP: &[(&str, &str)] = &[
    (
        "storywatch_polls_total",
        "Feed polls by result (ok; not_modified: a 304 or a body identical to the last; error).",
    ),
    (
        "storywatch_poll_errors_total",
        "Failed polls by error kind.",
    ),
    (
        "storywatch_parse_errors_total",
        "Feed documents that could not be parsed.",
    ),
    (
        "storywatch_events_total",
        "Tracker events by kind (new, updated, removed, oscillating).",
    ),
    (
        "storywatch_alerts_created_total",
        "Alerts written to the outbox, by notifier.",
    ),
    (
        "storywatch_deliveries_total",
        "Delivery attempts by notifier and result (delivered, failed, dead).",
    ),
    ("storywatch_reloads_total", "Config reloads by result."),
];

/// Series that exist from the start (at 0), so a dashboard or an alert
/// rule sees them before the first event and `rate()` counts the first one.
const INITIAL: &[(&str, &[(&str, &str)])] = &[
    ("storywatch_polls_total", &[("result", "ok")]),
    ("storywatch_polls_total", &[("result", "not_modified")]),
    ("storywatch_polls_total", &[("result", "error")]),
    ("storywatch_parse_errors_total", &[]),
    ("storywatch_reloads_total", &[("result", "ok")]),
    ("storywatch_reloads_total", &[("result", "error")]),
];

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        );
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_insert(0) += n;
        }
    }

    /// Current value of a counter (for tests and `status`).
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let key: (&'static str, Labels) = (
            name,
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        );
        self.counters
            .lock()
            .ok()
            .and_then(|c| c.get(&key).copied())
            .unwrap_or(0)
    }

    pub fn observe_fetch(&self, seconds: f64) {
        if let Ok(mut h) = self.fetch_latency.lock() {
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// Renders all counters, the histogram, and the given gauges.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            let mut last = "";
            for ((name, labels), v) in c.iter() {
                if *name != last {
                    let help = HELP
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, h)| *h)
                        .unwrap_or("");
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(
                    out,
                    "{name}{} {v}",
                    fmt_labels(labels.iter().map(|(k, v)| (*k, v.as_str())))
                );
            }
        }
        if let Ok(h) = self.fetch_latency.lock() {
            let name = "storywatch_fetch_duration_seconds";
            let _ = writeln!(out, "# HELP {name} Time to fetch a feed (request to last byte).\n# TYPE {name} histogram");
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
                h.count, h.sum, h.count
            );
        }
        let mut last = "";
        for Gauge {
            name,
            help,
            labels,
            value,
        } in gauges
        {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                last = name;
            }
            let _ = writeln!(
                out,
                "{name}{} {value}",
                fmt_labels(labels.iter().map(|(k, v)| (*k, v.as_str())))
            );
        }
        out
    }
}

fn fmt_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = labels
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc("storywatch_polls_total", &[("result", "ok")]);
        m.inc("storywatch_polls_total", &[("result", "ok")]);
        m.inc("storywatch_polls_total", &[("result", "not_modified")]);
        m.observe_fetch(0.03);
        let text = m.render(&[Gauge {
            name: "storywatch_outbox_depth",
            help: "Open deliveries.",
            labels: vec![("notifier", "a\"b".into())],
            value: 3.0,
        }]);
        assert!(text.contains("storywatch_polls_total{result=\"ok\"} 2"));
        assert!(text.contains("# TYPE storywatch_polls_total counter"));
        assert!(text.contains("storywatch_fetch_duration_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("storywatch_fetch_duration_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("storywatch_outbox_depth{notifier=\"a\\\"b\"} 3"));
        assert_eq!(m.get("storywatch_polls_total", &[("result", "ok")]), 2);
    }
}
