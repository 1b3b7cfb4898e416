//! Implicit TLS (RFC 8314): telling connections to the TLS-from-the-first-byte listeners
//! (993, 465) from those to the STARTTLS ones (143, 587) when one [`Server`] runs both, and
//! the handshake those connections start with.
//!
//! [`Server`]: crate::Server

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::{Admission, Connection, ListenAddr, Listener, NetError, Peer, ReloadingTlsAcceptor};

/// How long a client may take over a TLS handshake (implicit TLS or STARTTLS).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The local addresses of the implicit-TLS listeners. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ImplicitTls {
    addrs: Arc<Vec<SocketAddr>>,
}

impl ImplicitTls {
    /// The implicit-TLS listeners are `listeners` (bound already; unix sockets are ignored).
    pub fn of(listeners: &[Listener]) -> Self {
        let addrs = listeners
            .iter()
            .filter_map(|l| match l.local_addr() {
                ListenAddr::Tcp(a) => Some(a),
                ListenAddr::Unix(_) => None,
            })
            .collect();
        ImplicitTls {
            addrs: Arc::new(addrs),
        }
    }

    /// Bind the STARTTLS listeners `plain` and the implicit-TLS listeners `tls` (config
    /// addresses) for one server: every listener, and which of them speak TLS at once.
    pub fn bind(
        plain: &[String],
        tls: &[String],
    ) -> Result<(Vec<Listener>, ImplicitTls), NetError> {
        let plain = Listener::bind_all(plain)?;
        let tls = Listener::bind_all(tls)?;
        let implicit = ImplicitTls::of(&tls);
        Ok((plain.into_iter().chain(tls).collect(), implicit))
    }

    /// Whether `peer` connected to one of them (`[::]:993` matches any local address with
    /// port 993).
    pub fn applies_to(&self, peer: &Peer) -> bool {
        let Some(local) = peer.local else {
            return false;
        };
        let ip = local.ip().to_canonical();
        self.addrs.iter().any(|l| {
            l.port() == local.port() && (l.ip().is_unspecified() || l.ip().to_canonical() == ip)
        })
    }

    /// The first steps of every session of a server with implicit-TLS listeners: the TLS
    /// handshake when `peer` came in on one of them (needs `tls`), then, when the server is
    /// over a connection limit, the protocol's refusal `over_limit` written and the connection
    /// closed. `Some` connection to speak the protocol on, `None` when the session is over.
    pub async fn admit(
        &self,
        conn: Connection,
        tls: Option<&ReloadingTlsAcceptor>,
        peer: &Peer,
        admission: &Admission,
        over_limit: &[u8],
    ) -> Option<Connection> {
        let mut conn = conn;
        if self.applies_to(peer) {
            conn = ImplicitTls::handshake(conn, tls?, peer, TLS_HANDSHAKE_TIMEOUT).await?;
        }
        if let Admission::OverLimit(_) = admission {
            let _ = conn.write_all(over_limit).await;
            let _ = conn.shutdown().await;
            return None;
        }
        Some(conn)
    }

    /// The handshake, within `timeout`. `None` when it failed or took too long (logged at
    /// debug level: port scanners do this all day).
    pub async fn handshake(
        conn: Connection,
        tls: &ReloadingTlsAcceptor,
        peer: &Peer,
        timeout: Duration,
    ) -> Option<Connection> {
        let acceptor = tls.acceptor();
        match tokio::time::timeout(timeout, conn.start_tls(&acceptor)).await {
            Ok(Ok(c)) => Some(c),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(local: &str) -> Peer {
        Peer {
            addr: Some("192.0.2.1:40000".parse().unwrap()),
            local: Some(local.parse().unwrap()),
        }
    }

    #[test]
    fn wildcard_and_exact_listeners_match_by_port() {
        let tls = ImplicitTls {
            addrs: Arc::new(vec![
                "[::]:993".parse().unwrap(),
                "127.0.0.1:465".parse().unwrap(),
            ]),
        };
        assert!(tls.applies_to(&peer("10.0.0.1:993")));
        assert!(tls.applies_to(&peer("[::ffff:127.0.0.1]:465")));
        assert!(!tls.applies_to(&peer("10.0.0.1:465")));
        assert!(!tls.applies_to(&peer("10.0.0.1:143")));
        assert!(!tls.applies_to(&Peer {
            addr: None,
            local: None
        }));
    }
}
