//! `storywatch status`: is the daemon up and ready? Asks the running daemon
//! through its control socket (no `listen` needed), else reads the database
//! when no daemon holds it, and says which it did. Exit 0 only when running
//! and ready.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::locate::{self, LocateError, Place};
use crate::config::Config;
use crate::control::{client, Command, Ctx, Problem};
use crate::status::{summarise, Summary};

/// `storywatch status` as a command the daemon answers: its summary, with
/// its own view of its health.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Status {}

impl Command for Status {
    const NAME: &'static str = "status";
    type Answer = Summary;
    fn handle(self, ctx: &Ctx) -> Result<Summary, Problem> {
        Ok(summarise(ctx.store, ctx.config, ctx.health, ctx.now)?)
    }
}

/// What `storywatch status` found: text for the terminal, and whether the
/// daemon is up and ready (the exit code).
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub healthy: bool,
}

/// `storywatch status`: asks the running daemon through its control socket;
/// with no daemon running, reads the database (and says so). When neither
/// works (a daemon started by an older storywatch, or a user who may not
/// use the socket or read the database), the daemon's HTTP endpoint is
/// asked if `listen` is configured.
pub fn check(config: &Config) -> Report {
    let dir = &config.daemon.state_dir;
    if !dir.join("db").exists() {
        return via_endpoint(
            config,
            format!(
                "storywatch is not running and has no database in {} yet (it has not run with this config)",
                dir.display()
            ),
        );
    }
    match locate::locate(config) {
        Ok(Place::Daemon(socket)) => match client::call(&socket, &Status {}) {
            Ok(summary) => from_daemon(summary),
            Err(e) => via_endpoint(
                config,
                format!(
                    "storywatch is running (a process holds the database in {}), but {e}",
                    dir.display()
                ),
            ),
        },
        Ok(Place::Here(store)) => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            unhealthy(match summarise(&store, config, None, now) {
                Ok(summary) => format!(
                    "(read from the database in {}: no storywatch process holds it)\n{}",
                    dir.display(),
                    summary.render()
                ),
                Err(e) => format!("storywatch is not running; its database cannot be read: {e}\n"),
            })
        }
        Err(e @ LocateError::ForeignOwner { .. }) => {
            via_endpoint(config, format!("storywatch is not running. {e}"))
        }
        Err(e) => via_endpoint(config, format!("storywatch status: {e}")),
    }
}

fn unhealthy(text: String) -> Report {
    Report {
        text,
        healthy: false,
    }
}

/// The daemon's summary from its HTTP endpoint when `listen` is set;
/// otherwise, or when it does not answer, `why` the daemon could not be
/// asked.
fn via_endpoint(config: &Config, why: String) -> Report {
    let Some(addr) = config.daemon.listen else {
        return unhealthy(format!("{why}\n"));
    };
    // a token that cannot be read here is asked for without one: the
    // endpoint's 401 then says so
    let token = config.daemon.api_token.resolve("api_token").ok().flatten();
    match ask_endpoint(addr, token.as_ref()) {
        Ok(summary) => from_daemon(summary),
        Err(http) => unhealthy(format!(
            "{why}; and the endpoint at {addr} did not answer: {http}\n"
        )),
    }
}

fn from_daemon(summary: Summary) -> Report {
    Report {
        healthy: summary.not_ready.is_none(),
        text: summary.render(),
    }
}

/// Why the running daemon's endpoint gave no summary.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("connection refused (not running, or listening elsewhere)")]
    Refused(#[source] reqwest::Error),
    #[error("{0}")]
    Http(#[source] reqwest::Error),
    #[error("HTTP {0}{hint}", hint = if .0.as_u16() == 401 { ": the api token in this config is not the daemon's" } else { "" })]
    Status(reqwest::StatusCode),
    #[error("unreadable answer: {0}")]
    Unreadable(#[source] serde_json::Error),
    #[error("cannot start an async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// GET /api/status from the running daemon (one without a control socket).
fn ask_endpoint(
    addr: std::net::SocketAddr,
    token: Option<&crate::secret::Secret>,
) -> Result<Summary, AskError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AskError::Runtime)?
        .block_on(get_status(addr, token))
}

async fn get_status(
    addr: std::net::SocketAddr,
    token: Option<&crate::secret::Secret>,
) -> Result<Summary, AskError> {
    // a daemon listening on all addresses is reached over loopback
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = format!(
        "http://{}/api/status",
        std::net::SocketAddr::new(ip, addr.port())
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .tls_backend_preconfigured(crate::tls::client_config())
        .build()
        .map_err(AskError::Http)?;
    let mut req = client.get(&url);
    if let Some(t) = token {
        req = req.bearer_auth(t.expose());
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            AskError::Refused(e)
        } else {
            AskError::Http(e)
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(AskError::Status(status));
    }
    let body = resp.bytes().await.map_err(AskError::Http)?;
    serde_json::from_slice(&body).map_err(AskError::Unreadable)
}
