//! Design notes (documentation only): the on-disk layout and the defaults.
//!
//! ## Maildir layout (Dovecot Maildir++)
//!
//! ```text
//! <root>/<domain>/<localpart>/Maildir/
//!     cur/ new/ tmp/                 INBOX
//!     maildirsize                    Maildir++ quota (only when limits are set)
//!     dovecot-uidlist                v3 UID list, kept for Dovecot
//!     dovecot-keywords               keyword letters a-z
//!     mailstack-index.sqlite         our index (Dovecot ignores it)
//!     .Sent/ .Drafts/ .Trash/ .Junk/ .Archive/
//!     .Work.Projects/                "Work.Projects", '.' is the separator
//!     .&AMQ-rger/                    "Ärger", names are modified UTF-7
//!         cur/ new/ tmp/ maildirfolder dovecot-uidlist ...
//! ```
//!
//! ## Why these choices
//!
//! - **Index per folder, beside the Maildir**: moving or deleting a folder
//!   moves or deletes its index; copying a Maildir to another server copies
//!   everything needed; Dovecot ignores the file.
//! - **The index is a cache**: anything it knows that the Maildir does not
//!   (MODSEQ, tombstones) may be lost in a rebuild; UIDs and UIDVALIDITY
//!   survive through `dovecot-uidlist`, which is appended on every UID
//!   assignment and compacted after many expunges.
//! - **`BEGIN IMMEDIATE` for every write**: SQLite then serializes writers
//!   across processes with its own lock, and the busy timeout (60 s) makes
//!   them wait instead of failing. The uidlist lock is always taken after
//!   the SQLite write lock, never before, so the two cannot deadlock.
//! - **Delivery indexes the one new file** instead of a full directory
//!   sync; a concurrent sync that saw the file first keeps its UID.
//! - **Directory mtimes** make a sync with no changes cost two `stat`s and
//!   two small queries. An mtime less than two seconds old is not trusted
//!   (a change in the same tick would be missed), so busy folders are
//!   rescanned until they settle.
//! - **fsync on by default**: "durable before acknowledged". The option
//!   exists for tests and benchmarks only.
//! - **Flags**: `D F R S T` are the system flags; `P` (passed) is the
//!   keyword `$Forwarded` (also given its `dovecot-keywords` letter when the
//!   table has one); `a`–`z` are keywords. More than 26 keywords per folder
//!   are kept in the index only.
//! - **Quota 0 = unlimited**, as in Maildir++ and Dovecot; Trash counts.
