//! Maildir++ quota: maildirsize format, refusal, recalculation.

mod common;

use std::fs;

use common::{message, store};
use mailstack_store::{DEFAULT_FOLDERS, MessageSource, Quota, StoreError};

#[tokio::test]
async fn maildirsize_is_kept_in_dovecot_format() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.create_default_folders(DEFAULT_FOLDERS).await.unwrap();
    let md = user.maildir_path();
    let m = message(1);
    let size = m.len() as u64;
    let quota = Quota {
        bytes: Some(size * 3),
        messages: Some(10),
    };
    user.deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap();
    // Created by recalculation (0 0 before the message), then the delta.
    let text = fs::read_to_string(md.join("maildirsize")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("{}S,10C", size * 3));
    assert_eq!(lines[1], "0 0");
    assert_eq!(lines[2], format!("{size} 1"));
    assert_eq!(lines.len(), 3);

    // Trash counts too.
    user.deliver("Trash", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap();
    assert_eq!(user.quota_usage().await.unwrap(), (2 * size, 2));
    user.deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap();
    // The fourth would exceed the byte limit.
    let err = user
        .deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap_err();
    match &err {
        StoreError::QuotaExceeded {
            used_bytes,
            used_messages,
            ..
        } => assert_eq!((*used_bytes, *used_messages), (3 * size, 3)),
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert!(!err.is_temporary());
    assert!(common::files(&md.join("tmp")).is_empty());
    assert_eq!(common::files(&md.join("new")).len(), 2);

    // Expunge writes a negative delta; then there is room again.
    let mut inbox = user.open("INBOX").await.unwrap();
    let uid = inbox.messages().await.unwrap()[0].uid;
    inbox.expunge(&[uid]).await.unwrap();
    let text = fs::read_to_string(md.join("maildirsize")).unwrap();
    assert_eq!(text.lines().last().unwrap(), format!("-{size} -1"));
    assert_eq!(user.quota_usage().await.unwrap(), (2 * size, 2));
    user.deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap();

    // Message count limit.
    let tight = Quota {
        bytes: None,
        messages: Some(3),
    };
    let err = user
        .deliver("INBOX", b"", MessageSource::Bytes(b"x"), &[], &tight)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded { .. }));
    let text = fs::read_to_string(md.join("maildirsize")).unwrap();
    assert_eq!(text, format!("3C\n{} 3\n", 3 * size));
}

#[tokio::test]
async fn maildirsize_is_recalculated_when_deleted_or_broken() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "bob").unwrap();
    let md = user.maildir_path();
    let quota = Quota {
        bytes: Some(1_000_000),
        messages: None,
    };
    let mut total = 0;
    for i in 0..5 {
        let m = message(i);
        total += m.len() as u64;
        user.deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
            .await
            .unwrap();
    }
    fs::remove_file(md.join("maildirsize")).unwrap();
    // Without limits the file is not recreated, but usage is counted.
    assert_eq!(user.quota_usage().await.unwrap(), (total, 5));
    assert!(!md.join("maildirsize").exists());
    let m = message(9);
    user.deliver("INBOX", b"", MessageSource::Bytes(&m), &[], &quota)
        .await
        .unwrap();
    total += m.len() as u64;
    let text = fs::read_to_string(md.join("maildirsize")).unwrap();
    assert_eq!(
        text,
        format!("1000000S\n{} 5\n{} 1\n", total - m.len() as u64, m.len())
    );
    // A malformed line forces a recalculation.
    fs::write(md.join("maildirsize"), "1000000S\n12 x\n").unwrap();
    assert_eq!(user.quota_usage().await.unwrap(), (total, 6));
    assert_eq!(
        fs::read_to_string(md.join("maildirsize")).unwrap(),
        format!("1000000S\n{total} 6\n")
    );
    // A file over 5120 bytes is recalculated too.
    let mut big = String::from("1000000S\n");
    for _ in 0..1500 {
        big.push_str("1 1\n");
    }
    assert!(big.len() > 5120);
    fs::write(md.join("maildirsize"), big).unwrap();
    assert_eq!(user.quota_usage().await.unwrap(), (total, 6));
}
