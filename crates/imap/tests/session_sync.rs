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

/// The number after `key` in the reply (`[HIGHESTMODSEQ 5]`, `[UIDVALIDITY 7]`, `MODSEQ (9)`).
fn number_after(r: &session_common::Reply, key: &str) -> u64 {
    let text = r.text();
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len();
    text[at..]
        .trim_start_matches([' ', '('])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The flags and MODSEQ the store holds for a message of alice's INBOX (a fresh handle).
async fn stored(env: &Env, uid: u32) -> Option<(Vec<mailstack_store::Flag>, u64)> {
    let inbox = env.user("alice").open("INBOX").await.unwrap();
    let out = inbox.message(uid).map(|m| (m.flags.clone(), m.modseq));
    inbox.close().await;
    out
}

// ---- Two sessions on one mailbox ----

#[tokio::test]
async fn two_sessions_see_flags_expunges_and_deliveries_in_order() {
    let env = Env::new();
    let mut a = inbox_with(&env, 3).await;
    let mut b = selected(&env).await;
    a.cmd("t1 STORE 1 +FLAGS (\\Seen)").await.assert_ok();
    a.cmd("t2 STORE 3 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    let r = a.cmd("x EXPUNGE").await;
    assert_eq!(lines_with(&r, "* "), ["* 3 EXPUNGE"], "{}", r.text());
    env.deliver("alice", &message("late")).await;

    // B: the expunge, then the new count, then the flag change, each once.
    let r = b.cmd("n NOOP").await;
    assert_eq!(
        lines_with(&r, "* "),
        [
            "* 3 EXPUNGE",
            "* 3 EXISTS",
            "* 1 FETCH (UID 1 FLAGS (\\Seen))"
        ],
        "{}",
        r.text()
    );
    assert_eq!(b.cmd("n2 NOOP").await.lines.len(), 1);
    let r = b.cmd("f FETCH 3 (UID)").await;
    assert!(r.has("* 3 FETCH (UID 4)"), "{}", r.text());
    // A learns of the delivery too, and of nothing it did itself.
    let r = a.cmd("n NOOP").await;
    assert_eq!(lines_with(&r, "* "), ["* 3 EXISTS"], "{}", r.text());
}

// ---- ENABLE ----

#[tokio::test]
async fn enable_lists_only_what_it_newly_enabled() {
    let env = Env::new();
    let mut c = env.client().await;
    let r = c.cmd("e0 ENABLE CONDSTORE").await;
    assert!(r.tagged().starts_with("e0 BAD"), "{}", r.text());
    c.login("alice@example.com").await;
    let r = c.cmd("c CAPABILITY").await;
    for cap in [
        " ENABLE",
        " CONDSTORE",
        " QRESYNC",
        " ESEARCH",
        " SEARCHRES",
        " SORT",
        " THREAD=REFERENCES",
        " THREAD=ORDEREDSUBJECT",
    ] {
        assert!(r.has(cap), "{cap} missing: {}", r.text());
    }
    let r = c.cmd("e1 ENABLE QRESYNC X-UNKNOWN").await;
    r.assert_ok();
    assert_eq!(lines_with(&r, "* "), ["* ENABLED QRESYNC"], "{}", r.text());
    // QRESYNC implied CONDSTORE; enabling again names nothing.
    let r = c.cmd("e2 ENABLE CONDSTORE qresync").await;
    assert_eq!(lines_with(&r, "* "), ["* ENABLED"], "{}", r.text());
    let r = c.cmd("e3 ENABLE imap4rev2 UTF8=ACCEPT").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ENABLED IMAP4rev2 UTF8=ACCEPT"],
        "{}",
        r.text()
    );
}

// ---- CONDSTORE ----

#[tokio::test]
async fn condstore_modseq_in_select_fetch_search_and_updates() {
    let env = Env::new();
    for i in 1..=3 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    let mut a = env.client().await;
    a.login("alice@example.com").await;
    let r = a.cmd("s SELECT INBOX (CONDSTORE)").await;
    r.assert_ok();
    let highest = number_after(&r, "[HIGHESTMODSEQ");
    let (_, m3) = stored(&env, 3).await.unwrap();
    assert_eq!(highest, m3, "the last delivery made the highest MODSEQ");

    let r = a.cmd("f FETCH 1:* (MODSEQ)").await;
    r.assert_ok();
    assert_eq!(lines_with(&r, "* ").len(), 3, "{}", r.text());
    assert!(r.has(&format!("* 3 FETCH (MODSEQ ({m3}))")), "{}", r.text());

    // Another session changes message 2: A's next update carries UID and MODSEQ.
    let mut b = selected(&env).await;
    b.cmd("t STORE 2 +FLAGS (\\Flagged)").await.assert_ok();
    let (_, m2) = stored(&env, 2).await.unwrap();
    assert!(m2 > highest);
    let r = a.cmd("n NOOP").await;
    assert_eq!(
        lines_with(&r, "* "),
        [format!("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ({m2}))")],
        "{}",
        r.text()
    );

    // CHANGEDSINCE: only message 2, with MODSEQ although not asked for.
    let r = a
        .cmd(&format!("c FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(
        lines_with(&r, "* "),
        [format!("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({m2}))")],
        "{}",
        r.text()
    );
    let r = a
        .cmd(&format!("c2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m2})"))
        .await;
    assert_eq!(lines_with(&r, "* "), Vec::<String>::new(), "{}", r.text());

    // SEARCH MODSEQ: the matches and their highest MODSEQ.
    let r = a.cmd(&format!("q SEARCH MODSEQ {}", highest + 1)).await;
    assert_eq!(
        lines_with(&r, "* SEARCH"),
        [format!("* SEARCH 2 (MODSEQ {m2})")],
        "{}",
        r.text()
    );
    let r = a
        .cmd(&format!(
            "q2 UID SEARCH MODSEQ \"/flags/\\\\draft\" all {}",
            m2 + 1
        ))
        .await;
    assert_eq!(lines_with(&r, "* SEARCH"), ["* SEARCH"], "{}", r.text());
    let r = a.cmd("q3 SEARCH RETURN (MAX COUNT) MODSEQ 1").await;
    assert_eq!(
        lines_with(&r, "* ESEARCH"),
        [format!("* ESEARCH (TAG \"q3\") MAX 3 COUNT 3 MODSEQ {m2}")],
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_condstore_enabling_command_while_selected_reports_highestmodseq() {
    let env = Env::new();
    let mut c = inbox_with(&env, 2).await;
    let (_, m2) = stored(&env, 2).await.unwrap();
    // Without CONDSTORE, flag updates carry no MODSEQ.
    let r = c.cmd("t STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* 1 FETCH (FLAGS (\\Seen))"],
        "{}",
        r.text()
    );
    let (_, m1) = stored(&env, 1).await.unwrap();
    assert!(m1 > m2);
    let r = c.cmd("f FETCH 2 (MODSEQ)").await;
    assert_eq!(
        lines_with(&r, "* "),
        [
            format!("* OK [HIGHESTMODSEQ {m1}] CONDSTORE enabled"),
            format!("* 2 FETCH (MODSEQ ({m2}))")
        ],
        "{}",
        r.text()
    );
    // Now STORE replies carry UID and MODSEQ, and the announcement is not repeated.
    let r = c.cmd("t2 STORE 2 +FLAGS (\\Seen)").await;
    let (_, m2b) = stored(&env, 2).await.unwrap();
    assert_eq!(
        lines_with(&r, "* "),
        [format!("* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ({m2b}))")],
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn store_unchangedsince_conflict_between_two_sessions() {
    let env = Env::new();
    let mut a = inbox_with(&env, 3).await;
    let mut b = selected(&env).await;
    a.cmd("e ENABLE CONDSTORE").await.assert_ok();
    b.cmd("e ENABLE CONDSTORE").await.assert_ok();
    let r = a.cmd("f FETCH 1:3 (MODSEQ)").await;
    let base = number_after(&r, "* 3 FETCH (MODSEQ");
    let (_, m1) = stored(&env, 1).await.unwrap();
    let (_, m2) = stored(&env, 2).await.unwrap();
    assert!(m1 < m2 && m2 < base);

    // B changes message 2 after A read the MODSEQs.
    b.cmd("t UID STORE 2 +FLAGS.SILENT (\\Seen)")
        .await
        .assert_ok();
    let (_, m2_new) = stored(&env, 2).await.unwrap();

    // A's conditional store: 1 and 3 succeed, 2 is reported MODIFIED and left alone.
    let r = a
        .cmd(&format!(
            "c STORE 1:3 (UNCHANGEDSINCE {base}) +FLAGS (\\Deleted)"
        ))
        .await;
    assert!(
        r.tagged()
            .starts_with("c OK [MODIFIED 2] Conditional STORE failed"),
        "{}",
        r.text()
    );
    let (f1, m1_new) = stored(&env, 1).await.unwrap();
    let (f2, _) = stored(&env, 2).await.unwrap();
    let (f3, m3_new) = stored(&env, 3).await.unwrap();
    assert_eq!(f1, [mailstack_store::Flag::Deleted]);
    assert_eq!(f2, [mailstack_store::Flag::Seen], "2 was not changed");
    assert_eq!(f3, [mailstack_store::Flag::Deleted]);
    assert!(
        r.has(&format!(
            "* 1 FETCH (UID 1 FLAGS (\\Deleted) MODSEQ ({m1_new}))"
        )),
        "{}",
        r.text()
    );
    assert!(
        r.has(&format!(
            "* 3 FETCH (UID 3 FLAGS (\\Deleted) MODSEQ ({m3_new}))"
        )),
        "{}",
        r.text()
    );
    // The update for B's change comes with the completion.
    assert!(
        r.has(&format!(
            "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ({m2_new}))"
        )),
        "{}",
        r.text()
    );

    // UID STORE reports UIDs; .SILENT still tells the new MODSEQ; UNCHANGEDSINCE 0 fails.
    let r = a
        .cmd(&format!(
            "u UID STORE 2:3 (UNCHANGEDSINCE {m2_new}) +FLAGS.SILENT (\\Flagged)"
        ))
        .await;
    let (_, m2_last) = stored(&env, 2).await.unwrap();
    assert!(r.tagged().starts_with("u OK [MODIFIED 3]"), "{}", r.text());
    assert_eq!(
        lines_with(&r, "* "),
        [format!("* 2 FETCH (UID 2 MODSEQ ({m2_last}))")],
        "{}",
        r.text()
    );
    let r = a
        .cmd("z STORE 1 (UNCHANGEDSINCE 0) -FLAGS (\\Deleted)")
        .await;
    assert!(r.tagged().starts_with("z OK [MODIFIED 1]"), "{}", r.text());
    assert_eq!(
        stored(&env, 1).await.unwrap().0,
        [mailstack_store::Flag::Deleted]
    );
}

// ---- QRESYNC ----

/// A logged-in session with QRESYNC enabled.
async fn qresync_client(env: &Env) -> Client {
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("e ENABLE QRESYNC").await.assert_ok();
    c
}

#[tokio::test]
async fn qresync_resync_after_a_disconnect_returns_exactly_the_changes() {
    let env = Env::new();
    for i in 1..=5 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    // The client's last session: it knows UIDs 1:5 and HIGHESTMODSEQ.
    let mut a = qresync_client(&env).await;
    let r = a.cmd("s SELECT INBOX").await;
    let uidvalidity = number_after(&r, "[UIDVALIDITY");
    let known_modseq = number_after(&r, "[HIGHESTMODSEQ");
    a.cmd("z LOGOUT").await.assert_ok();

    // Meanwhile: flags of 2 and 4 change, 3 and 5 are expunged, a message arrives.
    let mut b = selected(&env).await;
    b.cmd("t1 STORE 2 +FLAGS (\\Answered)").await.assert_ok();
    b.cmd("t2 STORE 4 +FLAGS (\\Seen $Work)").await.assert_ok();
    b.cmd("t3 STORE 3,5 +FLAGS (\\Deleted)").await.assert_ok();
    b.cmd("x EXPUNGE").await.assert_ok();
    env.deliver("alice", &message("m6")).await;
    let (_, m2) = stored(&env, 2).await.unwrap();
    let (_, m4) = stored(&env, 4).await.unwrap();

    let mut a = qresync_client(&env).await;
    let r = a
        .cmd(&format!(
            "s SELECT INBOX (QRESYNC ({uidvalidity} {known_modseq} 1:5))"
        ))
        .await;
    r.assert_ok();
    assert!(r.has("* 4 EXISTS"), "{}", r.text());
    let highest = number_after(&r, "[HIGHESTMODSEQ");
    let resync: Vec<String> = r
        .text()
        .lines()
        .filter(|l| l.contains("VANISHED") || l.contains("FETCH"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        resync,
        [
            "* VANISHED (EARLIER) 3,5".to_string(),
            format!("* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ ({m2}))"),
            format!("* 3 FETCH (UID 4 FLAGS (\\Seen $Work) MODSEQ ({m4}))"),
        ],
        "{}",
        r.text()
    );
    assert!(highest > m4, "the delivery of UID 6 came last");

    // Without known UIDs the server takes all of them: the new message is reported too.
    let r = a
        .cmd(&format!(
            "s2 EXAMINE INBOX (QRESYNC ({uidvalidity} {known_modseq}))"
        ))
        .await;
    r.assert_ok();
    assert!(r.has("* OK [CLOSED]"), "{}", r.text());
    assert!(r.has("* VANISHED (EARLIER) 3,5"), "{}", r.text());
    assert!(r.has("* 4 FETCH (UID 6 FLAGS () MODSEQ ("), "{}", r.text());
    // Up to date: nothing at all.
    let r = a
        .cmd(&format!(
            "s3 SELECT INBOX (QRESYNC ({uidvalidity} {highest} 1:6))"
        ))
        .await;
    assert!(!r.has("VANISHED") && !r.has("FETCH"), "{}", r.text());
    // Another UIDVALIDITY: the parameters are ignored.
    let r = a
        .cmd(&format!(
            "s4 SELECT INBOX (QRESYNC ({} {known_modseq} 1:5))",
            uidvalidity + 1
        ))
        .await;
    r.assert_ok();
    assert!(!r.has("VANISHED") && !r.has("FETCH"), "{}", r.text());
}

#[tokio::test]
async fn qresync_needs_enable_and_turns_expunge_into_vanished() {
    let env = Env::new();
    for i in 1..=4 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    let mut plain = env.client().await;
    plain.login("alice@example.com").await;
    let r = plain.cmd("s SELECT INBOX (QRESYNC (1 1))").await;
    assert!(r.tagged().starts_with("s BAD"), "{}", r.text());
    let r = plain
        .cmd("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(r.tagged().starts_with("f BAD"), "no mailbox: {}", r.text());
    plain.cmd("s2 SELECT INBOX").await.assert_ok();
    let r = plain
        .cmd("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(r.tagged().starts_with("f BAD"), "{}", r.text());
    // A second SELECT first closes the first mailbox (told to every client, as Dovecot does).
    let r = plain.cmd("s3 SELECT INBOX").await;
    assert!(r.lines[0].starts_with(b"* OK [CLOSED]"), "{}", r.text());
    // A failed SELECT leaves no mailbox selected.
    let r = plain.cmd("s4 SELECT Nowhere").await;
    assert!(r.lines[0].starts_with(b"* OK [CLOSED]"), "{}", r.text());
    assert!(r.tagged().starts_with("s4 NO"), "{}", r.text());
    let r = plain.cmd("n NOOP").await;
    assert_eq!(r.lines.len(), 1, "{}", r.text());
    plain.cmd("s5 SELECT INBOX").await.assert_ok();

    let mut a = qresync_client(&env).await;
    let r = a.cmd("s SELECT INBOX").await;
    let base = number_after(&r, "[HIGHESTMODSEQ");
    // Own expunge: VANISHED, and the tagged OK carries the new HIGHESTMODSEQ.
    a.cmd("t STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    let r = a.cmd("x EXPUNGE").await;
    assert_eq!(lines_with(&r, "* "), ["* VANISHED 2"], "{}", r.text());
    let after_own = number_after(&r, "[HIGHESTMODSEQ");
    assert!(
        r.tagged().starts_with("x OK [HIGHESTMODSEQ"),
        "{}",
        r.text()
    );
    assert_eq!(after_own, stored_highest(&env).await);

    // Another session's expunge: VANISHED on the next command that may tell it, then the
    // HIGHESTMODSEQ that covers it.
    plain.cmd("n NOOP").await.assert_ok();
    plain
        .cmd("t STORE 3 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    plain.cmd("x EXPUNGE").await.assert_ok();
    let r = a.cmd("f FETCH 1:* (UID)").await;
    assert!(!r.has("VANISHED"), "not during FETCH: {}", r.text());
    let r = a.cmd("n NOOP").await;
    let now = stored_highest(&env).await;
    assert_eq!(
        lines_with(&r, "* "),
        [
            "* VANISHED 4".to_string(),
            format!("* OK [HIGHESTMODSEQ {now}] Highest")
        ],
        "{}",
        r.text()
    );

    // UID FETCH (CHANGEDSINCE VANISHED): the expunges of the set, then the changed messages.
    plain.cmd("t2 STORE 1 +FLAGS (\\Seen)").await.assert_ok();
    let (_, m1) = stored(&env, 1).await.unwrap();
    let r = a
        .cmd(&format!(
            "v UID FETCH 1:* (FLAGS) (CHANGEDSINCE {base} VANISHED)"
        ))
        .await;
    assert_eq!(
        lines_with(&r, "* "),
        [
            "* VANISHED (EARLIER) 2,4".to_string(),
            format!("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ({m1}))"),
        ],
        "{}",
        r.text()
    );
    let r = a
        .cmd(&format!(
            "v2 UID FETCH 3:4 (FLAGS) (CHANGEDSINCE {base} VANISHED)"
        ))
        .await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* VANISHED (EARLIER) 4"],
        "{}",
        r.text()
    );
}

/// HIGHESTMODSEQ of alice's INBOX as the store has it.
async fn stored_highest(env: &Env) -> u64 {
    let inbox = env.user("alice").open("INBOX").await.unwrap();
    let h = inbox.highest_modseq();
    inbox.close().await;
    h
}

#[tokio::test]
async fn qresync_after_an_index_rebuild_reports_conservatively() {
    let env = Env::new();
    for i in 1..=6 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    let mut a = qresync_client(&env).await;
    let r = a.cmd("s SELECT INBOX").await;
    let uidvalidity = number_after(&r, "[UIDVALIDITY");
    let known_modseq = number_after(&r, "[HIGHESTMODSEQ");
    a.cmd("z LOGOUT").await.assert_ok();

    // UIDs 2 and 5 are expunged, then the index is lost and rebuilt from the Maildir.
    let mut b = selected(&env).await;
    b.cmd("t STORE 2,5 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    b.cmd("x EXPUNGE").await.assert_ok();
    b.cmd("z LOGOUT").await.assert_ok();
    let maildir = env.user("alice").maildir_path();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(
            maildir.join(format!("{}{ext}", mailstack_store::INDEX_FILE_NAME)),
        );
    }

    let mut a = qresync_client(&env).await;
    let r = a
        .cmd(&format!(
            "s SELECT INBOX (QRESYNC ({uidvalidity} {known_modseq} 1:6))"
        ))
        .await;
    r.assert_ok();
    assert!(
        number_after(&r, "[HIGHESTMODSEQ") > known_modseq,
        "MODSEQ went backwards"
    );
    // Every known UID that is gone is vanished; every known message is sent again.
    assert_eq!(
        lines_with(&r, "* VANISHED"),
        ["* VANISHED (EARLIER) 2,5"],
        "{}",
        r.text()
    );
    assert_eq!(
        r.text()
            .lines()
            .filter(|l| l.contains(" FETCH (UID "))
            .count(),
        4,
        "{}",
        r.text()
    );
    // The client's seq-match pairs narrow the range: its message 3 was UID 3, which it
    // still is not (UID 2 is gone); its message 1 is still UID 1, so only UIDs above 1 count.
    let r = a
        .cmd(&format!(
            "s2 SELECT INBOX (QRESYNC ({uidvalidity} {known_modseq} 1:6 (1,3 1,3)))"
        ))
        .await;
    assert_eq!(
        lines_with(&r, "* VANISHED"),
        ["* VANISHED (EARLIER) 2,5"],
        "{}",
        r.text()
    );
    // A client whose known UIDs are a sloppy range (1:6) but which had already seen UID 2
    // go: its pairs still hold up to UID 4 (its message 3), so only UIDs above can be gone.
    let r = a
        .cmd(&format!(
            "s3 SELECT INBOX (QRESYNC ({uidvalidity} {known_modseq} 1:6 (1,3 1,4)))"
        ))
        .await;
    assert_eq!(
        lines_with(&r, "* VANISHED"),
        ["* VANISHED (EARLIER) 5"],
        "{}",
        r.text()
    );
}

// ---- ESEARCH and SEARCHRES ----

#[tokio::test]
async fn esearch_return_options() {
    let env = Env::new();
    let mut c = inbox_with(&env, 6).await;
    c.cmd("t STORE 2:4,6 +FLAGS (\\Seen)").await.assert_ok();
    let r = c.cmd("a SEARCH RETURN (MIN MAX COUNT ALL) SEEN").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"a\") MIN 2 MAX 6 ALL 2:4,6 COUNT 4"],
        "{}",
        r.text()
    );
    // RETURN () is ALL; UID SEARCH says UID.
    let r = c.cmd("b UID SEARCH RETURN () UNSEEN").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"b\") UID ALL 1,5"],
        "{}",
        r.text()
    );
    // Nothing found: only COUNT is left.
    let r = c.cmd("c SEARCH RETURN (MIN MAX ALL COUNT) DELETED").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"c\") COUNT 0"],
        "{}",
        r.text()
    );
    let r = c.cmd("d SEARCH RETURN (MAX) 1:3").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"d\") MAX 3"],
        "{}",
        r.text()
    );
    // Without RETURN, IMAP4rev1's SEARCH.
    let r = c.cmd("e SEARCH SEEN").await;
    assert_eq!(lines_with(&r, "* "), ["* SEARCH 2 3 4 6"], "{}", r.text());
}

#[tokio::test]
async fn searchres_saves_and_reuses_results() {
    let env = Env::new();
    let mut c = inbox_with(&env, 6).await;
    c.cmd("t STORE 2,4,5 +FLAGS (\\Flagged)").await.assert_ok();
    // SAVE alone: no ESEARCH.
    let r = c.cmd("a SEARCH RETURN (SAVE) FLAGGED").await;
    assert_eq!(lines_with(&r, "* "), Vec::<String>::new(), "{}", r.text());
    r.assert_ok();
    let r = c.cmd("b FETCH $ (UID)").await;
    assert_eq!(
        lines_with(&r, "* "),
        [
            "* 2 FETCH (UID 2)",
            "* 4 FETCH (UID 4)",
            "* 5 FETCH (UID 5)"
        ],
        "{}",
        r.text()
    );
    c.cmd("s STORE $ +FLAGS.SILENT (\\Seen)").await.assert_ok();
    for uid in [2, 4, 5] {
        assert!(
            stored(&env, uid)
                .await
                .unwrap()
                .0
                .contains(&mailstack_store::Flag::Seen)
        );
    }
    assert!(stored(&env, 1).await.unwrap().0.is_empty());
    // `$` in search keys, as a message set and as a UID set.
    let r = c.cmd("c SEARCH NOT $").await;
    assert_eq!(lines_with(&r, "* "), ["* SEARCH 1 3 6"], "{}", r.text());
    let r = c.cmd("d UID SEARCH UID $ 4:*").await;
    assert_eq!(lines_with(&r, "* "), ["* SEARCH 4 5"], "{}", r.text());
    // SAVE with MIN and MAX only saves those two; ESEARCH still answers.
    let r = c.cmd("e SEARCH RETURN (SAVE MIN MAX) NOT FLAGGED").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"e\") MIN 1 MAX 6"],
        "{}",
        r.text()
    );
    let r = c.cmd("f UID FETCH $ (FLAGS)").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* 1 FETCH (UID 1 FLAGS ())", "* 6 FETCH (UID 6 FLAGS ())"],
        "{}",
        r.text()
    );
    // An expunged message leaves the saved result.
    c.cmd("g SEARCH RETURN (SAVE) 1:3").await.assert_ok();
    c.cmd("h STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    c.cmd("x EXPUNGE").await.assert_ok();
    let r = c.cmd("i FETCH $ (UID)").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"],
        "{}",
        r.text()
    );
    // A new SELECT empties it.
    c.cmd("s2 SELECT INBOX").await.assert_ok();
    let r = c.cmd("j FETCH $ (UID)").await;
    r.assert_ok();
    assert_eq!(lines_with(&r, "* "), Vec::<String>::new(), "{}", r.text());
    let r = c.cmd("k SEARCH $").await;
    assert_eq!(lines_with(&r, "* "), ["* SEARCH"], "{}", r.text());
}

// ---- SORT and THREAD ----

fn dated(subject: &str, date: &str, from: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: alice@example.com\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{subject}.{from}@example.com>\r\n{extra}\r\nBody of {subject}.\r\n"
    )
    .replace(' ', " ")
    .into_bytes()
}

#[tokio::test]
async fn sort_and_thread_over_the_session() {
    let env = Env::new();
    let msgs = [
        dated(
            "beta",
            "Mon, 2 Feb 2026 10:00:00 +0000",
            "carol@example.com",
            "",
        ),
        dated(
            "Alpha",
            "Sun, 1 Feb 2026 10:00:00 +0000",
            "bob@example.com",
            "",
        ),
        dated(
            "Re: beta",
            "Tue, 3 Feb 2026 10:00:00 +0000",
            "alice@example.com",
            "In-Reply-To: <beta.carol@example.com@example.com>\r\n",
        ),
        dated(
            "gamma",
            "Sat, 31 Jan 2026 10:00:00 +0000",
            "dave@example.com",
            "",
        ),
    ];
    for m in &msgs {
        env.deliver("alice", m).await;
    }
    let mut c = selected(&env).await;
    let r = c.cmd("a SORT (SUBJECT) UTF-8 ALL").await;
    assert_eq!(lines_with(&r, "* "), ["* SORT 2 1 3 4"], "{}", r.text());
    let r = c.cmd("b SORT (DATE) US-ASCII ALL").await;
    assert_eq!(lines_with(&r, "* "), ["* SORT 4 2 1 3"], "{}", r.text());
    let r = c
        .cmd("c UID SORT (REVERSE FROM) UTF-8 NOT SUBJECT gamma")
        .await;
    assert_eq!(lines_with(&r, "* "), ["* SORT 1 2 3"], "{}", r.text());
    let r = c.cmd("d SORT (SUBJECT) KOI8-R ALL").await;
    assert!(r.tagged().starts_with("d NO [BADCHARSET"), "{}", r.text());

    let r = c.cmd("e THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* THREAD (4)(2)(1 3)"],
        "{}",
        r.text()
    );
    let r = c.cmd("f UID THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* THREAD (4)(2)(1 3)"],
        "{}",
        r.text()
    );
    let r = c
        .cmd("g THREAD REFERENCES UTF-8 SUBJECT nothing-like-this")
        .await;
    assert_eq!(lines_with(&r, "* "), ["* THREAD"], "{}", r.text());

    // After an expunge the numbers follow the session: THREAD by sequence number.
    c.cmd("t STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    c.cmd("x EXPUNGE").await.assert_ok();
    let r = c.cmd("h THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(lines_with(&r, "* "), ["* THREAD (3)(1 2)"], "{}", r.text());
    let r = c.cmd("i SORT (ARRIVAL) UTF-8 MODSEQ 1").await;
    let modseq = number_after(&r, "(MODSEQ");
    assert!(r.has("* SORT 1 2 3 (MODSEQ "), "{}", r.text());
    assert_eq!(modseq, stored(&env, 4).await.unwrap().1);
}

// ---- IMAP4rev2 ----

#[tokio::test]
async fn imap4rev2_enabled_session() {
    let env = Env::new();
    for i in 1..=3 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("e ENABLE IMAP4rev2").await.assert_ok();
    let r = c.cmd("s SELECT INBOX").await;
    assert!(!r.has("RECENT"), "{}", r.text());
    assert!(r.has("* LIST () \".\" \"INBOX\""), "{}", r.text());
    let r = c.cmd("q SEARCH 2:*").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"q\") ALL 2:3"],
        "{}",
        r.text()
    );
    let r = c.cmd("q2 UID SEARCH DELETED").await;
    assert_eq!(
        lines_with(&r, "* "),
        ["* ESEARCH (TAG \"q2\") UID"],
        "{}",
        r.text()
    );
    // CLOSED when another SELECT replaces the mailbox.
    let r = c.cmd("s2 EXAMINE INBOX").await;
    assert!(r.lines[0].starts_with(b"* OK [CLOSED]"), "{}", r.text());
}
