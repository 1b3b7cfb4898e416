//! What a session runs over: any async byte stream that may be upgraded to TLS in place
//! (STARTTLS), shared by the SMTP/LMTP and IMAP sessions. Real connections are
//! [`Connection`]s; tests use in-memory pipes,
//! which cannot do TLS.

use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::{Connection, TlsAcceptor};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};

/// A stream a session can run over.
pub trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    /// Upgrade to TLS (server side).
    fn start_tls(
        self,
        acceptor: TlsAcceptor,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self>> + Send>>;
    /// `TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384` once TLS is up; `None` before.
    fn tls_description(&self) -> Option<String>;
    /// Whether the stream is encrypted now.
    fn is_tls(&self) -> bool {
        self.tls_description().is_some()
    }
}

impl SessionStream for Connection {
    fn start_tls(
        self,
        acceptor: TlsAcceptor,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self>> + Send>> {
        Box::pin(async move { Connection::start_tls(self, &acceptor).await })
    }
    fn tls_description(&self) -> Option<String> {
        self.tls_info()
            .map(|t| format!("{} with cipher {}", t.protocol, t.cipher))
    }
}

impl SessionStream for DuplexStream {
    fn start_tls(
        self,
        _acceptor: TlsAcceptor,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self>> + Send>> {
        Box::pin(async {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS over an in-memory pipe",
            ))
        })
    }
    fn tls_description(&self) -> Option<String> {
        None
    }
}
