//! Binding TCP and unix listeners with errors an administrator understands.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use tokio::net::{TcpListener, TcpSocket, UnixListener};

use crate::{Connection, ListenAddr, NetError, Peer};

/// Pending-connection queue length passed to `listen(2)` (capped by the
/// kernel's `net.core.somaxconn`).
const BACKLOG: u32 = 1024;

/// Permissions of a unix socket: owner and group may connect.
const UNIX_SOCKET_MODE: u32 = 0o660;

/// A bound listening socket.
///
/// A unix socket file is removed again when the `Listener` is dropped, if it
/// is still the one this listener created.
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Tcp {
        listener: TcpListener,
        local: SocketAddr,
    },
    Unix {
        listener: UnixListener,
        path: PathBuf,
        /// (device, inode) of the socket file we created.
        file_id: Option<(u64, u64)>,
    },
}

impl Listener {
    /// Binds and listens on `addr`. Must be called inside a tokio runtime.
    ///
    /// TCP sockets get `SO_REUSEADDR` (restart without waiting for
    /// TIME_WAIT). For a unix socket the parent directory is created, a stale
    /// socket file (one nobody answers on) is removed, a live one or a file
    /// that is not a socket is an error, and the new socket gets mode 0660.
    pub fn bind(addr: &ListenAddr) -> Result<Listener, NetError> {
        match addr {
            ListenAddr::Tcp(sock) => bind_tcp(*sock)
                .map(|(listener, local)| Listener {
                    inner: Inner::Tcp { listener, local },
                })
                .map_err(|source| NetError::Listen {
                    addr: addr.clone(),
                    source,
                }),
            ListenAddr::Unix(path) => bind_unix(addr, path),
        }
    }

    /// Bind every address of a configured listener list (`"[::]:143"`, `"unix:/run/x.sock"`),
    /// in order; the first bad or unbindable address is the error.
    pub fn bind_all(addrs: &[String]) -> Result<Vec<Listener>, NetError> {
        addrs
            .iter()
            .map(|a| Listener::bind(&a.parse::<ListenAddr>()?))
            .collect()
    }

    /// The bound address; for TCP with port 0, the port the kernel chose.
    pub fn local_addr(&self) -> ListenAddr {
        match &self.inner {
            Inner::Tcp { local, .. } => ListenAddr::Tcp(*local),
            Inner::Unix { path, .. } => ListenAddr::Unix(path.clone()),
        }
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(Connection, Peer)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection (used by [`serve`](crate::serve) to
    /// accept on several listeners at once).
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Connection, Peer)>> {
        match &self.inner {
            Inner::Tcp { listener, local } => listener.poll_accept(cx).map_ok(|(stream, addr)| {
                // Mail protocols are request/response with small writes;
                // Nagle would only add latency.
                let _ = stream.set_nodelay(true);
                (Connection::Tcp(stream), Peer::tcp(addr, *local))
            }),
            Inner::Unix { listener, .. } => listener
                .poll_accept(cx)
                .map_ok(|(stream, _)| (Connection::Unix(stream), Peer::unix())),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Inner::Unix {
            path,
            file_id: Some(id),
            ..
        } = &self.inner
        {
            // Only remove the file if it is still ours: a new instance may
            // already have replaced it.
            if fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *id) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

fn bind_tcp(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

fn bind_unix(addr: &ListenAddr, path: &Path) -> Result<Listener, NetError> {
    let unusable = |reason: String| NetError::UnixSocket {
        addr: addr.clone(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|err| {
            unusable(format!(
                "cannot create directory {}: {}",
                dir.display(),
                crate::error::describe_io(&err)
            ))
        })?;
    }
    remove_stale_socket(path).map_err(unusable)?;
    let listener = UnixListener::bind(path).map_err(|source| NetError::Listen {
        addr: addr.clone(),
        source,
    })?;
    fs::set_permissions(path, fs::Permissions::from_mode(UNIX_SOCKET_MODE)).map_err(|err| {
        unusable(format!(
            "cannot set mode 0660: {}",
            crate::error::describe_io(&err)
        ))
    })?;
    let file_id = fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()));
    Ok(Listener {
        inner: Inner::Unix {
            listener,
            path: path.to_owned(),
            file_id,
        },
    })
}

/// Removes `path` if it is a socket nobody listens on; errors if it is a
/// live socket or not a socket at all.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(crate::error::describe_io(&err)),
    };
    if !meta.file_type().is_socket() {
        return Err("the path exists and is not a socket; refusing to replace it".to_owned());
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err("another process is listening on this socket".to_owned()),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            fs::remove_file(path).map_err(|err| {
                format!(
                    "cannot remove stale socket: {}",
                    crate::error::describe_io(&err)
                )
            })?;
            tracing::info!(path = %path.display(), "removed stale unix socket");
            Ok(())
        }
        Err(err) => Err(format!(
            "cannot check whether the existing socket is in use: {}",
            crate::error::describe_io(&err)
        )),
    }
}
