//! Word-level diffs of story text that a person can read in an alert.
//!
//! Readers of a developing story want to see *what* changed: "fire forces
//! [-200,000-]{+300,000+} to flee". A line diff would show the whole
//! paragraph twice; a character diff would shred words. So text is cut into
//! tokens ([`crate::text::tokens`]: words, single punctuation marks and
//! whitespace runs), which keeps every change on word boundaries and lets
//! the chunks reproduce both texts byte for byte.
//!
//! Long texts are first diffed sentence by sentence
//! ([`crate::text::sentences`]) and only the replaced
//! sentences are diffed word by word. That keeps an inserted paragraph one
//! clean `{+…+}` instead of a confetti of matches on "the" and "a", and keeps
//! the cost close to linear: the word-level pass only ever sees the
//! sentences that changed.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use similar::algorithms::IdentifyDistinct;
use similar::{capture_diff, capture_diff_slices, Algorithm, DiffOp, DiffTag};

use crate::text::sentences::{sentence_bounds, split_sentences};
use crate::text::tokens::{token_bounds, words};

/// One stretch of a diff. Concatenating `Same`, `Removed` and `Replaced::old`
/// gives the old text; `Same`, `Added` and `Replaced::new` give the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Chunk {
    Same { text: String },
    Added { text: String },
    Removed { text: String },
    Replaced { old: String, new: String },
}

/// The difference between two texts as a list of [`Chunk`]s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextDiff {
    pub chunks: Vec<Chunk>,
}

/// From this many sentences on either side, the diff is computed sentence
/// by sentence first.
const SENTENCE_LEVEL_FROM: usize = 3;

/// Marker for an elided unchanged stretch.
const ELLIPSIS: &str = "…";

/// Word-level diff of two texts; see the module documentation for why
/// tokens and why sentences first.
pub fn diff_text(old: &str, new: &str) -> TextDiff {
    let mut builder = ChunkBuilder::default();
    if old == new {
        builder.same(old);
        return builder.finish();
    }
    let old_sentences = sentence_bounds(old);
    let new_sentences = sentence_bounds(new);
    let sentences = old_sentences.len().max(new_sentences.len()) - 1;
    if sentences >= SENTENCE_LEVEL_FROM {
        diff_sentences(old, &old_sentences, new, &new_sentences, &mut builder);
    } else {
        diff_words(old, new, &mut builder);
    }
    builder.finish()
}

impl TextDiff {
    /// True when the two texts were equal.
    pub fn is_unchanged(&self) -> bool {
        self.chunks.iter().all(|c| matches!(c, Chunk::Same { .. }))
    }

    /// Inline plain-text rendering in the style of `git diff
    /// --word-diff=plain`: `[-removed-]{+added+}`. Unchanged stretches keep
    /// `context` words next to each change; the rest is shown as `…`.
    /// Renders nothing when the texts were equal.
    pub fn render_text(&self, context: usize) -> String {
        self.render(context, &PlainStyle)
    }

    /// Like [`render_text`](Self::render_text) with `<del>…</del>` and
    /// `<ins>…</ins>`. Every piece of text is HTML-escaped (feed text is
    /// untrusted) and line breaks become `<br>`, so the result can be placed
    /// in HTML element content as it is.
    pub fn render_html(&self, context: usize) -> String {
        self.render(context, &HtmlStyle)
    }

    /// Words (not punctuation or whitespace) in added and replacing text.
    pub fn words_added(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Added { text } | Chunk::Replaced { new: text, .. } => count_words(text),
                _ => 0,
            })
            .sum()
    }

    /// Words (not punctuation or whitespace) in removed and replaced text.
    pub fn words_removed(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Removed { text } | Chunk::Replaced { old: text, .. } => count_words(text),
                _ => 0,
            })
            .sum()
    }

    fn render(&self, context: usize, style: &dyn Style) -> String {
        let mut out = String::new();
        if self.is_unchanged() {
            return out;
        }
        let last = self.chunks.len() - 1;
        for (i, chunk) in self.chunks.iter().enumerate() {
            match chunk {
                Chunk::Same { text } => {
                    render_context(&mut out, text, context, i > 0, i < last, style)
                }
                Chunk::Added { text } => render_marked(&mut out, text, Mark::Ins, style),
                Chunk::Removed { text } => render_marked(&mut out, text, Mark::Del, style),
                Chunk::Replaced { old, new } => render_replaced(&mut out, old, new, style),
            }
        }
        out
    }
}

/// Sentences added and removed between two versions of a text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SentenceChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Sentences present in `new` but not in `old` (added) and in `old` but not
/// in `new` (removed), each in text order. Sentences are compared as whole
/// strings and as a multiset, so a moved sentence is neither added nor
/// removed, while a reworded one appears in both lists. This is what a watch
/// that should only fire on *newly added* text looks at.
pub fn sentence_changes(old: &str, new: &str) -> SentenceChanges {
    let old_sentences = split_sentences(old);
    let new_sentences = split_sentences(new);
    SentenceChanges {
        added: multiset_difference(&new_sentences, &old_sentences),
        removed: multiset_difference(&old_sentences, &new_sentences),
    }
}

/// Items of `a` not matched by an equal item of `b`, in the order of `a`.
fn multiset_difference(a: &[&str], b: &[&str]) -> Vec<String> {
    let mut available: HashMap<&str, usize> = HashMap::new();
    for s in b {
        *available.entry(s).or_default() += 1;
    }
    let mut out = Vec::new();
    for s in a {
        match available.get_mut(s) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push((*s).to_string()),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Diff construction
// ---------------------------------------------------------------------------

/// Sentence-level pass: equal sentences are kept, inserted and deleted ones
/// become whole chunks, and each replaced block is diffed word by word.
///
/// Sentences are matched without their trailing whitespace: the last
/// sentence of a text has none, so appending a sentence must not make the
/// previous last sentence look edited.
fn diff_sentences(
    old: &str,
    old_bounds: &[usize],
    new: &str,
    new_bounds: &[usize],
    out: &mut ChunkBuilder,
) {
    let old_units: Vec<&str> = units(old, old_bounds)
        .into_iter()
        .map(str::trim_end)
        .collect();
    let new_units: Vec<&str> = units(new, new_bounds)
        .into_iter()
        .map(str::trim_end)
        .collect();
    for op in diff_interned(&old_units, &new_units) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        let old_text = &old[span(old_bounds, &old_range)];
        let new_text = &new[span(new_bounds, &new_range)];
        match tag {
            DiffTag::Equal if old_text == new_text => out.same(old_text),
            DiffTag::Equal => diff_words(old_text, new_text, out),
            DiffTag::Delete => out.removed(old_text),
            DiffTag::Insert => out.added(new_text),
            DiffTag::Replace => diff_words(old_text, new_text, out),
        }
    }
}

/// Word-level pass over two (short or already narrowed) texts.
///
/// When the texts share too few words, a word diff is confetti (matches on
/// "the" and "a" between rewritten phrases) that is hard to read and, on
/// dissimilar texts, the costliest case for Myers. Such texts are shown as
/// one replacement between their common start and end instead; a cheap
/// bag-of-words count settles most of these before any diff is run.
fn diff_words(old: &str, new: &str, out: &mut ChunkBuilder) {
    let old_bounds = token_bounds(old);
    let new_bounds = token_bounds(new);
    let old_tokens = units(old, &old_bounds);
    let new_tokens = units(new, &new_bounds);
    let most_words = count_word_tokens(&old_tokens).max(count_word_tokens(&new_tokens));
    let enough_shared = |shared: usize| shared as f32 >= MIN_SHARED_WORDS * most_words as f32;
    let ops = if !enough_shared(shared_word_bag(&old_tokens, &new_tokens)) {
        None
    } else if old_tokens.len() + new_tokens.len() <= SMALL_DIFF_TOKENS {
        Some(capture_diff_slices(
            Algorithm::Myers,
            &old_tokens,
            &new_tokens,
        ))
    } else {
        Some(diff_interned(&old_tokens, &new_tokens))
    }
    .filter(|ops| enough_shared(matched_words(ops, &old_tokens)));
    let Some(ops) = ops else {
        replace_middle(old, &old_tokens, new, &new_tokens, out);
        return;
    };
    for op in ops {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        let old_text = &old[span(&old_bounds, &old_range)];
        let new_text = &new[span(&new_bounds, &new_range)];
        match tag {
            DiffTag::Equal => out.same(old_text),
            DiffTag::Delete => out.removed(old_text),
            DiffTag::Insert => out.added(new_text),
            DiffTag::Replace => {
                out.removed(old_text);
                out.added(new_text);
            }
        }
    }
}

/// Below this share of words in common (of the longer side), a changed
/// stretch is shown as one replacement rather than word by word.
const MIN_SHARED_WORDS: f32 = 0.3;

/// Up to this many tokens (both sides), Myers runs directly on the strings:
/// interning them would cost more than it saves.
const SMALL_DIFF_TOKENS: usize = 256;

fn is_word_token(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_alphanumeric)
}

fn count_word_tokens(tokens: &[&str]) -> usize {
    tokens.iter().filter(|t| is_word_token(t)).count()
}

/// Words the two sides have in common counted as multisets: an upper
/// bound of the words any diff can match.
fn shared_word_bag(old: &[&str], new: &[&str]) -> usize {
    let mut counts: HashMap<&str, isize> = HashMap::with_capacity(old.len());
    for token in old.iter().filter(|t| is_word_token(t)) {
        *counts.entry(token).or_default() += 1;
    }
    let mut shared = 0;
    for token in new.iter().filter(|t| is_word_token(t)) {
        if let Some(n) = counts.get_mut(token) {
            if *n > 0 {
                *n -= 1;
                shared += 1;
            }
        }
    }
    shared
}

/// Words in the equal stretches of a diff.
fn matched_words(ops: &[DiffOp], old: &[&str]) -> usize {
    ops.iter()
        .filter(|op| op.tag() == DiffTag::Equal)
        .map(|op| count_word_tokens(&old[op.old_range()]))
        .sum()
}

/// Common leading and trailing tokens stay the same; everything between is
/// one replacement.
fn replace_middle(
    old: &str,
    old_tokens: &[&str],
    new: &str,
    new_tokens: &[&str],
    out: &mut ChunkBuilder,
) {
    let prefix = old_tokens
        .iter()
        .zip(new_tokens)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_tokens[prefix..]
        .iter()
        .rev()
        .zip(new_tokens[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let bytes = |tokens: &[&str]| tokens.iter().map(|t| t.len()).sum::<usize>();
    let head = bytes(&old_tokens[..prefix]);
    let old_tail = old.len() - bytes(&old_tokens[old_tokens.len() - suffix..]);
    let new_tail = new.len() - bytes(&new_tokens[new_tokens.len() - suffix..]);
    out.same(&old[..head]);
    out.removed(&old[head..old_tail]);
    out.added(&new[head..new_tail]);
    out.same(&old[old_tail..]);
}

/// Myers diff of two sequences of strings, compared as small integers
/// (similar's `IdentifyDistinct`): the algorithm compares items many times
/// over, and comparing ids instead of strings makes a long rewritten text
/// several times cheaper. Equal strings get equal ids, so the diff is the
/// one Myers finds on the strings themselves.
fn diff_interned(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    let ids = IdentifyDistinct::<u32>::new(old, 0..old.len(), new, 0..new.len());
    capture_diff(
        Algorithm::Myers,
        ids.old_lookup(),
        ids.old_range(),
        ids.new_lookup(),
        ids.new_range(),
    )
}

/// The pieces of `text` between consecutive `bounds`.
fn units<'a>(text: &'a str, bounds: &[usize]) -> Vec<&'a str> {
    bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Byte range covered by the units `range` (bounds has one more entry than
/// there are units, so `range.end` is always a valid index).
fn span(bounds: &[usize], range: &Range<usize>) -> Range<usize> {
    bounds[range.start]..bounds[range.end]
}

/// Collects chunks, merging neighbours so that a diff never has two chunks
/// of the same kind in a row and a removal next to an addition reads as one
/// replacement.
#[derive(Default)]
struct ChunkBuilder {
    chunks: Vec<Chunk>,
}

impl ChunkBuilder {
    fn same(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.chunks.last_mut() {
            Some(Chunk::Same { text: t }) => t.push_str(text),
            _ => self.chunks.push(Chunk::Same {
                text: text.to_string(),
            }),
        }
    }

    fn removed(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.chunks.last_mut() {
            Some(Chunk::Removed { text: t }) | Some(Chunk::Replaced { old: t, .. }) => {
                t.push_str(text)
            }
            Some(last @ Chunk::Added { .. }) => {
                let new = take_text(last);
                *last = Chunk::Replaced {
                    old: text.to_string(),
                    new,
                };
            }
            _ => self.chunks.push(Chunk::Removed {
                text: text.to_string(),
            }),
        }
    }

    fn added(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.chunks.last_mut() {
            Some(Chunk::Added { text: t }) | Some(Chunk::Replaced { new: t, .. }) => {
                t.push_str(text)
            }
            Some(last @ Chunk::Removed { .. }) => {
                let old = take_text(last);
                *last = Chunk::Replaced {
                    old,
                    new: text.to_string(),
                };
            }
            _ => self.chunks.push(Chunk::Added {
                text: text.to_string(),
            }),
        }
    }

    /// Also folds a short gap without words (a space, a comma, `">`)
    /// between two replacements into one replacement: `[-a-]{+b+} [-c-]{+d+}`
    /// reads better as `[-a c-]{+b d+}`.
    fn finish(self) -> TextDiff {
        let mut chunks: Vec<Chunk> = Vec::with_capacity(self.chunks.len());
        for chunk in self.chunks {
            if let Chunk::Replaced {
                old: next_old,
                new: next_new,
            } = &chunk
            {
                if let [.., Chunk::Replaced { old, new }, Chunk::Same { text: gap }] =
                    chunks.as_mut_slice()
                {
                    if is_wordless_gap(gap) {
                        old.push_str(gap);
                        old.push_str(next_old);
                        new.push_str(gap);
                        new.push_str(next_new);
                        chunks.pop(); // the gap now lives inside the replacement
                        continue;
                    }
                }
            }
            chunks.push(chunk);
        }
        TextDiff { chunks }
    }
}

fn take_text(chunk: &mut Chunk) -> String {
    match chunk {
        Chunk::Same { text } | Chunk::Added { text } | Chunk::Removed { text } => {
            std::mem::take(text)
        }
        Chunk::Replaced { new, .. } => std::mem::take(new),
    }
}

/// The longest gap [`ChunkBuilder::finish`] folds into a replacement.
const MAX_FOLDED_GAP: usize = 4;

fn is_wordless_gap(text: &str) -> bool {
    text.chars().count() <= MAX_FOLDED_GAP && !text.chars().any(char::is_alphanumeric)
}

fn count_words(text: &str) -> usize {
    words(text).count()
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Mark {
    Del,
    Ins,
}

/// Output syntax of a rendering.
trait Style {
    fn text(&self, out: &mut String, text: &str);
    fn open(&self, out: &mut String, mark: Mark);
    fn close(&self, out: &mut String, mark: Mark);
}

struct PlainStyle;

impl Style for PlainStyle {
    fn text(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }
    fn open(&self, out: &mut String, mark: Mark) {
        out.push_str(match mark {
            Mark::Del => "[-",
            Mark::Ins => "{+",
        });
    }
    fn close(&self, out: &mut String, mark: Mark) {
        out.push_str(match mark {
            Mark::Del => "-]",
            Mark::Ins => "+}",
        });
    }
}

struct HtmlStyle;

impl Style for HtmlStyle {
    fn text(&self, out: &mut String, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push_str("<br>\n");
            }
            html_escape::encode_text_to_string(line, out);
        }
    }
    fn open(&self, out: &mut String, mark: Mark) {
        out.push_str(match mark {
            Mark::Del => "<del>",
            Mark::Ins => "<ins>",
        });
    }
    fn close(&self, out: &mut String, mark: Mark) {
        out.push_str(match mark {
            Mark::Del => "</del>",
            Mark::Ins => "</ins>",
        });
    }
}

/// An unchanged stretch, keeping `context` words after a preceding change
/// and before a following one.
fn render_context(
    out: &mut String,
    text: &str,
    context: usize,
    after_change: bool,
    before_change: bool,
    style: &dyn Style,
) {
    let head_words = if after_change { context } else { 0 };
    let tail_words = if before_change { context } else { 0 };
    let word_starts: Vec<usize> = whitespace_word_starts(text);
    if word_starts.len() <= head_words + tail_words {
        style.text(out, text);
        return;
    }
    let head_end = if head_words == 0 {
        0
    } else {
        word_end(text, word_starts[head_words - 1])
    };
    let tail_start = if tail_words == 0 {
        text.len()
    } else {
        word_starts[word_starts.len() - tail_words]
    };
    let head = &text[..head_end];
    let tail = &text[tail_start..];
    style.text(out, head);
    let gap = |present: bool| if present { " " } else { "" };
    style.text(out, gap(after_change));
    style.text(out, ELLIPSIS);
    style.text(out, gap(before_change));
    style.text(out, tail);
}

/// Start offsets of the whitespace-separated words of `text`.
fn whitespace_word_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let is_space = c.is_whitespace();
        if !is_space && !in_word {
            starts.push(i);
        }
        in_word = !is_space;
    }
    starts
}

fn word_end(text: &str, start: usize) -> usize {
    text[start..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(text.len(), |(i, _)| start + i)
}

/// Splits `text` into (leading whitespace, core, trailing whitespace).
fn split_blank_edges(text: &str) -> (&str, &str, &str) {
    let core_start = text.len() - text.trim_start().len();
    let core_end = text.trim_end().len().max(core_start);
    (
        &text[..core_start],
        &text[core_start..core_end],
        &text[core_end..],
    )
}

/// An addition or removal, with its edge whitespace outside the markers
/// (`{+new sentence.+} ` rather than `{+new sentence. +}`).
fn render_marked(out: &mut String, text: &str, mark: Mark, style: &dyn Style) {
    let (lead, core, trail) = split_blank_edges(text);
    if core.is_empty() {
        // a whitespace-only change (say, a new paragraph break): keep it visible
        style.open(out, mark);
        style.text(out, text);
        style.close(out, mark);
        return;
    }
    style.text(out, lead);
    style.open(out, mark);
    style.text(out, core);
    style.close(out, mark);
    style.text(out, trail);
}

/// A replacement; whitespace both sides start or end with goes outside.
fn render_replaced(out: &mut String, old: &str, new: &str, style: &dyn Style) {
    let (old_lead, old_core, old_trail) = split_blank_edges(old);
    let (new_lead, new_core, new_trail) = split_blank_edges(new);
    let common_lead = old_lead == new_lead && !old_core.is_empty() && !new_core.is_empty();
    let common_trail = old_trail == new_trail && !old_core.is_empty() && !new_core.is_empty();
    let strip = |text: &'_ str, lead: &str, trail: &str| -> (usize, usize) {
        let start = if common_lead { lead.len() } else { 0 };
        let end = if common_trail {
            text.len() - trail.len()
        } else {
            text.len()
        };
        (start, end.max(start))
    };
    let (os, oe) = strip(old, old_lead, old_trail);
    let (ns, ne) = strip(new, new_lead, new_trail);
    if common_lead {
        style.text(out, old_lead);
    }
    style.open(out, Mark::Del);
    style.text(out, &old[os..oe]);
    style.close(out, Mark::Del);
    style.open(out, Mark::Ins);
    style.text(out, &new[ns..ne]);
    style.close(out, Mark::Ins);
    if common_trail {
        style.text(out, old_trail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn old_side(d: &TextDiff) -> String {
        d.chunks
            .iter()
            .map(|c| match c {
                Chunk::Same { text }
                | Chunk::Removed { text }
                | Chunk::Replaced { old: text, .. } => text.as_str(),
                Chunk::Added { .. } => "",
            })
            .collect()
    }

    fn new_side(d: &TextDiff) -> String {
        d.chunks
            .iter()
            .map(|c| match c {
                Chunk::Same { text }
                | Chunk::Added { text }
                | Chunk::Replaced { new: text, .. } => text.as_str(),
                Chunk::Removed { .. } => "",
            })
            .collect()
    }

    fn same(t: &str) -> Chunk {
        Chunk::Same { text: t.into() }
    }

    #[test]
    fn equal_texts_are_unchanged() {
        let d = diff_text("Storm hits coast", "Storm hits coast");
        assert!(d.is_unchanged());
        assert_eq!(d.chunks, vec![same("Storm hits coast")]);
        assert_eq!(d.render_text(3), "");
        assert!(diff_text("", "").chunks.is_empty());
    }

    #[test]
    fn a_changed_number_is_one_replaced_token() {
        let d = diff_text(
            "Fires force more than 200,000 to flee homes",
            "Fires force more than 300,000 to flee homes",
        );
        assert_eq!(
            d.chunks,
            vec![
                same("Fires force more than "),
                Chunk::Replaced {
                    old: "200,000".into(),
                    new: "300,000".into()
                },
                same(" to flee homes"),
            ]
        );
        assert_eq!(
            d.render_text(10),
            "Fires force more than [-200,000-]{+300,000+} to flee homes"
        );
        assert_eq!((d.words_added(), d.words_removed()), (1, 1));
    }

    #[test]
    fn additions_and_removals() {
        let d = diff_text("There no drugs", "There are no drugs");
        assert_eq!(d.render_text(5), "There {+are+} no drugs");
        let d = diff_text("In southern France, a fire", "In southern France a fire");
        assert_eq!(d.render_text(5), "In southern France[-,-] a fire");
        assert_eq!((d.words_added(), d.words_removed()), (0, 0));
    }

    #[test]
    fn adjacent_replacements_merge_across_a_space() {
        let d = diff_text(
            "Experts question UK self-isolation advice",
            "Experts doubt British self-isolation advice",
        );
        assert_eq!(
            d.render_text(5),
            "Experts [-question UK-]{+doubt British+} self-isolation advice"
        );
    }

    #[test]
    fn context_is_elided() {
        let old = "one two three four five six seven eight nine ten eleven twelve";
        let new = "one two three four five SIX seven eight nine ten eleven twelve";
        let d = diff_text(old, new);
        assert_eq!(d.render_text(2), "… four five [-six-]{+SIX+} seven eight …");
        assert_eq!(d.render_text(0), "… [-six-]{+SIX+} …");
        assert_eq!(
            d.render_text(100),
            format!("one two three four five [-six-]{{+SIX+}} seven eight nine ten eleven twelve")
        );
    }

    #[test]
    fn context_between_two_changes() {
        let old = "alpha b c d e f g h i j k l omega";
        let new = "ALPHA b c d e f g h i j k l OMEGA";
        let d = diff_text(old, new);
        assert_eq!(
            d.render_text(2),
            "[-alpha-]{+ALPHA+} b c … k l [-omega-]{+OMEGA+}"
        );
        let short = diff_text("alpha b c omega", "ALPHA b c OMEGA");
        assert_eq!(
            short.render_text(1),
            "[-alpha-]{+ALPHA+} b c [-omega-]{+OMEGA+}"
        );
    }

    #[test]
    fn html_rendering_escapes_everything() {
        let d = diff_text(
            "Officials said",
            "Officials said <script>alert(1)</script> & \"more\"\nNew line",
        );
        assert_eq!(
            d.render_html(10),
            "Officials said <ins>&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"more\"<br>\nNew line</ins>"
        );
        let d = diff_text(
            "Officials said <b>nothing</b> & more",
            "Officials said <i>little</i> & more",
        );
        let html = d.render_html(10);
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert_eq!(
            html,
            "Officials said &lt;<del>b&gt;nothing&lt;/b</del><ins>i&gt;little&lt;/i</ins>&gt; &amp; more"
        );
    }

    #[test]
    fn html_rendering_of_a_realistic_edit() {
        let d = diff_text(
            "Police say 3 people were hurt. The road is closed.",
            "Police say 5 people were hurt. The road is closed. A man has been arrested.",
        );
        assert_eq!(
            d.render_html(3),
            "Police say <del>3</del><ins>5</ins> people were hurt. … road is closed. <ins>A man has been arrested.</ins>"
        );
    }

    #[test]
    fn unrelated_texts_are_one_replacement_not_confetti() {
        let d = diff_text(
            "Coronavirus: Record number of deaths recorded in the week",
            "Coronavirus: Deaths at a 20-year high but the peak may be over",
        );
        assert_eq!(
            d.render_text(3),
            "Coronavirus: [-Record number of deaths recorded in the week-]\
             {+Deaths at a 20-year high but the peak may be over+}"
        );
        let d = diff_text(
            "The man, who was not identified, died.",
            "Being black should not be a death sentence.",
        );
        assert_eq!(d.chunks.len(), 2, "{d:?}");
    }

    #[test]
    fn whitespace_moves_outside_markers() {
        let d = diff_text(
            "Storm hits coast.",
            "Storm hits coast. Thousands without power.",
        );
        assert_eq!(
            d.render_text(3),
            "Storm hits coast. {+Thousands without power.+}"
        );
        assert_eq!(d.render_text(1), "… coast. {+Thousands without power.+}");
    }

    #[test]
    fn long_text_is_diffed_by_sentence_first() {
        let old = "The council met on Monday. It discussed the budget. Members voted on the plan. \
                   The mayor spoke last. Residents were not consulted.";
        let new = "The council met on Monday. It discussed the budget in detail. Members voted on the plan. \
                   A protest was held outside. The mayor spoke last. Residents were not consulted.";
        let d = diff_text(old, new);
        assert_eq!(old_side(&d), old);
        assert_eq!(new_side(&d), new);
        assert_eq!(
            d.render_text(2),
            "… the budget {+in detail+}. Members … the plan. {+A protest was held outside.+} The mayor …"
        );
        assert_eq!(d.words_added(), 7);
    }

    #[test]
    fn inserted_paragraph_is_one_chunk() {
        let old = "First point.\nSecond point.\nThird point.";
        let new =
            "First point.\nSecond point.\nBreaking: new development in the case.\nThird point.";
        let d = diff_text(old, new);
        assert_eq!(
            d.chunks,
            vec![
                same("First point.\nSecond point.\n"),
                Chunk::Added {
                    text: "Breaking: new development in the case.\n".into()
                },
                same("Third point."),
            ]
        );
    }

    #[test]
    fn sentence_changes_report_added_removed_and_reworded() {
        let old = "Fire spreads. Crews respond. Roads closed.";
        let new = "Fire spreads. Roads closed. Crews are responding. Two homes lost.";
        let c = sentence_changes(old, new);
        assert_eq!(c.added, vec!["Crews are responding.", "Two homes lost."]);
        assert_eq!(c.removed, vec!["Crews respond."]);
        let moved = sentence_changes("A one. B two.", "B two. A one.");
        assert_eq!(moved, SentenceChanges::default());
    }

    #[test]
    fn chunks_serialize_with_an_op_tag() {
        let d = diff_text("a b", "a c");
        let json = serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"chunks":[{"op":"same","text":"a "},{"op":"replaced","old":"b","new":"c"}]}"#
        );
        let back: TextDiff = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, d);
    }

    fn wordy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("the"),
                Just("fire"),
                Just("200,000"),
                Just("3.5"),
                Just(" "),
                Just(". "),
                Just(", "),
                Just("\n"),
                Just("Mr. "),
                Just("U.S. "),
                Just("It"),
                Just("é"),
                Just("'"),
                Just("!"),
                Just("  "),
            ],
            0..60,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn diff_reproduces_both_sides(a in "\\PC{0,80}", b in "\\PC{0,80}") {
            let d = diff_text(&a, &b);
            prop_assert_eq!(old_side(&d), a);
            prop_assert_eq!(new_side(&d), b);
        }

        #[test]
        fn diff_reproduces_both_sides_of_wordy_text(a in wordy(), b in wordy()) {
            let d = diff_text(&a, &b);
            prop_assert_eq!(old_side(&d), a.clone());
            prop_assert_eq!(new_side(&d), b.clone());
            let _ = d.render_text(2);
            let _ = d.render_html(0);
            let _ = sentence_changes(&a, &b);
        }

        #[test]
        fn diff_of_equal_texts_is_unchanged(a in "\\PC{0,200}") {
            let d = diff_text(&a, &a);
            prop_assert!(d.is_unchanged());
            prop_assert_eq!(d.words_added() + d.words_removed(), 0);
        }

        #[test]
        fn rendering_and_splitting_never_panic(a in "\\PC{0,100}", b in "\\PC{0,100}", context in 0usize..5) {
            let d = diff_text(&a, &b);
            let _ = d.render_text(context);
            let html = d.render_html(context);
            prop_assert!(!html.contains("<script"));
            for s in split_sentences(&a) {
                prop_assert!(!s.is_empty());
            }
        }
    }
}
