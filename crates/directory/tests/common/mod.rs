//! Shared fixtures for the integration tests: a temporary users file with cheap argon2 hashes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use mailstack_directory::static_file::StaticDirectory;

/// argon2id hashes with tiny parameters (m=8,t=1,p=1) so tests stay fast; verification uses the
/// parameters written in the hash.
pub const ALICE_PHC: &str =
    "$argon2id$v=19$m=8,t=1,p=1$+xiFgKi/hZT3/NPcNLOYtg$JI6Ix6MP/DSDHvGCMT79jGq6k76Sb/mQfgHhyC7dQEA";
pub const ALICE_PW: &str = "alice-pw";
pub const BOB_PHC: &str =
    "$argon2id$v=19$m=8,t=1,p=1$F/wjQA3PouMjstaCzzbTVg$1zDNeAtmVaD0o9RKlh000ehS/9wjV3XOGnrSFYFXEqM";
pub const BOB_PW: &str = "bob-pw";
pub const CAROL_PHC: &str =
    "$argon2id$v=19$m=8,t=1,p=1$NLZ3verDQ6qmyP4OJU2bFA$SPfG61Hy98lfuERVpcfCZW7m2nSdvvyDuAOeZm7h0H8";
pub const CAROL_PW: &str = "carol-pw";

/// A users file in a temporary directory (removed on drop).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Fixture {
    pub fn new(contents: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, contents).unwrap();
        Fixture { dir, path }
    }

    /// Open with the given delimiters, checking for changes on every call.
    pub fn open(&self, delimiters: &str) -> StaticDirectory {
        StaticDirectory::open(self.path.clone(), delimiters.to_string())
            .unwrap()
            .with_reload_interval(Duration::ZERO)
    }
}

/// The standard test directory:
/// - example.com: alice (alias a.smith@), bob (disabled), carol; postmaster → alice;
///   team (group) → bob, carol; all (group) → team, alice, friend@remote.test;
///   loop1 → loop2 → loop1 (+ alice); catch-all off.
/// - example.org: catch-all → carol@example.com; info@ → alice.
pub fn standard() -> String {
    format!(
        r#"[[domain]]
name = "example.com"

[[domain]]
name = "example.org"
catch_all = "carol@example.com"

[[user]]
address = "alice@example.com"
password = "{ALICE_PHC}"
aliases = ["a.smith@example.com"]
quota = "1G"
quota_messages = 1000

[[user]]
address = "bob@example.com"
password = "{BOB_PHC}"
disabled = true

[[user]]
address = "carol@example.com"
password = "{CAROL_PHC}"

[[alias]]
address = "postmaster@example.com"
targets = ["alice@example.com"]

[[alias]]
address = "info@example.org"
targets = ["Alice@Example.com"]

[[alias]]
address = "loop1@example.com"
targets = ["loop2@example.com", "alice@example.com"]

[[alias]]
address = "loop2@example.com"
targets = ["loop1@example.com"]

[[group]]
address = "team@example.com"
members = ["bob@example.com", "carol@example.com"]

[[group]]
address = "all@example.com"
members = ["team@example.com", "alice@example.com", "Friend@Remote.Test"]
"#
    )
}
