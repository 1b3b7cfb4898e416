//! `edit_users_file`: round trip, refused edits, concurrency, file mode.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{ALICE_PHC, BOB_PHC};
use mailstack_directory::DirectoryError;
use mailstack_directory::static_file::{USERS_FILE_HEADER, UsersFile, edit_users_file};

#[test]
fn creates_a_missing_file_with_header_and_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    edit_users_file(&path, |f| {
        f.add_user("alice@example.com", ALICE_PHC, Some(1 << 30))
    })
    .unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(USERS_FILE_HEADER), "{text}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let f = UsersFile::load(&path).unwrap();
    assert_eq!(f.domains()[0].name, "example.com");
    let alice = f.user("alice@example.com").unwrap();
    assert_eq!(alice.password, ALICE_PHC);
    assert_eq!(alice.quota.map(|q| q.0), Some(1 << 30));
    // Only the file and its lock remain: no temporary files left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["users.toml", "users.toml.lock"]);
}

#[test]
fn round_trip_of_several_edits() {
    let fx = common::Fixture::new(&common::standard());
    let mut expected = None;
    let removed = edit_users_file(&fx.path, |f| {
        f.add_user("Dave@Example.ORG", BOB_PHC, None)?;
        f.add_alias("sales@example.org", &["dave@example.org", "x@remote.test"])?;
        f.set_password("alice@example.com", BOB_PHC)?;
        f.user_mut("alice@example.com").unwrap().disabled = true;
        let carol = f.remove_user("carol@example.com")?;
        expected = Some(f.clone());
        Ok(carol)
    })
    .unwrap();
    assert_eq!(removed.address, "carol@example.com");

    let after = UsersFile::load(&fx.path).unwrap();
    assert_eq!(Some(&after), expected.as_ref());
    assert!(after.user("carol@example.com").is_none());
    assert_eq!(
        after.user("dave@example.org").unwrap().address,
        "dave@example.org"
    );
    let alice = after.user("alice@example.com").unwrap();
    assert_eq!(alice.password, BOB_PHC);
    assert!(alice.disabled);
    assert_eq!(alice.aliases, ["a.smith@example.com"]);
    assert_eq!(
        after
            .aliases()
            .iter()
            .find(|a| a.address == "sales@example.org")
            .unwrap()
            .targets
            .len(),
        2
    );
}

#[test]
fn failed_or_invalid_edits_leave_the_file_untouched() {
    let fx = common::Fixture::new(&common::standard());
    let original = std::fs::read(&fx.path).unwrap();

    // The closure fails after a partial change: nothing is written.
    let err = edit_users_file(&fx.path, |f| {
        f.add_user("new@example.com", ALICE_PHC, None)?;
        f.add_user("alice@example.com", ALICE_PHC, None)
    })
    .unwrap_err();
    assert!(matches!(err, DirectoryError::AlreadyExists(_)), "{err:?}");
    assert_eq!(std::fs::read(&fx.path).unwrap(), original);

    // The closure succeeds but leaves the file invalid: validation refuses it.
    let err = edit_users_file(&fx.path, |f| {
        f.user_mut("bob@example.com")
            .unwrap()
            .aliases
            .push("postmaster@example.com".into());
        Ok(())
    })
    .unwrap_err();
    match err {
        DirectoryError::Invalid(m) => assert!(
            m.contains("duplicate address \"postmaster@example.com\""),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&fx.path).unwrap(), original);
}

#[test]
fn an_edit_can_repair_an_invalid_file() {
    let broken = common::standard().replace(
        "address = \"carol@example.com\"",
        "address = \"alice@example.com\"",
    );
    let fx = common::Fixture::new(&broken);
    assert!(matches!(
        UsersFile::load(&fx.path),
        Err(DirectoryError::Invalid(_))
    ));
    // Editing is allowed on a file that fails validation, as long as the result is valid:
    // removing one of the two alice entries repairs it.
    edit_users_file(&fx.path, |f| {
        f.remove_user("alice@example.com")?;
        Ok(())
    })
    .unwrap();
    let f = UsersFile::load(&fx.path).unwrap();
    assert_eq!(
        f.users()
            .iter()
            .filter(|u| u.address == "alice@example.com")
            .count(),
        1
    );
}

#[test]
fn a_syntax_error_in_the_file_refuses_the_edit() {
    let fx = common::Fixture::new("[[user]\naddress = 1\n");
    let err = edit_users_file(&fx.path, |f| f.add_domain("example.com")).unwrap_err();
    match err {
        DirectoryError::Invalid(m) => assert!(m.contains("users.toml:1:"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&fx.path).unwrap(),
        "[[user]\naddress = 1\n"
    );
}

#[test]
fn concurrent_edits_from_threads_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10;

    // A reader checks, during the edits, that the file is always complete and valid.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        UsersFile::parse(&text, "concurrent")
                            .expect("a reader saw a half-written or invalid file");
                        reads += 1;
                    }
                    Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}"),
                }
            }
            reads
        })
    };

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let path = &path;
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let address = format!("u{t}-{i}@example.com");
                    edit_users_file(path, |f| f.add_user(&address, ALICE_PHC, None)).unwrap();
                }
            });
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);

    let f = UsersFile::load(&path).unwrap();
    assert_eq!(f.users().len(), THREADS * PER_THREAD);
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            assert!(
                f.user(&format!("u{t}-{i}@example.com")).is_some(),
                "u{t}-{i} lost"
            );
        }
    }
    assert_eq!(f.domains().len(), 1);
}
