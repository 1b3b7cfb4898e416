//! The IMAP wire protocol, sans-IO: command framer, command parser and response serializer.
//!
//! ```text
//!  socket bytes ──push──▶ CommandFramer ──Frame──▶ parse_command ──Command──▶ session (cmd/*)
//!                              │ NeedContinuation / FrameError            │ ParseError
//!                              ▼                                          ▼
//!            Response::literal_ready() / FrameError::response()   ParseError::response()
//!  socket ◀──bytes── Response::write_to ◀──────────────── Response (status, data, +) ◀──┘
//! ```
//!
//! - [`framer`]: splits the byte stream into commands, handles literals (`{n}` with the
//!   `+` continuation, LITERAL+ / LITERAL- `{n+}`, BINARY's `~{n}`) and enforces [`Limits`]
//!   before allocating anything. See its docs for what happens to refused literals.
//! - [`parse`]: a framed command into a [`Command`] ([`CommandBody`] lists every command),
//!   bounded by [`ParseLimits`] (nesting, search keys, sequence-set length). It never panics.
//! - [`response`]: what the server sends, and its exact wire form.
//!
//! Errors of both layers carry the command tag when it could be read and map to their one
//! reply ([`FrameError::response`], [`ParseError::response`]).
//!
//! # Why our own parser and not imap-codec
//!
//! imap-codec / imap-types (and imap-next for the framing) parse IMAP well, but we need three
//! things they do not give us together: (1) a sans-IO framer with *our* limits applied at the
//! literal announcement, so a `{4294967296}` is refused before any allocation, a refused
//! synchronizing literal gets no `+`, a refused non-synchronizing one is discarded or ends the
//! connection, and APPEND gets a larger literal limit than other commands; (2) literal flow
//! control driven by the session (continuation requests are a [`Frame`] the session answers),
//! and (3) one AST shared with the SEARCH / SORT / THREAD evaluator ([`crate::search::key`]),
//! rather than converting a foreign AST at every command. The grammar we need is RFC 9051 §9
//! plus a known list of extensions, small enough to own, and it has a fuzz target
//! (`crates/imap/fuzz`) and a stable fuzz smoke test (`tests/proto_fuzz_smoke.rs`).
//!
//! # What this module must not do
//!
//! Depend on `mailstack_store` (STYLE: parser modules must not depend on the store). Mailbox
//! names come out as the client's UTF-8 text and go in already encoded for the wire: the
//! server chooses between modified UTF-7 and UTF8=ACCEPT.
//!
//! # Standards
//!
//! RFC 3501 and RFC 9051 (IMAP4rev1 / rev2), 2088 and 7888 (LITERAL+ / LITERAL-), 2971 (ID),
//! 3502 (MULTIAPPEND), 3516 (BINARY), 4315 (UIDPLUS), 4731 (ESEARCH), 4959 (SASL-IR),
//! 4978 (COMPRESS), 5161 (ENABLE), 5182 (SEARCHRES), 5256 (SORT / THREAD), 5258
//! (LIST-EXTENDED), 5530 (response codes), 5819 (LIST-STATUS), 5957 (DISPLAY sort),
//! 6154 (SPECIAL-USE), 6851 (MOVE), 7162 (CONDSTORE / QRESYNC), 7889 (APPENDLIMIT),
//! 8438 (STATUS=SIZE), 8474 (OBJECTID), 8514 (SAVEDATE), 8970 (PREVIEW), 9208 (QUOTA).
//!
//! # Not handled here
//!
//! CATENATE (RFC 4469), APPEND's `UTF8 (...)` form (RFC 6855), ESORT / CONTEXT (RFC 5267),
//! METADATA, ACL, NOTIFY, and the `LIST ... RETURN (MYRIGHTS)` family: these parse as `BAD`.

pub mod command;
pub mod framer;
pub mod parse;
pub mod response;

pub use command::{
    AppendMessage, Command, CommandBody, DateTime, FetchAttr, FetchItems, FetchModifiers, Flag,
    IdParams, ListReturn, ListSelect, Mailbox, Partial, QresyncParams, SearchReturn, Secret,
    Section, SectionText, SelectParams, SpecialUse, StatusItem, StoreAction,
};
pub use framer::{
    CommandFramer, Frame, FrameError, FrameErrorKind, LITERAL_MINUS_MAX, Limits, NonSyncLiterals,
};
pub use parse::{
    ParseError, ParseErrorKind, ParseLimits, SUPPORTED_CHARSETS, SaslResponse, parse_command,
    parse_command_bytes, parse_command_with, parse_idle_done, parse_sasl_response,
};
pub use response::{
    Address, BodyExt, BodyStructure, Code, Continuation, Data, ESearchItem, Envelope, FetchValue,
    ListAttr, ListItem, NamespaceDesc, NumberSet, QuotaResource, Response, SingleKind, StatusKind,
    StatusResponse, StatusValue, ThreadNode, quote_or_literal, write_fetch_item,
    write_fetch_literal_head, write_string,
};
