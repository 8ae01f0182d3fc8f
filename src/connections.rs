//! The endpoint's connections: accepted, timed out and capped, so that
//! hostile or broken clients cannot starve the daemon.
//!
//! Without this, connections that sent a request line and headers but never
//! the final blank line stayed open forever, before authentication: at
//! ~20,000 of them `/healthz` stopped answering, polls failed with "Too many
//! open files" and SMTP delivery stopped (issue 14). Now:
//!
//! - a request's head must arrive within [`HEADER_TIMEOUT`] (hyper's
//!   header-read timeout) and may be at most [`MAX_HEAD`] bytes (431
//!   beyond); the API reads no bodies, so a request with one gets 413;
//! - a connection with no request in progress (keep-alive idle, a head
//!   still trickling in, a response the client does not read) is closed
//!   after [`IDLE_TIMEOUT`];
//! - at most `max_connections` are open (what the open-file limit leaves
//!   after a reserve for polls and deliveries, see [`crate::fdlimit`]).
//!   At the cap a new connection is still accepted and the connection idle
//!   the longest is closed instead: a client that sends a whole request at
//!   once (a health check, a scrape) is never the longest idle, so it gets
//!   through however many half-open connections an attacker holds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A request's line and headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once, at most (fewer when the open-file limit is low).
pub const MAX_CONNECTIONS: usize = 1024;
/// Largest request line plus headers (hyper's minimum buffer).
pub const MAX_HEAD: usize = 16 << 10;
/// How often idle connections are looked for.
const REAP_EVERY: Duration = Duration::from_millis(250);

/// The endpoint's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Conn {
    /// Requests in progress (a keep-alive connection may pipeline).
    busy: AtomicUsize,
    /// Milliseconds (since the registry started) when it last became idle.
    idle_since: AtomicU64,
    close: CancellationToken,
}

/// Marks its connection busy while a request is handled.
struct Busy(Arc<Conn>, Arc<Registry>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(self.1.now_ms(), Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    start: std::sync::OnceLock<Instant>,
    /// Connections closed to make room (for the log line).
    evicted: AtomicU64,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.start.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection; at `max`, closes the one idle longest.
    fn admit(&self, max: usize) -> (u64, Arc<Conn>) {
        let now = self.now_ms();
        let mut conns = self.conns();
        let open = conns.values().filter(|c| !c.close.is_cancelled()).count();
        if open >= max {
            let oldest = conns
                .values()
                .filter(|c| !c.close.is_cancelled() && c.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|c| c.idle_since.load(Ordering::Relaxed));
            if let Some(c) = oldest {
                c.close.cancel();
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            close: CancellationToken::new(),
        });
        conns.insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.conns().remove(&id);
    }

    /// Closes connections idle for longer than `idle`.
    fn reap(&self, idle: Duration) {
        let cutoff = self.now_ms().saturating_sub(idle.as_millis() as u64);
        for c in self.conns().values() {
            if c.busy.load(Ordering::Acquire) == 0 && c.idle_since.load(Ordering::Relaxed) < cutoff
            {
                c.close.cancel();
            }
        }
    }
}

/// Serves `router` on `listener` until the task is aborted (which closes
/// every connection: they are tasks of this one).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits) {
    let registry = Arc::new(Registry::default());
    registry.now_ms();
    let mut tasks = JoinSet::new();
    let mut reap = tokio::time::interval(REAP_EVERY);
    reap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_warning: Option<Instant> = None;
    let mut warn = |what: String| {
        // at most one line a minute: a flood must not flood the journal
        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            tracing::warn!("HTTP endpoint: {what}");
            last_warning = Some(Instant::now());
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let before = registry.evicted.load(Ordering::Relaxed);
                    let (id, conn) = registry.admit(limits.max_connections);
                    if registry.evicted.load(Ordering::Relaxed) > before {
                        warn(format!(
                            "{} connections open, the most allowed: closing the longest idle ones to make room (a client holding connections open without sending requests?)",
                            limits.max_connections
                        ));
                    }
                    tasks.spawn(connection(stream, router.clone(), id, conn, registry.clone(), limits));
                }
                Err(e) => {
                    // out of descriptors (EMFILE) or the like: wait for
                    // connections to close instead of spinning
                    warn(format!("cannot accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = reap.tick() => registry.reap(limits.idle_timeout),
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    id: u64,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    limits: Limits,
) {
    let _ = stream.set_nodelay(true);
    let (c, r) = (conn.clone(), registry.clone());
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        c.busy.fetch_add(1, Ordering::AcqRel);
        let busy = Busy(c.clone(), r.clone());
        let router = router.clone();
        async move {
            let response = if has_body(&req) {
                too_large()
            } else {
                match router.oneshot(req.map(Body::new)).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            };
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    let serving = http.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = serving => {}
        _ = conn.close.cancelled() => {}
    }
    registry.remove(id);
}

/// Largest body read: a dashboard form (a CSRF token, an API token).
pub const MAX_FORM: u64 = 4096;

/// The API reads no request bodies: one that announces a body is refused
/// before anything reads it, except a dashboard form (a POST of at most
/// [`MAX_FORM`] bytes with a declared length).
fn has_body(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX));
    let small_form = req.method() == hyper::Method::POST && length.is_some_and(|n| n <= MAX_FORM);
    h.contains_key(header::TRANSFER_ENCODING) || (length.is_some_and(|n| n != 0) && !small_form)
}

fn too_large() -> Response<Body> {
    let mut r = Response::new(Body::from(
        "{\"error\":\"this endpoint takes no request body\"}",
    ));
    *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let r = Registry::default();
        let (_, a) = r.admit(2);
        let (_, b) = r.admit(2);
        b.busy.fetch_add(1, Ordering::AcqRel);
        let (_, c) = r.admit(2);
        assert!(a.close.is_cancelled(), "the idle one goes");
        assert!(!b.close.is_cancelled(), "a busy one stays");
        assert!(!c.close.is_cancelled());
    }
}
