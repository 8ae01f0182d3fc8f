//! `storywatch mute STORY [--for 2d]`, `storywatch unmute STORY` and
//! `storywatch mutes`: silence one story without touching the watches.
//!
//! A muted story stays tracked (its versions are kept, watches keep
//! following it) but its changes alert nobody until the mute ends. Like
//! every command that needs the database, they run in the daemon through
//! its control socket when it runs, else open the database here
//! ([`crate::cli::locate`]).

use serde::{Deserialize, Serialize};

use crate::clock::local;
use crate::control::{Command, Ctx, Problem, ProblemCode};
use crate::model::UnixMs;

/// `storywatch mute STORY [--for DURATION]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Mute {
    /// A story id, link or guid.
    pub story: String,
    /// How long, in milliseconds; `None` until unmuted.
    pub for_ms: Option<u64>,
}

/// What `mute` and `unmute` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Muted {
    pub story: String,
    pub title: String,
    /// For `mute`: until when (`None`: until unmuted). For `unmute`: the
    /// mute that was lifted.
    pub until: Option<UnixMs>,
    /// For `unmute`: whether the story was muted at all.
    pub was_muted: bool,
}

impl Command for Mute {
    const NAME: &'static str = "mute";
    type Answer = Muted;
    fn handle(self, ctx: &Ctx) -> Result<Muted, Problem> {
        let story = find(ctx, &self.story)?;
        let until = self.for_ms.map(|ms| {
            ctx.now
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
        });
        let was_muted = ctx.store.muted_until(&story.id)?.is_some();
        ctx.store.mute_story(&story.id, until)?;
        Ok(Muted {
            story: story.id,
            title: story.latest.title,
            until,
            was_muted,
        })
    }
}

/// `storywatch unmute STORY`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Unmute {
    pub story: String,
}

impl Command for Unmute {
    const NAME: &'static str = "unmute";
    type Answer = Muted;
    fn handle(self, ctx: &Ctx) -> Result<Muted, Problem> {
        // a story pruned since it was muted can still be unmuted by id
        let (id, title) = match ctx.store.find_story(&self.story)? {
            Some(s) => (s.id, s.latest.title),
            None => (self.story.clone(), String::new()),
        };
        let until = ctx.store.muted_until(&id)?.flatten();
        let was_muted = ctx.store.unmute_story(&id)?;
        if !was_muted && title.is_empty() {
            return Err(not_found(&self.story));
        }
        Ok(Muted {
            story: id,
            title,
            until,
            was_muted,
        })
    }
}

/// `storywatch mutes`: every muted story.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Mutes {}

impl Command for Mutes {
    const NAME: &'static str = "mutes";
    type Answer = Vec<Muted>;
    fn handle(self, ctx: &Ctx) -> Result<Vec<Muted>, Problem> {
        let mut out = Vec::new();
        for (id, until) in ctx.store.mutes()? {
            if until.is_some_and(|t| t <= ctx.now) {
                continue; // over: it alerts again
            }
            let title = ctx
                .store
                .story(&id)?
                .map(|s| s.latest.title)
                .unwrap_or_default();
            out.push(Muted {
                story: id,
                title,
                until,
                was_muted: true,
            });
        }
        Ok(out)
    }
}

fn not_found(needle: &str) -> Problem {
    Problem::new(
        ProblemCode::NotFound,
        format!("no stored story matches {needle:?} (give a story id, its link or its guid, as `storywatch history` and alerts show them)"),
    )
}

fn find(ctx: &Ctx, needle: &str) -> Result<crate::records::StoryRecord, Problem> {
    ctx.store
        .find_story(needle)?
        .ok_or_else(|| not_found(needle))
}

fn until_text(until: Option<UnixMs>) -> String {
    match until {
        Some(t) => format!("until {}", local(t)),
        None => "until `storywatch unmute`".into(),
    }
}

/// What `mute` prints.
pub fn muted_text(m: &Muted) -> String {
    format!(
        "muted story {} ({}) {}: it stays tracked but alerts nobody\n",
        m.story,
        m.title,
        until_text(m.until)
    )
}

/// What `unmute` prints.
pub fn unmuted_text(m: &Muted) -> String {
    if m.was_muted {
        format!("story {} ({}) alerts again\n", m.story, m.title)
    } else {
        format!("story {} ({}) was not muted\n", m.story, m.title)
    }
}

/// What `mutes` prints.
pub fn mutes_text(rows: &[Muted]) -> String {
    if rows.is_empty() {
        return "no story is muted\n".into();
    }
    rows.iter()
        .map(|m| format!("{}  {}  {}\n", m.story, until_text(m.until), m.title))
        .collect()
}
