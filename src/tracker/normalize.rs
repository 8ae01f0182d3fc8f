//! The form every feed text field is stored and compared in: [`clean`].
//!
//! Publishers re-render an unchanged story with different markup, entity
//! spellings and typography between polls (`&rsquo;`, `’` and `'`; a `<b>`
//! moved; a zero-width space slipped in by a CMS), and pages carry furniture
//! that changes with the clock ("Published 5 hours ago"). None of that is an
//! edit a reader would notice, so every text field the tracker stores goes
//! through [`clean`], and an update is only reported when the *cleaned* text
//! differs. The text work itself ([`crate::text::html`],
//! [`crate::text::normalize`]) is shared with the rest of the program; what
//! counts as noise between two versions of a story is the tracker's rule
//! and lives here.

use std::borrow::Cow;

use regex::Regex;

use crate::text::html::html_to_text_cow;
use crate::text::normalize::normalize_text_cow;
use crate::text::whitespace::collapse_whitespace;

/// Page furniture that changes with the clock, not with the story: relative
/// times ("5 hours ago", "Published2 days ago" as some extractors glue it)
/// and "Published"/"Updated" labels with the date or time that follows them
/// ("Updated 21 July 2025, 10:32 BST"). A story re-fetched an hour later
/// reads "6 hours ago": that is not an edit. ASCII-only and case-insensitive,
/// so the regex stays on its fast engines.
static TIMESTAMPS: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    const UNIT: &str = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)";
    const MONTH: &str = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?";
    const LABEL: &str =
        r"(?:\b(?:published|updated|posted|last\ updated|modified)\s*:?\s*(?:on\s+)?)";
    let time = r"(?:,?\s*(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[a-z]{2,4}\b)?)?";
    let pattern = format!(
        r"(?xi)
        {LABEL}? (?:\d+|\ban?|\bone) \s* {UNIT} \s+ ago\b
      | {LABEL} (?:
            \d{{1,2}}\s+{MONTH}(?:\s+\d{{4}})?{time}
          | {MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?{time}
          | \d{{4}}-\d{{2}}-\d{{2}}(?:[t\s]\d{{2}}:\d{{2}}(?::\d{{2}})?)?
          | \d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s+[a-z]{{2,4}}\b)?
        )"
    );
    regex::RegexBuilder::new(&pattern)
        .unicode(false)
        .build()
        .ok()
});

/// Two or more list separators in a row, with nothing between them.
static SEPARATOR_RUNS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    Regex::new(r"(?:[-|•·] *){2,}").unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// The form every feed text field is stored and compared in.
///
/// [`html_to_text`](crate::text::html::html_to_text), then
/// [`normalize_text`](crate::text::normalize::normalize_text), then clock-driven page
/// furniture ([`TIMESTAMPS`]: relative times, "Published 21 July") and every
/// match of the feed's `ignore` patterns (other boilerplate) removed,
/// then whitespace normalised again because a removal can leave doubled or
/// dangling spaces. Patterns see normalised text, so they can be written
/// with ASCII quotes and dashes and single spaces.
pub fn clean(html: &str, ignore: &[Regex]) -> String {
    let text = html_to_text_cow(html);
    let normal = normalize_text_cow(&text);
    let timestamps = TIMESTAMPS.as_ref().filter(|re| re.is_match(&normal));
    if ignore.is_empty() && timestamps.is_none() {
        return normal.into_owned();
    }
    let mut current = normal.into_owned();
    let mut removed_any = false;
    if let Some(re) = timestamps {
        // "Related topics - Published 2 hours ago - Published 1 day ago"
        // leaves a run of list dashes whose length is page layout
        let bare = re.replace_all(&current, "");
        current = SEPARATOR_RUNS.replace_all(&bare, "- ").into_owned();
        removed_any = true;
    }
    for pattern in ignore {
        if let Cow::Owned(replaced) = pattern.replace_all(&current, "") {
            current = replaced;
            removed_any = true;
        }
    }
    if removed_any {
        collapse_whitespace(&current).into_owned()
    } else {
        current
    }
}

/// The publisher's text of `entry` where it differs from `snap` (its
/// comparison form) only in what [`normalize_text_cow`] changes:
/// typography, invisible characters, spacing. Where the comparison form
/// also lost page furniture or an `ignore` pattern, showing the raw text
/// would bring those back, so the comparison form is shown instead.
pub fn display(
    entry: &crate::model::Entry,
    snap: &crate::model::Snapshot,
) -> crate::model::Display {
    let shown = |html: &str, normal: &str| -> Option<String> {
        let text = html_to_text_cow(html);
        let text = crate::text::normalize::strip_invisible(&text);
        let text = collapse_whitespace(text.trim());
        (text != normal && normalize_text_cow(&text) == normal).then(|| text.into_owned())
    };
    let body_html = if snap.content.len() >= snap.summary.len() {
        &entry.content
    } else {
        &entry.summary
    };
    crate::model::Display {
        title: shown(&entry.title, &snap.title),
        body: shown(body_html, snap.body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize::normalize_text;
    use proptest::prelude::*;

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(clean("Storm hits coast", &[]), "Storm hits coast");
    }

    #[test]
    fn clock_driven_timestamps_are_not_text() {
        assert_eq!(
            clean(
                "Related topics - Published5 hours ago - Published1 day ago",
                &[]
            ),
            "Related topics -"
        );
        assert_eq!(
            clean("Updated 21 July 2025, 10:32 BST: more to follow", &[]),
            ": more to follow"
        );
        assert_eq!(clean("Posted an hour ago", &[]), "");
        assert_eq!(
            clean("Last updated: Sept 3, 2025 at 4:05 p.m. EDT", &[]),
            ""
        );
        // the same page an hour later reads the same
        assert_eq!(
            clean("Troops advanced. Published 6 hours ago", &[]),
            clean("Troops advanced. Published 7 hours ago", &[])
        );
        // numbers and dates that are part of the story stay
        assert_eq!(clean("5 hours of talks", &[]), "5 hours of talks");
        assert_eq!(
            clean("The vote is on 21 July.", &[]),
            "The vote is on 21 July."
        );
        assert_eq!(clean("Ages ago, at 10:30", &[]), "Ages ago, at 10:30");
        // the dashes a removed timestamp leaves behind are layout
        assert_eq!(
            clean(
                "More - Published 1 hour ago - Published 2 hours ago - - end",
                &[]
            ),
            clean("More - Published 3 hours ago - end", &[])
        );
    }

    #[test]
    fn clean_applies_ignore_patterns_then_whitespace() {
        let ignore = [
            Regex::new(r"(?i)updated \d+ (?:minutes?|hours?) ago")
                .unwrap_or_else(|e| panic!("{e}")),
            Regex::new(r"Follow our live blog\.").unwrap_or_else(|e| panic!("{e}")),
        ];
        let html = "<p>Fire spreads \u{2014} Updated 5 minutes ago</p><p>Follow our live blog.</p>";
        assert_eq!(clean(html, &ignore), "Fire spreads -");
        assert_eq!(
            clean("Updated 1 hour ago and <b>more</b>", &ignore),
            "and more"
        );
    }

    #[test]
    fn clean_decodes_and_normalises() {
        assert_eq!(
            clean("Couple celebrate their &lsquo;not wedding day&rsquo;", &[]),
            clean("Couple celebrate their 'not wedding day'", &[])
        );
        assert_eq!(clean("\n    Q&amp;A&nbsp;session\n  ", &[]), "Q&A session");
    }

    proptest! {
        #[test]
        fn html_to_text_never_panics_on_markup_soup(s in "[<>&;#x!/a-z0-9\"'= \n\u{e9}\u{20ac}\u{2029}-]{0,200}") {
            let _ = clean(&s, &[]);
        }

        #[test]
        fn clean_is_stable(s in "\\PC{0,120}") {
            let once = clean(&s, &[]);
            prop_assert_eq!(normalize_text(&once), once.clone());
        }
    }
}
