//! The real `storywatch` binary as a service under test: a notify socket
//! standing in for systemd's, the daemon as a child process killed when
//! dropped, the command line run against it, and config text with short
//! intervals. Shared by the service suite and the README walkthrough.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::FeedServer;

/// A Unix datagram socket standing in for systemd's notify socket; records
/// every message the daemon sends.
pub struct NotifySocket {
    pub path: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (messages.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while !s.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    m.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        NotifySocket {
            path,
            messages,
            stop,
        }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Messages containing the line `line` (e.g. "READY=1").
    pub fn count(&self, line: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The daemon under test; killed when dropped (a failing test included).
pub struct Daemon {
    child: Mutex<Child>,
    pid: u32,
    pub stderr: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_storywatch"));
        cmd.args(["run", "--config"])
            .arg(config)
            .env_remove("STORYWATCH_CONFIG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("STATE_DIRECTORY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start storywatch");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Daemon {
            pid: child.id(),
            child: Mutex::new(child),
            stderr,
        }
    }

    /// Starts the daemon with `notify` as its systemd notify socket and
    /// waits for its READY=1.
    pub async fn start_ready(config: &Path, notify: &NotifySocket) -> Daemon {
        let notify_path = notify.path.display().to_string();
        let daemon = Daemon::start(config, &[("NOTIFY_SOCKET", &notify_path)]);
        daemon
            .wait_for("READY=1", Duration::from_secs(20), || {
                notify.count("READY=1") >= 1
            })
            .await;
        daemon
    }

    pub fn pid(&self) -> i32 {
        self.pid as i32
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().expect("try_wait")
    }

    /// Waits until `cond` holds; on timeout fails with the daemon's log.
    pub async fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if cond() {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "daemon exited ({status}) while waiting for {what}; its log:\n{}",
                    self.stderr()
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; daemon log:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit; fails after `timeout`.
    pub async fn wait_exit(&self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return (status, start.elapsed());
            }
            if start.elapsed() > timeout {
                panic!(
                    "daemon still running {timeout:?} after being told to stop; log:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A feed name whose first poll the current scheduler puts in the first
/// second after start (first polls are spread by a stable hash of the name
/// over up to the feed's interval). Only saves waiting: no assertion
/// depends on when the first poll happens.
pub fn quick_feed_name(prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|n| storywatch::scheduler::initial_due(0, n, Duration::from_secs(10)) < 1000)
        .unwrap_or_else(|| prefix.to_string())
}

/// A loopback port nothing listens on (connections are refused).
pub fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn free_port() -> SocketAddr {
    dead_port()
}

pub struct Feed<'a> {
    pub name: &'a str,
    pub url: String,
}

/// A daemon config with short intervals, text logs on stderr, and the given
/// feeds; `extra` is appended (watches, notifiers) and `daemon_extra` goes
/// into `[daemon]`.
pub fn config_text(state: &Path, feeds: &[Feed], daemon_extra: &str, extra: &str) -> String {
    let mut s = format!(
        r#"[daemon]
state_dir = "{}"
per_host_delay = "0s"
min_interval = "1s"
log_format = "text"
log_level = "info"
shutdown_timeout = "5s"
{daemon_extra}
"#,
        state.display()
    );
    for f in feeds {
        s.push_str(&format!(
            "\n[[feed]]\nname = \"{}\"\nurl = \"{}\"\ninterval = \"10s\"\n",
            f.name, f.url
        ));
    }
    s.push_str(extra);
    s
}

/// One feed that alerts from its first poll, a "storms" watch and one
/// webhook notifier at `hook` (with `hook_extra` keys).
pub fn storm_hook_config(
    state: &Path,
    feeds: &FeedServer,
    hook: impl std::fmt::Display,
    hook_extra: &str,
) -> String {
    storm_config(
        state,
        feeds,
        &format!(
            r#"
[[notifier]]
name = "hook"
type = "webhook"
url = "http://{hook}/hook"
{hook_extra}
"#
        ),
    )
}

/// One feed that alerts from its first poll, a "storms" watch, and
/// `tables` (notifiers, `[delivery]`) after them.
pub fn storm_config(state: &Path, feeds: &FeedServer, tables: &str) -> String {
    let name = quick_feed_name("news");
    config_text(
        state,
        &[Feed {
            name: &name,
            url: feeds.url(),
        }],
        "baseline = false",
        &format!(
            r#"
[[watch]]
name = "storms"
any = ["storm"]
{tables}"#
        ),
    )
}

/// Runs the command line (not as a daemon) with `env`: exit code, stdout,
/// stderr.
pub fn storywatch(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storywatch"));
    cmd.args(args)
        .env_remove("STORYWATCH_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run storywatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
