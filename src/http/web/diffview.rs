//! A [`TextDiff`] as HTML for the dashboard: inline (`<ins>`/`<del>` in one
//! text) and side by side (the old text with its deletions, the new text
//! with its insertions). Unlike alerts, which keep a few words of context,
//! a page shows the whole text. Every piece of feed text is escaped here:
//! the result is marked safe for the templates.

use crate::tracker::diff::{Chunk, TextDiff};

/// One diff rendered three ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffHtml {
    pub inline: String,
    pub old: String,
    pub new: String,
}

/// Renders `diff` in full (no elision).
pub fn render(diff: &TextDiff) -> DiffHtml {
    let mut out = DiffHtml::default();
    for chunk in &diff.chunks {
        match chunk {
            Chunk::Same { text } => {
                let t = escape(text);
                out.inline.push_str(&t);
                out.old.push_str(&t);
                out.new.push_str(&t);
            }
            Chunk::Added { text } => {
                let t = marked("ins", text);
                out.inline.push_str(&t);
                out.new.push_str(&t);
            }
            Chunk::Removed { text } => {
                let t = marked("del", text);
                out.inline.push_str(&t);
                out.old.push_str(&t);
            }
            Chunk::Replaced { old, new } => {
                let (d, i) = (marked("del", old), marked("ins", new));
                out.inline.push_str(&d);
                out.inline.push_str(&i);
                out.old.push_str(&d);
                out.new.push_str(&i);
            }
        }
    }
    out
}

/// Plain text as HTML: escaped, line breaks kept.
pub fn escape(text: &str) -> String {
    html_escape::encode_text(text).replace('\n', "<br>")
}

fn marked(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::diff::diff_text;

    #[test]
    fn inline_and_side_by_side_mark_the_same_words_and_escape_feed_text() {
        let d = render(&diff_text(
            "Fire forces 200,000 to flee <b>",
            "Fire forces 300,000 to flee <b> now",
        ));
        assert_eq!(
            d.inline,
            "Fire forces <del>200,000</del><ins>300,000</ins> to flee &lt;b&gt;<ins> now</ins>"
        );
        assert_eq!(d.old, "Fire forces <del>200,000</del> to flee &lt;b&gt;");
        assert_eq!(
            d.new,
            "Fire forces <ins>300,000</ins> to flee &lt;b&gt;<ins> now</ins>"
        );
        assert_eq!(escape("a\nb"), "a<br>b");
    }
}
