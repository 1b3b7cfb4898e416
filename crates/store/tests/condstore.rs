//! CONDSTORE / QRESYNC support: changes after a MODSEQ, expunge tombstones and when they are
//! complete, and the conditional flag change.

mod common;

use std::fs;

use common::{maildir, store};
use mailstack_store::{ConditionalStore, Flag, INDEX_FILE_NAME};

async fn deliver(user: &mailstack_store::UserStore, n: usize) {
    for i in 0..n {
        common::deliver(user, i).await;
    }
}

#[tokio::test]
async fn changes_since_lists_changed_and_expunged_uids() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    deliver(&user, 5).await;
    let mut a = user.open("INBOX").await.unwrap();
    let mut b = user.open("INBOX").await.unwrap();
    let m0 = a.highest_modseq();

    let none = a.changes_since(m0).await.unwrap();
    assert!(none.changed.is_empty() && none.vanished.is_empty());
    assert!(none.complete);

    a.set_flags(2, &[Flag::Seen], &[]).await.unwrap();
    a.expunge(&[3, 5]).await.unwrap();
    let ch = a.changes_since(m0).await.unwrap();
    assert_eq!(ch.changed, [2]);
    assert_eq!(ch.vanished, [3, 5]);
    assert!(ch.complete);

    // Another handle's snapshot lags, but the tombstones are read from the index.
    let ch = b.changes_since(m0).await.unwrap();
    assert!(ch.changed.is_empty(), "b has not synced: {ch:?}");
    assert_eq!(ch.vanished, [3, 5]);
    b.sync().await.unwrap();
    assert_eq!(b.changes_since(m0).await.unwrap().changed, [2]);

    // Since before the index existed: all live messages and all tombstones, but what was
    // expunged before the index existed is unknown.
    let ch = a.changes_since(0).await.unwrap();
    assert_eq!(ch.changed, [1, 2, 4]);
    assert_eq!(ch.vanished, [3, 5]);
    assert!(!ch.complete);

    // A MODSEQ this index never handed out is not trusted.
    let h = a.highest_modseq();
    let ch = a.changes_since(h + 10).await.unwrap();
    assert!(!ch.complete, "{h} {ch:?}");
}

#[tokio::test]
async fn a_rebuilt_index_starts_above_the_old_modseqs_and_admits_lost_tombstones() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    deliver(&user, 4).await;
    let mut inbox = user.open("INBOX").await.unwrap();
    let client_modseq = inbox.highest_modseq();
    inbox.expunge(&[2]).await.unwrap();
    inbox.set_flags(3, &[Flag::Flagged], &[]).await.unwrap();
    let old_highest = inbox.highest_modseq();
    inbox.close().await;

    let md = maildir(&store, "example.com", "alice");
    for ext in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(md.join(format!("{INDEX_FILE_NAME}{ext}")));
    }
    let mut inbox = user.open("INBOX").await.unwrap();
    assert!(
        inbox.highest_modseq() > old_highest,
        "MODSEQ went backwards"
    );
    let ch = inbox.changes_since(client_modseq).await.unwrap();
    assert!(!ch.complete, "the expunge of UID 2 is lost: {ch:?}");
    assert!(ch.vanished.is_empty());
    assert_eq!(ch.changed, [1, 3, 4], "every message counts as changed");
    assert_eq!(inbox.message(3).unwrap().flags, [Flag::Flagged]);

    // From the rebuilt index's own MODSEQs on, tombstones are complete again.
    let m = inbox.highest_modseq();
    inbox.expunge(&[4]).await.unwrap();
    let ch = inbox.changes_since(m).await.unwrap();
    assert!(ch.complete);
    assert_eq!(ch.vanished, [4]);
}

#[tokio::test]
async fn conditional_store_refuses_a_message_changed_since() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    deliver(&user, 2).await;
    let mut a = user.open("INBOX").await.unwrap();
    let mut b = user.open("INBOX").await.unwrap();
    let seen_at = a.message(1).unwrap().modseq;

    // Unchanged since: stored, MODSEQ bumped.
    let r = a
        .set_flags_unchanged_since(1, &[Flag::Seen], &[], seen_at)
        .await
        .unwrap();
    let ConditionalStore::Stored(m1) = r else {
        panic!("{r:?}")
    };
    assert!(m1 > seen_at);

    // B still has the old MODSEQ in its snapshot: the index refuses, nothing changes.
    let r = b
        .set_flags_unchanged_since(1, &[Flag::Deleted], &[], seen_at)
        .await
        .unwrap();
    assert_eq!(r, ConditionalStore::Modified(m1));
    assert_eq!(b.message(1).unwrap().flags, [Flag::Seen]);
    a.sync().await.unwrap();
    assert_eq!(a.message(1).unwrap().flags, [Flag::Seen]);
    assert!(
        fs::read_dir(maildir(&store, "example.com", "alice").join("cur"))
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(":2,T")),
        "no file was renamed to \\Deleted"
    );

    // UNCHANGEDSINCE 0 fails for every existing message.
    let r = b
        .set_flags_unchanged_since(2, &[Flag::Seen], &[], 0)
        .await
        .unwrap();
    assert!(matches!(r, ConditionalStore::Modified(_)));
}
