//! The SMTP connection an email notifier sends on: opened on first use, kept
//! for the next message (a NOOP checks it is still alive), dropped on any
//! error so the next send starts clean.
//!
//! Why not lettre's `AsyncSmtpTransport`: it gives no access to its socket,
//! and lettre writes a message and its final `\r\n.\r\n` as two writes.
//! With Nagle's algorithm on, the 5-byte terminator waits for the server's
//! delayed ACK, ~40 ms per mail (BENCHMARKS.md, "Delivery latency"). Here
//! the TCP socket is ours, with `TCP_NODELAY`, and lettre's
//! `AsyncSmtpConnection` speaks SMTP (EHLO, STARTTLS, AUTH, DATA) over it.
//!
//! Checked against lettre 0.11.23, the newest release (crates.io, December 2026):
//! its transport still neither sets `TCP_NODELAY` nor takes a stream or a
//! socket option from the caller, and putting implicit TLS on a socket it
//! did not open still needs the deprecated `AsyncNetworkStream`. Drop this
//! file for `AsyncSmtpTransport` once a lettre release offers either.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // lettre's only way to put TLS on a socket it did not open
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

/// How the connection is secured.
pub enum Security {
    /// Plain text (only when the config says `security = "none"`).
    None,
    /// Plain connect, then `STARTTLS` before anything else (required).
    Starttls(TlsParameters),
    /// TLS from the first byte (port 465).
    Tls(TlsParameters),
}

/// Why a send failed.
#[derive(Debug)]
pub enum SmtpError {
    /// The server said no, or TLS/protocol trouble (lettre's error).
    Smtp(lettre::transport::smtp::Error),
    /// Connecting or waiting failed before SMTP had its say.
    Io(String),
}

pub struct SmtpClient {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// Limit for connecting (with TLS and AUTH) and for one message.
    timeout: Duration,
    hello: ClientId,
    connection: Mutex<Option<AsyncSmtpConnection>>,
}

impl SmtpClient {
    pub fn new(
        host: String,
        port: u16,
        security: Security,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> SmtpClient {
        SmtpClient {
            host,
            port,
            security,
            credentials,
            timeout,
            hello: ClientId::default(),
            connection: Mutex::new(None),
        }
    }

    /// Sends one message; concurrent callers take turns on the connection.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        let mut slot = self.connection.lock().await;
        let kept = match slot.take() {
            Some(mut conn) => {
                let alive = !conn.has_broken()
                    && tokio::time::timeout(self.timeout, conn.test_connected())
                        .await
                        .unwrap_or(false);
                alive.then_some(conn)
            }
            None => None,
        };
        let mut conn = match kept {
            Some(conn) => conn,
            None => tokio::time::timeout(self.timeout, self.connect())
                .await
                .map_err(|_| self.timed_out("connecting"))??,
        };
        match tokio::time::timeout(self.timeout, conn.send(envelope, message)).await {
            Ok(Ok(_)) => {
                *slot = Some(conn);
                Ok(())
            }
            // the connection is dropped: its state after an error is unknown
            Ok(Err(e)) => Err(SmtpError::Smtp(e)),
            Err(_) => Err(self.timed_out("sending the message")),
        }
    }

    fn timed_out(&self, what: &str) -> SmtpError {
        SmtpError::Io(format!(
            "timed out after {} {what}",
            humantime::format_duration(self.timeout)
        ))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| SmtpError::Io(format!("cannot connect: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| SmtpError::Io(format!("cannot set TCP_NODELAY: {e}")))?;
        let mut conn = match &self.security {
            Security::Tls(params) => {
                let peer = tcp
                    .peer_addr()
                    .map_err(|e| SmtpError::Io(format!("socket: {e}")))?;
                #[allow(deprecated)]
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                stream
                    .upgrade_tls(params.clone())
                    .await
                    .map_err(SmtpError::Smtp)?;
                let tls = TlsSocket {
                    inner: stream.compat(),
                    peer,
                };
                AsyncSmtpConnection::connect_with_transport(Box::new(tls), &self.hello).await
            }
            Security::None | Security::Starttls(_) => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await
            }
        }
        .map_err(SmtpError::Smtp)?;
        if let Security::Starttls(params) = &self.security {
            // fails ("STARTTLS is not supported") rather than sending in clear
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(SmtpError::Smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(SmtpError::Smtp)?;
        }
        Ok(conn)
    }
}

/// Implicit TLS over our own socket, in the shape lettre takes a stream.
#[allow(deprecated)]
#[derive(Debug)]
struct TlsSocket {
    inner: Compat<AsyncNetworkStream>,
    peer: SocketAddr,
}

impl AsyncRead for TlsSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsSocket {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}
