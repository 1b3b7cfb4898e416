//! A hand-built Dovecot Maildir (as Dovecot 2.3 writes it) opens with its
//! UIDs, UIDVALIDITY, flags, keywords and folder names; what we write back
//! stays readable for Dovecot.

mod common;

use std::fs;
use std::path::Path;

use common::{files, parse_uidlist, store};
use mailstack_store::{Flag, MessageSource, Quota, SpecialUse};

const F1: &str = "1700000001.M100P200Q1.mx1,S=40,W=44";
const F2: &str = "1700000002.M100P200Q2.mx1,S=19,W=21";
const F3: &str = "1700000003.M100P200Q3.mx1";
const F4: &str = "1700000004.M100P200Q4.mx1";

fn write_folder(dir: &Path, folder: bool) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    if folder {
        fs::write(dir.join("maildirfolder"), b"").unwrap();
    }
}

fn build_fixture(md: &Path) {
    write_folder(md, false);
    // LF line endings, as Dovecot stores mail delivered with LF.
    let m1 = "From: a@example.org\nSubject: one\n\nbodyX\n"; // 40 bytes, 4 lines
    assert_eq!(m1.len(), 40);
    fs::write(md.join("cur").join(format!("{F1}:2,FSa")), m1).unwrap();
    let m2 = "Subject: two\n\nbody2"; // 19 bytes, 2 lines
    fs::write(md.join("cur").join(format!("{F2}:2,Sb")), m2.as_bytes()).unwrap();
    // No S=/W= (older Dovecot, other MDAs): sizes come from the file.
    fs::write(md.join("new").join(F3), "Subject: three\n\nx\n").unwrap();
    // Not in the uidlist: gets the next UID.
    fs::write(
        md.join("cur").join(format!("{F4}:2,")),
        "Subject: four\r\n\r\n",
    )
    .unwrap();
    fs::write(
        md.join("dovecot-uidlist"),
        format!(
            "3 V1700000000 N20 G6b2ba31ef4bb4f65a8ef0000b3e5a8d1\n3 :{F1}\n7 W21 :{F2}\n12 :{F3}\n"
        ),
    )
    .unwrap();
    fs::write(md.join("dovecot-keywords"), "0 $Forwarded\n1 Work\n").unwrap();
    fs::write(md.join("subscriptions"), "V\t2\n\nSent\nWork\tProjects\n").unwrap();
    // Dovecot's own index files are ignored.
    fs::write(md.join("dovecot.index.log"), b"\x01\x02garbage").unwrap();
    for f in [".Sent", ".Work.Projects", ".&AMQ-rger", ".Trash"] {
        write_folder(&md.join(f), true);
    }
    fs::write(
        md.join(".Sent/cur/1700000005.M1P2Q1.mx1,S=13,W=14:2,S"),
        "Subject: s\n\n",
    )
    .unwrap();
    fs::write(
        md.join(".Sent/dovecot-uidlist"),
        "3 V1700000100 N5\n4 :1700000005.M1P2Q1.mx1,S=13,W=14\n",
    )
    .unwrap();
}

#[tokio::test]
async fn dovecot_maildir_opens_with_its_uids_flags_and_names() {
    let (_t, store) = store(false);
    let user = store.user("example.com", "alice").unwrap();
    let md = user.maildir_path();
    build_fixture(&md);

    let mut inbox = user.open("INBOX").await.unwrap();
    assert_eq!(inbox.uidvalidity(), 1_700_000_000);
    assert_eq!(inbox.uidnext(), 21);
    let msgs = inbox.messages().await.unwrap();
    let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [3, 7, 12, 20]);
    assert_eq!(msgs[0].flags, [Flag::Seen, Flag::Flagged]);
    assert_eq!(msgs[0].keywords, ["$Forwarded"]);
    assert_eq!((msgs[0].size, msgs[0].vsize), (40, 44));
    assert_eq!(msgs[1].flags, [Flag::Seen]);
    assert_eq!(msgs[1].keywords, ["Work"]);
    assert!(msgs[2].flags.is_empty() && msgs[2].in_new);
    assert_eq!((msgs[2].size, msgs[2].vsize), (18, 21));
    assert_eq!((msgs[3].size, msgs[3].vsize), (17, 17));

    // Folder names decode from modified UTF-7; parents without a directory
    // are listed as not selectable.
    let list = user.list_mailboxes().await.unwrap();
    let names: Vec<(&str, bool, bool)> = list
        .iter()
        .map(|m| (m.name.as_str(), m.selectable, m.has_children))
        .collect();
    assert_eq!(
        names,
        [
            ("INBOX", true, false),
            ("Sent", true, false),
            ("Trash", true, false),
            ("Work", false, true),
            ("Work.Projects", true, false),
            ("Ärger", true, false),
        ]
    );
    assert_eq!(list[2].special_use, Some(SpecialUse::Trash));
    let sent = user.open("Sent").await.unwrap();
    assert_eq!(sent.uidvalidity(), 1_700_000_100);
    assert_eq!(
        sent.messages()
            .await
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        [4]
    );
    let arger = user.open("Ärger").await.unwrap();
    assert!(arger.messages().await.unwrap().is_empty());
    user.create_mailbox("Ärger.Überfällig").await.unwrap();
    assert!(
        md.join(".&AMQ-rger.&ANw-berf&AOQ-llig")
            .join("maildirfolder")
            .is_file()
    );

    // Changing flags uses Dovecot's keyword letters.
    inbox
        .set_flags(
            7,
            &[Flag::Seen, Flag::Answered],
            &["Work".into(), "Later".into()],
        )
        .await
        .unwrap();
    let cur = files(&md.join("cur"));
    assert!(cur.contains(&format!("{F2}:2,RSbc")), "{cur:?}");
    assert_eq!(
        fs::read_to_string(md.join("dovecot-keywords")).unwrap(),
        "0 $Forwarded\n1 Work\n2 Later\n"
    );
    // $Forwarded: P for other MUAs plus Dovecot's letter.
    inbox
        .set_flags(12, &[], &["$Forwarded".into()])
        .await
        .unwrap();
    assert!(files(&md.join("cur")).contains(&format!("{F3}:2,Pa")));

    // Copy-back: after a delivery the uidlist still has Dovecot's UIDs and
    // UIDVALIDITY and the new UID, in a form Dovecot parses.
    let d = user
        .deliver(
            "INBOX",
            b"",
            MessageSource::Bytes(b"Subject: new\r\n\r\n"),
            &[],
            &Quota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(d.uid, Some(21));
    assert_eq!(d.uidvalidity, 1_700_000_000);
    let (h, recs) = parse_uidlist(&md.join("dovecot-uidlist"));
    assert_eq!(h[&'V'], "1700000000");
    assert_eq!(h[&'G'], "6b2ba31ef4bb4f65a8ef0000b3e5a8d1");
    assert_eq!(recs.keys().copied().collect::<Vec<_>>(), [3, 7, 12, 20, 21]);
    assert_eq!(recs[&7], F2);
    assert_eq!(recs[&20], F4);
    let delivered = d.path.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(recs[&21], delivered);
    // Our sync notices a Dovecot-style rename made by somebody else.
    inbox.sync().await.unwrap();
    fs::rename(
        md.join("cur").join(format!("{F1}:2,FSa")),
        md.join("cur").join(format!("{F1}:2,FRSa")),
    )
    .unwrap();
    let changes = inbox.sync().await.unwrap();
    assert_eq!(changes.flag_changes, [3]);
    assert_eq!(
        inbox.message(3).unwrap().flags,
        [Flag::Seen, Flag::Answered, Flag::Flagged]
    );
}
