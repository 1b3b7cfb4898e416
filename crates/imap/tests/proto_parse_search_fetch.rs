//! Parser: SEARCH, SORT, THREAD and FETCH, and the parser's limits.

use mailstack_imap::proto::*;
use mailstack_imap::search::key::{
    Date, SearchKey, SeqBound, SequenceSet, SortCriterion, SortKey, ThreadAlgorithm,
};

fn parse(s: &[u8]) -> Result<Command, ParseError> {
    parse_command(&Frame::Command(s.to_vec()))
}

fn body(s: &str) -> CommandBody {
    parse(s.as_bytes())
        .unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
        .body
}

fn bad(s: impl AsRef<[u8]>) -> ParseErrorKind {
    let s = s.as_ref();
    match parse(s) {
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(s)),
        Err(e) => {
            assert_eq!(e.tag.as_deref(), Some("a"));
            e.kind
        }
    }
}

fn criteria(s: &str) -> SearchKey {
    match body(s) {
        CommandBody::Search { criteria, .. } => criteria,
        other => panic!("{other:?}"),
    }
}

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    SequenceSet::Ranges(
        ranges
            .iter()
            .map(|&(a, b)| (SeqBound::Value(a), SeqBound::Value(b)))
            .collect(),
    )
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

#[test]
fn search_basic() {
    assert_eq!(
        body("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
        CommandBody::Search {
            uid: false,
            returns: None,
            charset: None,
            criteria: SearchKey::And(vec![
                SearchKey::Flagged(true),
                SearchKey::Since(date(1994, 2, 1)),
                SearchKey::Not(Box::new(SearchKey::From("Smith".into())))
            ])
        }
    );
    assert_eq!(
        body("a UID SEARCH RETURN (MIN MAX ALL COUNT SAVE) CHARSET utf-8 TEXT {7}\r\nstraße"),
        CommandBody::Search {
            uid: true,
            returns: Some(vec![
                SearchReturn::Min,
                SearchReturn::Max,
                SearchReturn::All,
                SearchReturn::Count,
                SearchReturn::Save
            ]),
            charset: Some("UTF-8".into()),
            criteria: SearchKey::Text("straße".into())
        }
    );
    match body("a SEARCH RETURN () ALL") {
        CommandBody::Search {
            returns, criteria, ..
        } => {
            assert_eq!(returns, Some(vec![]));
            assert_eq!(criteria, SearchKey::All);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        match parse(b"a SEARCH CHARSET ISO-8859-1 SUBJECT {4}\r\ncaf\xe9")
            .unwrap()
            .body
        {
            CommandBody::Search { criteria, .. } => criteria,
            other => panic!("{other:?}"),
        },
        SearchKey::Subject("café".into())
    );
}

#[test]
fn search_every_key() {
    let cases: Vec<(&str, SearchKey)> = vec![
        ("ALL", SearchKey::All),
        ("ANSWERED", SearchKey::Answered(true)),
        ("UNANSWERED", SearchKey::Answered(false)),
        ("DELETED", SearchKey::Deleted(true)),
        ("UNDELETED", SearchKey::Deleted(false)),
        ("DRAFT", SearchKey::Draft(true)),
        ("UNDRAFT", SearchKey::Draft(false)),
        ("FLAGGED", SearchKey::Flagged(true)),
        ("UNFLAGGED", SearchKey::Flagged(false)),
        ("SEEN", SearchKey::Seen(true)),
        ("unseen", SearchKey::Seen(false)),
        ("NEW", SearchKey::New),
        ("OLD", SearchKey::Old),
        ("RECENT", SearchKey::Recent),
        ("KEYWORD $Junk", SearchKey::Keyword("$Junk".into(), true)),
        ("UNKEYWORD foo", SearchKey::Keyword("foo".into(), false)),
        ("BCC a", SearchKey::Bcc("a".into())),
        ("CC a", SearchKey::Cc("a".into())),
        ("FROM a", SearchKey::From("a".into())),
        ("SUBJECT \"a b\"", SearchKey::Subject("a b".into())),
        ("TO a", SearchKey::To("a".into())),
        ("BODY a", SearchKey::Body("a".into())),
        ("TEXT a", SearchKey::Text("a".into())),
        (
            "HEADER Message-ID \"<x@y>\"",
            SearchKey::Header("Message-ID".into(), "<x@y>".into()),
        ),
        (
            "HEADER X-Spam \"\"",
            SearchKey::Header("X-Spam".into(), String::new()),
        ),
        ("BEFORE 29-Feb-2024", SearchKey::Before(date(2024, 2, 29))),
        ("ON \"1-Jan-2026\"", SearchKey::On(date(2026, 1, 1))),
        ("SINCE 31-dec-1999", SearchKey::Since(date(1999, 12, 31))),
        (
            "SENTBEFORE 1-Jan-2026",
            SearchKey::SentBefore(date(2026, 1, 1)),
        ),
        ("SENTON 1-Jan-2026", SearchKey::SentOn(date(2026, 1, 1))),
        (
            "SENTSINCE 1-Jan-2026",
            SearchKey::SentSince(date(2026, 1, 1)),
        ),
        (
            "SAVEDBEFORE 1-Jan-2026",
            SearchKey::SavedBefore(date(2026, 1, 1)),
        ),
        ("SAVEDON 1-Jan-2026", SearchKey::SavedOn(date(2026, 1, 1))),
        (
            "SAVEDSINCE 1-Jan-2026",
            SearchKey::SavedSince(date(2026, 1, 1)),
        ),
        ("SAVEDATESUPPORTED", SearchKey::SaveDateSupported),
        ("OLDER 3600", SearchKey::Older(3600)),
        ("YOUNGER 60", SearchKey::Younger(60)),
        ("LARGER 10000", SearchKey::Larger(10000)),
        ("SMALLER 5000000000", SearchKey::Smaller(5_000_000_000)),
        ("UID 1:5,7", SearchKey::Uid(set(&[(1, 5), (7, 7)]))),
        ("UID $", SearchKey::Uid(SequenceSet::Saved)),
        (
            "2:*",
            SearchKey::Sequence(SequenceSet::Ranges(vec![(
                SeqBound::Value(2),
                SeqBound::Largest,
            )])),
        ),
        ("$", SearchKey::Sequence(SequenceSet::Saved)),
        ("MODSEQ 620162338", SearchKey::ModSeq(620162338)),
        (
            "MODSEQ \"/flags/\\\\draft\" all 620162338",
            SearchKey::ModSeq(620162338),
        ),
        ("MODSEQ 0", SearchKey::ModSeq(0)),
        (
            "EMAILID M6d99ac3275bb4e",
            SearchKey::EmailId("M6d99ac3275bb4e".into()),
        ),
        (
            "THREADID T64b478a75b7ea9",
            SearchKey::ThreadId("T64b478a75b7ea9".into()),
        ),
        (
            "OR SEEN (FLAGGED DRAFT)",
            SearchKey::Or(
                Box::new(SearchKey::Seen(true)),
                Box::new(SearchKey::And(vec![
                    SearchKey::Flagged(true),
                    SearchKey::Draft(true),
                ])),
            ),
        ),
        (
            "NOT NOT ALL",
            SearchKey::Not(Box::new(SearchKey::Not(Box::new(SearchKey::All)))),
        ),
    ];
    for (text, key) in cases {
        assert_eq!(criteria(&format!("a SEARCH {text}")), key, "{text}");
    }
}

#[test]
fn search_invalid() {
    for s in [
        "a SEARCH",
        "a SEARCH FOO",
        "a SEARCH FROM",
        "a SEARCH SINCE 32-Jan-2020",
        "a SEARCH SINCE 29-Feb-2023",
        "a SEARCH SINCE 1-Jan-20",
        "a SEARCH OLDER 0",
        "a SEARCH LARGER -1",
        "a SEARCH OR SEEN",
        "a SEARCH NOT",
        "a SEARCH ()",
        "a SEARCH (SEEN",
        "a SEARCH SEEN)",
        "a SEARCH 0",
        "a SEARCH EMAILID a.b",
        "a SEARCH MODSEQ \"/foo\" all 1",
        "a SEARCH MODSEQ \"/flags/\\\\seen\" mine 1",
        "a SEARCH RETURN (FOO) ALL",
        "a SEARCH CHARSET",
        "a SEARCH  ALL",
        "a SEARCH ALL ",
    ] {
        bad(s);
    }
    assert!(matches!(
        bad("a SEARCH CHARSET BIG5 ALL"),
        ParseErrorKind::BadCharset(_)
    ));
    assert_eq!(
        bad(b"a SEARCH TEXT {2}\r\n\xff\xfe"),
        ParseErrorKind::InvalidUtf8
    );
    assert!(matches!(
        bad(b"a SEARCH FROM \"\\\xff\""),
        ParseErrorKind::Syntax(_)
    ));
}

#[test]
fn sort_and_thread() {
    assert_eq!(
        body(
            "a UID SORT (REVERSE ARRIVAL cc DATE FROM SIZE SUBJECT TO DISPLAYFROM REVERSE DISPLAYTO) UTF-8 UNDELETED SINCE 1-Feb-1994"
        ),
        CommandBody::Sort {
            uid: true,
            criteria: vec![
                SortCriterion {
                    key: SortKey::Arrival,
                    reverse: true
                },
                SortCriterion {
                    key: SortKey::Cc,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::Date,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::From,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::Size,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::Subject,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::To,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::DisplayFrom,
                    reverse: false
                },
                SortCriterion {
                    key: SortKey::DisplayTo,
                    reverse: true
                },
            ],
            charset: "UTF-8".into(),
            keys: SearchKey::And(vec![
                SearchKey::Deleted(false),
                SearchKey::Since(date(1994, 2, 1))
            ])
        }
    );
    assert_eq!(
        body("a THREAD REFERENCES us-ascii ALL"),
        CommandBody::Thread {
            uid: false,
            algorithm: ThreadAlgorithm::References,
            charset: "US-ASCII".into(),
            keys: SearchKey::All
        }
    );
    match body("a UID THREAD orderedsubject UTF-8 SEEN") {
        CommandBody::Thread {
            uid: true,
            algorithm: ThreadAlgorithm::OrderedSubject,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    for s in [
        "a SORT () UTF-8 ALL",
        "a SORT (FOO) UTF-8 ALL",
        "a SORT (DATE) ALL",
        "a SORT DATE UTF-8 ALL",
        "a SORT (REVERSE) UTF-8 ALL",
        "a THREAD FOO UTF-8 ALL",
        "a THREAD REFERENCES UTF-8",
    ] {
        bad(s);
    }
    assert!(matches!(
        bad("a THREAD REFERENCES KOI8-R ALL"),
        ParseErrorKind::BadCharset(_)
    ));
}

fn items(s: &str) -> (FetchItems, FetchModifiers) {
    match body(s) {
        CommandBody::Fetch {
            items, modifiers, ..
        } => (items, modifiers),
        other => panic!("{other:?}"),
    }
}

fn one(s: &str) -> FetchAttr {
    match items(&format!("a FETCH 1 {s}")).0 {
        FetchItems::Items(mut v) if v.len() == 1 => v.remove(0),
        other => panic!("{s}: {other:?}"),
    }
}

fn section(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

#[test]
fn fetch_macros_and_lists() {
    match body("a FETCH 2:4 ALL") {
        CommandBody::Fetch {
            uid: false,
            set: s,
            items: FetchItems::All,
            modifiers,
        } => {
            assert_eq!(s, set(&[(2, 4)]));
            assert_eq!(modifiers, FetchModifiers::default());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(items("a FETCH 1 fast").0, FetchItems::Fast);
    assert_eq!(items("a FETCH 1 FULL").0, FetchItems::Full);
    assert_eq!(FetchItems::Full.expand().len(), 5);
    assert_eq!(
        items("a UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT MODSEQ SAVEDATE EMAILID THREADID PREVIEW)").0,
        FetchItems::Items(vec![
            FetchAttr::Uid,
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::BodyStructure,
            FetchAttr::Body,
            FetchAttr::Rfc822,
            FetchAttr::Rfc822Header,
            FetchAttr::Rfc822Text,
            FetchAttr::ModSeq,
            FetchAttr::SaveDate,
            FetchAttr::EmailId,
            FetchAttr::ThreadId,
            FetchAttr::Preview { lazy: false },
        ])
    );
    assert_eq!(
        items("a FETCH 1 (PREVIEW (LAZY) UID)").0,
        FetchItems::Items(vec![FetchAttr::Preview { lazy: true }, FetchAttr::Uid])
    );
    let (i, m) = items("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
    assert_eq!(i, FetchItems::Items(vec![FetchAttr::Flags]));
    assert_eq!(
        m,
        FetchModifiers {
            changed_since: Some(12345),
            vanished: true
        }
    );
    let (_, m) = items("a FETCH 1 FLAGS (CHANGEDSINCE 7)");
    assert_eq!(
        m,
        FetchModifiers {
            changed_since: Some(7),
            vanished: false
        }
    );
}

#[test]
fn fetch_sections() {
    let cases = vec![
        (
            "BODY[]",
            FetchAttr::BodySection {
                peek: false,
                section: Section::default(),
                partial: None,
            },
        ),
        (
            "BODY.PEEK[HEADER]<0.1024>",
            FetchAttr::BodySection {
                peek: true,
                section: section(&[], Some(SectionText::Header)),
                partial: Some(Partial {
                    start: 0,
                    count: 1024,
                }),
            },
        ),
        (
            "body.peek[HEADER.FIELDS (From \"Subject\" X-Priority)]",
            FetchAttr::BodySection {
                peek: true,
                section: section(
                    &[],
                    Some(SectionText::HeaderFields(vec![
                        "From".into(),
                        "Subject".into(),
                        "X-Priority".into(),
                    ])),
                ),
                partial: None,
            },
        ),
        (
            "BODY[1.2.HEADER.FIELDS.NOT (Received)]",
            FetchAttr::BodySection {
                peek: false,
                section: section(
                    &[1, 2],
                    Some(SectionText::HeaderFieldsNot(vec!["Received".into()])),
                ),
                partial: None,
            },
        ),
        (
            "BODY[1.2.3]",
            FetchAttr::BodySection {
                peek: false,
                section: section(&[1, 2, 3], None),
                partial: None,
            },
        ),
        (
            "BODY[2.MIME]",
            FetchAttr::BodySection {
                peek: false,
                section: section(&[2], Some(SectionText::Mime)),
                partial: None,
            },
        ),
        (
            "BODY[TEXT]<100.50>",
            FetchAttr::BodySection {
                peek: false,
                section: section(&[], Some(SectionText::Text)),
                partial: Some(Partial {
                    start: 100,
                    count: 50,
                }),
            },
        ),
        (
            "BINARY[1]",
            FetchAttr::Binary {
                peek: false,
                part: vec![1],
                partial: None,
            },
        ),
        (
            "BINARY.PEEK[1.2]<0.10>",
            FetchAttr::Binary {
                peek: true,
                part: vec![1, 2],
                partial: Some(Partial {
                    start: 0,
                    count: 10,
                }),
            },
        ),
        (
            "BINARY[]",
            FetchAttr::Binary {
                peek: false,
                part: vec![],
                partial: None,
            },
        ),
        ("BINARY.SIZE[3]", FetchAttr::BinarySize { part: vec![3] }),
    ];
    for (text, attr) in cases {
        assert_eq!(one(text), attr, "{text}");
    }
}

#[test]
fn fetch_invalid() {
    for s in [
        "a FETCH 1",
        "a FETCH 1 ()",
        "a FETCH 1 FOO",
        "a FETCH 1 (UID",
        "a FETCH 1 BODY[",
        "a FETCH 1 BODY[MIME]",
        "a FETCH 1 BODY[0]",
        "a FETCH 1 BODY[1.]",
        "a FETCH 1 BODY[HEADER.FIELDS]",
        "a FETCH 1 BODY[HEADER.FIELDS ()]",
        "a FETCH 1 BODY[]<0.0>",
        "a FETCH 1 BODY[]<1>",
        "a FETCH 1 BINARY[TEXT]",
        "a FETCH 1 UID[]",
        "a FETCH 1 BODY.PEEK",
        "a FETCH 1 ALL (FOO 1)",
        "a FETCH 1 (FLAGS) (VANISHED)",
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        "a UID FETCH 1 (FLAGS) (VANISHED)",
        "a FETCH 1 FLAGS (CHANGEDSINCE 0)",
        "a FETCH * ((((UID))))",
    ] {
        bad(s);
    }
}

#[test]
fn nesting_is_bounded() {
    // 10 000 parentheses deep: BAD, no stack overflow.
    let deep = format!("a SEARCH {}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(bad(&deep), ParseErrorKind::TooDeep);
    let nots = format!("a SEARCH {}ALL", "NOT ".repeat(10_000));
    assert_eq!(bad(&nots), ParseErrorKind::TooDeep);
    let ors = format!("a SEARCH {}ALL{}", "OR ALL ".repeat(10_000), "");
    assert_eq!(bad(&ors), ParseErrorKind::TooDeep);
    let unclosed = format!("a SEARCH {}", "(".repeat(10_000));
    assert_eq!(bad(&unclosed), ParseErrorKind::TooDeep);
    let fetch = format!("a FETCH 1 {}", "(".repeat(10_000));
    assert!(matches!(bad(&fetch), ParseErrorKind::Syntax(_)));
    // Up to the limit is fine.
    let ok = format!("a SEARCH {}ALL{}", "(".repeat(63), ")".repeat(63));
    assert!(parse(ok.as_bytes()).is_ok());
    let e = parse(deep.as_bytes()).unwrap_err();
    assert_eq!(
        e.response().to_bytes(),
        b"a BAD [LIMIT] Nesting too deep\r\n"
    );
}

#[test]
fn key_and_set_counts_are_bounded() {
    let many = format!("a SEARCH {}", vec!["SEEN"; 1001].join(" "));
    assert_eq!(bad(&many), ParseErrorKind::TooManyKeys);
    let fine = format!("a SEARCH {}", vec!["SEEN"; 1000].join(" "));
    assert!(parse(fine.as_bytes()).is_ok());
    let long = (1..=40_000)
        .map(|n| (n * 2).to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        bad(format!("a FETCH {long} UID")),
        ParseErrorKind::SequenceTooLong
    );
    let limits = ParseLimits {
        max_depth: 3,
        max_search_keys: 5,
        max_sequence_ranges: 2,
    };
    let f = |s: &str| parse_command_with(&Frame::Command(s.as_bytes().to_vec()), &limits);
    assert!(f("a SEARCH ((ALL))").is_ok());
    assert_eq!(
        f("a SEARCH (((ALL)))").unwrap_err().kind,
        ParseErrorKind::TooDeep
    );
    assert_eq!(
        f("a SEARCH 1 2 3 4 5 6").unwrap_err().kind,
        ParseErrorKind::TooManyKeys
    );
    assert!(f("a FETCH 1,2 UID").is_ok());
    assert_eq!(
        f("a FETCH 1,2,3 UID").unwrap_err().kind,
        ParseErrorKind::SequenceTooLong
    );
}
