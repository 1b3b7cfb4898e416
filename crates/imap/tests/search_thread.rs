//! THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256) over a real store.

mod search_util;

use std::cell::Cell;

use mailstack_imap::search::key::ThreadAlgorithm;
use mailstack_imap::search::{self, FileLoader, SearchContext, Thread, format_threads};
use mailstack_store::MessageMeta;
use search_util::{Fixture, counting_loader, crlf, now};

/// (Message-ID, References, In-Reply-To, Subject, Date); UID n is the n-th entry.
const CONVERSATION: &[(&str, &str, &str, &str, &str)] = &[
    // 1: the start of a conversation.
    ("<a@x>", "", "", "Party", "Sun, 01 Feb 2026 10:00:00 +0000"),
    // 2: reply to 1.
    (
        "<b@x>",
        "<a@x>",
        "<a@x>",
        "Re: Party",
        "Sun, 01 Feb 2026 11:00:00 +0000",
    ),
    // 3: reply to 2 (full References).
    (
        "<c@x>",
        "<a@x> <b@x>",
        "<b@x>",
        "Re: Party",
        "Sun, 01 Feb 2026 12:00:00 +0000",
    ),
    // 4: second reply to 1, only In-Reply-To; its Date is in another zone (13:00 UTC).
    (
        "<d@x>",
        "",
        "<a@x>",
        "RE: party",
        "Sun, 01 Feb 2026 14:00:00 +0100",
    ),
    // 5 and 6: replies to a message that is not in the mailbox (a dummy parent).
    (
        "<e@x>",
        "<missing@x>",
        "",
        "Re: Budget",
        "Mon, 02 Feb 2026 09:00:00 +0000",
    ),
    (
        "<f@x>",
        "<missing@x>",
        "",
        "Re: Budget",
        "Mon, 02 Feb 2026 10:00:00 +0000",
    ),
    // 7: unrelated, the oldest message.
    (
        "<g@x>",
        "",
        "",
        "Unrelated",
        "Sun, 01 Feb 2026 09:00:00 +0000",
    ),
    // 8: the only reply to a missing message: its dummy parent is pruned.
    (
        "<h@x>",
        "<gone@x>",
        "",
        "Re: Lonely",
        "Tue, 03 Feb 2026 09:00:00 +0000",
    ),
    // 9: a reply by subject only: joins 1's thread.
    (
        "<i@x>",
        "",
        "",
        "Re: Party",
        "Wed, 04 Feb 2026 09:00:00 +0000",
    ),
    // 10: same subject as the dummy-rooted thread, not a reply: joins the dummy.
    ("", "", "", "Budget", "Thu, 05 Feb 2026 09:00:00 +0000"),
];

async fn snapshot(f: &Fixture) -> Vec<MessageMeta> {
    let mut mb = f.inbox().await;
    for (id, refs, irt, subject, date) in CONVERSATION {
        let mut m = String::from("From: someone@example.com\n");
        if !id.is_empty() {
            m.push_str(&format!("Message-ID: {id}\n"));
        }
        if !refs.is_empty() {
            m.push_str(&format!("References: {refs}\n"));
        }
        if !irt.is_empty() {
            m.push_str(&format!("In-Reply-To: {irt}\n"));
        }
        m.push_str(&format!("Subject: {subject}\nDate: {date}\n\nbody\n"));
        mb.append(&crlf(&m), &[], None).await.unwrap();
    }
    mb.messages().await.unwrap()
}

fn threads(ctx: &SearchContext<'_>, alg: ThreadAlgorithm, uids: &[u32]) -> Vec<Thread> {
    search::thread(ctx, alg, uids, &mut FileLoader).unwrap()
}

fn leaf(uid: u32) -> Thread {
    Thread::chain(vec![uid])
}

#[tokio::test]
async fn references_threads_a_conversation() {
    let f = Fixture::new();
    let msgs = snapshot(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    let all: Vec<u32> = (1..=10).collect();
    let calls = Cell::new(0);
    let t = search::thread(
        &ctx,
        ThreadAlgorithm::References,
        &all,
        &mut counting_loader(&calls),
    )
    .unwrap();
    assert_eq!(calls.get(), 10);
    let expected = vec![
        leaf(7),
        Thread {
            messages: vec![1],
            children: vec![Thread::chain(vec![2, 3]), leaf(4), leaf(9)],
        },
        Thread {
            messages: vec![],
            children: vec![leaf(5), leaf(6), leaf(10)],
        },
        leaf(8),
    ];
    assert_eq!(t, expected);
    assert_eq!(
        format_threads(&t, |u| u),
        "(7)(1 (2 3)(4)(9))((5)(6)(10))(8)"
    );
    // Rendering with sequence numbers (here UID n has sequence number n; map to show it).
    assert_eq!(
        format_threads(&t, |u| u + 100),
        "(107)(101 (102 103)(104)(109))((105)(106)(110))(108)"
    );
}

#[tokio::test]
async fn references_on_a_subset_makes_a_dummy_of_the_missing_root() {
    let f = Fixture::new();
    let msgs = snapshot(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    // Without 1, its replies hang under a dummy root; 9 (same subject, a reply) joins it.
    let t = threads(&ctx, ThreadAlgorithm::References, &[2, 3, 4, 5, 7, 8, 9]);
    assert_eq!(format_threads(&t, |u| u), "(7)((2 3)(4)(9))(5)(8)");
    // Only 3 and 2: a plain chain.
    let t = threads(&ctx, ThreadAlgorithm::References, &[3, 2]);
    assert_eq!(t, vec![Thread::chain(vec![2, 3])]);
    assert!(threads(&ctx, ThreadAlgorithm::References, &[]).is_empty());
}

#[tokio::test]
async fn ordered_subject() {
    let f = Fixture::new();
    let msgs = snapshot(&f).await;
    let ctx = SearchContext::new(&msgs, now());
    let all: Vec<u32> = (1..=10).collect();
    let t = threads(&ctx, ThreadAlgorithm::OrderedSubject, &all);
    // Groups by base subject (budget: 5 6 10; lonely: 8; party: 1 2 3 4 9; unrelated: 7),
    // each sorted by sent date; the first message is the parent of all others; threads in
    // order of their first message's sent date.
    assert_eq!(
        t,
        vec![
            leaf(7),
            Thread {
                messages: vec![1],
                children: vec![leaf(2), leaf(3), leaf(4), leaf(9)],
            },
            Thread {
                messages: vec![5],
                children: vec![leaf(6), leaf(10)],
            },
            leaf(8),
        ]
    );
    assert_eq!(
        format_threads(&t, |u| u),
        "(7)(1 (2)(3)(4)(9))(5 (6)(10))(8)"
    );
    // Two messages of a subject make a chain.
    let t = threads(&ctx, ThreadAlgorithm::OrderedSubject, &[6, 5, 8]);
    assert_eq!(format_threads(&t, |u| u), "(5 6)(8)");
}
