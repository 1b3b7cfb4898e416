//! SEARCH keys evaluated against a real store: every key, its negation and the index-only path.

mod search_util;

use std::cell::Cell;
use std::collections::HashSet;

use mailstack_imap::search::key::{SearchKey, SeqBound, SequenceSet};
use mailstack_imap::search::{self, FileLoader, ObjectIds, SearchContext, SearchError};
use mailstack_store::{Flag, Mailbox, MessageMeta, MessageSource, Quota};
use search_util::{Fixture, at, counting_loader, crlf, date, now, unix};

// The junk message appended first and expunged has UID 1, so sequence number n is UID n + 1.
const M1: u32 = 2;
const M2: u32 = 3;
const M3: u32 = 4;
const M4: u32 = 5;
const M5: u32 = 6;
const M6: u32 = 7;
const ALL: [u32; 6] = [M1, M2, M3, M4, M5, M6];

fn m1() -> Vec<u8> {
    crlf(
        "From: \"Alice Example\" <alice@example.com>
To: bob@example.org
Cc: carol@example.net
Subject: Quarterly report
Date: Mon, 02 Feb 2026 10:00:00 +0000
Message-ID: <m1@example.com>
X-Priority: 1
X-Mailer: Thunderbird

Please find the numbers attached.
Zebra crossing.
",
    )
}

fn m2() -> Vec<u8> {
    crlf(
        "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>
To: alice@example.com
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=
Date: Tue, 03 Feb 2026 23:30:00 -0500
Message-ID: <m2@example.de>

Hallo Welt.
",
    )
}

fn m3() -> Vec<u8> {
    crlf(
        "From: dave@example.com
To: \"Team\" <team@example.com>
Bcc: secret@example.com
Subject: Re: Fwd: [list] Lunch plans (fwd)
Date: Wed, 04 Feb 2026 12:00:00 +0100
Message-ID: <m3@example.com>
X-Mailer: Mutt/2.2
X-Note: kiwifruit
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"outer\"

This is a multi-part message in MIME format.
--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

VGhlIHNlY3JldCB3b3JkIGlzIHBsYXR5cHVzLg0KU2VlIHlvdSBzb29uLg0K
--outer
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>Caf=C3=A9 menu: <b>espresso</b> and cr=
oissants</p>
--outer
Content-Type: application/octet-stream; name=\"notes.bin\"
Content-Disposition: attachment; filename=\"notes.bin\"
Content-Transfer-Encoding: base64

AAF3b21iYXQgYmluYXJ5IGRhdGH//g==
--outer--
",
    )
}

fn m4() -> Vec<u8> {
    crlf(
        "From: erin@example.com
To: alice@example.com
Subject: Lunch plans

short
",
    )
}

fn m5() -> Vec<u8> {
    let mut s = String::from(
        "From: Frank <frank@example.com>
To: henry@example.com
Subject: Big one
Date: Fri, 06 Feb 2026 09:00:00 +0000

",
    );
    for _ in 0..100 {
        s.push_str("lorem ipsum dolor sit amet consectetur adipiscing elit\n");
    }
    s.push_str("the final word is marmalade\n");
    crlf(&s)
}

fn m6() -> Vec<u8> {
    crlf(
        "From: Zed <aaron@example.com>
To: Bob <zoe@example.org>
Subject: [list] [other]
Date: Thu, 15 Jan 2026 08:00:00 +0000

fresh
",
    )
}

/// INBOX with M1..M6 (UIDs 2..7, sequence numbers 1..6).
async fn mailbox(f: &Fixture) -> (Mailbox, Vec<MessageMeta>) {
    let mut mb = f.inbox().await;
    let junk = mb
        .append(&crlf("Subject: junk\n\njunk\n"), &[], None)
        .await
        .unwrap();
    mb.expunge(&[junk]).await.unwrap();
    let appends: [(Vec<u8>, &[Flag], _); 5] = [
        (m1(), &[Flag::Seen], at(2026, 2, 2, 10, 0, 5)),
        (m2(), &[Flag::Answered, Flag::Seen], at(2026, 2, 4, 0, 0, 0)),
        (m3(), &[Flag::Flagged], at(2026, 2, 4, 23, 59, 59)),
        (m4(), &[Flag::Deleted, Flag::Draft], at(2026, 2, 5, 8, 0, 0)),
        (m5(), &[], at(2026, 2, 6, 9, 0, 0)),
    ];
    for (msg, flags, t) in appends {
        mb.append(&msg, flags, Some(t)).await.unwrap();
    }
    let d = f
        .user
        .deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(&m6()),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(d.uid, Some(M6));
    mb.sync().await.unwrap();
    mb.set_flags(M3, &[Flag::Flagged], &["$Important".to_string()])
        .await
        .unwrap();
    mb.set_flags(M4, &[Flag::Deleted, Flag::Draft], &["Work".to_string()])
        .await
        .unwrap();
    let msgs = mb.messages().await.unwrap();
    assert_eq!(msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), ALL);
    (mb, msgs)
}

fn run(ctx: &SearchContext<'_>, key: SearchKey) -> Vec<u32> {
    search::search(ctx, &key, &mut FileLoader).unwrap()
}

fn not(k: SearchKey) -> SearchKey {
    SearchKey::Not(Box::new(k))
}

fn or(a: SearchKey, b: SearchKey) -> SearchKey {
    SearchKey::Or(Box::new(a), Box::new(b))
}

fn set(ranges: &[(SeqBound, SeqBound)]) -> SequenceSet {
    SequenceSet::Ranges(ranges.to_vec())
}

use SeqBound::{Largest, Value as V};

#[tokio::test]
async fn flags_keywords_recent() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let recent: HashSet<u32> = [M2, M5, M6].into();
    let ctx = SearchContext::new(&msgs, now()).with_recent(&recent);
    use SearchKey::*;
    assert_eq!(run(&ctx, All), ALL);
    assert_eq!(run(&ctx, Seen(true)), [M1, M2]);
    assert_eq!(run(&ctx, Seen(false)), [M3, M4, M5, M6]);
    assert_eq!(run(&ctx, Answered(true)), [M2]);
    assert_eq!(run(&ctx, Answered(false)), [M1, M3, M4, M5, M6]);
    assert_eq!(run(&ctx, Flagged(true)), [M3]);
    assert_eq!(run(&ctx, Flagged(false)), [M1, M2, M4, M5, M6]);
    assert_eq!(run(&ctx, Deleted(true)), [M4]);
    assert_eq!(run(&ctx, Deleted(false)), [M1, M2, M3, M5, M6]);
    assert_eq!(run(&ctx, Draft(true)), [M4]);
    assert_eq!(run(&ctx, Draft(false)), [M1, M2, M3, M5, M6]);
    assert_eq!(run(&ctx, Recent), [M2, M5, M6]);
    assert_eq!(run(&ctx, New), [M5, M6]);
    assert_eq!(run(&ctx, Old), [M1, M3, M4]);
    assert_eq!(run(&ctx, Keyword("$important".into(), true)), [M3]);
    assert_eq!(run(&ctx, Keyword("WORK".into(), true)), [M4]);
    assert_eq!(
        run(&ctx, Keyword("work".into(), false)),
        [M1, M2, M3, M5, M6]
    );
    assert_eq!(run(&ctx, Keyword("$Junk".into(), true)), Vec::<u32>::new());
    // Without a recent set nothing is recent.
    let plain = SearchContext::new(&msgs, now());
    assert_eq!(run(&plain, Recent), Vec::<u32>::new());
    assert_eq!(run(&plain, Old), ALL);
}

#[tokio::test]
async fn address_and_subject_keys() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SearchKey::*;
    assert_eq!(run(&ctx, From("müller".into())), [M2]);
    assert_eq!(run(&ctx, From("JÖRG MÜLLER".into())), [M2]);
    assert_eq!(run(&ctx, From("ALICE".into())), [M1]);
    assert_eq!(run(&ctx, From("Example.com".into())), [M1, M3, M4, M5, M6]);
    assert_eq!(run(&ctx, To("alice@example.com".into())), [M2, M4]);
    assert_eq!(run(&ctx, To("team".into())), [M3]);
    assert_eq!(run(&ctx, Cc("CAROL".into())), [M1]);
    assert_eq!(run(&ctx, Bcc("secret@".into())), [M3]);
    assert_eq!(run(&ctx, Bcc("alice".into())), Vec::<u32>::new());
    assert_eq!(run(&ctx, Subject("grüße".into())), [M2]);
    assert_eq!(run(&ctx, Subject("BERLIN".into())), [M2]);
    assert_eq!(run(&ctx, Subject("lunch".into())), [M3, M4]);
    assert_eq!(run(&ctx, Subject("(fwd)".into())), [M3]);
    assert_eq!(run(&ctx, Subject("[list]".into())), [M3, M6]);
    assert_eq!(run(&ctx, not(Subject("lunch".into()))), [M1, M2, M5, M6]);
}

#[tokio::test]
async fn header_key() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    let h = |n: &str, v: &str| SearchKey::Header(n.into(), v.into());
    assert_eq!(run(&ctx, h("X-Mailer", "")), [M1, M3]);
    assert_eq!(run(&ctx, h("x-mailer", "mutt")), [M3]);
    assert_eq!(run(&ctx, h("X-Priority", "1")), [M1]);
    assert_eq!(run(&ctx, h("Cc", "")), [M1]);
    assert_eq!(run(&ctx, h("Date", "")), [M1, M2, M3, M5, M6]);
    assert_eq!(run(&ctx, h("Message-ID", "m2@example")), [M2]);
    assert_eq!(run(&ctx, h("Subject", "grüße aus")), [M2]);
    assert_eq!(run(&ctx, h("X-Absent", "")), Vec::<u32>::new());
    // MIME part headers are not message headers.
    assert_eq!(run(&ctx, h("Content-Disposition", "")), Vec::<u32>::new());
    assert_eq!(run(&ctx, not(h("Date", ""))), [M4]);
}

#[tokio::test]
async fn body_and_text() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SearchKey::*;
    // In a base64 text part.
    assert_eq!(run(&ctx, Body("PLATYPUS".into())), [M3]);
    assert_eq!(run(&ctx, Text("platypus".into())), [M3]);
    // In a quoted-printable HTML part (soft line break and UTF-8 decoded).
    assert_eq!(run(&ctx, Body("café menu".into())), [M3]);
    assert_eq!(run(&ctx, Body("croissants".into())), [M3]);
    // Only in a binary attachment: not searched.
    assert_eq!(run(&ctx, Body("wombat".into())), Vec::<u32>::new());
    // Only in a header: TEXT, not BODY.
    assert_eq!(run(&ctx, Body("kiwifruit".into())), Vec::<u32>::new());
    assert_eq!(run(&ctx, Text("kiwifruit".into())), [M3]);
    assert_eq!(run(&ctx, Text("notes.bin".into())), [M3]);
    assert_eq!(run(&ctx, Body("alice".into())), Vec::<u32>::new());
    assert_eq!(run(&ctx, Text("alice".into())), [M1, M2, M4]);
    assert_eq!(run(&ctx, Text("jörg".into())), [M2]);
    // Plain single-part bodies.
    assert_eq!(run(&ctx, Body("zebra".into())), [M1]);
    assert_eq!(run(&ctx, Body("HALLO welt".into())), [M2]);
    assert_eq!(run(&ctx, Body("consectetur".into())), [M5]);
    assert_eq!(run(&ctx, not(Body("e".into()))), [M4]);
    assert_eq!(run(&ctx, Body("marmalade".into())), [M5]);
    // A bound on the bytes read: M5's body beyond 300 bytes is not searched.
    let small = SearchContext::new(&msgs, now()).with_max_message_bytes(300);
    assert_eq!(run(&small, Body("lorem".into())), [M5]);
    assert_eq!(run(&small, Body("marmalade".into())), Vec::<u32>::new());
    assert_eq!(run(&small, Subject("big".into())), [M5]);
}

#[tokio::test]
async fn date_keys() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SearchKey::*;
    // Internal dates (UTC days): M1 2 Feb, M2 4 Feb 00:00:00, M3 4 Feb 23:59:59, M4 5 Feb,
    // M5 6 Feb, M6 today.
    assert_eq!(run(&ctx, Before(date(2026, 2, 4))), [M1]);
    assert_eq!(run(&ctx, On(date(2026, 2, 4))), [M2, M3]);
    assert_eq!(run(&ctx, Since(date(2026, 2, 4))), [M2, M3, M4, M5, M6]);
    assert_eq!(run(&ctx, Since(date(2026, 2, 5))), [M4, M5, M6]);
    assert_eq!(run(&ctx, On(date(2026, 2, 3))), Vec::<u32>::new());
    assert_eq!(run(&ctx, not(Since(date(2026, 2, 5)))), [M1, M2, M3]);
    // Sent dates, as written in Date: (M2 says 3 Feb -0500, which is 4 Feb in UTC), M4 has
    // none and falls back to its internal date (5 Feb), M6 says 15 Jan.
    assert_eq!(run(&ctx, SentOn(date(2026, 2, 3))), [M2]);
    assert_eq!(run(&ctx, SentOn(date(2026, 2, 4))), [M3]);
    assert_eq!(run(&ctx, SentOn(date(2026, 2, 5))), [M4]);
    assert_eq!(run(&ctx, SentBefore(date(2026, 2, 4))), [M1, M2, M6]);
    assert_eq!(run(&ctx, SentSince(date(2026, 2, 5))), [M4, M5]);
    assert_eq!(run(&ctx, SentBefore(date(2026, 1, 15))), Vec::<u32>::new());
    assert_eq!(run(&ctx, SentOn(date(2026, 1, 15))), [M6]);
    // Save dates: all saved today.
    let today = search_util_today();
    assert_eq!(run(&ctx, SavedOn(today)), ALL);
    assert_eq!(run(&ctx, SavedBefore(today)), Vec::<u32>::new());
    assert_eq!(run(&ctx, SavedSince(date(2026, 1, 1))), ALL);
    assert_eq!(run(&ctx, SaveDateSupported), ALL);
    // OLDER / YOUNGER: only M6 arrived within the last hour.
    assert_eq!(run(&ctx, Younger(3600)), [M6]);
    assert_eq!(run(&ctx, Older(3600)), [M1, M2, M3, M4, M5]);
    // Exact boundaries against a fixed "now": M5 arrived at 6 Feb 09:00:00.
    let at_m5 = SearchContext::new(&msgs, unix(2026, 2, 6, 9, 0, 10));
    assert_eq!(run(&at_m5, Younger(10)), [M5, M6]);
    assert_eq!(run(&at_m5, Older(10)), [M1, M2, M3, M4]);
    assert_eq!(run(&at_m5, Older(9)), [M1, M2, M3, M4, M5]);
}

fn search_util_today() -> mailstack_imap::search::key::Date {
    let days = now().div_euclid(86_400);
    let mut y: i64 = 1970;
    let mut d = days;
    loop {
        let len = if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            366
        } else {
            365
        };
        if d < len {
            break;
        }
        d -= len;
        y += 1;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let months = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut m = 0;
    while d >= months[m] {
        d -= months[m];
        m += 1;
    }
    date(y as u16, m as u8 + 1, d as u8 + 1)
}

#[tokio::test]
async fn sizes_sets_saved_modseq_and_logic() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let size = |uid: u32| msgs.iter().find(|m| m.uid == uid).unwrap().vsize;
    // M4 is the smallest message, M5 the largest.
    assert!(
        msgs.iter()
            .all(|m| size(M4) <= m.vsize && m.vsize <= size(M5))
    );
    let ctx = SearchContext::new(&msgs, now());
    use SearchKey::*;
    assert_eq!(run(&ctx, Larger(size(M5) - 1)), [M5]);
    assert_eq!(run(&ctx, Larger(size(M5))), Vec::<u32>::new());
    assert_eq!(run(&ctx, Smaller(size(M4) + 1)), [M4]);
    assert_eq!(run(&ctx, Smaller(size(M4))), Vec::<u32>::new());
    assert_eq!(run(&ctx, not(Larger(size(M4)))), [M4]);

    // UID sets: `*` is the largest UID, ranges may be reversed.
    assert_eq!(run(&ctx, Uid(set(&[(V(3), V(5))]))), [M2, M3, M4]);
    assert_eq!(run(&ctx, Uid(set(&[(V(5), V(3))]))), [M2, M3, M4]);
    assert_eq!(run(&ctx, Uid(set(&[(V(6), Largest)]))), [M5, M6]);
    assert_eq!(run(&ctx, Uid(set(&[(Largest, V(6))]))), [M5, M6]);
    assert_eq!(run(&ctx, Uid(set(&[(V(100), Largest)]))), [M6]);
    assert_eq!(run(&ctx, Uid(set(&[(V(1), V(1))]))), Vec::<u32>::new());
    assert_eq!(run(&ctx, Uid(set(&[(V(2), V(2)), (V(7), V(7))]))), [M1, M6]);
    // Sequence sets: sequence n is UID n + 1.
    assert_eq!(
        run(&ctx, Sequence(set(&[(V(2), V(2)), (V(4), Largest)]))),
        [M2, M4, M5, M6]
    );
    assert_eq!(run(&ctx, Sequence(set(&[(Largest, Largest)]))), [M6]);
    assert_eq!(run(&ctx, Sequence(set(&[(V(3), V(1))]))), [M1, M2, M3]);
    assert_eq!(run(&ctx, Sequence(set(&[(V(7), V(9))]))), Vec::<u32>::new());
    assert_eq!(run(&ctx, not(Sequence(set(&[(V(2), V(5))])))), [M1, M6]);

    // `$`: the saved result, for UID and sequence sets alike; none saved: empty.
    assert_eq!(run(&ctx, Uid(SequenceSet::Saved)), Vec::<u32>::new());
    let saved = [M5, M2, 99];
    let with_saved = SearchContext::new(&msgs, now()).with_saved(&saved);
    assert_eq!(run(&with_saved, Uid(SequenceSet::Saved)), [M2, M5]);
    assert_eq!(run(&with_saved, Sequence(SequenceSet::Saved)), [M2, M5]);
    assert_eq!(
        run(
            &with_saved,
            And(vec![Sequence(SequenceSet::Saved), Seen(true)])
        ),
        [M2]
    );

    // MODSEQ: the flag changes of M3 then M4 were the last changes.
    let modseq = |uid: u32| msgs.iter().find(|m| m.uid == uid).unwrap().modseq;
    assert!(modseq(M3) < modseq(M4));
    assert_eq!(run(&ctx, ModSeq(modseq(M4))), [M4]);
    assert_eq!(run(&ctx, ModSeq(modseq(M3))), [M3, M4]);
    assert_eq!(run(&ctx, ModSeq(1)), ALL);
    assert_eq!(run(&ctx, ModSeq(modseq(M4) + 1)), Vec::<u32>::new());

    // NOT / OR / AND nesting, mixing index and content keys.
    assert_eq!(run(&ctx, or(Seen(true), Flagged(true))), [M1, M2, M3]);
    assert_eq!(run(&ctx, not(or(Seen(true), Flagged(true)))), [M4, M5, M6]);
    assert_eq!(
        run(
            &ctx,
            And(vec![
                Seen(false),
                or(Subject("lunch".into()), From("müller".into()))
            ])
        ),
        [M3, M4]
    );
    assert_eq!(
        run(
            &ctx,
            or(
                And(vec![Deleted(true), Body("short".into())]),
                not(or(Body("e".into()), Seen(false)))
            )
        ),
        [M4]
    );
    assert_eq!(run(&ctx, not(not(Body("platypus".into())))), [M3]);
    assert_eq!(run(&ctx, And(vec![])), ALL);
    assert_eq!(run(&ctx, And(vec![All, not(All)])), Vec::<u32>::new());
}

struct Ids;

impl ObjectIds for Ids {
    fn email_id(&self, meta: &MessageMeta) -> Option<String> {
        Some(format!("M{}", meta.uid))
    }
    fn thread_id(&self, meta: &MessageMeta) -> Option<String> {
        meta.uid.is_multiple_of(2).then(|| "T-even".to_string())
    }
}

#[tokio::test]
async fn object_ids_and_limits() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    use SearchKey::*;
    let plain = SearchContext::new(&msgs, now());
    assert_eq!(run(&plain, EmailId("M4".into())), Vec::<u32>::new());
    let ids = Ids;
    let ctx = SearchContext::new(&msgs, now()).with_object_ids(&ids);
    assert_eq!(run(&ctx, EmailId("M4".into())), [M3]);
    assert_eq!(run(&ctx, EmailId("m4".into())), Vec::<u32>::new());
    assert_eq!(run(&ctx, ThreadId("T-even".into())), [M1, M3, M5]);
    // Hostile nesting is refused, not a stack overflow.
    let mut deep = All;
    for _ in 0..10_000 {
        deep = not(deep);
    }
    let err = search::search(&ctx, &deep, &mut FileLoader).unwrap_err();
    assert!(matches!(err, SearchError::TooComplex));
    // Iterative drop of the deep key (the recursive Drop would be fine at this depth too).
    let mut cur = deep;
    while let Not(inner) = cur {
        cur = *inner;
    }
}

#[tokio::test]
async fn content_keys_open_each_message_once_and_vanished_files_match_nothing() {
    let f = Fixture::new();
    let (_mb, msgs) = mailbox(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SearchKey::*;
    let calls = Cell::new(0);
    // Index keys decide first: only unseen messages are opened, once each.
    let key = And(vec![
        Subject("lunch".into()),
        Seen(false),
        Body("platypus".into()),
        From("dave".into()),
    ]);
    let hits = search::search(&ctx, &key, &mut counting_loader(&calls)).unwrap();
    assert_eq!(hits, [M3]);
    assert_eq!(calls.get(), 4);
    // OR with an index key that is true opens nothing for that message.
    calls.set(0);
    let hits = search::search(
        &ctx,
        &or(All, Body("x".into())),
        &mut counting_loader(&calls),
    )
    .unwrap();
    assert_eq!(hits, ALL);
    assert_eq!(calls.get(), 0);
    // A file removed behind our back: no match, no error.
    std::fs::remove_file(&msgs[2].path).unwrap();
    assert_eq!(run(&ctx, Body("platypus".into())), Vec::<u32>::new());
    // Its content keys evaluate as for an empty message.
    assert_eq!(run(&ctx, not(Body("platypus".into()))), ALL);
    // Other I/O errors are reported with the UID.
    let mut failing = |_: &MessageMeta| -> std::io::Result<std::fs::File> {
        Err(std::io::Error::other("disk on fire"))
    };
    let err = search::search(&ctx, &Body("x".into()), &mut failing).unwrap_err();
    assert!(matches!(err, SearchError::Io { uid, .. } if uid == M1));
}

#[tokio::test]
async fn flags_only_search_over_5000_messages_opens_no_file() {
    let f = Fixture::new();
    let mut mb = f.inbox().await;
    let msg = crlf("From: x@example.com\nSubject: bulk\n\nbody\n");
    for i in 0..5000u32 {
        let flags: &[Flag] = match i % 4 {
            0 => &[Flag::Seen],
            1 => &[Flag::Seen, Flag::Flagged],
            2 => &[Flag::Deleted],
            _ => &[],
        };
        mb.append(&msg, flags, None).await.unwrap();
    }
    let msgs = mb.messages().await.unwrap();
    assert_eq!(msgs.len(), 5000);
    let ctx = SearchContext::new(&msgs, now());
    let calls = Cell::new(0);
    let mut loader = counting_loader(&calls);
    use SearchKey::*;
    let seen = search::search(&ctx, &Seen(true), &mut loader).unwrap();
    assert_eq!(seen.len(), 2500);
    assert!(seen.iter().all(|u| (u - 1) % 4 < 2));
    let key = And(vec![
        Seen(false),
        not(Deleted(true)),
        Uid(set(&[(V(4000), Largest)])),
        Larger(1),
        Smaller(1_000_000),
        or(Flagged(false), Keyword("x".into(), true)),
        ModSeq(1),
        Since(date(2000, 1, 1)),
    ]);
    let hits = search::search(&ctx, &key, &mut loader).unwrap();
    let expected: Vec<u32> = (4000..=5000).filter(|u| (u - 1) % 4 == 3).collect();
    assert_eq!(hits, expected);
    assert_eq!(calls.get(), 0, "a flags-only search opened message files");
    // Whereas a header search reads every message exactly once.
    let hits = search::search(&ctx, &Subject("bulk".into()), &mut loader).unwrap();
    assert_eq!(hits.len(), 5000);
    assert_eq!(calls.get(), 5000);
}

/// Header field keys answered from the field cache give what a parse gives, and the second
/// search of the same fields opens no file; keys that need more than fields (a body, a sent
/// date) still read the messages.
#[tokio::test]
async fn field_cache_answers_header_keys_as_a_parse_does() {
    use SearchKey::*;
    use search::{FieldCache, FolderKey};
    let f = Fixture::new();
    let (mb, msgs) = mailbox(&f).await;
    let cache = FieldCache::new(1 << 20);
    let folder = FolderKey {
        dir: f.user.maildir_path(),
        guid: mb.guid().to_string(),
        uidvalidity: mb.uidvalidity(),
    };
    let plain = SearchContext::new(&msgs, now());
    let cached = SearchContext::new(&msgs, now()).with_field_cache(&cache, &folder);
    let h = |n: &str, v: &str| Header(n.into(), v.into());
    let keys = [
        From("müller".into()),
        From("Example.com".into()),
        To("alice@example.com".into()),
        Cc("CAROL".into()),
        Bcc("secret@".into()),
        Subject("grüße".into()),
        Subject("[list]".into()),
        not(Subject("lunch".into())),
        h("X-Mailer", ""),
        h("X-Absent", ""),
        not(h("Date", "")),
        h("Message-ID", "m2@example"),
        or(Subject("lunch".into()), h("x-priority", "1")),
        And(vec![Seen(false), To("team".into())]),
    ];
    for key in keys {
        let expected = run(&plain, key.clone());
        let calls = Cell::new(0);
        let first = search::search(&cached, &key, &mut counting_loader(&calls)).unwrap();
        assert_eq!(first, expected, "{key:?}, first search");
        calls.set(0);
        let again = search::search(&cached, &key, &mut counting_loader(&calls)).unwrap();
        assert_eq!(again, expected, "{key:?}, from the cache");
        assert_eq!(calls.get(), 0, "{key:?}: the second search opened files");
    }
    assert!(cache.bytes() > 0);
    // A body key is not answered from fields.
    let calls = Cell::new(0);
    let key = And(vec![Subject("lunch".into()), Body("platypus".into())]);
    let hits = search::search(&cached, &key, &mut counting_loader(&calls)).unwrap();
    assert_eq!(hits, run(&plain, key));
    assert_eq!(calls.get(), ALL.len());
    // Another UIDVALIDITY of the folder shares nothing.
    let other = FolderKey {
        uidvalidity: folder.uidvalidity + 1,
        ..folder.clone()
    };
    let fresh = SearchContext::new(&msgs, now()).with_field_cache(&cache, &other);
    calls.set(0);
    search::search(&fresh, &From("alice".into()), &mut counting_loader(&calls)).unwrap();
    assert_eq!(calls.get(), ALL.len());
    // A file that vanished is not remembered as a message without fields.
    let gone = FolderKey {
        guid: "gone".into(),
        ..folder.clone()
    };
    let ctx = SearchContext::new(&msgs, now()).with_field_cache(&cache, &gone);
    std::fs::remove_file(&msgs[0].path).unwrap();
    // (A vanished message reads as empty: it has no X-Mailer.)
    assert_eq!(run(&ctx, not(h("X-Mailer", ""))), [M1, M2, M4, M5, M6]);
    calls.set(0);
    search::search(&ctx, &h("X-Mailer", ""), &mut counting_loader(&calls)).unwrap();
    assert_eq!(calls.get(), 1, "only the vanished message is read again");
}
