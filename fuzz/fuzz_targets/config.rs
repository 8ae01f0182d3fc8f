//! Fuzzes config loading: arbitrary text must load or be refused with
//! problems that name the file (never panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use storywatch::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = Config::from_toml(std::path::Path::new("fuzz.toml"), text) {
        assert!(!e.problems.is_empty());
        assert!(e.problems.iter().all(|p| p.starts_with("fuzz.toml")), "{e}");
    }
});
