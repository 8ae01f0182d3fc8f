//! The watch query language: lexer, parser, syntax tree and canonical form.
//!
//! A watch is written once in `config.toml` and then runs against every
//! story for months, so this module is strict where a silent misreading
//! would cost alerts: an unknown field, a dangling `AND`, an unclosed quote
//! or a regex that could blow up are errors that name the 1-based character
//! column, never guesses. See `docs/query-language.md` for the user's view.
//!
//! Grammar (binding from loosest to tightest):
//! ```text
//! query   := or
//! or      := and ( "OR" and )*
//! and     := unary ( "AND"? unary )*          adjacent terms are ANDed
//! unary   := "NOT" unary | "-" unary | near
//! near    := scoped ( "NEAR" ["/" n] scoped )?  both sides word/phrase/prefix
//! scoped  := FIELD ":" scoped | primary
//! primary := word | "phrase" | prefix* | /regex/ | "(" or ")"
//! ```
//! Terms are stored *folded* (see [`crate::text::fold`]): `Kyiv` and `KYIV`
//! parse to the same [`Query`], which is what makes the [`Display`] form
//! canonical.
//!
//! This is the query *model*, the bottom of `watch/`: it also names the
//! words the rest share, [`DocField`] (what a term can be scoped to) and
//! [`Trigger`] (when a watch fires), so the index and the matcher build on
//! it, config and the outbox name them, and nothing here points back up.

use std::fmt;

use regex::RegexBuilder;
use serde::{Deserialize, Serialize};

use crate::text::fold::{fold_char, tokenize};

/// `NEAR` without a distance means within this many tokens.
pub const DEFAULT_NEAR: u32 = 10;
/// Largest distance `NEAR/n` accepts: beyond it "near" means nothing.
pub const MAX_NEAR: u32 = 100;
/// Longest query accepted, in characters. Real watches are a few dozen; the
/// limit keeps a pasted document from becoming a query.
pub const MAX_QUERY_CHARS: usize = 16_384;
/// Deepest nesting of groups and operators, so that recursion (parsing,
/// display, evaluation) cannot overflow the stack on a hostile query.
pub const MAX_DEPTH: usize = 64;
/// Longest regex pattern accepted, in characters.
pub const MAX_REGEX_CHARS: usize = 1_000;
/// Compiled-program limit for one regex, in bytes: a thousand watches with
/// regexes must still fit comfortably in memory.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy-DFA cache limit for one regex, in bytes.
pub const REGEX_DFA_SIZE_LIMIT: usize = 1 << 20;
/// Shortest prefix before `*`, in folded characters: `k*` would match a
/// large part of any text.
pub const MIN_PREFIX_CHARS: usize = 2;

/// A part of a story a query term can be limited to (`title:kyiv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocField {
    Title,
    Summary,
    Content,
    Author,
    Category,
    Feed,
    Tag,
}

impl DocField {
    /// Every field, in the order fields are listed to users.
    pub const ALL: [DocField; 7] = [
        DocField::Title,
        DocField::Summary,
        DocField::Content,
        DocField::Author,
        DocField::Category,
        DocField::Feed,
        DocField::Tag,
    ];

    /// The name used in queries (`title`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DocField::Title => "title",
            DocField::Summary => "summary",
            DocField::Content => "content",
            DocField::Author => "author",
            DocField::Category => "category",
            DocField::Feed => "feed",
            DocField::Tag => "tag",
        }
    }

    /// The field a query names, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<DocField> {
        DocField::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }
}

/// When a watch fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A new story matches.
    New,
    /// A material update to a story the watch follows (it matched once).
    Update,
    /// An update whose added text newly matches, though earlier versions did not.
    Mention,
    /// A followed story left its feed (off unless asked for).
    Removed,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::New => "new",
            Trigger::Update => "update",
            Trigger::Mention => "mention",
            Trigger::Removed => "removed",
        }
    }
}

/// What a watch does with an update that only takes a field back to an
/// earlier value (a headline reverted while the body keeps its edits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRevert {
    /// Alert, labelled "headline reverted to an earlier version".
    #[default]
    Alert,
    /// Stay silent: the reader has seen that text before.
    Ignore,
}

/// A parse error pointing at the 1-based character column of the query.
/// Errors from the list form ([`from_lists`]) use column 0 and name the list
/// and element in the message instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("query col {col}: {message}")]
pub struct QueryError {
    pub col: usize,
    pub message: String,
}

impl QueryError {
    fn new(col: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            col,
            message: message.into(),
        }
    }
}

/// A searchable unit: what a bare word, a quoted phrase or `prefix*` folds
/// to. All strings are folded tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// Exactly one token.
    Word(String),
    /// Two or more consecutive tokens (`"north korea"`, or a bare word that
    /// folds to several tokens such as `North-Korean`).
    Phrase(Vec<String>),
    /// Any token starting with this (at least [`MIN_PREFIX_CHARS`] chars).
    Prefix(String),
}

impl Term {
    /// Builds the term that literal text stands for: one token is a word,
    /// several a phrase. `None` when the text has no letters or digits.
    pub fn from_text(text: &str) -> Option<Term> {
        let mut tokens = tokenize(text);
        match tokens.len() {
            0 => None,
            1 => tokens.pop().map(Term::Word),
            _ => Some(Term::Phrase(tokens)),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Word(w) => f.write_str(w),
            Term::Phrase(ws) => write!(f, "\"{}\"", ws.join(" ")),
            Term::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// A validated, compiled `/regex/`. Equality is by source text.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Pattern {
    /// Compiles a pattern as written between the slashes.
    ///
    /// Regexes run over the *folded* text (so they are case- and
    /// accent-insensitive like every other term); non-ASCII characters of
    /// the pattern are folded the same way so `café` still finds `cafe`.
    /// ASCII is left untouched so the regex syntax keeps its meaning.
    pub fn new(source: &str) -> Result<Pattern, PatternError> {
        if source.is_empty() {
            return Err(PatternError::Empty);
        }
        if source.chars().count() > MAX_REGEX_CHARS {
            return Err(PatternError::TooLong);
        }
        let mut folded = String::with_capacity(source.len());
        for c in source.chars() {
            if c.is_ascii() {
                folded.push(c);
            } else {
                fold_char(c, &mut |f| folded.push(f));
            }
        }
        let regex = RegexBuilder::new(&folded)
            .case_insensitive(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
            .nest_limit(MAX_DEPTH as u32)
            .build()
            .map_err(PatternError::from)?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern as written (slashes unescaped).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled regex, to run over folded text.
    pub fn regex(&self) -> &regex::Regex {
        &self.regex
    }
}

/// Why a `/regex/` term is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    #[error("empty regex //")]
    Empty,
    #[error("regex longer than {MAX_REGEX_CHARS} characters")]
    TooLong,
    #[error("regex too big: its compiled form exceeds {0} bytes (simplify it, e.g. fewer or smaller repetitions)")]
    TooBig(usize),
    /// `detail` is the regex crate's multi-line message cut to its one
    /// telling line, for a config error.
    #[error("bad regex: {detail}")]
    Syntax {
        detail: String,
        #[source]
        source: regex::Error,
    },
}

impl From<regex::Error> for PatternError {
    fn from(e: regex::Error) -> Self {
        match e {
            regex::Error::CompiledTooBig(limit) => PatternError::TooBig(limit),
            source => {
                let text = source.to_string();
                let detail = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("error: "))
                    .unwrap_or_else(|| text.lines().last().unwrap_or("invalid"))
                    .to_string();
                PatternError::Syntax { detail, source }
            }
        }
    }
}

/// A parsed watch query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Term(Term),
    Regex(Pattern),
    /// Both terms in the same field, at most `distance` tokens between them,
    /// in either order.
    Near {
        left: Term,
        right: Term,
        distance: u32,
    },
    /// The inner query only looks at `field` (the innermost scope wins).
    Scope {
        field: DocField,
        query: Box<Query>,
    },
    Not(Box<Query>),
    /// All must match; empty matches everything.
    And(Vec<Query>),
    /// Any must match; empty matches nothing.
    Or(Vec<Query>),
}

impl Query {
    /// `AND` of `items`, flattening nested `AND`s so equal queries have one
    /// shape; a single item is returned as is.
    pub fn and(items: Vec<Query>) -> Query {
        Self::flatten(items, true)
    }

    /// `OR` of `items`, flattening like [`Query::and`].
    pub fn or(items: Vec<Query>) -> Query {
        Self::flatten(items, false)
    }

    /// `NOT q` (double negation is kept: it is what the user wrote).
    #[allow(clippy::should_implement_trait)]
    pub fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    fn flatten(items: Vec<Query>, is_and: bool) -> Query {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Query::And(inner) if is_and => out.extend(inner),
                Query::Or(inner) if !is_and => out.extend(inner),
                other => out.push(other),
            }
        }
        if out.len() == 1 {
            if let Some(only) = out.pop() {
                return only;
            }
        }
        if is_and {
            Query::And(out)
        } else {
            Query::Or(out)
        }
    }

    fn is_simple(&self) -> bool {
        matches!(self, Query::Term(_) | Query::Regex(_) | Query::Scope { .. })
    }
}

impl fmt::Display for Query {
    /// The canonical form: explicit `AND`, `NEAR/n` with its distance,
    /// folded terms, and only the parentheses needed (plus around `AND`
    /// inside `OR`, for readers). `parse(q.to_string()) == q`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Term(t) => write!(f, "{t}"),
            Query::Regex(p) => write!(f, "/{}/", p.source.replace('/', "\\/")),
            Query::Near {
                left,
                right,
                distance,
            } => write!(f, "{left} NEAR/{distance} {right}"),
            Query::Scope { field, query } => {
                if query.is_simple() {
                    write!(f, "{}:{query}", field.as_str())
                } else {
                    write!(f, "{}:({query})", field.as_str())
                }
            }
            Query::Not(q) => match **q {
                Query::And(_) | Query::Or(_) => write!(f, "NOT ({q})"),
                _ => write!(f, "NOT {q}"),
            },
            Query::And(items) => join(f, items, " AND ", |q| matches!(q, Query::Or(_))),
            Query::Or(items) => join(f, items, " OR ", |q| matches!(q, Query::And(_))),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    items: &[Query],
    sep: &str,
    needs_parens: impl Fn(&Query) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

/// Parses a watch query.
pub fn parse(src: &str) -> Result<Query, QueryError> {
    let chars = src.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(QueryError::new(
            MAX_QUERY_CHARS + 1,
            format!("query longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let tokens = Lexer::new(src).run()?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if parser.peek() == &Tok::End {
        return Err(QueryError::new(1, "empty query"));
    }
    let query = parser.parse_or()?;
    let next = parser.peek_lexeme();
    match next.tok {
        Tok::End => Ok(query),
        Tok::RParen => Err(QueryError::new(next.col, "unmatched ')'")),
        _ => Err(QueryError::new(
            next.col,
            format!("unexpected \"{}\"", next.raw),
        )),
    }
}

/// Builds a query from the simple list form of a watch:
/// `any` (at least one), `all` (every one), `none` (not one). Each element
/// is literal text, a word or (several words) a phrase; no operators.
pub fn from_lists(any: &[String], all: &[String], none: &[String]) -> Result<Query, QueryError> {
    let terms = |name: &str, list: &[String]| -> Result<Vec<Query>, QueryError> {
        list.iter()
            .enumerate()
            .map(|(i, text)| {
                Term::from_text(text).map(Query::Term).ok_or_else(|| {
                    QueryError::new(
                        0,
                        format!("{name}[{i}] \"{text}\" has no letters or digits to match"),
                    )
                })
            })
            .collect()
    };
    let any = terms("any", any)?;
    let all = terms("all", all)?;
    let none = terms("none", none)?;
    if any.is_empty() && all.is_empty() && none.is_empty() {
        return Err(QueryError::new(
            0,
            "empty watch: give a query or at least one of any, all, none",
        ));
    }
    let mut parts = Vec::new();
    if !any.is_empty() {
        parts.push(Query::or(any));
    }
    parts.extend(all);
    if !none.is_empty() {
        parts.push(Query::not(Query::or(none)));
    }
    Ok(Query::and(parts))
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Phrase(String),
    Regex(String),
    Field(DocField),
    LParen,
    RParen,
    And,
    Or,
    Not,
    Minus,
    Near(u32),
    End,
}

/// A token with its 1-based column and source text (for messages).
#[derive(Debug, Clone)]
struct Lexeme {
    tok: Tok,
    col: usize,
    raw: String,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    out: Vec<Lexeme>,
}

impl Lexer {
    fn new(src: &str) -> Lexer {
        Lexer {
            chars: src.chars().collect(),
            pos: 0,
            out: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Vec<Lexeme>, QueryError> {
        while let Some(c) = self.peek() {
            let col = self.pos + 1;
            match c {
                c if c.is_whitespace() => self.pos += 1,
                '(' => self.single(Tok::LParen, "("),
                ')' => self.single(Tok::RParen, ")"),
                '"' => self.phrase(col)?,
                '/' => self.regex(col)?,
                '-' => self.minus(col)?,
                _ => self.word(col)?,
            }
        }
        let col = self.chars.len() + 1;
        self.push(Tok::End, col, "");
        Ok(self.out)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn push(&mut self, tok: Tok, col: usize, raw: impl Into<String>) {
        self.out.push(Lexeme {
            tok,
            col,
            raw: raw.into(),
        });
    }

    fn single(&mut self, tok: Tok, raw: &str) {
        let col = self.pos + 1;
        self.pos += 1;
        self.push(tok, col, raw);
    }

    fn at_boundary(&self) -> bool {
        self.peek()
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == ')')
    }

    fn phrase(&mut self, col: usize) -> Result<(), QueryError> {
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '"' {
                let text: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                let raw = format!("\"{text}\"");
                self.push(Tok::Phrase(text), col, raw);
                return Ok(());
            }
            self.pos += 1;
        }
        Err(QueryError::new(
            col,
            "unterminated phrase: missing closing '\"'",
        ))
    }

    /// `/pattern/`: `\/` stands for a slash inside the pattern; every other
    /// backslash is passed to the regex as written.
    fn regex(&mut self, col: usize) -> Result<(), QueryError> {
        self.pos += 1;
        let mut pattern = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '/' => {
                    let raw = format!("/{}/", pattern.replace('/', "\\/"));
                    if !self.at_boundary() {
                        return Err(QueryError::new(
                            self.pos + 1,
                            "unexpected text right after a regex (flags are not supported: \
                             matching is already case-insensitive)",
                        ));
                    }
                    self.push(Tok::Regex(pattern), col, raw);
                    return Ok(());
                }
                '\\' => match self.peek() {
                    Some('/') => {
                        self.pos += 1;
                        pattern.push('/');
                    }
                    Some(next) => {
                        self.pos += 1;
                        pattern.push('\\');
                        pattern.push(next);
                    }
                    None => pattern.push('\\'),
                },
                _ => pattern.push(c),
            }
        }
        Err(QueryError::new(
            col,
            "unterminated regex: missing closing '/'",
        ))
    }

    fn minus(&mut self, col: usize) -> Result<(), QueryError> {
        self.pos += 1;
        match self.peek() {
            Some(c) if !c.is_whitespace() && c != ')' => {
                self.push(Tok::Minus, col, "-");
                Ok(())
            }
            _ => Err(QueryError::new(
                col,
                "'-' must be followed directly by a word, phrase or group (write -word)",
            )),
        }
    }

    /// A bare run of characters: an operator, a field scope, a prefix or a
    /// word.
    fn word(&mut self, col: usize) -> Result<(), QueryError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                break;
            }
            if c == ':' && self.field_name_before(start) {
                return self.field(start, col);
            }
            self.pos += 1;
        }
        let raw: String = self.chars[start..self.pos].iter().collect();
        let tok = match raw.as_str() {
            "AND" => Tok::And,
            "OR" => Tok::Or,
            "NOT" => Tok::Not,
            "NEAR" => Tok::Near(DEFAULT_NEAR),
            r if r.starts_with("NEAR/") => Tok::Near(near_distance(&r[5..], col)?),
            _ => Tok::Word(raw.clone()),
        };
        self.push(tok, col, raw);
        Ok(())
    }

    /// True when everything from `start` to the current `:` is ASCII
    /// letters, i.e. the word could be a field name.
    fn field_name_before(&self, start: usize) -> bool {
        self.pos > start
            && self.chars[start..self.pos]
                .iter()
                .all(|c| c.is_ascii_alphabetic())
    }

    /// `name:` followed directly by a term is a field scope (an unknown name
    /// is an error: `titel:kyiv` must not silently search for "titel kyiv").
    /// `name: ` followed by a space is an ordinary word (`Breaking: news`),
    /// unless `name` is a field, where the space is surely a typo.
    fn field(&mut self, start: usize, col: usize) -> Result<(), QueryError> {
        let name: String = self.chars[start..self.pos].iter().collect();
        let field = DocField::from_name(&name);
        let after = self.chars.get(self.pos + 1).copied();
        let followed = after.is_some_and(|c| !c.is_whitespace() && c != ')');
        match (field, followed) {
            (Some(field), true) => {
                self.pos += 1;
                self.push(Tok::Field(field), col, format!("{name}:"));
                Ok(())
            }
            (Some(_), false) => Err(QueryError::new(
                col,
                format!("expected a term or (group) right after \"{name}:\" (no space)"),
            )),
            (None, true) => Err(QueryError::new(
                col,
                format!(
                    "unknown field \"{name}\" (expected one of {})",
                    DocField::ALL.map(DocField::as_str).join(", ")
                ),
            )),
            (None, false) => {
                self.pos += 1;
                let raw: String = self.chars[start..self.pos].iter().collect();
                self.push(Tok::Word(raw.clone()), col, raw);
                Ok(())
            }
        }
    }
}

fn near_distance(digits: &str, col: usize) -> Result<u32, QueryError> {
    digits
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_NEAR && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            QueryError::new(
                col,
                format!(
                    "NEAR/ must be followed by a number from 0 to {MAX_NEAR}, got \"{digits}\""
                ),
            )
        })
}

// ---------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Lexeme>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_lexeme(&self) -> &Lexeme {
        // The lexer always ends the list with `End`, and `next` never moves
        // past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> &Tok {
        &self.peek_lexeme().tok
    }

    fn next(&mut self) -> Lexeme {
        let lexeme = self.peek_lexeme().clone();
        if lexeme.tok != Tok::End {
            self.pos += 1;
        }
        lexeme
    }

    fn previous_raw(&self) -> &str {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or("", |l| l.raw.as_str())
    }

    fn starts_term(tok: &Tok) -> bool {
        matches!(
            tok,
            Tok::Word(_)
                | Tok::Phrase(_)
                | Tok::Regex(_)
                | Tok::Field(_)
                | Tok::LParen
                | Tok::Not
                | Tok::Minus
        )
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let col = self.peek_lexeme().col;
            return Err(QueryError::new(
                col,
                format!("query nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// After an operator, the next token must start a term.
    fn expect_term_after(&self, op: &str) -> Result<(), QueryError> {
        let next = self.peek_lexeme();
        if Self::starts_term(&next.tok) {
            Ok(())
        } else {
            Err(QueryError::new(
                next.col,
                format!("expected a term after \"{op}\""),
            ))
        }
    }

    fn parse_or(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.peek() == &Tok::Or {
            let op = self.next();
            self.expect_term_after(&op.raw)?;
            items.push(self.parse_and()?);
        }
        Ok(Query::or(items))
    }

    fn parse_and(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.parse_unary()?];
        loop {
            if self.peek() == &Tok::And {
                let op = self.next();
                self.expect_term_after(&op.raw)?;
            } else if !Self::starts_term(self.peek()) {
                break;
            }
            items.push(self.parse_unary()?);
        }
        Ok(Query::and(items))
    }

    fn parse_unary(&mut self) -> Result<Query, QueryError> {
        self.enter()?;
        let result = match self.peek() {
            Tok::Not | Tok::Minus => {
                let op = self.next();
                self.expect_term_after(&op.raw)?;
                self.parse_unary().map(Query::not)
            }
            _ => self.parse_near(),
        };
        self.depth -= 1;
        result
    }

    fn parse_near(&mut self) -> Result<Query, QueryError> {
        let left = self.parse_scoped()?;
        let Tok::Near(distance) = *self.peek() else {
            return Ok(left);
        };
        let op = self.next();
        let hint = "NEAR needs a word, phrase or prefix on each side \
                    (to limit it to a field write title:(a NEAR b))";
        let next = self.peek_lexeme().clone();
        if !matches!(next.tok, Tok::Word(_) | Tok::Phrase(_) | Tok::Field(_)) {
            return Err(QueryError::new(
                next.col,
                format!("expected a word, phrase or prefix after \"{}\"", op.raw),
            ));
        }
        let right = self.parse_scoped()?;
        if let Tok::Near(_) = self.peek() {
            let col = self.peek_lexeme().col;
            return Err(QueryError::new(
                col,
                "NEAR cannot be chained: combine pairs with AND, e.g. (a NEAR b) AND (b NEAR c)",
            ));
        }
        match (left, right) {
            (Query::Term(left), Query::Term(right)) => Ok(Query::Near {
                left,
                right,
                distance,
            }),
            _ => Err(QueryError::new(op.col, hint)),
        }
    }

    fn parse_scoped(&mut self) -> Result<Query, QueryError> {
        if let Tok::Field(field) = *self.peek() {
            let scope = self.next();
            let next = self.peek_lexeme();
            if !matches!(
                next.tok,
                Tok::Word(_) | Tok::Phrase(_) | Tok::Regex(_) | Tok::Field(_) | Tok::LParen
            ) {
                return Err(QueryError::new(
                    next.col,
                    format!(
                        "expected a term or (group) after \"{}\" (to exclude, write -{}term)",
                        scope.raw, scope.raw
                    ),
                ));
            }
            self.enter()?;
            let inner = self.parse_scoped();
            self.depth -= 1;
            return Ok(Query::Scope {
                field,
                query: Box::new(inner?),
            });
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Query, QueryError> {
        let lexeme = self.next();
        let col = lexeme.col;
        match lexeme.tok {
            Tok::Word(raw) => word_term(&raw, col),
            Tok::Phrase(text) => Term::from_text(&text).map(Query::Term).ok_or_else(|| {
                QueryError::new(
                    col,
                    format!("phrase {} has no letters or digits", lexeme.raw),
                )
            }),
            Tok::Regex(pattern) => Pattern::new(&pattern)
                .map(Query::Regex)
                .map_err(|e| QueryError::new(col, e.to_string())),
            Tok::LParen => self.group(col),
            Tok::RParen => Err(QueryError::new(col, "unmatched ')'")),
            Tok::End => Err(QueryError::new(col, "expected a term")),
            Tok::And | Tok::Or | Tok::Near(_) => Err(QueryError::new(
                col,
                format!("\"{}\" needs a term on its left", lexeme.raw),
            )),
            Tok::Not | Tok::Minus | Tok::Field(_) => Err(QueryError::new(
                col,
                format!("unexpected \"{}\"", lexeme.raw),
            )),
        }
    }

    fn group(&mut self, open_col: usize) -> Result<Query, QueryError> {
        if self.peek() == &Tok::RParen {
            return Err(QueryError::new(open_col, "empty parentheses ()"));
        }
        self.enter()?;
        let inner = self.parse_or()?;
        self.depth -= 1;
        if self.peek() == &Tok::RParen {
            self.next();
            return Ok(inner);
        }
        let col = self.peek_lexeme().col;
        Err(QueryError::new(
            col,
            format!(
                "expected ')' after \"{}\" (to close '(' at col {open_col})",
                self.previous_raw()
            ),
        ))
    }
}

/// A bare word: `prefix*` or literal text (several tokens make a phrase).
fn word_term(raw: &str, col: usize) -> Result<Query, QueryError> {
    if let Some(stem) = raw.strip_suffix('*') {
        let mut tokens = tokenize(stem);
        return match (tokens.pop(), tokens.is_empty()) {
            (Some(p), true) if p.chars().count() >= MIN_PREFIX_CHARS => {
                Ok(Query::Term(Term::Prefix(p)))
            }
            (Some(_), false) => Err(QueryError::new(
                col,
                format!("prefix \"{raw}\" must be a single word before '*'"),
            )),
            _ => Err(QueryError::new(
                col,
                format!(
                    "prefix \"{raw}\" needs at least {MIN_PREFIX_CHARS} letters or digits before '*'"
                ),
            )),
        };
    }
    Term::from_text(raw)
        .map(Query::Term)
        .ok_or_else(|| QueryError::new(col, format!("\"{raw}\" has no letters or digits to match")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn word(w: &str) -> Query {
        Query::Term(Term::Word(w.into()))
    }

    fn phrase(ws: &[&str]) -> Query {
        Query::Term(Term::Phrase(ws.iter().map(|w| w.to_string()).collect()))
    }

    fn ok(src: &str) -> Query {
        match parse(src) {
            Ok(q) => q,
            Err(e) => panic!("{src:?} failed: {e}"),
        }
    }

    fn err(src: &str) -> QueryError {
        match parse(src) {
            Ok(q) => panic!("{src:?} parsed as {q}"),
            Err(e) => e,
        }
    }

    #[test]
    fn words_phrases_and_implicit_and() {
        assert_eq!(ok("troops"), word("troops"));
        assert_eq!(ok("\"North Korea\""), phrase(&["north", "korea"]));
        assert_eq!(
            ok("kyiv troops"),
            Query::And(vec![word("kyiv"), word("troops")])
        );
        assert_eq!(ok("kyiv AND troops"), ok("kyiv troops"));
    }

    #[test]
    fn lowercase_operators_are_words() {
        assert_eq!(
            ok("war and peace"),
            Query::And(vec![word("war"), word("and"), word("peace")])
        );
        assert_eq!(ok("or"), word("or"));
    }

    #[test]
    fn terms_are_folded() {
        assert_eq!(ok("KYIV"), ok("kyiv"));
        assert_eq!(ok("Café"), word("cafe"));
        assert_eq!(ok("North-Korean"), phrase(&["north", "korean"]));
        assert_eq!(ok("don't"), ok("\"don’t\""));
        assert_eq!(ok("\"kyiv\""), word("kyiv"));
    }

    #[test]
    fn precedence_not_over_and_over_or() {
        assert_eq!(
            ok("a OR b c"),
            Query::Or(vec![word("a"), Query::And(vec![word("b"), word("c")])])
        );
        assert_eq!(
            ok("NOT a b"),
            Query::And(vec![Query::not(word("a")), word("b")])
        );
        assert_eq!(
            ok("(a OR b) c"),
            Query::And(vec![Query::Or(vec![word("a"), word("b")]), word("c")])
        );
    }

    #[test]
    fn minus_is_not() {
        assert_eq!(ok("-sport"), Query::not(word("sport")));
        assert_eq!(ok("-\"world cup\""), Query::not(phrase(&["world", "cup"])));
        assert_eq!(
            ok("-(a OR b)"),
            Query::not(Query::Or(vec![word("a"), word("b")]))
        );
        // A hyphen inside a word is punctuation, not NOT.
        assert_eq!(ok("well-known"), phrase(&["well", "known"]));
    }

    #[test]
    fn prefixes() {
        assert_eq!(ok("kurs*"), Query::Term(Term::Prefix("kurs".into())));
        assert_eq!(ok("Über*"), Query::Term(Term::Prefix("uber".into())));
    }

    #[test]
    fn near_with_and_without_distance() {
        assert_eq!(
            ok("\"north korea\" NEAR/5 troops"),
            Query::Near {
                left: Term::Phrase(vec!["north".into(), "korea".into()]),
                right: Term::Word("troops".into()),
                distance: 5,
            }
        );
        assert_eq!(
            ok("a NEAR kurs*"),
            Query::Near {
                left: Term::Word("a".into()),
                right: Term::Prefix("kurs".into()),
                distance: DEFAULT_NEAR,
            }
        );
    }

    #[test]
    fn field_scopes() {
        assert_eq!(
            ok("title:(kyiv OR kiev)"),
            Query::Scope {
                field: DocField::Title,
                query: Box::new(Query::Or(vec![word("kyiv"), word("kiev")])),
            }
        );
        assert_eq!(
            ok("TAG:\"breaking news\""),
            Query::Scope {
                field: DocField::Tag,
                query: Box::new(phrase(&["breaking", "news"])),
            }
        );
        // A scope applies to the next term only.
        assert_eq!(
            ok("author:smith kyiv"),
            Query::And(vec![
                Query::Scope {
                    field: DocField::Author,
                    query: Box::new(word("smith")),
                },
                word("kyiv"),
            ])
        );
        // A colon word followed by a space is text.
        assert_eq!(
            ok("Breaking: news"),
            Query::And(vec![word("breaking"), word("news")])
        );
        assert_eq!(ok("10:30"), phrase(&["10", "30"]));
    }

    #[test]
    fn regex_terms() {
        let Query::Regex(p) = ok("/kyi?v\\/kiev/") else {
            panic!("not a regex")
        };
        assert_eq!(p.as_str(), "kyi?v/kiev");
        assert!(p.regex().is_match("kyv/kiev"));
        // Non-ASCII in the pattern is folded like the text it runs over.
        let Query::Regex(p) = ok("/café/") else {
            panic!("not a regex")
        };
        assert!(p.regex().is_match("cafe"));
    }

    #[test]
    fn regex_size_is_limited() {
        let e = err("/((a{100}){100}){100}/");
        assert_eq!(e.col, 1);
        assert!(e.message.contains("too big"), "{e}");
        let long = format!("/{}/", "a".repeat(MAX_REGEX_CHARS + 1));
        assert!(err(&long).message.contains("longer than"));
    }

    #[test]
    fn list_form() {
        let q = from_lists(
            &["Kyiv".into(), "Kiev".into()],
            &["troops".into()],
            &["world cup".into()],
        );
        assert_eq!(
            q,
            Ok(Query::And(vec![
                Query::Or(vec![word("kyiv"), word("kiev")]),
                word("troops"),
                Query::not(phrase(&["world", "cup"])),
            ]))
        );
        assert_eq!(
            from_lists(&["north korea".into()], &[], &[]),
            Ok(phrase(&["north", "korea"]))
        );
        let e = from_lists(&[], &["ok".into(), "&&".into()], &[]);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("query col 0: all[1] \"&&\" has no letters or digits to match".into())
        );
        assert!(from_lists(&[], &[], &[]).is_err());
    }

    #[test]
    fn error_missing_paren() {
        let e = err("(Ukraine OR Russia");
        assert_eq!(
            e.to_string(),
            "query col 19: expected ')' after \"Russia\" (to close '(' at col 1)"
        );
    }

    #[test]
    fn error_unknown_field() {
        assert_eq!(
            err("titel:kyiv").to_string(),
            "query col 1: unknown field \"titel\" (expected one of title, summary, content, author, category, feed, tag)"
        );
        assert_eq!(err("kyiv titel:x").col, 6);
        assert_eq!(err("title: kyiv").col, 1);
    }

    #[test]
    fn error_empty_and_dangling() {
        assert_eq!(err("").to_string(), "query col 1: empty query");
        assert_eq!(err("   ").message, "empty query");
        assert_eq!(
            err("kyiv AND").to_string(),
            "query col 9: expected a term after \"AND\""
        );
        assert_eq!(err("kyiv OR").col, 8);
        assert_eq!(
            err("AND kyiv").to_string(),
            "query col 1: \"AND\" needs a term on its left"
        );
        assert_eq!(err("a OR OR b").col, 6);
        assert_eq!(err("NOT").col, 4);
        assert_eq!(err("a -").col, 3);
        assert_eq!(err("a )").to_string(), "query col 3: unmatched ')'");
        assert_eq!(err("()").message, "empty parentheses ()");
        assert_eq!(err("title:").col, 1);
        assert_eq!(err("title:-x").col, 7);
    }

    #[test]
    fn error_unterminated() {
        assert_eq!(
            err("kyiv \"north korea").to_string(),
            "query col 6: unterminated phrase: missing closing '\"'"
        );
        assert_eq!(
            err("a /kyi?v").to_string(),
            "query col 3: unterminated regex: missing closing '/'"
        );
        assert_eq!(err("/abc/i").col, 6);
    }

    #[test]
    fn error_bad_regex() {
        let e = err("x /kyi(v/");
        assert_eq!(e.col, 3);
        assert!(e.message.starts_with("bad regex: "), "{e}");
        assert!(!e.message.contains('\n'));
        assert_eq!(err("//").message, "empty regex //");
    }

    #[test]
    fn error_near() {
        assert_eq!(err("a NEAR/ b").col, 3);
        assert!(err("a NEAR/101 b").message.contains("0 to 100"));
        assert_eq!(err("a NEAR/x b").col, 3);
        assert_eq!(err("a NEAR/+5 b").col, 3);
        assert_eq!(err("a NEAR").col, 7);
        assert_eq!(err("(a OR b) NEAR c").col, 10);
        assert_eq!(err("a NEAR /x/").col, 8);
        assert_eq!(err("a NEAR b NEAR c").col, 10);
        assert_eq!(err("NEAR a").col, 1);
        assert!(err("title:a NEAR b").message.contains("title:(a NEAR b)"));
    }

    #[test]
    fn error_terms_without_letters() {
        assert_eq!(
            err("kyiv &&").to_string(),
            "query col 6: \"&&\" has no letters or digits to match"
        );
        assert_eq!(err("\"...\"").col, 1);
        assert_eq!(err("k*").col, 1);
        assert_eq!(err("*").col, 1);
        assert!(err("north-kor*").message.contains("single word"));
    }

    #[test]
    fn error_limits() {
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(err(&deep).message.contains("nested"));
        let nots = format!("{}a", "NOT ".repeat(200));
        assert!(err(&nots).message.contains("nested"));
        let minus = format!("{}a", "-".repeat(200));
        assert!(err(&minus).message.contains("nested"));
        let scopes = format!("{}a", "title:".repeat(200));
        assert!(err(&scopes).message.contains("nested"));
        let long = "a ".repeat(MAX_QUERY_CHARS);
        assert!(err(&long).message.contains("longer"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(err("Kyïv ÜÜ &&").col, 9);
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("Kyiv  troops", "kyiv AND troops"),
            ("a OR b c", "a OR (b AND c)"),
            ("-(a OR b) c", "NOT (a OR b) AND c"),
            ("title:(Kyiv OR kiev)", "title:(kyiv OR kiev)"),
            ("title:(kyiv)", "title:kyiv"),
            (
                "\"North Korea\" NEAR troops",
                "\"north korea\" NEAR/10 troops",
            ),
            ("/a\\/b/", "/a\\/b/"),
            ("NOT NOT a", "NOT NOT a"),
            ("title:(a NEAR/3 b)", "title:(a NEAR/3 b)"),
            ("NOT a NEAR b", "NOT a NEAR/10 b"),
        ];
        for (src, canonical) in cases {
            let q = ok(src);
            assert_eq!(q.to_string(), canonical, "{src}");
            assert_eq!(parse(canonical), Ok(q), "{src}");
        }
    }

    /// Regression inputs found by fuzzing or review.
    #[test]
    fn regressions_do_not_panic() {
        for src in [
            "\\", "/\\", "/\\/", "-\"", "title:\"", "NEAR/", ":", "a:", "(", ")", "\"\"", "-)",
        ] {
            let _ = parse(src);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_query_like_text(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("AND"), Just("OR"), Just("NOT"), Just("NEAR"), Just("NEAR/3"),
                    Just("("), Just(")"), Just("\""), Just("/"), Just("-"), Just("*"),
                    Just("title:"), Just("tag:"), Just("kyiv"), Just("ab*"), Just("\\"),
                    Just(" "), Just("é"), Just(":"), Just("x{99}"),
                ],
                0..24,
            )
        ) {
            let src: String = parts.concat();
            if let Ok(q) = parse(&src) {
                let shown = q.to_string();
                prop_assert_eq!(parse(&shown), Ok(q), "{} -> {}", src, shown);
            }
        }
    }
}
