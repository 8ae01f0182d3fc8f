//! Watches: what the user wants to hear about.
//!
//! Built bottom up, each layer importing only those below it, on the
//! case/accent folding and word splitting of [`crate::text::fold`]: [`query`] the
//! small query language of `[[watch]] query = '…'` (and the any/all/none list
//! form) with the fields a term can name and the triggers a watch can fire
//! on; [`index`] all watches compiled once per config load; and [`matcher`]
//! the triggers (`new`, `update`, `mention`, `removed`) that turn tracker
//! events into alerts.

pub mod index;
pub mod matcher;
pub mod query;

pub use matcher::{AlertDraft, Matcher};
