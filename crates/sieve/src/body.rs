//! The `body` test's transforms (RFC 5173 §5): which MIME parts are compared, decoded how.
//! MIME parsing and content-transfer/charset decoding are mail-parser's.

use mail_parser::{MessagePart, MimeHeaders, PartType};

use crate::message::Message;

/// Does a part of type `ctype/subtype` match one of the `:content` types? `""` matches every
/// part, `"text"` every `text/*` part, `"text/html"` exactly (case-insensitive).
fn type_matches(types: &[String], ctype: &str, subtype: &str) -> bool {
    types.iter().any(|t| {
        let t = t.trim();
        if t.is_empty() {
            return true;
        }
        match t.split_once('/') {
            Some((a, b)) => a.eq_ignore_ascii_case(ctype) && b.eq_ignore_ascii_case(subtype),
            None => t.eq_ignore_ascii_case(ctype),
        }
    })
}

/// The decoded contents of every leaf part whose type matches `types`, in message order,
/// descending into attached messages. `text/html` parts are converted to plain text when
/// `types` is the `:text` default (`["text"]`). Multipart containers (their prologue and
/// epilogue) are not matched.
pub(crate) fn parts(msg: &Message<'_>, types: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = msg.parsed() {
        let text_mode = types.len() == 1 && types[0] == "text";
        collect(m, types, text_mode, &mut out, 0);
    }
    out
}

fn collect(
    m: &mail_parser::Message<'_>,
    types: &[String],
    text_mode: bool,
    out: &mut Vec<String>,
    depth: usize,
) {
    for part in &m.parts {
        leaf(part, types, text_mode, out, depth);
    }
}

fn leaf(
    part: &MessagePart<'_>,
    types: &[String],
    text_mode: bool,
    out: &mut Vec<String>,
    depth: usize,
) {
    let (ctype, subtype) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_string(),
            ct.subtype().unwrap_or("").to_string(),
        ),
        None => ("text".to_string(), "plain".to_string()),
    };
    match &part.body {
        PartType::Multipart(_) => {}
        PartType::Message(inner) => {
            if type_matches(types, &ctype, &subtype) && !text_mode {
                out.push(String::from_utf8_lossy(inner.raw_message()).into_owned());
            }
            if depth < 8 {
                collect(inner, types, text_mode, out, depth + 1);
            }
        }
        PartType::Html(t) if text_mode => out.push(mail_parser::decoders::html::html_to_text(t)),
        PartType::Text(t) | PartType::Html(t) => {
            if type_matches(types, &ctype, &subtype) {
                out.push(t.to_string());
            }
        }
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            if type_matches(types, &ctype, &subtype) {
                out.push(String::from_utf8_lossy(b).into_owned());
            }
        }
    }
}
