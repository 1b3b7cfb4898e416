//! Response serialization, byte-exact.

use mailstack_imap::proto::*;
use mailstack_imap::search::key::Date;

fn wire(r: Response) -> String {
    String::from_utf8(r.to_bytes()).unwrap()
}

fn status(tag: Option<&str>, kind: StatusKind, code: Option<Code>, text: &str) -> String {
    wire(Response::Status(StatusResponse {
        tag: tag.map(Into::into),
        kind,
        code,
        text: text.into(),
    }))
}

fn data(d: Data) -> String {
    wire(Response::Data(d))
}

#[test]
fn status_responses_and_codes() {
    assert_eq!(
        status(Some("a1"), StatusKind::Ok, None, "NOOP completed"),
        "a1 OK NOOP completed\r\n"
    );
    assert_eq!(
        status(
            None,
            StatusKind::Ok,
            Some(Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()])),
            "ready"
        ),
        "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"
    );
    assert_eq!(
        status(Some("x"), StatusKind::Bye, None, "bye"),
        "* BYE bye\r\n"
    );
    assert_eq!(
        status(None, StatusKind::Preauth, None, "hi"),
        "* PREAUTH hi\r\n"
    );
    assert_eq!(
        status(Some("a"), StatusKind::No, None, "bad\r\nline"),
        "a NO bad  line\r\n"
    );
    let cases: Vec<(Code, &str)> = vec![
        (Code::Alert, "ALERT"),
        (
            Code::PermanentFlags {
                flags: vec![Flag::Deleted, Flag::Seen, Flag::Keyword("$Junk".into())],
                new_keywords: true,
            },
            "PERMANENTFLAGS (\\Deleted \\Seen $Junk \\*)",
        ),
        (
            Code::PermanentFlags {
                flags: vec![],
                new_keywords: false,
            },
            "PERMANENTFLAGS ()",
        ),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::ReadWrite, "READ-WRITE"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::UidNext(4392), "UIDNEXT 4392"),
        (Code::UidValidity(3857529045), "UIDVALIDITY 3857529045"),
        (Code::Unseen(12), "UNSEEN 12"),
        (
            Code::HighestModSeq(715194045007),
            "HIGHESTMODSEQ 715194045007",
        ),
        (Code::NoModSeq, "NOMODSEQ"),
        (
            Code::Modified(NumberSet::from_numbers(&[7, 9, 10, 11])),
            "MODIFIED 7,9:11",
        ),
        (
            Code::AppendUid {
                uid_validity: 38505,
                uids: NumberSet::from_numbers(&[3955]),
            },
            "APPENDUID 38505 3955",
        ),
        (
            Code::CopyUid {
                uid_validity: 38505,
                source: NumberSet::from_numbers(&[304, 319, 320]),
                dest: NumberSet::from_numbers(&[3956, 3957, 3958]),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (Code::Closed, "CLOSED"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (Code::Expired, "EXPIRED"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::ContactAdmin, "CONTACTADMIN"),
        (Code::NoPerm, "NOPERM"),
        (Code::InUse, "INUSE"),
        (Code::ExpungeIssued, "EXPUNGEISSUED"),
        (Code::Corruption, "CORRUPTION"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::ClientBug, "CLIENTBUG"),
        (Code::Cannot, "CANNOT"),
        (Code::Limit, "LIMIT"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::TooBig, "TOOBIG"),
        (Code::Invalid, "INVALID"),
        (
            Code::MailboxId("F2212ea87-6097-4256-9d51-71338625".into()),
            "MAILBOXID (F2212ea87-6097-4256-9d51-71338625)",
        ),
        (Code::BadCharset(vec!["UTF-8".into()]), "BADCHARSET (UTF-8)"),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        (Code::Other("X-FOO".into(), Some("a]b".into())), "X-FOO ab"),
    ];
    for (code, text) in cases {
        assert_eq!(
            status(Some("t"), StatusKind::Ok, Some(code), "done"),
            format!("t OK [{text}] done\r\n")
        );
    }
}

#[test]
fn continuations() {
    assert_eq!(
        wire(Response::literal_ready()),
        "+ Ready for literal data\r\n"
    );
    assert_eq!(
        wire(Response::Continuation(Continuation::Base64(vec![]))),
        "+ \r\n"
    );
    assert_eq!(
        wire(Response::Continuation(Continuation::Base64(b"hi".to_vec()))),
        "+ aGk=\r\n"
    );
    assert_eq!(
        wire(Response::Continuation(Continuation::Text {
            code: Some(Code::Alert),
            text: "idling".into()
        })),
        "+ [ALERT] idling\r\n"
    );
}

#[test]
fn strings_quoted_or_literal() {
    assert_eq!(quote_or_literal(b"plain text"), b"\"plain text\"");
    assert_eq!(quote_or_literal(b""), b"\"\"");
    assert_eq!(quote_or_literal(b"a\"b"), b"{3}\r\na\"b");
    assert_eq!(quote_or_literal(b"a\\b"), b"{3}\r\na\\b");
    assert_eq!(quote_or_literal(b"a\r\nb"), b"{4}\r\na\r\nb");
    assert_eq!(quote_or_literal("ä".as_bytes()), b"{2}\r\n\xc3\xa4");
}

#[test]
fn mailbox_data() {
    assert_eq!(
        data(Data::Capability(vec![
            "IMAP4rev1".into(),
            "LITERAL+".into()
        ])),
        "* CAPABILITY IMAP4rev1 LITERAL+\r\n"
    );
    assert_eq!(
        data(Data::List(ListItem {
            attributes: vec![
                ListAttr::HasNoChildren,
                ListAttr::SpecialUse(SpecialUse::Sent)
            ],
            delimiter: Some('/'),
            name: "Sent".into(),
            child_info: vec![],
        })),
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
    );
    assert_eq!(
        data(Data::List(ListItem {
            attributes: vec![
                ListAttr::NonExistent,
                ListAttr::Subscribed,
                ListAttr::NoSelect,
                ListAttr::Remote
            ],
            delimiter: Some('\\'),
            name: "Foo \"bar\"".into(),
            child_info: vec!["SUBSCRIBED".into()],
        })),
        "* LIST (\\NonExistent \\Subscribed \\Noselect \\Remote) {1}\r\n\\ {9}\r\nFoo \"bar\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    assert_eq!(
        data(Data::Lsub(ListItem {
            attributes: vec![],
            delimiter: None,
            name: "Ünï".into(),
            child_info: vec![]
        })),
        "* LSUB () NIL {5}\r\nÜnï\r\n"
    );
    assert_eq!(
        data(Data::Status {
            mailbox: "INBOX".into(),
            items: vec![
                StatusValue::Messages(17),
                StatusValue::UidNext(4392),
                StatusValue::UidValidity(1),
                StatusValue::Unseen(2),
                StatusValue::Deleted(0),
                StatusValue::Size(123456),
                StatusValue::Recent(0),
                StatusValue::HighestModSeq(9),
                StatusValue::AppendLimit(None),
                StatusValue::MailboxId("Fabc".into()),
            ],
        }),
        "* STATUS \"INBOX\" (MESSAGES 17 UIDNEXT 4392 UIDVALIDITY 1 UNSEEN 2 DELETED 0 SIZE 123456 RECENT 0 HIGHESTMODSEQ 9 APPENDLIMIT NIL MAILBOXID (Fabc))\r\n"
    );
    assert_eq!(
        data(Data::Flags(vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
            Flag::Extension("Foo".into())
        ])),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Foo)\r\n"
    );
    assert_eq!(data(Data::Exists(23)), "* 23 EXISTS\r\n");
    assert_eq!(data(Data::Recent(5)), "* 5 RECENT\r\n");
    assert_eq!(data(Data::Expunge(3)), "* 3 EXPUNGE\r\n");
    assert_eq!(
        data(Data::Vanished {
            earlier: true,
            uids: NumberSet::from_numbers(&[41, 43, 44, 45, 46])
        }),
        "* VANISHED (EARLIER) 41,43:46\r\n"
    );
    assert_eq!(
        data(Data::Vanished {
            earlier: false,
            uids: NumberSet(vec![(405, 405)])
        }),
        "* VANISHED 405\r\n"
    );
}

#[test]
fn search_sort_thread() {
    assert_eq!(
        data(Data::Search {
            ids: vec![2, 3, 6],
            mod_seq: None
        }),
        "* SEARCH 2 3 6\r\n"
    );
    assert_eq!(
        data(Data::Search {
            ids: vec![],
            mod_seq: None
        }),
        "* SEARCH\r\n"
    );
    assert_eq!(
        data(Data::Search {
            ids: vec![2, 5],
            mod_seq: Some(917162500)
        }),
        "* SEARCH 2 5 (MODSEQ 917162500)\r\n"
    );
    assert_eq!(
        data(Data::Sort {
            ids: vec![5, 3, 4],
            mod_seq: None
        }),
        "* SORT 5 3 4\r\n"
    );
    assert_eq!(
        data(Data::ESearch {
            tag: Some("A282".into()),
            uid: true,
            items: vec![
                ESearchItem::Min(2),
                ESearchItem::Max(47),
                ESearchItem::All(NumberSet::from_numbers(&[2, 3, 4, 10, 47])),
                ESearchItem::Count(5),
                ESearchItem::ModSeq(10),
            ],
        }),
        "* ESEARCH (TAG \"A282\") UID MIN 2 MAX 47 ALL 2:4,10,47 COUNT 5 MODSEQ 10\r\n"
    );
    assert_eq!(
        data(Data::ESearch {
            tag: Some("t".into()),
            uid: false,
            items: vec![]
        }),
        "* ESEARCH (TAG \"t\")\r\n"
    );
    // RFC 5256 example: (2)(3 6 (4 23)(44 7 96))
    let leaf = |id| ThreadNode {
        id: Some(id),
        children: vec![],
    };
    let node = |id, children| ThreadNode {
        id: Some(id),
        children,
    };
    let threads = vec![
        leaf(2),
        node(
            3,
            vec![node(
                6,
                vec![
                    node(4, vec![leaf(23)]),
                    node(44, vec![node(7, vec![leaf(96)])]),
                ],
            )],
        ),
    ];
    assert_eq!(
        data(Data::Thread(threads)),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    );
    // A dummy parent: ((3)(5)).
    let dummy = ThreadNode {
        id: None,
        children: vec![leaf(3), leaf(5)],
    };
    assert_eq!(data(Data::Thread(vec![dummy])), "* THREAD ((3)(5))\r\n");
    assert_eq!(data(Data::Thread(vec![])), "* THREAD\r\n");
    // A long chain does not recurse.
    let mut chain = leaf(3_000);
    for id in (1..3_000).rev() {
        chain = node(id, vec![chain]);
    }
    let out = data(Data::Thread(vec![chain]));
    assert!(out.starts_with("* THREAD (1 2 3 ") && out.ends_with(" 3000)\r\n"));
}

#[test]
fn quota_id_enabled_namespace() {
    assert_eq!(
        data(Data::Quota {
            root: String::new(),
            resources: vec![QuotaResource {
                name: "STORAGE".into(),
                usage: 10,
                limit: 512
            }],
        }),
        "* QUOTA \"\" (STORAGE 10 512)\r\n"
    );
    assert_eq!(
        data(Data::QuotaRoot {
            mailbox: "INBOX".into(),
            roots: vec![String::new()]
        }),
        "* QUOTAROOT \"INBOX\" \"\"\r\n"
    );
    assert_eq!(data(Data::Id(None)), "* ID NIL\r\n");
    assert_eq!(
        data(Data::Id(Some(vec![
            ("name".into(), Some("mailstack".into())),
            ("os".into(), None)
        ]))),
        "* ID (\"name\" \"mailstack\" \"os\" NIL)\r\n"
    );
    assert_eq!(
        data(Data::Enabled(vec!["CONDSTORE".into()])),
        "* ENABLED CONDSTORE\r\n"
    );
    assert_eq!(data(Data::Enabled(vec![])), "* ENABLED\r\n");
    assert_eq!(
        data(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: String::new(),
                delimiter: Some('/')
            }],
            other: vec![],
            shared: vec![NamespaceDesc {
                prefix: "Shared/".into(),
                delimiter: Some('/')
            }],
        }),
        "* NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))\r\n"
    );
}

fn fetch(items: Vec<FetchValue>) -> String {
    data(Data::Fetch { seq: 12, items })
}

#[test]
fn fetch_simple_items() {
    let dt = DateTime {
        date: Date {
            year: 1996,
            month: 7,
            day: 7,
        },
        hour: 2,
        minute: 44,
        second: 25,
        zone_minutes: -420,
    };
    assert_eq!(
        fetch(vec![
            FetchValue::Uid(4827313),
            FetchValue::Flags(vec![Flag::Seen, Flag::Keyword("$Forwarded".into())]),
            FetchValue::InternalDate(dt),
            FetchValue::Rfc822Size(44827),
            FetchValue::ModSeq(624140003),
            FetchValue::SaveDate(None),
            FetchValue::EmailId("M6d99ac3275bb4e".into()),
            FetchValue::ThreadId(None),
            FetchValue::Preview(Some("Hi there".into())),
            FetchValue::BinarySize {
                part: vec![1, 2],
                size: 100
            },
        ]),
        "* 12 FETCH (UID 4827313 FLAGS (\\Seen $Forwarded) INTERNALDATE \" 7-Jul-1996 02:44:25 -0700\" RFC822.SIZE 44827 MODSEQ (624140003) SAVEDATE NIL EMAILID (M6d99ac3275bb4e) THREADID NIL PREVIEW \"Hi there\" BINARY.SIZE[1.2] 100)\r\n"
    );
    let dt2 = DateTime {
        zone_minutes: 330,
        date: Date {
            year: 2026,
            month: 12,
            day: 25,
        },
        ..dt
    };
    assert_eq!(
        fetch(vec![FetchValue::SaveDate(Some(dt2))]),
        "* 12 FETCH (SAVEDATE \"25-Dec-2026 02:44:25 +0530\")\r\n"
    );
}

#[test]
fn fetch_body_sections() {
    assert_eq!(
        fetch(vec![FetchValue::BodySection {
            section: Section::default(),
            origin: None,
            data: Some(b"Subject: x\r\n\r\nbody".to_vec()),
        }]),
        "* 12 FETCH (BODY[] {18}\r\nSubject: x\r\n\r\nbody)\r\n"
    );
    assert_eq!(
        fetch(vec![FetchValue::BodySection {
            section: Section {
                part: vec![1, 2],
                text: Some(SectionText::HeaderFields(vec![
                    "Subject".into(),
                    "X Odd".into()
                ])),
            },
            origin: Some(0),
            data: None,
        }]),
        "* 12 FETCH (BODY[1.2.HEADER.FIELDS (Subject \"X Odd\")]<0> NIL)\r\n"
    );
    assert_eq!(
        fetch(vec![FetchValue::BodySection {
            section: Section {
                part: vec![3],
                text: Some(SectionText::Mime)
            },
            origin: None,
            data: Some(b"short".to_vec()),
        }]),
        "* 12 FETCH (BODY[3.MIME] \"short\")\r\n"
    );
    assert_eq!(
        fetch(vec![
            FetchValue::Binary {
                part: vec![1],
                origin: None,
                data: Some(b"a\0b".to_vec())
            },
            FetchValue::Binary {
                part: vec![],
                origin: Some(5),
                data: Some(b"ok".to_vec())
            },
            FetchValue::Rfc822Header(Some(b"A: b\r\n".to_vec())),
            FetchValue::Rfc822Text(None),
            FetchValue::Rfc822(Some(b"x".to_vec())),
        ]),
        "* 12 FETCH (BINARY[1] ~{3}\r\na\0b BINARY[]<5> \"ok\" RFC822.HEADER {6}\r\nA: b\r\n RFC822.TEXT NIL RFC822 \"x\")\r\n"
    );
}

#[test]
fn fetch_envelope_and_bodystructure() {
    let addr = |name: Option<&str>, mailbox: &str, host: &str| Address {
        name: name.map(|n| n.as_bytes().to_vec()),
        adl: None,
        mailbox: Some(mailbox.as_bytes().to_vec()),
        host: Some(host.as_bytes().to_vec()),
    };
    let env = Envelope {
        date: Some(b"Wed, 17 Jul 1996 02:23:25 -0700".to_vec()),
        subject: Some(b"IMAP4rev1 WG mtg summary and minutes".to_vec()),
        from: vec![addr(Some("Terry Gray"), "gray", "cac.washington.edu")],
        sender: vec![],
        reply_to: vec![],
        to: vec![addr(None, "imap", "cac.washington.edu")],
        cc: vec![],
        bcc: vec![],
        in_reply_to: None,
        message_id: Some(b"<B27397-0100000@cac.washington.edu>".to_vec()),
    };
    assert_eq!(
        fetch(vec![FetchValue::Envelope(Box::new(env.clone()))]),
        "* 12 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL ((NIL NIL \"imap\" \"cac.washington.edu\")) NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\r\n"
    );
    let text = BodyStructure::Single {
        body_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        params: vec![("CHARSET".into(), "US-ASCII".into())],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: 3028,
        kind: SingleKind::Text { lines: 92 },
        ext: Some(BodyExt::default()),
    };
    assert_eq!(
        fetch(vec![FetchValue::Body(Box::new(text.clone()))]),
        "* 12 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
    );
    assert_eq!(
        fetch(vec![FetchValue::BodyStructure(Box::new(text.clone()))]),
        "* 12 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL))\r\n"
    );
    let attachment = BodyStructure::Single {
        body_type: "APPLICATION".into(),
        subtype: "PDF".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "BASE64".into(),
        size: 100,
        kind: SingleKind::Basic,
        ext: Some(BodyExt {
            md5: None,
            disposition: Some((
                "attachment".into(),
                vec![("filename".into(), "a.pdf".into())],
            )),
            language: vec!["en".into()],
            location: None,
        }),
    };
    let inner = BodyStructure::Single {
        body_type: "MESSAGE".into(),
        subtype: "RFC822".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: 500,
        kind: SingleKind::Message {
            envelope: Box::new(Envelope::default()),
            body: Box::new(text.clone()),
            lines: 10,
        },
        ext: None,
    };
    let multi = BodyStructure::Multipart {
        parts: vec![text, attachment, inner],
        subtype: "MIXED".into(),
        params: vec![("BOUNDARY".into(), "xyz".into())],
        ext: Some(BodyExt {
            language: vec!["en".into(), "de".into()],
            ..BodyExt::default()
        }),
    };
    assert_eq!(
        fetch(vec![FetchValue::BodyStructure(Box::new(multi.clone()))]),
        concat!(
            "* 12 FETCH (BODYSTRUCTURE (",
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL)",
            "(\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\" 100 NIL (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\") NIL)",
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 500 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ",
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL) 10)",
            " \"MIXED\" (\"BOUNDARY\" \"xyz\") NIL (\"en\" \"de\") NIL))\r\n"
        )
    );
    assert_eq!(
        fetch(vec![FetchValue::Body(Box::new(multi))]),
        concat!(
            "* 12 FETCH (BODY (",
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)",
            "(\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\" 100)",
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 500 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ",
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92) 10)",
            " \"MIXED\"))\r\n"
        )
    );
}

#[test]
fn number_sets() {
    assert_eq!(NumberSet::from_numbers(&[1, 2, 3, 5]).to_string(), "1:3,5");
    assert_eq!(NumberSet::from_numbers(&[]).to_string(), "");
    assert_eq!(NumberSet::from_numbers(&[5, 1, 2]).to_string(), "5,1:2");
    assert_eq!(
        NumberSet::from_numbers(&[u32::MAX - 1, u32::MAX]).to_string(),
        "4294967294:4294967295"
    );
    assert_eq!(
        NumberSet::from_numbers(&[u32::MAX, 0]).to_string(),
        "4294967295,0"
    );
}
