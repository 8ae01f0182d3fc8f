//! The small HTML dialects chat services accept, for the chat presets.
//!
//! Telegram's HTML parse mode knows `<b>`, `<i>`, `<a>`, `<del>`, `<ins>`
//! and line breaks as newlines (a `<br>` is an error); Matrix's
//! `formatted_body` takes ordinary HTML but no `<ins>`; Pushover knows
//! `<b>`, `<i>`, `<u>`, `<font color>` and `<a>`. Feed text is untrusted:
//! every piece of it is escaped here before it meets our markup, and a
//! message too long for the service loses whole blocks from its end, never
//! half a tag.

use crate::outbox::{Alert, AlertBody};
use crate::text::line::one_line;
use crate::tracker::EventKind;

use super::render;

/// Which service's HTML to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Telegram,
    Matrix,
    Pushover,
}

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

fn esc_attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

impl Dialect {
    fn line_break(self) -> &'static str {
        match self {
            Dialect::Telegram | Dialect::Pushover => "\n",
            Dialect::Matrix => "<br>",
        }
    }

    /// A diff rendered with `<del>`/`<ins>` and `<br>`, in this dialect.
    fn diff(self, html: &str) -> String {
        let html = html.replace("<br>\n", self.line_break());
        match self {
            Dialect::Telegram => html,
            Dialect::Matrix => html.replace("<ins>", "<u>").replace("</ins>", "</u>"),
            Dialect::Pushover => html
                .replace("<del>", "<font color=\"#aa0000\">[-")
                .replace("</del>", "-]</font>")
                .replace("<ins>", "<font color=\"#007700\">{+")
                .replace("</ins>", "+}</font>"),
        }
    }
}

/// The blocks of one alert: headline (linked), what matched, what changed.
fn blocks(alert: &Alert, dialect: Dialect) -> Vec<String> {
    let subject = esc(&render::subject(alert));
    let s = match &alert.body {
        AlertBody::Ops(o) => return vec![format!("<b>{subject}</b>"), esc(&o.message)],
        AlertBody::Story(s) => s,
    };
    let e = &s.event;
    let mut out = vec![match render::safe_link(&e.link) {
        Some(link) => format!("<b><a href=\"{}\">{subject}</a></b>", esc_attr(link)),
        None => format!("<b>{subject}</b>"),
    }];
    let mut meta = vec![esc(&e.feed), esc(&render::watch_line(s))];
    if e.developing {
        meta.push("developing story".into());
    }
    out.push(format!("<i>{}</i>", meta.join(" · ")));
    let terms = render::matched_terms(s);
    if !terms.is_empty() {
        out.push(format!("matched: {}", esc(&terms.join(", "))));
    }
    match (&e.kind, &e.comparison) {
        (EventKind::Updated | EventKind::Oscillating, Some(_)) => {
            if let Some(t) = e.shown_title_diff() {
                let diff = dialect.diff(&t.render_html(render::DIFF_CONTEXT));
                out.push(format!("<b>Headline:</b> {diff}"));
            }
            if let Some(b) = e.shown_body_diff() {
                out.push(dialect.diff(&b.render_html(render::DIFF_CONTEXT)));
            }
        }
        _ => {
            let body = one_line(e.shown_body(), 400);
            if !body.is_empty() {
                out.push(esc(&body));
            }
        }
    }
    out
}

/// One message for `alerts` (a digest when there are several), at most
/// `limit` characters: blocks are dropped from the end until it fits.
pub fn message(alerts: &[Alert], dialect: Dialect, limit: usize) -> String {
    let sep = format!("{0}{0}", dialect.line_break());
    let mut parts: Vec<String> = Vec::new();
    if alerts.len() > 1 {
        parts.push(format!("<b>storywatch: {} alerts</b>", alerts.len()));
    }
    for a in alerts {
        parts.push(blocks(a, dialect).join(dialect.line_break()));
    }
    let mut text = parts.join(&sep);
    while text.chars().count() > limit && parts.len() > 1 {
        parts.pop();
        text = format!("{}{sep}…", parts.join(&sep));
    }
    if text.chars().count() > limit {
        // one alert that alone is too long: its headline, escaped, fits
        let first = alerts.first().map(render::subject).unwrap_or_default();
        text = esc(&one_line(&first, limit.saturating_sub(40).max(16)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_use_each_dialect_s_tags() {
        let html = "a <del>1</del><ins>2</ins><br>\nb";
        assert_eq!(
            Dialect::Telegram.diff(html),
            "a <del>1</del><ins>2</ins>\nb"
        );
        assert_eq!(Dialect::Matrix.diff(html), "a <del>1</del><u>2</u><br>b");
        assert!(Dialect::Pushover.diff(html).contains("[-1-]</font>"));
    }
}
