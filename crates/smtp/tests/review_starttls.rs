//! Review finding: STARTTLS handshake without a timeout (over a real TCP connection with a
//! generated self-signed certificate).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{HOST, RecordingHandler, config};
use mailstack_net::{ListenAddr, Listener, ReloadingTlsAcceptor, Shutdown, generate_self_signed};
use mailstack_smtp::session::{Mode, SessionConfig, run_session};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Finding: after `220 2.0.0 Ready to start TLS` the session awaits the TLS handshake with no
/// timeout (`Io::start_tls` in session/mod.rs; mailstack_net documents "put a timeout around
/// it"). A client that says STARTTLS and then stays silent holds the connection (and a slot
/// of max_connections / max_connections_per_ip) forever, although the session timeout is 1 s.
#[tokio::test]
async fn silent_client_after_starttls_is_timed_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    generate_self_signed(&[HOST.to_string()], &cert, &key).unwrap();
    let acceptor = ReloadingTlsAcceptor::new(&cert, &key).unwrap();
    let cfg = SessionConfig {
        mode: Mode::Smtp,
        timeout: Duration::from_secs(1),
        data_timeout: Duration::from_secs(1),
        tls: Some(acceptor),
        ..config()
    };
    let listener = Listener::bind(&"127.0.0.1:0".parse::<ListenAddr>().unwrap()).unwrap();
    let ListenAddr::Tcp(addr) = listener.local_addr() else {
        panic!("tcp listener expected")
    };
    let server = tokio::spawn(async move {
        let (conn, peer) = listener.accept().await.unwrap();
        run_session(
            conn,
            peer.to_string(),
            Arc::new(cfg),
            RecordingHandler::accepting(&["b@example.com"]),
            Shutdown::new(),
        )
        .await
    });

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    rd.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    wr.write_all(b"EHLO client.test\r\n").await.unwrap();
    loop {
        line.clear();
        rd.read_line(&mut line).await.unwrap();
        if line.starts_with("250 ") {
            break;
        }
    }
    wr.write_all(b"STARTTLS\r\n").await.unwrap();
    line.clear();
    rd.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    // Say nothing more. The session must give up within a few seconds.
    let ended = tokio::time::timeout(Duration::from_secs(6), server).await;
    assert!(
        ended.is_ok(),
        "session still waiting for the TLS handshake 6 s after STARTTLS (timeout is 1 s)"
    );
    drop(wr);
}
