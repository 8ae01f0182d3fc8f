//! The JSON API as a client meets it, over real HTTP on 127.0.0.1 against
//! the real endpoint and a database filled by real polls (a manual clock
//! sets when each story changed): stories newest-changed first, cursor
//! paging that stays right while stories change, the filters (feed,
//! developing, watch, and `q` in the watch language), strict parameters,
//! RFC 3339 times everywhere, and one JSON shape for every error.

use crate::common;

use std::sync::Arc;

use common::{rss, FeedServer, T0};
use serde_json::Value;
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::status::Health;

const MIN: i64 = 60_000;

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        (status, json)
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_no_epoch_numbers(path, &body);
        body
    }

    /// A refusal: its status, and the error's stable code; the body has the
    /// one error shape.
    async fn refused(&self, path: &str) -> (u16, String) {
        let (status, body) = self.get(path).await;
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert_eq!(error.len(), 2, "{path}: only code and message: {body}");
        let message = error["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{path}");
        (status, error["code"].as_str().unwrap().to_string())
    }

    async fn ids(&self, path: &str) -> (Vec<String>, Option<String>) {
        let page = self.ok(path).await;
        let ids = page["stories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        (ids, page["next"].as_str().map(str::to_string))
    }
}

/// Times are RFC 3339 strings: an epoch-milliseconds number (this decade
/// is above 1.5e12) anywhere in an answer is a leak of the stored form.
fn assert_no_epoch_numbers(path: &str, v: &Value) {
    match v {
        Value::Number(n) => assert!(
            n.as_f64().is_none_or(|f| f.abs() < 1e11),
            "{path}: a number that looks like epoch milliseconds: {n}"
        ),
        Value::Array(items) => items.iter().for_each(|i| assert_no_epoch_numbers(path, i)),
        Value::Object(map) => map.values().for_each(|i| assert_no_epoch_numbers(path, i)),
        _ => {}
    }
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| storywatch::clock::parse_rfc3339(s).is_some() && s.ends_with('Z'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stories_by_recency_with_filters_cursors_and_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (world, local) = (FeedServer::start().await, FeedServer::start().await);
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
baseline = false

[[feed]]
name = "world"
url = "{}"
tags = ["international"]

[[feed]]
name = "local"
url = "{}"

[[watch]]
name = "storms"
query = "storm"
"#,
        dir.path().join("state").display(),
        world.url(),
        local.url()
    );
    let config = Config::from_toml(std::path::Path::new("api.toml"), &text).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    let poll = |feed: &'static str| {
        let app = app.clone();
        async move { storywatch::poll::poll_feed(&app, feed).await.unwrap() }
    };
    let storm = ("storm", "Storm warning for the coast", "Winds of 120 km/h.");
    let bakery = ("bakery", "Bakery wins award", "For the third year.");
    world.set("application/rss+xml", rss(&[storm, bakery]));
    poll("world").await;
    clock.advance(MIN);
    local.set(
        "application/rss+xml",
        r#"<rss version="2.0"><channel><title>L</title><item><guid>vote</guid><title>Council vote on cycle lanes</title><description>The vote was 9-2.</description><pubDate>Mon, 06 Jan 2025 10:00:00 GMT</pubDate></item></channel></rss>"#,
    );
    poll("local").await;
    clock.advance(MIN);
    let storm_v2 = ("storm", "Storm warning for the coast", "Winds of 150 km/h.");
    world.set("application/rss+xml", rss(&[storm_v2, bakery]));
    poll("world").await;

    let listener = storywatch::http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = storywatch::http::serve(listener, app.clone(), Arc::new(Health::default()));
    let api = Api {
        base,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let all = api.ok("/api/stories").await;
    let stories = all["stories"].as_array().unwrap();
    let titles: Vec<&str> = stories
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Storm warning for the coast",
            "Council vote on cycle lanes",
            "Bakery wins award"
        ],
        "the most recently changed first"
    );
    for s in stories {
        for key in ["first_seen", "last_changed", "last_seen"] {
            assert!(is_rfc3339(&s[key]), "{key}: {s}");
        }
    }
    let id = |i: usize| stories[i]["id"].as_str().unwrap().to_string();
    let (storm_id, vote_id, bakery_id) = (id(0), id(1), id(2));

    // paging: the bakery story changes between two pages; it moves to the
    // front, and the pages neither repeat nor skip the others
    let (page1, next) = api.ids("/api/stories?limit=1").await;
    assert_eq!(page1, vec![storm_id.clone()]);
    clock.advance(MIN);
    let bakery_v2 = ("bakery", "Bakery wins award again", "For the fourth year.");
    world.set("application/rss+xml", rss(&[storm_v2, bakery_v2]));
    poll("world").await;
    let (page2, next) = api
        .ids(&format!("/api/stories?limit=1&after={}", next.unwrap()))
        .await;
    assert_eq!(
        (page2, next),
        (vec![vote_id.clone()], None),
        "the last page: the edited story moved ahead of the cursor"
    );
    let (fresh, _) = api.ids("/api/stories").await;
    assert_eq!(
        fresh,
        [bakery_id.clone(), storm_id.clone(), vote_id.clone()]
    );

    // filters
    assert_eq!(
        api.ids("/api/stories?feed=local").await.0,
        vec![vote_id.clone()]
    );
    assert_eq!(
        api.ids("/api/stories?watch=storms").await.0,
        vec![storm_id.clone()]
    );
    assert_eq!(
        api.ids("/api/stories?q=title%3Astorm").await.0,
        vec![storm_id.clone()]
    );
    assert_eq!(
        api.ids("/api/stories?q=tag%3Ainternational").await.0,
        [bakery_id.clone(), storm_id.clone()],
        "q sees the feed's tags as the watches do"
    );
    assert_eq!(
        api.ids("/api/stories?q=cycle%20OR%20award&feed=world")
            .await
            .0,
        vec![bakery_id.clone()]
    );
    assert!(api.ids("/api/stories?developing=true").await.0.is_empty());
    assert_eq!(api.ids("/api/stories?developing=false").await.0.len(), 3);
    // a filtered page still hands back a cursor that continues after it
    let (one, next) = api.ids("/api/stories?feed=world&limit=1").await;
    assert_eq!(one, vec![bakery_id.clone()]);
    let (two, _) = api
        .ids(&format!(
            "/api/stories?feed=world&limit=1&after={}",
            next.unwrap()
        ))
        .await;
    assert_eq!(two, vec![storm_id.clone()]);

    // one story: versions, times and the feed's own dates in RFC 3339
    let story = api.ok(&format!("/api/stories/{vote_id}")).await;
    let v = &story["versions"][0];
    assert!(is_rfc3339(&v["at"]), "{story}");
    assert_eq!(
        v["snapshot"]["published"], "2025-01-06T10:00:00Z",
        "{story}"
    );
    let storm = api.ok(&format!("/api/stories/{storm_id}")).await;
    assert_eq!(storm["versions"].as_array().unwrap().len(), 2);
    let status = api.ok("/api/status").await;
    assert!(is_rfc3339(&status["last_poll"]), "{status}");
    let feeds = api.ok("/api/feeds").await;
    assert!(is_rfc3339(&feeds["feeds"][0]["last_success"]), "{feeds}");
    api.ok("/api/outbox?limit=5").await;

    // refusals: a status, a stable code, a message, always the same shape
    for (path, want) in [
        ("/api/stories?develping=true", (400, "unknown_parameter")),
        ("/api/stories?sort=id", (400, "unknown_parameter")),
        ("/api/status?verbose=1", (400, "unknown_parameter")),
        ("/api/feeds?x", (400, "unknown_parameter")),
        ("/api/outbox?all=true", (400, "unknown_parameter")),
        (
            &format!("/api/stories/{storm_id}?diff=1"),
            (400, "unknown_parameter"),
        ),
        ("/api/stories?developing=yes", (400, "bad_parameter")),
        ("/api/stories?limit=0", (400, "bad_parameter")),
        ("/api/stories?limit=ten", (400, "bad_parameter")),
        ("/api/stories?feed=a&feed=b", (400, "bad_parameter")),
        ("/api/stories?after=not-a-cursor", (400, "bad_cursor")),
        ("/api/stories?q=(storm", (400, "bad_query")),
        ("/api/stories/nope", (404, "not_found")),
        ("/nowhere", (404, "not_found")),
    ] {
        let (status, code) = api.refused(path).await;
        assert_eq!((status, code.as_str()), want, "{path}");
    }
    let resp = api
        .client
        .post(format!("{}/api/stories", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");

    // a story still listed was last seen at its feed's last poll, though an
    // unchanged story is not rewritten; one under a new URL with the same
    // article id is the same story, and the API shows the merge's evidence
    let item = |link: &str, title: &str| {
        format!(
            r#"<rss version="2.0"><channel><title>L</title><item><guid>{link}</guid><link>{link}</link><title>{title}</title><description>Police were called.</description></item></channel></rss>"#
        )
    };
    local.set(
        "application/rss+xml",
        item(
            "https://news.example/uk-kent-58616135",
            "Man seen on balcony",
        ),
    );
    clock.advance(MIN);
    poll("local").await;
    clock.advance(MIN);
    poll("local").await;
    let listed = api.ok("/api/stories?feed=local").await;
    let balcony = listed["stories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Man seen on balcony")
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_ne!(balcony["last_seen"], balcony["first_seen"], "{balcony}");
    local.set(
        "application/rss+xml",
        item(
            "https://news.example/uk-england-58616135",
            "Armed police arrest balcony gunman",
        ),
    );
    clock.advance(MIN);
    poll("local").await;
    let merged = api
        .ok(&format!("/api/stories/{}", balcony["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        merged["title"], "Armed police arrest balcony gunman",
        "{merged}"
    );
    let merge = &merged["merges"][0];
    assert_eq!(merge["rule"], "same_article_id", "{merged}");
    assert_eq!(merge["id"], "58616135", "{merged}");
    assert!(is_rfc3339(&merge["at"]), "{merged}");
    server.abort();
}
