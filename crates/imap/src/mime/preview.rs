//! PREVIEW (RFC 8970): the start of the message's text for a message list. The first
//! `text/plain` or `text/html` part that is not an attachment (looking through multiparts, not
//! into attached messages) is decoded (transfer encoding, then charset to UTF-8), HTML is
//! reduced to its text, quoted lines (`>`) of plain text are left out (as Dovecot does),
//! white space is collapsed to single spaces, and at most [`PREVIEW_CHARS`] characters are
//! kept. No text part gives an empty preview.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;

use super::decode::Cte;
use super::structure::{Kind, Structure};

/// The longest preview, in characters (RFC 8970 allows 256; Dovecot sends 200).
pub(crate) const PREVIEW_CHARS: usize = 200;
/// How much of the text part is decoded at most: enough for any preview.
const MAX_INPUT: usize = 256 * 1024;

/// The preview of the message `raw` split into `s`.
pub(crate) fn preview(raw: &[u8], s: &Structure) -> String {
    let Some(idx) = first_text(s, 0) else {
        return String::new();
    };
    let part = &s.parts[idx];
    let body = &raw[part.body_range()];
    let body = &body[..body.len().min(MAX_INPUT)];
    let cte = Cte::of(part.fields.encoding.as_deref());
    let decoded = cte.decode(body).unwrap_or_else(|| body.to_vec());
    let text = match part.content_type.param("charset").and_then(charset_decoder) {
        Some(decode) => decode(&decoded),
        None => String::from_utf8_lossy(&decoded).into_owned(),
    };
    let text = if part.content_type.is("text", Some("html")) {
        html_to_text(&text)
    } else {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('>'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    collapse(&text, PREVIEW_CHARS)
}

/// The first text/plain or text/html part that is not an attachment.
fn first_text(s: &Structure, idx: usize) -> Option<usize> {
    let p = &s.parts[idx];
    match &p.kind {
        Kind::Multipart(children) => children.iter().find_map(|&c| first_text(s, c)),
        Kind::Leaf => {
            let ct = &p.content_type;
            let text = ct.is("text", Some("plain")) || ct.is("text", Some("html"));
            let attachment = p
                .fields
                .disposition
                .as_ref()
                .is_some_and(|(v, _)| v.eq_ignore_ascii_case(b"attachment"));
            (text && !attachment).then_some(idx)
        }
        Kind::Message(_) => None,
    }
}

/// Runs of white space as one space, no leading or trailing space, control characters
/// dropped, at most `max` characters.
pub(crate) fn collapse(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if space {
            if count + 1 >= max {
                break;
            }
            out.push(' ');
            count += 1;
            space = false;
        }
        if count >= max {
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}
