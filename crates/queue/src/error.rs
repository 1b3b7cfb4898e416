//! The one error type of the queue.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the queue. Callers decide with
/// [`QueueError::is_temporary`]: SMTP answers `451 4.3.0` for a temporary error and `554` only
/// for a permanent one (the mapping lives in `smtp/src/reply.rs`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A file operation on the spool failed (disk full, permissions, I/O error). Temporary.
    #[error("queue I/O error: {context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An envelope file could not be parsed. Permanent for that message (an administrator has
    /// to look at it); the scheduler skips it and logs.
    #[error("corrupt envelope file {path}: {reason}")]
    Corrupt {
        /// The envelope file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// No message with this id in the queue (already delivered or deleted). Permanent.
    #[error("no message {0} in the queue")]
    NotFound(String),
    /// A queue id with characters outside `[0-9A-Za-z]`. Permanent.
    #[error("invalid queue id {0:?}")]
    InvalidId(String),
    /// The envelope cannot be queued (no recipient, CR/LF or angle brackets in an address).
    /// Permanent.
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// The queue's committer has stopped (the runtime is shutting down). Temporary.
    #[error("the queue is shutting down")]
    Closed,
}

impl QueueError {
    /// Whether the operation may succeed later without anybody changing the request: I/O
    /// errors and shutdown are temporary; bad input and missing messages are not. An error
    /// added later defaults to temporary (the safe side for mail).
    pub fn is_temporary(&self) -> bool {
        match self {
            QueueError::Io { .. } | QueueError::Closed => true,
            QueueError::Corrupt { .. }
            | QueueError::NotFound(_)
            | QueueError::InvalidId(_)
            | QueueError::InvalidEnvelope(_) => false,
        }
    }

    /// An [`QueueError::Io`] with context.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> QueueError {
        QueueError::Io {
            context: context.into(),
            source,
        }
    }
}
