//! SELECT/EXAMINE, FETCH, STORE, SEARCH, EXPUNGE, APPEND, CREATE/DELETE, STATUS, LIST.

mod session_common;

use session_common::{Env, message};

#[tokio::test]
async fn select_and_fetch_byte_exact() {
    let env = Env::new();
    let msg = message("one");
    let uid = env.deliver("alice", &msg).await;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.cmd("s1 SELECT INBOX").await;
    r.assert_ok();
    for want in [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        "* 1 EXISTS",
        "* 0 RECENT",
        "* OK [UIDVALIDITY ",
        &format!("* OK [UIDNEXT {}]", uid + 1),
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]",
        "* OK [HIGHESTMODSEQ ",
        "s1 OK [READ-WRITE]",
    ] {
        assert!(r.has(want), "missing {want:?} in\n{}", r.text());
    }

    let r = c
        .cmd("f1 FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])")
        .await;
    r.assert_ok();
    let mut expected = format!(
        "* 1 FETCH (UID {uid} FLAGS () RFC822.SIZE {} INTERNALDATE \"",
        msg.len()
    )
    .into_bytes();
    let line = &r.lines[0];
    assert!(line.starts_with(&expected), "{}", r.text());
    expected = format!(" BODY[] {{{}}}\r\n", msg.len()).into_bytes();
    expected.extend_from_slice(&msg);
    expected.push(b')');
    assert!(line.ends_with(&expected), "{}", r.text());

    // PEEK left \Seen alone; BODY[] sets it and reports it.
    let r = c.cmd("f2 UID FETCH 1:* (BODY[TEXT])").await;
    r.assert_ok();
    assert!(
        r.has("BODY[TEXT] {26}\r\nHello one.\r\nSecond line.\r\n"),
        "{}",
        r.text()
    );
    assert!(r.has("FLAGS (\\Seen)"), "{}", r.text());
    assert!(r.has(&format!("UID {uid}")));
    let r = c.cmd("f3 FETCH 1 (BODY.PEEK[HEADER]<0.5>)").await;
    assert!(r.has("BODY[HEADER]<0> \"From:\")"), "{}", r.text());
}

#[tokio::test]
async fn examine_is_read_only_and_does_not_set_seen() {
    let env = Env::new();
    env.deliver("alice", &message("ro")).await;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.cmd("e1 EXAMINE INBOX").await;
    assert!(r.tagged().starts_with("e1 OK [READ-ONLY]"), "{}", r.text());
    let r = c.cmd("e2 FETCH 1 (BODY[])").await;
    r.assert_ok();
    assert!(!r.has("\\Seen"));
    assert!(!c.cmd("e3 STORE 1 +FLAGS (\\Seen)").await.ok());
    let r = c.cmd("e4 FETCH 1 FLAGS").await;
    assert!(r.has("* 1 FETCH (FLAGS ())"), "{}", r.text());
}

#[tokio::test]
async fn store_flags_renames_file() {
    let env = Env::new();
    env.deliver("alice", &message("flags")).await;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    let r = c.cmd("t1 STORE 1 +FLAGS (\\Seen \\Flagged)").await;
    r.assert_ok();
    assert!(
        r.has("* 1 FETCH (FLAGS (\\Seen \\Flagged))"),
        "{}",
        r.text()
    );
    let cur = env.user("alice").maildir_path().join("cur");
    let names: Vec<String> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(":2,FS"), "{names:?}");

    let r = c.cmd("t2 STORE 1 -FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(r.lines.len(), 1, "{}", r.text());
    let r = c.cmd("t3 UID STORE 1:* FLAGS ($Work \\Answered)").await;
    assert!(r.has("FLAGS (\\Answered $Work)"), "{}", r.text());
    assert!(r.has("UID "));
    let r = c.cmd("t4 FETCH 1 FLAGS").await;
    assert!(r.has("FLAGS (\\Answered $Work)"), "{}", r.text());
}

#[tokio::test]
async fn search_and_expunge() {
    let env = Env::new();
    for s in ["a", "b", "c"] {
        env.deliver("alice", &message(s)).await;
    }
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c.cmd("t STORE 2 +FLAGS (\\Deleted)").await.assert_ok();
    let r = c.cmd("q1 SEARCH DELETED").await;
    assert!(
        r.has("* SEARCH 2\r") || r.text().contains("* SEARCH 2\n"),
        "{}",
        r.text()
    );
    let r = c.cmd("q2 SEARCH SUBJECT c").await;
    assert!(r.text().contains("* SEARCH 3\n"), "{}", r.text());
    let r = c.cmd("q3 UID SEARCH ALL").await;
    assert!(r.text().contains("* SEARCH 1 2 3\n"), "{}", r.text());
    let r = c.cmd("x EXPUNGE").await;
    r.assert_ok();
    assert!(r.text().starts_with("* 2 EXPUNGE\n"), "{}", r.text());
    let r = c.cmd("q4 SEARCH ALL").await;
    assert!(r.text().contains("* SEARCH 1 2\n"), "{}", r.text());
    let r = c.cmd("q5 UID SEARCH ALL").await;
    assert!(r.text().contains("* SEARCH 1 3\n"), "{}", r.text());
    // CLOSE expunges silently; UNSELECT leaves the mailbox alone.
    c.cmd("t2 STORE 1 +FLAGS (\\Deleted)").await.assert_ok();
    let r = c.cmd("c CLOSE").await;
    assert_eq!(r.lines.len(), 1, "{}", r.text());
    assert!(c.cmd("f FETCH 1 FLAGS").await.tagged().starts_with("f BAD"));
    let r = c.cmd("s2 SELECT INBOX").await;
    assert!(r.has("* 1 EXISTS"), "{}", r.text());
    c.cmd("u UNSELECT").await.assert_ok();
}

#[tokio::test]
async fn append_then_fetch() {
    let env = Env::new();
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    let msg = message("appended");
    c.send(&format!(
        "a1 APPEND INBOX (\\Seen) \"05-Jan-2026 10:20:30 +0100\" {{{}}}",
        msg.len()
    ))
    .await;
    assert_eq!(c.line().await, "+ Ready for literal data");
    c.send_raw(&msg).await;
    c.send("").await;
    let r = c.until_tagged("a1").await;
    r.assert_ok();
    assert!(r.tagged().contains("[APPENDUID "), "{}", r.text());
    assert!(
        r.has("* 1 EXISTS"),
        "selected mailbox learns of it: {}",
        r.text()
    );
    let r = c
        .cmd("f UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")
        .await;
    r.assert_ok();
    assert!(r.has("FLAGS (\\Seen)"), "{}", r.text());
    assert!(
        r.has("INTERNALDATE \" 5-Jan-2026 09:20:30 +0000\""),
        "{}",
        r.text()
    );
    let mut lit = format!("BODY[] {{{}}}\r\n", msg.len()).into_bytes();
    lit.extend_from_slice(&msg);
    assert!(
        r.lines[0].windows(lit.len()).any(|w| w == lit),
        "{}",
        r.text()
    );

    // LITERAL+ needs no continuation; a missing mailbox asks the client to create it.
    let r = c
        .cmd(&format!("a2 APPEND Nowhere {{{}+}}\r\n{}", 3, "x\r\n"))
        .await;
    assert!(r.tagged().starts_with("a2 NO [TRYCREATE]"), "{}", r.text());
}

#[tokio::test]
async fn create_delete_status_list() {
    let env = Env::new();
    env.deliver("alice", &message("s1")).await;
    env.deliver("alice", &message("s2")).await;
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("c1 CREATE Work").await.assert_ok();
    c.cmd("c2 CREATE Work.Projects").await.assert_ok();
    c.cmd("c3 CREATE &AMQ-rger").await.assert_ok();
    let r = c.cmd("c4 CREATE Work").await;
    assert!(
        r.tagged().starts_with("c4 NO [ALREADYEXISTS]"),
        "{}",
        r.text()
    );
    for bad in ["../evil", "a/b", "a..b"] {
        let r = c.cmd(&format!("c5 CREATE \"{bad}\"")).await;
        assert!(r.tagged().starts_with("c5 NO"), "{bad}: {}", r.text());
    }
    assert!(!env.tmp.path().join("mail").join("evil").exists());

    let r = c.cmd("l1 LIST \"\" \"%\"").await;
    r.assert_ok();
    assert!(
        r.has("* LIST (\\HasChildren) \".\" \"Work\""),
        "{}",
        r.text()
    );
    assert!(r.has("\".\" \"&AMQ-rger\""), "{}", r.text());
    assert!(!r.has("Work.Projects"), "{}", r.text());
    let r = c.cmd("l2 LIST \"\" \"Work.*\"").await;
    assert!(
        r.has("* LIST (\\HasNoChildren) \".\" \"Work.Projects\""),
        "{}",
        r.text()
    );
    assert_eq!(r.lines.len(), 2, "{}", r.text());
    let r = c.cmd("l3 LIST \"\" \"\"").await;
    assert!(r.has("* LIST (\\Noselect) \".\" \"\""), "{}", r.text());

    let r = c
        .cmd("st STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        .await;
    r.assert_ok();
    assert!(
        r.has("* STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY "),
        "{}",
        r.text()
    );
    assert!(r.has("UNSEEN 2)"), "{}", r.text());

    let r = c.cmd("d1 DELETE Work").await;
    assert!(
        r.tagged().starts_with("d1 NO [HASCHILDREN]"),
        "{}",
        r.text()
    );
    c.cmd("d2 DELETE Work.Projects").await.assert_ok();
    c.cmd("d3 DELETE Work").await.assert_ok();
    let r = c.cmd("d4 DELETE Work").await;
    assert!(
        r.tagged().starts_with("d4 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    let r = c.cmd("d5 SELECT Work").await;
    assert!(
        r.tagged().starts_with("d5 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    let r = c.cmd("n1 RENAME a b").await;
    assert!(
        r.tagged().starts_with("n1 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
}
