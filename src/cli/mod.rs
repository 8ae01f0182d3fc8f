//! The commands of the `storywatch` command line, one file per command.
//!
//! `main.rs` parses the arguments and dispatches here; each file does one
//! command's work and formats what it prints, so the commands are tested as
//! library code. They sit on top of everything else: they open the store,
//! build an [`App`](crate::app::App) or ask the daemon, and nothing below
//! imports them. This is the CLI edge, so `anyhow` is used here for errors
//! that are only ever printed.
//!
//! A command that needs the database is a [`Command`](crate::control::Command):
//! [`locate`] runs it in the running daemon (through its control socket) or
//! here when none runs, and [`dispatch`] is the daemon's table of them.
//! [`replay`] also drives [`detection`], the report `cargo bench --bench
//! detection` prints; `run` and `once` are the daemon's, in `daemon.rs`.

pub mod check;
pub mod demo;
pub mod detection;
pub mod dispatch;
pub mod feeds;
pub mod history;
pub mod locate;
pub mod mute;
pub mod once;
pub mod opml;
pub mod outbox;
pub mod replay;
pub mod status;
pub mod test_notify;
pub mod test_watch;

use std::path::Path;

use crate::config::{Config, ConfigError};

/// A failed command and the exit code it maps to: 2 for a bad config or
/// usage, 1 for anything else.
#[derive(Debug)]
pub enum Failure {
    Config(ConfigError),
    /// A bad argument on the command line, or a name in it that the config
    /// does not define (exit 2; not the config's fault).
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// Writes command output to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Runtime(e.into())),
        _ => Ok(()),
    }
}

/// Loads the config; a bad one is a usage failure (exit 2).
pub fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(Failure::Config)
}

/// Loads the config for a command that sends (`run`, `once`): every secret
/// it names must be readable here, and each one that is not is reported.
/// Commands that send nothing never read secrets.
pub fn load_for_sending(path: &Path) -> Result<Config, Failure> {
    let config = load(path)?;
    config.resolve_secrets().map_err(Failure::Config)?;
    Ok(config)
}
