//! What `BODY[section]` and `BINARY[part]` name (RFC 3501 §6.4.5, RFC 9051 §6.4.5, RFC 3516).
//!
//! Part numbers count the parts of a message: the children of its multipart, or, when the
//! message is not multipart, `1` for its one body. A number after a `message/rfc822` part
//! counts the parts of the message inside it. `HEADER`, `HEADER.FIELDS[.NOT]` and `TEXT` after
//! part numbers need a `message/rfc822` part; `MIME` is the part's own header. Like Dovecot, a
//! section that names nothing (a part that does not exist, `HEADER` of a non-message part) is
//! an empty string, not an error.

use std::borrow::Cow;

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

fn message_of<'a>(raw: &'a [u8], root: &Part, text: &SectionText) -> Cow<'a, [u8]> {
    message_text(&raw[root.header_range()], &raw[root.body_range()], text)
}

/// The octets of `BODY[section]` of the message `raw` split into `s`.
pub(crate) fn body_section<'a>(raw: &'a [u8], s: &Structure, section: &Section) -> Cow<'a, [u8]> {
    if section.part.is_empty() {
        return match &section.text {
            None => Cow::Borrowed(raw),
            Some(t) => message_of(raw, s.root(), t),
        };
    }
    let Some(p) = resolve(s, &section.part) else {
        return Cow::Borrowed(&[]);
    };
    let part = &s.parts[p];
    match &section.text {
        None => Cow::Borrowed(&raw[part.body_range()]),
        Some(SectionText::Mime) => Cow::Borrowed(&raw[part.header_range()]),
        Some(t) => match &part.kind {
            Kind::Message(Some(c)) => message_of(raw, &s.parts[*c], t),
            _ => Cow::Borrowed(&[]),
        },
    }
}

/// The part's transfer encoding is not one we can decode (`NO [UNKNOWN-CTE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownCte;

/// The octets of `BINARY[part]`: the part's body with its transfer encoding decoded (a
/// multipart's body as it is; the whole message for `[]`, as it is: neither carries a
/// transfer encoding of its own).
pub(crate) fn binary_section<'a>(
    raw: &'a [u8],
    s: &Structure,
    part: &[u32],
) -> Result<Cow<'a, [u8]>, UnknownCte> {
    if part.is_empty() {
        return Ok(Cow::Borrowed(raw));
    }
    let Some(p) = resolve(s, part) else {
        return Ok(Cow::Borrowed(&[]));
    };
    let p = &s.parts[p];
    let body = &raw[p.body_range()];
    if matches!(p.kind, Kind::Multipart(_)) {
        return Ok(Cow::Borrowed(body));
    }
    match Cte::of(p.fields.encoding.as_deref()) {
        Cte::Identity => Ok(Cow::Borrowed(body)),
        cte => cte.decode(body).map(Cow::Owned).ok_or(UnknownCte),
    }
}

/// BODY data as IMAP4rev1 literals allow it: NUL octets become 0x80, as Dovecot sends them
/// (BINARY keeps them and goes out as a literal8).
pub(crate) fn replace_nul(data: &mut [u8]) {
    for b in data.iter_mut().filter(|b| **b == 0) {
        *b = 0x80;
    }
}
