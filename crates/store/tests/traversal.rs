//! Hostile mailbox and user names are refused before any path is built.

mod common;

use common::store;
use mailstack_store::{MessageSource, Quota, StoreError};

const BAD_MAILBOXES: &[&str] = &[
    "..",
    "../x",
    "../../etc/passwd",
    "a/../../b",
    "/etc",
    "/",
    "a/b",
    "a\\b",
    "\\x",
    "a\0b",
    "a\nb",
    "a\rb",
    "a\tb",
    "\u{1b}[31m",
    "\u{7f}",
    "a..b",
    ".hidden",
    "trailing.",
    ".",
    "",
    "~root",
    "~",
    "a.~b",
    "a.. .b",
];

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(e @ StoreError::InvalidName { .. }) => assert!(!e.is_temporary()),
        other => panic!("{what:?}: expected InvalidName, got {other:?}"),
    }
}

#[tokio::test]
async fn malicious_mailbox_names_are_refused() {
    let (t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.ensure_exists().await.unwrap();
    for bad in BAD_MAILBOXES {
        assert_invalid(user.create_mailbox(bad).await, bad);
        assert_invalid(user.open(bad).await, bad);
        assert_invalid(user.delete_mailbox(bad).await, bad);
        assert_invalid(user.rename_mailbox("INBOX", bad).await, bad);
        assert_invalid(user.rename_mailbox(bad, "Ok").await, bad);
        assert_invalid(
            user.deliver(bad, b"", MessageSource::Bytes(b"x"), &[], &Quota::UNLIMITED)
                .await,
            bad,
        );
        assert_invalid(user.create_default_folders(&[bad]).await, bad);
    }
    // Nothing was created outside (or inside) the Maildir.
    let md = user.maildir_path();
    let entries = common::files(&md);
    assert_eq!(entries, ["cur", "new", "tmp"]);
    assert_eq!(common::files(t.path()), ["mail"]);
}

#[tokio::test]
async fn inbox_is_case_insensitive_and_protected() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    user.ensure_exists().await.unwrap();
    for name in ["INBOX", "inbox", "InBox"] {
        let mb = user.open(name).await.unwrap();
        assert_eq!(mb.name(), "INBOX");
    }
    assert!(matches!(
        user.delete_mailbox("inbox").await,
        Err(StoreError::NotPermitted(_))
    ));
    assert!(matches!(
        user.create_mailbox("Inbox").await,
        Err(StoreError::MailboxExists(_))
    ));
}

#[test]
fn malicious_user_names_are_refused() {
    let (_t, store) = store(false);
    let bad = [
        "", ".", "..", "../x", "a/b", "/abs", "a\\b", "a\0b", "a\nb", "x..y", ".hidden", "~root",
        "\u{7}",
    ];
    for b in bad {
        assert_invalid(store.user(b, "alice"), b);
        assert_invalid(store.user("example.com", b), b);
    }
    let u = store.user("EXAMPLE.com", "Alice.Smith").unwrap();
    assert_eq!(u.domain(), "example.com");
    assert_eq!(u.local_part(), "Alice.Smith");
    assert!(u.maildir_path().starts_with(store.root()));
}
