//! # mailstack-imap
//!
//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) for imap-server, in layers:
//!
//! - [`proto`]: the wire protocol, sans-IO: a command parser with hard limits (line and literal
//!   sizes, nesting) and the response serializer. It knows nothing of the store.
//! - [`search`]: SEARCH, SORT and THREAD evaluated over a mailbox's messages.
//! - `mime`: MIME structure for FETCH (ENVELOPE, BODYSTRUCTURE, sections, BINARY, PREVIEW),
//!   pure functions over a message's bytes.
//! - [`view`]: a session's sequence numbers and the changes it may be told about now.
//! - [`session`]: one connection's command loop over the store and the directory.
//! - [`service`]: imap-server's listeners (143 with STARTTLS, 993 with implicit TLS) and admin
//!   endpoint around the sessions.
//! - [`learn`]: spam/ham reports to rspamd's controller when users file messages into or out
//!   of Junk (off by default).
//! - [`watch`]: one inotify instance for the whole process, fanning Maildir changes out to
//!   every session that has the folder open (IDLE, new-mail notices).
//!
//! What this crate must not do: reach into the Maildir layout (it uses the `store` API only),
//! or let the parser depend on the store.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod learn;
mod mime;
pub mod proto;
pub mod search;
pub mod service;
pub mod session;
pub mod view;
pub mod watch;
