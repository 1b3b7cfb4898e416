//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::ListenAddr;

/// Errors of the `net` crate.
///
/// They are start-up or reload errors, reported to the administrator; none
/// is sent to a mail client. [`NetError::is_temporary`] tells whether retrying
/// the same operation later can succeed without a configuration change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A listen address could not be parsed. Permanent.
    #[error("invalid listen address {input:?}: {reason}")]
    InvalidListenAddr {
        /// The text as written in the configuration.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The operating system refused to bind or listen. Temporary when the
    /// address is in use by another process, permanent otherwise.
    #[error("cannot listen on {addr}: {}", describe_listen_error(.source))]
    Listen {
        /// The address that could not be bound.
        addr: ListenAddr,
        /// The operating-system error.
        source: io::Error,
    },
    /// A unix socket path cannot be used (a live socket or a non-socket file
    /// is in the way, or its directory cannot be created). Permanent.
    #[error("cannot listen on {addr}: {reason}")]
    UnixSocket {
        /// The socket address.
        addr: ListenAddr,
        /// Why the path cannot be used.
        reason: String,
    },
    /// A certificate or key file could not be read. Permanent.
    #[error("cannot read {what} {}: {}", .path.display(), describe_io(.source))]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
    /// A certificate file holds no `CERTIFICATE` PEM section. Permanent.
    #[error("no certificate in {}", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key PEM section. Permanent.
    #[error("no private key in {}", .path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A PEM file is malformed. Permanent.
    #[error("invalid PEM in {}: {detail}", .path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// The parser's explanation.
        detail: String,
    },
    /// The private key is not the key of the first certificate. Permanent.
    #[error("key {} does not match certificate {}", .key.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls rejected the certificate or key (unsupported key type,
    /// unparsable certificate). Permanent.
    #[error("unusable certificate {} with key {}: {source}", .cert.display(), .key.display())]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's explanation.
        source: rustls::Error,
    },
    /// Generating a self-signed certificate failed. Permanent.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a generated file (or creating its directory) failed. Permanent.
    #[error("cannot write {}: {}", .path.display(), describe_io(.source))]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
}

impl NetError {
    /// True when the same operation may succeed later without a change in
    /// configuration (today: the listen address is in use by another process).
    pub fn is_temporary(&self) -> bool {
        matches!(self, NetError::Listen { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
    }
}

/// Why binding a listener failed, the way an administrator reads it in a log line
/// (`address already in use`, `permission denied (ports below 1024 need ...)`).
pub fn describe_listen_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_owned(),
        io::ErrorKind::AddrNotAvailable => {
            "address not available (no local interface has this address)".to_owned()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_owned()
        }
        _ => describe_io(err),
    }
}

/// An I/O error without the `(os error N)` suffix.
pub(crate) fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_errors_explain_the_cause() {
        let addr: ListenAddr = "0.0.0.0:25".parse().unwrap();
        let err = |kind| NetError::Listen {
            addr: addr.clone(),
            source: io::Error::from(kind),
        };
        assert_eq!(
            err(io::ErrorKind::PermissionDenied).to_string(),
            "cannot listen on 0.0.0.0:25: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        );
        assert_eq!(
            err(io::ErrorKind::AddrInUse).to_string(),
            "cannot listen on 0.0.0.0:25: address already in use"
        );
        assert!(err(io::ErrorKind::AddrInUse).is_temporary());
        assert!(!err(io::ErrorKind::PermissionDenied).is_temporary());
        let os = NetError::Listen {
            addr,
            source: io::Error::from_raw_os_error(99),
        };
        assert_eq!(
            os.to_string(),
            "cannot listen on 0.0.0.0:25: address not available (no local interface has this address)"
        );
    }
}
