//! RENAME keeps UIDVALIDITY and the mailbox GUID, renames parents that exist only through
//! their children; subscriptions live in Dovecot's `subscriptions` file.

mod common;

use common::{message, store};
use mailstack_store::{MessageSource, Quota, StoreError};

#[tokio::test]
async fn rename_keeps_uidvalidity_and_guid() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.create_mailbox("Work").await.unwrap();
    user.deliver(
        "Work",
        b"",
        MessageSource::Bytes(&message(1)),
        &[],
        &Quota::UNLIMITED,
    )
    .await
    .unwrap();
    let before = user.open("Work").await.unwrap();
    let (validity, guid) = (before.uidvalidity(), before.guid().to_string());
    before.close().await;
    assert_eq!(guid.len(), 32, "{guid}");
    user.rename_mailbox("Work", "Job").await.unwrap();
    let after = user.open("Job").await.unwrap();
    assert_eq!(after.uidvalidity(), validity);
    assert_eq!(after.guid(), guid);
    assert_eq!(after.messages().await.unwrap().len(), 1);
    assert!(matches!(
        user.open("Work").await,
        Err(StoreError::MailboxNotFound(_))
    ));
}

#[tokio::test]
async fn rename_of_a_parent_without_directory_moves_its_children() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.create_mailbox("a.b").await.unwrap();
    user.rename_mailbox("a", "c").await.unwrap();
    let md = user.maildir_path();
    assert!(md.join(".c.b").join("cur").is_dir());
    assert!(!md.join(".a.b").exists());
    assert!(!md.join(".c").exists());
    assert!(matches!(
        user.rename_mailbox("a", "d").await,
        Err(StoreError::MailboxNotFound(_))
    ));
    assert!(matches!(
        user.rename_mailbox("c", "c.b.x").await,
        Err(StoreError::NotPermitted(_))
    ));
}

#[tokio::test]
async fn subscriptions_file_in_dovecot_format() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    assert!(!user.has_subscriptions_file().await.unwrap());
    assert!(user.subscriptions().await.unwrap().is_empty());
    assert!(
        user.set_subscribed(&["INBOX", "Sent", "Work.Ärger"], true)
            .await
            .unwrap()
    );
    let path = user.maildir_path().join("subscriptions");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "V\t2\n\nINBOX\nSent\nWork\t&AMQ-rger\n"
    );
    assert!(user.rename_subscriptions("Work", "Job").await.unwrap());
    assert!(user.set_subscribed(&["Sent"], false).await.unwrap());
    assert_eq!(
        user.subscriptions().await.unwrap(),
        vec!["INBOX", "Job.Ärger"]
    );
    assert!(matches!(
        user.set_subscribed(&["../x"], true).await,
        Err(StoreError::InvalidName { .. })
    ));
    // An old-format file (Dovecot 2.2 and others) stays in its format.
    std::fs::write(&path, "INBOX\nOld.Folder.\n").unwrap();
    assert_eq!(
        user.subscriptions().await.unwrap(),
        vec!["INBOX", "Old.Folder"]
    );
    user.set_subscribed(&["New"], true).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "INBOX\nOld.Folder.\nNew\n"
    );
}
