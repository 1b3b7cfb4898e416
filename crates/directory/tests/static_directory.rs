//! `StaticDirectory`: lookups, authentication, reloads.

mod common;

use common::{ALICE_PHC, ALICE_PW, BOB_PW, CAROL_PHC, CAROL_PW, Fixture};
use std::time::Duration;

use mailstack_directory::static_file::{
    DEFAULT_RELOAD_INTERVAL, StaticDirectory, UsersFile, edit_users_file,
};
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry};

fn user_address(e: Option<Entry>) -> String {
    match e {
        Some(Entry::User(u)) => u.address,
        other => panic!("expected a user, got {other:?}"),
    }
}

#[tokio::test]
async fn lookups_by_kind_and_case_insensitive() {
    let fx = Fixture::new(&common::standard());
    let dir = fx.open("+");

    let alice = match dir.lookup("Alice@EXAMPLE.com").await.unwrap() {
        Some(Entry::User(u)) => u,
        other => panic!("{other:?}"),
    };
    assert_eq!(alice.address, "alice@example.com");
    assert_eq!(alice.aliases, ["a.smith@example.com"]);
    assert_eq!(alice.quota_bytes, Some(1 << 30));
    assert_eq!(alice.quota_messages, Some(1000));
    assert_eq!(alice.uid, None);
    assert_eq!(alice.host, None);
    assert_eq!(alice.local_part(), "alice");
    assert_eq!(alice.domain(), "example.com");

    // A user's alias address is the user; a disabled user still receives mail.
    assert_eq!(
        user_address(dir.lookup("A.Smith@example.com").await.unwrap()),
        "alice@example.com"
    );
    assert_eq!(
        user_address(dir.lookup("bob@example.com").await.unwrap()),
        "bob@example.com"
    );

    assert_eq!(
        dir.lookup("postmaster@example.com").await.unwrap(),
        Some(Entry::Alias(vec!["alice@example.com".into()]))
    );
    assert_eq!(
        dir.lookup("TEAM@example.com").await.unwrap(),
        Some(Entry::Group(vec![
            "bob@example.com".into(),
            "carol@example.com".into()
        ]))
    );
    // lookup is exact: no subaddress stripping, no catch-all.
    assert_eq!(dir.lookup("alice+tag@example.com").await.unwrap(), None);
    assert_eq!(dir.lookup("nobody@example.org").await.unwrap(), None);
    assert!(matches!(
        dir.lookup("no-at-sign").await,
        Err(DirectoryError::BadAddress(_))
    ));

    assert!(dir.is_local_domain("EXAMPLE.com").await.unwrap());
    assert!(dir.is_local_domain("example.org").await.unwrap());
    assert!(!dir.is_local_domain("remote.test").await.unwrap());
    assert_eq!(dir.catch_all("example.com").await.unwrap(), None);
    assert_eq!(
        dir.catch_all("Example.Org").await.unwrap().as_deref(),
        Some("carol@example.com")
    );
    assert_eq!(dir.catch_all("remote.test").await.unwrap(), None);

    assert_eq!(dir.subaddress_delimiters(), "+");
    assert_eq!(dir.describe(), format!("static:{}", fx.path.display()));
}

#[tokio::test]
async fn authenticate_right_wrong_unknown_disabled_and_case() {
    let fx = Fixture::new(&common::standard());
    let dir = fx.open("+");

    match dir
        .authenticate("alice@example.com", ALICE_PW)
        .await
        .unwrap()
    {
        AuthOutcome::Accepted(u) => assert_eq!(u.address, "alice@example.com"),
        AuthOutcome::Rejected => panic!("right password rejected"),
    }
    // Case-insensitive login.
    assert!(matches!(
        dir.authenticate(" ALICE@Example.COM", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));
    // Wrong password, password case matters.
    assert_eq!(
        dir.authenticate("alice@example.com", "ALICE-PW")
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    assert_eq!(
        dir.authenticate("alice@example.com", "").await.unwrap(),
        AuthOutcome::Rejected
    );
    // Only the canonical address logs in, not an alias address.
    assert_eq!(
        dir.authenticate("a.smith@example.com", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    // Unknown and malformed logins.
    assert_eq!(
        dir.authenticate("nobody@example.com", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    assert_eq!(
        dir.authenticate("alice", ALICE_PW).await.unwrap(),
        AuthOutcome::Rejected
    );
    // Disabled user with the right password.
    assert_eq!(
        dir.authenticate("bob@example.com", BOB_PW).await.unwrap(),
        AuthOutcome::Rejected
    );
    // Another user's password.
    assert_eq!(
        dir.authenticate("carol@example.com", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    assert!(matches!(
        dir.authenticate("carol@example.com", CAROL_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));
}

#[tokio::test]
async fn edits_are_picked_up_without_restart() {
    let fx = Fixture::new(&common::standard());
    let dir = fx.open("+");
    assert_eq!(dir.lookup("dave@example.com").await.unwrap(), None);

    edit_users_file(&fx.path, |f| {
        f.add_user("dave@example.com", CAROL_PHC, None)?;
        f.set_password("alice@example.com", CAROL_PHC)?;
        f.user_mut("bob@example.com").unwrap().disabled = false;
        Ok(())
    })
    .unwrap();

    assert_eq!(
        user_address(dir.lookup("dave@example.com").await.unwrap()),
        "dave@example.com"
    );
    assert!(matches!(
        dir.authenticate("dave@example.com", CAROL_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));
    assert_eq!(
        dir.authenticate("alice@example.com", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    assert!(matches!(
        dir.authenticate("alice@example.com", CAROL_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));
    assert!(matches!(
        dir.authenticate("bob@example.com", BOB_PW).await.unwrap(),
        AuthOutcome::Accepted(_)
    ));

    // Nothing changed since: an explicit reload reports so.
    assert!(!dir.reload().unwrap());
    edit_users_file(&fx.path, |f| f.remove_user("dave@example.com").map(drop)).unwrap();
    assert!(dir.reload().unwrap());
    assert_eq!(dir.lookup("dave@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn changes_are_checked_at_most_once_per_interval() {
    assert_eq!(DEFAULT_RELOAD_INTERVAL, Duration::from_secs(1));
    let fx = Fixture::new(&common::standard());
    // A long interval instead of the default second, so the test does not depend on timing.
    let dir = StaticDirectory::open(fx.path.clone(), "+".into())
        .unwrap()
        .with_reload_interval(Duration::from_secs(3600));
    assert_eq!(dir.path(), fx.path);
    edit_users_file(&fx.path, |f| {
        f.add_user("dave@example.com", CAROL_PHC, None)
    })
    .unwrap();
    // The next check is not due yet, so the old version still answers.
    assert_eq!(dir.lookup("dave@example.com").await.unwrap(), None);
    // An explicit reload does not wait.
    assert!(dir.reload().unwrap());
    assert!(dir.lookup("dave@example.com").await.unwrap().is_some());
}

#[tokio::test]
async fn a_bad_file_after_the_first_load_keeps_the_last_good_version() {
    let fx = Fixture::new(&common::standard());
    let dir = fx.open("+");
    assert!(dir.lookup("alice@example.com").await.unwrap().is_some());

    // 1. A bad edit (duplicate address): errors on reload, old data keeps serving.
    let bad = common::standard().replace(
        "address = \"carol@example.com\"",
        "address = \"alice@example.com\"",
    );
    std::fs::write(&fx.path, &bad).unwrap();
    match dir.reload() {
        Err(DirectoryError::Invalid(m)) => assert!(m.contains("duplicate address"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        user_address(dir.lookup("carol@example.com").await.unwrap()),
        "carol@example.com"
    );
    assert!(matches!(
        dir.authenticate("carol@example.com", CAROL_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));

    // 2. The file disappears: ordinary calls (which check on their own) keep answering.
    std::fs::remove_file(&fx.path).unwrap();
    assert!(dir.lookup("carol@example.com").await.unwrap().is_some());
    assert!(dir.is_local_domain("example.com").await.unwrap());
    assert!(matches!(dir.reload(), Err(DirectoryError::Unavailable(_))));

    // 3. The path cannot be read (a directory stands there now).
    std::fs::create_dir(&fx.path).unwrap();
    assert!(matches!(dir.reload(), Err(DirectoryError::Unavailable(_))));
    assert!(dir.lookup("carol@example.com").await.unwrap().is_some());
    assert!(matches!(
        dir.authenticate("alice@example.com", ALICE_PW)
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));

    // 4. A good file again is picked up.
    std::fs::remove_dir(&fx.path).unwrap();
    std::fs::write(
        &fx.path,
        common::standard().replace(
            "carol@example.com\"\npassword",
            "cora@example.com\"\npassword",
        ),
    )
    .unwrap();
    assert!(dir.reload().unwrap());
    assert!(dir.lookup("carol@example.com").await.unwrap().is_none());
    assert!(dir.lookup("cora@example.com").await.unwrap().is_some());
}

#[test]
fn the_first_load_must_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    assert!(matches!(
        StaticDirectory::open(missing, "+".into()),
        Err(DirectoryError::Unavailable(_))
    ));

    let fx = Fixture::new(&format!(
        "[[user]]\naddress = \"a@nowhere.test\"\npassword = \"{ALICE_PHC}\"\n"
    ));
    match StaticDirectory::open(fx.path.clone(), "+".into()) {
        Err(DirectoryError::Invalid(m)) => {
            assert!(
                m.starts_with(&format!("{}:2:11: user[0].address:", fx.path.display())),
                "{m}"
            )
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("an invalid file opened"),
    }
    assert!(UsersFile::load(&fx.path).is_err());
}
