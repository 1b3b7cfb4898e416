//! MIME header fields of a part (RFC 2045, 2183, 3282, 2557, 1864): Content-Type with its
//! parameters (RFC 2231 continuations joined like Dovecot's `rfc2231_parse`),
//! Content-Transfer-Encoding, Content-ID, Content-Description, Content-Disposition,
//! Content-Language, Content-Location and Content-MD5. The first occurrence of each field
//! counts, as in Dovecot.

use super::header::{fields, unfold};
use super::lex::Cursor;

/// A parameter list: `(name, value)` in order, names as written.
pub(crate) type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// A media type as written (case kept), with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ContentType {
    /// `text`, `multipart`, ... (may be empty for a broken field).
    pub(crate) main: Vec<u8>,
    /// `plain`, `mixed`, ... (empty when the field has no `/`).
    pub(crate) sub: Vec<u8>,
    /// The parameters.
    pub(crate) params: Params,
}

impl ContentType {
    /// `text/plain` without parameters (the default type).
    pub(crate) fn text_plain() -> ContentType {
        ContentType {
            main: b"text".to_vec(),
            sub: b"plain".to_vec(),
            params: Vec::new(),
        }
    }

    /// `message/rfc822` without parameters (the default inside multipart/digest).
    pub(crate) fn message_rfc822() -> ContentType {
        ContentType {
            main: b"message".to_vec(),
            sub: b"rfc822".to_vec(),
            params: Vec::new(),
        }
    }

    /// Whether the type is `main/sub` (ASCII case-insensitive; `sub` `None` for any).
    pub(crate) fn is(&self, main: &str, sub: Option<&str>) -> bool {
        self.main.eq_ignore_ascii_case(main.as_bytes())
            && sub.is_none_or(|s| self.sub.eq_ignore_ascii_case(s.as_bytes()))
    }

    /// A parameter's value by name (ASCII case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&[u8]> {
        param(&self.params, name)
    }
}

/// A parameter's value by name (ASCII case-insensitive).
pub(crate) fn param<'a>(params: &'a Params, name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
}

/// The MIME fields of one part's header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MimeFields {
    /// Content-Type; `None` when the part has no such field.
    pub(crate) content_type: Option<ContentType>,
    /// Content-Transfer-Encoding token.
    pub(crate) encoding: Option<Vec<u8>>,
    /// Content-ID.
    pub(crate) id: Option<Vec<u8>>,
    /// Content-Description.
    pub(crate) description: Option<Vec<u8>>,
    /// Content-Disposition value and parameters.
    pub(crate) disposition: Option<(Vec<u8>, Params)>,
    /// Content-Language tags.
    pub(crate) language: Vec<Vec<u8>>,
    /// Content-Location.
    pub(crate) location: Option<Vec<u8>>,
    /// Content-MD5.
    pub(crate) md5: Option<Vec<u8>>,
}

impl MimeFields {
    /// Read the MIME fields of a header block.
    pub(crate) fn parse(header: &[u8]) -> MimeFields {
        let mut m = MimeFields::default();
        let mut language_seen = false;
        for f in fields(header) {
            if f.name.len() < 8 || !f.name[..8].eq_ignore_ascii_case(b"content-") {
                continue;
            }
            if f.is("Content-Type") && m.content_type.is_none() {
                m.content_type = Some(parse_content_type(f.value));
            } else if f.is("Content-Transfer-Encoding") && m.encoding.is_none() {
                let mut c = Cursor::new(f.value);
                c.skip_cfws();
                let t = c.token();
                m.encoding = Some(t.to_vec());
            } else if f.is("Content-ID") && m.id.is_none() {
                m.id = Some(unfold(f.value));
            } else if f.is("Content-Description") && m.description.is_none() {
                m.description = Some(unfold(f.value));
            } else if f.is("Content-Disposition") && m.disposition.is_none() {
                let mut c = Cursor::new(f.value);
                c.skip_cfws();
                let value = c.token().to_vec();
                m.disposition = Some((value, parse_params(&mut c)));
            } else if f.is("Content-Language") && !language_seen {
                language_seen = true;
                m.language = parse_language(f.value);
            } else if f.is("Content-Location") && m.location.is_none() {
                m.location = Some(unfold(f.value));
            } else if f.is("Content-MD5") && m.md5.is_none() {
                m.md5 = Some(unfold(f.value));
            }
        }
        m
    }

    /// The Content-Transfer-Encoding as sent in BODYSTRUCTURE (`7bit` when absent or empty).
    pub(crate) fn encoding_or_default(&self) -> &[u8] {
        match &self.encoding {
            Some(e) if !e.is_empty() => e,
            _ => b"7bit",
        }
    }
}

/// A Content-Type value: `type/subtype; params`. Broken values give what could be read
/// (`garbage` is type `garbage` with an empty subtype).
pub(crate) fn parse_content_type(value: &[u8]) -> ContentType {
    let mut c = Cursor::new(value);
    c.skip_cfws();
    let main = c.token().to_vec();
    c.skip_cfws();
    let sub = if c.eat(b'/') {
        c.skip_cfws();
        c.token().to_vec()
    } else {
        Vec::new()
    };
    ContentType {
        main,
        sub,
        params: parse_params(&mut c),
    }
}

/// `; name=value` pairs until something else comes; RFC 2231 continuations joined.
fn parse_params(c: &mut Cursor<'_>) -> Params {
    let mut raw = Vec::new();
    loop {
        c.skip_cfws();
        if !c.eat(b';') {
            break;
        }
        c.skip_cfws();
        if c.peek() == Some(b';') {
            continue;
        }
        let name = c.token().to_vec();
        c.skip_cfws();
        if name.is_empty() || !c.eat(b'=') {
            break;
        }
        c.skip_cfws();
        let value = c.param_value();
        raw.push((name, value));
    }
    join_continuations(raw)
}

/// RFC 2231: `name*0*=..; name*1=..` become one `name*` (or `name` when no segment is
/// extended) with the values concatenated in segment order, after the plain parameters (as
/// Dovecot does). Segments without a `*0` to start them stay as they are.
fn join_continuations(raw: Params) -> Params {
    struct Joined {
        base: Vec<u8>,
        extended: bool,
        segments: Vec<(u32, Vec<u8>)>,
    }
    let mut plain: Params = Vec::new();
    let mut joined: Vec<Joined> = Vec::new();
    for (name, value) in raw {
        let Some(star) = name.iter().position(|&b| b == b'*') else {
            plain.push((name, value));
            continue;
        };
        let rest = &name[star + 1..];
        let (digits, extended) = match rest.strip_suffix(b"*") {
            Some(d) => (d, true),
            None => (rest, false),
        };
        let index = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u32>().ok());
        let Some(index) = index else {
            plain.push((name, value));
            continue;
        };
        let base = name[..star].to_vec();
        match joined
            .iter_mut()
            .find(|j| j.base.eq_ignore_ascii_case(&base))
        {
            Some(j) => {
                j.extended |= extended;
                j.segments.push((index, value));
            }
            None => joined.push(Joined {
                base,
                extended,
                segments: vec![(index, value)],
            }),
        }
    }
    for mut j in joined {
        j.segments.sort_by_key(|(i, _)| *i);
        if j.segments[0].0 != 0 {
            for (i, v) in j.segments {
                let mut name = j.base.clone();
                name.extend_from_slice(format!("*{i}").as_bytes());
                plain.push((name, v));
            }
            continue;
        }
        let mut value = Vec::new();
        for (expected, (i, v)) in j.segments.iter().enumerate() {
            if *i as usize != expected {
                break;
            }
            value.extend_from_slice(v);
        }
        let mut name = j.base;
        if j.extended {
            name.push(b'*');
        }
        plain.push((name, value));
    }
    plain
}

/// Content-Language: language tags separated by commas and white space.
fn parse_language(value: &[u8]) -> Vec<Vec<u8>> {
    let mut c = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        c.skip_cfws();
        if c.at_end() {
            return out;
        }
        if c.eat(b',') {
            continue;
        }
        let t = c.token();
        if t.is_empty() {
            c.bump();
        } else {
            out.push(t.to_vec());
        }
    }
}
