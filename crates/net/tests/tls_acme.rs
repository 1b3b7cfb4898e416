//! Certificates from Traefik's acme.json: chosen by SNI (exact name, then wildcard), the host
//! name's for clients without SNI, one resolver only when asked, renewals picked up, broken
//! entries skipped, a file without any usable certificate refused.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailstack_net::{NetError, ReloadingTlsAcceptor, TlsConfigSource};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

struct Cert {
    pem: String,
    key: String,
    der: CertificateDer<'static>,
}

fn cert(names: &[&str]) -> Cert {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    Cert {
        pem: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
        der: c.cert.der().clone(),
    }
}

fn entry(main: &str, sans: &[&str], c: &Cert) -> serde_json::Value {
    json!({
        "domain": { "main": main, "sans": sans },
        "certificate": BASE64.encode(&c.pem),
        "key": BASE64.encode(&c.key),
        "Store": "default"
    })
}

fn write_acme(path: &Path, resolvers: serde_json::Value) {
    // Written elsewhere and renamed in, as a careful writer does.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&resolvers).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn source(path: &Path, resolver: Option<&str>) -> TlsConfigSource {
    TlsConfigSource::TraefikAcme {
        file: path.to_owned(),
        resolver: resolver.map(str::to_string),
        default_name: "mail.example.com".into(),
    }
}

/// Serve TLS handshakes on a loopback port with `acceptor`.
async fn serve(acceptor: ReloadingTlsAcceptor) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let a = acceptor.acceptor();
            tokio::spawn(async move {
                let _ = a.accept(tcp).await;
            });
        }
    });
    addr
}

/// The leaf the server presents to a client asking for `name` (an IP address: no SNI).
async fn leaf(addr: SocketAddr, name: &str, trust: &[&Cert]) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    for c in trust {
        roots.add(c.der.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .unwrap_or_else(|e| panic!("handshake for {name}: {e}"));
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn certificates_are_chosen_by_sni_and_the_host_name_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let acme = dir.path().join("acme.json");
    let mail = cert(&["mail.example.com", "127.0.0.1"]);
    let wild = cert(&["*.example.org"]);
    let other = cert(&["webmail.example.net"]);
    write_acme(
        &acme,
        json!({
            "letsEncrypt": { "Account": { "Email": "admin@example.com" },
                "Certificates": [entry("webmail.example.net", &[], &other),
                                 entry("mail.example.com", &["smtp.example.com"], &mail)] },
            "wildcard": { "Certificates": [entry("*.example.org", &[], &wild)] },
            "unused": null
        }),
    );
    let acceptor = ReloadingTlsAcceptor::from_source(&source(&acme, None)).unwrap();
    let addr = serve(acceptor.clone()).await;
    let all = [&mail, &wild, &other];
    assert_eq!(leaf(addr, "mail.example.com", &all).await, mail.der);
    assert_eq!(leaf(addr, "MAIL.example.com", &all).await, mail.der);
    assert_eq!(leaf(addr, "imap.example.org", &all).await, wild.der);
    assert_eq!(leaf(addr, "webmail.example.net", &all).await, other.der);
    // No SNI (an IP address): the certificate of the host name, not the first in the file.
    assert_eq!(leaf(addr, "127.0.0.1", &all).await, mail.der);
    assert_eq!(acceptor.current_certificate(), mail.der);
    // A wildcard covers one label only; unknown names get the default.
    assert_eq!(acceptor.certificate_for(Some("a.b.example.org")), mail.der);
    assert_eq!(acceptor.certificate_for(Some("smtp.example.com")), mail.der);

    // One resolver only.
    let only = ReloadingTlsAcceptor::from_source(&source(&acme, Some("wildcard"))).unwrap();
    assert_eq!(only.current_certificate(), wild.der);
    let err = ReloadingTlsAcceptor::from_source(&source(&acme, Some("nope")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no resolver \"nope\"") && err.contains("letsEncrypt"),
        "{err}"
    );
}

#[tokio::test]
async fn renewals_in_acme_json_are_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let acme = dir.path().join("acme.json");
    let old = cert(&["mail.example.com", "127.0.0.1"]);
    write_acme(
        &acme,
        json!({"le": {"Certificates": [entry("mail.example.com", &[], &old)]}}),
    );
    let acceptor = ReloadingTlsAcceptor::from_source(&source(&acme, None)).unwrap();
    let addr = serve(acceptor.clone()).await;
    assert_eq!(leaf(addr, "mail.example.com", &[&old]).await, old.der);

    let new = cert(&["mail.example.com", "127.0.0.1"]);
    write_acme(
        &acme,
        json!({"le": {"Certificates": [entry("mail.example.com", &[], &new)]}}),
    );
    assert!(acceptor.reload().unwrap(), "the renewal is loaded");
    assert_eq!(leaf(addr, "mail.example.com", &[&new]).await, new.der);

    // A half-written file keeps the current certificates.
    std::fs::write(&acme, b"{\"le\": {\"Certif").unwrap();
    assert!(acceptor.reload().is_err());
    assert_eq!(leaf(addr, "mail.example.com", &[&new]).await, new.der);
}

#[test]
fn broken_entries_are_skipped_and_an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let acme = dir.path().join("acme.json");
    let good = cert(&["mail.example.com"]);
    let other = cert(&["x.example.com"]);
    let mut mismatched = entry("bad.example.com", &[], &good);
    mismatched["key"] = json!(BASE64.encode(&other.key));
    write_acme(
        &acme,
        json!({"le": {"Certificates": [
            mismatched,
            {"domain": {"main": "junk.example.com"}, "certificate": "!!", "key": "!!"},
            entry("mail.example.com", &[], &good)
        ]}}),
    );
    let acceptor = ReloadingTlsAcceptor::from_source(&source(&acme, None)).unwrap();
    assert_eq!(acceptor.current_certificate(), good.der);
    assert_eq!(acceptor.certificate_for(Some("bad.example.com")), good.der);

    write_acme(&acme, json!({"le": {"Account": {}, "Certificates": null}}));
    let err = ReloadingTlsAcceptor::from_source(&source(&acme, None)).unwrap_err();
    assert!(matches!(err, NetError::NoCertificate { .. }), "{err}");
    std::fs::write(&acme, b"[1, 2]").unwrap();
    let err = ReloadingTlsAcceptor::from_source(&source(&acme, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a Traefik acme.json"), "{err}");
}

#[test]
fn the_config_names_the_source() {
    let mut tls = mailstack_config::TlsConfig::default();
    assert!(matches!(
        TlsConfigSource::from_config(&tls, "mx.example.com"),
        TlsConfigSource::PemFiles { .. }
    ));
    tls.acme_file = "/srv/traefik/acme.json".into();
    tls.acme_resolver = "letsEncrypt".into();
    assert_eq!(
        TlsConfigSource::from_config(&tls, "mx.example.com"),
        TlsConfigSource::TraefikAcme {
            file: "/srv/traefik/acme.json".into(),
            resolver: Some("letsEncrypt".into()),
            default_name: "mx.example.com".into(),
        }
    );
}
