//! Every integration suite in one test binary (as ripgrep does): each suite
//! is a module, they share `common` (local feed, webhook and SMTP servers),
//! and the crate is linked once instead of sixteen times, which is what
//! filled CI's disk. Run one suite with a filter:
//!
//! ```sh
//! cargo test --test it notify_email::              # one suite
//! cargo test --test it crash:: -- --ignored         # the long, #[ignore]d suites
//! cargo test --test it disk:: -- --ignored          # (crash, disk) run by .ci/run
//! ```

mod common;

mod alerts;
mod api;
mod atom_feeds;
mod cli;
mod config_gen;
mod corpus_parse;
mod crash;
mod crash_nats;
mod dashboard;
mod delivery;
mod deploy;
mod detection;
mod disk;
mod feeds_cli;
mod fetch;
mod flashtext_vectors;
mod full_text;
mod hostile;
mod layers;
mod notify_email;
mod notify_nats;
mod notify_webhook;
mod pipeline;
mod private_feeds;
mod readme_walkthrough;
mod scheduler;
mod service;
mod sharding;
mod slowloris;
mod watch_triggers;
