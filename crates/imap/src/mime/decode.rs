//! Content-Transfer-Encoding decoding for BINARY (RFC 3516) and PREVIEW: base64 and
//! quoted-printable (RFC 2045 §6.7, 6.8), both lenient: octets outside the base64 alphabet
//! are skipped, a malformed `=` escape in quoted-printable is kept as it is.

/// A part's transfer encoding, as far as decoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cte {
    /// None, `7bit`, `8bit` or `binary`: the body is the content.
    Identity,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
    /// Anything else (`x-uuencode`, ...): BINARY answers `NO [UNKNOWN-CTE]`.
    Unknown,
}

impl Cte {
    /// The encoding named by a Content-Transfer-Encoding token (`None`: no such field).
    pub(crate) fn of(token: Option<&[u8]>) -> Cte {
        let Some(t) = token.filter(|t| !t.is_empty()) else {
            return Cte::Identity;
        };
        let is = |name: &str| t.eq_ignore_ascii_case(name.as_bytes());
        if is("7bit") || is("8bit") || is("binary") {
            Cte::Identity
        } else if is("base64") {
            Cte::Base64
        } else if is("quoted-printable") {
            Cte::QuotedPrintable
        } else {
            Cte::Unknown
        }
    }

    /// `body` decoded; `None` for [`Cte::Unknown`].
    pub(crate) fn decode(self, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            Cte::Identity => Some(body.to_vec()),
            Cte::Base64 => Some(decode_base64(body)),
            Cte::QuotedPrintable => Some(decode_quoted_printable(body)),
            Cte::Unknown => None,
        }
    }
}

fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Base64 with anything outside the alphabet skipped; `=` ends a quantum (and decoding
/// goes on after it, for bodies made of several encoded pieces).
pub(crate) fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0u8;
    for &b in input {
        if b == b'=' {
            match n {
                2 => out.push((acc >> 4) as u8),
                3 => {
                    out.push((acc >> 10) as u8);
                    out.push((acc >> 2) as u8);
                }
                _ => {}
            }
            acc = 0;
            n = 0;
            continue;
        }
        let Some(v) = base64_value(b) else {
            continue;
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.push((acc >> 16) as u8);
            out.push((acc >> 8) as u8);
            out.push(acc as u8);
            acc = 0;
            n = 0;
        }
    }
    // A final quantum without padding.
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => {
            out.push((acc >> 10) as u8);
            out.push((acc >> 2) as u8);
        }
        _ => {}
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Quoted-printable: `=XX` escapes, `=` at a line end joins lines (soft break), white space
/// at the end of a line is dropped; hard line ends are kept as they are (CRLF).
pub(crate) fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let end = input[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input.len(), |i| pos + i + 1);
        let line = &input[pos..end];
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let trimmed_len = content
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        let content = &content[..trimmed_len];
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        let mut i = 0;
        while i < content.len() {
            let b = content[i];
            if b == b'='
                && let (Some(h), Some(l)) = (
                    content.get(i + 1).copied().and_then(hex_value),
                    content.get(i + 2).copied().and_then(hex_value),
                )
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
        pos = end;
    }
    out
}
