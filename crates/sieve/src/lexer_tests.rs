use super::*;

fn toks(s: &str) -> Vec<Tok> {
    tokenize(s).unwrap().into_iter().map(|(t, _)| t).collect()
}

#[test]
fn multiline_with_dot_stuffing_and_comment() {
    let t = toks("vacation text: # a comment\r\nline one\r\n..dot\r\n.x\r\n.\r\n;");
    assert_eq!(
        t,
        vec![
            Tok::Ident("vacation".into()),
            Tok::Str("line one\r\n.dot\r\n.x\r\n".into()),
            Tok::Semi
        ]
    );
    // bare LF line ends are accepted and normalised to CRLF
    assert_eq!(toks("text:\na\n.\n"), vec![Tok::Str("a\r\n".into())]);
    assert!(tokenize("text:\nno end\n").is_err());
    assert!(tokenize("text: junk\n.\n").is_err());
}

#[test]
fn bracketed_and_hash_comments() {
    let t = toks("/* multi\nline * / comment */ keep; # end\n/**/stop;");
    assert_eq!(
        t,
        vec![
            Tok::Ident("keep".into()),
            Tok::Semi,
            Tok::Ident("stop".into()),
            Tok::Semi
        ]
    );
    let e = tokenize("keep;\n  /* open").unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
}

#[test]
fn quoted_string_escapes() {
    assert_eq!(toks(r#""a\"b\\c\d""#), vec![Tok::Str("a\"b\\cd".into())]);
    assert_eq!(
        toks("\"two\nlines\""),
        vec![Tok::Str("two\r\nlines".into())]
    );
    assert!(tokenize("\"open").is_err());
}

#[test]
fn numbers_with_quantifiers() {
    assert_eq!(
        toks("1 10K 2m 3G 0"),
        vec![
            Tok::Number(1),
            Tok::Number(10 * 1024),
            Tok::Number(2 * 1024 * 1024),
            Tok::Number(3 * 1024 * 1024 * 1024),
            Tok::Number(0)
        ]
    );
    assert!(tokenize("99999999999999999999").is_err());
    assert!(tokenize("18446744073709551615G").is_err());
    assert!(tokenize("12x").is_err());
}

#[test]
fn tags_are_lowercased_and_positions_tracked() {
    let t = tokenize("if header :Contains\n  \"a\" \"b\" {}").unwrap();
    assert_eq!(t[2].0, Tok::Tag("contains".into()));
    assert_eq!(
        t[2].1,
        Pos {
            line: 1,
            column: 11
        }
    );
    assert_eq!(t[3].1, Pos { line: 2, column: 3 });
    assert!(tokenize(": x").is_err());
    assert!(tokenize("keep; @").is_err());
}
