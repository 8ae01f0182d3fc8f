//! Fuzzes feed parsing and normalisation together: any bytes with any
//! Content-Type must parse or fail with a typed error (never panic or hang),
//! and every entry must survive the tracker's normalisation into a snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storywatch::parse::parse_feed;
use storywatch::tracker;

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/rss+xml"),
    Some("text/xml; charset=iso-8859-1"),
    Some("application/atom+xml; charset=utf-16"),
    Some("text/html"),
];

fuzz_target!(|data: &[u8]| {
    let (selector, body) = data.split_first().unwrap_or((&0, data));
    let content_type = CONTENT_TYPES[*selector as usize % CONTENT_TYPES.len()];
    if let Ok(feed) = parse_feed(body, content_type, Some("http://fuzz.example/feed")) {
        for entry in feed.entries.iter().take(50) {
            let s = tracker::snapshot(entry, &[]);
            assert!(!s.title.contains('\u{200B}'), "zero-width survived normalisation");
        }
    }
});
