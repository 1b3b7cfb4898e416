//! DANE for SMTP (RFC 7672): TLSA records of `_PORT._tcp.MXHOST`, used only when the MX answer,
//! the host's address answers and the TLSA answer are all DNSSEC-authenticated (the AD bit of
//! the validating resolver, see [`super::dns`]).
//!
//! - Usable records (§3.1): DANE-EE(3) and DANE-TA(2), selector Cert(0) or SPKI(1), matching
//!   Full(0), SHA2-256(1) or SHA2-512(2). PKIX-TA(0)/PKIX-EE(1) and unknown values are
//!   unusable.
//! - A usable record makes TLS mandatory and authenticated: DANE-EE matches the server's own
//!   certificate (no name or expiry check, §3.1.1); DANE-TA matches a certificate of the
//!   presented chain, which then anchors a WebPKI validation of the chain for the MX host name
//!   or the recipient domain (§3.2.2, §3.2.3). No match → the handshake fails and the
//!   delivery is deferred: nothing is ever sent in clear.
//! - TLSA records that exist but none usable: TLS is still mandatory, without authentication
//!   (§2.2, as Postfix does).

use std::sync::Arc;

use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::hickory_resolver::proto::rr::RecordType;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::dns::{Dns, DnsError};
use crate::client::tls;

/// One usable TLSA record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tlsa {
    /// 2 (DANE-TA) or 3 (DANE-EE).
    pub(crate) usage: u8,
    /// 0 (full certificate) or 1 (SubjectPublicKeyInfo).
    pub(crate) selector: u8,
    /// 0 (exact), 1 (SHA-256), 2 (SHA-512).
    pub(crate) matching: u8,
    pub(crate) data: Vec<u8>,
}

/// The DANE state of one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dane {
    /// Not applicable (insecure answers or no TLSA records): other policies decide.
    None,
    /// TLSA records exist, none usable: TLS mandatory, no authentication.
    Unusable,
    /// Usable records: TLS mandatory, authenticated by them.
    Records(Vec<Tlsa>),
}

/// Look up the TLSA records of `host` on `port` (call only when the MX and address answers
/// were secure). A temporary DNS failure is an error: the host must not be used in clear.
pub(crate) async fn lookup(dns: &Dns, host: &str, port: u16) -> Result<Dane, DnsError> {
    let name = format!("_{port}._tcp.{host}");
    let answer = match dns.query(&name, RecordType::TLSA).await {
        Ok(a) => a,
        Err(DnsError::NxDomain(_)) => return Ok(Dane::None),
        Err(e) => return Err(e),
    };
    if !answer.authentic || answer.records.is_empty() {
        return Ok(Dane::None);
    }
    let usable: Vec<Tlsa> = answer
        .records
        .iter()
        .filter_map(|rd| match rd {
            RData::TLSA(t) => Some(Tlsa {
                usage: u8::from(t.cert_usage),
                selector: u8::from(t.selector),
                matching: u8::from(t.matching),
                data: t.cert_data.clone(),
            }),
            _ => None,
        })
        .filter(|t| matches!(t.usage, 2 | 3) && t.selector <= 1 && t.matching <= 2)
        .filter(|t| match t.matching {
            1 => t.data.len() == 32,
            2 => t.data.len() == 64,
            _ => !t.data.is_empty(),
        })
        .collect();
    Ok(if usable.is_empty() {
        Dane::Unusable
    } else {
        Dane::Records(usable)
    })
}

/// Does `cert` (DER) match `t` (its selector and matching type)?
fn matches(t: &Tlsa, cert: &CertificateDer<'_>) -> bool {
    let selected: Vec<u8> = match t.selector {
        0 => cert.as_ref().to_vec(),
        _ => match spki(cert) {
            Some(s) => s,
            None => return false,
        },
    };
    let digest = |alg: &'static aws_lc_rs::digest::Algorithm| {
        aws_lc_rs::digest::digest(alg, &selected).as_ref().to_vec()
    };
    let value = match t.matching {
        0 => selected,
        1 => digest(&aws_lc_rs::digest::SHA256),
        _ => digest(&aws_lc_rs::digest::SHA512),
    };
    value == t.data
}

/// The DER SubjectPublicKeyInfo of a certificate.
fn spki(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let anchor = webpki::anchor_from_trusted_cert(cert).ok()?;
    // webpki keeps the field's value without its SEQUENCE tag and length: put them back.
    let inner = anchor.subject_public_key_info.as_ref();
    let mut out = vec![0x30];
    let len = inner.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(inner);
    Some(out)
}

/// The rustls verifier of a DANE-protected host: see the module doc.
#[derive(Debug)]
pub(crate) struct DaneVerifier {
    records: Vec<Tlsa>,
    /// Reference identifiers for DANE-TA: the MX host and the recipient domain.
    names: Vec<String>,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    pub(crate) fn new(records: Vec<Tlsa>, names: Vec<String>) -> DaneVerifier {
        DaneVerifier {
            records,
            names,
            provider: tls::provider(),
        }
    }

    fn ta_verifies(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        let mut roots = RootCertStore::empty();
        if roots.add(anchor.clone().into_owned()).is_err() {
            return false;
        }
        let Ok(verifier) = tls::webpki_verifier(Arc::new(roots)) else {
            return false;
        };
        self.names.iter().any(|name| {
            let Ok(server_name) = ServerName::try_from(name.clone()) else {
                return false;
            };
            verifier
                .verify_server_cert(end_entity, intermediates, &server_name, &[], now)
                .is_ok()
        })
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        for t in &self.records {
            match t.usage {
                3 if matches(t, end_entity) => return Ok(ServerCertVerified::assertion()),
                2 => {
                    for anchor in intermediates.iter().filter(|c| matches(t, c)) {
                        if self.ta_verifies(anchor, end_entity, intermediates, now) {
                            return Ok(ServerCertVerified::assertion());
                        }
                    }
                }
                _ => {}
            }
        }
        Err(rustls::Error::General(
            "DANE: no TLSA record matches the server's certificate chain".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls::verify_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls::verify_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
