//! The Maildir++ backend, file for file like Dovecot's `index/maildir/`:
//! directory layout, file names, saving, listing for sync, the
//! `dovecot-uidlist` and `dovecot-keywords` files, and `maildirsize` quota.
//! Everything here is blocking file-system code; the async API runs it on
//! tokio's blocking pool.

pub(crate) mod filename;
pub(crate) mod keywords;
pub(crate) mod layout;
pub(crate) mod lock;
pub(crate) mod quota;
pub(crate) mod save;
pub(crate) mod sync;
pub(crate) mod uidlist;
