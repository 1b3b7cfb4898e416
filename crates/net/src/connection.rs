//! One accepted stream (TCP, unix or TLS over either) and its peer.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// An accepted connection. Implements `AsyncRead + AsyncWrite + Unpin + Send`,
/// so protocol code is the same for every variant.
///
/// STARTTLS and implicit TLS (ports 465, 993) both go through
/// [`start_tls`](Self::start_tls), which turns a plain connection into
/// [`Connection::Tls`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection {
    /// Plain TCP.
    Tcp(TcpStream),
    /// Plain unix stream socket (LMTP from a local MTA).
    Unix(UnixStream),
    /// TLS over TCP or unix.
    Tls(Box<TlsStream<Connection>>),
}

/// What was negotiated on a TLS connection, for `Received:` headers and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1_3` or `TLSv1_2`.
    pub protocol: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
}

impl Connection {
    /// Runs the server side of a TLS handshake over this connection.
    ///
    /// The caller must have flushed everything it wrote in plain text (for
    /// STARTTLS the `220 Ready to start TLS` reply) and must discard anything
    /// it buffered from the client before the handshake (STARTTLS command
    /// injection, CVE-2011-0411). Fails with `InvalidInput` on a connection
    /// that is already TLS, and with the handshake error otherwise; put a
    /// timeout around it.
    pub async fn start_tls(self, acceptor: &TlsAcceptor) -> io::Result<Connection> {
        if self.is_tls() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "connection is already TLS",
            ));
        }
        let stream = acceptor.accept(self).await?;
        Ok(Connection::Tls(Box::new(stream)))
    }

    /// True after a successful [`start_tls`](Self::start_tls).
    pub fn is_tls(&self) -> bool {
        matches!(self, Connection::Tls(_))
    }

    /// Protocol, cipher and SNI of a TLS connection; `None` for plain ones.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let Connection::Tls(stream) = self else {
            return None;
        };
        let (_, session) = stream.get_ref();
        Some(TlsInfo {
            protocol: session
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            sni: session.server_name().map(str::to_owned),
        })
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Connection::Tcp($s) => $call,
            Connection::Unix($s) => $call,
            Connection::Tls($s) => {
                let $s = &mut **$s;
                $call
            }
        }
    };
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Tcp(s) => s.is_write_vectored(),
            Connection::Unix(s) => s.is_write_vectored(),
            Connection::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The remote end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address; `None` for unix sockets.
    pub addr: Option<SocketAddr>,
    /// The local address the client connected to (tells port 465 from 587
    /// when one server runs both); `None` for unix sockets.
    pub local: Option<SocketAddr>,
}

impl Peer {
    /// A TCP peer.
    pub fn tcp(addr: SocketAddr, local: SocketAddr) -> Self {
        Self {
            addr: Some(addr),
            local: Some(local),
        }
    }

    /// A peer on a unix socket (no address).
    pub fn unix() -> Self {
        Self {
            addr: None,
            local: None,
        }
    }
}

impl fmt::Display for Peer {
    /// `192.0.2.1:50312`, `[2001:db8::1]:50312`, or `unix` for a unix socket.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("unix"),
        }
    }
}
