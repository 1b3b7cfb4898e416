//! Compatibility with real Dovecot (`doveadm` from Debian's dovecot-core).
//!
//! Dovecot refuses to access mail as root, so the Maildir is owned by
//! `nobody` and a minimal config sets `mail_uid = nobody`. doveadm runs
//! without `-u` (no auth service needed), taking the user from `USER` and
//! `HOME`. The invocations that work (Dovecot 2.3.19):
//!
//! ```text
//! cat > dovecot.conf <<EOF
//! log_path = /dev/stderr
//! mail_location = maildir:/tmp/x/mail/example.com/alice/Maildir
//! namespace inbox {
//!   inbox = yes
//!   separator = .
//! }
//! mail_uid = nobody
//! mail_gid = nogroup
//! first_valid_uid = 0
//! first_valid_gid = 0
//! EOF
//! chown -R nobody:nogroup /tmp/x
//! D="env HOME=/tmp/x USER=nobody doveadm -c /tmp/x/dovecot.conf"
//! printf 'Subject: a\n\nhello\n' | $D save                 # into INBOX
//! printf 'Subject: b\n\nhello\n' | $D save -m Sent
//! $D mailbox create Sent Work.Projects Ärger
//! $D flags add '\Seen $Forwarded Work' mailbox INBOX uid 1
//! $D expunge mailbox INBOX uid 2
//! $D fetch 'uid flags' mailbox INBOX
//! $D mailbox status 'uidvalidity uidnext' INBOX
//! $D mailbox list
//! ```
//!
//! When `doveadm` is missing these tests skip, unless
//! `MAILSTACK_REQUIRE_DOVECOT=1` is set (as scripts/test does), in which
//! case they fail.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mailstack_store::{Flag, MessageSource, Quota, Store, StoreOptions};

fn doveadm_available() -> bool {
    let found = Command::new("which")
        .arg("doveadm")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("MAILSTACK_REQUIRE_DOVECOT").as_deref() == Ok("1") {
            panic!(
                "doveadm not found but MAILSTACK_REQUIRE_DOVECOT=1 (apt-get install dovecot-core)"
            );
        }
        eprintln!(
            "SKIPPED: doveadm not installed (set MAILSTACK_REQUIRE_DOVECOT=1 to fail instead)"
        );
    }
    found
}

struct Dovecot {
    home: PathBuf,
    conf: PathBuf,
}

impl Dovecot {
    fn new(home: &Path, maildir: &Path) -> Dovecot {
        let conf = home.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "log_path = /dev/stderr\n\
                 mail_location = maildir:{}\n\
                 namespace inbox {{\n  inbox = yes\n  separator = .\n}}\n\
                 mail_uid = nobody\nmail_gid = nogroup\n\
                 first_valid_uid = 0\nfirst_valid_gid = 0\n",
                maildir.display()
            ),
        )
        .unwrap();
        Dovecot {
            home: home.to_path_buf(),
            conf,
        }
    }

    fn chown(&self) {
        let st = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(&self.home)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .env("HOME", &self.home)
            .env("USER", "nobody")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            input.write_all(data).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("Error"),
            "doveadm {args:?} failed: {stderr}"
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `uid -> flags` from `doveadm fetch 'uid flags'` (without \Recent).
    fn fetch_flags(&self, mailbox: &str) -> BTreeMap<u32, Vec<String>> {
        let out = self.run(&["fetch", "uid flags", "mailbox", mailbox], None);
        let mut map = BTreeMap::new();
        let mut uid = None;
        for line in out.lines() {
            if let Some(u) = line.strip_prefix("uid: ") {
                uid = Some(u.trim().parse::<u32>().unwrap());
            } else if let Some(f) = line.strip_prefix("flags:") {
                let mut flags: Vec<String> = f
                    .split_whitespace()
                    .filter(|f| *f != "\\Recent")
                    .map(str::to_string)
                    .collect();
                flags.sort();
                map.insert(uid.take().expect("uid before flags"), flags);
            }
        }
        map
    }

    fn status(&self, mailbox: &str) -> (u32, u32) {
        let out = self.run(&["mailbox", "status", "uidvalidity uidnext", mailbox], None);
        let mut v = 0;
        let mut n = 0;
        for field in out.split_whitespace() {
            if let Some(x) = field.strip_prefix("uidvalidity=") {
                v = x.parse().unwrap();
            } else if let Some(x) = field.strip_prefix("uidnext=") {
                n = x.parse().unwrap();
            }
        }
        (v, n)
    }
}

fn our_flags(flags: &[Flag], keywords: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|f| f.imap_name().to_string()).collect();
    v.extend(keywords.iter().cloned());
    v.sort();
    v
}

#[tokio::test]
async fn maildir_written_by_dovecot_opens_with_same_uids_and_flags() {
    if !doveadm_available() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("mail");
    let store = Store::new(StoreOptions::new(&root)).unwrap();
    let user = store.user("example.com", "alice").unwrap();
    let md = user.maildir_path();
    std::fs::create_dir_all(md.parent().unwrap()).unwrap();
    let dc = Dovecot::new(t.path(), &md);
    dc.chown();
    for i in 1..=5 {
        let msg = format!("From: x@example.org\nSubject: dovecot {i}\n\nbody {i}\n");
        dc.run(&["save"], Some(msg.as_bytes()));
    }
    dc.run(
        &["mailbox", "create", "Sent", "Work.Projects", "Ärger"],
        None,
    );
    dc.run(&["save", "-m", "Sent"], Some(b"Subject: sent\n\nsent\n"));
    dc.run(
        &[
            "flags",
            "add",
            "\\Seen $Forwarded Work",
            "mailbox",
            "INBOX",
            "uid",
            "1",
        ],
        None,
    );
    dc.run(
        &[
            "flags",
            "add",
            "\\Flagged \\Answered",
            "mailbox",
            "INBOX",
            "uid",
            "3",
        ],
        None,
    );
    dc.run(
        &["flags", "add", "\\Deleted", "mailbox", "INBOX", "uid", "4"],
        None,
    );
    dc.run(&["expunge", "mailbox", "INBOX", "uid", "2"], None);
    let expected = dc.fetch_flags("INBOX");
    assert_eq!(expected.keys().copied().collect::<Vec<_>>(), [1, 3, 4, 5]);
    let (uidvalidity, uidnext) = dc.status("INBOX");

    let inbox = user.open("INBOX").await.unwrap();
    assert_eq!(inbox.uidvalidity(), uidvalidity);
    assert_eq!(inbox.uidnext(), uidnext);
    let ours: BTreeMap<u32, Vec<String>> = inbox
        .messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, our_flags(&m.flags, &m.keywords)))
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(ours[&1], ["$Forwarded", "Work", "\\Seen"]);

    let names: Vec<String> = user
        .list_mailboxes()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for n in ["INBOX", "Sent", "Work.Projects", "Ärger"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let sent = user.open("Sent").await.unwrap();
    dc.chown(); // we run as root; Dovecot as nobody
    assert_eq!((sent.uidvalidity(), sent.uidnext()), dc.status("Sent"));
}

#[tokio::test]
async fn maildir_written_by_us_is_read_by_dovecot_with_our_uids() {
    if !doveadm_available() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("mail");
    let store = Store::new(StoreOptions::new(&root)).unwrap();
    let user = store.user("example.com", "bob").unwrap();
    user.create_default_folders(&["Sent", "Trash", "Work.Projects", "Ärger"])
        .await
        .unwrap();
    for i in 0..5 {
        user.deliver(
            "INBOX",
            b"Return-Path: <x@example.org>\r\n",
            MessageSource::Bytes(&common::message(i)),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    }
    user.deliver(
        "Sent",
        b"",
        MessageSource::Bytes(&common::message(9)),
        &[Flag::Seen],
        &Quota::UNLIMITED,
    )
    .await
    .unwrap();
    let mut inbox = user.open("INBOX").await.unwrap();
    inbox.expunge(&[2]).await.unwrap();
    inbox
        .set_flags(3, &[Flag::Seen, Flag::Flagged], &["Work".into()])
        .await
        .unwrap();
    inbox
        .set_flags(5, &[Flag::Answered], &["$Forwarded".into()])
        .await
        .unwrap();
    let ours: BTreeMap<u32, Vec<String>> = inbox
        .messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, our_flags(&m.flags, &m.keywords)))
        .collect();

    let dc = Dovecot::new(t.path(), &user.maildir_path());
    dc.chown();
    assert_eq!(dc.status("INBOX").0, inbox.uidvalidity());
    let theirs = dc.fetch_flags("INBOX");
    assert_eq!(theirs.keys().copied().collect::<Vec<_>>(), [1, 3, 4, 5]);
    assert_eq!(theirs[&3], ours[&3]);
    assert_eq!(theirs[&1], ours[&1]);
    assert!(
        theirs[&5].contains(&"\\Answered".to_string()),
        "{:?}",
        theirs[&5]
    );
    let list = dc.run(&["mailbox", "list"], None);
    for n in ["INBOX", "Sent", "Trash", "Work.Projects", "Ärger"] {
        assert!(list.lines().any(|l| l == n), "{n} not in {list}");
    }
    let sent = dc.fetch_flags("Sent");
    assert_eq!(sent.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(sent[&1], ["\\Seen"]);
    // And Dovecot's next UID continues after ours.
    dc.run(&["save"], Some(b"Subject: from dovecot\n\nx\n"));
    assert_eq!(dc.fetch_flags("INBOX").keys().last(), Some(&6));
}
