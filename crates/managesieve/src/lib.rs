//! # mailstack-managesieve
//!
//! The ManageSieve protocol (RFC 5804): users upload, check, list, activate, fetch, rename and
//! delete their Sieve scripts, from Roundcube's managesieve plugin, Thunderbird's Sieve add-on
//! or `sieve-connect`. imap-server serves it on its own listener (`[managesieve] listen`,
//! port 4190), next to IMAP, sharing the process's directory and failed-login throttle.
//!
//! ```text
//!  client ──4190 (STARTTLS)──▶ service (listeners, limits) ──▶ session (one per connection)
//!                                                              │  AUTHENTICATE ─▶ Directory
//!                                                              │  PUTSCRIPT ──▶ mailstack_sieve::compile
//!                                                              └▶ mailstack_store::sieve (Dovecot's layout:
//!                                                                 ~/sieve/<name>.sieve, ~/.dovecot.sieve link)
//! ```
//!
//! - [`proto`]: the wire format, sans I/O (framing with literals `{n+}`/`{n}`, limits,
//!   responses with codes).
//! - [`session`]: the command loop.
//! - [`service`]: the listeners, wired like IMAP's (connection limits, STARTTLS and implicit
//!   TLS, admin metrics).
//!
//! What it must not do: run scripts (lmtp-mda does, at delivery), or write a script the
//! interpreter's compiler refused.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod proto;
mod script;
pub mod service;
pub mod session;
