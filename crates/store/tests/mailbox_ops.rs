//! Mailbox management and the IMAP-side operations.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{files, message, store};
use mailstack_store::{Flag, MessageSource, Quota, StoreError};

#[tokio::test]
async fn create_rename_delete_mailboxes() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.create_mailbox("Work").await.unwrap();
    user.create_mailbox("Work.Projects").await.unwrap();
    user.create_mailbox("Work.Projects.2024").await.unwrap();
    assert!(matches!(
        user.create_mailbox("Work").await,
        Err(StoreError::MailboxExists(_))
    ));
    user.deliver(
        "Work.Projects",
        b"",
        MessageSource::Bytes(&message(1)),
        &[],
        &Quota::UNLIMITED,
    )
    .await
    .unwrap();
    assert!(matches!(
        user.delete_mailbox("Work").await,
        Err(StoreError::MailboxHasChildren(_))
    ));
    user.rename_mailbox("Work", "Büro").await.unwrap();
    let names: Vec<String> = user
        .list_mailboxes()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["INBOX", "Büro", "Büro.Projects", "Büro.Projects.2024"]
    );
    let md = user.maildir_path();
    assert!(md.join(".B&APw-ro.Projects").is_dir());
    // UIDs and UIDVALIDITY move with the folder.
    let mb = user.open("Büro.Projects").await.unwrap();
    assert_eq!(mb.messages().await.unwrap()[0].uid, 1);
    assert!(matches!(
        user.open("Work.Projects").await,
        Err(StoreError::MailboxNotFound(_))
    ));
    assert!(matches!(
        user.rename_mailbox("INBOX", "Old").await,
        Err(StoreError::NotPermitted(_))
    ));
    user.create_mailbox("Other").await.unwrap();
    assert!(matches!(
        user.rename_mailbox("Other", "Büro").await,
        Err(StoreError::MailboxExists(_))
    ));
    user.delete_mailbox("Büro.Projects.2024").await.unwrap();
    user.delete_mailbox("Büro.Projects").await.unwrap();
    assert!(matches!(
        user.delete_mailbox("Büro.Projects").await,
        Err(StoreError::MailboxNotFound(_))
    ));
    // The deleted folders are gone, nothing trashed is left behind.
    assert_eq!(files(&md), [".B&APw-ro", ".Other", "cur", "new", "tmp"]);
}

#[tokio::test]
async fn flags_expunge_append_copy_and_sync_between_handles() {
    let (_t, store) = store(true);
    let user = store.user("example.com", "alice").unwrap();
    user.create_default_folders(&["Archive"]).await.unwrap();
    for i in 0..3 {
        common::deliver(&user, i).await;
    }
    let mut a = user.open("INBOX").await.unwrap();
    let mut b = user.open("INBOX").await.unwrap();
    assert_eq!(a.messages().await.unwrap().len(), 3);
    let m0 = a.highest_modseq();

    // Flags: file renamed new/ -> cur/, MODSEQ bumped, seen by the other handle.
    let modseq = a
        .set_flags(2, &[Flag::Seen], &["Important".into()])
        .await
        .unwrap();
    assert!(modseq > m0);
    let p = a.message_path(2).unwrap();
    assert!(p.to_string_lossy().ends_with(":2,Sa"));
    assert!(p.parent().unwrap().ends_with("cur"));
    assert!(
        a.sync().await.unwrap().is_empty(),
        "own changes are not reported again"
    );
    let ch = b.sync().await.unwrap();
    assert_eq!(ch.flag_changes, [2]);
    assert_eq!(b.message(2).unwrap().keywords, ["Important"]);
    assert_eq!(b.highest_modseq(), modseq);

    // Expunge.
    a.expunge(&[1]).await.unwrap();
    assert!(a.message_path(1).is_none());
    let ch = b.sync().await.unwrap();
    assert_eq!(ch.expunged, [1]);

    // Append with flags and internal date.
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let uid = a
        .append(
            b"Subject: appended\r\n\r\nx\r\n",
            &[Flag::Draft, Flag::Seen],
            Some(when),
        )
        .await
        .unwrap();
    assert_eq!(uid, 4);
    let m = a.message(4).unwrap().clone();
    assert_eq!(m.internal_date, 1_500_000_000);
    assert_eq!(m.flags, [Flag::Seen, Flag::Draft]);
    assert!(m.path.to_string_lossy().ends_with(":2,DS"));
    assert_eq!(b.sync().await.unwrap().new_uids, [4]);

    // Copy keeps flags and keywords; hard link shares the inode.
    let mut archive = user.open("Archive").await.unwrap();
    let pairs = a.copy_to(&[2, 4, 99], &mut archive).await.unwrap();
    assert_eq!(pairs, [(2, 1), (4, 2)]);
    let copied = archive.message(1).unwrap().clone();
    assert_eq!(copied.flags, [Flag::Seen]);
    assert_eq!(copied.keywords, ["Important"]);
    {
        use std::os::unix::fs::MetadataExt;
        let src = std::fs::metadata(a.message_path(2).unwrap()).unwrap();
        let dst = std::fs::metadata(&copied.path).unwrap();
        assert_eq!(src.ino(), dst.ino());
    }
    let mut archive2 = user.open("Archive").await.unwrap();
    assert_eq!(archive2.messages().await.unwrap().len(), 2);
    assert!(archive2.sync().await.unwrap().is_empty());

    // A file renamed by another MUA is still opened.
    let path = a.message_path(3).unwrap();
    let renamed = user.maildir_path().join("cur").join(format!(
        "{}:2,S",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&path, &renamed).unwrap();
    let f = a.open_message(3).await.unwrap();
    assert_eq!(f.metadata().unwrap().len(), message(2).len() as u64);
    let ch = a.sync().await.unwrap();
    assert_eq!(ch.flag_changes, [3]);
    assert_eq!(a.message_path(3).unwrap(), renamed);
    assert!(matches!(
        a.set_flags(1, &[], &[]).await,
        Err(StoreError::MessageNotFound(1))
    ));
}
