//! Shared fixtures of the `verify_*` tests: a verifier pointed at the test DNS server, DKIM
//! keys generated per test (RSA-2048 and Ed25519 through aws-lc-rs, the tree's one crypto
//! provider) with their DNS records, signing, ARC sealing and a sample message.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};
use mailstack_smtp::verify::{Verdict, Verifier, VerifyInput, VerifyOptions};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::dns_server::DnsServer;

/// Our authserv-id in every test.
pub const AUTH_SERV_ID: &str = "mx.mailstack.test";
/// Per-verification timeout of the tests (the DNS server answers in microseconds).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A verifier asking only `dns`.
pub fn verifier(dns: &DnsServer) -> Verifier {
    verifier_at(dns.addr(), TIMEOUT)
}

/// A verifier asking only the server at `addr`, with `timeout`.
pub fn verifier_at(addr: std::net::SocketAddr, timeout: Duration) -> Verifier {
    Verifier::new(VerifyOptions {
        resolver: Some(addr),
        timeout,
        auth_serv_id: AUTH_SERV_ID.to_string(),
    })
    .expect("verifier")
}

/// Verifies `message` as sent by `ip` with HELO `mail.example.org` and MAIL FROM `mail_from`.
pub async fn verify(verifier: &Verifier, ip: &str, mail_from: &str, message: &[u8]) -> Verdict {
    let input = VerifyInput {
        client_ip: ip.parse::<IpAddr>().expect("ip"),
        helo: "mail.example.org",
        mail_from,
        message,
    };
    verifier.verify(&input).await
}

/// A plain message from `from` with CRLF line ends.
pub fn message(from: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <{from}>\r\n\
         To: Bob <bob@mailstack.test>\r\n\
         Subject: Quarterly report\r\n\
         Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <report-1@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {body}"
    )
    .into_bytes()
}

/// The default body of [`message`].
pub const BODY: &str = "Hello Bob,\r\n\r\nthe numbers are attached.\r\n\r\nAlice\r\n";

/// A DKIM signing key and the TXT record publishing its public half.
pub struct Key {
    /// The key, usable for DKIM signing and ARC sealing.
    pub key: DkimKey,
    /// `v=DKIM1; k=...; p=...`.
    pub record: String,
}

/// A fresh RSA-2048 key (its record exceeds 512 octets on the wire with the question).
pub fn rsa_key() -> Key {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA key");
    let der: Pkcs8V1Der<'static> = pair.as_der().expect("PKCS#8");
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        der.as_ref().to_vec(),
    )))
    .expect("load RSA key");
    let record = format!("v=DKIM1; k=rsa; p={}", base64(&key.public_key()));
    Key {
        key: key.into(),
        record,
    }
}

/// A fresh Ed25519 key (RFC 8463).
pub fn ed25519_key() -> Key {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate Ed25519 key");
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("load Ed25519 key");
    let record = format!("v=DKIM1; k=ed25519; p={}", base64(&key.public_key()));
    Key {
        key: key.into(),
        record,
    }
}

/// Signs `message` for `domain` with `selector` and returns it with the DKIM-Signature first.
pub fn dkim_sign(key: Key, domain: &str, selector: &str, message: &[u8]) -> Vec<u8> {
    let signature = DkimSigner::from_key(key.key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(message)
        .expect("DKIM sign");
    let mut signed = signature.to_header().into_bytes();
    signed.extend_from_slice(message);
    signed
}

/// Seals `message` as a forwarder `domain` would (first ARC set, cv=none) and returns it with
/// the three ARC headers first.
pub fn arc_seal(key: Key, domain: &str, selector: &str, message: &[u8]) -> Vec<u8> {
    let parsed = AuthenticatedMessage::parse(message).expect("parse message to seal");
    let results = AuthenticationResults::new(domain);
    let set = ArcSealer::from_key(key.key)
        .domain(domain)
        .selector(selector)
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "DKIM-Signature",
        ])
        .seal(&parsed, &results, &ArcOutput::default())
        .expect("ARC seal");
    let mut sealed = set.to_header().into_bytes();
    sealed.extend_from_slice(message);
    sealed
}

/// Standard base64 with padding (RFC 4648), for the `p=` of DKIM records.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Asserts the header's shape: field name and authserv-id first, CRLF at the end, every line
/// break a CRLF followed by white space (a fold), no bare CR or LF, lines within 998 octets.
pub fn assert_header_shape(header: &str) {
    let prefix = format!("Authentication-Results: {AUTH_SERV_ID};");
    assert!(header.starts_with(&prefix), "{header}");
    assert!(header.ends_with("\r\n"), "{header:?}");
    let body = &header[..header.len() - 2];
    for (i, line) in body.split("\r\n").enumerate() {
        assert!(
            !line.contains('\r') && !line.contains('\n'),
            "bare CR/LF: {header:?}"
        );
        assert!(line.len() <= 998, "line too long: {line}");
        if i > 0 {
            assert!(
                line.starts_with([' ', '\t']),
                "line {i} is not a fold: {header:?}"
            );
        }
    }
}

/// The header unfolded (RFC 5322 section 2.2.3), without the final CRLF.
pub fn unfold(header: &str) -> String {
    header.trim_end_matches("\r\n").replace("\r\n", "")
}
