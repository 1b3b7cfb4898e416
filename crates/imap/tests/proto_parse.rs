//! Parser: one test per command form, valid and invalid (public API only).

use mailstack_imap::proto::*;
use mailstack_imap::search::key::{SeqBound, SequenceSet};

fn parse(s: &[u8]) -> Result<Command, ParseError> {
    parse_command(&Frame::Command(s.to_vec()))
}

fn body(s: &str) -> CommandBody {
    let cmd = parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e:?}"));
    assert_eq!(cmd.tag, s.split(' ').next().unwrap());
    cmd.body
}

fn bad(s: &[u8]) -> ParseError {
    match parse(s) {
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(s)),
        Err(e) => e,
    }
}

fn mb(s: &str) -> Mailbox {
    Mailbox::new(s.to_string())
}

fn range(a: u32, b: u32) -> (SeqBound, SeqBound) {
    (SeqBound::Value(a), SeqBound::Value(b))
}

#[test]
fn simple_commands() {
    assert_eq!(body("a CAPABILITY"), CommandBody::Capability);
    assert_eq!(body("a noop"), CommandBody::Noop);
    assert_eq!(body("a LOGOUT"), CommandBody::Logout);
    assert_eq!(body("a STARTTLS"), CommandBody::StartTls);
    assert_eq!(body("a NAMESPACE"), CommandBody::Namespace);
    assert_eq!(body("a IDLE"), CommandBody::Idle);
    assert_eq!(body("a CHECK"), CommandBody::Check);
    assert_eq!(body("a CLOSE"), CommandBody::Close);
    assert_eq!(body("a UNSELECT"), CommandBody::Unselect);
    assert_eq!(body("a EXPUNGE"), CommandBody::Expunge);
    for s in ["a NOOP x", "a NOOP ", "a CAPABILITY\r\n"] {
        bad(s.as_bytes());
    }
}

#[test]
fn tags() {
    assert_eq!(parse(b"A0001.x NOOP").unwrap().tag, "A0001.x");
    for (s, tag) in [
        ("", None),
        ("NOOP", None),
        ("+a NOOP", None),
        ("a+b NOOP", None),
    ] {
        let e = bad(s.as_bytes());
        assert_eq!(e.tag.as_deref(), tag, "{s}");
    }
    // The tag is known even when the command is bad.
    assert_eq!(bad(b"t1 FROB").tag.as_deref(), Some("t1"));
    assert_eq!(
        bad(b"t1 FROB").kind,
        ParseErrorKind::UnknownCommand("FROB".into())
    );
    assert_eq!(
        bad(b"t1 XAPPLEPUSHSERVICE a").kind,
        ParseErrorKind::UnknownCommand("XAPPLEPUSHSERVICE".into())
    );
    assert_eq!(
        bad(b"t1 UID FROB 1").kind,
        ParseErrorKind::UnknownCommand("UID FROB".into())
    );
    assert_eq!(bad(b"").kind, ParseErrorKind::Empty);
    assert_eq!(
        parse_command(&Frame::NeedContinuation).unwrap_err().kind,
        ParseErrorKind::NotACommand
    );
    assert_eq!(
        bad(b"t1 FROB").response().to_bytes(),
        b"t1 BAD Unknown command\r\n"
    );
}

#[test]
fn login_and_authenticate() {
    match body("a LOGIN fred \"p a\\\"ss\"") {
        CommandBody::Login { username, password } => {
            assert_eq!(username, "fred");
            assert_eq!(password.expose(), b"p a\"ss");
            assert!(!format!("{password:?}").contains("ss"));
        }
        other => panic!("{other:?}"),
    }
    match body("a LOGIN {4+}\r\nfred {3+}\r\nx y") {
        CommandBody::Login { username, password } => {
            assert_eq!(username, "fred");
            assert_eq!(password.expose(), b"x y");
        }
        other => panic!("{other:?}"),
    }
    bad(b"a LOGIN fred");
    bad(b"a LOGIN fred pass extra");
    assert_eq!(
        body("a AUTHENTICATE plain"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: None
        }
    );
    match body("a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0") {
        CommandBody::Authenticate {
            initial_response: Some(r),
            ..
        } => {
            assert_eq!(r.expose(), b"\0fred\0secret")
        }
        other => panic!("{other:?}"),
    }
    match body("a AUTHENTICATE EXTERNAL =") {
        CommandBody::Authenticate {
            initial_response: Some(r),
            ..
        } => assert!(r.expose().is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        bad(b"a AUTHENTICATE PLAIN !!!").kind,
        ParseErrorKind::Syntax("expected an initial response")
    );
    assert_eq!(
        bad(b"a AUTHENTICATE PLAIN abc").kind,
        ParseErrorKind::BadBase64
    );
    bad(b"a AUTHENTICATE");
    // Lines during AUTHENTICATE.
    let r = parse_sasl_response(&Frame::Command(b"AGZyZWQAc2VjcmV0".to_vec())).unwrap();
    assert_eq!(
        r,
        SaslResponse::Data(Secret::new(b"\0fred\0secret".to_vec()))
    );
    assert_eq!(
        parse_sasl_response(&Frame::Command(b"*".to_vec())).unwrap(),
        SaslResponse::Cancel
    );
    assert_eq!(
        parse_sasl_response(&Frame::Command(Vec::new())).unwrap(),
        SaslResponse::Data(Secret::default())
    );
    assert!(parse_sasl_response(&Frame::Command(b"a b".to_vec())).is_err());
}

#[test]
fn enable_id_compress() {
    assert_eq!(
        body("a ENABLE condstore QRESYNC"),
        CommandBody::Enable(vec!["CONDSTORE".into(), "QRESYNC".into()])
    );
    bad(b"a ENABLE");
    assert_eq!(body("a ID NIL"), CommandBody::Id(None));
    assert_eq!(body("a ID ()"), CommandBody::Id(Some(vec![])));
    assert_eq!(
        body("a ID (\"name\" \"Thunderbird\" \"version\" NIL)"),
        CommandBody::Id(Some(vec![
            ("name".into(), Some("Thunderbird".into())),
            ("version".into(), None)
        ]))
    );
    bad(b"a ID (\"name\")");
    bad(b"a ID");
    let many = (0..31)
        .map(|i| format!("\"k{i}\" \"v\""))
        .collect::<Vec<_>>()
        .join(" ");
    bad(format!("a ID ({many})").as_bytes());
    assert_eq!(
        body("a COMPRESS deflate"),
        CommandBody::Compress("DEFLATE".into())
    );
    bad(b"a COMPRESS");
}

#[test]
fn select_examine() {
    assert_eq!(
        body("a SELECT inbox"),
        CommandBody::Select {
            mailbox: mb("INBOX"),
            params: SelectParams::default()
        }
    );
    assert_eq!(
        body("a EXAMINE \"Sent Items\" (CONDSTORE)"),
        CommandBody::Examine {
            mailbox: mb("Sent Items"),
            params: SelectParams {
                condstore: true,
                qresync: None
            }
        }
    );
    match body(
        "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,3:5 10,12:14)))",
    ) {
        CommandBody::Select {
            params: SelectParams {
                qresync: Some(q), ..
            },
            ..
        } => {
            assert_eq!(q.uid_validity, 67890007);
            assert_eq!(q.mod_seq, 20050715194045000);
            assert_eq!(
                q.known_uids,
                Some(SequenceSet::Ranges(vec![
                    range(41, 41),
                    range(43, 211),
                    range(214, 541)
                ]))
            );
            let (seqs, uids) = q.seq_match.unwrap();
            assert_eq!(seqs, SequenceSet::Ranges(vec![range(1, 1), range(3, 5)]));
            assert_eq!(
                uids,
                SequenceSet::Ranges(vec![range(10, 10), range(12, 14)])
            );
        }
        other => panic!("{other:?}"),
    }
    match body("a SELECT INBOX (QRESYNC (1 2))") {
        CommandBody::Select {
            params: SelectParams {
                qresync: Some(q), ..
            },
            ..
        } => {
            assert_eq!(
                (q.uid_validity, q.mod_seq, q.known_uids, q.seq_match),
                (1, 2, None, None)
            )
        }
        other => panic!("{other:?}"),
    }
    match body("a SELECT INBOX (QRESYNC (1 2 (1 5)))") {
        CommandBody::Select {
            params: SelectParams {
                qresync: Some(q), ..
            },
            ..
        } => {
            assert!(q.known_uids.is_none() && q.seq_match.is_some())
        }
        other => panic!("{other:?}"),
    }
    for s in [
        "a SELECT",
        "a SELECT INBOX ()",
        "a SELECT INBOX (FOO)",
        "a SELECT INBOX (QRESYNC (0 2))",
        "a SELECT INBOX (QRESYNC (1))",
        "a SELECT INBOX (QRESYNC 1 2)",
    ] {
        bad(s.as_bytes());
    }
}

#[test]
fn mailbox_names_are_faithful() {
    assert_eq!(
        body("a DELETE ../../etc"),
        CommandBody::Delete(mb("../../etc"))
    );
    assert_eq!(body("a DELETE \"a/b\""), CommandBody::Delete(mb("a/b")));
    assert_eq!(
        body("a DELETE \"Äpfel/日本\""),
        CommandBody::Delete(mb("Äpfel/日本"))
    );
    assert_eq!(
        body("a DELETE {6}\r\nÄpfel"),
        CommandBody::Delete(mb("Äpfel"))
    );
    assert_eq!(
        body("a DELETE &AMQ-pfel"),
        CommandBody::Delete(mb("&AMQ-pfel"))
    );
    assert_eq!(body("a DELETE iNbOx"), CommandBody::Delete(mb("INBOX")));
    assert_eq!(
        body("a DELETE inbox.sub"),
        CommandBody::Delete(mb("inbox.sub"))
    );
    assert_eq!(body("a DELETE \"\""), CommandBody::Delete(mb("")));
    assert_eq!(bad(b"a DELETE \"a\0b\"").kind, ParseErrorKind::Nul);
    assert_eq!(bad(b"a DELETE {3}\r\na\0b").kind, ParseErrorKind::Nul);
    assert_eq!(bad(b"a DELETE ~{3}\r\nabc").tag.as_deref(), Some("a"));
    assert_eq!(
        bad(b"a DELETE \"\xff\xfe\"").kind,
        ParseErrorKind::InvalidUtf8
    );
    bad(b"a DELETE a\0b");
    bad(b"a DELETE \"unterminated");
    bad(b"a DELETE {10}\r\nshort");
    bad(b"a DELETE {3}abc");
}

#[test]
fn create_rename_subscribe() {
    assert_eq!(
        body("a CREATE Sent (USE (\\Sent \\Archive \\X-Foo))"),
        CommandBody::Create {
            mailbox: mb("Sent"),
            special_use: vec![
                SpecialUse::Sent,
                SpecialUse::Archive,
                SpecialUse::Other("X-Foo".into())
            ]
        }
    );
    assert_eq!(
        body("a CREATE x"),
        CommandBody::Create {
            mailbox: mb("x"),
            special_use: vec![]
        }
    );
    bad(b"a CREATE x (FOO (\\Sent))");
    bad(b"a CREATE x (USE (Sent))");
    assert_eq!(
        body("a RENAME old \"new name\""),
        CommandBody::Rename {
            from: mb("old"),
            to: mb("new name")
        }
    );
    bad(b"a RENAME old");
    assert_eq!(body("a SUBSCRIBE x"), CommandBody::Subscribe(mb("x")));
    assert_eq!(body("a UNSUBSCRIBE x"), CommandBody::Unsubscribe(mb("x")));
}

#[test]
fn list_and_lsub() {
    assert_eq!(
        body("a LIST \"\" *"),
        CommandBody::List {
            select: ListSelect::default(),
            reference: String::new(),
            patterns: vec!["*".into()],
            returns: ListReturn::default()
        }
    );
    assert_eq!(
        body(
            "a LIST (SUBSCRIBED RECURSIVEMATCH remote) \"\" (\"%\" Foo/* INBOX]) RETURN (CHILDREN SPECIAL-USE SUBSCRIBED STATUS (MESSAGES UNSEEN))"
        ),
        CommandBody::List {
            select: ListSelect {
                subscribed: true,
                remote: true,
                recursive_match: true,
                special_use: false
            },
            reference: String::new(),
            patterns: vec!["%".into(), "Foo/*".into(), "INBOX]".into()],
            returns: ListReturn {
                subscribed: true,
                children: true,
                special_use: true,
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen])
            }
        }
    );
    match body("a LIST (SPECIAL-USE) \"\" % RETURN ()") {
        CommandBody::List {
            select, returns, ..
        } => {
            assert!(select.special_use);
            assert_eq!(returns, ListReturn::default());
        }
        other => panic!("{other:?}"),
    }
    for s in [
        "a LIST \"\"",
        "a LIST (RECURSIVEMATCH) \"\" *",
        "a LIST (FOO) \"\" *",
        "a LIST \"\" * RETURN (FOO)",
        "a LIST \"\" * RETURN",
        "a LIST \"\" ()",
        "a LIST \"\" * FOO",
    ] {
        bad(s.as_bytes());
    }
    assert_eq!(
        body("a LSUB \"#news.\" comp.mail.*"),
        CommandBody::Lsub {
            reference: "#news.".into(),
            pattern: "comp.mail.*".into()
        }
    );
    bad(b"a LSUB x");
}

#[test]
fn status() {
    assert_eq!(
        body(
            "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID)"
        ),
        CommandBody::Status {
            mailbox: mb("INBOX"),
            items: vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::Deleted,
                StatusItem::Size,
                StatusItem::Recent,
                StatusItem::HighestModSeq,
                StatusItem::AppendLimit,
                StatusItem::MailboxId
            ]
        }
    );
    bad(b"a STATUS INBOX ()");
    bad(b"a STATUS INBOX (FOO)");
    bad(b"a STATUS INBOX MESSAGES");
}

#[test]
fn append_forms() {
    match body("a APPEND Drafts (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello") {
        CommandBody::Append { mailbox, messages } => {
            assert_eq!(mailbox, mb("Drafts"));
            let m = &messages[0];
            assert_eq!(
                m.flags,
                vec![Flag::Seen, Flag::Keyword("$Forwarded".into())]
            );
            let d = m.date_time.unwrap();
            assert_eq!((d.date.year, d.date.month, d.date.day), (1994, 2, 7));
            assert_eq!(
                (d.hour, d.minute, d.second, d.zone_minutes),
                (21, 52, 25, -480)
            );
            assert_eq!(m.data, b"hello");
            assert!(!m.binary);
        }
        other => panic!("{other:?}"),
    }
    // MULTIAPPEND with literal8 and LITERAL+.
    match body(
        "a APPEND INBOX {3+}\r\none (\\Draft) ~{4}\r\nt\0o! \"17-Jul-1996 02:44:25 +0130\" {0}\r\n",
    ) {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages.len(), 3);
            assert_eq!(messages[0].data, b"one");
            assert_eq!(messages[1].data, b"t\0o!");
            assert!(messages[1].binary);
            assert_eq!(messages[1].flags, vec![Flag::Draft]);
            assert_eq!(messages[2].date_time.unwrap().zone_minutes, 90);
            assert!(messages[2].data.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // RFC 6855: `UTF8 (literal8)` after ENABLE UTF8=ACCEPT.
    match body("a APPEND INBOX (\\Seen) UTF8 (~{13}\r\nSubject: \u{e4}\r\n)") {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].data, "Subject: \u{e4}\r\n".as_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert!(parse(b"a APPEND INBOX UTF8 (~{1}\r\nx").is_err());
    // A one-digit day without its padding space is accepted (clients send it).
    assert!(parse(b"a APPEND INBOX \"1-Feb-2020 00:00:00 +0000\" {1}\r\nx").is_ok());
    for s in [
        &b"a APPEND INBOX"[..],
        b"a APPEND INBOX \"hello\"",
        b"a APPEND INBOX (\\Seen)",
        b"a APPEND INBOX {3}\r\na\0b",
        b"a APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {1}\r\nx",
        b"a APPEND INBOX \"1-Foo-2020 00:00:00 +0000\" {1}\r\nx",
        b"a APPEND INBOX \"01-Feb-2020 24:00:00 +0000\" {1}\r\nx",
        b"a APPEND INBOX {1}\r\nxy",
    ] {
        bad(s);
    }
}

#[test]
fn idle_done() {
    assert!(parse_idle_done(&Frame::Command(b"DONE".to_vec())).is_ok());
    assert!(parse_idle_done(&Frame::Command(b"done".to_vec())).is_ok());
    assert!(parse_idle_done(&Frame::Command(b"DONE x".to_vec())).is_err());
    assert!(parse_idle_done(&Frame::Command(b"a NOOP".to_vec())).is_err());
    assert!(parse_idle_done(&Frame::NeedContinuation).is_err());
}

#[test]
fn uid_expunge_copy_move() {
    assert_eq!(
        body("a UID EXPUNGE 3000:3002,*"),
        CommandBody::UidExpunge(SequenceSet::Ranges(vec![
            range(3000, 3002),
            (SeqBound::Largest, SeqBound::Largest)
        ]))
    );
    bad(b"a UID EXPUNGE");
    assert_eq!(
        body("a COPY 2:4 MEETING"),
        CommandBody::Copy {
            uid: false,
            set: SequenceSet::Ranges(vec![range(2, 4)]),
            mailbox: mb("MEETING")
        }
    );
    assert_eq!(
        body("a UID MOVE $ Trash"),
        CommandBody::Move {
            uid: true,
            set: SequenceSet::Saved,
            mailbox: mb("Trash")
        }
    );
    assert_eq!(
        body("a uid copy 5:1 inbox"),
        CommandBody::Copy {
            uid: true,
            set: SequenceSet::Ranges(vec![range(5, 1)]),
            mailbox: mb("INBOX")
        }
    );
    for s in [
        "a COPY 0 x",
        "a COPY 1: x",
        "a COPY 1,,2 x",
        "a MOVE 1",
        "a COPY x y",
        "a COPY 4294967296 x",
    ] {
        bad(s.as_bytes());
    }
}

#[test]
fn store_forms() {
    assert_eq!(
        body("a STORE 2:4 +FLAGS (\\Deleted)"),
        CommandBody::Store {
            uid: false,
            set: SequenceSet::Ranges(vec![range(2, 4)]),
            unchanged_since: None,
            action: StoreAction::Add,
            silent: false,
            flags: vec![Flag::Deleted]
        }
    );
    assert_eq!(
        body("a UID STORE 1 (UNCHANGEDSINCE 12345) -FLAGS.SILENT \\Seen $Junk"),
        CommandBody::Store {
            uid: true,
            set: SequenceSet::Ranges(vec![range(1, 1)]),
            unchanged_since: Some(12345),
            action: StoreAction::Remove,
            silent: true,
            flags: vec![Flag::Seen, Flag::Keyword("$Junk".into())]
        }
    );
    match body("a STORE 1 FLAGS ()") {
        CommandBody::Store {
            action: StoreAction::Replace,
            flags,
            ..
        } => assert!(flags.is_empty()),
        other => panic!("{other:?}"),
    }
    for s in [
        "a STORE 1 +FLAGS",
        "a STORE 1 FLAGZ (\\Seen)",
        "a STORE 1 (FOO 1) FLAGS (\\Seen)",
        "a STORE 1 FLAGS (\\Seen",
        "a STORE FLAGS (\\Seen)",
    ] {
        bad(s.as_bytes());
    }
}

#[test]
fn quota() {
    assert_eq!(
        body("a GETQUOTA \"\""),
        CommandBody::GetQuota(String::new())
    );
    assert_eq!(
        body("a GETQUOTAROOT INBOX"),
        CommandBody::GetQuotaRoot(mb("INBOX"))
    );
    assert_eq!(
        body("a SETQUOTA \"\" (storage 512 MESSAGE 1000)"),
        CommandBody::SetQuota {
            root: String::new(),
            limits: vec![("STORAGE".into(), 512), ("MESSAGE".into(), 1000)]
        }
    );
    assert_eq!(
        body("a SETQUOTA x ()"),
        CommandBody::SetQuota {
            root: "x".into(),
            limits: vec![]
        }
    );
    bad(b"a SETQUOTA x (STORAGE)");
    bad(b"a GETQUOTA");
}

#[test]
fn errors_map_to_replies() {
    let e = bad(b"t7 SEARCH CHARSET KOI8-R FROM x");
    assert_eq!(e.kind, ParseErrorKind::BadCharset("KOI8-R".into()));
    assert_eq!(
        e.response().to_bytes(),
        b"t7 NO [BADCHARSET (UTF-8 US-ASCII ISO-8859-1)] Unsupported charset\r\n"
    );
    assert_eq!(
        bad(b"t8 NOOP x").response().to_bytes(),
        b"t8 BAD Syntax error: unexpected characters at end of command\r\n"
    );
    assert_eq!(
        bad(b"NOOP").response().to_bytes(),
        b"* BAD Missing or invalid tag\r\n"
    );
}
