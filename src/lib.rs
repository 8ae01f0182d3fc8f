//! storywatch: watches news feeds for the stories you care about and tells
//! you, by email or webhook, when such a story appears or changes.
//!
//! Data flows one way (see DESIGN.md):
//! config → [`scheduler`] → [`fetch`] → [`parse`] → [`tracker`] →
//! [`watch`] matcher → [`outbox`] (durable, in [`store`]) → [`notify`].
//! [`poll`] runs one feed through that path; [`daemon`] schedules polls and
//! runs the [`delivery`] workers; [`cli::demo`] and [`cli::replay`] drive the
//! same code on bundled or recorded feeds.
//!
//! # Layout
//!
//! Layers, bottom to top; every import points down (or within its layer),
//! and `tests/it/layers.rs` fails the build's tests otherwise:
//!
//! - plain data and leaves: [`model`] (entries, snapshots, change
//!   classes), [`records`] (what the store keeps per feed, article page,
//!   story and story version), [`text`] (HTML → text, entities,
//!   normalisation, tokens, sentences, folding: the text utilities every
//!   stage shares), [`clock`], [`fingerprint`] (FNV-1a), [`shard`] (which feeds a shard
//!   owns), [`secret`],
//!   [`metrics`], [`memory`], [`fdlimit`] (the open-file limit), [`tls`]
//!   (the HTTP clients' TLS settings);
//! - reading input: [`config`] (schema and validation, which compiles watch
//!   queries with [`watch::query`] and webhook and email templates with
//!   [`notify::template`]; private feeds' credentials), [`parse`] (bytes → our own `Entry`), [`fetch`]
//!   (HTTP), [`opml`], [`scheduler`] (when each feed is due, and the
//!   daemon's timetable), [`logging`];
//! - [`tracker`]: identity, the comparison form of text, diff,
//!   materiality, events; pure, it reads storage through its own
//!   `StoryLookup` trait;
//! - [`watch`]: the query model, the compiled index, the matcher;
//! - [`outbox`]: alerts and deliveries as data; [`store`]: the only module
//!   that knows sled (`store/layout.rs`: one value per story with its
//!   history; `store/delta.rs`: versions as differences; `store/dict.rs`:
//!   values compressed against their feed's dictionary; `store/migrate.rs`:
//!   older databases brought up to date in place);
//! - [`notify`] (stdout, webhook, the chat presets, email, rendering and
//!   templates) and [`gates`] (politeness limits);
//! - [`app`]: the composition root (config, store, notifiers, gates,
//!   metrics), [`status`], how the daemon is doing, and [`control`], the
//!   local control socket through which commands reach the running daemon;
//! - orchestration, each taking `&App`: [`poll`] (one feed end to end),
//!   [`article`] (full-text pages), [`delivery`] (the outbox workers);
//! - entry points: [`daemon`] (scheduler loop, signals, systemd), [`http`]
//!   (the endpoint: JSON API, dashboard pages, Atom feeds) with [`connections`] (its timeouts and connection
//!   cap), [`cli`] (one file per command, `replay`, `history`
//!   and the `detection` report included; `main.rs` only parses arguments
//!   and dispatches).

// stdout is written through fallible writes (cli::emit and the like), so a
// closed pipe (`storywatch demo | head -1`) ends a command quietly
#![cfg_attr(not(test), deny(clippy::print_stdout))]

pub mod app;
pub mod article;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod control;
pub mod daemon;
pub mod delivery;
pub mod fdlimit;
pub mod fetch;
pub mod fingerprint;
pub mod gates;
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
pub mod scheduler;
pub mod secret;
pub mod shard;
pub mod status;
pub mod store;
pub mod text;
pub mod tls;
pub mod tracker;
pub mod watch;
