//! SORT (RFC 5256, RFC 5957) over a real store.

mod search_util;

use std::cell::Cell;

use mailstack_imap::search::key::{SortCriterion, SortKey};
use mailstack_imap::search::{self, FileLoader, SearchContext};
use mailstack_store::MessageMeta;
use search_util::{Fixture, at, counting_loader, crlf, now};

/// (message, internal date); UIDs 1..=6.
fn messages() -> Vec<(Vec<u8>, std::time::SystemTime)> {
    vec![
        (
            crlf(
                "From: \"Alice Example\" <alice@example.com>
To: bob@example.org
Cc: carol@example.net
Subject: Quarterly report
Date: Mon, 02 Feb 2026 10:00:00 +0000

numbers
",
            ),
            at(2026, 2, 2, 10, 0, 5),
        ),
        (
            crlf(
                "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>
To: alice@example.com
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=
Date: Tue, 03 Feb 2026 23:30:00 -0500

Hallo Welt, this one is a little longer than the others.
",
            ),
            at(2026, 2, 4, 0, 0, 0),
        ),
        (
            crlf(
                "From: dave@example.com
To: \"Team\" <team@example.com>
Subject: Re: Fwd: [list] Lunch plans (fwd)
Date: Wed, 04 Feb 2026 12:00:00 +0100

lunch?
",
            ),
            at(2026, 2, 4, 23, 59, 59),
        ),
        (
            crlf(
                "From: erin@example.com
To: alice@example.com
Subject: Lunch plans

ok
",
            ),
            at(2026, 2, 5, 8, 0, 0),
        ),
        (
            crlf(
                "From: Frank <frank@example.com>
To: henry@example.com
Subject: Big one
Date: Fri, 06 Feb 2026 09:00:00 +0000

big big big big big big big big big big big big big big big big big big big big big
",
            ),
            at(2026, 2, 6, 9, 0, 0),
        ),
        (
            crlf(
                "From: Zed <aaron@example.com>
To: Bob <zoe@example.org>
Subject: [list] [other]
Date: Thu, 15 Jan 2026 08:00:00 +0000

fresh
",
            ),
            at(2026, 2, 7, 0, 0, 0),
        ),
    ]
}

async fn snapshot(f: &Fixture) -> Vec<MessageMeta> {
    let mut mb = f.inbox().await;
    for (msg, t) in messages() {
        mb.append(&msg, &[], Some(t)).await.unwrap();
    }
    mb.messages().await.unwrap()
}

fn by(key: SortKey) -> SortCriterion {
    SortCriterion {
        key,
        reverse: false,
    }
}

fn rev(key: SortKey) -> SortCriterion {
    SortCriterion { key, reverse: true }
}

fn sorted(ctx: &SearchContext<'_>, criteria: &[SortCriterion]) -> Vec<u32> {
    let all: Vec<u32> = ctx.messages.iter().map(|m| m.uid).collect();
    search::sort(ctx, criteria, &all, &mut FileLoader).unwrap()
}

#[tokio::test]
async fn each_sort_key_and_reverse() {
    let f = Fixture::new();
    let msgs = snapshot(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SortKey::*;
    assert_eq!(sorted(&ctx, &[by(Arrival)]), [1, 2, 3, 4, 5, 6]);
    assert_eq!(sorted(&ctx, &[rev(Arrival)]), [6, 5, 4, 3, 2, 1]);
    // Sent dates in UTC: 6 (15 Jan), 1 (2 Feb 10:00), 2 (4 Feb 04:30Z), 3 (4 Feb 11:00Z),
    // 4 (no Date: internal date 5 Feb), 5 (6 Feb).
    assert_eq!(sorted(&ctx, &[by(Date)]), [6, 1, 2, 3, 4, 5]);
    assert_eq!(sorted(&ctx, &[rev(Date)]), [5, 4, 3, 2, 1, 6]);
    // Base subjects: BIG ONE, GRÜSSE AUS BERLIN, LUNCH PLANS (3 and 4: tie, by sequence),
    // QUARTERLY REPORT, [OTHER].
    assert_eq!(sorted(&ctx, &[by(Subject)]), [5, 2, 3, 4, 1, 6]);
    assert_eq!(sorted(&ctx, &[rev(Subject)]), [6, 1, 3, 4, 2, 5]);
    // Local parts of From: aaron, alice, dave, erin, frank, joerg.
    assert_eq!(sorted(&ctx, &[by(From)]), [6, 1, 3, 4, 5, 2]);
    assert_eq!(sorted(&ctx, &[rev(From)]), [2, 5, 4, 3, 1, 6]);
    // Display names, else addresses: ALICE EXAMPLE, DAVE@, ERIN@, FRANK, JÖRG MÜLLER, ZED.
    assert_eq!(sorted(&ctx, &[by(DisplayFrom)]), [1, 3, 4, 5, 2, 6]);
    assert_eq!(sorted(&ctx, &[rev(DisplayFrom)]), [6, 2, 5, 4, 3, 1]);
    // To local parts: alice (2, 4), bob, henry, team, zoe.
    assert_eq!(sorted(&ctx, &[by(To)]), [2, 4, 1, 5, 3, 6]);
    assert_eq!(sorted(&ctx, &[rev(To)]), [6, 3, 5, 1, 2, 4]);
    // DISPLAYTO: ALICE@ (2, 4), BOB, BOB@EXAMPLE.ORG, HENRY@, TEAM.
    assert_eq!(sorted(&ctx, &[by(DisplayTo)]), [2, 4, 6, 1, 5, 3]);
    // Only 1 has a Cc: the others sort as "" first, among themselves by sequence.
    assert_eq!(sorted(&ctx, &[by(Cc)]), [2, 3, 4, 5, 6, 1]);
    assert_eq!(sorted(&ctx, &[rev(Cc)]), [1, 2, 3, 4, 5, 6]);
    // Sizes: exactly the order of RFC822.SIZE, ties by sequence.
    let mut by_size: Vec<(u64, usize, u32)> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (m.vsize, i, m.uid))
        .collect();
    by_size.sort();
    let expected: Vec<u32> = by_size.iter().map(|t| t.2).collect();
    assert_eq!(sorted(&ctx, &[by(Size)]), expected);
    assert_eq!(expected.first(), Some(&4));
    assert_eq!(expected.last(), Some(&2));
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<u32> = by_size.iter().map(|t| t.2).collect();
    assert_eq!(sorted(&ctx, &[rev(Size)]), expected);
    // No criteria: sequence order.
    assert_eq!(sorted(&ctx, &[]), [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn several_criteria_subsets_and_index_only_keys() {
    let f = Fixture::new();
    let msgs = snapshot(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    use SortKey::*;
    // Lunch plans 3 (4 Feb) and 4 (5 Feb) swap under REVERSE DATE.
    assert_eq!(sorted(&ctx, &[by(Subject), rev(Date)]), [5, 2, 4, 3, 1, 6]);
    assert_eq!(sorted(&ctx, &[by(To), rev(Arrival)]), [4, 2, 1, 5, 3, 6]);
    // Only the given UIDs are sorted; unknown UIDs and duplicates are dropped.
    let calls = Cell::new(0);
    let got = search::sort(
        &ctx,
        &[rev(Arrival)],
        &[4, 1, 99, 3, 1],
        &mut counting_loader(&calls),
    )
    .unwrap();
    assert_eq!(got, [4, 3, 1]);
    // ARRIVAL and SIZE come from the index.
    assert_eq!(calls.get(), 0);
    let got = search::sort(&ctx, &[by(From)], &[4, 1, 3], &mut counting_loader(&calls)).unwrap();
    assert_eq!(got, [1, 3, 4]);
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn base_subjects_from_rfc_5256() {
    // Each subject paired with a sent date; SORT SUBJECT groups the equal base subjects and
    // orders them by sequence number.
    let subjects = [
        "Re: Fwd: [list] subject (fwd)",
        "subject",
        "[fwd: Re: subject]",
        "RE: re:   [list2] Re[2]: subject",
        "[list] [subject]",
        "Fw: [subject]",
        "re:subject   (FWD)  ",
        "=?UTF-8?Q?Re=3A_subject?=",
        "ZZZ",
        "",
    ];
    let f = Fixture::new();
    let mut mb = f.inbox().await;
    for s in subjects {
        let msg = crlf(&format!("From: a@example.com\nSubject: {s}\n\nx\n"));
        mb.append(&msg, &[], None).await.unwrap();
    }
    let msgs = mb.messages().await.unwrap();
    let ctx = SearchContext::new(&msgs, now());
    // "" < "SUBJECT" (1, 2, 3, 4, 7, 8) < "ZZZ" < "[SUBJECT]" (5, 6).
    assert_eq!(
        sorted(&ctx, &[by(SortKey::Subject)]),
        [10, 1, 2, 3, 4, 7, 8, 9, 5, 6]
    );
}
