//! The message as milters see and edit it: header fields (name and raw value, folding kept) and
//! the body, and the envelope changes they ask for. Edits follow Postfix's `cleanup_milter.c`
//! semantics: `SMFIR_CHGHEADER` counts occurrences of a name from 1 (0 counts as 1) and an empty
//! value deletes; `SMFIR_INSHEADER` index 0 is the top of the header; `SMFIR_ADDHEADER` appends.
//!
//! Values a filter sends use `\n` (or `\r\n`) between folded lines; they are written back with
//! CRLF, and a continuation line that does not start with white space gets a tab, so a filter can
//! never end the header section or start a new field through a value.

use crate::proto::Modification;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as written.
    pub name: String,
    /// Everything after the colon up to (not including) the final CRLF: leading space and
    /// folding included.
    pub value: Vec<u8>,
}

impl Header {
    /// The value as sent to a filter: folding as `\n`, without the leading white space unless
    /// the filter asked for it (`SMFIP_HDR_LEADSPC`), without a trailing CR.
    pub fn wire_value(&self, strip_leading_space: bool) -> Vec<u8> {
        let mut v: Vec<u8> = Vec::with_capacity(self.value.len());
        let mut i = 0;
        while i < self.value.len() {
            if self.value[i] == b'\r' && self.value.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            v.push(self.value[i]);
            i += 1;
        }
        if strip_leading_space {
            let start = v
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(v.len());
            v.drain(..start);
        }
        v
    }
}

/// A message split into header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Header fields in order.
    pub headers: Vec<Header>,
    /// Whether an empty line separated header and body.
    pub separator: bool,
    /// The body (CRLF line endings, as received).
    pub body: Vec<u8>,
}

fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

impl Message {
    /// Split `bytes`. The header section ends at the first empty line, or at the first line that
    /// is neither a field nor a continuation (that line starts the body, as in Postfix).
    pub fn parse(bytes: &[u8]) -> Message {
        let mut headers: Vec<Header> = Vec::new();
        let mut pos = 0;
        let mut separator = false;
        while pos < bytes.len() {
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| pos + p + 1);
            let line = &bytes[pos..end];
            if line == b"\r\n" || line == b"\n" {
                separator = true;
                pos = end;
                break;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some(last) = headers.last_mut() {
                    last.value.extend_from_slice(b"\r\n");
                    last.value.extend_from_slice(trim_eol(line));
                    pos = end;
                    continue;
                }
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            let name = &line[..colon];
            let name_trimmed = trim_end_ws(name);
            if !is_field_name(name_trimmed) {
                break;
            }
            headers.push(Header {
                name: String::from_utf8_lossy(name).into_owned(),
                value: trim_eol(&line[colon + 1..]).to_vec(),
            });
            pos = end;
        }
        Message {
            headers,
            separator,
            body: bytes[pos..].to_vec(),
        }
    }

    /// The message as bytes again.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64 * self.headers.len());
        for h in &self.headers {
            out.extend_from_slice(h.name.as_bytes());
            out.push(b':');
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
        if self.separator || !self.headers.is_empty() && !self.body.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The body with CRLF line endings, as filters want it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Apply one header or body modification. `leading_space`: the filter's values already carry
    /// their leading space (`SMFIP_HDR_LEADSPC`); otherwise one is added. Envelope modifications
    /// are ignored here (see [`EnvelopeEdits`]).
    pub fn apply(&mut self, m: &Modification, leading_space: bool) {
        let value = |v: &[u8]| {
            let mut out = Vec::with_capacity(v.len() + 1);
            if !leading_space {
                out.push(b' ');
            }
            out.extend_from_slice(&fold(v));
            out
        };
        match m {
            Modification::AddHeader { name, value: v } => {
                if let Some(name) = clean_name(name) {
                    self.headers.push(Header {
                        name,
                        value: value(v),
                    });
                }
            }
            Modification::InsertHeader {
                index,
                name,
                value: v,
            } => {
                if let Some(name) = clean_name(name) {
                    let at = (*index as usize).min(self.headers.len());
                    self.headers.insert(
                        at,
                        Header {
                            name,
                            value: value(v),
                        },
                    );
                }
            }
            Modification::ChangeHeader {
                index,
                name,
                value: v,
            } => {
                let want = (*index).max(1) as usize;
                let found = self
                    .headers
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.name.trim_end().eq_ignore_ascii_case(name.trim()))
                    .nth(want - 1)
                    .map(|(i, _)| i);
                match (found, v.is_empty()) {
                    (Some(i), true) => {
                        self.headers.remove(i);
                    }
                    (Some(i), false) => self.headers[i].value = value(v),
                    // Sendmail and Postfix: changing a field that is not there adds it.
                    (None, false) => {
                        if let Some(name) = clean_name(name) {
                            self.headers.push(Header {
                                name,
                                value: value(v),
                            });
                        }
                    }
                    (None, true) => {}
                }
            }
            Modification::ReplaceBody(b) => {
                self.body = crlf(b);
                self.separator = true;
            }
            Modification::ChangeFrom { .. }
            | Modification::AddRcpt { .. }
            | Modification::DeleteRcpt { .. } => {}
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_end_ws(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &s[..end]
}

/// A header name a filter sent, if it is one (printable ASCII without colon).
fn clean_name(name: &str) -> Option<String> {
    let n = name.trim();
    is_field_name(n.as_bytes()).then(|| n.to_string())
}

/// A value from a filter with CRLF folding; every continuation line starts with white space.
fn fold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 8);
    let text: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != 0)
        .collect();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            if line.iter().all(|&b| b == b' ' || b == b'\t') {
                // An empty continuation line would end the header section.
                continue;
            }
            out.extend_from_slice(b"\r\n");
            if !matches!(line.first(), Some(b' ' | b'\t')) {
                out.push(b'\t');
            }
        }
        out.extend_from_slice(line);
    }
    out
}

/// Line endings as CRLF (a filter's replacement body may use bare LF).
fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 32);
    let mut prev = 0u8;
    for &c in b {
        if c == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        if prev == b'\r' && c != b'\n' {
            out.push(b'\n');
        }
        out.push(c);
        prev = c;
    }
    if prev == b'\r' {
        out.push(b'\n');
    }
    out
}

/// Envelope changes requested by filters, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeEdits {
    /// New sender (without angle brackets) and its ESMTP arguments.
    pub sender: Option<(String, Option<String>)>,
    /// Recipients to add (without angle brackets) with ESMTP arguments.
    pub added: Vec<(String, Option<String>)>,
    /// Recipients to delete (without angle brackets).
    pub deleted: Vec<String>,
}

/// An address from a filter without angle brackets and surrounding space.
pub fn bare_address(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .trim()
        .to_string()
}

impl EnvelopeEdits {
    /// Record an envelope modification (header and body ones are ignored).
    pub fn apply(&mut self, m: &Modification) {
        match m {
            Modification::ChangeFrom { sender, args } => {
                self.sender = Some((bare_address(sender), args.clone()));
            }
            Modification::AddRcpt { rcpt, args } => {
                let a = bare_address(rcpt);
                self.deleted.retain(|d| !d.eq_ignore_ascii_case(&a));
                self.added.push((a, args.clone()));
            }
            Modification::DeleteRcpt { rcpt } => {
                let a = bare_address(rcpt);
                self.added.retain(|(x, _)| !x.eq_ignore_ascii_case(&a));
                self.deleted.push(a);
            }
            _ => {}
        }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.sender.is_none() && self.added.is_empty() && self.deleted.is_empty()
    }
}
