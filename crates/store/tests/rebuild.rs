//! The index is a cache: deleted or corrupt, it is rebuilt with the same
//! UIDs (from dovecot-uidlist) and flags (from file names).

mod common;

use std::fs;

use common::{message, store};
use mailstack_store::{Flag, INDEX_FILE_NAME, MessageSource, Quota};

async fn setup(user: &mailstack_store::UserStore) -> (u32, Vec<(u32, Vec<Flag>, Vec<String>)>) {
    for i in 0..6 {
        user.deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(&message(i)),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
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
