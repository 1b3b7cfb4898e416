//! What submission reads from and adds to a message's header (RFC 6409 §8): the `From:` and
//! `Sender:` addresses to check against the login, and the `Message-ID:`, `Date:` and `From:`
//! fields a client left out.

use mail_parser::MessageParser;

/// The parts of a header section that submission looks at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Addresses of every `From:` field (lower-case domain not applied).
    pub from: Vec<String>,
    /// Addresses of `Sender:`.
    pub sender: Vec<String>,
    /// A `From:` field is present (even if its addresses could not be parsed).
    pub has_from: bool,
    /// A `Message-ID:` field is present.
    pub has_message_id: bool,
    /// A `Date:` field is present.
    pub has_date: bool,
}

/// Byte offset just past the header section's last field (before the empty line), or the
/// message length when there is no body separator.
pub fn header_end(message: &[u8]) -> usize {
    if message.starts_with(b"\r\n") {
        return 0;
    }
    message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2)
}

/// Read the facts of the header section of `message`.
pub fn inspect(message: &[u8]) -> HeaderFacts {
    let header = &message[..header_end(message)];
    let mut facts = HeaderFacts::default();
    for line in header.split(|&b| b == b'\n') {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon])
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "from" => facts.has_from = true,
            "message-id" => facts.has_message_id = true,
            "date" => facts.has_date = true,
            _ => {}
        }
    }
    if let Some(parsed) = MessageParser::new().parse_headers(header) {
        let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|addr| addr.address.as_ref().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
        };
        facts.from = addresses(parsed.from());
        facts.sender = addresses(parsed.sender());
    }
    facts
}

/// `message` with `prefix` (trace and signature fields) before it and `missing` fields added
/// at the end of its header section.
pub fn assemble(prefix: &str, message: &[u8], missing: &str) -> Vec<u8> {
    let end = header_end(message);
    let mut out = Vec::with_capacity(prefix.len() + message.len() + missing.len() + 2);
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&message[..end]);
    if end == message.len() && !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(missing.as_bytes());
    if end == message.len() {
        // No body: end the header section ourselves.
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(&message[end..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_from_the_header_only() {
        let m = b"From: Alice <alice@example.com>, bob@example.com\r\nSender: alice@example.com\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nSubject: x\r\n\r\nMessage-ID: <in-body@x>\r\n";
        let f = inspect(m);
        assert_eq!(f.from, ["alice@example.com", "bob@example.com"]);
        assert_eq!(f.sender, ["alice@example.com"]);
        assert!(f.has_from && f.has_date && !f.has_message_id);
    }

    #[test]
    fn folded_and_odd_case_fields_are_found() {
        let m = b"fROM:\r\n Alice <alice@example.com>\r\nMESSAGE-ID: <a@b>\r\n\r\nbody";
        let f = inspect(m);
        assert_eq!(f.from, ["alice@example.com"]);
        assert!(f.has_from && f.has_message_id && !f.has_date);
    }

    #[test]
    fn missing_fields_go_at_the_end_of_the_header() {
        let m = b"Subject: x\r\n\r\nbody\r\n";
        let out = assemble("Received: r\r\n", m, "Date: d\r\n");
        assert_eq!(out, b"Received: r\r\nSubject: x\r\nDate: d\r\n\r\nbody\r\n");
        let headers_only = b"Subject: x\r\n";
        assert_eq!(
            assemble("", headers_only, "Date: d\r\n"),
            b"Subject: x\r\nDate: d\r\n\r\n"
        );
        let no_header = b"\r\nbody";
        assert_eq!(
            assemble("", no_header, "Date: d\r\n"),
            b"Date: d\r\n\r\nbody"
        );
    }
}
