//! Mailbox names between the wire and the store: modified UTF-7 (RFC 3501 §5.1.3), or UTF-8
//! once the client enabled UTF8=ACCEPT (RFC 6855). Every name a mailbox command reads or
//! writes goes through here, with the session's [`Session::utf8_accept`](super::Session).

use mailstack_store::{decode_mutf7, encode_mutf7};

use super::convert::mailbox_name;
use super::reply::Done;
use super::{ImapStream, Session};
use crate::proto::Mailbox;

/// A store name (UTF-8) as the client sees it.
pub(super) fn to_wire(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_string()
    } else {
        encode_mutf7(name)
    }
}

/// A client's mailbox name as the store's name, validated (nothing that could leave the
/// Maildir); a trailing separator is dropped.
pub(super) fn from_wire(wire: &str, utf8: bool) -> Result<String, Done> {
    if utf8 {
        // The same checks as for a modified UTF-7 name; encoding first makes `&` literal.
        mailbox_name(&encode_mutf7(wire))
    } else {
        mailbox_name(wire)
    }
}

/// A LIST pattern (reference and pattern joined) as store characters; an invalid modified
/// UTF-7 pattern is taken literally (it then matches nothing of ours).
pub(super) fn pattern_from_wire(pattern: &str, utf8: bool) -> Vec<char> {
    let decoded = if utf8 {
        pattern.to_string()
    } else {
        decode_mutf7(pattern).unwrap_or_else(|_| pattern.to_string())
    };
    decoded.chars().collect()
}

impl<S: ImapStream> Session<S> {
    /// [`to_wire`] for this session.
    pub(super) fn wire_name(&self, name: &str) -> String {
        to_wire(name, self.utf8_accept)
    }

    /// [`from_wire`] for this session.
    pub(super) fn store_name(&self, mailbox: &Mailbox) -> Result<String, Done> {
        from_wire(mailbox.as_str(), self.utf8_accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_both_encodings() {
        assert_eq!(to_wire("Ärger", false), "&AMQ-rger");
        assert_eq!(to_wire("Ärger", true), "Ärger");
        assert_eq!(from_wire("&AMQ-rger", false).unwrap(), "Ärger");
        assert_eq!(from_wire("Ärger", true).unwrap(), "Ärger");
        // With UTF8=ACCEPT, `&` is an ordinary character.
        assert_eq!(from_wire("A&B", true).unwrap(), "A&B");
        assert_eq!(from_wire("inbox", true).unwrap(), "INBOX");
        assert!(from_wire("../x", true).is_err());
        assert!(from_wire("a/b", false).is_err());
        assert_eq!(pattern_from_wire("&AMQ-*", false), vec!['Ä', '*']);
        assert_eq!(pattern_from_wire("&AMQ-*", true).len(), 6);
    }
}
