//! The `recent` tree: stories newest first, for `/api/stories` and the
//! dashboard, one key per batch of stories rather than one per story.
//!
//! sled costs ~200 bytes on disk per key however small (log fragments,
//! node rewrites): a `recent` key per story was 12 MB of a 60 MB database
//! holding 1.6 MB of keys. But stories change together: a poll stamps
//! every story it changes with the same time. So a key is
//!
//! ```text
//! (u64::MAX − last change) ‖ the story id's first 8 bytes → 0 ‖ (length ‖ the rest of an id, hex-decoded)…
//! ```
//!
//! ids sorted, each without the 8 characters the key already holds and the
//! rest hex-decoded: 9 bytes for a 24-character story id, where the first
//! form (the ids as text, '\n'-separated) took 25. That form still reads,
//! and is written for ids that are not lower-case hex.
//!
//! and a story id starts with its feed's fingerprint (see
//! `tracker::identity::story_id`), so a batch is one feed's stories
//! changed at one moment: a feed's first poll is one key, not fifty.
//! Listing reads the batches of one moment together and orders them by
//! id, so the order is the same as one key per story gave: newest first,
//! ties by id.

use std::collections::{BTreeMap, BTreeSet};

use sled::transaction::{TransactionalTree, UnabortableTransactionError};
use sled::Tree;

use super::{hex_id_bytes, StoreError};
use crate::model::UnixMs;

/// Length of the moment part of a key.
const MOMENT: usize = 8;

/// The key of the batch holding story `id` changed at `last_changed`.
pub fn batch_key(last_changed: UnixMs, id: &str) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..MOMENT].copy_from_slice(&(u64::MAX - last_changed.max(0) as u64).to_be_bytes());
    let prefix = &id.as_bytes()[..id.len().min(8)];
    k[MOMENT..MOMENT + prefix.len()].copy_from_slice(prefix);
    k
}

fn moment_of(key: &[u8]) -> UnixMs {
    let m = u64::from_be_bytes(key[..MOMENT].try_into().unwrap_or([0xff; 8]));
    (u64::MAX - m) as UnixMs
}

/// First byte of a batch in the compact form (the text form starts with
/// an id's first character).
const COMPACT: u8 = 0;

/// The ids of the batch at `key`.
fn ids(key: &[u8], value: &[u8]) -> BTreeSet<String> {
    let Some((&COMPACT, mut rest)) = value.split_first() else {
        return value
            .split(|b| *b == b'\n')
            .filter(|id| !id.is_empty())
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .collect();
    };
    let prefix = String::from_utf8_lossy(key.get(MOMENT..).unwrap_or_default());
    let mut set = BTreeSet::new();
    while let Some((&len, tail)) = rest.split_first() {
        let Some(suffix) = tail.get(..usize::from(len)) else {
            break; // damaged: the ids before it still list
        };
        set.insert(format!("{prefix}{}", hex::encode(suffix)));
        rest = &tail[usize::from(len)..];
    }
    set
}

/// The value of a batch of `ids` (which share their first 8 characters).
fn join(ids: &BTreeSet<String>) -> Vec<u8> {
    let suffixes: Option<Vec<Vec<u8>>> = ids
        .iter()
        .map(|id| hex_id_bytes(id.get(8..).filter(|r| !r.is_empty())?))
        .collect();
    let mut out = Vec::new();
    if let Some(suffixes) = suffixes {
        out.push(COMPACT);
        for s in suffixes {
            out.push(s.len() as u8);
            out.extend_from_slice(&s);
        }
        return out;
    }
    for id in ids {
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// Moves stories from the batch of their old last change (`None`: a new
/// story) to the batch of their new one, in the poll's transaction: each
/// `(id, old, new)`. Each batch touched is read and written once.
pub fn tx_move(
    tx: &TransactionalTree,
    moves: &[(&str, Option<UnixMs>, UnixMs)],
) -> Result<(), UnabortableTransactionError> {
    let mut batches: BTreeMap<[u8; 16], (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (id, old, new) in moves {
        if let Some(t) = old {
            batches.entry(batch_key(*t, id)).or_default().0.push(id);
        }
        batches.entry(batch_key(*new, id)).or_default().1.push(id);
    }
    for (key, (leaving, joining)) in batches {
        let mut set = tx.get(key)?.map(|v| ids(&key, &v)).unwrap_or_default();
        for id in leaving {
            set.remove(id);
        }
        set.extend(joining.into_iter().map(str::to_string));
        if set.is_empty() {
            tx.remove(&key)?;
        } else {
            tx.insert(&key, join(&set))?;
        }
    }
    Ok(())
}

/// Removes stories, each `(id, last change)`, from their batches: each
/// batch is rewritten once, however many of its stories go (a feed's first
/// poll is one batch, and its stories tend to age out together).
pub fn remove(tree: &Tree, stories: &[(String, UnixMs)]) -> Result<(), StoreError> {
    let mut batches: BTreeMap<[u8; 16], BTreeSet<&str>> = BTreeMap::new();
    for (id, t) in stories {
        batches.entry(batch_key(*t, id)).or_default().insert(id);
    }
    for (key, gone) in batches {
        tree.update_and_fetch(key, |v| {
            let mut set = ids(&key, v?);
            set.retain(|id| !gone.contains(id.as_str()));
            (!set.is_empty()).then(|| join(&set))
        })?;
    }
    Ok(())
}

/// Fills an empty `recent` from every story's (id, last change).
pub fn rebuild(
    tree: &Tree,
    stories: impl Iterator<Item = Result<(String, UnixMs), StoreError>>,
) -> Result<(), StoreError> {
    tree.clear()?;
    let mut batches: BTreeMap<[u8; 16], BTreeSet<String>> = BTreeMap::new();
    for s in stories {
        let (id, t) = s?;
        batches.entry(batch_key(t, &id)).or_default().insert(id);
    }
    for (key, set) in batches {
        tree.insert(key, join(&set))?;
    }
    Ok(())
}

/// Story ids by last change, newest first, ties by id, after the story at
/// `after` (a page cursor: its last change and id).
pub fn newest_first<'a>(
    tree: &'a Tree,
    after: Option<(UnixMs, &'a str)>,
) -> impl Iterator<Item = Result<String, StoreError>> + 'a {
    let start = after.map_or([0u8; MOMENT], |(t, _)| {
        (u64::MAX - t.max(0) as u64).to_be_bytes()
    });
    let mut batches = tree.range(start..).peekable();
    let mut moment: Vec<String> = Vec::new();
    std::iter::from_fn(move || loop {
        if let Some(id) = moment.pop() {
            return Some(Ok(id));
        }
        // the next moment: every batch that shares it, ids merged
        let (key, value) = match batches.next()? {
            Ok(kv) => kv,
            Err(e) => return Some(Err(e.into())),
        };
        let at = moment_of(&key);
        let mut set = ids(&key, &value);
        while let Some(Ok((k, v))) = batches.peek() {
            if moment_of(k) != at {
                break;
            }
            set.extend(ids(k, v));
            batches.next();
        }
        if let Some((_, after_id)) = after.filter(|(t, _)| *t == at) {
            set.retain(|id| id.as_str() > after_id);
        }
        // popped from the back: reversed, so the smallest id comes first
        moment = set.into_iter().rev().collect();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_list_like_one_key_per_story_and_move_when_a_story_changes() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("recent").unwrap();
        // feed "aaaaaaaa" has four stories at 20, "bbbbbbbb" two at 20, one at 10
        let stories = [
            ("aaaaaaaa01", 20),
            ("aaaaaaaa03", 20),
            ("aaaaaaaa02", 20),
            ("bbbbbbbb01", 20),
            ("aaaaaaaa04", 30),
            ("bbbbbbbb02", 10),
        ];
        rebuild(
            &tree,
            stories.iter().map(|(id, t)| Ok((id.to_string(), *t))),
        )
        .unwrap();
        assert_eq!(tree.len(), 4, "one key per feed and moment");
        let list = |after: Option<(UnixMs, &str)>| -> Vec<String> {
            newest_first(&tree, after).map(Result::unwrap).collect()
        };
        let all = [
            "aaaaaaaa04",
            "aaaaaaaa01",
            "aaaaaaaa02",
            "aaaaaaaa03",
            "bbbbbbbb01",
            "bbbbbbbb02",
        ];
        assert_eq!(list(None), all);
        for (i, id) in all.iter().enumerate() {
            let t = stories.iter().find(|(s, _)| s == id).unwrap().1;
            assert_eq!(list(Some((t, id))), all[i + 1..], "after {id}");
        }
        // a story changes: it leaves its batch for a new one
        tree.transaction(|tx| tx_move(tx, &[("aaaaaaaa02", Some(20), 40)]).map_err(Into::into))
            .map_err(|e: sled::transaction::TransactionError<()>| format!("{e:?}"))
            .unwrap();
        assert_eq!(list(None)[..2], ["aaaaaaaa02", "aaaaaaaa04"]);
        assert_eq!(
            list(Some((20, "aaaaaaaa01"))),
            ["aaaaaaaa03", "bbbbbbbb01", "bbbbbbbb02"]
        );
        // removing the last story of a batch removes its key
        remove(
            &tree,
            &[("bbbbbbbb02".into(), 10), ("aaaaaaaa04".into(), 30)],
        )
        .unwrap();
        assert_eq!(tree.len(), 3);
        assert_eq!(list(None).len(), 4);
        // several stories of one batch at once
        remove(
            &tree,
            &[("aaaaaaaa01".into(), 20), ("aaaaaaaa03".into(), 20)],
        )
        .unwrap();
        assert_eq!(list(None), ["aaaaaaaa02", "bbbbbbbb01"]);
        // short (legacy) ids have batches of their own
        assert_eq!(batch_key(5, "ab")[8..], [b'a', b'b', 0, 0, 0, 0, 0, 0]);

        // a story id costs 9 bytes; ids that are not hex, and batches
        // written in the first form, are text
        let id = "00429cef04848df2b127b026";
        let one = |id: &str| BTreeSet::from([id.to_string()]);
        assert_eq!(join(&one(id)).len(), 1 + 1 + 8);
        assert_eq!(join(&one("ccccccccXY")), b"ccccccccXY");
        assert_eq!(join(&one("cccccccc")), b"cccccccc");
        tree.insert(batch_key(50, "cccccccc01"), &b"cccccccc01\ncccccccc02"[..])
            .unwrap();
        assert_eq!(list(None)[..3], ["cccccccc01", "cccccccc02", "aaaaaaaa02"]);
        tree.transaction(|tx| tx_move(tx, &[("cccccccc03", None, 50)]).map_err(Into::into))
            .map_err(|e: sled::transaction::TransactionError<()>| format!("{e:?}"))
            .unwrap();
        assert_eq!(
            tree.get(batch_key(50, "cccccccc01")).unwrap().unwrap()[0],
            COMPACT
        );
        assert_eq!(list(None)[..3], ["cccccccc01", "cccccccc02", "cccccccc03"]);
    }
}
