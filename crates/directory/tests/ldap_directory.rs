//! `LdapDirectory` against a real slapd: lookups, groups, aliases, domains, logins (bind and
//! compare), disabled accounts, filter injection, names with filter metacharacters.

mod slapd;

use mailstack_directory::ldap::{AuthMethod, LdapDirectory};
use mailstack_directory::{
    AuthOutcome, Directory, DirectoryError, Entry, ExpandLimits, User, expand,
};
use slapd::{BASE, Slapd, options};

async fn open(s: &Slapd) -> LdapDirectory {
    LdapDirectory::connect(options(&[s.url()])).await.unwrap()
}

fn user(e: Option<Entry>) -> User {
    match e {
        Some(Entry::User(u)) => u,
        other => panic!("expected a user, got {other:?}"),
    }
}

fn accepted(o: AuthOutcome) -> User {
    match o {
        AuthOutcome::Accepted(u) => u,
        AuthOutcome::Rejected => panic!("login rejected"),
    }
}

#[tokio::test]
async fn lookups_users_groups_aliases_domains() {
    let s = Slapd::start().await;
    let dir = open(&s).await;

    let alice = user(dir.lookup("Alice@Example.com").await.unwrap());
    assert_eq!(alice.address, "alice@example.com");
    assert_eq!(alice.uid.as_deref(), Some("alice"));
    assert_eq!(alice.aliases, ["a.smith@example.com"]);
    assert_eq!(alice.quota_bytes, Some(1 << 30));
    assert_eq!(alice.host.as_deref(), Some("mx2.example.com"));
    assert_eq!(dir.last_server(), Some(s.url()));
    assert!(dir.describe().contains(&s.url()));

    // By alternate address; quota in plain bytes; no host.
    assert_eq!(
        user(dir.lookup("A.Smith@example.com").await.unwrap()),
        alice
    );
    let bob = user(dir.lookup("bob@example.com").await.unwrap());
    assert_eq!(bob.quota_bytes, Some(52_428_800));
    assert_eq!(bob.host, None);
    // Disabled users still receive mail.
    assert_eq!(
        user(dir.lookup("carol@example.com").await.unwrap()).address,
        "carol@example.com"
    );

    // groupOfNames: member DNs resolved to addresses, the dangling one skipped; by mail and
    // by alternate address.
    let members = vec![
        "alice@example.com".to_string(),
        "bob@example.com".into(),
        "weird*name@example.com".into(),
    ];
    assert_eq!(
        dir.lookup("team@example.com").await.unwrap(),
        Some(Entry::Group(members.clone()))
    );
    assert_eq!(
        dir.lookup("everyone@example.com").await.unwrap(),
        Some(Entry::Group(members))
    );
    // nisMailAlias.
    assert_eq!(
        dir.lookup("postmaster@example.com").await.unwrap(),
        Some(Entry::Alias(vec![
            "alice@example.com".into(),
            "ops@remote.example.net".into()
        ]))
    );
    // Unknown, and exact (no subaddress stripping here; expand does it).
    assert_eq!(dir.lookup("nobody@example.com").await.unwrap(), None);
    assert_eq!(dir.lookup("alice+tag@example.com").await.unwrap(), None);
    assert!(matches!(
        dir.lookup("not-an-address").await,
        Err(DirectoryError::BadAddress(_))
    ));

    // Domains are discovered from the addresses in the directory.
    assert!(dir.is_local_domain("example.com").await.unwrap());
    assert!(dir.is_local_domain("EXAMPLE.ORG").await.unwrap());
    assert!(!dir.is_local_domain("elsewhere.com").await.unwrap());
    assert!(!dir.is_local_domain("*").await.unwrap());
    // `@example.org` on alice is that domain's catch-all.
    assert_eq!(
        dir.catch_all("example.org").await.unwrap().as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(dir.catch_all("example.com").await.unwrap(), None);
    assert_eq!(dir.catch_all("elsewhere.com").await.unwrap(), None);

    // The whole chain through expand(): subaddress, group, catch-all.
    let x = expand(&dir, "team+news@example.com", &ExpandLimits::default())
        .await
        .unwrap();
    let got: Vec<&str> = x.users.iter().map(|(u, _)| u.address.as_str()).collect();
    assert_eq!(
        got,
        [
            "alice@example.com",
            "bob@example.com",
            "weird*name@example.com"
        ]
    );
    let x = expand(&dir, "anything@example.org", &ExpandLimits::default())
        .await
        .unwrap();
    assert_eq!(x.users[0].0.address, "alice@example.com");
}

#[tokio::test]
async fn configured_local_domains_are_not_discovered() {
    let s = Slapd::start().await;
    let mut o = options(&[s.url()]);
    o.local_domains = vec!["Example.com".into()];
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(dir.is_local_domain("example.com").await.unwrap());
    assert!(!dir.is_local_domain("example.org").await.unwrap());
}

#[tokio::test]
async fn bind_logins_by_address_and_uid() {
    let s = Slapd::start().await;
    let dir = open(&s).await;

    let alice = accepted(
        dir.authenticate("alice@example.com", "alice-pw")
            .await
            .unwrap(),
    );
    assert_eq!(alice.address, "alice@example.com");
    assert_eq!(alice.uid.as_deref(), Some("alice"));
    accepted(
        dir.authenticate("ALICE@example.com", "alice-pw")
            .await
            .unwrap(),
    );
    accepted(dir.authenticate("alice", "alice-pw").await.unwrap());
    // The user filter also matches alternate addresses.
    accepted(
        dir.authenticate("a.smith@example.com", "alice-pw")
            .await
            .unwrap(),
    );
    // {ARGON2} userPassword, checked by slapd's argon2 module on bind.
    accepted(dir.authenticate("bob", "bob-pw").await.unwrap());

    for (login, pw) in [
        ("alice@example.com", "wrong"),
        ("alice", "bob-pw"),
        ("alice@example.com", ""),
        ("alice", ""),
        ("nobody@example.com", "alice-pw"),
        ("nobody", "x"),
        ("", "alice-pw"),
        ("team@example.com", "alice-pw"),
        ("postmaster@example.com", "alice-pw"),
        // Locked (pwdAccountLockedTime) and expired (shadowExpire) accounts, right password.
        ("carol@example.com", "carol-pw"),
        ("carol", "carol-pw"),
        ("dave@example.com", "dave-pw"),
        ("dave", "dave-pw"),
    ] {
        assert_eq!(
            dir.authenticate(login, pw).await.unwrap(),
            AuthOutcome::Rejected,
            "{login:?} / {pw:?}"
        );
    }
}

#[tokio::test]
async fn compare_logins_verify_ssha_and_argon2_locally() {
    let s = Slapd::start().await;
    let mut o = options(&[s.url()]);
    o.auth = AuthMethod::Compare;
    let dir = LdapDirectory::connect(o).await.unwrap();

    accepted(
        dir.authenticate("alice@example.com", "alice-pw")
            .await
            .unwrap(),
    );
    accepted(dir.authenticate("alice", "alice-pw").await.unwrap());
    accepted(dir.authenticate("bob@example.com", "bob-pw").await.unwrap());
    for (login, pw) in [
        ("alice@example.com", "wrong"),
        ("bob", "alice-pw"),
        ("bob", ""),
        ("carol", "carol-pw"),
        ("dave", "dave-pw"),
        ("nobody", "x"),
    ] {
        assert_eq!(
            dir.authenticate(login, pw).await.unwrap(),
            AuthOutcome::Rejected,
            "{login:?} / {pw:?}"
        );
    }
}

#[tokio::test]
async fn filter_injection_matches_nobody() {
    let s = Slapd::start().await;
    let dir = open(&s).await;

    for a in [
        "*)(uid=*@example.com",
        "*@example.com",
        "alice)(|(mail=*@example.com",
        "a*@example.com",
    ] {
        assert_eq!(dir.lookup(a).await.unwrap(), None, "{a}");
    }
    // A domain that is a wildcard is not local.
    assert!(!dir.is_local_domain("*").await.unwrap());
    assert!(!dir.is_local_domain("*)(mail=*").await.unwrap());

    for login in [
        "*)(uid=*",
        "*",
        "alic*",
        "alice)(uid=*",
        "*)(uid=*@example.com",
        "alice*@example.com",
    ] {
        for pw in ["alice-pw", "bob-pw", "x"] {
            assert_eq!(
                dir.authenticate(login, pw).await.unwrap(),
                AuthOutcome::Rejected,
                "{login:?} / {pw:?}"
            );
        }
    }
}

#[tokio::test]
async fn names_with_filter_metacharacters_resolve() {
    let s = Slapd::start().await;
    let dir = open(&s).await;

    // `weird*name` must not match the decoy `weirdxname` (that would be two entries, an
    // error) and the decoy must not match `weird*name`.
    let weird = user(dir.lookup("weird*name@example.com").await.unwrap());
    assert_eq!(weird.address, "weird*name@example.com");
    assert_eq!(weird.uid.as_deref(), Some(r"we*ird(1)\"));
    assert_eq!(
        user(dir.lookup("weirdxname@example.com").await.unwrap()).address,
        "weirdxname@example.com"
    );

    // Login by that uid and by that address: search escapes the value, bind uses the DN with
    // `*()\` in it.
    assert_eq!(
        accepted(dir.authenticate(r"we*ird(1)\", "weird-pw").await.unwrap()),
        weird
    );
    accepted(
        dir.authenticate("weird*name@example.com", "weird-pw")
            .await
            .unwrap(),
    );
    assert_eq!(
        dir.authenticate(r"we*ird(1)\", "decoy-pw").await.unwrap(),
        AuthOutcome::Rejected
    );
    accepted(dir.authenticate("weirdxname", "decoy-pw").await.unwrap());
    assert_eq!(
        dir.authenticate("weirdxname", "weird-pw").await.unwrap(),
        AuthOutcome::Rejected
    );
}

#[tokio::test]
async fn passwords_are_never_cached() {
    let s = Slapd::start().await;
    let mut o = options(&[s.url()]);
    o.cache_ttl = std::time::Duration::from_secs(3600);
    o.negative_cache_ttl = std::time::Duration::from_secs(3600);
    let dir = LdapDirectory::connect(o).await.unwrap();

    accepted(
        dir.authenticate("alice@example.com", "alice-pw")
            .await
            .unwrap(),
    );
    assert_eq!(
        dir.authenticate("alice@example.com", "new-pw")
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    s.replace(
        &format!("uid=alice,ou=people,{BASE}"),
        "userPassword",
        &mailstack_directory::ldap::ssha("new-pw", b"12345678"),
    )
    .await;
    // Immediately: the old password fails, the new one works.
    assert_eq!(
        dir.authenticate("alice@example.com", "alice-pw")
            .await
            .unwrap(),
        AuthOutcome::Rejected
    );
    accepted(
        dir.authenticate("alice@example.com", "new-pw")
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn wrong_service_password_is_unavailable_not_unknown() {
    let s = Slapd::start().await;
    let mut o = options(&[s.url()]);
    o.bind_password = "not-the-password".into();
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(matches!(
        dir.lookup("alice@example.com").await,
        Err(DirectoryError::Unavailable(_))
    ));
    let e = dir.authenticate("alice", "alice-pw").await.unwrap_err();
    assert!(e.is_temporary());
    assert!(!e.to_string().contains("not-the-password"), "{e}");
}
