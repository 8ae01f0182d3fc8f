//! `WatchSet`: every watch of a config, compiled once, evaluated per story.
//!
//! A daemon with a thousand watches sees every story of every feed, and
//! nearly every story matches nearly no watch. So the work is split:
//!
//! 1. [`WatchSet::new`] (once per config load) turns each [`Query`] into a
//!    tree of shared *atoms* (a term, a `NEAR` pair or a regex, with the
//!    fields it looks at) and builds a dictionary from folded word and
//!    prefix to a *key*, and from key to the watches it can trigger.
//! 2. [`WatchSet::prepare`] (once per story) folds and tokenises each field
//!    once and looks every token up in that dictionary, keeping only the
//!    hits: a sorted list of (key, field instance, token position).
//! 3. [`WatchSet::matching`] evaluates in full only the watches one of whose
//!    keys occurred, plus those that can match without any (`NOT sport`,
//!    `a OR NOT b`, regex-only). Atom results are cached per story, since
//!    many watches share terms.
//!
//! Correctness never depends on the index: a watch is skipped only when a
//! match would require one of its keys to occur and none did (tests check
//! [`WatchSet::matching`] against [`WatchSet::check`] on random input).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::text::fold::Folded;
use crate::watch::query::{DocField, Query, Term, MIN_PREFIX_CHARS};

/// At most this many highlights per hit (overlapping ones merged first):
/// enough to render an alert, bounded for a story that repeats a word 1,000
/// times.
pub const MAX_HIGHLIGHTS: usize = 64;

/// A set of [`DocField`]s as bits.
type FieldMask = u8;

fn bit(field: DocField) -> FieldMask {
    1 << field as u8
}

/// Unscoped terms search the story's text, not its metadata: a watch for
/// `smith` should not fire on every story by a reporter called Smith.
const UNSCOPED: FieldMask =
    1 << DocField::Title as u8 | 1 << DocField::Summary as u8 | 1 << DocField::Content as u8;

/// One story version as the matcher sees it. Text is plain (already
/// HTML-stripped and normalised upstream).
#[derive(Debug, Clone, Copy, Default)]
pub struct Doc<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub content: &'a str,
    pub authors: &'a [String],
    pub categories: &'a [String],
    pub feed: &'a str,
    pub tags: &'a [String],
}

/// Where a watch matched: byte offsets into the ORIGINAL field string (for
/// authors, categories and tags: within element `index`; 0 otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    pub field: DocField,
    pub index: usize,
    pub start: usize,
    pub end: usize,
    /// `original[start..end]`, so a renderer needs nothing else.
    pub text: String,
}

/// A watch that matched a story, with what to highlight (empty when it
/// matched only through `NOT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub watch: usize,
    pub highlights: Vec<Highlight>,
}

/// A story folded and looked up once, ready for any number of watches of
/// the [`WatchSet`] that prepared it. (Given to another set it still works,
/// at the cost of repeating the dictionary lookups.)
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    set_id: u64,
    slots: Vec<Slot<'a>>,
    occurrences: Vec<Occurrence>,
}

/// One field instance: the title, or the 2nd author, …
#[derive(Debug, Clone)]
struct Slot<'a> {
    field: DocField,
    index: usize,
    original: &'a str,
    folded: Folded,
}

/// A dictionary key found at token `token` of slot `slot`. Sorted by key
/// first so that all places of one key are one binary search away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Occurrence {
    key: usize,
    slot: usize,
    token: usize,
}

/// A match in token positions `start..end` of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    slot: usize,
    start: usize,
    end: usize,
}

/// A match in original byte offsets of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mark {
    slot: usize,
    start: usize,
    end: usize,
}

/// A compiled query: boolean structure over atoms shared by all watches.
#[derive(Debug, Clone)]
enum Node {
    Atom(usize),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone)]
struct Atom {
    fields: FieldMask,
    kind: AtomKind,
}

#[derive(Debug, Clone)]
enum AtomKind {
    Term(CompiledTerm),
    Near {
        left: CompiledTerm,
        right: CompiledTerm,
        distance: usize,
    },
    Regex(regex::Regex),
}

impl AtomKind {
    /// The key whose occurrence is necessary for this atom to match.
    fn trigger(&self) -> Option<usize> {
        match self {
            AtomKind::Term(t) => Some(t.key),
            AtomKind::Near { left, .. } => Some(left.key),
            AtomKind::Regex(_) => None,
        }
    }
}

/// A word, phrase or prefix as positions to check. `words[anchor]` is looked
/// up in the dictionary (its `key`); the other words of a phrase are
/// compared around it. A prefix is a single "word" whose key is in the
/// prefix dictionary.
#[derive(Debug, Clone)]
struct CompiledTerm {
    key: usize,
    anchor: usize,
    words: Vec<Box<str>>,
}

/// FxHash (`rustc-hash`, as in rustc): the dictionary is probed for every
/// token of every story, and SipHash would be most of the cost. Hash
/// flooding is no concern here: the table's contents come from the config,
/// stories only probe it, so hostile text cannot make it degrade.
type Dictionary = FxHashMap<Box<str>, usize>;

/// Distinguishes sets so a [`Prepared`] from another set is recognised.
static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

/// All watches of a config, compiled for fast evaluation.
#[derive(Debug, Clone)]
pub struct WatchSet {
    id: u64,
    queries: Vec<Query>,
    roots: Vec<Node>,
    atoms: Vec<Atom>,
    words: Dictionary,
    prefixes: Dictionary,
    /// Longest prefix in bytes: tokens are probed only up to it.
    max_prefix_len: usize,
    /// One bit per possible first two bytes of a prefix: most tokens start
    /// like no prefix and skip the prefix lookups altogether.
    prefix_starts: Vec<u64>,
    /// Key → watches that occurrence of the key may make match.
    triggers: Vec<Vec<usize>>,
    /// Watches that may match without any key occurring.
    always: Vec<usize>,
}

impl Default for WatchSet {
    fn default() -> Self {
        WatchSet::new(Vec::new())
    }
}

impl WatchSet {
    /// Compiles the watches; watch `i` is `queries[i]`.
    pub fn new(queries: Vec<Query>) -> WatchSet {
        let mut compiler = Compiler::default();
        let mut roots = Vec::with_capacity(queries.len());
        let mut always = Vec::new();
        for (watch, query) in queries.iter().enumerate() {
            let root = compiler.node(query, UNSCOPED, false, watch);
            if !compiler.indexable(&root) {
                always.push(watch);
            }
            roots.push(root);
        }
        for list in &mut compiler.triggers {
            list.sort_unstable();
            list.dedup();
        }
        let mut prefix_starts = vec![0u64; 1 << 10];
        for prefix in compiler.prefixes.keys() {
            if let Some(bit) = two_byte_index(prefix) {
                prefix_starts[bit / 64] |= 1 << (bit % 64);
            }
        }
        WatchSet {
            id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed),
            prefix_starts,
            queries,
            roots,
            atoms: compiler.atoms,
            max_prefix_len: compiler.prefixes.keys().map(|k| k.len()).max().unwrap_or(0),
            words: compiler.words,
            prefixes: compiler.prefixes,
            triggers: compiler.triggers,
            always,
        }
    }

    /// Number of watches.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The query of watch `watch`.
    pub fn query(&self, watch: usize) -> Option<&Query> {
        self.queries.get(watch)
    }

    /// Folds and tokenises each field of `doc` once and finds the
    /// dictionary words in it.
    pub fn prepare<'a>(&self, doc: &Doc<'a>) -> Prepared<'a> {
        let mut slots =
            Vec::with_capacity(4 + doc.authors.len() + doc.categories.len() + doc.tags.len());
        let mut add = |field, index, original: &'a str| {
            if !original.is_empty() {
                slots.push(Slot {
                    field,
                    index,
                    original,
                    folded: Folded::new(original),
                });
            }
        };
        add(DocField::Title, 0, doc.title);
        add(DocField::Summary, 0, doc.summary);
        add(DocField::Content, 0, doc.content);
        for (i, s) in doc.authors.iter().enumerate() {
            add(DocField::Author, i, s);
        }
        for (i, s) in doc.categories.iter().enumerate() {
            add(DocField::Category, i, s);
        }
        add(DocField::Feed, 0, doc.feed);
        for (i, s) in doc.tags.iter().enumerate() {
            add(DocField::Tag, i, s);
        }
        let occurrences = self.occurrences(&slots);
        Prepared {
            set_id: self.id,
            slots,
            occurrences,
        }
    }

    /// Every watch that matches, in ascending watch order, with highlights.
    pub fn matching(&self, doc: &Prepared) -> Vec<Hit> {
        let occurrences = self.occurrences_for(doc);
        let candidates = self.candidates(&occurrences);
        let mut eval = Eval::new(self, doc, &occurrences);
        let mut hits = Vec::new();
        for (i, bits) in candidates.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let watch = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                hits.extend(eval.hit(watch));
            }
        }
        hits
    }

    /// Evaluates one watch (`None` if it does not match or does not exist).
    pub fn check(&self, watch: usize, doc: &Prepared) -> Option<Hit> {
        let occurrences = self.occurrences_for(doc);
        Eval::new(self, doc, &occurrences).hit(watch)
    }

    fn occurrences_for<'p>(&self, doc: &'p Prepared) -> Cow<'p, [Occurrence]> {
        if doc.set_id == self.id {
            Cow::Borrowed(&doc.occurrences)
        } else {
            Cow::Owned(self.occurrences(&doc.slots))
        }
    }

    /// Looks every token up as a word and, up to the longest prefix, as a
    /// prefix.
    fn occurrences(&self, slots: &[Slot]) -> Vec<Occurrence> {
        let mut out = Vec::new();
        for (slot, s) in slots.iter().enumerate() {
            for token in 0..s.folded.tokens().len() {
                let text = s.folded.token_str(token);
                if let Some(&key) = self.words.get(text) {
                    out.push(Occurrence { key, slot, token });
                }
                if self.may_start_prefix(text) {
                    self.prefix_keys(text, |key| out.push(Occurrence { key, slot, token }));
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn may_start_prefix(&self, token: &str) -> bool {
        two_byte_index(token).is_some_and(|bit| {
            self.prefix_starts
                .get(bit / 64)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
    }

    fn prefix_keys(&self, token: &str, mut found: impl FnMut(usize)) {
        for (chars, (at, c)) in token.char_indices().enumerate() {
            let end = at + c.len_utf8();
            if end > self.max_prefix_len {
                break;
            }
            if chars + 1 >= MIN_PREFIX_CHARS {
                if let Some(&key) = token.get(..end).and_then(|p| self.prefixes.get(p)) {
                    found(key);
                }
            }
        }
    }

    /// Bitset of the watches worth evaluating.
    fn candidates(&self, occurrences: &[Occurrence]) -> Vec<u64> {
        let mut bits = vec![0u64; self.roots.len().div_ceil(64)];
        let mut set = |w: usize| {
            if let Some(b) = bits.get_mut(w / 64) {
                *b |= 1 << (w % 64);
            }
        };
        self.always.iter().for_each(|&w| set(w));
        let mut last = None;
        for o in occurrences {
            if last != Some(o.key) {
                last = Some(o.key);
                if let Some(watches) = self.triggers.get(o.key) {
                    watches.iter().for_each(|&w| set(w));
                }
            }
        }
        bits
    }
}

/// The first two bytes of `text` as a number below 2^16 (every prefix has
/// at least two characters, so at least two bytes).
fn two_byte_index(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    Some(usize::from(*bytes.first()?) << 8 | usize::from(*bytes.get(1)?))
}

/// Builds atoms, dictionaries and triggers from queries.
#[derive(Default)]
struct Compiler {
    atoms: Vec<Atom>,
    atom_ids: HashMap<String, usize>,
    words: Dictionary,
    prefixes: Dictionary,
    triggers: Vec<Vec<usize>>,
}

impl Compiler {
    fn key(&mut self, text: &str, prefix: bool) -> usize {
        let next = self.triggers.len();
        let dict = if prefix {
            &mut self.prefixes
        } else {
            &mut self.words
        };
        let key = *dict.entry(text.into()).or_insert(next);
        if key == next {
            self.triggers.push(Vec::new());
        }
        key
    }

    fn term(&mut self, term: &Term) -> CompiledTerm {
        let (words, prefix): (Vec<&str>, bool) = match term {
            Term::Word(w) => (vec![w.as_str()], false),
            Term::Prefix(p) => (vec![p.as_str()], true),
            Term::Phrase(ws) => (ws.iter().map(String::as_str).collect(), false),
        };
        // The longest word of a phrase is likely the rarest: it is the one
        // looked up, so common words ("the") rarely trigger evaluation.
        let anchor = words
            .iter()
            .enumerate()
            .max_by_key(|(i, w)| (w.len(), usize::MAX - i))
            .map_or(0, |(i, _)| i);
        let key = self.key(words.get(anchor).copied().unwrap_or(""), prefix);
        CompiledTerm {
            key,
            anchor,
            words: words.into_iter().map(Box::from).collect(),
        }
    }

    /// Compiles `query` looking at `fields`; atoms in positive
    /// (non-negated) positions register `watch` under their key.
    fn node(&mut self, query: &Query, fields: FieldMask, negated: bool, watch: usize) -> Node {
        let atom = match query {
            Query::Scope { field, query } => return self.node(query, bit(*field), negated, watch),
            Query::Not(q) => return Node::Not(Box::new(self.node(q, fields, !negated, watch))),
            Query::And(qs) => {
                return Node::And(
                    qs.iter()
                        .map(|q| self.node(q, fields, negated, watch))
                        .collect(),
                )
            }
            Query::Or(qs) => {
                return Node::Or(
                    qs.iter()
                        .map(|q| self.node(q, fields, negated, watch))
                        .collect(),
                )
            }
            leaf => self.atom(leaf, fields),
        };
        if !negated {
            let trigger = self.atoms.get(atom).and_then(|a| a.kind.trigger());
            if let Some(list) = trigger.and_then(|k| self.triggers.get_mut(k)) {
                list.push(watch);
            }
        }
        Node::Atom(atom)
    }

    /// Interns a leaf (term, NEAR or regex) with its fields.
    fn atom(&mut self, leaf: &Query, fields: FieldMask) -> usize {
        let id = format!("{fields}|{leaf}");
        if let Some(&existing) = self.atom_ids.get(&id) {
            return existing;
        }
        let kind = match leaf {
            Query::Term(t) => AtomKind::Term(self.term(t)),
            Query::Near {
                left,
                right,
                distance,
            } => AtomKind::Near {
                left: self.term(left),
                right: self.term(right),
                distance: *distance as usize,
            },
            Query::Regex(p) => AtomKind::Regex(p.regex().clone()),
            // `node` handles every other variant before calling here; an
            // empty OR is the faithful stand-in (matches nothing).
            _ => return self.never(),
        };
        self.atoms.push(Atom { fields, kind });
        self.atom_ids.insert(id, self.atoms.len() - 1);
        self.atoms.len() - 1
    }

    fn never(&mut self) -> usize {
        let key = self.key("", false);
        self.atoms.push(Atom {
            fields: 0,
            kind: AtomKind::Term(CompiledTerm {
                key,
                anchor: 0,
                words: vec![Box::from("")],
            }),
        });
        self.atoms.len() - 1
    }

    /// True when the node can only match if one of the keys registered for
    /// it occurs; otherwise its watch is evaluated for every story.
    fn indexable(&self, node: &Node) -> bool {
        match node {
            Node::Atom(a) => self
                .atoms
                .get(*a)
                .is_some_and(|a| a.kind.trigger().is_some()),
            Node::And(items) => items.iter().any(|n| self.indexable(n)),
            Node::Or(items) => items.iter().all(|n| self.indexable(n)),
            Node::Not(_) => false,
        }
    }
}

/// Evaluation of watches over one prepared story. Each atom is looked for
/// at most once per story (many watches share atoms), and where it matched
/// is kept for highlights; the buffers are reused across watches.
struct Eval<'w, 'p, 'a> {
    set: &'w WatchSet,
    doc: &'p Prepared<'a>,
    occurrences: &'p [Occurrence],
    /// Per atom: index into `ranges` once looked for, else `u32::MAX`.
    /// Four bytes per atom: this is reset for every story.
    cache: Vec<u32>,
    /// Ranges of `found`, one per atom looked for.
    ranges: Vec<(usize, usize)>,
    /// Where atoms matched (up to [`MAX_HIGHLIGHTS`] each).
    found: Vec<Mark>,
    spans: Vec<Span>,
    hit_marks: Vec<Mark>,
}

impl<'w, 'p, 'a> Eval<'w, 'p, 'a> {
    fn new(set: &'w WatchSet, doc: &'p Prepared<'a>, occurrences: &'p [Occurrence]) -> Self {
        Eval {
            set,
            doc,
            occurrences,
            cache: vec![u32::MAX; set.atoms.len()],
            ranges: Vec::new(),
            found: Vec::new(),
            spans: Vec::new(),
            hit_marks: Vec::new(),
        }
    }

    fn hit(&mut self, watch: usize) -> Option<Hit> {
        let root = self.set.roots.get(watch)?;
        if !self.eval(root) {
            return None;
        }
        let mut marks = std::mem::take(&mut self.hit_marks);
        marks.clear();
        self.collect(root, &mut marks);
        let highlights = self.highlights(&mut marks);
        self.hit_marks = marks;
        Some(Hit { watch, highlights })
    }

    fn eval(&mut self, node: &Node) -> bool {
        match node {
            Node::Atom(a) => self.atom_matches(*a),
            Node::And(items) => items.iter().all(|n| self.eval(n)),
            Node::Or(items) => items.iter().any(|n| self.eval(n)),
            Node::Not(n) => !self.eval(n),
        }
    }

    fn atom_matches(&mut self, atom: usize) -> bool {
        let (start, end) = self.atom_range(atom);
        end > start
    }

    /// The range of `found` holding where `atom` matched, looking once.
    fn atom_range(&mut self, atom: usize) -> (usize, usize) {
        if let Some(range) = self
            .cache
            .get(atom)
            .and_then(|&i| self.ranges.get(i as usize))
        {
            return *range;
        }
        let start = self.found.len();
        let set = self.set;
        if let Some(a) = set.atoms.get(atom) {
            self.find(a);
        }
        let range = (start, self.found.len());
        if let (Some(entry), Ok(index)) =
            (self.cache.get_mut(atom), u32::try_from(self.ranges.len()))
        {
            *entry = index;
            self.ranges.push(range);
        }
        range
    }

    /// Gathers highlights from the atoms that make a matching node match
    /// (nothing under `NOT`).
    fn collect(&mut self, node: &Node, marks: &mut Vec<Mark>) {
        match node {
            Node::Atom(a) => {
                let (start, end) = self.atom_range(*a);
                marks.extend_from_slice(self.found.get(start..end).unwrap_or(&[]));
            }
            Node::And(items) | Node::Or(items) => {
                for item in items {
                    if self.eval(item) {
                        self.collect(item, marks);
                    }
                }
            }
            Node::Not(_) => {}
        }
    }

    /// Appends to `found` where `atom` matches, up to about
    /// [`MAX_HIGHLIGHTS`] places.
    fn find(&mut self, atom: &Atom) {
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        match &atom.kind {
            AtomKind::Term(t) => self.term_spans(t, atom.fields, MAX_HIGHLIGHTS, &mut spans),
            AtomKind::Near {
                left,
                right,
                distance,
            } => self.near_spans(
                left,
                right,
                *distance,
                atom.fields,
                MAX_HIGHLIGHTS,
                &mut spans,
            ),
            AtomKind::Regex(re) => {
                let mut found = std::mem::take(&mut self.found);
                self.regex_marks(re, atom.fields, MAX_HIGHLIGHTS, &mut found);
                self.found = found;
            }
        }
        for span in &spans {
            if let Some(mark) = self.mark(*span) {
                self.found.push(mark);
            }
        }
        self.spans = spans;
    }

    fn mark(&self, span: Span) -> Option<Mark> {
        let tokens = self.doc.slots.get(span.slot)?.folded.tokens();
        Some(Mark {
            slot: span.slot,
            start: tokens.get(span.start)?.orig_start,
            end: tokens.get(span.end.checked_sub(1)?)?.orig_end,
        })
    }

    fn term_spans(
        &self,
        term: &CompiledTerm,
        fields: FieldMask,
        limit: usize,
        out: &mut Vec<Span>,
    ) {
        let lo = self.occurrences.partition_point(|o| o.key < term.key);
        let hi = self.occurrences.partition_point(|o| o.key <= term.key);
        for o in self.occurrences.get(lo..hi).unwrap_or(&[]) {
            if out.len() >= limit {
                return;
            }
            let Some(slot) = self.doc.slots.get(o.slot) else {
                continue;
            };
            if fields & bit(slot.field) == 0 {
                continue;
            }
            let Some(start) = o.token.checked_sub(term.anchor) else {
                continue;
            };
            let end = start + term.words.len();
            let fits = end <= slot.folded.tokens().len()
                && term
                    .words
                    .iter()
                    .enumerate()
                    .all(|(i, w)| i == term.anchor || slot.folded.token_str(start + i) == &**w);
            if fits {
                out.push(Span {
                    slot: o.slot,
                    start,
                    end,
                });
            }
        }
    }

    /// Pairs of left/right matches in the same slot with at most `distance`
    /// tokens between them, in either order. For each left match only the
    /// nearest right match on each side needs checking (right matches are
    /// sorted by position), so this is O(n log m) even for a story that
    /// repeats both words thousands of times.
    fn near_spans(
        &self,
        left: &CompiledTerm,
        right: &CompiledTerm,
        distance: usize,
        fields: FieldMask,
        limit: usize,
        out: &mut Vec<Span>,
    ) {
        let mut ls = Vec::new();
        self.term_spans(left, fields, usize::MAX, &mut ls);
        if ls.is_empty() {
            return;
        }
        let mut rs = Vec::new();
        self.term_spans(right, fields, usize::MAX, &mut rs);
        for l in &ls {
            if out.len() >= limit {
                return;
            }
            let after = rs.partition_point(|r| (r.slot, r.start) < (l.slot, l.end));
            if let Some(r) = rs.get(after) {
                if r.slot == l.slot && r.start - l.end <= distance {
                    out.extend([*l, *r]);
                    continue;
                }
            }
            let before = rs.partition_point(|r| (r.slot, r.end) <= (l.slot, l.start));
            if let Some(r) = before.checked_sub(1).and_then(|i| rs.get(i)) {
                if r.slot == l.slot && l.start - r.end <= distance {
                    out.extend([*r, *l]);
                }
            }
        }
    }

    fn regex_marks(&self, re: &regex::Regex, fields: FieldMask, limit: usize, out: &mut Vec<Mark>) {
        let mut found = 0;
        for (slot, s) in self.doc.slots.iter().enumerate() {
            if fields & bit(s.field) == 0 {
                continue;
            }
            for m in re.find_iter(s.folded.text()) {
                if found >= limit {
                    return;
                }
                found += 1;
                let (start, end) = s.folded.original_range(s.original, m.start(), m.end());
                out.push(Mark { slot, start, end });
            }
        }
    }

    /// Sorts marks, merges overlapping ones and turns them into highlights.
    fn highlights(&self, marks: &mut Vec<Mark>) -> Vec<Highlight> {
        marks.sort_unstable();
        marks.dedup_by(|next, kept| {
            let overlaps = kept.slot == next.slot && next.start < kept.end;
            if overlaps {
                kept.end = kept.end.max(next.end);
            }
            overlaps
        });
        marks
            .iter()
            .filter(|m| m.start < m.end)
            .filter_map(|m| {
                let slot = self.doc.slots.get(m.slot)?;
                Some(Highlight {
                    field: slot.field,
                    index: slot.index,
                    start: m.start,
                    end: m.end,
                    text: slot.original.get(m.start..m.end)?.to_string(),
                })
            })
            .take(MAX_HIGHLIGHTS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::query::{from_lists, parse, Pattern};
    use proptest::prelude::*;

    /// A story owning its strings, for tests.
    #[derive(Debug, Clone, Default)]
    struct Story {
        title: String,
        summary: String,
        content: String,
        authors: Vec<String>,
        categories: Vec<String>,
        feed: String,
        tags: Vec<String>,
    }

    impl Story {
        fn text(content: &str) -> Story {
            Story {
                content: content.into(),
                ..Story::default()
            }
        }

        fn doc(&self) -> Doc<'_> {
            Doc {
                title: &self.title,
                summary: &self.summary,
                content: &self.content,
                authors: &self.authors,
                categories: &self.categories,
                feed: &self.feed,
                tags: &self.tags,
            }
        }

        fn map(&self, f: impl Fn(&str) -> String) -> Story {
            let all = |v: &[String]| v.iter().map(|s| f(s)).collect();
            Story {
                title: f(&self.title),
                summary: f(&self.summary),
                content: f(&self.content),
                authors: all(&self.authors),
                categories: all(&self.categories),
                feed: f(&self.feed),
                tags: all(&self.tags),
            }
        }
    }

    fn q(src: &str) -> Query {
        parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn hit(query: &str, story: &Story) -> Option<Hit> {
        let set = WatchSet::new(vec![q(query)]);
        let prepared = set.prepare(&story.doc());
        let from_index = set.matching(&prepared).into_iter().next();
        let direct = set.check(0, &prepared);
        assert_eq!(from_index, direct, "index and check disagree for {query:?}");
        direct
    }

    fn matches(query: &str, content: &str) -> bool {
        hit(query, &Story::text(content)).is_some()
    }

    fn texts(h: &Option<Hit>) -> Vec<String> {
        h.iter()
            .flat_map(|h| h.highlights.iter().map(|x| x.text.clone()))
            .collect()
    }

    #[test]
    fn words_respect_word_boundaries() {
        assert!(matches("war", "The war goes on."));
        assert!(!matches("war", "New software released"));
        assert!(!matches("war", "Star Wars"));
        assert!(matches("war*", "Star Wars"));
        assert!(matches("war", "war-torn city"));
    }

    #[test]
    fn case_and_accent_insensitive() {
        assert!(matches("Kyiv", "KYIV said"));
        assert!(matches("KYIV", "in kyiv"));
        assert!(matches("Ümlaut", "umlaut"));
        assert!(matches("umlaut", "ÜMLAUT"));
        assert!(matches("café", "the cafe"));
        assert!(matches("cafe", "the CAFÉ"));
        assert!(matches("cafe", "the cafe\u{301}"));
        assert!(matches("strasse", "Die Straße"));
        assert!(matches("Straße", "STRASSE"));
        assert!(matches("aether", "Æther"));
        assert!(matches("oresund", "Øresund"));
        assert!(matches("lodz", "Łódź"));
    }

    #[test]
    fn punctuation_and_hyphenation() {
        assert!(matches("\"north korean\"", "North-Korean troops"));
        assert!(matches("North-Korean", "north korean troops"));
        assert!(matches("don't", "I don’t know"));
        assert!(matches("\"don’t\"", "I DON'T know"));
        assert!(matches("russia", "Russia's army"));
        assert!(matches("U.S.", "the U.S. said"));
        assert!(!matches("us", "the U.S. said"));
        assert!(matches("1,000", "1,000 troops"));
    }

    #[test]
    fn phrases_need_consecutive_tokens() {
        assert!(matches("\"north korea\"", "North Korea"));
        assert!(!matches("\"north korea\"", "north of korea"));
        assert!(!matches("\"north korea\"", "korea north"));
        assert!(matches("\"the war in ukraine\"", "and the war in Ukraine."));
        assert!(!matches("\"the war in ukraine\"", "the war in"));
    }

    #[test]
    fn boolean_operators() {
        let s = "Troops near Kyiv";
        assert!(matches("kyiv AND troops", s));
        assert!(matches("kyiv troops", s));
        assert!(!matches("kyiv AND tanks", s));
        assert!(matches("kyiv OR tanks", s));
        assert!(matches("tanks OR kyiv", s));
        assert!(!matches("tanks OR planes", s));
        assert!(matches("kyiv NOT tanks", s));
        assert!(!matches("kyiv NOT troops", s));
        assert!(!matches("kyiv -troops", s));
        assert!(matches("kyiv -\"near troops\"", s));
        assert!(!matches("kyiv -\"troops near\"", s));
    }

    #[test]
    fn precedence() {
        // a OR (b AND c)
        assert!(matches("tanks OR kyiv troops", "Troops in Kyiv"));
        assert!(matches("tanks OR kyiv troops", "tanks"));
        assert!(!matches("tanks OR kyiv troops", "kyiv"));
        // (a OR b) AND c
        assert!(!matches("(tanks OR kyiv) troops", "tanks"));
        // NOT binds tighter than AND
        assert!(matches("NOT tanks kyiv", "kyiv"));
        assert!(!matches("NOT tanks kyiv", "tanks"));
    }

    #[test]
    fn not_only_queries_match_without_any_term() {
        assert!(matches("-sport", "Election results"));
        assert!(!matches("-sport", "Sport results"));
        assert!(matches("NOT (sport OR football)", "Elections"));
        assert!(matches("kyiv OR NOT sport", "Elections"));
        assert!(matches("NOT NOT kyiv", "in Kyiv"));
        assert!(!matches("NOT NOT kyiv", "in Lviv"));
    }

    #[test]
    fn field_scopes() {
        let story = Story {
            title: "Kyiv under attack".into(),
            content: "Missiles hit the capital.".into(),
            authors: vec!["Jane Smith".into(), "Olena Kovalenko".into()],
            categories: vec!["World".into(), "Europe".into()],
            feed: "BBC News".into(),
            tags: vec!["ukraine-war".into()],
            ..Story::default()
        };
        let yes = |query: &str| assert!(hit(query, &story).is_some(), "{query}");
        let no = |query: &str| assert!(hit(query, &story).is_none(), "{query}");
        yes("title:kyiv");
        no("content:kyiv");
        no("summary:kyiv");
        yes("title:(lviv OR kyiv)");
        yes("content:missiles");
        yes("author:smith");
        no("smith");
        yes("author:\"olena kovalenko\"");
        no("author:\"smith olena\"");
        yes("category:europe");
        no("europe");
        yes("feed:bbc");
        yes("tag:\"ukraine war\"");
        no("tag:ukraine tag:missiles");
        // The innermost scope wins.
        yes("content:(missiles AND title:kyiv)");
        no("title:(content:kyiv)");
    }

    #[test]
    fn prefixes() {
        assert!(matches("kurs*", "Kursk region"));
        assert!(matches("kurs*", "KURS"));
        assert!(!matches("kurs*", "Akursk"));
        assert!(matches("über*", "Uberlingen"));
        assert!(matches("straß*", "Strassenbahn"));
        assert!(matches("ku* AND kurs*", "kursk"));
    }

    #[test]
    fn near_in_both_orders_and_distance() {
        let q = "\"north korea\" NEAR/3 troops";
        assert!(matches(q, "North Korea sends troops"));
        assert!(matches(q, "troops from North Korea"));
        assert!(matches(q, "North Korea has sent many troops"));
        assert!(!matches(q, "North Korea has sent very many troops"));
        assert!(!matches(q, "troops went to the south of North Korea"));
        assert!(matches(q, "troops went to North Korea"));
        assert!(matches("a NEAR/0 b", "b a"));
        assert!(!matches("a NEAR/0 b", "a x b"));
        assert!(matches("kurs* NEAR/1 attack", "attack on Kursk"));
        assert!(matches(
            "kyiv NEAR troops",
            &format!("kyiv {}troops", "x ".repeat(10))
        ));
        assert!(!matches(
            "kyiv NEAR troops",
            &format!("kyiv {}troops", "x ".repeat(11))
        ));
        // Same word needs two occurrences.
        assert!(!matches("kyiv NEAR kyiv", "Kyiv"));
        assert!(matches("kyiv NEAR/2 kyiv", "Kyiv, Kyiv"));
    }

    #[test]
    fn near_stays_within_one_field_instance() {
        let story = Story {
            title: "North Korea".into(),
            content: "troops".into(),
            tags: vec!["north korea".into(), "troops".into()],
            ..Story::default()
        };
        assert!(hit("\"north korea\" NEAR troops", &story).is_none());
        assert!(hit("tag:(\"north korea\" NEAR troops)", &story).is_none());
        let story = Story {
            title: "a".into(),
            summary: "b".into(),
            ..Story::default()
        };
        assert!(hit("a NEAR b", &story).is_none());
        assert!(hit("a b", &story).is_some());
    }

    #[test]
    fn regex_runs_over_folded_text() {
        assert!(matches("/kyi?v/", "KYV"));
        assert!(matches("/caf[eé]/", "Café"));
        assert!(matches("/\\bnorth-korea/", "North–Korea"));
        assert!(!matches("/^kyiv$/", "in kyiv"));
        let story = Story {
            title: "Kyiv".into(),
            content: "Lviv".into(),
            ..Story::default()
        };
        assert!(hit("title:/k.iv/", &story).is_some());
        assert!(hit("title:/l.iv/", &story).is_none());
        let h = hit("/stra(ss|ß)e/", &Story::text("Die Hauptstraße ist zu"));
        let h = h.as_ref().map(|h| h.highlights.clone()).unwrap_or_default();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].text, "straße");
        assert_eq!((h[0].start, h[0].end), (9, 16));
    }

    #[test]
    fn regex_highlights_deep_in_long_text() {
        let content = format!(
            "{}Die Straße. {}Kyïv",
            "Grüße aus Köln. ".repeat(500),
            "x ".repeat(300)
        );
        let h = hit("/stra(ss|ß)e|kyiv/", &Story::text(&content));
        let h = h.map(|h| h.highlights).unwrap_or_default();
        assert_eq!(h.len(), 2);
        for x in &h {
            assert_eq!(&content[x.start..x.end], x.text);
        }
        assert_eq!(h[0].text, "Straße");
        assert_eq!(h[1].text, "Kyïv");
    }

    #[test]
    fn list_form_matches() {
        let query = from_lists(
            &["Kyiv".into(), "Kiev".into()],
            &["troops".into()],
            &["world cup".into()],
        );
        let set = WatchSet::new(query.into_iter().collect());
        let run = |text: &str| {
            let story = Story::text(text);
            let prepared = set.prepare(&story.doc());
            !set.matching(&prepared).is_empty()
        };
        assert!(run("troops in Kiev"));
        assert!(!run("troops in Lviv"));
        assert!(!run("Kyiv troops at the World Cup"));
        assert!(run("Kyiv troops watch the cup"));
    }

    #[test]
    fn highlights_point_at_the_original_text() {
        let story = Story {
            title: "Die Straße in Kyïv".into(),
            content: "ÉLAN, North-Korean TROOPS".into(),
            tags: vec!["x".into(), "KYÏV".into()],
            ..Story::default()
        };
        let h = hit("strasse kyiv tag:kyiv elan \"north korean\" troops", &story);
        let h = h.map(|h| h.highlights).unwrap_or_default();
        let got: Vec<_> = h
            .iter()
            .map(|x| (x.field, x.index, x.start, x.end, x.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (DocField::Title, 0, 4, 11, "Straße"),
                (DocField::Title, 0, 15, 20, "Kyïv"),
                (DocField::Content, 0, 0, 5, "ÉLAN"),
                (DocField::Content, 0, 7, 19, "North-Korean"),
                (DocField::Content, 0, 20, 26, "TROOPS"),
                (DocField::Tag, 1, 0, 5, "KYÏV"),
            ]
        );
        for x in &h {
            let original = match x.field {
                DocField::Title => &story.title,
                DocField::Content => &story.content,
                _ => &story.tags[x.index],
            };
            assert_eq!(&original[x.start..x.end], x.text);
        }
    }

    #[test]
    fn highlights_merge_overlaps_and_skip_negations() {
        let h = hit("\"north korea\" OR korea", &Story::text("North Korea"));
        assert_eq!(texts(&h), ["North Korea"]);
        let h = hit("kyiv -lviv", &Story::text("Kyiv and Kyiv"));
        assert_eq!(texts(&h), ["Kyiv", "Kyiv"]);
        let h = hit(
            "kyiv NEAR/2 troops",
            &Story::text("troops x kyiv, far far away troops"),
        );
        assert_eq!(texts(&h), ["troops", "kyiv"]);
        let h = hit("-sport", &Story::text("news"));
        assert_eq!(h.map(|h| h.highlights.len()), Some(0));
    }

    #[test]
    fn highlights_are_bounded() {
        let text = "kyiv ".repeat(1000);
        let h = hit("kyiv", &Story::text(&text));
        assert_eq!(h.map(|h| h.highlights.len()), Some(MAX_HIGHLIGHTS));
    }

    #[test]
    fn matching_is_ascending_and_complete() {
        let set = WatchSet::new(
            [
                "kyiv",
                "-sport",
                "lviv",
                "kyiv troops",
                "/tro+ps/",
                "title:kyiv",
            ]
            .iter()
            .map(|s| q(s))
            .collect(),
        );
        assert_eq!(set.len(), 6);
        let story = Story::text("Troops in Kyiv");
        let prepared = set.prepare(&story.doc());
        let watches: Vec<usize> = set.matching(&prepared).iter().map(|h| h.watch).collect();
        assert_eq!(watches, [0, 1, 3, 4]);
        assert!(set.check(2, &prepared).is_none());
        assert!(set.check(99, &prepared).is_none());
    }

    #[test]
    fn prepared_from_another_set_still_works() {
        let a = WatchSet::new(vec![q("lviv")]);
        let b = WatchSet::new(vec![q("kyiv")]);
        let story = Story::text("Kyiv");
        let prepared = a.prepare(&story.doc());
        assert_eq!(b.matching(&prepared).len(), 1);
        assert!(b.check(0, &prepared).is_some());
    }

    #[test]
    fn empty_sets_and_documents() {
        let set = WatchSet::default();
        assert!(set.is_empty());
        let story = Story::default();
        assert!(set.matching(&set.prepare(&story.doc())).is_empty());
        assert!(hit("kyiv", &story).is_none());
        assert!(hit("-kyiv", &story).is_some());
        let set = WatchSet::new(vec![Query::And(vec![]), Query::Or(vec![])]);
        let hits = set.matching(&set.prepare(&story.doc()));
        assert_eq!(hits.iter().map(|h| h.watch).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn hits_serialise_with_lowercase_fields() {
        let h = hit("kyiv", &Story::text("Kyiv"));
        let json = serde_json::to_string(&h).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"watch":0,"highlights":[{"field":"content","index":0,"start":0,"end":4,"text":"Kyiv"}]}"#
        );
    }

    #[test]
    fn many_watches_share_atoms() {
        let queries: Vec<Query> = (0..200).map(|i| q(&format!("kyiv OR w{i}"))).collect();
        let set = WatchSet::new(queries);
        assert_eq!(set.atoms.len(), 201);
        let story = Story::text("Kyiv w7");
        let hits = set.matching(&set.prepare(&story.doc()));
        assert_eq!(hits.len(), 200);
        assert_eq!(texts(&Some(hits[7].clone())), ["Kyiv", "w7"]);
    }

    // ------------------------------------------------------ properties

    const VOCAB: [&str; 10] = [
        "kyiv", "russia", "troops", "north", "korea", "war", "software", "cafe", "strasse", "kursk",
    ];

    fn term() -> impl Strategy<Value = Term> {
        prop_oneof![
            4 => prop::sample::select(&VOCAB[..]).prop_map(|w| Term::Word(w.into())),
            2 => (0..VOCAB.len() - 1).prop_map(|i| {
                Term::Phrase(vec![VOCAB[i].into(), VOCAB[i + 1].into()])
            }),
            1 => prop::sample::select(&["ku", "kor", "tro", "wa", "caf"][..])
                .prop_map(|p| Term::Prefix(p.into())),
        ]
    }

    fn leaf() -> impl Strategy<Value = Query> {
        prop_oneof![
            6 => term().prop_map(Query::Term),
            1 => (term(), term(), 0u32..4).prop_map(|(left, right, distance)| Query::Near {
                left,
                right,
                distance,
            }),
            1 => prop::sample::select(&["kyi?v", "tro+ps", "kurs[a-z]*", "war|cafe"][..])
                .prop_filter_map("valid", |p| Pattern::new(p).ok().map(Query::Regex)),
        ]
    }

    fn query() -> impl Strategy<Value = Query> {
        leaf().prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Query::and),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Query::or),
                inner.clone().prop_map(Query::not),
                (prop::sample::select(&DocField::ALL[..]), inner).prop_map(|(field, q)| {
                    Query::Scope {
                        field,
                        query: Box::new(q),
                    }
                }),
            ]
        })
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                prop::sample::select(&VOCAB[..]),
                prop::sample::select(&[" ", "-", ", ", ". ", " the "][..]),
            ),
            0..10,
        )
        .prop_map(|parts| parts.iter().map(|(w, s)| format!("{w}{s}")).collect())
    }

    fn story() -> impl Strategy<Value = Story> {
        let list = || prop::collection::vec(text(), 0..3);
        (text(), text(), text(), list(), list(), text(), list()).prop_map(
            |(title, summary, content, authors, categories, feed, tags)| Story {
                title,
                summary,
                content,
                authors,
                categories,
                feed,
                tags,
            },
        )
    }

    /// Which of `queries` match `story`, via the index.
    fn outcome(queries: &[Query], story: &Story) -> Vec<bool> {
        let set = WatchSet::new(queries.to_vec());
        let prepared = set.prepare(&story.doc());
        let hits = set.matching(&prepared);
        let mut out = vec![false; queries.len()];
        for h in &hits {
            out[h.watch] = true;
        }
        for (i, matched) in out.iter().enumerate() {
            assert_eq!(set.check(i, &prepared).is_some(), *matched, "watch {i}");
        }
        out
    }

    fn accent(s: &str) -> String {
        s.replace("ss", "ß")
            .chars()
            .map(|c| match c {
                'a' => 'á',
                'e' => 'é',
                'i' => 'ï',
                'o' => 'ö',
                'u' => 'ü',
                'c' => 'ç',
                other => other,
            })
            .collect()
    }

    /// Accents the words of a displayed query, leaving field names alone.
    fn accent_query(src: &str) -> String {
        let mut out = String::new();
        let mut word = String::new();
        for c in src.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_lowercase() {
                word.push(c);
                continue;
            }
            if c == ':' {
                out.push_str(&word);
            } else {
                out.push_str(&accent(&word));
            }
            word.clear();
            out.push(c);
        }
        out.pop();
        out
    }

    proptest! {
        #[test]
        fn boolean_laws_hold(a in query(), b in query(), story in story()) {
            let queries = [
                a.clone(),
                b.clone(),
                Query::and(vec![a.clone(), b.clone()]),
                Query::or(vec![a.clone(), b.clone()]),
                Query::or(vec![b.clone(), a.clone()]),
                Query::not(Query::not(a.clone())),
                Query::not(a.clone()),
            ];
            let r = outcome(&queries, &story);
            prop_assert!(!r[2] || (r[0] && r[1]), "A AND B matched but A or B did not");
            prop_assert_eq!(r[3], r[0] || r[1]);
            prop_assert_eq!(r[3], r[4], "OR is not symmetric");
            prop_assert_eq!(r[5], r[0], "NOT NOT A differs from A");
            prop_assert_eq!(r[6], !r[0]);
        }

        #[test]
        fn folding_is_symmetric(a in query(), story in story()) {
            let base = outcome(std::slice::from_ref(&a), &story);
            prop_assert_eq!(&outcome(std::slice::from_ref(&a), &story.map(str::to_uppercase)), &base);
            prop_assert_eq!(&outcome(std::slice::from_ref(&a), &story.map(accent)), &base);
            prop_assert_eq!(
                &outcome(std::slice::from_ref(&a), &story.map(|s| accent(s).to_uppercase())),
                &base
            );
            let shown = a.to_string();
            let upper = parse(&shown.to_uppercase());
            prop_assert!(upper.is_ok(), "{} upper-cased does not parse", shown);
            if let Ok(upper) = upper {
                prop_assert_eq!(&outcome(&[upper], &story), &base);
            }
            let accented = parse(&accent_query(&shown));
            prop_assert!(accented.is_ok(), "{} accented does not parse", shown);
            if let Ok(accented) = accented {
                prop_assert_eq!(&outcome(&[accented], &story), &base);
            }
        }

        #[test]
        fn display_round_trips(a in query()) {
            let shown = a.to_string();
            prop_assert_eq!(parse(&shown), Ok(a), "{}", shown);
        }

        #[test]
        fn highlights_are_valid_slices(a in query(), story in story()) {
            let set = WatchSet::new(vec![a]);
            let prepared = set.prepare(&story.doc());
            for hit in set.matching(&prepared) {
                for h in hit.highlights {
                    let original = match h.field {
                        DocField::Title => &story.title,
                        DocField::Summary => &story.summary,
                        DocField::Content => &story.content,
                        DocField::Feed => &story.feed,
                        DocField::Author => &story.authors[h.index],
                        DocField::Category => &story.categories[h.index],
                        DocField::Tag => &story.tags[h.index],
                    };
                    prop_assert_eq!(original.get(h.start..h.end), Some(h.text.as_str()));
                }
            }
        }
    }
}
