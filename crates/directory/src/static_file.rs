//! The static backend: users, aliases and groups in one TOML file, edited by `mailctl`.
//!
//! ```toml
//! # mailstack users file — edit with `mailctl user ...` / `mailctl alias ...`
//! [[domain]]
//! name = "example.com"
//! # catch_all = "alice@example.com"   # off by default
//!
//! [[user]]
//! address = "alice@example.com"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! aliases = ["a.smith@example.com"]
//! quota = "1G"                 # optional: bytes, or K/M/G/T suffix (powers of 1024); absent = unlimited
//! quota_messages = 100000      # optional; absent = unlimited
//! disabled = false             # optional: true refuses logins (mail is still delivered)
//!
//! [[alias]]
//! address = "postmaster@example.com"
//! targets = ["alice@example.com"]
//!
//! [[group]]
//! address = "all@example.com"
//! members = ["alice@example.com", "bob@example.com"]
//! ```
//!
//! - [`UsersFile`] is the parsed file: [`UsersFile::load`] (errors give `file:line:col` and the
//!   key), validation, and the editing methods `mailctl` uses.
//! - [`edit_users_file`] is the only safe way to change the file: lock, read, edit, validate,
//!   write a temporary file, fsync, rename. It does not keep comments.
//! - [`StaticDirectory`] serves the file as a [`Directory`](crate::Directory) and picks up
//!   edits without a restart.
//!
//! Unknown keys are errors (a typo such as `pasword` must not silently create a user without a
//! password). Every address a file defines must be in a `[[domain]]`; alias targets and group
//! members may be remote. Alias loops are allowed in the file; [`expand`](crate::expand()) stops
//! them.

mod backend;
mod edit;
mod format;
mod validate;

pub use backend::{DEFAULT_RELOAD_INTERVAL, StaticDirectory};
pub use edit::edit_users_file;
pub use format::{
    AliasEntry, DomainEntry, GroupEntry, Quota, USERS_FILE_HEADER, UserEntry, UsersFile,
    parse_quota,
};

#[cfg(test)]
mod tests;
