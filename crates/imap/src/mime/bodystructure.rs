//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) from a [`Structure`], shaped like
//! Dovecot's: type, subtype, parameter names and the encoding as written; `text/*` parts
//! without a charset get `("charset" "us-ascii")`; sizes and line counts of the body as it is
//! sent (CRLF); Content-MD5 is the field's value; Content-Language is always a list. One tree
//! serves both items: the writer leaves the extension data out of BODY.

use std::borrow::Cow;

use super::decode::Cte;
use super::envelope::envelope;
use super::params::Params;
use super::structure::{Kind, Part, Structure};
use crate::proto::{BodyExt, BodyStructure, Envelope, SingleKind};

/// The BODYSTRUCTURE of the message `raw` split into `s`.
pub(crate) fn body_structure(raw: &[u8], s: &Structure) -> BodyStructure {
    part(raw, s, 0)
}

fn text(b: &[u8]) -> String {
    match String::from_utf8_lossy(b) {
        Cow::Borrowed(s) => s.to_string(),
        Cow::Owned(s) => s,
    }
}

fn params(p: &Params) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (text(k), text(v))).collect()
}

fn extension(p: &Part, leaf: bool) -> BodyExt {
    let f = &p.fields;
    BodyExt {
        md5: if leaf {
            f.md5.as_deref().map(text)
        } else {
            None
        },
        disposition: f
            .disposition
            .as_ref()
            .map(|(value, ps)| (text(value), params(ps))),
        language: f.language.iter().map(|l| text(l)).collect(),
        location: f.location.as_deref().map(text),
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An empty `text/plain` body: what a transfer-encoded `message/rfc822` is said to hold
/// (as Dovecot shows it).
fn empty_text() -> BodyStructure {
    BodyStructure::Single {
        body_type: "text".into(),
        subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        id: None,
        description: None,
        encoding: "7bit".into(),
        size: 0,
        kind: SingleKind::Text { lines: 0 },
        ext: Some(BodyExt::default()),
    }
}

fn part(raw: &[u8], s: &Structure, idx: usize) -> BodyStructure {
    let p = &s.parts[idx];
    let ct = &p.content_type;
    if let Kind::Multipart(children) = &p.kind {
        return BodyStructure::Multipart {
            parts: children.iter().map(|&c| part(raw, s, c)).collect(),
            subtype: text(&ct.sub),
            params: params(&ct.params),
            ext: Some(extension(p, false)),
        };
    }
    let is_text = ct.is("text", None);
    let mut ps = params(&ct.params);
    if is_text && ct.param("charset").is_none() {
        ps.push(("charset".into(), "us-ascii".into()));
    }
    let lines = saturate(p.body_lines());
    let kind = match &p.kind {
        Kind::Message(child) => {
            let identity = Cte::of(p.fields.encoding.as_deref()) == Cte::Identity;
            let (env, body) = match child.filter(|_| identity) {
                Some(c) => {
                    let cp = &s.parts[c];
                    (envelope(&raw[cp.header_range()]), part(raw, s, c))
                }
                None => (Envelope::default(), empty_text()),
            };
            SingleKind::Message {
                envelope: Box::new(env),
                body: Box::new(body),
                lines,
            }
        }
        _ if is_text => SingleKind::Text { lines },
        _ => SingleKind::Basic,
    };
    BodyStructure::Single {
        body_type: text(&ct.main),
        subtype: text(&ct.sub),
        params: ps,
        id: p.fields.id.clone(),
        description: p.fields.description.clone(),
        encoding: text(p.fields.encoding_or_default()),
        size: saturate(p.body_size()),
        kind,
        ext: Some(extension(p, true)),
    }
}
