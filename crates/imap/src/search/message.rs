//! Reading and viewing one message: bounded reads through a [`MessageLoader`], parsing with
//! mail-parser, and the decoded texts the keys compare against.

use std::cell::OnceCell;
use std::io::{ErrorKind, Read};

use mail_parser::decoders::html::html_to_text;
use mail_parser::{Address, DateTime, Header, HeaderValue, Message, MessageParser, PartType};
use mailstack_store::MessageMeta;

use super::field_cache::FieldStrings;
use super::text::{decode_raw_header, fold, valid_datetime};
use super::{MAX_HEADER_BYTES, MessageLoader, SearchError};

/// How much of a message an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Need {
    /// The index is enough.
    Nothing,
    /// The header block.
    Headers,
    /// The whole message.
    Full,
}

/// Read what `need` asks of a message. `Ok(None)`: the file vanished (or nothing was needed).
pub(crate) fn read_message(
    loader: &mut dyn MessageLoader,
    meta: &MessageMeta,
    need: Need,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, SearchError> {
    let io = |source: std::io::Error| SearchError::Io {
        uid: meta.uid,
        source,
    };
    if need == Need::Nothing {
        return Ok(None);
    }
    let mut reader = match loader.open(meta) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut buf = Vec::new();
    if need == Need::Full {
        let cap = (meta.size as usize).min(max_bytes);
        buf.reserve(cap.saturating_add(1));
        (&mut reader)
            .take(max_bytes as u64)
            .read_to_end(&mut buf)
            .map_err(io)?;
        return Ok(Some(buf));
    }
    let limit = MAX_HEADER_BYTES.min(max_bytes);
    let mut chunk = [0u8; 8192];
    let mut scanned = 0;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        let take = n.min(limit - buf.len());
        buf.extend_from_slice(&chunk[..take]);
        if let Some(end) = header_end(&buf, scanned) {
            buf.truncate(end);
            break;
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() >= limit {
            break;
        }
    }
    Ok(Some(buf))
}

/// End (exclusive, after the empty line) of the header block, searching from `from`.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    if from == 0 {
        if buf.starts_with(b"\n") {
            return Some(1);
        }
        if buf.starts_with(b"\r\n") {
            return Some(2);
        }
    }
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Parse raw bytes (a whole message or its header block).
pub(crate) fn parse(raw: &[u8], need: Need) -> Option<Message<'_>> {
    let parser = MessageParser::default();
    match need {
        Need::Full => parser.parse(raw),
        _ => parser.parse_headers(raw),
    }
}

/// A parsed message and the decoded texts computed from it on first use.
pub(crate) struct View<'m> {
    msg: Option<Message<'m>>,
    body: OnceCell<String>,
    all_headers: OnceCell<String>,
    /// Field strings from the field cache, instead of a parsed message: only header field
    /// keys are asked of such a view (see `eval::Node::cached_fields`).
    cached: Option<Vec<(String, FieldStrings)>>,
}

/// The first mailbox of an address header.
pub(crate) struct Mailbox {
    /// Display name, decoded (may be empty).
    pub(crate) name: String,
    /// `local@domain` (or what the header had).
    pub(crate) address: String,
}

impl Mailbox {
    /// RFC 5256 addr-mailbox: the local part.
    pub(crate) fn local_part(&self) -> &str {
        match self.address.rfind('@') {
            Some(i) => &self.address[..i],
            None => &self.address,
        }
    }
}

impl<'m> View<'m> {
    pub(crate) fn new(msg: Option<Message<'m>>) -> View<'m> {
        View {
            msg,
            body: OnceCell::new(),
            all_headers: OnceCell::new(),
            cached: None,
        }
    }

    /// A view answering header field keys from cached [`View::field_strings`].
    pub(crate) fn from_cached_fields(fields: Vec<(String, FieldStrings)>) -> View<'static> {
        View {
            msg: None,
            body: OnceCell::new(),
            all_headers: OnceCell::new(),
            cached: Some(fields),
        }
    }

    fn top_headers(&self) -> &[Header<'m>] {
        match &self.msg {
            Some(m) if !m.parts.is_empty() => &m.parts[0].headers,
            _ => &[],
        }
    }

    fn raw_value(&self, h: &Header<'_>) -> &[u8] {
        raw_value_of(self.msg.as_ref().map(|m| m.raw_message()), h)
    }

    /// The top-level header fields called `name` (case-insensitive).
    fn fields<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Header<'m>> + 's {
        self.top_headers()
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether a field `name` contains `needle` (folded) in its decoded, unfolded value.
    /// Address fields also match against each parsed `name <address>`.
    pub(crate) fn field_contains(&self, name: &str, needle: &str) -> bool {
        let hit = |strings: &[Box<str>]| strings.iter().any(|s| s.contains(needle));
        match &self.cached {
            Some(cached) => cached
                .iter()
                .find(|(n, _)| n == name)
                .is_some_and(|(_, strings)| hit(strings)),
            None => hit(&self.field_strings(name)),
        }
    }

    /// Everything [`View::field_contains`] compares a needle with for the top-level fields
    /// called `name` (lower case): per occurrence its decoded value and its address or text
    /// forms, folded. Empty when the message has no such field; an occurrence always adds at
    /// least one string, so "the field exists" (the empty needle) is "not empty".
    pub(crate) fn field_strings(&self, name: &str) -> FieldStrings {
        let mut out: Vec<Box<str>> = Vec::new();
        for h in self.fields(name) {
            out.push(fold(&decode_raw_header(self.raw_value(h))).into_boxed_str());
            match &h.value {
                HeaderValue::Address(a) => {
                    out.extend(address_forms(a).map(|s| fold(&s).into_boxed_str()))
                }
                HeaderValue::Text(t) => out.push(fold(t).into_boxed_str()),
                _ => {}
            }
        }
        out.into()
    }

    /// All header fields of all parts (nested messages included), decoded, folded.
    pub(crate) fn folded_headers(&self) -> &str {
        self.all_headers.get_or_init(|| {
            let mut out = String::new();
            if let Some(m) = &self.msg {
                collect_headers(m, &mut out);
            }
            fold(&out)
        })
    }

    /// The decoded text of all text parts (HTML converted to text), folded.
    pub(crate) fn folded_body(&self) -> &str {
        self.body.get_or_init(|| {
            let mut out = String::new();
            if let Some(m) = &self.msg {
                collect_body(m, &mut out);
            }
            fold(&out)
        })
    }

    /// The first valid Date: header.
    pub(crate) fn sent_date(&self) -> Option<DateTime> {
        self.fields("date").find_map(|h| match &h.value {
            HeaderValue::DateTime(dt) if valid_datetime(dt) => Some(*dt),
            _ => None,
        })
    }

    /// The first Subject: header, decoded.
    pub(crate) fn subject(&self) -> String {
        self.fields("subject")
            .next()
            .map(|h| match &h.value {
                HeaderValue::Text(t) => t.to_string(),
                _ => decode_raw_header(self.raw_value(h)),
            })
            .unwrap_or_default()
    }

    /// The first mailbox of the first field `name` that has one.
    pub(crate) fn first_mailbox(&self, name: &str) -> Option<Mailbox> {
        self.fields(name).find_map(|h| match &h.value {
            HeaderValue::Address(a) => a.iter().find_map(|addr| {
                let address = addr.address.as_deref().unwrap_or("").trim().to_string();
                let name = addr.name.as_deref().unwrap_or("").trim().to_string();
                (!address.is_empty() || !name.is_empty()).then_some(Mailbox { name, address })
            }),
            _ => None,
        })
    }

    /// Message ids of the first field `name` (Message-ID, References, In-Reply-To).
    pub(crate) fn ids(&self, name: &str) -> Vec<String> {
        let Some(h) = self.fields(name).next() else {
            return Vec::new();
        };
        let clean = |s: &str| {
            let s = s
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            (!s.is_empty() && !s.contains(char::is_whitespace)).then(|| s.to_string())
        };
        match &h.value {
            HeaderValue::Text(t) => clean(t).into_iter().collect(),
            HeaderValue::TextList(l) => l.iter().filter_map(|t| clean(t)).collect(),
            _ => Vec::new(),
        }
    }
}

fn raw_value_of<'a>(raw: Option<&'a [u8]>, h: &Header<'_>) -> &'a [u8] {
    let raw = raw.unwrap_or_default();
    let (start, end) = (h.offset_start as usize, h.offset_end as usize);
    raw.get(start..end.min(raw.len())).unwrap_or_default()
}

/// `name <address>`, `name` and `address` of every mailbox of an address header.
fn address_forms<'a>(a: &'a Address<'_>) -> impl Iterator<Item = String> + 'a {
    a.iter().map(
        |addr| match (addr.name.as_deref(), addr.address.as_deref()) {
            (Some(n), Some(ad)) => format!("{n} <{ad}>"),
            (Some(n), None) => n.to_string(),
            (None, Some(ad)) => ad.to_string(),
            (None, None) => String::new(),
        },
    )
}

/// Separator between texts so that a match never spans two of them (IMAP strings cannot
/// contain NUL).
const SEP: char = '\0';

fn collect_headers(m: &Message<'_>, out: &mut String) {
    for part in &m.parts {
        for h in &part.headers {
            out.push_str(h.name.as_str());
            out.push_str(": ");
            out.push_str(&decode_raw_header(raw_value_of(Some(m.raw_message()), h)));
            out.push(SEP);
        }
        if let PartType::Message(nested) = &part.body {
            collect_headers(nested, out);
        }
    }
}

fn collect_body(m: &Message<'_>, out: &mut String) {
    for part in &m.parts {
        match &part.body {
            PartType::Text(t) if t.is_empty() => {}
            PartType::Text(t) => {
                out.push_str(t);
                out.push(SEP);
            }
            PartType::Html(h) => {
                out.push_str(&html_to_text(h));
                out.push(SEP);
            }
            PartType::Message(nested) => collect_body(nested, out),
            PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Multipart(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_end_variants() {
        assert_eq!(header_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"A: b\r\n", 0), None);
    }

    #[test]
    fn header_view() {
        let m = parse(b"Subject: hi\r\nFrom: a@b\r\n\r\n", Need::Headers);
        let v = View::new(m);
        assert_eq!(v.subject(), "hi");
        assert_eq!(v.folded_body(), "");
        assert!(v.field_contains("FROM", ""));
        assert!(v.field_contains("from", "a@b"));
        assert!(!v.field_contains("to", ""));
    }
}
