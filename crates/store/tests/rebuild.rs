//! The index is a cache: deleted or corrupt, it is rebuilt with the same
//! UIDs (from dovecot-uidlist) and flags (from file names).

mod common;

use std::fs;

use common::{message, store};
use mailstack_store::{Flag, INDEX_FILE_NAME, MessageSource, Quota};

async fn setup(user: &mailstack_store::UserStore) -> (u32, Vec<(u32, Vec<Flag>, Vec<String>)>) {
    for i in 0..6 {
        common::deliver(user, i).await;
    }
    let mut inbox = user.open("INBOX").await.unwrap();
    // Gaps in the UIDs, flags and keywords.
    inbox.expunge(&[2, 4]).await.unwrap();
    inbox
        .set_flags(1, &[Flag::Seen, Flag::Answered], &[])
        .await
        .unwrap();
    inbox
        .set_flags(5, &[Flag::Flagged], &["Work".into(), "$Forwarded".into()])
        .await
        .unwrap();
    let uidvalidity = inbox.uidvalidity();
    let state = inbox
        .messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, m.flags, m.keywords))
        .collect();
    inbox.close().await;
    (uidvalidity, state)
}

async fn reopened_state(
    user: &mailstack_store::UserStore,
) -> (u32, u32, Vec<(u32, Vec<Flag>, Vec<String>)>) {
    let inbox = user.open("INBOX").await.unwrap();
    let state = inbox
        .messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, m.flags, m.keywords))
        .collect();
    (inbox.uidvalidity(), inbox.uidnext(), state)
}

#[tokio::test]
async fn deleted_index_is_rebuilt_with_same_uids() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    let (uidvalidity, state) = setup(&user).await;
    assert_eq!(state.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 3, 5, 6]);
    let md = user.maildir_path();
    for ext in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(md.join(format!("{INDEX_FILE_NAME}{ext}")));
    }
    let (v, next, again) = reopened_state(&user).await;
    assert_eq!(v, uidvalidity);
    assert_eq!(next, 7);
    assert_eq!(again, state);
    assert_eq!(
        again[2],
        (
            5,
            vec![Flag::Flagged],
            vec!["$Forwarded".to_string(), "Work".to_string()]
        )
    );
    // New deliveries continue after the old UIDs.
    let d = user
        .deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(b"x\r\n"),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(d.uid, Some(7));
}

#[tokio::test]
async fn garbage_index_is_moved_aside_and_rebuilt() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "bob").unwrap();
    let (uidvalidity, state) = setup(&user).await;
    // As when another program breaks the file while no mailbox of ours has it open.
    store.close_unused_indexes().await;
    let md = user.maildir_path();
    for ext in ["-wal", "-shm"] {
        let _ = fs::remove_file(md.join(format!("{INDEX_FILE_NAME}{ext}")));
    }
    fs::write(md.join(INDEX_FILE_NAME), vec![0x42u8; 8192]).unwrap();
    let (v, _, again) = reopened_state(&user).await;
    assert_eq!(v, uidvalidity);
    assert_eq!(again, state);
    assert!(common::files(&md).iter().any(|f| f.contains(".corrupt-")));

    // A truncated/overwritten SQLite header is also handled.
    let idx = md.join(INDEX_FILE_NAME);
    let mut bytes = fs::read(&idx).unwrap();
    bytes.truncate(100);
    for b in bytes.iter_mut().skip(16) {
        *b = 0xff;
    }
    store.close_unused_indexes().await;
    drop(fs::write(&idx, bytes));
    for ext in ["-wal", "-shm"] {
        let _ = fs::remove_file(md.join(format!("{INDEX_FILE_NAME}{ext}")));
    }
    let (v, _, again) = reopened_state(&user).await;
    assert_eq!(v, uidvalidity);
    assert_eq!(again, state);
}

#[tokio::test]
async fn without_uidlist_uids_follow_file_names() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "carol").unwrap();
    let (_, _) = setup(&user).await;
    let md = user.maildir_path();
    for f in [
        INDEX_FILE_NAME.to_string(),
        format!("{INDEX_FILE_NAME}-wal"),
        format!("{INDEX_FILE_NAME}-shm"),
        "dovecot-uidlist".to_string(),
    ] {
        let _ = fs::remove_file(md.join(f));
    }
    let (v, next, again) = reopened_state(&user).await;
    assert!(v > 1_600_000_000);
    assert_eq!(next, 5);
    assert_eq!(again.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(again[0].1, vec![Flag::Seen, Flag::Answered]);
    // ...and the uidlist is written again.
    let (h, recs) = common::parse_uidlist(&md.join("dovecot-uidlist"));
    assert_eq!(h[&'V'], v.to_string());
    assert_eq!(recs.len(), 4);
}

/// A writer killed between its index commit and its uidlist append leaves dovecot-uidlist
/// without its message; the next write repairs the uidlist, so a later rebuild still gives
/// every message the UID the index gave it (clients keep their caches).
#[tokio::test]
async fn uidlist_missing_a_committed_message_is_repaired() {
    let (_dir, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    for i in 0..3 {
        common::deliver(&user, i).await;
    }
    let maildir = user.maildir_path();
    let uidlist = maildir.join("dovecot-uidlist");
    // Lose the last record, as a crash right after the index commit would.
    let text = fs::read_to_string(&uidlist).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let lost = lines.pop().unwrap().to_string();
    fs::write(&uidlist, lines.join("\n") + "\n").unwrap();
    // A stale lock of a dead process must not block the next writer.
    fs::write(
        maildir.join("dovecot-uidlist.lock"),
        format!(
            "{}:{}",
            i32::MAX,
            fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim()
        ),
    )
    .unwrap();
    user.deliver(
        "INBOX",
        b"",
        MessageSource::Bytes(&message(3)),
        &[],
        &Quota::UNLIMITED,
    )
    .await
    .unwrap();
    assert!(
        fs::read_to_string(&uidlist).unwrap().contains(&lost),
        "uidlist not repaired"
    );
    let before = reopened_state(&user).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(maildir.join(format!("{INDEX_FILE_NAME}{suffix}")));
    }
    let after = reopened_state(&user).await;
    assert_eq!(before.2, after.2);
    assert_eq!(
        after.2.iter().map(|m| m.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
}
