//! How much an edit to a story matters to someone following it.
//!
//! News sites edit constantly: a comma, "Zelensky" → "Zelenskyy", a headline
//! reworded for search engines, a death toll raised, a paragraph added as a
//! story develops. Users want to hear about the last two and not the first
//! three, so every comparison gets a [`ChangeClass`] and a score, and the
//! user (or feed) sets the threshold.
//!
//! The rules, per text field (title, summary, content), in the order they
//! are applied:
//!
//! 1. **major** when any number changed, appeared or disappeared
//!    ("200,000" → "300,000" is a few characters but it is the news; so are
//!    "hundreds" → "thousands" and "$1 million" → "$1 billion"; a number
//!    that only moved, or was re-spaced like "three-fold" → "threefold",
//!    does not count), or when a negation appeared or disappeared ("not",
//!    "no", "never", "without", "…n't", "likely" ↔ "unlikely"): one word
//!    that reverses the meaning.
//! 2. **typo** when every change is punctuation, capitalisation, spacing or
//!    hyphenation, or a word within a tiny edit distance of the old one (one
//!    edit for words of up to 6 letters, two for longer ones; words of 3
//!    letters or fewer only by substitution or swap, so "he" → "she" is not
//!    a typo), with at most 5 such edits and no digits involved.
//! 3. **major** when the title was rewritten (its word-set similarity, Dice
//!    over lower-cased, plural-stripped words, is below 0.6, or 3 or more
//!    content words came or went), when the body gained or lost a sentence
//!    of 3+ words that is not a rewording of one on the other side
//!    (similarity < 0.5), or when a large share of the body changed
//!    (similarity below 0.6, or at least 3 and at least 40% of its distinct
//!    content words came or went).
//! 4. **minor** otherwise: a small wording change.
//!
//! Other fields: a new link, author, category or enclosure is **minor**
//! (lists that only changed order are **typo**); `published`/`updated` are
//! recorded as **typo** and never count, and a comparison where only they
//! differ is flagged `dates_only` (a `pubDate` bump is not an update).
//!
//! Rules were tuned against successive real captures of BBC, NYT, RNZ and
//! NPR feeds: headline reorderings ("…, says Trump" → "…, Trump says") stay
//! minor because similarity is measured on word *sets*, while "Trump Pauses
//! Issuing of Green Cards" → "Trump Narrows Immigration Ban" is major.
//!
//! The score places a comparison inside its class's band (typo `[0, 0.1)`,
//! minor `[0.1, 0.5)`, major `[0.5, 1]`) by how much changed, with title
//! changes weighing more than body changes of the same size, so a single
//! number threshold orders updates the way the classes do.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::diff::{self, Chunk, SentenceChanges, TextDiff};
use crate::model::{ChangeClass, Field, Snapshot};
use crate::text::tokens;

/// One field that differs, with how much its change matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub class: ChangeClass,
}

/// A number that changed (`old` → `new`), appeared (`old` is `None`) or
/// disappeared (`new` is `None`), as written in the text ("$484 billion").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberChange {
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Everything about the difference between two versions of a story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Every field that differs (dates included), in [`Field`] order.
    pub fields: Vec<FieldChange>,
    /// Some when the title changed.
    pub title: Option<TextDiff>,
    /// Diff of [`Snapshot::body`] when it changed.
    pub body: Option<TextDiff>,
    /// Sentences added to and removed from the body.
    pub sentences: SentenceChanges,
    /// Numbers changed, added or removed in the title or body.
    pub numbers: Vec<NumberChange>,
    /// 0.0..=1.0, how much the change matters to a reader.
    pub score: f32,
    /// The highest class over the fields that count (dates never do).
    pub class: ChangeClass,
    /// Only `published`/`updated` differ: store silently, alert nobody.
    pub dates_only: bool,
    /// Text fields that went back to a value they had before (title
    /// A → B → A) while the story as a whole did not: set by the tracker,
    /// which knows the story's history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverted: Vec<Field>,
}

impl Comparison {
    /// Every text field that changed went back to an earlier value: a
    /// revert and nothing new.
    pub fn only_reverts(&self) -> bool {
        !self.reverted.is_empty()
            && self
                .fields
                .iter()
                .filter(|f| matches!(f.field, Field::Title | Field::Summary | Field::Content))
                .all(|f| self.reverted.contains(&f.field))
    }
}

/// Compares two normalised versions of one story (see
/// [`normalize::clean`](super::normalize::clean)). `None` when nothing at
/// all differs.
/// Whether two texts differ in more than spacing. A space added after a
/// colon, removed before a comma or between run-together words is the
/// publisher's layout, not an edit anyone should be alerted to (seen on
/// several outlets in the corpus' histories).
fn differs(old: &str, new: &str) -> bool {
    old != new
        && !old
            .chars()
            .filter(|c| !c.is_whitespace())
            .eq(new.chars().filter(|c| !c.is_whitespace()))
}

pub fn compare(old: &Snapshot, new: &Snapshot) -> Option<Comparison> {
    if old == new {
        return None;
    }
    let title =
        differs(&old.title, &new.title).then(|| assess_text(&old.title, &new.title, Role::Title));
    let summary = differs(&old.summary, &new.summary)
        .then(|| assess_text(&old.summary, &new.summary, Role::Body));
    let content = differs(&old.content, &new.content)
        .then(|| assess_text(&old.content, &new.content, Role::Body));
    let body = body_assessment(old, new, summary.as_ref(), content.as_ref());

    let mut fields = Vec::new();
    let mut push = |field: Field, class: Option<ChangeClass>| {
        if let Some(class) = class {
            fields.push(FieldChange { field, class });
        }
    };
    push(Field::Title, title.as_ref().map(|a| a.class));
    push(Field::Summary, summary.as_ref().map(|a| a.class));
    push(Field::Content, content.as_ref().map(|a| a.class));
    // a new URL for the same story (slug rewrite, tracking cleanup) is
    // cosmetic too; the headline change that usually comes with it is not
    push(
        Field::Link,
        (old.link != new.link).then_some(ChangeClass::Typo),
    );
    push(Field::Author, list_change(&old.authors, &new.authors));
    push(
        Field::Category,
        list_change(&old.categories, &new.categories),
    );
    push(
        Field::Enclosure,
        list_change(&old.enclosures, &new.enclosures),
    );
    push(
        Field::Published,
        (old.published != new.published).then_some(ChangeClass::Typo),
    );
    push(
        Field::Updated,
        (old.updated != new.updated).then_some(ChangeClass::Typo),
    );

    if fields.is_empty() {
        // only spacing moved: nothing a reader would call a change
        return None;
    }
    let dates_only = fields.iter().all(|f| f.field.is_date());
    let class = fields
        .iter()
        .filter(|f| !f.field.is_date())
        .map(|f| f.class)
        .max()
        .unwrap_or(ChangeClass::Typo);
    let score = if dates_only {
        0.0
    } else {
        score(class, &fields, title.as_ref(), body.as_ref())
    };
    let mut numbers = Vec::new();
    let mut sentences = SentenceChanges::default();
    if let Some(t) = &title {
        numbers.extend(t.numbers.iter().cloned());
    }
    if let Some(b) = &body {
        numbers.extend(b.numbers.iter().cloned());
        sentences = b.sentences.clone();
    }
    Some(Comparison {
        fields,
        title: title.map(|a| a.diff),
        body: body.map(|a| a.diff),
        sentences,
        numbers,
        score,
        class,
        dates_only,
        reverted: Vec::new(),
    })
}

/// Phrases with which publishers mark a story that is still changing.
/// ASCII mode (the phrases are ASCII) keeps the regex on its DFA engines:
/// a Unicode `\b` sends every search to the much slower PikeVM, and this
/// runs on every new story.
static DEVELOPING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    regex::RegexBuilder::new(
        r"(?x)
        (?i:
            \bdeveloping\ story\b | \bstory\ is\ developing\b | \bdeveloping:
          | \bwill\ be\ updated\b | \bbeing\ updated\b | \bthis\ (?:story|article|post)\ (?:has\ been|was)\ updated\b
          | \bupdated?: | \blatest: | \blive: | \bbreaking: | \bbreaking\ news\b
          | \blive\ (?:updates?|blog|coverage|reporting)\b
          | \bmore\ (?:to\ follow|details\ to\ come|to\ come)\b | \bcheck\ back\b
        )
        | \bBREAKING\b | \bLIVE\b | \bUPDATED?\b",
    )
    .unicode(false)
    .build()
    .ok()
});

/// True when the title or text carries a developing-story phrase
/// ("This is a developing story and will be updated", "UPDATE:",
/// "BREAKING", "Live:", "live updates", "Latest:", …).
pub fn has_developing_signal(s: &Snapshot) -> bool {
    let Some(re) = DEVELOPING.as_ref() else {
        return false;
    };
    re.is_match(&s.title) || re.is_match(&s.summary) || re.is_match(&s.content)
}

// ---------------------------------------------------------------------------
// Text fields
// ---------------------------------------------------------------------------

/// Titles and bodies follow different rules (a title is one line whose
/// words all matter; a body is judged sentence by sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Title,
    Body,
}

/// Title similarity below this means the headline was rewritten.
const TITLE_REWRITE_SIMILARITY: f32 = 0.6;
/// Content words that came or went in a title that make it a rewrite.
const TITLE_REWRITE_CHURN: usize = 3;
/// Body similarity below this means most of it was rewritten.
const BODY_REWRITE_SIMILARITY: f32 = 0.6;
/// Share of distinct content words that came or went in a large body change.
const BODY_REWRITE_CHURN_SHARE: f32 = 0.4;
/// Sentences shorter than this do not count as news on their own.
const MIN_SENTENCE_WORDS: usize = 3;
/// Sentences at least this similar are the same sentence reworded.
const REWORDED_SIMILARITY: f32 = 0.5;
/// Pairs of sentences compared at most when looking for rewordings.
const MAX_SENTENCE_PAIRS: usize = 10_000;
/// Edits at most in a change still called a typo fix.
const MAX_TYPO_EDITS: usize = 5;

/// The verdict on one changed text field.
struct TextAssessment {
    diff: TextDiff,
    class: ChangeClass,
    numbers: Vec<NumberChange>,
    /// Share of words added or removed, 0..=1.
    changed_share: f32,
    /// Sentences added and removed (bodies only).
    sentences: SentenceChanges,
    /// Sentences added or removed that are not rewordings.
    novel_sentences: usize,
}

fn assess_text(old: &str, new: &str, role: Role) -> TextAssessment {
    let diff = diff::diff_text(old, new);
    let numbers = number_changes(old, new, &diff);
    let old_words = WordSet::of(old);
    let new_words = WordSet::of(new);
    let sentences = match role {
        Role::Title => SentenceChanges::default(),
        Role::Body => diff::sentence_changes(old, new),
    };
    let novel_sentences = novel_sentences(&sentences);
    let total_words = (tokens::words(old).count() + tokens::words(new).count()).max(1);
    let changed_share =
        ((diff.words_added() + diff.words_removed()) as f32 / total_words as f32).min(1.0);
    // Typo fixes are recognised before the word-set rules, which would
    // count "Wildfires" → "Wild fires" as two words gained and one lost.
    let class = if !numbers.is_empty() || negation_flipped(&old_words, &new_words) {
        ChangeClass::Major
    } else if is_typo_fix(&diff) {
        ChangeClass::Typo
    } else if novel_sentences > 0 || is_rewrite(&old_words, &new_words, role) {
        ChangeClass::Major
    } else {
        ChangeClass::Minor
    };
    TextAssessment {
        diff,
        class,
        numbers,
        changed_share,
        sentences,
        novel_sentences,
    }
}

/// The assessment of [`Snapshot::body`]: shared with the summary or content
/// assessment when both versions take their body from the same field.
fn body_assessment(
    old: &Snapshot,
    new: &Snapshot,
    summary: Option<&TextAssessment>,
    content: Option<&TextAssessment>,
) -> Option<TextAssessment> {
    let (old_body, new_body) = (old.body(), new.body());
    if old_body == new_body {
        return None;
    }
    let from_content = |s: &Snapshot| std::ptr::eq(s.body(), s.content.as_str());
    let shared = match (from_content(old), from_content(new)) {
        (true, true) => content,
        (false, false) => summary,
        _ => None,
    };
    Some(match shared {
        Some(a) => TextAssessment {
            diff: a.diff.clone(),
            class: a.class,
            numbers: a.numbers.clone(),
            changed_share: a.changed_share,
            sentences: a.sentences.clone(),
            novel_sentences: a.novel_sentences,
        },
        None => assess_text(old_body, new_body, Role::Body),
    })
}

/// The distinct lower-cased words of a text.
struct WordSet {
    words: HashSet<String>,
}

impl WordSet {
    fn of(text: &str) -> Self {
        WordSet {
            words: tokens::words(text).map(word_key).collect(),
        }
    }

    /// Dice coefficient of the two sets: 1.0 for the same words in any
    /// order, 0.0 for nothing in common. Word order is ignored on purpose:
    /// a reordered headline says the same thing.
    fn similarity(&self, other: &WordSet) -> f32 {
        let total = self.words.len() + other.words.len();
        if total == 0 {
            return 1.0;
        }
        let common = self.words.intersection(&other.words).count();
        2.0 * common as f32 / total as f32
    }

    /// Content words (not function words) in one set and not the other,
    /// counted both ways, and the number of distinct content words overall.
    fn churn(&self, other: &WordSet) -> (usize, usize) {
        let content = |w: &&String| !STOPWORDS.contains(&w.as_str());
        let gone = self.words.difference(&other.words).filter(content).count();
        let came = other.words.difference(&self.words).filter(content).count();
        let all = self.words.union(&other.words).filter(content).count();
        (gone + came, all)
    }
}

/// A word as compared in word sets: lower-cased, without a possessive
/// "'s" or a plural "s", so "bubble"/"bubbles" and "take"/"takes" are one
/// word (a crude stemmer, but inflection changes are not news).
fn word_key(word: &str) -> String {
    let lower = word.to_lowercase();
    let base = lower.strip_suffix("'s").unwrap_or(&lower);
    match base.strip_suffix('s') {
        Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_string(),
        _ => base.to_string(),
    }
}

/// Function words that carry little news on their own.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "are", "as", "at", "be", "been", "before",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he",
    "her", "here", "his", "how", "i", "if", "in", "into", "is", "it", "its", "may", "might",
    "more", "of", "on", "or", "our", "out", "over", "s", "said", "say", "says", "she", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "up", "was", "we", "were", "what", "when", "where", "which", "while", "who", "will",
    "with", "would", "you",
];

fn is_rewrite(old: &WordSet, new: &WordSet, role: Role) -> bool {
    let similarity = old.similarity(new);
    let (churn, content_words) = old.churn(new);
    match role {
        Role::Title => similarity < TITLE_REWRITE_SIMILARITY || churn >= TITLE_REWRITE_CHURN,
        Role::Body => {
            similarity < BODY_REWRITE_SIMILARITY
                || (churn >= TITLE_REWRITE_CHURN
                    && churn as f32 >= BODY_REWRITE_CHURN_SHARE * content_words as f32)
        }
    }
}

/// Words that negate what follows them.
const NEGATIONS: &[&str] = &[
    "cannot", "neither", "never", "no", "nobody", "none", "non", "nor", "not", "nothing",
    "nowhere", "without",
];

fn negation_count(words: &WordSet) -> usize {
    words
        .words
        .iter()
        .filter(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't"))
        .count()
}

/// A negation appeared or disappeared, or a word turned into its "un-"
/// opposite ("likely" → "unlikely").
fn negation_flipped(old: &WordSet, new: &WordSet) -> bool {
    if negation_count(old) != negation_count(new) {
        return true;
    }
    let opposite = |from: &WordSet, to: &WordSet| {
        to.words.difference(&from.words).any(|w| {
            w.strip_prefix("un").is_some_and(|base| {
                base.len() >= 3 && from.words.contains(base) && !to.words.contains(base)
            })
        })
    };
    opposite(old, new) || opposite(new, old)
}

/// Sentences (of at least [`MIN_SENTENCE_WORDS`] words) added or removed
/// that are not a rewording of a sentence on the other side.
fn novel_sentences(changes: &SentenceChanges) -> usize {
    let added: Vec<(WordSet, usize)> = changes.added.iter().map(|s| sentence_words(s)).collect();
    let removed: Vec<(WordSet, usize)> =
        changes.removed.iter().map(|s| sentence_words(s)).collect();
    let comparable = added.len().saturating_mul(removed.len()) <= MAX_SENTENCE_PAIRS;
    let novel = |side: &[(WordSet, usize)], other: &[(WordSet, usize)]| {
        side.iter()
            .filter(|(words, count)| {
                *count >= MIN_SENTENCE_WORDS
                    && !(comparable
                        && other
                            .iter()
                            .any(|(o, _)| o.similarity(words) >= REWORDED_SIMILARITY))
            })
            .count()
    };
    novel(&added, &removed) + novel(&removed, &added)
}

fn sentence_words(sentence: &str) -> (WordSet, usize) {
    (WordSet::of(sentence), tokens::words(sentence).count())
}

// ---------------------------------------------------------------------------
// Typo fixes
// ---------------------------------------------------------------------------

/// Every change is punctuation, capitalisation, spacing or a tiny in-word
/// edit, and there are only a few of them.
fn is_typo_fix(diff: &TextDiff) -> bool {
    let changes: Vec<&Chunk> = diff
        .chunks
        .iter()
        .filter(|c| !matches!(c, Chunk::Same { .. }))
        .collect();
    changes.len() <= MAX_TYPO_EDITS && changes.iter().all(|c| is_typo_chunk(c))
}

fn is_typo_chunk(chunk: &Chunk) -> bool {
    match chunk {
        Chunk::Same { .. } => true,
        Chunk::Added { text } | Chunk::Removed { text } => tokens::words(text).next().is_none(),
        Chunk::Replaced { old, new } => {
            let old_words: Vec<String> = tokens::words(old).map(str::to_lowercase).collect();
            let new_words: Vec<String> = tokens::words(new).map(str::to_lowercase).collect();
            old_words.concat() == new_words.concat()
                || (old_words.len() == new_words.len()
                    && old_words
                        .iter()
                        .zip(&new_words)
                        .all(|(a, b)| a == b || is_small_edit(a, b)))
        }
    }
}

/// A misspelling fixed rather than a word changed: one edit (substitution,
/// insertion, deletion or swap of neighbours) for words of up to 6
/// letters, two for longer ones; words of 3 letters or fewer only by
/// substitution or swap ("he" → "she" is not a typo). Never for numbers.
fn is_small_edit(a: &str, b: &str) -> bool {
    if a.chars().chain(b.chars()).any(|c| c.is_numeric()) {
        return false;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    let shorter = la.min(lb);
    let allowed = match shorter {
        0..=3 if la != lb => return false,
        0..=6 => 1,
        _ => 2,
    };
    // optimal string alignment: Levenshtein plus swaps of neighbours
    la.abs_diff(lb) <= allowed && strsim::osa_distance(a, b) <= allowed
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// A number as found in a text.
struct Number {
    /// Byte range in the text.
    start: usize,
    end: usize,
    /// Comparison key: "200000", "$5", "10%", "3 million", "thousands".
    key: String,
}

/// Words that follow a number and scale it ("3 million", "10 percent").
const SCALES: &[&str] = &[
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "billions",
    "trillion",
    "trillions",
    "percent",
];

/// Number words that stand alone. "one" is left out: it is far more often
/// a pronoun ("one of the …") than a count.
const NUMBER_WORDS: &[&str] = &[
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "dozen",
    "dozens",
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "billions",
    "trillion",
    "trillions",
];

fn is_currency(token: &str) -> bool {
    matches!(token, "$" | "£" | "€" | "¥" | "₹")
}

/// The numbers of a text with their positions: digit groups (with a
/// currency sign before and `%` or a scale word after) and number words.
fn numbers_in(text: &str) -> Vec<Number> {
    let mut tokens = Vec::new();
    let mut at = 0;
    for token in crate::text::tokens::tokens(text) {
        tokens.push((at, token));
        at += token.len();
    }
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (start, token) = tokens[i];
        if token.starts_with(|c: char| c.is_ascii_digit()) {
            let (number, next) = digit_number(&tokens, i);
            numbers.push(number);
            i = next;
            continue;
        }
        if let Some(word) = NUMBER_WORDS.iter().find(|w| w.eq_ignore_ascii_case(token)) {
            numbers.push(Number {
                start,
                end: start + token.len(),
                key: (*word).to_string(),
            });
        }
        i += 1;
    }
    numbers
}

/// The number starting at digit token `i`; returns it and the index of the
/// first token after it.
fn digit_number(tokens: &[(usize, &str)], i: usize) -> (Number, usize) {
    let (mut start, token) = tokens[i];
    let mut end = start + token.len();
    let mut key = canonical_digits(token);
    if let Some((currency_start, currency)) = i.checked_sub(1).map(|p| tokens[p]) {
        if is_currency(currency) {
            start = currency_start;
            key.insert_str(0, currency);
        }
    }
    let mut next = i + 1;
    match (tokens.get(i + 1), tokens.get(i + 2)) {
        (Some((_, "%")), _) => {
            key.push('%');
            end += 1;
            next += 1;
        }
        (Some((_, space)), Some((scale_start, scale)))
            if space.chars().all(char::is_whitespace)
                && SCALES.contains(&scale.to_lowercase().as_str()) =>
        {
            let scale_key = scale.to_lowercase();
            if scale_key == "percent" {
                key.push('%');
            } else {
                key.push(' ');
                key.push_str(scale_key.trim_end_matches('s'));
            }
            end = scale_start + scale.len();
            next += 2;
        }
        _ => {}
    }
    (Number { start, end, key }, next)
}

/// "200,000" and "200000" are the same number, and so are "03" and "3".
fn canonical_digits(token: &str) -> String {
    let digits: String = token.chars().filter(|c| *c != ',').collect();
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// Numbers touched by the diff, paired old → new within each change;
/// a number that only moved (removed in one place, added in another) is
/// not a change.
fn number_changes(old: &str, new: &str, diff: &TextDiff) -> Vec<NumberChange> {
    let regions = change_regions(diff);
    if regions.is_empty() {
        return Vec::new();
    }
    let old_numbers = touched_numbers(old, &regions, |r| &r.old);
    let new_numbers = touched_numbers(new, &regions, |r| &r.new);
    pair_numbers(old_numbers, new_numbers)
}

/// Byte ranges a change covers in the old and in the new text.
struct Region {
    old: std::ops::Range<usize>,
    new: std::ops::Range<usize>,
}

/// The changes of a diff as byte ranges. A change that only re-spaces,
/// re-hyphenates or re-capitalises the same letters ("three-fold" →
/// "threefold", "1 000" → "1000") cannot change a number and is left out.
fn change_regions(diff: &TextDiff) -> Vec<Region> {
    let (mut old_at, mut new_at) = (0, 0);
    let mut regions = Vec::new();
    for chunk in &diff.chunks {
        let (old_len, new_len, respelled) = match chunk {
            Chunk::Same { text } => (text.len(), text.len(), true),
            Chunk::Added { text } => (0, text.len(), false),
            Chunk::Removed { text } => (text.len(), 0, false),
            Chunk::Replaced { old, new } => (old.len(), new.len(), same_letters(old, new)),
        };
        if !respelled {
            regions.push(Region {
                old: old_at..old_at + old_len,
                new: new_at..new_at + new_len,
            });
        }
        old_at += old_len;
        new_at += new_len;
    }
    regions
}

/// The same letters and digits in the same order, ignoring case, spaces
/// and punctuation.
fn same_letters(old: &str, new: &str) -> bool {
    let letters = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    letters(old) == letters(new)
}

fn overlaps(range: &std::ops::Range<usize>, start: usize, end: usize) -> bool {
    range.start < end && start < range.end
}

/// For each change region, the numbers of one side it touches, as
/// `(key, as written)`.
type RegionNumbers = Vec<Vec<(String, String)>>;

fn touched_numbers(
    text: &str,
    regions: &[Region],
    side: impl Fn(&Region) -> &std::ops::Range<usize>,
) -> RegionNumbers {
    let mut per_region = vec![Vec::new(); regions.len()];
    // Numbers and regions are both in text order: walk them together.
    let mut first = 0;
    for number in numbers_in(text) {
        while first < regions.len() && side(&regions[first]).end <= number.start {
            first += 1;
        }
        let hit = regions[first..]
            .iter()
            .take_while(|r| side(r).start < number.end)
            .position(|r| overlaps(side(r), number.start, number.end));
        if let Some(k) = hit {
            per_region[first + k].push((number.key, text[number.start..number.end].to_string()));
        }
    }
    per_region
}

/// Cancels numbers present on both sides (by key, across all regions: they
/// moved), then pairs what is left region by region in text order.
fn pair_numbers(old: RegionNumbers, new: RegionNumbers) -> Vec<NumberChange> {
    let old_counts = key_counts(&old);
    let new_counts = key_counts(&new);
    let moved: HashMap<String, usize> = old_counts
        .iter()
        .filter_map(|(key, n)| new_counts.get(key).map(|m| (key.clone(), (*n).min(*m))))
        .collect();
    let old = drop_moved(old, moved.clone());
    let new = drop_moved(new, moved);
    let mut changes = Vec::new();
    for (old_region, new_region) in old.into_iter().zip(new) {
        let len = old_region.len().max(new_region.len());
        let mut olds = old_region.into_iter();
        let mut news = new_region.into_iter();
        for _ in 0..len {
            changes.push(NumberChange {
                old: olds.next(),
                new: news.next(),
            });
        }
    }
    changes
}

fn key_counts(side: &RegionNumbers) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (key, _) in side.iter().flatten() {
        *counts.entry(key.clone()).or_default() += 1;
    }
    counts
}

/// Removes the first `budget[key]` occurrences of each key; keeps how the
/// rest was written.
fn drop_moved(side: RegionNumbers, mut budget: HashMap<String, usize>) -> Vec<Vec<String>> {
    side.into_iter()
        .map(|region| {
            region
                .into_iter()
                .filter_map(|(key, shown)| match budget.get_mut(&key) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        None
                    }
                    _ => Some(shown),
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Other fields and the score
// ---------------------------------------------------------------------------

/// A list field (authors, categories, enclosures). Metadata (bylines, categories, images) changes are recorded but are
/// cosmetic to a reader following the story: a re-tagged article is not
/// news, so they never raise the class above `typo` on their own.
fn list_change(old: &[String], new: &[String]) -> Option<ChangeClass> {
    (old != new).then_some(ChangeClass::Typo)
}

/// How much a title change of a given share counts, relative to 1.0.
const TITLE_WEIGHT: f32 = 1.0;
/// Body changes count less than title changes of the same size.
const BODY_WEIGHT: f32 = 0.6;
/// Smallest share credited to any changed title or body, so that a
/// one-word edit in a long text still moves the score.
const TITLE_FLOOR: f32 = 0.25;
const BODY_FLOOR: f32 = 0.1;

/// The score band of a class: `[low, high)`, `[0.5, 1.0]` for major.
fn band(class: ChangeClass) -> (f32, f32) {
    match class {
        ChangeClass::Typo => (0.0, 0.099),
        ChangeClass::Minor => (0.1, 0.499),
        ChangeClass::Major => (0.5, 1.0),
    }
}

/// Places the comparison inside its class's band by how much changed:
/// each part is a 0..=1 amount, and they combine like independent chances
/// (1 − Π(1 − part)), so more change always means a higher score.
fn score(
    class: ChangeClass,
    fields: &[FieldChange],
    title: Option<&TextAssessment>,
    body: Option<&TextAssessment>,
) -> f32 {
    let mut parts = Vec::new();
    if let Some(t) = title {
        parts.push(TITLE_WEIGHT * t.changed_share.max(TITLE_FLOOR));
        parts.push(0.2 * t.numbers.len() as f32);
    }
    if let Some(b) = body {
        parts.push(BODY_WEIGHT * b.changed_share.max(BODY_FLOOR));
        parts.push(0.15 * b.novel_sentences as f32);
        parts.push(0.15 * b.numbers.len() as f32);
    }
    for change in fields {
        parts.push(match change.field {
            Field::Link | Field::Author => 0.1,
            Field::Category | Field::Enclosure => 0.05,
            _ => 0.0,
        });
    }
    let unchanged: f32 = parts.iter().map(|p| 1.0 - p.clamp(0.0, 1.0)).product();
    let intensity = 1.0 - unchanged;
    let (low, high) = band(class);
    low + (high - low) * intensity
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn story(title: &str, body: &str) -> Snapshot {
        Snapshot {
            title: title.into(),
            summary: body.into(),
            link: "https://news.example/a/1".into(),
            authors: vec!["Jo Reporter".into()],
            categories: vec!["World".into()],
            published: Some(1_700_000_000_000),
            updated: Some(1_700_000_000_000),
            ..Snapshot::default()
        }
    }

    const TITLE: &str = "Wildfires force more than 200,000 to flee homes in France";
    const BODY: &str = "Firefighters are battling blazes near Bordeaux. Officials said the fires \
                        were not yet under control. Residents were told to stay indoors.";

    fn compare_title(new_title: &str) -> Comparison {
        let old = story(TITLE, BODY);
        let new = story(new_title, BODY);
        compare(&old, &new).unwrap_or_else(|| panic!("no change for {new_title:?}"))
    }

    fn compare_body(new_body: &str) -> Comparison {
        let old = story(TITLE, BODY);
        let new = story(TITLE, new_body);
        compare(&old, &new).unwrap_or_else(|| panic!("no change for {new_body:?}"))
    }

    #[test]
    fn identical_snapshots_compare_as_none() {
        let s = story(TITLE, BODY);
        assert_eq!(compare(&s, &s.clone()), None);
    }

    #[test]
    fn spacing_alone_is_no_change() {
        let s = story(TITLE, BODY);
        for (title, body) in [
            (
                "Wild fires force more than 200,000 to flee homes in France",
                BODY,
            ),
            (TITLE, &*BODY.replacen(". ", ".", 1)),
            (TITLE, &*BODY.replacen(' ', "  ", 1)),
        ] {
            assert_eq!(
                compare(&s, &story(title, body)),
                None,
                "{title:?} / {body:?}"
            );
        }
        // a word split in two is spacing; a word changed is not
        assert!(compare(&s, &story(&TITLE.replace("France", "Frnace"), BODY)).is_some());
    }

    /// (new title, expected class) for the title rules.
    #[test]
    fn title_classification_table() {
        let table = [
            // typos: spelling, punctuation, capitalisation, spacing
            (
                "Wildfires force more than 200,000 to flee homes in Frnace",
                ChangeClass::Typo,
            ),
            (
                "Wildfires force more than 200,000 to flee homes, in France",
                ChangeClass::Typo,
            ),
            (
                "Wildfires Force More Than 200,000 To Flee Homes In France",
                ChangeClass::Typo,
            ),
            // minor: a word swapped or added, a reordering, a little context
            (
                "Wildfires force more than 200,000 to leave homes in France",
                ChangeClass::Minor,
            ),
            (
                "Wildfires force more than 200,000 to flee their homes in France",
                ChangeClass::Minor,
            ),
            (
                "In France, wildfires force more than 200,000 to flee homes",
                ChangeClass::Minor,
            ),
            (
                "Wildfires force more than 200,000 to flee homes as heatwave grips France",
                ChangeClass::Minor,
            ),
            // major: numbers, negation, new facts, rewrites
            (
                "Wildfires force more than 300,000 to flee homes in France",
                ChangeClass::Major,
            ),
            (
                "Wildfires force more than 200,000 to flee homes in France and Spain as 2 die",
                ChangeClass::Major,
            ),
            (
                "Wildfires force thousands to flee homes in France",
                ChangeClass::Major,
            ),
            (
                "Wildfires do not force 200,000 to flee homes in France",
                ChangeClass::Major,
            ),
            (
                "Wildfires force more than 200,000 to flee homes as fire reaches Bordeaux",
                ChangeClass::Major,
            ),
        ];
        for (title, expected) in table {
            let c = compare_title(title);
            assert_eq!(c.class, expected, "{title:?}: {c:?}");
            assert_eq!(
                c.fields,
                vec![FieldChange {
                    field: Field::Title,
                    class: expected
                }]
            );
            assert!(c.title.is_some() && c.body.is_none());
            assert!(!c.dates_only);
        }
    }

    #[test]
    fn rewritten_headline_without_numbers_is_major() {
        let old = story("Man seen with weapons on town centre balcony", BODY);
        let rewritten = story("Armed police arrest town centre balcony gunman", BODY);
        let reordered = story("On town centre balcony, man seen with weapons", BODY);
        let c = compare(&old, &rewritten).unwrap_or_else(|| panic!("changed"));
        assert_eq!(c.class, ChangeClass::Major);
        assert!(c.numbers.is_empty());
        let c = compare(&old, &reordered).unwrap_or_else(|| panic!("changed"));
        assert_eq!(c.class, ChangeClass::Minor);
    }

    #[test]
    fn number_change_is_always_major_and_reported() {
        let c = compare_title("Wildfires force more than 300,000 to flee homes in France");
        assert_eq!(c.class, ChangeClass::Major);
        assert_eq!(
            c.numbers,
            vec![NumberChange {
                old: Some("200,000".into()),
                new: Some("300,000".into())
            }]
        );
        let c =
            compare_body(&BODY.replace("near Bordeaux", "near Bordeaux, where 12 homes burned"));
        assert_eq!(c.class, ChangeClass::Major);
        assert_eq!(
            c.numbers,
            vec![NumberChange {
                old: None,
                new: Some("12".into())
            }]
        );
    }

    #[test]
    fn numbers_with_units_and_scales() {
        let c =
            compare_body("Aid of $484 billion was approved. Turnout was 61%. It cost 3 million.");
        assert!(
            c.numbers
                .iter()
                .any(|n| n.new.as_deref() == Some("$484 billion")),
            "{:?}",
            c.numbers
        );
        assert!(
            c.numbers.iter().any(|n| n.new.as_deref() == Some("61%")),
            "{:?}",
            c.numbers
        );
        let old = story("Bill costs $1 million", "");
        let new = story("Bill costs $1 billion", "");
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        assert_eq!(c.class, ChangeClass::Major);
        assert_eq!(
            c.numbers,
            vec![NumberChange {
                old: Some("$1 million".into()),
                new: Some("$1 billion".into())
            }]
        );
    }

    #[test]
    fn respelled_numbers_are_not_changes() {
        let old = story("Cases rise three-fold in a week", "");
        let new = story("Cases rise threefold in a week", "");
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        assert!(c.numbers.is_empty(), "{:?}", c.numbers);
        assert_eq!(c.class, ChangeClass::Typo);
    }

    #[test]
    fn inflections_do_not_count_as_rewrites() {
        let old = story("Coronavirus: How long does it take to recover?", "");
        let new = story("Coronavirus: How long it takes to recover", "");
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        assert_eq!(c.class, ChangeClass::Minor);
        assert_eq!(word_key("bubbles"), word_key("bubble"));
        assert_eq!(word_key("Trump's"), "trump");
        assert_eq!(word_key("press"), "press");
        assert_eq!(word_key("bus"), "bus");
    }

    #[test]
    fn moved_or_reformatted_numbers_are_not_changes() {
        let old = story("In 2026, talks resume", "");
        let new = story("Talks resume in 2026", "");
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        assert!(c.numbers.is_empty(), "{:?}", c.numbers);
        assert_eq!(c.class, ChangeClass::Minor);
        assert_eq!(canonical_digits("200,000"), canonical_digits("200000"));
        assert_eq!(canonical_digits("03"), "3");
        assert_eq!(canonical_digits("0.5"), "0.5");
    }

    #[test]
    fn body_classification_table() {
        let table = [
            (BODY.replace("Bordeaux.", "Bordeaux"), ChangeClass::Typo),
            (BODY.replace("battling", "batling"), ChangeClass::Typo),
            (BODY.replace("battling", "fighting"), ChangeClass::Minor),
            (
                BODY.replace("told to stay", "asked to stay"),
                ChangeClass::Minor,
            ),
            // a new sentence
            (
                format!("{BODY} A second fire broke out near Toulouse overnight."),
                ChangeClass::Major,
            ),
            // a sentence removed
            (
                BODY.replace(" Residents were told to stay indoors.", ""),
                ChangeClass::Major,
            ),
            // negation flipped
            (BODY.replace("were not yet", "were"), ChangeClass::Major),
            // mostly rewritten
            (
                "Crews say the blazes near Bordeaux are not spreading and evacuees can go home."
                    .to_string(),
                ChangeClass::Major,
            ),
        ];
        for (body, expected) in table {
            let c = compare_body(&body);
            assert_eq!(c.class, expected, "{body:?}: {c:?}");
            assert_eq!(
                c.fields,
                vec![FieldChange {
                    field: Field::Summary,
                    class: expected
                }]
            );
            assert!(c.body.is_some() && c.title.is_none());
        }
    }

    #[test]
    fn reworded_sentence_is_in_both_lists_but_not_novel() {
        let c = compare_body(
            &BODY.replace("Officials said the fires", "Officials said that the fires"),
        );
        assert_eq!(c.class, ChangeClass::Minor);
        assert_eq!(c.sentences.added.len(), 1);
        assert_eq!(c.sentences.removed.len(), 1);
    }

    #[test]
    fn added_sentence_is_listed() {
        let extra = "A second fire broke out near Toulouse overnight.";
        let c = compare_body(&format!("{BODY} {extra}"));
        assert_eq!(c.sentences.added, vec![extra.to_string()]);
        assert!(c.sentences.removed.is_empty());
    }

    #[test]
    fn dates_only() {
        let old = story(TITLE, BODY);
        let mut new = old.clone();
        new.updated = Some(1_700_000_600_000);
        new.published = None;
        let c = compare(&old, &new).unwrap_or_else(|| panic!("dates differ"));
        assert!(c.dates_only);
        assert_eq!(c.score, 0.0);
        assert_eq!(
            c.fields,
            vec![
                FieldChange {
                    field: Field::Published,
                    class: ChangeClass::Typo
                },
                FieldChange {
                    field: Field::Updated,
                    class: ChangeClass::Typo
                },
            ]
        );
        assert!(c.title.is_none() && c.body.is_none() && c.numbers.is_empty());
    }

    #[test]
    fn link_only_is_typo() {
        let old = story(TITLE, BODY);
        let mut new = old.clone();
        new.link = "https://news.example/a/1-updated".into();
        let c = compare(&old, &new).unwrap_or_else(|| panic!("link differs"));
        assert_eq!(c.class, ChangeClass::Typo);
        assert!(!c.dates_only);
        assert_eq!(
            c.fields,
            vec![FieldChange {
                field: Field::Link,
                class: ChangeClass::Typo
            }]
        );
    }

    #[test]
    fn category_author_enclosure() {
        let old = story(TITLE, BODY);
        let mut new = old.clone();
        new.categories = vec!["Europe".into()];
        let c = compare(&old, &new).unwrap_or_else(|| panic!("category differs"));
        assert_eq!(c.class, ChangeClass::Typo, "metadata alone is cosmetic");
        assert_eq!(
            c.fields,
            vec![FieldChange {
                field: Field::Category,
                class: ChangeClass::Typo
            }]
        );

        let mut reordered = old.clone();
        reordered.authors = vec!["A".into(), "B".into()];
        let mut swapped = reordered.clone();
        swapped.authors = vec!["B".into(), "A".into()];
        let c = compare(&reordered, &swapped).unwrap_or_else(|| panic!("order differs"));
        assert_eq!(c.class, ChangeClass::Typo);

        let mut enclosure = old.clone();
        enclosure.enclosures = vec!["https://img.example/1.jpg".into()];
        let c = compare(&old, &enclosure).unwrap_or_else(|| panic!("enclosure differs"));
        assert_eq!(
            c.fields,
            vec![FieldChange {
                field: Field::Enclosure,
                class: ChangeClass::Typo
            }]
        );
    }

    #[test]
    fn fields_are_listed_in_field_order_and_class_is_the_max() {
        let old = story(TITLE, BODY);
        let mut new = story(
            &TITLE.replace("France", "Frnace"),
            &format!("{BODY} Two more towns were evacuated today."),
        );
        new.updated = Some(1);
        new.link = "https://news.example/b".into();
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        let fields: Vec<Field> = c.fields.iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            vec![Field::Title, Field::Summary, Field::Link, Field::Updated]
        );
        assert_eq!(c.class, ChangeClass::Major);
        assert_eq!(c.fields[0].class, ChangeClass::Typo);
    }

    #[test]
    fn content_is_the_body_when_longer() {
        let mut old = story(TITLE, "Short summary.");
        old.content = BODY.into();
        let mut new = old.clone();
        new.content = format!("{BODY} Rain is forecast for Friday evening.");
        let c = compare(&old, &new).unwrap_or_else(|| panic!("changed"));
        assert_eq!(
            c.fields,
            vec![FieldChange {
                field: Field::Content,
                class: ChangeClass::Major
            }]
        );
        assert_eq!(
            c.sentences.added,
            vec!["Rain is forecast for Friday evening.".to_string()]
        );
        assert!(c.body.as_ref().is_some_and(|d| d.words_added() == 6));
    }

    #[test]
    fn scores_follow_classes_and_amounts() {
        let typo = compare_title("Wildfires force more than 200,000 to flee homes in Frnace").score;
        let minor_body = compare_body(&BODY.replace("battling", "fighting")).score;
        let minor_title =
            compare_title("Wildfires force more than 200,000 to leave homes in France").score;
        let major_small =
            compare_title("Wildfires force more than 300,000 to flee homes in France").score;
        let major_big =
            compare_title("Firefighters contain Bordeaux blaze as residents return").score;
        assert!(typo < 0.1, "{typo}");
        assert!((0.1..0.5).contains(&minor_body), "{minor_body}");
        assert!(
            minor_body < minor_title,
            "title edits weigh more: {minor_body} {minor_title}"
        );
        assert!(
            minor_title < 0.5 && major_small >= 0.5,
            "{minor_title} {major_small}"
        );
        assert!(
            major_small < major_big && major_big <= 1.0,
            "{major_small} {major_big}"
        );
        let one = compare_body(&format!("{BODY} A second fire broke out near Toulouse.")).score;
        let two = compare_body(&format!(
            "{BODY} A second fire broke out near Toulouse. Schools shut in Pau."
        ))
        .score;
        assert!(one < two, "{one} {two}");
    }

    #[test]
    fn developing_signals() {
        let yes = [
            ("Storm latest: roads closed", ""),
            ("BREAKING Storm hits", ""),
            (
                "Storm hits",
                "This is a developing story and will be updated.",
            ),
            ("Live: storm hits coast", ""),
            ("Storm live updates", ""),
            ("UPDATE: Storm hits", ""),
            ("Storm hits", "Breaking news from the coast."),
        ];
        for (title, body) in yes {
            assert!(
                has_developing_signal(&story(title, body)),
                "{title:?} {body:?}"
            );
        }
        let no = [
            (
                "Groundbreaking study on sleep",
                "A new approach to the update of maps.",
            ),
            ("Storm hits coast", "Residents were told to stay indoors."),
            ("She lives in Paris", "Deliver the latest model."),
        ];
        for (title, body) in no {
            assert!(
                !has_developing_signal(&story(title, body)),
                "{title:?} {body:?}"
            );
        }
    }

    #[test]
    fn edit_distance_and_small_edits() {
        // a swap of neighbours is one edit ("teh"), as it is for a reader
        assert_eq!(strsim::osa_distance("Zelensky", "Zelenskyy"), 1);
        assert_eq!(strsim::osa_distance("teh", "the"), 1);
        assert_eq!(strsim::osa_distance("kitten", "sitting"), 3);
        assert!(is_small_edit("zelensky", "zelenskyy"));
        assert!(is_small_edit("teh", "the"));
        assert!(!is_small_edit("he", "she"));
        assert!(!is_small_edit("drop", "fall"));
        assert!(!is_small_edit("2015", "2013"));
    }

    fn snapshot_strategy() -> impl Strategy<Value = Snapshot> {
        let text = "\\PC{0,60}|(fire|200,000|not|The|\\.|,| ){0,20}";
        (
            text,
            text,
            text,
            "[a-z]{0,3}",
            proptest::option::of(0i64..3),
        )
            .prop_map(|(title, summary, content, link, updated)| Snapshot {
                title,
                summary,
                content,
                link,
                updated,
                ..Snapshot::default()
            })
    }

    proptest! {
        #[test]
        fn compare_with_itself_is_none(s in snapshot_strategy()) {
            prop_assert_eq!(compare(&s, &s.clone()), None);
        }

        #[test]
        fn compare_never_panics_and_scores_stay_in_range(a in snapshot_strategy(), b in snapshot_strategy()) {
            if let Some(c) = compare(&a, &b) {
                prop_assert!((0.0..=1.0).contains(&c.score));
                prop_assert!(!c.fields.is_empty());
                let (low, high) = band(c.class);
                prop_assert!(c.dates_only || (low..=high).contains(&c.score));
                let _ = has_developing_signal(&b);
            } else {
                prop_assert_eq!(a, b);
            }
        }
    }
}
