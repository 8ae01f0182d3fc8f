//! Fuzzes the watch query parser: any UTF-8 must either parse or return a
//! `QueryError` (never panic, overflow the stack or hang), and whatever
//! parses must round-trip through its canonical form and evaluate on a
//! story without panicking, with highlights that slice the original text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storywatch::watch::index::{Doc, WatchSet};
use storywatch::watch::query::DocField;
use storywatch::watch::query::parse;

const AUTHORS: &[String] = &[];

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse(src) else {
        return;
    };
    let shown = query.to_string();
    assert_eq!(
        parse(&shown).as_ref(),
        Ok(&query),
        "canonical form {shown:?} of {src:?}"
    );

    let categories = ["World".to_string(), "Europe".to_string()];
    let tags = ["ukraine-war".to_string()];
    let doc = Doc {
        title: "Kyïv: North-Korean troops near the front, officials say",
        summary: "Die Straße nach Kursk — “don’t” 1,000 U.S. café ﬁnance 北京",
        content: "Ukrainian officials said on Tuesday that Russian troops were massing near \
                  Kharkiv. NATO's secretary general said allies would do whatever it takes. \
                  Software engineers warned about the wars of tomorrow.",
        authors: AUTHORS,
        categories: &categories,
        feed: "BBC News",
        tags: &tags,
    };
    let set = WatchSet::new(vec![query]);
    let prepared = set.prepare(&doc);
    let hits = set.matching(&prepared);
    assert_eq!(hits.first(), set.check(0, &prepared).as_ref());
    for hit in &hits {
        for h in &hit.highlights {
            let original = match h.field {
                DocField::Title => doc.title,
                DocField::Summary => doc.summary,
                DocField::Content => doc.content,
                DocField::Feed => doc.feed,
                DocField::Category => categories[h.index].as_str(),
                DocField::Tag => tags[h.index].as_str(),
                DocField::Author => AUTHORS[h.index].as_str(),
            };
            assert_eq!(original.get(h.start..h.end), Some(h.text.as_str()));
        }
    }
});
