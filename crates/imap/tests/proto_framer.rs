//! Framer: literals (sync, LITERAL+, LITERAL-, literal8), limits, and command floods.

use mailstack_imap::proto::*;

fn drain(f: &mut CommandFramer) -> Vec<Result<Frame, FrameError>> {
    std::iter::from_fn(|| f.next()).collect()
}

fn cmd(s: &[u8]) -> Result<Frame, FrameError> {
    Ok(Frame::Command(s.to_vec()))
}

fn framer() -> CommandFramer {
    CommandFramer::new(Limits::default())
}

#[test]
fn single_lines_and_partial_input() {
    let mut f = framer();
    f.push(b"a1 NOOP\r\na2 CAPA");
    assert_eq!(drain(&mut f), vec![cmd(b"a1 NOOP")]);
    f.push(b"BILITY\r");
    assert!(f.next().is_none());
    f.push(b"\na3 LOGOUT\n");
    assert_eq!(
        drain(&mut f),
        vec![cmd(b"a2 CAPABILITY"), cmd(b"a3 LOGOUT")]
    );
    // Empty lines are frames too (an empty AUTHENTICATE response); the parser refuses them.
    f.push(b"\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"")]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn byte_by_byte() {
    let input = b"a LOGIN {4}\r\nfred {6+}\r\nsecret\r\nb NOOP\r\n";
    let mut f = framer();
    let mut out = Vec::new();
    for &b in input.iter() {
        f.push(&[b]);
        out.extend(drain(&mut f));
    }
    assert_eq!(
        out,
        vec![
            Ok(Frame::NeedContinuation),
            cmd(b"a LOGIN {4}\r\nfred {6+}\r\nsecret"),
            cmd(b"b NOOP")
        ]
    );
    let c = parse_command(out[1].as_ref().unwrap()).unwrap();
    assert!(matches!(c.body, CommandBody::Login { ref username, .. } if username == "fred"));
}

#[test]
fn synchronizing_literal_asks_for_continuation() {
    let mut f = framer();
    f.push(b"a APPEND INBOX {12}\r\n");
    assert_eq!(drain(&mut f), vec![Ok(Frame::NeedContinuation)]);
    assert_eq!(
        Response::literal_ready().to_bytes(),
        b"+ Ready for literal data\r\n"
    );
    f.push(b"Hello\r\nWorld\r\n");
    let frames = drain(&mut f);
    assert_eq!(frames, vec![cmd(b"a APPEND INBOX {12}\r\nHello\r\nWorld")]);
    match parse_command(frames[0].as_ref().unwrap()).unwrap().body {
        CommandBody::Append { messages, .. } => assert_eq!(messages[0].data, b"Hello\r\nWorld"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn literal_with_crlf_and_braces_inside() {
    // Literal data that looks like a line end and an announcement is data, not framing.
    let mut f = framer();
    f.push(b"a LOGIN {7+}\r\nx {9}\r\n \"pw\"\r\n");
    let frames = drain(&mut f);
    assert_eq!(frames, vec![cmd(b"a LOGIN {7+}\r\nx {9}\r\n \"pw\"")]);
    match parse_command(frames[0].as_ref().unwrap()).unwrap().body {
        CommandBody::Login { username, password } => {
            assert_eq!(username, "x {9}\r\n");
            assert_eq!(password.expose(), b"pw");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn literal_plus_and_literal8() {
    let mut f = framer();
    f.push(b"a APPEND INBOX ~{5+}\r\nb\0i\xffn (\\Seen) ~{2}\r\n");
    assert_eq!(drain(&mut f), vec![Ok(Frame::NeedContinuation)]);
    f.push(b"\0\0\r\n");
    let frames = drain(&mut f);
    match parse_command(frames[0].as_ref().unwrap()).unwrap().body {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0].data, b"b\0i\xffn");
            assert!(messages[0].binary && messages[1].binary);
            assert_eq!(messages[1].data, b"\0\0");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn literal_minus_limits_non_sync_literals() {
    let limits = Limits {
        non_sync: NonSyncLiterals::Minus,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits);
    let data = vec![b'x'; 4096];
    f.push(b"a APPEND INBOX {4096+}\r\n");
    f.push(&data);
    f.push(b"\r\n");
    assert_eq!(drain(&mut f).len(), 1);
    // 4097 octets non-sync: refused with the tag, the octets are discarded, the next command
    // is read normally.
    f.push(b"b APPEND INBOX {4097+}\r\n");
    let errs = drain(&mut f);
    assert_eq!(errs.len(), 1);
    let e = errs[0].clone().unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("b"));
    assert!(!e.is_fatal());
    assert!(matches!(
        e.kind,
        FrameErrorKind::LiteralTooLarge {
            size: 4097,
            limit: 4096,
            synchronizing: false,
            append: true
        }
    ));
    assert_eq!(
        e.response().to_bytes(),
        b"b NO [TOOBIG] Literal too large (limit 4096)\r\n"
    );
    f.push(&vec![b'y'; 4097]);
    f.push(b" {3+}\r\nabc\r\nc NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"c NOOP")]);
    // A sync literal of the same size is fine under LITERAL-.
    f.push(b"d APPEND INBOX {5000}\r\n");
    assert_eq!(drain(&mut f), vec![Ok(Frame::NeedContinuation)]);
    // `{n-}` is not literal syntax: an ordinary line, refused by the parser.
    let mut f = framer();
    f.push(b"e LOGIN {3-}\r\n");
    let frames = drain(&mut f);
    assert_eq!(frames, vec![cmd(b"e LOGIN {3-}")]);
    assert!(parse_command(frames[0].as_ref().unwrap()).is_err());
}

#[test]
fn huge_sync_literal_is_refused_at_once() {
    let mut f = framer();
    f.push(b"a1 APPEND INBOX {4294967296}\r\n");
    let out = drain(&mut f);
    // No NeedContinuation: the server must not send `+`.
    assert_eq!(out.len(), 1);
    let e = out[0].clone().unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a1"));
    assert!(!e.is_fatal());
    assert!(matches!(
        e.kind,
        FrameErrorKind::LiteralTooLarge {
            size: 4294967296,
            synchronizing: true,
            ..
        }
    ));
    assert_eq!(
        e.response().to_bytes(),
        b"a1 NO [TOOBIG] Literal too large (limit 52428800)\r\n"
    );
    // Nothing was allocated for it.
    assert!(f.buffered() < 64);
    // The client abandons the command; the next one works.
    f.push(b"a2 NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"a2 NOOP")]);
    // Non-APPEND commands get the small limit and a BAD.
    f.push(b"a3 LOGIN {70000}\r\n");
    let e = f.next().unwrap().unwrap_err();
    assert_eq!(
        e.response().to_bytes(),
        b"a3 BAD [TOOBIG] Literal too large (limit 65536)\r\n"
    );
    // A number too big for 64 bits is refused the same way.
    f.push(b"a4 LOGIN {99999999999999999999999999}\r\n");
    let e = f.next().unwrap().unwrap_err();
    assert!(matches!(
        e.kind,
        FrameErrorKind::LiteralTooLarge { size: u64::MAX, .. }
    ));
    assert!(f.next().is_none());
}

#[test]
fn huge_non_sync_literal_is_fatal() {
    let mut f = framer();
    f.push(b"a1 APPEND INBOX {4294967296+}\r\nxxxx");
    let e = f.next().unwrap().unwrap_err();
    assert!(e.is_fatal());
    assert_eq!(
        e.response().to_bytes(),
        b"* BYE [TOOBIG] Literal too large (limit 52428800)\r\n"
    );
    assert!(f.next().is_none());
    f.push(b"a2 NOOP\r\n");
    assert!(f.next().is_none());
    assert_eq!(f.buffered(), 0);
}

#[test]
fn refused_non_sync_literal_is_discarded() {
    let limits = Limits {
        max_literal: 10,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits);
    f.push(b"a LOGIN {20+}\r\n");
    let e = f.next().unwrap().unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(!e.is_fatal());
    // The 20 octets contain a line that must not be taken for a command.
    f.push(b"b LOGOUT\r\nc LOGOUT\r\n\r\nd NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"d NOOP")]);
}

#[test]
fn long_line_is_refused() {
    let mut f = framer();
    let mut line = b"a7 SEARCH TEXT ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 70 * 1024));
    f.push(&line);
    let e = f.next().unwrap().unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a7"));
    assert!(matches!(
        e.kind,
        FrameErrorKind::LineTooLong { limit: 65536 }
    ));
    assert_eq!(
        e.response().to_bytes(),
        b"a7 BAD [LIMIT] Line too long (limit 65536)\r\n"
    );
    assert!(f.next().is_none());
    assert!(f.buffered() < 1024, "buffered {}", f.buffered());
    // The rest of the line is skipped; the next command is fine.
    f.push(&[b'y'; 100_000]);
    assert!(f.next().is_none());
    f.push(b"\r\na8 NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"a8 NOOP")]);
    // Exactly at the limit is accepted.
    let mut line = b"a9 X".to_vec();
    line.resize(65536, b'x');
    line.extend_from_slice(b"\r\n");
    f.push(&line);
    assert!(matches!(f.next(), Some(Ok(Frame::Command(c))) if c.len() == 65536));
}

#[test]
fn long_line_ending_in_non_sync_literal_skips_it() {
    let limits = Limits {
        max_line: 100,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits);
    let mut line = b"a LOGIN ".to_vec();
    line.extend([b'u'; 200]);
    // The 8 literal octets look like a command; the command then ends with its own CRLF.
    line.extend_from_slice(b" {8+}\r\nb NOOP\r\n\r\nc NOOP\r\n");
    f.push(&line);
    let out = drain(&mut f);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].is_err());
    assert_eq!(out[1], cmd(b"c NOOP"));
}

#[test]
fn literal_count_and_command_size() {
    let limits = Limits {
        max_literals: 2,
        max_command: 100,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits.clone());
    f.push(b"a LOGIN {1+}\r\nx {1+}\r\ny\r\n");
    assert!(matches!(f.next(), Some(Ok(Frame::Command(_)))));
    f.push(b"b ID ({1+}\r\nx {1+}\r\ny {1+}\r\nz NIL)\r\nc NOOP\r\n");
    let out = drain(&mut f);
    assert!(matches!(
        &out[0],
        Err(FrameError {
            kind: FrameErrorKind::TooManyLiterals { limit: 2 },
            ..
        })
    ));
    assert_eq!(out[1..], [cmd(b"c NOOP")]);
    let mut f = CommandFramer::new(limits);
    f.push(b"d LOGIN {60+}\r\n");
    f.push(&[b'x'; 60]);
    f.push(b" {60}\r\n");
    let out = drain(&mut f);
    assert!(matches!(
        &out[..],
        [Err(FrameError {
            kind: FrameErrorKind::CommandTooLarge { limit: 100 },
            ..
        })]
    ));
    f.push(b"e NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"e NOOP")]);
}

#[test]
fn append_gets_the_bigger_limit() {
    let limits = Limits {
        max_literal: 10,
        max_append_literal: 1000,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits);
    f.push(b"a append INBOX {500}\r\n");
    assert_eq!(f.next(), Some(Ok(Frame::NeedContinuation)));
    f.push(&[b'm'; 500]);
    f.push(b"\r\n");
    assert!(matches!(f.next(), Some(Ok(Frame::Command(c))) if c.len() > 500));
    f.push(b"b LOGIN {500}\r\n");
    assert!(matches!(f.next(), Some(Err(_))));
}

#[test]
fn command_flood_is_handled_one_by_one() {
    let mut f = framer();
    let mut input = Vec::new();
    for i in 0..10_000 {
        input.extend_from_slice(format!("t{i} NOOP\r\n").as_bytes());
    }
    f.push(&input);
    let mut n = 0;
    while let Some(frame) = f.next() {
        let c = parse_command(&frame.unwrap()).unwrap();
        assert_eq!(c.tag, format!("t{n}"));
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn untagged_errors() {
    let limits = Limits {
        max_line: 10,
        ..Limits::default()
    };
    let mut f = CommandFramer::new(limits);
    f.push(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
    let e = f.next().unwrap().unwrap_err();
    assert_eq!(e.tag, None);
    assert_eq!(
        e.response().to_bytes(),
        b"* BAD [LIMIT] Line too long (limit 10)\r\n"
    );
}

#[test]
fn idle_buffer_is_released_only_when_everything_was_consumed() {
    let mut f = framer();
    f.push(b"a1 NOOP\r\na2 NO");
    assert_eq!(drain(&mut f), vec![cmd(b"a1 NOOP")]);
    // A partial command stays across the release.
    f.release_idle_buffer();
    assert_eq!(f.buffered(), 5);
    f.push(b"OP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"a2 NOOP")]);
    f.release_idle_buffer();
    assert_eq!(f.buffered(), 0);
    f.push(b"a3 NOOP\r\n");
    assert_eq!(drain(&mut f), vec![cmd(b"a3 NOOP")]);
}
