//! TLS client configurations of the SMTP client (rustls, aws-lc-rs provider):
//!
//! - [`opportunistic`]: any certificate is accepted (RFC 7435: encrypting without
//!   authenticating beats plain text); the handshake signature is still checked.
//! - [`webpki`]: the certificate must chain to a trusted root and be valid for the host name:
//!   the roots of a PEM `ca_file`, or the system's roots (`/etc/ssl/certs`, read once).
//! - [`with_verifier`]: any other policy (DANE, in `crate::outbound::dane`).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The one crypto provider of the tree.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// A client configuration with `verifier`, no client certificate.
pub(crate) fn with_verifier(verifier: Arc<dyn ServerCertVerifier>) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

/// Accepts any certificate (opportunistic TLS), checking only the handshake signatures.
pub(crate) fn opportunistic() -> Arc<ClientConfig> {
    static C: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    C.get_or_init(|| with_verifier(Arc::new(AcceptAny(provider()))))
        .clone()
}

/// Roots from a PEM file (`Some`) or the system's roots (`None`, loaded once per process).
pub(crate) fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, String> {
    match ca_file {
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| format!("read CA file {}: {e}", path.display()))?;
            let mut store = RootCertStore::empty();
            let mut n = 0;
            for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let cert: CertificateDer<'static> =
                    cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("CA file {} holds no certificate", path.display()));
            }
            Ok(Arc::new(store))
        }
        None => {
            static SYSTEM: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
            SYSTEM
                .get_or_init(|| {
                    let found = rustls_native_certs::load_native_certs();
                    let mut store = RootCertStore::empty();
                    let (added, _) = store.add_parsable_certificates(found.certs);
                    if added == 0 {
                        Err(format!(
                            "no system CA certificate found ({:?})",
                            found.errors.first()
                        ))
                    } else {
                        Ok(Arc::new(store))
                    }
                })
                .clone()
        }
    }
}

/// The standard WebPKI verifier (chain to `roots`, name check).
pub(crate) fn webpki_verifier(
    roots: Arc<RootCertStore>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let v = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| format!("certificate verifier: {e}"))?;
    Ok(v)
}

/// A verifying configuration: certificate chains to the roots of `ca_file` (or the system's)
/// and is valid for the server name given at connect time.
pub(crate) fn webpki(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    Ok(with_verifier(webpki_verifier(roots(ca_file)?)?))
}

/// Signature checks of the handshake with the provider's algorithms (shared by verifiers that
/// decide on the certificate themselves).
pub(crate) fn verify_tls12(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

/// See [`verify_tls12`].
pub(crate) fn verify_tls13(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.0, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.0, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
