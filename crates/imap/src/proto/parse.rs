//! Parsing a framed command into a [`Command`].
//!
//! The parser is a hand-written recursive descent over RFC 9051 §9 (with RFC 3501 and the
//! extensions listed in [`super`]). It never panics: every read is bounds-checked, numbers
//! are checked for overflow, and the only recursion (search keys: parentheses, `NOT`, `OR`)
//! is bounded by [`ParseLimits::max_depth`].

mod fetch;
mod lexer;
mod mailbox;
mod search;

use std::fmt;

use base64::Engine as _;

use super::command::{Command, CommandBody, Secret};
use super::framer::Frame;
use super::response::{Code, Response, StatusKind, StatusResponse};
use lexer::{Cursor, PResult, syntax, utf8};

pub(crate) use lexer::{is_astring_char, is_tag_char};

/// The parser's limits. Defaults in parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Deepest nesting of search keys: each parenthesised list, `NOT` and `OR` is one level
    /// (64). Deeper is `BAD`, never a stack overflow.
    pub max_depth: usize,
    /// Most search keys in one SEARCH / SORT / THREAD (1000).
    pub max_search_keys: usize,
    /// Most ranges in one sequence set (`1,3,5:7` is three) (32768).
    pub max_sequence_ranges: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_depth: 64,
            max_search_keys: 1000,
            max_sequence_ranges: 32768,
        }
    }
}

/// Why a command could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// An empty line.
    Empty,
    /// A [`Frame::NeedContinuation`] is not a command.
    NotACommand,
    /// The line does not start with a valid tag and a space.
    BadTag,
    /// A command name we do not implement (including `X`-commands).
    UnknownCommand(String),
    /// A syntax error, with what was expected.
    Syntax(&'static str),
    /// A NUL octet outside a literal8.
    Nul,
    /// A string that is not UTF-8 where text is needed (mailbox names, user names).
    InvalidUtf8,
    /// Nesting deeper than [`ParseLimits::max_depth`].
    TooDeep,
    /// More search keys than [`ParseLimits::max_search_keys`].
    TooManyKeys,
    /// More ranges than [`ParseLimits::max_sequence_ranges`].
    SequenceTooLong,
    /// A SEARCH / SORT / THREAD charset we cannot decode (`NO [BADCHARSET]`).
    BadCharset(String),
    /// A line that should have been `DONE` while idling.
    NotDone,
    /// An AUTHENTICATE response that is not base64.
    BadBase64,
}

/// A refused command; `tag` is set when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag.
    pub tag: Option<String>,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The charsets SEARCH, SORT and THREAD accept (and name in `[BADCHARSET (...)]`).
pub const SUPPORTED_CHARSETS: [&str; 3] = ["UTF-8", "US-ASCII", "ISO-8859-1"];

impl ParseError {
    /// The one reply for this error: `tag BAD text` (or `* BAD` without a tag);
    /// `tag NO [BADCHARSET (...)]` for an unknown charset.
    pub fn response(&self) -> Response {
        let (kind, code) = match &self.kind {
            ParseErrorKind::BadCharset(_) => (
                StatusKind::No,
                Some(Code::BadCharset(
                    SUPPORTED_CHARSETS.iter().map(|s| s.to_string()).collect(),
                )),
            ),
            ParseErrorKind::TooDeep
            | ParseErrorKind::TooManyKeys
            | ParseErrorKind::SequenceTooLong => (StatusKind::Bad, Some(Code::Limit)),
            _ => (StatusKind::Bad, None),
        };
        Response::Status(StatusResponse {
            tag: self.tag.clone(),
            kind,
            code,
            text: self.to_string(),
        })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::Empty => f.write_str("Empty command"),
            ParseErrorKind::NotACommand => f.write_str("Not a command"),
            ParseErrorKind::BadTag => f.write_str("Missing or invalid tag"),
            ParseErrorKind::UnknownCommand(_) => f.write_str("Unknown command"),
            ParseErrorKind::Syntax(what) => write!(f, "Syntax error: {what}"),
            ParseErrorKind::Nul => f.write_str("NUL octet not allowed"),
            ParseErrorKind::InvalidUtf8 => f.write_str("Invalid UTF-8"),
            ParseErrorKind::TooDeep => f.write_str("Nesting too deep"),
            ParseErrorKind::TooManyKeys => f.write_str("Too many search keys"),
            ParseErrorKind::SequenceTooLong => f.write_str("Sequence set too long"),
            ParseErrorKind::BadCharset(_) => f.write_str("Unsupported charset"),
            ParseErrorKind::NotDone => f.write_str("Expected DONE"),
            ParseErrorKind::BadBase64 => f.write_str("Invalid base64"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse a framed command with the default [`ParseLimits`].
pub fn parse_command(frame: &Frame) -> Result<Command, ParseError> {
    parse_command_with(frame, &ParseLimits::default())
}

/// Parse a framed command.
pub fn parse_command_with(frame: &Frame, limits: &ParseLimits) -> Result<Command, ParseError> {
    match frame {
        Frame::Command(bytes) => parse_command_bytes(bytes, limits),
        Frame::NeedContinuation => Err(ParseError {
            tag: None,
            kind: ParseErrorKind::NotACommand,
        }),
    }
}

/// Parse one command given as bytes: lines joined by CRLF, literal data in place, no final
/// CRLF (what [`Frame::Command`] holds). Any input is safe.
pub fn parse_command_bytes(bytes: &[u8], limits: &ParseLimits) -> Result<Command, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError {
            tag: None,
            kind: ParseErrorKind::Empty,
        });
    }
    let mut c = Cursor::new(bytes, limits);
    let tag = c.take_while(is_tag_char);
    if tag.is_empty() || !c.eat(b' ') {
        return Err(ParseError {
            tag: None,
            kind: ParseErrorKind::BadTag,
        });
    }
    let tag = String::from_utf8_lossy(tag).into_owned();
    match command_body(&mut c) {
        Ok(body) => Ok(Command { tag, body }),
        Err(kind) => Err(ParseError {
            tag: Some(tag),
            kind,
        }),
    }
}

/// While idling: `Ok(())` for a `DONE` line (case-insensitive), an error otherwise.
pub fn parse_idle_done(frame: &Frame) -> Result<(), ParseError> {
    match frame {
        Frame::Command(b) if b.eq_ignore_ascii_case(b"DONE") => Ok(()),
        _ => Err(ParseError {
            tag: None,
            kind: ParseErrorKind::NotDone,
        }),
    }
}

/// A client line during AUTHENTICATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// Decoded response data.
    Data(Secret),
    /// `*`: the client cancels (reply `tag BAD`).
    Cancel,
}

/// Decode a client line during AUTHENTICATE (base64, or `*` to cancel).
pub fn parse_sasl_response(frame: &Frame) -> Result<SaslResponse, ParseError> {
    let bad = |kind| ParseError { tag: None, kind };
    match frame {
        Frame::Command(b) if b.as_slice() == b"*" => Ok(SaslResponse::Cancel),
        Frame::Command(b) => decode_base64(b).map(SaslResponse::Data).map_err(bad),
        Frame::NeedContinuation => Err(bad(ParseErrorKind::NotACommand)),
    }
}

fn decode_base64(b: &[u8]) -> PResult<Secret> {
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .map(Secret::new)
        .map_err(|_| ParseErrorKind::BadBase64)
}

fn command_body(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let name = c
        .atom()
        .map_err(|_| syntax("expected a command name"))?
        .to_ascii_uppercase();
    let body = match name.as_slice() {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"NAMESPACE" => CommandBody::Namespace,
        b"IDLE" => CommandBody::Idle,
        b"CHECK" => CommandBody::Check,
        b"CLOSE" => CommandBody::Close,
        b"UNSELECT" => CommandBody::Unselect,
        b"EXPUNGE" => CommandBody::Expunge,
        b"AUTHENTICATE" => authenticate(c)?,
        b"LOGIN" => {
            c.sp()?;
            let username = c.astring_utf8()?;
            c.sp()?;
            let password = Secret::new(c.astring()?);
            CommandBody::Login { username, password }
        }
        b"ENABLE" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom_upper()?);
            }
            if caps.is_empty() {
                return Err(syntax("ENABLE needs a capability"));
            }
            CommandBody::Enable(caps)
        }
        b"SELECT" => mailbox::select(c, false)?,
        b"EXAMINE" => mailbox::select(c, true)?,
        b"CREATE" => mailbox::create(c)?,
        b"DELETE" => CommandBody::Delete(mailbox::arg(c)?),
        b"RENAME" => {
            let from = mailbox::arg(c)?;
            let to = mailbox::arg(c)?;
            CommandBody::Rename { from, to }
        }
        b"SUBSCRIBE" => CommandBody::Subscribe(mailbox::arg(c)?),
        b"UNSUBSCRIBE" => CommandBody::Unsubscribe(mailbox::arg(c)?),
        b"LIST" => mailbox::list(c)?,
        b"LSUB" => {
            c.sp()?;
            let reference = c.astring_utf8()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            CommandBody::Lsub { reference, pattern }
        }
        b"STATUS" => mailbox::status(c)?,
        b"APPEND" => mailbox::append(c)?,
        b"GETQUOTA" => {
            c.sp()?;
            CommandBody::GetQuota(c.astring_utf8()?)
        }
        b"GETQUOTAROOT" => CommandBody::GetQuotaRoot(mailbox::arg(c)?),
        b"SETQUOTA" => set_quota(c)?,
        b"ID" => id(c)?,
        b"COMPRESS" => {
            c.sp()?;
            CommandBody::Compress(c.atom_upper()?)
        }
        b"UID" => {
            c.sp()?;
            let sub = c.atom()?.to_ascii_uppercase();
            uid_command(c, &sub, true)?
        }
        b"SEARCH" | b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"SORT" | b"THREAD" => {
            uid_command(c, &name, false)?
        }
        _ => {
            return Err(ParseErrorKind::UnknownCommand(
                String::from_utf8_lossy(&name).into_owned(),
            ));
        }
    };
    c.end()?;
    Ok(body)
}

/// The commands with a UID form.
fn uid_command(c: &mut Cursor<'_>, name: &[u8], uid: bool) -> PResult<CommandBody> {
    Ok(match name {
        b"EXPUNGE" if uid => {
            c.sp()?;
            CommandBody::UidExpunge(c.sequence_set()?)
        }
        b"SEARCH" => search::search(c, uid)?,
        b"SORT" => search::sort(c, uid)?,
        b"THREAD" => search::thread(c, uid)?,
        b"FETCH" => fetch::fetch(c, uid)?,
        b"STORE" => fetch::store(c, uid)?,
        b"COPY" | b"MOVE" => {
            c.sp()?;
            let set = c.sequence_set()?;
            let mailbox = mailbox::arg(c)?;
            if name == b"COPY" {
                CommandBody::Copy { uid, set, mailbox }
            } else {
                CommandBody::Move { uid, set, mailbox }
            }
        }
        _ => {
            let mut n = b"UID ".to_vec();
            n.extend_from_slice(name);
            return Err(ParseErrorKind::UnknownCommand(
                String::from_utf8_lossy(&n).into_owned(),
            ));
        }
    })
}

fn authenticate(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mechanism = c.atom_upper()?;
    let initial_response = if c.eat(b' ') {
        let raw = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if raw.is_empty() {
            return Err(syntax("expected an initial response"));
        }
        Some(if raw == b"=" {
            Secret::default()
        } else {
            decode_base64(raw)?
        })
    } else {
        None
    };
    Ok(CommandBody::Authenticate {
        mechanism,
        initial_response,
    })
}

fn set_quota(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let root = c.astring_utf8()?;
    c.sp()?;
    let limits = c.paren_list0(|c| {
        let name = c.atom_upper()?;
        c.sp()?;
        Ok((name, c.number64()?))
    })?;
    Ok(CommandBody::SetQuota { root, limits })
}

/// RFC 2971 limits: 30 pairs, 30-octet field names, 1024-octet values.
fn id(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    if c.keyword("NIL") {
        return Ok(CommandBody::Id(None));
    }
    let mut pairs = Vec::new();
    c.expect(b'(', "expected ID parameters or NIL")?;
    if c.eat(b')') {
        return Ok(CommandBody::Id(Some(pairs)));
    }
    loop {
        if pairs.len() >= 30 {
            return Err(syntax("more than 30 ID parameters"));
        }
        let key = c.string()?;
        c.sp()?;
        let value = c.nstring()?;
        if key.len() > 30 || value.as_ref().is_some_and(|v| v.len() > 1024) {
            return Err(syntax("ID field or value too long"));
        }
        pairs.push((utf8(key)?, value.map(utf8).transpose()?));
        if c.eat(b')') {
            return Ok(CommandBody::Id(Some(pairs)));
        }
        c.sp()?;
    }
}
