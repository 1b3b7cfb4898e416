//! The message a script looks at: raw RFC 5322 bytes, with the top-level header block split
//! on first use and the MIME structure parsed (by mail-parser) only when a `body` test needs
//! it.

use std::cell::OnceCell;

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, MessageParser};

/// A message under test, built from its raw bytes (header and body, CRLF or LF line ends).
/// Parsing is lazy: a script that only looks at the envelope never parses the message.
pub struct Message<'a> {
    raw: &'a [u8],
    headers: OnceCell<Vec<RawHeader<'a>>>,
    parsed: OnceCell<Option<mail_parser::Message<'a>>>,
}

/// One top-level header field: name as written, raw value (folded, after the colon).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawHeader<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a [u8],
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("size", &self.raw.len())
            .finish()
    }
}

impl<'a> Message<'a> {
    /// Wraps raw message bytes.
    pub fn new(raw: &'a [u8]) -> Self {
        Message {
            raw,
            headers: OnceCell::new(),
            parsed: OnceCell::new(),
        }
    }

    /// The raw bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Size in octets (RFC 5228 §5.9).
    pub fn size(&self) -> usize {
        self.raw.len()
    }

    pub(crate) fn headers(&self) -> &[RawHeader<'a>] {
        self.headers.get_or_init(|| split_headers(self.raw).0)
    }

    /// Offset of the body (after the blank line), or the message length.
    pub(crate) fn body_offset(&self) -> usize {
        split_headers(self.raw).1
    }

    pub(crate) fn parsed(&self) -> Option<&mail_parser::Message<'a>> {
        self.parsed
            .get_or_init(|| MessageParser::new().parse(self.raw))
            .as_ref()
    }

    /// Raw values of the header fields named `name` (case-insensitive), in order.
    pub(crate) fn raw_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers()
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Decoded (RFC 2047), unfolded values of the fields named `name`.
    pub(crate) fn header_texts(&self, name: &str) -> Vec<String> {
        self.raw_values(name).map(decode_unstructured).collect()
    }

    /// The first `Message-ID` value, as written (with angle brackets), if any.
    pub fn message_id(&self) -> Option<String> {
        self.raw_values("message-id")
            .next()
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// The decoded `Subject`, if any.
    pub fn subject(&self) -> Option<String> {
        self.header_texts("subject").into_iter().next()
    }
}

/// Unfolds and decodes an unstructured header value (RFC 5322 §2.2.3, RFC 2047).
pub(crate) fn decode_unstructured(v: &[u8]) -> String {
    let mut buf = v.to_vec();
    if !buf.ends_with(b"\n") {
        buf.extend_from_slice(b"\r\n");
    }
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.trim().to_string(),
        _ => String::new(),
    }
}

/// One address of an address header: the addr-spec, or the raw text when it does not parse.
pub(crate) fn parse_addresses(v: &[u8]) -> Vec<String> {
    let mut buf = v.to_vec();
    if !buf.ends_with(b"\n") {
        buf.extend_from_slice(b"\r\n");
    }
    let parsed = MessageStream::new(&buf).parse_address();
    let mut out = Vec::new();
    if let HeaderValue::Address(a) = parsed {
        for addr in a.iter() {
            if let Some(s) = addr.address() {
                out.push(s.to_string());
            }
        }
    }
    if out.is_empty() {
        let t = decode_unstructured(v);
        // group syntax with no members ("undisclosed-recipients:;") has no address
        if !t.is_empty() && !t.ends_with(';') {
            out.push(t);
        }
    }
    out
}

/// Splits the header block into fields; returns them and the body offset.
fn split_headers<'a>(raw: &'a [u8]) -> (Vec<RawHeader<'a>>, usize) {
    let mut out: Vec<RawHeader<'a>> = Vec::new();
    let mut i = 0;
    let mut cur: Option<(usize, usize, usize)> = None; // name start, colon, value end
    let flush = |cur: &mut Option<(usize, usize, usize)>, out: &mut Vec<RawHeader<'a>>| {
        if let Some((s, c, e)) = cur.take()
            && let Ok(name) = std::str::from_utf8(&raw[s..c])
        {
            out.push(RawHeader {
                name: name.trim_end(),
                value: &raw[c + 1..e],
            });
        }
    };
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[i..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            flush(&mut cur, &mut out);
            return (out, end);
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(c) = cur.as_mut() {
                c.2 = end;
            }
        } else {
            flush(&mut cur, &mut out);
            if let Some(colon) = content.iter().position(|&b| b == b':') {
                cur = Some((i, i + colon, end));
            }
        }
        i = end;
    }
    flush(&mut cur, &mut out);
    (out, raw.len())
}
