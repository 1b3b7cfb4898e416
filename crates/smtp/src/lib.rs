//! # mailstack-smtp
//!
//! The SMTP family of protocols as mailstack speaks them. Today: the LMTP server side
//! (RFC 2033) used by lmtp-mda; smtp-mta and submission add their modes to the same session.
//!
//! ```text
//!  socket ──▶ lines (bounded) ──▶ session (state machine, Mode) ──▶ MailHandler
//!                                   │  DATA: data::DataParser        ├─ check_recipient (RCPT)
//!                                   ▼                                └─ deliver (end of DATA)
//!                                 reply (the one table of codes)
//! ```
//!
//! - [`session`]: commands, ordering, limits, pipelining, timeouts; one [`session::Mode`] per
//!   listener kind.
//! - [`data`]: dot-unstuffing and the smuggling defence (only `<CRLF>.<CRLF>` ends data).
//! - [`reply`]: every reply code and enhanced status code (RFC 3463), and the mapping of
//!   directory and store errors to them.
//! - [`lmtp`]: the LMTP [`session::MailHandler`] that resolves recipients and writes the store.
//! - [`junk`]: which mailbox a message marked as spam by a content filter goes to.
//! - [`client`]: the SMTP and LMTP clients (next hops: lmtp-mda, the relay listener, a
//!   smarthost, remote MX hosts).
//! - [`milter`]: smtp-mta's milters (content filters) as the session's filter.
//! - [`outbound`]: smtp-mta's routing transport (LMTP for local domains, SMTP to the MX hosts
//!   of the others with MTA-STS and DANE).
//! - [`service`]: wiring a mode's listeners, admin endpoint and shutdown into a running service.
//!
//! What this crate must not do: reach into a directory backend or the Maildir layout (it uses
//! the `Directory` trait and the store API only), or send a `5xx` for a temporary condition.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod client;
pub mod data;
pub mod dkim;
pub mod headers;
pub mod inbound;
pub mod junk;
pub mod lines;
pub mod lmtp;
pub mod milter;
pub mod outbound;
pub mod reply;
pub mod service;
pub mod session;
pub mod spool;
pub mod submission;
pub mod verify;
