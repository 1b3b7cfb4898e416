//! The error type of this crate.

use std::io;

/// Errors of the telemetry crate.
///
/// Every case is *permanent* for the process: the service should report it
/// and exit non-zero (for example, the admin port is taken by another
/// process). None of them maps to a protocol reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The admin listen address is not a valid `host:port`.
    #[error("invalid admin listen address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as written in the configuration.
        addr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Binding the admin listener failed.
    #[error("cannot listen on {addr} (admin HTTP): {}", describe_io(.source))]
    Listen {
        /// The address that could not be bound.
        addr: String,
        /// The operating-system error.
        source: io::Error,
    },
}

/// A short lower-case description of an I/O error without the `(os error N)`
/// suffix, the way an administrator reads it in a log line.
pub(crate) fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_owned(),
        io::ErrorKind::AddrNotAvailable => {
            "address not available (no local interface has this address)".to_owned()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_owned()
        }
        _ => {
            let text = err.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_owned(),
                None => text,
            }
        }
    }
}
