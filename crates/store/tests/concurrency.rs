//! Several processes share one Maildir and index: two deliver 200 messages
//! each while a third opens and syncs in a loop. Nothing is lost, no UID is
//! handed out twice.
//!
//! The test re-executes its own binary (`--exact <name>`) with
//! `MAILSTACK_STORE_CHILD` telling the child what to do.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mailstack_store::{MessageSource, Quota, Store, StoreOptions};

const TEST_NAME: &str = "concurrent_processes_deliver_without_losing_mail";
const PER_PROCESS: usize = 200;

fn spawn(role: &str, root: &Path, tag: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env("MAILSTACK_STORE_CHILD", role)
        .env("MAILSTACK_STORE_ROOT", root)
        .env("MAILSTACK_STORE_TAG", tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn body(tag: &str, i: usize) -> Vec<u8> {
    format!("Subject: {tag}-{i}\r\nX-Tag: {tag}\r\n\r\nmessage {tag} {i}\r\n").into_bytes()
}

async fn child(role: &str) {
    // Store warnings (e.g. "stored but not indexed") go to stderr.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("warn")
        .try_init();
    let root = PathBuf::from(std::env::var("MAILSTACK_STORE_ROOT").unwrap());
    let tag = std::env::var("MAILSTACK_STORE_TAG").unwrap();
    let store = Store::new(StoreOptions {
        root: root.clone(),
        fsync: true,
    })
    .unwrap();
    let user = store.user("example.com", "shared").unwrap();
    match role {
        "deliver" => {
            let mut uids = Vec::new();
            for i in 0..PER_PROCESS {
                let d = user
                    .deliver(
                        "INBOX",
                        b"",
                        MessageSource::Bytes(&body(&tag, i)),
                        &[],
                        &Quota::UNLIMITED,
                    )
                    .await
                    .unwrap();
                uids.push(d.uid.expect("uid assigned"));
            }
            println!(
                "\nUIDS {}",
                uids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        "sync" => {
            let stop = root.join("stop");
            let mut seen: BTreeMap<u32, PathBuf> = BTreeMap::new();
            let mut rounds = 0;
            loop {
                let done = stop.exists();
                let mut mb = user.open("INBOX").await.unwrap();
                for _ in 0..5 {
                    let changes = mb.sync().await.unwrap();
                    assert!(changes.expunged.is_empty(), "nothing is expunged");
                }
                let msgs = mb.messages().await.unwrap();
                let mut last = 0;
                for m in &msgs {
                    assert!(m.uid > last, "UIDs ascending and unique");
                    last = m.uid;
                    // A UID never moves to another file.
                    let name = m.path.file_name().unwrap().to_owned();
                    let prev = seen.entry(m.uid).or_insert_with(|| PathBuf::from(&name));
                    assert_eq!(
                        prev.as_os_str(),
                        name.as_os_str(),
                        "uid {} changed file",
                        m.uid
                    );
                }
                assert!(mb.uidnext() > last);
                mb.close().await;
                rounds += 1;
                if done {
                    break;
                }
            }
            println!("\nSYNCED {rounds} {}", seen.len());
        }
        other => panic!("unknown child role {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_deliver_without_losing_mail() {
    if let Ok(role) = std::env::var("MAILSTACK_STORE_CHILD") {
        child(&role).await;
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("mail");
    let store = Store::new(StoreOptions::new(&root)).unwrap();
    let user = store.user("example.com", "shared").unwrap();
    let syncer = spawn("sync", &root, "S");
    let a = spawn("deliver", &root, "A");
    let b = spawn("deliver", &root, "B");
    let mut delivered = BTreeSet::new();
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "delivery child failed");
        let text = String::from_utf8(out.stdout).unwrap();
        // libtest prints "test <name> ... " on the same line before our output.
        let line = text
            .lines()
            .find_map(|l| l.split_once("UIDS "))
            .expect("UIDS line")
            .1;
        for u in line.split(',') {
            assert!(
                delivered.insert(u.parse::<u32>().unwrap()),
                "uid {u} given twice"
            );
        }
    }
    std::fs::write(root.join("stop"), b"").unwrap();
    let out = syncer.wait_with_output().unwrap();
    assert!(out.status.success(), "sync child failed");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SYNCED "), "{text}");

    assert_eq!(delivered.len(), 2 * PER_PROCESS);
    assert_eq!(delivered, (1..=(2 * PER_PROCESS) as u32).collect());
    let md = user.maildir_path();
    assert_eq!(common::files(&md.join("new")).len(), 2 * PER_PROCESS);
    assert!(common::files(&md.join("tmp")).is_empty());
    let mb = user.open("INBOX").await.unwrap();
    let msgs = mb.messages().await.unwrap();
    assert_eq!(msgs.len(), 2 * PER_PROCESS);
    let mut bodies = BTreeSet::new();
    for m in &msgs {
        assert!(delivered.contains(&m.uid));
        bodies.insert(std::fs::read(&m.path).unwrap());
    }
    for tag in ["A", "B"] {
        for i in 0..PER_PROCESS {
            assert!(bodies.contains(&body(tag, i)), "{tag}-{i} lost");
        }
    }
    assert_eq!(mb.uidnext(), 2 * PER_PROCESS as u32 + 1);
    // The uidlist agrees with the index.
    let (_, recs) = common::parse_uidlist(&md.join("dovecot-uidlist"));
    assert_eq!(recs.len(), 2 * PER_PROCESS);
    for m in &msgs {
        let name = m.path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(recs[&m.uid], name, "uidlist entry of uid {}", m.uid);
    }
}
