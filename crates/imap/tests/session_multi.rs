//! Two sessions on one mailbox, and IDLE.

mod session_common;

use std::time::Duration;

use session_common::{Env, message};

#[tokio::test]
async fn flag_change_by_a_seen_by_b_after_noop() {
    let env = Env::new();
    env.deliver("alice", &message("m1")).await;
    let mut a = env.client().await;
    let mut b = env.client().await;
    a.login("alice@example.com").await;
    b.login("alice@example.com").await;
    a.cmd("s SELECT INBOX").await.assert_ok();
    b.cmd("s SELECT INBOX").await.assert_ok();
    a.cmd("t STORE 1 +FLAGS (\\Flagged)").await.assert_ok();
    let r = b.cmd("n NOOP").await;
    r.assert_ok();
    assert!(r.has("* 1 FETCH (UID 1 FLAGS (\\Flagged))"), "{}", r.text());
    // Told once.
    assert_eq!(b.cmd("n2 NOOP").await.lines.len(), 1);
}

#[tokio::test]
async fn expunge_by_a_reaches_b_only_after_noop() {
    let env = Env::new();
    for s in ["m1", "m2", "m3"] {
        env.deliver("alice", &message(s)).await;
    }
    let mut a = env.client().await;
    let mut b = env.client().await;
    a.login("alice@example.com").await;
    b.login("alice@example.com").await;
    a.cmd("s SELECT INBOX").await.assert_ok();
    b.cmd("s SELECT INBOX").await.assert_ok();
    a.cmd("t STORE 2 +FLAGS (\\Deleted)").await.assert_ok();
    let r = a.cmd("x EXPUNGE").await;
    assert!(r.has("* 2 EXPUNGE"), "{}", r.text());

    // B's sequence numbers stay put during FETCH, STORE and SEARCH.
    let r = b.cmd("f FETCH 1:* (UID)").await;
    assert!(!r.has("EXPUNGE"), "{}", r.text());
    assert!(
        r.has("* 1 FETCH (UID 1)") && r.has("* 3 FETCH (UID 3)"),
        "{}",
        r.text()
    );
    let r = b.cmd("q SEARCH ALL").await;
    assert!(!r.has("EXPUNGE"), "{}", r.text());
    let r = b.cmd("t STORE 3 +FLAGS (\\Seen)").await;
    assert!(!r.has("EXPUNGE"), "{}", r.text());
    assert!(r.has("* 3 FETCH (FLAGS (\\Seen))"), "{}", r.text());

    let r = b.cmd("n NOOP").await;
    assert!(r.has("* 2 EXPUNGE"), "{}", r.text());
    let r = b.cmd("f2 FETCH 1:* (UID)").await;
    assert!(r.has("* 2 FETCH (UID 3)"), "{}", r.text());
}

#[tokio::test]
async fn new_mail_reaches_other_session_after_noop() {
    let env = Env::new();
    let mut b = env.client().await;
    b.login("alice@example.com").await;
    let r = b.cmd("s SELECT INBOX").await;
    assert!(r.has("* 0 EXISTS"), "{}", r.text());
    env.deliver("alice", &message("late")).await;
    let r = b.cmd("n NOOP").await;
    assert!(r.has("* 1 EXISTS"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_during_idle_is_announced_within_a_second() {
    let env = Env::new();
    env.deliver("alice", &message("before")).await;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c.send("i IDLE").await;
    assert_eq!(c.line().await, "+ idling");
    tokio::time::sleep(Duration::from_millis(50)).await;
    env.deliver("alice", &message("during")).await;
    let line = tokio::time::timeout(Duration::from_secs(1), c.line())
        .await
        .expect("EXISTS within a second");
    assert_eq!(line, "* 2 EXISTS");
    c.send("DONE").await;
    c.until_tagged("i").await.assert_ok();
    c.cmd("n NOOP").await.assert_ok();
}
