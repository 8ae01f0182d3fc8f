//! How an alert reads as plain text: the subject line and the body used by
//! the stdout notifier, the text part of emails and chat presets.
//!
//! Feed text is untrusted; here it only ever becomes plain text. HTML
//! rendering (which escapes it) lives with the email notifier.

use std::fmt::Write;

use crate::model::Field;
use crate::outbox::{Alert, AlertBody, OpsKind, OpsNotice, StoryAlert};
use crate::text::line::one_line;
use crate::tracker::materiality::Comparison;
use crate::tracker::EventKind;

/// Unchanged words kept either side of a change in rendered diffs.
pub const DIFF_CONTEXT: usize = 12;

/// A short, informative subject: "Updated: <title> (headline rewritten, 2 sentences added)".
pub fn subject(alert: &Alert) -> String {
    match &alert.body {
        AlertBody::Story(s) => story_subject(s),
        AlertBody::Ops(o) => ops_subject(o),
    }
}

fn story_subject(s: &StoryAlert) -> String {
    let e = &s.event;
    let title = one_line(&e.title, 140);
    match e.kind {
        EventKind::New => format!("New: {title}"),
        EventKind::Removed => format!("Removed: {title}"),
        EventKind::Oscillating => format!("Flip-flopping: {title}"),
        EventKind::Updated => match e.comparison.as_ref().map(change_summary) {
            Some(what) if !what.is_empty() => format!("Updated: {title} ({what})"),
            _ => format!("Updated: {title}"),
        },
    }
}

fn ops_subject(o: &OpsNotice) -> String {
    let what = match o.kind {
        OpsKind::Failing => "is failing",
        OpsKind::Recovered => "recovered",
        OpsKind::Gone => "is gone (410)",
        OpsKind::Moved => "moved",
        OpsKind::NotifierRefusing => "refuses every alert",
        OpsKind::NotifierRecovered => "accepts alerts again",
    };
    match &o.notifier {
        Some(n) => format!("[storywatch] notifier {n} {what}"),
        None => format!("[storywatch] feed {} {what}", o.feed),
    }
}

/// "headline changed, 2 sentences added, number changed".
pub fn change_summary(c: &Comparison) -> String {
    let mut parts = Vec::new();
    let reverted = |f: Field| c.reverted.contains(&f);
    if c.title.is_some() {
        parts.push(if reverted(Field::Title) {
            "headline reverted to an earlier version".to_string()
        } else {
            "headline changed".to_string()
        });
    }
    if reverted(Field::Summary) || reverted(Field::Content) {
        parts.push("text reverted to an earlier version".into());
        return parts.join(", ");
    }
    match c.sentences.added.len() {
        0 => {}
        1 => parts.push("1 sentence added".into()),
        n => parts.push(format!("{n} sentences added")),
    }
    match c.sentences.removed.len() {
        0 => {}
        1 => parts.push("1 sentence removed".into()),
        n => parts.push(format!("{n} sentences removed")),
    }
    if !c.numbers.is_empty() {
        parts.push(if c.numbers.len() == 1 {
            "a number changed".into()
        } else {
            format!("{} numbers changed", c.numbers.len())
        });
    }
    if parts.is_empty() && c.body.is_some() {
        parts.push("text edited".into());
    }
    parts.join(", ")
}

/// The alert as a block of plain text (no trailing newline).
pub fn text(alert: &Alert) -> String {
    match &alert.body {
        AlertBody::Story(s) => story_text(s),
        AlertBody::Ops(o) => format!(
            "{}\n  {}\n  since {}",
            ops_subject(o),
            o.message,
            crate::clock::rfc3339(o.since)
        ),
    }
}

fn story_text(s: &StoryAlert) -> String {
    let e = &s.event;
    let mut out = String::new();
    let mut flags = Vec::new();
    if let Some(class) = e.class() {
        flags.push(class.to_string());
    }
    flags.push(format!("revision {}", e.revision));
    if e.developing {
        flags.push("developing".into());
    }
    let _ = writeln!(out, "{} [{}]", story_subject(s), flags.join(", "));
    let _ = writeln!(
        out,
        "  feed: {} · watch: {} ({})",
        e.feed,
        s.watch,
        s.trigger.as_str()
    );
    if let Some(link) = safe_link(&e.link) {
        let _ = writeln!(out, "  link: {link}");
    }
    if let Some(page) = &s.story_page {
        let _ = writeln!(out, "  see all versions: {page}");
    }
    let terms = matched_terms(s);
    if !terms.is_empty() {
        let _ = writeln!(out, "  matched: {}", terms.join(", "));
    }
    match (&e.kind, &e.comparison) {
        (EventKind::Updated | EventKind::Oscillating, Some(c)) => {
            if let Some(t) = &c.title {
                let _ = writeln!(out, "  headline: {}", t.render_text(DIFF_CONTEXT));
            }
            if let Some(b) = &c.body {
                let _ = writeln!(out, "  text: {}", b.render_text(DIFF_CONTEXT));
            }
            for n in &c.numbers {
                let _ = writeln!(
                    out,
                    "  number: {} → {}",
                    n.old.as_deref().unwrap_or("(none)"),
                    n.new.as_deref().unwrap_or("(none)")
                );
            }
            if e.kind == EventKind::Oscillating {
                let _ = writeln!(out, "  this story keeps returning to earlier versions ({} times): likely an A/B headline test; further flips are not alerted", e.flipflops);
            }
        }
        _ => {
            let body = e.snapshot.body();
            if !body.is_empty() {
                let _ = writeln!(out, "  {}", one_line(body, 400));
            }
        }
    }
    out.trim_end().to_string()
}

/// Distinct matched texts, in order of appearance.
pub fn matched_terms(s: &StoryAlert) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for h in &s.highlights {
        let t = h.text.to_lowercase();
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    seen
}

/// The story's link if it is an http(s) URL. Feed links are untrusted: a
/// `javascript:` or `data:` link must not become something a reader clicks.
pub fn safe_link(link: &str) -> Option<&str> {
    let l = link.trim();
    let lower = l.get(..8).unwrap_or(l).to_ascii_lowercase();
    ((lower.starts_with("https://") || lower.starts_with("http://"))
        && !l.chars().any(|c| c.is_whitespace() || c.is_control()))
    .then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_shown() {
        assert_eq!(safe_link("https://e.com/a"), Some("https://e.com/a"));
        assert_eq!(safe_link("HTTP://e.com/a"), Some("HTTP://e.com/a"));
        assert_eq!(safe_link("javascript:alert(1)"), None);
        assert_eq!(safe_link("data:text/html,x"), None);
        assert_eq!(safe_link("https://e.com/a b"), None);
        assert_eq!(safe_link(""), None);
    }
}
