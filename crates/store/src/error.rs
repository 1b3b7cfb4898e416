//! The one error type of the store, with its temporary/permanent split.
//!
//! Protocol crates map a [`StoreError`] to a reply exactly once (SMTP/LMTP
//! `4xx`/`5xx`, IMAP `NO [UNAVAILABLE]` / `NO [OVERQUOTA]` ...) using
//! [`StoreError::is_temporary`]. Anything not known to be permanent is
//! temporary: a retried delivery is better than a lost one.

use std::io;
use std::path::{Path, PathBuf};

/// Errors returned by the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A mailbox, domain or local-part name was refused (path traversal,
    /// control characters, empty components, ...). Permanent.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given by the caller.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The mailbox does not exist. Permanent.
    #[error("mailbox {0:?} does not exist")]
    MailboxNotFound(String),
    /// The mailbox already exists (create / rename target). Permanent.
    #[error("mailbox {0:?} already exists")]
    MailboxExists(String),
    /// The mailbox has children and cannot be deleted. Permanent.
    #[error("mailbox {0:?} has child mailboxes")]
    MailboxHasChildren(String),
    /// The operation is not allowed on this mailbox (e.g. deleting or
    /// renaming INBOX). Permanent.
    #[error("operation not permitted on mailbox {0:?}")]
    NotPermitted(String),
    /// No message with this UID in the mailbox (it may have been expunged).
    /// Permanent.
    #[error("no message with uid {0}")]
    MessageNotFound(u32),
    /// Storing the message would exceed the user's quota. Permanent
    /// (SMTP `552 5.2.2`, IMAP `NO [OVERQUOTA]`).
    #[error(
        "quota exceeded: {used_bytes}+{needed_bytes} bytes / {used_messages}+1 messages over limit {limit_bytes:?} bytes / {limit_messages:?} messages"
    )]
    QuotaExceeded {
        /// Bytes in use before this message.
        used_bytes: u64,
        /// Messages in use before this message.
        used_messages: u64,
        /// Size of the message that was refused.
        needed_bytes: u64,
        /// Byte limit, if any.
        limit_bytes: Option<u64>,
        /// Message count limit, if any.
        limit_messages: Option<u64>,
    },
    /// A file system operation failed. Temporary (disk full, quota of the
    /// file system, read-only file system, permissions, ...).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The SQLite index failed. Temporary.
    #[error("index {path}: {source}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A lock file could not be taken in time. Temporary.
    #[error("timed out waiting for lock {0}")]
    LockTimeout(PathBuf),
    /// An internal failure (a blocking task panicked, ...). Temporary.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// `true` when retrying later may succeed (SMTP `4xx`), `false` when the
    /// same request will fail again (SMTP `5xx`).
    ///
    /// I/O errors (including `ENOSPC`, `EDQUOT`, `EROFS`, `EACCES`), index
    /// errors, lock timeouts and internal errors are temporary;
    /// [`StoreError::QuotaExceeded`], [`StoreError::InvalidName`],
    /// [`StoreError::MailboxNotFound`] and the other name/mailbox errors are
    /// permanent.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Io { .. }
            | StoreError::Index { .. }
            | StoreError::LockTimeout(_)
            | StoreError::Internal(_) => true,
            StoreError::InvalidName { .. }
            | StoreError::MailboxNotFound(_)
            | StoreError::MailboxExists(_)
            | StoreError::MailboxHasChildren(_)
            | StoreError::NotPermitted(_)
            | StoreError::MessageNotFound(_)
            | StoreError::QuotaExceeded { .. } => false,
        }
    }

    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn index(path: impl AsRef<Path>, source: sqlx::Error) -> StoreError {
        StoreError::Index {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(name: &str, reason: &'static str) -> StoreError {
        StoreError::InvalidName {
            name: name.to_string(),
            reason,
        }
    }
}

/// Extension to attach a path to `io::Result`s.
pub(crate) trait IoContext<T> {
    /// Wrap the error into [`StoreError::Io`] with `path`.
    fn at(self, path: impl AsRef<Path>) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::io(path, e))
    }
}

/// Run blocking file-system work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Internal(format!("blocking task failed: {e}"))),
    }
}
