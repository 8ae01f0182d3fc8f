//! Fuzzes config loading: arbitrary text must load or be refused with
//! problems that name the file (never panic), and a config that loads must
//! build what `storywatch run` builds from it (database, HTTP client,
//! notifiers, politeness gates) without a panic: a refused secret is an
//! error, a panic is a bug (issue 14: `concurrency = 2^64-1` and
//! `cache_size = "0"` once passed `check` and panicked `run`).
//!
//! `cargo fuzz run config -- -dict=config.dict` starts from every section
//! and key name.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use storywatch::app::App;
use storywatch::clock::SystemClock;
use storywatch::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_toml(std::path::Path::new("fuzz.toml"), text) {
        Err(e) => {
            assert!(!e.problems.is_empty());
            assert!(e.problems.iter().all(|p| p.starts_with("fuzz.toml")), "{e}");
        }
        Ok(mut config) => {
            let Ok(dir) = tempfile::tempdir() else { return };
            config.daemon.state_dir = dir.path().to_path_buf();
            let _ = App::open(config, Arc::new(SystemClock));
        }
    }
});
