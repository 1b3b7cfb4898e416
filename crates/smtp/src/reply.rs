//! Every reply the SMTP/LMTP sessions send, in one table: code, enhanced status code
//! (RFC 3463) and text. Errors from the directory and the store are mapped to replies here and
//! nowhere else; an error we do not recognise is a temporary failure.

use std::fmt;

use mailstack_directory::DirectoryError;
use mailstack_store::StoreError;

/// One SMTP/LMTP reply: `250 2.1.5 Recipient OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic reply code (RFC 5321 §4.2).
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. `2.1.5`; empty for the greeting and LHLO/EHLO.
    pub enhanced: &'static str,
    /// Human-readable text; for multi-line replies, lines separated by `\n`.
    pub text: String,
}

impl Reply {
    /// A reply from its parts.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 4xx: try again later.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// Wire form, CRLF-terminated, multi-line with `code-` continuation.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let lines: Vec<&str> = self.text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            if self.enhanced.is_empty() {
                out.push_str(&format!("{}{sep}{line}\r\n", self.code));
            } else {
                out.push_str(&format!("{}{sep}{} {line}\r\n", self.code, self.enhanced));
            }
        }
        out
    }

    // --- The table ---------------------------------------------------------------------------

    /// 250 2.0.0 Ok.
    pub fn ok() -> Self {
        Self::new(250, "2.0.0", "Ok")
    }
    /// 250 2.1.0 after MAIL.
    pub fn sender_ok() -> Self {
        Self::new(250, "2.1.0", "Sender OK")
    }
    /// 250 2.1.5 after RCPT.
    pub fn recipient_ok() -> Self {
        Self::new(250, "2.1.5", "Recipient OK")
    }
    /// 354 after DATA.
    pub fn start_data() -> Self {
        Self::new(354, "", "Start mail input; end with <CRLF>.<CRLF>")
    }
    /// 250 2.0.0 after a delivery (`id` is the message's queue/session id).
    pub fn delivered(what: &str, id: &str) -> Self {
        Self::new(250, "2.0.0", format!("<{what}> {id} Saved"))
    }
    /// 221 2.0.0 after QUIT.
    pub fn bye() -> Self {
        Self::new(221, "2.0.0", "Bye")
    }
    /// 252 to VRFY: we do not disclose users.
    pub fn vrfy() -> Self {
        Self::new(
            252,
            "2.5.0",
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    /// 214 to HELP.
    pub fn help() -> Self {
        Self::new(214, "2.0.0", "See RFC 2033 (LMTP) and RFC 5321 (SMTP)")
    }
    /// 421: the service is going down.
    pub fn shutting_down(host: &str) -> Self {
        Self::new(
            421,
            "4.3.2",
            format!("{host} Service shutting down, try again later"),
        )
    }
    /// 421: idle too long.
    pub fn timeout(host: &str) -> Self {
        Self::new(
            421,
            "4.4.2",
            format!("{host} Timeout waiting for input, closing connection"),
        )
    }
    /// 421: too many connections.
    pub fn too_many_connections(host: &str) -> Self {
        Self::new(
            421,
            "4.7.0",
            format!("{host} Too many connections, try again later"),
        )
    }
    /// 421: too many errors.
    pub fn too_many_errors(host: &str) -> Self {
        Self::new(
            421,
            "4.7.0",
            format!("{host} Too many errors, closing connection"),
        )
    }
    /// 500 5.5.2: unrecognised command or syntax error.
    pub fn syntax(what: impl Into<String>) -> Self {
        Self::new(500, "5.5.2", what)
    }
    /// 500 5.5.2: command line too long.
    pub fn line_too_long() -> Self {
        Self::new(500, "5.5.2", "Line too long")
    }
    /// 501 5.5.4: bad parameters or arguments.
    pub fn bad_argument(what: impl Into<String>) -> Self {
        Self::new(501, "5.5.4", what)
    }
    /// 502 5.5.1: command not implemented here.
    pub fn not_implemented(cmd: &str) -> Self {
        Self::new(502, "5.5.1", format!("{cmd} not supported"))
    }
    /// 503 5.5.1: wrong order.
    pub fn bad_sequence(what: impl Into<String>) -> Self {
        Self::new(503, "5.5.1", what)
    }
    /// 555 5.5.4: MAIL/RCPT parameter not recognised.
    pub fn unsupported_parameter(param: &str) -> Self {
        Self::new(555, "5.5.4", format!("Unsupported parameter {param}"))
    }
    /// 550 5.1.1: no such user here.
    pub fn unknown_user(address: &str) -> Self {
        Self::new(550, "5.1.1", format!("<{address}> User unknown"))
    }
    /// 550 5.1.2: not a domain we deliver for.
    pub fn not_local_domain(address: &str) -> Self {
        Self::new(550, "5.1.2", format!("<{address}> Domain not handled here"))
    }
    /// 501 5.1.3: malformed address.
    pub fn bad_address(address: &str) -> Self {
        Self::new(501, "5.1.3", format!("<{address}> Bad address syntax"))
    }
    /// 452 4.5.3: too many recipients.
    pub fn too_many_recipients() -> Self {
        Self::new(452, "4.5.3", "Too many recipients")
    }
    /// 552 5.3.4: message too big (declared with SIZE or actually sent).
    pub fn too_big(limit: u64) -> Self {
        Self::new(
            552,
            "5.3.4",
            format!("Message size exceeds fixed limit of {limit} bytes"),
        )
    }
    /// 554 5.5.2: bare LF/CR in data (SMTP smuggling defence, like Postfix's
    /// `smtpd_forbid_bare_newline`).
    pub fn bare_newline() -> Self {
        Self::new(
            554,
            "5.5.2",
            "Message contains bare CR or LF line endings; use CRLF",
        )
    }
    /// 554 5.6.0: the message is not acceptable as sent.
    pub fn bad_message(what: impl Into<String>) -> Self {
        Self::new(554, "5.6.0", what)
    }
    /// 451 4.3.0: temporary local problem with no better code.
    pub fn temporary(what: impl Into<String>) -> Self {
        Self::new(451, "4.3.0", what)
    }

    /// Map a directory failure: always temporary unless the address itself is malformed.
    pub fn from_directory(err: &DirectoryError, address: &str) -> Self {
        match err {
            DirectoryError::BadAddress(_) => Self::bad_address(address),
            _ => Self::new(
                451,
                "4.3.0",
                "Directory temporarily unavailable, try again later",
            ),
        }
    }

    /// A Sieve `reject`/`ereject` (RFC 5429 §2.1: refused at LMTP time with the script's
    /// reason, on one line, without control characters).
    pub fn sieve_reject(address: &str, reason: &str) -> Self {
        let reason: String = reason
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .take(400)
            .collect();
        let reason = if reason.is_empty() {
            "Rejected by the recipient's filter".to_string()
        } else {
            reason
        };
        Self::new(550, "5.7.1", format!("<{address}> {reason}"))
    }

    /// A Sieve redirect could not be handed to the relay for now: the sender retries.
    pub fn sieve_relay_unavailable(address: &str) -> Self {
        Self::new(
            451,
            "4.4.1",
            format!("<{address}> Cannot forward the message now, try again later"),
        )
    }

    /// Map a store failure for one recipient. Quota is permanent (Dovecot's default), disk
    /// full and I/O errors are temporary, an unknown error is temporary.
    pub fn from_store(err: &StoreError, address: &str) -> Self {
        match err {
            StoreError::QuotaExceeded { .. } => Self::new(
                552,
                "5.2.2",
                format!("<{address}> Mailbox is full (quota exceeded)"),
            ),
            e if is_disk_full(e) => Self::new(
                452,
                "4.3.1",
                format!("<{address}> Insufficient system storage"),
            ),
            e if !e.is_temporary() => {
                Self::new(550, "5.2.0", format!("<{address}> Mailbox unavailable"))
            }
            _ => Self::new(
                451,
                "4.2.0",
                format!("<{address}> Temporary failure writing mailbox, try again later"),
            ),
        }
    }
}

/// ENOSPC or EDQUOT underneath a store error.
fn is_disk_full(err: &StoreError) -> bool {
    use std::io::ErrorKind;
    matches!(err, StoreError::Io { source, .. }
        if matches!(source.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_wire().trim_end())
    }
}
