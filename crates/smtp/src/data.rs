//! The DATA phase as a pure state machine: dot-unstuffing, end-of-data detection and the
//! SMTP-smuggling defence.
//!
//! Only `<CRLF>.<CRLF>` ends the data. A bare LF or a bare CR never ends it and never starts a
//! new line for the purpose of finding the end (so `\n.\n`, `\r.\n` and `\n.\r\n` are message
//! content). Depending on [`BareNewlines`], bare line endings make the message rejected at the end
//! (`554 5.5.2`), or are rewritten to CRLF.

/// Policy for bare CR / LF in message data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNewlines {
    /// Accept the data but refuse the message when it is complete.
    Reject,
    /// Rewrite each bare CR or LF to CRLF.
    Normalize,
}

impl std::str::FromStr for BareNewlines {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reject" => Ok(BareNewlines::Reject),
            "normalize" => Ok(BareNewlines::Normalize),
            _ => Err(format!("{s:?}: expected \"reject\" or \"normalize\"")),
        }
    }
}

/// What the parser made of one piece of input.
#[derive(Debug, PartialEq, Eq)]
pub enum DataStep {
    /// Append these bytes to the message (may be empty).
    Content(Vec<u8>),
    /// The terminating `.` line was seen; the message is complete.
    End,
}

/// Incremental DATA parser; feed it what [`crate::lines::read_line`] returns.
#[derive(Debug)]
pub struct DataParser {
    policy: BareNewlines,
    /// The next piece starts a new line (the previous ended with CRLF).
    at_line_start: bool,
    bare_seen: bool,
    size: u64,
}

impl DataParser {
    /// A parser at the start of the message.
    pub fn new(policy: BareNewlines) -> Self {
        DataParser {
            policy,
            at_line_start: true,
            bare_seen: false,
            size: 0,
        }
    }

    /// Whether a bare CR or LF was seen (only meaningful with [`BareNewlines::Reject`]).
    pub fn saw_bare_newline(&self) -> bool {
        self.bare_seen
    }

    /// Bytes of content produced so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feed one line (`complete`: it ends with LF) or one piece of a longer line.
    pub fn push(&mut self, piece: &[u8], complete: bool) -> DataStep {
        let starts_line = self.at_line_start;
        let ends_crlf = complete && piece.ends_with(b"\r\n");
        if starts_line && ends_crlf && piece == b".\r\n" {
            return DataStep::End;
        }
        let mut body = piece;
        if starts_line && body.first() == Some(&b'.') {
            body = &body[1..];
        }
        // Everything but a final CRLF is inspected for bare CR / LF.
        let (inner, ending): (&[u8], &[u8]) = if ends_crlf {
            (&body[..body.len() - 2], b"\r\n")
        } else if complete {
            (&body[..body.len() - 1], b"\n")
        } else {
            (body, b"")
        };
        let bare_ending = complete && !ends_crlf;
        let bare_inside = inner.iter().any(|&b| b == b'\r' || b == b'\n');
        let out = if bare_ending || bare_inside {
            self.bare_seen = true;
            match self.policy {
                BareNewlines::Reject => body.to_vec(),
                BareNewlines::Normalize => {
                    let mut v = Vec::with_capacity(body.len() + 8);
                    for &b in inner {
                        if b == b'\r' || b == b'\n' {
                            v.extend_from_slice(b"\r\n");
                        } else {
                            v.push(b);
                        }
                    }
                    if !ending.is_empty() {
                        v.extend_from_slice(b"\r\n");
                    }
                    v
                }
            }
        } else {
            body.to_vec()
        };
        // A bare LF does not start a new line: `\n.\n` can never end the data.
        self.at_line_start = ends_crlf;
        self.size += out.len() as u64;
        DataStep::Content(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split like read_line does (on LF) and run the parser; return (content, ended, bare).
    fn run(input: &[u8], policy: BareNewlines) -> (Vec<u8>, bool, bool) {
        let mut p = DataParser::new(policy);
        let mut out = Vec::new();
        for line in input.split_inclusive(|&b| b == b'\n') {
            match p.push(line, line.ends_with(b"\n")) {
                DataStep::Content(c) => out.extend(c),
                DataStep::End => return (out, true, p.saw_bare_newline()),
            }
        }
        (out, false, p.saw_bare_newline())
    }

    #[test]
    fn plain_message_and_dot_unstuffing() {
        let (m, end, bare) = run(
            b"Subject: x\r\n\r\n..leading dot\r\nbody\r\n.\r\n",
            BareNewlines::Reject,
        );
        assert!(end && !bare);
        assert_eq!(m, b"Subject: x\r\n\r\n.leading dot\r\nbody\r\n");
    }

    #[test]
    fn smuggling_sequences_do_not_end_data() {
        for evil in [
            &b"a\r\n\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\r\n\r.\nX\r\n",
            b"a\n.\r\nX\r\n",
            b"a\r\n.\nX\r\n",
        ] {
            let (_, end, bare) = run(evil, BareNewlines::Reject);
            assert!(!end, "ended early on {evil:?}");
            assert!(bare, "bare newline not seen in {evil:?}");
        }
        // Only the real terminator ends it, even after a smuggling attempt.
        let (m, end, _) = run(b"a\n.\nb\r\n.\r\n", BareNewlines::Reject);
        assert!(end);
        assert_eq!(m, b"a\n.\nb\r\n");
    }

    #[test]
    fn normalize_rewrites_bare_endings() {
        let (m, end, bare) = run(b"a\nb\rc\r\n.\r\n", BareNewlines::Normalize);
        assert!(end && bare);
        assert_eq!(m, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn partial_pieces_keep_line_state() {
        let mut p = DataParser::new(BareNewlines::Reject);
        assert_eq!(p.push(b"xxxx", false), DataStep::Content(b"xxxx".to_vec()));
        // Mid-line: a following ".\r\n" piece is content, not the terminator.
        assert_eq!(p.push(b".\r\n", true), DataStep::Content(b".\r\n".to_vec()));
        assert_eq!(p.push(b".\r\n", true), DataStep::End);
        assert_eq!(p.size(), 7);
    }
}
