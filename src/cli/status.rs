//! `storywatch status`: is the daemon up and ready? Asks the running daemon
//! through its HTTP endpoint when it has one, else reads the database when
//! no daemon holds it, and says which it did. Exit 0 only when running and
//! ready.

use std::time::Duration;

use crate::config::Config;
use crate::status::{summarise, Summary};
use crate::store::{Store, StoreError};

/// What `storywatch status` found: text for the terminal, and whether the
/// daemon is up and ready (the exit code).
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub healthy: bool,
}

/// `storywatch status`: asks the running daemon through its endpoint when
/// `listen` is configured; otherwise (or when it does not answer) reads the
/// database directly if no daemon holds it. sled has no read-only mode and
/// a running daemon holds its lock, so a locked database without an
/// endpoint can only be reported as "running, health unknown".
pub async fn check(config: &Config) -> Report {
    let mut endpoint_error = None;
    if let Some(addr) = config.daemon.listen {
        // a token that cannot be read here is asked for without one: the
        // endpoint's 401 then says so
        let token = config.daemon.api_token.resolve("api_token").ok().flatten();
        match ask_daemon(addr, token.as_ref()).await {
            Ok(summary) => {
                return Report {
                    healthy: summary.not_ready.is_none(),
                    text: summary.render(),
                }
            }
            Err(e) => endpoint_error = Some(format!("its endpoint at {addr} did not answer: {e}")),
        }
    }
    let dir = &config.daemon.state_dir;
    let unhealthy = |text: String| Report {
        text,
        healthy: false,
    };
    if !dir.join("db").exists() {
        return unhealthy(format!(
            "storywatch is not running and has no database in {} yet (it has not run with this config){}\n",
            dir.display(),
            endpoint_error.map(|e| format!("; {e}")).unwrap_or_default()
        ));
    }
    let running = Store::is_locked(dir);
    if let (false, Some(owner)) = (running, foreign_owner(&dir.join("db"))) {
        return unhealthy(format!(
            "storywatch is not running. Its database in {} belongs to uid {owner}: reading it as \
             root would leave root-owned files the service cannot write, so run status as that \
             user (or set [daemon] listen and ask the running daemon)\n",
            dir.display()
        ));
    }
    let opened = if running {
        Err(StoreError::Locked {
            path: dir.to_path_buf(),
        })
    } else {
        Store::open(dir, 1 << 20)
    };
    match opened {
        Ok(store) => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            match summarise(&store, config, None, now) {
                Ok(summary) => unhealthy(format!(
                    "(read from the database in {}: no storywatch process holds it)\n{}",
                    dir.display(),
                    summary.render()
                )),
                Err(e) => unhealthy(format!(
                    "storywatch is not running; its database cannot be read: {e}\n"
                )),
            }
        }
        Err(StoreError::Locked { .. }) => unhealthy(match endpoint_error {
            Some(e) => format!(
                "storywatch is running (a process holds the database in {}), but {e}\n",
                dir.display()
            ),
            None => format!(
                "storywatch is running (a process holds the database in {}), but its health cannot be asked: \
                 [daemon] listen is not set. Set listen = \"127.0.0.1:8787\" and restart it, \
                 or see `systemctl status storywatch` and `journalctl -u storywatch`\n",
                dir.display()
            ),
        }),
        Err(e) => unhealthy(format!("storywatch status: {e}\n")),
    }
}

/// The owner of `path` when we run as root and it is someone else: opening
/// sled writes files, and root-owned files in the state dir would lock the
/// service (DynamicUser=) out of its own database.
fn foreign_owner(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(path).ok()?.uid();
    // SAFETY: geteuid has no preconditions and cannot fail
    let euid = unsafe { libc::geteuid() };
    (euid == 0 && owner != 0).then_some(owner)
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
}

/// GET /api/status from the running daemon.
async fn ask_daemon(
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
