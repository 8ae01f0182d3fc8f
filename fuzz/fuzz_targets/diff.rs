//! Fuzzes the diff engine: two arbitrary texts must compare without panic,
//! and the diff must reproduce both texts exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storywatch::model::Snapshot;
use storywatch::tracker::diff::{diff_text, Chunk};
use storywatch::tracker::{materiality, normalize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let (a, b) = (normalize::clean(a, &[]), normalize::clean(b, &[]));
    let d = diff_text(&a, &b);
    let (mut old, mut new) = (String::new(), String::new());
    for c in &d.chunks {
        match c {
            Chunk::Same { text } => {
                old.push_str(text);
                new.push_str(text);
            }
            Chunk::Added { text } => new.push_str(text),
            Chunk::Removed { text } => old.push_str(text),
            Chunk::Replaced { old: o, new: n } => {
                old.push_str(o);
                new.push_str(n);
            }
        }
    }
    assert_eq!(old, a);
    assert_eq!(new, b);
    let _ = d.render_text(5);
    let _ = d.render_html(5);
    let s = |t: &str| Snapshot { title: t.chars().take(80).collect(), summary: t.to_string(), ..Default::default() };
    let _ = materiality::compare(&s(&a), &s(&b));
});
