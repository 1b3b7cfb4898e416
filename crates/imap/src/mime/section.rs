//! What `BODY[section]` and `BINARY[part]` name (RFC 3501 §6.4.5, RFC 9051 §6.4.5, RFC 3516).
//!
//! Part numbers count the parts of a message: the children of its multipart, or, when the
//! message is not multipart, `1` for its one body. A number after a `message/rfc822` part
//! counts the parts of the message inside it. `HEADER`, `HEADER.FIELDS[.NOT]` and `TEXT` after
//! part numbers need a `message/rfc822` part; `MIME` is the part's own header. Like Dovecot, a
//! section that names nothing (a part that does not exist, `HEADER` of a non-message part) is
//! an empty string, not an error.

use std::borrow::Cow;
use std::ops::Range;

use super::decode::Cte;
use super::header::select_fields;
use super::structure::{Kind, Part, Structure};
use crate::proto::{Section, SectionText};

/// Follow non-empty part numbers to a part (Dovecot's `imap_msgpart_find`); `None` when they
/// name no part. The number `1` of a part that is not a multipart is that part itself, and
/// only the last number may do that unless the part is a `message/rfc822`; a number after a
/// `message/rfc822` counts in the message inside it.
pub(crate) fn resolve(s: &Structure, path: &[u32]) -> Option<usize> {
    let mut part = 0;
    for (i, &n) in path.iter().enumerate() {
        let more = i + 1 < path.len();
        let n = usize::try_from(n).ok()?;
        match &s.parts[part].kind {
            Kind::Multipart(children) => part = *children.get(n.checked_sub(1)?)?,
            Kind::Message(_) if n == 1 => {}
            _ if n == 1 && !more => {}
            _ => return None,
        }
        if more && let Kind::Message(child) = &s.parts[part].kind {
            part = (*child)?;
        }
    }
    (!path.is_empty()).then_some(part)
}

/// `HEADER`, `HEADER.FIELDS (..)`, `HEADER.FIELDS.NOT (..)` or `TEXT` of a message whose
/// header block is `header` and whose body is `body`.
pub(crate) fn message_text<'a>(
    header: &'a [u8],
    body: &'a [u8],
    text: &SectionText,
) -> Cow<'a, [u8]> {
    match text {
        SectionText::Header => Cow::Borrowed(header),
        SectionText::Text => Cow::Borrowed(body),
        SectionText::HeaderFields(names) => Cow::Owned(select_fields(header, names, false)),
        SectionText::HeaderFieldsNot(names) => Cow::Owned(select_fields(header, names, true)),
        SectionText::Mime => Cow::Borrowed(&[]),
    }
}

/// The octets of a section: a range of the message, or octets made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionData {
    /// These octets of the message.
    Range(Range<usize>),
    /// Octets that are not in the message as they are (selected header fields, decoded
    /// content).
    Made(Vec<u8>),
}

impl SectionData {
    /// The octets, given the message.
    pub(crate) fn bytes<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            SectionData::Range(r) => &raw[r.clone()],
            SectionData::Made(v) => v,
        }
    }

    fn empty() -> SectionData {
        SectionData::Made(Vec::new())
    }
}

/// `HEADER`, `HEADER.FIELDS[.NOT] (..)` or `TEXT` of the message whose root part is `root`.
fn message_of(raw: &[u8], root: &Part, text: &SectionText) -> SectionData {
    match text {
        SectionText::Header => SectionData::Range(root.header_range()),
        SectionText::Text => SectionData::Range(root.body_range()),
        SectionText::Mime => SectionData::empty(),
        t => SectionData::Made(message_text(&raw[root.header_range()], &[], t).into_owned()),
    }
}

/// The octets of `BODY[section]` of the message `raw` split into `s`.
pub(crate) fn body_section(raw: &[u8], s: &Structure, section: &Section) -> SectionData {
    if section.part.is_empty() {
        return match &section.text {
            None => SectionData::Range(0..raw.len()),
            Some(t) => message_of(raw, s.root(), t),
        };
    }
    let Some(p) = resolve(s, &section.part) else {
        return SectionData::empty();
    };
    let part = &s.parts[p];
    match &section.text {
        None => SectionData::Range(part.body_range()),
        Some(SectionText::Mime) => SectionData::Range(part.header_range()),
        Some(t) => match &part.kind {
            Kind::Message(Some(c)) => message_of(raw, &s.parts[*c], t),
            _ => SectionData::empty(),
        },
    }
}

/// The part's transfer encoding is not one we can decode (`NO [UNKNOWN-CTE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownCte;

/// The octets of `BINARY[part]`: the part's body with its transfer encoding decoded (a
/// multipart's body as it is; the whole message for `[]`, as it is: neither carries a
/// transfer encoding of its own).
pub(crate) fn binary_section(
    raw: &[u8],
    s: &Structure,
    part: &[u32],
) -> Result<SectionData, UnknownCte> {
    if part.is_empty() {
        return Ok(SectionData::Range(0..raw.len()));
    }
    let Some(p) = resolve(s, part) else {
        return Ok(SectionData::empty());
    };
    let p = &s.parts[p];
    if matches!(p.kind, Kind::Multipart(_)) {
        return Ok(SectionData::Range(p.body_range()));
    }
    match Cte::of(p.fields.encoding.as_deref()) {
        Cte::Identity => Ok(SectionData::Range(p.body_range())),
        cte => cte
            .decode(&raw[p.body_range()])
            .map(SectionData::Made)
            .ok_or(UnknownCte),
    }
}

/// BODY data as IMAP4rev1 literals allow it: NUL octets become 0x80, as Dovecot sends them
/// (BINARY keeps them and goes out as a literal8).
pub(crate) fn replace_nul(data: &mut [u8]) {
    for b in data.iter_mut().filter(|b| **b == 0) {
        *b = 0x80;
    }
}
