//! # mailstack-store
//!
//! The mail store of mailstack: Dovecot-compatible Maildir++ on disk plus a
//! per-folder SQLite index for UIDs, UIDVALIDITY and MODSEQ.
//!
//! ```text
//!  lmtp-mda ──deliver()──┐                      ┌── <root>/<domain>/<user>/Maildir/
//!  imap-server ──open()──┼─▶ Store ─▶ UserStore ┤     cur/ new/ tmp/        (INBOX)
//!  mailctl ──────────────┘        └─▶ Mailbox ──┤     .Sent/ .Work.Projects/ .&AMQ-rger/
//!                                               │     maildirsize  dovecot-uidlist  dovecot-keywords
//!                                               │     subscriptions (Dovecot's format)
//!                                               └──   mailstack-index.sqlite (per folder)
//! ```
//!
//! ## What it does
//!
//! - Stores messages exactly as given, in Dovecot's Maildir++ layout and
//!   file names (`<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>:2,<flags>`),
//!   so a Dovecot Maildir can be copied in and served, and ours copied back
//!   to Dovecot with the same UIDs (`dovecot-uidlist` is kept up to date).
//! - Delivery is durable before it returns: tmp file fsynced, renamed into
//!   `new/` (or `cur/`), directory fsynced. On error nothing is left behind.
//! - Enforces Maildir++ quota (`maildirsize`) with limits given by the caller.
//! - Keeps a per-folder SQLite index that is only a cache: missing, corrupt
//!   or outdated, it is rebuilt from the Maildir (and `dovecot-uidlist`).
//!   Several processes can share it; UID allocation is serialized with
//!   `BEGIN IMMEDIATE`.
//!
//! ## What it must not do
//!
//! - Speak any protocol or map errors to replies: callers map
//!   [`StoreError`] once, using [`StoreError::is_temporary`].
//! - Look users up or decide quotas: the directory does, the caller passes
//!   [`Quota`].
//! - Build a path from an unvalidated name: mailbox names, domains and local
//!   parts are validated first ([`StoreError::InvalidName`]).
//! - Hold whole mailboxes in memory or block the async runtime: blocking
//!   file I/O runs on tokio's blocking pool.
//!
//! ## Getting started
//!
//! ```no_run
//! # async fn demo() -> Result<(), mailstack_store::StoreError> {
//! use mailstack_store::{MessageSource, Quota, Store, StoreOptions};
//! let store = Store::new(StoreOptions::new("/var/lib/mailstack/mail"))?;
//! let user = store.user("example.com", "alice")?;
//! let d = user
//!     .deliver("INBOX", b"Return-Path: <bob@example.org>\r\n",
//!              MessageSource::Bytes(b"Subject: hi\r\n\r\nhello\r\n"), &[], &Quota::UNLIMITED)
//!     .await?;
//! let mut inbox = user.open("INBOX").await?;
//! assert_eq!(Some(inbox.uidnext() - 1), d.uid);
//! let changes = inbox.sync().await?;
//! # let _ = changes; Ok(()) }
//! ```
//!
//! See [`manual`] for the on-disk layout and why the defaults are what
//! they are.

#![deny(missing_docs, unreachable_pub)]

mod error;
mod flags;
mod index;
mod mailbox;
mod mailbox_name;
mod maildir;
pub mod manual;
mod mutf7;
pub mod sieve;
mod subscriptions;
mod user;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::StoreError;
pub use flags::{FORWARDED_KEYWORD, Flag};
pub use mailbox::{ConditionalStore, Mailbox, MessageMeta, ModSeqChanges, SyncChanges};
pub use mailbox_name::SEPARATOR;
pub use maildir::quota::Quota;
pub use mutf7::{Mutf7Error, decode_mutf7, encode_mutf7};
pub use user::{DEFAULT_FOLDERS, Delivered, MailboxInfo, MessageSource, SpecialUse, UserStore};

/// File name of the per-folder SQLite index.
pub const INDEX_FILE_NAME: &str = index::INDEX_FILE;

/// Options of a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The mail root: users live in `<root>/<domain>/<localpart>/Maildir`.
    pub root: PathBuf,
    /// fsync messages and directories before reporting success (default
    /// `true`; turn off only for tests and benchmarks).
    pub fsync: bool,
}

impl StoreOptions {
    /// Options for `root` with fsync on.
    pub fn new(root: impl Into<PathBuf>) -> StoreOptions {
        StoreOptions {
            root: root.into(),
            fsync: true,
        }
    }
}

#[derive(Debug)]
struct StoreInner {
    root: PathBuf,
    fsync: bool,
}

/// The mail store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl Store {
    /// Open the store at `opts.root`, creating the directory if missing.
    pub fn new(opts: StoreOptions) -> Result<Store, StoreError> {
        maildir::layout::create_parents(&opts.root)?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                root: opts.root,
                fsync: opts.fsync,
            }),
        })
    }

    /// Close the index connections no open mailbox uses now, and wait until they are closed.
    /// Unused, they stay open for a few seconds so that the next open of the folder finds them
    /// ready; this lets them go at once (before the files are handed to another program, at
    /// shutdown, in tests).
    pub async fn close_unused_indexes(&self) {
        index::close_unused().await;
    }

    /// The store of one user. Refuses domains and local parts that are
    /// empty, `.`/`..`, start with `.` or `~`, contain `..`, `/`, `\` or
    /// control characters; lower-cases the domain. Does not touch the disk.
    pub fn user(&self, domain: &str, local_part: &str) -> Result<UserStore, StoreError> {
        let domain = mailbox_name::validate_user_part(domain, true)?;
        let local_part = mailbox_name::validate_user_part(local_part, false)?;
        Ok(UserStore::new(
            &self.inner.root,
            domain,
            local_part,
            self.inner.fsync,
        ))
    }

    /// The mail root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }
}
