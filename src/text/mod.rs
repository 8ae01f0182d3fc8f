//! Text utilities every stage shares, in one leaf that imports nothing
//! else of ours: HTML → text ([`html`]) with character references
//! ([`entities`]: the HTML5 names and the windows-1252 table, also used by
//! the parser's entity repair), Unicode and typography normalisation
//! ([`normalize`]), whitespace collapsing ([`whitespace`]), the word tokens
//! and sentences diffs and materiality are measured in ([`tokens`],
//! [`sentences`]), the case and accent folding watches match on ([`fold`]),
//! and one-line excerpts for subjects and listings ([`line`](mod@line)).
//!
//! Used by the parser, the tracker, the article fetcher, the notifiers'
//! rendering and the watch matcher alike, so each table and each rule
//! exists once.

pub mod entities;
pub mod fold;
pub mod html;
pub mod line;
pub mod normalize;
pub mod sentences;
pub mod tokens;
pub mod whitespace;
