//! The merge rules, one URL style at a time, with the cases that must not
//! merge next to the ones that must.

use super::*;

fn snap(title: &str, body: &str, link: &str) -> Snapshot {
    Snapshot {
        title: title.into(),
        summary: body.into(),
        link: link.into(),
        ..Default::default()
    }
}

fn side(s: &Snapshot) -> Side<'_> {
    Side {
        snapshot: s,
        guid: (!s.link.is_empty()).then_some(s.link.as_str()),
    }
}

fn merge(a: &Snapshot, b: &Snapshot) -> Option<Merge> {
    merge_in_poll(a, b, &HashSet::new())
}

fn merge_in_poll(a: &Snapshot, b: &Snapshot, shared: &HashSet<String>) -> Option<Merge> {
    evidence(
        &Prepared::new(side(a), shared),
        &Prepared::new(side(b), shared),
    )
}

fn id_of(link: &str) -> Option<String> {
    LinkFacts::of(&article_url(link).unwrap()).id
}

const LONG_A: &str =
    "Officials said on Tuesday that the troops had been moved to the border region overnight, \
    and that further deployments were expected in the coming days as talks stalled.";
const LONG_B: &str = "The central bank raised interest rates by half a point on Thursday, \
    its fourth increase this year, citing persistent inflation in food and energy prices.";

#[test]
fn dates_are_not_ids() {
    // compact dates, dated paths, years, date-time stamps
    assert_eq!(
        id_of("https://www.smh.com.au/politics/federal/some-headline-20210919-p58syv.html")
            .as_deref(),
        Some("p58syv")
    );
    assert_eq!(id_of("https://e.com/2021/09/19/world/slug.html"), None);
    assert_eq!(id_of("https://e.com/news/2021-09-19-slug"), None);
    assert_eq!(id_of("https://e.com/news/slug-20210919"), None);
    assert_eq!(id_of("https://e.com/news/slug-19092021"), None);
    assert_eq!(id_of("https://e.com/news/202109191030-slug"), None);
    assert_eq!(id_of("https://e.com/archive/202109/slug"), None);
    assert!(is_date("2021"));
    assert!(!is_date("58616"));
    assert!(!is_date("1632040000"), "a unix timestamp is unique enough");
}

#[test]
fn numeric_ids_codes_and_uuids_are_ids() {
    assert_eq!(
        id_of("https://www.bbc.co.uk/news/uk-england-kent-58616135").as_deref(),
        Some("58616135")
    );
    assert_eq!(
        id_of("https://www.rnz.co.nz/news/national/414752/covid-19-alert-level-3").as_deref(),
        Some("414752")
    );
    assert_eq!(
        id_of("https://www.npr.org/2026/07/31/g-s1-133360/chop-digital").as_deref(),
        Some("133360")
    );
    assert_eq!(
        id_of("https://www.bbc.co.uk/news/articles/c74gwdzywmeo").as_deref(),
        Some("c74gwdzywmeo")
    );
    assert_eq!(
        id_of("https://bdnews24.com/world/222febd8f66c").as_deref(),
        Some("222febd8f66c")
    );
    assert_eq!(
        id_of("https://bonikbarta.com/economy/pw7bb7QjlZ1CMPWl/").as_deref(),
        Some("pw7bb7QjlZ1CMPWl")
    );
    assert_eq!(
        id_of("https://www.ft.com/content/636531c8-89e9-489d-8de8-84ce43128955").as_deref(),
        Some("636531c8-89e9-489d-8de8-84ce43128955")
    );
    assert_eq!(
        id_of("https://www.wgrz.com/article/life/slug/71-c23e0e0a-7dff-4148-9f57-df81022d2a9a")
            .as_deref(),
        Some("c23e0e0a-7dff-4148-9f57-df81022d2a9a")
    );
    assert_eq!(
        id_of("https://www.jugantor.com/economics/1074192").as_deref(),
        Some("1074192")
    );
    // query ids (WordPress ?p=123) and short numeric last segments
    assert_eq!(
        id_of("https://blog.example/?p=123").as_deref(),
        Some("p=123")
    );
    assert_eq!(
        id_of("https://e.com/story/123").as_deref(),
        Some("story/123")
    );
    // words with a number are slugs, not codes
    assert_eq!(
        id_of("https://e.com/news/covid19-vaccines-h264-top10"),
        None
    );
    assert_eq!(
        id_of("https://e.com/2024/10/23/politics/senate-passes-budget.html"),
        None
    );
}

#[test]
fn compact_date_plus_code_links_of_different_stories_never_merge() {
    // the class of outlet that glued unrelated stories: same day, same
    // section, different article codes
    let a = snap(
        "Roarke Smith's journey from seven rookie contracts to the grand final",
        LONG_A,
        "https://www.example.com.au/sport/afl/roarke-smith-journey-20210919-p58syv.html",
    );
    let b = snap(
        "An elevated red carpet takes an exciting turn",
        LONG_B,
        "https://www.example.com.au/sport/afl/elevated-red-carpet-20210919-p58t2k.html",
    );
    assert_eq!(merge(&a, &b), None);
    // even with identical text: two codes are two articles
    let c = snap(&a.title, &a.summary, &b.link);
    assert_eq!(merge(&a, &c), None);
    // the same code under a rewritten slug is the same article
    let d = snap(
        "Roarke Smith's long road to the grand final",
        LONG_A,
        "https://www.example.com.au/sport/afl/roarke-smith-long-road-20210919-p58syv.html",
    );
    let m = merge(&a, &d).expect("same code");
    assert_eq!(m.rule, MergeRule::SameArticleId);
    assert_eq!(m.id.as_deref(), Some("p58syv"));
    assert!(
        m.reason().contains("same article id p58syv"),
        "{}",
        m.reason()
    );
}

/// A number in a directory that every article of a section carries
/// (`/news/20254/story-137-51`) reads like an article id on its own; the
/// poll shows it is not: several different articles carry it. Then it is
/// evidence neither for a merge nor against one.
#[test]
fn an_id_several_articles_of_the_poll_share_is_not_an_id() {
    let link = |n: u32| format!("https://www.news40.example.com/news/20254/story-137-{n}");
    assert_eq!(id_of(&link(48)).as_deref(), Some("20254"));
    let gone = snap("Tsunami warning for the coast tonight", LONG_A, &link(48));
    let fresh = snap("Central bank raises rates again", LONG_B, &link(51));
    let poll: Vec<String> = (49..=52).map(link).collect();
    let shared = ids_shared_by_several_links(poll.iter().map(String::as_str));
    assert_eq!(shared, HashSet::from(["20254".to_string()]));
    assert_eq!(
        merge(&gone, &fresh).map(|m| m.rule),
        Some(MergeRule::SameArticleId),
        "alone, the number looks like an id"
    );
    assert_eq!(merge_in_poll(&gone, &fresh, &shared), None);
    // not evidence against either: the same text under a new slug merges
    let renamed = snap(&gone.title, LONG_A, &link(53));
    let m = merge_in_poll(&gone, &renamed, &shared).expect("slug rewrite");
    assert_eq!(m.rule, MergeRule::SlugRewrite);
    // one article under two links (AMP next to canonical) keeps its id
    let amp = [
        "https://www.bbc.co.uk/news/uk-58616135",
        "https://www.bbc.co.uk/news/amp/uk-58616135",
        "https://www.bbc.co.uk/news/uk-58616999",
    ];
    assert!(ids_shared_by_several_links(amp).is_empty());
}

#[test]
fn numeric_id_survives_a_slug_rewrite() {
    let old = snap(
        "Man seen with weapons on balcony",
        "Police were called.",
        "https://www.bbc.co.uk/news/uk-england-kent-58616135",
    );
    let new = snap(
        "Armed police arrest balcony gunman",
        "Officers arrested a man.",
        "https://www.bbc.co.uk/news/uk-england-58616135",
    );
    let m = merge(&old, &new).unwrap();
    assert_eq!(m.rule, MergeRule::SameArticleId);
    assert!(!m.is_suspicious(), "an id is evidence enough");
    let other = snap(
        &new.title,
        &new.summary,
        "https://www.bbc.co.uk/news/uk-england-58616999",
    );
    assert_eq!(merge(&old, &other), None, "another id is another story");
}

#[test]
fn codes_without_a_slug_never_merge_on_text() {
    // bbc /news/articles/<code>, bdnews24 /world/<hex>: same section, new code
    let a = snap(
        "Kuwait intercepts drones on 3rd day of Iran retaliatory strikes",
        LONG_A,
        "https://bdnews24.com/world/ccfdf54bf174",
    );
    let b = snap(
        "Kuwait intercepts drones on 3rd day of Iran strikes",
        LONG_A,
        "https://bdnews24.com/world/8e7ba34ed308",
    );
    assert_eq!(merge(&a, &b), None);
}

#[test]
fn slug_rewrite_needs_a_similar_headline_or_body() {
    let old = snap(
        "Senate passes the budget bill",
        "",
        "https://news.example/2024/10/23/politics/senate-passes-budget.html",
    );
    let new = snap(
        "Senate narrowly passes the budget bill",
        "",
        "https://news.example/2024/10/23/politics/senate-narrowly-passes-budget.html",
    );
    let m = merge(&old, &new).unwrap();
    assert_eq!(m.rule, MergeRule::SlugRewrite);
    assert!(!m.is_suspicious());
    let unrelated = snap(
        "Storm hits the coast",
        "",
        "https://news.example/2024/10/23/politics/storm-hits-coast.html",
    );
    assert_eq!(merge(&old, &unrelated), None);
    // another day is another stem
    let next_day = snap(
        &new.title,
        "",
        "https://news.example/2024/10/24/politics/senate-narrowly-passes-budget.html",
    );
    assert_eq!(merge(&old, &next_day), None);
}

#[test]
fn daily_briefings_are_not_merged() {
    let wed = snap(
        "Coronavirus, Oil, Earth Day: Your Wednesday Briefing",
        "Here's what you need to know.",
        "https://www.nytimes.com/2020/04/22/briefing/coronavirus-oil-earth-day.html",
    );
    let thu = snap(
        "Coronavirus, Tornadoes, N.F.L. Draft: Your Thursday Briefing",
        "Here's what you need to know.",
        "https://www.nytimes.com/2020/04/23/briefing/coronavirus-tornadoes-nfl-draft.html",
    );
    assert_eq!(merge(&wed, &thu), None);
}

#[test]
fn amp_mobile_and_archive_variants_are_the_same_url() {
    let canonical = snap("A", "", "https://www.example.com/news/some-story");
    for variant in [
        "https://m.example.com/news/some-story",
        "https://amp.example.com/news/some-story",
        "https://www.example.com/news/some-story/amp",
        "https://www.example.com/amp/news/some-story",
        "https://www.example.com/news/some-story.amp",
        "https://www.example.com/news/some-story?outputType=amp",
        "https://archive.is/o/AbC12/https://www.example.com/news/some-story",
        "https://web.archive.org/web/20210919000000/https://www.example.com/news/some-story",
    ] {
        let v = snap("B", "", variant);
        let m = merge(&canonical, &v).unwrap_or_else(|| panic!("{variant}"));
        assert_eq!(m.rule, MergeRule::SameUrl, "{variant}");
    }
    // archive-wrapped links compare by the article inside: different
    // UUIDs under one archive host are different stories
    let a = snap(
        "Is the US consumer going soft?",
        LONG_A,
        "https://archive.is/o/7PUs5/https://www.ft.com/content/636531c8-89e9-489d-8de8-84ce43128955",
    );
    let b = snap(
        "Switzerland is crossing the crypto Rubicon",
        LONG_B,
        "https://archive.is/o/7PUs5/https://www.ft.com/content/fea1fc5f-c726-45fe-8a8c-cde893f754dc",
    );
    assert_eq!(merge(&a, &b), None);
}

#[test]
fn text_alone_needs_similar_title_and_long_similar_body() {
    // other hosts, no id in common: text must carry it all
    let a = snap(
        "Star channels Angelina Jolie in leggy dress on red carpet",
        "",
        "https://one.example/celebrity/star-channels-angelina",
    );
    let b = snap(
        "Elizabeth Olsen hits Emmys red carpet in dress",
        "",
        "https://two.example/celebrity/olsen-hits-emmys",
    );
    assert_eq!(merge(&a, &b), None);
    // a shared one-line summary is weak evidence
    let c = snap(
        &a.title,
        "Photos from the red carpet.",
        "https://one.example/x",
    );
    let d = snap(
        "Star channels Angelina Jolie in a dress",
        "Photos from the red carpet.",
        "https://two.example/y",
    );
    assert_eq!(
        merge(&c, &d),
        None,
        "title alone is not enough when links exist"
    );
    // near-identical title and long body: the same story moved
    let e = snap(
        "Troops moved to the border overnight, officials say",
        LONG_A,
        "https://one.example/a",
    );
    let f = snap(
        "Troops moved to the border overnight",
        LONG_A,
        "https://two.example/b",
    );
    let m = merge(&e, &f).unwrap();
    assert_eq!(m.rule, MergeRule::SimilarText);
    assert!(!m.is_suspicious());
}

#[test]
fn entries_without_guid_or_link_merge_on_a_similar_headline() {
    let old = snap(
        "North Korean troops may have been sent to front lines",
        "",
        "",
    );
    let new = snap(
        "North Korean troops have been sent to front lines, officials say",
        "",
        "",
    );
    let no_guid = |s| Side {
        snapshot: s,
        guid: None,
    };
    let m = evidence(
        &Prepared::new(no_guid(&old), &HashSet::new()),
        &Prepared::new(no_guid(&new), &HashSet::new()),
    )
    .unwrap();
    assert_eq!(m.rule, MergeRule::SimilarText);
    let unrelated = snap("Local bakery wins national prize", "", "");
    assert_eq!(
        evidence(
            &Prepared::new(no_guid(&old), &HashSet::new()),
            &Prepared::new(no_guid(&unrelated), &HashSet::new())
        ),
        None
    );
}

#[test]
fn dice_compares_words_in_scripts_with_combining_marks() {
    // Bengali writes vowels as combining marks: they stay inside the word
    assert!(dice("আগস্টে রেমিট্যান্স এল", "আগস্টে রেমিট্যান্স এসেছে") > 0.6);
    assert!(dice("আগস্টে রেমিট্যান্স", "ডেঙ্গুতে তিনজনের মৃত্যু") < 0.1);
}
