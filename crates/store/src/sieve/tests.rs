use std::fs;
use std::time::{Duration, SystemTime};

use super::*;

fn scripts() -> (tempfile::TempDir, SieveScripts) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("example.com/alice");
    fs::create_dir_all(&home).unwrap();
    let s = SieveScripts::new(home, true);
    (dir, s)
}

const NONE: SieveQuota = SieveQuota {
    max_scripts: 0,
    max_script_size: 0,
    max_storage: 0,
};

#[test]
fn names_follow_rfc5804_and_file_rules() {
    for ok in [
        "vacation",
        "My Filters",
        "Ürlaub ☀",
        "a.b",
        &"x".repeat(128),
    ] {
        validate_script_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "",
        "a/b",
        ".hidden",
        "..",
        "tab\there",
        "nl\n",
        "del\u{7f}",
        "c1\u{85}",
        "ls\u{2028}",
        "ps\u{2029}",
        &"x".repeat(MAX_NAME_CHARS + 1),
        &"é".repeat(130), // 260 bytes
    ] {
        assert!(validate_script_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[tokio::test]
async fn put_get_list_activate_in_dovecot_layout() {
    let (_d, s) = scripts();
    assert!(s.list().await.unwrap().is_empty());
    assert_eq!(s.active().await.unwrap(), ActiveScript::None);
    s.put("work", b"keep;\r\n".to_vec(), &NONE).await.unwrap();
    s.put("vacation", b"discard;\r\n".to_vec(), &NONE)
        .await
        .unwrap();
    assert_eq!(s.get("work").await.unwrap(), b"keep;\r\n");
    assert!(s.home().join("sieve/work.sieve").is_file());
    assert!(s.set_active(Some("work")).await.unwrap());
    // Exactly Pigeonhole's link: relative, `sieve/<name>.sieve`.
    let link = fs::read_link(s.home().join(".dovecot.sieve")).unwrap();
    assert_eq!(link, PathBuf::from("sieve/work.sieve"));
    assert!(!s.set_active(Some("work")).await.unwrap(), "no change");
    let list = s.list().await.unwrap();
    assert_eq!(
        list,
        vec![
            ScriptInfo {
                name: "vacation".into(),
                active: false
            },
            ScriptInfo {
                name: "work".into(),
                active: true
            },
        ]
    );
    assert_eq!(
        s.active_path_blocking().unwrap(),
        s.home().join("sieve/work.sieve")
    );
    // Replace the content: still one script, the link still valid.
    s.put("work", b"stop;\r\n".to_vec(), &NONE).await.unwrap();
    assert_eq!(
        fs::read(s.active_path_blocking().unwrap()).unwrap(),
        b"stop;\r\n"
    );
    // Nothing left in tmp/.
    assert_eq!(fs::read_dir(s.dir().join("tmp")).unwrap().count(), 0);
    // Deactivate.
    assert!(s.set_active(None).await.unwrap());
    assert!(!s.set_active(None).await.unwrap());
    assert!(fs::symlink_metadata(s.home().join(".dovecot.sieve")).is_err());
    assert!(s.active_path_blocking().is_none());
}

#[tokio::test]
async fn missing_scripts_and_the_active_one_are_refused() {
    let (_d, s) = scripts();
    assert!(matches!(s.get("nope").await, Err(SieveError::NotFound(_))));
    assert!(matches!(
        s.set_active(Some("nope")).await,
        Err(SieveError::NotFound(_))
    ));
    assert!(matches!(
        s.delete("nope").await,
        Err(SieveError::NotFound(_))
    ));
    s.put("a", b"keep;".to_vec(), &NONE).await.unwrap();
    s.set_active(Some("a")).await.unwrap();
    assert!(matches!(s.delete("a").await, Err(SieveError::Active(_))));
    s.put("b", b"keep;".to_vec(), &NONE).await.unwrap();
    s.delete("b").await.unwrap();
    assert!(!s.dir().join("b.sieve").exists());
    assert!(matches!(
        s.get("../../etc/passwd").await,
        Err(SieveError::InvalidName { .. })
    ));
}

#[tokio::test]
async fn rename_moves_the_active_link() {
    let (_d, s) = scripts();
    s.put("a", b"keep;".to_vec(), &NONE).await.unwrap();
    s.put("b", b"discard;".to_vec(), &NONE).await.unwrap();
    s.set_active(Some("a")).await.unwrap();
    assert!(matches!(
        s.rename("a", "b").await,
        Err(SieveError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.rename("zz", "c").await,
        Err(SieveError::NotFound(_))
    ));
    s.rename("a", "c").await.unwrap();
    assert_eq!(
        fs::read_link(s.active_link()).unwrap(),
        PathBuf::from("sieve/c.sieve")
    );
    assert_eq!(s.active().await.unwrap(), ActiveScript::Script("c".into()));
    assert_eq!(s.get("c").await.unwrap(), b"keep;");
    assert!(matches!(s.get("a").await, Err(SieveError::NotFound(_))));
}

#[tokio::test]
async fn quota_counts_scripts_size_and_total() {
    let (_d, s) = scripts();
    let q = SieveQuota {
        max_scripts: 2,
        max_script_size: 100,
        max_storage: 150,
    };
    s.put("a", vec![b'#'; 80], &q).await.unwrap();
    let e = s.put("big", vec![b'#'; 101], &q).await.unwrap_err();
    assert!(matches!(
        e,
        SieveError::Quota {
            kind: QuotaKind::MaxSize,
            ..
        }
    ));
    let e = s.check_space("b", 71, &q).await.unwrap_err();
    assert!(matches!(
        e,
        SieveError::Quota {
            kind: QuotaKind::MaxStorage,
            ..
        }
    ));
    s.check_space("b", 70, &q).await.unwrap();
    // Replacing counts the old size out.
    s.check_space("a", 100, &q).await.unwrap();
    s.put("b", vec![b'#'; 10], &q).await.unwrap();
    let e = s.put("c", vec![b'#'; 1], &q).await.unwrap_err();
    assert!(matches!(
        e,
        SieveError::Quota {
            kind: QuotaKind::MaxScripts,
            ..
        }
    ));
    s.put("b", vec![b'#'; 20], &q).await.unwrap();
    assert!(!s.dir().join("c.sieve").exists());
}

/// A sieve directory as Dovecot leaves it: scripts, compiled `.svbin`s, `tmp/`, and the link.
#[tokio::test]
async fn a_dovecot_made_directory_is_read_as_is() {
    let (_d, s) = scripts();
    let dir = s.dir();
    fs::create_dir_all(dir.join("tmp")).unwrap();
    fs::write(dir.join("roundcube.sieve"), "require \"fileinto\";\n").unwrap();
    fs::write(dir.join("roundcube.svbin"), b"\x00binary").unwrap();
    fs::write(dir.join("old.sieve"), "keep;\n").unwrap();
    fs::write(dir.join("notes.txt"), "x").unwrap();
    std::os::unix::fs::symlink("sieve/roundcube.sieve", s.active_link()).unwrap();
    let list = s.list().await.unwrap();
    assert_eq!(
        list.iter()
            .map(|i| (i.name.as_str(), i.active))
            .collect::<Vec<_>>(),
        vec![("old", false), ("roundcube", true)]
    );
    assert_eq!(
        s.active_path_blocking().unwrap(),
        s.home().join("sieve/roundcube.sieve")
    );
    s.set_active(Some("old")).await.unwrap();
    assert_eq!(
        fs::read_link(s.active_link()).unwrap(),
        PathBuf::from("sieve/old.sieve")
    );
}

#[tokio::test]
async fn a_regular_dovecot_sieve_runs_and_is_rescued_on_setactive() {
    let (_d, s) = scripts();
    fs::write(s.active_link(), "discard;\n").unwrap();
    assert_eq!(s.active_path_blocking().unwrap(), s.active_link());
    assert!(matches!(s.active().await.unwrap(), ActiveScript::Other(_)));
    s.put("new", b"keep;".to_vec(), &NONE).await.unwrap();
    s.set_active(Some("new")).await.unwrap();
    assert_eq!(s.get("dovecot.orig").await.unwrap(), b"discard;\n");
    assert!(
        fs::symlink_metadata(s.active_link())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn dangling_links_run_nothing() {
    let (_d, s) = scripts();
    std::os::unix::fs::symlink("sieve/gone.sieve", s.active_link()).unwrap();
    assert!(s.active_path_blocking().is_none());
}

#[test]
fn duplicates_expire_and_survive_reopen() {
    let (_d, s) = scripts();
    let db = s.duplicates();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert!(!db.contains("vacation:bob@example.org", t0).unwrap());
    db.record("vacation:bob@example.org", Duration::from_secs(86400), t0)
        .unwrap();
    let db2 = s.duplicates();
    assert!(db2.contains("vacation:bob@example.org", t0).unwrap());
    assert!(!db2.contains("vacation:carol@example.org", t0).unwrap());
    let later = t0 + Duration::from_secs(86401);
    assert!(!db2.contains("vacation:bob@example.org", later).unwrap());
    // A write after expiry drops the old entry.
    db2.record("x", Duration::from_secs(10), later).unwrap();
    let text = fs::read_to_string(db2.path()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    // A damaged line is skipped, not fatal.
    fs::write(db2.path(), "garbage\n99999999999 78\n").unwrap();
    assert!(db2.contains("x", later).unwrap());
}

#[test]
fn duplicates_are_bounded() {
    let (_d, s) = scripts();
    let db = s.duplicates();
    let now = SystemTime::now();
    let mut text = String::new();
    let far = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000;
    for i in 0..MAX_DUPLICATE_ENTRIES + 50 {
        text.push_str(&format!("{far} {i:08x}\n"));
    }
    fs::write(db.path(), text).unwrap();
    db.record("new", Duration::from_secs(5000), now).unwrap();
    let n = fs::read_to_string(db.path()).unwrap().lines().count();
    assert_eq!(n, MAX_DUPLICATE_ENTRIES);
    assert!(db.contains("new", now).unwrap());
}
