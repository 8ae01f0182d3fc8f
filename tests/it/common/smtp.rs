//! A real SMTP server for tests: Python's aiosmtpd (Debian package
//! `python3-aiosmtpd`), started as a child process on 127.0.0.1 with a small
//! handler script that saves every accepted message as JSON (envelope, the
//! AUTH user, whether TLS was on, decoded headers and MIME parts, and the
//! raw message). Optional: STARTTLS or implicit TLS with a certificate made
//! by the test (rcgen), AUTH with a fixed user, and rejecting every
//! recipient with 550.
//!
//! Without a Python that can `import aiosmtpd` the tests fail loudly with
//! what to install: they must never pass by not running.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HANDLER: &str = r#"
import email, email.policy, json, os, ssl, sys, threading, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

cfg = json.loads(sys.argv[1])

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if cfg.get("reject_rcpt"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append({"content_type": part.get_content_type(),
                          "body": part.get_content()})
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": session.auth_data if session.authenticated else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "peer": list(session.peer),
            "headers": [[k, str(v)] for k, v in msg.items()],
            "parts": parts,
            "raw": raw.decode("utf-8", "replace"),
            "received_at": time.time(),
        }
        name = "%020d-%d" % (time.time_ns(), os.getpid())
        tmp = os.path.join(cfg["dir"], name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(cfg["dir"], name + ".json"))
        return "250 Message accepted for delivery"

def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and \
            [auth_data.login.decode(), auth_data.password.decode()] == cfg["auth"]:
        return AuthResult(success=True, auth_data=auth_data.login.decode())
    return AuthResult(success=False, handled=False)

kwargs = {"hostname": "127.0.0.1", "port": cfg["port"], "server_hostname": "localhost"}
ctx = None
if cfg["tls"] != "none":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
if cfg["tls"] == "starttls":
    kwargs.update(tls_context=ctx, require_starttls=True)
elif cfg["tls"] == "implicit":
    kwargs.update(ssl_context=ctx)
if cfg.get("auth"):
    # aiosmtpd counts only STARTTLS as TLS for AUTH: under implicit TLS the
    # connection is encrypted from the start, so do not ask for it again
    kwargs.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=cfg["tls"] == "starttls")
controller = Controller(Handler(), **kwargs)
controller.start()
print("READY", flush=True)
threading.Event().wait()
"#;

/// A Python interpreter that has aiosmtpd, or a panic saying how to get one.
pub fn python() -> &'static Path {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        // Debian's package installs for the system interpreter, while
        // `python3` on PATH may be a pyenv build without it: try that first.
        let mut tried = Vec::new();
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("STORYWATCH_PYTHON") {
            candidates.push(p.into());
        }
        candidates.push("/usr/bin/python3".into());
        candidates.push("python3".into());
        for c in candidates {
            let ok = Command::new(&c)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(c);
            }
            tried.push(c.display().to_string());
        }
        Err(format!(
            "no Python with aiosmtpd found (tried {}). The email tests need a real SMTP server: \
             run `.ci/run`, or `sudo apt-get install python3-aiosmtpd` (it installs for \
             /usr/bin/python3); STORYWATCH_PYTHON=/path/to/python3 selects another interpreter",
            tried.join(", ")
        ))
    });
    match found {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A self-signed certificate for 127.0.0.1 that rustls accepts as its own
/// trust anchor: CA:FALSE and an IP SAN (see DESIGN.md, known pitfalls).
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCert {
    pub fn generate(dir: &Path) -> TestCert {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "storywatch test SMTP");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = TestCert {
            cert: dir.join("smtp-cert.pem"),
            key: dir.join("smtp-key.pem"),
        };
        std::fs::write(&c.cert, cert.pem()).unwrap();
        std::fs::write(&c.key, key.serialize_pem()).unwrap();
        c
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    None,
    Starttls,
    Implicit,
}

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Options {
    pub tls: Tls,
    /// Required AUTH user and password (over TLS unless `tls` is None).
    pub auth: Option<(String, String)>,
    /// Answer every RCPT TO with 550.
    pub reject_rcpt: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: Tls::None,
            auth: None,
            reject_rcpt: false,
        }
    }
}

/// A running aiosmtpd; killed on drop.
pub struct SmtpServer {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpServer {
    /// Starts a server on a free port, saving messages in `dir`.
    pub fn start(dir: &Path, opts: &Options, cert: Option<&TestCert>) -> SmtpServer {
        Self::start_on(free_port(), dir, opts, cert)
    }

    /// Starts a server on `port` (e.g. one a notifier already failed on).
    pub fn start_on(port: u16, dir: &Path, opts: &Options, cert: Option<&TestCert>) -> SmtpServer {
        std::fs::create_dir_all(dir).unwrap();
        let script = dir.join("smtp_handler.py");
        std::fs::write(&script, HANDLER).unwrap();
        let cfg = serde_json::json!({
            "dir": dir,
            "port": port,
            "tls": match opts.tls { Tls::None => "none", Tls::Starttls => "starttls", Tls::Implicit => "implicit" },
            "cert": cert.map(|c| c.cert.clone()),
            "key": cert.map(|c| c.key.clone()),
            "auth": opts.auth.as_ref().map(|(u, p)| vec![u.clone(), p.clone()]),
            "reject_rcpt": opts.reject_rcpt,
        });
        assert!(
            opts.tls == Tls::None || cert.is_some(),
            "a TLS server needs a certificate"
        );
        let mut child = Command::new(python())
            .arg(&script)
            .arg(cfg.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the aiosmtpd handler");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        if ready.trim() != "READY" {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("aiosmtpd did not start on port {port}: {err}");
        }
        SmtpServer {
            port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// Messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| Mail(serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()))
            .collect()
    }

    /// Waits until at least `n` messages arrived, or panics.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP server got {} messages, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server (the port is free again).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message the server accepted, as the handler saved it.
#[derive(Clone, Debug)]
pub struct Mail(pub serde_json::Value);

impl Mail {
    /// The first header with this name (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    pub fn headers(&self, name: &str) -> Vec<String> {
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h[1].as_str().unwrap().to_string())
            .collect()
    }

    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }

    /// The decoded body of the first part of this MIME type.
    pub fn part(&self, content_type: &str) -> Option<String> {
        self.0["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["content_type"] == content_type)
            .map(|p| p["body"].as_str().unwrap().to_string())
    }

    pub fn content_types(&self) -> Vec<String> {
        self.0["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["content_type"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn text(&self) -> String {
        self.part("text/plain").expect("a text/plain part")
    }

    pub fn html(&self) -> String {
        self.part("text/html").expect("a text/html part")
    }

    pub fn raw(&self) -> String {
        self.0["raw"].as_str().unwrap().to_string()
    }

    pub fn rcpt_tos(&self) -> Vec<String> {
        serde_json::from_value(self.0["rcpt_tos"].clone()).unwrap()
    }

    pub fn auth_user(&self) -> Option<String> {
        self.0["auth_user"].as_str().map(str::to_string)
    }

    pub fn tls(&self) -> bool {
        self.0["tls"].as_bool().unwrap()
    }

    /// The client's address and port: one value per SMTP connection.
    pub fn peer(&self) -> String {
        self.0["peer"].to_string()
    }

    /// Unix seconds when the handler saved it.
    pub fn received_at(&self) -> f64 {
        self.0["received_at"].as_f64().unwrap()
    }
}
