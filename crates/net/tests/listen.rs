//! Binding TCP and unix listeners, and their error messages.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use common::{bind, read_line, tcp_addr, within};
use mailstack_net::{ListenAddr, Listener, NetError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};

#[tokio::test]
async fn tcp_v4_port_zero_accepts_and_reports_peer() {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    assert_ne!(addr.port(), 0, "kernel chose a port");

    let mut client = TcpStream::connect(addr).await.unwrap();
    let (mut conn, peer) = within("accept", listener.accept()).await.unwrap();
    assert_eq!(peer.addr, Some(client.local_addr().unwrap()));
    assert_eq!(peer.local, Some(addr));
    assert_eq!(peer.to_string(), client.local_addr().unwrap().to_string());
    assert!(!conn.is_tls() && conn.tls_info().is_none());

    conn.write_all(b"220 hello\r\n").await.unwrap();
    assert_eq!(read_line(&mut client).await, "220 hello");
    client.write_all(b"QUIT\r\n").await.unwrap();
    assert_eq!(read_line(&mut conn).await, "QUIT");
}

#[tokio::test]
async fn tcp_v6_loopback() {
    if let Err(err) = std::net::TcpListener::bind("[::1]:0") {
        eprintln!("skipping: this machine has no IPv6 loopback ([::1]: {err})");
        return;
    }
    let listener = bind("[::1]:0");
    let addr = tcp_addr(&listener);
    assert!(addr.is_ipv6() && addr.port() != 0);
    assert!(listener.local_addr().to_string().starts_with("[::1]:"));

    let mut client = TcpStream::connect(addr).await.unwrap();
    let (mut conn, peer) = within("accept", listener.accept()).await.unwrap();
    assert_eq!(
        peer.addr.unwrap().ip(),
        "::1".parse::<std::net::IpAddr>().unwrap()
    );
    conn.write_all(b"* OK\r\n").await.unwrap();
    assert_eq!(read_line(&mut client).await, "* OK");
}

#[tokio::test]
async fn port_in_use_says_so() {
    let first = bind("127.0.0.1:0");
    let addr = first.local_addr();
    let err = Listener::bind(&addr).unwrap_err();
    assert!(matches!(err, NetError::Listen { .. }));
    assert_eq!(
        err.to_string(),
        format!("cannot listen on {addr}: address already in use")
    );
    assert!(err.is_temporary());
}

#[tokio::test]
async fn privileged_port_needs_root() {
    // /proc/self belongs to the effective user.
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if uid == 0 {
        eprintln!("skipping: running as root, binding port 1 would succeed");
        return;
    }
    let err = Listener::bind(&"127.0.0.1:1".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot listen on 127.0.0.1:1: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    );
}

#[tokio::test]
async fn unix_socket_creates_dir_sets_mode_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/mailstack/lmtp.sock");
    let addr = ListenAddr::Unix(path.clone());
    let listener = Listener::bind(&addr).unwrap();
    assert_eq!(listener.local_addr(), addr);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let mut client = UnixStream::connect(&path).await.unwrap();
    let (mut conn, peer) = within("accept", listener.accept()).await.unwrap();
    assert_eq!(peer.addr, None);
    assert_eq!(peer.to_string(), "unix");
    conn.write_all(b"220 lmtp\r\n").await.unwrap();
    assert_eq!(read_line(&mut client).await, "220 lmtp");

    drop(listener);
    assert!(!path.exists(), "socket file removed with the listener");
}

#[tokio::test]
async fn unix_stale_socket_is_replaced_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lmtp.sock");
    let addr = ListenAddr::Unix(path.clone());

    // A crashed process leaves its socket file behind: nobody answers on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listener = Listener::bind(&addr).expect("stale socket replaced");
    let mut client = UnixStream::connect(&path).await.unwrap();
    let (mut conn, _) = within("accept", listener.accept()).await.unwrap();
    conn.write_all(b"new\r\n").await.unwrap();
    assert_eq!(read_line(&mut client).await, "new");

    // While it is alive, a second bind must not steal the path.
    let err = Listener::bind(&addr).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "cannot listen on unix:{}: another process is listening on this socket",
            path.display()
        )
    );
    drop(listener);
}

#[tokio::test]
async fn unix_path_that_is_a_regular_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("important.txt");
    std::fs::write(&path, "keep me").unwrap();
    let err = Listener::bind(&ListenAddr::Unix(path.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}
