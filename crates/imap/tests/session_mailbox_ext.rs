//! Mailbox-level extensions over the real store, checked on the wire and on disk: COPY, MOVE,
//! UID EXPUNGE (UIDPLUS), RENAME, SUBSCRIBE/UNSUBSCRIBE/LSUB and the `subscriptions` file,
//! LIST-EXTENDED and LIST-STATUS, STATUS items, QUOTA, MULTIAPPEND, NAMESPACE, ID, and the
//! folders of a first login.

mod session_common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use session_common::{Client, Env, ScriptedDirectory, message};

/// The message files of a folder directory (`cur/` and `new/`), sorted by name.
fn message_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            out.push(e.unwrap().path());
        }
    }
    out.sort();
    out
}

fn maildir(env: &Env) -> PathBuf {
    env.user("alice").maildir_path()
}

async fn alice(env: &Env) -> Client {
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c
}

/// The number after `key ` in a reply (`UIDVALIDITY 123`).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("{key} in {text}"));
    text[at + key.len() + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The text between `[MAILBOXID (` and `)`.
fn mailbox_id(text: &str) -> String {
    let start = text.find("MAILBOXID (").expect("MAILBOXID") + "MAILBOXID (".len();
    text[start..].split(')').next().unwrap().to_string()
}

#[tokio::test]
async fn copy_hardlinks_and_keeps_flags_and_internal_date() {
    let env = Env::new();
    env.deliver("alice", &message("one")).await;
    env.deliver("alice", &message("two")).await;
    let mut c = alice(&env).await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c.cmd("f STORE 1 +FLAGS (\\Flagged $Work)")
        .await
        .assert_ok();
    let before = c.cmd("f1 FETCH 1:2 (FLAGS INTERNALDATE)").await;
    let validity = number_after(
        &c.cmd("st STATUS Archive (UIDVALIDITY)").await.text(),
        "UIDVALIDITY",
    );

    let r = c.cmd("c1 COPY 1:2 Archive").await;
    assert!(
        r.tagged()
            .starts_with(&format!("c1 OK [COPYUID {validity} 1:2 1:2]")),
        "{}",
        r.text()
    );
    // On disk: the copies are hard links of the originals, the flags in their names.
    let inbox = message_files(&maildir(&env));
    let archive = message_files(&maildir(&env).join(".Archive"));
    assert_eq!(archive.len(), 2);
    for copy in &archive {
        let ino = std::fs::metadata(copy).unwrap().ino();
        assert!(
            inbox
                .iter()
                .any(|o| std::fs::metadata(o).unwrap().ino() == ino),
            "{} is not a hard link of an INBOX file",
            copy.display()
        );
        assert_eq!(std::fs::metadata(copy).unwrap().nlink(), 2);
    }
    assert!(
        archive
            .iter()
            .any(|p| p.to_string_lossy().ends_with(":2,Fa")),
        "{archive:?}"
    );
    assert_eq!(
        std::fs::read_to_string(maildir(&env).join(".Archive/dovecot-keywords")).unwrap(),
        "0 $Work\n"
    );
    // Over IMAP: same flags and internal dates.
    c.cmd("s2 SELECT Archive").await.assert_ok();
    let after = c.cmd("f2 FETCH 1:2 (FLAGS INTERNALDATE)").await;
    assert_eq!(before.lines[..2], after.lines[..2], "{}", after.text());

    // UID COPY back into INBOX: new UIDs 3:4 there.
    let r = c.cmd("c2 UID COPY 1:* INBOX").await;
    assert!(r.tagged().contains(" 1:2 3:4]"), "{}", r.text());
    let r = c.cmd("c3 COPY 1 Nowhere").await;
    assert!(r.tagged().starts_with("c3 NO [TRYCREATE]"), "{}", r.text());
    let r = c.cmd("c4 UID COPY 99 INBOX").await;
    r.assert_ok();
    assert!(!r.has("COPYUID"), "{}", r.text());
}

#[tokio::test]
async fn move_sends_copyuid_then_expunges_and_leaves_no_copy() {
    let env = Env::new();
    for s in ["a", "b", "c"] {
        env.deliver("alice", &message(s)).await;
    }
    let mut c = alice(&env).await;
    let mut other = alice(&env).await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    other.cmd("s SELECT INBOX").await.assert_ok();
    let validity = number_after(
        &c.cmd("st STATUS Trash (UIDVALIDITY)").await.text(),
        "UIDVALIDITY",
    );

    let r = c.cmd("m1 MOVE 2:3 Trash").await;
    r.assert_ok();
    let lines: Vec<String> = r
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert_eq!(
        lines,
        vec![
            format!("* OK [COPYUID {validity} 2:3 1:2] Moved UIDs."),
            "* 3 EXPUNGE".to_string(),
            "* 2 EXPUNGE".to_string(),
            "m1 OK MOVE completed".to_string(),
        ]
    );
    assert_eq!(message_files(&maildir(&env)).len(), 1);
    assert_eq!(message_files(&maildir(&env).join(".Trash")).len(), 2);
    // The other session learns it at its next command.
    let r = other.cmd("n NOOP").await;
    assert!(r.has("* 3 EXPUNGE") && r.has("* 2 EXPUNGE"), "{}", r.text());

    // UID MOVE; the moved message keeps its flags.
    c.cmd("f STORE 1 +FLAGS (\\Seen)").await.assert_ok();
    let r = c.cmd("m2 UID MOVE 1 Trash").await;
    assert!(
        r.has(&format!("* OK [COPYUID {validity} 1 3]")),
        "{}",
        r.text()
    );
    assert!(r.has("* 1 EXPUNGE"), "{}", r.text());
    assert!(message_files(&maildir(&env)).is_empty());
    let trash = message_files(&maildir(&env).join(".Trash"));
    assert_eq!(trash.len(), 3);
    assert!(trash.iter().any(|p| p.to_string_lossy().ends_with(":2,S")));
    // Moving into a missing mailbox leaves everything where it was.
    c.cmd("s2 SELECT Trash").await.assert_ok();
    let r = c.cmd("m3 MOVE 1:* Nowhere").await;
    assert!(r.tagged().starts_with("m3 NO [TRYCREATE]"), "{}", r.text());
    assert_eq!(message_files(&maildir(&env).join(".Trash")).len(), 3);
    // Read-only: no MOVE.
    c.cmd("e EXAMINE Trash").await.assert_ok();
    assert!(c.cmd("m4 MOVE 1 INBOX").await.tagged().starts_with("m4 NO"));
    assert_eq!(message_files(&maildir(&env).join(".Trash")).len(), 3);
}

#[tokio::test]
async fn uid_expunge_removes_only_deleted_messages_in_the_set() {
    let env = Env::new();
    for s in ["a", "b", "c", "d"] {
        env.deliver("alice", &message(s)).await;
    }
    let mut c = alice(&env).await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c.cmd("f STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        .await
        .assert_ok();
    let r = c.cmd("x UID EXPUNGE 2:4").await;
    r.assert_ok();
    assert!(r.has("* 3 EXPUNGE") && r.has("* 2 EXPUNGE"), "{}", r.text());
    assert!(!r.has("* 1 EXPUNGE"), "{}", r.text());
    assert_eq!(message_files(&maildir(&env)).len(), 2);
    let r = c.cmd("u UID SEARCH ALL").await;
    assert!(r.has("* SEARCH 1 4"), "{}", r.text());
}

#[tokio::test]
async fn rename_moves_children_keeps_uidvalidity_and_subscriptions() {
    let env = Env::new();
    let mut c = alice(&env).await;
    c.cmd("c1 CREATE Work").await.assert_ok();
    c.cmd("c2 CREATE Work.Projects").await.assert_ok();
    c.cmd("a APPEND Work.Projects {5+}\r\nHi!\r\n").await;
    c.cmd("sub SUBSCRIBE Work.Projects").await.assert_ok();
    let st = c
        .cmd("st STATUS Work.Projects (UIDVALIDITY MAILBOXID)")
        .await
        .text();
    let (validity, id) = (number_after(&st, "UIDVALIDITY"), mailbox_id(&st));

    c.cmd("r RENAME Work Job").await.assert_ok();
    let md = maildir(&env);
    assert!(md.join(".Job/cur").is_dir() && md.join(".Job.Projects/cur").is_dir());
    assert!(!md.join(".Work").exists() && !md.join(".Work.Projects").exists());
    assert_eq!(message_files(&md.join(".Job.Projects")).len(), 1);
    let st = c
        .cmd("st2 STATUS Job.Projects (UIDVALIDITY MAILBOXID MESSAGES)")
        .await
        .text();
    assert_eq!(number_after(&st, "UIDVALIDITY"), validity);
    assert_eq!(mailbox_id(&st), id);
    assert_eq!(number_after(&st, "MESSAGES"), 1);
    let subs = std::fs::read_to_string(md.join("subscriptions")).unwrap();
    assert!(subs.ends_with("\nJob\tProjects\n"), "{subs:?}");
    assert!(!subs.contains("Work"), "{subs:?}");

    c.cmd("c3 CREATE Other").await.assert_ok();
    let r = c.cmd("r2 RENAME Job Other").await;
    assert!(
        r.tagged().starts_with("r2 NO [ALREADYEXISTS]"),
        "{}",
        r.text()
    );
    let r = c.cmd("r3 RENAME Nothing Else").await;
    assert!(
        r.tagged().starts_with("r3 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    let r = c.cmd("r4 RENAME Job Job.Sub").await;
    assert!(r.tagged().starts_with("r4 NO"), "{}", r.text());
    assert!(md.join(".Job/cur").is_dir());
    let r = c.cmd("r5 RENAME Job INBOX").await;
    assert!(
        r.tagged().starts_with("r5 NO [ALREADYEXISTS]"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn rename_of_the_selected_mailbox_keeps_it_selected() {
    let env = Env::new();
    let mut c = alice(&env).await;
    c.cmd("c CREATE Work").await.assert_ok();
    c.cmd("a APPEND Work {5+}\r\nHi!\r\n").await.assert_ok();
    c.cmd("s SELECT Work").await.assert_ok();
    c.cmd("r RENAME Work Job").await.assert_ok();
    let r = c.cmd("f STORE 1 +FLAGS (\\Seen)").await;
    assert!(r.has("* 1 FETCH (FLAGS (\\Seen))"), "{}", r.text());
    let files = message_files(&maildir(&env).join(".Job"));
    assert!(files[0].to_string_lossy().ends_with(":2,S"), "{files:?}");
    let r = c.cmd("f2 FETCH 1 BODY.PEEK[]").await;
    assert!(r.has("Hi!"), "{}", r.text());
}

#[tokio::test]
async fn rename_inbox_moves_its_messages_and_leaves_it_empty() {
    let env = Env::new();
    env.deliver("alice", &message("a")).await;
    env.deliver("alice", &message("b")).await;
    let mut c = alice(&env).await;
    c.cmd("c CREATE INBOX.Child").await.assert_ok();
    c.cmd("r RENAME INBOX Old").await.assert_ok();
    let md = maildir(&env);
    assert!(message_files(&md).is_empty());
    assert_eq!(message_files(&md.join(".Old")).len(), 2);
    assert!(md.join(".INBOX.Child/cur").is_dir());
    let r = c.cmd("st STATUS INBOX (MESSAGES)").await;
    assert!(r.has("(MESSAGES 0)"), "{}", r.text());
    let r = c.cmd("st2 STATUS Old (MESSAGES)").await;
    assert!(r.has("(MESSAGES 2)"), "{}", r.text());
    // New mail still arrives in INBOX.
    env.deliver("alice", &message("c")).await;
    let r = c.cmd("st3 STATUS INBOX (MESSAGES)").await;
    assert!(r.has("(MESSAGES 1)"), "{}", r.text());
    let r = c.cmd("r2 RENAME INBOX Old").await;
    assert!(
        r.tagged().starts_with("r2 NO [ALREADYEXISTS]"),
        "{}",
        r.text()
    );
    assert_eq!(message_files(&md).len(), 1);
}

#[tokio::test]
async fn first_login_creates_and_subscribes_the_default_folders() {
    let env = Env::new();
    // Mail arrived before the first login: the Maildir exists, but no folders.
    env.deliver("alice", &message("early")).await;
    let mut c = alice(&env).await;
    let md = maildir(&env);
    for f in ["Drafts", "Sent", "Trash", "Junk", "Archive"] {
        assert!(md.join(format!(".{f}/cur")).is_dir(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(md.join("subscriptions")).unwrap(),
        "V\t2\n\nINBOX\nDrafts\nSent\nTrash\nJunk\nArchive\n"
    );
    let r = c.cmd("l LIST \"\" *").await;
    for want in [
        "* LIST (\\HasNoChildren) \".\" \"INBOX\"",
        "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"",
        "* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"",
        "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"",
        "* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"",
        "* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"",
    ] {
        assert!(r.has(want), "missing {want}:\n{}", r.text());
    }
    // A user who unsubscribed is not subscribed again at the next login.
    c.cmd("u UNSUBSCRIBE Junk").await.assert_ok();
    let _again = alice(&env).await;
    let subs = std::fs::read_to_string(md.join("subscriptions")).unwrap();
    assert!(!subs.contains("Junk"), "{subs:?}");
}

#[tokio::test]
async fn subscribe_unsubscribe_lsub_and_the_subscriptions_file() {
    let env = Env::new();
    let mut c = alice(&env).await;
    let md = maildir(&env);
    let r = c.cmd("s0 SUBSCRIBE Nowhere").await;
    assert!(
        r.tagged().starts_with("s0 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    c.cmd("c CREATE a.b.c").await.assert_ok();
    // Without UTF8=ACCEPT, names are modified UTF-7: raw UTF-8 is not taken.
    assert!(!c.cmd("c2 CREATE Ärger").await.ok());
    let r = c.cmd("c3 CREATE &AMQ-rger").await;
    r.assert_ok();
    c.cmd("s1 SUBSCRIBE a.b.c").await.assert_ok();
    c.cmd("s2 SUBSCRIBE &AMQ-rger").await.assert_ok();
    c.cmd("s3 SUBSCRIBE a.b.c").await.assert_ok();
    let subs = std::fs::read_to_string(md.join("subscriptions")).unwrap();
    assert!(subs.ends_with("Archive\na\tb\tc\n&AMQ-rger\n"), "{subs:?}");

    let r = c.cmd("l1 LSUB \"\" %").await;
    assert!(r.has("* LSUB (\\Noselect) \".\" \"a\""), "{}", r.text());
    assert!(r.has("* LSUB () \".\" \"&AMQ-rger\""), "{}", r.text());
    assert!(r.has("* LSUB () \".\" \"INBOX\""), "{}", r.text());
    assert!(!r.has("a.b"), "{}", r.text());
    let r = c.cmd("l2 LSUB \"\" a.*").await;
    assert!(r.has("* LSUB () \".\" \"a.b.c\""), "{}", r.text());
    assert_eq!(r.lines.len(), 2, "{}", r.text());

    c.cmd("u1 UNSUBSCRIBE a.b.c").await.assert_ok();
    c.cmd("u2 UNSUBSCRIBE a.b.c").await.assert_ok();
    let subs = std::fs::read_to_string(md.join("subscriptions")).unwrap();
    assert!(subs.ends_with("Archive\n&AMQ-rger\n"), "{subs:?}");
    assert!(!md.join("subscriptions.lock").exists());
    // A subscription outlives its mailbox (RFC 9051 §6.3.7).
    c.cmd("s4 SUBSCRIBE a.b.c").await.assert_ok();
    c.cmd("d DELETE a.b.c").await.assert_ok();
    let r = c.cmd("l3 LIST (SUBSCRIBED) \"\" a*").await;
    assert!(
        r.has("* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \".\" \"a.b.c\""),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn list_extended_selection_and_return_options() {
    let env = Env::new();
    env.deliver("alice", &message("one")).await;
    let mut c = alice(&env).await;
    // `a.b` exists without `a`; `Fruit` has an unsubscribed child.
    c.cmd("c1 CREATE a.b").await.assert_ok();
    c.cmd("c2 CREATE Fruit").await.assert_ok();
    c.cmd("c3 CREATE Fruit.Apple").await.assert_ok();
    c.cmd("c4 SUBSCRIBE a.b").await.assert_ok();

    let r = c.cmd("l1 LIST \"\" %").await;
    assert!(
        r.has("* LIST (\\Noselect \\HasChildren) \".\" \"a\""),
        "{}",
        r.text()
    );
    let r = c.cmd("l2 LIST \"\" % RETURN (CHILDREN)").await;
    assert!(
        r.has("* LIST (\\NonExistent \\HasChildren) \".\" \"a\""),
        "{}",
        r.text()
    );
    // Several patterns, CHILDREN, SPECIAL-USE and SUBSCRIBED returned.
    let r = c
        .cmd("l3 LIST \"\" (INBOX Sent Fruit.%) RETURN (CHILDREN SUBSCRIBED SPECIAL-USE)")
        .await;
    r.assert_ok();
    assert_eq!(r.lines.len(), 4, "{}", r.text());
    assert!(
        r.has("* LIST (\\HasNoChildren \\Subscribed) \".\" \"INBOX\""),
        "{}",
        r.text()
    );
    assert!(
        r.has("* LIST (\\HasNoChildren \\Subscribed \\Sent) \".\" \"Sent\""),
        "{}",
        r.text()
    );
    assert!(
        r.has("* LIST (\\HasNoChildren) \".\" \"Fruit.Apple\""),
        "{}",
        r.text()
    );
    // Only the special-use mailboxes.
    let r = c.cmd("l4 LIST (SPECIAL-USE) \"\" *").await;
    assert_eq!(r.lines.len(), 6, "{}", r.text());
    assert!(!r.has("INBOX") && !r.has("Fruit"), "{}", r.text());
    // Subscribed with RECURSIVEMATCH: `a` for its subscribed grandchild.
    let r = c.cmd("l5 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert!(
        r.has("* LIST (\\NonExistent \\HasChildren) \".\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
        "{}",
        r.text()
    );
    assert!(!r.has("Fruit"), "{}", r.text());
    let r = c.cmd("l6 LIST (SUBSCRIBED) \"\" %").await;
    assert!(!r.has("\"a\""), "{}", r.text());
    let r = c.cmd("l7 LIST (RECURSIVEMATCH) \"\" %").await;
    assert!(r.tagged().starts_with("l7 BAD"), "{}", r.text());
    // REMOTE: nothing remote here, same answer.
    let plain = c.cmd("l8 LIST \"\" * RETURN (CHILDREN)").await;
    let remote = c.cmd("l9 LIST (REMOTE) \"\" * RETURN (CHILDREN)").await;
    assert_eq!(
        plain.lines[..plain.lines.len() - 1],
        remote.lines[..remote.lines.len() - 1]
    );
    // LIST-STATUS: a STATUS after each selectable mailbox, none for `a`.
    let r = c
        .cmd("l10 LIST \"\" (INBOX a a.b) RETURN (STATUS (MESSAGES UIDNEXT SIZE))")
        .await;
    let text = r.text();
    let inbox_list = text
        .find("* LIST (\\HasNoChildren) \".\" \"INBOX\"")
        .unwrap();
    let inbox_status = text
        .find("* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2 SIZE ")
        .unwrap();
    assert!(inbox_list < inbox_status, "{text}");
    assert!(
        r.has("* STATUS \"a.b\" (MESSAGES 0 UIDNEXT 1 SIZE 0)"),
        "{text}"
    );
    assert!(!r.has("* STATUS \"a\" "), "{text}");
    // The hierarchy delimiter.
    let r = c.cmd("l11 LIST \"\" \"\"").await;
    assert!(r.has("* LIST (\\Noselect) \".\" \"\""), "{}", r.text());
}

#[tokio::test]
async fn status_items_and_mailbox_ids() {
    let env = Env::new();
    let one = message("one");
    env.deliver("alice", &one).await;
    env.deliver("alice", &message("two")).await;
    let mut c = alice(&env).await;
    let r = c.cmd("c CREATE Box").await;
    let created_id = mailbox_id(&r.tagged());
    assert_eq!(created_id.len(), 32, "{}", r.text());
    let r = c.cmd("s SELECT Box").await;
    assert_eq!(mailbox_id(&r.text()), created_id, "{}", r.text());

    let r = c.cmd("s2 SELECT INBOX").await;
    let inbox_id = mailbox_id(&r.text());
    c.cmd("f STORE 1 +FLAGS (\\Deleted \\Seen)")
        .await
        .assert_ok();
    // Another delivery the session has not been told about yet.
    env.deliver("alice", &message("three")).await;
    let r = c
        .cmd("st STATUS INBOX (MESSAGES UNSEEN DELETED SIZE HIGHESTMODSEQ MAILBOXID APPENDLIMIT RECENT)")
        .await;
    r.assert_ok();
    let text = r.text();
    assert!(
        text.contains("MESSAGES 3 UNSEEN 2 DELETED 1 SIZE "),
        "{text}"
    );
    assert!(
        number_after(&text, "SIZE") >= 3 * one.len() as u64,
        "{text}"
    );
    assert!(number_after(&text, "HIGHESTMODSEQ") > 0, "{text}");
    assert_eq!(mailbox_id(&text), inbox_id);
    assert!(text.contains("APPENDLIMIT 52428800 RECENT 0)"), "{text}");
    // The session's own view changed only through the usual update before the tag.
    assert!(text.contains("* 3 EXISTS"), "{text}");
    let r = c.cmd("f2 FETCH 3 UID").await;
    assert!(r.has("* 3 FETCH (UID 3)"), "{}", r.text());
    let r = c.cmd("st2 STATUS Nowhere (MESSAGES)").await;
    assert!(
        r.tagged().starts_with("st2 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
}

fn quota_env(bytes: Option<u64>, messages: Option<u64>) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    Env::with_directory(tmp, ScriptedDirectory::with_quota(bytes, messages))
}

#[tokio::test]
async fn quota_roots_and_limits() {
    let env = quota_env(Some(10 * 1024 * 1024), Some(3));
    env.deliver("alice", &message("one")).await;
    let mut c = alice(&env).await;
    let r = c.cmd("q1 GETQUOTAROOT INBOX").await;
    r.assert_ok();
    assert!(r.has("* QUOTAROOT \"INBOX\" \"\""), "{}", r.text());
    assert!(
        r.has("* QUOTA \"\" (STORAGE 0 10240 MESSAGE 1 3)"),
        "{}",
        r.text()
    );
    let r = c.cmd("q2 GETQUOTA \"\"").await;
    assert!(
        r.has("* QUOTA \"\" (STORAGE 0 10240 MESSAGE 1 3)"),
        "{}",
        r.text()
    );
    let r = c.cmd("q3 GETQUOTA other").await;
    assert!(
        r.tagged().starts_with("q3 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    let r = c.cmd("q4 SETQUOTA \"\" (STORAGE 1)").await;
    assert!(r.tagged().starts_with("q4 NO [NOPERM]"), "{}", r.text());
    let r = c.cmd("q5 GETQUOTAROOT Nowhere").await;
    assert!(
        r.tagged().starts_with("q5 NO [NONEXISTENT]"),
        "{}",
        r.text()
    );
    let r = c.cmd("cap CAPABILITY").await;
    for cap in ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"] {
        assert!(
            r.text().split_whitespace().any(|w| w == cap),
            "{cap}: {}",
            r.text()
        );
    }

    // Two more messages fit (3 allowed); a COPY of both does not, and copies nothing.
    c.cmd("a APPEND INBOX {5+}\r\nHi!\r\n").await.assert_ok();
    c.cmd("s SELECT INBOX").await.assert_ok();
    let r = c.cmd("c COPY 1:2 Archive").await;
    assert!(r.tagged().starts_with("c NO [OVERQUOTA]"), "{}", r.text());
    assert!(message_files(&maildir(&env).join(".Archive")).is_empty());
    // MOVE stays within the quota: allowed.
    c.cmd("m MOVE 1:2 Archive").await.assert_ok();
    assert_eq!(message_files(&maildir(&env).join(".Archive")).len(), 2);
    let r = c.cmd("q6 GETQUOTAROOT Archive").await;
    assert!(r.has("MESSAGE 2 3)"), "{}", r.text());
}

#[tokio::test]
async fn unlimited_user_has_no_quota_root() {
    let env = Env::new();
    let mut c = alice(&env).await;
    let r = c.cmd("q GETQUOTAROOT INBOX").await;
    r.assert_ok();
    assert_eq!(
        r.lines[0],
        b"* QUOTAROOT \"INBOX\"".to_vec(),
        "{}",
        r.text()
    );
    assert!(!r.has("* QUOTA "), "{}", r.text());
    let r = c.cmd("q2 GETQUOTA \"\"").await;
    assert!(r.tagged().starts_with("q2 NO"), "{}", r.text());
}

#[tokio::test]
async fn multiappend_is_all_or_nothing() {
    let env = quota_env(None, Some(3));
    let mut c = alice(&env).await;
    let r = c
        .cmd("a1 APPEND Drafts (\\Draft) {5+}\r\nOne\r\n (\\Seen $X) \"01-Jan-2020 10:00:00 +0000\" {5+}\r\nTwo\r\n")
        .await;
    r.assert_ok();
    let validity = number_after(
        &c.cmd("st STATUS Drafts (UIDVALIDITY)").await.text(),
        "UIDVALIDITY",
    );
    assert!(
        r.tagged()
            .starts_with(&format!("a1 OK [APPENDUID {validity} 1:2]")),
        "{}",
        r.text()
    );
    c.cmd("s EXAMINE Drafts").await.assert_ok();
    let r = c.cmd("f FETCH 2 (FLAGS INTERNALDATE)").await;
    assert!(
        r.has("FLAGS (\\Seen $X) INTERNALDATE \" 1-Jan-2020 10:00:00 +0000\""),
        "{}",
        r.text()
    );
    // The quota allows three messages: of a second APPEND of two, the first is stored, the
    // second refused, and the first taken back.
    let r = c
        .cmd("a2 APPEND Trash {5+}\r\nOne\r\n {5+}\r\nTwo\r\n")
        .await;
    assert!(r.tagged().starts_with("a2 NO [OVERQUOTA]"), "{}", r.text());
    assert!(message_files(&maildir(&env).join(".Trash")).is_empty());
    let r = c.cmd("a3 APPEND Nowhere {5+}\r\nOne\r\n").await;
    assert!(r.tagged().starts_with("a3 NO [TRYCREATE]"), "{}", r.text());
}

#[tokio::test]
async fn namespace_id_and_capabilities() {
    let env = Env::new();
    let mut c = env.client().await;
    assert!(c.greeting.contains(" ID"), "{}", c.greeting);
    let r = c
        .cmd("i ID (\"name\" \"test client\" \"version\" \"1.0\")")
        .await;
    r.assert_ok();
    assert!(
        r.has(&format!(
            "* ID (\"name\" \"mailstack\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        r.text()
    );
    c.cmd("i2 ID NIL").await.assert_ok();
    c.login("alice@example.com").await;
    let r = c.cmd("n NAMESPACE").await;
    assert!(r.has("* NAMESPACE ((\"\" \".\")) NIL NIL"), "{}", r.text());
    let r = c.cmd("cap CAPABILITY").await;
    for cap in [
        "UIDPLUS",
        "MOVE",
        "MULTIAPPEND",
        "NAMESPACE",
        "CHILDREN",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "STATUS=SIZE",
        "SPECIAL-USE",
        "APPENDLIMIT=52428800",
    ] {
        assert!(
            r.text().split_whitespace().any(|w| w == cap),
            "{cap}: {}",
            r.text()
        );
    }
}
