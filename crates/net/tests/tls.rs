//! TLS: self-signed generation, STARTTLS-style handshake, hot reload, errors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bind, leaf_of, localhost, read_line, tcp_addr, tls_client, within};
use mailstack_net::{
    Admission, Connection, NetError, Peer, ReloadingTlsAcceptor, ServerLimits, Shutdown,
    TlsConfigSource, ensure_self_signed, generate_self_signed, serve,
};
use rustls::pki_types::CertificateDer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn self_signed() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls/cert.pem");
    let key = dir.path().join("tls/private/key.pem");
    generate_self_signed(
        &["localhost".to_owned(), "mail.example.org".to_owned()],
        &cert,
        &key,
    )
    .unwrap();
    Files {
        _dir: dir,
        cert,
        key,
    }
}

/// A server speaking a tiny STARTTLS dialogue: plain `220 ready`, handshake,
/// then `250 <protocol>` over TLS.
fn start_server(
    acceptor: ReloadingTlsAcceptor,
) -> (std::net::SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
    let listener = bind("127.0.0.1:0");
    let addr = tcp_addr(&listener);
    let shutdown = Shutdown::new();
    let handler =
        move |mut conn: Connection, _peer: Peer, _admission: Admission, _shutdown: Shutdown| {
            let acceptor = acceptor.clone();
            async move {
                conn.write_all(b"220 ready\r\n").await.unwrap();
                let Ok(mut tls) = conn.start_tls(&acceptor.acceptor()).await else {
                    return;
                };
                let info = tls.tls_info().expect("TLS info");
                assert_eq!(info.sni.as_deref(), Some("localhost"));
                tls.write_all(format!("250 {}\r\n", info.protocol).as_bytes())
                    .await
                    .unwrap();
                tls.flush().await.unwrap();
                let again = tls.start_tls(&acceptor.acceptor()).await;
                assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
            }
        };
    let running = tokio::spawn(serve(
        vec![listener],
        ServerLimits::default(),
        shutdown.clone(),
        Duration::from_secs(5),
        handler,
    ));
    (addr, shutdown, running)
}

/// Runs the dialogue as a client trusting `trust`; returns the server's leaf
/// certificate and the line read over TLS.
async fn handshake(
    addr: std::net::SocketAddr,
    trust: &Path,
) -> std::io::Result<(CertificateDer<'static>, String)> {
    let mut tcp = TcpStream::connect(addr).await?;
    assert_eq!(read_line(&mut tcp).await, "220 ready");
    let mut tls = within("handshake", tls_client(trust).connect(localhost(), tcp)).await?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let line = read_line(&mut tls).await;
    Ok((leaf, line))
}

#[tokio::test]
async fn handshake_with_generated_certificate() {
    let files = self_signed();
    let key_mode = std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600, "private key readable by its owner only");

    let acceptor = ReloadingTlsAcceptor::new(&files.cert, &files.key).unwrap();
    assert_eq!(acceptor.current_certificate(), leaf_of(&files.cert));
    let (addr, shutdown, running) = start_server(acceptor);

    let (leaf, line) = handshake(addr, &files.cert).await.unwrap();
    assert_eq!(leaf, leaf_of(&files.cert));
    assert_eq!(line, "250 TLSv1_3");

    shutdown.trigger();
    within("serve", running).await.unwrap();
}

#[tokio::test]
async fn tls12_clients_are_served() {
    let files = self_signed();
    let acceptor = ReloadingTlsAcceptor::from_source(&TlsConfigSource::PemFiles {
        cert: files.cert.clone(),
        key: files.key.clone(),
    })
    .unwrap();
    // A TLS 1.2-only client still connects.
    let (addr, shutdown, running) = start_server(acceptor);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(leaf_of(&files.cert)).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut tcp).await, "220 ready");
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
        .connect(localhost(), tcp)
        .await
        .unwrap();
    assert_eq!(read_line(&mut tls).await, "250 TLSv1_2");

    shutdown.trigger();
    within("serve", running).await.unwrap();
}

#[tokio::test]
async fn renewed_certificate_is_served_without_restart() {
    let files = self_signed();
    let acceptor = ReloadingTlsAcceptor::new(&files.cert, &files.key).unwrap();
    acceptor.set_check_interval(Duration::ZERO);
    let (addr, shutdown, running) = start_server(acceptor.clone());

    let old = leaf_of(&files.cert);
    let (leaf, _) = handshake(addr, &files.cert).await.unwrap();
    assert_eq!(leaf, old);

    // Renewal: new files replace the old ones (write + rename, like certbot).
    generate_self_signed(&["localhost".to_owned()], &files.cert, &files.key).unwrap();
    let new = leaf_of(&files.cert);
    assert_ne!(new, old);
    let (leaf, line) = handshake(addr, &files.cert).await.unwrap();
    assert_eq!(leaf, new, "client sees the renewed certificate");
    assert_eq!(line, "250 TLSv1_3");
    assert!(!acceptor.reload().unwrap(), "nothing new to load");

    // A broken renewal keeps the current certificate.
    let backup = std::fs::read(&files.key).unwrap();
    std::fs::write(&files.key, "not a key\n").unwrap();
    let err = acceptor.reload().unwrap_err();
    assert!(matches!(err, NetError::NoPrivateKey { .. }), "{err}");
    let (leaf, _) = handshake(addr, &files.cert).await.unwrap();
    assert_eq!(leaf, new, "still the last good certificate");

    // The key is fixed a moment later: picked up at the next check.
    std::fs::write(&files.key, backup).unwrap();
    assert!(acceptor.reload().unwrap(), "fixed key loaded");
    assert_eq!(acceptor.current_certificate(), new);

    shutdown.trigger();
    within("serve", running).await.unwrap();
}

#[tokio::test]
async fn watcher_reloads_without_connections() {
    tokio::time::pause();
    let files = self_signed();
    let acceptor = ReloadingTlsAcceptor::new(&files.cert, &files.key).unwrap();
    let shutdown = Shutdown::new();
    let watcher = acceptor.spawn_watcher(shutdown.clone());
    generate_self_signed(&["localhost".to_owned()], &files.cert, &files.key).unwrap();
    let new = leaf_of(&files.cert);
    // Paused time: advance past one watch interval instead of sleeping.
    for _ in 0..3 {
        tokio::time::advance(mailstack_net::WATCH_INTERVAL).await;
        tokio::task::yield_now().await;
        if acceptor.current_certificate() == new {
            break;
        }
    }
    assert_eq!(acceptor.current_certificate(), new);
    shutdown.trigger();
    watcher.await.unwrap();
}

#[tokio::test]
async fn load_errors_name_the_file_and_the_problem() {
    let files = self_signed();
    let dir = files.cert.parent().unwrap();

    let missing = dir.join("missing.pem");
    let err = ReloadingTlsAcceptor::new(&missing, &files.key)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "cannot read certificate {}: No such file or directory",
            missing.display()
        )
    );

    let err = ReloadingTlsAcceptor::new(&files.cert, &missing)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "cannot read private key {}: No such file or directory",
            missing.display()
        )
    );

    // The key file given as certificate, and the certificate given as key.
    let err = ReloadingTlsAcceptor::new(&files.key, &files.key)
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("no certificate in {}", files.key.display()));
    let err = ReloadingTlsAcceptor::new(&files.cert, &files.cert)
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("no private key in {}", files.cert.display()));

    // A key from another certificate.
    let other = self_signed();
    let err = ReloadingTlsAcceptor::new(&files.cert, &other.key).unwrap_err();
    assert!(matches!(err, NetError::KeyMismatch { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "key {} does not match certificate {}",
            other.key.display(),
            files.cert.display()
        )
    );

    let broken = dir.join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let err = ReloadingTlsAcceptor::new(&broken, &files.key)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("invalid PEM in {}", broken.display())),
        "{err}"
    );
}

#[tokio::test]
async fn ensure_self_signed_generates_only_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("data/tls/cert.pem");
    let key = dir.path().join("data/tls/key.pem");
    let names = ["mail.example.org".to_owned()];

    assert!(
        ensure_self_signed(&names, &cert, &key).unwrap(),
        "first start generates"
    );
    let first = std::fs::read(&cert).unwrap();
    assert!(
        !ensure_self_signed(&names, &cert, &key).unwrap(),
        "second start keeps the files"
    );
    assert_eq!(std::fs::read(&cert).unwrap(), first);
    ReloadingTlsAcceptor::new(&cert, &key).expect("generated pair is usable");

    std::fs::remove_file(&key).unwrap();
    assert!(
        ensure_self_signed(&names, &cert, &key).unwrap(),
        "incomplete pair regenerated"
    );
    assert_ne!(std::fs::read(&cert).unwrap(), first);
    ReloadingTlsAcceptor::new(&cert, &key).expect("regenerated pair is usable");
}
