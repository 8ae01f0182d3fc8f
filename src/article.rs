//! Full-text feeds: placeholder.
use crate::app::{App, Shared};
use crate::config::FeedConfig;
use crate::model::Entry;
use std::sync::Arc;
pub async fn enrich(_app: &Arc<App>, _shared: &Shared, _feed: &FeedConfig, _entries: &mut [Entry]) {
}
