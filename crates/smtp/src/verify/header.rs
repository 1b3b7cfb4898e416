//! Assembling the `Authentication-Results` header field (RFC 8601) from mail-auth's outputs.
//!
//! mail-auth writes each method's `resinfo` (and sanitizes the values it copies from the
//! client: HELO, MAIL FROM, domains); this module puts them in a fixed order (spf, dkim,
//! dmarc, arc), adds `dkim=none` / `dmarc=none` where mail-auth writes nothing, folds lines
//! longer than 78 characters, and makes sure the result has no bare CR or LF.

use mail_auth::{ArcOutput, AuthenticationResults, DkimOutput, DmarcOutput, SpfOutput};

use super::VerifyInput;

/// The outputs of one verification, borrowed for writing the header.
pub(super) struct Results<'a, 'x> {
    pub(super) spf: &'a SpfOutput,
    pub(super) dkim: &'a [DkimOutput<'x>],
    pub(super) dmarc: &'a DmarcOutput,
    pub(super) arc: &'a ArcOutput<'x>,
    /// The first RFC 5322 From: address (used by mail-auth for ATPS results only).
    pub(super) header_from: &'a str,
}

/// Folding target (RFC 5322 section 2.1.1 "SHOULD be no more than 78 characters").
const FOLD_AT: usize = 78;

/// `Authentication-Results: <auth_serv_id>;<CRLF><TAB>spf=...;<CRLF><TAB>dkim=...` + CRLF.
pub(super) fn authentication_results(
    auth_serv_id: &str,
    input: &VerifyInput<'_>,
    results: Results<'_, '_>,
) -> String {
    let new = || AuthenticationResults::new(auth_serv_id);
    let mut value = String::with_capacity(512);
    value.push_str(auth_serv_id);

    let spf =
        new().with_spf_mailfrom_result(results.spf, input.client_ip, input.mail_from, input.helo);
    push_resinfo(&mut value, auth_serv_id, &spf);

    if results.dkim.is_empty() {
        value.push_str(";\r\n\tdkim=none");
    } else {
        let dkim = new().with_dkim_results(results.dkim, results.header_from);
        push_resinfo(&mut value, auth_serv_id, &dkim);
    }

    if results.dmarc.domain().is_empty() {
        // No (single) From: domain: DMARC does not apply and there is no header.from to name.
        value.push_str(";\r\n\tdmarc=none");
    } else {
        let dmarc = new().with_dmarc_result(results.dmarc);
        push_resinfo(&mut value, auth_serv_id, &dmarc);
    }

    let arc = new().with_arc_result(results.arc, input.client_ip);
    push_resinfo(&mut value, auth_serv_id, &arc);

    let mut header = String::with_capacity(value.len() + 32);
    header.push_str("Authentication-Results: ");
    header.push_str(&value);
    let mut header = fold(&only_crlf_folds(&header));
    header.push_str("\r\n");
    header
}

/// Appends the `;<CRLF><TAB>method=result ...` part mail-auth wrote after the authserv-id.
fn push_resinfo(value: &mut String, auth_serv_id: &str, results: &AuthenticationResults<'_>) {
    let text = results.to_string();
    value.push_str(text.strip_prefix(auth_serv_id).unwrap_or(&text));
}

/// Keeps CR LF only as part of a fold (CRLF followed by a space or tab); drops every other CR,
/// LF and control character except tab, so no value can end the header or start a new one.
pub(super) fn only_crlf_folds(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    for (pos, ch) in text.char_indices() {
        if pos < i {
            continue; // part of a CRLF already copied
        }
        if ch == '\r'
            && bytes.get(pos + 1) == Some(&b'\n')
            && matches!(bytes.get(pos + 2), Some(b' ' | b'\t'))
        {
            out.push_str("\r\n");
            i = pos + 2;
            continue;
        }
        if ch == '\t' || !ch.is_control() {
            out.push(ch);
        }
    }
    out
}

/// Folds every line longer than [`FOLD_AT`] by inserting CRLF before a space or tab that lies
/// outside a quoted string, as late as possible within the limit (or as early as possible
/// after it when there is no such place). Unfolding gives back the input exactly.
pub(super) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (n, line) in text.split("\r\n").enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        fold_line(line, &mut out);
    }
    out
}

fn fold_line(mut line: &str, out: &mut String) {
    loop {
        if line.len() <= FOLD_AT {
            out.push_str(line);
            return;
        }
        let places = fold_places(line);
        let Some(at) = places
            .iter()
            .rev()
            .find(|&&p| p <= FOLD_AT)
            .or_else(|| places.first())
            .copied()
        else {
            out.push_str(line);
            return;
        };
        out.push_str(&line[..at]);
        out.push_str("\r\n");
        line = &line[at..];
    }
}

/// Byte offsets of spaces/tabs outside quoted strings that follow a non-blank character
/// (folding elsewhere could leave a line of only white space).
fn fold_places(line: &str) -> Vec<usize> {
    let mut places = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (pos, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if !quoted
            && matches!(b, b' ' | b'\t')
            && pos > 0
            && !matches!(bytes[pos - 1], b' ' | b'\t')
        {
            places.push(pos);
        }
    }
    places
}
