//! Private and paywalled feeds against a local server that lets in only
//! the right credential: Basic, bearer, cookie and query token, each read
//! from a file, env or systemd credential and never shown in logs or
//! `check`; extra headers; no credential for a redirect to another site.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::{rss, NK_V1, T0};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::daemon;

/// What each guarded path expects, and what every request carried.
#[derive(Default)]
struct Guard {
    seen: Vec<(String, HeaderMap, String)>,
}

async fn guarded(
    State(g): State<Arc<Mutex<Guard>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_string();
    g.lock().unwrap().seen.push((
        path.clone(),
        headers.clone(),
        uri.query().unwrap_or("").to_string(),
    ));
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok = match path.as_str() {
        // "reader:pa55 word" in base64
        "/basic" => h("authorization") == "Basic cmVhZGVyOnBhNTUgd29yZA==",
        "/bearer" => h("authorization") == "Bearer tok-123",
        "/cookie" => h("cookie") == "session=abc; consent=1",
        "/query" => q.get("key").map(String::as_str) == Some("q/s&cret"),
        "/headers" => h("x-client") == "storywatch" && h("authorization").is_empty(),
        _ => false,
    };
    if ok {
        ([("content-type", "application/rss+xml")], rss(&[NK_V1])).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn start() -> (String, Arc<Mutex<Guard>>) {
    let g = Arc::new(Mutex::new(Guard::default()));
    let router = Router::new()
        .route("/{*path}", get(guarded))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), g)
}

fn config(dir: &Path, feed: &str) -> String {
    format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\n{feed}\n[[watch]]\nname = \"nk\"\nany = [\"troops\"]\n",
        dir.join("state").display()
    )
}

/// Polls one feed once and returns its last error (None: it got in).
async fn poll(dir: &Path, feed: &str) -> Option<String> {
    let cfg = storywatch::config::Config::from_toml(Path::new("t.toml"), &config(dir, feed))
        .unwrap_or_else(|e| panic!("{e}"));
    let app = Arc::new(App::open(cfg, Arc::new(ManualClock::new(T0))).unwrap());
    daemon::once(&app).await.unwrap();
    let state = app.store.feed_state("private").unwrap().unwrap();
    assert!(state.polls >= 1);
    state.last_error
}

#[tokio::test]
async fn each_kind_of_credential_gets_in_and_a_wrong_one_does_not() {
    let (base, guard) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let feed = |path: &str, keys: &str| {
        format!("[[feed]]\nname = \"private\"\nurl = \"{base}{path}\"\n{keys}\n")
    };
    let cases = [
        (
            "/basic",
            format!(
                "auth = \"basic\"\nusername = \"reader\"\nsecret_file = \"{}\"",
                secret("b", "pa55 word")
            ),
        ),
        (
            "/bearer",
            format!(
                "auth = \"bearer\"\nsecret_file = \"{}\"",
                secret("t", "tok-123")
            ),
        ),
        (
            "/cookie",
            format!(
                "auth = \"cookie\"\nsecret_file = \"{}\"",
                secret("c", "session=abc; consent=1")
            ),
        ),
        (
            "/query",
            format!(
                "auth = \"query\"\nauth_param = \"key\"\nsecret_file = \"{}\"",
                secret("q", "q/s&cret")
            ),
        ),
        (
            "/headers",
            "headers = { \"X-Client\" = \"storywatch\" }".to_string(),
        ),
    ];
    for (i, (path, keys)) in cases.iter().enumerate() {
        let d = dir.path().join(format!("ok{i}"));
        assert_eq!(poll(&d, &feed(path, keys)).await, None, "{path} gets in");
        // the same feed without its credential is refused
        let d = dir.path().join(format!("no{i}"));
        let err = poll(&d, &feed(path, "")).await.expect("refused");
        assert!(err.contains("401"), "{path}: {err}");
    }
    // a wrong secret is refused, and its value is in no message
    let d = dir.path().join("wrong");
    let err = poll(
        &d,
        &feed(
            "/query",
            &format!(
                "auth = \"query\"\nauth_param = \"key\"\nsecret_file = \"{}\"",
                secret("w", "WRONG-SECRET")
            ),
        ),
    )
    .await
    .expect("refused");
    assert!(!err.contains("WRONG-SECRET"), "{err}");
    let seen = guard.lock().unwrap().seen.len();
    assert!(seen >= 11, "{seen} requests");
}

#[tokio::test]
async fn a_redirect_to_another_site_goes_without_the_credential() {
    let (other, guard) = start().await;
    // a feed server that redirects to `other` (another port: another origin)
    let redirect = Router::new().route(
        "/feed",
        get({
            let to = format!("{other}/bearer");
            move || async move { (StatusCode::FOUND, [("location", to)]).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("t");
    std::fs::write(&token, "tok-123").unwrap();
    let feed = format!(
        "[[feed]]\nname = \"private\"\nurl = \"http://{addr}/feed\"\nauth = \"bearer\"\nsecret_file = \"{}\"\n",
        token.display()
    );
    let err = poll(dir.path(), &feed).await.expect("refused without it");
    assert!(err.contains("401"), "{err}");
    let seen = guard.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].1.get("authorization").is_none(),
        "the token stayed with its own site"
    );
}

#[test]
fn feed_credentials_are_checked_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let bad = |keys: &str| {
        let text = config(
            dir.path(),
            &format!("[[feed]]\nname = \"private\"\nurl = \"http://127.0.0.1:9/f\"\n{keys}\n"),
        );
        match storywatch::config::Config::from_toml(Path::new("c.toml"), &text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    assert!(bad("auth = \"basic\"\nsecret_env = \"P\"").contains("needs username"));
    assert!(bad("auth = \"bearer\"").contains("needs its secret"));
    assert!(bad("auth = \"query\"\nsecret_env = \"P\"").contains("auth_param = \"token\""));
    assert!(bad("secret_env = \"P\"").contains("a secret without auth"));
    assert!(
        bad("auth = \"bearer\"\nsecret_env = \"P\"\nusername = \"u\"")
            .contains("applies only to auth = \"basic\"")
    );
    assert!(bad("headers = { \"Authorization\" = \"Bearer x\" }")
        .contains("config.toml is no place for a credential"));
    assert_eq!(bad("auth = \"bearer\"\nsecret_env = \"P\""), "");

    // `check` says where the secret comes from, never its value
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        config(
            dir.path(),
            "[[feed]]\nname = \"private\"\nurl = \"http://127.0.0.1:9/f\"\nauth = \"bearer\"\nsecret_env = \"FEED_TOKEN\"\n",
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(["check", "--config"])
        .arg(&path)
        .env("FEED_TOKEN", "very-secret-value")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("FEED_TOKEN"), "{all}");
    assert!(!all.contains("very-secret-value"), "{all}");
}
