//! Watches: what the user wants to hear about.
//!
//! [`query`] is the small query language of `[[watch]] query = '…'` (and the
//! any/all/none list form), [`fold`] the case/accent folding and word
//! splitting it matches with, [`index`] all watches compiled once per config
//! load, and [`matcher`] the triggers (`new`, `update`, `mention`, `removed`)
//! that turn tracker events into alerts.

pub mod dryrun;
pub mod fold;
pub mod index;
pub mod matcher;
pub mod query;

use serde::{Deserialize, Serialize};

/// When a watch fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A new story matches.
    New,
    /// A material update to a story the watch follows (it matched once).
    Update,
    /// An update whose added text newly matches, though earlier versions did not.
    Mention,
    /// A followed story left its feed (off unless asked for).
    Removed,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::New => "new",
            Trigger::Update => "update",
            Trigger::Mention => "mention",
            Trigger::Removed => "removed",
        }
    }
}

/// What a watch does with an update that only takes a field back to an
/// earlier value (a headline reverted while the body keeps its edits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRevert {
    /// Alert, labelled "headline reverted to an earlier version".
    #[default]
    Alert,
    /// Stay silent: the reader has seen that text before.
    Ignore,
}

pub use matcher::{AlertDraft, Matcher};
