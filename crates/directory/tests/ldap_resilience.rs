//! `LdapDirectory` when servers fail: outage → `Unavailable` (never "unknown"), reconnect after
//! a restart, failover to the next URL, timeouts, start while down; and the cache TTLs.

mod slapd;

use std::time::{Duration, Instant};

use mailstack_directory::ldap::LdapDirectory;
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry};
use slapd::{BASE, Slapd, free_port, options};

fn unavailable<T: std::fmt::Debug>(r: Result<T, DirectoryError>) {
    match r {
        Err(DirectoryError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn is_user(e: &Option<Entry>, address: &str) -> bool {
    matches!(e, Some(Entry::User(u)) if u.address == address)
}

/// Poll `f` until it returns `Some`, for at most `within`.
async fn wait_for<T, F, Fut>(within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn outage_is_unavailable_and_restart_reconnects() {
    let mut s = Slapd::start().await;
    let dir = LdapDirectory::connect(options(&[s.url()])).await.unwrap();
    assert!(is_user(
        &dir.lookup("alice@example.com").await.unwrap(),
        "alice@example.com"
    ));
    assert!(matches!(
        dir.authenticate("alice", "alice-pw").await.unwrap(),
        AuthOutcome::Accepted(_)
    ));

    s.stop();
    unavailable(dir.lookup("alice@example.com").await);
    unavailable(dir.lookup("nobody@example.com").await);
    unavailable(dir.authenticate("alice", "alice-pw").await);
    unavailable(dir.authenticate("nobody", "x").await);
    unavailable(dir.is_local_domain("example.com").await);

    // Same directory object, server back: pooled connections were dropped, new ones work.
    s.restart().await;
    assert!(is_user(
        &dir.lookup("alice@example.com").await.unwrap(),
        "alice@example.com"
    ));
    assert!(matches!(
        dir.authenticate("alice", "alice-pw").await.unwrap(),
        AuthOutcome::Accepted(_)
    ));
    assert!(dir.is_local_domain("example.com").await.unwrap());
}

#[tokio::test]
async fn connect_succeeds_while_servers_are_down() {
    let port = free_port();
    let url = format!("ldap://127.0.0.1:{port}");
    let dir = LdapDirectory::connect(options(std::slice::from_ref(&url)))
        .await
        .unwrap();
    unavailable(dir.lookup("alice@example.com").await);
    unavailable(dir.authenticate("alice", "alice-pw").await);
    assert_eq!(dir.last_server(), None);
}

#[tokio::test]
async fn fails_over_to_the_next_server() {
    let mut a = Slapd::start().await;
    let mut b = Slapd::start().await;
    let dir = LdapDirectory::connect(options(&[a.url(), b.url()]))
        .await
        .unwrap();
    assert!(is_user(
        &dir.lookup("alice@example.com").await.unwrap(),
        "alice@example.com"
    ));
    assert_eq!(dir.last_server(), Some(a.url()));

    a.stop();
    assert!(is_user(
        &dir.lookup("bob@example.com").await.unwrap(),
        "bob@example.com"
    ));
    assert_eq!(dir.last_server(), Some(b.url()));
    assert!(matches!(
        dir.authenticate("bob@example.com", "bob-pw").await.unwrap(),
        AuthOutcome::Accepted(_)
    ));
    assert_eq!(dir.last_server(), Some(b.url()));

    // Both down: unavailable; the second back: answers at once.
    b.stop();
    unavailable(dir.lookup("alice@example.com").await);
    b.restart().await;
    assert!(is_user(
        &dir.lookup("alice@example.com").await.unwrap(),
        "alice@example.com"
    ));
    assert_eq!(dir.last_server(), Some(b.url()));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_unavailable() {
    // Accepts TCP connections (kernel backlog) but never speaks LDAP.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let mut o = options(&[url]);
    o.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let dir = LdapDirectory::connect(o).await.unwrap();
    unavailable(dir.lookup("alice@example.com").await);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn negative_cache_ttl_is_honoured() {
    let s = Slapd::start().await;
    let ttl = Duration::from_secs(1);
    let mut o = options(&[s.url()]);
    o.cache_ttl = Duration::from_secs(60);
    o.negative_cache_ttl = ttl;
    let dir = LdapDirectory::connect(o).await.unwrap();

    let asked = Instant::now();
    assert_eq!(dir.lookup("newbie@example.com").await.unwrap(), None);
    s.add_user("newbie", "newbie@example.com", "newbie-pw")
        .await;
    let answer = dir.lookup("newbie@example.com").await.unwrap();
    if asked.elapsed() < ttl {
        assert_eq!(
            answer, None,
            "negative answer must come from the cache within the TTL"
        );
    }
    // Logins are never cached: the new user can log in at once.
    assert!(matches!(
        dir.authenticate("newbie@example.com", "newbie-pw")
            .await
            .unwrap(),
        AuthOutcome::Accepted(_)
    ));
    wait_for(Duration::from_secs(10), || async {
        is_user(
            &dir.lookup("newbie@example.com").await.unwrap(),
            "newbie@example.com",
        )
        .then_some(())
    })
    .await;
    assert!(
        asked.elapsed() >= ttl,
        "visible before the negative TTL expired"
    );
}

#[tokio::test]
async fn positive_cache_ttl_is_honoured() {
    let s = Slapd::start().await;
    let ttl = Duration::from_secs(1);
    let mut o = options(&[s.url()]);
    o.cache_ttl = ttl;
    o.negative_cache_ttl = Duration::from_secs(60);
    let dir = LdapDirectory::connect(o).await.unwrap();
    let quota = |e: Option<Entry>| match e {
        Some(Entry::User(u)) => u.quota_bytes,
        other => panic!("{other:?}"),
    };

    let asked = Instant::now();
    assert_eq!(
        quota(dir.lookup("alice@example.com").await.unwrap()),
        Some(1 << 30)
    );
    s.replace(&format!("uid=alice,ou=people,{BASE}"), "mailQuota", "2G")
        .await;
    let answer = quota(dir.lookup("alice@example.com").await.unwrap());
    if asked.elapsed() < ttl {
        assert_eq!(answer, Some(1 << 30), "cached within the TTL");
    }
    wait_for(Duration::from_secs(10), || async {
        (quota(dir.lookup("alice@example.com").await.unwrap()) == Some(2 << 30)).then_some(())
    })
    .await;
    assert!(asked.elapsed() >= ttl, "changed before the TTL expired");

    // A cached answer survives an outage until it expires; then the outage shows.
    let mut s = s;
    let asked = Instant::now();
    assert_eq!(
        quota(dir.lookup("bob@example.com").await.unwrap()),
        Some(52_428_800)
    );
    s.stop();
    if asked.elapsed() < ttl {
        assert!(dir.lookup("bob@example.com").await.is_ok());
    }
    let e = wait_for(Duration::from_secs(10), || async {
        dir.lookup("bob@example.com").await.err()
    })
    .await;
    assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
}
