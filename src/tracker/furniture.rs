//! Page furniture: text that changes around a story without being part of
//! it.
//!
//! Feeds that carry whole articles also carry what sits around them on the
//! page: "Related topics", links to the outlet's other stories, promo boxes
//! ("Europe on Fire — we follow the wildfires…"), a breaking-news notice.
//! When such a box appears, moves or goes, the story did not change, yet
//! its text did. Which text is furniture is not known in advance and
//! differs per outlet, so it is recognised the way a reader would: it is
//! shared with other stories of the same feed (the same box on several
//! pages), it is another story's headline (a link to it), or it only moved
//! within the page.
//!
//! Only the pieces of a diff are judged, never the stored text: every
//! version is kept as the publisher sent it.

use std::collections::HashSet;

use crate::model::Snapshot;
use crate::text::tokens::words;

/// The stories of one poll, as the furniture test reads them: each
/// page (summary and content) and title as lower-case words joined by single spaces, with a
/// space at both ends so that a search matches whole words only.
pub struct Furniture {
    bodies: Vec<String>,
    titles: Vec<String>,
}

/// In how many other bodies of the same poll a segment must appear to count
/// as shared furniture: once could be two stories quoting one statement;
/// a box on three pages is the page's.
const SHARED_BY: usize = 2;
/// A segment this short that appears in one other story is furniture too
/// (a promo line or a heading shared by two pages of one topic); a longer
/// one shared by two stories may be a background paragraph both carry.
const SHORT_SEGMENT_WORDS: usize = 20;
/// Another story's headline inside a changed segment is a link to it when
/// the headline says enough to be recognised.
const MIN_TITLE_WORDS: usize = 4;

impl Furniture {
    pub fn new<'a>(snapshots: impl Iterator<Item = &'a Snapshot>) -> Self {
        let mut f = Furniture {
            bodies: Vec::new(),
            titles: Vec::new(),
        };
        for s in snapshots {
            f.bodies.push(page(s));
            f.titles.push(joined(&s.title));
        }
        f
    }

    /// Every segment (sentence, box or link) that the new text added or
    /// the old one lost is furniture: the change is not the story's.
    /// Segments are compared whole, so a word changed inside a sentence
    /// makes that sentence new, and a new sentence is never on another page.
    /// The same segments in another order (a box moved) change nothing.
    /// `story` is the story's new version, itself one of the poll's pages.
    pub fn explains(&self, old_body: &str, new_body: &str, story: &Snapshot) -> bool {
        let old: Vec<String> = segments(old_body).collect();
        let new: Vec<String> = segments(new_body).collect();
        if old == new {
            // the words are the same, in the same order: the change is
            // punctuation or case inside a sentence, which is the story's
            return false;
        }
        let own = page(story);
        let (old, new): (HashSet<&String>, HashSet<&String>) =
            (old.iter().collect(), new.iter().collect());
        // none at all: the same segments in another order, a box moved
        old.symmetric_difference(&new)
            .all(|segment| self.is_furniture(segment, &own))
    }

    fn is_furniture(&self, segment: &str, own: &str) -> bool {
        let needle = format!(" {segment} ");
        let words = segment.split(' ').count();
        let mut shared = self.bodies.iter().filter(|b| b.contains(&needle)).count();
        // the story's own new body is among the poll's bodies
        if own.contains(&needle) {
            shared = shared.saturating_sub(1);
        }
        let needed = if words <= SHORT_SEGMENT_WORDS {
            1
        } else {
            SHARED_BY
        };
        shared >= needed
            || self.titles.iter().any(|t| {
                t.split(' ').filter(|w| !w.is_empty()).count() >= MIN_TITLE_WORDS
                    && needle.contains(t.as_str())
            })
    }
}

/// A story's summary and content as one searchable text.
fn page(s: &Snapshot) -> String {
    joined(&s.summary) + &joined(&s.content)
}

/// Lower-case words joined by single spaces, padded with one space each
/// side.
fn joined(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for w in words(text) {
        out.extend(w.chars().flat_map(char::to_lowercase));
        out.push(' ');
    }
    out
}

/// The segments of a body: sentences, and the boxes and links a page
/// separates with " - ", "|", "•" or ": ", each as lower-case words.
fn segments(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(['|', '•'])
        .flat_map(|part| part.split(" - "))
        .flat_map(|part| part.split(": "))
        .flat_map(|part| part.split_inclusive(['.', '!', '?']))
        .map(|p| joined(p).trim().to_string())
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(title: &str, body: &str) -> Snapshot {
        Snapshot {
            title: title.into(),
            content: body.into(),
            ..Snapshot::default()
        }
    }

    const STORY: &str =
        "Fires spread across the region on Monday. Crews worked through the night. \
                         Residents were told to leave.";

    #[test]
    fn a_promo_box_shared_with_another_story_is_furniture() {
        let promo = "Europe on Fire We follow the wildfires as they spread.";
        let new = format!("{STORY} {promo}");
        let other = snap(
            "Heat record broken",
            &format!("Temperatures hit 46C. {promo}"),
        );
        let me = snap("Fires spread", &new);
        let f = Furniture::new([&other, &me].into_iter());
        assert!(f.explains(STORY, &new, &me));
        // alone on its page it is the story's own text
        let f = Furniture::new([&me].into_iter());
        assert!(!f.explains(STORY, &new, &me));
    }

    #[test]
    fn a_link_to_another_story_and_a_moved_box_are_furniture() {
        let new = format!("{STORY} - Missile crater found in Poland -");
        let other = snap("Missile crater found in Poland", "Investigators said.");
        let me = snap("Fires spread", &new);
        let f = Furniture::new([&other, &me].into_iter());
        assert!(f.explains(STORY, &new, &me));

        let old = format!("Related - How fires start - {STORY}");
        let moved = format!("{STORY} Related - How fires start -");
        let me = snap("Fires spread", &moved);
        let f = Furniture::new([&me].into_iter());
        assert!(f.explains(&old, &moved, &me));
    }

    #[test]
    fn a_real_edit_is_not_furniture() {
        // punctuation and case inside a sentence: the story's own edit
        let me = snap("Fires spread", &STORY.replace("Monday.", "Monday!"));
        let f = Furniture::new([&me].into_iter());
        assert!(!f.explains(STORY, &me.content, &me));
        let new = STORY.replace("Monday", "Tuesday") + " Two firefighters died.";
        let other = snap("Heat record broken", "Temperatures hit 46C on Monday.");
        let me = snap("Fires spread", &new);
        let f = Furniture::new([&other, &me].into_iter());
        assert!(!f.explains(STORY, &new, &me));
        // a long paragraph two stories share is still news for this one
        let background = "The fires began three weeks ago after a heatwave that broke records \
                          across southern Europe and forced tens of thousands of people from \
                          their homes in several countries.";
        let new = format!("{STORY} {background}");
        let other = snap("Heat record broken", background);
        let me = snap("Fires spread", &new);
        let f = Furniture::new([&other, &me].into_iter());
        assert!(!f.explains(STORY, &new, &me));
    }
}
