//! MIME structure of a message as IMAP FETCH presents it: ENVELOPE, BODY/BODYSTRUCTURE, body
//! sections, BINARY decoding and PREVIEW, as pure functions over the message's bytes (no I/O;
//! the session reads the file and hands the bytes over with CRLF line ends, see [`crlf`]).
//!
//! ```text
//!  message bytes ──▶ structure::Structure::parse ──▶ parts with byte offsets and line counts
//!        │                    │
//!        │                    ├──▶ bodystructure (BODY / BODYSTRUCTURE, envelope of inner messages)
//!        │                    ├──▶ section (BODY[1.2.MIME], BINARY[2] via decode)
//!        │                    └──▶ preview
//!        └── header block ──▶ envelope (address), header::select_fields (HEADER.FIELDS)
//! ```
//!
//! - [`structure`]: the part splitter (offsets of every part's header and body, nesting and
//!   part-count limits).
//! - [`header`]: header fields, folding, `HEADER.FIELDS[.NOT]`.
//! - [`lex`], [`params`], [`address`]: header value syntax: MIME fields with their parameters
//!   (RFC 2045, 2231), address lists with groups (RFC 5322).
//! - [`envelope`], [`bodystructure`], [`section`], [`decode`], [`preview`]: the FETCH items.
//!
//! # Why our own splitter and not mail-parser
//!
//! mail-parser (in the workspace, used by SEARCH) records byte offsets of parts, but it cannot
//! give the structure alone: parsing decodes every part's body (base64 and quoted-printable
//! into new buffers, every text part converted to a `String`), so the BODYSTRUCTURE of a 10 MB
//! attachment would cost the message twice over; it has no nesting limit; its recovery from
//! broken MIME (a multipart without boundary becomes text, an encoded `message/rfc822` is
//! parsed anyway) and its header values (decoded, where ENVELOPE wants them as written) differ
//! from what IMAP clients get from Dovecot. The splitter here is one pass over the lines that
//! only records offsets, following Dovecot's `message-parser` rules (see [`structure`]).
//! mail-parser still does what it is good at here: charset conversion and HTML-to-text for
//! PREVIEW.
//!
//! # Compatibility
//!
//! Output was compared with Dovecot 2.3.19 (`imap` on a Maildir): the unit tests hold its
//! answers for the same messages.

pub(crate) mod address;
pub(crate) mod bodystructure;
pub(crate) mod crlf;
pub(crate) mod decode;
pub(crate) mod envelope;
pub(crate) mod header;
pub(crate) mod lex;
pub(crate) mod params;
pub(crate) mod preview;
pub(crate) mod section;
pub(crate) mod structure;

#[cfg(test)]
mod tests;
