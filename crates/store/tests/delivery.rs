//! Delivery: durable file in new/, Dovecot file names, UIDs, default folders.

mod common;

use std::fs;

use common::{files, message, parse_uidlist, store};
use mailstack_store::{DEFAULT_FOLDERS, Flag, MessageSource, Quota, SpecialUse, StoreError};

#[tokio::test]
async fn delivery_writes_complete_file_into_new() {
    for fsync in [true, false] {
        let (_t, store) = store(fsync);
        let user = store.user("Example.COM", "alice").unwrap();
        assert!(user.maildir_path().ends_with("example.com/alice/Maildir"));
        user.create_default_folders(DEFAULT_FOLDERS).await.unwrap();
        let prefix = b"Return-Path: <sender@example.org>\r\nDelivered-To: alice@example.com\r\n";
        let body = message(1);
        let d = user
            .deliver(
                "INBOX",
                prefix,
                MessageSource::Bytes(&body),
                &[],
                &Quota::UNLIMITED,
            )
            .await
            .unwrap();
        assert_eq!(d.uid, Some(1));
        assert!(d.uidvalidity > 0);
        let expected: Vec<u8> = [&prefix[..], &body[..]].concat();
        assert_eq!(d.size, expected.len() as u64);
        assert_eq!(fs::read(&d.path).unwrap(), expected);
        let md = user.maildir_path();
        assert_eq!(d.path.parent().unwrap(), md.join("new"));
        let name = d.path.file_name().unwrap().to_string_lossy().into_owned();
        // <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>; no :2, in new/
        let (base, sizes) = name.split_once(',').unwrap();
        let mut parts = base.splitn(3, '.');
        assert!(parts.next().unwrap().parse::<u64>().unwrap() > 1_600_000_000);
        let mpq = parts.next().unwrap();
        assert!(mpq.starts_with('M') && mpq.contains(&format!("P{}Q", std::process::id())));
        assert!(!parts.next().unwrap().is_empty());
        assert_eq!(sizes, format!("S={0},W={0}", expected.len()));
        assert!(!name.contains(':'));
        assert!(files(&md.join("tmp")).is_empty());

        // Second delivery, from a file, with bare LF lines: W= counts CRLF.
        let mut spool = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut spool, b"Subject: lf\n\nline\n").unwrap();
        let d2 = user
            .deliver(
                "inbox",
                b"",
                MessageSource::File(&spool),
                &[],
                &Quota::UNLIMITED,
            )
            .await
            .unwrap();
        assert_eq!(d2.uid, Some(2));
        assert_eq!(d2.uidvalidity, d.uidvalidity);
        assert!(d2.path.to_string_lossy().ends_with(",S=18,W=21"));
        assert!(files(&md.join("tmp")).is_empty());

        // Default folders exist the way Dovecot creates them.
        for f in DEFAULT_FOLDERS {
            let dir = md.join(format!(".{f}"));
            for sub in ["cur", "new", "tmp"] {
                assert!(dir.join(sub).is_dir(), "{f}/{sub}");
            }
            assert_eq!(fs::metadata(dir.join("maildirfolder")).unwrap().len(), 0);
        }
        assert!(!md.join("maildirfolder").exists());
        let list = user.list_mailboxes().await.unwrap();
        let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
        );
        let sent = list.iter().find(|m| m.name == "Sent").unwrap();
        assert_eq!(sent.special_use, Some(SpecialUse::Sent));

        // The uidlist Dovecot would read.
        let (h, recs) = parse_uidlist(&md.join("dovecot-uidlist"));
        assert_eq!(h[&'V'], d.uidvalidity.to_string());
        assert_eq!(recs.len(), 2);
        assert!(name.starts_with(&recs[&1]));
    }
}

#[tokio::test]
async fn delivery_with_flags_goes_to_cur_and_unknown_folder_is_refused() {
    let (_t, store) = store(true);
    let user = store.user("example.com", "bob").unwrap();
    // INBOX is created on first delivery.
    let d = user
        .deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(&message(1)),
            &[Flag::Seen, Flag::Flagged],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    assert!(d.path.to_string_lossy().ends_with(":2,FS"));
    assert_eq!(d.path.parent().unwrap(), user.maildir_path().join("cur"));
    let err = user
        .deliver(
            "Nope",
            b"",
            MessageSource::Bytes(b"x"),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MailboxNotFound(_)));
    assert!(!err.is_temporary());
    user.create_mailbox("Lists.Rust").await.unwrap();
    let d = user
        .deliver(
            "Lists.Rust",
            b"",
            MessageSource::Bytes(b"x\r\n"),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(d.uid, Some(1));
    assert!(
        d.path
            .starts_with(user.maildir_path().join(".Lists.Rust/new"))
    );
    let mb = user.open("Lists.Rust").await.unwrap();
    assert_eq!(mb.uidnext(), 2);
}

#[tokio::test]
async fn failed_delivery_leaves_nothing_and_is_temporary() {
    let (_t, store) = store(true);
    let user = store.user("example.com", "carol").unwrap();
    user.ensure_exists().await.unwrap();
    // Make new/ unusable: the rename fails, the tmp file must go away.
    let md = user.maildir_path();
    fs::remove_dir(md.join("new")).unwrap();
    fs::write(md.join("new"), b"not a directory").unwrap();
    let err = user
        .deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(&message(1)),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert!(files(&md.join("tmp")).is_empty());
}
