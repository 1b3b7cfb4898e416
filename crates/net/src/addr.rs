//! Listen addresses as written in the configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::NetError;

/// Where a service listens: a TCP socket address or a unix socket path.
///
/// Parsed from `0.0.0.0:24`, `[::]:24`, `127.0.0.1:2424` or
/// `unix:/run/mailstack/lmtp.sock`; [`Display`](fmt::Display) writes the
/// same form back. Host names are not accepted: a listener binds to an
/// interface address, not to a name that DNS may change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address (port 0 picks a free port).
    Tcp(SocketAddr),
    /// A unix stream socket at this absolute path.
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| NetError::InvalidListenAddr {
            input: s.to_owned(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(invalid("empty unix socket path"));
            }
            if !path.starts_with('/') {
                return Err(invalid(
                    "the unix socket path must be absolute (unix:/run/...)",
                ));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        s.parse::<SocketAddr>()
            .map(ListenAddr::Tcp)
            .map_err(|_| invalid("expected IP:PORT ([IPv6]:PORT for IPv6) or unix:/absolute/path"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

#[cfg(test)]
#[path = "addr_tests.rs"]
mod tests;
