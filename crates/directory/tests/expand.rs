//! `expand`: users, aliases, groups, loops, subaddresses, catch-all, remote, unknown, limits,
//! and errors.

mod common;

use async_trait::async_trait;
use common::Fixture;
use mailstack_directory::static_file::StaticDirectory;
use mailstack_directory::{
    AuthOutcome, Directory, DirectoryError, Entry, ExpandLimits, Expansion, expand,
};

/// The expansion as (user address, via) pairs, for compact assertions.
fn users(e: &Expansion) -> Vec<(&str, &str)> {
    e.users
        .iter()
        .map(|(u, via)| (u.address.as_str(), via.as_str()))
        .collect()
}

async fn run(dir: &dyn Directory, address: &str) -> Expansion {
    expand(dir, address, &ExpandLimits::default())
        .await
        .unwrap()
}

fn standard(delimiters: &str) -> (Fixture, StaticDirectory) {
    let fx = Fixture::new(&common::standard());
    let dir = fx.open(delimiters);
    (fx, dir)
}

#[test]
fn default_limits() {
    assert_eq!(
        ExpandLimits::default(),
        ExpandLimits {
            max_depth: 8,
            max_recipients: 1000
        }
    );
}

#[tokio::test]
async fn a_user_and_a_user_alias() {
    let (_fx, dir) = standard("+");
    let e = run(&dir, "Alice@Example.COM").await;
    assert_eq!(users(&e), [("alice@example.com", "alice@example.com")]);
    assert_eq!(e.users[0].0.quota_bytes, Some(1 << 30));
    assert!(e.remote.is_empty() && e.unknown.is_empty() && !e.truncated);

    let e = run(&dir, "a.smith@example.com").await;
    assert_eq!(users(&e), [("alice@example.com", "a.smith@example.com")]);
}

#[tokio::test]
async fn an_alias_across_domains() {
    let (_fx, dir) = standard("+");
    let e = run(&dir, "postmaster@example.com").await;
    assert_eq!(users(&e), [("alice@example.com", "postmaster@example.com")]);
    // Target written with upper case in the file.
    let e = run(&dir, "info@example.org").await;
    assert_eq!(users(&e), [("alice@example.com", "info@example.org")]);
}

#[tokio::test]
async fn groups_nested_deduplicated_with_remote_members() {
    let (_fx, dir) = standard("+");
    let e = run(&dir, "team@example.com").await;
    assert_eq!(
        users(&e),
        [
            ("bob@example.com", "team@example.com"),
            ("carol@example.com", "team@example.com")
        ]
    );

    // all → team (bob, carol), alice, Friend@Remote.Test.
    let e = run(&dir, "all@example.com").await;
    assert_eq!(
        users(&e),
        [
            ("bob@example.com", "team@example.com"),
            ("carol@example.com", "team@example.com"),
            ("alice@example.com", "all@example.com"),
        ]
    );
    assert_eq!(e.remote, ["Friend@remote.test"]);
    assert!(e.unknown.is_empty() && !e.truncated);
}

#[tokio::test]
async fn loops_end() {
    let (_fx, dir) = standard("+");
    // loop1 → loop2 → loop1 (already expanded), and loop1 → alice.
    let e = run(&dir, "loop1@example.com").await;
    assert_eq!(users(&e), [("alice@example.com", "loop1@example.com")]);
    assert!(e.unknown.is_empty() && e.remote.is_empty() && !e.truncated);

    // A pure loop finds nobody: the top address is unknown.
    let fx = Fixture::new(
        "[[domain]]\nname = \"x.test\"\n[[alias]]\naddress = \"a@x.test\"\ntargets = [\"b@x.test\"]\n\
         [[alias]]\naddress = \"b@x.test\"\ntargets = [\"A@x.test\"]\n",
    );
    let dir = fx.open("+");
    let e = run(&dir, "a@x.test").await;
    assert!(e.users.is_empty() && e.remote.is_empty() && !e.truncated);
    assert_eq!(e.unknown, ["a@x.test"]);
}

#[tokio::test]
async fn subaddress_with_default_and_custom_delimiters() {
    let (_fx, dir) = standard("+");
    let e = run(&dir, "alice+lists@example.com").await;
    assert_eq!(
        users(&e),
        [("alice@example.com", "alice+lists@example.com")]
    );
    // Through an alias too.
    let e = run(&dir, "postmaster+x@example.com").await;
    assert_eq!(
        users(&e),
        [("alice@example.com", "postmaster+x@example.com")]
    );
    // `-` is not a delimiter here.
    let e = run(&dir, "alice-lists@example.com").await;
    assert_eq!(e.unknown, ["alice-lists@example.com"]);
    assert!(e.users.is_empty());
    // A leading delimiter is not a subaddress.
    let e = run(&dir, "+alice@example.com").await;
    assert_eq!(e.unknown, ["+alice@example.com"]);

    let (_fx, dir) = standard("-+");
    let e = run(&dir, "alice-lists@example.com").await;
    assert_eq!(
        users(&e),
        [("alice@example.com", "alice-lists@example.com")]
    );
    let e = run(&dir, "carol+x-y@example.com").await;
    assert_eq!(users(&e), [("carol@example.com", "carol+x-y@example.com")]);

    // Empty delimiters turn subaddressing off.
    let (_fx, dir) = standard("");
    let e = run(&dir, "alice+lists@example.com").await;
    assert_eq!(e.unknown, ["alice+lists@example.com"]);
}

#[tokio::test]
async fn catch_all_on_and_off() {
    let (_fx, dir) = standard("+");
    // example.org has a catch-all to carol.
    let e = run(&dir, "whoever@example.org").await;
    assert_eq!(users(&e), [("carol@example.com", "whoever@example.org")]);
    // Existing addresses win over the catch-all.
    let e = run(&dir, "info@example.org").await;
    assert_eq!(users(&e), [("alice@example.com", "info@example.org")]);
    // example.com has none.
    let e = run(&dir, "whoever@example.com").await;
    assert!(e.users.is_empty());
    assert_eq!(e.unknown, ["whoever@example.com"]);
}

#[tokio::test]
async fn catch_all_to_a_missing_target_does_not_loop() {
    let fx = Fixture::new("[[domain]]\nname = \"x.test\"\ncatch_all = \"nobody@x.test\"\n");
    let dir = fx.open("+");
    let e = run(&dir, "someone@x.test").await;
    assert!(e.users.is_empty() && !e.truncated);
    assert_eq!(e.unknown, ["nobody@x.test"]);
}

#[tokio::test]
async fn remote_and_unknown() {
    let (_fx, dir) = standard("+");
    let e = run(&dir, "Someone@Remote.Test").await;
    assert!(e.users.is_empty() && e.unknown.is_empty());
    assert_eq!(e.remote, ["Someone@remote.test"]);

    let e = run(&dir, "ghost@example.com").await;
    assert_eq!(
        e,
        Expansion {
            unknown: vec!["ghost@example.com".into()],
            ..Expansion::default()
        }
    );

    // Dangling local members end up in unknown, next to the users found.
    let fx = Fixture::new(&format!(
        "{}\n[[group]]\naddress = \"mixed@example.com\"\nmembers = [\"carol@example.com\", \"gone@example.com\", \"x@remote.test\", \"x@REMOTE.test\"]\n",
        common::standard()
    ));
    let dir = fx.open("+");
    let e = run(&dir, "mixed@example.com").await;
    assert_eq!(users(&e), [("carol@example.com", "mixed@example.com")]);
    assert_eq!(e.unknown, ["gone@example.com"]);
    assert_eq!(e.remote, ["x@remote.test"]);

    assert!(matches!(
        expand(&dir, "not an address", &ExpandLimits::default()).await,
        Err(DirectoryError::BadAddress(_))
    ));
}

#[tokio::test]
async fn depth_limit_truncates() {
    // chain0 → chain1 → … → chain9 → alice.
    let mut text = String::from("[[domain]]\nname = \"example.com\"\n");
    text.push_str(&format!(
        "[[user]]\naddress = \"alice@example.com\"\npassword = \"{}\"\n",
        common::ALICE_PHC
    ));
    for i in 0..10 {
        let next = if i == 9 {
            "alice@example.com".to_string()
        } else {
            format!("chain{}@example.com", i + 1)
        };
        text.push_str(&format!(
            "[[alias]]\naddress = \"chain{i}@example.com\"\ntargets = [\"{next}\"]\n"
        ));
    }
    let fx = Fixture::new(&text);
    let dir = fx.open("+");

    let deep = run(&dir, "chain0@example.com").await;
    assert!(deep.users.is_empty() && deep.truncated);
    assert!(deep.unknown.is_empty());

    // Ten alias levels fit in a limit of 10.
    let e = expand(
        &dir,
        "chain0@example.com",
        &ExpandLimits {
            max_depth: 10,
            max_recipients: 1000,
        },
    )
    .await
    .unwrap();
    assert_eq!(users(&e), [("alice@example.com", "chain9@example.com")]);
    assert!(!e.truncated);
    // Starting lower in the chain fits in the default.
    let e = run(&dir, "chain2@example.com").await;
    assert_eq!(users(&e), [("alice@example.com", "chain9@example.com")]);
}

#[tokio::test]
async fn recipient_limit_truncates() {
    let members: Vec<String> = (0..50).map(|i| format!("\"r{i}@remote.test\"")).collect();
    let fx = Fixture::new(&format!(
        "[[domain]]\nname = \"example.com\"\n[[group]]\naddress = \"big@example.com\"\nmembers = [{}]\n",
        members.join(", ")
    ));
    let dir = fx.open("+");
    let e = expand(
        &dir,
        "big@example.com",
        &ExpandLimits {
            max_depth: 8,
            max_recipients: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(e.remote.len(), 10);
    assert_eq!(e.remote[0], "r0@remote.test");
    assert!(e.truncated);
    let e = expand(
        &dir,
        "big@example.com",
        &ExpandLimits {
            max_depth: 8,
            max_recipients: 50,
        },
    )
    .await
    .unwrap();
    assert_eq!(e.remote.len(), 50);
    assert!(!e.truncated);
}

/// A directory whose backend fails for one address (an outage), to check that expansion
/// reports the error instead of a partial result.
struct Flaky {
    inner: StaticDirectory,
    broken: &'static str,
}

#[async_trait]
impl Directory for Flaky {
    async fn lookup(&self, address: &str) -> Result<Option<Entry>, DirectoryError> {
        if address.eq_ignore_ascii_case(self.broken) {
            return Err(DirectoryError::Unavailable("backend down".into()));
        }
        self.inner.lookup(address).await
    }
    async fn is_local_domain(&self, domain: &str) -> Result<bool, DirectoryError> {
        if domain == "down.test" {
            return Err(DirectoryError::Unavailable("domain table down".into()));
        }
        self.inner.is_local_domain(domain).await
    }
    async fn catch_all(&self, domain: &str) -> Result<Option<String>, DirectoryError> {
        self.inner.catch_all(domain).await
    }
    fn subaddress_delimiters(&self) -> &str {
        self.inner.subaddress_delimiters()
    }
    async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<AuthOutcome, DirectoryError> {
        self.inner.authenticate(login, password).await
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

#[tokio::test]
async fn directory_errors_anywhere_fail_the_expansion() {
    let fx = Fixture::new(&common::standard());
    // Fails on a nested member (carol, inside team inside all).
    let dir = Flaky {
        inner: fx.open("+"),
        broken: "carol@example.com",
    };
    let err = expand(&dir, "all@example.com", &ExpandLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(err.is_temporary());
    // Unaffected addresses still expand.
    assert_eq!(
        users(&run(&dir, "alice@example.com").await),
        [("alice@example.com", "alice@example.com")]
    );

    // Fails on the subaddress retry.
    let dir = Flaky {
        inner: fx.open("+"),
        broken: "alice@example.com",
    };
    assert!(
        expand(&dir, "alice+x@example.com", &ExpandLimits::default())
            .await
            .is_err()
    );

    // Fails while deciding local or remote.
    let dir = Flaky {
        inner: fx.open("+"),
        broken: "-",
    };
    assert!(
        expand(&dir, "someone@down.test", &ExpandLimits::default())
            .await
            .is_err()
    );
}
