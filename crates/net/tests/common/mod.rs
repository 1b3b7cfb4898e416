//! Test harness: clients from chosen loopback addresses, line reading,
//! waiting for conditions, and a TLS client trusting one certificate file.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailstack_net::{ListenAddr, Listener};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

/// Upper bound for anything a test waits for; never a fixed sleep.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn bind(addr: &str) -> Listener {
    Listener::bind(&addr.parse::<ListenAddr>().unwrap()).expect("bind")
}

pub fn tcp_addr(listener: &Listener) -> SocketAddr {
    match listener.local_addr() {
        ListenAddr::Tcp(addr) => addr,
        other => panic!("not TCP: {other}"),
    }
}

/// Connects to `to` from the loopback address `from` (127.0.0.0/8 is all loopback on Linux).
pub async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.expect("connect")
}

/// Reads one line (without CRLF); empty string at EOF.
pub async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
        .await
        .expect("line within patience")
        .expect("read line");
    assert!(
        reader.buffer().is_empty(),
        "test protocol sends one line at a time"
    );
    line.trim_end().to_owned()
}

/// Polls `cond` every few milliseconds until true; panics after PATIENCE.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A TLS client that trusts only the certificate(s) in `cert_pem`.
pub fn tls_client(cert_pem: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

pub fn leaf_of(cert_pem: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(cert_pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}
