//! How an alert reads as plain text: the subject line and the body used by
//! the stdout notifier, the text part of emails and chat presets, and
//! several alerts as one chat message.
//!
//! Feed text is untrusted; here it only ever becomes plain text. HTML
//! rendering (which escapes it) lives with the email notifier.

use std::fmt::Write;

use crate::outbox::{Alert, AlertBody, OpsKind, OpsNotice, StoryAlert};
use crate::text::line::one_line;
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
    let title = one_line(e.shown_title(), 140);
    match e.kind {
        EventKind::New => format!("New: {title}"),
        EventKind::Removed => format!("Removed: {title}"),
        EventKind::Oscillating => format!("Flip-flopping: {title}"),
        EventKind::Updated => match e
            .comparison
            .as_ref()
            .map(|c| super::summary::change_summary(c, e.shown_title()))
        {
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
    let _ = writeln!(out, "  feed: {} · {}", e.feed, watch_line(s));
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
            if let Some(t) = e.shown_title_diff() {
                let _ = writeln!(out, "  headline: {}", t.render_text(DIFF_CONTEXT));
            }
            if let Some(b) = e.shown_body_diff() {
                let _ = writeln!(out, "  text: {}", b.render_text(DIFF_CONTEXT));
            }
            for n in &c.numbers {
                let _ = match (&n.old, &n.new) {
                    (Some(o), Some(n)) => writeln!(out, "  number: {o} → {n}"),
                    (Some(o), None) => writeln!(out, "  number removed: {o}"),
                    (None, Some(n)) => writeln!(out, "  number added: {n}"),
                    (None, None) => Ok(()),
                };
            }
            if e.kind == EventKind::Oscillating {
                let _ = writeln!(out, "  this story keeps returning to earlier versions ({} times): likely an A/B headline test; further flips are not alerted", e.flipflops);
            }
        }
        _ => {
            let body = e.shown_body();
            if !body.is_empty() {
                let _ = writeln!(out, "  {}", one_line(body, 400));
            }
        }
    }
    out.trim_end().to_string()
}

/// "watch: fires (new)" or, when several watches matched the same change,
/// "watches: fires (new), california (mention)".
pub fn watch_line(s: &StoryAlert) -> String {
    let one = |w: &str, t: crate::watch::query::Trigger| format!("{w} ({})", t.as_str());
    let all: Vec<String> = std::iter::once(one(&s.watch, s.trigger))
        .chain(s.also.iter().map(|m| one(&m.watch, m.trigger)))
        .collect();
    if all.len() == 1 {
        format!("watch: {}", all[0])
    } else {
        format!("watches: {}", all.join(", "))
    }
}

/// Distinct matched texts of every watch that matched, in order of
/// appearance.
pub fn matched_terms(s: &StoryAlert) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for h in s.all_highlights() {
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

/// The subject of a message carrying several alerts.
pub fn digest_subject(alerts: &[Alert]) -> String {
    format!("storywatch: {} alerts", alerts.len())
}

/// Several alerts as one block of plain text.
pub fn digest_text(alerts: &[Alert]) -> String {
    alerts.iter().map(text).collect::<Vec<_>>().join("\n\n")
}

/// Plain text for chat services, cut to their message limit.
pub fn chat_text(alerts: &[Alert], limit: usize) -> String {
    let whole = if alerts.len() == 1 {
        text(&alerts[0])
    } else {
        format!("{}\n\n{}", digest_subject(alerts), digest_text(alerts))
    };
    if whole.chars().count() <= limit {
        whole
    } else {
        let mut cut: String = whole.chars().take(limit.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
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
