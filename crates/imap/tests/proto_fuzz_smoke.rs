//! A stable-toolchain fuzz smoke test (the libFuzzer targets in `crates/imap/fuzz` need
//! nightly): ~200k deterministic pseudo-random and mutated inputs through the parser and the
//! framer. Asserts no panic, and that the framer's buffering stays bounded.

use mailstack_imap::proto::*;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CORPUS: &[&[u8]] = &[
    b"a CAPABILITY",
    b"a LOGIN fred \"se\\\"cret\"",
    b"a LOGIN {4+}\r\nfred {6}\r\nsecret",
    b"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0",
    b"a ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
    b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,3:5 10,12:14)))",
    b"a EXAMINE \"Sent Items\" (CONDSTORE)",
    b"a CREATE Archive (USE (\\Archive))",
    b"a RENAME \"a/b\" {3}\r\nc/d",
    b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" Foo/*) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))",
    b"a LSUB \"\" *",
    b"a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT MAILBOXID)",
    b"a APPEND Drafts (\\Seen $Fwd) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello ~{3}\r\na\0b",
    b"a UID EXPUNGE 1:3,7",
    b"a UID SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 OR (FROM x TO y) NOT SINCE 1-Feb-2020 UID $ 1:*",
    b"a SEARCH HEADER Message-ID \"<x@y>\" MODSEQ \"/flags/\\\\draft\" all 5 LARGER 100 KEYWORD $Junk",
    b"a UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100> BINARY[1.2] PREVIEW (LAZY)) (CHANGEDSINCE 5 VANISHED)",
    b"a FETCH 1 (BODY[1.2.MIME] BODY[TEXT] BINARY.SIZE[1] RFC822.SIZE ENVELOPE BODYSTRUCTURE EMAILID)",
    b"a UID STORE 1:5 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Deleted $x)",
    b"a MOVE 1:2 Trash",
    b"a UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL",
    b"a THREAD REFERENCES UTF-8 (SEEN UNDELETED)",
    b"a SETQUOTA \"\" (STORAGE 512)",
    b"a ID (\"name\" \"mutt\" \"version\" NIL)",
    b"a COMPRESS DEFLATE",
    b"DONE",
];

const INTERESTING: &[u8] = b"(){}[]<>\"\\*%$~+-:,. \r\n\0\xff09AZ";

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let b = INTERESTING[rng.below(INTERESTING.len())];
                input.insert(rng.below(len + 1), b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1);
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                let piece = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, piece);
            }
            4 => {
                let other = CORPUS[rng.below(CORPUS.len())];
                let cut = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                input.truncate(at);
                input.extend_from_slice(&other[cut..]);
            }
            5 => {
                let n = match rng.below(4) {
                    0 => rng.below(10) as u64,
                    1 => u64::from(u32::MAX) + 1,
                    2 => u64::MAX,
                    _ => rng.next(),
                };
                let kind = ["", "+", "-"][rng.below(3)];
                let lit = format!(
                    "{}{{{n}{kind}}}\r\n",
                    if rng.below(4) == 0 { "~" } else { "" }
                );
                let at = rng.below(len + 1);
                input.splice(at..at, lit.into_bytes());
            }
            6 => {
                let at = rng.below(len + 1);
                let what: &[u8] = [&b"(("[..], b"NOT ", b"OR ", b"\"", b"{", b"1:*,"][rng.below(6)];
                for _ in 0..rng.below(40) {
                    input.splice(at..at, what.iter().copied());
                }
            }
            7 if len > 0 => input.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                let b = rng.next() as u8;
                input.insert(at, b);
            }
        }
        input.truncate(4096);
    }
}

#[test]
fn parser_survives_mutated_and_random_input() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0usize;
    for i in 0..200_000 {
        let input = if i % 10 == 0 {
            let n = rng.below(256);
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            let mut v = CORPUS[rng.below(CORPUS.len())].to_vec();
            mutate(&mut rng, &mut v);
            v
        };
        assert!(input.len() <= 4096);
        let frame = Frame::Command(input);
        if let Ok(cmd) = parse_command(&frame) {
            parsed += 1;
            assert!(!cmd.tag.is_empty());
        } else if let Err(e) = parse_command(&frame) {
            let bytes = e.response().to_bytes();
            assert!(bytes.ends_with(b"\r\n"));
            assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        }
        let _ = parse_idle_done(&frame);
        let _ = parse_sasl_response(&frame);
    }
    // The mutations keep a fair share of inputs valid, so the deep paths are reached too.
    assert!(parsed > 5_000, "only {parsed} inputs parsed");
}

#[test]
fn framer_survives_mutated_streams() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let limits = Limits {
        max_line: 512,
        max_literal: 300,
        max_append_literal: 2000,
        max_command: 4000,
        max_append_command: 8000,
        max_literals: 8,
        max_discard: 5000,
        non_sync: NonSyncLiterals::Plus,
    };
    let mut frames = 0usize;
    for round in 0..2_000 {
        let mut framer = CommandFramer::new(Limits {
            non_sync: if round % 2 == 0 {
                NonSyncLiterals::Plus
            } else {
                NonSyncLiterals::Minus
            },
            ..limits.clone()
        });
        for _ in 0..50 {
            let mut cmd = CORPUS[rng.below(CORPUS.len())].to_vec();
            if rng.below(3) > 0 {
                mutate(&mut rng, &mut cmd);
            }
            cmd.extend_from_slice(b"\r\n");
            let mut rest = &cmd[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(700));
                framer.push(&rest[..n]);
                rest = &rest[n..];
                while let Some(item) = framer.next() {
                    match item {
                        Ok(frame @ Frame::Command(_)) => {
                            frames += 1;
                            let _ = parse_command(&frame);
                        }
                        Ok(Frame::NeedContinuation) => {}
                        Err(e) => {
                            let _ = e.response().to_bytes();
                        }
                    }
                }
                // Bounded: at most a command plus a line plus one pushed chunk.
                assert!(
                    framer.buffered() <= 8000 + 512 + 700 + 16,
                    "{}",
                    framer.buffered()
                );
            }
        }
    }
    assert!(frames > 10_000, "only {frames} frames");
}
