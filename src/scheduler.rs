//! When is each feed due? Pure policy, so it is tested without sleeping.
//!
//! - a feed is polled every `interval`, ±10 % jitter so feeds configured
//!   alike drift apart instead of firing together;
//! - adaptive: a feed carrying developing stories is polled more often, its
//!   interval halved on each such poll down to `min_interval`; a feed that
//!   did not change for a while is polled less often (a quarter longer each
//!   quiet poll, up to `max_interval`); any other change brings it back to
//!   the configured interval;
//! - publisher hints (`Cache-Control: max-age`, `Expires`, RSS `<ttl>`,
//!   `sy:updatePeriod`) are lower bounds, capped at `max_interval` so a bad
//!   hint can never stop polling;
//! - failures back off exponentially with jitter up to `max_interval` and
//!   keep retrying forever; `Retry-After` is honoured. A feed is never
//!   disabled: a gone (410) feed is still tried every `max_interval`.
//! - on start, feeds never polled (or overdue after a downtime) are spread
//!   over a window that grows with their number ([`start_spread`]) instead of
//!   all starting at once; from then on each feed keeps its own phase, and
//!   the jitter keeps feeds from re-aligning.
//!
//! [`Timetable`] applies that policy to every configured feed: which feeds
//! are due, which are being polled, when the next one is. The daemon's
//! loop drives it; it reads the stored schedule through a closure, so it
//! needs no database to be tested.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use rand::Rng;

use crate::config::Config;
use crate::model::UnixMs;
use crate::records::FeedState;

/// The intervals that apply to one feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals {
    pub base: Duration,
    pub min: Duration,
    pub max: Duration,
    pub respect_hints: bool,
}

/// What the last poll found, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PollSignal {
    /// The feed produced an event (new/updated story).
    pub changed: bool,
    /// It carries a story marked developing.
    pub developing: bool,
    /// Publisher's hint: don't poll sooner than this.
    pub hint: Option<Duration>,
}

/// The adaptive interval after a successful poll. `current` is the interval
/// used so far (0 = none yet).
pub fn adapt_interval(iv: &Intervals, current_ms: u64, signal: &PollSignal) -> u64 {
    let base = iv.base.as_millis() as u64;
    let (min, max) = (iv.min.as_millis() as u64, iv.max.as_millis() as u64);
    let current = if current_ms == 0 { base } else { current_ms };
    let next = if signal.developing {
        (current.min(base) / 2).max(min)
    } else if signal.changed {
        base
    } else {
        // quiet: stretch by a quarter each time, up to the maximum
        (current + current / 4).min(max).max(base.min(max))
    };
    let floor = match (iv.respect_hints, signal.hint) {
        (true, Some(h)) => (h.as_millis() as u64).min(max),
        _ => 0,
    };
    next.max(floor).clamp(min.min(max), max)
}

/// ±10 % so feeds spread out over time.
pub fn jittered(ms: u64, rng: &mut impl Rng) -> u64 {
    (ms as f64 * rng.random_range(0.9..1.1)) as u64
}

/// Delay before retrying a feed that failed `failures` times in a row.
pub fn backoff(
    iv: &Intervals,
    failures: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> u64 {
    let first = (iv.base.as_millis() as u64 / 4)
        .clamp(30_000, 300_000)
        .min(iv.max.as_millis() as u64);
    let exp = first.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    let capped = exp.min(iv.max.as_millis() as u64);
    let asked = retry_after.map(|d| d.as_millis() as u64).unwrap_or(0);
    // a server may ask for a day; we honour up to a day, never "forever"
    jittered(capped, rng).max(asked.min(24 * 3600 * 1000))
}

/// Why a failing or gone feed is not to be polled yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// When it may be polled again.
    pub until: UnixMs,
    pub gone: bool,
    pub failures: u32,
    pub last_error: Option<String>,
}

/// Whether a feed must wait before its next poll because its server asked
/// (`Retry-After` on 429/503), it is backing off after failures, or it is
/// gone (410, retried every `max_interval`). `storywatch once` skips such a
/// feed as the daemon would; a healthy feed is never held back here, and
/// neither is one whose configured URL was edited since (`config_url`).
pub fn waiting(state: &FeedState, config_url: &str, now: UnixMs) -> Option<Waiting> {
    let troubled = state.gone || state.failures > 0;
    (troubled && state.next_poll > now && state.config_url == config_url).then(|| Waiting {
        until: state.next_poll,
        gone: state.gone,
        failures: state.failures,
        last_error: state.last_error.clone(),
    })
}

/// First polls start at most this many per second (10,000 feeds: 500 s).
pub const START_RATE_PER_SEC: u64 = 20;
/// ...but a handful of feeds need not wait for long.
pub const MIN_START_SPREAD: Duration = Duration::from_secs(20);

/// The window over which `feeds` first polls are spread: long enough to
/// keep to [`START_RATE_PER_SEC`], at least [`MIN_START_SPREAD`], never
/// longer than the poll interval (by then the feed would be due anyway).
pub fn start_spread(feeds: usize, interval: Duration) -> Duration {
    let by_rate = Duration::from_millis(feeds as u64 * 1000 / START_RATE_PER_SEC);
    by_rate.max(MIN_START_SPREAD).min(interval)
}

/// First due time for a feed never polled: spread over the first
/// `spread` (stable per feed name, so restarts keep the order).
pub fn initial_due(now: UnixMs, feed: &str, spread: Duration) -> UnixMs {
    let h = crate::fingerprint::of_parts(&[feed]);
    let spread_ms = spread.as_millis().max(1) as u64;
    now + (h % spread_ms) as UnixMs
}

/// When each configured feed is due next: a heap of (due time, feed), the
/// due time of each feed waiting, and the feeds being polled.
#[derive(Debug, Default)]
pub struct Timetable {
    heap: BinaryHeap<Reverse<(UnixMs, String)>>,
    due: HashMap<String, UnixMs>,
    running: HashSet<String>,
}

impl Timetable {
    /// Adds feeds new in `config`, forgets removed ones. A feed whose
    /// stored state (`stored(name)`) has a next poll still ahead, for the
    /// URL configured now, keeps it; feeds never polled, or overdue (the
    /// daemon was down), are spread over a window that grows with their
    /// number, so 10,000 feeds do not fire at once.
    pub fn sync<E>(
        &mut self,
        config: &Config,
        now: UnixMs,
        mut stored: impl FnMut(&str) -> Result<Option<FeedState>, E>,
    ) -> Result<(), E> {
        let names: HashSet<&str> = config.feeds.iter().map(|f| f.name.as_str()).collect();
        self.due.retain(|k, _| names.contains(k.as_str()));
        let mut to_spread = Vec::new();
        for feed in &config.feeds {
            if self.due.contains_key(&feed.name) || self.running.contains(&feed.name) {
                continue;
            }
            match stored(&feed.name)? {
                Some(s) if s.next_poll > now && s.config_url == feed.url.as_str() => {
                    self.schedule(&feed.name, s.next_poll)
                }
                _ => to_spread.push(feed),
            }
        }
        let count = to_spread.len();
        for feed in to_spread {
            let spread = start_spread(count, feed.interval(&config.daemon));
            self.schedule(&feed.name, initial_due(now, &feed.name, spread));
        }
        Ok(())
    }

    /// A poll of `feed` ended; `next` is when it is due again (`None`: it
    /// was cancelled by the stop). A feed no longer in `config` is not
    /// rescheduled, so re-adding it later schedules it afresh.
    pub fn finished(&mut self, config: &Config, feed: &str, next: Option<UnixMs>) {
        self.running.remove(feed);
        if let Some(at) = next {
            if config.feed(feed).is_some() {
                self.schedule(feed, at);
            }
        }
    }

    fn schedule(&mut self, feed: &str, at: UnixMs) {
        self.due.insert(feed.to_string(), at);
        self.heap.push(Reverse((at, feed.to_string())));
    }

    /// The feeds due at `now`, marked as being polled.
    pub fn take_due(&mut self, now: UnixMs) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, feed))) = self.heap.pop() else {
                break;
            };
            // stale heap entries (rescheduled or removed feeds) are skipped
            if self.due.get(&feed) == Some(&at) && !self.running.contains(&feed) {
                self.due.remove(&feed);
                self.running.insert(feed.clone());
                out.push(feed);
            }
        }
        out
    }

    /// When the earliest waiting feed is due.
    pub fn next_due(&self) -> Option<UnixMs> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Feeds waiting for their turn.
    pub fn scheduled(&self) -> usize {
        self.due.len()
    }

    /// Feeds being polled.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn iv() -> Intervals {
        Intervals {
            base: Duration::from_secs(600),
            min: Duration::from_secs(120),
            max: Duration::from_secs(6 * 3600),
            respect_hints: true,
        }
    }

    #[test]
    fn developing_feeds_speed_up_quiet_ones_slow_down() {
        let iv = iv();
        let fast = adapt_interval(
            &iv,
            0,
            &PollSignal {
                developing: true,
                changed: true,
                hint: None,
            },
        );
        assert_eq!(fast, 300_000);
        let mut cur = 600_000;
        for _ in 0..40 {
            cur = adapt_interval(&iv, cur, &PollSignal::default());
        }
        assert_eq!(cur, 6 * 3600 * 1000, "quiet feed reaches the maximum");
        let back = adapt_interval(
            &iv,
            cur,
            &PollSignal {
                changed: true,
                ..Default::default()
            },
        );
        assert_eq!(
            back, 600_000,
            "a change brings it back to the base interval"
        );
    }

    #[test]
    fn hints_are_lower_bounds_capped_at_max() {
        let iv = iv();
        let s = PollSignal {
            changed: true,
            developing: false,
            hint: Some(Duration::from_secs(1800)),
        };
        assert_eq!(adapt_interval(&iv, 0, &s), 1_800_000);
        let s = PollSignal {
            hint: Some(Duration::from_secs(7 * 24 * 3600)),
            ..s
        };
        assert_eq!(adapt_interval(&iv, 0, &s), 6 * 3600 * 1000);
        let ignore = Intervals {
            respect_hints: false,
            ..iv
        };
        assert_eq!(
            adapt_interval(
                &ignore,
                0,
                &PollSignal {
                    changed: true,
                    developing: false,
                    hint: Some(Duration::from_secs(1800))
                }
            ),
            600_000
        );
    }

    #[test]
    fn backoff_grows_to_cap_and_honours_retry_after() {
        let mut rng = StdRng::seed_from_u64(3);
        let iv = iv();
        let b1 = backoff(&iv, 1, None, &mut rng);
        assert!((135_000..=165_000).contains(&b1), "{b1}");
        let b30 = backoff(&iv, 30, None, &mut rng);
        assert!((6 * 3600 * 900..=6 * 3600 * 1100).contains(&b30), "{b30}");
        let asked = backoff(&iv, 1, Some(Duration::from_secs(3600)), &mut rng);
        assert!(asked >= 3_600_000);
        let silly = backoff(&iv, 1, Some(Duration::from_secs(365 * 24 * 3600)), &mut rng);
        assert_eq!(silly, 24 * 3600 * 1000);
    }

    #[test]
    fn initial_due_spreads_and_is_stable() {
        let spread = Duration::from_secs(60);
        let dues: Vec<UnixMs> = (0..1000)
            .map(|i| initial_due(0, &format!("feed-{i}"), spread))
            .collect();
        assert!(dues.iter().all(|d| (0..60_000).contains(d)));
        let first_half = dues.iter().filter(|d| **d < 30_000).count();
        assert!((400..600).contains(&first_half), "{first_half}");
        assert_eq!(initial_due(0, "x", spread), initial_due(0, "x", spread));
    }

    fn config(feeds: &[&str]) -> Config {
        let mut text = String::from("[daemon]\nstate_dir = \"/tmp/unused\"\n");
        for f in feeds {
            text.push_str(&format!(
                "[[feed]]\nname = \"{f}\"\nurl = \"http://127.0.0.1:9/{f}\"\n"
            ));
        }
        Config::from_toml(std::path::Path::new("test.toml"), &text).unwrap()
    }

    fn nothing_stored(_: &str) -> Result<Option<FeedState>, std::convert::Infallible> {
        Ok(None)
    }

    #[test]
    fn a_feed_removed_while_polling_is_dropped_and_a_readded_one_is_scheduled_again() {
        let now = 1_000_000;
        let mut t = Timetable::default();
        t.sync(&config(&["a", "b"]), now, nothing_stored).unwrap();
        let mut started = t.take_due(i64::MAX / 2);
        started.sort();
        assert_eq!(started, ["a", "b"]);

        let only_b = config(&["b"]);
        t.sync(&only_b, now, nothing_stored).unwrap();
        // a poll of a feed that is gone reports "never" as its next time
        t.finished(&only_b, "a", Some(UnixMs::MAX));
        t.finished(&only_b, "b", Some(2_000_000));
        assert!(!t.due.contains_key("a"), "removed feed not rescheduled");
        assert_eq!(t.due.get("b"), Some(&2_000_000));

        let both = config(&["a", "b"]);
        t.sync(&both, now, nothing_stored).unwrap();
        let due_a = *t.due.get("a").expect("re-added feed is scheduled");
        let interval = both.daemon.interval.as_millis() as UnixMs;
        assert!(due_a <= now + interval, "spread within one interval");
        t.finished(&both, "b", None);
        assert_eq!(t.running(), 0);
    }

    #[test]
    fn a_stored_next_poll_is_kept_unless_the_url_changed() {
        let now = 1_000_000;
        let c = config(&["a", "b"]);
        let mut t = Timetable::default();
        t.sync(&c, now, |name| {
            Ok::<_, std::convert::Infallible>(Some(FeedState {
                next_poll: now + 5_000_000,
                config_url: if name == "a" {
                    "http://127.0.0.1:9/a".into()
                } else {
                    "http://elsewhere.example/b".into()
                },
                ..Default::default()
            }))
        })
        .unwrap();
        assert_eq!(t.due.get("a"), Some(&(now + 5_000_000)));
        assert!(t.due["b"] < now + 5_000_000, "b starts afresh");
        assert_eq!(t.scheduled(), 2);
        assert_eq!(t.next_due(), Some(t.due["b"]));
    }
}
