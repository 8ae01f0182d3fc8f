//! How one story is laid out in its single `stories` value.
//!
//! Schema 1 kept a story in three trees: its record in `stories` (with the
//! latest text), every version in `versions` (the newest one repeating that
//! text), and its recency in `recent_of`. A new story cost four keys and
//! two copies of its text. Now one value holds all of it:
//!
//! ```text
//! 4 ‖ last_changed ‖ last_seen − last_changed (varints) ‖ base ‖ dictionary (u64 BE each)
//!   ‖ record length (varint) ‖ zstd(JSON StoryRecord) ‖ zstd(JSON [StoredVersion, oldest first])
//! ```
//!
//! - `last_changed` is readable without decoding, so a write finds the
//!   story's old `recent` key (what `recent_of` was for); so is
//!   `last_seen`, so the retention pass decodes only the stories it drops;
//! - the versions part is apart from the record, so the tracker reads a
//!   story without decompressing its history, and a write that leaves the
//!   history alone copies its bytes as they are;
//! - each version is a [`SnapshotDelta`] against the version after it, the
//!   newest against the record's `latest`; `base` is the fingerprint of the
//!   `latest` the chain was written against, so a write that changed only
//!   `latest`'s metadata (no new version) knows to re-base the chain;
//! - both parts are compressed with zstd against the feed's dictionary
//!   (see [`super::dict`]), named by its id;
//! - a story seen once, the most common kind, has one version equal to
//!   `latest`, made at `last_changed`: its versions part is the one byte
//!   [`FIRST_VERSION_ONLY`] instead of a compressed chain (~40 bytes, an
//!   eighth of such a value; schema 4).
//!
//! Values of format 3 (schema 3) hold the same with fixed-size fields
//! (u64 BE times, u32 BE length: 37 bytes of header instead of ~26).
//! Values of format 2 (schema 2, and stories of a feed that has no
//! dictionary yet) have no dictionary id and are lz4-compressed against
//! [`DICTIONARY`], the shape of a record and a chain. All three read.

use serde::{Deserialize, Serialize};

use super::delta::SnapshotDelta;
use super::dict::{Dict, Dicts};
use super::{corrupt, StoreError};
use crate::model::{ChangeClass, Field, Snapshot, UnixMs};
use crate::records::{StoryRecord, VersionRecord};

/// First byte of a story value lz4-compressed against [`DICTIONARY`]
/// (schema 2). Schema 1 values start with 0 (lz4) or `{` (JSON).
pub const FORMAT: u8 = 2;

/// First byte of a story value zstd-compressed against its feed's
/// dictionary, with fixed-size header fields (schema 3).
pub const FORMAT_DICT: u8 = 3;

/// First byte of a story value zstd-compressed against its feed's
/// dictionary, its header's times and length as varints (schema 4): 25
/// to 29 bytes instead of 37, of ~300 a story.
pub const FORMAT_COMPACT: u8 = 4;

/// The whole versions part of a story whose only version is its first,
/// equal to `latest` and made at `last_changed` (no compressed chain is
/// one byte long: lz4's starts with a 4-byte length, zstd's with a 4-byte
/// magic number).
const FIRST_VERSION_ONLY: u8 = 1;

const HEADER: usize = 1 + 8 + 8 + 8 + 4;
const HEADER_DICT: usize = HEADER + 8;

/// What lz4 may refer back to before each story value: the shape of a
/// story record and of a version chain. Stored values depend on it: never
/// change it (a new dictionary needs a new [`FORMAT`]).
const DICTIONARY: &[u8] = br#"[{"r":1,"at":1700000000000,"class":"minor","score":0.0,"flipflop":true,"reverted":["title"],"d":{"t":{"p":0,"s":0,"m":""},"s":{"p":0,"s":0,"m":""},"c":{"p":0,"s":0,"m":""},"l":"https://","a":[],"k":[],"e":[],"pu":[],"up":[]}}]{"id":"","feed":"","first_seen":1700000000000,"last_seen":1700000000000,"last_changed":1700000000000,"revision":1,"latest":{"title":"","summary":"","content":"","link":"https://www.","authors":[],"categories":[],"enclosures":[],"published":null,"updated":null},"raw_fp":,"seen_fps":[],"flipflops":0,"oscillation_reported":false,"edits":[],"developing":false,"removed_at":null,"keys":["g:https://www.","l:https://www."],"followers":["#;

/// Compresses one part of a value: against the feed's dictionary, or
/// without one ([`FORMAT`]) against [`DICTIONARY`].
fn pack(json: &[u8], dict: Option<&Dict>) -> Vec<u8> {
    match dict {
        Some(d) => d.compress(json),
        None => lz4_flex::block::compress_prepend_size_with_dict(json, DICTIONARY),
    }
}

/// One version in a story's chain: its text is a delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredVersion {
    #[serde(rename = "r")]
    revision: u32,
    at: UnixMs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class: Option<ChangeClass>,
    #[serde(default)]
    score: f32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    flipflop: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reverted: Vec<Field>,
    #[serde(rename = "d")]
    delta: SnapshotDelta,
}

/// A schema-2 story value, split but not decoded.
#[derive(Debug, Clone, Copy)]
pub struct StoryValue<'a> {
    pub last_changed: UnixMs,
    pub last_seen: UnixMs,
    /// Fingerprint of the `latest` the version chain is relative to.
    pub base: u64,
    /// The feed dictionary both parts are compressed against (0: none,
    /// [`FORMAT`]).
    pub dict: u64,
    record: &'a [u8],
    /// The compressed version chain (empty: no versions).
    pub versions: &'a [u8],
}

/// The fingerprint a chain records for the `latest` it is relative to:
/// while it matches, a write that adds no version keeps the chain's bytes
/// as they are instead of decoding and encoding them again.
pub fn base_of(latest: &Snapshot) -> u64 {
    let time = |t: Option<UnixMs>| t.map_or(0, |t| t as u64 ^ (1 << 63));
    crate::fingerprint::Fields::default()
        .text(&latest.title)
        .text(&latest.summary)
        .text(&latest.content)
        .text(&latest.link)
        .texts(&latest.authors)
        .texts(&latest.categories)
        .texts(&latest.enclosures)
        .number(time(latest.published))
        .number(time(latest.updated))
        .finish()
}

/// [`base_of`] as values written by builds before 5345f5c record it (the
/// fingerprint of `latest`'s JSON, which cost more than the rest of a new
/// story's fingerprinting): they keep their chain's bytes too.
pub fn legacy_base_of(latest: &Snapshot) -> u64 {
    crate::fingerprint::of_bytes(&serde_json::to_vec(latest).unwrap_or_default())
}

impl<'a> StoryValue<'a> {
    /// Splits a stored value; `None` for a schema-1 value.
    pub fn parse(bytes: &'a [u8]) -> Result<Option<StoryValue<'a>>, StoreError> {
        if bytes.first() == Some(&FORMAT_COMPACT) {
            return Self::parse_compact(&bytes[1..]).map(Some);
        }
        let size = match bytes.first() {
            Some(&FORMAT) => HEADER,
            Some(&FORMAT_DICT) => HEADER_DICT,
            _ => return Ok(None),
        };
        let short = || corrupt("story", "value shorter than its header");
        let head = bytes.get(..size).ok_or_else(short)?;
        let u64_at = |i: usize| u64::from_be_bytes(head[i..i + 8].try_into().unwrap_or([0; 8]));
        let len = u32::from_be_bytes(head[size - 4..].try_into().unwrap_or([0; 4])) as usize;
        let rest = &bytes[size..];
        if rest.len() < len {
            return Err(short());
        }
        Ok(Some(StoryValue {
            last_changed: u64_at(1) as UnixMs,
            last_seen: u64_at(9) as UnixMs,
            base: u64_at(17),
            dict: if size == HEADER_DICT { u64_at(25) } else { 0 },
            record: &rest[..len],
            versions: &rest[len..],
        }))
    }

    /// A [`FORMAT_COMPACT`] value after its first byte.
    fn parse_compact(mut rest: &'a [u8]) -> Result<StoryValue<'a>, StoreError> {
        let short = || corrupt("story", "value shorter than its header");
        let last_changed = take_varint(&mut rest).ok_or_else(short)? as UnixMs;
        let seen_after = unzigzag(take_varint(&mut rest).ok_or_else(short)?);
        let (base, tail) = rest.split_first_chunk::<8>().ok_or_else(short)?;
        let (dict, tail) = tail.split_first_chunk::<8>().ok_or_else(short)?;
        rest = tail;
        let len = take_varint(&mut rest).ok_or_else(short)? as usize;
        if rest.len() < len {
            return Err(short());
        }
        Ok(StoryValue {
            last_changed,
            last_seen: last_changed.saturating_add(seen_after),
            base: u64::from_be_bytes(*base),
            dict: u64::from_be_bytes(*dict),
            record: &rest[..len],
            versions: &rest[len..],
        })
    }

    /// Decompresses one of the value's parts.
    fn unpack(&self, what: &str, part: &[u8], dicts: &Dicts) -> Result<Vec<u8>, StoreError> {
        if self.dict == 0 {
            return lz4_flex::block::decompress_size_prepended_with_dict(part, DICTIONARY)
                .map_err(|e| corrupt(what, e));
        }
        dicts.get(self.dict)?.decompress(what, part)
    }

    pub fn record(&self, dicts: &Dicts) -> Result<StoryRecord, StoreError> {
        let raw = self.unpack("story", self.record, dicts)?;
        serde_json::from_slice(&raw).map_err(|e| corrupt("story", e))
    }

    /// Every version, oldest first, rebuilt from `latest` (the record's
    /// `latest` the chain was written against).
    pub fn versions(
        &self,
        story: &str,
        latest: &Snapshot,
        dicts: &Dicts,
    ) -> Result<Vec<VersionRecord>, StoreError> {
        let chain = self.chain(dicts)?;
        let mut out: Vec<VersionRecord> = Vec::with_capacity(chain.len());
        for v in chain.into_iter().rev() {
            let successor = out.last().map_or(latest, |o| &o.snapshot);
            let version = v.rebuild(story, successor)?;
            out.push(version);
        }
        out.reverse();
        Ok(out)
    }

    /// The newest version alone (what a listing shows): the chain's last
    /// entry applied to `latest`.
    pub fn last_version(
        &self,
        story: &str,
        latest: &Snapshot,
        dicts: &Dicts,
    ) -> Result<Option<VersionRecord>, StoreError> {
        self.chain(dicts)?
            .pop()
            .map(|v| v.rebuild(story, latest))
            .transpose()
    }

    /// The stored versions, oldest first, still as deltas.
    /// Whether the versions part is [`FIRST_VERSION_ONLY`], which stands
    /// for a version made at the header's `last_changed`.
    pub fn first_version_only(&self) -> bool {
        self.versions == [FIRST_VERSION_ONLY]
    }

    fn chain(&self, dicts: &Dicts) -> Result<Vec<StoredVersion>, StoreError> {
        if self.versions.is_empty() {
            return Ok(Vec::new());
        }
        if self.first_version_only() {
            return Ok(vec![StoredVersion {
                revision: 1,
                at: self.last_changed,
                class: None,
                score: 0.0,
                flipflop: false,
                reverted: Vec::new(),
                delta: SnapshotDelta::default(),
            }]);
        }
        let raw = self.unpack("versions", self.versions, dicts)?;
        serde_json::from_slice(&raw).map_err(|e| corrupt("versions", e))
    }
}

impl StoredVersion {
    /// The version this delta makes of its successor's snapshot.
    fn rebuild(self, story: &str, successor: &Snapshot) -> Result<VersionRecord, StoreError> {
        let snapshot = self.delta.apply(successor).ok_or_else(|| {
            corrupt(
                "versions",
                format!(
                    "revision {} of story {story} does not fit its successor",
                    self.revision
                ),
            )
        })?;
        Ok(VersionRecord {
            story: story.to_string(),
            revision: self.revision,
            at: self.at,
            snapshot,
            class: self.class,
            score: self.score,
            flipflop: self.flipflop,
            reverted: self.reverted,
        })
    }
}

/// The compressed chain of `versions` (oldest first), relative to `latest`,
/// against `dict` (the one the value will name).
/// The versions part of a story whose record has `latest` and
/// `last_changed`.
pub fn encode_versions(
    versions: &[VersionRecord],
    latest: &Snapshot,
    last_changed: UnixMs,
    dict: Option<&Dict>,
) -> Vec<u8> {
    if versions.is_empty() {
        return Vec::new();
    }
    if let [v] = versions {
        if v.revision == 1
            && v.at == last_changed
            && v.class.is_none()
            && v.score == 0.0
            && !v.flipflop
            && v.reverted.is_empty()
            && v.snapshot == *latest
        {
            return vec![FIRST_VERSION_ONLY];
        }
    }
    let mut chain = Vec::with_capacity(versions.len());
    let mut next = latest;
    for v in versions.iter().rev() {
        chain.push(StoredVersion {
            revision: v.revision,
            at: v.at,
            class: v.class,
            score: v.score,
            flipflop: v.flipflop,
            reverted: v.reverted.clone(),
            delta: SnapshotDelta::between(&v.snapshot, next),
        });
        next = &v.snapshot;
    }
    chain.reverse();
    pack(&serde_json::to_vec(&chain).unwrap_or_default(), dict)
}

/// A whole story value: the record and an already encoded chain (from
/// [`encode_versions`] against `base` and the same `dict`).
pub fn encode(record: &StoryRecord, base: u64, versions: &[u8], dict: Option<&Dict>) -> Vec<u8> {
    let Some(d) = dict else {
        return encode_fixed(record, base, versions, None);
    };
    let packed = pack(&serde_json::to_vec(record).unwrap_or_default(), dict);
    let mut out = Vec::with_capacity(HEADER_DICT + packed.len() + versions.len());
    out.push(FORMAT_COMPACT);
    let changed = record.last_changed.max(0);
    put_varint(&mut out, changed as u64);
    put_varint(&mut out, zigzag(record.last_seen.saturating_sub(changed)));
    out.extend_from_slice(&base.to_be_bytes());
    out.extend_from_slice(&d.id.to_be_bytes());
    put_varint(&mut out, packed.len() as u64);
    out.extend_from_slice(&packed);
    out.extend_from_slice(versions);
    out
}

/// A value with the fixed-size header: [`FORMAT`] without a dictionary,
/// [`FORMAT_DICT`] (as schema 3 wrote it) with one.
pub(super) fn encode_fixed(
    record: &StoryRecord,
    base: u64,
    versions: &[u8],
    dict: Option<&Dict>,
) -> Vec<u8> {
    let packed = pack(&serde_json::to_vec(record).unwrap_or_default(), dict);
    let mut out = Vec::with_capacity(HEADER_DICT + packed.len() + versions.len());
    out.push(if dict.is_some() { FORMAT_DICT } else { FORMAT });
    out.extend_from_slice(&(record.last_changed.max(0) as u64).to_be_bytes());
    out.extend_from_slice(&(record.last_seen.max(0) as u64).to_be_bytes());
    out.extend_from_slice(&base.to_be_bytes());
    if let Some(d) = dict {
        out.extend_from_slice(&d.id.to_be_bytes());
    }
    out.extend_from_slice(&(packed.len() as u32).to_be_bytes());
    out.extend_from_slice(&packed);
    out.extend_from_slice(versions);
    out
}

/// LEB128: seven bits a byte, low first.
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A signed difference as a small unsigned number (0, -1, 1, -2… → 0, 1, 2, 3…).
pub(super) fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

pub(super) fn unzigzag(z: u64) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn story(latest: Snapshot, revision: u32) -> StoryRecord {
        StoryRecord {
            id: "s1".into(),
            feed: "f".into(),
            first_seen: 1,
            last_seen: 2,
            last_changed: 77,
            revision,
            latest,
            raw_fp: 7,
            seen_fps: vec![7],
            flipflops: 0,
            oscillation_reported: false,
            edits: vec![],
            developing: false,
            removed_at: None,
            keys: vec!["g:s1".into()],
            followers: vec![],
            merges: vec![],
            earlier: Default::default(),
            last_message: None,
            display: Default::default(),
        }
    }

    pub(crate) fn version(revision: u32, title: &str, body: &str) -> VersionRecord {
        VersionRecord {
            story: "s1".into(),
            revision,
            at: revision as UnixMs * 10,
            snapshot: Snapshot {
                title: title.into(),
                summary: body.into(),
                ..Default::default()
            },
            class: (revision > 1).then_some(ChangeClass::Major),
            score: 0.5,
            flipflop: revision == 3,
            reverted: vec![],
        }
    }

    #[test]
    fn a_story_and_its_history_round_trip_with_the_text_kept_once() {
        let body = "The council met on Tuesday and voted on the budget. ".repeat(20);
        let versions = vec![
            version(1, "Council to vote", &body),
            version(2, "Council votes", &format!("{body} Update: passed.")),
            version(3, "Council to vote", &body),
        ];
        let mut latest = versions[2].snapshot.clone();
        latest.link = "https://example.org/x".into(); // metadata newer than the last version
        let record = story(latest.clone(), 3);
        let dicts = super::super::dict::tests::temporary();
        let sample = serde_json::to_vec(&story(versions[0].snapshot.clone(), 1)).unwrap();
        let dict = dicts.adopt(Dict::build(std::iter::repeat_n(sample.as_slice(), 4)).unwrap());
        for (codec, dict) in [("lz4", None), ("feed dictionary", Some(&*dict))] {
            let chain = encode_versions(&versions, &latest, record.last_changed, dict);
            let value = encode(&record, base_of(&latest), &chain, dict);
            let format = if dict.is_some() {
                FORMAT_COMPACT
            } else {
                FORMAT
            };
            assert_eq!(value[0], format, "{codec}");
            let parsed = StoryValue::parse(&value).unwrap().unwrap();
            assert_eq!(parsed.last_changed, 77);
            assert_eq!(parsed.last_seen, 2);
            assert_eq!(parsed.base, base_of(&latest));
            assert_eq!(parsed.dict, dict.map_or(0, |d| d.id), "{codec}");
            assert_eq!(parsed.record(&dicts).unwrap(), record, "{codec}");
            assert_eq!(
                parsed.versions("s1", &latest, &dicts).unwrap(),
                versions,
                "{codec}"
            );
            // the history costs far less than a second copy of the text
            assert!(
                chain.len() < body.len() / 4,
                "{codec}: chain {} bytes",
                chain.len()
            );
        }
    }

    /// Schema 4's header (varint times and length) reads back whatever
    /// the times, and schema 3's fixed one still reads.
    #[test]
    fn compact_and_fixed_headers_read_back_the_same() {
        let dicts = super::super::dict::tests::temporary();
        let text = Snapshot {
            summary: "The council met on Tuesday and voted on the budget. ".repeat(20),
            ..Default::default()
        };
        let sample = serde_json::to_vec(&story(text, 1)).unwrap();
        let dict = dicts.adopt(Dict::build(std::iter::repeat_n(sample.as_slice(), 4)).unwrap());
        let now = 1_796_294_440_126;
        for (changed, seen) in [
            (now, now),
            (now, now + 3_600_000),
            (now, now - 5),
            (0, 0),
            (-7, 3),
            (1, i64::MAX),
        ] {
            let mut record = story(Snapshot::default(), 1);
            record.last_changed = changed;
            record.last_seen = seen;
            let compact = encode(&record, 42, &[FIRST_VERSION_ONLY], Some(&dict));
            let fixed = encode_fixed(&record, 42, &[FIRST_VERSION_ONLY], Some(&dict));
            assert_eq!((compact[0], fixed[0]), (FORMAT_COMPACT, FORMAT_DICT));
            if changed == now && seen == now {
                // 1 + 6 + 1 + 8 + 8 + 1 bytes of header instead of 37
                assert_eq!(fixed.len() - compact.len(), 12, "header bytes saved");
            }
            for value in [&compact, &fixed] {
                let parsed = StoryValue::parse(value).unwrap().unwrap();
                assert_eq!(parsed.last_changed, changed.max(0), "{changed} {seen}");
                assert_eq!(parsed.last_seen, seen.max(0), "{changed} {seen}");
                assert_eq!((parsed.base, parsed.dict), (42, dict.id));
                assert_eq!(parsed.record(&dicts).unwrap(), record);
                assert!(parsed.first_version_only());
            }
            for cut in 1..27 {
                assert!(StoryValue::parse(&compact[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_story_seen_once_keeps_its_first_version_in_one_byte() {
        let dicts = super::super::dict::tests::temporary();
        let first = VersionRecord {
            score: 0.0,
            ..version(1, "Council to vote", "The council met on Tuesday.")
        };
        let mut record = story(first.snapshot.clone(), 1);
        record.last_changed = first.at;
        let chain = encode_versions(std::slice::from_ref(&first), &record.latest, first.at, None);
        assert_eq!(chain, [FIRST_VERSION_ONLY]);
        let value = encode(&record, base_of(&record.latest), &chain, None);
        let parsed = StoryValue::parse(&value).unwrap().unwrap();
        assert!(parsed.first_version_only());
        let read = parsed.versions("s1", &record.latest, &dicts).unwrap();
        assert_eq!(read, std::slice::from_ref(&first));
        // anything else about it is a real chain
        let later = VersionRecord {
            at: first.at + 1,
            ..first.clone()
        };
        let classed = VersionRecord {
            class: Some(ChangeClass::Minor),
            ..first.clone()
        };
        let mut older_text = record.latest.clone();
        older_text.title = "Council to meet".into();
        let other_text = VersionRecord {
            snapshot: older_text,
            ..first.clone()
        };
        let scored = VersionRecord {
            score: 0.5,
            ..first.clone()
        };
        for v in [later, classed, other_text, scored] {
            let chain = encode_versions(std::slice::from_ref(&v), &record.latest, first.at, None);
            assert!(chain.len() > 1);
            let value = encode(&record, base_of(&record.latest), &chain, None);
            let parsed = StoryValue::parse(&value).unwrap().unwrap();
            assert_eq!(parsed.versions("s1", &record.latest, &dicts).unwrap(), [v]);
        }
    }

    #[test]
    fn schema_1_values_are_told_apart_and_damage_is_an_error() {
        let dicts = super::super::dict::tests::temporary();
        assert!(StoryValue::parse(b"{\"id\":1}").unwrap().is_none());
        assert!(StoryValue::parse(&[0, 1, 2]).unwrap().is_none());
        assert!(StoryValue::parse(&[FORMAT, 0, 0]).is_err());
        let record = story(Snapshot::default(), 1);
        let mut value = encode(&record, 0, &[], None);
        let parsed = StoryValue::parse(&value).unwrap().unwrap();
        assert!(parsed
            .versions("s1", &Snapshot::default(), &dicts)
            .unwrap()
            .is_empty());
        value.truncate(HEADER + 2);
        assert!(StoryValue::parse(&value).is_err());
    }
}
