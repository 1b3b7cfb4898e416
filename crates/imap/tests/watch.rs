//! The shared Maildir watcher: one inotify instance for any number of folders and sessions;
//! a delivery wakes every subscriber of its folder within a second; the last one out unwatches.

use std::fs;
use std::path::Path;
use std::time::Duration;

use mailstack_imap::watch::MaildirWatcher;

fn maildir_folder(root: &Path, name: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    for sub in ["new", "cur", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir
}

/// inotify instances open in this process.
fn inotify_instances() -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("inotify"))
        .count()
}

#[tokio::test]
async fn a_delivery_wakes_every_subscriber_of_its_folder_only() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = maildir_folder(tmp.path(), "inbox");
    let other = maildir_folder(tmp.path(), "other");
    let w = MaildirWatcher::new().unwrap();
    let mut a = w.subscribe(&inbox).unwrap();
    let mut b = w.subscribe(&inbox).unwrap();
    let mut c = w.subscribe(&other).unwrap();
    assert_eq!(w.watched_folders(), 2);

    // Delivery as lmtp-mda does it: tmp/ then rename into new/.
    fs::write(inbox.join("tmp/1.x"), b"Subject: hi\r\n\r\n").unwrap();
    fs::rename(inbox.join("tmp/1.x"), inbox.join("new/1.x")).unwrap();
    let limit = Duration::from_secs(1);
    tokio::time::timeout(limit, a.changed())
        .await
        .expect("first subscriber woken");
    tokio::time::timeout(limit, b.changed())
        .await
        .expect("second subscriber woken");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.changed())
            .await
            .is_err(),
        "the other folder's subscriber must not wake"
    );

    // A flag change (rename new/ → cur/) wakes too.
    fs::rename(inbox.join("new/1.x"), inbox.join("cur/1.x:2,S")).unwrap();
    tokio::time::timeout(limit, a.changed())
        .await
        .expect("woken by the rename");
}

#[tokio::test]
async fn one_inotify_instance_for_many_folders_and_unwatch_on_last_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let before = inotify_instances();
    let w = MaildirWatcher::new().unwrap();
    let folders: Vec<_> = (0..200)
        .map(|i| maildir_folder(tmp.path(), &format!("f{i}")))
        .collect();
    let subs: Vec<_> = folders
        .iter()
        .flat_map(|f| [w.subscribe(f).unwrap(), w.subscribe(f).unwrap()])
        .collect();
    assert_eq!(w.watched_folders(), 200);
    assert_eq!(
        inotify_instances(),
        before + 1,
        "exactly one inotify instance"
    );
    drop(subs);
    assert_eq!(w.watched_folders(), 0);
    // Watching again after everything was released works.
    let mut s = w.subscribe(&folders[0]).unwrap();
    fs::write(folders[0].join("new/2.x"), b"x").unwrap();
    tokio::time::timeout(Duration::from_secs(1), s.changed())
        .await
        .expect("woken");
}

#[tokio::test]
async fn a_missing_folder_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let w = MaildirWatcher::new().unwrap();
    assert!(w.subscribe(&tmp.path().join("nope")).is_err());
    assert_eq!(w.watched_folders(), 0);
}

/// Subscribing and dropping while events pour in must never hang (the inotify thread takes
/// the folder table's lock to dispatch; watch/unwatch must not be called under it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_under_events_does_not_deadlock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = maildir_folder(tmp.path(), "busy");
    let w = MaildirWatcher::new().unwrap();
    let writer = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            for i in 0..3000 {
                let _ = fs::write(dir.join(format!("new/{i}")), b"x");
            }
        })
    };
    let churn = {
        let (w, dir) = (w.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            for _ in 0..300 {
                let s = w.subscribe(&dir).unwrap();
                drop(s);
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), churn)
        .await
        .expect("no deadlock")
        .unwrap();
    writer.join().unwrap();
    assert_eq!(w.watched_folders(), 0);
}
