//! A feed's state as stored: one byte of format, a varint of flags, then
//! only the fields that are set, as varints and length-prefixed strings.
//!
//! Every poll reads and writes its feed's state, a 304 included, so at
//! 1,000 feeds an idle `once` spent about 25 M instructions (a tenth of its
//! own work) turning states into JSON and back. States written as JSON
//! (first byte `{`) still read; they take this form when next written.

use super::layout::{put_varint, take_varint, unzigzag, zigzag};
use super::{corrupt, decode, StoreError};
use crate::model::UnixMs;
use crate::records::FeedState;

/// First byte of a state in this form (JSON starts with `{`).
const FORMAT: u8 = 1;

// Bits of the flags varint: the booleans, then which optional fields follow.
const BASELINE_DONE: u64 = 1;
const FAILING_ALERTED: u64 = 1 << 1;
const GONE: u64 = 1 << 2;
/// `config_url` is the same as `url` (nearly always) and is not repeated.
const SAME_URL: u64 = 1 << 3;
const ETAG: u64 = 1 << 4;
const LAST_MODIFIED: u64 = 1 << 5;
const BODY_FP: u64 = 1 << 6;
const TITLE: u64 = 1 << 7;
const LAST_POLL: u64 = 1 << 8;
const LAST_SUCCESS: u64 = 1 << 9;
const LAST_ERROR: u64 = 1 << 10;
const FAILING_SINCE: u64 = 1 << 11;
const HTTP_HINT: u64 = 1 << 12;
const FEED_HINT: u64 = 1 << 13;
const KNOWN: u64 = (1 << 14) - 1;

pub(super) fn encode(s: &FeedState) -> Vec<u8> {
    let flags = [
        (s.baseline_done, BASELINE_DONE),
        (s.failing_alerted, FAILING_ALERTED),
        (s.gone, GONE),
        (s.config_url == s.url, SAME_URL),
        (s.etag.is_some(), ETAG),
        (s.last_modified.is_some(), LAST_MODIFIED),
        (s.body_fp.is_some(), BODY_FP),
        (s.title.is_some(), TITLE),
        (s.last_poll.is_some(), LAST_POLL),
        (s.last_success.is_some(), LAST_SUCCESS),
        (s.last_error.is_some(), LAST_ERROR),
        (s.failing_since.is_some(), FAILING_SINCE),
        (s.http_hint_ms.is_some(), HTTP_HINT),
        (s.feed_hint_ms.is_some(), FEED_HINT),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |flags, (_, bit)| flags | bit);
    let mut out = Vec::with_capacity(64 + s.url.len() + s.etag.as_ref().map_or(0, String::len));
    out.push(FORMAT);
    put_varint(&mut out, flags);
    put_str(&mut out, &s.url);
    if flags & SAME_URL == 0 {
        put_str(&mut out, &s.config_url);
    }
    for text in [&s.etag, &s.last_modified].into_iter().flatten() {
        put_str(&mut out, text);
    }
    if let Some(fp) = s.body_fp {
        out.extend_from_slice(&fp.to_be_bytes());
    }
    if let Some(title) = &s.title {
        put_str(&mut out, title);
    }
    for at in [s.last_poll, s.last_success].into_iter().flatten() {
        put_varint(&mut out, zigzag(at));
    }
    if let Some(error) = &s.last_error {
        put_str(&mut out, error);
    }
    if let Some(at) = s.failing_since {
        put_varint(&mut out, zigzag(at));
    }
    for ms in [s.http_hint_ms, s.feed_hint_ms].into_iter().flatten() {
        put_varint(&mut out, ms);
    }
    put_varint(&mut out, u64::from(s.failures));
    put_varint(&mut out, zigzag(s.next_poll));
    for n in [s.interval_ms, s.polls, s.not_modified, s.errors] {
        put_varint(&mut out, n);
    }
    put_varint(&mut out, u64::from(s.items));
    out
}

pub(super) fn decode_state(bytes: &[u8]) -> Result<FeedState, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            read(&mut Reader(rest)).ok_or_else(|| corrupt("feed state", "truncated or malformed"))
        }
        _ => decode("feed state", bytes),
    }
}

fn read(r: &mut Reader) -> Option<FeedState> {
    let flags = r.varint()?;
    if flags & !KNOWN != 0 {
        return None;
    }
    let has = |bit: u64| flags & bit != 0;
    let url = r.string()?;
    let config_url = if has(SAME_URL) {
        url.clone()
    } else {
        r.string()?
    };
    let mut s = FeedState {
        url,
        config_url,
        baseline_done: has(BASELINE_DONE),
        failing_alerted: has(FAILING_ALERTED),
        gone: has(GONE),
        ..FeedState::default()
    };
    s.etag = r.optional(has(ETAG), Reader::string)?;
    s.last_modified = r.optional(has(LAST_MODIFIED), Reader::string)?;
    s.body_fp = r.optional(has(BODY_FP), Reader::fixed_u64)?;
    s.title = r.optional(has(TITLE), Reader::string)?;
    s.last_poll = r.optional(has(LAST_POLL), Reader::time)?;
    s.last_success = r.optional(has(LAST_SUCCESS), Reader::time)?;
    s.last_error = r.optional(has(LAST_ERROR), Reader::string)?;
    s.failing_since = r.optional(has(FAILING_SINCE), Reader::time)?;
    s.http_hint_ms = r.optional(has(HTTP_HINT), Reader::varint)?;
    s.feed_hint_ms = r.optional(has(FEED_HINT), Reader::varint)?;
    s.failures = u32::try_from(r.varint()?).ok()?;
    s.next_poll = r.time()?;
    s.interval_ms = r.varint()?;
    s.polls = r.varint()?;
    s.not_modified = r.varint()?;
    s.errors = r.varint()?;
    s.items = u32::try_from(r.varint()?).ok()?;
    r.0.is_empty().then_some(s)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The bytes not read yet; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        take_varint(&mut self.0)
    }

    fn time(&mut self) -> Option<UnixMs> {
        self.varint().map(unzigzag)
    }

    fn fixed_u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.0.len() {
            return None;
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).ok()
    }

    /// `Some(Some(value))` if the field is there, `Some(None)` if the flag
    /// says it is not, `None` if it should be and cannot be read.
    fn optional<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if present {
            read(self).map(Some)
        } else {
            Some(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full() -> FeedState {
        FeedState {
            url: "https://example.com/moved.xml".into(),
            config_url: "https://example.com/feed.xml".into(),
            etag: Some("W/\"abc\"".into()),
            last_modified: Some("Wed, 02 Dec 2026 10:00:00 GMT".into()),
            body_fp: Some(0xfeed_beef_0123_4567),
            baseline_done: true,
            present: Vec::new(),
            title: Some("Héadlines ✓".into()),
            last_poll: Some(1_796_300_000_000),
            last_success: Some(1_796_299_000_000),
            last_error: Some("HTTP 503".into()),
            failing_since: Some(-5),
            failures: 3,
            failing_alerted: true,
            gone: false,
            next_poll: 1_796_300_600_000,
            interval_ms: 600_000,
            http_hint_ms: Some(300_000),
            feed_hint_ms: Some(3_600_000),
            polls: 12_345,
            not_modified: 12_000,
            errors: 7,
            items: 50,
        }
    }

    #[test]
    fn stored_form_is_stable_and_json_still_reads() {
        let s = FeedState {
            baseline_done: true,
            etag: Some("\"e\"".into()),
            last_success: Some(1_000),
            next_poll: 2_000,
            polls: 1,
            items: 50,
            ..FeedState::new("http://a/f")
        };
        let bytes = encode(&s);
        assert_eq!(
            bytes,
            [
                &[FORMAT, 0x99, 0x04, 10][..],
                b"http://a/f",
                &[3],
                b"\"e\"",
                &[0xd0, 0x0f, 0, 0xa0, 0x1f, 0, 1, 0, 0, 50],
            ]
            .concat()
        );
        assert_eq!(decode_state(&bytes).unwrap(), s);
        let json = serde_json::to_vec(&full()).unwrap();
        assert_eq!(decode_state(&json).unwrap(), full());
        assert!(encode(&full()).len() * 3 < json.len());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let bytes = encode(&full());
        for cut in 1..bytes.len() {
            assert!(decode_state(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_state(&longer).is_err());
        let mut unknown_flag = vec![FORMAT];
        put_varint(&mut unknown_flag, 1 << 20);
        assert!(decode_state(&unknown_flag).is_err());
    }

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,40}"
    }

    prop_compose! {
        fn any_state()(
            (url, config_url, etag, last_modified, title, last_error) in
                (text(), prop::option::of(text()), prop::option::of(text()),
                 prop::option::of(text()), prop::option::of(text()), prop::option::of(text())),
            (body_fp, last_poll, last_success, failing_since, http_hint_ms, feed_hint_ms) in
                (any::<Option<u64>>(), any::<Option<i64>>(), any::<Option<i64>>(),
                 any::<Option<i64>>(), any::<Option<u64>>(), any::<Option<u64>>()),
            (flags, failures, next_poll, interval_ms, polls, not_modified, errors, items) in
                (any::<[bool; 3]>(), any::<u32>(), any::<i64>(), any::<u64>(),
                 any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>()),
        ) -> FeedState {
            FeedState {
                config_url: config_url.unwrap_or_else(|| url.clone()),
                url, etag, last_modified, body_fp,
                baseline_done: flags[0], present: Vec::new(), title,
                last_poll, last_success, last_error, failing_since, failures,
                failing_alerted: flags[1], gone: flags[2], next_poll, interval_ms,
                http_hint_ms, feed_hint_ms, polls, not_modified, errors, items,
            }
        }
    }

    proptest! {
        #[test]
        fn every_state_round_trips(s in any_state()) {
            prop_assert_eq!(decode_state(&encode(&s)).unwrap(), s);
        }
    }
}
