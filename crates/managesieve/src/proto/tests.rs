use super::*;

fn frame(input: &[u8]) -> Vec<Result<Command, FrameError>> {
    let mut f = Framer::new(Limits {
        max_line: 64,
        max_literal: 100,
        max_discard: 1000,
        max_args: 4,
    });
    f.push(input);
    std::iter::from_fn(|| f.next_line())
        .map(|r| r.and_then(Command::from_tokens))
        .collect()
}

fn cmd(name: &str, args: Vec<Token>) -> Result<Command, FrameError> {
    Ok(Command {
        name: name.into(),
        args,
    })
}

fn s(v: &str) -> Token {
    Token::Str(v.as_bytes().to_vec())
}

#[test]
fn atoms_quoted_strings_and_both_literal_forms() {
    assert_eq!(
        frame(
            b"capability\r\nPutScript \"a \\\"b\\\\\" {5+}\r\nkeep;\r\nHAVESPACE {1}\r\nx 42\r\n"
        ),
        vec![
            cmd("CAPABILITY", vec![]),
            cmd("PUTSCRIPT", vec![s("a \"b\\"), s("keep;")]),
            cmd("HAVESPACE", vec![s("x"), Token::Atom("42".into())]),
        ]
    );
}

#[test]
fn bytes_arrive_one_at_a_time() {
    let input = b"PUTSCRIPT \"s\" {12+}\r\nif true {\r\n}\r\nLOGOUT\r\n";
    let mut f = Framer::new(Limits::default());
    let mut got = Vec::new();
    for b in input {
        f.push(&[*b]);
        while let Some(c) = f.next_line() {
            got.push(c.and_then(Command::from_tokens));
        }
    }
    assert_eq!(
        got,
        vec![
            cmd("PUTSCRIPT", vec![s("s"), s("if true {\r\n}")]),
            cmd("LOGOUT", vec![])
        ]
    );
}

#[test]
fn empty_lines_and_bare_lf_are_tolerated() {
    assert_eq!(
        frame(b"\r\n\nNOOP \"t\"\nLOGOUT\r\n"),
        vec![cmd("NOOP", vec![s("t")]), cmd("LOGOUT", vec![])]
    );
}

#[test]
fn syntax_errors_skip_the_line_only() {
    let got = frame(b"NOOP \"a\\x\"\r\n\"str\" first\r\nNOOP (x)\r\nLOGOUT\r\n");
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(matches!(got[0], Err(FrameError::Syntax(_))));
    assert!(matches!(got[1], Err(FrameError::Syntax(_))));
    assert!(matches!(got[2], Err(FrameError::Syntax(_))));
    assert_eq!(got[3], cmd("LOGOUT", vec![]));
}

#[test]
fn an_oversized_literal_is_discarded_and_refused() {
    let mut input = b"PUTSCRIPT \"big\" {150+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 150));
    input.extend_from_slice(b"\r\nLOGOUT\r\n");
    let got = frame(&input);
    assert_eq!(
        got,
        vec![
            Err(FrameError::LiteralTooLarge {
                size: 150,
                fatal: false
            }),
            cmd("LOGOUT", vec![])
        ]
    );
    // Beyond what is worth reading: the connection ends.
    let got = frame(b"PUTSCRIPT \"big\" {5000+}\r\nxx");
    assert_eq!(
        got,
        vec![Err(FrameError::LiteralTooLarge {
            size: 5000,
            fatal: true
        })]
    );
    assert!(got[0].as_ref().unwrap_err().is_fatal());
}

#[test]
fn long_lines_end_the_connection() {
    let line = format!("NOOP \"{}\"\r\n", "a".repeat(100));
    let got = frame(line.as_bytes());
    assert_eq!(got, vec![Err(FrameError::LineTooLong)]);
    // Also while still incomplete.
    let got = frame("a".repeat(100).as_bytes());
    assert_eq!(got, vec![Err(FrameError::LineTooLong)]);
    let got = frame(&[b"NOOP ".as_slice(), &[b' '; 80]].concat());
    assert_eq!(got, vec![Err(FrameError::LineTooLong)]);
}

#[test]
fn too_many_arguments_are_refused() {
    let got = frame(b"NOOP a b c d e f\r\nLOGOUT\r\n");
    assert!(matches!(got[0], Err(FrameError::Syntax(_))));
    assert_eq!(got[1], cmd("LOGOUT", vec![]));
}

#[test]
fn strings_are_written_quoted_or_as_literals() {
    let mut out = Vec::new();
    write_string(&mut out, b"say \"hi\" \\o/");
    assert_eq!(out, b"\"say \\\"hi\\\" \\\\o/\"");
    out.clear();
    write_string(&mut out, b"two\r\nlines");
    assert_eq!(out, b"{10}\r\ntwo\r\nlines");
    out.clear();
    write_status(
        &mut out,
        Status::No,
        Some(&Code::QuotaMaxSize),
        "line 3, column 7: oops",
    );
    assert_eq!(out, b"NO (QUOTA/MAXSIZE) \"line 3, column 7: oops\"\r\n");
    out.clear();
    write_status(
        &mut out,
        Status::Ok,
        Some(&Code::Tag(b"t1".to_vec())),
        "Done",
    );
    assert_eq!(out, b"OK (TAG \"t1\") \"Done\"\r\n");
}
