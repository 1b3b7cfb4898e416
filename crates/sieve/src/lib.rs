//! # mailstack-sieve
//!
//! mailstack's own Sieve interpreter (RFC 5228 and extensions). The existing Rust Sieve crate
//! (`sieve-rs`) is AGPL-3.0-only, which mailstack (Apache-2.0 OR MIT) cannot use, so this crate
//! is written from the RFCs.
//!
//! A pure library: no I/O, no async runtime, no store access. The host (lmtp-mda, the
//! ManageSieve server) supplies the message bytes, the envelope and an [`Environment`] for the
//! few facts the language needs from outside (does a mailbox exist, was this message seen
//! before, what time is it, which addresses are the user's), and gets back a list of
//! [`Action`]s to perform.
//!
//! ```text
//!  script text ──compile(limits)──▶ Script ─┐
//!                                           ├─run(scripts, message, envelope, env, limits)──▶ Outcome { actions, implicit_keep, warnings }
//!  RFC 5322 bytes ──Message::new──▶ Message ┘
//! ```
//!
//! ## Pipeline
//! - `lexer`: tokens with line/column; comments, `text:` multi-line strings (dot-unstuffed),
//!   quoted-string escapes, numbers with K/M/G.
//! - `parser`: RFC 5228 §8 grammar → a generic tree.
//! - `validate`: the generic tree → typed commands/tests; all checks that can be done before
//!   run time (require, argument types, tags, comparators, regexes, variable names), each
//!   reported as a [`CompileError`] with line and column.
//! - `interp`: runs compiled scripts over a [`Message`], under [`Limits`].
//!
//! ## Supported capabilities
//! See [`CAPABILITIES`]; `docs/sieve.md` ("The Sieve language") documents each one, the limits
//! and the differences from Dovecot Pigeonhole.
//!
//! ## Regular expressions
//! `:regex` (draft-ietf-sieve-regex) keys use the `regex` crate's syntax rather than POSIX ERE:
//! no backreferences or look-around (linear-time matching), Perl escapes and classes allowed
//! (also inside brackets), leftmost-first instead of leftmost-longest alternation. Details in
//! `docs/sieve.md`.
//!
//! ## Errors
//! Compile errors are reported to the script's author (ManageSieve PUTSCRIPT/CHECKSCRIPT).
//! A [`RuntimeError`] (limit overrun, incompatible actions) means the host must ignore all
//! actions and file the message into INBOX, as RFC 5228 §2.10.6 requires ("implicit keep on
//! error").
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod body;
mod date;
mod error;
mod interp;
mod ir;
mod lexer;
mod matching;
mod message;
mod parser;
mod strings;
mod vacation;
mod validate;

pub use date::DateTime;
pub use error::{CompileError, RuntimeError};
pub use interp::{Action, Envelope, Environment, Outcome, run};
pub use message::Message;
pub use vacation::{VacationAction, build_vacation_reply};

/// The SIEVE capability list announced by ManageSieve (RFC 5804 `"SIEVE"` capability), in the
/// spelling scripts use in `require`. `i;octet` and `i;ascii-casemap` are always available and
/// need no `require`; `comparator-i;ascii-numeric` must be required to use that comparator.
pub const CAPABILITIES: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "encoded-character",
    "vacation",
    "vacation-seconds",
    "subaddress",
    "comparator-i;ascii-numeric",
    "relational",
    "regex",
    "imap4flags",
    "copy",
    "body",
    "variables",
    "date",
    "index",
    "mailbox",
    "duplicate",
];

/// Resource limits for compiling and running scripts. The defaults follow Dovecot Pigeonhole's
/// (`sieve_max_script_size`, `sieve_max_actions`, `sieve_max_redirects`, the variables
/// extension's limits); the CPU limit is counted in interpreter steps instead of CPU seconds so
/// that results are deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest script accepted by [`compile`], in bytes. Default 1 MiB.
    pub max_script_bytes: usize,
    /// Interpreter steps (one per command, test, and compared value) for one [`run`] over all
    /// its scripts; beyond it the run fails with [`RuntimeError::TooManySteps`]. Default 1 000 000.
    pub max_steps: u64,
    /// `redirect` actions per message. Default 4.
    pub max_redirects: usize,
    /// Actions per message (keep, fileinto, redirect, vacation, …). Default 32.
    pub max_actions: usize,
    /// Depth of nested blocks and tests. Default 32.
    pub max_nesting: usize,
    /// Longest value of a variable, in bytes; longer values are truncated (at a character
    /// boundary), as RFC 5229 §6 allows. Default 4096.
    pub max_variable_len: usize,
    /// Longest variable name. Default 64.
    pub max_variable_name_len: usize,
    /// Number of distinct variables a script may set. Default 255.
    pub max_variables: usize,
    /// Match variables kept (`${0}` … `${max_match_vars - 1}`). Default 10 (RFC 5229 requires
    /// at least `${0}`..`${9}`).
    pub max_match_vars: usize,
    /// Separator of `:user` and `:detail` (RFC 5233). Default `"+"`.
    pub subaddress_separator: String,
    /// Vacation period when the script gives none. Default 7 days.
    pub vacation_default_period_secs: u64,
    /// Shortest vacation period; shorter requests are raised to it (RFC 5230 §4.1). Default 1 day.
    pub vacation_min_period_secs: u64,
    /// Longest vacation period; 0 = no maximum. Default 0.
    pub vacation_max_period_secs: u64,
    /// Period of the `duplicate` test when the script gives no `:seconds`. Default 14 days.
    pub duplicate_default_period_secs: u64,
    /// Longest `duplicate` period; longer `:seconds` are lowered to it. Default 14 days.
    pub duplicate_max_period_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_bytes: 1 << 20,
            max_steps: 1_000_000,
            max_redirects: 4,
            max_actions: 32,
            max_nesting: 32,
            max_variable_len: 4096,
            max_variable_name_len: 64,
            max_variables: 255,
            max_match_vars: 10,
            subaddress_separator: "+".into(),
            vacation_default_period_secs: 7 * 86400,
            vacation_min_period_secs: 86400,
            vacation_max_period_secs: 0,
            duplicate_default_period_secs: 14 * 86400,
            duplicate_max_period_secs: 14 * 86400,
        }
    }
}

/// A compiled script, ready for [`run`]. Cheap to keep around and share between deliveries.
#[derive(Debug, Clone)]
pub struct Script {
    cmds: Vec<ir::Cmd>,
    required: Vec<String>,
}

impl Script {
    /// The capabilities the script `require`s, lowercased.
    pub fn required(&self) -> &[String] {
        &self.required
    }
}

/// Compiles (parses and validates) a script.
pub fn compile(source: &str, limits: &Limits) -> Result<Script, CompileError> {
    if source.len() > limits.max_script_bytes {
        return Err(CompileError {
            line: 1,
            column: 1,
            message: format!(
                "script too large ({} bytes, limit {})",
                source.len(),
                limits.max_script_bytes
            ),
        });
    }
    let toks = lexer::tokenize(source)?;
    let tree = parser::parse(toks, limits.max_nesting)?;
    let mut required = Vec::new();
    for c in tree
        .iter()
        .take_while(|c| c.name.eq_ignore_ascii_case("require"))
    {
        for a in &c.args {
            match a {
                parser::Arg::Str(l) => required.push(l.value.to_ascii_lowercase()),
                parser::Arg::List(l, _) => {
                    required.extend(l.iter().map(|l| l.value.to_ascii_lowercase()))
                }
                _ => {}
            }
        }
    }
    let cmds = validate::validate(&tree, limits)?;
    Ok(Script { cmds, required })
}

#[cfg(test)]
mod compile_tests;
