//! Replies the session builds itself: the EHLO/LHLO capability list, parser errors, and the
//! check of a declared `SIZE=`.

use super::{Mode, SessionConfig};
use crate::reply::Reply;

/// `250-host` + extensions. STARTTLS only when offered (SMTP modes, certificate configured,
/// not yet in TLS); CHUNKING and SMTPUTF8/DSN only in SMTP modes.
/// AUTH only when offered (submission, and TLS active unless plaintext AUTH is allowed).
pub(super) fn ehlo_reply(cfg: &SessionConfig, offer_tls: bool, offer_auth: bool) -> Reply {
    let mut lines = vec![cfg.hostname.clone(), "PIPELINING".into()];
    lines.push(format!("SIZE {}", cfg.max_message_size));
    if offer_tls {
        lines.push("STARTTLS".into());
    }
    if offer_auth {
        lines.push(super::auth::OFFERED.into());
    }
    lines.push("8BITMIME".into());
    lines.push("ENHANCEDSTATUSCODES".into());
    if cfg.mode == Mode::Lmtp {
        lines.push("XFORWARD IDENT".into());
    } else {
        lines.push("SMTPUTF8".into());
        lines.push("DSN".into());
        lines.push("CHUNKING".into());
    }
    Reply::new(250, "", lines.join("\n"))
}

/// Whether MAIL's `SIZE=` exceeds the limit. The parser saturates on absurd values, so the
/// digits are also checked here: more than 19 digits is always too big.
pub(super) fn declared_size_too_big(line: &[u8], parsed: usize, limit: u64) -> bool {
    let text = String::from_utf8_lossy(line).to_ascii_uppercase();
    let huge = text.split_ascii_whitespace().any(|param| {
        param
            .strip_prefix("SIZE=")
            .is_some_and(|digits| digits.len() > 19 || digits.parse::<u64>().is_err())
    });
    huge || parsed as u64 > limit
}

/// The reply to a line the parser refused.
pub(super) fn parse_error_reply(e: &smtp_proto::Error, line: &[u8]) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => {
            let verb: String = String::from_utf8_lossy(line)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(16)
                .collect();
            if verb.is_empty() {
                Reply::syntax("Empty command")
            } else {
                Reply::syntax(format!("Command unrecognized: {verb}"))
            }
        }
        E::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        E::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        E::SyntaxError { syntax } => Reply::bad_argument(format!("Syntax: {syntax}")),
        E::InvalidParameter { param } => Reply::bad_argument(format!("Invalid parameter {param}")),
        E::UnsupportedParameter { param } => Reply::unsupported_parameter(param),
        _ => Reply::syntax("Syntax error"),
    }
}

/// `XFORWARD ...` (Postfix's extension; LMTP only, where the client is our own MTA).
pub(super) fn is_xforward(line: &[u8]) -> bool {
    line.len() > 9 && line[..9].eq_ignore_ascii_case(b"XFORWARD ")
}

/// The `IDENT=` attribute of an XFORWARD line (the client's queue id), if given. Other
/// attributes are accepted and ignored: we do not let them rewrite trace headers.
pub(super) fn xforward_ident(line: &[u8]) -> Result<Option<String>, Reply> {
    let text = String::from_utf8_lossy(&line[9..]);
    let mut ident = None;
    for attr in text.split_ascii_whitespace() {
        let Some((name, value)) = attr.split_once('=') else {
            return Err(Reply::bad_argument(format!(
                "Bad XFORWARD attribute {attr:?}"
            )));
        };
        if name.eq_ignore_ascii_case("IDENT") {
            if value.is_empty()
                || value.len() > 64
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(Reply::bad_argument("Bad XFORWARD IDENT"));
            }
            ident = Some(value.to_string());
        }
    }
    Ok(ident)
}
