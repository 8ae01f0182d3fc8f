//! Fetching a feed over HTTP, politely and defensively.
//!
//! - conditional GET (`If-None-Match`, `If-Modified-Since`): a 304 costs a
//!   round trip and nothing else;
//! - gzip, deflate and brotli accepted; the body limit applies to the
//!   *decompressed* bytes, so a gzip bomb stops at the limit;
//! - connect and total timeouts, so a slow-drip server cannot hold a task;
//! - redirects followed by hand (up to [`MAX_REDIRECTS`]): a loop is an
//!   error, and a chain of only permanent redirects reports the new URL so the
//!   caller can remember it;
//! - cache hints (`Cache-Control: max-age`, `Expires`) and `Retry-After`
//!   returned for the scheduler;
//! - a private feed's headers and credential ([`FeedCredentials`]) sent to
//!   its own site only.
//!
//! Errors are values the scheduler can act on, each with a message that tells
//! the user what is wrong.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

use crate::model::UnixMs;
use crate::secret::Secret;

pub const MAX_REDIRECTS: usize = 10;

/// What the feed fetcher accepts: feeds first, anything as a last resort
/// (many servers label feeds `text/html` or `application/octet-stream`).
pub const ACCEPT_FEED: &str = "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5";
/// What the article fetcher (full-text feeds) accepts.
pub const ACCEPT_HTML: &str = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5";

/// Settings shared by every fetch.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// An HTTP client for feeds (one per daemon; it pools connections).
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

/// A private feed's credential, its secret read.
#[derive(Clone)]
pub enum Credential {
    Basic { username: String, password: Secret },
    Bearer(Secret),
    Cookie(Secret),
    Query { param: String, value: Secret },
}

/// The extra headers and the credential a feed's requests carry. They go
/// only to the origin (scheme, host and port) of the URL asked for: a
/// redirect to another site is followed without them, so a credential is
/// never handed to a host it was not meant for.
#[derive(Clone, Default)]
pub struct FeedCredentials {
    pub headers: HeaderMap,
    pub credential: Option<Credential>,
}

impl std::fmt::Debug for FeedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.credential {
            None => "none",
            Some(Credential::Basic { .. }) => "basic",
            Some(Credential::Bearer(_)) => "bearer",
            Some(Credential::Cookie(_)) => "cookie",
            Some(Credential::Query { .. }) => "query",
        };
        f.debug_struct("FeedCredentials")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("credential", &kind)
            .finish()
    }
}

impl FeedCredentials {
    /// `req` with the headers and credential, when `url` is on `origin`'s
    /// site.
    fn apply(
        &self,
        mut req: reqwest::RequestBuilder,
        url: &Url,
        origin: &Url,
    ) -> reqwest::RequestBuilder {
        if url.origin() != origin.origin() {
            return req;
        }
        req = req.headers(self.headers.clone());
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                req.basic_auth(username, Some(password.expose()))
            }
            Some(Credential::Bearer(token)) => req.bearer_auth(token.expose()),
            Some(Credential::Cookie(cookie)) => match HeaderValue::from_str(cookie.expose()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req.header(header::COOKIE, v)
                }
                Err(_) => req,
            },
            Some(Credential::Query { .. }) | None => req,
        }
    }

    /// The URL to request: `url` with the query credential when on
    /// `origin`'s site.
    fn url(&self, url: &Url, origin: &Url) -> Url {
        match &self.credential {
            Some(Credential::Query { param, value }) if url.origin() == origin.origin() => {
                let mut with = url.clone();
                with.query_pairs_mut().append_pair(param, value.expose());
                with
            }
            _ => url.clone(),
        }
    }

    /// Whether a request URL holds a secret (its errors must not show it).
    fn secret_in_url(&self) -> bool {
        matches!(self.credential, Some(Credential::Query { .. }))
    }
}

/// What one fetch asks for.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub url: &'a Url,
    /// A private feed's headers and credential.
    pub credentials: Option<&'a FeedCredentials>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub max_body: u64,
    /// The `Accept` header ([`ACCEPT_FEED`] or [`ACCEPT_HTML`]).
    pub accept: &'static str,
}

/// Validators and hints from the response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseMeta {
    /// Where the content finally came from.
    pub final_url: Option<Url>,
    /// Set when every redirect hop was permanent (301/308): the feed moved.
    pub moved_to: Option<Url>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `Cache-Control: max-age` or `Expires - Date`: don't poll sooner.
    pub fresh_for: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FetchOutcome {
    NotModified(ResponseMeta),
    Body {
        body: Vec<u8>,
        content_type: Option<String>,
        meta: ResponseMeta,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {code}{}{}", reason_suffix(*.code), retry_suffix(.retry_after))]
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    #[error("HTTP 410 Gone: the publisher removed this feed; remove it from the config or find its new URL")]
    Gone,
    #[error("redirect loop at {0}: the server keeps redirecting; check the feed URL in a browser")]
    RedirectLoop(String),
    #[error("more than {MAX_REDIRECTS} redirects: check the feed URL")]
    TooManyRedirects,
    #[error("redirect without a usable Location header")]
    BadRedirect,
    #[error("redirect to {0}, which is not an http(s) URL")]
    ForbiddenRedirect(String),
    #[error("response larger than {limit} bytes (after decompression); raise max_body for this feed if it is legitimate")]
    TooLarge { limit: u64 },
    #[error("timed out after {}s: the server is too slow or not answering (raise [daemon] timeout if it is just slow)", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

fn reason_suffix(code: u16) -> String {
    StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (server asks to retry after {}s)", d.as_secs()))
        .unwrap_or_default()
}

impl FetchError {
    /// The server asked us to wait this long.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Status { .. } => "http_status",
            FetchError::Gone => "gone",
            FetchError::RedirectLoop(_)
            | FetchError::TooManyRedirects
            | FetchError::BadRedirect
            | FetchError::ForbiddenRedirect(_) => "redirect",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Other(_) => "other",
        }
    }
}

/// The HTTP client could not be built (no TLS roots, a bad setting).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[source] pub reqwest::Error);

impl Fetcher {
    pub fn new(settings: &FetchSettings) -> Result<Fetcher, ClientError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .tcp_nodelay(true)
            .tls_backend_preconfigured(crate::tls::client_config())
            .build()
            .map_err(ClientError)?;
        Ok(Fetcher { client })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Fetches a feed (or an article page), following redirects by hand.
    /// `timeout` bounds the whole exchange, redirects and body included, so
    /// a server that drips one byte a second cannot hold a task.
    pub async fn fetch(
        &self,
        req: &FetchRequest<'_>,
        timeout: Duration,
    ) -> Result<FetchOutcome, FetchError> {
        match tokio::time::timeout(timeout, self.fetch_inner(req, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(timeout)),
        }
    }

    async fn fetch_inner(
        &self,
        req: &FetchRequest<'_>,
        timeout: Duration,
    ) -> Result<FetchOutcome, FetchError> {
        let classify = |e| classify(e, timeout);
        let mut url = req.url.clone();
        let mut visited = vec![url.clone()];
        let mut all_permanent = true;
        for _ in 0..=MAX_REDIRECTS {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(req.accept));
            if let Some(v) = req.etag.and_then(|e| HeaderValue::from_str(e).ok()) {
                headers.insert(header::IF_NONE_MATCH, v);
            }
            if let Some(v) = req
                .last_modified
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(header::IF_MODIFIED_SINCE, v);
            }
            let get = match req.credentials {
                Some(c) => c.apply(self.client.get(c.url(&url, req.url)), &url, req.url),
                None => self.client.get(url.clone()),
            }
            .headers(headers);
            let hide_url = req.credentials.is_some_and(FeedCredentials::secret_in_url);
            let resp = get
                .send()
                .await
                .map_err(|e| classify(if hide_url { e.without_url() } else { e }))?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = redirect_target(&url, resp.headers())?;
                all_permanent &= matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                if visited.contains(&next) {
                    return Err(FetchError::RedirectLoop(next.to_string()));
                }
                visited.push(next.clone());
                url = next;
                continue;
            }
            let mut meta = response_meta(resp.headers());
            meta.final_url = Some(url.clone());
            if all_permanent && url != *req.url {
                meta.moved_to = Some(url.clone());
            }
            if status == StatusCode::NOT_MODIFIED {
                return Ok(FetchOutcome::NotModified(meta));
            }
            if status == StatusCode::GONE {
                return Err(FetchError::Gone);
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    code: status.as_u16(),
                    retry_after: retry_after(resp.headers(), now_ms()),
                });
            }
            let content_type = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = read_capped(resp, req.max_body, timeout).await?;
            return Ok(FetchOutcome::Body {
                body,
                content_type,
                meta,
            });
        }
        Err(FetchError::TooManyRedirects)
    }
}

fn now_ms() -> UnixMs {
    chrono::Utc::now().timestamp_millis()
}

/// Reads the body chunk by chunk and stops at `limit` bytes. The chunks are
/// already decompressed (reqwest decodes gzip, deflate and brotli as a
/// stream), so a gzip bomb stops here after `limit` bytes, not after
/// gigabytes. A `Content-Length` over the limit is refused before reading;
/// one that lies is only a hint (the capacity is capped at 1 MiB up front).
async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge { limit });
    }
    let hint = resp.content_length().unwrap_or(16 * 1024).min(limit);
    let mut body = Vec::with_capacity(hint.min(1 << 20) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(e, timeout))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(e: reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    if e.is_connect() {
        FetchError::Connect(message)
    } else if e.is_decode() || e.is_body() {
        FetchError::Other(format!("broken response body ({message})"))
    } else {
        FetchError::Other(message)
    }
}

fn redirect_target(base: &Url, headers: &HeaderMap) -> Result<Url, FetchError> {
    let loc = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(FetchError::BadRedirect)?;
    let next = base.join(loc).map_err(|_| FetchError::BadRedirect)?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(FetchError::ForbiddenRedirect(next.to_string()));
    }
    Ok(next)
}

/// Validators and freshness from response headers.
pub fn response_meta(headers: &HeaderMap) -> ResponseMeta {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    ResponseMeta {
        etag: text(header::ETAG),
        last_modified: text(header::LAST_MODIFIED),
        fresh_for: freshness(headers),
        ..Default::default()
    }
}

/// `Cache-Control: max-age` (or `s-maxage`), else `Expires - Date`.
/// `no-cache`/`no-store` give no hint rather than "poll constantly".
fn freshness(headers: &HeaderMap) -> Option<Duration> {
    if let Some(cc) = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    {
        for directive in cc.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if let Some(v) = d
                .strip_prefix("max-age=")
                .or_else(|| d.strip_prefix("s-maxage="))
            {
                if let Ok(secs) = v.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(secs));
                }
            }
        }
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok())
    };
    let expires = date(header::EXPIRES)?;
    let now = date(header::DATE).unwrap_or_else(std::time::SystemTime::now);
    expires.duration_since(now).ok()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: UnixMs) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as UnixMs;
    Some(Duration::from_millis((at_ms - now).max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_and_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), 0),
            Some(Duration::from_secs(120))
        );
        let now = 1_700_000_000_000;
        let at = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + Duration::from_millis(now as u64 + 90_000),
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", &at)]), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), 0), None);
    }

    #[test]
    fn freshness_from_cache_control_or_expires() {
        assert_eq!(
            freshness(&headers(&[("cache-control", "public, max-age=300")])),
            Some(Duration::from_secs(300))
        );
        assert_eq!(freshness(&headers(&[("cache-control", "no-cache")])), None);
        let h = headers(&[
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("expires", "Wed, 21 Oct 2015 07:38:00 GMT"),
        ]);
        assert_eq!(freshness(&h), Some(Duration::from_secs(600)));
    }

    #[test]
    fn redirects_must_stay_on_http() {
        let base = Url::parse("https://example.com/feed").unwrap();
        assert_eq!(
            redirect_target(&base, &headers(&[("location", "/new")]))
                .unwrap()
                .as_str(),
            "https://example.com/new"
        );
        assert!(matches!(
            redirect_target(&base, &headers(&[("location", "file:///etc/passwd")])),
            Err(FetchError::ForbiddenRedirect(_))
        ));
    }
}
