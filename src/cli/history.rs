//! `storywatch history` and `storywatch diff`: a stored story's versions and
//! what changed between any two of them, as text for a terminal. The
//! versions are read where the database is (the running daemon, or here:
//! see [`crate::cli::dispatch`]); the text is made here.

use std::fmt::Write;

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::clock::local;
use crate::control::{Command, Ctx, Problem, ProblemCode};
use crate::records::{StoryRecord, VersionRecord};
use crate::store::Store;
use crate::tracker::materiality;

/// `storywatch history STORY` as a command the daemon answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct History {
    pub story: String,
}

/// A story and its stored versions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryVersions {
    pub story: StoryRecord,
    pub versions: Vec<VersionRecord>,
}

impl Command for History {
    const NAME: &'static str = "history";
    type Answer = StoryVersions;
    fn handle(self, ctx: &Ctx) -> Result<StoryVersions, Problem> {
        find(ctx.store, &self.story)
    }
}

/// `storywatch diff STORY [REV1 [REV2]]`: the two versions to compare.
#[derive(Debug, Serialize, Deserialize)]
pub struct Diff {
    pub story: String,
    pub rev1: Option<u32>,
    pub rev2: Option<u32>,
}

impl Command for Diff {
    const NAME: &'static str = "diff";
    type Answer = StoryVersions;
    /// The story with just the two versions to compare, older first.
    fn handle(self, ctx: &Ctx) -> Result<StoryVersions, Problem> {
        let StoryVersions { story, versions } = find(ctx.store, &self.story)?;
        let (a, b) = pick(&story, &versions, self.rev1, self.rev2)
            .map_err(|e| Problem::new(ProblemCode::NotFound, e.to_string()))?;
        let versions = vec![a.clone(), b.clone()];
        Ok(StoryVersions { story, versions })
    }
}

/// A story by id, link or guid, with its versions.
pub fn find(store: &Store, needle: &str) -> Result<StoryVersions, Problem> {
    let story = store.find_story(needle)?.ok_or_else(|| {
        Problem::new(
            ProblemCode::NotFound,
            format!("no stored story matches {needle:?} (give a story id, its link or its guid)"),
        )
    })?;
    let versions = store.versions(&story.id)?;
    // what is shown is when it was last seen, listed or not
    let story = StoryRecord {
        last_seen: store.seen_at(&story)?,
        ..story
    };
    Ok(StoryVersions { story, versions })
}

/// Every stored version of a story, one line each.
pub fn history(found: &StoryVersions) -> anyhow::Result<String> {
    let (s, versions) = (&found.story, &found.versions);
    let mut out = String::new();
    writeln!(
        out,
        "story {} (feed {}), revision {}{}{}",
        s.id,
        s.feed,
        s.revision,
        if s.developing { ", developing" } else { "" },
        if s.removed_at.is_some() {
            ", no longer in the feed"
        } else {
            ""
        }
    )?;
    writeln!(out, "  link: {}", s.latest.link)?;
    writeln!(
        out,
        "  first seen {}, last changed {}, last seen {}",
        local(s.first_seen),
        local(s.last_changed),
        local(s.last_seen)
    )?;
    if !s.followers.is_empty() {
        writeln!(out, "  followed by: {}", s.followers.join(", "))?;
    }
    for m in &s.merges {
        writeln!(
            out,
            "  r{:<3} merged from {} → {}: {}",
            m.revision,
            m.from,
            m.to,
            m.reason()
        )?;
    }
    for v in versions {
        let class = v
            .class
            .map(|c| c.to_string())
            .unwrap_or_else(|| "first".into());
        let flip = if v.flipflop {
            " (returns to an earlier version)".to_string()
        } else if !v.reverted.is_empty() {
            let fields: Vec<&str> = v.reverted.iter().map(|f| f.as_str()).collect();
            format!(" ({} reverted to an earlier version)", fields.join(", "))
        } else {
            String::new()
        };
        writeln!(
            out,
            "  r{:<3} {}  {:<6} {}{flip}",
            v.revision,
            local(v.at),
            class,
            v.snapshot.title
        )?;
    }
    if versions.first().is_some_and(|v| v.revision > 1) {
        writeln!(out, "  (older versions pruned by [retention] max_versions)")?;
    }
    Ok(out)
}

/// The two versions `diff` compares: `rev1` and `rev2`, `rev1` and the
/// latest, or (by default) the last two.
fn pick<'a>(
    s: &StoryRecord,
    versions: &'a [VersionRecord],
    rev1: Option<u32>,
    rev2: Option<u32>,
) -> anyhow::Result<(&'a VersionRecord, &'a VersionRecord)> {
    let pick = |r: u32| {
        versions.iter().find(|v| v.revision == r).ok_or_else(|| {
            anyhow!(
                "story {} has no stored revision {r} (see `storywatch history {}`)",
                s.id,
                s.id
            )
        })
    };
    Ok(match (rev1, rev2) {
        (Some(a), Some(b)) => (pick(a)?, pick(b)?),
        (Some(a), None) => (
            pick(a)?,
            versions.last().ok_or_else(|| anyhow!("no versions"))?,
        ),
        _ => match versions {
            [.., a, b] => (a, b),
            _ => bail!("story {} has only one version: nothing to compare", s.id),
        },
    })
}

/// The diff between the two versions [`Diff`] answers with.
pub fn diff(found: &StoryVersions) -> anyhow::Result<String> {
    let s = &found.story;
    let [a, b] = found.versions.as_slice() else {
        bail!("story {}: expected two versions to compare", s.id);
    };
    let mut out = String::new();
    writeln!(
        out,
        "story {}: r{} ({}) → r{} ({})",
        s.id,
        a.revision,
        local(a.at),
        b.revision,
        local(b.at)
    )?;
    let Some(c) = materiality::compare(&a.snapshot, &b.snapshot) else {
        writeln!(out, "  identical")?;
        return Ok(out);
    };
    let fields: Vec<String> = c
        .fields
        .iter()
        .map(|f| format!("{} ({})", f.field, f.class))
        .collect();
    writeln!(
        out,
        "  {} change, score {:.2}: {}",
        c.class,
        c.score,
        fields.join(", ")
    )?;
    if let Some(t) = &c.title {
        writeln!(out, "  headline: {}", t.render_text(usize::MAX))?;
    }
    if let Some(body) = &c.body {
        writeln!(
            out,
            "  text: {}",
            body.render_text(crate::notify::render::DIFF_CONTEXT)
        )?;
    }
    for sentence in &c.sentences.added {
        writeln!(out, "  + {sentence}")?;
    }
    for sentence in &c.sentences.removed {
        writeln!(out, "  - {sentence}")?;
    }
    for n in &c.numbers {
        writeln!(
            out,
            "  number: {} → {}",
            n.old.as_deref().unwrap_or("(none)"),
            n.new.as_deref().unwrap_or("(none)")
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::records::FeedState;
    use crate::tracker::{track_poll, FeedRules};

    fn poll(store: &Store, state: &mut FeedState, entry: Entry, now: i64) {
        let rules = FeedRules {
            feed: "f",
            ignore: &[],
            min_class: None,
        };
        let listed = store.present("f").unwrap().unwrap_or_default();
        let changes = track_poll(store, &rules, &[entry], &listed, now).unwrap();
        store.commit_poll("f", state, &changes, &[], 10).unwrap();
    }

    #[test]
    fn history_shows_merges_with_their_evidence_and_reverts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let mut state = FeedState::default();
        let entry = |link: &str, title: &str| Entry {
            guid: Some(link.into()),
            link: Some(link.into()),
            title: title.into(),
            summary: "Police were called to the flats.".into(),
            ..Default::default()
        };
        let old = "https://news.example/uk-kent-58616135";
        let new = "https://news.example/uk-england-58616135";
        poll(
            &store,
            &mut state,
            entry(old, "Man seen with weapons on balcony"),
            1_000,
        );
        poll(
            &store,
            &mut state,
            entry(new, "Armed police arrest balcony gunman"),
            2_000,
        );
        poll(
            &store,
            &mut state,
            entry(new, "Man seen with weapons on balcony"),
            3_000,
        );
        let text = history(&find(&store, new).unwrap()).unwrap();
        assert!(
            text.contains(&format!(
                "r2   merged from {old} → {new}: same article id 58616135"
            )),
            "{text}"
        );
        assert!(
            text.contains("(title reverted to an earlier version)"),
            "{text}"
        );
    }
}
