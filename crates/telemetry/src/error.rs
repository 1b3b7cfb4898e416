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
    #[error("cannot listen on {addr} (admin HTTP): {}", mailstack_net::describe_listen_error(.source))]
    Listen {
        /// The address that could not be bound.
        addr: String,
        /// The operating-system error.
        source: io::Error,
    },
}
