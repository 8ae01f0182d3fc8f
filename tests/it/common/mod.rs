//! Real local servers for integration tests: a feed server whose content
//! and status the test scripts, a webhook receiver that records what it
//! gets, and (in [`smtp`]) a real SMTP server (Python's aiosmtpd). All
//! listen on 127.0.0.1 with an OS-chosen port.

#![allow(dead_code)]

pub mod daemon;
pub mod nats;
pub mod smtp;
pub mod webdriver;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// What the feed server answers with.
#[derive(Clone)]
pub struct FeedResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

#[derive(Default)]
struct FeedState {
    response: Option<FeedResponse>,
    requests: usize,
    conditional_hits: usize,
}

/// Serves one feed at `/feed`, with an ETag so conditional GETs get 304.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<FeedState>>,
}

async fn feed_handler(State(s): State<Arc<Mutex<FeedState>>>, headers: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    st.requests += 1;
    let Some(r) = st.response.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{:x}\"", md5ish(&r.body));
    if r.status == 200
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str())
    {
        st.conditional_hits += 1;
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, r.content_type.parse().unwrap());
    if r.status == 200 {
        h.insert(header::ETAG, etag.parse().unwrap());
    }
    for (k, v) in &r.headers {
        h.insert(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

fn md5ish(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3)
    })
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let state = Arc::new(Mutex::new(FeedState::default()));
        let router = Router::new()
            .route("/feed", get(feed_handler))
            .with_state(state.clone());
        FeedServer {
            addr: serve(router).await,
            state,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/feed", self.addr)
    }

    pub fn set(&self, content_type: &str, body: impl Into<Vec<u8>>) {
        self.state.lock().unwrap().response = Some(FeedResponse {
            status: 200,
            content_type: content_type.into(),
            body: body.into(),
            headers: Vec::new(),
        });
    }

    pub fn set_response(&self, r: FeedResponse) {
        self.state.lock().unwrap().response = Some(r);
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    pub fn not_modified_answers(&self) -> usize {
        self.state.lock().unwrap().conditional_hits
    }
}

/// One request the webhook receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived (for latency measurements).
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One scripted answer of the webhook receiver.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering (the request is recorded first).
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Answer {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct HookState {
    received: Vec<Received>,
    /// Every request, whatever the answer.
    all: Vec<Received>,
    /// Answers, in order; 200 once exhausted.
    script: VecDeque<Answer>,
    attempts: usize,
}

/// Records every POST to `/hook`; answers with scripted statuses.
#[derive(Clone)]
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<HookState>>,
}

async fn hook_handler(
    State(s): State<Arc<Mutex<HookState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut st = s.lock().unwrap();
        st.attempts += 1;
        let answer = st.script.pop_front().unwrap_or(Answer::status(200));
        let r = Received {
            headers,
            body,
            at: Instant::now(),
        };
        // a 2xx counts as received when the request arrived, even if the
        // answer is delayed (the receiver has processed it by then)
        if (200..300).contains(&answer.status) {
            st.received.push(r.clone());
        }
        st.all.push(r);
        answer
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut resp = StatusCode::from_u16(answer.status).unwrap().into_response();
    for (k, v) in &answer.headers {
        resp.headers_mut().insert(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let state = Arc::new(Mutex::new(HookState::default()));
        let router = Router::new()
            .route("/hook", any(hook_handler))
            .with_state(state.clone());
        WebhookReceiver {
            addr: serve(router).await,
            state,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answer the next requests with these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(statuses.iter().map(|s| Answer::status(*s)));
    }

    /// Answer the next requests like this.
    pub fn script_answers(&self, answers: &[Answer]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    /// Forget the scripted answers not used yet: 200 from now on.
    pub fn clear_script(&self) {
        self.state.lock().unwrap().script.clear();
    }

    /// Requests accepted (2xx) so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every request so far, whatever it was answered.
    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().all.clone()
    }

    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// Waits until `n` requests arrived (whatever the answer), or panics.
    pub async fn wait_for_attempts(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.attempts() < n {
            assert!(
                Instant::now() < deadline,
                "webhook receiver got {} requests, expected {n}",
                self.attempts()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A minimal RSS 2.0 document.
/// The manual clock's start in the tests (a date in 2026).
pub const T0: i64 = 1_790_000_000_000;

/// Stories the notifier and pipeline tests publish: one no watch matches,
/// and two versions of the developing story the "nk" watch follows.
pub const UNRELATED: (&str, &str, &str) =
    ("s1", "Council approves cycle lanes", "The vote was 9-2.");
pub const NK_V1: (&str, &str, &str) = (
    "nk",
    "North Korean troops seen near front",
    "About 3,000 North Korean troops may have been sent to the front lines.",
);
pub const NK_V2: (&str, &str, &str) = ("nk", "North Korean troops seen near front", "About 5,000 North Korean troops have been sent to the front lines. Officials expect them in combat within weeks.");

/// A config with state in `state_dir`, one feed "news" at `feed`, the "nk"
/// watch and `notifiers` (TOML `[[notifier]]` tables, verbatim).
pub fn nk_config(
    state_dir: &std::path::Path,
    feed: &str,
    notifiers: &str,
) -> storywatch::config::Config {
    nk_config_with(state_dir, feed, "", notifiers)
}

/// [`nk_config`] with more `[daemon]` keys (`daemon_extra`, verbatim).
pub fn nk_config_with(
    state_dir: &std::path::Path,
    feed: &str,
    daemon_extra: &str,
    notifiers: &str,
) -> storywatch::config::Config {
    let text = format!(
        r#"
[daemon]
state_dir = "{}"
per_host_delay = "0s"
{daemon_extra}

[[feed]]
name = "news"
url = "{feed}"

[[watch]]
name = "nk"
query = '("north korea" OR "north korean") AND (troops OR soldiers)'

{notifiers}
"#,
        state_dir.display()
    );
    storywatch::config::Config::from_toml(std::path::Path::new("test.toml"), &text).unwrap()
}

pub fn rss(items: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Test</title><link>http://example.com/</link><description>t</description>");
    for (guid, title, desc) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><link>http://example.com/{guid}</link><title>{title}</title><description>{desc}</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// A minimal Atom document.
pub fn atom(items: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Test</title><id>urn:test</id><updated>2026-11-01T00:00:00Z</updated>");
    for (id, title, summary) in items {
        s.push_str(&format!(
            "<entry><id>urn:{id}</id><link href=\"http://example.com/{id}\"/><title>{title}</title><updated>2026-11-01T00:00:00Z</updated><summary>{summary}</summary></entry>"
        ));
    }
    s.push_str("</feed>");
    s
}

/// A minimal JSON Feed 1.1 document.
pub fn json_feed(items: &[(&str, &str, &str)]) -> String {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(id, title, text)| serde_json::json!({"id": id, "url": format!("http://example.com/{id}"), "title": title, "content_text": text}))
        .collect();
    serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": "Test", "items": items}).to_string()
}

// ---------------------------------------------------------------------------
// A raw, scriptable HTTP/1.1 server for hostile cases that a well-behaved
// framework cannot produce: slow drip, truncated bodies, lying
// Content-Length, enormous headers, endless bodies. It speaks just enough
// HTTP: one request per connection, answered with the bytes a script says,
// then the connection is closed. Every request is logged with its arrival
// and completion time (for politeness tests) and the bytes actually written
// (for "stopped reading early" checks).

/// One step of a scripted reply.
#[derive(Clone, Debug)]
pub enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
    /// Write `chunk` `times` times (an endless-looking body without holding
    /// it in memory).
    Repeat {
        chunk: Vec<u8>,
        times: usize,
    },
    /// Write `bytes` one byte at a time, pausing `every` between bytes.
    Drip {
        bytes: Vec<u8>,
        every: Duration,
    },
}

/// A request as the raw server saw it.
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub started: Instant,
    pub finished: Option<Instant>,
    pub bytes_sent: u64,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub type Script = Arc<dyn Fn(&RawRequest) -> Vec<Step> + Send + Sync>;

#[derive(Clone)]
pub struct RawServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<RawRequest>>>,
    script: Arc<Mutex<Script>>,
}

/// A complete response: status line, headers, `Content-Length` and body.
pub fn http_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = http_head(status, headers, Some(body.len()));
    out.extend_from_slice(body);
    out
}

/// Status line and headers only; `content_length` adds that header.
pub fn http_head(status: u16, headers: &[(&str, &str)], content_length: Option<usize>) -> Vec<u8> {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = content_length {
        out.push_str(&format!("Content-Length: {n}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The usual case: one complete response.
pub fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<Step> {
    vec![Step::Write(http_response(status, headers, body))]
}

impl RawServer {
    pub async fn start(script: Script) -> RawServer {
        RawServer::start_on("127.0.0.1:0", script).await
    }

    pub async fn start_on(bind: &str, script: Script) -> RawServer {
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = RawServer {
            addr,
            log: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(script)),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.handle(sock).await });
            }
        });
        server
    }

    /// Replaces the script (for the next requests).
    pub fn set_script(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<RawRequest> {
        self.log.lock().unwrap().clone()
    }

    async fn handle(&self, mut sock: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if buf.len() > 64 * 1024 {
                return;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let request = RawRequest {
            path,
            headers,
            started: Instant::now(),
            finished: None,
            bytes_sent: 0,
        };
        let index = {
            let mut log = self.log.lock().unwrap();
            log.push(request.clone());
            log.len() - 1
        };
        let script = self.script.lock().unwrap().clone();
        let steps = script(&request);
        let mut sent = 0u64;
        'steps: for step in steps {
            match step {
                Step::Write(bytes) => {
                    if sock.write_all(&bytes).await.is_err() {
                        break 'steps;
                    }
                    sent += bytes.len() as u64;
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Repeat { chunk, times } => {
                    for _ in 0..times {
                        if sock.write_all(&chunk).await.is_err() {
                            break 'steps;
                        }
                        sent += chunk.len() as u64;
                    }
                }
                Step::Drip { bytes, every } => {
                    for b in bytes {
                        if sock.write_all(&[b]).await.is_err() {
                            break 'steps;
                        }
                        sent += 1;
                        tokio::time::sleep(every).await;
                    }
                }
            }
        }
        let _ = sock.shutdown().await;
        let mut log = self.log.lock().unwrap();
        log[index].finished = Some(Instant::now());
        log[index].bytes_sent = sent;
    }
}

/// The most requests that were in flight at the same moment.
pub fn max_in_flight(requests: &[RawRequest]) -> usize {
    let mut events: Vec<(Instant, i32)> = Vec::new();
    for r in requests {
        events.push((r.started, 1));
        events.push((r.finished.unwrap_or_else(Instant::now), -1));
    }
    // ends sort before starts at the same instant
    events.sort_by_key(|(t, d)| (*t, *d));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// A realistic RSS 2.0 document with `n` items of about `item_bytes` each.
pub fn big_rss(n: usize, item_bytes: usize, version: usize) -> String {
    let filler = "The council met on Tuesday to discuss the budget for the coming year, and members raised questions about road repairs. ";
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Big</title><link>http://example.com/</link><description>t</description>");
    for i in 0..n {
        let mut desc = format!("Story {i} version {version}. ");
        while desc.len() < item_bytes {
            desc.push_str(filler);
        }
        s.push_str(&format!(
            "<item><guid>story-{i}</guid><link>http://example.com/s/{i}</link><title>Story number {i}</title><description>{desc}</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// Fails when text meant for people shows Rust's `Debug` formatting:
/// `Some(…)`, `None`, or an enum variant in parentheses.
pub fn assert_no_debug(what: &str, text: &str) {
    for tell in [
        "Some(",
        "None",
        "(Json)",
        "(Starttls)",
        "(Tls)",
        "(Major)",
        "(Minor)",
        "(Typo)",
    ] {
        assert!(!text.contains(tell), "{what} shows {tell:?}:\n{text}");
    }
}

/// Log lines captured from `tracing` on this thread (plain text, no
/// colours), for tests of what the operator reads.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures INFO and above until the guard is dropped.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// The real HTTP endpoint for `app` on 127.0.0.1: its base URL and task.
pub async fn endpoint(app: &Arc<storywatch::app::App>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = storywatch::http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let health = Arc::new(storywatch::status::Health::default());
    (base, storywatch::http::serve(listener, app.clone(), health))
}
