//! SMTP AUTH (RFC 4954) on the submission listener: the PLAIN and LOGIN exchanges with their
//! `334` challenges. The password check itself is the handler's ([`MailHandler::authenticate`]);
//! this module only speaks the protocol:
//!
//! ```text
//!  AUTH PLAIN <ir>                      → 235 2.7.0 | 535 5.7.8 | 454 4.7.0
//!  AUTH PLAIN        → 334 ␠ → <resp>   → …
//!  AUTH LOGIN [<ir>] → 334 VXNlcm5hbWU6 → <user> → 334 UGFzc3dvcmQ6 → <pass> → …
//!  any response "*"                     → 501 5.0.0 cancelled
//! ```
//!
//! Whether AUTH may run at all (TLS, already authenticated, inside a transaction) is decided by
//! the session before calling [`exchange`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailstack_directory::sasl::{self, LOGIN_PASSWORD_PROMPT, LOGIN_USERNAME_PROMPT, SaslError};

use super::{Ending, Envelope, Io, MailHandler, SessionConfig, SessionStream};
use crate::lines::{Line, read_line};
use crate::reply::Reply;

/// Longest AUTH response line (RFC 4954 §4: at least 12288 octets must be accepted).
const MAX_RESPONSE_LINE: usize = 12288 + 2;

/// How an AUTH command ended.
pub(super) enum AuthResult {
    /// Logged in as this canonical address.
    Accepted(String),
    /// A wrong password (counts towards `max_auth_failures`).
    Rejected(Reply),
    /// Anything else: cancelled, undecodable, unsupported, temporarily unavailable.
    Failed(Reply),
}

/// The mechanisms we offer, as the EHLO keyword lists them.
pub(super) const OFFERED: &str = "AUTH PLAIN LOGIN";

/// Run the exchange of `AUTH <mechanism> [initial]` and check the credentials.
pub(super) async fn exchange<S: SessionStream, H: MailHandler>(
    io: &mut Io<S>,
    cfg: &SessionConfig,
    handler: &H,
    env: &Envelope,
    mechanism: u64,
    initial: &str,
) -> Result<AuthResult, Ending> {
    let initial = match initial {
        "" => None,
        // RFC 4954 §4: "=" is an initial response of zero length.
        "=" => Some(Vec::new()),
        ir => match BASE64.decode(ir) {
            Ok(b) => Some(b),
            Err(_) => return Ok(AuthResult::Failed(cannot_decode())),
        },
    };
    let (login, password) = if mechanism == smtp_proto::AUTH_PLAIN {
        let response = match initial {
            Some(r) => r,
            None => match challenge(io, cfg, b"").await? {
                Ok(r) => r,
                Err(reply) => return Ok(AuthResult::Failed(reply)),
            },
        };
        match sasl::decode_plain(&response) {
            Ok(c) => (c.login.to_string(), c.password.to_string()),
            Err(SaslError::Malformed) => return Ok(AuthResult::Failed(cannot_decode())),
            Err(SaslError::OtherAuthorization) => {
                return Ok(AuthResult::Rejected(Reply::new(
                    535,
                    "5.7.8",
                    "Cannot act as another user",
                )));
            }
        }
    } else if mechanism == smtp_proto::AUTH_LOGIN {
        let user = match initial {
            Some(u) => u,
            None => match challenge(io, cfg, LOGIN_USERNAME_PROMPT).await? {
                Ok(u) => u,
                Err(reply) => return Ok(AuthResult::Failed(reply)),
            },
        };
        let pass = match challenge(io, cfg, LOGIN_PASSWORD_PROMPT).await? {
            Ok(p) => p,
            Err(reply) => return Ok(AuthResult::Failed(reply)),
        };
        match (String::from_utf8(user), String::from_utf8(pass)) {
            (Ok(u), Ok(p)) if !u.is_empty() => (u, p),
            _ => return Ok(AuthResult::Failed(cannot_decode())),
        }
    } else {
        return Ok(AuthResult::Failed(Reply::new(
            504,
            "5.5.4",
            "Unrecognized authentication type (use PLAIN or LOGIN)",
        )));
    };
    Ok(match handler.authenticate(env, &login, &password).await {
        Ok(user) => AuthResult::Accepted(user),
        Err(reply) if reply.code == 535 => AuthResult::Rejected(reply),
        Err(reply) => AuthResult::Failed(reply),
    })
}

/// Send `334 <base64 prompt>` and read the client's response: its decoded bytes, or the reply
/// that ends the exchange (cancelled, undecodable, too long).
async fn challenge<S: SessionStream>(
    io: &mut Io<S>,
    cfg: &SessionConfig,
    prompt: &[u8],
) -> Result<Result<Vec<u8>, Reply>, Ending> {
    let mut out = format!("334 {}\r\n", BASE64.encode(prompt));
    io.send(&mut out, cfg.timeout).await?;
    let line =
        match tokio::time::timeout(cfg.timeout, read_line(&mut io.rd, MAX_RESPONSE_LINE, false))
            .await
        {
            Err(_) => return Err(Ending::Timeout),
            Ok(Err(_)) => return Err(Ending::IoError),
            Ok(Ok(Line::Eof)) => return Err(Ending::ClientClosed),
            Ok(Ok(Line::TooLong)) => {
                return Ok(Err(Reply::new(
                    500,
                    "5.5.6",
                    "Authentication exchange line too long",
                )));
            }
            Ok(Ok(Line::Complete(l) | Line::Partial(l))) => l,
        };
    let text = String::from_utf8_lossy(&line);
    let text = text.trim_end_matches(['\r', '\n']);
    if text == "*" {
        return Ok(Err(Reply::new(501, "5.0.0", "Authentication cancelled")));
    }
    Ok(BASE64.decode(text).map_err(|_| cannot_decode()))
}

fn cannot_decode() -> Reply {
    Reply::new(501, "5.5.2", "Cannot decode the authentication response")
}
