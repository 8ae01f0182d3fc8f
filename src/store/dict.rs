//! Feed dictionaries: a story value is compressed against the records of
//! its feed's other stories.
//!
//! One story is a kilobyte of JSON; compressed alone (lz4, even against a
//! dictionary of field names) it keeps most of its size, because what it
//! shares with other stories (the outlet's URL prefixes, bylines, section
//! names, boilerplate, the vocabulary of the news of the week) is in other
//! values. Measured on the corpus's 13 real histories, stories that
//! arrived later compressed 1.9× smaller with zstd (level 1, 16 KB) against
//! their feed's first poll than with lz4 alone (BENCHMARKS.md, "A lean
//! store").
//!
//! So the first poll of a feed that writes enough stories makes a
//! dictionary of them (zstd "raw content": the bytes themselves, no
//! training), and every later value of the feed is compressed against it.
//! A dictionary is immutable and named by a fingerprint of its bytes, so a
//! value names exactly the bytes it needs, and writing one again is
//! harmless. Tree `dicts`:
//! - `d` ‖ id (u64 BE) → zstd(dictionary bytes);
//! - `f` ‖ feed name → id of the dictionary new values of the feed use.
//!
//! A dictionary is dropped by the retention pass once no story uses it and
//! its feed is no longer configured ([`Dicts::unused`], [`Dicts::remove`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sled::transaction::{TransactionalTree, UnabortableTransactionError};
use sled::Tree;
use zstd_safe::{CCtx, CDict, DCtx, DDict};

use super::{corrupt, StoreError};

/// The most of a feed's first records a dictionary holds. On the corpus's
/// real histories, later stories compressed 1.92× smaller than with lz4
/// against an 8 KB dictionary, 1.93× against 16 KB and 1.96× against
/// 48 KB: the outlet's shared strings are in its first few stories, and
/// a larger dictionary costs more to store, load and keep in memory.
const MAX_BYTES: usize = 16 * 1024;

/// A poll whose records total less than this makes no dictionary (a
/// dictionary of one or two stories is worth less than it costs).
const MIN_BYTES: usize = 4 * 1024;

/// zstd level of story values and dictionaries. Level 1, as the values are
/// written on the poll's path: on the real histories level 3 made later
/// stories 2.9 % smaller, for a prepared dictionary five times larger
/// (455 against 95 KB for 48 KB of records) and slower writes.
const LEVEL: i32 = 1;

/// Prepared dictionaries kept in memory (at most ~150 KB each: the bytes,
/// and zstd's prepared forms for compressing and decompressing, each
/// made on first use): enough for the polls a busy cycle commits side by
/// side and for a dashboard page's stories from many feeds.
const CACHED: usize = 32;

/// Largest value a story part may decompress to (a guard against a
/// damaged frame header asking for gigabytes).
const MAX_PART: u64 = 64 << 20;

/// One feed dictionary, prepared for compressing and decompressing on
/// first use of each.
pub struct Dict {
    pub id: u64,
    bytes: Vec<u8>,
    compress: OnceLock<CDict<'static>>,
    decompress: OnceLock<DDict<'static>>,
}

/// zstd's working memory, reused: one per compression or decompression
/// running at the same moment (a few), not one per thread of the
/// blocking pool (dozens in a busy cycle, ~130 KB each).
static CCTXS: Mutex<Vec<CCtx<'static>>> = Mutex::new(Vec::new());
static DCTXS: Mutex<Vec<DCtx<'static>>> = Mutex::new(Vec::new());

fn with_pooled<C, R>(pool: &Mutex<Vec<C>>, new: fn() -> C, f: impl FnOnce(&mut C) -> R) -> R {
    let taken = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut ctx = taken.unwrap_or_else(new);
    let out = f(&mut ctx);
    pool.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ctx);
    out
}

impl Dict {
    /// Dictionary `id` of `bytes` (the id is the fingerprint of the bytes,
    /// never 0: 0 in a value means "no dictionary").
    fn new(id: u64, bytes: Vec<u8>) -> Dict {
        Dict {
            id,
            bytes,
            compress: OnceLock::new(),
            decompress: OnceLock::new(),
        }
    }

    /// A dictionary of `samples` (a poll's story records as JSON), or
    /// `None` when they are too few to be worth one.
    pub fn build<'a>(samples: impl Iterator<Item = &'a [u8]>) -> Option<Dict> {
        let mut bytes = Vec::with_capacity(MAX_BYTES);
        for s in samples {
            let room = MAX_BYTES - bytes.len();
            bytes.extend_from_slice(&s[..s.len().min(room)]);
            if bytes.len() == MAX_BYTES {
                break;
            }
        }
        (bytes.len() >= MIN_BYTES)
            .then(|| Dict::new(crate::fingerprint::of_bytes(&bytes).max(1), bytes))
    }

    pub fn compress(&self, src: &[u8]) -> Vec<u8> {
        let cdict = self
            .compress
            .get_or_init(|| CDict::create(&self.bytes, LEVEL));
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(src.len()));
        with_pooled(&CCTXS, CCtx::create, |c| {
            c.compress_using_cdict(&mut out, src, cdict)
        })
        .expect("zstd cannot fail with room for compress_bound bytes");
        out
    }

    pub fn decompress(&self, what: &str, src: &[u8]) -> Result<Vec<u8>, StoreError> {
        let len = match zstd_safe::get_frame_content_size(src) {
            Ok(Some(len)) if len <= MAX_PART => len as usize,
            _ => return Err(corrupt(what, "damaged zstd frame header")),
        };
        let ddict = self.decompress.get_or_init(|| DDict::create(&self.bytes));
        let mut out = Vec::with_capacity(len);
        with_pooled(&DCTXS, DCtx::create, |d| {
            d.decompress_using_ddict(&mut out, src, ddict)
        })
        .map_err(|code| corrupt(what, zstd_safe::get_error_name(code)))?;
        Ok(out)
    }

    /// The stored form: the dictionary compressed on its own.
    fn stored(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(self.bytes.len()));
        with_pooled(&CCTXS, CCtx::create, |c| {
            c.compress(&mut out, &self.bytes, LEVEL)
        })
        .expect("zstd cannot fail with room for compress_bound bytes");
        out
    }
}

fn dict_key(id: u64) -> [u8; 9] {
    let mut k = [b'd'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn feed_key(feed: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + feed.len());
    k.push(b'f');
    k.extend_from_slice(feed.as_bytes());
    k
}

/// The `dicts` tree and the dictionaries last used, prepared.
#[derive(Clone)]
pub struct Dicts {
    tree: Tree,
    /// Most recently used last.
    cache: Arc<Mutex<Vec<Arc<Dict>>>>,
}

impl Dicts {
    pub fn new(tree: Tree) -> Dicts {
        Dicts {
            tree,
            cache: Arc::default(),
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    fn cached(&self, id: u64) -> Option<Arc<Dict>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let pos = cache.iter().position(|d| d.id == id)?;
        let d = cache.remove(pos);
        cache.push(d.clone());
        Some(d)
    }

    fn remember(&self, d: Arc<Dict>) -> Arc<Dict> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|c| c.id != d.id);
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push(d.clone());
        d
    }

    /// Dictionary `id`, which a stored value names.
    pub fn get(&self, id: u64) -> Result<Arc<Dict>, StoreError> {
        if let Some(d) = self.cached(id) {
            return Ok(d);
        }
        let stored = self
            .tree
            .get(dict_key(id))?
            .ok_or_else(|| corrupt("story", format!("its dictionary {id:016x} is missing")))?;
        let damaged = || corrupt("dictionary", "damaged zstd frame");
        let len = match zstd_safe::get_frame_content_size(&stored) {
            Ok(Some(len)) if len <= MAX_BYTES as u64 => len as usize,
            _ => return Err(damaged()),
        };
        let mut bytes = Vec::with_capacity(len);
        with_pooled(&DCTXS, DCtx::create, |d| d.decompress(&mut bytes, &stored))
            .map_err(|_| damaged())?;
        Ok(self.remember(Arc::new(Dict::new(id, bytes))))
    }

    /// The dictionary `feed`'s new values are compressed against, if it
    /// has one.
    pub fn of_feed(&self, feed: &str) -> Result<Option<Arc<Dict>>, StoreError> {
        match self.tree.get(feed_key(feed))? {
            Some(id) => {
                let id = u64::from_be_bytes(id.as_ref().try_into().unwrap_or([0; 8]));
                self.get(id).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Makes `dict` stored (if it is not) and `feed`'s dictionary, in the
    /// poll's transaction: a value is never committed without the
    /// dictionary it names.
    pub fn tx_keep(
        tx: &TransactionalTree,
        feed: &str,
        dict: &Dict,
        is_new: bool,
    ) -> Result<(), UnabortableTransactionError> {
        let key = dict_key(dict.id);
        if tx.get(key)?.is_none() {
            tx.insert(&key, dict.stored())?;
        }
        if is_new {
            tx.insert(feed_key(feed), &dict.id.to_be_bytes())?;
        }
        Ok(())
    }

    /// A dictionary just built, remembered once its poll is committed.
    pub fn adopt(&self, dict: Dict) -> Arc<Dict> {
        self.remember(Arc::new(dict))
    }

    /// Dictionaries no story uses (`in_use` lists what the stories name)
    /// and whose feed is not in `feeds` (the configured ones); the others
    /// are kept, as a configured feed's next poll will use its own.
    pub fn unused(
        &self,
        in_use: &HashSet<u64>,
        feeds: &HashSet<&str>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut keep = in_use.clone();
        let mut all = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            match k.split_first() {
                Some((b'f', feed)) if feeds.contains(String::from_utf8_lossy(feed).as_ref()) => {
                    keep.insert(u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])));
                }
                Some((b'd', id)) => all.push(u64::from_be_bytes(id.try_into().unwrap_or([0; 8]))),
                _ => {}
            }
        }
        all.retain(|id| !keep.contains(id));
        Ok(all)
    }

    /// Removes dictionaries `ids` and the feed entries naming them.
    pub fn remove(&self, ids: &HashSet<u64>) -> Result<(), StoreError> {
        for kv in self.tree.scan_prefix(b"f") {
            let (k, v) = kv?;
            if ids.contains(&u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8]))) {
                self.tree.remove(k)?;
            }
        }
        for id in ids {
            self.tree.remove(dict_key(*id))?;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|d| !ids.contains(&d.id));
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Dictionaries in a throwaway database.
    pub(in crate::store) fn temporary() -> Dicts {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Dicts::new(db.open_tree("dicts").unwrap())
    }

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":"{i:024x}","title":"Council votes on the budget, day {i}","link":"https://news.example.org/local/2026/12/council-budget-{i}","summary":"The council met on Tuesday evening and voted on next year's budget after a long debate about the libraries."}}"#
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn a_story_compresses_far_better_against_its_feeds_dictionary() {
        let rs = records(60);
        let dict = Dict::build(rs[..40].iter().map(|r| r.as_slice())).unwrap();
        let later = &rs[55];
        let alone = lz4_flex::block::compress_prepend_size(later).len();
        let packed = dict.compress(later);
        assert!(
            packed.len() * 2 < alone,
            "{} bytes against the dictionary, {alone} alone",
            packed.len()
        );
        assert_eq!(dict.decompress("story", &packed).unwrap(), *later);
        assert!(dict.decompress("story", &packed[..3]).is_err());
        assert!(Dict::build(rs[..2].iter().map(|r| r.as_slice())).is_none());
    }

    #[test]
    fn dictionaries_are_stored_found_and_dropped_only_when_unused() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let dicts = Dicts::new(db.open_tree("dicts").unwrap());
        let rs = records(40);
        let dict = Dict::build(rs.iter().map(|r| r.as_slice())).unwrap();
        let id = dict.id;
        let packed = dict.compress(&rs[3]);
        dicts
            .tree
            .transaction(|tx| Dicts::tx_keep(tx, "feed", &dict, true).map_err(Into::into))
            .map_err(|e: sled::transaction::TransactionError<()>| format!("{e:?}"))
            .unwrap();
        // a fresh handle (no cache) finds it by id and by feed
        let fresh = Dicts::new(db.open_tree("dicts").unwrap());
        assert_eq!(
            fresh.get(id).unwrap().decompress("story", &packed).unwrap(),
            rs[3]
        );
        assert_eq!(fresh.of_feed("feed").unwrap().unwrap().id, id);
        assert!(
            fresh.get(id ^ 1).is_err(),
            "a missing dictionary is an error"
        );
        // kept while its feed is configured or a story uses it
        let none = HashSet::new();
        let configured: HashSet<&str> = ["feed"].into();
        assert!(fresh.unused(&none, &configured).unwrap().is_empty());
        assert!(fresh
            .unused(&[id].into(), &HashSet::new())
            .unwrap()
            .is_empty());
        let unused = fresh.unused(&none, &HashSet::new()).unwrap();
        assert_eq!(unused, vec![id]);
        fresh.remove(&unused.into_iter().collect()).unwrap();
        assert!(fresh.of_feed("feed").unwrap().is_none());
        assert!(fresh.get(id).is_err());
    }
}
