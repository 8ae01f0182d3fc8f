//! The command's side of the control socket: connect, send one request
//! line, read one answer line. Blocking (a command asks one question), with
//! timeouts so a hung daemon cannot hang the terminal for ever.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Request, Response};
use super::{Command, Problem};

/// How long a command waits for its answer (`test-watch --stored` reads
/// every stored story).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the daemon gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the running daemon through {}: permission denied; run this command as root or as the service's user (e.g. `sudo storywatch …`)", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("the running daemon does not answer on {} ({source}); a daemon started from an older storywatch has no control socket: restart it (e.g. `systemctl restart storywatch`)", path.display())]
    Unreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the daemon through {} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon closed {} without answering (it may be stopping); try again", path.display())]
    NoAnswer { path: PathBuf },
    #[error("the running daemon (storywatch {daemon}) answered in a form this storywatch ({}) does not read ({source}); restart the daemon after an upgrade (e.g. `systemctl restart storywatch`)", env!("CARGO_PKG_VERSION"))]
    Unreadable {
        daemon: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Problem(Problem),
}

/// Whether something listens on `path` (a socket left behind by a daemon
/// that was killed does not).
pub fn answers(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// Asks the daemon listening on `path` to run `cmd`.
pub fn call<C: Command>(path: &Path, cmd: &C) -> Result<C::Answer, ClientError> {
    let io = |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| match source.kind() {
        ErrorKind::PermissionDenied => ClientError::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => ClientError::Unreachable {
            path: path.to_path_buf(),
            source,
        },
    })?;
    stream.set_write_timeout(Some(SEND_TIMEOUT)).map_err(io)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(io)?;
    let mut line = Request::line(cmd).map_err(|source| ClientError::Unreadable {
        daemon: String::new(),
        source,
    })?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    if answer.trim().is_empty() {
        return Err(ClientError::NoAnswer {
            path: path.to_path_buf(),
        });
    }
    let response: Response =
        serde_json::from_str(&answer).map_err(|source| ClientError::Unreadable {
            daemon: "?".into(),
            source,
        })?;
    if let Some(problem) = response.error {
        return Err(ClientError::Problem(problem));
    }
    serde_json::from_value(response.ok).map_err(|source| ClientError::Unreadable {
        daemon: response.daemon,
        source,
    })
}
