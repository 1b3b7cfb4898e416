//! Shared helpers for the store's integration tests (public API only).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mailstack_store::{MessageSource, Quota, Store, StoreOptions, UserStore};

/// A store in a fresh temporary directory.
pub fn store(fsync: bool) -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(StoreOptions {
        root: t.path().join("mail"),
        fsync,
    })
    .unwrap();
    (t, store)
}

/// A small CRLF message numbered `i`.
pub fn message(i: usize) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nTo: alice@example.com\r\nSubject: message {i}\r\n\
         Message-ID: <{i}@example.org>\r\n\r\nBody of message {i}.\r\n"
    )
    .into_bytes()
}

/// Deliver [`message`]`(i)` into the user's INBOX (unlimited quota); its UID.
pub async fn deliver(user: &UserStore, i: usize) -> u32 {
    user.deliver(
        "INBOX",
        b"",
        MessageSource::Bytes(&message(i)),
        &[],
        &Quota::UNLIMITED,
    )
    .await
    .unwrap()
    .uid
    .unwrap()
}

/// File names in a directory (sorted).
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Parse a `dovecot-uidlist` (v3) as Dovecot would: header fields and
/// `uid -> basename` records. Panics when malformed.
pub fn parse_uidlist(path: &Path) -> (BTreeMap<char, String>, BTreeMap<u32, String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().expect("header line");
    let mut fields = header.split(' ');
    assert_eq!(fields.next(), Some("3"), "version 3 header: {header}");
    let mut h = BTreeMap::new();
    for f in fields {
        let mut c = f.chars();
        let key = c.next().unwrap();
        h.insert(key, c.as_str().to_string());
    }
    let mut records = BTreeMap::new();
    let mut last = 0;
    for line in lines {
        let (uid, rest) = line.split_once(' ').expect("record");
        let uid: u32 = uid.parse().expect("numeric uid");
        assert!(uid > last, "UIDs ascending in uidlist");
        last = uid;
        let name = rest.rsplit_once(':').map(|(_, n)| n).unwrap_or(rest);
        let name = rest.strip_prefix(':').unwrap_or(name);
        records.insert(uid, name.to_string());
    }
    (h, records)
}

/// Maildir of a user.
pub fn maildir(store: &Store, domain: &str, user: &str) -> PathBuf {
    store.user(domain, user).unwrap().maildir_path()
}
