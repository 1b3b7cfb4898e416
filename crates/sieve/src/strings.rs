//! Compile-time string processing: `encoded-character` (RFC 5228 §2.4.2.4) and the
//! `${name}` template syntax of `variables` (RFC 5229 §3).

use crate::error::CompileError;
use crate::ir::{Piece, Value};
use crate::lexer::Pos;

/// Replaces `${hex:…}` and `${unicode:…}` sequences. A sequence that does not match the grammar
/// is left alone; a well-formed one with an invalid value is an error.
pub(crate) fn decode_encoded(s: &str, pos: Pos) -> Result<String, CompileError> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        match encoded_seq(tail, pos)? {
            Some((decoded, used)) => {
                out.push_str(&decoded);
                rest = &tail[used..];
            }
            None => {
                out.push_str("${");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `hex:41 42}` / `unicode:263a}` at the start of `t`; returns the decoded text and the
/// number of bytes used (including the closing brace).
fn encoded_seq(t: &str, pos: Pos) -> Result<Option<(String, usize)>, CompileError> {
    let lower: String = t.chars().take(8).collect::<String>().to_ascii_lowercase();
    let (unicode, start) = if lower.starts_with("hex:") {
        (false, 4)
    } else if lower.starts_with("unicode:") {
        (true, 8)
    } else {
        return Ok(None);
    };
    let Some(end) = t[start..].find('}') else {
        return Ok(None);
    };
    let body = &t[start..start + end];
    let mut words = Vec::new();
    for w in body.split([' ', '\t', '\r', '\n']) {
        if w.is_empty() {
            continue;
        }
        if !w.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        words.push(w);
    }
    if !unicode {
        let mut bytes = Vec::new();
        for w in words {
            let w = w.trim_start_matches('0');
            if w.len() > 2 {
                return Ok(None);
            }
            bytes.push(u8::from_str_radix(if w.is_empty() { "0" } else { w }, 16).unwrap_or(0));
        }
        let s = String::from_utf8(bytes)
            .map_err(|_| pos.err("${hex:…} does not decode to valid UTF-8"))?;
        return Ok(Some((s, start + end + 1)));
    }
    let mut s = String::new();
    for w in words {
        let w = w.trim_start_matches('0');
        if w.len() > 6 {
            return Err(pos.err("${unicode:…} value out of range"));
        }
        let n = u32::from_str_radix(if w.is_empty() { "0" } else { w }, 16).unwrap_or(0);
        let c = char::from_u32(n)
            .ok_or_else(|| pos.err(format!("${{unicode:{w}}} is not a Unicode scalar value")))?;
        s.push(c);
    }
    Ok(Some((s, start + end + 1)))
}

/// Checks a variable name as used by `set` (RFC 5229 §3: identifier, with `.`-separated
/// namespace components; `set` may not assign to match variables or namespaces).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Splits `s` into a template when `variables` is in use. `${` sequences whose contents are not
/// a variable name are literal text (RFC 5229 §3); names with a namespace are an error since
/// we support no variable namespaces.
pub(crate) fn template(s: &str, pos: Pos, max_len: usize) -> Result<Value, CompileError> {
    if !s.contains("${") {
        return Ok(Value::Lit(s.to_string()));
    }
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        lit.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let end = tail.find('}');
        let name = end.map(|e| &tail[..e]);
        match name {
            Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                let idx = n
                    .trim_start_matches('0')
                    .parse::<usize>()
                    .unwrap_or(if n.len() <= 20 { 0 } else { usize::MAX });
                pieces.push(Piece::Match(idx));
                rest = &tail[n.len() + 1..];
            }
            Some(n) if !n.is_empty() && n.split('.').all(is_identifier) => {
                if n.contains('.') {
                    return Err(pos.err(format!("unknown variable namespace in \"${{{n}}}\"")));
                }
                if n.len() > max_len {
                    return Err(pos.err(format!("variable name \"{n}\" too long")));
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Var(n.to_ascii_lowercase()));
                rest = &tail[n.len() + 1..];
            }
            _ => {
                lit.push_str("${");
                rest = tail;
            }
        }
    }
    lit.push_str(rest);
    if pieces.is_empty() {
        return Ok(Value::Lit(lit));
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(Value::Tpl(pieces))
}
