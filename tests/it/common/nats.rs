//! A real NATS server with JetStream (Debian's `nats-server`, installed by
//! `.ci/run`) on a loopback port, with its store in a temporary directory,
//! and a way to read back what a stream holds. It can be stopped and
//! started again on the same port with the same store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

pub struct NatsServer {
    pub addr: SocketAddr,
    store: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server -js` on a free port; its store is under `dir`.
    pub fn start(dir: &Path) -> NatsServer {
        let mut server = NatsServer::stopped(dir);
        server.restart();
        server
    }

    /// A server not yet started (connections to its port are refused).
    pub fn stopped(dir: &Path) -> NatsServer {
        NatsServer {
            addr: super::daemon::free_port(),
            store: dir.join("nats-store"),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// A `[[notifier]]` table named "stream" publishing to this server on
    /// `storywatch.alerts.{watch}`, with a 2 s timeout.
    pub fn notifier_table(&self) -> String {
        format!(
            r#"
[[notifier]]
name = "stream"
type = "nats"
server = "{}"
subject = "storywatch.alerts.{{watch}}"
timeout = "2s"
"#,
            self.url()
        )
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.addr.port().to_string())
            .arg("-sd")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): install Debian's nats-server package (.ci/run does)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A JetStream context of a fresh client.
    pub async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(self.url())
            .await
            .expect("connect to nats-server");
        jetstream::new(client)
    }

    /// Creates stream `name` capturing `subjects`, with a duplicate window.
    pub async fn create_stream(&self, name: &str, subjects: &str, window: Duration) {
        self.jetstream()
            .await
            .create_stream(stream::Config {
                name: name.into(),
                subjects: vec![subjects.into()],
                duplicate_window: window,
                ..Default::default()
            })
            .await
            .expect("create stream");
    }

    /// Every message stream `name` holds: (subject, Nats-Msg-Id, JSON body).
    pub async fn messages(&self, name: &str) -> Vec<(String, String, serde_json::Value)> {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(name).await.expect("stream exists");
        let last = stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            if let Ok(m) = stream.get_raw_message(seq).await {
                let id = m
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                let body = serde_json::from_slice(&m.payload).unwrap_or_default();
                out.push((m.subject.to_string(), id, body));
            }
        }
        out
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
