//! The only file that knows sled.
//!
//! Trees (values are JSON unless said otherwise):
//! - `meta`: schema version, this database's random instance id, the
//!   highest alert id used, and whether the recency index is built;
//! - `feeds`: feed name → [`FeedState`] (small: rewritten on every poll);
//! - `present`: feed name → the stories of its last parsed poll, each with
//!   the raw fingerprint of its entry (written only when a body was parsed,
//!   so a 304 neither reads nor writes it; see [`present`]);
//! - `stories`: story id → the story and its whole history in one value
//!   (see [`layout`]: the record, then the versions, each a delta against
//!   the next, the newest against the record's text; both compressed
//!   against the feed's dictionary);
//! - `dicts`: the feed dictionaries story values are compressed against
//!   (see [`dict`]);
//! - `recent`: (u64::MAX − last change) ‖ the story id's first 8 bytes →
//!   the ids of the stories changed then, stories newest first for
//!   `/api/stories` (see [`recency`]; a write finds the batch to leave in
//!   the header of the story's old value);
//! - `idents`: [`identity_key`] (16 bytes hashed from the feed and an
//!   identity key such as `g:<guid>` or `l:<link>`) → story id, for every
//!   key but those the story id is made from (see [`is_derived_key`]);
//! - `alerts`: alert id (big-endian) → [`Alert`];
//! - `deliveries`: notifier ‖ 0 ‖ alert id → [`Delivery`];
//! - `due`: notifier ‖ 0 ‖ next attempt ‖ alert id → () for open deliveries,
//!   so a notifier finds its due work without scanning history;
//! - `sends`: notifier ‖ 0 ‖ story id → recent send times (JSON list), the
//!   memory behind `max_per_story`, kept here so a restart does not reset
//!   a story's quota.
//! - `articles`: feed ‖ 0 ‖ article URL → [`ArticleRecord`] (full-text feeds:
//!   validators and the last extracted text; a cache, written outside the
//!   poll transaction, pruned with the stories).
//! - `circuits`: notifier → [`Circuit`] (how its receiver is doing: the
//!   delivery loop's memory of failures, so a restart or the next
//!   `storywatch once` does not hammer a receiver that is down).
//!
//! Schema 1 databases (a `versions` and a `recent_of` tree, the newest text
//! stored twice, identity keys spelled out in a `keys` tree) are migrated in
//! place when opened (see [`migrate`]).
//!
//! One poll's story writes, versions and alerts go in one transaction: an
//! alert exists if and only if the version that caused it does.

mod delta;
mod dict;
mod feed_state;
mod layout;
mod migrate;
mod present;
mod recency;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use crate::model::UnixMs;
use crate::outbox::{Alert, Circuit, Delivery, DeliveryState};
use crate::records::{ArticleRecord, FeedState, StoryRecord, VersionRecord};
use crate::tracker::{Listed, PollChanges, StoryLookup};

/// Bumped when the stored layout changes incompatibly (2: one value per
/// story with its history as deltas, see [`layout`]; 3: values compressed
/// against feed dictionaries, see [`dict`]; 4: present lists with each
/// story's raw fingerprint, see [`present`], a first version in one byte
/// and a header of varints, see [`layout`], and `recent` batches of ids as
/// bytes, see [`recency`]; 5: feed states as varints and strings instead
/// of JSON, see [`feed_state`]).
const SCHEMA_VERSION: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state directory {path} is in use by another storywatch process (sled lock held); stop the other instance or use another state_dir")]
    Locked { path: PathBuf },
    #[error("cannot open the database in {path}: {source}: create it or set [daemon] state_dir to a writable directory")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database in {path}: {source}{hint}", hint = io_hint(source))]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("database I/O error: {0}{hint}", hint = io_hint(.0))]
    Io(#[source] sled::Error),
    /// A task doing database work died (a panic on the blocking pool).
    #[error("database I/O error: {what} task failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("database record {what} is unreadable: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("database at {path} was written by a newer storywatch (schema {found}, this binary knows {known}); upgrade storywatch")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
}

/// What to do about an I/O error, told by its kind (sled passes the
/// operating system's error through).
fn io_hint(e: &sled::Error) -> &'static str {
    use std::io::ErrorKind;
    let sled::Error::Io(io) = e else {
        return "";
    };
    match io.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => " (the disk holding state_dir is full: free some space; nothing already stored is lost, and alerts not yet stored are found again on the next poll)",
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => " (state_dir is not writable: check its permissions and mount)",
        _ => "",
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e)
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// The still-owed part of the outbox, summarised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenOutbox {
    pub counts: BTreeMap<(String, DeliveryState), u64>,
    /// Creation time of the oldest open delivery.
    pub oldest_created: Option<UnixMs>,
}

impl OpenOutbox {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The open database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: Tree,
    feeds: Tree,
    stories: Tree,
    dicts: dict::Dicts,
    keys: Tree,
    alerts: Tree,
    deliveries: Tree,
    due: Tree,
    sends: Tree,
    articles: Tree,
    present: Tree,
    recent: Tree,
    circuits: Tree,
    /// Muted stories: story id → until (big-endian ms; empty = for ever).
    muted: Tree,
    instance: String,
    path: PathBuf,
    /// Our transactions share this gate; a flush takes it alone (see
    /// [`Store::flush`]).
    gate: Arc<RwLock<()>>,
    /// Group commit: flushes asked for, and how many of those requests the
    /// last completed flush covered.
    flush_requests: Arc<AtomicU64>,
    flushed_upto: Arc<AtomicU64>,
    /// The last alert id handed out (see [`Store::next_alert_id`]).
    alert_seq: Arc<AtomicU64>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain data to JSON cannot fail (no maps with
    // non-string keys, no custom serialisers that error).
    serde_json::to_vec(v).unwrap_or_default()
}

/// A stored value that does not decode: which kind, and why.
fn corrupt(what: &str, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        source: e.into(),
    }
}

/// `id` as bytes when it is lower-case hex (story ids are) short enough
/// for a one-byte length: half its size, and `hex::encode` gives it back.
fn hex_id_bytes(id: &str) -> Option<Vec<u8>> {
    let raw = hex::decode(id).ok()?;
    (raw.len() <= usize::from(u8::MAX) && hex::encode(&raw) == id).then_some(raw)
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e))
}

/// First byte of an lz4-compressed alert value; alerts written before it
/// are plain JSON (`{`) and still read.
const ALERT_LZ4: u8 = 1;

/// An alert as stored: `1 ‖ story id length (u8) ‖ story id ‖
/// lz4(JSON)`. An update alert repeats its text several times (the
/// snapshot, the diff's old and new chunks, the sentences added and
/// removed), which lz4 finds within the one value: kept alerts were most of
/// what a warm cycle added to the database. The story id stays readable so
/// that [`Store::alerts_about_story`] can skip other stories' alerts
/// without decompressing them.
fn encode_alert(a: &Alert) -> Vec<u8> {
    let json = encode(a);
    let story = a
        .story()
        .map(|s| s.event.story.as_bytes())
        .filter(|id| id.len() <= usize::from(u8::MAX))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(2 + story.len() + json.len() / 2);
    out.push(ALERT_LZ4);
    out.push(story.len() as u8);
    out.extend_from_slice(story);
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&json));
    out
}

fn decode_alert(bytes: &[u8]) -> Result<Alert, StoreError> {
    let packed = match bytes.split_first() {
        Some((&ALERT_LZ4, rest)) => rest
            .split_first()
            .and_then(|(&len, rest)| rest.get(usize::from(len)..)),
        _ => return decode("alert", bytes),
    };
    let packed = packed.ok_or_else(|| corrupt("alert", "value shorter than its header"))?;
    let json =
        lz4_flex::block::decompress_size_prepended(packed).map_err(|e| corrupt("alert", e))?;
    decode("alert", &json)
}

/// How a permalink guid may spell the URL of its story's link: a link
/// `l:X` is canonical (no scheme, no `www.`), a guid is as published.
const PERMALINK_PREFIXES: [&str; 4] = ["https://", "https://www.", "http://", "http://www."];

/// Whether `key` of story `id` (whose first key is `first_key`) is one
/// the story's id is made from (see `tracker::identity::story_id`): its
/// first key, or a link `l:X` when the first key is a permalink guid of
/// the same URL (`g:https://X`, as in most news feeds). Such keys are not
/// written to `idents`: [`StoryLookup::story_for_key`] makes the id again,
/// which saves one or two sled keys per story (~200 bytes on disk each).
fn is_derived_key(
    ids: &crate::tracker::identity::StoryIds,
    key: &str,
    id: &str,
    first_key: Option<&str>,
) -> bool {
    let Some(first) = first_key else {
        return ids.id(key) == id;
    };
    if key == first {
        return ids.id(key) == id;
    }
    // checked before hashing: the string test rules out most keys
    let permalink = key.strip_prefix("l:").is_some_and(|link| {
        first.strip_prefix("g:").is_some_and(|guid| {
            PERMALINK_PREFIXES
                .iter()
                .any(|p| guid.strip_prefix(p) == Some(link))
        })
    });
    (permalink && ids.id(first) == id) || ids.id(key) == id
}

/// The `idents` key of identity key `key` (`g:<guid>`, `l:<link>`…) in
/// `feed`: 4 bytes of the feed's fingerprint (a feed's keys are
/// neighbours) and 12 of a SHA-256 of both. Guids and links are long URLs,
/// two per story; spelled out with the feed name they were a tenth of the
/// database.
fn identity_key(feed: &str, key: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&crate::fingerprint::of_bytes(feed.as_bytes()).to_be_bytes()[..4]);
    let mut h = Sha256::new();
    h.update(feed.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    out[4..].copy_from_slice(&h.finalize()[..12]);
    out
}

fn ident_key(feed: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(feed.len() + key.len() + 1);
    k.extend_from_slice(feed.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn delivery_key(notifier: &str, alert: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(notifier.len() + 9);
    k.extend_from_slice(notifier.as_bytes());
    k.push(0);
    k.extend_from_slice(&alert.to_be_bytes());
    k
}

fn due_key(d: &Delivery) -> Vec<u8> {
    let mut k = Vec::with_capacity(d.notifier.len() + 17);
    k.extend_from_slice(d.notifier.as_bytes());
    k.push(0);
    // times before 1970 do not occur; clamp so the order stays right
    k.extend_from_slice(&(d.next_attempt.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&d.alert.to_be_bytes());
    k
}

/// The notifier and alert id of a `due` key (`notifier ‖ 0 ‖ at ‖ alert`).
fn parse_due_key(k: &[u8]) -> Option<(&str, u64)> {
    let split = k.len().checked_sub(17)?;
    if k[split] != 0 {
        return None;
    }
    let notifier = std::str::from_utf8(&k[..split]).ok()?;
    let alert = u64::from_be_bytes(k[split + 9..].try_into().ok()?);
    Some((notifier, alert))
}

fn prefix(notifier: &str) -> Vec<u8> {
    let mut p = notifier.as_bytes().to_vec();
    p.push(0);
    p
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn tx_put_delivery(
    deliveries: &TransactionalTree,
    due: &TransactionalTree,
    old: Option<&Delivery>,
    new: &Delivery,
) -> TxResult<()> {
    if let Some(old) = old {
        due.remove(due_key(old))?;
    }
    deliveries.insert(delivery_key(&new.notifier, new.alert), encode(new))?;
    if new.state.is_open() {
        due.insert(due_key(new), &[])?;
    }
    Ok(())
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The new value of story `s` given its stored one (`old`) and the versions
/// this poll adds, with at most `max_versions` kept (the first always is);
/// and the last change recorded in the old value (its `recent` key).
///
/// The old history is copied as it is when nothing touches it; it is
/// decoded and written again when versions are added or pruned, or when
/// `latest`, which the newest version is relative to, changed.
///
/// The value is compressed against `dict` (the feed's dictionary, `None`
/// before it has one); an old history compressed against another is
/// decoded (with `dicts`) and written again.
fn story_value(
    old: Option<&[u8]>,
    s: &StoryRecord,
    added: &[&VersionRecord],
    max_versions: u32,
    dict: Option<&dict::Dict>,
    dicts: &dict::Dicts,
) -> Result<(Vec<u8>, Option<UnixMs>), StoreError> {
    let base = layout::base_of(&s.latest);
    let old = old.map(layout::StoryValue::parse).transpose()?.flatten();
    let old_changed = old.map(|o| o.last_changed);
    let dict_id = dict.map_or(0, |d| d.id);
    // the history's bytes are kept as they are when they still fit the
    // record: same `latest` and dictionary (and, for a first version only,
    // which stands for one made at `last_changed`, the same time)
    if let Some(o) = old.filter(|o| {
        added.is_empty()
            && (o.versions.is_empty()
                || ((o.base == base || o.base == layout::legacy_base_of(&s.latest))
                    && o.dict == dict_id
                    && (!o.first_version_only() || o.last_changed == s.last_changed)))
    }) {
        return Ok((layout::encode(s, base, o.versions, dict), old_changed));
    }
    let mut chain = match old {
        Some(o) if !o.versions.is_empty() => o.versions(&s.id, &o.record(dicts)?.latest, dicts)?,
        _ => Vec::new(),
    };
    chain.extend(added.iter().map(|v| (*v).clone()));
    let keep = max_versions as usize;
    if keep >= 2 && chain.len() > keep {
        chain.drain(1..chain.len() + 1 - keep);
    }
    let versions = layout::encode_versions(&chain, &s.latest, s.last_changed, dict);
    Ok((layout::encode(s, base, &versions, dict), old_changed))
}

/// sled's settings. [`Store::open`] uses [`Tuning::new`]; the other
/// values exist so that `benches/store_tuning.rs` can measure them (see
/// BENCHMARKS.md, "Store tuning", for what each choice cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// sled's page cache (`[daemon] cache_size`).
    pub cache_bytes: u64,
    /// How often sled's own thread makes the log durable (`None`: only our
    /// explicit flushes). The same thread is the only one that moves live
    /// pages out of mostly-dead segments so they can be reused, for at most
    /// half of each interval: at 200 ms it fell behind a poll cycle's
    /// writes and the file grew ~2.9 MB an hour under a one-day retention
    /// that kept 100 MB live; at 50 ms the file stays level (BENCHMARKS.md,
    /// "Retention, 100 simulated hours"), for 0.1 s more CPU a minute idle.
    pub flush_every_ms: Option<u64>,
    /// sled's `Mode::HighThroughput` instead of `LowSpace`.
    pub high_throughput: bool,
}

impl Tuning {
    pub fn new(cache_bytes: u64) -> Tuning {
        Tuning {
            cache_bytes,
            flush_every_ms: Some(50),
            high_throughput: false,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_tuned(dir, Tuning::new(cache_bytes))
    }

    /// [`Store::open`] with other sled settings.
    pub fn open_tuned(dir: &Path, tuning: Tuning) -> Result<Store, StoreError> {
        let store = Store::open_trees(dir, tuning)?;
        store.check_schema()?;
        store.build_recency_index()?;
        Ok(store)
    }

    /// Opens the database's trees, without looking at its schema.
    fn open_trees(dir: &Path, tuning: Tuning) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mode = if tuning.high_throughput {
            sled::Mode::HighThroughput
        } else {
            sled::Mode::LowSpace
        };
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(tuning.cache_bytes)
            .flush_every_ms(tuning.flush_every_ms)
            .mode(mode)
            .open()
            .map_err(|source| {
                // sled reports a held lock as a plain I/O error (kind
                // `Other`), so ask the lock itself rather than read the text
                if Store::is_locked(dir) {
                    StoreError::Locked {
                        path: dir.to_path_buf(),
                    }
                } else {
                    StoreError::Open {
                        path: dir.to_path_buf(),
                        source,
                    }
                }
            })?;
        let tree = |name: &str| db.open_tree(name);
        let meta = tree("meta")?;
        let alerts = tree("alerts")?;
        let alert_seq = Arc::new(AtomicU64::new(last_alert_id(&meta, &alerts)?));
        let store = Store {
            feeds: tree("feeds")?,
            stories: tree("stories")?,
            dicts: dict::Dicts::new(tree("dicts")?),
            keys: tree("idents")?,
            alerts,
            deliveries: tree("deliveries")?,
            due: tree("due")?,
            sends: tree("sends")?,
            articles: tree("articles")?,
            present: tree("present")?,
            recent: tree("recent")?,
            circuits: tree("circuits")?,
            muted: tree("muted")?,
            instance: instance_id(&meta)?,
            alert_seq,
            meta,
            db,
            path: dir.to_path_buf(),
            gate: Arc::default(),
            flush_requests: Arc::default(),
            flushed_upto: Arc::default(),
        };
        Ok(store)
    }

    /// Whether a database exists in `dir` and a running process holds it.
    /// Probes sled's lock (a `flock` on its data file) with a shared lock on
    /// a read-only handle, so nothing is written, whoever we run as.
    pub fn is_locked(dir: &Path) -> bool {
        match std::fs::File::open(dir.join("db").join("db")) {
            Ok(f) => fs2::FileExt::try_lock_shared(&f).is_err(),
            Err(_) => false,
        }
    }

    /// Refuses a database from a newer storywatch, and brings one from an
    /// older schema up to date (see [`migrate`]).
    fn check_schema(&self) -> Result<(), StoreError> {
        let found = match self.meta.get("schema")? {
            None => {
                self.meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                return Ok(());
            }
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .unwrap_or(u32::MAX),
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        migrate::upgrade(self, found)
    }

    /// A random id chosen when the database was created; part of every
    /// idempotency key, so two installations never share keys.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes everything written so far durable (fsync).
    ///
    /// sled 0.34 deadlocks when a flush overlaps a transaction: its flush
    /// holds sled's shared concurrency lock while it waits for the log to
    /// become durable, a transaction queues for the exclusive lock, and from
    /// then on the log writers' own requests for the shared lock wait behind
    /// the transaction, which waits for the flush. `storywatch once` on
    /// 10,000 feeds hung that way for good (many polls flushing their alerts
    /// while others commit). So a flush never overlaps one of our
    /// transactions: they share `gate`, a flush takes it alone, and
    /// concurrent flush requests are served by one fsync (group commit).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.flush_blocking())
            .await
            .map_err(|source| StoreError::Task {
                what: "flush",
                source,
            })?
    }

    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let ticket = self.flush_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let _alone = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        if self.flushed_upto.load(Ordering::SeqCst) >= ticket {
            // a flush that started after this request already covered it
            return Ok(());
        }
        let upto = self.flush_requests.load(Ordering::SeqCst);
        self.db.flush()?;
        self.flushed_upto.store(upto, Ordering::SeqCst);
        Ok(())
    }

    /// Held for the duration of each transaction (see [`Store::flush`]).
    fn transaction_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Bytes of the keys and values held in every tree: the live data,
    /// against which [`Store::size_on_disk`] shows sled's own overhead and
    /// garbage (for the benches; it reads every key).
    pub fn live_bytes(&self) -> Result<u64, StoreError> {
        let mut bytes = 0;
        for name in self.db.tree_names() {
            for kv in self.db.open_tree(&name)?.iter() {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
        }
        Ok(bytes)
    }

    // ---- feeds ----

    pub fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, StoreError> {
        self.feeds
            .get(feed)?
            .map(|v| feed_state::decode_state(&v))
            .transpose()
    }

    /// The stories of the feed's last parsed poll, as the tracker listed
    /// them ([`PollChanges::present`]; `None` before the first one; older
    /// databases kept their ids in [`FeedState`]).
    pub fn present(&self, feed: &str) -> Result<Option<Vec<Listed>>, StoreError> {
        self.present
            .get(feed)?
            .map(|v| present::decode_list(&v))
            .transpose()
    }

    /// Moves a present list of ids kept in an old [`FeedState`] to the
    /// `present` tree.
    pub fn put_present_ids(&self, feed: &str, ids: Vec<String>) -> Result<(), StoreError> {
        let stories: Vec<Listed> = ids
            .into_iter()
            .map(|id| Listed {
                id,
                ..Listed::default()
            })
            .collect();
        self.present.insert(feed, present::encode_list(&stories))?;
        Ok(())
    }

    pub fn put_feed_state(&self, feed: &str, state: &FeedState) -> Result<(), StoreError> {
        self.feeds.insert(feed, feed_state::encode(state))?;
        Ok(())
    }

    /// When `story` was last seen in its feed ([`StoryRecord::seen_at`]).
    pub fn seen_at(&self, story: &StoryRecord) -> Result<UnixMs, StoreError> {
        let last_success = self.feed_state(&story.feed)?.and_then(|f| f.last_success);
        Ok(story.seen_at(last_success))
    }

    pub fn feed_states(&self) -> Result<Vec<(String, FeedState)>, StoreError> {
        self.feeds
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    feed_state::decode_state(&v)?,
                ))
            })
            .collect()
    }

    // ---- articles (full-text feeds) ----

    pub fn article(&self, feed: &str, url: &str) -> Result<Option<ArticleRecord>, StoreError> {
        self.articles
            .get(ident_key(feed, url))?
            .map(|v| decode("article", &v))
            .transpose()
    }

    pub fn put_article(
        &self,
        feed: &str,
        url: &str,
        record: &ArticleRecord,
    ) -> Result<(), StoreError> {
        self.articles.insert(ident_key(feed, url), encode(record))?;
        Ok(())
    }

    // ---- stories ----

    /// Every stored version of `story`, oldest first.
    pub fn versions(&self, story: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let Some(bytes) = self.stories.get(story)? else {
            return Ok(Vec::new());
        };
        match layout::StoryValue::parse(&bytes)? {
            Some(value) if !value.versions.is_empty() => {
                value.versions(story, &value.record(&self.dicts)?.latest, &self.dicts)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Decodes a story record, whatever the schema that wrote it.
    fn decode_story(&self, bytes: &[u8]) -> Result<StoryRecord, StoreError> {
        match layout::StoryValue::parse(bytes)? {
            Some(value) => value.record(&self.dicts),
            None => migrate::decode_v1_story(bytes),
        }
    }

    pub fn stories(&self) -> impl Iterator<Item = Result<StoryRecord, StoreError>> + '_ {
        self.stories.iter().map(|kv| {
            kv.map_err(StoreError::from)
                .and_then(|(_, v)| self.decode_story(&v))
        })
    }

    pub fn story_count(&self) -> usize {
        self.stories.len()
    }

    /// Finds a story by id, or by the link or guid it was published under.
    pub fn find_story(&self, needle: &str) -> Result<Option<StoryRecord>, StoreError> {
        if let Some(s) = self.story(needle)? {
            return Ok(Some(s));
        }
        // identity keys are hashed with their feed: try each feed (every
        // story's feed has a state, written with the story)
        let mut keys = vec![format!("g:{needle}")];
        if let Some(c) = crate::tracker::identity::canonical_link(needle) {
            keys.push(format!("l:{c}"));
        }
        for kv in self.feeds.iter() {
            let (feed, _) = kv?;
            let feed = String::from_utf8_lossy(&feed);
            for key in &keys {
                if let Some(id) = self.story_for_key(&feed, key)? {
                    return self.story(&id);
                }
            }
        }
        Ok(None)
    }

    /// Writes one poll: stories, versions, identity keys, the feed's state,
    /// its present list (when a body was parsed) and the alerts (with their
    /// deliveries), atomically. Versions beyond `max_versions` are pruned
    /// (the first version is always kept).
    ///
    /// A poll that changed nothing but the feed's own state (a 304, an
    /// identical body, most failures) is one plain insert: a single key is
    /// written atomically without a multi-tree transaction, which is most
    /// of what a 304 used to cost.
    pub fn commit_poll(
        &self,
        feed: &str,
        state: &FeedState,
        changes: &PollChanges,
        alerts: &[Alert],
        max_versions: u32,
    ) -> Result<(), StoreError> {
        let parsed = changes.stats.entries > 0;
        if !parsed
            && alerts.is_empty()
            && changes.stories.is_empty()
            && changes.versions.is_empty()
            && changes.keys.is_empty()
        {
            return self.put_feed_state(feed, state);
        }
        let present = parsed.then(|| present::encode_list(&changes.present));
        let mut new_versions: HashMap<&str, Vec<&VersionRecord>> = HashMap::new();
        for v in &changes.versions {
            new_versions.entry(v.story.as_str()).or_default().push(v);
        }
        // versions of a story whose record this poll did not change are
        // written against its stored record (the tracker never does this)
        let orphans: Vec<&str> = new_versions
            .keys()
            .copied()
            .filter(|id| !changes.stories.contains_key(*id))
            .collect();
        let state_bytes = feed_state::encode(state);
        // the feed's dictionary, or a new one made of this poll's stories
        let (dict, new_dict) = if changes.stories.is_empty() && orphans.is_empty() {
            (None, None)
        } else if let Some(d) = self.dicts.of_feed(feed)? {
            (Some(d), None)
        } else {
            let jsons: Vec<Vec<u8>> = changes.stories.values().map(encode).collect();
            (None, dict::Dict::build(jsons.iter().map(Vec::as_slice)))
        };
        let dict = dict.as_deref().or(new_dict.as_ref());
        let _shared = self.transaction_gate();
        let alert_rows: Vec<(u64, Vec<u8>, Vec<Delivery>)> = alerts
            .iter()
            .map(|a| {
                let ds = a
                    .notifiers
                    .iter()
                    .map(|n| Delivery::new(a.id, n, a.created))
                    .collect();
                (a.id, encode_alert(a), ds)
            })
            .collect();
        let no_versions = Vec::new();
        (
            &self.feeds,
            &self.stories,
            &self.keys,
            &self.alerts,
            &self.deliveries,
            &self.due,
            &self.present,
            &self.meta,
            &self.recent,
            self.dicts.tree(),
        )
            .transaction(
                |(
                    feeds,
                    stories_t,
                    keys_t,
                    alerts_t,
                    deliveries,
                    due,
                    present_t,
                    meta,
                    recent,
                    dicts_t,
                )| {
                    if let Some(p) = &present {
                        present_t.insert(feed.as_bytes(), p.as_slice())?;
                    }
                    if let Some(d) = dict {
                        dict::Dicts::tx_keep(dicts_t, feed, d, new_dict.is_some())?;
                    }
                    let mut orphan_records = Vec::new();
                    for id in &orphans {
                        if let Some(old) = stories_t.get(id.as_bytes())? {
                            orphan_records.push(self.decode_story(&old).map_err(abort)?);
                        }
                    }
                    let mut moved = Vec::new();
                    for s in changes.stories.values().chain(&orphan_records) {
                        let added = new_versions.get(s.id.as_str()).unwrap_or(&no_versions);
                        let old = stories_t.get(s.id.as_bytes())?;
                        let (value, old_changed) =
                            story_value(old.as_deref(), s, added, max_versions, dict, &self.dicts)
                                .map_err(abort)?;
                        stories_t.insert(s.id.as_bytes(), value)?;
                        if old_changed != Some(s.last_changed) {
                            moved.push((s.id.as_str(), old_changed, s.last_changed));
                        }
                    }
                    recency::tx_move(recent, &moved)?;
                    let ids = crate::tracker::identity::StoryIds::new(feed);
                    for (key, id) in &changes.keys {
                        let first = changes
                            .stories
                            .get(id)
                            .and_then(|s| s.keys.first())
                            .map(String::as_str);
                        if !is_derived_key(&ids, key, id, first) {
                            keys_t.insert(&identity_key(feed, key), id.as_bytes())?;
                        }
                    }
                    for (id, bytes, ds) in &alert_rows {
                        alerts_t.insert(&id.to_be_bytes(), bytes.as_slice())?;
                        for d in ds {
                            tx_put_delivery(deliveries, due, None, d)?;
                        }
                    }
                    tx_record_alert_seq(meta, alert_rows.iter().map(|r| r.0))?;
                    feeds.insert(feed.as_bytes(), state_bytes.as_slice())?;
                    Ok(())
                },
            )?;
        if let Some(d) = new_dict {
            self.dicts.adopt(d);
        }
        Ok(())
    }

    // ---- outbox ----

    /// A new alert id, unique and increasing for this database, across
    /// restarts too: the highest id committed is kept in `meta` in the same
    /// transaction as the alert, and the count resumes after it (sled's own
    /// `generate_id` jumps by a million after a restart). An id handed out
    /// for a poll that then failed is simply never used.
    pub fn next_alert_id(&self) -> Result<u64, StoreError> {
        Ok(self.alert_seq.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Writes alerts outside a poll (operator notices, `test-notify`).
    pub fn put_alerts(&self, alerts: &[Alert]) -> Result<(), StoreError> {
        let rows: Vec<(u64, Vec<u8>, Vec<Delivery>)> = alerts
            .iter()
            .map(|a| {
                let ds = a
                    .notifiers
                    .iter()
                    .map(|n| Delivery::new(a.id, n, a.created))
                    .collect();
                (a.id, encode_alert(a), ds)
            })
            .collect();
        let _shared = self.transaction_gate();
        (&self.alerts, &self.deliveries, &self.due, &self.meta).transaction(
            |(alerts_t, deliveries, due, meta)| {
                for (id, bytes, ds) in &rows {
                    alerts_t.insert(&id.to_be_bytes(), bytes.as_slice())?;
                    for d in ds {
                        tx_put_delivery(deliveries, due, None, d)?;
                    }
                }
                tx_record_alert_seq(meta, rows.iter().map(|r| r.0))?;
                Ok(())
            },
        )?;
        Ok(())
    }

    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.alerts
            .get(id.to_be_bytes())?
            .map(|v| decode_alert(&v))
            .transpose()
    }

    pub fn delivery(&self, notifier: &str, alert: u64) -> Result<Option<Delivery>, StoreError> {
        self.deliveries
            .get(delivery_key(notifier, alert))?
            .map(|v| decode("delivery", &v))
            .transpose()
    }

    /// Open deliveries of `notifier` due at or before `now`, oldest first.
    pub fn due_deliveries(
        &self,
        notifier: &str,
        now: UnixMs,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for kv in self.due.scan_prefix(prefix(notifier)) {
            let (k, _) = kv?;
            let at_pos = notifier.len() + 1;
            let at = k
                .get(at_pos..at_pos + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0) as UnixMs;
            if at > now || out.len() >= limit {
                break;
            }
            let alert = k
                .get(at_pos + 8..at_pos + 16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if let Some(d) = self.indexed_delivery(&k, notifier, alert)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The delivery a `due` key points at, if the key is still its own: a
    /// key left behind by two writers updating one delivery at once (an
    /// operator's `outbox retry` while the worker sends it) is removed, so
    /// a delivered alert is never found due again.
    fn indexed_delivery(
        &self,
        key: &[u8],
        notifier: &str,
        alert: u64,
    ) -> Result<Option<Delivery>, StoreError> {
        match self.delivery(notifier, alert)? {
            Some(d) if d.state.is_open() && due_key(&d) == key => Ok(Some(d)),
            _ => {
                self.due.remove(key)?;
                Ok(None)
            }
        }
    }

    /// When the earliest open delivery of `notifier` due after `after` is
    /// due, if any.
    pub fn next_due_after(
        &self,
        notifier: &str,
        after: UnixMs,
    ) -> Result<Option<UnixMs>, StoreError> {
        let mut start = prefix(notifier);
        start.extend_from_slice(&((after.max(-1) + 1) as u64).to_be_bytes());
        let end = {
            let mut p = notifier.as_bytes().to_vec();
            p.push(1);
            p
        };
        let Some(kv) = self.due.range(start..end).next() else {
            return Ok(None);
        };
        let (k, _) = kv?;
        let at_pos = notifier.len() + 1;
        Ok(k.get(at_pos..at_pos + 8)
            .and_then(|b| b.try_into().ok())
            .map(|b| u64::from_be_bytes(b) as UnixMs))
    }

    /// Replaces a delivery record (keeping the due index right); see
    /// [`Store::update_deliveries`].
    pub fn update_delivery(&self, old: &Delivery, new: &Delivery) -> Result<(), StoreError> {
        self.update_deliveries(&[(old.clone(), new.clone())])
    }

    /// Replaces delivery records, `(old, new)` pairs, keeping the due index
    /// right. A delivery removed meanwhile (`outbox drop` while it was being
    /// sent) stays removed: finishing it must not bring back a record of a
    /// dropped alert.
    ///
    /// No transaction, on purpose: sled 0.34 writes its log buffer out
    /// (a write, a sync and a wake-up of its seven I/O threads) before and
    /// after every transaction, and the delivery loop makes one of these
    /// changes per message, then flushes. A record is one key, replaced by
    /// compare-and-swap; the due index is a hint that [`Store::due_deliveries`]
    /// checks against the record and cleans. So each change writes the new
    /// due key first, then the record, then removes the old key: a crash
    /// anywhere in between leaves at most a stale key, never an open
    /// delivery that the due index cannot find.
    pub fn update_deliveries(&self, changes: &[(Delivery, Delivery)]) -> Result<(), StoreError> {
        for (old, new) in changes {
            let new_due = new.state.is_open().then(|| due_key(new));
            if let Some(k) = &new_due {
                self.due.insert(k, &[])?;
            }
            let key = delivery_key(&new.notifier, new.alert);
            let encoded = encode(new);
            let mut current = self.deliveries.get(&key)?;
            let kept = loop {
                let Some(cur) = current else {
                    break false;
                };
                match self.deliveries.compare_and_swap(
                    &key,
                    Some(&cur),
                    Some(encoded.as_slice()),
                )? {
                    Ok(()) => break true,
                    Err(changed) => current = changed.current,
                }
            };
            let old_due = due_key(old);
            if !kept {
                // dropped meanwhile: neither key has a record any more
                if let Some(k) = new_due {
                    self.due.remove(k)?;
                }
                self.due.remove(old_due)?;
            } else if new_due.as_ref() != Some(&old_due) {
                self.due.remove(old_due)?;
            }
        }
        Ok(())
    }

    /// Every delivery, for `storywatch outbox list` and metrics.
    pub fn deliveries(&self) -> impl Iterator<Item = Result<Delivery, StoreError>> + '_ {
        self.deliveries.iter().map(|kv| {
            kv.map_err(StoreError::from)
                .and_then(|(_, v)| decode("delivery", &v))
        })
    }

    /// Deliveries of one alert.
    pub fn deliveries_of(&self, alert: u64) -> Result<Vec<Delivery>, StoreError> {
        let Some(a) = self.alert(alert)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for n in &a.notifiers {
            if let Some(d) = self.delivery(n, alert)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// At start-up: a delivery still "in flight" was interrupted by a crash;
    /// make it due again. Returns how many. An in-flight delivery is open,
    /// so the due index finds it: the cost follows the open outbox, not the
    /// delivered history (every `storywatch once` starts with this).
    pub fn requeue_in_flight(&self, now: UnixMs) -> Result<usize, StoreError> {
        self.change_open(
            |d| d.state == DeliveryState::InFlight,
            |d| {
                d.state = DeliveryState::Pending;
                d.next_attempt = now;
            },
        )
    }

    /// Makes deliveries held back by a notifier's shaping (quiet hours,
    /// digest, rate limit) due now, so the next pass decides again under
    /// the config in force (after a start or a reload, the hold may no
    /// longer apply). Returns how many.
    pub fn release_holds(&self, now: UnixMs) -> Result<usize, StoreError> {
        self.change_open(
            |d| d.held.is_some() && d.state == DeliveryState::Pending,
            |d| {
                d.held = None;
                d.next_attempt = now.min(d.next_attempt);
            },
        )
    }

    /// Applies `change` to every open delivery that is `wanted`, in one
    /// transaction. Returns how many.
    fn change_open(
        &self,
        wanted: impl Fn(&Delivery) -> bool,
        change: impl Fn(&mut Delivery),
    ) -> Result<usize, StoreError> {
        let changes: Vec<(Delivery, Delivery)> = self
            .open_deliveries(usize::MAX)?
            .into_iter()
            .filter(|d| wanted(d))
            .map(|d| {
                let mut again = d.clone();
                change(&mut again);
                (d, again)
            })
            .collect();
        self.update_deliveries(&changes)?;
        Ok(changes.len())
    }

    /// Counts of deliveries by notifier and state.
    pub fn outbox_counts(&self) -> Result<BTreeMap<(String, DeliveryState), u64>, StoreError> {
        let mut counts = BTreeMap::new();
        for d in self.deliveries() {
            let d = d?;
            *counts.entry((d.notifier, d.state)).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Makes the open or dead deliveries of alert `id` due at `now`, with a
    /// fresh retry window (`storywatch outbox retry`). `notifier` limits it
    /// to one notifier. Returns the deliveries changed.
    pub fn retry_alert(
        &self,
        id: u64,
        notifier: Option<&str>,
        now: UnixMs,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut changed = Vec::new();
        for d in self.deliveries_of(id)? {
            // one in flight is being sent right now: its outcome decides
            if notifier.is_some_and(|n| n != d.notifier)
                || matches!(d.state, DeliveryState::Delivered | DeliveryState::InFlight)
            {
                continue;
            }
            let mut again = d.clone();
            again.state = DeliveryState::Pending;
            again.next_attempt = now;
            again.held = None;
            // the give-up window restarts: an operator asked for this retry
            again.created = now;
            again.attempts = 0;
            self.update_delivery(&d, &again)?;
            changed.push(again);
        }
        // an operator's retry is the probe: a receiver whose circuit waits
        // for its next backoff step is tried now
        let mut notifiers: Vec<&str> = changed.iter().map(|d| d.notifier.as_str()).collect();
        notifiers.dedup();
        for n in notifiers {
            let mut circuit = self.circuit(n)?;
            if circuit.open_until > now {
                circuit.open_until = now;
                self.put_circuit(n, &circuit)?;
            }
        }
        Ok(changed)
    }

    /// Removes an alert and its deliveries (`storywatch outbox drop`).
    /// One transaction, so a delivery finishing meanwhile either lands
    /// before it (and is removed with it) or finds its record gone.
    pub fn drop_alert(&self, id: u64) -> Result<bool, StoreError> {
        let _shared = self.transaction_gate();
        let existed = (&self.alerts, &self.deliveries, &self.due).transaction(
            |(alerts, deliveries, due)| {
                let Some(a) = alerts.remove(&id.to_be_bytes())? else {
                    return Ok(false);
                };
                let a = decode_alert(&a).map_err(abort)?;
                for n in &a.notifiers {
                    if let Some(d) = deliveries.remove(delivery_key(n, id))? {
                        let d: Delivery = decode("delivery", &d).map_err(abort)?;
                        due.remove(due_key(&d))?;
                    }
                }
                Ok(true)
            },
        )?;
        Ok(existed)
    }

    /// Open deliveries (pending, in flight, failed) in due order, at most
    /// `limit`. Reads only the due index, so its cost follows the size of the
    /// open outbox, not of the history kept for `storywatch outbox`.
    pub fn open_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for kv in self.due.iter() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            let Some((notifier, alert)) = parse_due_key(&k) else {
                continue;
            };
            if let Some(d) = self.indexed_delivery(&k, notifier, alert)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Counts of open deliveries by notifier and state, and when the oldest
    /// of them was created (for `/metrics`, `/readyz` and `storywatch status`).
    pub fn open_outbox(&self) -> Result<OpenOutbox, StoreError> {
        let mut open = OpenOutbox::default();
        for d in self.open_deliveries(usize::MAX)? {
            *open.counts.entry((d.notifier, d.state)).or_insert(0) += 1;
            open.oldest_created = Some(open.oldest_created.map_or(d.created, |o| o.min(d.created)));
        }
        Ok(open)
    }

    /// Stories by their last change, newest first (ties by id), starting
    /// after the story at `after` (a page cursor: its last change and id).
    /// A story that changes meanwhile moves to the front; the others keep
    /// their places, so paging neither repeats nor skips them.
    pub fn stories_by_recency<'a>(
        &'a self,
        after: Option<(UnixMs, &'a str)>,
    ) -> impl Iterator<Item = Result<StoryRecord, StoreError>> + 'a {
        recency::newest_first(&self.recent, after).filter_map(move |id| match id {
            // a story pruned since its batch was read is simply gone
            Ok(id) => self.story(&id).transpose(),
            Err(e) => Some(Err(e)),
        })
    }

    /// Indexes the stories of a database written before the `recent` tree
    /// held batches (or before it existed), once; later writes keep it up
    /// to date. A kill part-way leaves the mark unset: the next open
    /// starts again.
    fn build_recency_index(&self) -> Result<(), StoreError> {
        if self.meta.get(RECENCY_BATCHES)?.is_some() {
            return Ok(());
        }
        let stories = self.stories.iter().map(|kv| {
            let (id, v) = kv?;
            let id = String::from_utf8_lossy(&id).into_owned();
            match layout::StoryValue::parse(&v)? {
                Some(value) => Ok((id, value.last_changed)),
                None => Ok((id, self.decode_story(&v)?.last_changed)),
            }
        });
        recency::rebuild(&self.recent, stories)?;
        self.meta.insert(RECENCY_BATCHES, &[1])?;
        self.meta.remove(OLD_RECENCY_BUILT)?;
        Ok(())
    }

    /// A cheap read that proves the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.meta.get("schema")?;
        Ok(())
    }

    // ---- per-notifier circuits ----

    /// How `notifier`'s receiver is doing (closed when never recorded).
    pub fn circuit(&self, notifier: &str) -> Result<Circuit, StoreError> {
        self.circuits
            .get(notifier)?
            .map(|v| decode("circuit", &v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    pub fn put_circuit(&self, notifier: &str, circuit: &Circuit) -> Result<(), StoreError> {
        if *circuit == Circuit::default() {
            self.circuits.remove(notifier)?;
        } else {
            self.circuits.insert(notifier, encode(circuit))?;
        }
        Ok(())
    }

    // ---- per-story send memory (max_per_story) ----

    /// When `notifier` last sent messages about `story` (oldest first).
    pub fn recent_sends(&self, notifier: &str, story: &str) -> Result<Vec<UnixMs>, StoreError> {
        self.sends
            .get(ident_key(notifier, story))?
            .map(|v| decode("send times", &v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Records a send about `story` at `at`, forgetting sends older than
    /// `window` (they no longer count against the quota).
    pub fn record_send(
        &self,
        notifier: &str,
        story: &str,
        at: UnixMs,
        window: UnixMs,
    ) -> Result<(), StoreError> {
        let mut times = self.recent_sends(notifier, story)?;
        times.retain(|t| at - *t < window);
        times.push(at);
        self.sends
            .insert(ident_key(notifier, story), encode(&times))?;
        Ok(())
    }

    // ---- retention ----

    /// When the last retention pass ran (`storywatch once` runs one when
    /// the daemon would have).
    pub fn pruned_at(&self) -> Result<Option<UnixMs>, StoreError> {
        Ok(self.meta.get(PRUNED_AT)?.map(|v| be_u64(&v) as UnixMs))
    }

    pub fn set_pruned_at(&self, at: UnixMs) -> Result<(), StoreError> {
        self.meta
            .insert(PRUNED_AT, &(at.max(0) as u64).to_be_bytes())?;
        Ok(())
    }

    /// Forgets stories not seen since `story_cutoff` (with their versions and
    /// keys) and closed alerts older than `alert_cutoff`. Returns (stories,
    /// alerts) removed.
    ///
    /// A story still listed by one of `feeds` (the configured feeds) in
    /// its last parsed poll is kept however long ago it was "seen": an
    /// unchanged story's `last_seen` is not rewritten at every poll, and a
    /// feed answering 304 for months parses nothing. Forgetting them would
    /// make every one of them "new" again at the feed's next change. A
    /// feed taken out of the config keeps nothing this way.
    pub fn prune(
        &self,
        story_cutoff: UnixMs,
        alert_cutoff: UnixMs,
        feeds: &std::collections::HashSet<&str>,
    ) -> Result<(usize, usize), StoreError> {
        let mut stories = 0;
        let mut in_feeds: std::collections::HashSet<String> = std::collections::HashSet::new();
        for kv in self.present.iter() {
            let (feed, v) = kv?;
            if feeds.contains(String::from_utf8_lossy(&feed).as_ref()) {
                in_feeds.extend(present::decode_list(&v)?.into_iter().map(|l| l.id));
            }
        }
        // the header says when a story was last seen: only the stories to
        // drop are decoded (for their identity keys)
        let mut old: Vec<StoryRecord> = Vec::new();
        let mut dicts_in_use = std::collections::HashSet::new();
        for kv in self.stories.iter() {
            let (id, v) = kv?;
            let (seen, dict) = match layout::StoryValue::parse(&v) {
                Ok(Some(value)) => (value.last_seen, value.dict),
                _ => continue,
            };
            if seen < story_cutoff && !in_feeds.contains(String::from_utf8_lossy(&id).as_ref()) {
                if let Ok(s) = self.decode_story(&v) {
                    old.push(s);
                }
            } else {
                dicts_in_use.insert(dict);
            }
        }
        let mut gone = Vec::with_capacity(old.len());
        for s in old {
            for key in &s.keys {
                self.keys.remove(identity_key(&s.feed, key))?;
            }
            if let Some(v) = self.stories.remove(s.id.as_bytes())? {
                let changed =
                    layout::StoryValue::parse(&v)?.map_or(s.last_changed, |v| v.last_changed);
                gone.push((s.id, changed));
            }
            stories += 1;
        }
        recency::remove(&self.recent, &gone)?;
        self.drop_unused_dicts(&dicts_in_use, feeds)?;
        let mut alerts = 0;
        let mut closed: Vec<u64> = Vec::new();
        for kv in self.alerts.iter() {
            let (k, v) = kv?;
            let a = decode_alert(&v)?;
            if a.created >= alert_cutoff {
                break; // ids increase with time
            }
            let open = self.deliveries_of(a.id)?.iter().any(|d| d.state.is_open());
            if !open {
                closed.push(u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8])));
            }
        }
        for id in closed {
            self.drop_alert(id)?;
            alerts += 1;
        }
        // send memories only matter within a rate window; windows longer
        // than the alert retention are not meaningful
        for kv in self.sends.iter() {
            let (k, v) = kv?;
            let times: Vec<UnixMs> = decode("send times", &v).unwrap_or_default();
            if times.iter().all(|t| *t < alert_cutoff) {
                self.sends.remove(k)?;
            }
        }
        for kv in self.articles.iter() {
            let (k, v) = kv?;
            let seen = decode::<ArticleRecord>("article", &v).map_or(0, |a| a.seen);
            if seen < story_cutoff {
                self.articles.remove(k)?;
            }
        }
        Ok((stories, alerts))
    }
}

impl Store {
    /// Drops the feed dictionaries no story names any more, but never the
    /// dictionary of a configured feed (`feeds`).
    fn drop_unused_dicts(
        &self,
        in_use: &std::collections::HashSet<u64>,
        feeds: &std::collections::HashSet<&str>,
    ) -> Result<(), StoreError> {
        if self.dicts.unused(in_use, feeds)?.is_empty() {
            return Ok(());
        }
        // a poll may have named one since `in_use` was read: look again
        // with polls held off (rare: only after a feed left the config)
        let _alone = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let mut in_use = std::collections::HashSet::new();
        for kv in self.stories.iter() {
            let (_, v) = kv?;
            if let Ok(Some(value)) = layout::StoryValue::parse(&v) {
                in_use.insert(value.dict);
            }
        }
        let unused = self.dicts.unused(&in_use, feeds)?;
        self.dicts.remove(&unused.into_iter().collect())
    }
}

impl StoryLookup for Store {
    type Error = StoreError;
    fn story_for_key(&self, feed: &str, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(id) = self.keys.get(identity_key(feed, key))? {
            return Ok(Some(String::from_utf8_lossy(&id).into_owned()));
        }
        // a key the story's id is made from has no `idents` entry (see
        // `is_derived_key`)
        let ids = crate::tracker::identity::StoryIds::new(feed);
        let id = ids.id(key);
        if self.stories.contains_key(&id)? {
            return Ok(Some(id));
        }
        // the story whose permalink guid is this link, if the link is its own
        let Some(link) = key.strip_prefix("l:") else {
            return Ok(None);
        };
        for prefix in PERMALINK_PREFIXES {
            let id = ids.id(&format!("g:{prefix}{link}"));
            if let Some(s) = StoryLookup::story(self, &id)? {
                if s.keys.iter().any(|k| k == key) {
                    return Ok(Some(id));
                }
            }
        }
        Ok(None)
    }

    fn story(&self, id: &str) -> Result<Option<StoryRecord>, StoreError> {
        self.stories
            .get(id)?
            .map(|v| self.decode_story(&v))
            .transpose()
    }

    /// A feed's story ids start with its fingerprint (see
    /// [`crate::tracker::identity::StoryIds`]): one range read, instead of
    /// two to six missed lookups per entry of a feed's first poll. An
    /// `idents` entry of the feed can only name one of its stories.
    fn feed_has_no_stories(&self, feed: &str) -> Result<bool, StoreError> {
        let ids = crate::tracker::identity::StoryIds::new(feed);
        Ok(self
            .stories
            .scan_prefix(ids.prefix())
            .next()
            .transpose()?
            .is_none())
    }
}

impl Store {
    pub fn story(&self, id: &str) -> Result<Option<StoryRecord>, StoreError> {
        StoryLookup::story(self, id)
    }
}

/// Muting: a muted story stays tracked (versions, follows) but alerts
/// nobody until `until` passes, or for ever.
impl Store {
    /// Mutes `story` until `until` (for ever with `None`), replacing an
    /// earlier mute.
    pub fn mute_story(&self, story: &str, until: Option<UnixMs>) -> Result<(), StoreError> {
        let value = until.map(|t| t.to_be_bytes().to_vec()).unwrap_or_default();
        self.muted.insert(story, value)?;
        // asked for by a person, rarely: durable before it is confirmed
        self.flush_blocking()
    }

    /// Lifts a mute; `false` when the story was not muted.
    pub fn unmute_story(&self, story: &str) -> Result<bool, StoreError> {
        let was = self.muted.remove(story)?.is_some();
        self.flush_blocking()?;
        Ok(was)
    }

    /// `None`: not muted; `Some(None)`: muted for ever; `Some(Some(t))`:
    /// muted until `t` (which may have passed: see [`Store::is_muted`]).
    pub fn muted_until(&self, story: &str) -> Result<Option<Option<UnixMs>>, StoreError> {
        Ok(self
            .muted
            .get(story)?
            .map(|v| v.as_ref().try_into().ok().map(UnixMs::from_be_bytes)))
    }

    /// Whether `story` is muted at `now`.
    pub fn is_muted(&self, story: &str, now: UnixMs) -> Result<bool, StoreError> {
        Ok(match self.muted_until(story)? {
            None => false,
            Some(None) => true,
            Some(Some(until)) => until > now,
        })
    }

    /// Every mute, story id with its end, in id order.
    pub fn mutes(&self) -> Result<Vec<(String, Option<UnixMs>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.muted.iter() {
            let (k, v) = item?;
            let until = v.as_ref().try_into().ok().map(UnixMs::from_be_bytes);
            out.push((String::from_utf8_lossy(&k).into_owned(), until));
        }
        Ok(out)
    }
}

/// What the dashboard and the Atom feeds read (`http::web`, `http::atom`).
impl Store {
    /// Alerts newest first, starting below id `before` (a page cursor).
    pub fn alerts_newest_first(
        &self,
        before: Option<u64>,
    ) -> impl Iterator<Item = Result<Alert, StoreError>> + '_ {
        let end = before.unwrap_or(u64::MAX);
        self.alerts.range(..end.to_be_bytes()).rev().map(|kv| {
            kv.map_err(StoreError::from)
                .and_then(|(_, v)| decode_alert(&v))
        })
    }

    /// Story alerts about `story` among the `scan` newest alerts, newest
    /// first. Only the alerts whose stored bytes mention the id are decoded,
    /// so looking through thousands costs little more than reading them.
    pub fn alerts_about_story(&self, story: &str, scan: usize) -> Result<Vec<Alert>, StoreError> {
        let finder = memchr::memmem::Finder::new(story.as_bytes());
        let mut out = Vec::new();
        for kv in self.alerts.iter().rev().take(scan) {
            let (_, v) = kv?;
            if finder.find(&v).is_none() {
                continue;
            }
            let alert = decode_alert(&v)?;
            if alert.story().is_some_and(|s| s.event.story == story) {
                out.push(alert);
            }
        }
        Ok(out)
    }

    /// The newest stored version of a story, without rebuilding the older
    /// ones from their deltas.
    pub fn last_version(&self, story: &str) -> Result<Option<VersionRecord>, StoreError> {
        let Some(bytes) = self.stories.get(story)? else {
            return Ok(None);
        };
        match layout::StoryValue::parse(&bytes)? {
            Some(value) => {
                value.last_version(story, &value.record(&self.dicts)?.latest, &self.dicts)
            }
            None => Ok(None),
        }
    }
}

/// `meta` key set once the `recent` index covers every story, in batches
/// (see [`recency`]).
const RECENCY_BATCHES: &str = "recency_batches";

/// `meta` key that marked a `recent` index of one key per story.
const OLD_RECENCY_BUILT: &str = "recency_index";

/// `meta` key of the time of the last retention pass (big-endian u64).
const PRUNED_AT: &str = "pruned_at";

/// `meta` key of the highest alert id ever committed (big-endian u64).
const ALERT_SEQ: &str = "alert_seq";

/// The highest alert id used so far: the one recorded in `meta`, or in an
/// older database, the last key of `alerts`.
fn last_alert_id(meta: &Tree, alerts: &Tree) -> Result<u64, StoreError> {
    let recorded = meta.get(ALERT_SEQ)?.map_or(0, |v| be_u64(&v));
    let last = alerts.last()?.map_or(0, |(k, _)| be_u64(&k));
    Ok(recorded.max(last))
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// Inside a transaction writing alerts: records the highest of their ids.
fn tx_record_alert_seq(meta: &TransactionalTree, ids: impl Iterator<Item = u64>) -> TxResult<()> {
    let Some(top) = ids.max() else {
        return Ok(());
    };
    let recorded = meta.get(ALERT_SEQ)?.map_or(0, |v| be_u64(&v));
    if top > recorded {
        meta.insert(ALERT_SEQ, &top.to_be_bytes())?;
    }
    Ok(())
}

fn instance_id(meta: &Tree) -> Result<String, StoreError> {
    if let Some(v) = meta.get("instance")? {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let id = hex::encode(rand::random::<[u8; 8]>());
    meta.insert("instance", id.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operator notice for notifiers `to`: the smallest alert there is.
    fn ops_alert(id: u64, created: UnixMs, to: &[&str]) -> Alert {
        Alert {
            id,
            key: format!("k{id}"),
            created,
            notifiers: to.iter().map(|n| n.to_string()).collect(),
            body: crate::outbox::AlertBody::Ops(crate::outbox::OpsNotice {
                feed: "f".into(),
                notifier: None,
                kind: crate::outbox::OpsKind::Failing,
                message: "m".into(),
                since: 0,
            }),
        }
    }

    /// Opens `dir` again after a `Store` on it was dropped: sled's I/O
    /// threads may hold its file lock a moment longer.
    pub(super) fn reopen(dir: &Path) -> Store {
        for _ in 0..200 {
            match Store::open(dir, 1 << 20) {
                Err(StoreError::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                other => return other.unwrap(),
            }
        }
        panic!("{} stayed locked", dir.display())
    }

    /// An entry with a guid and a link, its summary made of its title.
    pub(super) fn entry(guid: &str, link: &str, title: &str) -> crate::model::Entry {
        crate::model::Entry {
            guid: Some(guid.into()),
            link: Some(link.into()),
            title: title.into(),
            summary: format!("{title}: the council met and voted on the budget."),
            ..Default::default()
        }
    }

    /// Tracks one poll of feed "f" through `lookup` (the store, or a
    /// wrapper of it) against the feed's present list, and commits it.
    pub(super) fn poll_f(
        store: &Store,
        lookup: &impl StoryLookup<Error = StoreError>,
        entries: &[crate::model::Entry],
        now: UnixMs,
    ) -> crate::tracker::TrackStats {
        let rules = crate::tracker::FeedRules {
            feed: "f",
            ignore: &[],
            min_class: None,
        };
        let listed = store.present("f").unwrap().unwrap_or_default();
        let changes = crate::tracker::track_poll(lookup, &rules, entries, &listed, now).unwrap();
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 10)
            .unwrap();
        changes.stats
    }

    #[test]
    fn second_open_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 1 << 20).unwrap();
        let err = Store::open(dir.path(), 1 << 20)
            .err()
            .expect("second open must fail");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another storywatch process"));
    }

    #[test]
    fn the_lock_is_seen_without_opening() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!Store::is_locked(dir.path()), "no database yet");
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(Store::is_locked(dir.path()));
        drop(store);
        assert!(!Store::is_locked(dir.path()));
    }

    #[test]
    fn open_outbox_reads_only_open_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let alert = |id: u64, created: UnixMs| ops_alert(id, created, &["a", "b"]);
        store.put_alerts(&[alert(1, 1000), alert(2, 500)]).unwrap();
        let d = store.delivery("a", 1).unwrap().unwrap();
        let mut done = d.clone();
        done.state = DeliveryState::Delivered;
        store.update_delivery(&d, &done).unwrap();
        let open = store.open_outbox().unwrap();
        assert_eq!(open.total(), 3);
        assert_eq!(open.counts[&("a".to_string(), DeliveryState::Pending)], 1);
        assert_eq!(open.counts[&("b".to_string(), DeliveryState::Pending)], 2);
        assert_eq!(open.oldest_created, Some(500));
        assert_eq!(store.open_deliveries(2).unwrap().len(), 2);
        assert_eq!(parse_due_key(b"short"), None);
    }

    /// A delivery that finishes after `outbox drop` removed its alert (it
    /// was being sent meanwhile) does not bring back a record of it.
    #[test]
    fn a_delivery_finishing_after_its_alert_was_dropped_stays_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put_alerts(&[ops_alert(7, 1000, &["a"])]).unwrap();
        let in_flight = store.delivery("a", 7).unwrap().unwrap();
        assert!(store.drop_alert(7).unwrap());
        assert!(!store.drop_alert(7).unwrap(), "already gone");
        let mut done = in_flight.clone();
        done.state = DeliveryState::Delivered;
        store.update_delivery(&in_flight, &done).unwrap();
        assert_eq!(store.delivery("a", 7).unwrap(), None);
        assert_eq!(store.deliveries().count(), 0);
        assert_eq!(store.open_outbox().unwrap().total(), 0);
    }

    /// One message settled and the next marked in flight (the delivery
    /// loop's write per message): both land, the due index follows, and a
    /// delivery dropped meanwhile stays dropped.
    #[test]
    fn deliveries_change_and_the_due_index_follows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store
            .put_alerts(&[
                ops_alert(1, 100, &["a"]),
                ops_alert(2, 200, &["a"]),
                ops_alert(3, 300, &["a"]),
            ])
            .unwrap();
        let d = |id| store.delivery("a", id).unwrap().unwrap();
        let (first, second, third) = (d(1), d(2), d(3));
        assert!(store.drop_alert(3).unwrap());
        let with = |d: &Delivery, state| Delivery { state, ..d.clone() };
        store
            .update_deliveries(&[
                (first.clone(), with(&first, DeliveryState::Delivered)),
                (second.clone(), with(&second, DeliveryState::InFlight)),
                (third.clone(), with(&third, DeliveryState::Delivered)),
            ])
            .unwrap();
        assert_eq!(d(1).state, DeliveryState::Delivered);
        assert_eq!(d(2).state, DeliveryState::InFlight);
        assert_eq!(
            store.delivery("a", 3).unwrap(),
            None,
            "dropped stays dropped"
        );
        // the delivered one left the due index; the one in flight is open
        let states = |store: &Store| -> Vec<(u64, DeliveryState)> {
            let due = store.due_deliveries("a", UnixMs::MAX, 10).unwrap();
            due.iter().map(|d| (d.alert, d.state)).collect()
        };
        assert_eq!(states(&store), [(2, DeliveryState::InFlight)]);
        assert_eq!(store.requeue_in_flight(5).unwrap(), 1);
        assert_eq!(states(&store), [(2, DeliveryState::Pending)]);
        store.update_deliveries(&[]).unwrap();
    }

    /// `update_deliveries` writes the new due key, then the record, then
    /// removes the old key: a crash after any of these steps leaves the
    /// delivery found by the due index, and any stale key is cleaned.
    #[test]
    fn an_interrupted_delivery_update_never_hides_an_open_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put_alerts(&[ops_alert(1, 100, &["a"])]).unwrap();
        let pending = store.delivery("a", 1).unwrap().unwrap();
        let later = Delivery {
            next_attempt: pending.next_attempt + 60_000,
            ..pending.clone()
        };
        let due = |store: &Store| -> Vec<UnixMs> {
            let found = store.due_deliveries("a", UnixMs::MAX, 10).unwrap();
            found.iter().map(|d| d.next_attempt).collect()
        };
        // killed after the new key: the record still says the old time
        store.due.insert(due_key(&later), &[]).unwrap();
        assert_eq!(due(&store), [pending.next_attempt]);
        assert_eq!(store.due.len(), 1, "the new key, stale, was cleaned");
        // killed after the record: the old key is stale
        store.due.insert(due_key(&later), &[]).unwrap();
        store
            .deliveries
            .insert(delivery_key("a", 1), encode(&later))
            .unwrap();
        assert_eq!(due(&store), [later.next_attempt]);
        assert_eq!(store.due.len(), 1, "the old key, stale, was cleaned");
        // and settling it from there leaves no key behind
        let delivered = Delivery {
            state: DeliveryState::Delivered,
            ..later.clone()
        };
        store.update_delivery(&later, &delivered).unwrap();
        assert!(due(&store).is_empty());
        assert_eq!(store.due.len(), 0);
    }

    #[test]
    fn stories_page_by_recency_and_old_databases_get_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let story = |id: &str, last_changed: UnixMs| {
            StoryRecord {
            id: id.into(),
            last_changed,
            ..serde_json::from_str(r#"{"id":"","feed":"f","first_seen":0,"last_seen":0,"last_changed":0,"revision":1,"latest":{"title":"","summary":"","content":"","link":"","authors":[],"categories":[],"enclosures":[],"published":null,"updated":null},"raw_fp":0,"seen_fps":[],"flipflops":0,"oscillation_reported":false,"edits":[],"developing":false,"removed_at":null,"keys":[],"followers":[]}"#).unwrap()
        }
        };
        {
            // as written by a storywatch from before the index
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            for (id, t) in [("a", 30), ("b", 10), ("c", 20), ("d", 20)] {
                store
                    .stories
                    .insert(id, layout::encode(&story(id, t), 0, &[], None))
                    .unwrap();
            }
            store.meta.remove(RECENCY_BATCHES).unwrap();
            store.recent.clear().unwrap();
            store.flush_blocking().unwrap();
        }
        // sled's threads may hold the lock a moment after the drop
        let store = reopen(dir.path());
        let ids = |after: Option<(UnixMs, &str)>| -> Vec<String> {
            store
                .stories_by_recency(after)
                .map(|s| s.unwrap().id)
                .collect()
        };
        assert_eq!(ids(None), ["a", "c", "d", "b"], "newest first, ties by id");
        assert_eq!(ids(Some((20, "c"))), ["d", "b"]);
        // b changes while a client pages: it moves to the front, and the
        // page after c still holds d (neither repeated nor skipped)
        let mut changes = PollChanges::default();
        changes.stories.insert("b".into(), story("b", 40));
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 10)
            .unwrap();
        assert_eq!(ids(None), ["b", "a", "c", "d"]);
        assert_eq!(ids(Some((20, "c"))), ["d"]);
        // pruned stories leave the index
        store.prune(i64::MAX, 0, &Default::default()).unwrap();
        assert!(ids(None).is_empty());
        assert_eq!(store.recent.len(), 0);
    }

    /// Retention forgets stories that left their feed long ago, never one
    /// still in a configured feed: their `last_seen` is not refreshed while
    /// they stay unchanged, and forgetting them would make them all "new"
    /// again at the feed's next change.
    #[test]
    fn retention_keeps_the_stories_still_in_their_feed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let mut changes = PollChanges::default();
        for id in ["in-feed", "left"] {
            let text = crate::model::Snapshot {
                summary: format!("{id}: the council met and voted. ").repeat(80),
                ..Default::default()
            };
            let mut s = layout::tests::story(text, 1);
            s.id = id.into();
            s.feed = "f".into();
            s.last_seen = 1_000;
            changes.stories.insert(id.into(), s);
        }
        changes.present = vec![Listed {
            id: "in-feed".into(),
            ..Listed::default()
        }];
        changes.stats.entries = 1;
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 10)
            .unwrap();
        let configured = std::collections::HashSet::from(["f"]);
        assert_eq!(store.prune(1_000_000, 0, &configured).unwrap(), (1, 0));
        assert!(store.story("in-feed").unwrap().is_some());
        assert!(store.story("left").unwrap().is_none());
        let dict = store
            .dicts
            .of_feed("f")
            .unwrap()
            .expect("the feed's dictionary");
        // once its feed is taken out of the config, nothing keeps it, nor
        // the feed's dictionary once no story names it
        assert_eq!(
            store.prune(1_000_000, 0, &Default::default()).unwrap(),
            (1, 0)
        );
        assert!(store.story("in-feed").unwrap().is_none());
        assert!(store.dicts.of_feed("f").unwrap().is_none());
        assert!(store.dicts.get(dict.id).is_err());
    }

    /// The keys a story id is made from cost no `idents` entry (its first
    /// key, and its link when its guid is the same URL); the others have
    /// one, and a story is found by every key it has, never by one it has
    /// not.
    #[test]
    fn a_story_is_found_by_every_key_and_only_other_keys_have_entries() {
        use crate::tracker::identity::story_id;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let mut changes = PollChanges::default();
        let stories = [
            // guid and link the same URL: no entry at all (links are
            // canonical: no scheme)
            ["g:https://x.example/1", "l:x.example/1"],
            ["g:http://www.x.example/5", "l:x.example/5"],
            // a guid of its own: an entry for the link
            ["g:tag:x.example,2026:2", "l:x.example/2"],
            // guid https://x.example/3, link elsewhere: an entry for the link
            ["g:https://x.example/3", "l:x.example/4"],
        ];
        for keys in stories {
            let mut s = layout::tests::story(Default::default(), 1);
            s.id = story_id("f", keys[0]);
            s.feed = "f".into();
            s.keys = keys.iter().map(|k| k.to_string()).collect();
            changes.stories.insert(s.id.clone(), s.clone());
            changes
                .keys
                .extend(keys.iter().map(|k| (k.to_string(), s.id.clone())));
        }
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 10)
            .unwrap();
        assert_eq!(store.keys.len(), 2, "only the links that are not the guid");
        for keys in stories {
            for key in keys {
                let found = store.story_for_key("f", key).unwrap();
                assert_eq!(found, Some(story_id("f", keys[0])), "{key}");
                assert_eq!(store.story_for_key("other", key).unwrap(), None);
            }
        }
        // story 3's guid is this URL, but it is not its link
        assert_eq!(store.story_for_key("f", "l:x.example/3").unwrap(), None);
        let first = store.find_story("https://x.example/1").unwrap().unwrap();
        assert_eq!(first.id, story_id("f", stories[0][0]));
        store.prune(i64::MAX, 0, &Default::default()).unwrap();
        for key in stories.iter().flatten() {
            assert_eq!(store.story_for_key("f", key).unwrap(), None);
        }
        assert_eq!(store.keys.len(), 0);
    }

    /// The present list carries each story's raw fingerprint, so an entry
    /// that did not change passes without its story being read, and one
    /// that did is still found by any of its keys. A feed's first poll
    /// looks no key up.
    #[test]
    fn unchanged_entries_pass_without_a_read_and_changed_ones_are_found_by_any_key() {
        use std::cell::Cell;
        /// The store, counting the keys looked up and records read.
        struct Counting<'a>(&'a Store, Cell<usize>);
        impl StoryLookup for Counting<'_> {
            type Error = StoreError;
            fn story_for_key(&self, feed: &str, key: &str) -> Result<Option<String>, StoreError> {
                self.1.set(self.1.get() + 1);
                self.0.story_for_key(feed, key)
            }
            fn feed_has_no_stories(&self, feed: &str) -> Result<bool, StoreError> {
                self.0.feed_has_no_stories(feed)
            }
            fn story(&self, id: &str) -> Result<Option<StoryRecord>, StoreError> {
                self.1.set(self.1.get() + 1);
                StoryLookup::story(self.0, id)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let poll = |entries: &[crate::model::Entry], now: UnixMs| {
            let counting = Counting(&store, Cell::new(0));
            let stats = poll_f(&store, &counting, entries, now);
            (stats, counting.1.get())
        };
        let a = entry("tag:x.example,2026:a", "https://x.example/a", "Storm nears");
        let b = entry("tag:x.example,2026:b", "https://x.example/b", "Budget vote");
        // a feed's first poll looks nothing up
        assert!(store.feed_has_no_stories("f").unwrap());
        let (stats, reads) = poll(&[a.clone(), b.clone()], 1_000);
        assert_eq!((stats.new, reads), (2, 0));
        assert!(!store.feed_has_no_stories("f").unwrap());
        assert!(store.feed_has_no_stories("g").unwrap());
        let listed = store.present("f").unwrap().unwrap();
        assert!(listed.iter().all(|l| l.raw_fp != 0));
        let id_a = listed[0].id.clone();

        // the same entries again: nothing is read
        let (stats, reads) = poll(&[a.clone(), b.clone()], 2_000);
        assert_eq!((stats.unchanged, reads), (2, 0));

        // a new guid, the same link: still story a, found by its link
        let a2 = entry(
            "tag:x.example,2026:a-2",
            "https://x.example/a",
            "Storm nears",
        );
        let (stats, reads) = poll(&[a2, b.clone()], 3_000);
        assert_eq!((stats.new, stats.merges, stats.unchanged), (0, 0, 1));
        assert!(reads <= 3, "a's two keys and its record: {reads}");

        // a leaves, and comes back with a third guid: found by its link
        poll(std::slice::from_ref(&b), 4_000);
        let a3 = entry(
            "tag:x.example,2026:a-3",
            "https://x.example/a",
            "Storm hits",
        );
        let (stats, _) = poll(&[a3, b], 5_000);
        assert_eq!((stats.new, stats.updated, stats.merges), (0, 1, 0));
        assert_eq!(store.present("f").unwrap().unwrap()[0].id, id_a);
    }

    /// Alerts are stored compressed, with the story id readable in front
    /// (the dashboard's story page finds a story's alerts by it); alerts
    /// written as plain JSON by earlier releases still read.
    #[test]
    fn alerts_compress_and_a_storys_alerts_are_found_by_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let sentence = "Officials confirmed the evacuation of the coast overnight. ";
        let alert = |id: u64, story: &str| -> Alert {
            serde_json::from_value(serde_json::json!({
                "id": id, "key": format!("k{id}"), "created": 1000, "notifiers": ["a"],
                "body": {"story": {"watch": "w", "trigger": "update", "highlights": [],
                    "event": {"kind": "updated", "story": story, "feed": "f", "revision": 2,
                        "at": 1000, "title": "Storm", "old_title": null, "link": "https://x.example/1",
                        "developing": false, "flipflops": 0, "merged": false,
                        "snapshot": {"title": "Storm", "summary": sentence.repeat(20), "content": "",
                            "link": "https://x.example/1", "authors": [], "categories": [],
                            "enclosures": [], "published": null, "updated": null}}}}
            }))
            .unwrap()
        };
        let a1 = alert(1, "story-one");
        let packed = encode_alert(&a1);
        assert!(
            packed.len() < encode(&a1).len() / 3,
            "{} bytes",
            packed.len()
        );
        assert_eq!(decode_alert(&packed).unwrap(), a1);
        assert_eq!(decode_alert(&encode(&a1)).unwrap(), a1, "legacy JSON");
        assert!(decode_alert(&packed[..12]).is_err(), "damaged");
        store
            .put_alerts(&[a1.clone(), alert(2, "story-two"), alert(3, "story-one")])
            .unwrap();
        let found: Vec<u64> = store
            .alerts_about_story("story-one", 10)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(found, [3, 1]);
        assert_eq!(store.alert(1).unwrap(), Some(a1));
    }

    #[test]
    fn story_records_compress_and_old_json_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let story = layout::tests::story(
            crate::model::Snapshot {
                title: "Title".into(),
                summary: "word ".repeat(200),
                ..Default::default()
            },
            1,
        );
        let packed = layout::encode(&story, 0, &[], None);
        assert!(packed.len() < encode(&story).len() / 2);
        assert_eq!(store.decode_story(&packed).unwrap(), story);
        assert_eq!(
            store.decode_story(&encode(&story)).unwrap(),
            story,
            "legacy JSON"
        );
        assert!(
            store.decode_story(&[0, 1, 2]).is_err(),
            "damaged schema-1 record"
        );
    }

    #[test]
    fn a_write_without_a_new_version_keeps_the_chain_whichever_base_it_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let body = "The council met on Tuesday and voted on the budget. ".repeat(20);
        let versions = [
            layout::tests::version(1, "Council to vote", &body),
            layout::tests::version(2, "Council votes", &format!("{body} Passed.")),
            layout::tests::version(3, "Council votes yes", &format!("{body} Passed.")),
        ];
        let latest = versions[2].snapshot.clone();
        let mut story = layout::tests::story(latest.clone(), 3);
        let chain = layout::encode_versions(&versions, &latest, story.last_changed, None);
        for (written_by, base) in [
            ("this release", layout::base_of(&latest)),
            ("earlier releases", layout::legacy_base_of(&latest)),
        ] {
            let old = layout::encode(&story, base, &chain, None);
            story.last_seen += 1;
            // (a write that decoded the chain would also trim it to 2)
            let (new, _) = story_value(Some(&old), &story, &[], 2, None, &store.dicts).unwrap();
            let parsed = layout::StoryValue::parse(&new).unwrap().unwrap();
            assert_eq!(parsed.versions, &chain[..], "{written_by}: bytes kept");
            assert_eq!(parsed.base, layout::base_of(&latest), "{written_by}");
            let history = parsed.versions(&story.id, &latest, &store.dicts).unwrap();
            assert_eq!(history, versions, "{written_by}");
        }
        // a different `latest` never passes for the one the chain knows
        let mut moved = latest.clone();
        moved.published = Some(1);
        assert_ne!(layout::base_of(&moved), layout::base_of(&latest));
    }

    #[test]
    fn alert_ids_go_on_from_the_last_one_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ops = |id: u64| ops_alert(id, 0, &["a"]);
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let ids: Vec<u64> = (0..3).map(|_| store.next_alert_id().unwrap()).collect();
            assert_eq!(ids, [1, 2, 3]);
            store
                .put_alerts(&ids.iter().map(|i| ops(*i)).collect::<Vec<_>>())
                .unwrap();
            // the newest alert is dropped: its id is still never reused
            assert!(store.drop_alert(3).unwrap());
            store.flush_blocking().unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.next_alert_id().unwrap(), 4, "no jump, no reuse");
        drop(store);
        // a database from before the counter: ids resume after the last key
        let old = tempfile::tempdir().unwrap();
        {
            let store = Store::open(old.path(), 1 << 20).unwrap();
            store
                .alerts
                .insert(2_000_001u64.to_be_bytes(), encode(&ops(2_000_001)))
                .unwrap();
            store.meta.remove(ALERT_SEQ).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = reopen(old.path());
        assert_eq!(store.next_alert_id().unwrap(), 2_000_002);
        assert!(
            store.alert(2_000_001).unwrap().is_some(),
            "old alerts still read"
        );
    }

    #[test]
    fn instance_id_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = Store::open(dir.path(), 1 << 20)
            .unwrap()
            .instance()
            .to_string();
        assert_eq!(reopen(dir.path()).instance(), id);
    }
}
