//! Mailboxes of one process start from a shared snapshot of their folder: what they see must
//! still be exactly what the index says, whatever other handles, deliveries, expunges and
//! rebuilds did in between.

mod common;

use std::fs;

use common::{deliver, store};
use mailstack_store::{Flag, INDEX_FILE_NAME, Mailbox};

type State = Vec<(u32, Vec<Flag>, Vec<String>)>;

fn state(mb: &Mailbox) -> State {
    mb.iter()
        .map(|m| (m.uid, m.flags.clone(), m.keywords.clone()))
        .collect()
}

#[tokio::test]
async fn a_new_handle_sees_every_change_made_since_the_shared_snapshot() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    for i in 0..5 {
        deliver(&user, i).await;
    }
    let mut first = user.open("INBOX").await.unwrap();
    assert_eq!(first.len(), 5);
    // Another handle's delivery, flag change and expunge.
    let uid = deliver(&user, 5).await;
    assert_eq!(uid, 6);
    let second = user.open("INBOX").await.unwrap();
    assert_eq!(second.len(), 6, "a delivery after the snapshot");
    first.sync().await.unwrap();
    first
        .set_flags(2, &[Flag::Seen], &["Work".into()])
        .await
        .unwrap();
    first.expunge(&[3]).await.unwrap();
    let third = user.open("INBOX").await.unwrap();
    assert_eq!(state(&third), state(&first));
    assert!(third.message(3).is_none());
    assert_eq!(third.message(2).unwrap().flags, vec![Flag::Seen]);
    // The earlier handle is not changed by what the later ones did.
    assert_eq!(second.len(), 6);
    assert!(second.message(3).is_some());
    assert_eq!(*third.uids(), vec![1, 2, 4, 5, 6]);
    assert_eq!(*second.uids(), vec![1, 2, 3, 4, 5, 6]);
    // A file removed behind the index's back (another program) is gone for the next handle.
    let path = third.message(5).unwrap().path.clone();
    drop((first, second, third));
    fs::remove_file(&path).unwrap();
    let fourth = user.open("INBOX").await.unwrap();
    assert_eq!(*fourth.uids(), vec![1, 2, 4, 6]);
}

#[tokio::test]
async fn a_rebuilt_index_is_not_read_through_an_old_snapshot() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "bob").unwrap();
    for i in 0..4 {
        deliver(&user, i).await;
    }
    let mb = user.open("INBOX").await.unwrap();
    let uidvalidity = mb.uidvalidity();
    let doomed = mb.message(2).unwrap().path.clone();
    drop(mb);
    store.close_unused_indexes().await;
    // Another program removes a message and the index; the rebuilt index keeps UIDVALIDITY
    // and GUID (from dovecot-uidlist) and may even get the old inode number.
    let md = user.maildir_path();
    fs::remove_file(&doomed).unwrap();
    for ext in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(md.join(format!("{INDEX_FILE_NAME}{ext}")));
    }
    // A delivery rebuilds it (not through a mailbox handle, so the snapshot of before is
    // still the newest this process has of the folder).
    assert_eq!(deliver(&user, 9).await, 5);
    let rebuilt = user.open("INBOX").await.unwrap();
    assert_eq!(rebuilt.uidvalidity(), uidvalidity);
    assert_eq!(*rebuilt.uids(), vec![1, 3, 4, 5]);
    drop(rebuilt);
    // And the handle after it, from the shared snapshot, agrees.
    let again = user.open("INBOX").await.unwrap();
    assert_eq!(*again.uids(), vec![1, 3, 4, 5]);
}
