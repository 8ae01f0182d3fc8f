//! A story version stored as the difference from the version after it.
//!
//! A story's newest text is kept once, in its record (`latest`); each older
//! version is kept as a [`SnapshotDelta`] against its successor, so a
//! headline edit costs the changed words, not a second copy of the whole
//! story. Text fields are cut to what differs between a common prefix and a
//! common suffix (a news edit usually changes one span); the short fields
//! are kept whole when they differ. Applying the deltas newest to oldest
//! gives back every version exactly.

use serde::{Deserialize, Serialize};

use crate::model::{Snapshot, UnixMs};

/// A text field relative to the same field of the successor: keep its
/// first `keep_start` and last `keep_end` bytes and put `middle` between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextEdit {
    #[serde(rename = "p")]
    pub keep_start: u32,
    #[serde(rename = "s")]
    pub keep_end: u32,
    #[serde(rename = "m", default, skip_serializing_if = "String::is_empty")]
    pub middle: String,
}

/// The fields of a snapshot that differ from its successor (absent = same).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDelta {
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<TextEdit>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<TextEdit>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub content: Option<TextEdit>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<Vec<String>>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub enclosures: Option<Vec<String>>,
    /// A date that differs: `[]` for none, `[t]` for `t` (JSON has no
    /// `Some(None)`).
    #[serde(rename = "pu", default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Vec<UnixMs>>,
    #[serde(rename = "up", default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Vec<UnixMs>>,
}

/// The edit that turns `next` into `this` (`None` when they are equal).
fn text_edit(this: &str, next: &str) -> Option<TextEdit> {
    if this == next {
        return None;
    }
    let start = common_prefix(this, next);
    let end = common_suffix(&this[start..], &next[start..]);
    Some(TextEdit {
        keep_start: start as u32,
        keep_end: end as u32,
        middle: this[start..this.len() - end].to_string(),
    })
}

/// Length in bytes of the longest common prefix, on a char boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = 0;
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            break;
        }
        n += x.len_utf8();
    }
    n
}

/// Length in bytes of the longest common suffix, on a char boundary.
fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = 0;
    for (x, y) in a.chars().rev().zip(b.chars().rev()) {
        if x != y {
            break;
        }
        n += x.len_utf8();
    }
    n
}

/// Applies `edit` to the successor's `next`; `None` when the edit does not
/// fit it (a damaged record).
fn apply_text(edit: &TextEdit, next: &str) -> Option<String> {
    let start = edit.keep_start as usize;
    let end = edit.keep_end as usize;
    let tail_from = next.len().checked_sub(end)?;
    if start > tail_from {
        return None;
    }
    let mut out = String::with_capacity(start + edit.middle.len() + end);
    out.push_str(next.get(..start)?);
    out.push_str(&edit.middle);
    out.push_str(next.get(tail_from..)?);
    Some(out)
}

fn differing<T: PartialEq + Clone>(this: &T, next: &T) -> Option<T> {
    (this != next).then(|| this.clone())
}

fn date_edit(this: Option<UnixMs>, next: Option<UnixMs>) -> Option<Vec<UnixMs>> {
    (this != next).then(|| this.into_iter().collect())
}

fn apply_date(edit: &Option<Vec<UnixMs>>, next: Option<UnixMs>) -> Option<UnixMs> {
    match edit {
        Some(own) => own.first().copied(),
        None => next,
    }
}

impl SnapshotDelta {
    /// What `this` is, relative to its successor `next`.
    pub fn between(this: &Snapshot, next: &Snapshot) -> SnapshotDelta {
        SnapshotDelta {
            title: text_edit(&this.title, &next.title),
            summary: text_edit(&this.summary, &next.summary),
            content: text_edit(&this.content, &next.content),
            link: differing(&this.link, &next.link),
            authors: differing(&this.authors, &next.authors),
            categories: differing(&this.categories, &next.categories),
            enclosures: differing(&this.enclosures, &next.enclosures),
            published: date_edit(this.published, next.published),
            updated: date_edit(this.updated, next.updated),
        }
    }

    /// The snapshot this delta describes, given its successor; `None` when
    /// the delta does not fit `next`.
    pub fn apply(&self, next: &Snapshot) -> Option<Snapshot> {
        let text = |edit: &Option<TextEdit>, next: &str| match edit {
            Some(e) => apply_text(e, next),
            None => Some(next.to_string()),
        };
        let pick =
            |own: &Option<Vec<String>>, next: &Vec<String>| own.as_ref().unwrap_or(next).clone();
        Some(Snapshot {
            title: text(&self.title, &next.title)?,
            summary: text(&self.summary, &next.summary)?,
            content: text(&self.content, &next.content)?,
            link: self.link.clone().unwrap_or_else(|| next.link.clone()),
            authors: pick(&self.authors, &next.authors),
            categories: pick(&self.categories, &next.categories),
            enclosures: pick(&self.enclosures, &next.enclosures),
            published: apply_date(&self.published, next.published),
            updated: apply_date(&self.updated, next.updated),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(title: &str, summary: &str) -> Snapshot {
        Snapshot {
            title: title.into(),
            summary: summary.into(),
            link: "https://example.org/a".into(),
            authors: vec!["A".into()],
            published: Some(5),
            ..Default::default()
        }
    }

    #[test]
    fn an_edit_costs_the_changed_span_and_applies_back() {
        let old = snap(
            "Storm nears the coast",
            "Winds of 100 km/h are expected tonight.",
        );
        let new = snap(
            "Storm hits the coast",
            "Winds of 140 km/h were measured tonight.",
        );
        let d = SnapshotDelta::between(&old, &new);
        assert_eq!(d.apply(&new).unwrap(), old);
        let title = d.title.as_ref().unwrap();
        assert_eq!(title.middle, "near");
        assert!(d.link.is_none() && d.authors.is_none() && d.published.is_none());
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.len() < 80, "{json}");
    }

    #[test]
    fn equal_snapshots_give_an_empty_delta() {
        let s = snap("T", "S");
        let d = SnapshotDelta::between(&s, &s);
        assert_eq!(d, SnapshotDelta::default());
        assert_eq!(serde_json::to_string(&d).unwrap(), "{}");
        assert_eq!(d.apply(&s).unwrap(), s);
    }

    #[test]
    fn multibyte_text_and_metadata_round_trip() {
        let mut old = snap("Élections: « résultats »", "café ☕ ouvert");
        old.categories = vec!["x".into()];
        old.updated = Some(9);
        let mut new = snap("Élections : « résultats » définitifs", "café ☕ fermé");
        new.link = "https://example.org/b".into();
        new.published = None;
        let d = SnapshotDelta::between(&old, &new);
        assert_eq!(d.apply(&new).unwrap(), old);
        assert_eq!(SnapshotDelta::between(&new, &old).apply(&old).unwrap(), new);
        // through JSON too: a date that was absent stays absent
        let json = serde_json::to_string(&SnapshotDelta::between(&new, &old)).unwrap();
        let back: SnapshotDelta = serde_json::from_str(&json).unwrap();
        assert_eq!(back.apply(&old).unwrap(), new, "{json}");
    }

    #[test]
    fn a_delta_that_does_not_fit_is_refused() {
        let d = SnapshotDelta {
            title: Some(TextEdit {
                keep_start: 10,
                keep_end: 10,
                middle: String::new(),
            }),
            ..Default::default()
        };
        assert!(d.apply(&snap("short", "")).is_none());
    }
}
