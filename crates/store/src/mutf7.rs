//! IMAP modified UTF-7 (RFC 3501 §5.1.3), the encoding of folder names on
//! disk (Dovecot's Maildir++ layout without `UTF8`).

/// Error from [`decode_mutf7`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid modified UTF-7: {0}")]
pub struct Mutf7Error(pub &'static str);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&x| x == c).map(|p| p as u32)
}

/// Encode a UTF-8 mailbox name into IMAP modified UTF-7.
///
/// Printable ASCII stays as is, `&` becomes `&-`, everything else is
/// base64 (with `,` for `/`) of its UTF-16BE form between `&` and `-`.
pub fn encode_mutf7(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let n = match chunk.len() {
            3 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]),
            2 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8),
            _ => u32::from(chunk[0]) << 16,
        };
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(B64[idx as usize] as char);
        }
    }
    out.push('-');
    pending.clear();
}

/// Decode an IMAP modified UTF-7 name into UTF-8.
///
/// Strict: non-printable or non-ASCII input, an unterminated `&` section,
/// bad base64, non-zero padding bits, invalid UTF-16 and printable ASCII
/// encoded in base64 are refused.
pub fn decode_mutf7(s: &str) -> Result<String, Mutf7Error> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Mutf7Error("non-printable or non-ASCII character"));
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = bytes[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| i + 1 + p)
            .ok_or(Mutf7Error("unterminated '&' section"))?;
        let section = &bytes[i + 1..end];
        i = end + 1;
        if section.is_empty() {
            out.push('&');
            continue;
        }
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut units: Vec<u16> = Vec::new();
        let mut pending_byte: Option<u8> = None;
        for &c in section {
            let v = b64_value(c).ok_or(Mutf7Error("invalid base64 character"))?;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                let byte = ((acc >> bits) & 0xff) as u8;
                match pending_byte.take() {
                    None => pending_byte = Some(byte),
                    Some(hi) => units.push(u16::from_be_bytes([hi, byte])),
                }
            }
        }
        if pending_byte.is_some() || (acc & ((1 << bits) - 1)) != 0 {
            return Err(Mutf7Error("bad base64 padding"));
        }
        let decoded: String = char::decode_utf16(units.iter().copied())
            .collect::<Result<String, _>>()
            .map_err(|_| Mutf7Error("invalid UTF-16"))?;
        if decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(Mutf7Error("printable ASCII must not be base64 encoded"));
        }
        out.push_str(&decoded);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        assert_eq!(encode_mutf7("Ärger"), "&AMQ-rger");
        assert_eq!(decode_mutf7("&AMQ-rger").unwrap(), "Ärger");
        assert_eq!(
            encode_mutf7("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode_mutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode_mutf7("A&B"), "A&-B");
        assert_eq!(decode_mutf7("A&-B").unwrap(), "A&B");
    }

    #[test]
    fn round_trip() {
        for s in [
            "INBOX",
            "Sent",
            "Work.Projects",
            "Entwürfe",
            "Корзина",
            "送信済み",
            "emoji 😀 here",
            "&&",
            "a&b€c",
            "",
        ] {
            let e = encode_mutf7(s);
            assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{e}");
            assert_eq!(
                decode_mutf7(&e).unwrap(),
                s,
                "round trip of {s:?} via {e:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(decode_mutf7("&AMQ").is_err());
        assert!(decode_mutf7("&A!-").is_err());
        assert!(decode_mutf7("Ä").is_err());
        assert!(decode_mutf7("a\tb").is_err());
        // "A" encoded in base64 must be refused (non-canonical).
        assert!(decode_mutf7("&AEE-").is_err());
        // Lone high surrogate.
        assert!(decode_mutf7("&2D0-").is_err());
    }
}
