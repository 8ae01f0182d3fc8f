//! The durable outbox: alerts and their per-notifier delivery state.
//!
//! An alert is written in the same sled transaction as the story version
//! that caused it, with one [`Delivery`] per notifier. A notifier marks its
//! delivery `delivered` only after the receiver accepted it, so a crash or an
//! outage at any point loses nothing; the worst case is a send whose success
//! was not yet recorded, which the receiver can drop by the alert's stable
//! idempotency key. This file holds the data and the retry policy, and the
//! per-notifier [`Circuit`] (one probe per backoff step while a receiver
//! fails); the delivery loop lives in `delivery.rs`.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::DeliveryConfig;
use crate::model::UnixMs;
use crate::tracker::Event;
use crate::watch::index::Highlight;
use crate::watch::query::Trigger;

/// Something to tell a user or an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Local, increasing id (for `storywatch outbox` and ordering).
    pub id: u64,
    /// Stable idempotency key: the same alert always gets the same key, even
    /// if it is re-created after a crash, so receivers can drop duplicates.
    pub key: String,
    pub created: UnixMs,
    pub notifiers: Vec<String>,
    pub body: AlertBody,
}

// Nearly every alert is a story alert: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertBody {
    Story(StoryAlert),
    Ops(OpsNotice),
}

/// A watch fired on a story event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryAlert {
    pub watch: String,
    pub trigger: Trigger,
    /// Which watch terms matched where, for bold/marked rendering.
    pub highlights: Vec<Highlight>,
    pub event: Event,
    /// The other watches that matched the same event. One change is one
    /// message per notifier, naming every watch that matched (fan-in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<WatchMatch>,
    /// Where this alert sits in its story's mail thread; `None` for alerts
    /// written before threads were tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<Thread>,
    /// The story's page on the dashboard (`{public_url}/stories/{id}`,
    /// "see all versions"), when `[daemon] public_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_page: Option<String>,
}

/// One more watch that matched an event already alerted by another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchMatch {
    pub watch: String,
    pub trigger: Trigger,
    pub highlights: Vec<Highlight>,
}

/// An alert's place in the thread of alerts about one story. The first
/// alert about a story is the root: its message id is the story's
/// ([`story_message_id`]); every later one names the alert before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// The message id (without `<@domain>`) of the previous alert about
    /// the story; `None` when this alert is the root.
    pub previous: Option<String>,
}

/// The message id (without `<@domain>`) of the first alert about `story`.
pub fn story_message_id(story: &str) -> String {
    format!("story.{story}")
}

impl StoryAlert {
    /// Every watch that matched, the first one first.
    pub fn watches(&self) -> Vec<&str> {
        std::iter::once(self.watch.as_str())
            .chain(self.also.iter().map(|m| m.watch.as_str()))
            .collect()
    }

    /// The union of every matching watch's highlights, each once.
    pub fn all_highlights(&self) -> Vec<&Highlight> {
        let mut all: Vec<&Highlight> = Vec::new();
        for h in self
            .highlights
            .iter()
            .chain(self.also.iter().flat_map(|m| m.highlights.iter()))
        {
            if !all.contains(&h) {
                all.push(h);
            }
        }
        all
    }

    /// This alert's message id (without `<@domain>`): the story's for the
    /// root of a thread, else one derived from the alert's key.
    pub fn message_id(&self, key: &str) -> String {
        match &self.thread {
            Some(Thread { previous: None }) => story_message_id(&self.event.story),
            _ => key.to_string(),
        }
    }
}

/// Something the operator should know about a feed or a notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpsNotice {
    /// The feed it is about ("" for a notice about a notifier).
    pub feed: String,
    /// The notifier it is about, for `notifier_refusing`/`_recovered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifier: Option<String>,
    pub kind: OpsKind,
    pub message: String,
    /// When the condition started.
    pub since: UnixMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpsKind {
    /// Failing for longer than `alert_after`.
    Failing,
    /// Working again after a `Failing` notice.
    Recovered,
    /// The server answered 410 Gone.
    Gone,
    /// A permanent redirect changed the feed's URL.
    Moved,
    /// A notifier's receiver has refused every alert for a while (wrong
    /// URL, revoked token…): its alerts wait until someone fixes it.
    NotifierRefusing,
    /// It accepts alerts again after a `NotifierRefusing` notice.
    NotifierRecovered,
}

impl OpsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpsKind::Failing => "failing",
            OpsKind::Recovered => "recovered",
            OpsKind::Gone => "gone",
            OpsKind::Moved => "moved",
            OpsKind::NotifierRefusing => "notifier_refusing",
            OpsKind::NotifierRecovered => "notifier_recovered",
        }
    }
}

/// The dashboard page of `story` under `public_url`.
pub fn story_page(public_url: Option<&str>, story: &str) -> Option<String> {
    public_url.map(|u| format!("{}/stories/{story}", u.trim_end_matches('/')))
}

impl Alert {
    /// The story this alert is about, if any.
    pub fn story(&self) -> Option<&StoryAlert> {
        match &self.body {
            AlertBody::Story(s) => Some(s),
            AlertBody::Ops(_) => None,
        }
    }

    /// One line saying what the alert is, for logs and listings.
    pub fn headline(&self) -> String {
        match &self.body {
            AlertBody::Story(s) => format!(
                "{} ({}, watch {}): {}",
                s.event.kind.as_str(),
                s.event.feed,
                s.watches().join(", "),
                s.event.title
            ),
            AlertBody::Ops(o) => match &o.notifier {
                Some(n) => format!("notifier {n} {}: {}", o.kind.as_str(), o.message),
                None => format!("feed {} {}: {}", o.feed, o.kind.as_str(), o.message),
            },
        }
    }
}

/// The idempotency key of a story alert: bound to the database instance, the
/// story, its revision and content, and the watch. Re-creating the same alert
/// after a crash yields the same key; a different version never does.
pub fn story_alert_key(instance: &str, event: &Event, watch: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        instance,
        &event.story,
        &event.revision.to_string(),
        event.kind.as_str(),
        &event.snapshot.title,
        event.snapshot.body(),
        watch,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

pub fn ops_alert_key(instance: &str, notice: &OpsNotice) -> String {
    let mut h = Sha256::new();
    let subject = match &notice.notifier {
        Some(n) => format!("notifier:{n}"),
        None => notice.feed.clone(),
    };
    for part in [
        instance,
        &subject,
        // the names these keys were first made with (Debug), kept so that
        // keys stay stable
        match notice.kind {
            OpsKind::Failing => "Failing",
            OpsKind::Recovered => "Recovered",
            OpsKind::Gone => "Gone",
            OpsKind::Moved => "Moved",
            OpsKind::NotifierRefusing => "NotifierRefusing",
            OpsKind::NotifierRecovered => "NotifierRecovered",
        },
        &notice.since.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Where one alert stands with one notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub alert: u64,
    pub notifier: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created: UnixMs,
    /// When the next attempt is due (pending and failed deliveries).
    pub next_attempt: UnixMs,
    pub last_attempt: Option<UnixMs>,
    pub last_error: Option<String>,
    pub delivered_at: Option<UnixMs>,
    /// Due, but held back until `next_attempt` by the notifier's shaping
    /// (quiet hours, a digest window, a per-story rate limit). Cleared when
    /// the delivery is attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Hold>,
}

/// What holds a due delivery back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    QuietHours,
    Digest,
    RateLimit,
    /// The notifier's receiver failed: nothing goes before its next probe.
    Receiver,
}

impl Hold {
    /// What the delivery waits for, for `storywatch outbox`.
    pub fn describe(self) -> &'static str {
        match self {
            Hold::QuietHours => "waiting for quiet hours to end",
            Hold::Digest => "waiting for the digest window to close",
            Hold::RateLimit => "waiting for the story's max_per_story limit",
            Hold::Receiver => "waiting for the receiver's next probe",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hold::QuietHours => "quiet_hours",
            Hold::Digest => "digest",
            Hold::RateLimit => "rate_limit",
            Hold::Receiver => "receiver",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt (or held by a digest / rate limit).
    Pending,
    /// Being sent right now; found at start-up it means the process died
    /// mid-send, and it is retried.
    InFlight,
    Delivered,
    /// The last attempt failed; retried at `next_attempt`.
    Failed,
    /// Given up: a permanent error, or retries exhausted. Kept for `outbox`.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Dead => "dead",
        }
    }

    /// Still owed to the receiver.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DeliveryState::Pending | DeliveryState::InFlight | DeliveryState::Failed
        )
    }
}

impl Delivery {
    pub fn new(alert: u64, notifier: &str, now: UnixMs) -> Delivery {
        Delivery {
            alert,
            notifier: notifier.to_string(),
            state: DeliveryState::Pending,
            attempts: 0,
            created: now,
            next_attempt: now,
            last_attempt: None,
            last_error: None,
            delivered_at: None,
            held: None,
        }
    }
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// This message will never be accepted (4xx such as 400, 413, 422,
    /// SMTP 5xx, a template that cannot render): retrying the same request
    /// fails the same way.
    pub permanent: bool,
    /// The receiver refuses *us*, whatever we send (401, 403, 404, 405,
    /// 410; SMTP authentication refused): the alert is not at fault, so it
    /// waits (retried with backoff) while the operator fixes the URL or
    /// credentials.
    pub refused: bool,
    /// The receiver asked us to wait (429/503 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
            refused: false,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            permanent: true,
            ..SendError::transient(message)
        }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        SendError {
            refused: true,
            ..SendError::transient(message)
        }
    }

    /// Retrying this very message can never succeed.
    pub fn is_rejection(&self) -> bool {
        self.permanent && !self.refused
    }
}

/// Applies the outcome of one attempt to a delivery; a retry is not
/// before `not_before` (the notifier's next probe), and past the give-up
/// window the delivery is dead.
pub fn record_attempt(
    d: &mut Delivery,
    outcome: Result<(), &SendError>,
    policy: &DeliveryConfig,
    now: UnixMs,
    not_before: UnixMs,
    rng: &mut impl Rng,
) {
    d.attempts += 1;
    d.last_attempt = Some(now);
    d.held = None;
    match outcome {
        Ok(()) => {
            d.state = DeliveryState::Delivered;
            d.delivered_at = Some(now);
            d.last_error = None;
        }
        Err(e) => {
            d.last_error = Some(e.message.clone());
            let give_up_at = d.created + policy.give_up_after.as_millis() as UnixMs;
            let next = (now + retry_delay(policy, d.attempts, e.retry_after, rng)).max(not_before);
            if e.is_rejection() || next > give_up_at {
                d.state = DeliveryState::Dead;
            } else {
                d.state = DeliveryState::Failed;
                d.next_attempt = next;
            }
        }
    }
}

/// Exponential backoff with ±20 % jitter (so retries to one receiver spread
/// out), never shorter than what the receiver asked for.
pub fn retry_delay(
    policy: &DeliveryConfig,
    attempts: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> UnixMs {
    let base = policy.retry_initial.as_millis() as f64
        * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
    let capped = base.min(policy.retry_max.as_millis() as f64);
    let jittered = capped * rng.random_range(0.8..1.2);
    let asked = retry_after.map(|d| d.as_millis() as f64).unwrap_or(0.0);
    jittered.max(asked).max(1.0) as UnixMs
}

/// A receiver that rejected this many messages in a row, with no success
/// between, is treated as refusing everything: later alerts wait instead of
/// each being burnt on it.
pub const REJECTIONS_MEAN_REFUSAL: u32 = 3;
/// A receiver refusing everything this long raises one operator notice.
pub const REFUSAL_NOTICE_AFTER: Duration = Duration::from_secs(3600);

/// How one notifier's receiver is doing, kept in the store so a restart or
/// the next `storywatch once` remembers it.
///
/// Closed (`failures == 0`): deliveries go as they come. After a failure it
/// opens until `open_until` (exponential backoff with jitter, as for a
/// delivery): nothing is sent to that receiver before then, new alerts
/// included; then one message goes as a probe. Success closes it; failure
/// opens it for the next, longer step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Circuit {
    /// Consecutive failed sends (0: closed).
    pub failures: u32,
    /// While failing, no send before this.
    pub open_until: UnixMs,
    /// Messages rejected in a row (400, 422…), no success since.
    pub rejections: u32,
    /// Since when the receiver refuses everything (401, 403, 404, 410, or
    /// repeated rejections); a success clears it.
    pub refusing_since: Option<UnixMs>,
    /// The operator has been told about this refusal (once per episode).
    pub notice_sent: bool,
    pub last_error: Option<String>,
}

/// What one send told the circuit, for the deliveries it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// The receiver is down or busy: retry later.
    Failed,
    /// This message is bad: its deliveries are dead.
    Rejected,
    /// The receiver refuses everything: the message is not at fault and
    /// waits.
    Refused,
}

impl Circuit {
    /// Nothing may be sent before `open_until`.
    pub fn is_open(&self, now: UnixMs) -> bool {
        self.failures > 0 && now < self.open_until
    }

    /// The receiver failed last time: send one message, as a probe, and
    /// the rest only if it goes through.
    pub fn is_probing(&self) -> bool {
        self.failures > 0
    }

    /// Applies a send's outcome and says what it means for its deliveries.
    pub fn record(
        &mut self,
        outcome: Result<(), &SendError>,
        policy: &DeliveryConfig,
        now: UnixMs,
        rng: &mut impl Rng,
    ) -> Verdict {
        let e = match outcome {
            Ok(()) => {
                let notice_sent = self.notice_sent;
                *self = Circuit {
                    notice_sent,
                    ..Circuit::default()
                };
                return Verdict::Accepted;
            }
            Err(e) => e,
        };
        self.last_error = Some(e.message.clone());
        let verdict = if e.refused {
            Verdict::Refused
        } else if e.permanent {
            self.rejections += 1;
            if self.rejections >= REJECTIONS_MEAN_REFUSAL {
                Verdict::Refused
            } else {
                // one bad message says nothing about the receiver, except
                // that it is up
                self.failures = 0;
                return Verdict::Rejected;
            }
        } else {
            Verdict::Failed
        };
        if verdict == Verdict::Refused {
            self.refusing_since.get_or_insert(now);
        }
        self.failures += 1;
        self.open_until = now + retry_delay(policy, self.failures, e.retry_after, rng);
        verdict
    }

    /// The receiver has refused everything for [`REFUSAL_NOTICE_AFTER`] and
    /// the operator has not been told yet.
    pub fn notice_due(&self, now: UnixMs) -> bool {
        !self.notice_sent
            && self
                .refusing_since
                .is_some_and(|since| now - since >= REFUSAL_NOTICE_AFTER.as_millis() as UnixMs)
    }

    /// The operator was told it refused, and now it accepts again.
    pub fn recovered(&self) -> bool {
        self.notice_sent && self.failures == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> DeliveryConfig {
        DeliveryConfig {
            retry_initial: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let mut rng = StdRng::seed_from_u64(7);
        let p = policy();
        for (attempt, expect) in [
            (1u32, 60_000i64),
            (2, 120_000),
            (3, 240_000),
            (7, 3_600_000),
            (30, 3_600_000),
        ] {
            let d = retry_delay(&p, attempt, None, &mut rng);
            assert!(
                d >= expect * 8 / 10 && d <= expect * 12 / 10,
                "attempt {attempt}: {d} not near {expect}"
            );
        }
        let asked = retry_delay(&p, 1, Some(Duration::from_secs(600)), &mut rng);
        assert!(asked >= 600_000);
    }

    #[test]
    fn permanent_errors_are_dead_at_once_transient_ones_retry() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut d = Delivery::new(1, "hook", 0);
        record_attempt(
            &mut d,
            Err(&SendError::transient("500")),
            &policy(),
            0,
            0,
            &mut rng,
        );
        assert_eq!(d.state, DeliveryState::Failed);
        assert!(d.next_attempt >= 48_000);
        record_attempt(
            &mut d,
            Err(&SendError::permanent("404")),
            &policy(),
            60_000,
            0,
            &mut rng,
        );
        assert_eq!(d.state, DeliveryState::Dead);
        assert_eq!(d.last_error.as_deref(), Some("404"));
    }

    #[test]
    fn a_refused_delivery_waits_instead_of_dying() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut d = Delivery::new(1, "hook", 0);
        record_attempt(
            &mut d,
            Err(&SendError::refused("401")),
            &policy(),
            0,
            0,
            &mut rng,
        );
        assert_eq!(d.state, DeliveryState::Failed);
    }

    #[test]
    fn a_retry_waits_for_the_next_probe_but_not_past_the_window() {
        let mut rng = StdRng::seed_from_u64(8);
        let hour = 3_600_000;
        let mut d = Delivery::new(1, "hook", 0);
        let down = SendError::transient("503");
        record_attempt(&mut d, Err(&down), &policy(), 0, 2 * hour, &mut rng);
        assert_eq!((d.state, d.next_attempt), (DeliveryState::Failed, 2 * hour));
        record_attempt(&mut d, Err(&down), &policy(), 2 * hour, 25 * hour, &mut rng);
        assert_eq!(
            d.state,
            DeliveryState::Dead,
            "the probe would come after 24 h"
        );
    }

    #[test]
    fn the_circuit_opens_backs_off_and_closes() {
        let mut rng = StdRng::seed_from_u64(4);
        let p = policy();
        let mut c = Circuit::default();
        assert!(!c.is_open(0) && !c.is_probing());
        let down = SendError::transient("503");
        assert_eq!(c.record(Err(&down), &p, 0, &mut rng), Verdict::Failed);
        assert!(c.is_open(1000) && c.is_probing());
        let first = c.open_until;
        assert!((48_000..=72_000).contains(&first), "{first}");
        assert!(!c.is_open(first));
        c.record(Err(&down), &p, first, &mut rng);
        assert!(c.open_until - first >= 96_000, "the next step is longer");
        assert_eq!(c.refusing_since, None, "down is not refusing");
        assert_eq!(c.record(Ok(()), &p, first + 1, &mut rng), Verdict::Accepted);
        assert_eq!(c, Circuit::default());
    }

    #[test]
    fn a_refusing_receiver_raises_one_notice_after_an_hour() {
        let mut rng = StdRng::seed_from_u64(5);
        let p = policy();
        let mut c = Circuit::default();
        let no = SendError::refused("401");
        assert_eq!(c.record(Err(&no), &p, 0, &mut rng), Verdict::Refused);
        assert!(!c.notice_due(59 * 60_000));
        c.record(Err(&no), &p, 30 * 60_000, &mut rng);
        assert_eq!(c.refusing_since, Some(0), "since the first refusal");
        assert!(c.notice_due(60 * 60_000));
        c.notice_sent = true;
        assert!(!c.notice_due(2 * 60 * 60_000), "once per episode");
        assert!(!c.recovered());
        c.record(Ok(()), &p, 3 * 60 * 60_000, &mut rng);
        assert!(c.recovered());
    }

    #[test]
    fn repeated_rejections_mean_the_receiver_refuses_everything() {
        let mut rng = StdRng::seed_from_u64(6);
        let p = policy();
        let mut c = Circuit::default();
        let bad = SendError::permanent("400");
        assert_eq!(c.record(Err(&bad), &p, 0, &mut rng), Verdict::Rejected);
        assert!(!c.is_open(1), "one bad message does not stop the others");
        assert_eq!(c.record(Err(&bad), &p, 1, &mut rng), Verdict::Rejected);
        assert_eq!(c.record(Err(&bad), &p, 2, &mut rng), Verdict::Refused);
        assert!(c.is_open(3));
        assert_eq!(c.refusing_since, Some(2));
        // a success in between resets the count
        let mut c = Circuit::default();
        c.record(Err(&bad), &p, 0, &mut rng);
        c.record(Err(&bad), &p, 1, &mut rng);
        c.record(Ok(()), &p, 2, &mut rng);
        assert_eq!(c.record(Err(&bad), &p, 3, &mut rng), Verdict::Rejected);
    }

    #[test]
    fn retries_stop_after_give_up_window() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut d = Delivery::new(1, "hook", 0);
        let day = 24 * 3600 * 1000;
        record_attempt(
            &mut d,
            Err(&SendError::transient("down")),
            &policy(),
            day - 1000,
            0,
            &mut rng,
        );
        assert_eq!(d.state, DeliveryState::Dead);
        let mut ok = Delivery::new(2, "hook", 0);
        record_attempt(&mut ok, Ok(()), &policy(), 5, 0, &mut rng);
        assert_eq!(ok.state, DeliveryState::Delivered);
        assert_eq!(ok.delivered_at, Some(5));
    }
}
