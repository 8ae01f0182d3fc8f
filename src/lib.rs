//! storywatch: watches news feeds for the stories you care about and tells
//! you, by email or webhook, when such a story appears or changes.
//!
//! Data flows one way (see DESIGN.md):
//! config → scheduler → [`fetch`] → [`parse`] → [`tracker`] → [`watch`]
//! matcher → [`outbox`] (durable, in [`store`]) → [`notify`].
//! [`poll`] runs one feed through that path; [`daemon`] schedules polls and
//! runs the [`delivery`] workers; [`cli::demo`] and [`replay`] drive the same code
//! on bundled or recorded feeds.

pub mod app;
pub mod article;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod fetch;
pub mod fingerprint;
pub mod gates;
pub mod history;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod opml;
pub mod outbox;
pub mod parse;
pub mod poll;
pub mod records;
pub mod replay;
pub mod scheduler;
pub mod secret;
pub mod status;
pub mod store;
pub mod tracker;
pub mod watch;
