//! Errors of [`compile`](crate::compile) and [`run`](crate::run).

use std::fmt;

/// A script that does not compile: syntax or validation error at a line and column
/// (1-based; the column counts characters). Displayed as
/// `line 3, column 7: unknown command "filein" (did you `require "fileinto"`?)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Line of the offending token.
    pub line: u32,
    /// Column of the offending token.
    pub column: u32,
    /// What is wrong, in words for the script's author.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for CompileError {}

/// Why a run stopped before the scripts finished. On any runtime error the host must discard
/// the actions and keep the message in INBOX (RFC 5228 §2.10.6: "if an error occurs ... the
/// implicit keep is executed").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The script ran more than [`Limits::max_steps`](crate::Limits::max_steps) steps.
    #[error("CPU limit exceeded: more than {0} steps")]
    TooManySteps(u64),
    /// More `redirect`s than [`Limits::max_redirects`](crate::Limits::max_redirects).
    #[error("too many redirects: more than {0}")]
    TooManyRedirects(usize),
    /// More actions than [`Limits::max_actions`](crate::Limits::max_actions).
    #[error("too many actions: more than {0}")]
    TooManyActions(usize),
    /// Two actions that must not be combined (RFC 5429: `reject` with `keep`/`fileinto`/
    /// `redirect`/`vacation`, or two rejects).
    #[error("incompatible actions: {0}")]
    IncompatibleActions(String),
    /// A run-time value that is invalid (e.g. a `redirect` address that is not an address, a
    /// regular expression built from variables that does not compile).
    #[error("invalid value: {0}")]
    InvalidValue(String),
}
