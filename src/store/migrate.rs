//! Brings a database written by an older storywatch up to this schema, in
//! place, on the first open.
//!
//! Schema 2 → 3 → 4: nothing moves (see [`upgrade`]).
//!
//! Schema 1 → 2: each story's record and its rows of the `versions` tree
//! become one value (see [`super::layout`]); `recent_of` is dropped (a
//! story value's header now holds its last change); the identity keys of
//! `keys` (feed ‖ 0 ‖ key, spelled out) move to `idents`, hashed.
//!
//! Crash safety: first, in one atomic batch, `meta` is marked schema 2 and
//! "migrating"; from then on an older storywatch refuses the database
//! ("written by a newer storywatch … upgrade") instead of misreading it.
//! Each story then moves in its own transaction (new value written, its old
//! version rows removed), so a kill leaves every story either wholly old or
//! wholly new, and both read. Identity keys are copied (copying one again
//! is harmless) and the `keys` tree is dropped at the end. The next start
//! sees the mark and goes on
//! where the last one stopped; the old trees are dropped and the mark
//! removed only when every story has moved.

use std::time::Instant;

use serde::de::DeserializeOwned;
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::{corrupt, layout, Store, StoreError, SCHEMA_VERSION};
use crate::records::{StoryRecord, VersionRecord};

/// `meta` key present while a migration to schema 2 is under way.
const MIGRATING: &str = "migrating_to_2";

/// Schema 1 marked an lz4-compressed story record with a leading 0 (JSON
/// never starts with a NUL); records without it are plain JSON.
const V1_COMPRESSED: u8 = 0;

fn unpack<T: DeserializeOwned>(what: &str, packed: &[u8]) -> Result<T, StoreError> {
    let raw = lz4_flex::decompress_size_prepended(packed).map_err(|e| corrupt(what, e))?;
    serde_json::from_slice(&raw).map_err(|e| corrupt(what, e))
}

/// A story record as schema 1 stored it.
pub(super) fn decode_v1_story(bytes: &[u8]) -> Result<StoryRecord, StoreError> {
    match bytes.split_first() {
        Some((&V1_COMPRESSED, packed)) => unpack("story", packed),
        _ => serde_json::from_slice(bytes).map_err(|e| corrupt("story", e)),
    }
}

/// Migrates a database last written under schema `found`, or finishes a
/// migration a crash interrupted.
pub(super) fn upgrade(store: &Store, found: u32) -> Result<(), StoreError> {
    if found < 2 {
        let mut mark = sled::Batch::default();
        mark.insert("schema", &2u32.to_be_bytes());
        mark.insert(MIGRATING, &[1]);
        store.meta.apply_batch(mark)?;
        store.db.flush()?;
    }
    if store.meta.get(MIGRATING)?.is_some() {
        to_schema_2(store)?;
    }
    if found < SCHEMA_VERSION {
        // schema 2 → 3 → 4 → 5 rewrites nothing: schema-2 values (format 2)
        // still read, and are written in format 3 when their story next
        // changes; schema-3 present lists (ids only), values (fixed-size
        // headers, compressed first versions) and `recent` batches (ids as
        // text) still read, and are written in their schema-4 forms when
        // next written; schema-4 feed states (JSON) still read, and take
        // their schema-5 form at the feed's next poll.
        // The mark only makes an older storywatch refuse the database
        // instead of misreading the newer forms.
        store.meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
        store.db.flush()?;
    }
    Ok(())
}

/// Schema 1 → 2 (see the module's documentation), from where a crash left
/// it.
fn to_schema_2(store: &Store) -> Result<(), StoreError> {
    let started = Instant::now();
    tracing::info!(path = %store.path.display(), "migrating the database to schema 2 (one value per story); an interrupted migration goes on at the next start");
    let moved = move_stories(store, usize::MAX)?;
    copy_keys(store)?;
    finish(store)?;
    tracing::info!(
        stories = moved,
        ms = started.elapsed().as_millis() as u64,
        "database migrated to schema 2"
    );
    Ok(())
}

/// Moves at most `limit` stories still in the schema-1 layout; returns how
/// many moved.
fn move_stories(store: &Store, limit: usize) -> Result<usize, StoreError> {
    let versions = store.db.open_tree("versions")?;
    let mut moved = 0;
    for kv in store.stories.iter() {
        let (id, bytes) = kv?;
        if layout::StoryValue::parse(&bytes)?.is_some() {
            continue;
        }
        if moved >= limit {
            break;
        }
        let record = decode_v1_story(&bytes)?;
        let mut prefix = id.to_vec();
        prefix.push(0);
        let mut rows = Vec::new();
        let mut chain: Vec<VersionRecord> = Vec::new();
        // keys end in the big-endian revision: oldest first
        for kv in versions.scan_prefix(&prefix) {
            let (k, v) = kv?;
            chain.push(unpack("version", &v)?);
            rows.push(k);
        }
        let base = layout::base_of(&record.latest);
        let value = layout::encode(
            &record,
            base,
            &layout::encode_versions(&chain, &record.latest, record.last_changed, None),
            None,
        );
        (&store.stories, &versions).transaction(|(stories_t, versions_t)| {
            stories_t.insert(&id, value.as_slice())?;
            for k in &rows {
                versions_t.remove(k)?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        moved += 1;
    }
    Ok(moved)
}

/// Copies the identity keys of `keys` (feed ‖ 0 ‖ key → story id) into
/// `idents`, hashed.
fn copy_keys(store: &Store) -> Result<(), StoreError> {
    let keys = store.db.open_tree("keys")?;
    for kv in keys.iter() {
        let (k, id) = kv?;
        let Some(pos) = k.iter().position(|b| *b == 0) else {
            continue;
        };
        let feed = String::from_utf8_lossy(&k[..pos]);
        let key = String::from_utf8_lossy(&k[pos + 1..]);
        store.keys.insert(super::identity_key(&feed, &key), id)?;
    }
    Ok(())
}

/// Drops the schema-1 trees and the mark, once every story has moved.
fn finish(store: &Store) -> Result<(), StoreError> {
    store.db.drop_tree("keys")?;
    store.db.drop_tree("versions")?;
    store.db.drop_tree("recent_of")?;
    store.meta.remove(MIGRATING)?;
    store.db.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeClass, Snapshot, UnixMs};
    use crate::records::FeedState;
    use crate::tracker::PollChanges;

    /// The `recent` key schemas 1 and 2 wrote: one per story.
    fn old_recency_key(last_changed: UnixMs, id: &str) -> Vec<u8> {
        let mut k = (u64::MAX - last_changed as u64).to_be_bytes().to_vec();
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// Writes stories as storywatch with schema 1 did (its `commit_poll`:
    /// the record lz4-compressed behind a 0 byte, each version as
    /// lz4-compressed JSON under story ‖ 0 ‖ revision, `recent` and
    /// `recent_of`), into a bare sled database.
    fn write_v1(dir: &std::path::Path, stories: &[(StoryRecord, Vec<VersionRecord>)]) {
        let db = sled::open(dir.join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema", &1u32.to_be_bytes()).unwrap();
        meta.insert("recency_index", &[1]).unwrap();
        let state = serde_json::to_vec(&FeedState::new("http://127.0.0.1/f.xml")).unwrap();
        db.open_tree("feeds").unwrap().insert("f", state).unwrap();
        let t = |n: &str| db.open_tree(n).unwrap();
        let (st, vt, recent, recent_of, keys) = (
            t("stories"),
            t("versions"),
            t("recent"),
            t("recent_of"),
            t("keys"),
        );
        for (s, versions) in stories {
            let mut value = vec![V1_COMPRESSED];
            value.extend(lz4_flex::compress_prepend_size(
                &serde_json::to_vec(s).unwrap(),
            ));
            st.insert(s.id.as_bytes(), value).unwrap();
            for v in versions {
                let mut k = s.id.as_bytes().to_vec();
                k.push(0);
                k.extend_from_slice(&v.revision.to_be_bytes());
                let packed = lz4_flex::compress_prepend_size(&serde_json::to_vec(v).unwrap());
                vt.insert(k, packed).unwrap();
            }
            let at = s.last_changed as u64;
            recent
                .insert(old_recency_key(s.last_changed, &s.id), &[])
                .unwrap();
            recent_of
                .insert(s.id.as_bytes(), &at.to_be_bytes())
                .unwrap();
            for key in &s.keys {
                keys.insert(super::super::ident_key(&s.feed, key), s.id.as_bytes())
                    .unwrap();
            }
        }
        db.flush().unwrap();
    }

    /// sled's I/O threads may hold the file lock a moment after a drop.
    fn wait_unlocked(dir: &std::path::Path) {
        for _ in 0..200 {
            if !Store::is_locked(dir) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{} stayed locked", dir.display());
    }

    fn snapshot(title: &str, rev: u32) -> Snapshot {
        Snapshot {
            title: title.into(),
            summary: format!("Paragraph one stays. Revision {rev} says this. ").repeat(8),
            link: format!("https://example.org/{title}"),
            published: Some(1000),
            ..Default::default()
        }
    }

    /// Gives story `s` a new revision at `at` titled `title`, adds it to
    /// `versions` and puts both in `changes`, as the tracker would.
    fn edit(
        s: &mut StoryRecord,
        versions: &mut Vec<VersionRecord>,
        at: UnixMs,
        title: &str,
        changes: &mut PollChanges,
    ) {
        s.revision += 1;
        s.last_changed = at;
        s.latest = snapshot(title, s.revision);
        let v = VersionRecord {
            revision: s.revision,
            at,
            snapshot: s.latest.clone(),
            ..versions[versions.len() - 1].clone()
        };
        versions.push(v.clone());
        changes.stories.insert(s.id.clone(), s.clone());
        changes.versions.push(v);
    }

    /// Stories with 1..=4 versions, the newest record's `latest` carrying a
    /// metadata change made after the last version (as the tracker does).
    fn v1_stories(n: usize) -> Vec<(StoryRecord, Vec<VersionRecord>)> {
        (0..n)
            .map(|i| {
                let id = format!("st{i:03}");
                let revs = (i % 4) as u32 + 1;
                let versions: Vec<VersionRecord> = (1..=revs)
                    .map(|r| VersionRecord {
                        story: id.clone(),
                        revision: r,
                        at: (r * 100) as UnixMs,
                        snapshot: snapshot(&id, r),
                        class: (r > 1).then_some(ChangeClass::Major),
                        score: 0.25 * r as f32,
                        flipflop: false,
                        reverted: vec![],
                    })
                    .collect();
                let mut latest = versions.last().unwrap().snapshot.clone();
                if i % 3 == 0 {
                    latest.updated = Some(5000);
                }
                let record: StoryRecord = StoryRecord {
                    id: id.clone(),
                    feed: "f".into(),
                    revision: revs,
                    last_changed: (revs * 100) as UnixMs + i as UnixMs,
                    latest,
                    keys: vec![format!("g:guid-{id}")],
                    ..serde_json::from_str(r#"{"id":"","feed":"","first_seen":1,"last_seen":2,"last_changed":0,"revision":1,"latest":{"title":"","summary":"","content":"","link":"","authors":[],"categories":[],"enclosures":[],"published":null,"updated":null},"raw_fp":0,"seen_fps":[],"flipflops":0,"oscillation_reported":false,"edits":[],"developing":false,"removed_at":null,"keys":[],"followers":[]}"#).unwrap()
                };
                (record, versions)
            })
            .collect()
    }

    fn assert_same_content(store: &Store, stories: &[(StoryRecord, Vec<VersionRecord>)]) {
        for (s, versions) in stories {
            assert_eq!(store.story(&s.id).unwrap().as_ref(), Some(s));
            assert_eq!(&store.versions(&s.id).unwrap(), versions, "{}", s.id);
            assert_eq!(store.find_story(&s.id).unwrap().as_ref(), Some(s));
            let guid = s.keys[0].trim_start_matches("g:");
            assert_eq!(store.find_story(guid).unwrap().as_ref(), Some(s), "by guid");
        }
        let mut by_recency: Vec<&StoryRecord> = stories.iter().map(|(s, _)| s).collect();
        by_recency.sort_by_key(|s| (std::cmp::Reverse(s.last_changed), s.id.clone()));
        let listed: Vec<String> = store
            .stories_by_recency(None)
            .map(|s| s.unwrap().id)
            .collect();
        let want: Vec<String> = by_recency.iter().map(|s| s.id.clone()).collect();
        assert_eq!(listed, want);
    }

    #[test]
    fn a_schema_1_database_is_migrated_in_place_with_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let stories = v1_stories(40);
        write_v1(dir.path(), &stories);
        wait_unlocked(dir.path());
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_same_content(&store, &stories);
        let names: Vec<Vec<u8>> = store.db.tree_names().iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&b"versions".to_vec()), "old trees dropped");
        assert!(!names.contains(&b"recent_of".to_vec()));
        assert!(!names.contains(&b"keys".to_vec()));
        // identity keys moved: the tracker finds each story by its guid
        use crate::tracker::StoryLookup;
        for (s, _) in &stories {
            assert_eq!(
                store.story_for_key("f", &s.keys[0]).unwrap().as_deref(),
                Some(s.id.as_str())
            );
        }
        assert_eq!(
            store.meta.get("schema").unwrap().unwrap().as_ref(),
            super::super::SCHEMA_VERSION.to_be_bytes()
        );
        assert!(store.meta.get(MIGRATING).unwrap().is_none());
        // the migrated story takes new versions on top of its history
        let (mut s, mut versions) = stories[3].clone();
        let mut changes = PollChanges::default();
        let title = s.id.clone();
        edit(&mut s, &mut versions, 10_000, &title, &mut changes);
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 100)
            .unwrap();
        assert_eq!(store.versions(&s.id).unwrap(), versions);
        assert_eq!(
            store.stories_by_recency(None).next().unwrap().unwrap().id,
            s.id
        );
    }

    #[test]
    fn a_migration_cut_short_leaves_a_readable_database_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let stories = v1_stories(30);
        write_v1(dir.path(), &stories);
        wait_unlocked(dir.path());
        {
            // what a kill part-way leaves: the mark set, some stories moved
            let db = sled::open(dir.path().join("db")).unwrap();
            let meta = db.open_tree("meta").unwrap();
            let mut mark = sled::Batch::default();
            mark.insert("schema", &2u32.to_be_bytes());
            mark.insert(MIGRATING, &[1]);
            meta.apply_batch(mark).unwrap();
            db.flush().unwrap();
        }
        wait_unlocked(dir.path());
        {
            let store = Store::open_trees(dir.path(), super::super::Tuning::new(1 << 20)).unwrap();
            assert_eq!(move_stories(&store, 11).unwrap(), 11);
            // half moved: every record reads, whichever its layout
            for (s, _) in &stories {
                assert_eq!(store.story(&s.id).unwrap().as_ref(), Some(s));
            }
            store.db.flush().unwrap();
        }
        let store = super::super::tests::reopen(dir.path());
        assert!(store.meta.get(MIGRATING).unwrap().is_none());
        assert_same_content(&store, &stories);
        drop(store);
        // and opening again is a no-op
        let store = super::super::tests::reopen(dir.path());
        assert_same_content(&store, &stories);
    }

    /// Writes stories as storywatch with schema 2 did: one format-2 value
    /// per story (lz4 against the shape dictionary), `recent`, `idents`.
    fn write_v2(dir: &std::path::Path, stories: &[(StoryRecord, Vec<VersionRecord>)]) {
        let db = sled::open(dir.join("db")).unwrap();
        let t = |n: &str| db.open_tree(n).unwrap();
        let meta = t("meta");
        meta.insert("schema", &2u32.to_be_bytes()).unwrap();
        meta.insert("recency_index", &[1]).unwrap();
        let state = serde_json::to_vec(&FeedState::new("http://127.0.0.1/f.xml")).unwrap();
        t("feeds").insert("f", state).unwrap();
        for (s, versions) in stories {
            let chain = layout::encode_versions(versions, &s.latest, s.last_changed, None);
            let value = layout::encode(s, layout::base_of(&s.latest), &chain, None);
            assert_eq!(value[0], layout::FORMAT);
            t("stories").insert(s.id.as_bytes(), value).unwrap();
            t("recent")
                .insert(old_recency_key(s.last_changed, &s.id), &[])
                .unwrap();
            for key in &s.keys {
                t("idents")
                    .insert(super::super::identity_key(&s.feed, key), s.id.as_bytes())
                    .unwrap();
            }
        }
        db.flush().unwrap();
    }

    #[test]
    fn a_schema_2_database_opens_as_it_is_and_moves_to_feed_dictionaries_story_by_story() {
        let dir = tempfile::tempdir().unwrap();
        let mut stories = v1_stories(40);
        write_v2(dir.path(), &stories);
        wait_unlocked(dir.path());
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_same_content(&store, &stories);
        assert_eq!(
            store.meta.get("schema").unwrap().unwrap().as_ref(),
            SCHEMA_VERSION.to_be_bytes(),
            "an older storywatch now refuses it instead of misreading new values"
        );
        // a poll that edits twelve stories writes them against a new
        // dictionary of the feed, on top of their schema-2 histories
        let mut changes = PollChanges::default();
        for (s, versions) in stories.iter_mut().take(12) {
            let title = format!("{} edited", s.id);
            edit(s, versions, 20_000, &title, &mut changes);
        }
        store
            .commit_poll("f", &FeedState::default(), &changes, &[], 100)
            .unwrap();
        let format = |id: &str| store.stories.get(id).unwrap().unwrap()[0];
        assert_eq!(format(&stories[0].0.id), layout::FORMAT_COMPACT);
        assert_eq!(format(&stories[20].0.id), layout::FORMAT, "untouched");
        assert!(store.dicts.of_feed("f").unwrap().is_some());
        assert_same_content(&store, &stories);
        drop(store);
        // and after a restart (dictionaries read back from disk)
        let store = super::super::tests::reopen(dir.path());
        assert_same_content(&store, &stories);
    }

    /// A schema-3 database: present lists of ids only and a compressed
    /// chain for every first version. It opens as it is, finds its stories
    /// by any key, and moves to the schema-4 forms as feeds are polled.
    #[test]
    fn a_schema_3_database_opens_as_it_is_and_moves_to_lists_with_fingerprints() {
        use super::super::tests::{entry, poll_f};
        use crate::tracker::StoryLookup;
        let poll = |store: &Store, entries: &[crate::model::Entry], now| {
            poll_f(store, store, entries, now)
        };
        let a = entry("tag:x.example,2026:a", "https://x.example/a", "Storm nears");
        let b = entry("tag:x.example,2026:b", "https://x.example/b", "Budget vote");
        let c = entry(
            "https://x.example/c",
            "https://x.example/c",
            "Bridge closed",
        );
        let dir = tempfile::tempdir().unwrap();
        let mut before = Vec::new();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            poll(&store, &[a.clone(), b.clone(), c.clone()], 1_000);
            // now as schema 3 wrote it
            store.meta.insert("schema", &3u32.to_be_bytes()).unwrap();
            let listed = store.present("f").unwrap().unwrap();
            let mut ids_only = vec![1u8];
            let dict = store.dicts.of_feed("f").unwrap();
            for l in &listed {
                let raw = hex::decode(&l.id).unwrap();
                ids_only.push(raw.len() as u8);
                ids_only.extend_from_slice(&raw);
                let s = store.story(&l.id).unwrap().unwrap();
                let versions = store.versions(&l.id).unwrap();
                // a time other than `last_changed`: a compressed chain
                let chain = layout::encode_versions(&versions, &s.latest, -1, dict.as_deref());
                assert!(chain.len() > 1);
                let value =
                    layout::encode_fixed(&s, layout::base_of(&s.latest), &chain, dict.as_deref());
                store.stories.insert(s.id.as_bytes(), value).unwrap();
                before.push((s, versions));
            }
            store.present.insert("f", ids_only).unwrap();
            assert_eq!(store.keys.len(), 2, "the links of a and b");
            store.db.flush().unwrap();
        }
        wait_unlocked(dir.path());
        let store = super::super::tests::reopen(dir.path());
        assert_eq!(
            store.meta.get("schema").unwrap().unwrap().as_ref(),
            SCHEMA_VERSION.to_be_bytes()
        );
        for (s, versions) in &before {
            assert_eq!(store.story(&s.id).unwrap().as_ref(), Some(s));
            assert_eq!(&store.versions(&s.id).unwrap(), versions);
        }
        assert_eq!(
            store.present("f").unwrap().unwrap()[0].raw_fp,
            0,
            "ids only"
        );
        let by_link = store.story_for_key("f", "l:x.example/a").unwrap();
        assert_eq!(by_link.as_deref(), Some(before[0].0.id.as_str()));

        // a's publisher changes its guid: still story a, by its link
        let a2 = entry(
            "tag:x.example,2026:a-2",
            "https://x.example/a",
            "Storm nears",
        );
        let stats = poll(&store, &[a2.clone(), b.clone(), c.clone()], 2_000);
        assert_eq!((stats.new, stats.merges, stats.unchanged), (0, 0, 2));
        let listed = store.present("f").unwrap().unwrap();
        assert_eq!(store.present.get("f").unwrap().unwrap()[0], 2);
        assert_eq!(listed[0].id, before[0].0.id);
        assert!(listed.iter().all(|l| l.raw_fp != 0));

        // a new story keeps its first version in one byte
        let d = entry("tag:x.example,2026:d", "https://x.example/d", "Ferry late");
        let stats = poll(&store, &[d, a2, b, c], 3_000);
        assert_eq!((stats.new, stats.unchanged), (1, 3));
        let id_d = &crate::tracker::identity::story_id("f", "g:tag:x.example,2026:d");
        let value = store.stories.get(id_d).unwrap().unwrap();
        assert!(layout::StoryValue::parse(&value)
            .unwrap()
            .unwrap()
            .first_version_only());
        assert_eq!(store.versions(id_d).unwrap()[0].at, 3_000);
    }
}
