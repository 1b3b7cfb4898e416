//! # mailstack-milter
//!
//! The MTA side of the Sendmail milter protocol (version 6, with 2–5 for old filters), as
//! Postfix's `milter8.c` speaks it: smtp-mta hands each SMTP connection's events to external
//! content filters such as rspamd's milter proxy, clamav-milter or OpenDKIM, and applies their
//! decisions and message edits.
//!
//! ```text
//!  smtp session ──▶ chain::MilterSession (one per SMTP connection, milters in order)
//!                      │   connect, helo, mail, rcpt, data, message (headers, body, eom), abort
//!                      ▼
//!                  conn::MilterConn (one socket per milter: inet:host:port or unix:/path)
//!                      │   proto: packets, SMFIC_* commands, SMFIR_* replies, limits
//!                      ▼
//!                  message::Message / EnvelopeEdits (the edits milters ask for)
//! ```
//!
//! - [`spec`]: milter addresses and per-milter settings (timeouts, default action, protocol),
//!   the macro lists per stage.
//! - [`proto`]: the wire format (sans I/O), with a size limit on every packet read.
//! - [`conn`]: one negotiated connection.
//! - [`chain`]: several milters for one SMTP connection; verdicts as SMTP replies.
//! - [`message`]: header/body edits and envelope edits.
//!
//! No crate on crates.io implements the MTA side of the protocol with tokio (the existing ones
//! implement the filter side), so this one is ours; it has no dependency beyond tokio.
//!
//! What this crate must not do: decide SMTP policy beyond what milters said (smtp-mta maps
//! verdicts to its replies), or buffer more than the limits allow from a filter.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod chain;
pub mod conn;
pub mod message;
pub mod proto;
pub mod spec;

#[cfg(test)]
mod tests;

pub use chain::{MilterSession, Milters, Observer, Outcome, SmtpReply, Verdict};
pub use conn::{EomLimits, MacroValues, MilterConn};
pub use message::{EnvelopeEdits, Header, Message};
pub use spec::{DefaultAction, MacroNames, MilterAddress, MilterDefaults, MilterSpec};

/// The SMTP client as the connect event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client.
    Inet(std::net::SocketAddr),
    /// A client on a Unix socket (its path).
    Unix(String),
    /// Unknown.
    Unknown,
}

/// Why talking to a milter failed. Every case leads to the milter's default action.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MilterError {
    /// The milter could not be reached.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The milter closed the connection.
    #[error("connection closed by the milter")]
    Closed,
    /// No reply in time.
    #[error("timeout during {stage}")]
    Timeout {
        /// What we were waiting for.
        stage: &'static str,
    },
    /// The milter broke the protocol (unknown reply, malformed data, over a limit, an action it
    /// did not negotiate).
    #[error("protocol error: {0}")]
    Protocol(String),
}
