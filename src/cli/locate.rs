//! Where a command that needs the database finds it: in the running
//! daemon, asked through its control socket ([`crate::control`]), or here,
//! opened directly when no daemon holds it. Either way the same handler
//! answers ([`Command::handle`]), so the command prints the same.

use std::path::{Path, PathBuf};

use crate::cli::Failure;
use crate::config::Config;
use crate::control::{client, socket_path, Command, Ctx, Problem};
use crate::store::{Store, StoreError};

/// Where a command finds the database.
pub enum Place {
    /// A daemon holds it: ask through this socket.
    Daemon(PathBuf),
    /// Nobody holds it: opened here.
    Here(Box<Store>),
}

/// Why the database is out of reach.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database in {} belongs to uid {owner} and no daemon runs: opening it as root would leave root-owned files the service cannot write; run this as that user, or start the daemon (this command then asks it)", dir.display())]
    ForeignOwner { dir: PathBuf, owner: u32 },
}

/// Finds the database: the running daemon's (by its lock), else opened
/// here (a daemon that starts meanwhile is asked instead).
pub fn locate(config: &Config) -> Result<Place, LocateError> {
    let dir = &config.daemon.state_dir;
    if Store::is_locked(dir) {
        return Ok(Place::Daemon(socket_path(dir)));
    }
    if let Some(owner) = foreign_owner(&dir.join("db")) {
        return Err(LocateError::ForeignOwner {
            dir: dir.clone(),
            owner,
        });
    }
    match Store::open(dir, config.daemon.cache_size) {
        Ok(store) => Ok(Place::Here(Box::new(store))),
        Err(StoreError::Locked { .. }) => Ok(Place::Daemon(socket_path(dir))),
        Err(e) => Err(e.into()),
    }
}

/// The owner of `path` when we run as root and it is someone else: opening
/// sled writes files, and root-owned files in the state dir would lock the
/// service (DynamicUser=) out of its own database.
pub fn foreign_owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(path).ok()?.uid();
    // SAFETY: geteuid has no preconditions and cannot fail
    let euid = unsafe { libc::geteuid() };
    (euid == 0 && owner != 0).then_some(owner)
}

/// Runs `cmd` where the database is and returns its answer.
pub fn run<C: Command>(config: &Config, cmd: C) -> Result<C::Answer, Failure> {
    match locate(config).map_err(|e| Failure::Runtime(e.into()))? {
        Place::Daemon(socket) => ask(&socket, &cmd),
        Place::Here(store) => {
            let ctx = Ctx {
                config,
                store: &store,
                health: None,
                now: crate::clock::Clock::now(&crate::clock::SystemClock),
                delivery_wake: None,
            };
            cmd.handle(&ctx).map_err(failure)
        }
    }
}

/// Asks the daemon listening on `socket`.
pub fn ask<C: Command>(socket: &Path, cmd: &C) -> Result<C::Answer, Failure> {
    client::call(socket, cmd).map_err(|e| match e {
        client::ClientError::Problem(p) => failure(p),
        other => Failure::Runtime(other.into()),
    })
}

fn failure(p: Problem) -> Failure {
    match p.exit_code() {
        2 => Failure::Usage(p.message),
        _ => Failure::Runtime(anyhow::Error::msg(p.message)),
    }
}
