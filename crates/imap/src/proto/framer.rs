//! Splitting the client's byte stream into commands, sans-IO.
//!
//! A command is one line, or several lines joined by literals (`{n}` CRLF and n octets).
//! The framer finds line ends and literal announcements, enforces [`Limits`], and tells the
//! server when to send `+ Ready for literal data` ([`Frame::NeedContinuation`]). It never
//! allocates for an announced literal before the announcement has been checked against the
//! limits, and it never buffers more than the limits allow.
//!
//! Usage: [`CommandFramer::push`] the bytes read from the socket, then call
//! [`CommandFramer::next`] until it returns `None`.
//!
//! ## Refused literals
//!
//! - A *synchronizing* literal `{n}` over the limit is refused at once ([`FrameError`] with the
//!   tag): the server replies `tag NO [TOOBIG]` (APPEND) or `tag BAD [TOOBIG]` and does **not**
//!   send `+`; the client then abandons the command, so the framer starts afresh.
//! - A *non-synchronizing* literal `{n+}` (LITERAL+, or LITERAL- over 4096 octets) is already on
//!   its way. If `n` ≤ [`Limits::max_discard`] the framer reports the error at once and then
//!   consumes and discards the n octets and the rest of the command (further non-sync literals
//!   included) without storing them; above that it reports a *fatal* error
//!   ([`FrameError::is_fatal`]): the server sends `* BYE` and closes the connection. So a
//!   `{4294967296+}` announcement costs neither memory nor hours of reading.
//! - `{n-}` is not IMAP syntax: RFC 7888's LITERAL- uses `{n+}` and only lowers the limit to
//!   4096 octets ([`NonSyncLiterals::Minus`]). A line ending in `{n-}` is an ordinary line, which
//!   the parser then refuses.
//!
//! A line longer than [`Limits::max_line`] is refused as soon as it passes the limit, and its
//! remainder is discarded up to the line end (and through any non-sync literal it announces).
//! Bare LF is accepted as a line end (as Dovecot does); the frame always holds CRLF.

use std::collections::VecDeque;
use std::fmt;

use super::response::{Code, Response, StatusKind, StatusResponse};

/// Which non-synchronizing literals the server announced (RFC 7888).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonSyncLiterals {
    /// `LITERAL+`: any size up to the literal limits.
    Plus,
    /// `LITERAL-`: at most 4096 octets.
    Minus,
}

/// The LITERAL- ceiling (RFC 7888 §4).
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// The framer's limits. Defaults in parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, without its CRLF and without literal data (64 KiB).
    pub max_line: usize,
    /// Largest literal outside APPEND (64 KiB).
    pub max_literal: u64,
    /// Largest APPEND message literal (50 MiB); the server should match its APPENDLIMIT.
    pub max_append_literal: u64,
    /// Largest command, lines and literals together, outside APPEND (1 MiB).
    pub max_command: u64,
    /// Largest APPEND command (MULTIAPPEND: all messages together) (200 MiB).
    pub max_append_command: u64,
    /// Most literals in one command (MULTIAPPEND counts one per message) (1000).
    pub max_literals: usize,
    /// Largest refused non-sync literal that is read and discarded rather than answered by
    /// disconnecting (64 MiB).
    pub max_discard: u64,
    /// LITERAL+ or LITERAL- ([`NonSyncLiterals::Plus`]).
    pub non_sync: NonSyncLiterals,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append_literal: 50 * 1024 * 1024,
            max_command: 1024 * 1024,
            max_append_command: 200 * 1024 * 1024,
            max_literals: 1000,
            max_discard: 64 * 1024 * 1024,
            non_sync: NonSyncLiterals::Plus,
        }
    }
}

/// What the framer yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete command: its lines joined by CRLF with literal data in place, without the
    /// final CRLF. Give it to [`super::parse_command`] (or, while idling,
    /// [`super::parse_idle_done`]).
    Command(Vec<u8>),
    /// A synchronizing literal was announced and accepted: send `+ Ready for literal data`
    /// (see [`Response::literal_ready`]) and keep pushing bytes.
    NeedContinuation,
}

/// Why a command was refused by the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// A line passed [`Limits::max_line`].
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// A literal announcement passed the literal limit (`size` is `u64::MAX` when the number
    /// did not even fit).
    LiteralTooLarge {
        /// Announced size.
        size: u64,
        /// The limit that applied.
        limit: u64,
        /// `{n}` (true) or `{n+}` (false).
        synchronizing: bool,
        /// The command was APPEND.
        append: bool,
    },
    /// Lines and literals together passed the command limit.
    CommandTooLarge {
        /// The limit.
        limit: u64,
    },
    /// More literals than [`Limits::max_literals`].
    TooManyLiterals {
        /// The limit.
        limit: usize,
    },
}

/// A refused command. `tag` is set when the line started with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The command's tag, if it could be read.
    pub tag: Option<String>,
    /// What went wrong.
    pub kind: FrameErrorKind,
    fatal: bool,
}

impl FrameError {
    /// Whether the connection must be closed (a non-sync literal too large to discard).
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// The one reply for this error: `tag NO [TOOBIG]` for an APPEND literal over the limit,
    /// `tag BAD ...` otherwise (`* BAD` without a tag), `* BYE` when fatal.
    pub fn response(&self) -> Response {
        let (kind, code) = match self.kind {
            _ if self.fatal => (StatusKind::Bye, Some(Code::TooBig)),
            FrameErrorKind::LiteralTooLarge { append: true, .. } => {
                (StatusKind::No, Some(Code::TooBig))
            }
            FrameErrorKind::LiteralTooLarge { .. } | FrameErrorKind::CommandTooLarge { .. } => {
                (StatusKind::Bad, Some(Code::TooBig))
            }
            FrameErrorKind::LineTooLong { .. } | FrameErrorKind::TooManyLiterals { .. } => {
                (StatusKind::Bad, Some(Code::Limit))
            }
        };
        let tag = if self.fatal { None } else { self.tag.clone() };
        Response::Status(StatusResponse {
            tag,
            kind,
            code,
            text: self.to_string(),
        })
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FrameErrorKind::LineTooLong { limit } => write!(f, "Line too long (limit {limit})"),
            FrameErrorKind::LiteralTooLarge { limit, .. } => {
                write!(f, "Literal too large (limit {limit})")
            }
            FrameErrorKind::CommandTooLarge { limit } => {
                write!(f, "Command too large (limit {limit})")
            }
            FrameErrorKind::TooManyLiterals { limit } => {
                write!(f, "Too many literals (limit {limit})")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The longest tail of a discarded line kept to recognise a literal announcement at its end:
/// `~{` + 20 digits + `+}`.
const TAIL: usize = 32;

#[derive(Debug)]
enum State {
    /// Reading a line into `buf` from `line_start`.
    Line,
    /// Copying literal data into `buf`.
    Literal { remaining: u64 },
    /// Skipping the rest of a refused line; `tail` keeps its last bytes.
    SkipLine { tail: Vec<u8> },
    /// Skipping a refused command's non-sync literal, then its next line.
    SkipLiteral { remaining: u64 },
    /// After a fatal error: nothing more is read.
    Dead,
}

/// The command framer (see the module docs).
#[derive(Debug)]
pub struct CommandFramer {
    limits: Limits,
    input: Vec<u8>,
    pos: usize,
    buf: Vec<u8>,
    line_start: usize,
    literals: usize,
    tag: Option<String>,
    append: bool,
    state: State,
    pending: VecDeque<Result<Frame, FrameError>>,
}

/// A literal announcement at a line end.
struct Announce {
    size: Option<u64>,
    sync: bool,
}

/// Recognise `{n}`, `{n+}`, `~{n}`, `~{n+}` at the end of `line`.
fn announced_literal(line: &[u8]) -> Option<Announce> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let mut sync = true;
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    Some(Announce { size, sync })
}

impl CommandFramer {
    /// A framer with these limits.
    pub fn new(limits: Limits) -> Self {
        CommandFramer {
            limits,
            input: Vec::new(),
            pos: 0,
            buf: Vec::new(),
            line_start: 0,
            literals: 0,
            tag: None,
            append: false,
            state: State::Line,
            pending: VecDeque::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Change the limits (e.g. after authentication); applies from the next literal or line.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Feed bytes read from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Dead) {
            return;
        }
        if self.pos > 0 && self.pos * 2 >= self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Give back the input buffer when everything pushed was consumed (a session calls it
    /// before waiting for the client, so an idle connection holds no leftover buffer).
    pub fn release_idle_buffer(&mut self) {
        if self.pos == self.input.len() && self.input.capacity() > 0 {
            self.input = Vec::new();
            self.pos = 0;
        }
    }

    /// Octets pushed but not yet consumed (bounded by what the caller pushes at once).
    pub fn buffered(&self) -> usize {
        self.input.len() - self.pos + self.buf.len()
    }

    /// The next frame or error, or `None` when more input is needed.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if !self.step() {
                return None;
            }
        }
    }

    /// Make progress on the input; false when stuck waiting for more.
    fn step(&mut self) -> bool {
        let avail = &self.input[self.pos..];
        match &mut self.state {
            State::Dead => false,
            _ if avail.is_empty() => false,
            State::Literal { remaining } => {
                let take = avail
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                self.buf.extend_from_slice(&avail[..take]);
                self.pos += take;
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.state = State::Line;
                    self.line_start = self.buf.len();
                }
                true
            }
            State::SkipLiteral { remaining } => {
                let take = avail
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                self.pos += take;
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.state = State::SkipLine { tail: Vec::new() };
                }
                true
            }
            State::SkipLine { tail } => {
                match avail.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        tail.extend_from_slice(&avail[..i]);
                        self.pos += i + 1;
                        let mut tail = std::mem::take(tail);
                        if tail.last() == Some(&b'\r') {
                            tail.pop();
                        }
                        self.skipped_line_end(&tail);
                    }
                    None => {
                        tail.extend_from_slice(avail);
                        self.pos += avail.len();
                        if tail.len() > TAIL {
                            tail.drain(..tail.len() - TAIL);
                        }
                    }
                }
                true
            }
            State::Line => {
                let nl = avail.iter().position(|&b| b == b'\n');
                let chunk = nl.unwrap_or(avail.len());
                let line_len = self.buf.len() - self.line_start + chunk;
                let over = match nl {
                    Some(_) => {
                        let ends_cr = if chunk > 0 {
                            avail[chunk - 1] == b'\r'
                        } else {
                            self.buf.len() > self.line_start && self.buf.last() == Some(&b'\r')
                        };
                        line_len - usize::from(ends_cr) > self.limits.max_line
                    }
                    // The line may still end in CR: allow one byte more before the LF.
                    None => line_len > self.limits.max_line + 1,
                };
                if over {
                    let line = &self.buf[self.line_start..];
                    let mut tail = line[line.len().saturating_sub(TAIL)..].to_vec();
                    tail.extend_from_slice(&avail[..chunk]);
                    let keep = self.limits.max_line + 1
                        - (self.buf.len() - self.line_start).min(self.limits.max_line + 1);
                    let keep = keep.min(chunk);
                    let head = avail[..keep].to_vec();
                    tail.drain(..tail.len().saturating_sub(TAIL));
                    self.pos += chunk;
                    self.buf.extend_from_slice(&head);
                    self.learn_tag();
                    let limit = self.limits.max_line;
                    self.refuse(FrameErrorKind::LineTooLong { limit }, false);
                    self.state = State::SkipLine { tail };
                    return true;
                }
                self.buf.extend_from_slice(&avail[..chunk]);
                self.pos += chunk;
                if nl.is_some() {
                    self.pos += 1;
                    if self.buf.len() > self.line_start && self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                    self.line_end();
                }
                true
            }
        }
    }

    /// Read the tag and the command name from the first line, once.
    fn learn_tag(&mut self) {
        if self.tag.is_some() || self.line_start != 0 {
            return;
        }
        let first = &self.buf[..];
        let Some(sp) = first.iter().position(|&b| b == b' ') else {
            return;
        };
        let tag = &first[..sp];
        if !tag.is_empty() && tag.iter().all(|&b| super::parse::is_tag_char(b)) {
            self.tag = Some(String::from_utf8_lossy(tag).into_owned());
        }
        let rest = &first[sp + 1..];
        let name_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        self.append = rest[..name_end].eq_ignore_ascii_case(b"APPEND");
    }

    fn command_limit(&self) -> u64 {
        if self.append {
            self.limits.max_append_command
        } else {
            self.limits.max_command
        }
    }

    /// A complete line is in `buf[line_start..]`.
    fn line_end(&mut self) {
        self.learn_tag();
        let line = &self.buf[self.line_start..];
        let Some(ann) = announced_literal(line) else {
            let frame = std::mem::take(&mut self.buf);
            self.pending.push_back(Ok(Frame::Command(frame)));
            self.reset();
            return;
        };
        if self.buf.len() as u64 > self.command_limit() {
            let limit = self.command_limit();
            self.refuse_literal(FrameErrorKind::CommandTooLarge { limit }, &ann);
            return;
        }
        self.literals += 1;
        if self.literals > self.limits.max_literals {
            let limit = self.limits.max_literals;
            self.refuse_literal(FrameErrorKind::TooManyLiterals { limit }, &ann);
            return;
        }
        let mut limit = if self.append {
            self.limits.max_append_literal
        } else {
            self.limits.max_literal
        };
        if !ann.sync && self.limits.non_sync == NonSyncLiterals::Minus {
            limit = limit.min(LITERAL_MINUS_MAX);
        }
        let size = ann.size.unwrap_or(u64::MAX);
        if size > limit {
            let kind = FrameErrorKind::LiteralTooLarge {
                size,
                limit,
                synchronizing: ann.sync,
                append: self.append,
            };
            self.refuse_literal(kind, &ann);
            return;
        }
        let total = (self.buf.len() as u64 + 2).saturating_add(size);
        if total > self.command_limit() {
            let limit = self.command_limit();
            self.refuse_literal(FrameErrorKind::CommandTooLarge { limit }, &ann);
            return;
        }
        self.buf.extend_from_slice(b"\r\n");
        if ann.sync {
            self.pending.push_back(Ok(Frame::NeedContinuation));
        }
        if size == 0 {
            self.state = State::Line;
            self.line_start = self.buf.len();
        } else {
            self.state = State::Literal { remaining: size };
        }
    }

    /// Refuse a command at a literal announcement, then skip what the client still sends.
    fn refuse_literal(&mut self, kind: FrameErrorKind, ann: &Announce) {
        if ann.sync {
            // No `+` is sent: the client abandons the command.
            self.refuse(kind, false);
            self.reset();
            return;
        }
        let size = ann.size.unwrap_or(u64::MAX);
        if size > self.limits.max_discard {
            self.refuse(kind, true);
            return;
        }
        self.refuse(kind, false);
        self.state = if size == 0 {
            State::SkipLine { tail: Vec::new() }
        } else {
            State::SkipLiteral { remaining: size }
        };
    }

    /// A skipped line ended: a non-sync literal announcement continues the skipped command.
    fn skipped_line_end(&mut self, tail: &[u8]) {
        match announced_literal(tail) {
            Some(Announce { sync: false, size }) => {
                let size = size.unwrap_or(u64::MAX);
                if size > self.limits.max_discard {
                    let limit = self.limits.max_discard;
                    let kind = FrameErrorKind::LiteralTooLarge {
                        size,
                        limit,
                        synchronizing: false,
                        append: self.append,
                    };
                    self.refuse(kind, true);
                } else if size == 0 {
                    self.state = State::SkipLine { tail: Vec::new() };
                } else {
                    self.state = State::SkipLiteral { remaining: size };
                }
            }
            _ => self.reset(),
        }
    }

    /// Queue an error for the current command and drop what was buffered of it.
    fn refuse(&mut self, kind: FrameErrorKind, fatal: bool) {
        self.pending.push_back(Err(FrameError {
            tag: self.tag.clone(),
            kind,
            fatal,
        }));
        self.buf = Vec::new();
        self.line_start = 0;
        if fatal {
            self.state = State::Dead;
            self.input = Vec::new();
            self.pos = 0;
        }
    }

    /// Start a new command.
    fn reset(&mut self) {
        self.buf = Vec::new();
        self.line_start = 0;
        self.literals = 0;
        self.tag = None;
        self.append = false;
        self.state = State::Line;
    }
}
