//! The daemon's side of the control socket.
//!
//! [`bind`] creates the socket before the daemon reports ready: under a
//! temporary name first, made 0600, then renamed into place, so there is
//! no moment at which anyone else could connect, and a socket left behind
//! by a killed daemon is replaced (the daemon holds the database lock, so
//! no other daemon can be using it). [`serve`] answers each connection with
//! one request and one answer; the peer must be the daemon's own user or
//! root (checked with `SO_PEERCRED`, besides the file mode). Handlers read
//! sled synchronously, so they run on the blocking pool, a few at a time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::protocol::{self, Response, MAX_REQUEST};
use super::{socket_path, Problem, ProblemCode};

/// Runs one command by name on its arguments (the daemon's dispatch table).
pub type Dispatch = Arc<dyn Fn(&str, Value) -> Result<Value, Problem> + Send + Sync>;

/// A client gets this long to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests handled at once; more wait (a loop of `storywatch status` must
/// not take the blocking pool from the polls).
const CONCURRENT: usize = 4;
/// The longest path a Unix socket address holds (`sun_path`, less its NUL).
const MAX_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("the control socket {} would be {len} bytes long, more than the {MAX_PATH} a Unix socket path may have: use a shorter [daemon] state_dir", path.display())]
    TooLong { path: PathBuf, len: usize },
    #[error("cannot create the control socket {}: {source}; check that [daemon] state_dir is writable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The bound socket; its file is removed when this is dropped.
pub struct Socket {
    listener: Option<UnixListener>,
    path: PathBuf,
}

impl Socket {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates `control.sock` in `state_dir` (mode 0600), replacing one left
/// behind. Needs a tokio runtime.
pub fn bind(state_dir: &Path) -> Result<Socket, BindError> {
    use std::os::unix::ffi::OsStrExt;
    let path = socket_path(state_dir);
    let len = path.as_os_str().as_bytes().len();
    if len > MAX_PATH {
        return Err(BindError::TooLong { path, len });
    }
    let io = |source| BindError::Io {
        path: path.clone(),
        source,
    };
    let temporary = state_dir.join(".control.sock.new");
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(&temporary).map_err(io)?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    let listener = UnixListener::from_std(listener).map_err(io)?;
    Ok(Socket {
        listener: Some(listener),
        path,
    })
}

/// Answers connections until the returned task is aborted. Keep `socket`
/// alive as long as the daemon should be reachable: dropping it removes
/// the file.
pub fn serve(socket: &mut Socket, dispatch: Dispatch) -> tokio::task::JoinHandle<()> {
    let listener = socket.listener.take();
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    tokio::spawn(async move {
        let Some(listener) = listener else { return };
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (dispatch, permits) = (dispatch.clone(), permits.clone());
                    tokio::spawn(async move { answer(stream, dispatch, permits).await });
                }
                Err(e) => {
                    // out of file descriptors and the like: pause, go on
                    tracing::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Whether `uid` may use the socket: the daemon's own user, or root.
fn allowed(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail
    uid == 0 || uid == unsafe { libc::geteuid() }
}

async fn answer(mut stream: UnixStream, dispatch: Dispatch, permits: Arc<tokio::sync::Semaphore>) {
    // the request is read even from a peer that is then refused, so that
    // it gets the answer rather than a broken pipe
    let line = read_line(&mut stream).await;
    let result = match stream.peer_cred().map(|c| c.uid()) {
        Ok(uid) if allowed(uid) => match line {
            Ok(line) => request(&line, dispatch, &permits).await,
            Err(p) => Err(p),
        },
        Ok(uid) => {
            tracing::warn!(
                uid,
                "control socket: refused a connection from a user that is neither root nor the daemon's"
            );
            Err(Problem::new(
                ProblemCode::Forbidden,
                "only root and the daemon's own user may use its control socket",
            ))
        }
        Err(e) => Err(Problem::new(
            ProblemCode::Forbidden,
            format!("the peer's credentials are unknown: {e}"),
        )),
    };
    let mut line = Response::answer(result).line();
    line.push('\n');
    // a client that went away gets nothing, which harms nobody
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The request line, within [`READ_TIMEOUT`] and [`MAX_REQUEST`].
async fn read_line(stream: &mut UnixStream) -> Result<String, Problem> {
    let bad = |m: String| Problem::new(ProblemCode::BadRequest, m);
    let mut line = String::new();
    let mut reader = BufReader::new(stream.take(MAX_REQUEST as u64 + 1));
    match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Err(bad("no request line within 10s".into())),
        Ok(Err(e)) => Err(bad(format!("unreadable request: {e}"))),
        Ok(Ok(_)) if line.len() > MAX_REQUEST => {
            Err(bad(format!("request longer than {MAX_REQUEST} bytes")))
        }
        Ok(Ok(_)) => Ok(line),
    }
}

async fn request(
    line: &str,
    dispatch: Dispatch,
    permits: &tokio::sync::Semaphore,
) -> Result<Value, Problem> {
    let (name, args) = protocol::read_request(line)?;
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| Problem::new(ProblemCode::Failed, "the daemon is stopping"))?;
    tracing::debug!(command = %name, "control socket request");
    match tokio::task::spawn_blocking(move || dispatch(&name, args)).await {
        Ok(result) => result,
        Err(e) => Err(Problem::new(
            ProblemCode::Failed,
            format!("the command failed inside the daemon: {e}"),
        )),
    }
}
