//! Synchronisation and search over the session: two sessions on one mailbox (flag changes,
//! expunges, deliveries), ENABLE, CONDSTORE, QRESYNC, ESEARCH / SEARCHRES, SORT / THREAD.

mod session_common;

use session_common::{Client, Env, message};

/// Alice's INBOX with `n` messages (`m1` ... `mn`), and a logged-in session that selected it.
async fn inbox_with(env: &Env, n: u32) -> Client {
    for i in 1..=n {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    selected(env).await
}

/// A logged-in session with INBOX selected.
async fn selected(env: &Env) -> Client {
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c
}

/// The untagged lines of a reply that start with `prefix`.
fn lines_with(r: &session_common::Reply, prefix: &str) -> Vec<String> {
    r.text()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

// ---- Sequence numbers while another session's expunge is pending (regression) ----

#[tokio::test]
async fn search_by_sequence_number_with_a_pending_expunge_is_not_shifted() {
    let env = Env::new();
    let mut a = inbox_with(&env, 4).await;
    let mut b = selected(&env).await;
    a.cmd("t STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    a.cmd("x EXPUNGE").await.assert_ok();
    // B learns of the expunge during a FETCH, which may not announce it: UID 2 stays seq 2.
    let r = b.cmd("f FETCH 1 (UID)").await;
    assert!(!r.has("EXPUNGE"), "{}", r.text());

    // Sequence numbers are still B's: 3 is UID 3, and the expunged 2 matches nothing.
    let r = b.cmd("q1 SEARCH 3").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 3"], "{}", r.text());
    let r = b.cmd("q2 SEARCH 2").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH"], "{}", r.text());
    let r = b.cmd("q3 SEARCH 4:*").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 4"], "{}", r.text());
    let r = b.cmd("q4 SEARCH ALL").await;
    assert_eq!(
        lines_with(&r, "* SEARCH"),
        ["* SEARCH 1 3 4"],
        "{}",
        r.text()
    );
    let r = b.cmd("q5 SEARCH NOT 1:2").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 3 4"], "{}", r.text());
    assert!(!r.has("EXPUNGE"), "{}", r.text());
    // UID SEARCH may announce the expunge (after its results); then the numbers move down.
    let r = b.cmd("q6 UID SEARCH 2:3").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 3"], "{}", r.text());
    assert!(r.has("* 2 EXPUNGE"), "{}", r.text());
    let r = b.cmd("q7 SEARCH 3").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 3"], "{}", r.text());
    let r = b.cmd("q8 UID SEARCH 3").await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH 4"], "{}", r.text());
}
