//! The local control channel: how a `storywatch` command reaches the running
//! daemon.
//!
//! sled lets one process hold the database, and the daemon holds it for as
//! long as it runs. So a command that needs the database (`status`, `feeds`,
//! `history`, `diff`, `test-watch --stored`, `outbox …`) asks the daemon
//! through a Unix socket when one runs, and opens the database itself
//! otherwise. Either way the same [`Command::handle`] runs against the same
//! store, and the command prints its answer with the same code, so the
//! output does not depend on the way it was obtained.
//!
//! - The socket is `control.sock` in the state directory
//!   ([`socket_path`]): no network, mode 0600, and the daemon also checks
//!   the peer's uid (its own, or root's).
//! - The protocol ([`protocol`]) is one JSON request line, one JSON answer
//!   line, versioned: `{"v":1,"command":"feeds","args":{}}` →
//!   `{"v":1,"ok":…}` or `{"v":1,"error":{"code","message"}}`.
//! - A command is one type implementing [`Command`] (its arguments, its
//!   answer, its handler) plus one line in the daemon's dispatch table
//!   (`cli::dispatch`).
//!
//! [`client`] is the command's side, [`server`] the daemon's.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::UnixMs;
use crate::status::Health;
use crate::store::{Store, StoreError};

/// The socket's file name inside the state directory.
pub const SOCKET_NAME: &str = "control.sock";

/// Where the daemon of `state_dir` listens.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_NAME)
}

/// What a handler works with: the config and database of whoever runs it
/// (the daemon, or the command itself when no daemon runs).
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    /// The daemon's own view of itself; `None` when the command opened the
    /// database because no daemon runs.
    pub health: Option<&'a Health>,
    pub now: UnixMs,
    /// Wakes the daemon's delivery workers (after `outbox retry`); `None`
    /// outside the daemon.
    pub delivery_wake: Option<&'a tokio::sync::Notify>,
}

impl Ctx<'_> {
    /// Whether this runs inside the daemon.
    pub fn in_daemon(&self) -> bool {
        self.health.is_some()
    }
}

/// One command that can run where the database is.
pub trait Command: Serialize + DeserializeOwned {
    /// Its name on the wire (`"feeds"`, `"outbox_retry"`).
    const NAME: &'static str;
    /// What it answers; rendered for the terminal by the command.
    type Answer: Serialize + DeserializeOwned;
    fn handle(self, ctx: &Ctx) -> Result<Self::Answer, Problem>;
}

/// Why a command could not be answered: a stable code and a message for
/// the person at the terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    pub code: ProblemCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// The thing asked about does not exist (no such story, alert).
    NotFound,
    /// The request names something the config does not define, or is
    /// otherwise unusable as given (exit 2).
    Usage,
    /// The database failed.
    Failed,
    /// The request could not be read (a client bug or a version mismatch).
    BadRequest,
    /// The daemon does not know the command (it is older than the client).
    UnknownCommand,
    /// The peer may not use this socket.
    Forbidden,
}

impl Problem {
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Problem {
        Problem {
            code,
            message: message.into(),
        }
    }

    /// The exit code a command ends with when it gets this problem.
    pub fn exit_code(&self) -> u8 {
        match self.code {
            ProblemCode::Usage => 2,
            _ => 1,
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        Problem::new(
            ProblemCode::Failed,
            crate::notify::error_chain(&e as &dyn std::error::Error),
        )
    }
}
