//! The SASL mechanisms every login of mailstack speaks (IMAP AUTHENTICATE, SMTP AUTH): the
//! decoding of their client responses, shared so that IMAP and submission accept exactly the
//! same thing.
//!
//! - PLAIN (RFC 4616): one response `authzid NUL authcid NUL passwd`. An authorization
//!   identity other than the login itself (acting as another user) is refused.
//! - LOGIN (draft-murchison-sasl-login): the user name and the password, each in its own
//!   response, after the prompts [`LOGIN_USERNAME_PROMPT`] and [`LOGIN_PASSWORD_PROMPT`].

/// The first LOGIN prompt (clients expect exactly this text).
pub const LOGIN_USERNAME_PROMPT: &[u8] = b"Username:";
/// The second LOGIN prompt.
pub const LOGIN_PASSWORD_PROMPT: &[u8] = b"Password:";

/// A login name and password taken from a SASL response.
pub struct Credentials<'a> {
    /// The login (authentication identity).
    pub login: &'a str,
    /// The password; never log it.
    pub password: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// Why a SASL response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not three NUL-separated UTF-8 fields.
    #[error("malformed PLAIN response")]
    Malformed,
    /// The authorization identity names someone else.
    #[error("cannot act as another user")]
    OtherAuthorization,
}

/// Decode a PLAIN response (already base64-decoded).
pub fn decode_plain(data: &[u8]) -> Result<Credentials<'_>, SaslError> {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let [authz, authc, pass] = parts.as_slice() else {
        return Err(SaslError::Malformed);
    };
    let (Ok(authz), Ok(login), Ok(password)) = (
        std::str::from_utf8(authz),
        std::str::from_utf8(authc),
        std::str::from_utf8(pass),
    ) else {
        return Err(SaslError::Malformed);
    };
    if login.is_empty() {
        return Err(SaslError::Malformed);
    }
    if !authz.is_empty() && authz != login {
        return Err(SaslError::OtherAuthorization);
    }
    Ok(Credentials { login, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses_are_decoded_and_checked() {
        let c = decode_plain(b"\0alice@example.com\0secret").unwrap();
        assert_eq!((c.login, c.password), ("alice@example.com", "secret"));
        let c = decode_plain(b"bob\0bob\0pw").unwrap();
        assert_eq!((c.login, c.password), ("bob", "pw"));
        assert_eq!(
            decode_plain(b"admin\0bob\0pw").unwrap_err(),
            SaslError::OtherAuthorization
        );
        for bad in [
            &b"bob\0pw"[..],
            b"\0\0pw",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
            b"",
        ] {
            assert_eq!(
                decode_plain(bad).unwrap_err(),
                SaslError::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let c = decode_plain(b"\0alice\0hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
