//! What changed, in the words a reader would use: "a number changed:
//! 200,000 → 300,000", "a sentence was reworded", "1 sentence added",
//! `headline now "…"`.
//!
//! The tracker's sentence lists count a reworded sentence twice (once
//! removed, once added), so "200,000 → 300,000" inside one sentence would
//! read "1 sentence added, 1 sentence removed, a number changed". Here the
//! removed and added sentences are aligned by the words they share: a pair
//! that shares most of its words is one reworded sentence, and a pair
//! whose only differences are numbers is just the number change.

use std::collections::HashSet;

use crate::model::Field;
use crate::text::line::one_line;
use crate::text::tokens::words;
use crate::tracker::materiality::{Comparison, NumberChange};

/// A new headline up to this many characters is quoted in the summary.
const QUOTE_HEADLINE_UP_TO: usize = 60;

/// Share of words two sentences must have in common to be one sentence
/// reworded rather than one removed and another added.
const SAME_SENTENCE: f32 = 0.5;

/// "headline now \"…\", a number changed: 3,000 → 5,000, 1 sentence added".
pub fn change_summary(c: &Comparison, new_title: &str) -> String {
    let mut parts = Vec::new();
    let reverted = |f: Field| c.reverted.contains(&f);
    if c.title.is_some() {
        parts.push(if reverted(Field::Title) {
            "headline reverted to an earlier version".to_string()
        } else if new_title.chars().count() <= QUOTE_HEADLINE_UP_TO {
            format!(
                "headline now \"{}\"",
                one_line(new_title, QUOTE_HEADLINE_UP_TO)
            )
        } else {
            "headline changed".to_string()
        });
    }
    if reverted(Field::Summary) || reverted(Field::Content) {
        parts.push("text reverted to an earlier version".into());
        return parts.join(", ");
    }
    let aligned = align(&c.sentences.removed, &c.sentences.added);
    parts.extend(numbers(&c.numbers));
    match aligned.reworded {
        0 => {}
        1 => parts.push("a sentence was reworded".into()),
        n => parts.push(format!("{n} sentences were reworded")),
    }
    match aligned.added {
        0 => {}
        1 => parts.push("1 sentence added".into()),
        n => parts.push(format!("{n} sentences added")),
    }
    match aligned.removed {
        0 => {}
        1 => parts.push("1 sentence removed".into()),
        n => parts.push(format!("{n} sentences removed")),
    }
    if parts.is_empty() && c.body.is_some() {
        parts.push("text edited".into());
    }
    parts.join(", ")
}

/// "a number changed: 3,000 → 5,000", "2 numbers changed: 3 → 4, 5 → 6",
/// or past two, only how many.
fn numbers(numbers: &[NumberChange]) -> Option<String> {
    let shown: Vec<String> = numbers
        .iter()
        .filter_map(|n| match (&n.old, &n.new) {
            (Some(o), Some(n)) => Some(format!("{o} → {n}")),
            (Some(o), None) => Some(format!("{o} removed")),
            (None, Some(n)) => Some(format!("{n} added")),
            (None, None) => None,
        })
        .collect();
    match numbers.len() {
        0 => None,
        // "a number removed: two", not "a number changed: two removed"
        1 => match numbers.first().map(|n| (&n.old, &n.new)) {
            Some((Some(o), None)) => Some(format!("a number removed: {o}")),
            Some((None, Some(n))) => Some(format!("a number added: {n}")),
            _ if shown.len() == 1 => Some(format!("a number changed: {}", shown[0])),
            _ => Some("a number changed".into()),
        },
        2 if shown.len() == 2 => Some(format!("2 numbers changed: {}", shown.join(", "))),
        n => Some(format!("{n} numbers changed")),
    }
}

/// How the removed and added sentences line up.
#[derive(Debug, Default, PartialEq)]
struct Aligned {
    /// Pairs that share most of their words and differ in more than
    /// numbers.
    reworded: usize,
    added: usize,
    removed: usize,
}

fn word_set(s: &str) -> HashSet<String> {
    words(s).map(str::to_lowercase).collect()
}

fn is_number(w: &str) -> bool {
    w.chars().any(|c| c.is_ascii_digit())
}

/// Pairs each removed sentence with the most similar unpaired added one
/// (in order, greedily): texts are short, so this is cheap.
fn align(removed: &[String], added: &[String]) -> Aligned {
    let added_words: Vec<HashSet<String>> = added.iter().map(|s| word_set(s)).collect();
    let mut taken = vec![false; added.len()];
    let mut out = Aligned::default();
    for r in removed {
        let rw = word_set(r);
        let best = added_words
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i])
            .map(|(i, aw)| {
                let shared = rw.intersection(aw).count() as f32;
                let all = rw.union(aw).count().max(1) as f32;
                (i, shared / all)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, similarity)) if similarity >= SAME_SENTENCE => {
                taken[i] = true;
                let only_numbers = rw
                    .symmetric_difference(&added_words[i])
                    .all(|w| is_number(w));
                if !only_numbers {
                    out.reworded += 1;
                }
            }
            _ => out.removed += 1,
        }
    }
    out.added = taken.iter().filter(|t| !**t).count();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Snapshot;
    use crate::tracker::materiality::compare;

    fn summary(old: &str, new: &str) -> String {
        let snap = |s: &str| Snapshot {
            title: "Fire".into(),
            summary: s.into(),
            ..Default::default()
        };
        let c = compare(&snap(old), &snap(new)).expect("a change");
        change_summary(&c, "Fire")
    }

    #[test]
    fn a_number_inside_a_sentence_is_just_the_number() {
        assert_eq!(
            summary(
                "The fire forced 200,000 people to flee. Crews are on site.",
                "The fire forced 300,000 people to flee. Crews are on site."
            ),
            "a number changed: 200,000 → 300,000"
        );
    }

    #[test]
    fn a_number_that_goes_or_comes_says_so() {
        assert_eq!(
            summary(
                "Crews fought the fire for two days. Roads are closed.",
                "Crews fought the fire for days. Roads are closed."
            ),
            "a number removed: two, a sentence was reworded"
        );
    }

    #[test]
    fn reworded_added_and_removed_are_told_apart() {
        assert_eq!(
            summary(
                "The fire forced thousands to flee their homes. Crews are on site.",
                "The fire forced thousands of residents to flee their homes. Crews are on site. Schools will close."
            ),
            "a sentence was reworded, 1 sentence added"
        );
        assert_eq!(
            summary("Crews are on site. Roads are closed.", "Crews are on site."),
            "1 sentence removed"
        );
    }

    #[test]
    fn short_headlines_are_quoted() {
        let snap = |t: &str| Snapshot {
            title: t.into(),
            summary: "Crews are on site.".into(),
            ..Default::default()
        };
        let c = compare(&snap("Fire spreads"), &snap("Fire contained")).unwrap();
        assert_eq!(
            change_summary(&c, "Fire contained"),
            "headline now \"Fire contained\""
        );
        let long =
            "A very long headline about the fire that goes on and on past the limit of characters";
        let c = compare(&snap("Fire spreads"), &snap(long)).unwrap();
        assert_eq!(change_summary(&c, long), "headline changed");
    }
}
