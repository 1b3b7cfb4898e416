//! mailbench — the load generator of the mailstack benchmarks (`benches/run`,
//! docs/benchmarks.md). It speaks plain SMTP and IMAP to any server on a loopback port, so the
//! same client measures mailstack and Postfix + Dovecot alike:
//!
//! - [`smtp`]: N messages over C concurrent SMTP sessions; accept rate, transaction latency
//!   percentiles and, when given the Maildir root, the end-to-end rate (every message in a
//!   Maildir);
//! - [`imap`]: timed SELECT, `FETCH 1:* (FLAGS UID RFC822.SIZE)`, `UID SEARCH HEADER` and a
//!   full-body FETCH of the largest message, first on a fresh server (cold) then repeated (warm);
//! - [`idle`]: K connections logged in, in IDLE, and the server's memory before and after
//!   ([`mem`]: PSS of the server's process tree);
//! - [`maildir`]: writes a Maildir of many messages directly (the IMAP workload's mailbox).
//!
//! Written in Rust because a Python client on a two-core machine would be the bottleneck. Every
//! subcommand prints one JSON object on stdout; `benches/run` turns them into the table.

pub mod idle;
pub mod imap;
pub mod limits;
pub mod maildir;
pub mod mem;
pub mod message;
pub mod proto;
pub mod smtp;
pub mod stats;
